//! `ExportMetricsServiceRequest` around its metrics: `ResourceMetrics`, `Resource`,
//! `ScopeMetrics` and `InstrumentationScope`. The size of everything but the metrics
//! ([`HeaderLen`]) sits beside the writer.

use super::attribute::{
    any_attributes_len, slice_attributes_len, write_any_attributes, write_key_value,
};
use super::field::*;
use super::metric::write_metric;
use super::writer::{Step, Stop, Writer};
use super::{field_len, PointCursor};
use crate::proto::source::{AttributeOwner, MetricsSource, RequestHeader, Scope};
use crate::proto::wire::{self, BufferFull};

/// Sizes of the parts of a request that do not depend on its points.
pub(super) struct HeaderLen {
    /// `ScopeMetrics` content except its metrics, for the header's scope.
    pub(super) scope_metrics: usize,
    /// `ResourceMetrics` content except its `scope_metrics` fields.
    pub(super) resource_metrics: usize,
}

impl HeaderLen {
    pub(super) fn new<S: MetricsSource + ?Sized>(header: &RequestHeader<'_>, source: &S) -> Self {
        let resource = &header.resource;
        let resource_body = slice_attributes_len(resource.attributes)
            .saturating_add(any_attributes_len(source, AttributeOwner::Resource))
            .saturating_add(wire::varint_field_len(
                RESOURCE_DROPPED,
                u64::from(resource.dropped_attributes_count),
            ));
        HeaderLen {
            scope_metrics: scope_metrics_len(&header.scope, 0),
            resource_metrics: field_len(resource_body)
                .saturating_add(wire::str_field_len(RM_SCHEMA_URL, resource.schema_url)),
        }
    }

    /// `ScopeMetrics` content except its metrics, for `scope` (`None`: the header's; else
    /// the source's scope of that index).
    pub(super) fn scope_metrics<S: MetricsSource + ?Sized>(
        &self,
        source: &S,
        scope: Option<usize>,
    ) -> usize {
        match scope {
            None => self.scope_metrics,
            Some(index) => scope_metrics_len(
                &source.scope(index),
                any_attributes_len(source, AttributeOwner::Scope(index)),
            ),
        }
    }

    /// Size of the whole request whose earlier `ScopeMetrics` fields take `closed_scopes`
    /// bytes and whose last one has `scope_metrics` bytes of its own and `metrics` bytes of
    /// `Metric` fields.
    pub(super) fn request(
        &self,
        closed_scopes: usize,
        scope_metrics: usize,
        metrics: usize,
    ) -> usize {
        let scope_metrics = scope_metrics.saturating_add(metrics);
        let resource_metrics = self
            .resource_metrics
            .saturating_add(closed_scopes)
            .saturating_add(field_len(scope_metrics));
        field_len(resource_metrics)
    }
}

/// `ScopeMetrics` content except its metrics: the scope, with `more_attributes` bytes of
/// attributes besides its slice, and the schema URL.
fn scope_metrics_len(scope: &Scope<'_>, more_attributes: usize) -> usize {
    let scope_body = slice_attributes_len(scope.attributes)
        .saturating_add(more_attributes)
        .saturating_add(wire::str_field_len(SCOPE_NAME, scope.name))
        .saturating_add(wire::str_field_len(SCOPE_VERSION, scope.version))
        .saturating_add(wire::varint_field_len(
            SCOPE_DROPPED,
            u64::from(scope.dropped_attributes_count),
        ));
    field_len(scope_body).saturating_add(wire::str_field_len(SM_SCHEMA_URL, scope.schema_url))
}

/// Write the request carrying points `start..stop` (normalized `start`, at or before
/// `stop`), backwards:
/// `Err` when it does not fit in the writer's buffer or a point in it cannot be encoded.
pub(super) fn write_request<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    stop: PointCursor,
) -> Result<(), BufferFull> {
    let written = write_request_fields(w, header, source, start, stop);
    w.finish(written)
}

/// [`write_request`]'s fields.
fn write_request_fields<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    header: &RequestHeader<'_>,
    source: &S,
    start: PointCursor,
    stop: PointCursor,
) -> Step {
    let resource = &header.resource;

    let resource_metrics = w.position();
    w.str_field(RM_SCHEMA_URL, resource.schema_url)?;

    // Metrics last to first; within each, the points last to first. Each run of metrics
    // under one scope is one `ScopeMetrics`: opened (backwards: its schema URL) at its last
    // metric, closed (its scope, key and length) after its first. A source without scopes
    // of its own has one run, under the header's scope.
    let metric_count = source.metric_count();
    // `None`: the header's scope. A source without scopes of its own (the constant 0) has
    // one run under it, and the compiler drops the rest of this.
    let scoped = source.scope_count() > 0;
    // An empty request from a point (a splitter trying whether its header fits) has that
    // point's scope, the one its first point would open.
    let mut scope = if scoped && start.metric < metric_count {
        last_scope(source, start, stop)
    } else {
        None
    };
    let mut end = open_scope_metrics(w, header, source, scope)?;
    // From the metric of the last point to the first's; an empty span (`start == stop`)
    // writes no metric: its one metric has no point from `start.point` to `stop.point`.
    if start.metric < metric_count {
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
                let metric_scope = if scoped {
                    Some(source.metric_scope(metric))
                } else {
                    None
                };
                if metric_scope != scope {
                    close_scope_metrics(w, header, source, scope, end)?;
                    end = open_scope_metrics(w, header, source, metric_scope)?;
                    scope = metric_scope;
                }
                write_metric(w, source, metric, from, to)?;
            }
            if metric <= first {
                break;
            }
            metric -= 1;
        }
    }
    close_scope_metrics(w, header, source, scope, end)?;

    let resource_start = w.position();
    w.varint_field(
        RESOURCE_DROPPED,
        u64::from(resource.dropped_attributes_count),
    )?;
    write_any_attributes(w, RESOURCE_ATTRIBUTES, source, AttributeOwner::Resource)?;
    for kv in resource.attributes.iter().rev() {
        write_key_value(w, RESOURCE_ATTRIBUTES, kv)?;
    }
    w.message(RM_RESOURCE, resource_start)?;
    w.message(REQUEST_RESOURCE_METRICS, resource_metrics)
}

/// The scope of the last metric carried by points `start..stop` (normalized `start`, not
/// the end, at or before `stop`; for an empty span, `start`'s metric), for a source with
/// scopes: the first `ScopeMetrics` written (backwards).
fn last_scope<S: MetricsSource + ?Sized>(
    source: &S,
    start: PointCursor,
    stop: PointCursor,
) -> Option<usize> {
    let mut metric = stop.metric.min(source.metric_count().saturating_sub(1));
    // A `stop` at the start of a metric carries nothing of it; `start` always carries.
    while metric > start.metric
        && ((metric == stop.metric && stop.point == 0) || source.point_count(metric) == 0)
    {
        metric -= 1;
    }
    Some(source.metric_scope(metric))
}

/// The fields of `scope` (`None`: the header's; else the source's scope of that index).
fn scope_of<'s, S: MetricsSource + ?Sized>(
    header: &RequestHeader<'s>,
    source: &'s S,
    scope: Option<usize>,
) -> Scope<'s> {
    match scope {
        None => header.scope,
        Some(index) => source.scope(index),
    }
}

/// Begin (backwards) a `ScopeMetrics`: its last field. Returns where it ends.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
fn open_scope_metrics<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    header: &RequestHeader<'_>,
    source: &S,
    scope: Option<usize>,
) -> Result<usize, Stop> {
    let end = w.position();
    w.str_field(SM_SCHEMA_URL, scope_of(header, source, scope).schema_url)?;
    Ok(end)
}

/// Finish (backwards) the `ScopeMetrics` that ends at `end`: its scope, key and length.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
fn close_scope_metrics<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    header: &RequestHeader<'_>,
    source: &S,
    scope: Option<usize>,
    end: usize,
) -> Step {
    let fields = scope_of(header, source, scope);
    let scope_start = w.position();
    w.varint_field(SCOPE_DROPPED, u64::from(fields.dropped_attributes_count))?;
    if let Some(index) = scope {
        write_any_attributes(w, SCOPE_ATTRIBUTES, source, AttributeOwner::Scope(index))?;
    }
    for kv in fields.attributes.iter().rev() {
        write_key_value(w, SCOPE_ATTRIBUTES, kv)?;
    }
    w.str_field(SCOPE_VERSION, fields.version)?;
    w.str_field(SCOPE_NAME, fields.name)?;
    w.message(SM_SCOPE, scope_start)?;
    w.message(RM_SCOPE_METRICS, end)
}
