//! The blocking form: core's stream seam ([`Connect`] + [`Connection`]) over [`TcpClient`].
//!
//! Each call loops over the poll-form step: poll the interface, try the step, and when it
//! would block call the idle hook (where firmware sleeps until the next interrupt or the
//! instant smoltcp asks to be polled again, or feeds a watchdog). Every step ends at its
//! absolute deadline, so every loop ends as long as the clock advances.

use embedded_io::ErrorKind;
use otlp_embedded::time::{Clock, Instant, Wait};
use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Resolve, Scheme, TransportError,
};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::phy::Device;
use smoltcp::wire::IpEndpoint;

use crate::client::TcpClient;
use crate::resolve::{first_reachable, IpLiteral, StackAccess};

/// The idle hook type used when none is given: does nothing (busy polling).
pub type NoIdle = fn(Instant, Instant);

/// Converts core's millisecond instant to smoltcp's.
pub fn smol_instant(at: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_millis(i64::try_from(at.as_millis()).unwrap_or(i64::MAX))
}

/// The caller's smoltcp stack as a [`Blocking`] connector holds it: the client state, the
/// interface, device and socket set, the clock and the idle hook. Every blocking step runs
/// on it, and it is what the connector lends its resolver ([`StackAccess`]), so a resolver
/// for this transport implements `Resolve<SmolStack<..>>` (or `Resolve<S>` for every
/// `S: StackAccess`, as `dns::DnsResolver` does).
pub struct SmolStack<'a, 's, D: Device, K: Clock, H: Wait, const P: usize> {
    client: &'a mut TcpClient<P>,
    iface: &'a mut Interface,
    device: &'a mut D,
    sockets: &'a mut SocketSet<'s>,
    clock: K,
    idle: H,
}

impl<D: Device, K: Clock, H: Wait, const P: usize> SmolStack<'_, '_, D, K, H, P> {
    /// Poll the interface once and return the instant it was polled at.
    fn poll(&mut self) -> Instant {
        let now = self.clock.now();
        self.iface
            .poll(smol_instant(now), &mut *self.device, &mut *self.sockets);
        now
    }

    /// Call the idle hook with when the next poll is due (smoltcp's timers or the deadline).
    fn idle(&mut self, now: Instant) {
        let deadline = self.client.deadline();
        self.idle_until(now, deadline);
    }

    /// Call the idle hook with the earlier of smoltcp's next poll and `deadline`.
    fn idle_until(&mut self, now: Instant, deadline: Instant) {
        let wake = match self.iface.poll_at(smol_instant(now), self.sockets) {
            Some(at) => {
                let at = Instant(u64::try_from(at.total_millis()).unwrap_or(0));
                at.min(deadline)
            }
            None => deadline,
        };
        self.idle.wait(now, wake);
    }

    /// Repeat `step` until it stops blocking. It returns an error at its deadline.
    fn run<T>(
        &mut self,
        mut step: impl FnMut(
            &mut TcpClient<P>,
            &mut Interface,
            &mut SocketSet<'_>,
            Instant,
        ) -> nb::Result<T, TransportError>,
    ) -> Result<T, TransportError> {
        loop {
            let now = self.poll();
            match step(self.client, self.iface, self.sockets, now) {
                Ok(v) => return Ok(v),
                Err(nb::Error::Other(e)) => return Err(e),
                Err(nb::Error::WouldBlock) => self.idle(now),
            }
        }
    }
}

impl<D: Device, K: Clock, H: Wait, const P: usize> StackAccess for SmolStack<'_, '_, D, K, H, P> {
    fn poll(&mut self) -> Instant {
        SmolStack::poll(self)
    }

    fn idle_until(&mut self, now: Instant, wake_by: Instant) {
        SmolStack::idle_until(self, now, wake_by);
    }

    fn with_parts<T>(&mut self, f: impl FnOnce(&mut Interface, &mut SocketSet<'_>) -> T) -> T {
        f(self.iface, self.sockets)
    }
}

/// A blocking connector over a caller's smoltcp stack: implements core's [`Connect`].
///
/// It borrows the [`TcpClient`] (which keeps the local port history between connections),
/// the interface, the device and the socket set for as long as it lives; build one for an
/// export and drop it after, so the firmware has its stack back in between.
///
/// `H` is the idle hook, a core [`Wait`] (any `FnMut(Instant, Instant)`), called as
/// `idle(now, wake_by)` whenever a step waits: `wake_by` is the earlier of the step's
/// deadline and when smoltcp next needs polling. `R` turns the endpoint's host into an
/// address, a core [`Resolve`] lent the stack (by default only IP literals are accepted;
/// the `dns` feature's `dns::DnsResolver` asks DNS servers, within the connect deadline).
pub struct Blocking<'a, 's, D, K, H = NoIdle, R = IpLiteral, const P: usize = 8>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    driver: SmolStack<'a, 's, D, K, H, P>,
    resolver: R,
}

impl<'a, 's, D: Device, K: Clock, const P: usize> Blocking<'a, 's, D, K, NoIdle, IpLiteral, P> {
    /// A connector that busy-polls and accepts only IP-literal hosts.
    pub fn new(
        client: &'a mut TcpClient<P>,
        iface: &'a mut Interface,
        device: &'a mut D,
        sockets: &'a mut SocketSet<'s>,
        clock: K,
    ) -> Self {
        fn no_idle(_now: Instant, _wake_by: Instant) {}
        Blocking {
            driver: SmolStack {
                client,
                iface,
                device,
                sockets,
                clock,
                idle: no_idle,
            },
            resolver: IpLiteral,
        }
    }
}

impl<'a, 's, D, K, H, R, const P: usize> Blocking<'a, 's, D, K, H, R, P>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    /// Use `idle` as the idle hook (sleep until an interrupt or `wake_by`, feed a watchdog).
    pub fn with_idle<H2: Wait>(self, idle: H2) -> Blocking<'a, 's, D, K, H2, R, P> {
        let SmolStack {
            client,
            iface,
            device,
            sockets,
            clock,
            ..
        } = self.driver;
        Blocking {
            driver: SmolStack {
                client,
                iface,
                device,
                sockets,
                clock,
                idle,
            },
            resolver: self.resolver,
        }
    }

    /// Use `resolver` to turn the endpoint's host into an address (every resolver of this
    /// crate takes IP literals as they are).
    pub fn with_resolver<R2>(self, resolver: R2) -> Blocking<'a, 's, D, K, H, R2, P>
    where
        R2: Resolve<SmolStack<'a, 's, D, K, H, P>>,
    {
        Blocking {
            driver: self.driver,
            resolver,
        }
    }

    /// The client state (phase, port walker).
    pub fn client(&self) -> &TcpClient<P> {
        self.driver.client
    }

    /// The clock.
    pub fn clock(&self) -> &K {
        &self.driver.clock
    }

    pub(crate) fn client_mut(&mut self) -> &mut TcpClient<P> {
        self.driver.client
    }

    /// The resolver.
    pub fn resolver(&self) -> &R {
        &self.resolver
    }

    /// Keep the stack running until the clock reaches `at`: poll the interface (so that
    /// ACKs, retransmissions and TIME-WAIT play out) and call the idle hook in between.
    /// This is the sleep between an exporter's retries. Returns at once if `at` has come.
    pub fn wait_until(&mut self, at: Instant) {
        loop {
            let now = self.driver.poll();
            if now >= at {
                return;
            }
            self.driver.idle_until(now, at);
        }
    }
}

impl<'a, 's, D, K, H, R, const P: usize> Connect for Blocking<'a, 's, D, K, H, R, P>
where
    D: Device,
    K: Clock,
    H: Wait,
    R: Resolve<SmolStack<'a, 's, D, K, H, P>>,
{
    type Connection<'c>
        = SmolConnection<'c, 'a, 's, D, K, H, P>
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
        let found = self
            .resolver
            .resolve(endpoint.host, &mut self.driver, deadline)?;
        // The first address this build can reach; the client connects to one.
        let addr = first_reachable(found)?;
        let driver = &mut self.driver;
        driver.client.start_connect(
            driver.sockets,
            IpEndpoint::new(addr, endpoint.port),
            deadline,
        );
        driver.run(|client, iface, sockets, now| client.poll_connect(iface, sockets, now))?;
        Ok(SmolConnection {
            driver,
            closed: false,
        })
    }
}

/// An open connection of a [`Blocking`] connector: `embedded_io` Read + Write and core's
/// [`Connection`]. Dropping it without [`close`](Connection::close) aborts it (RST).
pub struct SmolConnection<'c, 'a, 's, D, K, H, const P: usize>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    driver: &'c mut SmolStack<'a, 's, D, K, H, P>,
    closed: bool,
}

impl<D, K, H, const P: usize> SmolConnection<'_, '_, '_, D, K, H, P>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    /// The local port of this connection.
    pub fn local_port(&self) -> Option<u16> {
        self.driver
            .sockets
            .get::<smoltcp::socket::tcp::Socket>(self.driver.client.handle())
            .local_endpoint()
            .map(|e| e.port)
    }
}

/// The I/O error kind for a transport error from a send or receive step.
fn kind(e: TransportError) -> ErrorKind {
    match e {
        TransportError::Io(k) => k,
        TransportError::ConnectTimeout => ErrorKind::TimedOut,
        _ => ErrorKind::Other,
    }
}

impl<D, K, H, const P: usize> embedded_io::ErrorType for SmolConnection<'_, '_, '_, D, K, H, P>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    type Error = ErrorKind;
}

impl<D, K, H, const P: usize> embedded_io::Read for SmolConnection<'_, '_, '_, D, K, H, P>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.driver
            .run(|client, _, sockets, now| client.recv(sockets, buf, now))
            .map_err(kind)
    }
}

impl<D, K, H, const P: usize> embedded_io::Write for SmolConnection<'_, '_, '_, D, K, H, P>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let n = self
            .driver
            .run(|client, _, sockets, now| client.send(sockets, buf, now))
            .map_err(kind)?;
        // Push the segment out now rather than on the next read's first poll.
        self.driver.poll();
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        self.driver
            .run(|client, _, sockets, now| client.flush(sockets, now))
            .map_err(kind)
    }
}

impl<D, K, H, const P: usize> Connection for SmolConnection<'_, '_, '_, D, K, H, P>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    fn set_deadline(&mut self, deadline: Instant) {
        self.driver.client.set_deadline(deadline);
    }

    fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        self.closed = true;
        let deadline = self.driver.client.deadline();
        self.driver
            .client
            .start_close(self.driver.sockets, mode, deadline);
        let result = self
            .driver
            .run(|client, _, sockets, now| client.poll_close(sockets, now));
        // Send the RST of an abort (or of a graceful close that ran out of time) now.
        self.driver.poll();
        result
    }
}

impl<D, K, H, const P: usize> Drop for SmolConnection<'_, '_, '_, D, K, H, P>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    fn drop(&mut self) {
        if !self.closed {
            self.driver.client.abort(self.driver.sockets);
            self.driver.poll();
        }
    }
}
