//! Zero heap allocations during whole exports: registry collect, encoding split over several
//! requests, HTTP exchanges (with a retry) over an in-memory stream, and settlement. Its own
//! binary (`harness = false`) so no other thread is counted.

use otlp_embedded_tests::counting::{allocations, CountingAllocator};
use std::cell::Cell;

use embedded_io::ErrorKind;
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, TransportError};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";

/// Answers every fourth connection 503, the rest 200; counts connections and closes.
struct Server {
    connections: usize,
    closes: usize,
    bytes_written: usize,
    response: &'static [u8],
    pos: usize,
}

struct ServerConn<'c>(&'c mut Server);

impl Connect for Server {
    type Connection<'c> = ServerConn<'c>;
    fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<ServerConn<'_>, TransportError> {
        self.connections += 1;
        self.response = if self.connections.is_multiple_of(4) {
            BUSY
        } else {
            OK
        };
        self.pos = 0;
        Ok(ServerConn(self))
    }
}

impl embedded_io::ErrorType for ServerConn<'_> {
    type Error = ErrorKind;
}

impl embedded_io::Read for ServerConn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let rest = &self.0.response[self.0.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.0.pos += n;
        Ok(n)
    }
}

impl embedded_io::Write for ServerConn<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.0.bytes_written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl Connection for ServerConn<'_> {
    fn set_deadline(&mut self, _: Instant) {}
    fn close(self, _: CloseMode) -> Result<(), TransportError> {
        self.0.closes += 1;
        Ok(())
    }
}

#[derive(Default)]
struct FakeClock(Cell<u64>);

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

const HEADER: RequestHeader<'static> = RequestHeader::new(
    Resource::new(&[KeyValue::new(
        "service.name",
        AttributeValue::Str("alloc-test"),
    )]),
    Scope::new("alloc").with_version("1"),
);

type Reg = Registry<4, 64, 34, 32, 2048>;

fn main() {
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
    let sizes = registry
        .declare(InstrumentDesc::exponential_histogram("payload").max_series(2))
        .unwrap();
    let mut snapshot: Snapshot<4, 64, 34, 32, 2048> = Snapshot::new();
    let clock = FakeClock::default();
    let mut config = ExporterConfig::new(Endpoint::DEFAULT, HEADER);
    config.retry.initial_backoff_ms = 10;
    let server = Server {
        connections: 0,
        closes: 0,
        bytes_written: 0,
        response: OK,
        pos: 0,
    };
    let mut exporter = Exporter::new(config, HttpClient::<_, _>::new(server, &clock));
    let mut buffer = [0u8; 700];
    let routes = ["/a", "/b", "/c", "/d"];

    let before = allocations();
    let mut requests = 0;
    for round in 0..20u64 {
        for (i, route) in routes.iter().enumerate() {
            let attrs = [
                KeyValue::new("status", AttributeValue::Int(200 + i as i64)),
                KeyValue::new("route", AttributeValue::Str(route)),
            ];
            registry.record(counter, round + 1, &attrs).unwrap();
            registry
                .record(histogram, (round * 7 + i as u64) as f64, &attrs[1..])
                .unwrap();
            registry
                .record(sizes, 1.5 * (round + 1) as f64, &[])
                .unwrap();
        }
        let unix_now = 1_000_000_000 * (round + 1);
        let report = exporter.export(
            &mut registry,
            &mut snapshot,
            &mut buffer,
            &clock,
            unix_now,
            |now: Instant, until: Instant| clock.0.set(clock.0.get() + now.millis_until(until)),
        );
        assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
        assert_eq!(report.points_sent, report.points_collected);
        requests += report.requests;
    }
    let counted = allocations() - before;

    let server = exporter.exchange().connector();
    assert!(
        requests > 20,
        "the buffer should split exports: {requests} requests"
    );
    assert!(
        exporter.stats().retries > 0,
        "a 503 should have been retried"
    );
    assert_eq!(server.connections, server.closes, "every connection closed");
    assert_eq!(counted, 0, "allocations during 20 exports");

    // The counter is live: an allocation here is seen.
    let probe = allocations();
    drop(std::hint::black_box(vec![1u8; 16]));
    assert!(allocations() > probe);
    println!(
        "export_alloc: 0 allocations over 20 exports, {requests} requests, {} connections, {} retries",
        server.connections,
        exporter.stats().retries
    );
    println!("1 passed, 0 failed");
}
