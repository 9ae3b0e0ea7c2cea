//! The seams for a superloop, where nothing may wait: a connection is started, then
//! polled, each call returning at once.
//!
//! - Stream level, [`PollConnect`] (with [`PollIo`]): start connecting, poll the connect,
//!   read and write what can be read and written now, start closing, poll the close.
//!   Core's [`PollHttpClient`](crate::http::PollHttpClient) runs HTTP over it.
//! - Exchange level, [`PollExchange`]: one whole request and response, advanced a little on
//!   each call. [`PollHttpClient`](crate::http::PollHttpClient) implements it over any
//!   [`PollConnect`]; an HTTP stack that works in the background (a modem's HTTP commands)
//!   can implement it directly. The exporter's superloop driver
//!   ([`Exporter::poll`](crate::export::Exporter::poll)) uses it.
//!
//! A firmware network stack is usually borrowed afresh on every tick (the interface and the
//! socket set are needed by the rest of the loop too), so the connection is passed in on
//! each call as the exchange's context `Cx`, never stored by the exchange.
//!
//! The deadline and close contract is the blocking seam's: every wait has an absolute
//! deadline on the caller's clock, and a connection is closed exactly once, gracefully
//! after a complete response and aborted after anything else.

use core::task::Poll;

use embedded_io::{ReadReady, WriteReady};

use super::TransportError;
use super::{CloseMode, Connection, Endpoint, ExchangeError, HttpRequest, HttpResponse};
use crate::time::Instant;

/// Non-blocking reads and writes on an open connection: each call does what can be done
/// now and returns `Pending` instead of waiting.
///
/// Every type that implements the blocking [`Connection`] together with embedded-io's
/// `ReadReady` and `WriteReady` is a `PollIo` (reads and writes are attempted only when
/// the stream says they will not block).
pub trait PollIo {
    /// Read into `buf`: `Ready(Ok(n))` with `n > 0` bytes, `Ready(Ok(0))` once the peer
    /// ended the stream, `Pending` while nothing has arrived.
    fn poll_read(&mut self, buf: &mut [u8], now: Instant) -> Poll<Result<usize, TransportError>>;

    /// Write from `buf`: `Ready(Ok(n))` with `n > 0` bytes taken, `Pending` while no room.
    fn poll_write(&mut self, buf: &[u8], now: Instant) -> Poll<Result<usize, TransportError>>;

    /// Push out what was written: `Pending` until the stream has handed it on.
    fn poll_flush(&mut self, now: Instant) -> Poll<Result<(), TransportError>>;
}

/// The stream seam for a superloop: one connection at a time, opened and closed in steps.
///
/// A driver calls [`start_connect`](Self::start_connect), then
/// [`poll_connect`](Self::poll_connect) until it is ready, reads and writes through
/// [`PollIo`], then [`start_close`](Self::start_close) and
/// [`poll_close`](Self::poll_close) until that is ready. No method waits; each step ends
/// with an error once `now` passes the deadline it was started with.
pub trait PollConnect: PollIo {
    /// Begin opening a connection to `endpoint`, to be open by `deadline`. A connection
    /// still open from before is aborted first. Fails at once when the endpoint cannot be
    /// reached this way (an unsupported scheme, a host the transport cannot resolve).
    fn start_connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<(), TransportError>;

    /// Advance the connect to `endpoint` (the one given to
    /// [`start_connect`](Self::start_connect), passed again on each call so that a
    /// transport resolving its host in steps need not keep a copy): `Ready(Ok(()))` once
    /// open.
    fn poll_connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        now: Instant,
    ) -> Poll<Result<(), TransportError>>;

    /// Begin closing the connection by `deadline`: [`CloseMode::Graceful`] sends FIN and
    /// waits for the peer's; [`CloseMode::Abort`] resets at once.
    fn start_close(&mut self, mode: CloseMode, deadline: Instant);

    /// Advance the close: `Ready` once the connection is gone (an error says it did not end
    /// cleanly; it is gone either way). Past the deadline the connection is aborted.
    fn poll_close(&mut self, now: Instant) -> Poll<Result<(), TransportError>>;
}

/// The exchange seam for a superloop: one whole request/response exchange, advanced a
/// little on each call.
///
/// `Cx` is what the exchange needs lent on each call: the connection ([`PollConnect`]) for
/// core's [`PollHttpClient`](crate::http::PollHttpClient), `()` for an exchange that owns
/// its transport.
pub trait PollExchange<Cx: ?Sized = ()> {
    /// Advance the exchange of `request`: `Ready` with the response (as much of its body
    /// as fits kept in `response_body`) or why there is none, `Pending` while it is under
    /// way. Pass the same request and buffer to every call until it is `Ready`; the next
    /// call after that starts a new exchange. Must be `Ready` by `request.deadline`.
    fn poll_exchange(
        &mut self,
        cx: &mut Cx,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
        now: Instant,
    ) -> Poll<Result<HttpResponse, ExchangeError>>;

    /// Give up the exchange in progress, if any, aborting its connection.
    fn cancel(&mut self, cx: &mut Cx);
}

impl<Cx: ?Sized, E: PollExchange<Cx> + ?Sized> PollExchange<Cx> for &mut E {
    fn poll_exchange(
        &mut self,
        cx: &mut Cx,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
        now: Instant,
    ) -> Poll<Result<HttpResponse, ExchangeError>> {
        (**self).poll_exchange(cx, request, response_body, now)
    }

    fn cancel(&mut self, cx: &mut Cx) {
        (**self).cancel(cx)
    }
}

impl<T: Connection + ReadReady + WriteReady> PollIo for T {
    fn poll_read(&mut self, buf: &mut [u8], _now: Instant) -> Poll<Result<usize, TransportError>> {
        match self.read_ready() {
            Ok(false) => return Poll::Pending,
            Ok(true) => {}
            Err(e) => return ready_or_retry(self.classify(&e)),
        }
        match self.read(buf) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) => ready_or_retry(self.classify(&e)),
        }
    }

    fn poll_write(&mut self, buf: &[u8], _now: Instant) -> Poll<Result<usize, TransportError>> {
        match self.write_ready() {
            Ok(false) => return Poll::Pending,
            Ok(true) => {}
            Err(e) => return ready_or_retry(self.classify(&e)),
        }
        match self.write(buf) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) => ready_or_retry(self.classify(&e)),
        }
    }

    fn poll_flush(&mut self, _now: Instant) -> Poll<Result<(), TransportError>> {
        match self.flush() {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => ready_or_retry(self.classify(&e)),
        }
    }
}

/// An interrupted call is tried again on the next poll; anything else is the answer.
fn ready_or_retry<T>(error: TransportError) -> Poll<Result<T, TransportError>> {
    if error == TransportError::Io(embedded_io::ErrorKind::Interrupted) {
        Poll::Pending
    } else {
        Poll::Ready(Err(error))
    }
}
