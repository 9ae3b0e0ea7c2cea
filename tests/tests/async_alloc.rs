//! Zero heap allocations by otlp-embedded per async export and per superloop export, and
//! the size of the async export's future, over an in-memory stream (a tiny executor of
//! the test's own: `block_on` with a no-op waker). Then the same export on tokio over
//! loopback, whose own allocations (tokio, its socket, the adapter) are reported, not
//! asserted. Its own binary (`harness = false`): the counter here counts this thread's
//! allocations only, so the sink's threads do not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::task::Poll;

use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::{AsyncHttpClient, PollHttpClient};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    AsyncConnect, AsyncConnection, AsyncTimer, CloseMode, Endpoint, PollConnect, PollIo,
    TransportError,
};
use otlp_embedded_tests::fake::block_on;

thread_local! {
    /// Allocations made by this thread.
    static MINE: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations of each thread.
struct PerThread;

// SAFETY: every call is forwarded unchanged to the system allocator; the count is a
// const-initialised thread-local `Cell`, which allocates nothing.
unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = MINE.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = MINE.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PerThread = PerThread;

fn allocations() -> usize {
    MINE.with(|c| c.get())
}

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";

/// The future size the issue allows for an async export with every buffer lent.
const FUTURE_LIMIT: usize = 4096;

/// An in-memory server: answers every fourth connection 503, the rest 200; reads and
/// writes are always ready. Counts connections and closes.
#[derive(Default)]
struct Mem {
    connections: usize,
    closes: usize,
    response: &'static [u8],
    pos: usize,
    /// The poll form's connection is open.
    open: bool,
}

impl Mem {
    fn accept(&mut self) {
        self.connections += 1;
        self.response = if self.connections.is_multiple_of(4) {
            BUSY
        } else {
            OK
        };
        self.pos = 0;
    }

    fn read_into(&mut self, buf: &mut [u8]) -> usize {
        let rest = &self.response[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        n
    }
}

struct MemConn<'c>(&'c mut Mem);

impl AsyncConnect for Mem {
    type Connection<'c> = MemConn<'c>;
    async fn connect(
        &mut self,
        _: &Endpoint<'_>,
        _: Instant,
    ) -> Result<MemConn<'_>, TransportError> {
        self.accept();
        Ok(MemConn(self))
    }
}

impl embedded_io_async::ErrorType for MemConn<'_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io_async::Read for MemConn<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> {
        Ok(self.0.read_into(buf))
    }
}

impl embedded_io_async::Write for MemConn<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, embedded_io::ErrorKind> {
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> {
        Ok(())
    }
}

impl AsyncConnection for MemConn<'_> {
    async fn close(self, _: CloseMode) -> Result<(), TransportError> {
        self.0.closes += 1;
        Ok(())
    }
}

/// The same server as the superloop's seam.
impl PollIo for Mem {
    fn poll_read(&mut self, buf: &mut [u8], _: Instant) -> Poll<Result<usize, TransportError>> {
        Poll::Ready(Ok(self.read_into(buf)))
    }
    fn poll_write(&mut self, buf: &[u8], _: Instant) -> Poll<Result<usize, TransportError>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(&mut self, _: Instant) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
}

impl PollConnect for Mem {
    fn start_connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<(), TransportError> {
        self.accept();
        self.open = true;
        Ok(())
    }
    fn poll_connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
    fn start_close(&mut self, _: CloseMode, _: Instant) {
        if self.open {
            self.open = false;
            self.closes += 1;
        }
    }
    fn poll_close(&mut self, _: Instant) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }
}

/// A clock that moves only when waited on.
#[derive(Default)]
struct FakeTimer(Cell<u64>);

impl Clock for FakeTimer {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

impl AsyncTimer for FakeTimer {
    async fn wait_until(&self, at: Instant) {
        self.0.set(self.0.get().max(at.0));
    }
}

const HEADER: RequestHeader<'static> = RequestHeader::new(
    Resource::new(&[KeyValue::new(
        "service.name",
        AttributeValue::Str("async-alloc"),
    )]),
    Scope::new("alloc").with_version("1"),
);

type Reg = Registry<4, 64, 34, 32, 2048>;
type Snap = Snapshot<4, 64, 34, 32, 2048>;

struct Meter {
    registry: Reg,
    counter: otlp_embedded::registry::Instrument,
    histogram: otlp_embedded::registry::Instrument,
}

impl Meter {
    fn new() -> Meter {
        let mut registry = Reg::new(1);
        let counter = registry
            .declare(
                InstrumentDesc::counter_u64("requests")
                    .attributes(&["route", "status"])
                    .max_series(16)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        let histogram = registry
            .declare(
                InstrumentDesc::histogram("latency")
                    .attributes(&["route"])
                    .max_series(4),
            )
            .unwrap();
        Meter {
            registry,
            counter,
            histogram,
        }
    }

    fn record(&mut self, round: u64) {
        for (i, route) in ["/a", "/b", "/c", "/d"].iter().enumerate() {
            let attrs = [
                KeyValue::new("status", AttributeValue::Int(200 + i as i64)),
                KeyValue::new("route", AttributeValue::Str(route)),
            ];
            self.registry
                .record(self.counter, round + 1, &attrs)
                .unwrap();
            self.registry
                .record(self.histogram, (round * 7 + i as u64) as f64, &attrs[1..])
                .unwrap();
        }
    }
}

fn config() -> ExporterConfig<'static> {
    let mut config = ExporterConfig::new(Endpoint::DEFAULT, HEADER);
    config.retry.initial_backoff_ms = 10;
    config
}

/// Async exports over the in-memory stream: no allocation, a small future.
fn async_exports() -> usize {
    let mut meter = Meter::new();
    let mut snapshot = Box::new(Snap::new());
    let timer = FakeTimer::default();
    let mut exporter = Exporter::new(config(), AsyncHttpClient::new(Mem::default(), &timer));
    let mut buffer = [0u8; 700];
    // The future, as a caller holds it: every buffer lent.
    let future = exporter.export_async(&mut meter.registry, &mut snapshot, &mut buffer, &timer, 1);
    let size = core::mem::size_of_val(&future);
    drop(future);
    assert!(size <= FUTURE_LIMIT, "the export future is {size} bytes");

    let before = allocations();
    let mut requests = 0;
    for round in 0..20u64 {
        meter.record(round);
        let report = block_on(exporter.export_async(
            &mut meter.registry,
            &mut snapshot,
            &mut buffer,
            &timer,
            1_000_000_000 * (round + 1),
        ));
        assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
        assert_eq!(report.points_sent, report.points_collected);
        requests += report.requests;
    }
    let counted = allocations() - before;
    let server = exporter.exchange().connector();
    assert!(requests > 20, "the buffer should split exports: {requests}");
    assert!(
        exporter.stats().retries > 0,
        "a 503 should have been retried"
    );
    assert_eq!(server.connections, server.closes, "every connection closed");
    assert_eq!(counted, 0, "allocations during 20 async exports");
    println!(
        "async_alloc: async: 0 allocations over 20 exports ({requests} requests, {} retries); \
         export future {size} bytes (limit {FUTURE_LIMIT})",
        exporter.stats().retries
    );
    size
}

/// Superloop exports over the same in-memory server: no allocation either.
fn superloop_exports() {
    let mut meter = Meter::new();
    let mut snapshot = Box::new(Snap::new());
    let timer = FakeTimer::default();
    let mut exporter = Exporter::new(config(), PollHttpClient::new());
    let mut mem = Mem::default();
    let mut buffer = [0u8; 700];
    let before = allocations();
    let mut requests = 0;
    for round in 0..20u64 {
        meter.record(round);
        let mut run = exporter.start(
            &mut meter.registry,
            &mut snapshot,
            1_000_000_000 * (round + 1),
            timer.now(),
        );
        let report = loop {
            let polled = exporter.poll(
                &mut run,
                &mut meter.registry,
                &snapshot,
                &mut buffer,
                &mut mem,
                &timer,
            );
            match polled {
                Poll::Ready(report) => break report,
                Poll::Pending => {
                    let next = run.waiting_until(timer.now()).unwrap_or(timer.now());
                    timer.0.set(next.0.max(timer.0.get() + 1));
                }
            }
        };
        assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
        requests += report.requests;
    }
    let counted = allocations() - before;
    assert_eq!(mem.connections, mem.closes, "every connection closed");
    assert!(exporter.stats().retries > 0);
    assert_eq!(counted, 0, "allocations during 20 superloop exports");
    println!("async_alloc: superloop: 0 allocations over 20 exports ({requests} requests)");
}

/// The same async export on tokio over loopback to the sink: tokio's and the socket's
/// allocations on this thread, reported.
fn tokio_export() {
    use otlp_embedded_test_kit::sink::Sink;
    use otlp_embedded_test_kit::tokio_tcp::{TokioConnect, TokioTimer};
    let sink = Sink::start().unwrap();
    let url = sink.endpoint_url();
    let endpoint = Endpoint::parse(&url).unwrap();
    let mut config = config();
    config.endpoint = endpoint;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut meter = Meter::new();
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; 4096];
    let (counts, size) = runtime.block_on(async {
        let timer = TokioTimer::new();
        let mut exporter = Exporter::new(config, AsyncHttpClient::new(TokioConnect, timer));
        let mut counts = Vec::new();
        let mut size = 0;
        for round in 0..5u64 {
            meter.record(round);
            let before = allocations();
            let future =
                exporter.export_async(&mut meter.registry, &mut snapshot, &mut buffer, &timer, 1);
            size = core::mem::size_of_val(&future);
            let report = future.await;
            counts.push(allocations() - before);
            assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
        }
        (counts, size)
    });
    println!(
        "async_alloc: tokio over loopback: allocations per export on the runtime's thread \
         (tokio, its socket, the adapter; none by otlp-embedded): {counts:?}; export future \
         {size} bytes"
    );
}

fn main() {
    async_exports();
    superloop_exports();
    tokio_export();
    // The counter is live: an allocation here is seen.
    let probe = allocations();
    drop(std::hint::black_box(vec![1u8; 16]));
    assert!(allocations() > probe);
    println!("3 passed, 0 failed");
}
