//! [`TcpConnector`]: core's stream seam over `std::net::TcpStream`.
//!
//! Every blocking call is bounded by the deadline core hands down:
//!
//! - connect: each resolved address in turn, each with `connect_timeout` set to what is left
//!   of the deadline;
//! - read and write: the socket's read and write timeouts are set from the remaining time
//!   before each call. A deadline that has already passed fails at once with
//!   [`ErrorKind::TimedOut`](std::io::ErrorKind::TimedOut) and never blocks (std refuses a
//!   zero timeout, which would otherwise mean "block forever");
//! - a timed-out read or write shows up as `WouldBlock` on Unix; it is reported as `TimedOut`.
//!
//! - name resolution: the resolver ([`SystemResolver`], `ToSocketAddrs`, or the core
//!   [`Resolve`] given to [`TcpConnector::with_resolver`]) may block past any deadline, so
//!   it runs on a short-lived thread of its own while the connect waits for its answer only
//!   until the deadline ([`TransportError::ConnectTimeout`] then). A stalled resolver thread finishes
//!   on its own time; at most [`MAX_STALLED_RESOLVES`] may be outstanding per connector,
//!   beyond which a connect fails at once with `ConnectTimeout` rather than start another.
//!
//! An address literal (`127.0.0.1`, `::1`) skips the resolver entirely, so a connect to one
//! starts no thread and allocates nothing.
//!
//! `https://` endpoints are refused with [`TransportError::UnsupportedScheme`] until the
//! `tls` feature exists.

use std::io::{self, Read as _};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use embedded_io_adapters::std::FromStd;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Resolve, Scheme, TransportError,
};

use crate::clock::StdClock;

/// A graceful close reads and discards at most this much from a peer that keeps talking.
const CLOSE_DRAIN_LIMIT: usize = 64 * 1024;
/// `EINTR` retries per call; a signal storm must not turn a read into a loop.
const MAX_INTERRUPTED_RETRIES: u32 = 16;

/// Resolution threads of one connector that may still be waiting on the resolver after
/// their connect gave up; past this, connects fail at once instead of starting another.
pub const MAX_STALLED_RESOLVES: usize = 4;

/// The operating system's resolver, through `ToSocketAddrs` (`getaddrinfo`, so
/// `/etc/hosts` too): the addresses in the order it gives them. It blocks as long as the
/// system's resolver does; [`TcpConnector`] runs it on a thread of its own and waits for
/// it only until the connect's deadline.
#[derive(Copy, Clone, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    type Addresses = Vec<IpAddr>;

    fn resolve(
        &mut self,
        host: &str,
        _: &mut (),
        _deadline: Instant,
    ) -> Result<Vec<IpAddr>, TransportError> {
        match (host, 0).to_socket_addrs() {
            Ok(found) => Ok(found.map(|address| address.ip()).collect()),
            Err(_) => Err(TransportError::Resolve),
        }
    }
}

/// A resolver as a connector keeps it: one call per resolution, from the resolution thread.
type SharedResolver = dyn Fn(&str, Instant) -> Result<Vec<IpAddr>, TransportError> + Send + Sync;

/// What a resolution thread answers.
pub(crate) type Resolved = Result<Vec<IpAddr>, TransportError>;

/// A resolver and its resolution threads, as the blocking [`TcpConnector`] and the polled
/// [`PollTcp`](crate::PollTcp) keep them: each resolution on a short-lived thread of its
/// own (on its own clone of the resolver, so one stalled resolution does not hold up the
/// next), at most [`MAX_STALLED_RESOLVES`] still running. Clones share both.
#[derive(Clone)]
pub(crate) struct ResolverThreads {
    resolver: Arc<SharedResolver>,
    /// Threads still running (their answer may come after their connect gave up).
    running: Arc<AtomicUsize>,
}

impl ResolverThreads {
    pub(crate) fn new<R>(resolver: R) -> Self
    where
        R: Resolve + Clone + Send + Sync + 'static,
    {
        ResolverThreads {
            resolver: Arc::new(move |host: &str, deadline: Instant| {
                let found = resolver.clone().resolve(host, &mut (), deadline)?;
                Ok(found.into_iter().collect())
            }),
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Threads still running.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Starts resolving `host` on a thread of its own; the answer comes once on the
    /// channel returned, whether or not anyone still listens (a resolver that panics
    /// closes it instead). `ConnectTimeout` when [`MAX_STALLED_RESOLVES`] threads still
    /// run, since a resolver that stalls would otherwise leave one thread per connect
    /// behind; `Resolve` when no thread can be started.
    pub(crate) fn start(
        &self,
        host: &str,
        deadline: Instant,
    ) -> Result<mpsc::Receiver<Resolved>, TransportError> {
        if self.running.fetch_add(1, Ordering::AcqRel) >= MAX_STALLED_RESOLVES {
            self.running.fetch_sub(1, Ordering::AcqRel);
            return Err(TransportError::ConnectTimeout);
        }
        // Counted from here: a thread that cannot be started drops its closure, and the
        // slot with it.
        let slot = ResolveSlot(Arc::clone(&self.running));
        let (send, answer) = mpsc::sync_channel(1);
        let (resolver, name) = (Arc::clone(&self.resolver), host.to_owned());
        std::thread::Builder::new()
            .name("otlp-resolve".into())
            .spawn(move || {
                // Declared after `send`, so dropped before it: if the resolver panics,
                // the slot is given back before the connect sees the channel close.
                let send = send;
                let slot = slot;
                let result = resolver(&name, deadline);
                drop(slot);
                // The connect may have given up already: then nobody listens.
                let _ = send.send(result);
            })
            .map_err(|_| TransportError::Resolve)?;
        Ok(answer)
    }
}

/// One outstanding resolution, counted in `ResolverThreads::running`: given back when
/// dropped, so a resolver that panics does not keep its slot for good.
struct ResolveSlot(Arc<AtomicUsize>);

impl Drop for ResolveSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Opens plain TCP connections with `std::net`, bounded by core's deadlines.
///
/// `K` is the clock core's deadlines are measured on: give the connector a copy of the same
/// [`StdClock`] that the HTTP client uses. Clones share the resolver and its count of
/// outstanding resolutions.
#[derive(Clone)]
pub struct TcpConnector<K: Clock + Clone = StdClock> {
    clock: K,
    resolver: ResolverThreads,
}

impl<K: Clock + Clone + Default> Default for TcpConnector<K> {
    fn default() -> Self {
        TcpConnector::new(K::default())
    }
}

impl<K: Clock + Clone + std::fmt::Debug> std::fmt::Debug for TcpConnector<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConnector")
            .field("clock", &self.clock)
            .field("resolving", &self.resolver.running())
            .finish_non_exhaustive()
    }
}

impl<K: Clock + Clone> TcpConnector<K> {
    /// A connector that measures deadlines on `clock` and resolves names with the system
    /// resolver.
    pub fn new(clock: K) -> Self {
        TcpConnector {
            clock,
            resolver: ResolverThreads::new(SystemResolver),
        }
    }

    /// Resolves host names with `resolver` instead (a cache, a fixed table, a DNS client),
    /// core's [`Resolve`] with nothing lent (`()`). It may block: the connect waits for it
    /// only until its deadline. Each resolution runs on a clone of it, on a thread of its
    /// own, so a resolver that keeps state (a cache) shares it behind an `Arc`.
    pub fn with_resolver<R>(mut self, resolver: R) -> Self
    where
        R: Resolve + Clone + Send + Sync + 'static,
    {
        self.resolver = ResolverThreads::new(resolver);
        self
    }

    /// The clock deadlines are measured on.
    pub fn clock(&self) -> &K {
        &self.clock
    }

    fn remaining(&self, deadline: Instant) -> Duration {
        Duration::from_millis(self.clock.now().millis_until(deadline))
    }

    /// Resolves `host` on a thread of its own, waiting for the answer until `deadline`.
    fn resolve(&self, host: &str, deadline: Instant) -> Result<Vec<IpAddr>, TransportError> {
        let answer = self.resolver.start(host, deadline)?;
        match answer.recv_timeout(self.remaining(deadline)) {
            Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
            // No address, or a resolver that panicked.
            Ok(Ok(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => Err(TransportError::Resolve),
            // The resolver's own verdict stands.
            Ok(Err(e)) => Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TransportError::ConnectTimeout),
        }
    }
}

impl<K: Clock + Clone> Connect for TcpConnector<K> {
    type Connection<'c>
        = TcpConnection<K>
    where
        Self: 'c;

    fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<TcpConnection<K>, TransportError> {
        if endpoint.scheme == Scheme::Https {
            return Err(TransportError::UnsupportedScheme);
        }
        if self.remaining(deadline).is_zero() {
            // Out of time before starting: do not even ask the resolver.
            return Err(TransportError::ConnectTimeout);
        }
        // An address literal needs no resolver (and no allocation): connect directly.
        if let Ok(ip) = endpoint.host.parse::<IpAddr>() {
            return self.connect_addr(SocketAddr::new(ip, endpoint.port), deadline);
        }
        let addrs = self.resolve(endpoint.host, deadline)?;
        let mut last_error = TransportError::ConnectTimeout;
        for addr in addrs
            .into_iter()
            .map(|ip| SocketAddr::new(ip, endpoint.port))
        {
            if self.remaining(deadline).is_zero() {
                // Out of time: a refusal seen earlier is the more useful answer, if any.
                break;
            }
            match self.connect_addr(addr, deadline) {
                Ok(connection) => return Ok(connection),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }
}

impl<K: Clock + Clone> TcpConnector<K> {
    /// Connect to one address, bounded by what is left of `deadline`.
    fn connect_addr(
        &self,
        addr: SocketAddr,
        deadline: Instant,
    ) -> Result<TcpConnection<K>, TransportError> {
        let remaining = self.remaining(deadline);
        if remaining.is_zero() {
            return Err(TransportError::ConnectTimeout);
        }
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(stream) => {
                // Requests are written whole; Nagle would only delay the last segment.
                stream.set_nodelay(true).map_err(|e| io_error(&e))?;
                Ok(TcpConnection {
                    stream: FromStd::new(stream),
                    clock: self.clock.clone(),
                    deadline,
                })
            }
            Err(e) => Err(match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    TransportError::ConnectTimeout
                }
                _ => io_error(&e),
            }),
        }
    }
}

fn io_error(e: &io::Error) -> TransportError {
    TransportError::Io(embedded_io::Error::kind(e))
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "deadline passed")
}

/// One open connection from [`TcpConnector`].
///
/// Reads and writes go through `embedded-io-adapters`' `FromStd`; each is preceded by
/// setting the socket timeout from the remaining deadline.
pub struct TcpConnection<K: Clock + Clone = StdClock> {
    stream: FromStd<TcpStream>,
    clock: K,
    deadline: Instant,
}

impl<K: Clock + Clone> std::fmt::Debug for TcpConnection<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpConnection")
            .field("stream", self.stream.inner())
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl<K: Clock + Clone> TcpConnection<K> {
    /// The underlying stream (for its addresses, say).
    pub fn stream(&self) -> &TcpStream {
        self.stream.inner()
    }

    /// Remaining time, or `TimedOut` when none is left: never hand std a zero timeout.
    fn remaining(&self) -> io::Result<Duration> {
        let ms = self.clock.now().millis_until(self.deadline);
        if ms == 0 {
            Err(timed_out())
        } else {
            Ok(Duration::from_millis(ms))
        }
    }

    fn arm_read(&self) -> io::Result<()> {
        let remaining = self.remaining()?;
        self.stream.inner().set_read_timeout(Some(remaining))
    }

    fn arm_write(&self) -> io::Result<()> {
        let remaining = self.remaining()?;
        self.stream.inner().set_write_timeout(Some(remaining))
    }

    /// Read and discard until the peer's FIN, the deadline, an error or the drain limit.
    fn drain(&mut self) {
        let mut buf = [0u8; 1024];
        let mut drained = 0usize;
        while drained < CLOSE_DRAIN_LIMIT {
            if self.arm_read().is_err() {
                return;
            }
            match self.stream.inner_mut().read(&mut buf) {
                Ok(0) => return,
                Ok(n) => drained += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// Unix reports an expired socket timeout as `EAGAIN` (`WouldBlock`); callers want
/// `TimedOut`.
fn map_timeout(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, e)
    } else {
        e
    }
}

impl<K: Clock + Clone> embedded_io::ErrorType for TcpConnection<K> {
    type Error = io::Error;
}

impl<K: Clock + Clone> embedded_io::Read for TcpConnection<K> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        let mut retries = 0;
        loop {
            self.arm_read()?;
            match embedded_io::Read::read(&mut self.stream, buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    retries += 1;
                    if retries > MAX_INTERRUPTED_RETRIES {
                        return Err(e);
                    }
                }
                other => return other.map_err(map_timeout),
            }
        }
    }
}

impl<K: Clock + Clone> embedded_io::Write for TcpConnection<K> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        let mut retries = 0;
        loop {
            self.arm_write()?;
            match embedded_io::Write::write(&mut self.stream, buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    retries += 1;
                    if retries > MAX_INTERRUPTED_RETRIES {
                        return Err(e);
                    }
                }
                other => return other.map_err(map_timeout),
            }
        }
    }

    fn flush(&mut self) -> Result<(), io::Error> {
        // TcpStream has no user-space buffer; NODELAY sends what was written.
        Ok(())
    }
}

impl<K: Clock + Clone> Connection for TcpConnection<K> {
    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// `Graceful`: FIN, then read and discard until the peer's FIN or the deadline (at most
    /// 64 KiB), then close. `Abort`: `SO_LINGER` 0, so the close sends RST and leaves no
    /// `TIME_WAIT`. Either way the socket is closed when this returns.
    fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        match mode {
            CloseMode::Graceful => {
                let result = self.stream.inner().shutdown(Shutdown::Write);
                match result {
                    Ok(()) => {
                        self.drain();
                        Ok(())
                    }
                    // The peer already went away; dropping still closes the socket.
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
                    Err(e) => Err(io_error(&e)),
                }
            }
            CloseMode::Abort => {
                // std has no stable `set_linger`; socket2 sets SO_LINGER without unsafe code.
                let sock = socket2::SockRef::from(self.stream.inner());
                let linger = sock.set_linger(Some(Duration::ZERO));
                if linger.is_err() {
                    let _ = self.stream.inner().shutdown(Shutdown::Both);
                }
                Ok(())
            }
        }
        // `self` drops here, closing the file descriptor on every path.
    }
}
