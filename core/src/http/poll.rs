//! The superloop driver: one exchange advanced a little on each call, never waiting.
//!
//! - [`NonBlockingExchange`]: the request writer and response reader over a non-blocking
//!   connection ([`PollIo`]) that is already open; the caller opens and closes it.
//! - [`PollHttpClient`]: the whole exchange over a [`PollConnect`]: connect, exchange,
//!   close, as core's [`PollExchange`]. The poll twin of [`HttpClient`](super::HttpClient).
//!
//! Both hold no borrow between calls: the request, the buffers and the connection are lent
//! on each call, so a firmware keeps its network stack for the rest of its loop.

use core::task::Poll;

use super::client::{
    check_head_buffer, connect_failure, io_failure, too_large, DEFAULT_HEAD_BUFFER,
};
use super::{Progress, ReaderConfig, ReaderState, RequestWriter, ResponseEnd, ResponseReader};
use crate::time::Instant;
use crate::transport::{
    CloseMode, ExchangeError, HttpRequest, HttpResponse, PollConnect, PollExchange, PollIo, Stage,
};

/// Reads or writes done in one [`NonBlockingExchange::poll`] call at most, so one tick
/// stays short.
const OPS_PER_POLL: usize = 16;

/// How a polled exchange ended, and how the caller must close the connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Finished {
    /// The response, or why there is none.
    pub result: Result<HttpResponse, ExchangeError>,
    /// Close the connection this way, exactly once: graceful only after a complete response.
    pub close: CloseMode,
}

/// One exchange over an open non-blocking connection, advanced by [`poll`](Self::poll).
///
/// The caller opens the connection, calls `poll` (each time with the same request, header
/// buffer and body buffer) until it is `Ready`, then closes the connection as
/// [`Finished::close`] says. The same request writer and response reader as
/// [`HttpClient`](super::HttpClient) do the protocol work. While the request cannot be
/// written, whatever the peer already sent is read, so a server that answers early (413)
/// and stops reading is heard, not waited on.
///
/// The header buffer's size is the header limit, and it holds the request head while it
/// is written; the body is kept in the body buffer.
#[derive(Copy, Clone, Debug)]
pub struct NonBlockingExchange {
    /// Request bytes written so far.
    sent: usize,
    reader: Option<ReaderState>,
    config: ReaderConfig,
    deadline: Instant,
    write_error: Option<ExchangeError>,
    flushed: bool,
    finished: Option<Finished>,
}

impl NonBlockingExchange {
    /// Prepare an exchange of `request`. Fails before anything is sent when the request
    /// is invalid.
    pub fn new(request: &HttpRequest<'_>, config: ReaderConfig) -> Result<Self, ExchangeError> {
        RequestWriter::new(request)?;
        Ok(NonBlockingExchange {
            sent: 0,
            reader: None,
            config,
            deadline: request.deadline,
            write_error: None,
            flushed: false,
            finished: None,
        })
    }

    /// Advance the exchange with what `conn` can do at `now`. Once `Ready`, every later
    /// call returns the same [`Finished`].
    pub fn poll<T: PollIo + ?Sized>(
        &mut self,
        conn: &mut T,
        request: &HttpRequest<'_>,
        head: &mut [u8],
        body: &mut [u8],
        now: Instant,
    ) -> Poll<Finished> {
        if let Some(done) = self.finished {
            return Poll::Ready(done);
        }
        let body_buffer = body.len();
        let mut writer = match RequestWriter::new(request) {
            Ok(writer) => writer,
            Err(e) => return Poll::Ready(self.finish(Err(e), CloseMode::Abort)),
        };
        writer.advance(self.sent);
        let mut reader = match self.reader {
            Some(state) => ResponseReader::resume(head, body, state),
            None => ResponseReader::new(head, body, self.config),
        };
        let step = self.step(conn, &mut writer, &mut reader, now);
        self.sent = writer.bytes_sent();
        self.reader = Some(reader.park());
        let Poll::Ready(result) = step else {
            return Poll::Pending;
        };
        if self.write_error.is_none() && writer.is_done() && !self.flushed {
            // The answer came in this very call, after the flush was last asked: ask once
            // more, so a request that did go out whole is not taken for an early answer.
            if let Poll::Ready(Ok(())) = conn.poll_flush(now) {
                self.flushed = true;
            }
        }
        let request_sent = self.write_error.is_none() && writer.is_done() && self.flushed;
        let answered_success = reader
            .response()
            .is_some_and(|r| (200..300).contains(&r.status));
        let result = match (result, self.write_error) {
            (Err(_), Some(w)) => Err(w),
            // Early answers stand only as refusals: a 2xx to a request that did not all go
            // out is not a delivery.
            (Ok(_), _) if answered_success && !request_sent => {
                Err(ExchangeError::SuccessBeforeRequestSent)
            }
            (Ok(ResponseEnd::DrainCapReached), _) => {
                Err(too_large(&reader, body_buffer, self.config))
            }
            (r, _) => r,
        };
        let close = match result {
            Ok(ResponseEnd::Complete) => CloseMode::Graceful,
            _ => CloseMode::Abort,
        };
        let result = result.and_then(|_| {
            let mut response = reader
                .response()
                .ok_or(ExchangeError::ClosedBeforeResponse)?;
            response.bytes_sent = writer.bytes_sent();
            Ok(response)
        });
        Poll::Ready(self.finish(result, close))
    }

    fn finish(
        &mut self,
        result: Result<HttpResponse, ExchangeError>,
        close: CloseMode,
    ) -> Finished {
        let done = Finished { result, close };
        self.finished = Some(done);
        done
    }

    fn step<T: PollIo + ?Sized>(
        &mut self,
        conn: &mut T,
        writer: &mut RequestWriter<'_>,
        reader: &mut ResponseReader<'_>,
        now: Instant,
    ) -> Poll<Result<ResponseEnd, ExchangeError>> {
        let writing = self.write_error.is_none() && !self.flushed;
        if now >= self.deadline {
            let stage = if writing {
                Stage::Write
            } else {
                reader.stage()
            };
            return Poll::Ready(Err(ExchangeError::Timeout(stage)));
        }
        let mut ops = 0usize;
        while self.write_error.is_none() && !writer.is_done() {
            if ops == OPS_PER_POLL {
                return Poll::Pending;
            }
            ops += 1;
            let bytes = writer.next_bytes(reader.scratch());
            let len = bytes.len();
            match conn.poll_write(bytes, now) {
                // The peer may have stopped reading because it already answered (413 and
                // close): look for that answer below instead of waiting to write.
                Poll::Pending => break,
                Poll::Ready(Ok(0)) => self.write_error = Some(ExchangeError::WriteZero),
                Poll::Ready(Ok(n)) => writer.advance(n.min(len)),
                Poll::Ready(Err(e)) => {
                    self.write_error = Some(io_failure(e, Stage::Write, ExchangeError::Write))
                }
            }
        }
        if self.write_error.is_none() && writer.is_done() && !self.flushed {
            match conn.poll_flush(now) {
                Poll::Ready(Ok(())) => self.flushed = true,
                Poll::Ready(Err(e)) => {
                    self.write_error = Some(io_failure(e, Stage::Write, ExchangeError::Write))
                }
                // Not pushed out yet: the answer may still be read meanwhile.
                Poll::Pending => {}
            }
        }
        loop {
            if ops == OPS_PER_POLL {
                return Poll::Pending;
            }
            ops += 1;
            let progress = match conn.poll_read(reader.recv_buf(), now) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => reader.eof(),
                Poll::Ready(Ok(n)) => reader.received(n),
                Poll::Ready(Err(e)) => Err(io_failure(e, reader.stage(), ExchangeError::Read)),
            };
            match progress {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Progress::Done(end)) => return Poll::Ready(Ok(end)),
                Ok(Progress::NeedMore) if reader.is_finished() => {
                    return Poll::Ready(Err(ExchangeError::ClosedEarly(reader.stage())))
                }
                Ok(Progress::NeedMore) => {}
            }
        }
    }
}

/// Where a [`PollHttpClient`] is in its exchange.
#[derive(Copy, Clone, Debug)]
enum Phase {
    /// No exchange: the next call starts one.
    Idle,
    /// Waiting for the connection.
    Connecting(NonBlockingExchange),
    /// Writing the request and reading the response.
    Exchanging(NonBlockingExchange),
    /// Closing the connection; the exchange's result waits for the close to end.
    Closing(Result<HttpResponse, ExchangeError>),
}

/// Core's HTTP/1.1 client for a superloop: turns any [`PollConnect`] into a
/// [`PollExchange`], never waiting.
///
/// Each exchange starts a connection, writes the request, reads the whole response and
/// closes the connection (gracefully after a complete response, aborted after anything
/// else), one step per call, with the connection lent on each call. The same rules as
/// [`HttpClient`](super::HttpClient) hold: every step ends by the request's deadline, and
/// every connection opened is closed before the result is returned. `HEAD_BYTES` is the
/// header buffer's size: a status line plus headers larger than this is
/// [`ExchangeError::HeadersTooLarge`].
///
/// `H` is where that buffer lives: inside the client by default (`[u8; HEAD_BYTES]`), or
/// lent by the caller with [`PollHttpClient::with_lent_head`] (`H = &mut [u8]`, its length
/// the limit, `HEAD_BYTES` unused), so that firmware can keep it in a `static` rather than
/// in the stack frame that holds the client.
///
/// ```
/// use core::task::Poll;
/// use otlp_embedded::http::PollHttpClient;
/// use otlp_embedded::time::Instant;
/// use otlp_embedded::transport::{
///     CloseMode, Endpoint, HttpRequest, PollConnect, PollExchange, PollIo, TransportError,
/// };
///
/// /// A transport whose connects are refused (a stand-in for a real non-blocking socket).
/// struct Refused;
/// impl PollIo for Refused {
///     fn poll_read(&mut self, _: &mut [u8], _: Instant) -> Poll<Result<usize, TransportError>> { Poll::Pending }
///     fn poll_write(&mut self, _: &[u8], _: Instant) -> Poll<Result<usize, TransportError>> { Poll::Pending }
///     fn poll_flush(&mut self, _: Instant) -> Poll<Result<(), TransportError>> { Poll::Ready(Ok(())) }
/// }
/// impl PollConnect for Refused {
///     fn start_connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<(), TransportError> { Ok(()) }
///     fn poll_connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Poll<Result<(), TransportError>> {
///         Poll::Ready(Err(TransportError::Io(embedded_io::ErrorKind::ConnectionRefused)))
///     }
///     fn start_close(&mut self, _: CloseMode, _: Instant) {}
///     fn poll_close(&mut self, _: Instant) -> Poll<Result<(), TransportError>> { Poll::Ready(Ok(())) }
/// }
///
/// let mut client = PollHttpClient::new();
/// let request = HttpRequest::new(&Endpoint::DEFAULT, b"\x0a\x00", Instant(5_000));
/// let mut body = [0u8; 64];
/// // One call per tick of the superloop; here the answer comes on the first.
/// let Poll::Ready(Err(error)) = client.poll_exchange(&mut Refused, &request, &mut body, Instant(0)) else {
///     unreachable!()
/// };
/// assert!(error.is_transient());
/// ```
#[derive(Clone, Debug)]
pub struct PollHttpClient<const HEAD_BYTES: usize = DEFAULT_HEAD_BUFFER, H = [u8; HEAD_BYTES]> {
    phase: Phase,
    /// The deadline of the exchange in progress (its close included).
    deadline: Instant,
    config: ReaderConfig,
    head: H,
}

impl PollHttpClient {
    /// A client with the default [`ReaderConfig`] and a
    /// [`DEFAULT_HEAD_BUFFER`](super::DEFAULT_HEAD_BUFFER)-byte header buffer.
    pub const fn new() -> Self {
        PollHttpClient::with_head_buffer(ReaderConfig::new())
    }

    /// A client with the given reader limits and the default header buffer.
    pub const fn with_config(config: ReaderConfig) -> Self {
        PollHttpClient::with_head_buffer(config)
    }
}

impl Default for PollHttpClient {
    fn default() -> Self {
        PollHttpClient::new()
    }
}

impl<const HEAD_BYTES: usize> PollHttpClient<HEAD_BYTES> {
    /// A client with the given reader limits and a `HEAD_BYTES`-byte header buffer:
    /// `PollHttpClient::<512>::with_head_buffer(ReaderConfig::new())`.
    pub const fn with_head_buffer(config: ReaderConfig) -> Self {
        PollHttpClient {
            phase: Phase::Idle,
            deadline: Instant(0),
            config,
            head: [0; HEAD_BYTES],
        }
    }
}

impl<'h> PollHttpClient<0, &'h mut [u8]> {
    /// A client with the given reader limits whose header buffer `head` is lent by the
    /// caller (a `static` on firmware, so that it is not in the stack frame holding the
    /// client): a status line plus headers longer than `head` is
    /// [`ExchangeError::HeadersTooLarge`].
    ///
    /// ```
    /// use otlp_embedded::http::{PollHttpClient, ReaderConfig};
    ///
    /// let mut head = [0u8; 512];
    /// let client = PollHttpClient::with_lent_head(ReaderConfig::new(), &mut head);
    /// // The 512 bytes are not in the client, as they are in one that owns its buffer.
    /// let owned = core::mem::size_of::<PollHttpClient<512>>();
    /// assert!(core::mem::size_of_val(&client) + 512 - 16 <= owned);
    /// ```
    pub const fn with_lent_head(config: ReaderConfig, head: &'h mut [u8]) -> Self {
        PollHttpClient {
            phase: Phase::Idle,
            deadline: Instant(0),
            config,
            head,
        }
    }
}

impl<const HEAD_BYTES: usize, H> PollHttpClient<HEAD_BYTES, H> {
    /// Whether an exchange is in progress (a connection may be open).
    pub fn is_busy(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }
}

impl<C: PollConnect + ?Sized, const HEAD_BYTES: usize, H: AsMut<[u8]>> PollExchange<C>
    for PollHttpClient<HEAD_BYTES, H>
{
    fn poll_exchange(
        &mut self,
        conn: &mut C,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
        now: Instant,
    ) -> Poll<Result<HttpResponse, ExchangeError>> {
        // Each turn moves to a later phase or returns: at most four turns.
        loop {
            match self.phase {
                Phase::Idle => {
                    let exchange = match NonBlockingExchange::new(request, self.config) {
                        Ok(exchange) => exchange,
                        Err(e) => return Poll::Ready(Err(e)),
                    };
                    if let Err(e) = check_head_buffer(self.head.as_mut()) {
                        return Poll::Ready(Err(e));
                    }
                    self.deadline = request.deadline;
                    if now >= self.deadline {
                        return Poll::Ready(Err(ExchangeError::Timeout(Stage::Connect)));
                    }
                    if let Err(e) = conn.start_connect(&request.endpoint, self.deadline) {
                        return Poll::Ready(Err(connect_failure(e)));
                    }
                    self.phase = Phase::Connecting(exchange);
                }
                Phase::Connecting(exchange) => match conn.poll_connect(&request.endpoint, now) {
                    Poll::Ready(Ok(())) => self.phase = Phase::Exchanging(exchange),
                    Poll::Ready(Err(e)) => {
                        // A connect that failed leaves nothing open, but the transport may
                        // hold a half-made one: make sure it is gone.
                        conn.start_close(CloseMode::Abort, self.deadline);
                        let _ = conn.poll_close(now);
                        self.phase = Phase::Idle;
                        return Poll::Ready(Err(connect_failure(e)));
                    }
                    Poll::Pending if now >= self.deadline => {
                        conn.start_close(CloseMode::Abort, self.deadline);
                        let _ = conn.poll_close(now);
                        self.phase = Phase::Idle;
                        return Poll::Ready(Err(ExchangeError::Timeout(Stage::Connect)));
                    }
                    Poll::Pending => return Poll::Pending,
                },
                Phase::Exchanging(mut exchange) => {
                    let polled =
                        exchange.poll(conn, request, self.head.as_mut(), response_body, now);
                    match polled {
                        Poll::Pending => {
                            self.phase = Phase::Exchanging(exchange);
                            return Poll::Pending;
                        }
                        Poll::Ready(Finished { result, close }) => {
                            conn.start_close(close, self.deadline);
                            self.phase = Phase::Closing(result);
                        }
                    }
                }
                Phase::Closing(result) => match conn.poll_close(now) {
                    Poll::Pending => return Poll::Pending,
                    // A failed close after a complete response does not undo the delivery;
                    // after an error the first error is the one worth reporting.
                    Poll::Ready(_) => {
                        self.phase = Phase::Idle;
                        return Poll::Ready(result);
                    }
                },
            }
        }
    }

    fn cancel(&mut self, conn: &mut C) {
        if self.is_busy() {
            conn.start_close(CloseMode::Abort, self.deadline);
            let _ = conn.poll_close(self.deadline);
            self.phase = Phase::Idle;
        }
    }
}
