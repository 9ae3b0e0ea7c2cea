//! PollTcp (the superloop seam over a non-blocking TcpStream) against local std listeners:
//! a whole exchange by polls, FIN on a graceful close, RST on abort, refused ports, names
//! through a resolver thread, and a resolver or server that never answers ending at the
//! deadline while every poll returns.

use std::io::{ErrorKind as StdKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::thread;
use std::time::Duration;

use otlp_embedded::http::PollHttpClient;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    CloseMode, DnsFailure, Endpoint, ExchangeError, HttpRequest, PollConnect, PollExchange, PollIo,
    Resolve, Scheme, Stage, TransportError,
};
use otlp_embedded_std::{PollTcp, StdClock};

fn endpoint(host: &str, port: u16) -> Endpoint<'_> {
    Endpoint::new(Scheme::Http, host, port, "/v1/metrics")
}

/// `collector.test` is loopback; any other name is not known.
#[derive(Clone)]
struct CollectorIsLoopback;

impl Resolve for CollectorIsLoopback {
    type Addresses = Vec<IpAddr>;
    fn resolve(
        &mut self,
        host: &str,
        _: &mut (),
        _: Instant,
    ) -> Result<Vec<IpAddr>, TransportError> {
        assert_eq!(host, "collector.test");
        Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
    }
}

/// A resolver that knows the name does not exist.
#[derive(Clone)]
struct NoSuchName;

impl Resolve for NoSuchName {
    type Addresses = Vec<IpAddr>;
    fn resolve(&mut self, _: &str, _: &mut (), _: Instant) -> Result<Vec<IpAddr>, TransportError> {
        Err(TransportError::Dns(DnsFailure::NameNotFound))
    }
}

/// A resolver that answers "no address" only once its sender is dropped (or after 30 s,
/// a hang guard): the test decides when it stops stalling, with no sleep.
#[derive(Clone)]
struct StalledResolver(Arc<Mutex<mpsc::Receiver<()>>>);

impl StalledResolver {
    /// The resolver, and what releases it when dropped.
    fn new() -> (StalledResolver, mpsc::Sender<()>) {
        let (release, stalled) = mpsc::channel();
        (StalledResolver(Arc::new(Mutex::new(stalled))), release)
    }
}

impl Resolve for StalledResolver {
    type Addresses = Vec<IpAddr>;
    fn resolve(&mut self, _: &str, _: &mut (), _: Instant) -> Result<Vec<IpAddr>, TransportError> {
        let _ = self.0.lock().unwrap().recv_timeout(Duration::from_secs(30));
        Ok(vec![])
    }
}

/// Poll `step` until it is ready, at most `limit` times with 1 ms between; returns the
/// result and how many polls it took.
fn poll_until<T>(limit: u32, mut step: impl FnMut() -> Poll<T>) -> (T, u32) {
    for polls in 1..=limit {
        if let Poll::Ready(value) = step() {
            return (value, polls);
        }
        thread::sleep(Duration::from_millis(1));
    }
    panic!("not ready after {limit} polls")
}

/// A server that reads one request (head and `Content-Length` body), answers `response`,
/// then reads to the end: `Ok(n)` bytes after the request when the client's FIN came, the
/// error kind when it reset.
fn one_shot_server(response: &'static [u8]) -> (u16, thread::JoinHandle<Result<usize, StdKind>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap();
            request.extend_from_slice(&buf[..n]);
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        s.write_all(response).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).map_err(|e| e.kind())
    });
    (port, server)
}

#[test]
fn a_whole_exchange_by_polls_then_fin() {
    let (port, server) = one_shot_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 2\r\n\r\nhi",
    );
    let clock = StdClock::new();
    let mut tcp = PollTcp::new();
    let mut client = PollHttpClient::new();
    let endpoint = endpoint("127.0.0.1", port);
    let body = vec![0x0au8; 20_000];
    let request = HttpRequest::new(&endpoint, &body, clock.now().add_millis(10_000));
    let mut response_body = [0u8; 16];
    let (result, polls) = poll_until(20_000, || {
        client.poll_exchange(&mut tcp, &request, &mut response_body, clock.now())
    });
    let response = result.unwrap();
    assert_eq!((response.status, response.body_len), (200, 2));
    assert_eq!(&response_body[..2], b"hi");
    assert_eq!(response.bytes_sent, request_len(&request));
    assert!(polls >= 2, "connect, exchange and close took {polls} polls");
    assert!(!tcp.is_busy(), "closed before the result was returned");
    assert_eq!(server.join().unwrap(), Ok(0), "the server saw our FIN");
}

fn request_len(request: &HttpRequest<'_>) -> usize {
    otlp_embedded::http::RequestWriter::new(request)
        .unwrap()
        .total_len()
}

#[test]
fn an_error_answer_aborts_with_rst() {
    // Not HTTP: the exchange fails, and the connection is reset rather than closed.
    let (port, server) = one_shot_server(b"HTPT/1.1 2OO KO\r\n\r\n");
    let clock = StdClock::new();
    let mut tcp = PollTcp::new();
    let mut client = PollHttpClient::new();
    let endpoint = endpoint("127.0.0.1", port);
    let request = HttpRequest::new(&endpoint, b"\x0a\x00", clock.now().add_millis(10_000));
    let mut response_body = [0u8; 16];
    let (result, _) = poll_until(20_000, || {
        client.poll_exchange(&mut tcp, &request, &mut response_body, clock.now())
    });
    assert!(
        matches!(result, Err(ExchangeError::Malformed(_))),
        "{result:?}"
    );
    assert!(!tcp.is_busy());
    assert_eq!(server.join().unwrap(), Err(StdKind::ConnectionReset));
}

#[test]
fn a_refused_port_is_refused() {
    // Bind and drop, so the port is (almost certainly) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = StdClock::new();
    let mut tcp = PollTcp::new();
    let endpoint = endpoint("127.0.0.1", port);
    let deadline = clock.now().add_millis(5_000);
    tcp.start_connect(&endpoint, deadline).unwrap();
    let (result, _) = poll_until(5_000, || tcp.poll_connect(&endpoint, clock.now()));
    assert_eq!(
        result,
        Err(TransportError::Io(
            embedded_io::ErrorKind::ConnectionRefused
        ))
    );
}

#[test]
fn host_names_resolve_on_a_thread_and_a_stalled_resolver_ends_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let mut tcp = PollTcp::new().with_resolver(CollectorIsLoopback);
    let name = endpoint("collector.test", port);
    tcp.start_connect(&name, clock.now().add_millis(5_000))
        .unwrap();
    let (result, _) = poll_until(5_000, || tcp.poll_connect(&name, clock.now()));
    assert_eq!(result, Ok(()));
    let (accepted, _) = listener.accept().unwrap();
    assert_eq!(
        tcp.stream().unwrap().local_addr().unwrap(),
        accepted.peer_addr().unwrap()
    );
    tcp.start_close(CloseMode::Abort, clock.now());
    assert_eq!(tcp.poll_close(clock.now()), Poll::Ready(Ok(())));

    // A resolver that never answers: the connect gives up at its deadline, each poll
    // returning at once meanwhile.
    let (stalled, release) = StalledResolver::new();
    let mut tcp = PollTcp::new().with_resolver(stalled);
    let deadline = clock.now().add_millis(300);
    tcp.start_connect(&name, deadline).unwrap();
    let (result, polls) = poll_until(5_000, || tcp.poll_connect(&name, clock.now()));
    assert_eq!(result, Err(TransportError::ConnectTimeout));
    assert!(clock.now() >= deadline);
    assert!(polls > 10, "{polls} polls: each returned at once");
    drop(release);
}

/// The resolver's own error is the connect's, not a generic "could not resolve".
#[test]
fn a_resolver_error_is_the_connects_error() {
    let clock = StdClock::new();
    let mut tcp = PollTcp::new().with_resolver(NoSuchName);
    let name = endpoint("collector.test", 4318);
    tcp.start_connect(&name, clock.now().add_millis(5_000))
        .unwrap();
    let (result, _) = poll_until(5_000, || tcp.poll_connect(&name, clock.now()));
    assert_eq!(result, Err(TransportError::Dns(DnsFailure::NameNotFound)));
    assert!(!tcp.is_busy());
}

#[test]
fn a_silent_server_ends_the_exchange_at_its_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut all = Vec::new();
        // Reads the request and whatever follows, never answering, until the client
        // ends the connection.
        let ended = s.read_to_end(&mut all).map(|_| ()).map_err(|e| e.kind());
        (all.len(), ended)
    });
    let clock = StdClock::new();
    let mut tcp = PollTcp::new();
    let mut client = PollHttpClient::new();
    let endpoint = endpoint("127.0.0.1", port);
    let deadline = clock.now().add_millis(300);
    let request = HttpRequest::new(&endpoint, b"\x0a\x00", deadline);
    let mut response_body = [0u8; 16];
    let (result, polls) = poll_until(5_000, || {
        client.poll_exchange(&mut tcp, &request, &mut response_body, clock.now())
    });
    assert_eq!(result, Err(ExchangeError::Timeout(Stage::StatusLine)));
    assert!(clock.now() >= deadline);
    assert!(polls > 10, "{polls} polls");
    let (read, ended) = server.join().unwrap();
    assert_eq!(read, request_len(&request));
    assert_eq!(
        ended,
        Err(StdKind::ConnectionReset),
        "aborted at the deadline"
    );
}

#[test]
fn reads_and_writes_without_a_connection_are_errors_not_hangs() {
    let mut tcp = PollTcp::new();
    let mut buf = [0u8; 4];
    let not_connected = Poll::Ready(Err(TransportError::Io(
        embedded_io::ErrorKind::NotConnected,
    )));
    assert_eq!(tcp.poll_read(&mut buf, Instant(0)), not_connected);
    assert_eq!(tcp.poll_write(b"x", Instant(0)), not_connected);
    let https = Endpoint::new(Scheme::Https, "127.0.0.1", 443, "/");
    assert_eq!(
        tcp.start_connect(&https, Instant(1_000)),
        Err(TransportError::UnsupportedScheme)
    );
}

/// A superloop export cancelled mid-exchange (a shutdown that will not wait): the
/// connection is reset at once, the point goes back to the registry, and the report says
/// the export was cancelled.
#[test]
fn cancelling_a_superloop_export_resets_its_connection_and_keeps_the_data() {
    use otlp_embedded::export::{ExportErrorKind, ExportOutcome, Exporter, ExporterConfig};
    use otlp_embedded::proto::{RequestHeader, Resource, Scope, Temporality};
    use otlp_embedded::registry::{InstrumentDesc, Producer, Registry, SnapshotOf};

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (read_request, request_read) = mpsc::channel();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        read_request.send(n).unwrap();
        // Never answers; reads on until the client ends the connection.
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).map_err(|e| e.kind())
    });

    type Metrics = Registry<2, 8, 16, 2, 32>;
    let mut registry = Metrics::new(1_700_000_000_000_000_000);
    let hits = registry
        .declare(
            InstrumentDesc::counter_u64("hits")
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    registry.record(hits, 7u64, &[]).unwrap();
    let header = RequestHeader::new(Resource::new(&[]), Scope::new("cancel"));
    let endpoint = endpoint("127.0.0.1", port);
    let mut exporter = Exporter::new(ExporterConfig::new(endpoint, header), PollHttpClient::new());
    let clock = StdClock::new();
    let mut tcp = PollTcp::new();
    let (mut snapshot, mut buffer) = (SnapshotOf::<Metrics>::new(), [0u8; 512]);
    let mut run = exporter.start(
        &mut registry,
        &mut snapshot,
        1_700_000_001_000_000_000,
        clock.now(),
    );
    // Poll until the server has the request (the exchange now waits for an answer).
    let mut polls = 0;
    while request_read.try_recv().is_err() {
        let polled = exporter.poll(
            &mut run,
            &mut registry,
            &snapshot,
            &mut buffer,
            &mut tcp,
            &clock,
        );
        assert!(polled.is_pending());
        polls += 1;
        assert!(polls < 5_000, "the request never reached the server");
        thread::sleep(Duration::from_millis(1));
    }
    assert!(tcp.is_busy());
    let report = exporter.cancel(&mut run, &mut registry, &snapshot, &mut tcp);
    assert!(!tcp.is_busy(), "the connection is gone");
    assert_eq!(report.outcome, ExportOutcome::Failed);
    assert_eq!(
        report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::Cancelled)
    );
    assert_eq!(report.points_abandoned, 1);
    assert_eq!(server.join().unwrap(), Err(StdKind::ConnectionReset));
    // The point is still in the registry for the next export.
    registry.collect(&mut snapshot, 1_700_000_002_000_000_000);
    assert_eq!(
        otlp_embedded::proto::MetricsSource::point(&snapshot, 0, 0).value,
        otlp_embedded::proto::PointValue::Int(7)
    );
}

/// A resolver that stalls leaves threads behind; at most four may still run, past which a
/// connect fails at once rather than start a fifth, until they have finished.
#[test]
fn stalled_resolver_threads_are_bounded() {
    use otlp_embedded_std::MAX_STALLED_RESOLVES;
    let (stalled, release) = StalledResolver::new();
    let mut tcp = PollTcp::new().with_resolver(stalled);
    let clock = StdClock::new();
    let name = endpoint("collector.test", 4318);
    for _ in 0..MAX_STALLED_RESOLVES {
        tcp.start_connect(&name, clock.now().add_millis(20))
            .unwrap();
        let (result, _) = poll_until(5_000, || tcp.poll_connect(&name, clock.now()));
        assert_eq!(result, Err(TransportError::ConnectTimeout));
    }
    assert_eq!(
        tcp.start_connect(&name, clock.now().add_millis(20)),
        Err(TransportError::ConnectTimeout),
        "a fifth resolver thread"
    );
    // Released, the threads end, and connects start resolvers again.
    drop(release);
    poll_until(5_000, || {
        match tcp.start_connect(&name, clock.now().add_millis(5_000)) {
            Ok(()) => Poll::Ready(()),
            Err(_) => Poll::Pending,
        }
    });
    // Its resolver answers "no address" at once now.
    let (result, _) = poll_until(5_000, || tcp.poll_connect(&name, clock.now()));
    assert_eq!(result, Err(TransportError::Resolve));
}
