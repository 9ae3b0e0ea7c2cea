//! firmware-min's program, exporting a second time for the stack figure of the worst
//! export: one `static` registry with a counter that carries one attribute and an
//! explicit-bucket histogram, exported by core's exporter through core's HTTP/1.1 client
//! over an in-memory stream that answers like a collector. The buffers the
//! library is lent (snapshot, request buffer, the client's header buffer) are statics, as
//! firmware would keep them; the stack figures count the exporter and client themselves.
//!
//! It exports twice with one exporter, as a device exporting periodically would:
//!
//! 1. the plain export: one request, `200 OK`, every point delivered;
//! 2. the worst export the stack figure is quoted for: a small request buffer splits the
//!    batch into 2 requests; the first is answered `503` with an HTTP-date `Retry-After`,
//!    its retry a chunked `200` with a partial success, the second a plain `200`.
//!
//! Both run the same library code (the canned answers are opaque to the optimizer), so the
//! second export adds its script and its checks, not library code. The stack is painted
//! before each export and measured after it. Exit status 0 only when every figure of both
//! reports is what the script implies; otherwise the number of the first check that failed.
//!
//! Its setup and first export repeat firmware-min's lines on purpose: firmware-min must stay
//! the straight-line `main` a user would write, and a setup function shared by the two
//! (tried) moved the exporter through a return value: +44 B of code and +560 B of stack in
//! firmware-min.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use cortex_m_rt::entry;
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::{HttpClient, ReaderConfig};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope};
use otlp_embedded::registry::{CsRegistry, InstrumentDesc, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_firmware_cortex_m as board;
use otlp_embedded_firmware_cortex_m::program::{check, print_report, CannedCollector, Ticks};
use otlp_embedded_firmware_cortex_m::TakeOnce;

/// Registry shape: 2 instruments; 6 + 2 series (each instrument's own plus its overflow
/// series); 9 bytes of attribute values (a tag and 8 bytes of route); 2 histogram series;
/// 12 bucket counters (6 buckets for each of them).
type Metrics = CsRegistry<2, 8, 9, 2, 12>;
type MetricsSnapshot = Snapshot<2, 8, 9, 2, 12>;

static METRICS: Metrics = CsRegistry::new(UNIX_START);
// Two cells, not one: the zeroed request buffer stays in `.bss` apart from the snapshot,
// whose initializer is not all zeros (`.data`, copied from flash at reset).
/// Lent to the exporter: the collected points.
static SNAPSHOT: TakeOnce<MetricsSnapshot> = TakeOnce::new(Snapshot::new());
/// Lent to the exporter: where requests are encoded.
static REQUEST: TakeOnce<[u8; REQUEST_BUFFER]> = TakeOnce::new([0; REQUEST_BUFFER]);
/// Lent to the HTTP client: the response's status line and headers (and the request head
/// while it is written), so that they are not in the frame that holds the client.
static HEAD: TakeOnce<[u8; HEAD_BUFFER]> = TakeOnce::new([0; HEAD_BUFFER]);

const REQUEST_BUFFER: usize = 1024;
/// The client's header buffer: core's default size.
const HEAD_BUFFER: usize = otlp_embedded::http::DEFAULT_HEAD_BUFFER;
/// The worst export's share of the request buffer: its 6 points do not fit in one request,
/// and do in two. Check 23 fails if an encoding change moves that line.
const SPLIT_BUFFER: usize = 380;

/// 2023-11-14 22:13:20 UTC, as unix nanoseconds.
const UNIX_START: u64 = 1_700_000_000_000_000_000;
/// The worst export starts a minute later: 22:14:20, and the collector asks for 22:14:22.
const UNIX_WORST: u64 = UNIX_START + 60_000_000_000;
const RETRY_AFTER_WAIT_MS: u64 = 2_000;

const LATENCY_BOUNDS: [f64; 5] = [5.0, 10.0, 25.0, 50.0, 100.0];

/// What the collector answers, one connection each, in order.
static SCRIPT: [&[u8]; 4] = [
    // The plain export.
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n",
    // Worst export, request 1: busy, come back at a date.
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: Tue, 14 Nov 2023 22:14:22 GMT\r\n\
      Content-Length: 0\r\n\r\n",
    // Request 1 again: accepted in two chunks, one point rejected. The body is an
    // ExportMetricsServiceResponse { partial_success { rejected_data_points: 1,
    // error_message: "bad point" } }.
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n\
      5\r\n\x0a\x0d\x08\x01\x12\r\na\r\n\x09bad point\r\n0\r\n\r\n",
    // Request 2.
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
];

#[entry]
fn main() -> ! {
    board::paint_stack();
    board::report(
        "stack.main_entry",
        board::stack_top() - board::stack_pointer(),
    );

    let requests = METRICS.declare(
        InstrumentDesc::counter_u64("http.client.requests")
            .attributes(&["route"])
            .max_series(5),
    );
    let latency = METRICS.declare(
        InstrumentDesc::histogram("http.client.duration")
            .unit("ms")
            .bounds(&LATENCY_BOUNDS)
            .max_series(1),
    );
    let (Ok(requests), Ok(latency)) = (requests, latency) else {
        board::finish(1)
    };
    let route = |path| [KeyValue::new("route", AttributeValue::Str(path))];
    let recorded = [
        METRICS.record(requests, 3u64, &route("/status")),
        METRICS.record(requests, 1u64, &route("/config")),
        METRICS.record(latency, 7.5, &[]),
        METRICS.record(latency, 42.0, &[]),
    ];
    check(recorded.iter().all(Result::is_ok), 2);

    let resource = [KeyValue::new(
        "service.name",
        AttributeValue::Str("thermostat"),
    )];
    let header = RequestHeader::new(Resource::new(&resource), Scope::new("firmware-min"));
    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host: "10.0.0.2",
        port: 4318,
        path: "/v1/metrics",
    };
    let clock = Ticks::new();
    let collector = CannedCollector::new(&SCRIPT);
    let (Some(snapshot), Some(buffer), Some(head)) = (SNAPSHOT.take(), REQUEST.take(), HEAD.take())
    else {
        board::finish(4)
    };
    let mut exporter = Exporter::new(
        ExporterConfig::new(endpoint, header),
        HttpClient::with_lent_head(collector, &clock, ReaderConfig::new(), head),
    );
    let mut producer = &METRICS;

    // 1. The plain export: 2 counter series and 1 histogram series, one request, 200.
    let plain = exporter.export(
        &mut producer,
        snapshot,
        buffer,
        &clock,
        UNIX_START,
        |now: Instant, until: Instant| clock.0.set(clock.0.get() + now.millis_until(until)),
    );
    board::report("stack.plain_export", board::stack_high_water());
    print_report("plain", &plain);
    check(plain.outcome == ExportOutcome::Success, 10);
    check(plain.points_collected == 3 && plain.points_sent == 3, 11);
    check(plain.requests == 1 && plain.retries == 0, 12);
    check(clock.now() == Instant(0), 13);

    // 2. The worst export: 5 counter series and the histogram, split in two.
    let recorded = [
        METRICS.record(requests, 2u64, &route("/ota")),
        METRICS.record(requests, 4u64, &route("/metrics")),
        METRICS.record(requests, 1u64, &route("/reboot")),
        METRICS.record(latency, 120.0, &[]),
    ];
    check(recorded.iter().all(Result::is_ok), 3);
    board::paint_stack();
    let worst = exporter.export(
        &mut producer,
        snapshot,
        &mut buffer[..SPLIT_BUFFER],
        &clock,
        UNIX_WORST,
        |now: Instant, until: Instant| clock.0.set(clock.0.get() + now.millis_until(until)),
    );
    board::report("stack.worst_export", board::stack_high_water());
    print_report("worst", &worst);
    check(worst.outcome == ExportOutcome::PartialSuccess, 20);
    check(worst.points_collected == 6 && worst.points_sent == 6, 21);
    check(worst.points_rejected == 1, 22);
    check(
        worst.requests == 2 && worst.requests_delivered == 2 && worst.retries == 1,
        23,
    );
    check(worst.points_dropped == 0 && worst.points_abandoned == 0, 24);
    // The retry waited until the collector's date (it is longer than any backoff), and at
    // most a quarter of that wait more: the jitter that keeps a fleet told the same date
    // from coming back in lockstep.
    let waited = clock.now().as_millis();
    check(
        (RETRY_AFTER_WAIT_MS..=RETRY_AFTER_WAIT_MS + RETRY_AFTER_WAIT_MS / 4).contains(&waited),
        25,
    );
    check(exporter.last_server_message() == "bad point", 26);

    let collector = exporter.exchange().connector();
    check(
        collector.opened == SCRIPT.len() && collector.closed == SCRIPT.len(),
        30,
    );
    // Every byte written, retries included, reached the collector and was counted.
    board::report("collector.bytes_received", collector.bytes_received);
    check(
        collector.bytes_received as u64 == plain.bytes_sent + worst.bytes_sent,
        31,
    );

    board::report("static.snapshot", core::mem::size_of::<MetricsSnapshot>());
    board::report("static.registry", core::mem::size_of::<Metrics>());
    board::report("static.request_buffer", REQUEST_BUFFER);
    board::report("static.head_buffer", HEAD_BUFFER);
    board::report(
        "stack.exporter_and_client",
        core::mem::size_of_val(&exporter),
    );
    board::finish(0)
}
