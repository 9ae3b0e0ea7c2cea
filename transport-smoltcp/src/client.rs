//! The poll-form state machine: one TCP connection at a time over one smoltcp socket.
//!
//! Nothing here blocks or polls the interface: the firmware polls its `Interface` as it
//! always does, then calls the step that matches where it is. Each step returns
//! `nb::Error::WouldBlock` while it waits for the peer, and an error once `now` passes the
//! step's absolute deadline, so a superloop never waits longer than it asked to.

use embedded_io::ErrorKind;
use otlp_embedded::time::Instant;
use otlp_embedded::transport::{CloseMode, TransportError};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, RecvError, State};
use smoltcp::wire::IpEndpoint;

use crate::ports::PortWalker;
use crate::seed::{streams, DeviceSeed, SplitMix};

/// Where the connection is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// No connection was opened yet.
    Idle,
    /// Waiting for a free local port or for the handshake.
    Connecting,
    /// Open: data can be sent and received.
    Established,
    /// Our FIN was sent; waiting for the peer's FIN or the deadline.
    Closing,
    /// The last connection ended (socket `Closed` or `TimeWait`); a new one may start.
    Closed,
}

/// A TCP client over one smoltcp socket, driven by polling.
///
/// The caller owns the `tcp::Socket` (with the buffers it chose) in its own `SocketSet` and
/// hands over its [`SocketHandle`]. Connections follow one another on the same socket: a
/// socket left in `TimeWait` is not "open" for smoltcp, so the next `connect` reuses it at
/// once, and the new connection gets a new local port from the [`PortWalker`], so the old
/// four-tuple's TIME-WAIT never collides. For two connections at the same time, use two
/// clients, each with its own socket.
///
/// Every method that takes the socket set panics (inside smoltcp) if the handle is not a TCP
/// socket of that set: that is a wiring mistake, not a runtime condition.
#[derive(Clone, Debug)]
pub struct TcpClient<const P: usize = 8> {
    handle: SocketHandle,
    ports: PortWalker<P>,
    /// Retry jitter seeds for the firmware entry points, one per export.
    jitter: SplitMix,
    phase: Phase,
    deadline: Instant,
    /// Remote endpoint while waiting for a local port (Connecting before `socket.connect`).
    pending: Option<IpEndpoint>,
    /// The collector's last `Retry-After` instant, kept here between the exports of the
    /// firmware entry points, whose exporter lives for one call.
    pub(crate) retry_hold: Option<Instant>,
    /// The poll form is resolving the host before it connects to this port.
    pub(crate) resolving: Option<u16>,
}

impl<const P: usize> TcpClient<P> {
    /// A client over the TCP socket `handle`. The device's `seed` picks the first local
    /// port (its low 16 bits, see [`PortWalker::new`]) and the retry jitter of the exports
    /// that [`firmware`](crate::firmware) runs over this client.
    pub const fn new(handle: SocketHandle, seed: DeviceSeed) -> Self {
        TcpClient {
            handle,
            ports: PortWalker::new(seed.value() as u16),
            jitter: seed.stream(streams::JITTER),
            phase: Phase::Idle,
            deadline: Instant(0),
            pending: None,
            retry_hold: None,
            resolving: None,
        }
    }

    /// The jitter seed for the next export: a new one each time, from the device seed, so
    /// that devices, and one device's successive exports, retry on unrelated schedules.
    pub fn next_jitter_seed(&mut self) -> u64 {
        self.jitter.next_u64()
    }

    /// The socket this client drives.
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// Where the current (or last) connection is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The deadline of the step in progress.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Set the absolute deadline for the steps that follow (send, receive, flush, close).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// The local port walker.
    pub fn ports(&self) -> &PortWalker<P> {
        &self.ports
    }

    /// Begin connecting to `remote`; finish with [`poll_connect`](Self::poll_connect).
    ///
    /// A connection still open from before (one that was never closed) is aborted first.
    pub fn start_connect(
        &mut self,
        sockets: &mut SocketSet<'_>,
        remote: IpEndpoint,
        deadline: Instant,
    ) {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        if socket.is_open() {
            socket.abort();
        }
        self.pending = Some(remote);
        self.deadline = deadline;
        self.phase = Phase::Connecting;
    }

    /// Begin a connect whose address is still being resolved (the poll form's first
    /// step): like [`start_connect`](Self::start_connect), with the remote to come.
    pub(crate) fn start_resolving(
        &mut self,
        sockets: &mut SocketSet<'_>,
        port: u16,
        deadline: Instant,
    ) {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        if socket.is_open() {
            socket.abort();
        }
        self.pending = None;
        self.resolving = Some(port);
        self.deadline = deadline;
        self.phase = Phase::Connecting;
    }

    /// The host did not resolve: the connect is over.
    pub(crate) fn resolve_failed(&mut self) {
        self.resolving = None;
        self.phase = Phase::Closed;
    }

    /// Advance the connect: `Ok` once established.
    ///
    /// Errors: `Exhausted` when no local port could be had before the deadline,
    /// `ConnectTimeout` when the handshake did not finish by it, `Io(ConnectionRefused)` when
    /// the peer answered with a reset, `Io(AddrNotAvailable)` when the interface has no
    /// source address or route for the remote.
    pub fn poll_connect(
        &mut self,
        iface: &mut Interface,
        sockets: &mut SocketSet<'_>,
        now: Instant,
    ) -> nb::Result<(), TransportError> {
        match self.phase {
            Phase::Established => return Ok(()),
            Phase::Connecting => {}
            _ => {
                return Err(nb::Error::Other(TransportError::Io(
                    ErrorKind::NotConnected,
                )))
            }
        }
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        if let Some(remote) = self.pending {
            if now >= self.deadline {
                self.pending = None;
                self.phase = Phase::Closed;
                // Out of time before a SYN was sent: say whether ports were the reason.
                let err = if self.ports.ready_at() > now {
                    TransportError::Exhausted
                } else {
                    TransportError::ConnectTimeout
                };
                return Err(nb::Error::Other(err));
            }
            let Some(port) = self.ports.next_port(now) else {
                return Err(nb::Error::WouldBlock);
            };
            self.pending = None;
            if let Err(e) = socket.connect(iface.context(), remote, port) {
                self.phase = Phase::Closed;
                let kind = match e {
                    tcp::ConnectError::Unaddressable => ErrorKind::AddrNotAvailable,
                    tcp::ConnectError::InvalidState => ErrorKind::Other,
                };
                return Err(nb::Error::Other(TransportError::Io(kind)));
            }
            // The SYN goes out on the caller's next interface poll.
            return Err(nb::Error::WouldBlock);
        }
        match socket.state() {
            // CloseWait: the peer already sent its FIN, but what it sent can still be read.
            State::Established | State::CloseWait => {
                self.phase = Phase::Established;
                Ok(())
            }
            State::SynSent | State::SynReceived => {
                if now >= self.deadline {
                    socket.abort();
                    self.phase = Phase::Closed;
                    Err(nb::Error::Other(TransportError::ConnectTimeout))
                } else {
                    Err(nb::Error::WouldBlock)
                }
            }
            // A reset (or smoltcp's own retransmission limit) closed the socket.
            State::Closed => {
                self.phase = Phase::Closed;
                Err(nb::Error::Other(TransportError::Io(
                    ErrorKind::ConnectionRefused,
                )))
            }
            _ => {
                socket.abort();
                self.phase = Phase::Closed;
                Err(nb::Error::Other(TransportError::Io(
                    ErrorKind::ConnectionAborted,
                )))
            }
        }
    }

    /// Queue bytes for sending: returns how many fit in the socket's send buffer (at least
    /// one), `WouldBlock` while the buffer is full, `Io(TimedOut)` past the deadline.
    pub fn send(
        &mut self,
        sockets: &mut SocketSet<'_>,
        data: &[u8],
        now: Instant,
    ) -> nb::Result<usize, TransportError> {
        let socket = self.established(sockets)?;
        if data.is_empty() {
            return Ok(0);
        }
        match socket.send_slice(data) {
            Ok(n) if n > 0 => Ok(n),
            Ok(_) => self.wait_or_timeout(now),
            Err(tcp::SendError::InvalidState) => Err(nb::Error::Other(lost(socket))),
        }
    }

    /// Take received bytes: returns how many were copied (at least one), `Ok(0)` once the
    /// peer's FIN arrived and every byte before it was read, `WouldBlock` while nothing is
    /// there, `Io(TimedOut)` past the deadline, `Io(ConnectionReset)` after a reset.
    pub fn recv(
        &mut self,
        sockets: &mut SocketSet<'_>,
        buf: &mut [u8],
        now: Instant,
    ) -> nb::Result<usize, TransportError> {
        let socket = self.established(sockets)?;
        if buf.is_empty() {
            return Ok(0);
        }
        match socket.recv_slice(buf) {
            Ok(n) if n > 0 => Ok(n),
            Ok(_) => self.wait_or_timeout(now),
            Err(RecvError::Finished) => Ok(0),
            Err(RecvError::InvalidState) => Err(nb::Error::Other(TransportError::Io(
                ErrorKind::ConnectionReset,
            ))),
        }
    }

    /// Wait until every queued byte was acknowledged by the peer.
    pub fn flush(
        &mut self,
        sockets: &mut SocketSet<'_>,
        now: Instant,
    ) -> nb::Result<(), TransportError> {
        let socket = self.established(sockets)?;
        if socket.send_queue() == 0 {
            return Ok(());
        }
        if !socket.may_send() {
            return Err(nb::Error::Other(lost(socket)));
        }
        self.wait_or_timeout(now)
    }

    /// Begin closing with `mode` by `deadline`; finish with [`poll_close`](Self::poll_close).
    ///
    /// `Graceful` sends our FIN; `Abort` resets at once (the RST goes out on the next
    /// interface poll) and the client is `Closed` right away.
    pub fn start_close(&mut self, sockets: &mut SocketSet<'_>, mode: CloseMode, deadline: Instant) {
        self.deadline = deadline;
        self.pending = None;
        self.resolving = None;
        match self.phase {
            Phase::Idle | Phase::Closed => {}
            Phase::Connecting | Phase::Established | Phase::Closing => {
                let socket = sockets.get_mut::<tcp::Socket>(self.handle);
                match mode {
                    CloseMode::Graceful => {
                        socket.close();
                        self.phase = Phase::Closing;
                    }
                    CloseMode::Abort => {
                        socket.abort();
                        self.phase = Phase::Closed;
                    }
                }
            }
        }
    }

    /// Advance a close: `Ok` once the socket is `Closed` or in `TimeWait` (the peer's FIN
    /// arrived and ours was acknowledged). Bytes that still arrive are discarded so that the
    /// peer's FIN is not held back by a full receive window. Past the deadline the socket
    /// is aborted and `Io(TimedOut)` returned; the client is `Closed` either way.
    pub fn poll_close(
        &mut self,
        sockets: &mut SocketSet<'_>,
        now: Instant,
    ) -> nb::Result<(), TransportError> {
        match self.phase {
            Phase::Idle | Phase::Closed => return Ok(()),
            Phase::Closing => {}
            Phase::Connecting | Phase::Established => {
                return Err(nb::Error::Other(TransportError::Io(
                    ErrorKind::InvalidInput,
                )))
            }
        }
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        // The ring buffer hands out at most two contiguous parts.
        for _ in 0..2 {
            let _ = socket.recv(|b| (b.len(), ()));
        }
        match socket.state() {
            State::Closed | State::TimeWait => {
                self.phase = Phase::Closed;
                Ok(())
            }
            _ if now >= self.deadline => {
                socket.abort();
                self.phase = Phase::Closed;
                Err(nb::Error::Other(TransportError::Io(ErrorKind::TimedOut)))
            }
            _ => Err(nb::Error::WouldBlock),
        }
    }

    /// Reset the connection at once (the RST goes out on the next interface poll).
    pub fn abort(&mut self, sockets: &mut SocketSet<'_>) {
        self.start_close(sockets, CloseMode::Abort, self.deadline);
    }

    fn established<'b, 's>(
        &self,
        sockets: &'b mut SocketSet<'s>,
    ) -> Result<&'b mut tcp::Socket<'s>, nb::Error<TransportError>> {
        if self.phase != Phase::Established {
            return Err(nb::Error::Other(TransportError::Io(
                ErrorKind::NotConnected,
            )));
        }
        Ok(sockets.get_mut::<tcp::Socket>(self.handle))
    }

    fn wait_or_timeout<T>(&self, now: Instant) -> nb::Result<T, TransportError> {
        if now >= self.deadline {
            Err(nb::Error::Other(TransportError::Io(ErrorKind::TimedOut)))
        } else {
            Err(nb::Error::WouldBlock)
        }
    }
}

/// Why sending is no longer possible: a reset closed the socket, or we closed our half.
fn lost(socket: &tcp::Socket<'_>) -> TransportError {
    match socket.state() {
        State::Closed => TransportError::Io(ErrorKind::ConnectionReset),
        _ => TransportError::Io(ErrorKind::BrokenPipe),
    }
}
