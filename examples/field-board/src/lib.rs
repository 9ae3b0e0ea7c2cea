//! A board in the field that exports to a hosted collector: by host name, over TLS, to a
//! certificate from a public CA, from `#![no_std]` code without a heap.
//!
//! This is the firmware's side, written as a board support crate would be: smoltcp for
//! the network, `otlp-embedded-smoltcp` with its `dns` feature to resolve the collector's
//! name, `otlp-embedded-tls` with `p384` and `rsa` to verify the chains public CAs serve,
//! and core's exporter through [`export_once_with`]. Nothing here knows it runs
//! on a host: the board lends its smoltcp interface, device, sockets, clock and idle hook
//! ([`Hardware`]) and its TLS record buffers for one export at a time, and keeps an
//! [`Uplink`] (TCP client, DNS resolver and trust anchors) from boot on.
//!
//! ```no_run
//! use otlp_embedded::proto::{RequestHeader, Resource, Scope};
//! use otlp_embedded_field_board::{exporter_config, Uplink, COLLECTOR};
//! use otlp_embedded_smoltcp::DeviceSeed;
//! use otlp_embedded_tls::NoClock;
//! # fn boot(tcp: smoltcp::iface::SocketHandle, udp: smoltcp::iface::SocketHandle,
//! #         unique_id: [u8; 12], boot_count: u64, rsa_root: &[u8], p384_root: &[u8]) {
//! // At boot: a seed of this device's own (a hardware RNG value, or its unique id hashed
//! // with a boot counter; there is no default), the DNS server from DHCP, and the roots
//! // of the collector's CAs: an RSA one and an ECDSA P-384 one (ISRG Root X2's shape).
//! let seed = DeviceSeed::from_unique_id(&unique_id).mix(boot_count);
//! let dns_server = smoltcp::wire::IpAddress::v4(192, 168, 69, 100);
//! let anchors: [&[u8]; 2] = [rsa_root, p384_root];
//! let mut uplink: Uplink<'_, NoClock> = Uplink::new(tcp, udp, seed, dns_server, &anchors);
//! // https://otlp.collector.test/v1/metrics
//! assert_eq!(COLLECTOR.host, "otlp.collector.test");
//! let config = exporter_config(RequestHeader::new(Resource::new(&[]), Scope::new("board")));
//! // Every export interval: uplink.export(hardware, rng, tls_buffers, ...).
//! # let _ = (&mut uplink, config);
//! # }
//! ```
//!
//! The `host` feature adds the `host` module: the same code run on Linux against a real
//! collector's front (nginx, dnsmasq, the test kit's sink) over a TAP device.
//! `cargo run -p otlp-embedded-examples --example field_board` (as root) runs it.
#![cfg_attr(not(feature = "host"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "host")]
pub mod host;
mod tls;

use otlp_embedded::export::{ExportReport, ExporterConfig, RetryPolicy};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Temporality};
use otlp_embedded::registry::{
    DeclareError, Instrument, InstrumentDesc, RecordError, Registry, SnapshotOf,
};
use otlp_embedded::time::{Clock, UnixNanos, Wait};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_smoltcp::dns::DnsResolver;
use otlp_embedded_smoltcp::firmware::{export_once_with, Stack};
use otlp_embedded_smoltcp::{DeviceSeed, TcpClient};
use otlp_embedded_tls::{TlsClock, TlsOptions, TrustAnchors};
use rand_core::{CryptoRng, RngCore};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::wire::IpAddress;

pub use tls::TlsLayer;

/// The collector's host name: a name under `.test`, which is reserved for testing and
/// never resolves on the Internet.
pub const COLLECTOR_HOST: &str = "otlp.collector.test";

/// Where the board exports: `https://otlp.collector.test/v1/metrics` (port 443).
pub const COLLECTOR: Endpoint<'static> =
    Endpoint::new(Scheme::Https, COLLECTOR_HOST, 443, "/v1/metrics");

/// The board's registry: two instruments, up to 8 series, histogram state for 2 series of
/// 4 buckets (the histogram's own and its overflow series).
pub type Metrics = Registry<2, 8, 32, 2, 8>;
/// The snapshot an export collects [`Metrics`] into.
pub type MetricsSnapshot = SnapshotOf<Metrics>;

/// The sensors whose readings [`Instruments::readings`] counts, one series each.
pub const SENSORS: [&str; 2] = ["temperature", "humidity"];
/// Bucket bounds of the main loop's duration, in milliseconds.
pub const LOOP_BOUNDS_MS: [f64; 3] = [1.0, 5.0, 20.0];

/// The board's instruments, declared at boot.
#[derive(Copy, Clone, Debug)]
pub struct Instruments {
    /// `board.readings`: sensor readings taken, a delta counter by `sensor`.
    pub readings: Instrument,
    /// `board.loop.duration`: how long a pass of the main loop took, in ms (delta
    /// histogram, bounds [`LOOP_BOUNDS_MS`]).
    pub loop_duration: Instrument,
}

impl Instruments {
    /// Declare both in `metrics`.
    pub fn declare(metrics: &mut Metrics) -> Result<Instruments, DeclareError> {
        let readings = metrics.declare(
            InstrumentDesc::counter_u64("board.readings")
                .attributes(&["sensor"])
                .max_series(SENSORS.len() as u16)
                .temporality(Temporality::Delta),
        )?;
        let loop_duration = metrics.declare(
            InstrumentDesc::histogram("board.loop.duration")
                .unit("ms")
                .bounds(&LOOP_BOUNDS_MS)
                .max_series(1)
                .temporality(Temporality::Delta),
        )?;
        Ok(Instruments {
            readings,
            loop_duration,
        })
    }

    /// `count` readings of `sensor` were taken.
    pub fn reading_taken(
        &self,
        metrics: &mut Metrics,
        sensor: &str,
        count: u64,
    ) -> Result<(), RecordError> {
        let attributes = [KeyValue::new("sensor", AttributeValue::Str(sensor))];
        metrics.record(self.readings, count, &attributes)
    }

    /// A pass of the main loop took `ms` milliseconds.
    pub fn loop_took(&self, metrics: &mut Metrics, ms: f64) -> Result<(), RecordError> {
        metrics.record(self.loop_duration, ms, &[])
    }
}

/// The resource attributes the board reports: `service.name` and its `device.id`.
pub fn resource_attributes(device_id: &str) -> [KeyValue<'_>; 2] {
    [
        KeyValue::new("service.name", AttributeValue::Str("field-board")),
        KeyValue::new("device.id", AttributeValue::Str(device_id)),
    ]
}

/// The export settings: [`COLLECTOR`], 10 s per export and 5 s per request (DNS, TCP,
/// the TLS handshake and the exchange all fit in it), retries from 500 ms up to 4 s
/// apart until the export's deadline. Retry jitter comes from the [`DeviceSeed`].
pub fn exporter_config(request_header: RequestHeader<'_>) -> ExporterConfig<'_> {
    let mut config = ExporterConfig::new(COLLECTOR, request_header);
    config.export_timeout_ms = 10_000;
    config.request_timeout_ms = 5_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(500)
        .with_max_delay_ms(4_000)
        .with_max_attempts(0);
    config
}

/// The board's network and time, lent for one export: its smoltcp interface, device and
/// socket set, a monotonic millisecond clock, and the idle hook, core's [`Wait`] (feed the
/// watchdog, sleep until an interrupt or `until`).
pub struct Hardware<'a, 's, D, K, H>
where
    D: Device,
    K: Clock,
    H: Wait,
{
    /// The interface.
    pub iface: &'a mut Interface,
    /// Its device (the MAC driver).
    pub device: &'a mut D,
    /// The socket set holding the uplink's TCP and UDP sockets.
    pub sockets: &'a mut SocketSet<'s>,
    /// The clock every deadline is measured on.
    pub clock: &'a K,
    /// Called whenever the export waits.
    pub idle: H,
}

/// The TLS record buffers, lent for one export (a `static` on a board): the read buffer
/// [`otlp_embedded_tls::READ_BUFFER_LEN`] bytes, the write buffer 2 KiB.
pub struct TlsBuffers<'b> {
    /// Holds one whole record from the server (the certificate chain arrives in one).
    pub read: &'b mut [u8],
    /// Holds one record to the server.
    pub write: &'b mut [u8],
}

/// What the board keeps from boot on to reach the collector: the TCP client (local ports
/// and retry jitter from the device seed), the DNS resolver (its cache lives across
/// exports) and the trust anchors. `C` is the wall clock for certificate dates: `NoClock`
/// on a board that does not know the date, an RTC or SNTP clock otherwise.
pub struct Uplink<'t, C: TlsClock> {
    client: TcpClient,
    dns: DnsResolver,
    anchors: &'t [&'t [u8]],
    clock: core::marker::PhantomData<C>,
}

impl<'t, C: TlsClock> Uplink<'t, C> {
    /// An uplink over the TCP socket `tcp` and the UDP socket `udp` (one 512-byte datagram
    /// each way), asking `dns_server`, trusting `anchors` (DER root certificates).
    pub fn new(
        tcp: SocketHandle,
        udp: SocketHandle,
        seed: DeviceSeed,
        dns_server: IpAddress,
        anchors: &'t [&'t [u8]],
    ) -> Self {
        Uplink {
            client: TcpClient::new(tcp, seed),
            dns: DnsResolver::new(udp, seed, &[dns_server]),
            anchors,
            clock: core::marker::PhantomData,
        }
    }

    /// Export `metrics` once as `config` says (collect, encode, resolve, connect, TLS,
    /// send, retry, settle), with `rng` for the handshakes. A failed export keeps its
    /// delta data for the next one.
    #[allow(clippy::too_many_arguments)]
    pub fn export<D, K, H, R>(
        &mut self,
        hardware: Hardware<'_, '_, D, K, H>,
        rng: R,
        buffers: TlsBuffers<'_>,
        metrics: &mut Metrics,
        snapshot: &mut MetricsSnapshot,
        buffer: &mut [u8],
        config: ExporterConfig<'_>,
        unix_now: UnixNanos,
    ) -> ExportReport
    where
        D: Device,
        K: Clock,
        H: Wait,
        R: RngCore + CryptoRng,
    {
        let options = TlsOptions::with_trust_anchors(TrustAnchors::Many(self.anchors));
        let layer: TlsLayer<'_, R, C> = TlsLayer::new(rng, options, buffers.read, buffers.write);
        let stack = Stack {
            client: &mut self.client,
            iface: hardware.iface,
            device: hardware.device,
            sockets: hardware.sockets,
            clock: hardware.clock,
            idle: hardware.idle,
            resolver: &mut self.dns,
        };
        export_once_with(stack, layer, metrics, snapshot, buffer, config, unix_now)
    }

    /// The DNS resolver, for its cache and last error.
    pub fn dns(&self) -> &DnsResolver {
        &self.dns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry's capacities fit the instruments, every sensor and the overflow
    /// series: a board that boots declares and records without an error.
    #[test]
    fn instruments_fit_the_registry() {
        let mut metrics = Metrics::new(0);
        let instruments = Instruments::declare(&mut metrics).unwrap();
        for sensor in SENSORS {
            assert_eq!(instruments.reading_taken(&mut metrics, sensor, 3), Ok(()));
        }
        for ms in [0.5, 3.0, 19.0, 250.0] {
            assert_eq!(instruments.loop_took(&mut metrics, ms), Ok(()));
        }
    }
}
