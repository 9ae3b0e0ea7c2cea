//! `ExportMetricsServiceRequest` encoder: straight from a [`MetricsSource`] into a
//! caller-supplied buffer, split into as many requests as the buffer size requires.
//!
//! Each request is a complete message carrying one `ResourceMetrics` with one
//! `ScopeMetrics` (the [`RequestHeader`], repeated in every request) and the metrics whose
//! points it carries; a source with scopes of its own
//! ([`MetricsSource::scope_count`]) gets one
//! `ScopeMetrics` per run of metrics under one scope instead:
//!
//! ```text
//! ExportMetricsServiceRequest { resource_metrics(1): ResourceMetrics {
//!     resource(1), scope_metrics(2): ScopeMetrics { scope(1), metrics(2)*, schema_url(3) },
//!     schema_url(3) } }
//! ```
//!
//! No intermediate structs: the encoder writes straight from the source's answers,
//! backwards from the end of the buffer ([`ReverseWriter`](super::wire::ReverseWriter)),
//! last field first, so every length prefix is known when it is written. Each request is
//! the tail of the buffer.
//!
//! - **One pass** when the rest of the batch fits: the first request of a
//!   [`RequestSplitter`] and [`encode_request`] just write everything; running out of room
//!   costs at most one buffer's worth of writing before falling back to planning.
//! - **Plan, then write** otherwise: from the splitter's position, add up the exact encoded
//!   size of each point and of the request around it (cheap upper bounds first, exact sizes
//!   only near the end of the buffer), stop before the first point that would overflow,
//!   then write exactly that span and check its size against the plan.
//!
//! Points come out in their source order. Proto3 defaults (zero numbers, empty strings) are
//! left out, except where presence matters: `oneof` members (`as_int`/`as_double`, attribute
//! values), `optional` doubles (`sum`, `min`, `max`: written whenever `Some`, even 0.0 or
//! NaN), and the exponential histogram's `positive` and `negative` buckets (always written).
//! Doubles are written bit for bit (NaN payloads and `-0.0` survive).

//!
//! One file per message, each size function beside the writer it mirrors: `request` (the
//! request, resource and scope), `metric`, `point` (the three data point kinds),
//! `attribute`; `plan` adds the sizes up; `field` holds the field numbers; `writer` wraps
//! the [`ReverseWriter`](super::wire::ReverseWriter) they write through, and with
//! `prefer-size` notes a write that does not fit instead of stopping there;
//! `golden_cases` holds requests worked out by hand, which the unit tests compare the
//! encoder with.

use core::fmt;

use super::source::{MetricsSource, RequestHeader};
use super::wire::{varint_len, BufferFull};
use plan::{plan, plan_request, Plan, PlanError};
use request::write_request;
use writer::Writer;

mod attribute;
#[cfg(feature = "exponential-histogram")]
mod exponential;
mod field;
mod metric;
mod plan;
mod point;
mod request;
mod writer;

#[cfg(test)]
mod golden;

/// Position in the flattened order of a batch's data points: metric `metric`, point `point`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PointCursor {
    /// Metric index.
    pub metric: usize,
    /// Point index within the metric.
    pub point: usize,
}

/// The data points one request carries: every point from `start` (inclusive) to `end`
/// (exclusive) in the flattened (metric, point) order, `points` of them.
///
/// Both cursors are normalized: they name an existing point (`point < point_count(metric)`)
/// or the end of the batch (`metric == metric_count`, `point == 0`). So one request's `end`
/// is the next request's `start` unless a point between them was skipped with an error.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PointSpan {
    /// First point carried.
    pub start: PointCursor,
    /// One past the last point carried.
    pub end: PointCursor,
    /// How many points.
    pub points: usize,
}

/// One encoded request: its bytes (a part of the caller's buffer), where they are in that
/// buffer, and what they carry.
#[derive(Debug)]
#[non_exhaustive]
pub struct EncodedRequest<'b> {
    /// The protobuf `ExportMetricsServiceRequest`.
    pub bytes: &'b [u8],
    /// Where `bytes` starts in the buffer given to
    /// [`next_request`](RequestSplitter::next_request) (they run to its end), so a caller
    /// that keeps the buffer can find the request again after the borrow ends.
    pub offset: usize,
    /// The data points in it.
    pub span: PointSpan,
}

impl EncodedRequest<'_> {
    /// Where the request is in the buffer it was encoded into.
    pub fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.bytes.len()
    }
}

/// Why encoding stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The buffer cannot hold even the resource and scope header. The splitter stops: no
    /// remaining point is encoded (see [`RequestSplitter::position`]).
    HeaderTooLarge {
        /// Buffer size given.
        buffer: usize,
    },
    /// This data point does not fit in the buffer even alone; it is skipped (dropped).
    PointTooLarge {
        /// Metric index.
        metric: usize,
        /// Point index.
        point: usize,
    },
    /// This data point's value is not of its metric's kind (for example a histogram value
    /// in a gauge); it is skipped (dropped).
    ValueKindMismatch {
        /// Metric index.
        metric: usize,
        /// Point index.
        point: usize,
    },
    /// This histogram point's `bucket_counts` does not have one element more than
    /// `explicit_bounds` (nor are both empty); it is skipped (dropped).
    BucketCountMismatch {
        /// Metric index.
        metric: usize,
        /// Point index.
        point: usize,
    },
    /// This data point is an exponential histogram and this build of core leaves their
    /// encoding out (feature `exponential-histogram` off); it is skipped (dropped). The
    /// registry of such a build refuses to declare them, so only another source can hit it.
    KindNotEnabled {
        /// Metric index.
        metric: usize,
        /// Point index.
        point: usize,
    },
    /// [`encode_request`]: the whole batch needs `needed` bytes, more than the buffer.
    BufferTooSmall {
        /// Bytes the request needs.
        needed: usize,
        /// Buffer size given.
        buffer: usize,
    },
    /// The bytes written differ from the size computed just before: the source answered
    /// differently between the two passes over it. Nothing of this request is usable; the
    /// splitter stops (see [`RequestSplitter::position`]).
    SizeMismatch,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EncodeError::HeaderTooLarge { buffer } => write!(
                f,
                "a {buffer}-byte buffer cannot hold the request's resource and scope"
            ),
            EncodeError::PointTooLarge { metric, point } => write!(
                f,
                "metric {metric} point {point} does not fit in the buffer even alone"
            ),
            EncodeError::ValueKindMismatch { metric, point } => write!(
                f,
                "metric {metric} point {point} has a value of another kind than its metric"
            ),
            EncodeError::BucketCountMismatch { metric, point } => write!(
                f,
                "metric {metric} point {point}: bucket_counts must have one element more \
                 than explicit_bounds"
            ),
            EncodeError::KindNotEnabled { metric, point } => write!(
                f,
                "metric {metric} point {point}: exponential histograms are not enabled in \
                 this build (feature exponential-histogram)"
            ),
            EncodeError::BufferTooSmall { needed, buffer } => {
                write!(f, "request needs {needed} bytes, buffer has {buffer}")
            }
            EncodeError::SizeMismatch => {
                f.write_str("metrics source changed while the request was being encoded")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// Produces requests one after another until every point of a batch has been encoded once.
///
/// ```
/// use otlp_embedded::proto::*;
///
/// let header = RequestHeader::new(Resource::new(&[]), Scope::new("demo"));
/// let point = |v| SlicePoint {
///     attributes: &[],
///     point: Point { start_time_unix_nano: 1, time_unix_nano: 2, flags: 0, value: PointValue::Int(v) },
/// };
/// let points = [point(1), point(2), point(3)];
/// let metrics = [SliceMetric {
///     info: MetricInfo { name: "requests", description: "", unit: "1", data: MetricData::Gauge },
///     points: &points,
/// }];
/// let source = SliceSource { metrics: &metrics };
///
/// let mut buf = [0u8; 80]; // room for two of these points per request
/// let mut splitter = RequestSplitter::new(header);
/// let mut carried = 0;
/// while let Some(result) = splitter.next_request(&source, &mut buf) {
///     let request = result.expect("every point fits alone");
///     // send request.bytes, then settle request.span
///     carried += request.span.points;
/// }
/// assert_eq!(carried, 3);
/// ```
#[derive(Debug)]
pub struct RequestSplitter<'h> {
    header: RequestHeader<'h>,
    next: PointCursor,
    finished: bool,
    /// Whether the one-pass attempt at the whole rest of the batch was made.
    tried_whole: bool,
}

impl<'h> RequestSplitter<'h> {
    /// Start splitting a batch under `header`.
    pub fn new(header: RequestHeader<'h>) -> Self {
        RequestSplitter {
            header,
            next: PointCursor::default(),
            finished: false,
            tried_whole: false,
        }
    }

    /// The first point not yet handled (encoded or skipped with an error).
    ///
    /// After [`EncodeError::HeaderTooLarge`] or [`EncodeError::SizeMismatch`] the splitter
    /// stops, and the points from here on were not encoded.
    pub fn position(&self) -> PointCursor {
        self.next
    }

    /// Whether [`next_request`](Self::next_request) will only return `None` from now on.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Encode the next request into `buf`. `None` when every point has been handled.
    ///
    /// - `Ok`: a complete request, the tail of `buf`, and the points it carries.
    /// - [`EncodeError::PointTooLarge`], [`EncodeError::ValueKindMismatch`],
    ///   [`EncodeError::BucketCountMismatch`], [`EncodeError::KindNotEnabled`]: that one
    ///   point is skipped; call again for the rest.
    /// - [`EncodeError::HeaderTooLarge`], [`EncodeError::SizeMismatch`]: nothing more can
    ///   be encoded; every later call returns `None`, so a loop over this ends.
    ///
    /// Every call either finishes the splitter or moves it past at least one point, so a
    /// batch of `n` points takes at most `n + 1` calls.
    pub fn next_request<'b, S: MetricsSource + ?Sized>(
        &mut self,
        source: &S,
        buf: &'b mut [u8],
    ) -> Option<Result<EncodedRequest<'b>, EncodeError>> {
        if self.finished {
            return None;
        }
        let start = normalize(source, self.next);
        self.next = start;
        if start.metric >= source.metric_count() {
            self.finished = true;
            return None;
        }
        // With `prefer-size`, planning by writing finds a rest that fits by itself.
        if !self.tried_whole && !cfg!(feature = "prefer-size") {
            // First request: try the rest of the batch in one pass; plan only if it
            // does not fit (then the attempt costs at most one buffer's worth of writing).
            self.tried_whole = true;
            if let Some((position, points)) = write_rest(&self.header, source, start, buf) {
                let end = PointCursor {
                    metric: source.metric_count(),
                    point: 0,
                };
                self.next = end;
                return Some(Ok(EncodedRequest {
                    bytes: tail(buf, position),
                    offset: position,
                    span: PointSpan { start, end, points },
                }));
            }
        }
        let plan = match plan_request(&self.header, source, start, buf) {
            Ok(plan) => plan,
            Err(PlanError::Header) => {
                self.finished = true;
                return Some(Err(EncodeError::HeaderTooLarge { buffer: buf.len() }));
            }
            Err(PlanError::Point(error, at)) => {
                // Skip the offending point (an existing one); the next call continues
                // after it.
                self.next = advance(source, at, 1);
                return Some(Err(error));
            }
        };
        let written = match plan.written {
            Some(position) => Ok(position),
            // Planning by writing leaves every request it plans written, unless the source
            // answered otherwise for the same span (a point's bucket visits disagreeing with
            // their count, or a span that fit no longer fitting): writing it once more
            // could only fail as well.
            None if cfg!(feature = "prefer-size") => Err(EncodeError::SizeMismatch),
            None => write_planned(&self.header, source, &plan, buf),
        };
        match written {
            Ok(position) => {
                // Both planners stop at a normalized cursor.
                let end = plan.stop;
                self.next = end;
                Some(Ok(EncodedRequest {
                    bytes: tail(buf, position),
                    offset: position,
                    span: PointSpan {
                        start,
                        end,
                        points: plan.points,
                    },
                }))
            }
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

/// Encode a whole batch as one request into `buf`; the request is the tail of `buf`.
///
/// Fails with [`EncodeError::BufferTooSmall`] if it does not fit (see [`encoded_len`]),
/// or with the first invalid point's error. Use [`RequestSplitter`] to split instead.
pub fn encode_request<'b, S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    buf: &'b mut [u8],
) -> Result<&'b [u8], EncodeError> {
    let start = normalize(source, PointCursor::default());
    if start.metric < source.metric_count() {
        if let Some((position, _)) = write_rest(header, source, start, buf) {
            return Ok(tail(buf, position));
        }
    }
    let plan = plan_all(header, source)?;
    if plan.total > buf.len() {
        return Err(EncodeError::BufferTooSmall {
            needed: plan.total,
            buffer: buf.len(),
        });
    }
    let position = write_planned(header, source, &plan, buf)?;
    Ok(tail(buf, position))
}

/// Bytes [`encode_request`] needs for the whole batch, or the first invalid point's error.
pub fn encoded_len<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
) -> Result<usize, EncodeError> {
    plan_all(header, source).map(|plan| plan.total)
}

fn plan_all<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
) -> Result<Plan, EncodeError> {
    let start = normalize(source, PointCursor::default());
    let plan = match plan(header, source, start, usize::MAX) {
        Ok(plan) => plan,
        Err(PlanError::Header) => {
            return Err(EncodeError::BufferTooSmall {
                needed: usize::MAX,
                buffer: usize::MAX,
            })
        }
        Err(PlanError::Point(error, _)) => return Err(error),
    };
    match plan.stopped_by {
        Some(error) => Err(error),
        None => Ok(plan),
    }
}

/// Move `cursor` to the next existing point at or after it, or to the end of the batch.
/// Always inlined: a call to [`advance`] costs no more than a call to this would.
#[inline(always)]
fn normalize<S: MetricsSource + ?Sized>(source: &S, cursor: PointCursor) -> PointCursor {
    advance(source, cursor, 0)
}

/// The cursor `points` points after `from` (after its next existing point, counted as
/// the first), normalized; with 0 points, `from` normalized. One loop for both: a cursor
/// is moved past the metrics it has no point left in, then within its metric.
fn advance<S: MetricsSource + ?Sized>(
    source: &S,
    mut from: PointCursor,
    mut points: usize,
) -> PointCursor {
    let metrics = source.metric_count();
    loop {
        while from.metric < metrics && from.point >= source.point_count(from.metric) {
            from.metric += 1;
            from.point = 0;
        }
        if from.metric >= metrics {
            return PointCursor {
                metric: metrics,
                point: 0,
            };
        }
        if points == 0 {
            return from;
        }
        // Asked again: a source that now answers fewer points ends its metric here rather
        // than underflowing (or being asked forever).
        let left = source.point_count(from.metric).saturating_sub(from.point);
        if left == 0 {
            from.metric += 1;
            from.point = 0;
            continue;
        }
        let step = points.min(left);
        points -= step;
        from.point += step;
    }
}

/// Points of `source` from `start` to the end of the batch; `start` is normalized or at a
/// metric's first point (every cursor the splitter holds is). The one count of what is
/// left, for the splitter's search and the exporter's accounts.
pub(crate) fn points_from<S: MetricsSource + ?Sized>(source: &S, start: PointCursor) -> usize {
    // Saturating: a source whose counts add up past `usize::MAX` must not wrap to a small
    // count (the splitter would plan empty requests for ever).
    (start.metric..source.metric_count())
        .map(|metric| source.point_count(metric))
        .fold(0usize, usize::saturating_add)
        .saturating_sub(start.point)
}

/// Write the planned request into the tail of `buf`; returns where it starts.
fn write_planned<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    plan: &Plan,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut w = Writer::new(buf);
    write_request(&mut w, header, source, plan.start, plan.stop)
        .map_err(|BufferFull| EncodeError::SizeMismatch)?;
    if w.written() != plan.total {
        return Err(EncodeError::SizeMismatch);
    }
    Ok(w.position())
}

/// Write every point from `start` (normalized, not the end) to the end of the batch in one
/// pass, without planning: the fast path when the rest of a batch fits in one buffer.
/// Returns where the request starts and how many points it carries, or `None` if it does
/// not fit or a point is invalid (then planning finds out which).
fn write_rest<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    buf: &mut [u8],
) -> Option<(usize, usize)> {
    let metric_count = source.metric_count();
    let stop = PointCursor {
        metric: metric_count,
        point: 0,
    };
    let mut w = Writer::new(buf);
    write_request(&mut w, header, source, start, stop).ok()?;
    let mut points = 0usize;
    for metric in start.metric..metric_count {
        points = points.saturating_add(source.point_count(metric));
    }
    Some((w.position(), points.saturating_sub(start.point)))
}

/// The bytes from `position` to the end of `buf`.
fn tail(buf: &[u8], position: usize) -> &[u8] {
    buf.get(position..).unwrap_or_default()
}

/// Bytes of a length-delimited field with a one-byte key and `len` bytes of content.
/// Saturating: on a 32-bit target an absurd batch must compare as too large, not wrap.
#[inline]
fn field_len(len: usize) -> usize {
    len.saturating_add(1 + varint_len(len as u64))
}
