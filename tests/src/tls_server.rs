//! A TLS test server on 127.0.0.1 (rustls, ring) with a test PKI made at run time (rcgen,
//! ECDSA P-256), and a minimal loopback TCP connector for the stream seam.
//!
//! The server accepts one connection, reads one HTTP/1.1 request, answers `200 OK` with an
//! empty `application/x-protobuf` body and `Connection: close`, sends close_notify (unless
//! told not to) and reports what it saw in a [`ServerOutcome`]. Every wait is bounded.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use embedded_io_adapters::std::FromStd;
use otlp_embedded::time::Instant;
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, TransportError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

/// The exact response the server sends.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// How long the server waits for a connection, and for each read or write.
const SERVER_WAIT: Duration = Duration::from_secs(10);

/// A certificate with its PKCS#8 private key, in DER and PEM.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
    /// Certificate, PEM.
    pub cert_pem: String,
    /// PKCS#8 private key, DER.
    pub key_der: Vec<u8>,
    /// PKCS#8 private key, PEM.
    pub key_pem: String,
}

/// A test PKI: a trusted CA, an unrelated CA, and the certificates the server and client use.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The CA that signed every certificate below.
    pub ca: Identity,
    /// A CA that signed nothing here: trusting only it must fail.
    pub other_ca: Identity,
    /// Server certificate for `localhost` and `127.0.0.1`, valid 2020 to 2099.
    pub server: Identity,
    /// Server certificate for the same names, valid only from 2000 to 2020.
    pub expired: Identity,
    /// Client certificate for mutual TLS.
    pub client: Identity,
}

/// Not-after of [`TestPki::server`], in unix seconds (2099-01-01).
pub const SERVER_NOT_AFTER_UNIX: u64 = 4_070_908_800;

fn identity(cert: &rcgen::Certificate, key: &KeyPair) -> Identity {
    Identity {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
    }
}

fn make_ca(name: &str) -> (CertificateParams, KeyPair, Identity) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-signed CA");
    let id = identity(&cert, &key);
    (params, key, id)
}

fn make_leaf(
    issuer: &Issuer<'_, &KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    years: (i32, i32),
) -> Identity {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("leaf params");
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = vec![purpose];
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let cert = params.signed_by(&key, issuer).expect("signed leaf");
    identity(&cert, &key)
}

impl TestPki {
    /// Generate a fresh PKI (a few milliseconds).
    pub fn generate() -> Self {
        let (ca_params, ca_key, ca) = make_ca("otlp-embedded test CA");
        let (_, _, other_ca) = make_ca("otlp-embedded unrelated CA");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let names = ["localhost", "127.0.0.1"];
        TestPki {
            server: make_leaf(
                &issuer,
                &names,
                ExtendedKeyUsagePurpose::ServerAuth,
                (2020, 2099),
            ),
            expired: make_leaf(
                &issuer,
                &names,
                ExtendedKeyUsagePurpose::ServerAuth,
                (2000, 2020),
            ),
            client: make_leaf(
                &issuer,
                &["otlp-client"],
                ExtendedKeyUsagePurpose::ClientAuth,
                (2020, 2099),
            ),
            ca,
            other_ca,
        }
    }
}

/// Which certificate the server presents.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Presented {
    /// [`TestPki::server`].
    Valid,
    /// [`TestPki::expired`].
    Expired,
}

/// How the test server behaves.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TlsServerOptions {
    /// Which certificate to present.
    pub presented: Presented,
    /// Refuse clients without a certificate from the test CA.
    pub require_client_cert: bool,
    /// Send close_notify after the response; when false, the TCP stream just ends.
    pub close_notify: bool,
}

impl Default for TlsServerOptions {
    fn default() -> Self {
        TlsServerOptions {
            presented: Presented::Valid,
            require_client_cert: false,
            close_notify: true,
        }
    }
}

/// What the server saw on its one connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerOutcome {
    /// The request line and headers, as received.
    pub request_head: String,
    /// The request body (by Content-Length).
    pub request_body: Vec<u8>,
    /// Whether the response was written.
    pub responded: bool,
    /// Whether the client's close_notify arrived after the response.
    pub client_close_notify: bool,
    /// The first error the server met (handshake failures land here).
    pub error: Option<String>,
}

/// The running server; [`TlsServerHandle::join`] returns its outcome.
pub struct TlsServerHandle {
    thread: JoinHandle<ServerOutcome>,
}

impl TlsServerHandle {
    /// Wait for the server to finish its one connection (bounded by its own timeouts).
    pub fn join(self) -> ServerOutcome {
        self.thread.join().expect("tls server thread panicked")
    }
}

fn server_config(pki: &TestPki, options: &TlsServerOptions) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = if options.require_client_cert {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(pki.ca.cert_der.clone()))
            .expect("test CA");
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let id = match options.presented {
        Presented::Valid => &pki.server,
        Presented::Expired => &pki.expired,
    };
    let config = builder
        .with_single_cert(
            vec![CertificateDer::from(id.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone())),
        )
        .expect("server certificate");
    Arc::new(config)
}

/// Start a server for one connection on 127.0.0.1 and an ephemeral port.
pub fn start_tls_server(pki: &TestPki, options: TlsServerOptions) -> (SocketAddr, TlsServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    let config = server_config(pki, &options);
    let thread = std::thread::spawn(move || serve_one(listener, config, options));
    (addr, TlsServerHandle { thread })
}

fn accept_bounded(listener: &TcpListener) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let until = std::time::Instant::now() + SERVER_WAIT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                stream.set_read_timeout(Some(SERVER_WAIT))?;
                stream.set_write_timeout(Some(SERVER_WAIT))?;
                return Ok(stream);
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock && std::time::Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Content-Length of a request head, 0 when absent.
fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

fn serve_one(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    options: TlsServerOptions,
) -> ServerOutcome {
    let mut outcome = ServerOutcome::default();
    let mut tcp = match accept_bounded(&listener) {
        Ok(tcp) => tcp,
        Err(e) => {
            outcome.error = Some(format!("accept: {e}"));
            return outcome;
        }
    };
    let mut conn = ServerConnection::new(config).expect("server connection");
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            outcome.error = Some(format!("handshake: {e}"));
            return outcome;
        }
    }
    // Read the head, then the body by Content-Length. Bounded: the request is small and
    // every read has a timeout.
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&received[..end + 4]).into_owned();
            let want = content_length(&head);
            if received.len() >= end + 4 + want {
                outcome.request_body = received[end + 4..end + 4 + want].to_vec();
                outcome.request_head = head;
                break;
            }
        }
        if received.len() > 1 << 20 {
            outcome.error = Some("request too large".into());
            return outcome;
        }
        match rustls::Stream::new(&mut conn, &mut tcp).read(&mut buf) {
            Ok(0) => {
                outcome.error = Some("client closed before a whole request".into());
                return outcome;
            }
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => {
                outcome.error = Some(format!("read request: {e}"));
                return outcome;
            }
        }
    }
    if let Err(e) = rustls::Stream::new(&mut conn, &mut tcp).write_all(RESPONSE) {
        outcome.error = Some(format!("write response: {e}"));
        return outcome;
    }
    if options.close_notify {
        conn.send_close_notify();
    }
    while conn.wants_write() {
        if let Err(e) = conn.write_tls(&mut tcp) {
            outcome.error = Some(format!("flush response: {e}"));
            return outcome;
        }
    }
    outcome.responded = true;
    if !options.close_notify {
        // End the TCP stream without close_notify: a truncation as the client sees it.
        let _ = tcp.shutdown(Shutdown::Both);
        return outcome;
    }
    // Wait for the client's close_notify (rustls reads it as Ok(0)) or its TCP end.
    for _ in 0..64 {
        match rustls::Stream::new(&mut conn, &mut tcp).read(&mut buf) {
            Ok(0) => {
                outcome.client_close_notify = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
    outcome
}

/// Milliseconds on a process-wide monotonic clock, as core's [`Instant`].
pub fn now() -> Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(std::time::Instant::now);
    Instant(origin.elapsed().as_millis() as u64)
}

/// Test-only stream-seam connector: plain `std::net::TcpStream` to one fixed address,
/// whatever the endpoint's host says (so certificates can be checked against any name).
pub struct LoopbackTcp {
    /// Where every connection goes.
    pub addr: SocketAddr,
}

/// A connection of [`LoopbackTcp`].
pub struct LoopbackConnection {
    stream: FromStd<TcpStream>,
}

impl Connect for LoopbackTcp {
    type Connection<'c> = LoopbackConnection;

    fn connect(
        &mut self,
        _endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<LoopbackConnection, TransportError> {
        let wait = Duration::from_millis(now().millis_until(deadline).max(1));
        let stream = TcpStream::connect_timeout(&self.addr, wait)
            .map_err(|e| TransportError::Io(embedded_io::Error::kind(&e)))?;
        Ok(LoopbackConnection {
            stream: FromStd::new(stream),
        })
    }
}

impl embedded_io::ErrorType for LoopbackConnection {
    type Error = io::Error;
}

impl embedded_io::Read for LoopbackConnection {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        embedded_io::Read::read(&mut self.stream, buf)
    }
}

impl embedded_io::Write for LoopbackConnection {
    fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        embedded_io::Write::write(&mut self.stream, buf)
    }

    fn flush(&mut self) -> Result<(), io::Error> {
        embedded_io::Write::flush(&mut self.stream)
    }
}

impl Connection for LoopbackConnection {
    fn set_deadline(&mut self, deadline: Instant) {
        let wait = Some(Duration::from_millis(now().millis_until(deadline).max(1)));
        let _ = self.stream.inner().set_read_timeout(wait);
        let _ = self.stream.inner().set_write_timeout(wait);
    }

    fn close(self, mode: CloseMode) -> Result<(), TransportError> {
        let mut stream = self.stream.into_inner();
        if mode == CloseMode::Abort {
            let _ = stream.shutdown(Shutdown::Both);
            return Ok(());
        }
        stream
            .shutdown(Shutdown::Write)
            .map_err(|e| TransportError::Io(embedded_io::Error::kind(&e)))?;
        // Drain until the peer ends too; bounded by the read timeout and a count.
        let mut buf = [0u8; 512];
        for _ in 0..1024 {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        Ok(())
    }
}
