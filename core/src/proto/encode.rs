//! `ExportMetricsServiceRequest` encoder: straight from a [`MetricsSource`] into a
//! caller-supplied buffer, split into as many requests as the buffer size requires.
//!
//! Each request is a complete message carrying one `ResourceMetrics` with one
//! `ScopeMetrics` (the [`RequestHeader`], repeated in every request) and the metrics whose
//! points it carries:
//!
//! ```text
//! ExportMetricsServiceRequest { resource_metrics(1): ResourceMetrics {
//!     resource(1), scope_metrics(2): ScopeMetrics { scope(1), metrics(2)*, schema_url(3) },
//!     schema_url(3) } }
//! ```
//!
//! No intermediate structs: the encoder writes straight from the source's answers,
//! backwards from the end of the buffer ([`ReverseWriter`]), last field first, so every
//! length prefix is known when it is written. Each request is the tail of the buffer.
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

use core::fmt;

use super::source::{
    AttributeValue, ExponentialBuckets, ExponentialHistogramValue, HistogramValue, KeyValue,
    MetricData, MetricInfo, MetricsSource, Point, PointValue, RequestHeader,
};
use super::wire::{self, varint_len, zigzag32, BufferFull, Fill, ReverseWriter};

/// Field numbers, from the OTLP `.proto` files (opentelemetry-proto 1.x). Every one is
/// below 16, so every key is a single byte (`field_len` relies on it).
mod field {
    // ExportMetricsServiceRequest
    pub const REQUEST_RESOURCE_METRICS: u32 = 1;
    // ResourceMetrics
    pub const RM_RESOURCE: u32 = 1;
    pub const RM_SCOPE_METRICS: u32 = 2;
    pub const RM_SCHEMA_URL: u32 = 3;
    // Resource
    pub const RESOURCE_ATTRIBUTES: u32 = 1;
    pub const RESOURCE_DROPPED: u32 = 2;
    // ScopeMetrics
    pub const SM_SCOPE: u32 = 1;
    pub const SM_METRICS: u32 = 2;
    pub const SM_SCHEMA_URL: u32 = 3;
    // InstrumentationScope
    pub const SCOPE_NAME: u32 = 1;
    pub const SCOPE_VERSION: u32 = 2;
    pub const SCOPE_ATTRIBUTES: u32 = 3;
    pub const SCOPE_DROPPED: u32 = 4;
    // KeyValue
    pub const KV_KEY: u32 = 1;
    pub const KV_VALUE: u32 = 2;
    // AnyValue (oneof value)
    pub const ANY_STRING: u32 = 1;
    pub const ANY_BOOL: u32 = 2;
    pub const ANY_INT: u32 = 3;
    pub const ANY_DOUBLE: u32 = 4;
    // Metric (oneof data: gauge 5, sum 7, histogram 9, exponential_histogram 10)
    pub const METRIC_NAME: u32 = 1;
    pub const METRIC_DESCRIPTION: u32 = 2;
    pub const METRIC_UNIT: u32 = 3;
    pub const METRIC_GAUGE: u32 = 5;
    pub const METRIC_SUM: u32 = 7;
    pub const METRIC_HISTOGRAM: u32 = 9;
    pub const METRIC_EXPONENTIAL_HISTOGRAM: u32 = 10;
    // Gauge, Sum, Histogram, ExponentialHistogram
    pub const DATA_POINTS: u32 = 1;
    pub const AGGREGATION_TEMPORALITY: u32 = 2;
    pub const SUM_IS_MONOTONIC: u32 = 3;
    // NumberDataPoint (oneof value: as_double 4, as_int 6)
    pub const NUMBER_START: u32 = 2;
    pub const NUMBER_TIME: u32 = 3;
    pub const NUMBER_AS_DOUBLE: u32 = 4;
    pub const NUMBER_AS_INT: u32 = 6;
    pub const NUMBER_ATTRIBUTES: u32 = 7;
    pub const NUMBER_FLAGS: u32 = 8;
    // HistogramDataPoint
    pub const HIST_START: u32 = 2;
    pub const HIST_TIME: u32 = 3;
    pub const HIST_COUNT: u32 = 4;
    pub const HIST_SUM: u32 = 5;
    pub const HIST_BUCKET_COUNTS: u32 = 6;
    pub const HIST_EXPLICIT_BOUNDS: u32 = 7;
    pub const HIST_ATTRIBUTES: u32 = 9;
    pub const HIST_FLAGS: u32 = 10;
    pub const HIST_MIN: u32 = 11;
    pub const HIST_MAX: u32 = 12;
    // ExponentialHistogramDataPoint
    pub const EXP_ATTRIBUTES: u32 = 1;
    pub const EXP_START: u32 = 2;
    pub const EXP_TIME: u32 = 3;
    pub const EXP_COUNT: u32 = 4;
    pub const EXP_SUM: u32 = 5;
    pub const EXP_SCALE: u32 = 6;
    pub const EXP_ZERO_COUNT: u32 = 7;
    pub const EXP_POSITIVE: u32 = 8;
    pub const EXP_NEGATIVE: u32 = 9;
    pub const EXP_FLAGS: u32 = 10;
    pub const EXP_MIN: u32 = 12;
    pub const EXP_MAX: u32 = 13;
    pub const EXP_ZERO_THRESHOLD: u32 = 14;
    // ExponentialHistogramDataPoint.Buckets
    pub const BUCKETS_OFFSET: u32 = 1;
    pub const BUCKETS_COUNTS: u32 = 2;
}

use field::*;

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

/// One encoded request: its bytes (a part of the caller's buffer) and what it carries.
#[derive(Debug)]
pub struct EncodedRequest<'b> {
    /// The protobuf `ExportMetricsServiceRequest`.
    pub bytes: &'b [u8],
    /// The data points in it.
    pub span: PointSpan,
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
            EncodeError::BufferTooSmall { needed, buffer } => {
                write!(f, "request needs {needed} bytes, buffer has {buffer}")
            }
            EncodeError::SizeMismatch => {
                f.write_str("metrics source changed while the request was being encoded")
            }
        }
    }
}

/// Produces requests one after another until every point of a batch has been encoded once.
///
/// ```
/// use otlp_embedded::proto::*;
///
/// let header = RequestHeader {
///     resource: Resource { attributes: &[], dropped_attributes_count: 0, schema_url: "" },
///     scope: Scope { name: "demo", version: "", attributes: &[], dropped_attributes_count: 0, schema_url: "" },
/// };
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
    ///   [`EncodeError::BucketCountMismatch`]: that one point is skipped; call again for
    ///   the rest.
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
        if !self.tried_whole {
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
                    span: PointSpan { start, end, points },
                }));
            }
        }
        let plan = match plan(&self.header, source, start, buf.len()) {
            Ok(plan) => plan,
            Err(PlanError::Header) => {
                self.finished = true;
                return Some(Err(EncodeError::HeaderTooLarge { buffer: buf.len() }));
            }
            Err(PlanError::Point(error, at)) => {
                // Skip the offending point; the next call continues after it.
                self.next = normalize(
                    source,
                    PointCursor {
                        metric: at.metric,
                        point: at.point.saturating_add(1),
                    },
                );
                return Some(Err(error));
            }
        };
        match write_planned(&self.header, source, &plan, buf) {
            Ok(position) => {
                let end = normalize(source, plan.stop);
                self.next = end;
                Some(Ok(EncodedRequest {
                    bytes: tail(buf, position),
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
fn normalize<S: MetricsSource + ?Sized>(source: &S, mut cursor: PointCursor) -> PointCursor {
    let metrics = source.metric_count();
    while cursor.metric < metrics && cursor.point >= source.point_count(cursor.metric) {
        cursor.metric += 1;
        cursor.point = 0;
    }
    if cursor.metric >= metrics {
        cursor = PointCursor {
            metric: metrics,
            point: 0,
        };
    }
    cursor
}

// ---------------------------------------------------------------------------------------
// Sizes. Each mirrors the corresponding `write_*` below, field for field.

/// Bytes of a length-delimited field with a one-byte key and `len` bytes of content.
/// Saturating: on a 32-bit target an absurd batch must compare as too large, not wrap.
#[inline]
fn field_len(len: usize) -> usize {
    len.saturating_add(1 + varint_len(len as u64))
}

#[inline]
fn optional_double_len(value: Option<f64>) -> usize {
    if value.is_some() {
        9
    } else {
        0
    }
}

#[inline]
fn fixed64_nonzero_len(value: u64) -> usize {
    if value != 0 {
        9
    } else {
        0
    }
}

#[inline]
fn any_value_len(value: &AttributeValue<'_>) -> usize {
    match *value {
        AttributeValue::Str(s) => field_len(s.len()),
        AttributeValue::Bool(_) => 2,
        AttributeValue::Int(i) => 1 + varint_len(i as u64),
        AttributeValue::Double(_) => 9,
    }
}

/// Bytes of a `KeyValue` field (key, length and content).
#[inline]
fn key_value_field_len(kv: &KeyValue<'_>) -> usize {
    let body = wire::str_field_len(KV_KEY, kv.key) + field_len(any_value_len(&kv.value));
    field_len(body)
}

fn slice_attributes_len(attributes: &[KeyValue<'_>]) -> usize {
    attributes.iter().fold(0usize, |acc, kv| {
        acc.saturating_add(key_value_field_len(kv))
    })
}

#[inline(always)]
fn point_attributes_len<S: MetricsSource + ?Sized>(
    source: &S,
    metric: usize,
    point: usize,
) -> usize {
    let mut len = 0usize;
    for index in 0..source.attribute_count(metric, point) {
        len = len.saturating_add(key_value_field_len(&source.attribute(metric, point, index)));
    }
    len
}

fn buckets_len(buckets: &ExponentialBuckets<'_>) -> usize {
    let counts = if buckets.bucket_counts.is_empty() {
        0
    } else {
        field_len(wire::packed_varint_len(buckets.bucket_counts))
    };
    wire::varint_field_len(BUCKETS_OFFSET, u64::from(zigzag32(buckets.offset))) + counts
}

#[inline]
fn packed_fixed64_len(elements: usize) -> usize {
    if elements == 0 {
        0
    } else {
        field_len(elements.saturating_mul(8))
    }
}

/// Why a point cannot be encoded, whatever the buffer.
fn check_point(
    data: MetricData,
    value: &PointValue<'_>,
    at: PointCursor,
) -> Result<(), EncodeError> {
    let PointCursor { metric, point } = at;
    match (data, value) {
        (
            MetricData::Gauge | MetricData::Sum { .. },
            PointValue::Int(_) | PointValue::Double(_),
        ) => Ok(()),
        (MetricData::Histogram { .. }, PointValue::Histogram(h)) => {
            let both_empty = h.bucket_counts.is_empty() && h.explicit_bounds.is_empty();
            if both_empty || h.bucket_counts.len() == h.explicit_bounds.len().wrapping_add(1) {
                Ok(())
            } else {
                Err(EncodeError::BucketCountMismatch { metric, point })
            }
        }
        (MetricData::ExponentialHistogram { .. }, PointValue::ExponentialHistogram(_)) => Ok(()),
        _ => Err(EncodeError::ValueKindMismatch { metric, point }),
    }
}

/// Bytes of the data point message's content (without its key and length).
fn point_len<S: MetricsSource + ?Sized>(source: &S, at: PointCursor, point: &Point<'_>) -> usize {
    let attributes = point_attributes_len(source, at.metric, at.point);
    let common = fixed64_nonzero_len(point.start_time_unix_nano)
        + fixed64_nonzero_len(point.time_unix_nano)
        + wire::varint_field_len(NUMBER_FLAGS, u64::from(point.flags));
    let value = match &point.value {
        PointValue::Int(_) | PointValue::Double(_) => 9,
        PointValue::Histogram(h) => {
            fixed64_nonzero_len(h.count)
                + optional_double_len(h.sum)
                + optional_double_len(h.min)
                + optional_double_len(h.max)
                + packed_fixed64_len(h.bucket_counts.len())
                    .saturating_add(packed_fixed64_len(h.explicit_bounds.len()))
        }
        PointValue::ExponentialHistogram(e) => {
            let zero_threshold = if e.zero_threshold.to_bits() != 0 {
                9
            } else {
                0
            };
            (fixed64_nonzero_len(e.count)
                + optional_double_len(e.sum)
                + optional_double_len(e.min)
                + optional_double_len(e.max)
                + wire::varint_field_len(EXP_SCALE, u64::from(zigzag32(e.scale)))
                + fixed64_nonzero_len(e.zero_count)
                + zero_threshold)
                .saturating_add(field_len(buckets_len(&e.positive)))
                .saturating_add(field_len(buckets_len(&e.negative)))
        }
    };
    attributes.saturating_add(common + value)
}

/// Sizes of the parts of a request that do not depend on its points.
struct HeaderLen {
    /// `ScopeMetrics` content except its metrics.
    scope_metrics: usize,
    /// `ResourceMetrics` content except its `scope_metrics` field.
    resource_metrics: usize,
}

impl HeaderLen {
    fn new(header: &RequestHeader<'_>) -> Self {
        let resource = &header.resource;
        let scope = &header.scope;
        let resource_body =
            slice_attributes_len(resource.attributes).saturating_add(wire::varint_field_len(
                RESOURCE_DROPPED,
                u64::from(resource.dropped_attributes_count),
            ));
        let scope_body = slice_attributes_len(scope.attributes)
            .saturating_add(wire::str_field_len(SCOPE_NAME, scope.name))
            .saturating_add(wire::str_field_len(SCOPE_VERSION, scope.version))
            .saturating_add(wire::varint_field_len(
                SCOPE_DROPPED,
                u64::from(scope.dropped_attributes_count),
            ));
        HeaderLen {
            scope_metrics: field_len(scope_body)
                .saturating_add(wire::str_field_len(SM_SCHEMA_URL, scope.schema_url)),
            resource_metrics: field_len(resource_body)
                .saturating_add(wire::str_field_len(RM_SCHEMA_URL, resource.schema_url)),
        }
    }

    /// Size of the whole request whose `Metric` fields take `metrics` bytes.
    fn request(&self, metrics: usize) -> usize {
        let scope_metrics = self.scope_metrics.saturating_add(metrics);
        let resource_metrics = self
            .resource_metrics
            .saturating_add(field_len(scope_metrics));
        field_len(resource_metrics)
    }
}

/// Sizes of the parts of a `Metric` field that do not depend on its points.
struct MetricLen {
    /// Name, description, unit.
    strings: usize,
    /// Data message content except its points (temporality, monotonicity).
    data: usize,
}

impl MetricLen {
    fn new(info: &MetricInfo<'_>) -> Self {
        let strings = wire::str_field_len(METRIC_NAME, info.name)
            .saturating_add(wire::str_field_len(METRIC_DESCRIPTION, info.description))
            .saturating_add(wire::str_field_len(METRIC_UNIT, info.unit));
        let data = match info.data {
            MetricData::Gauge => 0,
            MetricData::Sum {
                temporality,
                is_monotonic,
            } => {
                wire::varint_field_len(SUM_IS_MONOTONIC, u64::from(is_monotonic))
                    + temporality_len(temporality as u64)
            }
            MetricData::Histogram { temporality }
            | MetricData::ExponentialHistogram { temporality } => {
                temporality_len(temporality as u64)
            }
        };
        MetricLen { strings, data }
    }

    /// Size of the `Metric` field (key included) whose data point fields take `points` bytes.
    fn field(&self, points: usize) -> usize {
        let data = points.saturating_add(self.data);
        field_len(self.strings.saturating_add(field_len(data)))
    }
}

#[inline]
fn temporality_len(temporality: u64) -> usize {
    wire::varint_field_len(AGGREGATION_TEMPORALITY, temporality)
}

// ---------------------------------------------------------------------------------------
// Plan: how many points fit.

/// What one request will carry.
struct Plan {
    start: PointCursor,
    /// First point not carried (not normalized).
    stop: PointCursor,
    points: usize,
    /// Exact size of the request.
    total: usize,
    /// Why planning stopped before the end of the batch, if not for lack of space.
    stopped_by: Option<EncodeError>,
}

enum PlanError {
    /// The header alone does not fit.
    Header,
    /// The first point cannot be encoded: too large or invalid.
    Point(EncodeError, PointCursor),
}

/// Plan the request starting at `start` (normalized, not the end) in `capacity` bytes.
fn plan<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    capacity: usize,
) -> Result<Plan, PlanError> {
    let header = HeaderLen::new(header);
    if header.request(0) > capacity {
        return Err(PlanError::Header);
    }
    // No length in the request can exceed `capacity`, so no length prefix is wider than
    // `wide`. That gives cheap upper bounds on the bytes around the points; the exact
    // request size is computed only when the bound says a point might not fit.
    let wide = 1 + varint_len(capacity as u64);
    let header_upper = header
        .resource_metrics
        .saturating_add(header.scope_metrics)
        .saturating_add(2 * wide);
    let metric_count = source.metric_count();
    // Bytes of the `Metric` fields already complete in this request.
    let mut closed = 0usize;
    let mut points = 0usize;
    let mut at = start;
    let mut stopped_by = None;
    'metrics: while at.metric < metric_count {
        let point_count = source.point_count(at.metric);
        if at.point < point_count {
            let info = source.metric(at.metric);
            let metric = MetricLen::new(&info);
            // Room for point fields in this metric, by the upper bound.
            let room = capacity.saturating_sub(
                header_upper
                    .saturating_add(closed)
                    .saturating_add(metric.strings)
                    .saturating_add(metric.data)
                    .saturating_add(2 * wide),
            );
            let mut in_metric = 0usize;
            while at.point < point_count {
                let point = source.point(at.metric, at.point);
                let checked = check_point(info.data, &point.value, at);
                let mut fits = None;
                if checked.is_ok() {
                    let points_len =
                        in_metric.saturating_add(field_len(point_len(source, at, &point)));
                    if points_len <= room
                        || header.request(closed.saturating_add(metric.field(points_len)))
                            <= capacity
                    {
                        fits = Some(points_len);
                    }
                }
                match (fits, checked) {
                    (Some(points_len), _) => {
                        in_metric = points_len;
                        points += 1;
                        at.point += 1;
                        continue;
                    }
                    (None, Err(error)) if points == 0 => return Err(PlanError::Point(error, at)),
                    (None, Err(error)) => stopped_by = Some(error),
                    (None, Ok(())) if points == 0 => {
                        let error = EncodeError::PointTooLarge {
                            metric: at.metric,
                            point: at.point,
                        };
                        return Err(PlanError::Point(error, at));
                    }
                    (None, Ok(())) => {}
                }
                // The request ends before this point.
                if in_metric > 0 {
                    closed = closed.saturating_add(metric.field(in_metric));
                }
                break 'metrics;
            }
            closed = closed.saturating_add(metric.field(in_metric));
        }
        at.metric += 1;
        at.point = 0;
    }
    let total = header.request(closed);
    Ok(Plan {
        start,
        stop: at,
        points,
        total,
        stopped_by,
    })
}

// ---------------------------------------------------------------------------------------
// Write: backwards, last field first.

/// Write the planned request into the tail of `buf`; returns where it starts.
fn write_planned<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    plan: &Plan,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let mut w = ReverseWriter::new(buf);
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
    let mut w = ReverseWriter::new(buf);
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

/// Write the request carrying points `start..stop` (normalized `start`), backwards.
fn write_request<S: MetricsSource + ?Sized>(
    w: &mut ReverseWriter<'_>,
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    stop: PointCursor,
) -> Result<(), BufferFull> {
    let resource = &header.resource;
    let scope = &header.scope;

    let resource_metrics = w.position();
    w.str_field(RM_SCHEMA_URL, resource.schema_url)?;
    let scope_metrics = w.position();
    w.str_field(SM_SCHEMA_URL, scope.schema_url)?;

    // Metrics last to first; within each, the points last to first.
    let metric_count = source.metric_count();
    if start < stop && start.metric < metric_count {
        let first = start.metric;
        let mut metric = stop.metric.min(metric_count - 1);
        loop {
            let from = if metric == first { start.point } else { 0 };
            let to = if metric == stop.metric {
                stop.point
            } else {
                source.point_count(metric)
            };
            if from < to {
                write_metric(w, source, metric, from, to)?;
            }
            if metric <= first {
                break;
            }
            metric -= 1;
        }
    }

    let scope_start = w.position();
    w.varint_field(SCOPE_DROPPED, u64::from(scope.dropped_attributes_count))?;
    for kv in scope.attributes.iter().rev() {
        write_key_value(w, SCOPE_ATTRIBUTES, kv)?;
    }
    w.str_field(SCOPE_VERSION, scope.version)?;
    w.str_field(SCOPE_NAME, scope.name)?;
    w.message(SM_SCOPE, scope_start)?;
    w.message(RM_SCOPE_METRICS, scope_metrics)?;

    let resource_start = w.position();
    w.varint_field(
        RESOURCE_DROPPED,
        u64::from(resource.dropped_attributes_count),
    )?;
    for kv in resource.attributes.iter().rev() {
        write_key_value(w, RESOURCE_ATTRIBUTES, kv)?;
    }
    w.message(RM_RESOURCE, resource_start)?;
    w.message(REQUEST_RESOURCE_METRICS, resource_metrics)
}

#[inline(always)]
fn write_key_value(
    w: &mut ReverseWriter<'_>,
    field: u32,
    kv: &KeyValue<'_>,
) -> Result<(), BufferFull> {
    // Common case, every length below 128 (one-byte lengths): claim the whole field once
    // and fill it forwards.
    let key = kv.key.as_bytes();
    let any = any_value_len(&kv.value);
    let body = 2 + key.len() + 2 + any;
    if !key.is_empty() && body < 0x80 && field < 16 {
        // Fixed offsets through slice patterns: one length check per part.
        let slot = w.claim(2 + body)?;
        let [k0, k1, k2, k3, rest @ ..] = slot else {
            return Err(BufferFull);
        };
        *k0 = wire::key(field, wire::LEN) as u8;
        *k1 = body as u8;
        *k2 = wire::key(KV_KEY, wire::LEN) as u8;
        *k3 = key.len() as u8;
        let (key_bytes, rest) = rest.split_at_mut_checked(key.len()).ok_or(BufferFull)?;
        wire::copy_short(key_bytes, key);
        let [v0, v1, a0, rest @ ..] = rest else {
            return Err(BufferFull);
        };
        *v0 = wire::key(KV_VALUE, wire::LEN) as u8;
        *v1 = any as u8;
        match kv.value {
            AttributeValue::Str(s) => {
                *a0 = wire::key(ANY_STRING, wire::LEN) as u8;
                let [len, rest @ ..] = rest else {
                    return Err(BufferFull);
                };
                *len = s.len() as u8;
                if rest.len() != s.len() {
                    return Err(BufferFull);
                }
                wire::copy_short(rest, s.as_bytes());
            }
            AttributeValue::Bool(b) => {
                *a0 = wire::key(ANY_BOOL, wire::VARINT) as u8;
                let [value] = rest else {
                    return Err(BufferFull);
                };
                *value = u8::from(b);
            }
            AttributeValue::Int(i) => {
                *a0 = wire::key(ANY_INT, wire::VARINT) as u8;
                let mut f = Fill::new(rest);
                f.varint(i as u64)?;
                if f.remaining() != 0 {
                    return Err(BufferFull);
                }
            }
            AttributeValue::Double(d) => {
                *a0 = wire::key(ANY_DOUBLE, wire::FIXED64) as u8;
                let value: &mut [u8; 8] = rest.try_into().map_err(|_| BufferFull)?;
                *value = d.to_bits().to_le_bytes();
            }
        }
        return Ok(());
    }
    let start = w.position();
    match kv.value {
        AttributeValue::Str(s) => w.str_field_always(ANY_STRING, s)?,
        AttributeValue::Bool(b) => w.varint_field_always(ANY_BOOL, u64::from(b))?,
        AttributeValue::Int(i) => w.varint_field_always(ANY_INT, i as u64)?,
        AttributeValue::Double(d) => w.double_field(ANY_DOUBLE, d)?,
    }
    w.message(KV_VALUE, start)?;
    w.str_field(KV_KEY, kv.key)?;
    w.message(field, start)
}

#[inline(always)]
fn write_point_attributes<S: MetricsSource + ?Sized>(
    w: &mut ReverseWriter<'_>,
    field: u32,
    source: &S,
    metric: usize,
    point: usize,
) -> Result<(), BufferFull> {
    for index in (0..source.attribute_count(metric, point)).rev() {
        write_key_value(w, field, &source.attribute(metric, point, index))?;
    }
    Ok(())
}

fn write_optional_double(
    w: &mut ReverseWriter<'_>,
    field: u32,
    value: Option<f64>,
) -> Result<(), BufferFull> {
    match value {
        Some(value) => w.double_field(field, value),
        None => Ok(()),
    }
}

/// One `Metric` field carrying points `from..to`.
fn write_metric<S: MetricsSource + ?Sized>(
    w: &mut ReverseWriter<'_>,
    source: &S,
    metric: usize,
    from: usize,
    to: usize,
) -> Result<(), BufferFull> {
    let info = source.metric(metric);
    let metric_start = w.position();
    let data_start = w.position();
    let data_field = match info.data {
        MetricData::Gauge => METRIC_GAUGE,
        MetricData::Sum {
            temporality,
            is_monotonic,
        } => {
            w.varint_field(SUM_IS_MONOTONIC, u64::from(is_monotonic))?;
            w.varint_field(AGGREGATION_TEMPORALITY, temporality as u64)?;
            METRIC_SUM
        }
        MetricData::Histogram { temporality } => {
            w.varint_field(AGGREGATION_TEMPORALITY, temporality as u64)?;
            METRIC_HISTOGRAM
        }
        MetricData::ExponentialHistogram { temporality } => {
            w.varint_field(AGGREGATION_TEMPORALITY, temporality as u64)?;
            METRIC_EXPONENTIAL_HISTOGRAM
        }
    };
    for point in (from..to).rev() {
        let point_start = w.position();
        // Take the point apart at once: its parts stay in registers instead of a copy of
        // the whole `Point` on the stack that every field read would wait on.
        let Point {
            start_time_unix_nano,
            time_unix_nano,
            flags,
            value,
        } = source.point(metric, point);
        let head = PointHead {
            start: start_time_unix_nano,
            time: time_unix_nano,
            flags,
        };
        let at = PointCursor { metric, point };
        // Checked while planning, but the one-pass path has not planned.
        check_point(info.data, &value, at).map_err(|_| BufferFull)?;
        match value {
            PointValue::Int(i) => write_number_point(w, source, at, head, NUMBER_AS_INT, i as u64)?,
            PointValue::Double(d) => {
                write_number_point(w, source, at, head, NUMBER_AS_DOUBLE, d.to_bits())?
            }
            PointValue::Histogram(h) => write_histogram_point(w, source, at, head, &h)?,
            PointValue::ExponentialHistogram(e) => {
                write_exponential_point(w, source, at, head, &e)?
            }
        }
        w.message(DATA_POINTS, point_start)?;
    }
    w.message(data_field, data_start)?;
    w.str_field(METRIC_UNIT, info.unit)?;
    w.str_field(METRIC_DESCRIPTION, info.description)?;
    w.str_field(METRIC_NAME, info.name)?;
    w.message(SM_METRICS, metric_start)
}

/// The scalar fields every data point has.
#[derive(Copy, Clone)]
struct PointHead {
    start: u64,
    time: u64,
    flags: u32,
}

/// `NumberDataPoint` content; `value_field` says `as_int` or `as_double`.
#[inline(always)]
fn write_number_point<S: MetricsSource + ?Sized>(
    w: &mut ReverseWriter<'_>,
    source: &S,
    at: PointCursor,
    head: PointHead,
    value_field: u32,
    value: u64,
) -> Result<(), BufferFull> {
    w.varint_field(NUMBER_FLAGS, u64::from(head.flags))?;
    write_point_attributes(w, NUMBER_ATTRIBUTES, source, at.metric, at.point)?;
    w.fixed64_field(value_field, value)?;
    w.fixed64_field_nonzero(NUMBER_TIME, head.time)?;
    w.fixed64_field_nonzero(NUMBER_START, head.start)
}

/// `HistogramDataPoint` content.
#[inline(always)]
fn write_histogram_point<S: MetricsSource + ?Sized>(
    w: &mut ReverseWriter<'_>,
    source: &S,
    at: PointCursor,
    head: PointHead,
    h: &HistogramValue<'_>,
) -> Result<(), BufferFull> {
    write_optional_double(w, HIST_MAX, h.max)?;
    write_optional_double(w, HIST_MIN, h.min)?;
    w.varint_field(HIST_FLAGS, u64::from(head.flags))?;
    write_point_attributes(w, HIST_ATTRIBUTES, source, at.metric, at.point)?;
    w.packed_double_field(HIST_EXPLICIT_BOUNDS, h.explicit_bounds)?;
    w.packed_fixed64_field(HIST_BUCKET_COUNTS, h.bucket_counts)?;
    write_optional_double(w, HIST_SUM, h.sum)?;
    w.fixed64_field_nonzero(HIST_COUNT, h.count)?;
    w.fixed64_field_nonzero(HIST_TIME, head.time)?;
    w.fixed64_field_nonzero(HIST_START, head.start)
}

fn write_buckets(
    w: &mut ReverseWriter<'_>,
    field: u32,
    buckets: &ExponentialBuckets<'_>,
) -> Result<(), BufferFull> {
    let start = w.position();
    w.packed_varint_field(BUCKETS_COUNTS, buckets.bucket_counts)?;
    w.varint_field(BUCKETS_OFFSET, u64::from(zigzag32(buckets.offset)))?;
    w.message(field, start)
}

/// `ExponentialHistogramDataPoint` content.
#[inline(always)]
fn write_exponential_point<S: MetricsSource + ?Sized>(
    w: &mut ReverseWriter<'_>,
    source: &S,
    at: PointCursor,
    head: PointHead,
    e: &ExponentialHistogramValue<'_>,
) -> Result<(), BufferFull> {
    if e.zero_threshold.to_bits() != 0 {
        w.double_field(EXP_ZERO_THRESHOLD, e.zero_threshold)?;
    }
    write_optional_double(w, EXP_MAX, e.max)?;
    write_optional_double(w, EXP_MIN, e.min)?;
    w.varint_field(EXP_FLAGS, u64::from(head.flags))?;
    write_buckets(w, EXP_NEGATIVE, &e.negative)?;
    write_buckets(w, EXP_POSITIVE, &e.positive)?;
    w.fixed64_field_nonzero(EXP_ZERO_COUNT, e.zero_count)?;
    w.varint_field(EXP_SCALE, u64::from(zigzag32(e.scale)))?;
    write_optional_double(w, EXP_SUM, e.sum)?;
    w.fixed64_field_nonzero(EXP_COUNT, e.count)?;
    w.fixed64_field_nonzero(EXP_TIME, head.time)?;
    w.fixed64_field_nonzero(EXP_START, head.start)?;
    write_point_attributes(w, EXP_ATTRIBUTES, source, at.metric, at.point)
}
