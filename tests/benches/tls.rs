//! Export cost over TLS against plain TCP, in one run: one whole export (collect, encode,
//! connect, handshake, write, read the whole response, close) of a small request (3
//! points) to a server on 127.0.0.1, a new connection per export as always. Rows:
//!
//! - `plain_tcp`: `HttpClient<TcpConnector>`, plain HTTP;
//! - `rustls`: `HttpClient<otlp_embedded_std::tls::TlsConnector<TcpConnector>>` (ring,
//!   TLS 1.3, ECDSA P-256 certificate from the sink's test PKI);
//! - `firmware_tls`: the no-heap `otlp_embedded_tls::TlsConnector` (embedded-tls, pure
//!   Rust P-256 and AES-GCM) over the same `TcpConnector`.
//!
//! The server is a minimal one with the sink's TLS configuration, not the sink itself: the
//! sink polls its listener every 5 ms, which put every row at the same 5.2 ms. Before
//! measuring, one export through the same chain to the sink in TLS mode is checked.
//! The server's side (its half of the handshake) is in every TLS row.
//!
//! `cargo bench -p otlp-embedded-tests --bench tls -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion};
use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{Instrument, InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::Instant;
use otlp_embedded::transport::{Connect, Endpoint, Scheme};
use otlp_embedded_std::tls::{client_config_from_pem, TlsConnector};
use otlp_embedded_std::{StdClock, TcpConnector};
use otlp_embedded_test_kit::sink::{Sink, SinkOptions};
use otlp_embedded_test_kit::test_pki::TestPki;

type Reg = Registry<4, 32, 34, 8, 256>;
type Snap = Snapshot<4, 32, 34, 8, 256>;

const RESOURCE: [KeyValue<'static>; 1] = [KeyValue::new(
    "service.name",
    AttributeValue::Str("tls-bench"),
)];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(
        Resource::new(&RESOURCE),
        Scope::new("tls-bench").with_version("1"),
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Measure one export per iteration through `connector` to `scheme://host:port`.
fn bench_export<C: Connect>(
    c: &mut Criterion,
    name: &str,
    connector: C,
    scheme: Scheme,
    host: &str,
    port: u16,
) {
    let clock = StdClock::new();
    let mut registry = Reg::new(unix_now());
    let counter: Instrument = registry
        .declare(
            InstrumentDesc::counter_u64("bench.requests")
                .attributes(&["route"])
                .temporality(Temporality::Delta),
        )
        .expect("declare");
    let routes = [
        [KeyValue::new("route", AttributeValue::Str("a"))],
        [KeyValue::new("route", AttributeValue::Str("b"))],
        [KeyValue::new("route", AttributeValue::Str("c"))],
    ];
    let endpoint = Endpoint {
        scheme,
        host,
        port,
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header());
    config.retry.max_attempts = 1;
    let client: HttpClient<C, StdClock> = HttpClient::new(connector, clock);
    let mut exporter = Exporter::new(config, client);
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; 4096];
    c.bench_function(name, |b| {
        b.iter(|| {
            for route in &routes {
                registry.record(counter, 1u64, route).expect("record");
            }
            let report = exporter.export(
                &mut registry,
                &mut *snapshot,
                &mut buffer,
                &clock,
                unix_now(),
                otlp_embedded_std::Sleep,
            );
            // A failed export would measure the wrong thing.
            assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
            black_box(report.bytes_sent)
        })
    });
}

/// The response the discard server sends.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// A minimal server on 127.0.0.1 that blocks in `accept` (the sink polls its listener
/// every few milliseconds, which would dominate the figures), reads one request, answers
/// [`RESPONSE`], closes (with close_notify in TLS) and waits for the client's end. Plain
/// or TLS with the sink's own rustls configuration.
struct Discard {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Discard {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Discard {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while let Ok((tcp, _)) = listener.accept() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let _ = tcp.set_nodelay(true);
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = tcp.set_write_timeout(Some(Duration::from_secs(5)));
                match &tls {
                    None => {
                        let mut tcp = tcp;
                        if serve_one(&mut tcp) {
                            let _ = tcp.shutdown(Shutdown::Write);
                            drain(&mut tcp);
                        }
                    }
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(Arc::clone(config)) else {
                            continue;
                        };
                        let mut stream = rustls::StreamOwned::new(conn, tcp);
                        if serve_one(&mut stream) {
                            stream.conn.send_close_notify();
                            let _ = stream.flush();
                            let _ = stream.sock.shutdown(Shutdown::Write);
                            drain(&mut stream);
                        }
                    }
                }
            }
        });
        Discard {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Discard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Read one request (head and Content-Length body) and answer it. Whether it answered.
fn serve_one(stream: &mut (impl Read + Write)) -> bool {
    let mut received = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                break;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => received.extend_from_slice(&chunk[..n]),
        }
    }
    stream.write_all(RESPONSE).is_ok() && stream.flush().is_ok()
}

/// Read until the client ends (bounded by the read timeout).
fn drain(stream: &mut impl Read) {
    let mut chunk = [0u8; 1024];
    for _ in 0..64 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn export_over_tls(c: &mut Criterion) {
    let pki = TestPki::generate();
    let server_config = pki.sink_tls().server_config().expect("server config");

    {
        // Sanity: the chain under test delivers to the real sink in TLS mode.
        let sink = Sink::start_with(SinkOptions {
            tls: Some(pki.sink_tls()),
            ..SinkOptions::default()
        })
        .expect("TLS sink");
        let config =
            client_config_from_pem(Some(pki.ca.cert_pem.as_bytes()), None).expect("config");
        let mut registry = Reg::new(unix_now());
        let counter = registry
            .declare(InstrumentDesc::counter_u64("bench.check"))
            .expect("declare");
        registry.record(counter, 1u64, &[]).expect("record");
        let endpoint = Endpoint {
            scheme: Scheme::Https,
            host: "127.0.0.1",
            port: sink.addr().port(),
            path: "/v1/metrics",
        };
        let clock = StdClock::new();
        let mut exporter = Exporter::new(
            ExporterConfig::new(endpoint, header()),
            HttpClient::<_, _>::new(TlsConnector::new(TcpConnector::new(clock), config), clock),
        );
        let mut snapshot = Box::new(Snap::new());
        let mut buffer = vec![0u8; 4096];
        let report = exporter.export(
            &mut registry,
            &mut *snapshot,
            &mut buffer,
            &clock,
            unix_now(),
            |_: Instant, _: Instant| {},
        );
        assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
        assert_eq!(
            sink.total("bench.check", &[]).map(|t| t.value_sum),
            Some(1.0)
        );
    }

    let plain = Discard::start(None);
    let tls = Discard::start(Some(server_config));

    bench_export(
        c,
        "export/plain_tcp",
        TcpConnector::new(StdClock::new()),
        Scheme::Http,
        "127.0.0.1",
        plain.addr.port(),
    );

    let config = client_config_from_pem(Some(pki.ca.cert_pem.as_bytes()), None).expect("config");
    bench_export(
        c,
        "export/rustls",
        TlsConnector::new(TcpConnector::new(StdClock::new()), config),
        Scheme::Https,
        "127.0.0.1",
        tls.addr.port(),
    );

    let mut read = vec![0u8; otlp_embedded_tls::READ_BUFFER_LEN];
    let mut write = vec![0u8; 4096];
    let firmware: otlp_embedded_tls::TlsConnector<'_, _, rand_core::OsRng> =
        otlp_embedded_tls::TlsConnector::new(
            TcpConnector::new(StdClock::new()),
            rand_core::OsRng,
            otlp_embedded_tls::TlsOptions::new(&pki.ca.cert_der).with_server_name("localhost"),
            &mut read,
            &mut write,
        );
    bench_export(
        c,
        "export/firmware_tls",
        firmware,
        Scheme::Https,
        "127.0.0.1",
        tls.addr.port(),
    );
}

criterion_group!(benches, export_over_tls);
criterion_main!(benches);
