//! Core's async stream seam over tokio's `TcpStream` (feature `tokio`), through
//! `embedded-io-adapters`: what a Linux service that already runs tokio writes to use
//! core's `AsyncHttpClient`. Kept here, in unpublished tooling, so that no library crate
//! depends on tokio; the demo's async driver, the async tests and the benches use it.
//!
//! - [`TokioConnect`]: `AsyncConnect`, resolving names with tokio's resolver;
//! - [`TokioConnection`]: `AsyncConnection`; a graceful close sends FIN and reads until the
//!   peer's (at most 64 KiB), an abort (and a drop without close) resets (`SO_LINGER` 0);
//! - [`TokioTimer`]: `AsyncTimer` on tokio's timer, milliseconds since its creation.
//!
//! The futures are not `Send` (core's async traits do not promise it): run them on a
//! current-thread runtime or a `LocalSet`.

use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    AsyncConnect, AsyncConnection, AsyncTimer, CloseMode, Endpoint, Scheme, TransportError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A graceful close reads and discards at most this much from a peer that keeps talking.
const CLOSE_DRAIN_LIMIT: usize = 64 * 1024;

/// Milliseconds since the timer was made, on tokio's clock; waits on tokio's timer.
#[derive(Copy, Clone, Debug)]
pub struct TokioTimer {
    origin: tokio::time::Instant,
}

impl TokioTimer {
    /// A timer whose instant 0 is now.
    pub fn new() -> Self {
        TokioTimer {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioTimer {
    fn default() -> Self {
        TokioTimer::new()
    }
}

impl Clock for TokioTimer {
    fn now(&self) -> Instant {
        let ms = self.origin.elapsed().as_millis();
        Instant(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

impl AsyncTimer for TokioTimer {
    async fn wait_until(&self, at: Instant) {
        tokio::time::sleep_until(self.origin + Duration::from_millis(at.as_millis())).await
    }
}

/// Opens plain TCP connections with tokio.
#[derive(Copy, Clone, Debug, Default)]
pub struct TokioConnect;

fn io_error(e: &std::io::Error) -> TransportError {
    TransportError::Io(embedded_io_async::Error::kind(e))
}

impl AsyncConnect for TokioConnect {
    type Connection<'c> = TokioConnection;

    /// Core races this against the deadline; tokio's connect needs none of its own.
    async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        _deadline: Instant,
    ) -> Result<TokioConnection, TransportError> {
        if endpoint.scheme == Scheme::Https {
            return Err(TransportError::UnsupportedScheme);
        }
        let addrs: Vec<std::net::SocketAddr> = match endpoint.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![(ip, endpoint.port).into()],
            Err(_) => tokio::net::lookup_host((endpoint.host, endpoint.port))
                .await
                .map_err(|_| TransportError::Resolve)?
                .collect(),
        };
        let mut last = TransportError::Resolve;
        let mut connected = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    connected = Some(stream);
                    break;
                }
                Err(e) => last = io_error(&e),
            }
        }
        let stream = connected.ok_or(last)?;
        // Requests are written whole; Nagle would only delay the last segment.
        stream.set_nodelay(true).map_err(|e| io_error(&e))?;
        Ok(TokioConnection {
            stream: Some(FromTokio::new(stream)),
        })
    }
}

/// One connection from [`TokioConnect`].
pub struct TokioConnection {
    /// `None` once closed.
    stream: Option<FromTokio<TcpStream>>,
}

impl std::fmt::Debug for TokioConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioConnection")
            .field("open", &self.stream.is_some())
            .finish()
    }
}

impl TokioConnection {
    fn stream(&mut self) -> std::io::Result<&mut FromTokio<TcpStream>> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::ErrorKind::NotConnected.into())
    }
}

/// Reset: `SO_LINGER` 0 makes the close send RST (and never blocks).
fn reset(stream: FromTokio<TcpStream>) {
    let stream = stream.into_inner();
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
}

impl Drop for TokioConnection {
    fn drop(&mut self) {
        // Dropped without a close (core gave the close up at its deadline): abort.
        if let Some(stream) = self.stream.take() {
            reset(stream);
        }
    }
}

impl embedded_io_async::ErrorType for TokioConnection {
    type Error = std::io::Error;
}

impl embedded_io_async::Read for TokioConnection {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        embedded_io_async::Read::read(self.stream()?, buf).await
    }
}

impl embedded_io_async::Write for TokioConnection {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        embedded_io_async::Write::write(self.stream()?, buf).await
    }

    async fn flush(&mut self) -> Result<(), std::io::Error> {
        embedded_io_async::Write::flush(self.stream()?).await
    }
}

impl AsyncConnection for TokioConnection {
    async fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        let Some(stream) = self.stream.take() else {
            return Ok(());
        };
        match mode {
            CloseMode::Graceful => {
                let mut stream = stream.into_inner();
                let result = stream.shutdown().await;
                if result.is_ok() {
                    // Until the peer's FIN (core races this against the deadline).
                    let mut buf = [0u8; 1024];
                    let mut drained = 0usize;
                    while drained < CLOSE_DRAIN_LIMIT {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => drained += n,
                        }
                    }
                }
                match result {
                    Ok(()) => Ok(()),
                    // The peer already went away; dropping still closes the socket.
                    Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
                    Err(e) => Err(io_error(&e)),
                }
            }
            CloseMode::Abort => {
                reset(stream);
                Ok(())
            }
        }
    }
}
