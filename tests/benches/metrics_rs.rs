//! `metrics::counter!` with two labels on an existing series, in one run, through:
//!
//! - otlp-embedded-std's `metrics_rs::MetricsRecorder` (handle found by the key's hash,
//!   labels converted on the stack, then the `SharedRegistry` lookup of keys and values);
//! - metrics-util 0.20's `DebuggingRecorder` (its `Registry` of atomic counters, the
//!   storage metrics-exporter-prometheus builds on): a sharded map lookup, then an atomic
//!   add;
//! - opentelemetry_sdk 0.33's `Counter::add` with the same two attributes, for scale.
//!
//! A second group increments a handle the caller holds (`let c = counter!(..)`), which
//! skips the facade's registration.
//!
//! `cargo bench -p otlp-embedded-tests --bench metrics_rs -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use metrics_util::debugging::DebuggingRecorder;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue as OtelKeyValue;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use otlp_embedded_std::metrics_rs::MetricsRecorder;
use otlp_embedded_std::SharedRegistry;

fn bench(c: &mut Criterion) {
    let registry = Arc::new(SharedRegistry::<8, 128, 48, 8, 256>::new(0));
    let ours = MetricsRecorder::new(Arc::clone(&registry));
    let theirs = DebuggingRecorder::new();
    let provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let sdk_counter = provider.meter("bench").u64_counter("requests").build();
    let sdk_attrs = [
        OtelKeyValue::new("method", "GET"),
        OtelKeyValue::new("code", "200"),
    ];

    let mut g = c.benchmark_group("counter! 2 labels");
    metrics::with_local_recorder(&ours, || {
        g.bench_function("otlp-embedded metrics_rs", |b| {
            b.iter(|| {
                metrics::counter!("requests", "method" => "GET", "code" => "200")
                    .increment(black_box(1))
            })
        });
    });
    metrics::with_local_recorder(&theirs, || {
        g.bench_function("metrics-util DebuggingRecorder", |b| {
            b.iter(|| {
                metrics::counter!("requests", "method" => "GET", "code" => "200")
                    .increment(black_box(1))
            })
        });
    });
    g.bench_function("opentelemetry_sdk Counter::add", |b| {
        b.iter(|| sdk_counter.add(black_box(1), &sdk_attrs))
    });
    g.finish();

    let mut g = c.benchmark_group("held counter handle 2 labels");
    let held = metrics::with_local_recorder(
        &ours,
        || metrics::counter!("held", "method" => "GET", "code" => "200"),
    );
    g.bench_function("otlp-embedded metrics_rs", |b| {
        b.iter(|| held.increment(black_box(1)))
    });
    let held = metrics::with_local_recorder(
        &theirs,
        || metrics::counter!("held", "method" => "GET", "code" => "200"),
    );
    g.bench_function("metrics-util DebuggingRecorder", |b| {
        b.iter(|| held.increment(black_box(1)))
    });
    g.finish();
    assert!(ours.stats().all_kept(), "{}", ours.stats());
}

criterion_group!(benches, bench);
criterion_main!(benches);
