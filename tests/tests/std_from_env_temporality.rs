//! The front door applies `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`:
//! `PeriodicExporter::from_env` with `SharedRegistry::with_default_capacities()`, instruments
//! that choose no temporality, declared before and after the exporter starts; the test kit's
//! sink on 127.0.0.1 decodes what arrived. A test binary of its own with one test, since it
//! sets the process environment.
//!
//! specification/metrics/sdk_exporters/otlp.md: the exporter "MUST configure the default
//! aggregation temporality on the basis of instrument kind using the
//! `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` variable"; under `Delta`: "Choose
//! Delta aggregation temporality for Counter, Asynchronous Counter and Histogram instrument
//! kinds, choose Cumulative aggregation for UpDownCounter and Asynchronous UpDownCounter
//! instrument kinds."

use std::time::Duration;

use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
use otlp_embedded::registry::InstrumentDesc;
use otlp_embedded_std::config::ALL_VARIABLES;
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};
use otlp_embedded_test_kit::sink::Sink;

const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;

/// (metric, temporality, value) of every sum and histogram point (a histogram's value is
/// its count), in the order they arrived.
fn points(sink: &Sink) -> Vec<(String, i32, f64)> {
    let mut out = Vec::new();
    for request in sink.requests() {
        for m in request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            match &m.data {
                Some(Data::Sum(s)) => out.extend(s.data_points.iter().map(|p| {
                    let v = match p.value {
                        Some(Value::AsInt(i)) => i as f64,
                        Some(Value::AsDouble(d)) => d,
                        None => panic!("{}: a point without a value", m.name),
                    };
                    (m.name.clone(), s.aggregation_temporality, v)
                })),
                Some(Data::Histogram(h)) => out.extend(
                    h.data_points
                        .iter()
                        .map(|p| (m.name.clone(), h.aggregation_temporality, p.count as f64)),
                ),
                other => panic!("{}: unexpected data {other:?}", m.name),
            }
        }
    }
    out
}

#[test]
fn from_env_applies_the_delta_preference_to_instruments_that_do_not_choose() {
    for name in ALL_VARIABLES {
        std::env::remove_var(name);
    }
    let sink = Sink::start().unwrap();
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", sink.base_url());
    std::env::set_var("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta");
    // Exports happen only when asked (force_export, shutdown).
    std::env::set_var("OTEL_METRIC_EXPORT_INTERVAL", "3600000");

    let registry = SharedRegistry::with_default_capacities();
    // Declared before the exporter reads the preference ...
    let requests = registry
        .instrument(InstrumentDesc::counter_u64("requests"))
        .unwrap();
    let exporter = PeriodicExporter::from_env("from-env-temporality-test", &registry).unwrap();
    // ... and after.
    let queue = registry
        .instrument(InstrumentDesc::up_down_counter_i64("queue"))
        .unwrap();
    let latency = registry
        .instrument(InstrumentDesc::histogram("latency"))
        .unwrap();

    requests.record(2u64, &[]).unwrap();
    queue.record(5i64, &[]).unwrap();
    latency.record(1.5, &[]).unwrap();
    let report = exporter
        .force_export(Duration::from_secs(10))
        .expect("export finished");
    assert_eq!(report.points_sent, 3, "{report:?}");
    requests.record(3u64, &[]).unwrap();
    queue.record(-6i64, &[]).unwrap();
    latency.record(2.5, &[]).unwrap();
    latency.record(3.5, &[]).unwrap();
    let stats = exporter.shutdown(); // the final export
    assert_eq!(
        (stats.exports_ok, stats.exports_failed),
        (2, 0),
        "{stats:?}"
    );

    let mut got = points(&sink);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let expected = [
        // Histogram: delta, each point counts its own interval's measurements.
        ("latency", DELTA, 1.0),
        ("latency", DELTA, 2.0),
        // Up-down counter: cumulative under delta, the running total.
        ("queue", CUMULATIVE, 5.0),
        ("queue", CUMULATIVE, -1.0),
        // Counter: delta, the change of each interval.
        ("requests", DELTA, 2.0),
        ("requests", DELTA, 3.0),
    ]
    .map(|(n, t, v)| (n.to_string(), t, v));
    assert_eq!(got, expected);
}
