//! The two seams a user implements to carry OTLP requests over their own network stack.
//!
//! - Stream level, [`Connect`] + [`Connection`]: open a byte stream to the endpoint, hand it
//!   to core's HTTP/1.1 client, close it explicitly. Implement this for a TCP stack (std,
//!   smoltcp, embedded-nal, a modem's socket commands) or a wrapper such as TLS.
//! - Exchange level, [`Exchange`]: take one whole request and return the response. Implement
//!   this for stacks that already speak HTTP (a cellular modem's HTTP commands, a platform
//!   HTTP client). Core's [`crate::http::HttpClient`] turns any [`Connect`] into an
//!   [`Exchange`].
//!
//! Deadlines are absolute [`Instant`]s on the caller's monotonic clock. Core sets one before
//! each open, read, write and close, so wrappers forward it to the stream beneath and a peer
//! that trickles bytes ends at the deadline, not after some number of slow reads.

use crate::time::Instant;

/// URL scheme of an endpoint.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scheme {
    /// Plain TCP.
    Http,
    /// TLS over TCP.
    Https,
}

/// Where requests go: `scheme://host:port/path`, borrowed from the caller's configuration.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Endpoint<'a> {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// Host name or address literal, without brackets for IPv6.
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// Request target, starting with `/` (for OTLP metrics usually `/v1/metrics`).
    pub path: &'a str,
}

impl<'a> Endpoint<'a> {
    /// The OTLP/HTTP default: `http://localhost:4318/v1/metrics`.
    pub const DEFAULT: Endpoint<'static> = Endpoint {
        scheme: Scheme::Http,
        host: "localhost",
        port: 4318,
        path: "/v1/metrics",
    };

    /// Whether `port` is the scheme's default (80 for http, 443 for https), in which case
    /// the `Host` header leaves it out.
    pub fn has_default_port(&self) -> bool {
        matches!(
            (self.scheme, self.port),
            (Scheme::Http, 80) | (Scheme::Https, 443)
        )
    }
}

/// TLS failures that a transport can report distinctly.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TlsFailure {
    /// The server's certificate does not chain to a trusted root.
    UnknownIssuer,
    /// The certificate is not valid for the endpoint's host name.
    HostNameMismatch,
    /// The certificate has expired or is not yet valid.
    Expired,
    /// The server requires a client certificate and none (or a rejected one) was sent.
    ClientCertificateRequired,
    /// The peer sent this TLS alert (its description code).
    Alert(u8),
    /// The TCP stream ended without a TLS close_notify.
    Truncated,
    /// The server will not speak a TLS version the client offers (its `protocol_version`
    /// alert, 70): a TLS 1.2-only server met by a TLS 1.3-only client.
    ProtocolVersion,
    /// Client and server share no cipher suite, key exchange group or signature algorithm
    /// (the server's `handshake_failure` or `insufficient_security` alert, 40 or 71), or the
    /// server's certificates or handshake signature use an algorithm the client cannot
    /// verify (a cargo feature of the TLS crate may be off).
    NoCommonParameters,
    /// The server sent more certificates than the client accepts in one chain.
    ChainTooLong,
    /// A certificate the server sent does not decode (truncated or malformed DER), or
    /// carries a critical extension the client does not understand.
    BadCertificate,
    /// The server's handshake signature (TLS 1.3 CertificateVerify) does not verify with
    /// the key of its certificate.
    BadSignature,
    /// A trust anchor given to the client does not decode as an X.509 certificate.
    InvalidTrustAnchor,
    /// Any other handshake or record failure.
    Other,
}

impl core::fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TlsFailure::UnknownIssuer => f.write_str("certificate not issued by a trusted CA"),
            TlsFailure::HostNameMismatch => {
                f.write_str("certificate not valid for the endpoint's host name")
            }
            TlsFailure::Expired => f.write_str("certificate expired or not yet valid"),
            TlsFailure::ClientCertificateRequired => {
                f.write_str("server requires a client certificate")
            }
            TlsFailure::Alert(code) => write!(f, "server sent TLS alert {code}"),
            TlsFailure::Truncated => f.write_str("stream ended without close_notify"),
            TlsFailure::ProtocolVersion => {
                f.write_str("server does not speak the TLS version offered (protocol_version)")
            }
            TlsFailure::NoCommonParameters => f.write_str(
                "no cipher suite, group or signature algorithm in common with the server",
            ),
            TlsFailure::ChainTooLong => f.write_str("server's certificate chain too long"),
            TlsFailure::BadCertificate => f.write_str("server sent a malformed certificate"),
            TlsFailure::BadSignature => f.write_str("server's handshake signature does not verify"),
            TlsFailure::InvalidTrustAnchor => {
                f.write_str("a trust anchor does not decode as a certificate")
            }
            TlsFailure::Other => f.write_str("handshake or record failure"),
        }
    }
}

/// Why a DNS lookup gave no address, for transports that resolve names themselves.
///
/// [`ExchangeError::is_transient`](crate::http::ExchangeError::is_transient) retries the
/// failures that another query seconds later may not meet (no answer, a server failure,
/// a garbled or unmatched answer) and not the answers a server gave on purpose (the name
/// does not exist, has no address, the query was refused or its answer does not fit a UDP
/// message) nor configuration errors; the data is kept for the next export either way.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DnsFailure {
    /// The name does not exist (NXDOMAIN).
    NameNotFound,
    /// The name exists but has no address of the kinds asked for (NODATA).
    NoAddress,
    /// No answer arrived before the deadline.
    Timeout,
    /// Only answers that were not for this query arrived (wrong id, question or source).
    UnmatchedAnswers,
    /// The server could not answer (SERVFAIL).
    ServerFailure,
    /// The server refused or could not parse the query (REFUSED, NOTIMP, FORMERR, ...).
    Refused,
    /// The answer was truncated (TC): it does not fit a UDP message, and TCP is not tried.
    Truncated,
    /// The answer does not follow the DNS message format.
    Malformed,
    /// The host is not a valid DNS name (empty or over-long label, name over 253 bytes,
    /// a character outside letters, digits, `-` and `_`).
    InvalidName,
    /// No DNS server is configured.
    NoServer,
}

/// What went wrong below HTTP. Small and `Copy` so that it can be kept as a last error.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TransportError {
    /// An I/O error, as `embedded-io` classifies it (refused, reset, timed out, ...).
    Io(embedded_io::ErrorKind),
    /// The host name did not resolve to any address.
    Resolve,
    /// No address could be connected to before the deadline.
    ConnectTimeout,
    /// The endpoint's scheme is not supported by this transport (https without TLS).
    UnsupportedScheme,
    /// A TLS failure.
    Tls(TlsFailure),
    /// The transport has no free socket or local port to open a connection with.
    Exhausted,
    /// The transport's DNS lookup of the host failed.
    Dns(DnsFailure),
}

impl core::fmt::Display for TransportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TransportError::Io(kind) => write!(f, "i/o error: {kind:?}"),
            TransportError::Resolve => f.write_str("host name did not resolve"),
            TransportError::ConnectTimeout => f.write_str("connect timed out"),
            TransportError::UnsupportedScheme => {
                f.write_str("https endpoint needs the `tls` feature of this transport")
            }
            TransportError::Tls(t) => write!(f, "tls failure: {t}"),
            TransportError::Exhausted => f.write_str("no free socket or local port"),
            TransportError::Dns(d) => write!(f, "dns lookup failed: {d}"),
        }
    }
}

impl core::fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DnsFailure::NameNotFound => "name does not exist (NXDOMAIN)",
            DnsFailure::NoAddress => "name has no address record",
            DnsFailure::Timeout => "no answer before the deadline",
            DnsFailure::UnmatchedAnswers => "only answers not matching the query arrived",
            DnsFailure::ServerFailure => "server failure (SERVFAIL)",
            DnsFailure::Refused => "server refused the query",
            DnsFailure::Truncated => "answer truncated (does not fit UDP)",
            DnsFailure::Malformed => "malformed answer",
            DnsFailure::InvalidName => "host is not a valid DNS name",
            DnsFailure::NoServer => "no DNS server configured",
        })
    }
}

/// How a connection ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CloseMode {
    /// Orderly close: FIN (and TLS close_notify), waiting for the peer up to the deadline.
    Graceful,
    /// Abort at once (TCP RST where the stack allows), for a peer that misbehaved.
    Abort,
}

/// Stream seam, part one: something that opens byte streams to an endpoint.
pub trait Connect {
    /// The open connection. It may borrow the connector (a socket in a socket set).
    type Connection<'c>: Connection
    where
        Self: 'c;

    /// Open a connection to `endpoint`, giving up at `deadline`.
    fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<Self::Connection<'_>, TransportError>;
}

/// Stream seam, part two: an open byte stream that core reads, writes and closes itself.
///
/// `read` returning `Ok(0)` means the peer ended the stream. `write` returning `Ok(0)` is
/// treated as an error by core, never retried in a loop.
pub trait Connection: embedded_io::Read + embedded_io::Write {
    /// Set the absolute deadline for the reads, writes and close that follow. Core calls
    /// this before each of them; wrappers forward it to the stream beneath.
    fn set_deadline(&mut self, deadline: Instant);

    /// Close the connection. Core calls this exactly once per connection, on every path.
    fn close(self, mode: CloseMode) -> Result<(), TransportError>;

    /// Classify an error this connection returned. The default uses `embedded-io`'s kind;
    /// a TLS stream overrides it to report certificate failures distinctly.
    fn classify(&self, error: &Self::Error) -> TransportError {
        use embedded_io::Error as _;
        TransportError::Io(error.kind())
    }
}

/// One request header supplied by the caller, such as `Authorization`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header<'a> {
    /// Header name.
    pub name: &'a str,
    /// Header value.
    pub value: &'a str,
}

/// One OTLP/HTTP request, ready to send.
#[derive(Copy, Clone, Debug)]
pub struct HttpRequest<'a> {
    /// Where to send it.
    pub endpoint: &'a Endpoint<'a>,
    /// Extra headers from configuration (authorization and the like).
    pub headers: &'a [Header<'a>],
    /// `Content-Encoding` of the body, such as `gzip`, if any.
    pub content_encoding: Option<&'a str>,
    /// The encoded `ExportMetricsServiceRequest`.
    pub body: &'a [u8],
    /// The whole exchange ends by this instant.
    pub deadline: Instant,
}

/// A `Retry-After` value as the server sent it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RetryAfter {
    /// Delta-seconds from when the response arrived.
    Seconds(u32),
    /// An HTTP-date, as unix seconds.
    UnixSeconds(u64),
}

/// What a server answered, with the body kept in the caller's buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HttpResponse {
    /// Final status code (interim 1xx responses are skipped).
    pub status: u16,
    /// `Retry-After`, when present and valid.
    pub retry_after: Option<RetryAfter>,
    /// Whether `Content-Type` was `application/x-protobuf`: only then is the body decoded.
    pub body_is_protobuf: bool,
    /// Bytes of body kept in the caller's buffer, from its start.
    pub body_len: usize,
    /// Whether the body was longer than the buffer (the rest was drained or cut off).
    pub body_truncated: bool,
    /// Request bytes written.
    pub bytes_sent: usize,
    /// Response bytes read (status line, headers and body).
    pub bytes_received: usize,
}

/// Exchange seam: one whole request/response exchange.
pub trait Exchange {
    /// Send `request` and return the response, keeping as much of the body as fits in
    /// `response_body`. Implementations must finish by `request.deadline`.
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, crate::http::ExchangeError>;
}

impl<E: Exchange + ?Sized> Exchange for &mut E {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, crate::http::ExchangeError> {
        (**self).exchange(request, response_body)
    }
}
