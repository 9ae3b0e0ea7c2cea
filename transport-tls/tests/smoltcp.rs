//! The firmware TLS client composes over transport-smoltcp's `Blocking` connector: the type
//! `HttpClient<TlsConnector<Blocking<..>>>` builds, and an exchange through it runs the TLS
//! handshake over an in-memory smoltcp device pair (transport-smoltcp's test network).
//!
//! Two tests: against transport-smoltcp's plain HTTP test server (the ClientHello gets no
//! answer; the handshake ends at its deadline and the connection is released), and one
//! whole export (Registry -> Exporter -> HttpClient -> TLS -> smoltcp) against a rustls
//! server pumped over its own smoltcp socket, which decodes what was recorded. A TLS export
//! over smoltcp to the sink through a TAP device belongs to the smoltcp end-to-end test.

#[path = "../../transport-smoltcp/tests/common/mod.rs"]
mod common;

use common::{device_pair, Net, SERVER_PORT};
use otlp_embedded::http::HttpClient;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    Endpoint, Exchange, ExchangeError, HttpRequest, Scheme, Stage, TransportError,
};
use otlp_embedded_tls::{NoClock, TlsConnector, TlsOptions, READ_BUFFER_LEN};
use rand_core::{CryptoRng, RngCore};

/// Deterministic bytes: enough for a handshake that never completes.
struct Counter(u64);
impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 56) as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}

#[test]
fn tls_runs_over_the_smoltcp_blocking_connector() {
    let (client_dev, server_dev) = device_pair();
    let mut net = Net::new(client_dev, server_dev, 1, 49_152);
    let clock = net.clock.clone();
    let mut read = vec![0u8; READ_BUFFER_LEN];
    let mut write = vec![0u8; 2048];
    // Any DER will do: the handshake never gets as far as the certificate.
    let ca = [0x30u8, 0x00];
    let (result, failure) = {
        let blocking = net.blocking();
        let tls: TlsConnector<'_, _, Counter, NoClock> = TlsConnector::new(
            blocking,
            Counter(7),
            TlsOptions::new(&ca).with_server_name("collector.example"),
            &mut read,
            &mut write,
        );
        let mut client: HttpClient<_, _> = HttpClient::new(tls, clock.clone());
        let endpoint = Endpoint {
            scheme: Scheme::Https,
            host: "10.0.0.2",
            port: SERVER_PORT,
            path: "/v1/metrics",
        };
        let request = HttpRequest::new(&endpoint, b"", clock.now().add_millis(2_000));
        let mut body = [0u8; 64];
        let result = client.exchange(&request, &mut body).map(|r| r.status);
        (result, client.connector().last_failure())
    };
    // The https endpoint reached smoltcp as a plain TCP connection (smoltcp refuses an
    // https endpoint with UnsupportedScheme), the ClientHello went out, and the silent peer
    // ran the handshake into its deadline.
    assert_eq!(result, Err(ExchangeError::Timeout(Stage::Connect)));
    // The TLS layer saw the stream beneath time out (not a TLS failure, not a refused
    // scheme).
    assert_eq!(
        failure,
        Some(TransportError::Io(embedded_io::ErrorKind::TimedOut))
    );
    assert!(clock.now() >= Instant(2_000));
    net.settle(200);
    assert_eq!(
        net.server.accepted, 1,
        "one TCP connection reached the server"
    );
    assert_eq!(net.server.served, 0, "a ClientHello is not an HTTP request");
    assert_eq!(net.server.incomplete, 1, "the aborted connection ended");
}

/// A rustls server on its own smoltcp interface, one connection: TLS records are pumped
/// between a smoltcp TCP socket and a rustls `ServerConnection` by hand.
struct TlsSmolServer {
    iface: smoltcp::iface::Interface,
    device: common::PipeDevice,
    sockets: smoltcp::iface::SocketSet<'static>,
    handle: smoltcp::iface::SocketHandle,
    tls: rustls::ServerConnection,
    /// Plaintext request bytes read.
    request: Vec<u8>,
    /// TLS bytes waiting for room in the socket's send buffer.
    outgoing: Vec<u8>,
    answered: bool,
    fin_sent: bool,
    /// The client's close_notify arrived.
    client_close_notify: bool,
    error: Option<String>,
}

/// The response the TLS server sends.
const TLS_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

impl TlsSmolServer {
    fn new(mut device: common::PipeDevice, config: std::sync::Arc<rustls::ServerConfig>) -> Self {
        use smoltcp::wire::IpAddress;
        let iface = common::make_iface(
            &mut device,
            common::SERVER_V4,
            IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2),
            0x7175,
        );
        let mut sockets = common::socket_set(1);
        let mut socket = common::tcp_socket(32 * 1024, 32 * 1024);
        socket.listen(SERVER_PORT).expect("listen");
        let handle = sockets.add(socket);
        TlsSmolServer {
            iface,
            device,
            sockets,
            handle,
            tls: rustls::ServerConnection::new(config).expect("server connection"),
            request: Vec::new(),
            outgoing: Vec::new(),
            answered: false,
            fin_sent: false,
            client_close_notify: false,
            error: None,
        }
    }

    fn poll(&mut self, now: Instant) {
        use smoltcp::socket::tcp;
        use std::io::{Read as _, Write as _};
        self.iface.poll(
            otlp_embedded_smoltcp::smol_instant(now),
            &mut self.device,
            &mut self.sockets,
        );
        let socket = self.sockets.get_mut::<tcp::Socket>(self.handle);
        // Records in.
        let mut chunk = [0u8; 4096];
        while self.error.is_none() && socket.can_recv() {
            let n = match socket.recv_slice(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut records = &chunk[..n];
            while !records.is_empty() {
                if let Err(e) = self.tls.read_tls(&mut records) {
                    self.error = Some(format!("read_tls: {e}"));
                    break;
                }
                if let Err(e) = self.tls.process_new_packets() {
                    self.error = Some(format!("tls: {e}"));
                    break;
                }
            }
        }
        // Plaintext.
        let mut plain = [0u8; 4096];
        loop {
            match self.tls.reader().read(&mut plain) {
                Ok(0) => {
                    self.client_close_notify = true;
                    break;
                }
                Ok(n) => self.request.extend_from_slice(&plain[..n]),
                Err(_) => break,
            }
        }
        if !self.answered && common::request_complete(&self.request) {
            self.answered = true;
            let _ = self.tls.writer().write_all(TLS_RESPONSE);
            self.tls.send_close_notify();
        }
        // Records out.
        while self.tls.wants_write() {
            if self.tls.write_tls(&mut self.outgoing).is_err() {
                break;
            }
        }
        if !self.outgoing.is_empty() && socket.can_send() {
            if let Ok(sent) = socket.send_slice(&self.outgoing) {
                self.outgoing.drain(..sent);
            }
        }
        if self.answered && self.outgoing.is_empty() && !self.fin_sent {
            socket.close();
            self.fin_sent = true;
        }
    }

    fn body(&self) -> &[u8] {
        let end = self
            .request
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(self.request.len(), |e| e + 4);
        &self.request[end..]
    }
}

/// One whole export through firmware TLS over smoltcp: Registry -> Exporter -> HttpClient
/// -> otlp-embedded-tls -> `Blocking` -> in-memory device pair -> rustls server. The
/// server decodes exactly what was recorded.
#[test]
fn export_through_tls_over_smoltcp() {
    use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
    use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope};
    use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
    use otlp_embedded_smoltcp::{Blocking, DeviceSeed, TcpClient};
    use otlp_embedded_test_kit::test_pki::TestPki;
    use prost::Message;

    let pki = TestPki::generate();
    let (mut client_dev, server_dev) = device_pair();
    let clock = common::SimClock::default();
    let mut server = TlsSmolServer::new(
        server_dev,
        pki.sink_tls().server_config().expect("server config"),
    );
    let mut iface = common::make_iface(
        &mut client_dev,
        common::CLIENT_V4,
        smoltcp::wire::IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        0xc11e,
    );
    let mut sockets = common::socket_set(1);
    let handle = sockets.add(common::tcp_socket(8192, 8192));
    let mut tcp_client: TcpClient = TcpClient::new(handle, DeviceSeed::new(49_200));

    let mut registry: Registry<2, 8, 34, 2, 32> = Registry::new(1_700_000_000_000_000_000);
    let counter = registry
        .declare(
            InstrumentDesc::counter_u64("smol.tls.requests")
                .attributes(&["route"])
                .max_series(2),
        )
        .expect("declare");
    let route = [KeyValue::new("route", AttributeValue::Str("tap"))];
    registry.record(counter, 5u64, &route).expect("record");
    registry.record(counter, 6u64, &route).expect("record");

    let mut read = vec![0u8; READ_BUFFER_LEN];
    let mut write = vec![0u8; 2048];
    let mut idles = 0u64;
    let report = {
        let idle_clock = clock.clone();
        let server = &mut server;
        let idles = &mut idles;
        let blocking = Blocking::new(
            &mut tcp_client,
            &mut iface,
            &mut client_dev,
            &mut sockets,
            clock.clone(),
        )
        .with_idle(move |_now: Instant, _wake_by: Instant| {
            *idles += 1;
            assert!(*idles < 2_000_000, "export did not end");
            server.poll(idle_clock.now());
            idle_clock.advance(1);
        });
        let tls: TlsConnector<'_, _, Counter, NoClock> = TlsConnector::new(
            blocking,
            Counter(11),
            TlsOptions::new(&pki.ca.cert_der).with_server_name("localhost"),
            &mut read,
            &mut write,
        );
        let endpoint = Endpoint {
            scheme: Scheme::Https,
            host: "10.0.0.2",
            port: SERVER_PORT,
            path: "/v1/metrics",
        };
        let header = RequestHeader::new(Resource::new(&[]), Scope::new("smol-tls"));
        let mut exporter = Exporter::new(
            ExporterConfig::new(endpoint, header),
            HttpClient::<_, _>::new(tls, clock.clone()),
        );
        let mut snapshot: Snapshot<2, 8, 34, 2, 32> = Snapshot::new();
        let mut buffer = [0u8; 1024];
        let sleep_clock = clock.clone();
        exporter.export(
            &mut registry,
            &mut snapshot,
            &mut buffer,
            &clock,
            1_700_000_010_000_000_000,
            |now: Instant, until: Instant| sleep_clock.advance(now.millis_until(until)),
        )
    };
    assert_eq!(
        report.outcome,
        ExportOutcome::Success,
        "{report:?} server {:?}",
        server.error
    );
    assert_eq!((report.points_sent, report.retries), (1, 0));
    assert_eq!(server.error, None);
    let request =
        opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest::decode(
            server.body(),
        )
        .expect("decodes");
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].name, "smol.tls.requests");
    let Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(sum)) = &metrics[0].data
    else {
        panic!("not a sum: {:?}", metrics[0].data);
    };
    assert_eq!(sum.data_points.len(), 1);
    assert_eq!(
        sum.data_points[0].value,
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(11))
    );
    // The client closed its side after reading the server's close_notify (embedded-tls
    // does not send its own then; see the crate docs): the server, which sent FIN first,
    // sees the client's FIN and the connection ends (TIME-WAIT or closed).
    for _ in 0..200 {
        server.poll(clock.now());
        clock.advance(1);
    }
    let state = server
        .sockets
        .get::<smoltcp::socket::tcp::Socket>(server.handle)
        .state();
    assert!(
        matches!(
            state,
            smoltcp::socket::tcp::State::TimeWait | smoltcp::socket::tcp::State::Closed
        ),
        "{state:?}"
    );
}
