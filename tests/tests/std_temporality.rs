//! `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` applied end to end: a
//! `SharedRegistry` whose instruments choose no temporality, a `PeriodicExporter` built
//! from the configuration, the test kit's sink on 127.0.0.1 decoding what arrived.
//!
//! specification/metrics/sdk_exporters/otlp.md: the exporter "MUST configure the default
//! aggregation temporality on the basis of instrument kind using the
//! `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` variable".

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use otlp_embedded::registry::{InstrumentDesc, NumberKind, Observe, Snapshot};
use otlp_embedded_std::config::Config;
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};
use otlp_embedded_test_kit::sink::Sink;
use otlp_embedded_test_kit::totals::{AggregationTemporality, SeriesKey};

type Reg = SharedRegistry<4, 32, 16, 2, 64>;
type Snap = Snapshot<4, 32, 16, 2, 64>;

/// The observable counter's running total, per test (each test binds its own static).
static ENERGY_DELTA: AtomicU64 = AtomicU64::new(0);
static ENERGY_CUMULATIVE: AtomicU64 = AtomicU64::new(0);
static ENERGY_LOW_MEMORY: AtomicU64 = AtomicU64::new(0);

fn energy_delta(o: &mut dyn Observe) {
    o.observe(ENERGY_DELTA.load(Ordering::Relaxed).into(), &[]);
}
fn energy_cumulative(o: &mut dyn Observe) {
    o.observe(ENERGY_CUMULATIVE.load(Ordering::Relaxed).into(), &[]);
}
fn energy_low_memory(o: &mut dyn Observe) {
    o.observe(ENERGY_LOW_MEMORY.load(Ordering::Relaxed).into(), &[]);
}

/// Runs two exports with `preference`: the counter gets 2 then 3, the up-down counter 5
/// then -1, the observable counter's total is 10 then 25. Returns the temporality each
/// metric arrived with and the observable counter's points as (start, time, value).
#[allow(clippy::type_complexity)] // (name, temporality) pairs and (start, time, value) rows
fn run(
    preference: &str,
    total: &'static AtomicU64,
    callback: fn(&mut dyn Observe),
) -> (Vec<(String, AggregationTemporality)>, Vec<(u64, u64, f64)>) {
    let sink = Sink::start().unwrap();
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(sink.base_url()),
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE" => Some(preference.into()),
        "OTEL_METRIC_EXPORT_INTERVAL" => Some("3600000".into()),
        "OTEL_METRIC_EXPORT_TIMEOUT" => Some("5000".into()),
        _ => None,
    })
    .unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    // Made before the wall clock is read, as a `static` would be.
    let registry: Arc<Reg> = Arc::new(SharedRegistry::new(0));
    let requests = registry
        .declare(InstrumentDesc::counter_u64("requests"))
        .unwrap();
    let queue = registry
        .declare(InstrumentDesc::up_down_counter_i64("queue"))
        .unwrap();
    registry
        .declare(InstrumentDesc::observable_counter(
            "energy",
            NumberKind::Int,
            callback,
        ))
        .unwrap();
    let exporter = PeriodicExporter::from_config(
        &config,
        "std-temporality-test",
        registry.producer(),
        Box::new(Snap::new()),
    )
    .unwrap();
    for (count, change, energy) in [(2u64, 5i64, 10u64), (3, -6, 25)] {
        registry.record(requests, count, &[]).unwrap();
        registry.record(queue, change, &[]).unwrap();
        total.store(energy, Ordering::Relaxed);
        let report = exporter
            .force_export(Duration::from_secs(10))
            .expect("export finished");
        assert_eq!(report.points_sent, 3, "{report:?}");
    }
    let stats = exporter.shutdown();
    assert_eq!(stats.exports_failed, 0, "{stats:?}");
    let totals = sink.totals();
    let temporalities = ["requests", "queue", "energy"]
        .iter()
        .map(|name| {
            let t = &totals[&SeriesKey::new(name, &[])];
            (name.to_string(), t.temporality)
        })
        .collect();
    let mut energy = Vec::new();
    for request in sink.requests() {
        for m in request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
            .filter(|m| m.name == "energy")
        {
            let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) = &m.data
            else {
                panic!("energy: {m:?}");
            };
            for p in &sum.data_points {
                let v = match p.value {
                    Some(
                        opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i),
                    ) => i as f64,
                    other => panic!("{other:?}"),
                };
                energy.push((p.start_time_unix_nano, p.time_unix_nano, v));
            }
        }
    }
    // Totals agree with the points: what was recorded, read by each temporality.
    assert_eq!(totals[&SeriesKey::new("requests", &[])].value(), 5.0);
    assert_eq!(totals[&SeriesKey::new("queue", &[])].value(), -1.0);
    assert_eq!(totals[&SeriesKey::new("energy", &[])].value(), 25.0);
    (temporalities, energy)
}

fn names(t: &[(&str, AggregationTemporality)]) -> Vec<(String, AggregationTemporality)> {
    t.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

#[test]
fn periodic_exporter_from_config_applies_the_delta_preference() {
    use AggregationTemporality::{Cumulative, Delta};
    let (temporalities, energy) = run("delta", &ENERGY_DELTA, energy_delta);
    assert_eq!(
        temporalities,
        names(&[
            ("requests", Delta),
            ("queue", Cumulative),
            ("energy", Delta)
        ])
    );
    // The observable counter's points are changes: 10, then 15, then 0 (shutdown's final
    // export observes 25 again), each interval starting where the previous ended, the
    // first at the first collection (the registry had no start time), none at 0.
    let values: Vec<f64> = energy.iter().map(|p| p.2).collect();
    assert_eq!(values, vec![10.0, 15.0, 0.0]);
    assert!(0 < energy[0].0 && energy[0].0 == energy[0].1, "{energy:?}");
    for w in energy.windows(2) {
        assert_eq!(w[1].0, w[0].1, "{energy:?}");
        assert!(w[1].0 < w[1].1, "{energy:?}");
    }
}

#[test]
fn periodic_exporter_from_config_applies_the_cumulative_preference() {
    use AggregationTemporality::Cumulative;
    let (temporalities, energy) = run("cumulative", &ENERGY_CUMULATIVE, energy_cumulative);
    assert_eq!(
        temporalities,
        names(&[
            ("requests", Cumulative),
            ("queue", Cumulative),
            ("energy", Cumulative)
        ])
    );
    // Totals, one start (shutdown's final export observes 25 again).
    let values: Vec<f64> = energy.iter().map(|p| p.2).collect();
    assert_eq!(values, vec![10.0, 25.0, 25.0]);
    assert!(energy[0].0 > 0, "{energy:?}");
    assert!(energy.iter().all(|p| p.0 == energy[0].0), "{energy:?}");
}

#[test]
fn periodic_exporter_from_config_applies_the_low_memory_preference() {
    use AggregationTemporality::{Cumulative, Delta};
    let (temporalities, _) = run("lowmemory", &ENERGY_LOW_MEMORY, energy_low_memory);
    assert_eq!(
        temporalities,
        names(&[
            ("requests", Delta),
            ("queue", Cumulative),
            ("energy", Cumulative)
        ])
    );
}
