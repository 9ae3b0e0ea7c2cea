//! The smallest useful firmware: one `static` registry with a counter that carries one
//! attribute and an explicit-bucket histogram, exported by core's exporter through core's
//! HTTP/1.1 client over an in-memory stream that answers like a collector. The buffers the
//! library is lent (snapshot, request buffer, the client's header buffer) are statics, as
//! firmware would keep them; the stack figures count the exporter and client themselves.
//!
//! One export: one request, `200 OK`, every point delivered. Exit status 0 only when every
//! figure of its report is what that implies; otherwise the number of the first check that
//! failed. This is the program the library cost is quoted for. Besides its status it prints
//! only its stack figures: the report's counts and the sizes of the statics are printed by
//! firmware-worst, so that diagnostics a user's program would not have are not counted as
//! the library's cost. The worst export (a split batch, a 503 with an HTTP-date
//! `Retry-After`, a chunked partial success) runs the same library code (the canned answers
//! are opaque to the optimizer); its script and checks are firmware-worst's, which exports
//! this way and then that way, for the stack figure.
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
use otlp_embedded_firmware_cortex_m::program::{check, CannedCollector, Ticks};
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
/// 2023-11-14 22:13:20 UTC, as unix nanoseconds.
const UNIX_START: u64 = 1_700_000_000_000_000_000;

const LATENCY_BOUNDS: [f64; 5] = [5.0, 10.0, 25.0, 50.0, 100.0];

/// What the collector answers: one connection.
static SCRIPT: [&[u8]; 1] =
    [b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"];

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

    // The export: 2 counter series and 1 histogram series, one request, 200.
    let plain = exporter.export(
        &mut producer,
        snapshot,
        buffer,
        &clock,
        UNIX_START,
        |now: Instant, until: Instant| clock.0.set(clock.0.get() + now.millis_until(until)),
    );
    board::report("stack.plain_export", board::stack_high_water());
    check(plain.outcome == ExportOutcome::Success, 10);
    check(plain.points_collected == 3 && plain.points_sent == 3, 11);
    check(plain.requests == 1 && plain.retries == 0, 12);
    check(clock.now() == Instant(0), 13);

    let collector = exporter.exchange().connector();
    check(
        collector.opened == SCRIPT.len() && collector.closed == SCRIPT.len(),
        30,
    );
    // Every byte written reached the collector and was counted.
    check(collector.bytes_received as u64 == plain.bytes_sent, 31);

    board::finish(0)
}
