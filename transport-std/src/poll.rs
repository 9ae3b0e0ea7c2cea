//! [`PollTcp`]: core's superloop seam ([`PollConnect`]) over a non-blocking
//! `std::net::TcpStream`, for single-threaded event loops on Linux.
//!
//! Nothing here waits: the connect is started non-blocking and polled (the socket's error
//! and peer address say when it is done), reads and writes return `Pending` on
//! `WouldBlock`, and a graceful close sends FIN and then drains the peer's bytes as they
//! come until its FIN, all in calls that return at once. Host names are resolved by core's
//! resolver seam ([`SystemResolver`] unless
//! [`PollTcp::with_resolver`] gives another) on a short-lived thread of its own, whose
//! answer each [`poll_connect`](PollConnect::poll_connect) looks for without waiting (an
//! address literal needs no thread); at most
//! [`MAX_STALLED_RESOLVES`](crate::MAX_STALLED_RESOLVES) may still be running, past which
//! a connect fails at once with `ConnectTimeout` rather than start another. Every step
//! ends with an error once `now` passes the deadline it was started with.
//!
//! ```no_run
//! use core::task::Poll;
//! use otlp_embedded::export::{Exporter, ExporterConfig};
//! use otlp_embedded::http::PollHttpClient;
//! use otlp_embedded::proto::{RequestHeader, Resource, Scope};
//! use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
//! use otlp_embedded::time::Clock;
//! use otlp_embedded::transport::Endpoint;
//! use otlp_embedded_std::{PollTcp, StdClock};
//!
//! type Metrics = Registry<2, 8, 16, 2, 32>;
//! let mut registry = Metrics::new(0);
//! let hits = registry.declare(InstrumentDesc::counter_u64("hits").max_series(1))?;
//! registry.record(hits, 1u64, &[])?;
//! let header = RequestHeader::new(Resource::new(&[]), Scope::new("loop"));
//! let endpoint = Endpoint::parse("http://127.0.0.1:4318/v1/metrics")?;
//! let mut exporter = Exporter::new(ExporterConfig::new(endpoint, header), PollHttpClient::new());
//! let (clock, mut tcp) = (StdClock::new(), PollTcp::new());
//! let (mut snapshot, mut buffer) = (SnapshotOf::<Metrics>::new(), vec![0u8; 4096]);
//! let mut run = exporter.start(&mut registry, &mut snapshot, 1_700_000_000_000_000_000, clock.now());
//! let report = loop {
//!     // ... the event loop's other work ...
//!     if let Poll::Ready(report) = exporter.poll(&mut run, &mut registry, &snapshot, &mut buffer, &mut tcp, &clock) {
//!         break report;
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(1));
//! };
//! println!("{:?}", report.outcome);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read as _, Write as _};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use otlp_embedded::time::Instant;
use otlp_embedded::transport::{
    CloseMode, Endpoint, PollConnect, PollIo, Resolve, Scheme, TransportError,
};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::tcp::{Resolved, ResolverThreads, SystemResolver};

/// A graceful close reads and discards at most this much from a peer that keeps talking.
const CLOSE_DRAIN_LIMIT: usize = 64 * 1024;

/// Bytes drained in one [`PollConnect::poll_close`] call at most, so a call stays short.
const DRAIN_PER_POLL: usize = 8 * 1024;

/// Where the connection is.
enum State {
    /// No connection.
    Idle,
    /// Waiting for the resolver thread's answer; the addresses get `port`.
    Resolving {
        answer: mpsc::Receiver<Resolved>,
        port: u16,
    },
    /// A non-blocking connect to `addrs[next - 1]` in progress; the rest are tried after it.
    Connecting {
        socket: Socket,
        addrs: Vec<SocketAddr>,
        next: usize,
    },
    /// Open.
    Open(TcpStream),
    /// Our FIN sent; draining until the peer's.
    Closing { stream: TcpStream, drained: usize },
}

/// Core's superloop stream seam over a non-blocking `TcpStream`; see the
/// [module docs](self). One connection at a time; dropping it aborts an open one (RST).
pub struct PollTcp {
    state: State,
    deadline: Instant,
    resolver: ResolverThreads,
}

impl std::fmt::Debug for PollTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Idle => "idle",
            State::Resolving { .. } => "resolving",
            State::Connecting { .. } => "connecting",
            State::Open(_) => "open",
            State::Closing { .. } => "closing",
        };
        f.debug_struct("PollTcp")
            .field("state", &state)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Default for PollTcp {
    fn default() -> Self {
        PollTcp::new()
    }
}

impl PollTcp {
    /// A transport that resolves host names with the system resolver.
    pub fn new() -> Self {
        PollTcp {
            state: State::Idle,
            deadline: Instant(0),
            resolver: ResolverThreads::new(SystemResolver),
        }
    }

    /// Resolve host names with `resolver` instead, core's [`Resolve`] with nothing lent
    /// (`()`), as [`TcpConnector::with_resolver`](crate::TcpConnector::with_resolver) takes
    /// it. It may block: it runs on a thread of its own (on a clone of `resolver` each
    /// time), and the connect stops waiting for it at its deadline.
    pub fn with_resolver<R>(mut self, resolver: R) -> Self
    where
        R: Resolve + Clone + Send + Sync + 'static,
    {
        self.resolver = ResolverThreads::new(resolver);
        self
    }

    /// The open connection's stream (for its addresses, say).
    pub fn stream(&self) -> Option<&TcpStream> {
        match &self.state {
            State::Open(stream) | State::Closing { stream, .. } => Some(stream),
            _ => None,
        }
    }

    /// Whether a connection is open, being opened, or being closed.
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, State::Idle)
    }

    /// Drop whatever is open with an abortive close (RST, no TIME-WAIT).
    fn abort(&mut self) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Open(stream) | State::Closing { stream, .. } => {
                let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            }
            State::Connecting { socket, .. } => {
                let _ = socket.set_linger(Some(Duration::ZERO));
            }
            State::Idle | State::Resolving { .. } => {}
        }
    }

    /// Start a non-blocking connect to the first address from `next` on that can be
    /// started; the state is `Connecting` or `Open` after, or the last error is returned.
    fn connect_from(
        &mut self,
        addrs: Vec<SocketAddr>,
        mut next: usize,
    ) -> Result<(), TransportError> {
        let mut last = TransportError::ConnectTimeout;
        while let Some(&addr) = addrs.get(next) {
            next += 1;
            match start_connect(addr) {
                Ok(Started::Done(stream)) => {
                    self.state = State::Open(stream);
                    return Ok(());
                }
                Ok(Started::InProgress(socket)) => {
                    self.state = State::Connecting {
                        socket,
                        addrs,
                        next,
                    };
                    return Ok(());
                }
                Err(e) => last = io_error(&e),
            }
        }
        self.state = State::Idle;
        Err(last)
    }
}

impl Drop for PollTcp {
    fn drop(&mut self) {
        self.abort();
    }
}

enum Started {
    Done(TcpStream),
    InProgress(Socket),
}

/// Begin a non-blocking connect to `addr`.
fn start_connect(addr: SocketAddr) -> io::Result<Started> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    // Requests are written whole; Nagle would only delay the last segment.
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(Started::Done(socket.into())),
        Err(e) if in_progress(&e) => Ok(Started::InProgress(socket)),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock
}

#[cfg(not(unix))]
fn in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn io_error(e: &io::Error) -> TransportError {
    TransportError::Io(embedded_io::Error::kind(e))
}

/// A read or write result as a poll: `WouldBlock` and `EINTR` are "not now".
fn polled<T>(result: io::Result<T>) -> Poll<Result<T, TransportError>> {
    match result {
        Ok(value) => Poll::Ready(Ok(value)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Poll::Pending
        }
        Err(e) => Poll::Ready(Err(io_error(&e))),
    }
}

fn not_connected<T>() -> Poll<Result<T, TransportError>> {
    Poll::Ready(Err(TransportError::Io(
        embedded_io::ErrorKind::NotConnected,
    )))
}

impl PollIo for PollTcp {
    fn poll_read(&mut self, buf: &mut [u8], _now: Instant) -> Poll<Result<usize, TransportError>> {
        match &mut self.state {
            State::Open(stream) => polled(stream.read(buf)),
            _ => not_connected(),
        }
    }

    fn poll_write(&mut self, buf: &[u8], _now: Instant) -> Poll<Result<usize, TransportError>> {
        match &mut self.state {
            State::Open(stream) => polled(stream.write(buf)),
            _ => not_connected(),
        }
    }

    fn poll_flush(&mut self, _now: Instant) -> Poll<Result<(), TransportError>> {
        // TcpStream has no user-space buffer; NODELAY sends what was written.
        match self.state {
            State::Open(_) => Poll::Ready(Ok(())),
            _ => not_connected(),
        }
    }
}

impl PollConnect for PollTcp {
    fn start_connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<(), TransportError> {
        if endpoint.scheme == Scheme::Https {
            return Err(TransportError::UnsupportedScheme);
        }
        self.abort();
        self.deadline = deadline;
        // An address literal needs no resolver (and no thread).
        if let Ok(ip) = endpoint.host.parse::<IpAddr>() {
            return self.connect_from(vec![SocketAddr::new(ip, endpoint.port)], 0);
        }
        let answer = self.resolver.start(endpoint.host, deadline)?;
        self.state = State::Resolving {
            answer,
            port: endpoint.port,
        };
        Ok(())
    }

    fn poll_connect(
        &mut self,
        _endpoint: &Endpoint<'_>,
        now: Instant,
    ) -> Poll<Result<(), TransportError>> {
        let timed_out = now >= self.deadline;
        // Taken out and put back, so each arm may start the next step.
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Open(stream) => {
                self.state = State::Open(stream);
                Poll::Ready(Ok(()))
            }
            State::Idle => not_connected(),
            State::Closing { stream, drained } => {
                self.state = State::Closing { stream, drained };
                not_connected()
            }
            State::Resolving { answer, port } => match answer.try_recv() {
                Ok(Ok(ips)) if !ips.is_empty() => {
                    let addrs = ips.into_iter().map(|ip| SocketAddr::new(ip, port));
                    match self.connect_from(addrs.collect(), 0) {
                        Ok(()) if matches!(self.state, State::Open(_)) => Poll::Ready(Ok(())),
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    }
                }
                // The resolver's own verdict stands.
                Ok(Err(e)) => Poll::Ready(Err(e)),
                // No address, or a resolver that panicked.
                Ok(Ok(_)) | Err(mpsc::TryRecvError::Disconnected) => {
                    Poll::Ready(Err(TransportError::Resolve))
                }
                // The resolver thread finishes on its own time; nobody listens to it then.
                Err(mpsc::TryRecvError::Empty) if timed_out => {
                    Poll::Ready(Err(TransportError::ConnectTimeout))
                }
                Err(mpsc::TryRecvError::Empty) => {
                    self.state = State::Resolving { answer, port };
                    Poll::Pending
                }
            },
            State::Connecting {
                socket,
                addrs,
                next,
            } => {
                let failed = match socket.take_error() {
                    Ok(None) => None,
                    Ok(Some(e)) | Err(e) => Some(io_error(&e)),
                };
                if let Some(error) = failed {
                    // This address refused or is unreachable: the next one, if any.
                    drop(socket);
                    if next >= addrs.len() || timed_out {
                        return Poll::Ready(Err(error));
                    }
                    return match self.connect_from(addrs, next) {
                        Ok(()) => Poll::Pending,
                        Err(e) => Poll::Ready(Err(e)),
                    };
                }
                if socket.peer_addr().is_ok() {
                    self.state = State::Open(socket.into());
                    return Poll::Ready(Ok(()));
                }
                self.state = State::Connecting {
                    socket,
                    addrs,
                    next,
                };
                if timed_out {
                    self.abort();
                    return Poll::Ready(Err(TransportError::ConnectTimeout));
                }
                Poll::Pending
            }
        }
    }

    /// `Graceful`: FIN, then [`poll_close`](PollConnect::poll_close) drains the peer's
    /// bytes (at most 64 KiB) until its FIN or the deadline. `Abort`: `SO_LINGER` 0 and
    /// close at once (RST, no TIME-WAIT).
    fn start_close(&mut self, mode: CloseMode, deadline: Instant) {
        self.deadline = deadline;
        match (mode, std::mem::replace(&mut self.state, State::Idle)) {
            (CloseMode::Graceful, State::Open(stream)) => {
                if stream.shutdown(Shutdown::Write).is_ok() {
                    self.state = State::Closing { stream, drained: 0 };
                }
                // Otherwise the peer already went away: dropping closes the socket.
            }
            (_, state) => {
                self.state = state;
                self.abort();
            }
        }
    }

    fn poll_close(&mut self, now: Instant) -> Poll<Result<(), TransportError>> {
        let State::Closing { stream, drained } = &mut self.state else {
            return Poll::Ready(Ok(()));
        };
        let mut buf = [0u8; 1024];
        let mut this_call = 0usize;
        loop {
            match stream.read(&mut buf) {
                // The peer's FIN: the close is complete.
                Ok(0) => {
                    self.state = State::Idle;
                    return Poll::Ready(Ok(()));
                }
                Ok(n) => {
                    *drained += n;
                    this_call += n;
                    if *drained >= CLOSE_DRAIN_LIMIT {
                        // A peer that keeps talking: stop listening to it.
                        self.abort();
                        return Poll::Ready(Ok(()));
                    }
                    if this_call >= DRAIN_PER_POLL {
                        return Poll::Pending;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Poll::Pending,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if now >= self.deadline {
                        self.abort();
                        return Poll::Ready(Err(TransportError::Io(
                            embedded_io::ErrorKind::TimedOut,
                        )));
                    }
                    return Poll::Pending;
                }
                // A reset after our FIN: the connection is gone either way.
                Err(_) => {
                    self.state = State::Idle;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}
