//! Planning a request: how many points from a position fit in a buffer, by adding up
//! exact encoded sizes (cheap upper bounds first, exact sizes only near the end).
//!
//! With feature `prefer-size` the splitter plans by writing instead
//! ([`plan_by_writing`]): it tries spans into the buffer itself until it finds the longest
//! that fits, so a firmware image needs no size function beside each writer. It finds the
//! same spans with more writing; [`plan`] stays for [`encoded_len`](super::encoded_len) and
//! [`encode_request`](super::encode_request), which have no buffer to try.

use super::field_len;
use super::metric::MetricLen;
use super::point::{check_point, point_len};
use super::request::write_request;
use super::request::HeaderLen;
use super::writer::Writer;
use super::{advance, points_from, EncodeError, PointCursor};
use crate::proto::source::{BucketPart, PointValue};
use crate::proto::source::{MetricsSource, RequestHeader};
use crate::proto::wire::varint_len;
#[cfg(feature = "prefer-size")]
use core::cell::Cell;

/// What one request will carry.
pub(super) struct Plan {
    pub(super) start: PointCursor,
    /// First point not carried (normalized: an existing point, or the end of the batch).
    pub(super) stop: PointCursor,
    pub(super) points: usize,
    /// Exact size of the request.
    pub(super) total: usize,
    /// Why planning stopped before the end of the batch, if not for lack of space.
    pub(super) stopped_by: Option<EncodeError>,
    /// Where the request starts in the buffer, if planning left it written there.
    pub(super) written: Option<usize>,
}

pub(super) enum PlanError {
    /// The header alone does not fit.
    Header,
    /// The first point cannot be encoded: too large or invalid.
    Point(EncodeError, PointCursor),
}

/// Plan the request starting at `start` (normalized, not the end) in `capacity` bytes.
pub(super) fn plan<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    capacity: usize,
) -> Result<Plan, PlanError> {
    let header = HeaderLen::new(header, source);
    let metric_count = source.metric_count();
    // A metric's scope: `None` for the header's (see `write_request`).
    let scoped = source.scope_count() > 0;
    let scope_of = |metric: usize| {
        if scoped {
            Some(source.metric_scope(metric))
        } else {
            None
        }
    };
    // The `ScopeMetrics` being filled: its scope and its own bytes. Earlier ones of this
    // request (a source with several scopes) are complete: `closed_scopes` bytes.
    let mut scope = if start.metric < metric_count {
        scope_of(start.metric)
    } else {
        None
    };
    let mut scope_metrics = header.scope_metrics(source, scope);
    let mut closed_scopes = 0usize;
    if header.request(closed_scopes, scope_metrics, 0) > capacity {
        return Err(PlanError::Header);
    }
    // No length in the request can exceed `capacity`, so no length prefix is wider than
    // `wide`. That gives cheap upper bounds on the bytes around the points; the exact
    // request size is computed only when the bound says a point might not fit.
    let wide = 1 + varint_len(capacity as u64);
    // Bytes of the `Metric` fields already complete in this `ScopeMetrics`.
    let mut closed = 0usize;
    let mut points = 0usize;
    let mut at = start;
    let mut stopped_by = None;
    'metrics: while at.metric < metric_count {
        let point_count = source.point_count(at.metric);
        if at.point < point_count {
            // A metric under another scope than the last starts a new `ScopeMetrics`; if
            // not even its first point fits, the request ends without it (`switched` says
            // what to go back to). Dead code for a source without scopes.
            let mut switched = None;
            let metric_scope = scope_of(at.metric);
            if metric_scope != scope {
                switched = Some((closed_scopes, scope_metrics, closed));
                closed_scopes =
                    closed_scopes.saturating_add(field_len(scope_metrics.saturating_add(closed)));
                closed = 0;
                scope = metric_scope;
                scope_metrics = header.scope_metrics(source, scope);
            }
            let header_upper = header
                .resource_metrics
                .saturating_add(closed_scopes)
                .saturating_add(scope_metrics)
                .saturating_add(2 * wide);
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
                let checked = check_point(source, info.data, &point.value, at);
                let mut fits = None;
                if checked.is_ok() {
                    let points_len =
                        in_metric.saturating_add(field_len(point_len(source, at, &point)));
                    if points_len <= room
                        || header.request(
                            closed_scopes,
                            scope_metrics,
                            closed.saturating_add(metric.field(points_len)),
                        ) <= capacity
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
                } else if let Some(before) = switched {
                    (closed_scopes, scope_metrics, closed) = before;
                }
                break 'metrics;
            }
            closed = closed.saturating_add(metric.field(in_metric));
        }
        at.metric += 1;
        at.point = 0;
    }
    let total = header.request(closed_scopes, scope_metrics, closed);
    Ok(Plan {
        start,
        stop: at,
        points,
        total,
        stopped_by,
        written: None,
    })
}

/// Plan the splitter's next request from `start` (normalized, not the end) in `buf`: by
/// sizes, or with feature `prefer-size` by trying spans in `buf`, which then holds the
/// request ([`Plan::written`]).
pub(super) fn plan_request<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    buf: &mut [u8],
) -> Result<Plan, PlanError> {
    if cfg!(feature = "prefer-size") {
        plan_by_writing(header, source, start, buf)
    } else {
        plan(header, source, start, buf.len())
    }
}

/// [`plan`] for `buf.len()` bytes, found by writing: the longest span from `start`
/// (normalized, not the end) whose request `write_request` fits into `buf` (overwritten).
/// A longer span never takes fewer bytes, so a doubling search and then a bisection find it
/// in about twice the logarithm of its length in tries; each try writes at most `buf`. The
/// request planned is left written in `buf` ([`Plan::written`]), so it is written once more
/// only when a longer try came after it.
///
/// The same plan as [`plan`] (the unit tests compare them) with one exception, for a
/// source that breaks its contract: a point whose bucket visits disagree with its
/// `bucket_len` is planned in (its write then fails as `SizeMismatch`, as it does after
/// [`plan`]) even where its announced size would not have fit.
pub(super) fn plan_by_writing<S: MetricsSource + ?Sized>(
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    buf: &mut [u8],
) -> Result<Plan, PlanError> {
    // Why the last try that failed could not be written, if a point of it was refused
    // (see below).
    #[cfg(feature = "prefer-size")]
    let refused: Cell<Option<EncodeError>> = Cell::new(None);
    // The size of the request carrying `start..stop` and where it starts, if it fits.
    let mut try_span = |stop| {
        let mut w = Writer::new(buf);
        let written = write_request(&mut w, header, source, start, stop);
        #[cfg(feature = "prefer-size")]
        if written.is_err() {
            refused.set(w.refused());
        }
        written.ok().map(|()| (w.written(), w.position()))
    };
    // The header alone first: a header that does not fit fails before any point. `known`:
    // the size and place of the request of `fits` points; `in_buf`: whether it is still in
    // `buf` (no longer try has overwritten it since).
    let mut known = try_span(start).ok_or(PlanError::Header)?;
    let mut in_buf = true;
    let remaining = points_from(source, start);
    // `fits` points are known to fit; `remaining + 1` stands for "no more known not to".
    // `failed`: a try has failed, so the search bisects; before that it doubles (also when
    // the count saturated at `usize::MAX`, where bisecting first would try half of that).
    let (mut fits, mut fails) = (0usize, remaining.saturating_add(1));
    let mut failed = false;
    while fits + 1 < fails {
        let points = if !failed {
            // Twice as many plus one, at most `remaining` (`fits < remaining` here); so
            // written, nothing can overflow.
            fits + (fits + 1).min(remaining - fits)
        } else {
            fits + (fails - fits) / 2
        };
        match try_span(advance(source, start, points)) {
            Some(found) => (fits, known, in_buf) = (points, found, true),
            None => (fails, in_buf, failed) = (points, false, true),
        }
    }
    let stop = advance(source, start, fits);
    let mut stopped_by = None;
    if fits < remaining {
        // The first point left out: invalid, too large, or a source breaking its contract.
        // The last try that failed carried the points that fit and this one, the first it
        // wrote (backwards) and so the first it checked: with `prefer-size` an invalid point
        // was refused there, with its error, and is not read again here. Without it (where
        // only the tests plan by writing) the writer keeps no refusal: checked again.
        #[cfg(feature = "prefer-size")]
        let refused = refused.get();
        #[cfg(not(feature = "prefer-size"))]
        let refused = {
            let data = source.metric(stop.metric).data;
            // Borrowed where the source put it, not copied out (a hundred bytes).
            let point = source.point(stop.metric, stop.point);
            check_point(source, data, &point.value, stop).err()
        };
        match refused {
            Some(error) if fits == 0 => return Err(PlanError::Point(error, stop)),
            Some(error) => stopped_by = Some(error),
            None if visits_disagree(source, stop) => {
                // Planned in and left unwritten, so that the splitter fails it as
                // `SizeMismatch`: the size is moot.
                return Ok(Plan {
                    start,
                    stop: advance(source, stop, 1),
                    points: fits + 1,
                    total: 0,
                    stopped_by: None,
                    written: None,
                });
            }
            None if fits == 0 => {
                let error = EncodeError::PointTooLarge {
                    metric: stop.metric,
                    point: stop.point,
                };
                return Err(PlanError::Point(error, stop));
            }
            None => {}
        }
    }
    let (total, at) = known;
    let mut written = Some(at);
    if !in_buf {
        // A longer try overwrote the request: write it again. It fit before; a source that
        // answers otherwise now leaves it unwritten, and the splitter fails it as
        // `SizeMismatch`.
        written = try_span(stop).map(|(_, at)| at);
    }
    Ok(Plan {
        start,
        stop,
        points: fits,
        total,
        stopped_by,
        written,
    })
}

/// Whether the source visits another number of buckets for the point at `at` than its
/// `bucket_len` announced, for a part the encoder visits (none when it announced 0). The
/// point is read only from a source that announces some part (one that hands bucket
/// numbers out by visits): for the others this is no work at all.
fn visits_disagree<S: MetricsSource + ?Sized>(source: &S, at: PointCursor) -> bool {
    const PARTS: [BucketPart; 4] = [
        BucketPart::ExplicitBounds,
        BucketPart::BucketCounts,
        BucketPart::PositiveCounts,
        BucketPart::NegativeCounts,
    ];
    if PARTS
        .iter()
        .all(|&part| source.bucket_len(at.metric, at.point, part).is_none())
    {
        return false;
    }
    // Borrowed where the source put it, not copied out (a hundred bytes).
    let point = source.point(at.metric, at.point);
    let parts: &[BucketPart] = match point.value {
        PointValue::Histogram(_) => &PARTS[..2],
        #[cfg(feature = "exponential-histogram")]
        PointValue::ExponentialHistogram(_) => &PARTS[2..],
        _ => &[],
    };
    parts.iter().any(|&part| {
        let announced = source.bucket_len(at.metric, at.point, part).unwrap_or(0);
        let mut visited = 0usize;
        if announced != 0 {
            source.visit_buckets(at.metric, at.point, part, &mut |_| visited += 1);
        }
        announced != 0 && visited != announced
    })
}

#[cfg(test)]
mod tests {
    use super::super::golden::golden_cases;
    use super::super::{normalize, write_planned, RequestSplitter};
    use super::*;
    use crate::proto::source::{
        HistogramValue, KeyValue, MetricData, MetricInfo, Point, Scope, SliceMetric, SlicePoint,
        SliceSource,
    };

    /// A bucket-count mismatch between a histogram's slices: an invalid point.
    static UNEVEN: [SlicePoint<'static>; 1] = [SlicePoint {
        attributes: &[],
        point: Point {
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            flags: 0,
            value: PointValue::Histogram(HistogramValue {
                count: 2,
                sum: None,
                min: None,
                max: None,
                explicit_bounds: &[1.0, 2.0],
                bucket_counts: &[1, 1],
            }),
        },
    }];

    /// A source over slices that may put runs of metrics under scopes of their own, hand
    /// out histogram buckets by visits, and miscount the visits of one metric's points.
    struct Varied<'a> {
        slices: SliceSource<'a>,
        scopes: usize,
        visited: bool,
        miscounted: Option<usize>,
    }

    impl Varied<'_> {
        fn histogram(&self, metric: usize, point: usize) -> Option<HistogramValue<'_>> {
            match self.slices.point(metric, point).value {
                PointValue::Histogram(h) if self.visited => Some(h),
                _ => None,
            }
        }
    }

    impl MetricsSource for Varied<'_> {
        fn metric_count(&self) -> usize {
            self.slices.metric_count()
        }
        fn metric(&self, metric: usize) -> MetricInfo<'_> {
            self.slices.metric(metric)
        }
        fn point_count(&self, metric: usize) -> usize {
            self.slices.point_count(metric)
        }
        fn point(&self, metric: usize, point: usize) -> Point<'_> {
            self.slices.point(metric, point)
        }
        fn attribute_count(&self, metric: usize, point: usize) -> usize {
            self.slices.attribute_count(metric, point)
        }
        fn attribute(&self, metric: usize, point: usize, index: usize) -> KeyValue<'_> {
            self.slices.attribute(metric, point, index)
        }
        fn scope_count(&self) -> usize {
            self.scopes
        }
        fn metric_scope(&self, metric: usize) -> usize {
            (metric / 2) % self.scopes
        }
        fn scope(&self, scope: usize) -> Scope<'_> {
            Scope::new(["first", "second scope"][scope])
        }
        fn bucket_len(&self, metric: usize, point: usize, part: BucketPart) -> Option<usize> {
            let h = self.histogram(metric, point)?;
            match part {
                BucketPart::ExplicitBounds => Some(h.explicit_bounds.len()),
                BucketPart::BucketCounts => Some(h.bucket_counts.len()),
                _ => None,
            }
        }
        fn visit_buckets(
            &self,
            metric: usize,
            point: usize,
            part: BucketPart,
            each: &mut dyn FnMut(u64),
        ) {
            let Some(h) = self.histogram(metric, point) else {
                return;
            };
            let mut values = [0u64; 8];
            let values = match part {
                BucketPart::ExplicitBounds => {
                    for (out, bound) in values.iter_mut().zip(h.explicit_bounds) {
                        *out = bound.to_bits();
                    }
                    &values[..h.explicit_bounds.len()]
                }
                _ => h.bucket_counts,
            };
            // The miscounting metric leaves out its last bucket count.
            let cut =
                usize::from(self.miscounted == Some(metric) && part == BucketPart::BucketCounts);
            values[..values.len() - cut].iter().for_each(|&v| each(v));
        }
    }

    /// Every golden metric, a gauge holding a histogram point and a histogram with uneven
    /// buckets (invalid points), and the golden metrics again.
    fn batch(metrics: &mut [SliceMetric<'static>; 24]) -> usize {
        let mut n = 0;
        let mut push = |metric| {
            metrics[n] = metric;
            n += 1;
        };
        let golden = golden_cases();
        let encodable =
            |name: &str| cfg!(feature = "exponential-histogram") || name != "exponential histogram";
        for case in golden.iter().filter(|case| encodable(case.name)) {
            case.metrics.iter().for_each(|&m| push(m));
        }
        let histogram = golden
            .iter()
            .find(|case| case.name == "histogram")
            .unwrap()
            .metrics[0];
        let mut mismatched = histogram;
        mismatched.info.data = MetricData::Gauge;
        push(mismatched);
        push(SliceMetric {
            info: histogram.info,
            points: &UNEVEN,
        });
        for case in golden.iter().filter(|case| encodable(case.name)) {
            case.metrics.iter().for_each(|&m| push(m));
        }
        n
    }

    /// A plan's fields (its stop, which must be normalized), or its error (`None`: the
    /// header's).
    type Planned = Result<
        (PointCursor, PointCursor, usize, usize, Option<EncodeError>),
        Option<(EncodeError, PointCursor)>,
    >;

    fn summary<S: MetricsSource + ?Sized>(source: &S, planned: Result<Plan, PlanError>) -> Planned {
        match planned {
            Ok(p) => Ok((
                p.start,
                {
                    assert_eq!(normalize(source, p.stop), p.stop, "stop not normalized");
                    p.stop
                },
                p.points,
                p.total,
                p.stopped_by,
            )),
            Err(PlanError::Header) => Err(None),
            Err(PlanError::Point(error, at)) => Err(Some((error, at))),
        }
    }

    /// Advancing a cursor (and normalizing it: advancing by 0) lands where counting the
    /// points of the flattened batch does, from every cursor, across empty metrics; the
    /// points left from a cursor are those counted after it.
    #[test]
    fn advance_counts_points_across_empty_metrics() {
        let point = SlicePoint {
            attributes: &[],
            point: Point {
                start_time_unix_nano: 1,
                time_unix_nano: 2,
                flags: 0,
                value: PointValue::Int(1),
            },
        };
        let points = [point; 3];
        let info = MetricInfo {
            name: "m",
            description: "",
            unit: "",
            data: MetricData::Gauge,
        };
        let counts = [0, 3, 0, 0, 2, 0];
        let metrics = counts.map(|count| SliceMetric {
            info,
            points: &points[..count],
        });
        let source = SliceSource { metrics: &metrics };
        // Every point in order, then the end.
        let mut flat = [PointCursor::default(); 8];
        let mut n = 0;
        for (metric, &count) in counts.iter().enumerate() {
            for point in 0..count {
                flat[n] = PointCursor { metric, point };
                n += 1;
            }
        }
        flat[n] = PointCursor {
            metric: metrics.len(),
            point: 0,
        };
        for metric in 0..=metrics.len() + 1 {
            for point in 0..=4 {
                let from = PointCursor { metric, point };
                // The first point at or after `from`.
                let first = flat[..n].iter().position(|&p| p >= from).unwrap_or(n);
                assert_eq!(normalize(&source, from), flat[first], "{from:?}");
                // What is left from a normalized cursor, or from a metric's first point.
                assert_eq!(points_from(&source, flat[first]), n - first, "{from:?}");
                if point == 0 {
                    assert_eq!(points_from(&source, from), n - first, "{from:?}");
                }
                for points in 0..=n + 2 {
                    let expected = flat[(first + points).min(n)];
                    assert_eq!(
                        advance(&source, from, points),
                        expected,
                        "{from:?} + {points}"
                    );
                }
            }
        }
    }

    /// Planning by writing finds the plan that adding up sizes finds, from every start, in
    /// every buffer size up to past the whole batch, with and without scopes and visited
    /// buckets, across invalid points.
    #[test]
    fn planning_by_writing_matches_planning_by_sizes() {
        let mut metrics = [golden_cases()[0].metrics[0]; 24];
        let n = batch(&mut metrics);
        let header = golden_cases()[3].header;
        let mut buffer = [0u8; 1200];
        for (scopes, visited) in [(0, false), (0, true), (2, false), (2, true)] {
            let source = Varied {
                slices: SliceSource {
                    metrics: &metrics[..n],
                },
                scopes,
                visited,
                miscounted: None,
            };
            let mut starts = 0;
            let mut start = PointCursor::default();
            while start.metric < n {
                for capacity in 0..buffer.len() {
                    let by_sizes = summary(&source, plan(&header, &source, start, capacity));
                    let by_writing =
                        plan_by_writing(&header, &source, start, &mut buffer[..capacity]);
                    let written = by_writing.as_ref().ok().and_then(|plan| plan.written);
                    if let (Ok(plan), Some(position)) = (&by_writing, written) {
                        // Left in the buffer exactly as the splitter's write would put it.
                        let mut again = [0u8; 1200];
                        let again = &mut again[..capacity];
                        assert_eq!(write_planned(&header, &source, plan, again), Ok(position));
                        assert_eq!(&buffer[position..capacity], &again[position..]);
                    }
                    let by_writing = summary(&source, by_writing);
                    assert_eq!(
                        by_writing, by_sizes,
                        "{start:?} in {capacity}, {scopes} scopes"
                    );
                }
                start = normalize(
                    &source,
                    PointCursor {
                        metric: start.metric,
                        point: start.point + 1,
                    },
                );
                starts += 1;
            }
            assert!(starts > 15, "{starts} starts");
        }
        // The last size tried holds the whole batch: the search reached its end.
        let source = SliceSource {
            metrics: &metrics[..n],
        };
        let start = normalize(
            &source,
            PointCursor {
                metric: n - 2,
                point: 0,
            },
        );
        let whole = plan_by_writing(&header, &source, start, &mut buffer);
        assert_eq!(summary(&source, whole).map(|p| p.1.metric), Ok(n));
    }

    /// A point whose visits disagree with its announced count is planned in wherever it
    /// fits as announced, so that its write fails (`SizeMismatch` in the splitter), as
    /// after planning by sizes.
    #[test]
    fn miscounted_visits_are_planned_in() {
        let mut metrics = [golden_cases()[0].metrics[0]; 24];
        let n = batch(&mut metrics);
        let histogram = metrics[..n]
            .iter()
            .position(|m| matches!(m.info.data, MetricData::Histogram { .. }))
            .unwrap();
        let header = golden_cases()[3].header;
        let source = Varied {
            slices: SliceSource {
                metrics: &metrics[..n],
            },
            scopes: 0,
            visited: true,
            miscounted: Some(histogram),
        };
        let mut buffer = [0u8; 1200];
        for start in [
            PointCursor::default(),
            PointCursor {
                metric: histogram,
                point: 0,
            },
        ] {
            let by_sizes = plan(&header, &source, start, buffer.len()).ok().unwrap();
            let by_writing = plan_by_writing(&header, &source, start, &mut buffer)
                .ok()
                .unwrap();
            // Planning by sizes cannot see the miscount and carries on past the point;
            // planning by writing stops right after it. Either way the write fails.
            let after = PointCursor {
                metric: histogram + 1,
                point: 0,
            };
            assert!(normalize(&source, by_sizes.stop) >= after);
            assert_eq!(normalize(&source, by_writing.stop), after);
            for plan in [by_sizes, by_writing] {
                assert_eq!(
                    write_planned(&header, &source, &plan, &mut buffer),
                    Err(EncodeError::SizeMismatch)
                );
            }
        }
        // And so through the splitter, whichever planner it uses.
        let mut splitter = RequestSplitter::new(header);
        let mut small = [0u8; 200];
        let mut results = [None; 12];
        for result in results.iter_mut() {
            *result = splitter
                .next_request(&source, &mut small)
                .map(|r| r.map(|q| q.span.points));
        }
        assert!(
            results.contains(&Some(Err(EncodeError::SizeMismatch))),
            "{results:?}"
        );
        assert_eq!(results.last(), Some(&None));
    }
    /// A source whose point counts add up past `usize::MAX` (metric 0 claims that many,
    /// repeating a real metric's points): the count of what is left saturates instead of
    /// wrapping to a small number, so every request the splitter makes carries points and
    /// moves on, in both planners.
    #[test]
    fn counts_past_usize_max_saturate() {
        struct Huge<'a>(SliceSource<'a>);
        impl MetricsSource for Huge<'_> {
            fn metric_count(&self) -> usize {
                2
            }
            fn metric(&self, _: usize) -> MetricInfo<'_> {
                self.0.metric(0)
            }
            fn point_count(&self, metric: usize) -> usize {
                if metric == 0 {
                    usize::MAX
                } else {
                    self.0.point_count(0)
                }
            }
            fn point(&self, _: usize, point: usize) -> Point<'_> {
                self.0.point(0, point % self.0.point_count(0))
            }
            fn attribute_count(&self, _: usize, point: usize) -> usize {
                self.0.attribute_count(0, point % self.0.point_count(0))
            }
            fn attribute(&self, _: usize, point: usize, index: usize) -> KeyValue<'_> {
                self.0.attribute(0, point % self.0.point_count(0), index)
            }
        }
        let golden = golden_cases();
        let metrics = golden[0].metrics;
        let source = Huge(SliceSource { metrics });
        assert_eq!(points_from(&source, PointCursor::default()), usize::MAX);
        let mut splitter = RequestSplitter::new(golden[0].header);
        let mut buffer = [0u8; 512];
        let mut previous = PointCursor::default();
        for _ in 0..3 {
            let request = splitter
                .next_request(&source, &mut buffer)
                .unwrap()
                .unwrap();
            assert!(request.span.points > 0);
            assert_eq!(request.span.start, previous);
            assert_eq!(request.span.end.metric, 0);
            assert_eq!(request.span.end.point, previous.point + request.span.points);
            previous = request.span.end;
        }
    }
}
