//! One whole export from firmware over its smoltcp stack, in one call.
//!
//! [`export_once`] wires the pieces a board needs: [`Blocking`] (the smoltcp stream seam)
//! under core's [`HttpClient`] under core's [`Exporter`]. It collects a snapshot from the
//! producer (the registry), encodes it into the caller's buffer, sends every request, waits
//! out retries while keeping the stack polled, settles every request, and returns the
//! [`ExportReport`]. Nothing is allocated; everything is borrowed from the caller for the
//! duration of the call only, so the firmware has its stack back in between exports.
//!
//! [`export_once_with`] does the same with a connector layered over `Blocking`, such as
//! `otlp-embedded-tls`'s `TlsConnector` for HTTPS: see [`Layer`]. This crate depends on no
//! TLS crate; the caller's layer type brings it.
//!
//! ```
//! use otlp_embedded::export::{ExportOutcome, ExporterConfig};
//! use otlp_embedded::proto::{RequestHeader, Resource, Scope};
//! use otlp_embedded::registry::{Registry, SnapshotOf};
//! use otlp_embedded::time::{Clock, Instant};
//! use otlp_embedded::transport::{Endpoint, Scheme};
//! use otlp_embedded_smoltcp::firmware::{export_once, Stack};
//! use otlp_embedded_smoltcp::{IpLiteral, TcpClient};
//! use smoltcp::iface::{Interface, SocketSet};
//! use smoltcp::phy::Device;
//!
//! type Metrics = Registry<4, 16, 16, 2, 32>;
//!
//! #[allow(clippy::too_many_arguments)]
//! fn export<D: Device, K: Clock>(
//!     // TcpClient::new(socket_handle, DeviceSeed::new(hardware_rng_u64)), made at boot and
//!     // kept across exports: the seed spreads local ports and retry jitter per device.
//!     client: &mut TcpClient,
//!     iface: &mut Interface,
//!     device: &mut D,
//!     sockets: &mut SocketSet<'_>,
//!     clock: &K,
//!     metrics: &mut Metrics,
//!     snapshot: &mut SnapshotOf<Metrics>,
//!     buffer: &mut [u8],
//!     unix_now: u64,
//! ) -> bool {
//!     let header = RequestHeader::new(Resource::new(&[]), Scope::new("board"));
//!     let endpoint = Endpoint::new(Scheme::Http, "10.0.0.2", 4318, "/v1/metrics");
//!     let mut config = ExporterConfig::new(endpoint, header);
//!     config.export_timeout_ms = 5_000;
//!     let stack = Stack {
//!         client, iface, device, sockets, clock,
//!         idle: |_now: Instant, _wake_by: Instant| { /* feed the watchdog, wait for an interrupt */ },
//!         resolver: IpLiteral, // or a DnsResolver (feature `dns`) for a host name
//!     };
//!     let report = export_once(stack, metrics, snapshot, buffer, config, unix_now);
//!     // A failed export keeps its delta data in the registry for the next one.
//!     report.outcome == ExportOutcome::Success
//! }
//! ```

use otlp_embedded::export::{ExportReport, Exporter, ExporterConfig, Step};
use otlp_embedded::http::HttpClient;
use otlp_embedded::time::{Clock, UnixNanos, Wait};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::phy::Device;

use otlp_embedded::registry::Producer;
use otlp_embedded::transport::{Connect, Resolve};

use crate::blocking::{Blocking, SmolStack};
use crate::client::TcpClient;
use crate::resolve::IpLiteral;

/// The caller's network stack, clock, idle hook and resolver, borrowed for one export.
///
/// `client` keeps the socket handle, the local port history and the device seed's jitter
/// stream, so keep it across exports. `idle`, a core [`Wait`] (any
/// `FnMut(Instant, Instant)`), is called as `idle(now, wake_by)` whenever the export waits
/// (for the network, or between retries): feed a watchdog there, or sleep until an
/// interrupt or `wake_by`. The clock must advance, since every wait ends at a deadline on
/// it. `resolver`, a core [`Resolve`], turns the endpoint's host into an address:
/// [`IpLiteral`] for an address literal, [`StaticHosts`](crate::StaticHosts) for a fixed
/// table, or (feature `dns`) a `&mut` `dns::DnsResolver` kept across exports for its cache.
///
/// [`Instant`]: otlp_embedded::time::Instant
pub struct Stack<'a, 's, D, K, H, R = IpLiteral, const P: usize = 8>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    /// The transport state: socket handle, local port walker, jitter seeds.
    pub client: &'a mut TcpClient<P>,
    /// The smoltcp interface the socket's traffic goes through.
    pub iface: &'a mut Interface,
    /// The interface's device.
    pub device: &'a mut D,
    /// The socket set holding `client`'s socket.
    pub sockets: &'a mut SocketSet<'s>,
    /// The monotonic clock all deadlines are measured on.
    pub clock: &'a K,
    /// The idle hook.
    pub idle: H,
    /// Turns the endpoint's host into an address.
    pub resolver: R,
}

/// Collect from `producer` into `snapshot`, encode into `buffer`, and export to
/// `config.endpoint` over `stack`, retrying as `config.retry` says until
/// `config.export_timeout_ms` has passed. `unix_now` stamps the points.
///
/// Returns the account of the export: every collected point is sent, dropped (counted) or
/// abandoned, and abandoned delta data stays in the producer for the next export. The host
/// is resolved by `stack.resolver` within each request's deadline (a host name needs a
/// resolver that knows it, such as the `dns` feature's `DnsResolver`). The connection is
/// closed (gracefully, or aborted on error) before this returns; the socket is then
/// `Closed` or in `TimeWait`, ready for the next export.
///
/// Retry jitter comes from the device seed the [`TcpClient`] was made with (a fresh jitter
/// seed for each export, see [`TcpClient::next_jitter_seed`]); `config.jitter_seed` is not
/// used, so a firmware cannot ship with a constant one and have its fleet retry in
/// lockstep. The exporter lives only for this call, so its lifetime totals do not carry
/// over: sum the reports if totals are wanted. A collector's `Retry-After` does carry
/// over, in the [`TcpClient`]: an export that starts before that instant sends nothing
/// until then, or ends at once with its data kept when its deadline comes first.
pub fn export_once<'a, 's, D, K, H, R, Pr, const P: usize>(
    stack: Stack<'a, 's, D, K, H, R, P>,
    producer: &mut Pr,
    snapshot: &mut Pr::Snapshot,
    buffer: &mut [u8],
    config: ExporterConfig<'_>,
    unix_now: UnixNanos,
) -> ExportReport
where
    D: Device,
    K: Clock,
    H: Wait,
    R: Resolve<SmolStack<'a, 's, D, &'a K, H, P>>,
    Pr: Producer,
{
    export_once_with(stack, Plain, producer, snapshot, buffer, config, unix_now)
}

/// A connector layered over the stack's [`Blocking`] connector for [`export_once_with`]:
/// TLS, for one (`otlp-embedded-tls`'s `TlsConnector` over `B`), or [`Plain`] for none.
///
/// `B` is the `Blocking` connector `export_once_with` builds over the caller's stack. The
/// layer must be able to hand it back ([`Layer::beneath`]) because the waits between
/// retries run on it (they keep the stack polled), not on the layer.
///
/// A TLS layer, sketched (the type holding the TLS crate's arguments is the caller's, so
/// the trait can be implemented for it; this crate does not depend on any TLS crate):
///
/// ```text
/// struct Tls<'b, R> { rng: R, options: TlsOptions<'b>, read: &'b mut [u8], write: &'b mut [u8] }
/// impl<'b, B: Connect, R: RngCore + CryptoRng> Layer<B> for Tls<'b, R> {
///     type Connector = TlsConnector<'b, B, R>;
///     fn wrap(self, beneath: B) -> Self::Connector {
///         TlsConnector::new(beneath, self.rng, self.options, self.read, self.write)
///     }
///     fn beneath(connector: &mut Self::Connector) -> &mut B {
///         connector.inner_mut()
///     }
/// }
/// ```
pub trait Layer<B> {
    /// The connector the HTTP client uses.
    type Connector: Connect;
    /// Build the connector over `beneath`.
    fn wrap(self, beneath: B) -> Self::Connector;
    /// The connector beneath, for the waits between retries.
    fn beneath(connector: &mut Self::Connector) -> &mut B;
}

/// No layer: HTTP straight over [`Blocking`], as [`export_once`] does.
#[derive(Copy, Clone, Debug, Default)]
pub struct Plain;

impl<B: Connect> Layer<B> for Plain {
    type Connector = B;
    fn wrap(self, beneath: B) -> B {
        beneath
    }
    fn beneath(connector: &mut B) -> &mut B {
        connector
    }
}

/// [`export_once`] with a connector layered over the stack's [`Blocking`] one, such as
/// TLS: `layer` wraps the `Blocking` connector, and core's [`HttpClient`] runs over what
/// it returns. Everything [`export_once`] says holds; the endpoint's scheme is the
/// layer's business (a TLS layer wants `https`, and opens plain TCP beneath).
pub fn export_once_with<'a, 's, D, K, H, R, L, Pr, const P: usize>(
    stack: Stack<'a, 's, D, K, H, R, P>,
    layer: L,
    producer: &mut Pr,
    snapshot: &mut Pr::Snapshot,
    buffer: &mut [u8],
    config: ExporterConfig<'_>,
    unix_now: UnixNanos,
) -> ExportReport
where
    D: Device,
    K: Clock,
    H: Wait,
    R: Resolve<SmolStack<'a, 's, D, &'a K, H, P>>,
    L: Layer<Blocking<'a, 's, D, &'a K, H, R, P>>,
    Pr: Producer,
{
    let clock = stack.clock;
    let mut config = config;
    config.jitter_seed = stack.client.next_jitter_seed();
    let hold = stack.client.retry_hold;
    let blocking = Blocking::new(
        stack.client,
        stack.iface,
        stack.device,
        stack.sockets,
        clock,
    )
    .with_idle(stack.idle)
    .with_resolver(stack.resolver);
    let connector = layer.wrap(blocking);
    let http = HttpClient::new(connector, clock);
    let mut exporter = Exporter::new(config, http);
    // A collector's `Retry-After` outlives this call's exporter: the client keeps it.
    exporter.policy_mut().set_hold_until(hold);
    let mut run = exporter.start(producer, snapshot, unix_now, clock.now());
    // Ends at the export deadline at the latest: every step and every wait is bounded by
    // it, as long as the clock advances.
    let report = loop {
        match exporter.step(&mut run, producer, snapshot, buffer, &clock) {
            Step::Done(report) => break report,
            Step::Wait(at) => L::beneath(exporter.exchange_mut().connector_mut()).wait_until(at),
        }
    };
    let hold = exporter.policy().hold_until();
    L::beneath(exporter.exchange_mut().connector_mut())
        .client_mut()
        .retry_hold = hold;
    report
}
