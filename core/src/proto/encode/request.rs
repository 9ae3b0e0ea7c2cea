//! `ExportMetricsServiceRequest` around its metrics: `ResourceMetrics`, `Resource`,
//! `ScopeMetrics` and `InstrumentationScope`. The size of everything but the metrics
//! ([`HeaderLen`]) sits beside the writer.

use super::attribute::{slice_attributes_len, write_key_value};
use super::field::*;
use super::metric::write_metric;
use super::{field_len, PointCursor};
use crate::proto::source::{MetricsSource, RequestHeader};
use crate::proto::wire::{self, BufferFull, ReverseWriter};

/// Sizes of the parts of a request that do not depend on its points.
pub(super) struct HeaderLen {
    /// `ScopeMetrics` content except its metrics.
    pub(super) scope_metrics: usize,
    /// `ResourceMetrics` content except its `scope_metrics` field.
    pub(super) resource_metrics: usize,
}

impl HeaderLen {
    pub(super) fn new(header: &RequestHeader<'_>) -> Self {
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
    pub(super) fn request(&self, metrics: usize) -> usize {
        let scope_metrics = self.scope_metrics.saturating_add(metrics);
        let resource_metrics = self
            .resource_metrics
            .saturating_add(field_len(scope_metrics));
        field_len(resource_metrics)
    }
}

/// Write the request carrying points `start..stop` (normalized `start`), backwards.
pub(super) fn write_request<S: MetricsSource + ?Sized>(
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
