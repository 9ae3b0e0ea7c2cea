//! What host names cost a firmware: one `firmware::export_once` over smoltcp (IPv4-only
//! Ethernet, like firmware-smoltcp), built twice by `scripts/footprint.sh`: without the
//! `dns` feature, to the collector as an IP literal (`IpLiteral`, TCP only), and with it,
//! to the collector by name through `dns::DnsResolver` and a UDP socket. The difference in
//! code is what DNS adds: the resolver, the answer parser and smoltcp's UDP socket.
//!
//! The link delivers no frame, so neither the ARP request nor the DNS query is ever
//! answered: the export must end at its deadline (the tick clock advances in the idle
//! hook) with its point kept for the next export. Exit status 0 only then. Both variants
//! print the same lines (the resolver sizes are 0 without `dns`), so that they differ
//! only by what resolving a name takes.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::cell::Cell;

use cortex_m_rt::entry;
use otlp_embedded::export::{ExportOutcome, ExporterConfig};
use otlp_embedded::proto::{RequestHeader, Resource, Scope};
use otlp_embedded::registry::{CsRegistry, InstrumentDesc, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_firmware_cortex_m as board;
use otlp_embedded_firmware_cortex_m::TakeOnce;
use otlp_embedded_smoltcp::firmware::{export_once, Stack};
use otlp_embedded_smoltcp::{smol_instant, DeviceSeed, TcpClient};
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

/// Largest Ethernet frame (1500 bytes of IP and the 14-byte header).
const FRAME: usize = 1514;
const UNIX_START: u64 = 1_700_000_000_000_000_000;

/// Where sent frames go: one static frame, overwritten by each (nothing reads them).
static SCRATCH: TakeOnce<[u8; FRAME]> = TakeOnce::new([0; FRAME]);

/// A link whose far end never answers: transmits succeed (into `frame`), nothing is ever
/// received.
struct Silent {
    frame: &'static mut [u8; FRAME],
}

struct Rx;
struct Tx<'f>(&'f mut [u8; FRAME]);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&[])
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        f(&mut self.0[..len.min(FRAME)])
    }
}

impl Device for Silent {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        None
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx(&mut *self.frame))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps
    }
}

struct Ticks<'c>(&'c Cell<u64>);

impl Clock for Ticks<'_> {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

static METRICS: CsRegistry<2, 4, 8, 2, 16> = CsRegistry::new(UNIX_START);
static SNAPSHOT: TakeOnce<Snapshot<2, 4, 8, 2, 16>> = TakeOnce::new(Snapshot::new());
static REQUEST: TakeOnce<[u8; 512]> = TakeOnce::new([0; 512]);
static TCP_RX: TakeOnce<[u8; 512]> = TakeOnce::new([0; 512]);
static TCP_TX: TakeOnce<[u8; 1024]> = TakeOnce::new([0; 1024]);
static SOCKETS: TakeOnce<[SocketStorage<'static>; 2]> =
    TakeOnce::new([SocketStorage::EMPTY, SocketStorage::EMPTY]);
/// One 512-byte datagram each way, as the `dns` module asks.
#[cfg(feature = "dns")]
static UDP_RX: TakeOnce<[u8; 512]> = TakeOnce::new([0; 512]);
#[cfg(feature = "dns")]
static UDP_TX: TakeOnce<[u8; 512]> = TakeOnce::new([0; 512]);
#[cfg(feature = "dns")]
static UDP_RX_META: TakeOnce<[smoltcp::socket::udp::PacketMetadata; 1]> =
    TakeOnce::new([smoltcp::socket::udp::PacketMetadata::EMPTY]);
#[cfg(feature = "dns")]
static UDP_TX_META: TakeOnce<[smoltcp::socket::udp::PacketMetadata; 1]> =
    TakeOnce::new([smoltcp::socket::udp::PacketMetadata::EMPTY]);

/// `size_of` of resolvers with three cache shapes: the default (2 names of up to 64
/// bytes), `<1, 32>` and `<4, 64>`; zeros without `dns`.
fn resolver_sizes() -> [usize; 3] {
    #[cfg(feature = "dns")]
    {
        use core::mem::size_of;
        use otlp_embedded_smoltcp::dns::DnsResolver;
        [
            size_of::<DnsResolver>(),
            size_of::<DnsResolver<1, 32>>(),
            size_of::<DnsResolver<4, 64>>(),
        ]
    }
    #[cfg(not(feature = "dns"))]
    [0; 3]
}

#[entry]
fn main() -> ! {
    board::paint_stack();
    let (Some(frame), Some(snapshot), Some(buffer), Some(tcp_rx), Some(tcp_tx), Some(storage)) = (
        SCRATCH.take(),
        SNAPSHOT.take(),
        REQUEST.take(),
        TCP_RX.take(),
        TCP_TX.take(),
        SOCKETS.take(),
    ) else {
        board::finish(4)
    };
    let ticks = Cell::new(0u64);
    let clock = Ticks(&ticks);
    let mut device = Silent { frame };
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
        0x02, 0, 0, 0, 0, 1,
    ])));
    config.random_seed = 0x1234_5678;
    let mut iface = Interface::new(config, &mut device, smol_instant(Instant(0)));
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24));
    });
    let mut sockets = SocketSet::new(&mut storage[..]);
    let tcp_handle = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut tcp_rx[..]),
        tcp::SocketBuffer::new(&mut tcp_tx[..]),
    ));
    let seed = DeviceSeed::new(0x1234_5678);
    let mut client: TcpClient = TcpClient::new(tcp_handle, seed);

    let Ok(boots) = METRICS.declare(InstrumentDesc::counter_u64("boots").max_series(1)) else {
        board::finish(2)
    };
    if METRICS.record(boots, 1u64, &[]).is_err() {
        board::finish(3)
    }

    #[cfg(not(feature = "dns"))]
    let (host, resolver) = ("10.0.0.2", otlp_embedded_smoltcp::IpLiteral);
    #[cfg(feature = "dns")]
    let mut dns: otlp_embedded_smoltcp::dns::DnsResolver = {
        use smoltcp::socket::udp;
        let (Some(rx), Some(tx), Some(rx_meta), Some(tx_meta)) = (
            UDP_RX.take(),
            UDP_TX.take(),
            UDP_RX_META.take(),
            UDP_TX_META.take(),
        ) else {
            board::finish(5)
        };
        let udp_handle = sockets.add(udp::Socket::new(
            udp::PacketBuffer::new(&mut rx_meta[..], &mut rx[..]),
            udp::PacketBuffer::new(&mut tx_meta[..], &mut tx[..]),
        ));
        otlp_embedded_smoltcp::dns::DnsResolver::new(
            udp_handle,
            seed,
            &[IpAddress::v4(10, 0, 0, 53)],
        )
    };
    #[cfg(feature = "dns")]
    let (host, resolver) = ("otlp.vendor.example", &mut dns);

    let header = RequestHeader::new(Resource::new(&[]), Scope::new("firmware-dns"));
    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host,
        port: 4318,
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header);
    config.export_timeout_ms = 5_000;
    let stack = Stack {
        client: &mut client,
        iface: &mut iface,
        device: &mut device,
        sockets: &mut sockets,
        clock: &clock,
        idle: |_now: Instant, _wake_by: Instant| ticks.set(ticks.get() + 1),
        resolver,
    };
    let mut producer = &METRICS;
    let report = export_once(stack, &mut producer, snapshot, buffer, config, UNIX_START);
    board::report("stack.export", board::stack_high_water());
    let [default, small, large] = resolver_sizes();
    board::report("dns.resolver_2x64", default);
    board::report("dns.resolver_1x32", small);
    board::report("dns.resolver_4x64", large);
    board::report("dns.export_ms", ticks.get() as usize);
    // No peer: the export fails at its deadline and keeps its one point for the next one.
    let kept = report.outcome == ExportOutcome::Failed
        && report.points_collected == 1
        && report.points_abandoned == 1
        && report.points_dropped == 0
        && report.bytes_sent == 0
        && ticks.get() >= 5_000;
    board::finish(if kept { 0 } else { 10 })
}
