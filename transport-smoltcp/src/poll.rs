//! The poll form as core's superloop seam ([`PollStack`]) and host names in steps
//! ([`PollResolve`]).

use core::task::Poll;

use otlp_embedded::time::Instant;
use otlp_embedded::transport::{CloseMode, Endpoint, PollConnect, PollIo, Scheme, TransportError};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::client::TcpClient;
use crate::resolve::{ip_literal, IpLiteral, StaticHosts};

/// Resolves a host name in steps, for the poll form.
pub trait PollResolve {
    /// The address of `host`, or `WouldBlock` while an answer is awaited; an error once
    /// it cannot be had (by `deadline` at the latest). Called with the same host on each
    /// tick until it stops blocking.
    fn poll_resolve(
        &mut self,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
        host: &str,
        now: Instant,
        deadline: Instant,
    ) -> nb::Result<IpAddress, TransportError>;

    /// Give up a resolution in progress (the export was abandoned or closed).
    fn cancel(&mut self, sockets: &mut SocketSet<'_>) {
        let _ = sockets;
    }
}

impl<R: PollResolve + ?Sized> PollResolve for &mut R {
    fn poll_resolve(
        &mut self,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
        host: &str,
        now: Instant,
        deadline: Instant,
    ) -> nb::Result<IpAddress, TransportError> {
        (**self).poll_resolve(iface, sockets, host, now, deadline)
    }

    fn cancel(&mut self, sockets: &mut SocketSet<'_>) {
        (**self).cancel(sockets)
    }
}

impl PollResolve for IpLiteral {
    fn poll_resolve(
        &mut self,
        _: &Interface,
        _: &mut SocketSet<'_>,
        host: &str,
        _: Instant,
        _: Instant,
    ) -> nb::Result<IpAddress, TransportError> {
        literal(host)
    }
}

/// `host` as an IP literal, refused as the blocking [`IpLiteral`] refuses it: a literal of
/// a family this build lacks is `UnsupportedAddressFamily` (not retried), anything else
/// that is no literal `Resolve`.
fn literal(host: &str) -> nb::Result<IpAddress, TransportError> {
    match ip_literal(host) {
        Some(Ok(address)) => Ok(address),
        Some(Err(family)) => Err(nb::Error::Other(TransportError::UnsupportedAddressFamily(
            family,
        ))),
        None => Err(nb::Error::Other(TransportError::Resolve)),
    }
}

impl PollResolve for StaticHosts<'_> {
    fn poll_resolve(
        &mut self,
        _: &Interface,
        _: &mut SocketSet<'_>,
        host: &str,
        _: Instant,
        _: Instant,
    ) -> nb::Result<IpAddress, TransportError> {
        match self.named(host) {
            Some(address) => Ok(address),
            None => literal(host),
        }
    }
}

#[cfg(feature = "dns")]
impl<const ENTRIES: usize, const NAME: usize> PollResolve
    for crate::dns::DnsResolver<ENTRIES, NAME>
{
    fn poll_resolve(
        &mut self,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
        host: &str,
        now: Instant,
        deadline: Instant,
    ) -> nb::Result<IpAddress, TransportError> {
        self.poll(iface, sockets, host, now, deadline)
            .map_err(|e| e.map(crate::dns::DnsError::failure))
    }

    fn cancel(&mut self, sockets: &mut SocketSet<'_>) {
        crate::dns::DnsResolver::cancel(self, sockets)
    }
}

/// The poll form as core's superloop seam: [`PollStack`] implements
/// [`PollConnect`](otlp_embedded::transport::PollConnect) over a [`TcpClient`] and the
/// caller's interface and socket set, so core's
/// [`PollHttpClient`](otlp_embedded::http::PollHttpClient) and
/// [`Exporter::poll`](otlp_embedded::export::Exporter::poll) run a whole export from a
/// superloop, one step per tick.
///
/// A `PollStack` is a view, built on each tick from what the firmware owns and dropped at
/// the end of it, so the interface and sockets are the loop's again between ticks. It
/// holds no device: it never polls the interface (the loop does, as it always does), and
/// it has no idle hook, so no call can wait for a frame or sleep. Host names resolve in
/// steps too, through a [`PollResolve`]: [`IpLiteral`], [`StaticHosts`], or (feature
/// `dns`) the `dns::DnsResolver`, whose query goes out and is answered across ticks.
///
/// ```
/// use core::task::Poll;
/// use otlp_embedded::export::{ExportRun, Exporter};
/// use otlp_embedded::http::PollHttpClient;
/// use otlp_embedded::registry::{Registry, SnapshotOf};
/// use otlp_embedded::time::Clock;
/// use otlp_embedded_smoltcp::{smol_instant, PollStack, TcpClient};
/// use smoltcp::iface::{Interface, SocketSet};
/// use smoltcp::phy::Device;
///
/// type Metrics = Registry<4, 16, 16, 2, 32>;
///
/// /// One tick of a superloop that is exporting: poll the interface, advance the export.
/// #[allow(clippy::too_many_arguments)]
/// fn tick<D: Device, K: Clock>(
///     exporter: &mut Exporter<'static, PollHttpClient>,
///     run: &mut ExportRun<'static>,
///     client: &mut TcpClient,
///     iface: &mut Interface,
///     device: &mut D,
///     sockets: &mut SocketSet<'_>,
///     clock: &K,
///     metrics: &mut Metrics,
///     snapshot: &SnapshotOf<Metrics>,
///     buffer: &mut [u8],
/// ) -> bool {
///     iface.poll(smol_instant(clock.now()), device, sockets);
///     let mut stack = PollStack::new(client, iface, sockets);
///     // Returns at once, whatever the network does; the rest of the tick follows.
///     matches!(exporter.poll(run, metrics, snapshot, buffer, &mut stack, clock), Poll::Ready(_))
/// }
/// ```
pub struct PollStack<'a, 's, R = IpLiteral, const P: usize = 8> {
    client: &'a mut TcpClient<P>,
    iface: &'a mut Interface,
    sockets: &'a mut SocketSet<'s>,
    resolver: R,
}

impl<'a, 's, const P: usize> PollStack<'a, 's, IpLiteral, P> {
    /// A view accepting only IP-literal hosts.
    pub fn new(
        client: &'a mut TcpClient<P>,
        iface: &'a mut Interface,
        sockets: &'a mut SocketSet<'s>,
    ) -> Self {
        PollStack {
            client,
            iface,
            sockets,
            resolver: IpLiteral,
        }
    }
}

impl<'a, 's, R: PollResolve, const P: usize> PollStack<'a, 's, R, P> {
    /// Resolve hosts with `resolver` (a `&mut` one kept across ticks, for a DNS query
    /// that spans several).
    pub fn with_resolver<R2: PollResolve>(self, resolver: R2) -> PollStack<'a, 's, R2, P> {
        PollStack {
            client: self.client,
            iface: self.iface,
            sockets: self.sockets,
            resolver,
        }
    }

    /// The client state.
    pub fn client(&self) -> &TcpClient<P> {
        self.client
    }
}

fn ready<T>(result: nb::Result<T, TransportError>) -> Poll<Result<T, TransportError>> {
    match result {
        Ok(value) => Poll::Ready(Ok(value)),
        Err(nb::Error::WouldBlock) => Poll::Pending,
        Err(nb::Error::Other(e)) => Poll::Ready(Err(e)),
    }
}

impl<R: PollResolve, const P: usize> PollIo for PollStack<'_, '_, R, P> {
    fn poll_read(&mut self, buf: &mut [u8], now: Instant) -> Poll<Result<usize, TransportError>> {
        ready(self.client.recv(self.sockets, buf, now))
    }

    fn poll_write(&mut self, buf: &[u8], now: Instant) -> Poll<Result<usize, TransportError>> {
        ready(self.client.send(self.sockets, buf, now))
    }

    /// Ready once every byte written was acknowledged by the peer.
    fn poll_flush(&mut self, now: Instant) -> Poll<Result<(), TransportError>> {
        ready(self.client.flush(self.sockets, now))
    }
}

impl<R: PollResolve, const P: usize> PollConnect for PollStack<'_, '_, R, P> {
    fn start_connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<(), TransportError> {
        if endpoint.scheme != Scheme::Http {
            return Err(TransportError::UnsupportedScheme);
        }
        self.client
            .start_resolving(self.sockets, endpoint.port, deadline);
        Ok(())
    }

    fn poll_connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        now: Instant,
    ) -> Poll<Result<(), TransportError>> {
        if let Some(port) = self.client.resolving {
            let deadline = self.client.deadline();
            let resolved =
                self.resolver
                    .poll_resolve(self.iface, self.sockets, endpoint.host, now, deadline);
            match resolved {
                Ok(address) => {
                    self.client.resolving = None;
                    let remote = IpEndpoint::new(address, port);
                    self.client.start_connect(self.sockets, remote, deadline);
                }
                Err(nb::Error::WouldBlock) if now < deadline => return Poll::Pending,
                Err(nb::Error::WouldBlock) => {
                    self.resolver.cancel(self.sockets);
                    self.client.resolve_failed();
                    return Poll::Ready(Err(TransportError::ConnectTimeout));
                }
                Err(nb::Error::Other(e)) => {
                    self.client.resolve_failed();
                    return Poll::Ready(Err(e));
                }
            }
        }
        ready(self.client.poll_connect(self.iface, self.sockets, now))
    }

    fn start_close(&mut self, mode: CloseMode, deadline: Instant) {
        if self.client.resolving.is_some() {
            self.resolver.cancel(self.sockets);
        }
        self.client.start_close(self.sockets, mode, deadline);
    }

    fn poll_close(&mut self, now: Instant) -> Poll<Result<(), TransportError>> {
        ready(self.client.poll_close(self.sockets, now))
    }
}
