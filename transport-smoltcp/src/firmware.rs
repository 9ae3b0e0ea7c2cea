//! One whole export from firmware over its smoltcp stack, in one call.
//!
//! [`export_once`] wires the pieces a board needs: [`Blocking`] (the smoltcp stream seam)
//! under core's [`HttpClient`] under core's [`Exporter`]. It collects a snapshot from the
//! producer (the registry), encodes it into the caller's buffer, sends every request, waits
//! out retries while keeping the stack polled, settles every request, and returns the
//! [`ExportReport`]. Nothing is allocated; everything is borrowed from the caller for the
//! duration of the call only, so the firmware has its stack back in between exports.
//!
//! ```
//! use otlp_embedded::export::{ExportOutcome, ExporterConfig};
//! use otlp_embedded::proto::{RequestHeader, Resource, Scope};
//! use otlp_embedded::registry::{Registry, Snapshot};
//! use otlp_embedded::time::{Clock, Instant};
//! use otlp_embedded::transport::{Endpoint, Scheme};
//! use otlp_embedded_smoltcp::firmware::{export_once, Stack};
//! use otlp_embedded_smoltcp::TcpClient;
//! use smoltcp::iface::{Interface, SocketSet};
//! use smoltcp::phy::Device;
//!
//! type Metrics = Registry<4, 16, 16, 2, 32>;
//!
//! #[allow(clippy::too_many_arguments)]
//! fn export<D: Device, K: Clock>(
//!     client: &mut TcpClient, // TcpClient::new(socket_handle, boot_seed), kept across exports
//!     iface: &mut Interface,
//!     device: &mut D,
//!     sockets: &mut SocketSet<'_>,
//!     clock: &K,
//!     metrics: &mut Metrics,
//!     snapshot: &mut Snapshot<4, 16, 16, 2, 32>,
//!     buffer: &mut [u8],
//!     unix_now: u64,
//! ) -> bool {
//!     let header = RequestHeader {
//!         resource: Resource { attributes: &[], dropped_attributes_count: 0, schema_url: "" },
//!         scope: Scope { name: "board", version: "", attributes: &[], dropped_attributes_count: 0, schema_url: "" },
//!     };
//!     let endpoint = Endpoint { scheme: Scheme::Http, host: "10.0.0.2", port: 4318, path: "/v1/metrics" };
//!     let mut config = ExporterConfig::new(endpoint, header);
//!     config.export_timeout_ms = 5_000;
//!     let stack = Stack {
//!         client, iface, device, sockets, clock,
//!         idle: |_now: Instant, _wake_by: Instant| { /* feed the watchdog, wait for an interrupt */ },
//!     };
//!     let report = export_once(stack, metrics, snapshot, buffer, config, unix_now);
//!     // A failed export keeps its delta data in the registry for the next one.
//!     report.outcome == ExportOutcome::Success
//! }
//! ```

use otlp_embedded::export::{ExportReport, Exporter, ExporterConfig, Producer, Step};
use otlp_embedded::http::HttpClient;
use otlp_embedded::time::{Clock, Instant, UnixNanos};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::phy::Device;

use crate::blocking::Blocking;
use crate::client::TcpClient;

/// The caller's network stack, clock and idle hook, borrowed for one export.
///
/// `client` keeps the socket handle and the local port history, so keep it across exports.
/// `idle(now, wake_by)` is called whenever the export waits (for the network, or between
/// retries): feed a watchdog there, or sleep until an interrupt or `wake_by`. The clock
/// must advance, since every wait ends at a deadline on it.
pub struct Stack<'a, 's, D, K, H, const P: usize = 8>
where
    D: Device,
    K: Clock,
    H: FnMut(Instant, Instant),
{
    /// The transport state: socket handle and local port walker.
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
}

/// Collect from `producer` into `snapshot`, encode into `buffer`, and export to
/// `config.endpoint` over `stack`, retrying as `config.retry` says until
/// `config.export_timeout_ms` has passed. `unix_now` stamps the points.
///
/// Returns the account of the export: every collected point is sent, dropped (counted) or
/// abandoned, and abandoned delta data stays in the producer for the next export. The host
/// must be an IP literal. The connection is closed (gracefully, or aborted on error) before
/// this returns; the socket is then `Closed` or in `TimeWait`, ready for the next export.
///
/// The exporter lives only for this call, so its lifetime totals and jitter state do not
/// carry over: give each device its own `config.jitter_seed` (a fleet then does not retry
/// in lockstep), and sum the reports if totals are wanted.
pub fn export_once<D, K, H, Pr, const P: usize>(
    stack: Stack<'_, '_, D, K, H, P>,
    producer: &mut Pr,
    snapshot: &mut Pr::Snapshot,
    buffer: &mut [u8],
    config: ExporterConfig<'_>,
    unix_now: UnixNanos,
) -> ExportReport
where
    D: Device,
    K: Clock,
    H: FnMut(Instant, Instant),
    Pr: Producer,
{
    let clock = stack.clock;
    let connector = Blocking::new(
        stack.client,
        stack.iface,
        stack.device,
        stack.sockets,
        clock,
    )
    .with_idle(stack.idle);
    let http: HttpClient<_, _> = HttpClient::new(connector, clock);
    let mut exporter = Exporter::new(config, http);
    let mut run = exporter.start(producer, snapshot, unix_now, clock.now());
    // Ends at the export deadline at the latest: every step and every wait is bounded by
    // it, as long as the clock advances.
    loop {
        match exporter.step(&mut run, producer, snapshot, buffer, &clock) {
            Step::Done(report) => return report,
            Step::Wait(at) => exporter.exchange_mut().connector_mut().wait_until(at),
        }
    }
}
