//! HTTP/1.1 exchange over the stream seam: write one request, read the whole response,
//! close the connection.
//!
//! The protocol code is sans-IO: [`RequestWriter`] is asked for the request bytes and told
//! how many were sent; [`ResponseReader`] is handed the bytes received and says whether it
//! needs more, is done or failed. Drivers are thin layers over those two:
//!
//! - [`HttpClient`]: blocking, over [`Connect`](crate::transport::Connect) /
//!   [`Connection`](crate::transport::Connection); it implements
//!   [`Exchange`](crate::transport::Exchange) for the exporter.
//! - [`PollExchange`]: for a superloop, driven one tick at a time over a non-blocking
//!   connection that reports readiness through `embedded_io::ReadReady` / `WriteReady`.
//!
//! Every request carries `Connection: close` and every connection is closed by core exactly
//! once: gracefully after a complete response, aborted after any error or when an oversize
//! body is cut off. No connection outlives an exchange, so a collector that closes idle
//! keep-alive connections can never make a later export fail half-way.
//!
//! ```
//! use otlp_embedded::http::{ResponseReader, ReaderConfig, Progress};
//!
//! let mut head = [0u8; 256];
//! let mut body = [0u8; 64];
//! let mut reader = ResponseReader::new(&mut head, &mut body, ReaderConfig::default());
//! let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
//! let (used, progress) = reader.feed(bytes).unwrap();
//! assert_eq!(used, bytes.len());
//! assert!(matches!(progress, Progress::Done(_)));
//! let response = reader.response().unwrap();
//! assert_eq!((response.status, response.body_len), (200, 2));
//! ```

mod client;
mod date;
mod poll;
mod reader;
mod request;

pub use client::{HttpClient, DEFAULT_HEAD_BUFFER};
pub use date::parse_retry_after;
pub use poll::{Finished, PollExchange};
pub use reader::{
    Progress, ReaderConfig, ResponseEnd, ResponseReader, DEFAULT_DRAIN_CAP, DEFAULT_MAX_CHUNK_LINE,
    MAX_HEADERS,
};
pub use request::{RequestWriter, USER_AGENT};

use crate::transport::{DnsFailure, TlsFailure, TransportError};

/// Where in an exchange something happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
pub enum Malformed {
    /// The status line is not `HTTP/1.x NNN reason`.
    StatusLine,
    /// A header field name is invalid.
    HeaderName,
    /// A header field value is invalid.
    HeaderValue,
    /// A line ending is invalid.
    NewLine,
    /// More header fields than the reader keeps track of (see [`MAX_HEADERS`]).
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
    /// The chunked trailer section was longer than `limit` bytes.
    TrailersTooLarge {
        /// The limit in bytes (the header buffer size).
        limit: usize,
    },
    /// A chunk-size line was longer than `limit` bytes.
    ChunkLineTooLong {
        /// The configured limit ([`ReaderConfig::max_chunk_line`]).
        limit: usize,
    },
    /// The response does not follow HTTP/1.1 syntax.
    Malformed(Malformed),
    /// The server answered `101 Switching Protocols`, which an OTLP POST never asks for.
    SwitchingProtocols,
    /// Both `Transfer-Encoding` and `Content-Length` were present.
    TransferEncodingWithContentLength,
    /// A `Transfer-Encoding` other than exactly `chunked`.
    UnsupportedTransferEncoding,
    /// `Content-Length` appeared more than once with the same value.
    DuplicateContentLength,
    /// `Content-Length` appeared more than once with different values.
    ConflictingContentLength,
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
    /// response, and every malformed or oversize response. A collector behind a load
    /// balancer that restarts or misbehaves briefly produces exactly these, so the exporter
    /// should back off and retry rather than lose data.
    ///
    /// Permanent (false): errors in the caller's configuration that the same request will
    /// hit again: an invalid header, host, path or content encoding, an unsupported scheme,
    /// TLS certificate rejections, a TLS server that shares no protocol version, cipher
    /// suite or signature algorithm with the client, and `InvalidInput` / `Unsupported` /
    /// `PermissionDenied` I/O errors from connecting; and DNS answers given on purpose (see
    /// [`DnsFailure`]): a name that does not exist may come back (a zone being repaired),
    /// but not within one export's seconds, so the export ends and keeps its data for the
    /// next one rather than asking the same server again and again.
    pub fn is_transient(&self) -> bool {
        match self {
            ExchangeError::Connect(e) | ExchangeError::Write(e) | ExchangeError::Read(e) => {
                transport_transient(e)
            }
            ExchangeError::InvalidHeader { .. }
            | ExchangeError::InvalidPath
            | ExchangeError::InvalidHost
            | ExchangeError::InvalidContentEncoding => false,
            _ => true,
        }
    }
}

fn transport_transient(e: &TransportError) -> bool {
    use embedded_io::ErrorKind as K;
    !matches!(
        e,
        TransportError::UnsupportedScheme
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
                let what = match problem {
                    HeaderProblem::EmptyName => "empty name",
                    HeaderProblem::NameNotToken => "name is not a token",
                    HeaderProblem::ValueControlByte => "value has a control byte",
                    HeaderProblem::Reserved => "name is set by core",
                };
                write!(f, "request header {index}: {what}")
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
                f.write_str("transfer-encoding other than chunked")
            }
            ExchangeError::DuplicateContentLength => f.write_str("duplicate content-length"),
            ExchangeError::ConflictingContentLength => f.write_str("conflicting content-length"),
            ExchangeError::SuccessBeforeRequestSent => {
                f.write_str("server answered 2xx before the request was fully written")
            }
        }
    }
}
