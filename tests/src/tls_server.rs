//! A TLS test server on 127.0.0.1 (rustls, ring) with a test PKI made at run time (rcgen,
//! ECDSA P-256), and a minimal loopback TCP connector for the stream seam.
//!
//! The server accepts one connection, reads one HTTP/1.1 request, answers `200 OK` with an
//! empty `application/x-protobuf` body and `Connection: close`, sends close_notify (unless
//! told not to) and reports what it saw in a [`ServerOutcome`]. Every wait is bounded.
//!
//! The test PKI is the test kit's ([`otlp_embedded_test_kit::test_pki`]), re-exported
//! here, so that this one-connection server and the OTLP sink's TLS mode present the same
//! kind of certificates.

use std::io::{self, Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use embedded_io_adapters::std::FromStd;
use otlp_embedded::time::Instant;
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, TransportError};
use rustls::{ServerConfig, ServerConnection};

pub use otlp_embedded_test_kit::test_pki::{
    Identity, TestPki, EXPIRED_NOT_AFTER_UNIX, SERVER_NOT_AFTER_UNIX,
};

/// The exact response the server sends.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// How long the server waits for a connection, and for each read or write.
const SERVER_WAIT: Duration = Duration::from_secs(10);

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
    /// Send a TLS 1.3 KeyUpdate (asking the client to update too) before the response.
    pub key_update_before_response: bool,
}

impl Default for TlsServerOptions {
    fn default() -> Self {
        TlsServerOptions {
            presented: Presented::Valid,
            require_client_cert: false,
            close_notify: true,
            key_update_before_response: false,
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
    let tls = match (options.presented, options.require_client_cert) {
        (Presented::Valid, false) => pki.sink_tls(),
        (Presented::Valid, true) => pki.sink_tls_mutual(),
        (Presented::Expired, false) => pki.sink_tls_expired(),
        (Presented::Expired, true) => pki
            .sink_tls_expired()
            .require_client_cert(pki.ca.cert_der.clone()),
    };
    tls.server_config().expect("test server configuration")
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
    if options.key_update_before_response {
        if let Err(e) = conn.refresh_traffic_keys() {
            outcome.error = Some(format!("key update: {e}"));
            return outcome;
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
