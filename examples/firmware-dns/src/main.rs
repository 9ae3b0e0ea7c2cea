//! What host names cost a firmware, measured on an embedded target by
//! `scripts/dns-footprint.sh`: the same program, one `firmware::export_once` over a smoltcp
//! stack, built without the `dns` feature (the collector as an IP literal, TCP only) and
//! with it (the collector by name through `dns::DnsResolver` and a UDP socket). The
//! difference in code is what DNS adds: the resolver, the answer parser and smoltcp's UDP
//! socket. `DNS_RESOLVER_*` symbols are sized like resolvers of several cache shapes, so
//! that `nm -S` reads their RAM off the target's own layout.
//!
//! It is linked, not run: its device never delivers a frame.
#![no_std]
#![no_main]

use core::cell::Cell;
use core::hint::black_box;

use otlp_embedded::export::ExporterConfig;
use otlp_embedded::proto::{RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_smoltcp::firmware::{export_once, Stack};
use otlp_embedded_smoltcp::{smol_instant, DeviceSeed, TcpClient};
use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// RAM of a resolver with the default cache (2 names of up to 64 bytes).
#[cfg(feature = "dns")]
#[no_mangle]
pub static DNS_RESOLVER_2X64: [u8; core::mem::size_of::<otlp_embedded_smoltcp::dns::DnsResolver>()] =
    [0; core::mem::size_of::<otlp_embedded_smoltcp::dns::DnsResolver>()];
/// RAM of a resolver caching 1 name of up to 32 bytes.
#[cfg(feature = "dns")]
#[no_mangle]
pub static DNS_RESOLVER_1X32: [u8; core::mem::size_of::<otlp_embedded_smoltcp::dns::DnsResolver<1, 32>>()] =
    [0; core::mem::size_of::<otlp_embedded_smoltcp::dns::DnsResolver<1, 32>>()];
/// RAM of a resolver caching 4 names of up to 64 bytes.
#[cfg(feature = "dns")]
#[no_mangle]
pub static DNS_RESOLVER_4X64: [u8; core::mem::size_of::<otlp_embedded_smoltcp::dns::DnsResolver<4, 64>>()] =
    [0; core::mem::size_of::<otlp_embedded_smoltcp::dns::DnsResolver<4, 64>>()];

/// A device whose link never delivers a frame; what it sends is observed by `black_box`.
struct Link;

struct Rx;
struct Tx;

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let frame = [0u8; 64];
        f(black_box(&frame))
    }
}

impl phy::TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = [0u8; 1514];
        let len = len.min(frame.len());
        let r = f(&mut frame[..len]);
        black_box(&frame);
        r
    }
}

impl Device for Link {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx;
    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx)> {
        black_box(false).then_some((Rx, Tx))
    }
    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx> {
        Some(Tx)
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

struct Ticks(Cell<u64>);

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    run();
    loop {}
}

fn run() {
    // Keep the size markers in the image (the linker drops what nothing refers to).
    #[cfg(feature = "dns")]
    black_box((&DNS_RESOLVER_2X64, &DNS_RESOLVER_1X32, &DNS_RESOLVER_4X64));
    let clock = Ticks(Cell::new(0));
    let mut device = Link;
    let mac = HardwareAddress::Ethernet(EthernetAddress([2, 0, 0, 0, 0, 1]));
    let mut iface = Interface::new(Config::new(mac), &mut device, smol_instant(clock.now()));
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 1), 24));
    });
    let mut storage = [SocketStorage::EMPTY, SocketStorage::EMPTY];
    let mut sockets = SocketSet::new(&mut storage[..]);
    let mut rx = [0u8; 1024];
    let mut tx = [0u8; 1024];
    let tcp_handle = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut rx[..]),
        tcp::SocketBuffer::new(&mut tx[..]),
    ));
    let seed = DeviceSeed::new(black_box(0x1234_5678));
    let mut client: TcpClient = TcpClient::new(tcp_handle, seed);

    let mut metrics: Registry<2, 4, 8, 2, 16> = Registry::new(black_box(1));
    let Ok(counter) = metrics.declare(
        InstrumentDesc::counter_u64("boots")
            .max_series(1)
            .temporality(Temporality::Delta),
    ) else {
        return;
    };
    let _ = metrics.record(counter, 1u64, &[]);
    let mut snapshot: Snapshot<2, 4, 8, 2, 16> = Snapshot::new();
    let mut buffer = [0u8; 512];
    let header = RequestHeader {
        resource: Resource {
            attributes: &[],
            dropped_attributes_count: 0,
            schema_url: "",
        },
        scope: Scope {
            name: "board",
            version: "",
            attributes: &[],
            dropped_attributes_count: 0,
            schema_url: "",
        },
    };

    #[cfg(not(feature = "dns"))]
    let (host, resolver) = ("10.0.0.2", otlp_embedded_smoltcp::IpLiteral);
    #[cfg(feature = "dns")]
    let mut udp_meta = [smoltcp::socket::udp::PacketMetadata::EMPTY; 1];
    #[cfg(feature = "dns")]
    let mut udp_rx = [0u8; 512];
    #[cfg(feature = "dns")]
    let mut udp_tx_meta = [smoltcp::socket::udp::PacketMetadata::EMPTY; 1];
    #[cfg(feature = "dns")]
    let mut udp_tx = [0u8; 512];
    #[cfg(feature = "dns")]
    let mut dns: otlp_embedded_smoltcp::dns::DnsResolver = {
        use smoltcp::socket::udp;
        let udp_handle = sockets.add(udp::Socket::new(
            udp::PacketBuffer::new(&mut udp_meta[..], &mut udp_rx[..]),
            udp::PacketBuffer::new(&mut udp_tx_meta[..], &mut udp_tx[..]),
        ));
        otlp_embedded_smoltcp::dns::DnsResolver::new(
            udp_handle,
            seed,
            &[IpAddress::v4(10, 0, 0, 53)],
        )
    };
    #[cfg(feature = "dns")]
    let (host, resolver) = ("otlp.vendor.example", &mut dns);

    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host: black_box(host),
        port: 4318,
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header);
    config.export_timeout_ms = 5_000;
    let ticks = &clock.0;
    let stack = Stack {
        client: &mut client,
        iface: &mut iface,
        device: &mut device,
        sockets: &mut sockets,
        clock: &clock,
        idle: |_now: Instant, _wake_by: Instant| ticks.set(ticks.get() + 1),
        resolver,
    };
    let report = export_once(
        stack,
        &mut metrics,
        &mut snapshot,
        &mut buffer,
        config,
        black_box(1_700_000_000_000_000_000),
    );
    black_box(report);
}
