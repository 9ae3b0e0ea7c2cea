//! The seed scenario, side by side: one application recording through the `opentelemetry`
//! API with a `PeriodicReader`, exporting (a) through otlp-embedded-std's bridge and (b)
//! through opentelemetry-otlp's HTTP exporter (its default client, retries off), each to a
//! test-kit sink that closes idle keep-alive connections (the export interval is just
//! above its idle timeout) and drops the first request on a reused connection (read in
//! full, closed without an answer).
//!
//! (a) must lose no export and deliver each batch once; (b) is the comparison: its
//! failures and the sink's duplicate count are printed for the README, not asserted; so
//! are those of (c), opentelemetry-otlp with its default retries.
//! Run with `--nocapture` to see the figures.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use otlp_embedded_std::config::Config;
use otlp_embedded_test_kit::sink::{Fault, Sink, SinkOptions, SinkStats};

/// The sink closes a keep-alive connection idle this long.
const IDLE: Duration = Duration::from_millis(200);
/// The reader waits this long between the end of one export and the next collect.
const INTERVAL: Duration = Duration::from_millis(205);
/// Periodic exports per run (the shutdown's final export comes on top).
const EXPORTS: u64 = 30;

/// Counts how the exports it wraps ended.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl Tally {
    fn total(&self) -> u64 {
        self.ok.load(Ordering::SeqCst) + self.failed.load(Ordering::SeqCst)
    }
}

struct Counted<E> {
    inner: E,
    tally: Arc<Tally>,
}

impl<E: PushMetricExporter> PushMetricExporter for Counted<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        let counter = if result.is_ok() {
            &self.tally.ok
        } else {
            &self.tally.failed
        };
        counter.fetch_add(1, Ordering::SeqCst);
        result
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }
    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// What one run saw.
#[derive(Debug)]
struct Run {
    exports: u64,
    failed: u64,
    sink: SinkStats,
    acknowledged: usize,
}

fn faulty_sink() -> Sink {
    Sink::start_with(SinkOptions {
        idle_timeout: IDLE,
        fault: Fault::DropOnReuse,
        ..SinkOptions::default()
    })
    .unwrap()
}

/// The application: a counter by route and a histogram, recorded before each export,
/// exported by `exporter` until `EXPORTS` exports have ended, then shut down.
fn run<E: PushMetricExporter>(sink: &Sink, exporter: E) -> Run {
    let tally = Arc::new(Tally::default());
    let exporter = Counted {
        inner: exporter,
        tally: Arc::clone(&tally),
    };
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(exporter)
                .with_interval(INTERVAL)
                .build(),
        )
        .build();
    let meter = provider.meter("side-by-side");
    let requests = meter.u64_counter("requests").build();
    let latency = meter.f64_histogram("latency").with_unit("ms").build();
    let until = Instant::now() + INTERVAL * (EXPORTS as u32) * 4 + Duration::from_secs(20);
    let mut recorded = 0;
    while tally.total() < EXPORTS && Instant::now() < until {
        if tally.total() >= recorded {
            recorded += 1;
            requests.add(1, &[KeyValue::new("route", "/checkout")]);
            latency.record(recorded as f64, &[]);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        tally.total() >= EXPORTS,
        "{} exports in time",
        tally.total()
    );
    let _ = provider.shutdown();
    // Let the sink record the final request's end.
    std::thread::sleep(Duration::from_millis(50));
    Run {
        exports: tally.total(),
        failed: tally.failed.load(Ordering::SeqCst),
        sink: sink.stats(),
        acknowledged: sink.requests().len(),
    }
}

#[test]
fn a_otlp_embedded_loses_no_export_and_delivers_each_batch_once() {
    let sink = faulty_sink();
    let config = Config::from_lookup(|name| {
        (name == "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").then(|| sink.endpoint_url())
    })
    .unwrap();
    let exporter = otlp_embedded_std::sdk::MetricExporter::builder()
        .with_config(config)
        .build()
        .unwrap();
    let stats = exporter.stats();
    let run = run(&sink, exporter);
    println!(
        "side-by-side (a) otlp-embedded-std: {} exports, {} failed; sink: {} requests read, \
         {} acknowledged, {} duplicates, {} connections",
        run.exports,
        run.failed,
        run.sink.requests_received,
        run.acknowledged,
        run.sink.duplicate_requests,
        run.sink.connections_accepted
    );
    assert_eq!(run.failed, 0, "no export lost");
    assert_eq!(run.sink.duplicate_requests, 0, "no batch delivered twice");
    assert_eq!(
        run.sink.requests_received, run.exports,
        "one request per export, no retry"
    );
    assert_eq!(run.acknowledged as u64, run.exports, "each acknowledged");
    assert_eq!(
        run.sink.connections_accepted, run.exports,
        "one connection per request"
    );
    assert!(run.sink.requests_per_connection.iter().all(|&n| n == 1));
    let totals = stats.totals();
    assert_eq!(
        (
            totals.exports_ok as u64,
            totals.exports_failed,
            totals.retries
        ),
        (run.exports, 0, 0)
    );
}

#[test]
fn b_opentelemetry_otlp_for_comparison() {
    let sink = faulty_sink();
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_endpoint(sink.endpoint_url())
        .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled())
        .build()
        .unwrap();
    let run = run(&sink, exporter);
    println!(
        "side-by-side (b) opentelemetry-otlp, retries off: {} exports, {} failed; sink: {} \
         requests read, {} acknowledged, {} duplicates, {} connections",
        run.exports,
        run.failed,
        run.sink.requests_received,
        run.acknowledged,
        run.sink.duplicate_requests,
        run.sink.connections_accepted
    );
    // The comparison only: every export was attempted.
    assert!(run.exports >= EXPORTS);
}

#[test]
fn c_opentelemetry_otlp_with_its_default_retries_for_comparison() {
    let sink = faulty_sink();
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_endpoint(sink.endpoint_url())
        .build()
        .unwrap();
    let run = run(&sink, exporter);
    println!(
        "side-by-side (c) opentelemetry-otlp, default retries: {} exports, {} failed; sink: \
         {} requests read, {} acknowledged, {} duplicates, {} connections",
        run.exports,
        run.failed,
        run.sink.requests_received,
        run.acknowledged,
        run.sink.duplicate_requests,
        run.sink.connections_accepted
    );
    assert!(run.exports >= EXPORTS);
}
