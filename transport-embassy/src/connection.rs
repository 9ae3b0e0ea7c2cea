//! The connection: one embassy-net [`TcpSocket`], reused connection after connection, with
//! a deadline on every wait and an explicit close.

use embassy_net::tcp::{ConnectError, State, TcpSocket};
use embassy_net::{IpEndpoint, Stack};
use embassy_time::with_deadline;
use embedded_io_async::ErrorKind;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    AsyncConnect, AsyncConnection, CloseMode, Endpoint, Scheme, TransportError,
};

use crate::time::{embassy_instant, EmbassyClock};

/// How long an abort may take to get its RST onto the link when the deadline has already
/// passed (an exchange that timed out aborts after its deadline). The RST leaves on the
/// stack runner's next poll, microseconds later; this only bounds a runner that is starved
/// or a device that accepts no frame.
pub const ABORT_GRACE_MS: u64 = 100;

/// Received bytes are discarded through this buffer while a graceful close waits for the
/// peer's FIN (the receive window must stay open for it to arrive).
const DRAIN_CHUNK: usize = 64;

/// Opens connections to an endpoint over one embassy-net TCP socket with buffers the caller
/// lends.
///
/// The socket is made once, in [`new`](Self::new), and lives in the stack's socket set for
/// as long as the connector does (give the stack's `StackResources` room for it, and one
/// more for DNS): every connection reuses it, so memory is fixed and nothing is allocated.
/// One connection at a time; for two at once, use two connectors.
///
/// Each [`connect`](Self::connect) resolves the endpoint's host (see
/// [`resolve`](crate::resolve)), gives the connection a new local port from embassy-net,
/// and ends at its deadline. The [`EmbassyConnection`] it returns must be closed with
/// [`close`](EmbassyConnection::close). Dropped without it (a cancelled future), the
/// connection is aborted: the socket stays in the stack, so the runner still sends the RST,
/// and the next `connect` waits (bounded) until it has left. Dropping the connector
/// removes the socket from the stack at once, so keep it across exports (an RST still
/// waiting to leave would be lost with it).
pub struct EmbassyConnector<'d> {
    stack: Stack<'d>,
    socket: TcpSocket<'d>,
}

impl<'d> EmbassyConnector<'d> {
    /// A connector on `stack` whose socket receives into `rx_buffer` and sends from
    /// `tx_buffer`. The receive buffer is the TCP window: 1 KiB or more keeps a response
    /// in one round trip; the send buffer bounds how much of a request is in flight.
    pub fn new(stack: Stack<'d>, rx_buffer: &'d mut [u8], tx_buffer: &'d mut [u8]) -> Self {
        EmbassyConnector {
            stack,
            socket: TcpSocket::new(stack, rx_buffer, tx_buffer),
        }
    }

    /// The stack this connector uses.
    pub fn stack(&self) -> Stack<'d> {
        self.stack
    }

    /// The TCP state of the socket: `Closed` or `TimeWait` between connections when every
    /// connection was closed.
    pub fn socket_state(&self) -> State {
        self.socket.state()
    }

    /// Open a connection to `endpoint`, giving up at `deadline`.
    ///
    /// Errors: [`TransportError::UnsupportedScheme`] for `https` (layer TLS over this
    /// connection instead), the host's resolution errors, [`TransportError::ConnectTimeout`]
    /// when the handshake has not finished by `deadline` (the half-open attempt is
    /// aborted), `Io(ConnectionRefused)` when the peer answered with a reset, and
    /// `Io(AddrNotAvailable)` when the stack has no address or route for the remote.
    pub async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<EmbassyConnection<'_, 'd>, TransportError> {
        if endpoint.scheme != Scheme::Http {
            return Err(TransportError::UnsupportedScheme);
        }
        if EmbassyClock.now() >= deadline {
            return Err(TransportError::ConnectTimeout);
        }
        let address = crate::resolve::resolve(self.stack, endpoint.host, deadline).await?;
        // A connection dropped without a close left an abort whose RST may not have been
        // sent yet: connecting now would forget it, so let it leave first. A socket in
        // TimeWait is left alone: an RST there would cut the peer's TIME-WAIT short.
        if !matches!(self.socket.state(), State::Closed | State::TimeWait) {
            self.socket.abort();
        }
        let _ = with_deadline(abort_deadline(deadline), self.socket.flush()).await;
        let remote = IpEndpoint::new(address, endpoint.port);
        let connected = with_deadline(embassy_instant(deadline), self.socket.connect(remote)).await;
        let error = match connected {
            Ok(Ok(())) => {
                return Ok(EmbassyConnection {
                    socket: &mut self.socket,
                    deadline,
                    closed: false,
                })
            }
            Ok(Err(ConnectError::ConnectionReset)) => {
                TransportError::Io(ErrorKind::ConnectionRefused)
            }
            Ok(Err(ConnectError::TimedOut)) | Err(_) => TransportError::ConnectTimeout,
            Ok(Err(ConnectError::NoRoute)) => TransportError::Io(ErrorKind::AddrNotAvailable),
            Ok(Err(ConnectError::InvalidState)) => TransportError::Io(ErrorKind::Other),
        };
        // A SYN may be out: end the attempt on the wire too, not only here.
        self.socket.abort();
        let _ = with_deadline(abort_deadline(deadline), self.socket.flush()).await;
        Err(error)
    }
}

/// When an abort's RST must have left: the deadline, or a short grace past it.
fn abort_deadline(deadline: Instant) -> embassy_time::Instant {
    embassy_instant(deadline.max(EmbassyClock.now().add_millis(ABORT_GRACE_MS)))
}

/// An open connection of an [`EmbassyConnector`]: `embedded-io-async` Read + Write, each
/// call ending at the deadline set by [`set_deadline`](Self::set_deadline) with
/// `ErrorKind::TimedOut`, and an explicit [`close`](Self::close).
///
/// Read returns `Ok(0)` once the peer's FIN arrived and every byte before it was read; a
/// reset is `ErrorKind::ConnectionReset`.
pub struct EmbassyConnection<'c, 'd> {
    socket: &'c mut TcpSocket<'d>,
    deadline: Instant,
    closed: bool,
}

impl EmbassyConnection<'_, '_> {
    /// Set the absolute deadline for the reads, writes, flushes and close that follow.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// The deadline in force.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The local port of this connection.
    pub fn local_port(&self) -> Option<u16> {
        self.socket.local_endpoint().map(|e| e.port)
    }

    /// The TCP state of the connection's socket.
    pub fn state(&self) -> State {
        self.socket.state()
    }

    /// Close the connection, by its deadline.
    ///
    /// [`CloseMode::Graceful`]: our FIN goes out after what was written; then, until the
    /// deadline, bytes that still arrive are discarded (so the receive window stays open)
    /// until the peer's FIN, and `flush` waits until our FIN is acknowledged. `Ok` means
    /// both happened: the socket is in `TimeWait` or `Closed`, and the peer's side is
    /// closed too. At the deadline the connection is aborted instead and `Io(TimedOut)`
    /// returned; a peer that reset meanwhile is `Io(ConnectionReset)`.
    ///
    /// [`CloseMode::Abort`]: a reset at once, then `flush` until the RST has been sent
    /// (by the deadline, or [`ABORT_GRACE_MS`] past it when it has already passed).
    /// Always `Ok`.
    ///
    /// A graceful close asked for after the deadline aborts and returns `Io(TimedOut)`.
    /// Either way the socket is ready for the next connection when this returns. Dropped
    /// before it returns (cancelled), the close ends in an abort, as an unclosed
    /// connection's drop does.
    pub async fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        // `closed` is set only once the close has finished: a close whose future is dropped
        // midway (core races it against the deadline) leaves the drop to abort the socket,
        // not a half-closed connection waiting for the next `connect`.
        let result = match mode {
            CloseMode::Graceful if EmbassyClock.now() < self.deadline => {
                self.socket.close();
                let closing = with_deadline(embassy_instant(self.deadline), async {
                    let mut drain = [0u8; DRAIN_CHUNK];
                    loop {
                        match self.socket.read(&mut drain).await {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(_) => return Err(TransportError::Io(ErrorKind::ConnectionReset)),
                        }
                    }
                    self.socket
                        .flush()
                        .await
                        .map_err(|_| TransportError::Io(ErrorKind::ConnectionReset))
                })
                .await;
                match closing {
                    Ok(Ok(())) => {
                        self.closed = true;
                        return Ok(());
                    }
                    Ok(Err(e)) => Err(e),
                    Err(embassy_time::TimeoutError) => Err(TransportError::Io(ErrorKind::TimedOut)),
                }
            }
            CloseMode::Graceful => Err(TransportError::Io(ErrorKind::TimedOut)),
            CloseMode::Abort => Ok(()),
        };
        self.socket.abort();
        let _ = with_deadline(abort_deadline(self.deadline), self.socket.flush()).await;
        self.closed = true;
        result
    }
}

/// One socket operation's result, or `TimedOut` when the deadline came first.
fn io_result<T>(
    result: Result<Result<T, embassy_net::tcp::Error>, embassy_time::TimeoutError>,
) -> Result<T, ErrorKind> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(embassy_net::tcp::Error::ConnectionReset)) => Err(ErrorKind::ConnectionReset),
        Err(embassy_time::TimeoutError) => Err(ErrorKind::TimedOut),
    }
}

impl Drop for EmbassyConnection<'_, '_> {
    fn drop(&mut self) {
        if !self.closed {
            // The socket outlives this value in the stack, so the runner sends the RST.
            self.socket.abort();
        }
    }
}

impl embedded_io_async::ErrorType for EmbassyConnection<'_, '_> {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for EmbassyConnection<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        io_result(with_deadline(embassy_instant(self.deadline), self.socket.read(buf)).await)
    }
}

impl embedded_io_async::Write for EmbassyConnection<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        io_result(with_deadline(embassy_instant(self.deadline), self.socket.write(buf)).await)
    }

    /// Wait until every byte written was acknowledged by the peer.
    async fn flush(&mut self) -> Result<(), ErrorKind> {
        io_result(with_deadline(embassy_instant(self.deadline), self.socket.flush()).await)
    }
}

/// Core's async stream seam: core's [`AsyncHttpClient`](otlp_embedded::http::AsyncHttpClient)
/// opens its connections here. The deadline core passes is the one the connection starts
/// with; core sets it again before each read, write and close.
impl<'d> AsyncConnect for EmbassyConnector<'d> {
    type Connection<'c>
        = EmbassyConnection<'c, 'd>
    where
        Self: 'c;

    async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<EmbassyConnection<'_, 'd>, TransportError> {
        EmbassyConnector::connect(self, endpoint, deadline).await
    }
}

/// A connector lent to a client, so that the caller keeps it (and its socket, in the stack)
/// between exporters.
impl<'d> AsyncConnect for &mut EmbassyConnector<'d> {
    type Connection<'c>
        = EmbassyConnection<'c, 'd>
    where
        Self: 'c;

    async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<EmbassyConnection<'_, 'd>, TransportError> {
        EmbassyConnector::connect(self, endpoint, deadline).await
    }
}

/// The explicit close core's client calls: graceful (FIN, the peer's FIN, our FIN
/// acknowledged) or abort (RST sent), each by the deadline; see
/// [`EmbassyConnection::close`].
impl AsyncConnection for EmbassyConnection<'_, '_> {
    fn set_deadline(&mut self, deadline: Instant) {
        EmbassyConnection::set_deadline(self, deadline);
    }

    async fn close(self, mode: CloseMode) -> Result<(), TransportError> {
        EmbassyConnection::close(self, mode).await
    }
}
