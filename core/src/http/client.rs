//! The blocking driver: [`HttpClient`] over the stream seam.

use super::{Progress, ReaderConfig, RequestWriter, ResponseEnd, ResponseReader};
use crate::time::{Clock, Instant};
use crate::transport::{
    CloseMode, Connect, Connection, Exchange, ExchangeError, HttpRequest, HttpResponse, Stage,
    TransportError,
};

/// Default header buffer size of [`HttpClient`], in bytes.
pub const DEFAULT_HEAD_BUFFER: usize = 1024;

/// The shortest header buffer a client accepts: the length of the shortest complete response
/// head, `HTTP/1.1 200 OK\r\n\r\n`. A shorter one (a lent buffer cut too short, or a tiny
/// `HEAD_BYTES`) gets [`ExchangeError::HeadBufferTooSmall`] before anything is sent. Real
/// collectors' heads run to 100-300 bytes; [`DEFAULT_HEAD_BUFFER`] leaves room for more.
pub const MIN_HEAD_BUFFER: usize = b"HTTP/1.1 200 OK\r\n\r\n".len();

/// Refuse a header buffer that can hold no response, before connecting.
pub(crate) fn check_head_buffer(head: &[u8]) -> Result<(), ExchangeError> {
    if head.len() < MIN_HEAD_BUFFER {
        return Err(ExchangeError::HeadBufferTooSmall { len: head.len() });
    }
    Ok(())
}

/// Consecutive `Interrupted` errors tolerated before one is reported, so a stream that
/// keeps failing that way cannot spin while the clock stands still.
pub(crate) const MAX_INTERRUPTED: u8 = 8;

/// Core's HTTP/1.1 client: turns any [`Connect`] into an [`Exchange`].
///
/// Each exchange opens a connection, writes the request, reads the whole response and
/// closes the connection, exactly once on every path: [`CloseMode::Graceful`] after a
/// complete response, [`CloseMode::Abort`] after any error or when the body passed the
/// drain cap. Before each connect, read, write and close it sets the request's deadline
/// on the connection and checks the clock, so a peer that trickles bytes ends at the
/// deadline.
///
/// `HEAD_BYTES` is the header buffer size: a status line plus headers larger than this is
/// [`ExchangeError::HeadersTooLarge`]. [`HttpClient::new`] uses [`DEFAULT_HEAD_BUFFER`];
/// [`HttpClient::with_head_buffer`] takes another (`HttpClient::<_, _, 512>::with_head_buffer`).
/// The same buffer holds the request head while it is written and serves as the receive
/// buffer for the body.
///
/// `H` is where that buffer lives: inside the client by default (`[u8; HEAD_BYTES]`), or
/// lent by the caller with [`HttpClient::with_lent_head`] (`H = &mut [u8]`, its length the
/// limit, `HEAD_BYTES` unused), so that firmware can keep it in a `static` rather than in
/// the stack frame that holds the client.
///
/// ```
/// use otlp_embedded::http::HttpClient;
/// # use otlp_embedded::time::{Clock, Instant};
/// # use otlp_embedded::transport::*;
/// # struct Tcp;
/// # impl Connect for Tcp {
/// #     type Connection<'c> = Never;
/// #     fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<Never, TransportError> {
/// #         Err(TransportError::Io(embedded_io::ErrorKind::ConnectionRefused))
/// #     }
/// # }
/// # enum Never {}
/// # impl embedded_io::ErrorType for Never { type Error = embedded_io::ErrorKind; }
/// # impl embedded_io::Read for Never { fn read(&mut self, _: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> { match *self {} } }
/// # impl embedded_io::Write for Never {
/// #     fn write(&mut self, _: &[u8]) -> Result<usize, embedded_io::ErrorKind> { match *self {} }
/// #     fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> { match *self {} }
/// # }
/// # impl Connection for Never {
/// #     fn set_deadline(&mut self, _: Instant) { match *self {} }
/// #     fn close(self, _: CloseMode) -> Result<(), TransportError> { match self {} }
/// # }
/// # struct Ticks;
/// # impl Clock for Ticks { fn now(&self) -> Instant { Instant(0) } }
/// let mut client = HttpClient::new(Tcp, Ticks);
/// let request = HttpRequest::new(&Endpoint::DEFAULT, b"\x0a\x00", Instant(10_000));
/// let mut body = [0u8; 256];
/// let err = client.exchange(&request, &mut body).unwrap_err();
/// assert!(err.is_transient());
/// ```
#[derive(Debug)]
pub struct HttpClient<C, K, const HEAD_BYTES: usize = DEFAULT_HEAD_BUFFER, H = [u8; HEAD_BYTES]> {
    connector: C,
    clock: K,
    config: ReaderConfig,
    head: H,
}

// `new` and `with_config` only for the default header buffer, so that
// `HttpClient::new(connector, clock)` needs no type annotation.
impl<C: Connect, K: Clock> HttpClient<C, K> {
    /// A client with the default [`ReaderConfig`] and a [`DEFAULT_HEAD_BUFFER`]-byte header
    /// buffer.
    pub fn new(connector: C, clock: K) -> Self {
        Self::with_head_buffer(connector, clock, ReaderConfig::default())
    }

    /// A client with the given reader limits and a [`DEFAULT_HEAD_BUFFER`]-byte header
    /// buffer.
    pub fn with_config(connector: C, clock: K, config: ReaderConfig) -> Self {
        Self::with_head_buffer(connector, clock, config)
    }
}

impl<C: Connect, K: Clock, const HEAD_BYTES: usize> HttpClient<C, K, HEAD_BYTES> {
    /// A client with the given reader limits and a `HEAD_BYTES`-byte header buffer:
    /// `HttpClient::<_, _, 512>::with_head_buffer(connector, clock, ReaderConfig::default())`.
    pub fn with_head_buffer(connector: C, clock: K, config: ReaderConfig) -> Self {
        HttpClient {
            connector,
            clock,
            config,
            head: [0; HEAD_BYTES],
        }
    }
}

impl<'h, C: Connect, K: Clock> HttpClient<C, K, 0, &'h mut [u8]> {
    /// A client with the given reader limits whose header buffer `head` is lent by the
    /// caller (a `static` on firmware, so that it is not in the stack frame holding the
    /// client): a status line plus headers longer than `head` is
    /// [`ExchangeError::HeadersTooLarge`], and a `head` shorter than [`MIN_HEAD_BUFFER`]
    /// is [`ExchangeError::HeadBufferTooSmall`] before anything is sent. The client's type
    /// is `HttpClient<C, K, 0, &'h mut [u8]>` (the const parameter is unused), which is
    /// what a `static` or a struct holding it names.
    ///
    /// ```
    /// # use otlp_embedded::time::{Clock, Instant};
    /// # use otlp_embedded::transport::*;
    /// # struct Tcp;
    /// # impl Connect for Tcp {
    /// #     type Connection<'c> = Never;
    /// #     fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<Never, TransportError> {
    /// #         Err(TransportError::Io(embedded_io::ErrorKind::ConnectionRefused))
    /// #     }
    /// # }
    /// # enum Never {}
    /// # impl embedded_io::ErrorType for Never { type Error = embedded_io::ErrorKind; }
    /// # impl embedded_io::Read for Never { fn read(&mut self, _: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> { match *self {} } }
    /// # impl embedded_io::Write for Never {
    /// #     fn write(&mut self, _: &[u8]) -> Result<usize, embedded_io::ErrorKind> { match *self {} }
    /// #     fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> { match *self {} }
    /// # }
    /// # impl Connection for Never {
    /// #     fn set_deadline(&mut self, _: Instant) { match *self {} }
    /// #     fn close(self, _: CloseMode) -> Result<(), TransportError> { match self {} }
    /// # }
    /// # struct Ticks;
    /// # impl Clock for Ticks { fn now(&self) -> Instant { Instant(0) } }
    /// use otlp_embedded::http::{HttpClient, ReaderConfig};
    ///
    /// let mut head = [0u8; 512];
    /// let client = HttpClient::with_lent_head(Tcp, Ticks, ReaderConfig::new(), &mut head);
    /// assert!(core::mem::size_of_val(&client) < 64);
    /// ```
    pub fn with_lent_head(
        connector: C,
        clock: K,
        config: ReaderConfig,
        head: &'h mut [u8],
    ) -> Self {
        HttpClient {
            connector,
            clock,
            config,
            head,
        }
    }
}

impl<C: Connect, K: Clock, const HEAD_BYTES: usize, H> HttpClient<C, K, HEAD_BYTES, H> {
    /// The connector.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The connector, mutably (to poll a network stack between exports, for example).
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// The clock.
    pub fn clock(&self) -> &K {
        &self.clock
    }

    /// Take the client apart.
    pub fn into_parts(self) -> (C, K) {
        (self.connector, self.clock)
    }
}

impl<C: Connect, K: Clock, const HEAD_BYTES: usize, H: AsMut<[u8]>> Exchange
    for HttpClient<C, K, HEAD_BYTES, H>
{
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        // Used where it was built: moving the writer out of its `Result` would copy it.
        let mut started = RequestWriter::new(request);
        let writer = match &mut started {
            Ok(writer) => writer,
            Err(error) => return Err(*error),
        };
        check_head_buffer(self.head.as_mut())?;
        let deadline = request.deadline;
        if self.clock.now() >= deadline {
            return Err(ExchangeError::Timeout(Stage::Connect));
        }
        let mut conn = self
            .connector
            .connect(&request.endpoint, deadline)
            .map_err(connect_failure)?;
        let response_body_len = response_body.len();
        let mut reader = ResponseReader::new(self.head.as_mut(), response_body, self.config);
        let written = write_request(&mut conn, &self.clock, deadline, writer, &mut reader);
        let read = read_response(&mut conn, &self.clock, deadline, &mut reader);
        let result = match (written, read) {
            // An early answer is only believable as a refusal (413 while we still send): a
            // 2xx to a request that did not all go out is not a delivery.
            (Err(_), Ok(_)) if reader.response().is_some_and(|r| r.is_success()) => {
                Err(ExchangeError::SuccessBeforeRequestSent)
            }
            (_, Ok(ResponseEnd::DrainCapReached)) => {
                Err(too_large(&reader, response_body_len, self.config))
            }
            (_, Ok(end)) => Ok(end),
            // The server may answer early and close (413 while we still send); only when
            // no answer can be read either does the write error stand.
            (Err(w), Err(_)) => Err(w),
            (Ok(()), Err(r)) => Err(r),
        };
        let mode = match result {
            Ok(ResponseEnd::Complete) => CloseMode::Graceful,
            _ => CloseMode::Abort,
        };
        conn.set_deadline(deadline);
        // A failed close after a complete response does not undo the delivery; after an
        // error the first error is the one worth reporting.
        let _ = conn.close(mode);
        result?;
        let mut response = reader
            .response()
            .ok_or(ExchangeError::ClosedBeforeResponse)?;
        response.bytes_sent = writer.bytes_sent();
        Ok(response)
    }
}

/// The error for a response whose body went past the body buffer plus the drain cap
/// (`ResponseEnd::DrainCapReached`): the OTLP specification's non-retryable failure.
pub(crate) fn too_large(
    reader: &ResponseReader<'_>,
    body_buffer: usize,
    config: ReaderConfig,
) -> ExchangeError {
    ExchangeError::ResponseTooLarge {
        status: reader.response().map_or(0, |r| r.status),
        limit: body_buffer.saturating_add(config.drain_cap),
    }
}

/// A connect failure as an exchange reports it: a timeout names the connect stage.
pub(crate) fn connect_failure(error: TransportError) -> ExchangeError {
    match error {
        TransportError::ConnectTimeout | TransportError::Io(embedded_io::ErrorKind::TimedOut) => {
            ExchangeError::Timeout(Stage::Connect)
        }
        e => ExchangeError::Connect(e),
    }
}

/// Map an I/O failure of a read or write during `stage`.
pub(crate) fn io_failure(
    error: TransportError,
    stage: Stage,
    wrap: fn(TransportError) -> ExchangeError,
) -> ExchangeError {
    match error {
        TransportError::Io(embedded_io::ErrorKind::TimedOut) => ExchangeError::Timeout(stage),
        e => wrap(e),
    }
}

/// What one write's result does to the request: bytes advanced, an `Interrupted` retried
/// (up to [`MAX_INTERRUPTED`] in a row, counted in `interrupted`), or the exchange's error.
/// Shared by the blocking and async drivers, which differ only in how they wait.
pub(crate) fn after_write(
    writer: &mut RequestWriter<'_>,
    offered: usize,
    written: Result<usize, TransportError>,
    interrupted: &mut u8,
) -> Result<(), ExchangeError> {
    match written {
        Ok(0) => Err(ExchangeError::WriteZero),
        Ok(n) => {
            *interrupted = 0;
            writer.advance(n.min(offered));
            Ok(())
        }
        Err(e) => retry_interrupted(e, interrupted, Stage::Write, ExchangeError::Write),
    }
}

/// What one read's result does to the response: `Some` end once it is whole, `None` to
/// read again (more bytes needed, or an `Interrupted` retried as in [`after_write`]), or
/// the exchange's error (a peer that closed before the end is `ClosedEarly`).
pub(crate) fn after_read(
    reader: &mut ResponseReader<'_>,
    read: Result<usize, TransportError>,
    interrupted: &mut u8,
) -> Result<Option<ResponseEnd>, ExchangeError> {
    let progress = match read {
        Ok(0) => reader.eof()?,
        Ok(n) => {
            *interrupted = 0;
            reader.received(n)?
        }
        Err(e) => {
            return retry_interrupted(e, interrupted, reader.stage(), ExchangeError::Read)
                .map(|()| None)
        }
    };
    match progress {
        Progress::Done(end) => Ok(Some(end)),
        Progress::NeedMore if reader.is_finished() => {
            Err(ExchangeError::ClosedEarly(reader.stage()))
        }
        Progress::NeedMore => Ok(None),
    }
}

/// `Ok` to try again after an `Interrupted` (a bounded number of times in a row, so a
/// stream that keeps failing that way cannot spin while the clock stands still), else the
/// failure mapped for `stage`.
fn retry_interrupted(
    error: TransportError,
    interrupted: &mut u8,
    stage: Stage,
    wrap: fn(TransportError) -> ExchangeError,
) -> Result<(), ExchangeError> {
    if error == TransportError::Io(embedded_io::ErrorKind::Interrupted)
        && *interrupted < MAX_INTERRUPTED
    {
        *interrupted += 1;
        return Ok(());
    }
    Err(io_failure(error, stage, wrap))
}

fn write_request<T: Connection, K: Clock>(
    conn: &mut T,
    clock: &K,
    deadline: Instant,
    writer: &mut RequestWriter<'_>,
    reader: &mut ResponseReader<'_>,
) -> Result<(), ExchangeError> {
    let mut interrupted = 0u8;
    // Every write, and the flush after the last, is preceded by the same deadline check
    // and setting: one copy of them, at the top of the loop.
    loop {
        if clock.now() >= deadline {
            return Err(ExchangeError::Timeout(Stage::Write));
        }
        conn.set_deadline(deadline);
        if writer.is_done() {
            return conn
                .flush()
                .map_err(|e| io_failure(conn.classify(&e), Stage::Write, ExchangeError::Write));
        }
        let bytes = writer.next_bytes(reader.scratch());
        let offered = bytes.len();
        let written = conn.write(bytes).map_err(|e| conn.classify(&e));
        after_write(writer, offered, written, &mut interrupted)?;
    }
}

fn read_response<T: Connection, K: Clock>(
    conn: &mut T,
    clock: &K,
    deadline: Instant,
    reader: &mut ResponseReader<'_>,
) -> Result<ResponseEnd, ExchangeError> {
    let mut interrupted = 0u8;
    loop {
        if clock.now() >= deadline {
            return Err(ExchangeError::Timeout(reader.stage()));
        }
        conn.set_deadline(deadline);
        let read = conn.read(reader.recv_buf()).map_err(|e| conn.classify(&e));
        if let Some(end) = after_read(reader, read, &mut interrupted)? {
            return Ok(end);
        }
    }
}
