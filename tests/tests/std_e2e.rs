//! otlp-embedded-std's real chain, end to end: `SharedRegistry` -> `Exporter` ->
//! `HttpClient<TcpConnector<StdClock>, StdClock>` -> the test kit's sink on 127.0.0.1,
//! against every behaviour the sink can put on; and `PeriodicExporter` from `OTEL_*`
//! configuration, gzip included.
//!
//! What every test checks:
//! - for faults that are retried: the requests the sink acknowledged with a 2xx carry
//!   exactly what was recorded (delta counters and histograms with distinct values), once;
//! - for answers that drop: the error names the status, and the drop is counted in the
//!   report and in the exporter's totals;
//! - connections: every connection carried exactly one request, every accepted connection
//!   was closed, and the sink read one request per exchange attempted;
//! - the run ended within its deadline plus a loose margin (a hang guard, not a timing
//!   assertion).

use std::sync::Arc;
use std::time::{Duration, Instant};

use otlp_embedded::export::{
    ExportErrorKind, ExportOutcome, ExportReport, Exporter, ExporterConfig, RetryPolicy,
};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricsSource, PointValue, RequestHeader, Resource, Scope,
    Temporality,
};
use otlp_embedded::registry::{Instrument, InstrumentDesc, Snapshot};
use otlp_embedded::transport::{Endpoint, Exchange, ExchangeError, Scheme};
use otlp_embedded_std::config::Config;
use otlp_embedded_std::periodic::unix_now;
use otlp_embedded_std::{
    PeriodicExporter, PeriodicOptions, SharedRegistry, StdClock, TcpConnector,
};
use otlp_embedded_test_kit::sink::{Fault, RetryAfter, Sink, SinkOptions, SinkStats};

type Reg = SharedRegistry<4, 32, 34, 8, 256>;
type Snap = Snapshot<4, 32, 34, 8, 256>;
type Client = HttpClient<TcpConnector<StdClock>, StdClock>;

const ROUTES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
/// Distinct per route, so a lost or doubled point changes the total.
const COUNTS: [u64; 6] = [7, 11, 13, 17, 19, 23];
const LATENCIES: [f64; 3] = [1.5, 2.25, 40.0];
const BOUNDS: &[f64] = &[1.0, 5.0, 25.0, 100.0];

const EXPORT_TIMEOUT_MS: u32 = 4_000;
const REQUEST_TIMEOUT_MS: u32 = 1_000;
/// Added to a test's budget before it counts as hung.
const MARGIN: Duration = Duration::from_secs(2);

static RESOURCE: [KeyValue<'static>; 1] =
    [KeyValue::new("service.name", AttributeValue::Str("e2e"))];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&RESOURCE), Scope::new("e2e"))
}

struct Metrics {
    registry: Arc<Reg>,
    requests: Instrument,
    latency: Instrument,
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Arc::new(Reg::new(unix_now()));
        let requests = registry
            .declare(
                InstrumentDesc::counter_u64("e2e.requests")
                    .attributes(&["route"])
                    .max_series(8)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        let latency = registry
            .declare(
                InstrumentDesc::histogram("e2e.latency")
                    .attributes(&["route"])
                    .bounds(BOUNDS)
                    .max_series(2)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        Metrics {
            registry,
            requests,
            latency,
        }
    }

    /// Record `COUNTS` times `factor` on each route, and `LATENCIES` `factor` times on
    /// route `a`.
    fn record(&self, factor: u64) {
        for (route, count) in ROUTES.iter().zip(COUNTS) {
            let attrs = [KeyValue::new("route", AttributeValue::Str(route))];
            self.registry
                .record(self.requests, count * factor, &attrs)
                .unwrap();
        }
        let attrs = [KeyValue::new("route", AttributeValue::Str("a"))];
        for _ in 0..factor {
            for v in LATENCIES {
                self.registry.record(self.latency, v, &attrs).unwrap();
            }
        }
    }
}

/// Points one `record` produces: a counter point per route and one histogram point.
const POINTS: usize = ROUTES.len() + 1;

/// What a collect would carry now (delta data the registry still holds).
fn pending(metrics: &Metrics) -> (u64, u64) {
    let mut snap = Box::new(Snap::new());
    let mut producer = &*metrics.registry;
    otlp_embedded::registry::Producer::collect(&mut producer, &mut snap, unix_now());
    let mut counter = 0;
    let mut hist = 0;
    for m in 0..snap.metric_count() {
        for p in 0..snap.point_count(m) {
            match snap.point(m, p).value {
                PointValue::Int(v) => counter += v as u64,
                PointValue::Histogram(h) => hist += h.count,
                _ => {}
            }
        }
    }
    (counter, hist)
}

fn sink_with(fault: Fault) -> Sink {
    Sink::start_with(SinkOptions {
        fault,
        idle_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        endless_header_limit: 256 * 1024,
        ..SinkOptions::default()
    })
    .unwrap()
}

fn endpoint(sink: &Sink) -> Endpoint<'static> {
    Endpoint {
        scheme: Scheme::Http,
        host: "127.0.0.1",
        port: sink.addr().port(),
        path: "/v1/metrics",
    }
}

fn config(sink: &Sink) -> ExporterConfig<'static> {
    let mut config = ExporterConfig::new(endpoint(sink), header());
    config.export_timeout_ms = EXPORT_TIMEOUT_MS;
    config.request_timeout_ms = REQUEST_TIMEOUT_MS;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(50)
        .with_max_delay_ms(1_500)
        .with_max_attempts(0);
    config.jitter_seed = 0x1234_5678;
    config
}

fn client() -> (Client, StdClock) {
    let clock = StdClock::new();
    (HttpClient::new(TcpConnector::new(clock), clock), clock)
}

/// One export of everything `metrics` holds through `exchange`, with a buffer of
/// `buffer_len` bytes.
fn export_with<X: Exchange>(
    exporter: &mut Exporter<'static, X>,
    metrics: &Metrics,
    clock: &StdClock,
    buffer_len: usize,
) -> ExportReport {
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; buffer_len];
    let mut producer = &*metrics.registry;
    exporter.export(
        &mut producer,
        &mut snapshot,
        &mut buffer,
        clock,
        unix_now(),
        otlp_embedded_std::Sleep,
    )
}

/// The connection invariants, after waiting (bounded) for the sink to see every close.
fn check_connections(sink: &Sink, attempts: u64) -> SinkStats {
    sink.wait_for(Duration::from_secs(5), |s| {
        s.connections_accepted == s.connections_closed && s.requests_received >= attempts
    });
    let stats = sink.stats();
    assert_eq!(
        stats.connections_accepted, stats.connections_closed,
        "every connection closed: {stats:?}"
    );
    assert!(
        stats.requests_per_connection.iter().all(|&n| n == 1),
        "one request per connection: {stats:?}"
    );
    assert_eq!(stats.requests_received, attempts, "{stats:?}");
    stats
}

/// The acknowledged requests carry exactly `factor` times one `record`.
fn check_delivered(sink: &Sink, factor: u64) {
    // The sink records a 2xx before writing it and revokes it if the write fails (a
    // trickled answer the client gave up on): wait until every connection is done.
    sink.wait_for(Duration::from_secs(5), |s| {
        s.connections_accepted == s.connections_closed
    });
    for (route, count) in ROUTES.iter().zip(COUNTS) {
        let total = sink
            .total("e2e.requests", &[("route", route)])
            .unwrap_or_else(|| panic!("route {route} not delivered"));
        assert_eq!(total.value_sum, (count * factor) as f64, "route {route}");
    }
    let h = sink.total("e2e.latency", &[("route", "a")]).unwrap();
    assert_eq!(h.histogram_count, LATENCIES.len() as u64 * factor);
    assert_eq!(
        h.histogram_sum,
        LATENCIES.iter().sum::<f64>() * factor as f64
    );
    // Nothing else arrived.
    assert_eq!(sink.totals().len(), ROUTES.len() + 1);
}

/// Every request the sink read was answered with `fault`.
fn check_all_answered_with(sink: &Sink, fault: &Fault) {
    let received = sink.received();
    assert!(!received.is_empty());
    assert!(received.iter().all(|r| r.fault == *fault), "{received:?}");
}

fn check_time(started: Instant, budget: Duration) {
    let took = started.elapsed();
    assert!(
        took <= budget + MARGIN,
        "took {took:?}, budget {budget:?} (+{MARGIN:?})"
    );
}

/// A retryable fault on the first `n` requests, then normal service: everything arrives
/// exactly once, after `n` retries. Returns the report.
fn retried_then_delivered(fault: Fault, n: usize, buffer_len: usize) -> (ExportReport, Sink) {
    let started = Instant::now();
    let sink = sink_with(Fault::None);
    sink.script([(fault.clone(), n)]);
    let metrics = Metrics::new();
    metrics.record(1);
    let (client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), client);
    let report = export_with(&mut exporter, &metrics, &clock, buffer_len);
    assert_eq!(
        report.outcome,
        ExportOutcome::Success,
        "{fault:?}: {report:?}"
    );
    assert_eq!(report.retries, n as u32, "{fault:?}");
    assert_eq!(report.points_collected, POINTS);
    assert_eq!(report.points_sent, POINTS);
    assert_eq!(report.points_abandoned + report.points_dropped, 0);
    assert_eq!(report.requests_delivered, report.requests);
    assert_eq!(
        report.first_error.is_some(),
        n > 0,
        "{fault:?}: the fault was seen"
    );
    check_delivered(&sink, 1);
    let faults: Vec<Fault> = sink.received().into_iter().map(|r| r.fault).collect();
    assert!(faults[..n].iter().all(|f| *f == fault), "{faults:?}");
    assert!(faults[n..].iter().all(|f| *f == Fault::None), "{faults:?}");
    let stats = check_connections(&sink, u64::from(report.requests + report.retries));
    assert_eq!(stats.requests_answered_2xx, u64::from(report.requests));
    assert_eq!(exporter.stats().retries, n as u32);
    assert_eq!(exporter.stats().exports_ok, 1);
    // Delivered delta data is committed: nothing is left to send.
    assert_eq!(pending(&metrics), (0, 0));
    check_time(started, Duration::from_millis(u64::from(EXPORT_TIMEOUT_MS)));
    (report, sink)
}

fn first_exchange_error(report: &ExportReport) -> ExchangeError {
    match report.first_error.map(|e| e.kind) {
        Some(ExportErrorKind::Exchange(e)) => e,
        other => panic!("expected an exchange error, got {other:?}"),
    }
}

#[test]
fn healthy_sink_gets_everything_once_with_connection_close() {
    let (report, sink) = retried_then_delivered(Fault::None, 0, 64 * 1024);
    assert_eq!(report.requests, 1);
    let received = sink.received();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/metrics")
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert_eq!(r.header("content-encoding"), None);
    assert!(
        report.bytes_sent as usize > r.body_len,
        "head and body sent"
    );
}

#[test]
fn idle_close_keep_alive_never_hits_a_stale_connection() {
    let started = Instant::now();
    // The sink closes idle connections after 30 ms without `Connection: close`; exports
    // come 60 ms apart, so a pooled connection would be stale every time.
    let sink = sink_with(Fault::IdleClose(Duration::from_millis(30)));
    let metrics = Metrics::new();
    let (client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), client);
    for round in 1..=5u64 {
        metrics.record(1);
        let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
        assert_eq!(report.outcome, ExportOutcome::Success, "round {round}");
        assert_eq!(
            report.retries, 0,
            "round {round}: no stale connection to retry"
        );
        check_delivered(&sink, round);
        std::thread::sleep(Duration::from_millis(60));
    }
    check_connections(&sink, 5);
    check_all_answered_with(&sink, &Fault::IdleClose(Duration::from_millis(30)));
    assert_eq!(exporter.stats().exports_ok, 5);
    check_time(started, Duration::from_secs(2));
}

#[test]
fn answer_then_close() {
    let sink = sink_with(Fault::AnswerThenClose);
    let metrics = Metrics::new();
    let (client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), client);
    for round in 1..=3 {
        metrics.record(1);
        let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
        assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
        assert_eq!((report.retries, report.first_error), (0, None));
        check_delivered(&sink, round);
    }
    check_all_answered_with(&sink, &Fault::AnswerThenClose);
    check_connections(&sink, 3);
}

#[test]
fn close_before_answer_is_retried() {
    let (report, _) = retried_then_delivered(Fault::CloseBeforeAnswer, 2, 64 * 1024);
    assert_eq!(
        first_exchange_error(&report),
        ExchangeError::ClosedBeforeResponse
    );
}

#[test]
fn close_mid_headers_is_retried() {
    let (report, _) = retried_then_delivered(Fault::CloseMidHeaders, 1, 64 * 1024);
    assert!(
        matches!(
            first_exchange_error(&report),
            ExchangeError::ClosedEarly(_) | ExchangeError::ClosedBeforeResponse
        ),
        "{report:?}"
    );
}

#[test]
fn close_mid_body_is_retried_in_a_multi_request_export() {
    // A small buffer splits the export into several requests; the second one is cut.
    let started = Instant::now();
    let sink = sink_with(Fault::None);
    sink.script([(Fault::None, 1), (Fault::CloseMidBody, 1)]);
    let metrics = Metrics::new();
    metrics.record(1);
    let (client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), client);
    let report = export_with(&mut exporter, &metrics, &clock, 300);
    assert!(report.requests >= 2, "{report:?}");
    assert_eq!(report.outcome, ExportOutcome::Success);
    assert_eq!(report.retries, 1);
    assert_eq!(report.points_sent, POINTS);
    let error = report.first_error.unwrap();
    assert_eq!(error.request, 1);
    assert!(matches!(
        error.kind,
        ExportErrorKind::Exchange(ExchangeError::ClosedEarly(_))
    ));
    check_delivered(&sink, 1);
    check_connections(&sink, u64::from(report.requests + 1));
    check_time(started, Duration::from_millis(u64::from(EXPORT_TIMEOUT_MS)));
}

#[test]
fn chunked_answer_is_read_whole() {
    let sink = sink_with(Fault::Chunked);
    let metrics = Metrics::new();
    metrics.record(1);
    let (client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), client);
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    assert_eq!(report.first_error, None);
    assert_eq!(exporter.last_server_message(), "sent chunked");
    check_all_answered_with(&sink, &Fault::Chunked);
    check_delivered(&sink, 1);
    check_connections(&sink, 1);
}

#[test]
fn trickle_slower_than_the_deadline_times_out_and_is_retried() {
    // The plain 200 response is over 60 bytes; at 10 bytes per second it takes more than
    // the 1 s request timeout.
    let (report, _) = retried_then_delivered(
        Fault::Trickle {
            bytes_per_second: 10,
        },
        1,
        64 * 1024,
    );
    assert!(
        matches!(first_exchange_error(&report), ExchangeError::Timeout(_)),
        "{report:?}"
    );
}

fn retry_after_is_honoured(fault: Fault, status: u16, at_least: Duration) {
    let started = Instant::now();
    let (report, _) = retried_then_delivered(fault, 1, 64 * 1024);
    assert_eq!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Status(status))
    );
    // Jitter would have retried after at most 50 ms: the wait proves Retry-After was used.
    assert!(started.elapsed() >= at_least, "{:?}", started.elapsed());
}

#[test]
fn too_many_requests_with_retry_after_seconds() {
    retry_after_is_honoured(
        Fault::TooManyRequests(Some(RetryAfter::Seconds(1))),
        429,
        Duration::from_millis(950),
    );
}

#[test]
fn unavailable_with_retry_after_seconds() {
    retry_after_is_honoured(
        Fault::Unavailable(Some(RetryAfter::Seconds(1))),
        503,
        Duration::from_millis(950),
    );
}

#[test]
fn too_many_requests_with_retry_after_http_date() {
    // An HTTP-date has whole seconds: two seconds ahead is at least one second away.
    retry_after_is_honoured(
        Fault::TooManyRequests(Some(RetryAfter::date_in(2))),
        429,
        Duration::from_millis(800),
    );
}

#[test]
fn unavailable_with_retry_after_http_date() {
    retry_after_is_honoured(
        Fault::Unavailable(Some(RetryAfter::date_in(2))),
        503,
        Duration::from_millis(800),
    );
}

#[test]
fn html_502_is_retried_and_not_decoded() {
    let (report, _) = retried_then_delivered(Fault::Html502, 2, 64 * 1024);
    assert_eq!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Status(502))
    );
}

#[test]
fn garbage_status_line_is_retried() {
    let (report, _) = retried_then_delivered(Fault::GarbageStatusLine, 1, 64 * 1024);
    first_exchange_error(&report);
}

#[test]
fn endless_header_block_is_cut_and_retried() {
    let (report, _) = retried_then_delivered(Fault::EndlessHeaders, 1, 64 * 1024);
    assert!(
        matches!(
            first_exchange_error(&report),
            ExchangeError::HeadersTooLarge { .. }
        ),
        "{report:?}"
    );
}

#[test]
fn reset_is_retried() {
    let (report, _) = retried_then_delivered(Fault::Reset, 1, 64 * 1024);
    first_exchange_error(&report);
}

/// A status that is not retried: the data is dropped, counted, and not sent again.
fn dropped_with(fault: Fault, status: u16) {
    let started = Instant::now();
    let sink = sink_with(fault.clone());
    let metrics = Metrics::new();
    metrics.record(1);
    let (client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), client);
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::Failed, "{fault:?}");
    assert_eq!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Status(status))
    );
    assert_eq!(report.retries, 0);
    assert_eq!((report.requests, report.requests_dropped), (1, 1));
    assert_eq!(report.points_dropped, POINTS);
    assert_eq!(report.points_sent, 0);
    let stats = *exporter.stats();
    assert_eq!(
        (
            stats.exports_failed,
            stats.requests_dropped,
            stats.points_dropped
        ),
        (1, 1, POINTS as u64)
    );
    assert_eq!(
        stats.last_error.map(|e| e.kind),
        Some(ExportErrorKind::Status(status))
    );
    assert!(sink.requests().is_empty());
    check_all_answered_with(&sink, &fault);
    check_connections(&sink, 1);
    // Dropped is final: the next export to a healthy sink carries only new data.
    assert_eq!(pending(&metrics), (0, 0));
    sink.set_fault(Fault::None);
    metrics.record(2);
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::Success);
    check_delivered(&sink, 2);
    check_connections(&sink, 2);
    check_time(started, Duration::from_secs(2));
}

#[test]
fn bad_request_400_is_dropped() {
    dropped_with(Fault::Status(400), 400);
}

#[test]
fn not_found_404_is_dropped() {
    dropped_with(Fault::Status(404), 404);
}

#[test]
fn payload_too_large_413_early_is_dropped() {
    dropped_with(Fault::PayloadTooLargeEarly, 413);
}

#[test]
fn internal_error_500_is_dropped() {
    dropped_with(Fault::Status(500), 500);
}

#[test]
fn partial_success_counts_rejected_points() {
    let sink = sink_with(Fault::PartialSuccess {
        rejected: 2,
        message: "two bad points".into(),
    });
    let metrics = Metrics::new();
    metrics.record(1);
    let (client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), client);
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::PartialSuccess);
    assert_eq!(report.points_rejected, 2);
    assert_eq!(report.points_sent, POINTS);
    assert_eq!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Rejected(2))
    );
    assert_eq!(exporter.stats().points_rejected, 2);
    assert_eq!(exporter.stats().exports_ok, 1);
    assert_eq!(exporter.last_server_message(), "two bad points");
    check_all_answered_with(
        &sink,
        &Fault::PartialSuccess {
            rejected: 2,
            message: "two bad points".into(),
        },
    );
    check_delivered(&sink, 1);
    check_connections(&sink, 1);
    // Accepted (even partly) is committed.
    assert_eq!(pending(&metrics), (0, 0));
}

#[test]
fn stopped_listener_abandons_and_keeps_the_data() {
    let started = Instant::now();
    let sink = sink_with(Fault::None);
    sink.stop_accepting();
    let metrics = Metrics::new();
    metrics.record(1);
    let (client, clock) = client();
    let mut config = config(&sink);
    config.export_timeout_ms = 1_500;
    let mut exporter = Exporter::new(config, client);
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::Failed);
    assert_eq!(report.points_abandoned, POINTS);
    assert_eq!(report.points_sent + report.points_dropped, 0);
    assert!(report.retries >= 1, "{report:?}");
    assert!(matches!(
        first_exchange_error(&report),
        ExchangeError::Connect(_)
    ));
    assert_eq!(
        report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::DeadlineExceeded)
    );
    assert_eq!(exporter.stats().exports_failed, 1);
    // Nothing reached the sink, and the data waits in the registry for the next export.
    let stats = sink.stats();
    assert_eq!(
        (stats.connections_accepted, stats.requests_received),
        (0, 0)
    );
    let sum: u64 = COUNTS.iter().sum();
    assert_eq!(pending(&metrics), (sum, LATENCIES.len() as u64));
    check_time(started, Duration::from_millis(1_500));
}

#[test]
fn abandoned_data_goes_out_with_the_next_export() {
    // Every attempt of the first export is answered 503; the data stays, and the second
    // export delivers it together with what was recorded meanwhile, exactly once.
    let started = Instant::now();
    let sink = sink_with(Fault::Unavailable(None));
    let metrics = Metrics::new();
    metrics.record(1);
    let (client, clock) = client();
    let mut config = config(&sink);
    config.retry.max_attempts = 3;
    let mut exporter = Exporter::new(config, client);
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::Failed);
    assert_eq!(
        report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::AttemptsExhausted)
    );
    assert_eq!(report.points_abandoned, POINTS);
    sink.set_fault(Fault::None);
    metrics.record(2);
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::Success);
    check_delivered(&sink, 3);
    check_connections(&sink, 4);
    check_time(started, Duration::from_secs(4));
}

#[test]
fn gzip_requests_decode_to_the_same_totals() {
    use otlp_embedded_std::GzipExchange;
    let sink = sink_with(Fault::None);
    let metrics = Metrics::new();
    metrics.record(1);
    let (plain_client, clock) = client();
    let mut exporter = Exporter::new(config(&sink), GzipExchange::new(plain_client));
    let report = export_with(&mut exporter, &metrics, &clock, 64 * 1024);
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    check_delivered(&sink, 1);
    check_connections(&sink, 1);
    let received = sink.received();
    assert_eq!(received[0].header("content-encoding"), Some("gzip"));
    assert_eq!(
        received[0].body_len,
        exporter.exchange().last_compressed_len()
    );
    // Same data uncompressed, for comparison: the decoded requests are equal.
    let plain_sink = sink_with(Fault::None);
    let plain_metrics = Metrics::new();
    plain_metrics.record(1);
    let (client, clock) = client();
    let mut plain = Exporter::new(config(&plain_sink), client);
    export_with(&mut plain, &plain_metrics, &clock, 64 * 1024);
    let strip_times = |sink: &Sink| {
        sink.totals()
            .into_iter()
            .map(|(k, t)| (k, t.points, t.value_sum, t.histogram_count, t.histogram_sum))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_times(&sink), strip_times(&plain_sink));
}

// ---------------------------------------------------------------------------------------
// PeriodicExporter

fn periodic_options(sink: &Sink, interval: Duration) -> PeriodicOptions {
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(sink.base_url()),
        "OTEL_SERVICE_NAME" => Some("periodic-e2e".into()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("authorization=Bearer%20e2e".into()),
        "OTEL_EXPORTER_OTLP_TIMEOUT" => Some("1000".into()),
        "OTEL_METRIC_EXPORT_TIMEOUT" => Some("3000".into()),
        _ => None,
    })
    .unwrap();
    let mut options = PeriodicOptions::from_config(&config, "periodic-e2e");
    options.export_interval = interval;
    options.retry.initial_backoff_ms = 50;
    options
}

#[test]
fn periodic_exporter_delivers_what_many_threads_record() {
    let started = Instant::now();
    let sink = sink_with(Fault::None);
    let metrics = Arc::new(Metrics::new());
    let exporter = PeriodicExporter::start(
        periodic_options(&sink, Duration::from_millis(40)),
        metrics.registry.producer(),
        Box::new(Snap::new()),
    )
    .unwrap();
    assert!(exporter.is_running());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || {
                for _ in 0..25 {
                    metrics.record(1);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Stats are readable while the thread runs.
    let running = exporter.stats();
    assert_eq!(running.exports_failed, 0);
    let stats = exporter.shutdown();
    assert!(stats.exports_ok >= 2, "{stats:?}");
    assert_eq!(stats.exports_failed, 0);
    check_delivered(&sink, 100);
    // Every export is one request on one connection.
    let sink_stats = check_connections(&sink, u64::from(stats.requests_delivered));
    assert_eq!(
        sink_stats.requests_answered_2xx,
        u64::from(stats.requests_delivered)
    );
    // Resource from the configuration.
    let request = &sink.requests()[0];
    let resource = request.resource_metrics[0].resource.as_ref().unwrap();
    let attr = |key: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.clone())
    };
    assert!(format!("{:?}", attr("service.name")).contains("periodic-e2e"));
    assert!(format!("{:?}", attr("telemetry.sdk.name")).contains("otlp-embedded"));
    assert!(format!("{:?}", attr("telemetry.sdk.language")).contains("rust"));
    // Headers from the configuration, on every request.
    assert!(sink
        .received()
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer e2e")));
    check_time(started, Duration::from_secs(4));
}

#[test]
fn periodic_shutdown_wakes_and_makes_a_final_export() {
    let started = Instant::now();
    let sink = sink_with(Fault::None);
    let metrics = Metrics::new();
    // An hour between exports: only the final export on shutdown sends anything.
    let exporter = PeriodicExporter::start(
        periodic_options(&sink, Duration::from_secs(3600)),
        metrics.registry.producer(),
        Box::new(Snap::new()),
    )
    .unwrap();
    metrics.record(1);
    assert_eq!(exporter.exports(), 0);
    let stats = exporter.shutdown();
    assert_eq!((stats.exports_ok, stats.exports_failed), (1, 0));
    check_delivered(&sink, 1);
    check_connections(&sink, 1);
    check_time(started, Duration::from_secs(3));
}

#[test]
fn periodic_drop_also_exports_finally() {
    let sink = sink_with(Fault::None);
    let metrics = Metrics::new();
    {
        let _exporter = PeriodicExporter::start(
            periodic_options(&sink, Duration::from_secs(3600)),
            metrics.registry.producer(),
            Box::new(Snap::new()),
        )
        .unwrap();
        metrics.record(1);
    }
    check_delivered(&sink, 1);
    check_connections(&sink, 1);
}

#[test]
fn periodic_exporter_honours_retry_after_and_counts_it() {
    let started = Instant::now();
    let sink = sink_with(Fault::None);
    sink.script([(Fault::Unavailable(Some(RetryAfter::Seconds(1))), 1)]);
    let metrics = Metrics::new();
    let exporter = PeriodicExporter::start(
        periodic_options(&sink, Duration::from_secs(3600)),
        metrics.registry.producer(),
        Box::new(Snap::new()),
    )
    .unwrap();
    metrics.record(1);
    let report = exporter.force_export(Duration::from_secs(5)).unwrap();
    assert_eq!(report.outcome, ExportOutcome::Success);
    assert_eq!(report.retries, 1);
    assert!(started.elapsed() >= Duration::from_millis(950));
    let stats = exporter.stats();
    assert_eq!((stats.retries, stats.exports_ok), (1, 1));
    assert_eq!(
        stats.last_error.map(|e| e.kind),
        Some(ExportErrorKind::Status(503))
    );
    let stats = exporter.shutdown();
    // The final export found nothing new: still one request delivered.
    assert_eq!((stats.exports_ok, stats.requests_delivered), (2, 1));
    check_delivered(&sink, 1);
    check_connections(&sink, 2);
    check_time(started, Duration::from_secs(3));
}

#[test]
fn periodic_from_config_disabled_sends_nothing() {
    let sink = sink_with(Fault::None);
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(sink.base_url()),
        "OTEL_SDK_DISABLED" => Some("TRUE".into()),
        "OTEL_METRIC_EXPORT_INTERVAL" => Some("10".into()),
        _ => None,
    })
    .unwrap();
    assert!(config.sdk_disabled);
    let metrics = Metrics::new();
    let exporter = PeriodicExporter::from_config(
        &config,
        "periodic-e2e",
        metrics.registry.producer(),
        Box::new(Snap::new()),
    )
    .unwrap();
    assert!(!exporter.is_running());
    metrics.record(1);
    assert_eq!(exporter.force_export(Duration::from_millis(100)), None);
    std::thread::sleep(Duration::from_millis(50));
    let stats = exporter.shutdown();
    assert_eq!(stats, Default::default());
    let sink_stats = sink.stats();
    assert_eq!(
        (
            sink_stats.connections_accepted,
            sink_stats.requests_received
        ),
        (0, 0)
    );
}

#[test]
fn periodic_from_config_with_gzip() {
    let sink = sink_with(Fault::None);
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(sink.base_url()),
        "OTEL_EXPORTER_OTLP_COMPRESSION" => Some("gzip".into()),
        "OTEL_METRIC_EXPORT_INTERVAL" => Some("3600000".into()),
        "OTEL_METRIC_EXPORT_TIMEOUT" => Some("3000".into()),
        _ => None,
    })
    .unwrap();
    let metrics = Metrics::new();
    let started = PeriodicExporter::from_config(
        &config,
        "periodic-e2e",
        metrics.registry.producer(),
        Box::new(Snap::new()),
    );
    // This package turns on otlp-embedded-std's `gzip` feature; without it the start is
    // refused (transport-std/tests/periodic.rs checks that).
    let exporter = started.unwrap();
    metrics.record(1);
    let stats = exporter.shutdown();
    assert_eq!(stats.exports_ok, 1);
    check_delivered(&sink, 1);
    assert_eq!(sink.received()[0].header("content-encoding"), Some("gzip"));
    check_connections(&sink, 1);
}
