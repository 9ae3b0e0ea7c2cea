//! Adapter from `embedded-nal` 0.9's [`TcpClientStack`] to the stream seam
//! ([`Connect`] / [`Connection`]), so any driver written for embedded-nal gets core's HTTP
//! client.
//!
//! embedded-nal is non-blocking (`nb::Result`): an operation that cannot finish now returns
//! `WouldBlock`. The adapter retries it, calling the caller's idle hook (a [`Wait`],
//! called as `idle(now, deadline)`) between attempts (to poll the network interface, feed a
//! watchdog, or wait for an interrupt), and gives up at the deadline core set. `deadline`
//! is the latest the hook may return, not when: embedded-nal does not say when the stack
//! will have progress, so a hook that sleeps until the deadline (such as std's `Sleep`)
//! turns every operation that would block into a timeout. The clock must advance while
//! the hook runs, or the deadline cannot end a stalled operation.
//!
//! A `PipeClosed` error from `receive` is the peer's end of stream (`read` returns
//! `Ok(0)`). Host names are resolved by a [`Resolve`] that is lent the clock and the idle
//! hook ([`NalStack`]): through an [`embedded_nal::Dns`] when one is given
//! ([`DnsResolver`]); otherwise ([`NoDns`]) the host must be an IP address literal.
//!
//! ```
//! # use otlp_embedded::nal::NalConnect;
//! # use otlp_embedded::time::{Clock, Instant};
//! # fn demo<S: embedded_nal::TcpClientStack, K: Clock>(stack: S, clock: K) {
//! let connect = NalConnect::new(stack, clock, |_now: Instant, _deadline: Instant| {
//!     /* poll the interface */
//! });
//! let client = otlp_embedded::http::HttpClient::new(connect, MyClock);
//! # }
//! # struct MyClock;
//! # impl Clock for MyClock { fn now(&self) -> Instant { Instant(0) } }
//! ```

use core::net::{IpAddr, SocketAddr};

use embedded_io::ErrorKind;
use embedded_nal::{AddrType, Dns, TcpClientStack, TcpError, TcpErrorKind};

use crate::time::{Clock, Instant, Wait};
use crate::transport::{CloseMode, Connect, Connection, Endpoint, Resolve, Scheme, TransportError};

/// What [`NalConnect`] lends its resolver while it waits: the clock and the idle hook.
#[derive(Debug)]
pub struct NalStack<'a, K, I> {
    /// The clock deadlines are measured on.
    pub clock: &'a K,
    /// The caller's idle hook, to call between attempts that would block.
    pub idle: &'a mut I,
}

/// No name resolution: the endpoint host must be an IPv4 or IPv6 literal.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoDns;

impl<S: ?Sized> Resolve<S> for NoDns {
    type Addresses = Option<IpAddr>;

    fn resolve(
        &mut self,
        host: &str,
        _: &mut S,
        _: Instant,
    ) -> Result<Option<IpAddr>, TransportError> {
        host.parse().map(Some).map_err(|_| TransportError::Resolve)
    }
}

/// Name resolution through an [`embedded_nal::Dns`] (address literals are used as they are).
#[derive(Debug)]
pub struct DnsResolver<D>(pub D);

impl<D: Dns, K: Clock, I: Wait> Resolve<NalStack<'_, K, I>> for DnsResolver<D> {
    type Addresses = Option<IpAddr>;

    fn resolve(
        &mut self,
        host: &str,
        stack: &mut NalStack<'_, K, I>,
        deadline: Instant,
    ) -> Result<Option<IpAddr>, TransportError> {
        if let Ok(ip) = host.parse() {
            return Ok(Some(ip));
        }
        loop {
            match self.0.get_host_by_name(host, AddrType::Either) {
                Ok(ip) => return Ok(Some(ip)),
                Err(nb::Error::WouldBlock) => {
                    let now = stack.clock.now();
                    if now >= deadline {
                        return Err(TransportError::ConnectTimeout);
                    }
                    stack.idle.wait(now, deadline);
                }
                Err(nb::Error::Other(_)) => return Err(TransportError::Resolve),
            }
        }
    }
}

/// A [`Connect`] over an embedded-nal TCP stack.
#[derive(Debug)]
pub struct NalConnect<S, K, I, R = NoDns> {
    stack: S,
    clock: K,
    idle: I,
    resolver: R,
}

impl<S: TcpClientStack, K: Clock, I: Wait> NalConnect<S, K, I, NoDns> {
    /// An adapter for endpoints given as IP address literals.
    pub fn new(stack: S, clock: K, idle: I) -> Self {
        Self::with_resolver(stack, clock, idle, NoDns)
    }
}

impl<S: TcpClientStack, K: Clock, I: Wait, R> NalConnect<S, K, I, R>
where
    R: for<'l> Resolve<NalStack<'l, K, I>>,
{
    /// An adapter that resolves host names with `resolver` (for example a [`DnsResolver`]).
    pub fn with_resolver(stack: S, clock: K, idle: I, resolver: R) -> Self {
        NalConnect {
            stack,
            clock,
            idle,
            resolver,
        }
    }

    /// The stack, to poll it between exports.
    pub fn stack_mut(&mut self) -> &mut S {
        &mut self.stack
    }

    /// Take the adapter apart.
    pub fn into_parts(self) -> (S, K, I, R) {
        (self.stack, self.clock, self.idle, self.resolver)
    }
}

fn tcp_kind<E: TcpError>(e: &E, closed: ErrorKind) -> ErrorKind {
    match e.kind() {
        TcpErrorKind::PipeClosed => closed,
        _ => ErrorKind::Other,
    }
}

impl<S: TcpClientStack, K: Clock, I: Wait, R> Connect for NalConnect<S, K, I, R>
where
    R: for<'l> Resolve<NalStack<'l, K, I>>,
{
    type Connection<'c>
        = NalConnection<'c, S, K, I>
    where
        Self: 'c;

    fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<Self::Connection<'_>, TransportError> {
        if endpoint.scheme != Scheme::Http {
            return Err(TransportError::UnsupportedScheme);
        }
        let mut waiting = NalStack {
            clock: &self.clock,
            idle: &mut self.idle,
        };
        // The first address: an embedded-nal stack connects to one (NoDns and
        // DnsResolver find one).
        let ip = self
            .resolver
            .resolve(endpoint.host, &mut waiting, deadline)?
            .into_iter()
            .next()
            .ok_or(TransportError::Resolve)?;
        let mut socket = self.stack.socket().map_err(|_| TransportError::Exhausted)?;
        let remote = SocketAddr::new(ip, endpoint.port);
        let failure = loop {
            match self.stack.connect(&mut socket, remote) {
                Ok(()) => {
                    return Ok(NalConnection {
                        stack: &mut self.stack,
                        clock: &self.clock,
                        idle: &mut self.idle,
                        socket: Some(socket),
                        deadline,
                    })
                }
                Err(nb::Error::WouldBlock) => {
                    let now = self.clock.now();
                    if now >= deadline {
                        break TransportError::ConnectTimeout;
                    }
                    self.idle.wait(now, deadline);
                }
                Err(nb::Error::Other(e)) => {
                    break TransportError::Io(tcp_kind(&e, ErrorKind::ConnectionRefused))
                }
            }
        };
        // The socket is the stack's resource: hand it back on every failed path.
        let _ = self.stack.close(socket);
        Err(failure)
    }
}

/// An open connection of a [`NalConnect`]. Dropping it without [`Connection::close`]
/// still closes the socket.
pub struct NalConnection<'c, S: TcpClientStack, K, I> {
    stack: &'c mut S,
    clock: &'c K,
    idle: &'c mut I,
    socket: Option<S::TcpSocket>,
    deadline: Instant,
}

impl<S: TcpClientStack, K: Clock, I: Wait> NalConnection<'_, S, K, I> {
    /// Retry `op` while it would block, until the deadline.
    fn retry<T>(
        &mut self,
        closed: Result<T, ErrorKind>,
        mut op: impl FnMut(&mut S, &mut S::TcpSocket) -> nb::Result<T, S::Error>,
    ) -> Result<T, ErrorKind> {
        let socket = self.socket.as_mut().ok_or(ErrorKind::NotConnected)?;
        loop {
            match op(self.stack, socket) {
                Ok(v) => return Ok(v),
                Err(nb::Error::WouldBlock) => {
                    let now = self.clock.now();
                    if now >= self.deadline {
                        return Err(ErrorKind::TimedOut);
                    }
                    self.idle.wait(now, self.deadline);
                }
                Err(nb::Error::Other(e)) => {
                    return match e.kind() {
                        TcpErrorKind::PipeClosed => closed,
                        _ => Err(ErrorKind::Other),
                    }
                }
            }
        }
    }
}

impl<S: TcpClientStack, K, I> embedded_io::ErrorType for NalConnection<'_, S, K, I> {
    type Error = ErrorKind;
}

impl<S: TcpClientStack, K: Clock, I: Wait> embedded_io::Read for NalConnection<'_, S, K, I> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.retry(Ok(0), |stack, socket| stack.receive(socket, buf))
    }
}

impl<S: TcpClientStack, K: Clock, I: Wait> embedded_io::Write for NalConnection<'_, S, K, I> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.retry(Err(ErrorKind::BrokenPipe), |stack, socket| {
            stack.send(socket, buf)
        })
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        // embedded-nal has no flush: `send` hands bytes to the stack, which sends them.
        Ok(())
    }
}

impl<S: TcpClientStack, K: Clock, I: Wait> Connection for NalConnection<'_, S, K, I> {
    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    fn close(mut self, _mode: CloseMode) -> Result<(), TransportError> {
        // embedded-nal has one close; how it ends the TCP connection is the stack's choice.
        match self.socket.take() {
            Some(socket) => self
                .stack
                .close(socket)
                .map_err(|e| TransportError::Io(tcp_kind(&e, ErrorKind::BrokenPipe))),
            None => Ok(()),
        }
    }
}

impl<S: TcpClientStack, K, I> Drop for NalConnection<'_, S, K, I> {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            let _ = self.stack.close(socket);
        }
    }
}

impl<S: TcpClientStack, K, I> core::fmt::Debug for NalConnection<'_, S, K, I> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NalConnection")
            .field("open", &self.socket.is_some())
            .field("deadline", &self.deadline)
            .finish()
    }
}
