//! `PeriodicExporter` over a scripted exchange (no network): exports come every interval and
//! on demand, totals are readable meanwhile, and shutdown makes one final export bounded by
//! the export timeout even when the collector keeps failing, does not sit out a retry
//! wait, and keeps to a caller's budget even while a request hangs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otlp_embedded::export::{ExportErrorKind, ExportOutcome, RetryPolicy};
use otlp_embedded::proto::{MetricsSource, PointValue, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Snapshot};
use otlp_embedded::transport::{Exchange, ExchangeError, HttpRequest, HttpResponse, RetryAfter};
use otlp_embedded_std::config::{Compression, Config, EndpointUrl, TlsFiles};
use otlp_embedded_std::{PeriodicExporter, PeriodicOptions, SharedRegistry, StdClock};

type Reg = SharedRegistry<2, 8, 34, 2, 32>;
type Snap = Snapshot<2, 8, 34, 2, 32>;

/// Answers every request with `status` (or, first, the answers in `script`) and keeps the
/// body lengths it saw; `delay` holds each answer back (a request in flight).
struct Scripted {
    status: u16,
    script: Vec<(u16, Option<RetryAfter>)>,
    delay: Duration,
    seen: Arc<Mutex<Vec<usize>>>,
}

impl Scripted {
    fn answering(status: u16, seen: &Arc<Mutex<Vec<usize>>>) -> Scripted {
        Scripted {
            status,
            script: Vec::new(),
            delay: Duration::ZERO,
            seen: Arc::clone(seen),
        }
    }
}

impl Exchange for Scripted {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        _response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.seen.lock().unwrap().push(request.body.len());
        std::thread::sleep(self.delay);
        let (status, retry_after) = if self.script.is_empty() {
            (self.status, None)
        } else {
            self.script.remove(0)
        };
        Ok(HttpResponse::new(status)
            .with_retry_after(retry_after)
            .with_bytes(request.body.len(), 0))
    }
}

/// Waits (bounded) until the exchange has seen `n` requests.
fn wait_for_requests(seen: &Arc<Mutex<Vec<usize>>>, n: usize) {
    let until = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().len() < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(seen.lock().unwrap().len(), n);
}

/// What is still in the registry for the next export: the sum of its points.
fn pending_total(registry: &Arc<Reg>) -> i64 {
    let mut producer = registry.producer();
    let mut snapshot = Box::new(Snap::new());
    otlp_embedded::registry::Producer::collect(&mut producer, &mut snapshot, 2);
    (0..snapshot.metric_count())
        .flat_map(|m| (0..snapshot.point_count(m)).map(move |p| (m, p)))
        .map(|(m, p)| match snapshot.point(m, p).value {
            PointValue::Int(v) => v,
            other => panic!("not an int: {other:?}"),
        })
        .sum()
}

fn options(interval: Duration, export_timeout: Duration) -> PeriodicOptions {
    PeriodicOptions {
        endpoint: EndpointUrl::parse("test", "http://127.0.0.1:9/v1/metrics").unwrap(),
        headers: vec![("authorization".into(), "Bearer x".into())],
        resource: vec![("service.name".into(), "periodic-test".into())],
        scope_name: "test".into(),
        scope_version: String::new(),
        request_timeout: Duration::from_millis(200),
        export_interval: interval,
        export_timeout,
        retry: RetryPolicy::new()
            .with_initial_backoff_ms(20)
            .with_max_delay_ms(100)
            .with_max_attempts(0),
        compression: Compression::None,
        tls: TlsFiles::default(),
        buffer_size: 4096,
        jitter_seed: 7,
    }
}

fn registry() -> (Arc<Reg>, otlp_embedded::registry::Instrument) {
    let registry = Arc::new(Reg::new(1));
    let counter = registry
        .declare(
            InstrumentDesc::counter_u64("ticks")
                .max_series(2)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    (registry, counter)
}

#[test]
fn exports_every_interval_and_on_demand() {
    let (registry, counter) = registry();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let exchange = Scripted::answering(200, &seen);
    let exporter = PeriodicExporter::start_with_exchange(
        options(Duration::from_millis(20), Duration::from_secs(2)),
        registry.producer(),
        Box::new(Snap::new()),
        exchange,
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 5u64, &[]).unwrap();
    let report = exporter.force_export(Duration::from_secs(5)).unwrap();
    // The forced export began after the record: it carries the point.
    assert_eq!(report.outcome, ExportOutcome::Success);
    assert_eq!(report.points_sent, 1);
    // Let a few interval exports pass (bounded wait).
    let until = Instant::now() + Duration::from_secs(5);
    while exporter.exports() < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(exporter.exports() >= 4);
    registry.record(counter, 6u64, &[]).unwrap();
    let stats = exporter.shutdown();
    // Two points in all, each in its own request: the record before the forced export,
    // and the one before shutdown (the final export, at the latest).
    assert_eq!((stats.points_sent, stats.requests_delivered), (2, 2));
    assert_eq!(stats.exports_failed, 0);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn shutdown_is_bounded_when_the_collector_keeps_failing() {
    let (registry, counter) = registry();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let exchange = Scripted::answering(503, &seen);
    let export_timeout = Duration::from_millis(400);
    let exporter = PeriodicExporter::start_with_exchange(
        options(Duration::from_secs(3600), export_timeout),
        registry.producer(),
        Box::new(Snap::new()),
        exchange,
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 5u64, &[]).unwrap();
    let started = Instant::now();
    let stats = exporter.shutdown();
    let took = started.elapsed();
    // Hang guard: one export timeout plus a loose margin.
    assert!(took < export_timeout + Duration::from_secs(2), "{took:?}");
    assert_eq!((stats.exports_ok, stats.exports_failed), (0, 1));
    assert_eq!(
        stats.last_error.map(|e| e.kind),
        Some(ExportErrorKind::DeadlineExceeded)
    );
    let attempts = seen.lock().unwrap().len() as u32;
    assert!(attempts >= 2, "retried with backoff: {attempts}");
    assert_eq!(stats.retries, attempts - 1);
    // The point was abandoned, not lost: it is still in the registry.
    let mut producer = registry.producer();
    let mut snapshot = Box::new(Snap::new());
    otlp_embedded::registry::Producer::collect(&mut producer, &mut snapshot, 2);
    assert_eq!(snapshot.total_points(), 1);
}

/// A shutdown during a 20 s `Retry-After` wait does not sit it out: the export in progress
/// gives its point back, and the final export delivers it.
#[test]
fn shutdown_does_not_wait_out_a_retry() {
    let (registry, counter) = registry();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut exchange = Scripted::answering(200, &seen);
    exchange.script = vec![(503, Some(RetryAfter::Seconds(20)))];
    let mut options = options(Duration::from_secs(3600), Duration::from_secs(60));
    options.retry.max_delay_ms = 30_000;
    let exporter = PeriodicExporter::start_with_exchange(
        options,
        registry.producer(),
        Box::new(Snap::new()),
        exchange,
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 5u64, &[]).unwrap();
    assert_eq!(exporter.force_export(Duration::ZERO), None);
    wait_for_requests(&seen, 1);
    let started = Instant::now();
    let stats = exporter.shutdown();
    // Hang guard only: far below the 20 s the server asked for.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!((stats.exports_ok, stats.exports_failed), (1, 1));
    assert_eq!((stats.points_sent, stats.requests_delivered), (1, 1));
    assert_eq!(pending_total(&registry), 0, "delivered once, nothing left");
}

/// `shutdown_within` keeps to its budget while a request is still in flight: it returns,
/// the thread ends on its own once the request does, and the undelivered point is kept.
#[test]
fn shutdown_within_returns_while_a_request_hangs() {
    let (registry, counter) = registry();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut exchange = Scripted::answering(503, &seen);
    exchange.delay = Duration::from_secs(2);
    let alive = Arc::new(());
    let token = Arc::clone(&alive);
    let exporter = PeriodicExporter::start_with_exchange(
        options(Duration::from_secs(3600), Duration::from_secs(60)),
        registry.producer(),
        Box::new(Snap::new()),
        DropsWith(exchange, token),
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 7u64, &[]).unwrap();
    assert_eq!(exporter.force_export(Duration::ZERO), None);
    wait_for_requests(&seen, 1);
    let started = Instant::now();
    let stats = exporter.shutdown_within(Duration::from_millis(300));
    // Hang guard only: the request in flight takes 2 s.
    assert!(
        started.elapsed() < Duration::from_millis(1_900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        stats.exports_ok + stats.exports_failed,
        0,
        "nothing had finished"
    );
    // The thread ends by itself (it dropped the exchange) once the request returns.
    let until = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&alive) > 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(Arc::strong_count(&alive), 1, "export thread still running");
    // The 503 was answered after the budget: the export was abandoned, the final one had
    // no time left, and the point is still in the registry.
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(pending_total(&registry), 7);
}

/// An exchange that holds a token, to see when the export thread has dropped it.
struct DropsWith(Scripted, #[allow(dead_code)] Arc<()>);

impl Exchange for DropsWith {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.0.exchange(request, response_body)
    }
}

/// A budget too long to add to the current instant (`Duration::MAX`: "no limit") is a
/// plain shutdown: the final export runs and delivers, rather than the call panicking.
#[test]
fn shutdown_within_an_unbounded_budget_is_a_plain_shutdown() {
    let (registry, counter) = registry();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let exporter = PeriodicExporter::start_with_exchange(
        options(Duration::from_secs(3600), Duration::from_secs(5)),
        registry.producer(),
        Box::new(Snap::new()),
        Scripted::answering(200, &seen),
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 9u64, &[]).unwrap();
    let stats = exporter.shutdown_within(Duration::MAX);
    assert_eq!((stats.exports_ok, stats.exports_failed), (1, 0));
    assert_eq!((stats.points_sent, stats.requests_delivered), (1, 1));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(pending_total(&registry), 0);
}

/// An interval too long to add to the current instant (exports only on demand and at
/// shutdown) still exports on demand and makes the final export.
#[test]
fn an_unbounded_interval_still_exports_on_demand_and_at_shutdown() {
    let (registry, counter) = registry();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let exporter = PeriodicExporter::start_with_exchange(
        options(Duration::MAX, Duration::from_secs(5)),
        registry.producer(),
        Box::new(Snap::new()),
        Scripted::answering(200, &seen),
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 3u64, &[]).unwrap();
    // "Wait as long as it takes": the export itself is bounded by its 5 s timeout.
    let report = exporter.force_export(Duration::MAX).unwrap();
    assert_eq!(
        (report.outcome, report.points_sent),
        (ExportOutcome::Success, 1)
    );
    registry.record(counter, 4u64, &[]).unwrap();
    let stats = exporter.shutdown();
    assert_eq!((stats.exports_ok, stats.exports_failed), (2, 0));
    assert_eq!((stats.points_sent, stats.requests_delivered), (2, 2));
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert_eq!(pending_total(&registry), 0);
}

/// An exchange with a bug: it panics.
struct Panics;

impl Exchange for Panics {
    fn exchange(
        &mut self,
        _request: &HttpRequest<'_>,
        _response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        panic!("exchange bug")
    }
}

/// A thread that died of a panic has finished too: `shutdown_within` returns when it
/// ends rather than sitting out the whole budget.
#[test]
fn shutdown_within_returns_once_a_panicked_thread_is_gone() {
    let (registry, counter) = registry();
    let exporter = PeriodicExporter::start_with_exchange(
        options(Duration::from_secs(3600), Duration::from_secs(5)),
        registry.producer(),
        Box::new(Snap::new()),
        Panics,
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 1u64, &[]).unwrap();
    let started = Instant::now();
    let stats = exporter.shutdown_within(Duration::from_secs(30));
    // Hang guard only: far below the 30 s budget, far above a panic's unwinding.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stats.exports_ok + stats.exports_failed, 0);
}

/// A zero budget sends nothing more and loses nothing: the thread ends without a final
/// export and the point stays in the registry.
#[test]
fn shutdown_within_zero_budget_keeps_the_point() {
    let (registry, counter) = registry();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let alive = Arc::new(());
    let exporter = PeriodicExporter::start_with_exchange(
        options(Duration::from_secs(3600), Duration::from_secs(60)),
        registry.producer(),
        Box::new(Snap::new()),
        DropsWith(Scripted::answering(200, &seen), Arc::clone(&alive)),
        StdClock::new(),
    )
    .unwrap();
    registry.record(counter, 9u64, &[]).unwrap();
    let stats = exporter.shutdown_within(Duration::ZERO);
    assert_eq!(stats.exports_ok + stats.exports_failed, 0);
    let until = Instant::now() + Duration::from_secs(10);
    while Arc::strong_count(&alive) > 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(Arc::strong_count(&alive), 1, "export thread still running");
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(pending_total(&registry), 9);
}

/// Without the `gzip` feature a configuration that asks for gzip is refused at start,
/// rather than sending plain bodies. (With the feature, the tests package's std_e2e sends
/// gzip bodies to the sink from the same configuration.)
#[cfg(not(feature = "gzip"))]
#[test]
fn gzip_configured_without_the_feature_is_refused_at_start() {
    let config = otlp_embedded_std::Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:1".into()),
        "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".into()),
        _ => None,
    })
    .unwrap();
    let registry = Arc::new(Reg::new(1));
    let started = PeriodicExporter::from_config(
        &config,
        "periodic-test",
        registry.producer(),
        Box::new(Snap::new()),
    );
    assert!(matches!(
        started,
        Err(otlp_embedded_std::periodic::StartError::GzipUnavailable)
    ));
}

/// The child half of `from_config_prints_each_configuration_warning`, which runs this test
/// binary again to read its standard error. Ignored otherwise: run alone it only prints.
#[test]
#[ignore = "run by from_config_prints_each_configuration_warning"]
fn child_from_config_with_unusable_values() {
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("zstd".into()),
        "OTEL_METRIC_EXPORT_INTERVAL" => Some("-5".into()),
        // No thread, no network: only the warnings matter here.
        "OTEL_SDK_DISABLED" => Some("true".into()),
        _ => None,
    })
    .unwrap();
    let (registry, _) = registry();
    let exporter = PeriodicExporter::from_config(
        &config,
        "periodic-test",
        registry.producer(),
        Box::new(Snap::new()),
    )
    .unwrap();
    assert!(!exporter.is_running());
}

#[test]
fn from_config_prints_each_configuration_warning() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_from_config_with_unusable_values",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("otlp-embedded: warning: "))
        .collect();
    assert_eq!(
        warnings,
        [
            "otlp-embedded: warning: OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\": unknown \
             compression; expected none or gzip; using none (the default)",
            "otlp-embedded: warning: OTEL_METRIC_EXPORT_INTERVAL=\"-5\": negative; expected \
             a whole number of milliseconds greater than 0; using 60000 ms (the default)",
        ],
        "{stderr}"
    );
}

/// Without the `tls` feature an `https` endpoint is refused at start, rather than every
/// export failing later.
#[cfg(not(feature = "tls"))]
#[test]
fn https_without_the_tls_feature_is_a_start_error() {
    let mut options = options(Duration::from_secs(3600), Duration::from_secs(1));
    options.endpoint = EndpointUrl::parse("test", "https://127.0.0.1:9/v1/metrics").unwrap();
    let (registry, _) = registry();
    let result = PeriodicExporter::start(options, registry.producer(), Box::new(Snap::new()));
    assert!(
        matches!(
            result,
            Err(otlp_embedded_std::periodic::StartError::TlsUnavailable)
        ),
        "{result:?}"
    );
}
