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
//! Each seam has a twin for a superloop that must never wait ([`PollConnect`] with
//! [`PollIo`], [`PollExchange`]; core's [`crate::http::PollHttpClient`] turns the first
//! into the second).
//!
//! Beneath the stream seam, [`Resolve`] turns an endpoint's host into addresses, one trait
//! for every transport (std, smoltcp, embedded-nal).
//!
//! The values that cross the seams live here too: [`Endpoint`], [`HttpRequest`],
//! [`HttpResponse`], and what can go wrong ([`TransportError`], [`ExchangeError`]), so that
//! core's HTTP client, a user's own exchange and the exporter share one vocabulary
//! without depending on each other.
//!
//! Deadlines are absolute [`Instant`]s on the caller's monotonic clock. Core sets one before
//! each open, read, write and close, so wrappers forward it to the stream beneath and a peer
//! that trickles bytes ends at the deadline, not after some number of slow reads.

#[cfg(feature = "async")]
mod asynch;
mod endpoint;
mod error;
mod poll;
mod resolve;

#[cfg(feature = "async")]
pub use asynch::{AsyncConnect, AsyncConnection, AsyncExchange, AsyncTimer};
pub use endpoint::{Endpoint, EndpointError, Scheme};
pub use error::{
    AddressFamily, DnsFailure, ExchangeError, HeaderProblem, Malformed, Stage, TlsFailure,
    TransportError,
};
pub use poll::{PollConnect, PollExchange, PollIo};
pub use resolve::Resolve;

use crate::time::Instant;

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

impl<'a> Header<'a> {
    /// A header `name: value`. Core checks both when it writes the request
    /// ([`ExchangeError::InvalidHeader`] names the header and the problem).
    pub const fn new(name: &'a str, value: &'a str) -> Self {
        Header { name, value }
    }
}

/// One OTLP/HTTP request, ready to send.
///
/// ```
/// use otlp_embedded::time::Instant;
/// use otlp_embedded::transport::{Endpoint, Header, HttpRequest};
///
/// let auth = [Header::new("Authorization", "Bearer t0k3n")];
/// let request = HttpRequest::new(&Endpoint::DEFAULT, b"\x0a\x00", Instant(5_000))
///     .with_headers(&auth);
/// assert_eq!((request.headers.len(), request.content_encoding), (1, None));
/// ```
#[derive(Copy, Clone, Debug)]
#[non_exhaustive]
pub struct HttpRequest<'a> {
    /// Where to send it. Held by value, so a request borrows only the configuration's
    /// strings and the body, never the object that built it (an exporter's policy).
    pub endpoint: Endpoint<'a>,
    /// Extra headers from configuration (authorization and the like).
    pub headers: &'a [Header<'a>],
    /// `Content-Encoding` of the body, such as `gzip`, if any.
    pub content_encoding: Option<&'a str>,
    /// The encoded `ExportMetricsServiceRequest`.
    pub body: &'a [u8],
    /// The whole exchange ends by this instant.
    pub deadline: Instant,
}

impl<'a> HttpRequest<'a> {
    /// A request carrying `body` to `endpoint`, to be answered by `deadline`, with no extra
    /// headers and no content encoding.
    pub const fn new(endpoint: &Endpoint<'a>, body: &'a [u8], deadline: Instant) -> Self {
        HttpRequest {
            endpoint: *endpoint,
            headers: &[],
            content_encoding: None,
            body,
            deadline,
        }
    }

    /// The same request with these extra headers.
    pub const fn with_headers(self, headers: &'a [Header<'a>]) -> Self {
        HttpRequest { headers, ..self }
    }

    /// The same request with its body in this `Content-Encoding` (`Some("gzip")`), or in
    /// none.
    pub const fn with_content_encoding(self, content_encoding: Option<&'a str>) -> Self {
        HttpRequest {
            content_encoding,
            ..self
        }
    }

    /// The same request with another body (a compressed copy, for example).
    pub const fn with_body(self, body: &'a [u8]) -> Self {
        HttpRequest { body, ..self }
    }

    /// The same request with another deadline.
    pub const fn with_deadline(self, deadline: Instant) -> Self {
        HttpRequest { deadline, ..self }
    }
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
///
/// A custom [`Exchange`] builds one from what its HTTP stack reports:
///
/// ```
/// use otlp_embedded::transport::{HttpResponse, RetryAfter};
///
/// // 503 with `Retry-After: 2` and a 12-byte protobuf body copied into the buffer.
/// let response = HttpResponse::new(503)
///     .with_retry_after(Some(RetryAfter::Seconds(2)))
///     .with_body(12, true)
///     .with_bytes(340, 140);
/// assert_eq!((response.status, response.body_len, response.body_truncated), (503, 12, false));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
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

impl HttpResponse {
    /// A response with `status`, no `Retry-After`, no body, and no bytes counted.
    pub const fn new(status: u16) -> Self {
        HttpResponse {
            status,
            retry_after: None,
            body_is_protobuf: false,
            body_len: 0,
            body_truncated: false,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// The same response with this `Retry-After` (as [`parse_retry_after`] gives it).
    ///
    /// [`parse_retry_after`]: crate::http::parse_retry_after
    pub const fn with_retry_after(self, retry_after: Option<RetryAfter>) -> Self {
        HttpResponse {
            retry_after,
            ..self
        }
    }

    /// The same response with `len` bytes of body kept at the start of the caller's buffer;
    /// `is_protobuf` when its `Content-Type` was `application/x-protobuf`.
    pub const fn with_body(self, len: usize, is_protobuf: bool) -> Self {
        HttpResponse {
            body_len: len,
            body_is_protobuf: is_protobuf,
            ..self
        }
    }

    /// The same response marked as having had a longer body than the buffer kept.
    pub const fn with_body_truncated(self, truncated: bool) -> Self {
        HttpResponse {
            body_truncated: truncated,
            ..self
        }
    }

    /// The same response with these byte counts: request bytes written, response bytes read.
    pub const fn with_bytes(self, sent: usize, received: usize) -> Self {
        HttpResponse {
            bytes_sent: sent,
            bytes_received: received,
            ..self
        }
    }

    /// Whether the status is 2xx.
    pub const fn is_success(&self) -> bool {
        self.status >= 200 && self.status < 300
    }
}

/// Exchange seam: one whole request/response exchange.
pub trait Exchange {
    /// Send `request` and return the response, keeping as much of the body as fits in
    /// `response_body`. Implementations must finish by `request.deadline`.
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError>;
}

impl<E: Exchange + ?Sized> Exchange for &mut E {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        (**self).exchange(request, response_body)
    }
}
