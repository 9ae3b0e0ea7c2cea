//! `PeriodicExporter` over a scripted exchange (no network): exports come every interval and
//! on demand, totals are readable meanwhile, and shutdown makes one final export bounded by
//! the export timeout even when the collector keeps failing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use otlp_embedded::export::{ExportErrorKind, ExportOutcome, RetryPolicy};
use otlp_embedded::http::ExchangeError;
use otlp_embedded::proto::Temporality;
use otlp_embedded::registry::{InstrumentDesc, Snapshot};
use otlp_embedded::transport::{Exchange, HttpRequest, HttpResponse};
use otlp_embedded_std::config::{Compression, EndpointUrl};
use otlp_embedded_std::{PeriodicExporter, PeriodicOptions, SharedRegistry, StdClock};

type Reg = SharedRegistry<2, 8, 34, 2, 32>;
type Snap = Snapshot<2, 8, 34, 2, 32>;

/// Answers every request with `status` and keeps the body lengths it saw.
struct Scripted {
    status: u16,
    seen: Arc<Mutex<Vec<usize>>>,
}

impl Exchange for Scripted {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        _response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.seen.lock().unwrap().push(request.body.len());
        Ok(HttpResponse {
            status: self.status,
            retry_after: None,
            body_is_protobuf: false,
            body_len: 0,
            body_truncated: false,
            bytes_sent: request.body.len(),
            bytes_received: 0,
        })
    }
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
        retry: RetryPolicy {
            initial_backoff_ms: 20,
            max_delay_ms: 100,
            max_attempts: 0,
        },
        compression: Compression::None,
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
    let exchange = Scripted {
        status: 200,
        seen: Arc::clone(&seen),
    };
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
    let exchange = Scripted {
        status: 503,
        seen: Arc::clone(&seen),
    };
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
    otlp_embedded::export::Producer::collect(&mut producer, &mut snapshot, 2);
    assert_eq!(snapshot.total_points(), 1);
}
