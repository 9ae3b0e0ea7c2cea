//! What can go wrong in an exchange: below HTTP ([`TransportError`]) and in the exchange
//! as a whole ([`ExchangeError`], with the [`Stage`] it happened in).
//!
//! These live beside the seams rather than with core's HTTP client because every
//! [`Exchange`](super::Exchange) reports them, including a user's own HTTP stack, and the
//! exporter decides between retrying and dropping from them alone.

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

/// Why a DNS lookup gave no address, for transports that resolve names themselves.
///
/// [`ExchangeError::is_transient`] retries the failures that another query seconds later
/// may not meet (no answer, a server failure, a garbled or unmatched answer) and not the
/// answers a server gave on purpose (the name does not exist, has no address, the query
/// was refused or its answer does not fit a UDP message) nor configuration errors; the
/// data is kept for the next export either way.
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
    /// The host is an IP address of a family the transport was built without (an IPv6
    /// literal where only IPv4 is built in, or the reverse), or every address its resolver
    /// found is: no attempt can reach it.
    UnsupportedAddressFamily(AddressFamily),
}

/// An IP address family, for errors that name one.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddressFamily {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl core::fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AddressFamily::Ipv4 => "IPv4",
            AddressFamily::Ipv6 => "IPv6",
        })
    }
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
            TransportError::UnsupportedAddressFamily(family) => write!(
                f,
                "host is an {family} address, and this transport was built without {family}"
            ),
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

/// Where in an exchange something happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Stage {
    /// Opening the connection.
    Connect,
    /// Writing the request.
    Write,
    /// Reading the status line.
    StatusLine,
    /// Reading header fields.
    Headers,
    /// Reading a body framed by `Content-Length`.
    ContentLengthBody,
    /// Reading a chunk-size line of a chunked body.
    ChunkSize,
    /// Reading chunk data (or the CRLF after it).
    ChunkData,
    /// Reading the trailer section after the last chunk.
    Trailers,
    /// Reading a body delimited by the connection closing.
    CloseDelimitedBody,
}

/// What is wrong with a caller-supplied request header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The name is empty.
    EmptyName,
    /// The name has a byte that is not an RFC 9110 token character.
    NameNotToken,
    /// The value has CR, LF, NUL or another control byte (HTAB is allowed).
    ValueControlByte,
    /// The name is one core writes itself (`Host`, `Content-Length`, `Content-Type`,
    /// `Transfer-Encoding`, `Connection`, `Content-Encoding`).
    Reserved,
}

/// A response that does not follow HTTP/1.1 syntax.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Malformed {
    /// The status line is not `HTTP/1.x NNN reason`.
    StatusLine,
    /// A header field name is invalid.
    HeaderName,
    /// A header field value is invalid.
    HeaderValue,
    /// A line ending is invalid.
    NewLine,
    /// More header fields than the reader keeps track of (see [`MAX_HEADERS`](crate::http::MAX_HEADERS)).
    TooManyHeaders,
    /// `Content-Length` is not a decimal number that fits in 64 bits.
    ContentLength,
    /// A chunk-size line is not hex digits followed by optional extensions.
    ChunkSize,
    /// A chunk size does not fit in 64 bits.
    ChunkSizeOverflow,
    /// Chunk data is not followed by CRLF.
    ChunkDataEnd,
}

/// Why an exchange failed.
///
/// Use [`ExchangeError::is_transient`] to decide between retrying and dropping.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExchangeError {
    /// Opening the connection failed.
    Connect(TransportError),
    /// Caller header number `index` (in `HttpRequest::headers`) is invalid. Nothing was sent.
    InvalidHeader {
        /// Index into the request's header slice.
        index: usize,
        /// What is wrong with it.
        problem: HeaderProblem,
    },
    /// The endpoint path is empty, does not start with `/`, or has spaces or control bytes.
    InvalidPath,
    /// The endpoint host is empty or has spaces, control bytes or `/`.
    InvalidHost,
    /// The `Content-Encoding` is not an RFC 9110 token.
    InvalidContentEncoding,
    /// The deadline passed during this stage.
    Timeout(Stage),
    /// Writing the request failed (and no response could be read afterwards).
    Write(TransportError),
    /// The connection accepted zero bytes of a write.
    WriteZero,
    /// Reading the response failed.
    Read(TransportError),
    /// The peer closed the connection before a complete status line arrived.
    ClosedBeforeResponse,
    /// The peer closed the connection in the middle of the response, at this stage.
    ClosedEarly(Stage),
    /// The status line and headers did not fit in the header buffer of `limit` bytes.
    HeadersTooLarge {
        /// Size of the header buffer in bytes.
        limit: usize,
    },
    /// The client's header buffer is shorter than [`MIN_HEAD_BUFFER`](crate::http::MIN_HEAD_BUFFER),
    /// the shortest complete response head: no response could be read, so the request is
    /// refused before connecting (sent, it would reach the collector with no way to learn
    /// its answer, and be sent again on retry). A configuration error: permanent.
    HeadBufferTooSmall {
        /// Length of the header buffer in bytes (less than `MIN_HEAD_BUFFER`).
        len: usize,
    },
    /// The chunked trailer section was longer than `limit` bytes.
    TrailersTooLarge {
        /// The limit in bytes (the header buffer size).
        limit: usize,
    },
    /// A chunk-size line was longer than `limit` bytes.
    ChunkLineTooLong {
        /// The configured limit ([`ReaderConfig::max_chunk_line`](crate::http::ReaderConfig::max_chunk_line)).
        limit: usize,
    },
    /// The response does not follow HTTP/1.1 syntax.
    Malformed(Malformed),
    /// The server answered `101 Switching Protocols`, which an OTLP POST never asks for.
    SwitchingProtocols,
    /// Both `Transfer-Encoding` and `Content-Length` were present.
    TransferEncodingWithContentLength,
    /// A `Transfer-Encoding` whose framing cannot be read: an empty list, or `chunked`
    /// applied more than once (RFC 9112 §7: a sender must not). Codings other than
    /// `chunked` are not this error: the body then runs to the close (or is chunked, when
    /// `chunked` comes last) and is kept as transfer-coded bytes.
    UnsupportedTransferEncoding,
    /// An HTTP/1.0 response with `Transfer-Encoding`: RFC 9112 §6.1 says to treat its
    /// framing as faulty (even with a `Content-Length`), so the response is discarded.
    TransferEncodingInHttp10,
    /// `Content-Length` appeared more than once with the same value.
    DuplicateContentLength,
    /// `Content-Length` appeared more than once with different values.
    ConflictingContentLength,
    /// The response body was longer than the client reads (`limit` bytes: the body buffer
    /// plus [`ReaderConfig::drain_cap`](crate::http::ReaderConfig::drain_cap)); the rest
    /// was not read and the connection was aborted. The OTLP specification makes this a
    /// non-retryable failure: the exporter drops the request's points (counted) rather than
    /// send them again.
    ResponseTooLarge {
        /// The status the oversized response carried.
        status: u16,
        /// The most body bytes the client reads.
        limit: usize,
    },
    /// The server answered 2xx before the whole request was written. It cannot have
    /// received the data, so this is not a delivery (a health-check responder or a broken
    /// proxy that answers at once); retried like a transport failure.
    SuccessBeforeRequestSent,
}

impl ExchangeError {
    /// Whether trying the same request again later may succeed.
    ///
    /// Transient (true): connection refused, reset or timed out, name resolution failures,
    /// exhausted sockets, any read or write failure, the peer closing before or during the
    /// response, and every malformed response or oversize header block. A collector
    /// behind a load balancer that restarts or misbehaves briefly produces exactly these,
    /// so the exporter should back off and retry rather than lose data.
    ///
    /// Permanent (false): errors in the caller's configuration that the same request will
    /// hit again: an invalid header, host, path or content encoding, a header buffer too
    /// short for any response head, an unsupported scheme,
    /// a host address of a family the transport was built without,
    /// TLS certificate rejections, a TLS server that shares no protocol version, cipher
    /// suite or signature algorithm with the client, and `InvalidInput` / `Unsupported` /
    /// `PermissionDenied` I/O errors from connecting; and DNS answers given on purpose (see
    /// [`DnsFailure`]): a name that does not exist may come back (a zone being repaired),
    /// but not within one export's seconds, so the export ends and keeps its data for the
    /// next one rather than asking the same server again and again.
    ///
    /// Not transient either, but about one request rather than the configuration:
    /// [`ExchangeError::ResponseTooLarge`], after which the exporter drops that request's
    /// points and goes on with the next request.
    pub fn is_transient(&self) -> bool {
        match self {
            ExchangeError::Connect(e) | ExchangeError::Write(e) | ExchangeError::Read(e) => {
                transport_transient(e)
            }
            ExchangeError::InvalidHeader { .. }
            | ExchangeError::ResponseTooLarge { .. }
            | ExchangeError::InvalidPath
            | ExchangeError::InvalidHost
            | ExchangeError::InvalidContentEncoding
            | ExchangeError::HeadBufferTooSmall { .. } => false,
            _ => true,
        }
    }
}

fn transport_transient(e: &TransportError) -> bool {
    use embedded_io::ErrorKind as K;
    !matches!(
        e,
        TransportError::UnsupportedScheme
            | TransportError::UnsupportedAddressFamily(_)
            | TransportError::Tls(
                TlsFailure::UnknownIssuer
                    | TlsFailure::HostNameMismatch
                    | TlsFailure::Expired
                    | TlsFailure::ClientCertificateRequired
                    | TlsFailure::ProtocolVersion
                    | TlsFailure::NoCommonParameters
                    | TlsFailure::ChainTooLong
                    | TlsFailure::BadCertificate
                    | TlsFailure::BadSignature
                    | TlsFailure::InvalidTrustAnchor,
            )
            | TransportError::Io(K::InvalidInput | K::Unsupported | K::PermissionDenied)
            | TransportError::Dns(
                DnsFailure::NameNotFound
                    | DnsFailure::NoAddress
                    | DnsFailure::Refused
                    | DnsFailure::Truncated
                    | DnsFailure::InvalidName
                    | DnsFailure::NoServer
            )
    )
}

impl core::fmt::Display for Stage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connect",
            Stage::Write => "request write",
            Stage::StatusLine => "status line",
            Stage::Headers => "response headers",
            Stage::ContentLengthBody => "content-length body",
            Stage::ChunkSize => "chunk-size line",
            Stage::ChunkData => "chunk data",
            Stage::Trailers => "chunked trailers",
            Stage::CloseDelimitedBody => "close-delimited body",
        })
    }
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Malformed::StatusLine => "invalid status line",
            Malformed::HeaderName => "invalid header name",
            Malformed::HeaderValue => "invalid header value",
            Malformed::NewLine => "invalid line ending",
            Malformed::TooManyHeaders => "too many header fields",
            Malformed::ContentLength => "invalid content-length",
            Malformed::ChunkSize => "invalid chunk-size line",
            Malformed::ChunkSizeOverflow => "chunk size overflows 64 bits",
            Malformed::ChunkDataEnd => "chunk data not followed by CRLF",
        })
    }
}

impl core::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExchangeError::Connect(e) => write!(f, "connect failed: {e}"),
            ExchangeError::InvalidHeader { index, problem } => {
                write!(f, "request header {index}: {problem}")
            }
            ExchangeError::InvalidPath => f.write_str("invalid endpoint path"),
            ExchangeError::InvalidHost => f.write_str("invalid endpoint host"),
            ExchangeError::InvalidContentEncoding => f.write_str("invalid content-encoding"),
            ExchangeError::Timeout(stage) => write!(f, "timed out during {stage}"),
            ExchangeError::Write(e) => write!(f, "request write failed: {e}"),
            ExchangeError::WriteZero => f.write_str("connection accepted zero bytes"),
            ExchangeError::Read(e) => write!(f, "response read failed: {e}"),
            ExchangeError::ClosedBeforeResponse => {
                f.write_str("connection closed before a response status line")
            }
            ExchangeError::ClosedEarly(stage) => write!(f, "connection closed during {stage}"),
            ExchangeError::HeadersTooLarge { limit } => {
                write!(f, "response headers exceed {limit} bytes")
            }
            ExchangeError::HeadBufferTooSmall { len } => write!(
                f,
                "a {len}-byte header buffer cannot hold any response head"
            ),
            ExchangeError::TrailersTooLarge { limit } => {
                write!(f, "chunked trailers exceed {limit} bytes")
            }
            ExchangeError::ChunkLineTooLong { limit } => {
                write!(f, "chunk-size line exceeds {limit} bytes")
            }
            ExchangeError::Malformed(m) => write!(f, "malformed response: {m}"),
            ExchangeError::SwitchingProtocols => f.write_str("unexpected 101 switching protocols"),
            ExchangeError::TransferEncodingWithContentLength => {
                f.write_str("both transfer-encoding and content-length")
            }
            ExchangeError::UnsupportedTransferEncoding => {
                f.write_str("transfer-encoding empty or chunked more than once")
            }
            ExchangeError::TransferEncodingInHttp10 => {
                f.write_str("transfer-encoding in an HTTP/1.0 response (faulty framing)")
            }
            ExchangeError::DuplicateContentLength => f.write_str("duplicate content-length"),
            ExchangeError::ConflictingContentLength => f.write_str("conflicting content-length"),
            ExchangeError::ResponseTooLarge { status, limit } => write!(
                f,
                "response (status {status}) has a body over the client's limit of {limit} bytes"
            ),
            ExchangeError::SuccessBeforeRequestSent => {
                f.write_str("server answered 2xx before the request was fully written")
            }
        }
    }
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

impl core::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HeaderProblem::EmptyName => "empty name",
            HeaderProblem::NameNotToken => "name is not a token",
            HeaderProblem::ValueControlByte => "value has a control byte",
            HeaderProblem::Reserved => "name is set by core",
        })
    }
}

// Each `Display` already says what the wrapped error says, so none of these reports it
// again as a `source`: an error chain printer would print it twice.
impl core::error::Error for TlsFailure {}

impl core::error::Error for DnsFailure {}

impl core::error::Error for TransportError {}

impl core::error::Error for HeaderProblem {}

impl core::error::Error for Malformed {}

impl core::error::Error for ExchangeError {}
