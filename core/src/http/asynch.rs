//! The async driver (feature `async`): [`AsyncHttpClient`] over the async stream seam,
//! with the same request writer and response reader as the blocking client.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use super::client::{
    after_read, after_write, check_head_buffer, connect_failure, io_failure, too_large,
    DEFAULT_HEAD_BUFFER,
};
use super::{ReaderConfig, RequestWriter, ResponseEnd, ResponseReader};
use crate::time::Instant;
use crate::transport::{
    AsyncConnect, AsyncConnection, AsyncExchange, AsyncTimer, CloseMode, ExchangeError,
    HttpRequest, HttpResponse, Stage,
};

/// Run `work` until it completes or `timer` reaches `deadline`, whichever comes first:
/// `None` when the deadline came first (`work` is then dropped). No executor, no
/// allocation: both futures live on this one's stack and are polled in turn.
pub async fn with_deadline<T, F>(timer: &T, deadline: Instant, work: F) -> Option<F::Output>
where
    T: AsyncTimer + ?Sized,
    F: Future,
{
    let mut work = pin!(work);
    let mut expiry = pin!(timer.wait_until(deadline));
    poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        match expiry.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Core's async HTTP/1.1 client: turns any [`AsyncConnect`] into an [`AsyncExchange`].
///
/// The async twin of [`HttpClient`](super::HttpClient), with the same rules: each exchange
/// opens a connection, writes the request, reads the whole response and closes the
/// connection, exactly once on every path (graceful after a complete response, aborted
/// otherwise). Every connect, write, read and close is raced against the request's
/// deadline on the [`AsyncTimer`], so a peer that trickles bytes, or a stack that never
/// answers, ends at the deadline. `HEAD_BYTES` is the header buffer's size (a status line
/// plus headers larger than this is [`ExchangeError::HeadersTooLarge`]); the buffer is
/// kept in the client, not in the exchange's future.
///
/// `H` is where that buffer lives: inside the client by default (`[u8; HEAD_BYTES]`), or
/// lent by the caller with [`AsyncHttpClient::with_lent_head`] (`H = &mut [u8]`, its length
/// the limit, `HEAD_BYTES` unused), so that firmware can keep it in a `static` rather than
/// in the task that holds the client.
#[derive(Debug)]
pub struct AsyncHttpClient<
    C,
    T,
    const HEAD_BYTES: usize = DEFAULT_HEAD_BUFFER,
    H = [u8; HEAD_BYTES],
> {
    connector: C,
    timer: T,
    config: ReaderConfig,
    head: H,
}

impl<C: AsyncConnect, T: AsyncTimer> AsyncHttpClient<C, T> {
    /// A client with the default [`ReaderConfig`] and a [`DEFAULT_HEAD_BUFFER`]-byte
    /// header buffer.
    pub fn new(connector: C, timer: T) -> Self {
        Self::with_head_buffer(connector, timer, ReaderConfig::default())
    }

    /// A client with the given reader limits and the default header buffer.
    pub fn with_config(connector: C, timer: T, config: ReaderConfig) -> Self {
        Self::with_head_buffer(connector, timer, config)
    }
}

impl<C: AsyncConnect, T: AsyncTimer, const HEAD_BYTES: usize> AsyncHttpClient<C, T, HEAD_BYTES> {
    /// A client with the given reader limits and a `HEAD_BYTES`-byte header buffer.
    pub fn with_head_buffer(connector: C, timer: T, config: ReaderConfig) -> Self {
        AsyncHttpClient {
            connector,
            timer,
            config,
            head: [0; HEAD_BYTES],
        }
    }
}

impl<'h, C: AsyncConnect, T: AsyncTimer> AsyncHttpClient<C, T, 0, &'h mut [u8]> {
    /// A client with the given reader limits whose header buffer `head` is lent by the
    /// caller (a `static` on firmware, so that it is not in the task holding the client):
    /// a status line plus headers longer than `head` is [`ExchangeError::HeadersTooLarge`].
    ///
    /// ```
    /// # use otlp_embedded::time::{Clock, Instant};
    /// # use otlp_embedded::transport::*;
    /// # struct Tcp;
    /// # impl AsyncConnect for Tcp {
    /// #     type Connection<'c> = Never;
    /// #     async fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<Never, TransportError> {
    /// #         Err(TransportError::Io(embedded_io::ErrorKind::ConnectionRefused))
    /// #     }
    /// # }
    /// # enum Never {}
    /// # impl embedded_io_async::ErrorType for Never { type Error = embedded_io::ErrorKind; }
    /// # impl embedded_io_async::Read for Never { async fn read(&mut self, _: &mut [u8]) -> Result<usize, embedded_io::ErrorKind> { match *self {} } }
    /// # impl embedded_io_async::Write for Never {
    /// #     async fn write(&mut self, _: &[u8]) -> Result<usize, embedded_io::ErrorKind> { match *self {} }
    /// #     async fn flush(&mut self) -> Result<(), embedded_io::ErrorKind> { match *self {} }
    /// # }
    /// # impl AsyncConnection for Never {
    /// #     fn set_deadline(&mut self, _: Instant) { match *self {} }
    /// #     async fn close(self, _: CloseMode) -> Result<(), TransportError> { match self {} }
    /// # }
    /// # struct Ticks;
    /// # impl Clock for Ticks { fn now(&self) -> Instant { Instant(0) } }
    /// # impl AsyncTimer for Ticks { async fn wait_until(&self, _: Instant) {} }
    /// use otlp_embedded::http::{AsyncHttpClient, ReaderConfig};
    ///
    /// let mut head = [0u8; 512];
    /// let client = AsyncHttpClient::with_lent_head(Tcp, Ticks, ReaderConfig::new(), &mut head);
    /// assert!(core::mem::size_of_val(&client) < 64);
    /// ```
    pub fn with_lent_head(
        connector: C,
        timer: T,
        config: ReaderConfig,
        head: &'h mut [u8],
    ) -> Self {
        AsyncHttpClient {
            connector,
            timer,
            config,
            head,
        }
    }
}

impl<C: AsyncConnect, T: AsyncTimer, const HEAD_BYTES: usize, H>
    AsyncHttpClient<C, T, HEAD_BYTES, H>
{
    /// The connector.
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The connector, mutably.
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.connector
    }

    /// The timer.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// Take the client apart.
    pub fn into_parts(self) -> (C, T) {
        (self.connector, self.timer)
    }
}

impl<C: AsyncConnect, T: AsyncTimer, const HEAD_BYTES: usize, H: AsMut<[u8]>> AsyncExchange
    for AsyncHttpClient<C, T, HEAD_BYTES, H>
{
    async fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        let mut writer = RequestWriter::new(request)?;
        check_head_buffer(self.head.as_mut())?;
        let deadline = request.deadline;
        let timer = &self.timer;
        if timer.now() >= deadline {
            return Err(ExchangeError::Timeout(Stage::Connect));
        }
        let connecting = self.connector.connect(&request.endpoint, deadline);
        let mut conn = match with_deadline(timer, deadline, connecting).await {
            None => return Err(ExchangeError::Timeout(Stage::Connect)),
            Some(connected) => connected.map_err(connect_failure)?,
        };
        let body_buffer = response_body.len();
        let mut reader = ResponseReader::new(self.head.as_mut(), response_body, self.config);
        let written = write_request(&mut conn, timer, deadline, &mut writer, &mut reader).await;
        let read = read_response(&mut conn, timer, deadline, &mut reader).await;
        let result = match (written, read) {
            // An early answer is only believable as a refusal (413 while we still send): a
            // 2xx to a request that did not all go out is not a delivery.
            (Err(_), Ok(_)) if reader.response().is_some_and(|r| r.is_success()) => {
                Err(ExchangeError::SuccessBeforeRequestSent)
            }
            (_, Ok(ResponseEnd::DrainCapReached)) => {
                Err(too_large(&reader, body_buffer, self.config))
            }
            (_, Ok(end)) => Ok(end),
            (Err(w), Err(_)) => Err(w),
            (Ok(()), Err(r)) => Err(r),
        };
        let mode = match result {
            Ok(ResponseEnd::Complete) => CloseMode::Graceful,
            _ => CloseMode::Abort,
        };
        conn.set_deadline(deadline);
        // A close that outlasts the deadline is dropped with the connection (whose drop
        // aborts it). A failed close after a complete response does not undo the delivery.
        let _ = with_deadline(timer, deadline, conn.close(mode)).await;
        result?;
        let mut response = reader
            .response()
            .ok_or(ExchangeError::ClosedBeforeResponse)?;
        response.bytes_sent = writer.bytes_sent();
        Ok(response)
    }
}

async fn write_request<S: AsyncConnection, T: AsyncTimer>(
    conn: &mut S,
    timer: &T,
    deadline: Instant,
    writer: &mut RequestWriter<'_>,
    reader: &mut ResponseReader<'_>,
) -> Result<(), ExchangeError> {
    let mut interrupted = 0u8;
    while !writer.is_done() {
        if timer.now() >= deadline {
            return Err(ExchangeError::Timeout(Stage::Write));
        }
        conn.set_deadline(deadline);
        let bytes = writer.next_bytes(reader.scratch());
        let offered = bytes.len();
        let Some(written) = with_deadline(timer, deadline, conn.write(bytes)).await else {
            return Err(ExchangeError::Timeout(Stage::Write));
        };
        let written = written.map_err(|e| conn.classify(&e));
        after_write(writer, offered, written, &mut interrupted)?;
    }
    conn.set_deadline(deadline);
    match with_deadline(timer, deadline, conn.flush()).await {
        None => Err(ExchangeError::Timeout(Stage::Write)),
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(io_failure(
            conn.classify(&e),
            Stage::Write,
            ExchangeError::Write,
        )),
    }
}

async fn read_response<S: AsyncConnection, T: AsyncTimer>(
    conn: &mut S,
    timer: &T,
    deadline: Instant,
    reader: &mut ResponseReader<'_>,
) -> Result<ResponseEnd, ExchangeError> {
    let mut interrupted = 0u8;
    loop {
        if timer.now() >= deadline {
            return Err(ExchangeError::Timeout(reader.stage()));
        }
        conn.set_deadline(deadline);
        let Some(read) = with_deadline(timer, deadline, conn.read(reader.recv_buf())).await else {
            return Err(ExchangeError::Timeout(reader.stage()));
        };
        let read = read.map_err(|e| conn.classify(&e));
        if let Some(end) = after_read(reader, read, &mut interrupted)? {
            return Ok(end);
        }
    }
}
