//! The async seams (feature `async`): the blocking seams' twins over `embedded-io-async`,
//! for embassy-net, `esp-wifi`, `cyw43` or a tokio runtime. No executor is named: the
//! futures run on whatever the caller has.
//!
//! - Stream level, [`AsyncConnect`] + [`AsyncConnection`]: open a byte stream, hand it to
//!   core's [`AsyncHttpClient`](crate::http::AsyncHttpClient), close it explicitly.
//! - Exchange level, [`AsyncExchange`]: one whole request and its response.
//! - [`AsyncTimer`]: the caller's clock with a way to wait until an instant. Core races
//!   every connect, read, write and close against it, so a peer that trickles one byte
//!   per second still ends at the deadline. For embassy-time it is two lines:
//!
//! ```ignore
//! impl Clock for EmbassyTimer {
//!     fn now(&self) -> Instant { Instant(embassy_time::Instant::now().as_millis()) }
//! }
//! impl AsyncTimer for EmbassyTimer {
//!     async fn wait_until(&self, at: Instant) { embassy_time::Timer::at(embassy_time::Instant::from_millis(at.0)).await }
//! }
//! ```
//!
//! The deadline and close contract is the blocking seam's: core sets the deadline before
//! each operation, closes every connection exactly once (gracefully after a complete
//! response, aborted after anything else), and gives up an operation when its deadline
//! comes, dropping its future. So a connection's `Drop` must end whatever is still open
//! (abort it: RST), because a close that does not finish by the deadline is dropped too.
//!
//! The traits use `async fn`: the futures are not declared `Send`, which suits the
//! single-threaded executors of firmware and tokio's current-thread runtime.

use super::{CloseMode, Endpoint, ExchangeError, HttpRequest, HttpResponse, TransportError};
use crate::time::{Clock, Instant};

/// The caller's clock, and a way to wait for an instant on it.
#[allow(async_fn_in_trait)]
pub trait AsyncTimer: Clock {
    /// Complete at `at` (at once when it has come). Dropping the future stops the wait.
    async fn wait_until(&self, at: Instant);
}

impl<T: AsyncTimer + ?Sized> AsyncTimer for &T {
    async fn wait_until(&self, at: Instant) {
        (**self).wait_until(at).await
    }
}

/// Async stream seam, part one: something that opens byte streams to an endpoint.
#[allow(async_fn_in_trait)]
pub trait AsyncConnect {
    /// The open connection. It may borrow the connector (a socket with lent buffers).
    type Connection<'c>: AsyncConnection
    where
        Self: 'c;

    /// Open a connection to `endpoint` by `deadline`. Core races this against its timer
    /// as well, so an implementation that cannot be told a deadline is still bounded.
    async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<Self::Connection<'_>, TransportError>;
}

/// Async stream seam, part two: an open byte stream that core reads, writes and closes.
///
/// `read` returning `Ok(0)` means the peer ended the stream; `write` returning `Ok(0)` is
/// an error. Dropping a connection that was not closed must abort it.
#[allow(async_fn_in_trait)]
pub trait AsyncConnection: embedded_io_async::Read + embedded_io_async::Write {
    /// The absolute deadline for the reads, writes and close that follow; core calls this
    /// before each of them. Wrappers forward it to the stream beneath. The default does
    /// nothing: core enforces the deadline with its timer either way.
    fn set_deadline(&mut self, deadline: Instant) {
        let _ = deadline;
    }

    /// Close the connection: [`CloseMode::Graceful`] sends FIN (and TLS close_notify) and
    /// waits for the peer's, [`CloseMode::Abort`] resets. Core calls this exactly once per
    /// connection, on every path, and drops the future (with the connection) at the
    /// deadline.
    async fn close(self, mode: CloseMode) -> Result<(), TransportError>;

    /// Classify an error this connection returned. The default uses `embedded-io`'s kind.
    fn classify(&self, error: &Self::Error) -> TransportError {
        use embedded_io::Error as _;
        TransportError::Io(error.kind())
    }
}

/// Async exchange seam: one whole request/response exchange.
#[allow(async_fn_in_trait)]
pub trait AsyncExchange {
    /// Send `request` and return the response, keeping as much of the body as fits in
    /// `response_body`. Implementations must finish by `request.deadline`.
    async fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError>;
}

impl<E: AsyncExchange + ?Sized> AsyncExchange for &mut E {
    async fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        (**self).exchange(request, response_body).await
    }
}
