//! What the superloop and async drivers cost over the blocking one, in the same run:
//!
//! 1. `drivers_in_memory`: one whole export (collect 500 points, encode 80 KB, one
//!    exchange, settle) through each driver over the same in-memory stream, always ready:
//!    `blocking` (`Exporter::export`, `HttpClient`), `superloop` (`Exporter::poll` once per
//!    tick, `PollHttpClient`), `async` (`Exporter::export_async`, `AsyncHttpClient`, on a
//!    no-op-waker `block_on`). The stream costs next to nothing, so the rows differ by the
//!    drivers alone.
//! 2. `drivers_loopback`: the same export to a local server that reads the request and
//!    answers 200, through the blocking driver over `TcpConnector` and through the async
//!    driver over tokio's `TcpStream` (current-thread runtime).
//!
//! `cargo bench -p otlp-embedded-tests --bench drivers -- --warm-up-time 1 --measurement-time 3`

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::{AsyncHttpClient, HttpClient, PollHttpClient};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    AsyncConnect, AsyncConnection, AsyncTimer, CloseMode, Connect, Connection, Endpoint,
    PollConnect, PollIo, Scheme, TransportError,
};
use otlp_embedded_std::{StdClock, TcpConnector};
use otlp_embedded_test_kit::tokio_tcp::{TokioConnect, TokioTimer};

// ---------------------------------------------------------------------------------------
// The data: 10 cumulative metrics (6 sums, 4 histograms with 10 bounds), 50 series each,
// 500 points; cumulative, so every export sends the same points.

type Reg = Registry<10, 520, 34, 208, 2304>;
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

static RESOURCE: [KeyValue<'static>; 2] = [
    KeyValue::new("service.name", AttributeValue::Str("checkout")),
    KeyValue::new("host.name", AttributeValue::Str("node-17")),
];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&RESOURCE), Scope::new("drivers"))
}

fn registry() -> Box<Reg> {
    let mut registry = Box::new(Reg::new(1_700_000_000_000_000_000));
    for m in 0..10 {
        let name = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][m];
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
                registry.record(instrument, p * 37 + 1, &attrs).unwrap();
            } else {
                registry
                    .record(instrument, (p * 13) as f64 % 1100.0, &attrs)
                    .unwrap();
            }
        }
    }
    registry
}

fn config(endpoint: Endpoint<'static>) -> ExporterConfig<'static> {
    let mut config = ExporterConfig::new(endpoint, header());
    config.export_timeout_ms = 5_000;
    config.request_timeout_ms = 5_000;
    config
}

// ---------------------------------------------------------------------------------------
// The in-memory stream, as all three seams: reads give the response, writes take
// everything, nothing ever waits.

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";

#[derive(Default)]
struct Mem {
    pos: usize,
}

impl Mem {
    fn read_into(&mut self, buf: &mut [u8]) -> usize {
        let rest = &OK[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        n
    }
}

struct MemConn<'c>(&'c mut Mem);

impl Connect for Mem {
    type Connection<'c> = MemConn<'c>;
    fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<MemConn<'_>, TransportError> {
        self.pos = 0;
        Ok(MemConn(self))
    }
}

impl AsyncConnect for Mem {
    type Connection<'c> = MemConn<'c>;
    async fn connect(
        &mut self,
        _: &Endpoint<'_>,
        _: Instant,
    ) -> Result<MemConn<'_>, TransportError> {
        self.pos = 0;
        Ok(MemConn(self))
    }
}

impl embedded_io::ErrorType for MemConn<'_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for MemConn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        Ok(self.0.read_into(buf))
    }
}

impl embedded_io::Write for MemConn<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        Ok(black_box(buf).len())
    }
    fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

impl Connection for MemConn<'_> {
    fn set_deadline(&mut self, _: Instant) {}
    fn close(self, _: CloseMode) -> Result<(), TransportError> {
        Ok(())
    }
}

impl embedded_io_async::Read for MemConn<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        Ok(self.0.read_into(buf))
    }
}

impl embedded_io_async::Write for MemConn<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        Ok(black_box(buf).len())
    }
    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

impl AsyncConnection for MemConn<'_> {
    async fn close(self, _: CloseMode) -> Result<(), TransportError> {
        Ok(())
    }
}

impl PollIo for Mem {
    fn poll_read(&mut self, buf: &mut [u8], _: Instant) -> Poll<Result<usize, TransportError>> {
        Poll::Ready(Ok(self.read_into(buf)))
    }
    fn poll_write(&mut self, buf: &[u8], _: Instant) -> Poll<Result<usize, TransportError>> {
        Poll::Ready(Ok(black_box(buf).len()))
    }
    fn poll_flush(&mut self, _: Instant) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
}

impl PollConnect for Mem {
    fn start_connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<(), TransportError> {
        self.pos = 0;
        Ok(())
    }
    fn poll_connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
    fn start_close(&mut self, _: CloseMode, _: Instant) {}
    fn poll_close(&mut self, _: Instant) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
}

/// A clock that stands still (nothing in these exports waits), and a timer on it.
#[derive(Default)]
struct Still(Cell<u64>);

impl Clock for Still {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

impl AsyncTimer for Still {
    async fn wait_until(&self, at: Instant) {
        self.0.set(self.0.get().max(at.0));
    }
}

/// Run a future that never waits for anything outside itself.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn in_memory(c: &mut Criterion) {
    let clock = Still::default();
    let mut registry = registry();
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; 128 * 1024];

    let mut blocking = Exporter::new(
        config(Endpoint::DEFAULT),
        HttpClient::new(Mem::default(), &clock),
    );
    let mut superloop = Exporter::new(config(Endpoint::DEFAULT), PollHttpClient::new());
    let mut mem = Mem::default();
    let mut asynchronous = Exporter::new(
        config(Endpoint::DEFAULT),
        AsyncHttpClient::new(Mem::default(), &clock),
    );

    let future = asynchronous.export_async(&mut *registry, &mut snapshot, &mut buffer, &clock, 1);
    println!(
        "drivers: async export future {} bytes (x86-64, this build)",
        core::mem::size_of_val(&future)
    );
    drop(future);

    let mut group = c.benchmark_group("drivers_in_memory");
    group.throughput(Throughput::Elements(500));
    group.bench_function("blocking", |b| {
        b.iter(|| {
            let report = blocking.export(
                &mut *registry,
                &mut snapshot,
                &mut buffer,
                &clock,
                1,
                |_: Instant, _: Instant| {},
            );
            assert_eq!(
                (report.outcome, report.points_sent),
                (ExportOutcome::Success, 500)
            );
            black_box(report)
        })
    });
    group.bench_function("superloop", |b| {
        b.iter(|| {
            let mut run = superloop.start(&mut *registry, &mut snapshot, 1, clock.now());
            let report = loop {
                if let Poll::Ready(report) = superloop.poll(
                    &mut run,
                    &mut *registry,
                    &snapshot,
                    &mut buffer,
                    &mut mem,
                    &clock,
                ) {
                    break report;
                }
            };
            assert_eq!(
                (report.outcome, report.points_sent),
                (ExportOutcome::Success, 500)
            );
            black_box(report)
        })
    });
    group.bench_function("async", |b| {
        b.iter(|| {
            let report = block_on(asynchronous.export_async(
                &mut *registry,
                &mut snapshot,
                &mut buffer,
                &clock,
                1,
            ));
            assert_eq!(
                (report.outcome, report.points_sent),
                (ExportOutcome::Success, 500)
            );
            black_box(report)
        })
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Loopback: a server that reads the request and answers 200.

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            if read_request(&mut stream, &mut buf).is_some() {
                let _ = stream.write_all(RESPONSE);
            }
        }
    });
    addr
}

fn read_request(stream: &mut TcpStream, buf: &mut [u8]) -> Option<()> {
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
    let head = std::str::from_utf8(&buf[..head_end])
        .ok()?
        .to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    let mut body = filled - head_end;
    while body < length {
        let n = stream.read(buf).ok()?;
        if n == 0 {
            return None;
        }
        body += n;
    }
    Some(())
}

fn loopback(c: &mut Criterion) {
    let addr = start_server();
    let endpoint = Endpoint::new(Scheme::Http, "127.0.0.1", addr.port(), "/v1/metrics");
    let mut registry = registry();
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; 128 * 1024];

    let clock = StdClock::new();
    let mut blocking = Exporter::new(
        config(endpoint),
        HttpClient::new(TcpConnector::new(clock), clock),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let timer = runtime.block_on(async { TokioTimer::new() });
    let mut asynchronous =
        Exporter::new(config(endpoint), AsyncHttpClient::new(TokioConnect, timer));

    let mut group = c.benchmark_group("drivers_loopback");
    group.throughput(Throughput::Elements(500));
    group.bench_function("blocking", |b| {
        b.iter(|| {
            let report = blocking.export(
                &mut *registry,
                &mut snapshot,
                &mut buffer,
                &clock,
                1,
                otlp_embedded_std::Sleep,
            );
            assert_eq!(
                (report.outcome, report.points_sent),
                (ExportOutcome::Success, 500)
            );
            black_box(report)
        })
    });
    group.bench_function("async_tokio", |b| {
        b.iter(|| {
            let report = runtime.block_on(asynchronous.export_async(
                &mut *registry,
                &mut snapshot,
                &mut buffer,
                &timer,
                1,
            ));
            assert_eq!(
                (report.outcome, report.points_sent),
                (ExportOutcome::Success, 500)
            );
            black_box(report)
        })
    });
    group.finish();
}

criterion_group!(benches, in_memory, loopback);
criterion_main!(benches);
