//! A response body over the client's limit (issue 14, item 6), through core's HTTP client
//! and the exporter.
//!
//! The OTLP protocol specification, "OTLP/HTTP Response": "The client MUST limit the size of
//! the response body when parsing it, including after decompression, to mitigate possible
//! excessive memory usage caused by a misconfigured or malicious server. [...] If the limit
//! is exceeded, the client MUST treat the response as a non-retryable error and SHOULD
//! record the fact that the response was discarded."
//!
//! The limit is the body buffer the exchange is given plus `ReaderConfig::drain_cap`: for
//! the `Exporter` that is `RESPONSE_BODY_CAPACITY` (256) + `DEFAULT_DRAIN_CAP` (16 KiB).
//! Over it: the request fails, is not retried, its points are counted as dropped (never
//! resent), and the connection is aborted.

mod http_common;

use http_common::{FakeClock, Script, ScriptConnect};
use otlp_embedded::export::{
    ExportErrorKind, ExportOutcome, ExportReport, Exporter, ExporterConfig, RetryPolicy,
    RESPONSE_BODY_CAPACITY,
};
use otlp_embedded::http::{HttpClient, DEFAULT_DRAIN_CAP};
use otlp_embedded::proto::{RequestHeader, Resource, Scope};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{CloseMode, Endpoint, ExchangeError};
use otlp_embedded_tests::fake::{DeltaCounters, DeltaSnapshot};

/// The most response body the exporter's HTTP client reads.
const LIMIT: usize = RESPONSE_BODY_CAPACITY + DEFAULT_DRAIN_CAP;

fn response(status: u16, body_len: usize) -> Vec<u8> {
    let mut bytes = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {body_len}\r\n\r\n"
    )
    .into_bytes();
    // Zero bytes: an empty protobuf field list would be shorter, but a server is free to
    // send anything; only the size matters here.
    bytes.resize(bytes.len() + body_len, 0);
    bytes
}

struct Outcome {
    report: ExportReport,
    producer: DeltaCounters,
    connects: usize,
    closes: Vec<CloseMode>,
}

/// One export of three points to a server that answers every request with `status` and a
/// body of `body_len` bytes.
fn export_against(status: u16, body_len: usize) -> Outcome {
    let clock = FakeClock::default();
    let connect = ScriptConnect::new(Script::new(&[&response(status, body_len)]), clock.clone());
    let log = connect.log.clone();
    let header = RequestHeader::new(Resource::new(&[]), Scope::new("limit"));
    let mut config = ExporterConfig::new(Endpoint::DEFAULT, header);
    config.export_timeout_ms = 10_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(100)
        .with_max_attempts(3);
    let client: HttpClient<_, _> = HttpClient::new(connect, clock.clone());
    let mut exporter = Exporter::new(config, client);
    let mut producer = DeltaCounters::new(1, 3);
    for s in 0..3 {
        producer.add(0, s, s as i64 + 1);
    }
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 1024];
    let report = exporter.export(
        &mut producer,
        &mut snapshot,
        &mut buffer,
        &clock,
        1_700_000_000_000_000_000 + clock.now().0 * 1_000_000,
        |now: Instant, until: Instant| clock.advance(now.millis_until(until)),
    );
    let log = log.borrow();
    Outcome {
        report,
        producer,
        connects: log.connects,
        closes: log.closes.clone(),
    }
}

#[test]
fn a_2xx_whose_body_passes_the_limit_is_a_dropped_request_not_a_delivery() {
    let out = export_against(200, LIMIT + 1);
    assert_eq!(out.report.outcome, ExportOutcome::Failed);
    assert_eq!(
        out.report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::Exchange(ExchangeError::ResponseTooLarge {
            status: 200,
            limit: LIMIT
        }))
    );
    assert_eq!(out.report.requests, 1);
    assert_eq!(out.report.requests_delivered, 0);
    assert_eq!(out.report.requests_dropped, 1);
    assert_eq!(out.report.points_sent, 0);
    assert_eq!(out.report.points_dropped, 3);
    assert_eq!(out.report.points_abandoned, 0);
    assert_eq!(out.report.retries, 0);
    // Dropped: committed as such, never sent again.
    assert_eq!(out.producer.dropped[0], vec![1, 2, 3]);
    assert_eq!(out.producer.pending[0], vec![0, 0, 0]);
    assert_eq!(out.producer.delivered[0], vec![0, 0, 0]);
    out.producer.assert_each_settled_once();
    // The rest of the body was not read: the connection is aborted, not closed cleanly.
    assert_eq!(out.connects, 1);
    assert_eq!(out.closes, vec![CloseMode::Abort]);
}

#[test]
fn a_503_whose_body_passes_the_limit_is_not_retried() {
    let out = export_against(503, LIMIT + 1);
    assert_eq!(out.report.outcome, ExportOutcome::Failed);
    assert_eq!(
        out.report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::Exchange(ExchangeError::ResponseTooLarge {
            status: 503,
            limit: LIMIT
        }))
    );
    assert_eq!(out.report.retries, 0);
    assert_eq!(out.report.requests_dropped, 1);
    assert_eq!(out.report.points_dropped, 3);
    assert_eq!(out.producer.dropped[0], vec![1, 2, 3]);
    out.producer.assert_each_settled_once();
    assert_eq!(out.connects, 1);
    assert_eq!(out.closes, vec![CloseMode::Abort]);
}

#[test]
fn a_body_of_exactly_the_limit_is_read_whole_and_answered_as_usual() {
    let delivered = export_against(200, LIMIT);
    assert_eq!(delivered.report.outcome, ExportOutcome::Success);
    assert_eq!(delivered.report.points_sent, 3);
    assert_eq!(delivered.producer.delivered[0], vec![1, 2, 3]);
    assert_eq!(delivered.closes, vec![CloseMode::Graceful]);

    // A 503 within the limit is retried as ever (three attempts, then abandoned with the
    // data kept).
    let retried = export_against(503, LIMIT);
    assert_eq!(retried.report.outcome, ExportOutcome::Failed);
    assert_eq!(retried.report.retries, 2);
    assert_eq!(
        retried.report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::AttemptsExhausted)
    );
    assert_eq!(retried.report.points_abandoned, 3);
    assert_eq!(retried.producer.pending[0], vec![1, 2, 3]);
    assert_eq!(retried.connects, 3);
    assert_eq!(retried.closes, vec![CloseMode::Graceful; 3]);
}
