//! One OTLP/HTTP exchange over loopback, against a server that reads the request and
//! discards it:
//!
//! 1. `transport`: core's `HttpClient` over `TcpConnector` (`Exchange::exchange`) sending a
//!    pre-encoded 500-point request;
//! 2. `baseline`: the least a hand-written client can do with the same bytes: `TcpStream`
//!    connect, write a fixed header and the body, read until the server closes, drop;
//! 3. `export`: the whole `Exporter::export`: collect 500 points from a `SharedRegistry`,
//!    encode, send, settle.
//!
//! A counting global allocator reports the allocations each row makes per exchange (on the
//! bench thread only; the server thread is not counted). The endpoint is the address
//! literal 127.0.0.1, so there is no name resolution.
//!
//! With `--features gzip`, a fourth row sends the same request through `GzipExchange`.
//!
//! `cargo bench -p otlp-embedded-std --bench loopback -- --warm-up-time 1 --measurement-time 3`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{
    AttributeValue, KeyValue, RequestHeader, RequestSplitter, Resource, Scope, Temporality,
};
use otlp_embedded::registry::{InstrumentDesc, Producer, Snapshot};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{Endpoint, Exchange, HttpRequest, Scheme};
use otlp_embedded_std::{SharedRegistry, StdClock, TcpConnector};

// ---------------------------------------------------------------------------------------
// Allocation counting, for the bench thread only.

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // `const` and without a destructor: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes per call, over `runs` calls.
fn allocations_per_call(runs: u64, mut f: impl FnMut()) -> f64 {
    f(); // warm: first-use setup is not the steady state
    COUNTING.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..runs {
        f();
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(false));
    (after - before) as f64 / runs as f64
}

// ---------------------------------------------------------------------------------------
// The discard server.

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Accepts on one thread, one connection at a time: read the head, the body by
/// `Content-Length`, answer 200 and close.
fn start_discard_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            if serve(&mut stream, &mut buf).is_some() {
                let _ = stream.write_all(RESPONSE);
            }
            // Dropping closes: the server's FIN ends the client's read.
        }
    });
    addr
}

fn serve(stream: &mut TcpStream, buf: &mut [u8]) -> Option<()> {
    let mut filled = 0;
    let head_end = loop {
        let n = stream.read(buf.get_mut(filled..)?).ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        if let Some(i) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let length: usize = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())?;
    let mut body_read = filled - head_end;
    while body_read < length {
        let n = stream.read(buf).ok()?;
        if n == 0 {
            return None;
        }
        body_read += n;
    }
    Some(())
}

// ---------------------------------------------------------------------------------------
// The data: 10 metrics (6 sums, 4 histograms with 10 bounds), 50 series each with 2
// attributes: 500 points.

type Reg = SharedRegistry<10, 520, 34, 208, 2304>;
type Snap = Snapshot<10, 520, 34, 208, 2304>;

const ROUTES: [&str; 5] = [
    "/api/v1/users",
    "/api/v1/orders",
    "/health",
    "/metrics",
    "/",
];
const BOUNDS: &[f64] = &[
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0,
];
const NAMES: [&str; 10] = [
    "http.server.requests",
    "http.server.errors",
    "http.server.bytes_in",
    "http.server.bytes_out",
    "db.calls",
    "cache.hits",
    "http.server.duration",
    "http.client.duration",
    "db.duration",
    "queue.wait",
];

static RESOURCE: [KeyValue<'static>; 3] = [
    KeyValue::new("service.name", AttributeValue::Str("checkout")),
    KeyValue::new("service.version", AttributeValue::Str("1.4.2")),
    KeyValue::new("host.name", AttributeValue::Str("node-17.eu-west")),
];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(
        Resource::new(&RESOURCE),
        Scope::new("otlp-embedded").with_version("0.1.0"),
    )
}

fn registry() -> Box<Reg> {
    let registry = Box::new(Reg::new(1_700_000_000_000_000_000));
    for (m, name) in NAMES.iter().enumerate() {
        let desc = if m < 6 {
            InstrumentDesc::counter_u64(name)
        } else {
            InstrumentDesc::histogram(name).bounds(BOUNDS)
        };
        let instrument = registry
            .declare(
                desc.attributes(&["http.route", "http.status_code"])
                    .max_series(50)
                    .temporality(Temporality::Cumulative),
            )
            .unwrap();
        for p in 0..50u64 {
            let attrs = [
                KeyValue::new("http.route", AttributeValue::Str(ROUTES[p as usize % 5])),
                KeyValue::new(
                    "http.status_code",
                    AttributeValue::Int(200 + (p / 5) as i64),
                ),
            ];
            if m < 6 {
                registry
                    .record(instrument, m as u64 * 1000 + p * 37, &attrs)
                    .unwrap();
            } else {
                for v in 0..5 {
                    registry
                        .record(instrument, (v * 97 + p * 13) as f64 % 1100.0, &attrs)
                        .unwrap();
                }
            }
        }
    }
    registry
}

fn endpoint(addr: SocketAddr) -> Endpoint<'static> {
    Endpoint {
        scheme: Scheme::Http,
        host: "127.0.0.1",
        port: addr.port(),
        path: "/v1/metrics",
    }
}

fn loopback(c: &mut Criterion) {
    let addr = start_discard_server();
    let endpoint = endpoint(addr);

    // The pre-encoded request, from the registry.
    let registry = registry();
    let mut snapshot = Box::new(Snap::new());
    let mut producer = &*registry;
    producer.collect(&mut snapshot, 1_700_000_010_000_000_000);
    assert_eq!(snapshot.total_points(), 500);
    let mut encode_buf = vec![0u8; 256 * 1024];
    let body = {
        let mut splitter = RequestSplitter::new(header());
        let request = splitter
            .next_request(&*snapshot, &mut encode_buf)
            .unwrap()
            .unwrap();
        assert_eq!(request.span.points, 500);
        let bytes = request.bytes.to_vec();
        assert!(splitter.next_request(&*snapshot, &mut encode_buf).is_none());
        bytes
    };

    // Row 1: this transport.
    let clock = StdClock::new();
    let mut client = HttpClient::new(TcpConnector::new(clock), clock);
    let mut response_body = [0u8; 256];
    let mut transport = || {
        let request = HttpRequest::new(&endpoint, &body, clock.now().add_millis(5_000));
        let response = client.exchange(&request, &mut response_body).unwrap();
        assert_eq!(response.status, 200);
        black_box(response);
    };

    // Row 2: the hand-written baseline.
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        addr.port(),
        body.len()
    );
    let mut response = vec![0u8; 1024];
    let mut baseline = || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        let mut got = 0;
        loop {
            match stream.read(&mut response[got..]).unwrap() {
                0 => break,
                n => got += n,
            }
        }
        assert!(response[..got].starts_with(b"HTTP/1.1 200"));
        black_box(got);
    };

    // Row 3: the whole export.
    let mut config = ExporterConfig::new(endpoint, header());
    config.export_timeout_ms = 5_000;
    config.request_timeout_ms = 5_000;
    let export_clock = StdClock::new();
    let mut exporter = Exporter::new(
        config,
        HttpClient::new(TcpConnector::new(export_clock), export_clock),
    );
    let mut export_buf = vec![0u8; 128 * 1024];
    let mut export = || {
        let report = exporter.export(
            &mut producer,
            &mut snapshot,
            &mut export_buf,
            &export_clock,
            1_700_000_020_000_000_000,
            otlp_embedded_std::Sleep,
        );
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!((report.requests, report.points_sent), (1, 500));
        black_box(report);
    };

    // The counter counts: one boxed value is one allocation.
    assert_eq!(
        allocations_per_call(10, || {
            black_box(Box::new(black_box(7u64)));
        }),
        1.0
    );
    println!(
        "loopback: request body {} bytes, 500 points; allocations per call: transport {:.2}, baseline {:.2}, export {:.2}",
        body.len(),
        allocations_per_call(200, &mut transport),
        allocations_per_call(200, &mut baseline),
        allocations_per_call(200, &mut export),
    );

    // Row 4 (feature `gzip`): this transport with gzip request compression.
    #[cfg(feature = "gzip")]
    let mut gzip_client = {
        let mut gzip =
            otlp_embedded_std::GzipExchange::new(HttpClient::new(TcpConnector::new(clock), clock));
        gzip.reserve(body.len());
        gzip
    };
    #[cfg(feature = "gzip")]
    let mut gzip_response = [0u8; 256];
    #[cfg(feature = "gzip")]
    let mut transport_gzip = |gzip: &mut otlp_embedded_std::GzipExchange<_>| {
        let request = HttpRequest::new(&endpoint, &body, clock.now().add_millis(5_000));
        let response = gzip.exchange(&request, &mut gzip_response).unwrap();
        assert_eq!(response.status, 200);
        black_box(response);
    };
    #[cfg(feature = "gzip")]
    {
        let allocations = allocations_per_call(200, || transport_gzip(&mut gzip_client));
        println!(
            "loopback: gzip body {} bytes; allocations per call: transport_gzip {allocations:.2}",
            gzip_client.last_compressed_len(),
        );
    }

    let mut group = c.benchmark_group("loopback_500_points");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("transport", |b| b.iter(&mut transport));
    group.bench_function("baseline", |b| b.iter(&mut baseline));
    group.bench_function("export", |b| b.iter(&mut export));
    #[cfg(feature = "gzip")]
    group.bench_function("transport_gzip", |b| {
        b.iter(|| transport_gzip(&mut gzip_client))
    });
    group.finish();
}

criterion_group!(benches, loopback);
criterion_main!(benches);
