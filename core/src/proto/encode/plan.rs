//! Planning a request: how many points from a position fit in a buffer, by adding up
//! exact encoded sizes (cheap upper bounds first, exact sizes only near the end).

use super::field_len;
use super::metric::MetricLen;
use super::point::{check_point, point_len};
use super::request::HeaderLen;
use super::{EncodeError, PointCursor};
use crate::proto::source::{MetricsSource, RequestHeader};
use crate::proto::wire::varint_len;

/// What one request will carry.
pub(super) struct Plan {
    pub(super) start: PointCursor,
    /// First point not carried (not normalized).
    pub(super) stop: PointCursor,
    pub(super) points: usize,
    /// Exact size of the request.
    pub(super) total: usize,
    /// Why planning stopped before the end of the batch, if not for lack of space.
    pub(super) stopped_by: Option<EncodeError>,
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
    })
}
