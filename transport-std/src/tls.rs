//! TLS for https endpoints on Linux: a [`TlsConnector`] that runs a rustls client over the
//! connections of any other [`Connect`] (the TCP connector of this crate, or a test double).
//!
//! rustls is driven by hand over the stream beneath (its `read_tls`/`write_tls` through a
//! small bridge), so the stream needs only `embedded-io`, each deadline core sets reaches the
//! stream beneath, and the end of the exchange is explicit:
//!
//! - a close_notify from the server reads as end of stream (`Ok(0)`);
//! - the TCP stream ending without one is [`TlsFailure::Truncated`], so a response cut off
//!   by an attacker or a crashing proxy is never taken as complete;
//! - `close(Graceful)` sends close_notify, then closes the stream beneath.
//!
//! Certificate failures are reported distinctly through [`Connection::classify`]:
//! [`TlsFailure::UnknownIssuer`], [`TlsFailure::HostNameMismatch`], [`TlsFailure::Expired`],
//! [`TlsFailure::ClientCertificateRequired`] (the server's `certificate_required` alert,
//! which TLS 1.3 servers send after the handshake, on the first read),
//! [`TlsFailure::BadCertificate`] (a certificate that does not decode),
//! [`TlsFailure::ProtocolVersion`] (the server's `protocol_version` alert: no TLS version in
//! common), [`TlsFailure::NoCommonParameters`] (its `handshake_failure` or
//! `insufficient_security` alert, or rustls finding no cipher suite, group or signature
//! scheme in common) and [`TlsFailure::Alert`] with the code of any other alert. All but
//! `Alert` and `Truncated` are permanent: the exporter does not retry them.
//!
//! ```no_run
//! # fn demo<C: otlp_embedded::transport::Connect>(tcp: C) -> Result<(), otlp_embedded_std::tls::TlsConfigError> {
//! use otlp_embedded_std::tls::{TlsConnector, TlsOptions};
//! // OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY, or the built-in roots.
//! let options = TlsOptions::from_env();
//! let connector = TlsConnector::new(tcp, options.client_config()?);
//! # let _ = connector; Ok(()) }
//! ```

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use otlp_embedded::time::Instant;
use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Scheme, TlsFailure, TransportError,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// Default port of an `https` endpoint that names none.
pub const HTTPS_DEFAULT_PORT: u16 = 443;

/// Which configured file a [`TlsConfigError`] is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TlsFile {
    /// The trusted CA certificates (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
    CaCertificate,
    /// The client certificate chain (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`).
    ClientCertificate,
    /// The client private key (`OTEL_EXPORTER_OTLP_CLIENT_KEY`).
    ClientKey,
}

/// Why TLS configuration could not be built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TlsConfigError {
    /// The file could not be read.
    Read(TlsFile, io::ErrorKind),
    /// The file held no PEM certificate or key, or a malformed one.
    Pem(TlsFile),
    /// A certificate was refused as a trust anchor.
    BadCaCertificate,
    /// Only one of client certificate and client key was given.
    IncompleteIdentity,
    /// rustls refused the client certificate and key (they do not match, or the key type
    /// is unsupported).
    BadIdentity,
}

impl core::fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TlsConfigError::Read(file, kind) => write!(f, "cannot read {file:?} file: {kind}"),
            TlsConfigError::Pem(file) => write!(f, "{file:?} file holds no valid PEM item"),
            TlsConfigError::BadCaCertificate => {
                f.write_str("CA certificate refused as trust anchor")
            }
            TlsConfigError::IncompleteIdentity => {
                f.write_str("client certificate and client key must be given together")
            }
            TlsConfigError::BadIdentity => f.write_str("client certificate and key refused"),
        }
    }
}

impl std::error::Error for TlsConfigError {}

/// What the client trusts and presents, as the OTLP exporter configuration names it.
///
/// Trust: when [`ca_certificate`](Self::ca_certificate) is set, only the certificates in
/// that PEM file are trusted (a private collector's CA; the public roots would only widen
/// who can impersonate it). Otherwise the Mozilla root program as compiled into
/// `webpki-roots` is trusted. The compiled-in roots are chosen over the system store so
/// that behaviour is the same on every machine, including minimal containers (distroless,
/// scratch) that ship no `/etc/ssl`, and so that no file is read at start-up; a service
/// that must honour a corporate root adds it with the CA file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of trusted CA certificates.
    pub ca_certificate: Option<PathBuf>,
    /// PEM file of the client certificate chain, for mutual TLS.
    pub client_certificate: Option<PathBuf>,
    /// PEM file of the client private key (PKCS#8, SEC1 or PKCS#1), for mutual TLS.
    pub client_key: Option<PathBuf>,
}

impl TlsOptions {
    /// Read `OTEL_EXPORTER_OTLP_METRICS_{CERTIFICATE,CLIENT_CERTIFICATE,CLIENT_KEY}`, each
    /// falling back to the `OTEL_EXPORTER_OTLP_` form. Empty values count as unset.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// As [`from_env`](Self::from_env), with variables from `lookup` (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        let get = |suffix: &str| {
            [
                format!("OTEL_EXPORTER_OTLP_METRICS_{suffix}"),
                format!("OTEL_EXPORTER_OTLP_{suffix}"),
            ]
            .iter()
            .find_map(|name| lookup(name).filter(|v| !v.is_empty()))
            .map(PathBuf::from)
        };
        TlsOptions {
            ca_certificate: get("CERTIFICATE"),
            client_certificate: get("CLIENT_CERTIFICATE"),
            client_key: get("CLIENT_KEY"),
        }
    }

    /// Build the rustls client configuration (ring provider, TLS 1.2 and 1.3).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsConfigError> {
        let ca = match &self.ca_certificate {
            Some(path) => Some(read_file(path, TlsFile::CaCertificate)?),
            None => None,
        };
        let identity = match (&self.client_certificate, &self.client_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((
                read_file(cert, TlsFile::ClientCertificate)?,
                read_file(key, TlsFile::ClientKey)?,
            )),
            _ => return Err(TlsConfigError::IncompleteIdentity),
        };
        client_config_from_pem(
            ca.as_deref(),
            identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
    }
}

/// The rustls client configuration from PEM text held in memory (a CA compiled into the
/// binary, say): trust only the certificates in `ca_pem` (the webpki roots when `None`),
/// and present `identity` (certificate chain PEM, private key PEM) when given. The same
/// rules as [`TlsOptions::client_config`], which reads these from files.
pub fn client_config_from_pem(
    ca_pem: Option<&[u8]>,
    identity: Option<(&[u8], &[u8])>,
) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let certificates = parse_certificates(pem, TlsFile::CaCertificate)?;
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|_| TlsConfigError::BadCaCertificate)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|_| TlsConfigError::BadIdentity)?
            .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = parse_certificates(cert, TlsFile::ClientCertificate)?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|_| TlsConfigError::Pem(TlsFile::ClientKey))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|_| TlsConfigError::BadIdentity)?
        }
    };
    Ok(Arc::new(config))
}

fn read_file(path: &PathBuf, file: TlsFile) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| TlsConfigError::Read(file, e.kind()))
}

fn parse_certificates(
    pem: &[u8],
    file: TlsFile,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsConfigError::Pem(file))?;
    if certificates.is_empty() {
        return Err(TlsConfigError::Pem(file));
    }
    Ok(certificates)
}

/// What a rustls error amounts to for the exporter.
pub fn classify_rustls(error: &rustls::Error) -> TlsFailure {
    use rustls::{AlertDescription, CertificateError, Error};
    match error {
        Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::HostNameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
            CertificateError::BadEncoding | CertificateError::UnhandledCriticalExtension => {
                TlsFailure::BadCertificate
            }
            CertificateError::BadSignature => TlsFailure::BadSignature,
            CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                TlsFailure::NoCommonParameters
            }
            _ => TlsFailure::Other,
        },
        Error::AlertReceived(AlertDescription::CertificateRequired) => {
            TlsFailure::ClientCertificateRequired
        }
        Error::AlertReceived(AlertDescription::ProtocolVersion) => TlsFailure::ProtocolVersion,
        Error::AlertReceived(
            AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
        ) => TlsFailure::NoCommonParameters,
        Error::AlertReceived(alert) => TlsFailure::Alert(u8::from(*alert)),
        Error::PeerIncompatible(incompatible) => {
            use rustls::PeerIncompatible as P;
            match incompatible {
                P::ServerDoesNotSupportTls12Or13
                | P::ServerTlsVersionIsDisabledByOurConfig
                | P::SupportedVersionsExtensionRequired
                | P::Tls12NotOffered
                | P::Tls12NotOfferedOrEnabled => TlsFailure::ProtocolVersion,
                _ => TlsFailure::NoCommonParameters,
            }
        }
        _ => TlsFailure::Other,
    }
}

/// An error from a TLS connection: the transport failure it amounts to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TlsError(pub TransportError);

impl core::fmt::Display for TlsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for TlsError {}

impl embedded_io::Error for TlsError {
    fn kind(&self) -> ErrorKind {
        match self.0 {
            TransportError::Io(kind) => kind,
            TransportError::Tls(TlsFailure::Truncated) => ErrorKind::ConnectionReset,
            TransportError::ConnectTimeout => ErrorKind::TimedOut,
            _ => ErrorKind::Other,
        }
    }
}

/// Opens TLS connections over the connections of `C`, verifying the server against the
/// configured roots and the endpoint's host name.
pub struct TlsConnector<C> {
    inner: C,
    config: Arc<ClientConfig>,
}

impl<C: Connect> TlsConnector<C> {
    /// A connector over `inner` with a rustls configuration (see [`TlsOptions`]).
    pub fn new(inner: C, config: Arc<ClientConfig>) -> Self {
        TlsConnector { inner, config }
    }

    /// The connector beneath.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }
}

impl<C: Connect> Connect for TlsConnector<C> {
    type Connection<'c>
        = TlsConnection<C::Connection<'c>>
    where
        Self: 'c;

    fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<Self::Connection<'_>, TransportError> {
        if endpoint.scheme != Scheme::Https {
            return Err(TransportError::UnsupportedScheme);
        }
        let name = ServerName::try_from(endpoint.host.to_owned())
            .map_err(|_| TransportError::Tls(TlsFailure::HostNameMismatch))?;
        let tls = ClientConnection::new(self.config.clone(), name)
            .map_err(|_| TransportError::Tls(TlsFailure::Other))?;
        // The connector beneath opens plain TCP: `https` is this layer's business, and
        // plain-stream connectors (this crate's TCP, smoltcp) refuse an `https` endpoint.
        let plain = Endpoint {
            scheme: Scheme::Http,
            ..*endpoint
        };
        let mut stream = self.inner.connect(&plain, deadline)?;
        stream.set_deadline(deadline);
        let mut connection = TlsConnection {
            tls,
            stream: Some(stream),
            failed: None,
            peer_closed: false,
        };
        match connection.handshake() {
            Ok(()) => Ok(connection),
            Err(e) => {
                let _ = connection.close(CloseMode::Abort);
                Err(e)
            }
        }
    }
}

/// Bridge from the stream beneath to the `std::io` traits rustls reads and writes records
/// with. The stream's own classification of an error is kept beside it.
struct Bridge<'a, S: Connection> {
    stream: &'a mut S,
    error: Option<TransportError>,
}

impl<S: Connection> io::Read for Bridge<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf).map_err(|e| {
            self.error = Some(self.stream.classify(&e));
            io::Error::other("stream beneath failed")
        })
    }
}

impl<S: Connection> io::Write for Bridge<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.stream.write(buf) {
            Ok(0) if !buf.is_empty() => {
                self.error = Some(TransportError::Io(ErrorKind::WriteZero));
                Err(io::Error::other("stream beneath wrote nothing"))
            }
            Ok(n) => Ok(n),
            Err(e) => {
                self.error = Some(self.stream.classify(&e));
                Err(io::Error::other("stream beneath failed"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush().map_err(|e| {
            self.error = Some(self.stream.classify(&e));
            io::Error::other("stream beneath failed")
        })
    }
}

/// An open TLS connection over a connection of the stream beneath.
pub struct TlsConnection<S: Connection> {
    tls: ClientConnection,
    /// `None` only once closed.
    stream: Option<S>,
    failed: Option<TransportError>,
    peer_closed: bool,
}

/// Bound on record exchanges per call, so that a peer feeding empty records cannot keep a
/// call looping; the deadline on the stream beneath bounds the time.
const MAX_ROUNDS: usize = 10_000;

impl<S: Connection> TlsConnection<S> {
    fn fail(&mut self, error: TransportError) -> TransportError {
        self.failed = Some(error);
        error
    }

    fn check(&self) -> Result<(), TransportError> {
        match self.failed {
            Some(e) => Err(e),
            None if self.stream.is_none() => Err(TransportError::Tls(TlsFailure::Other)),
            None => Ok(()),
        }
    }

    /// Send every record rustls has queued.
    fn send_pending(&mut self) -> Result<(), TransportError> {
        self.check()?;
        let Some(stream) = self.stream.as_mut() else {
            return Err(TransportError::Tls(TlsFailure::Other));
        };
        let mut bridge = Bridge {
            stream,
            error: None,
        };
        let mut rounds = 0;
        while self.tls.wants_write() {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(self.fail(TransportError::Tls(TlsFailure::Other)));
            }
            if self.tls.write_tls(&mut bridge).is_err() {
                let e = bridge.error.unwrap_or(TransportError::Io(ErrorKind::Other));
                return Err(self.fail(e));
            }
        }
        if io::Write::flush(&mut bridge).is_err() {
            let e = bridge.error.unwrap_or(TransportError::Io(ErrorKind::Other));
            return Err(self.fail(e));
        }
        Ok(())
    }

    /// Read one batch of records from the stream beneath and process them. Returns whether
    /// the stream beneath ended.
    fn receive(&mut self) -> Result<bool, TransportError> {
        self.check()?;
        let Some(stream) = self.stream.as_mut() else {
            return Err(TransportError::Tls(TlsFailure::Other));
        };
        let mut bridge = Bridge {
            stream,
            error: None,
        };
        let n = match self.tls.read_tls(&mut bridge) {
            Ok(n) => n,
            Err(_) => {
                let e = bridge
                    .error
                    .unwrap_or(TransportError::Tls(TlsFailure::Other));
                return Err(self.fail(e));
            }
        };
        if let Err(error) = self.tls.process_new_packets() {
            let failure = classify_rustls(&error);
            // rustls queued an alert telling the server why; send it if the stream allows.
            let _ = self.send_pending_ignoring_failure();
            return Err(self.fail(TransportError::Tls(failure)));
        }
        Ok(n == 0)
    }

    /// A server that refuses the handshake after the client's last flight (TLS 1.3 client
    /// authentication) sends an alert and closes, so the request write can fail before the
    /// alert is read. Read once to find it; otherwise keep the write error.
    fn explain_write_failure(&mut self, error: TransportError) -> TransportError {
        if !matches!(error, TransportError::Io(_)) {
            return error;
        }
        self.failed = None;
        let explained = match self.receive() {
            Err(TransportError::Tls(failure)) => TransportError::Tls(failure),
            _ => error,
        };
        self.fail(explained)
    }

    fn send_pending_ignoring_failure(&mut self) -> Result<(), TransportError> {
        let saved = self.failed.take();
        let result = self.send_pending();
        self.failed = saved;
        result
    }

    fn handshake(&mut self) -> Result<(), TransportError> {
        for _ in 0..MAX_ROUNDS {
            if self.tls.wants_write() {
                self.send_pending()?;
            } else if self.tls.is_handshaking() {
                if self.receive()? {
                    return Err(self.fail(TransportError::Tls(TlsFailure::Truncated)));
                }
            } else {
                return Ok(());
            }
        }
        Err(self.fail(TransportError::Tls(TlsFailure::Other)))
    }
}

impl<S: Connection> ErrorType for TlsConnection<S> {
    type Error = TlsError;
}

impl<S: Connection> Read for TlsConnection<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        if buf.is_empty() || self.peer_closed {
            return Ok(0);
        }
        // A request still queued would never get an answer.
        self.send_pending().map_err(TlsError)?;
        for _ in 0..MAX_ROUNDS {
            match io::Read::read(&mut self.tls.reader(), buf) {
                Ok(0) => {
                    // rustls says 0 only once the peer's close_notify arrived.
                    self.peer_closed = true;
                    return Ok(0);
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.receive().map_err(TlsError)?;
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(TlsError(
                        self.fail(TransportError::Tls(TlsFailure::Truncated)),
                    ));
                }
                Err(_) => {
                    return Err(TlsError(self.fail(TransportError::Tls(TlsFailure::Other))));
                }
            }
        }
        Err(TlsError(self.fail(TransportError::Tls(TlsFailure::Other))))
    }
}

impl<S: Connection> Write for TlsConnection<S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.check().map_err(TlsError)?;
        let n = io::Write::write(&mut self.tls.writer(), buf)
            .map_err(|_| TlsError(self.fail(TransportError::Tls(TlsFailure::Other))))?;
        // rustls queues without limit; send now so memory stays bounded by one call.
        self.send_pending()
            .map_err(|e| TlsError(self.explain_write_failure(e)))?;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), TlsError> {
        self.send_pending()
            .map_err(|e| TlsError(self.explain_write_failure(e)))
    }
}

impl<S: Connection> Connection for TlsConnection<S> {
    fn set_deadline(&mut self, deadline: Instant) {
        if let Some(stream) = self.stream.as_mut() {
            stream.set_deadline(deadline);
        }
    }

    fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        let mut result = Ok(());
        let mut mode = mode;
        if mode == CloseMode::Graceful && self.failed.is_none() {
            self.tls.send_close_notify();
            if let Err(e) = self.send_pending() {
                result = Err(e);
                mode = CloseMode::Abort;
            }
        }
        let Some(stream) = self.stream.take() else {
            return Err(TransportError::Tls(TlsFailure::Other));
        };
        let closed = stream.close(mode);
        result.and(closed)
    }

    fn classify(&self, error: &TlsError) -> TransportError {
        error.0
    }
}

/// Follows the endpoint's scheme: plain connections of `C` for `http`, TLS over them for
/// `https`. For exporters whose endpoint comes from configuration.
pub struct SchemeConnector<C> {
    tls: TlsConnector<C>,
}

impl<C: Connect> SchemeConnector<C> {
    /// Plain `http` through `inner`, `https` through rustls with `config` over `inner`.
    pub fn new(inner: C, config: Arc<ClientConfig>) -> Self {
        SchemeConnector {
            tls: TlsConnector::new(inner, config),
        }
    }

    /// The connector beneath.
    pub fn inner_mut(&mut self) -> &mut C {
        self.tls.inner_mut()
    }
}

/// A connection of [`SchemeConnector`]: plain or TLS, as the endpoint's scheme said.
// One connection lives at a time, on the exporter's stack; boxing the TLS state would only
// add an allocation per export.
#[allow(clippy::large_enum_variant)]
pub enum SchemeConnection<S: Connection> {
    /// `http`: the stream beneath as it is.
    Plain(S),
    /// `https`.
    Tls(TlsConnection<S>),
}

impl<C: Connect> Connect for SchemeConnector<C> {
    type Connection<'c>
        = SchemeConnection<C::Connection<'c>>
    where
        Self: 'c;

    fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<Self::Connection<'_>, TransportError> {
        match endpoint.scheme {
            Scheme::Http => self
                .tls
                .inner_mut()
                .connect(endpoint, deadline)
                .map(SchemeConnection::Plain),
            Scheme::Https => self
                .tls
                .connect(endpoint, deadline)
                .map(SchemeConnection::Tls),
        }
    }
}

impl<S: Connection> ErrorType for SchemeConnection<S> {
    type Error = TlsError;
}

impl<S: Connection> Read for SchemeConnection<S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        match self {
            SchemeConnection::Plain(s) => s.read(buf).map_err(|e| TlsError(s.classify(&e))),
            SchemeConnection::Tls(t) => t.read(buf),
        }
    }
}

impl<S: Connection> Write for SchemeConnection<S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        match self {
            SchemeConnection::Plain(s) => s.write(buf).map_err(|e| TlsError(s.classify(&e))),
            SchemeConnection::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> Result<(), TlsError> {
        match self {
            SchemeConnection::Plain(s) => s.flush().map_err(|e| TlsError(s.classify(&e))),
            SchemeConnection::Tls(t) => t.flush(),
        }
    }
}

impl<S: Connection> Connection for SchemeConnection<S> {
    fn set_deadline(&mut self, deadline: Instant) {
        match self {
            SchemeConnection::Plain(s) => s.set_deadline(deadline),
            SchemeConnection::Tls(t) => t.set_deadline(deadline),
        }
    }

    fn close(self, mode: CloseMode) -> Result<(), TransportError> {
        match self {
            SchemeConnection::Plain(s) => s.close(mode),
            SchemeConnection::Tls(t) => t.close(mode),
        }
    }

    fn classify(&self, error: &TlsError) -> TransportError {
        error.0
    }
}
