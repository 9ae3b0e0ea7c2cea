//! TLS over the stream seam, against a rustls server on 127.0.0.1 with a test PKI:
//! the rustls client of otlp-embedded-std (feature `tls`) and the no-heap firmware client of
//! otlp-embedded-tls (embedded-tls), each over a plain loopback TCP connector.
//!
//! Each test sends one OTLP request, checks what the server decoded and the exact response
//! bytes, or checks that a bad certificate or a missing client certificate fails with its
//! own distinct error.

use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Scheme, TlsFailure, TransportError,
};
use otlp_embedded_tests::collector::ExportMetricsServiceRequest;
use otlp_embedded_tests::metrics::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use otlp_embedded_tests::tls_server::{
    now, start_tls_server, LoopbackTcp, Presented, ServerOutcome, TestPki, TlsServerOptions,
    RESPONSE, SERVER_NOT_AFTER_UNIX,
};
use prost::Message;

const TIMEOUT_MS: u64 = 10_000;

fn request_body() -> Vec<u8> {
    let point = NumberDataPoint {
        time_unix_nano: 1_700_000_000_000_000_000,
        value: Some(number_data_point::Value::AsInt(42)),
        ..Default::default()
    };
    let metric = Metric {
        name: "tls.test".into(),
        unit: "1".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![point],
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn endpoint(host: &str, port: u16) -> Endpoint<'_> {
    Endpoint {
        scheme: Scheme::Https,
        host,
        port,
        path: "/v1/metrics",
    }
}

/// Write one POST, read the response to the end, close gracefully. Returns the response.
fn exchange<C: Connection>(connection: &mut C, body: &[u8]) -> Result<Vec<u8>, TransportError> {
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    connection.set_deadline(now().add_millis(TIMEOUT_MS));
    connection
        .write_all(head.as_bytes())
        .map_err(|e| connection.classify(&e))?;
    connection
        .write_all(body)
        .map_err(|e| connection.classify(&e))?;
    connection.flush().map_err(|e| connection.classify(&e))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 256];
    for _ in 0..1024 {
        connection.set_deadline(now().add_millis(TIMEOUT_MS));
        match connection.read(&mut buf) {
            Ok(0) => return Ok(response),
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => return Err(connection.classify(&e)),
        }
    }
    panic!("response did not end");
}

/// The server decoded exactly the request that was sent.
fn assert_request_received(outcome: &ServerOutcome) {
    assert_eq!(outcome.error, None);
    assert!(outcome.responded);
    assert_request_decoded(outcome);
}

/// The server decoded exactly the request that was sent, whatever became of its answer.
fn assert_request_decoded(outcome: &ServerOutcome) {
    assert!(outcome
        .request_head
        .starts_with("POST /v1/metrics HTTP/1.1\r\n"));
    let decoded = ExportMetricsServiceRequest::decode(outcome.request_body.as_slice())
        .expect("server received a valid request");
    assert_eq!(decoded.resource_metrics.len(), 1);
    let metrics = &decoded.resource_metrics[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 1);
    assert_eq!(metrics[0].name, "tls.test");
    let Some(metric::Data::Gauge(gauge)) = &metrics[0].data else {
        panic!("not a gauge: {:?}", metrics[0].data);
    };
    assert_eq!(gauge.data_points.len(), 1);
    assert_eq!(
        gauge.data_points[0].value,
        Some(number_data_point::Value::AsInt(42))
    );
}

mod rustls_client {
    use super::*;
    use otlp_embedded_std::tls::{TlsConnector, TlsOptions};

    fn write_pem(dir: &std::path::Path, name: &str, pem: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("write pem");
        path
    }

    struct Files {
        dir: std::path::PathBuf,
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn files(tag: &str) -> Files {
        let dir = std::env::temp_dir().join(format!("otlp-tls-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Files { dir }
    }

    /// Options trusting `ca_pem`, with the client identity when `client` is true.
    fn options(files: &Files, pki: &TestPki, ca_pem: &str, client: bool) -> TlsOptions {
        TlsOptions {
            ca_certificate: Some(write_pem(&files.dir, "ca.pem", ca_pem)),
            client_certificate: client
                .then(|| write_pem(&files.dir, "client.pem", &pki.client.cert_pem)),
            client_key: client.then(|| write_pem(&files.dir, "client.key", &pki.client.key_pem)),
        }
    }

    fn connector(addr: std::net::SocketAddr, options: &TlsOptions) -> TlsConnector<LoopbackTcp> {
        TlsConnector::new(
            LoopbackTcp { addr },
            options.client_config().expect("client config"),
        )
    }

    /// One exchange with the right CA against `server`, closed gracefully; the server's
    /// outcome, after the exact response was checked.
    fn exchange_with(tag: &str, server: TlsServerOptions) -> ServerOutcome {
        let pki = TestPki::generate();
        let f = files(tag);
        let (addr, server) = start_tls_server(&pki, server);
        let mut tls = connector(addr, &options(&f, &pki, &pki.ca.cert_pem, false));
        let mut connection = tls
            .connect(
                &endpoint("localhost", addr.port()),
                now().add_millis(TIMEOUT_MS),
            )
            .expect("handshake");
        let response = exchange(&mut connection, &request_body()).expect("exchange");
        assert_eq!(response, RESPONSE);
        connection.set_deadline(now().add_millis(TIMEOUT_MS));
        assert_eq!(connection.close(CloseMode::Graceful), Ok(()));
        let outcome = server.join();
        assert_request_received(&outcome);
        outcome
    }

    #[test]
    fn right_ca_exchanges_and_closes_with_close_notify() {
        let outcome = exchange_with("ok", TlsServerOptions::default());
        assert!(outcome.client_close_notify, "server saw no close_notify");
    }

    /// A server that updates its keys before answering: rustls follows, the exchange
    /// completes.
    #[test]
    fn key_update_before_the_response_is_followed() {
        let server = TlsServerOptions {
            key_update_before_response: true,
            ..Default::default()
        };
        let outcome = exchange_with("key-update", server);
        assert!(outcome.responded);
        assert_eq!(outcome.error, None);
    }

    fn handshake_failure(
        options_of: impl Fn(&Files, &TestPki) -> TlsOptions,
        server: TlsServerOptions,
        host: &str,
    ) -> (TransportError, ServerOutcome) {
        let pki = TestPki::generate();
        let f = files(&format!("{:?}{host}", server.presented));
        let (addr, handle) = start_tls_server(&pki, server);
        let mut tls = connector(addr, &options_of(&f, &pki));
        let error = match tls.connect(&endpoint(host, addr.port()), now().add_millis(TIMEOUT_MS)) {
            Ok(_) => panic!("handshake succeeded"),
            Err(e) => e,
        };
        (error, handle.join())
    }

    #[test]
    fn wrong_ca_is_unknown_issuer() {
        let (error, outcome) = handshake_failure(
            |f, pki| options(f, pki, &pki.other_ca.cert_pem, false),
            TlsServerOptions::default(),
            "localhost",
        );
        assert_eq!(error, TransportError::Tls(TlsFailure::UnknownIssuer));
        assert!(!outcome.responded);
        assert!(outcome.error.is_some());
    }

    #[test]
    fn wrong_host_name_is_a_mismatch() {
        let (error, outcome) = handshake_failure(
            |f, pki| options(f, pki, &pki.ca.cert_pem, false),
            TlsServerOptions::default(),
            "collector.invalid",
        );
        assert_eq!(error, TransportError::Tls(TlsFailure::HostNameMismatch));
        assert!(!outcome.responded);
    }

    #[test]
    fn expired_certificate_is_expired() {
        let (error, outcome) = handshake_failure(
            |f, pki| options(f, pki, &pki.ca.cert_pem, false),
            TlsServerOptions {
                presented: Presented::Expired,
                ..Default::default()
            },
            "localhost",
        );
        assert_eq!(error, TransportError::Tls(TlsFailure::Expired));
        assert!(!outcome.responded);
    }

    #[test]
    fn missing_client_certificate_is_reported() {
        let pki = TestPki::generate();
        let f = files("nocert");
        let (addr, server) = start_tls_server(
            &pki,
            TlsServerOptions {
                require_client_cert: true,
                ..Default::default()
            },
        );
        let mut tls = connector(addr, &options(&f, &pki, &pki.ca.cert_pem, false));
        // TLS 1.3: the client finishes its side of the handshake before the server judges
        // the (empty) certificate, so the refusal arrives as an alert on the first read.
        let result = match tls.connect(
            &endpoint("localhost", addr.port()),
            now().add_millis(TIMEOUT_MS),
        ) {
            Err(e) => Err(e),
            Ok(mut connection) => {
                let r = exchange(&mut connection, &request_body());
                let _ = connection.close(CloseMode::Abort);
                r
            }
        };
        assert_eq!(
            result,
            Err(TransportError::Tls(TlsFailure::ClientCertificateRequired))
        );
        let outcome = server.join();
        assert!(!outcome.responded);
        assert!(outcome.error.is_some());
    }

    #[test]
    fn mutual_tls_with_client_certificate_succeeds() {
        let pki = TestPki::generate();
        let f = files("mtls");
        let (addr, server) = start_tls_server(
            &pki,
            TlsServerOptions {
                require_client_cert: true,
                ..Default::default()
            },
        );
        let mut tls = connector(addr, &options(&f, &pki, &pki.ca.cert_pem, true));
        let mut connection = tls
            .connect(
                &endpoint("localhost", addr.port()),
                now().add_millis(TIMEOUT_MS),
            )
            .expect("handshake");
        let response = exchange(&mut connection, &request_body()).expect("exchange");
        assert_eq!(response, RESPONSE);
        assert_eq!(connection.close(CloseMode::Graceful), Ok(()));
        let outcome = server.join();
        assert_request_received(&outcome);
        assert!(outcome.client_close_notify);
    }

    #[test]
    fn tcp_end_without_close_notify_is_truncation() {
        let pki = TestPki::generate();
        let f = files("trunc");
        let (addr, server) = start_tls_server(
            &pki,
            TlsServerOptions {
                close_notify: false,
                ..Default::default()
            },
        );
        let mut tls = connector(addr, &options(&f, &pki, &pki.ca.cert_pem, false));
        let mut connection = tls
            .connect(
                &endpoint("localhost", addr.port()),
                now().add_millis(TIMEOUT_MS),
            )
            .expect("handshake");
        let result = exchange(&mut connection, &request_body());
        assert_eq!(result, Err(TransportError::Tls(TlsFailure::Truncated)));
        let _ = connection.close(CloseMode::Abort);
        assert_request_received(&server.join());
    }

    #[test]
    fn http_endpoint_is_refused() {
        let pki = TestPki::generate();
        let f = files("http");
        let mut tls = connector(
            "127.0.0.1:9".parse().unwrap(),
            &options(&f, &pki, &pki.ca.cert_pem, false),
        );
        let plain = Endpoint::DEFAULT;
        assert!(matches!(
            tls.connect(&plain, now().add_millis(TIMEOUT_MS)),
            Err(TransportError::UnsupportedScheme)
        ));
    }

    /// The scheme connector speaks TLS to an https endpoint and plain HTTP to an http one.
    #[test]
    fn scheme_connector_follows_the_scheme() {
        use otlp_embedded_std::tls::{SchemeConnection, SchemeConnector};
        let pki = TestPki::generate();
        let f = files("scheme");
        let (addr, server) = start_tls_server(&pki, TlsServerOptions::default());
        let config = options(&f, &pki, &pki.ca.cert_pem, false)
            .client_config()
            .expect("client config");
        let mut connector = SchemeConnector::new(LoopbackTcp { addr }, config);
        let mut connection = connector
            .connect(
                &endpoint("localhost", addr.port()),
                now().add_millis(TIMEOUT_MS),
            )
            .expect("handshake");
        assert!(matches!(connection, SchemeConnection::Tls(_)));
        assert_eq!(
            exchange(&mut connection, &request_body()),
            Ok(RESPONSE.to_vec())
        );
        assert_eq!(connection.close(CloseMode::Graceful), Ok(()));
        assert_request_received(&server.join());

        // Plain HTTP: a listener that answers whatever arrives, without TLS.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let plain_addr = listener.local_addr().expect("addr");
        let plain = std::thread::spawn(move || {
            use std::io::{Read as _, Write as _};
            let (mut tcp, _) = listener.accept().expect("accept");
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .expect("timeout");
            let mut received = Vec::new();
            let mut buf = [0u8; 1024];
            while !received.windows(4).any(|w| w == b"\r\n\r\n") {
                match tcp.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
            tcp.write_all(RESPONSE).expect("respond");
            received
        });
        *connector.inner_mut() = LoopbackTcp { addr: plain_addr };
        let http = Endpoint {
            scheme: Scheme::Http,
            host: "localhost",
            port: plain_addr.port(),
            path: "/v1/metrics",
        };
        let mut connection = connector
            .connect(&http, now().add_millis(TIMEOUT_MS))
            .expect("plain connect");
        assert!(matches!(connection, SchemeConnection::Plain(_)));
        assert_eq!(exchange(&mut connection, b""), Ok(RESPONSE.to_vec()));
        assert_eq!(connection.close(CloseMode::Graceful), Ok(()));
        let received = plain.join().expect("plain server");
        assert!(received.starts_with(b"POST /v1/metrics HTTP/1.1\r\n"));
    }

    #[test]
    fn options_from_env_prefer_the_metrics_variables() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/general/ca.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", "/metrics/ca.pem"),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                "/general/client.pem",
            ),
            ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", ""),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/general/client.key"),
        ];
        let options = TlsOptions::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| std::ffi::OsString::from(v))
        });
        assert_eq!(
            options,
            TlsOptions {
                ca_certificate: Some("/metrics/ca.pem".into()),
                client_certificate: Some("/general/client.pem".into()),
                client_key: Some("/general/client.key".into()),
            }
        );
        let incomplete = TlsOptions {
            client_certificate: Some("/x.pem".into()),
            ..Default::default()
        };
        assert_eq!(
            incomplete.client_config().err(),
            Some(otlp_embedded_std::tls::TlsConfigError::IncompleteIdentity)
        );
        // No CA file: the compiled-in roots, which build.
        assert!(TlsOptions::default().client_config().is_ok());
    }
}

mod firmware_client {
    use super::*;
    use otlp_embedded_tls::{
        ClientIdentity, NoClock, SigningKey, TlsClock, TlsConnector, TlsOptions, READ_BUFFER_LEN,
    };
    use p256::pkcs8::DecodePrivateKey;
    use rand_core::OsRng;

    /// A wall clock one day past the server certificate's not-after.
    struct AfterExpiry;
    impl TlsClock for AfterExpiry {
        fn now() -> Option<u64> {
            Some(SERVER_NOT_AFTER_UNIX + 86_400)
        }
    }

    /// A wall clock in 2026, inside the valid certificate's dates.
    struct Now2026;
    impl TlsClock for Now2026 {
        fn now() -> Option<u64> {
            Some(1_780_000_000)
        }
    }

    struct Buffers {
        read: Vec<u8>,
        write: Vec<u8>,
    }

    fn buffers() -> Buffers {
        Buffers {
            read: vec![0; READ_BUFFER_LEN],
            write: vec![0; 4096],
        }
    }

    /// Connect and exchange; the response, or the first error.
    fn run<K: TlsClock>(
        server: TlsServerOptions,
        trust: impl Fn(&TestPki) -> Vec<u8>,
        identity: bool,
        host: &str,
    ) -> (Result<Vec<u8>, TransportError>, ServerOutcome) {
        let pki = TestPki::generate();
        let (addr, handle) = start_tls_server(&pki, server);
        let ca = trust(&pki);
        let mut options = TlsOptions::new(&ca);
        if identity {
            options = options.with_identity(ClientIdentity {
                certificate_der: &pki.client.cert_der,
                key: SigningKey::from_pkcs8_der(&pki.client.key_der).expect("client key"),
            });
        }
        let mut b = buffers();
        let mut tls: TlsConnector<'_, LoopbackTcp, OsRng, K> = TlsConnector::new(
            LoopbackTcp { addr },
            OsRng,
            options,
            &mut b.read,
            &mut b.write,
        );
        let result = match tls.connect(&endpoint(host, addr.port()), now().add_millis(TIMEOUT_MS)) {
            Err(e) => Err(e),
            Ok(mut connection) => {
                let r = exchange(&mut connection, &request_body());
                let mode = if r.is_ok() {
                    CloseMode::Graceful
                } else {
                    CloseMode::Abort
                };
                connection.set_deadline(now().add_millis(TIMEOUT_MS));
                let closed = connection.close(mode);
                r.and_then(|response| closed.map(|()| response))
            }
        };
        if let Err(e) = result {
            assert_eq!(tls.last_failure(), Some(e), "last failure kept");
        }
        (result, handle.join())
    }

    fn ca(pki: &TestPki) -> Vec<u8> {
        pki.ca.cert_der.clone()
    }

    use embedded_io::{Read as _, Write as _};

    /// What the TLS layer did to the stream beneath.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Event {
        Write(usize),
        Flush,
        Close(CloseMode),
    }

    /// [`LoopbackTcp`] with every write, flush and close recorded.
    struct Recording {
        tcp: LoopbackTcp,
        events: std::rc::Rc<std::cell::RefCell<Vec<Event>>>,
    }
    struct RecordingConnection {
        inner: otlp_embedded_tests::tls_server::LoopbackConnection,
        events: std::rc::Rc<std::cell::RefCell<Vec<Event>>>,
    }
    impl Connect for Recording {
        type Connection<'c> = RecordingConnection;
        fn connect(
            &mut self,
            endpoint: &Endpoint<'_>,
            deadline: otlp_embedded::time::Instant,
        ) -> Result<RecordingConnection, TransportError> {
            Ok(RecordingConnection {
                inner: self.tcp.connect(endpoint, deadline)?,
                events: self.events.clone(),
            })
        }
    }
    impl embedded_io::ErrorType for RecordingConnection {
        type Error = std::io::Error;
    }
    impl embedded_io::Read for RecordingConnection {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
            self.inner.read(buf)
        }
    }
    impl embedded_io::Write for RecordingConnection {
        fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
            let n = self.inner.write(buf)?;
            self.events.borrow_mut().push(Event::Write(n));
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), std::io::Error> {
            self.events.borrow_mut().push(Event::Flush);
            self.inner.flush()
        }
    }
    impl Connection for RecordingConnection {
        fn set_deadline(&mut self, deadline: otlp_embedded::time::Instant) {
            self.inner.set_deadline(deadline);
        }
        fn close(self, mode: CloseMode) -> Result<(), TransportError> {
            self.events.borrow_mut().push(Event::Close(mode));
            self.inner.close(mode)
        }
    }

    /// Closing after the whole response but before the server's close_notify was read (as
    /// core's HTTP client does, by Content-Length) sends the client's close_notify and
    /// closes beneath without flushing in between: a flush that waits for the peer's
    /// acknowledgement (smoltcp's) would wait for a retransmission when the peer closes on
    /// reading close_notify (Linux does, without acknowledging it).
    #[test]
    fn graceful_close_sends_close_notify_without_waiting_for_it() {
        let pki = TestPki::generate();
        let (addr, handle) = start_tls_server(&pki, TlsServerOptions::default());
        let events = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut b = buffers();
        let mut tls: TlsConnector<'_, _, OsRng, NoClock> = TlsConnector::new(
            Recording {
                tcp: LoopbackTcp { addr },
                events: events.clone(),
            },
            OsRng,
            TlsOptions::new(&pki.ca.cert_der),
            &mut b.read,
            &mut b.write,
        );
        let mut connection = tls
            .connect(
                &endpoint("localhost", addr.port()),
                now().add_millis(TIMEOUT_MS),
            )
            .expect("handshake");
        let body = request_body();
        let head = format!(
            "POST /v1/metrics HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        connection.write_all(head.as_bytes()).expect("head");
        connection.write_all(&body).expect("body");
        connection.flush().expect("flush");
        let mut response = vec![0u8; RESPONSE.len()];
        connection.read_exact(&mut response).expect("response");
        assert_eq!(response, RESPONSE);
        let written_before_close = events.borrow().len();
        connection
            .close(CloseMode::Graceful)
            .expect("graceful close");
        let outcome = handle.join();
        assert_request_received(&outcome);
        assert!(outcome.client_close_notify, "{outcome:?}");
        // The close: one close_notify record (24 bytes: header, alert, type, tag), then the
        // close beneath; nothing waits for it in between.
        let events = events.borrow();
        assert_eq!(
            &events[written_before_close..],
            &[Event::Write(24), Event::Close(CloseMode::Graceful)],
            "{events:?}"
        );
    }

    #[test]
    fn right_ca_exchanges() {
        let (result, outcome) = run::<Now2026>(TlsServerOptions::default(), ca, false, "localhost");
        assert_eq!(result, Ok(RESPONSE.to_vec()));
        assert_request_received(&outcome);
    }

    #[test]
    fn wrong_ca_is_unknown_issuer() {
        let (result, outcome) = run::<NoClock>(
            TlsServerOptions::default(),
            |pki| pki.other_ca.cert_der.clone(),
            false,
            "localhost",
        );
        assert_eq!(result, Err(TransportError::Tls(TlsFailure::UnknownIssuer)));
        assert!(!outcome.responded);
    }

    #[test]
    fn wrong_host_name_is_a_mismatch() {
        let (result, outcome) =
            run::<NoClock>(TlsServerOptions::default(), ca, false, "collector.invalid");
        assert_eq!(
            result,
            Err(TransportError::Tls(TlsFailure::HostNameMismatch))
        );
        assert!(!outcome.responded);
    }

    #[test]
    fn clock_past_not_after_is_expired() {
        let (result, outcome) =
            run::<AfterExpiry>(TlsServerOptions::default(), ca, false, "localhost");
        assert_eq!(result, Err(TransportError::Tls(TlsFailure::Expired)));
        assert!(!outcome.responded);
    }

    #[test]
    fn expired_certificate_with_a_clock_is_expired() {
        let server = TlsServerOptions {
            presented: Presented::Expired,
            ..Default::default()
        };
        let (result, _) = run::<Now2026>(server, ca, false, "localhost");
        assert_eq!(result, Err(TransportError::Tls(TlsFailure::Expired)));
    }

    /// Documented behaviour: without a clock the dates are not checked.
    #[test]
    fn expired_certificate_without_a_clock_is_accepted() {
        let server = TlsServerOptions {
            presented: Presented::Expired,
            ..Default::default()
        };
        let (result, outcome) = run::<NoClock>(server, ca, false, "localhost");
        assert_eq!(result, Ok(RESPONSE.to_vec()));
        assert_request_received(&outcome);
    }

    #[test]
    fn missing_client_certificate_is_reported() {
        let server = TlsServerOptions {
            require_client_cert: true,
            ..Default::default()
        };
        let (result, outcome) = run::<NoClock>(server, ca, false, "localhost");
        assert_eq!(
            result,
            Err(TransportError::Tls(TlsFailure::ClientCertificateRequired))
        );
        assert!(!outcome.responded);
        assert!(outcome.error.is_some());
    }

    #[test]
    fn mutual_tls_with_client_certificate_succeeds() {
        let server = TlsServerOptions {
            require_client_cert: true,
            ..Default::default()
        };
        let (result, outcome) = run::<NoClock>(server, ca, true, "localhost");
        assert_eq!(result, Ok(RESPONSE.to_vec()));
        assert_request_received(&outcome);
    }

    #[test]
    fn tcp_end_without_close_notify_is_truncation() {
        let server = TlsServerOptions {
            close_notify: false,
            ..Default::default()
        };
        let (result, outcome) = run::<NoClock>(server, ca, false, "localhost");
        assert_eq!(result, Err(TransportError::Tls(TlsFailure::Truncated)));
        assert_request_received(&outcome);
    }

    /// embedded-tls 0.19 does not implement KeyUpdate: the read fails with an error value
    /// (no panic), so the export is kept and retried, as for any transport failure.
    #[test]
    fn key_update_before_the_response_is_an_error_not_a_panic() {
        let server = TlsServerOptions {
            key_update_before_response: true,
            ..Default::default()
        };
        let (result, outcome) = run::<NoClock>(server, ca, false, "localhost");
        assert_eq!(result, Err(TransportError::Tls(TlsFailure::Other)));
        // The client gives up on the KeyUpdate record and aborts; the server may still be
        // flushing the answer behind it, and then its flush fails with a broken pipe or a
        // reset. Either way the request arrived whole and nothing panicked.
        assert_request_decoded(&outcome);
        if let Some(error) = &outcome.error {
            assert!(
                error.starts_with("flush response:") || error.starts_with("write response:"),
                "{error}"
            );
        }
    }
}

/// Deadlines reach the stream beneath, and a server that never speaks ends the handshake
/// with the stream's own I/O error, not a TLS failure.
mod deadlines {
    use super::*;
    use embedded_io::{Read as _, Write as _};
    use otlp_embedded::time::Instant;
    use otlp_embedded_tests::tls_server::LoopbackConnection;
    use std::sync::{Arc, Mutex};

    /// Records every deadline handed to the connections it opens.
    struct Recording {
        tcp: LoopbackTcp,
        seen: Arc<Mutex<Vec<Instant>>>,
    }

    struct RecordingConnection {
        inner: LoopbackConnection,
        seen: Arc<Mutex<Vec<Instant>>>,
    }

    impl Connect for Recording {
        type Connection<'c> = RecordingConnection;
        fn connect(
            &mut self,
            endpoint: &Endpoint<'_>,
            deadline: Instant,
        ) -> Result<RecordingConnection, TransportError> {
            Ok(RecordingConnection {
                inner: self.tcp.connect(endpoint, deadline)?,
                seen: self.seen.clone(),
            })
        }
    }

    impl embedded_io::ErrorType for RecordingConnection {
        type Error = std::io::Error;
    }
    impl embedded_io::Read for RecordingConnection {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
            self.inner.read(buf)
        }
    }
    impl embedded_io::Write for RecordingConnection {
        fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
            self.inner.write(buf)
        }
        fn flush(&mut self) -> Result<(), std::io::Error> {
            self.inner.flush()
        }
    }
    impl Connection for RecordingConnection {
        fn set_deadline(&mut self, deadline: Instant) {
            self.seen.lock().expect("lock").push(deadline);
            self.inner.set_deadline(deadline);
        }
        fn close(self, mode: CloseMode) -> Result<(), TransportError> {
            self.inner.close(mode)
        }
    }

    /// A listener that accepts and then says nothing until the client goes away.
    fn silent_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let thread = std::thread::spawn(move || {
            use std::io::Read as _;
            if let Ok((mut tcp, _)) = listener.accept() {
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)));
                let mut buf = [0u8; 4096];
                while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
            }
        });
        (addr, thread)
    }

    fn check_deadlines<C: Connect>(
        mut tls: C,
        addr: std::net::SocketAddr,
        seen: &Mutex<Vec<Instant>>,
    ) {
        let first = now().add_millis(TIMEOUT_MS);
        let mut connection = tls
            .connect(&endpoint("localhost", addr.port()), first)
            .expect("handshake");
        assert_eq!(seen.lock().expect("lock").first(), Some(&first));
        // A later deadline reaches the stream beneath by the next read.
        // Shorter, so that the read below (the server waits for a whole request) ends soon.
        let second = now().add_millis(300);
        assert_ne!(second, first);
        connection.set_deadline(second);
        let mut buf = [0u8; 1];
        let _ = connection.write(b"x");
        let _ = connection.flush();
        let _ = connection.read(&mut buf);
        assert!(
            seen.lock().expect("lock").contains(&second),
            "deadline not forwarded: {:?}",
            seen.lock().expect("lock")
        );
        let _ = connection.close(CloseMode::Abort);
    }

    #[test]
    fn rustls_client_forwards_deadlines() {
        let pki = TestPki::generate();
        let dir = std::env::temp_dir().join(format!("otlp-tls-{}-deadline", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &pki.ca.cert_pem).expect("ca");
        let config = otlp_embedded_std::tls::TlsOptions {
            ca_certificate: Some(ca),
            ..Default::default()
        }
        .client_config()
        .expect("config");
        let _ = std::fs::remove_dir_all(&dir);
        let (addr, server) = start_tls_server(&pki, TlsServerOptions::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tcp = Recording {
            tcp: LoopbackTcp { addr },
            seen: seen.clone(),
        };
        check_deadlines(
            otlp_embedded_std::tls::TlsConnector::new(tcp, config.clone()),
            addr,
            &seen,
        );
        let _ = server.join();

        let (addr, silent) = silent_server();
        let mut tls = otlp_embedded_std::tls::TlsConnector::new(LoopbackTcp { addr }, config);
        let result = tls.connect(&endpoint("localhost", addr.port()), now().add_millis(200));
        assert!(
            matches!(result, Err(TransportError::Io(_))),
            "silent server: {:?}",
            result.err()
        );
        silent.join().expect("silent server");
    }

    #[test]
    fn firmware_client_forwards_deadlines() {
        use otlp_embedded_tls::{NoClock, TlsConnector, TlsOptions, READ_BUFFER_LEN};
        use rand_core::OsRng;
        let pki = TestPki::generate();
        let (addr, server) = start_tls_server(&pki, TlsServerOptions::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tcp = Recording {
            tcp: LoopbackTcp { addr },
            seen: seen.clone(),
        };
        let (mut read, mut write) = (vec![0u8; READ_BUFFER_LEN], vec![0u8; 2048]);
        let tls: TlsConnector<'_, _, OsRng, NoClock> = TlsConnector::new(
            tcp,
            OsRng,
            TlsOptions::new(&pki.ca.cert_der),
            &mut read,
            &mut write,
        );
        check_deadlines(tls, addr, &seen);
        let _ = server.join();

        let (addr, silent) = silent_server();
        let mut tls: TlsConnector<'_, _, OsRng, NoClock> = TlsConnector::new(
            LoopbackTcp { addr },
            OsRng,
            TlsOptions::new(&pki.ca.cert_der),
            &mut read,
            &mut write,
        );
        let result = tls.connect(&endpoint("localhost", addr.port()), now().add_millis(200));
        assert!(
            matches!(result, Err(TransportError::Io(_))),
            "silent server: {:?}",
            result.err()
        );
        silent.join().expect("silent server");
    }
}
