//! firmware-min's plain export over smoltcp instead of a canned stream, to measure what
//! smoltcp adds in an IPv4-only Ethernet build (`proto-ipv4` + `medium-ethernet` of
//! transport-smoltcp): two smoltcp interfaces joined by an in-memory Ethernet link (static
//! frame rings, ARP included), a small HTTP server on the second one answering `200 OK`,
//! and a tick clock advanced by the idle hook. The export goes through
//! `otlp_embedded_smoltcp::firmware::export_once`, as a board's would.
//!
//! The server side (its interface and listening socket) shares smoltcp's code with the
//! client side, so the smoltcp figure is close to what a client-only board links; the
//! listen path is the difference. Exit status 0 only when the export delivered every point
//! in one request that the server read completely.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::cell::{Cell, RefCell};

use cortex_m_rt::entry;
use otlp_embedded::export::{ExportOutcome, ExporterConfig};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope};
use otlp_embedded::registry::{CsRegistry, InstrumentDesc, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_firmware_cortex_m as board;
use otlp_embedded_firmware_cortex_m::TakeOnce;
use otlp_embedded_smoltcp::firmware::{export_once, Stack};
use otlp_embedded_smoltcp::{smol_instant, DeviceSeed, IpLiteral, TcpClient};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

/// Largest Ethernet frame on the link (1500 bytes of IP and the 14-byte header).
const FRAME: usize = 1514;
/// Frames a direction holds; more are dropped, like a full NIC ring.
const SLOTS: usize = 4;
const PORT: u16 = 4318;
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
const UNIX_START: u64 = 1_700_000_000_000_000_000;

/// One direction of the link: a ring of frames.
struct Ring {
    frames: [[u8; FRAME]; SLOTS],
    lens: [usize; SLOTS],
    head: usize,
    len: usize,
}

/// The link: `rings[side]` holds the frames waiting for `side`. A cell per direction,
/// since smoltcp transmits a reply from inside the receive token's closure.
struct Wire {
    rings: [RefCell<Ring>; 2],
}

/// One end of the link.
struct End<'w> {
    wire: &'w Wire,
    side: usize,
}

struct Rx<'w> {
    wire: &'w Wire,
    side: usize,
}

struct Tx<'w> {
    wire: &'w Wire,
    to: usize,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let Some(cell) = self.wire.rings.get(self.side) else {
            return f(&[]);
        };
        let mut ring = cell.borrow_mut();
        let head = ring.head;
        let len = ring.lens.get(head).copied().unwrap_or(0).min(FRAME);
        ring.head = (head + 1) % SLOTS;
        ring.len = ring.len.saturating_sub(1);
        // The slot stays intact while `f` reads it: the sender writes only into free slots.
        let frame = ring.frames.get(head).map(|f| &f[..len]).unwrap_or(&[]);
        f(frame)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(FRAME);
        let Some(cell) = self.wire.rings.get(self.to) else {
            return f(&mut []);
        };
        let mut ring = cell.borrow_mut();
        if ring.len == SLOTS {
            // A full ring drops the frame, as a NIC would; TCP sends it again.
            drop(ring);
            let mut scratch = [0u8; FRAME];
            return f(&mut scratch[..len]);
        }
        let slot = (ring.head + ring.len) % SLOTS;
        ring.len += 1;
        if let Some(l) = ring.lens.get_mut(slot) {
            *l = len;
        }
        match ring.frames.get_mut(slot) {
            Some(frame) => f(&mut frame[..len]),
            None => f(&mut []),
        }
    }
}

impl Device for End<'_> {
    type RxToken<'a>
        = Rx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        if self.wire.rings.get(self.side)?.borrow().len == 0 {
            return None;
        }
        let (wire, side) = (self.wire, self.side);
        Some((Rx { wire, side }, Tx { wire, to: 1 - side }))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx {
            wire: self.wire,
            to: 1 - self.side,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps
    }
}

/// The collector: reads one request (head and `Content-Length` body), answers 200, closes.
struct Server {
    handle: SocketHandle,
    got: usize,
    want: Option<usize>,
    sent: usize,
    served: usize,
    head: [u8; 256],
}

impl Server {
    fn serve(&mut self, sockets: &mut SocketSet<'_>) {
        let socket = sockets.get_mut::<tcp::Socket>(self.handle);
        match socket.state() {
            tcp::State::Closed | tcp::State::TimeWait => {
                (self.got, self.want, self.sent) = (0, None, 0);
                let _ = socket.listen(PORT);
                return;
            }
            tcp::State::Listen | tcp::State::SynReceived => return,
            _ => {}
        }
        // Keep the head (it holds Content-Length); count the body without keeping it.
        let _ = socket.recv(|bytes| {
            for &byte in bytes.iter() {
                if self.want.is_none() {
                    if let Some(slot) = self.head.get_mut(self.got) {
                        *slot = byte;
                    }
                }
                self.got += 1;
                if self.want.is_none() && self.head[..self.got.min(256)].ends_with(b"\r\n\r\n") {
                    self.want =
                        content_length(&self.head[..self.got.min(256)]).map(|n| self.got + n);
                }
            }
            (bytes.len(), ())
        });
        if self.want.is_some_and(|want| self.got >= want) && self.sent < OK.len() {
            self.sent += socket.send_slice(&OK[self.sent..]).unwrap_or(0);
            if self.sent == OK.len() {
                self.served += 1;
                socket.close();
            }
        }
    }
}

/// The `Content-Length` of a request head, if it has one.
fn content_length(head: &[u8]) -> Option<usize> {
    const NAME: &[u8] = b"\r\ncontent-length:";
    let at = head
        .windows(NAME.len())
        .position(|w| w.eq_ignore_ascii_case(NAME))?;
    let mut value = 0usize;
    for &byte in head.get(at + NAME.len()..)? {
        match byte {
            b' ' => {}
            b'0'..=b'9' => {
                value = value
                    .checked_mul(10)?
                    .checked_add(usize::from(byte - b'0'))?
            }
            _ => break,
        }
    }
    Some(value)
}

struct Ticks<'c>(&'c Cell<u64>);

impl Clock for Ticks<'_> {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

const EMPTY_RING: RefCell<Ring> = RefCell::new(Ring {
    frames: [[0; FRAME]; SLOTS],
    lens: [0; SLOTS],
    head: 0,
    len: 0,
});
/// The link, taken once by `main` and shared by its two ends.
static WIRE: TakeOnce<Wire> = TakeOnce::new(Wire {
    rings: [EMPTY_RING, EMPTY_RING],
});
static METRICS: CsRegistry<2, 8, 9, 2, 12> = CsRegistry::new(UNIX_START);
// One cell per buffer, as a program would keep them: each zeroed one stays in `.bss`.
static SNAPSHOT: TakeOnce<Snapshot<2, 8, 9, 2, 12>> = TakeOnce::new(Snapshot::new());
static REQUEST: TakeOnce<[u8; 1024]> = TakeOnce::new([0; 1024]);
static CLIENT_RX: TakeOnce<[u8; 512]> = TakeOnce::new([0; 512]);
static CLIENT_TX: TakeOnce<[u8; 1024]> = TakeOnce::new([0; 1024]);
static SERVER_RX: TakeOnce<[u8; 1024]> = TakeOnce::new([0; 1024]);
static SERVER_TX: TakeOnce<[u8; 128]> = TakeOnce::new([0; 128]);
static CLIENT_SOCKETS: TakeOnce<[SocketStorage<'static>; 1]> =
    TakeOnce::new([SocketStorage::EMPTY]);
static SERVER_SOCKETS: TakeOnce<[SocketStorage<'static>; 1]> =
    TakeOnce::new([SocketStorage::EMPTY]);

fn interface(device: &mut End<'_>, mac: u8, addr: IpAddress, seed: u64) -> Interface {
    let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
        0x02, 0, 0, 0, 0, mac,
    ])));
    config.random_seed = seed;
    let mut iface = Interface::new(config, device, smol_instant(Instant(0)));
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(addr, 24));
    });
    iface
}

/// Bytes that series number `M` adds over `N` series (both with `K` bytes of values).
fn series_bytes<const K: usize, const N: usize, const M: usize>() -> usize {
    use core::mem::size_of;
    use otlp_embedded::registry::Registry;
    (size_of::<Registry<2, M, K, 2, 12>>() + size_of::<Snapshot<2, M, K, 2, 12>>())
        - (size_of::<Registry<2, N, K, 2, 12>>() + size_of::<Snapshot<2, N, K, 2, 12>>())
}

#[entry]
fn main() -> ! {
    board::paint_stack();
    let (
        Some(wire),
        Some(snapshot),
        Some(buffer),
        Some(crx),
        Some(ctx),
        Some(srx),
        Some(stx),
        Some(cstore),
        Some(sstore),
    ) = (
        WIRE.take(),
        SNAPSHOT.take(),
        REQUEST.take(),
        CLIENT_RX.take(),
        CLIENT_TX.take(),
        SERVER_RX.take(),
        SERVER_TX.take(),
        CLIENT_SOCKETS.take(),
        SERVER_SOCKETS.take(),
    )
    else {
        board::finish(4)
    };
    let wire: &Wire = wire;
    let mut client_dev = End { wire, side: 0 };
    let mut server_dev = End { wire, side: 1 };
    let mut client_iface = interface(&mut client_dev, 1, IpAddress::v4(10, 0, 0, 1), 0xc11e);
    let mut server_iface = interface(&mut server_dev, 2, IpAddress::v4(10, 0, 0, 2), 0x5e17);
    let mut client_sockets = SocketSet::new(&mut cstore[..]);
    let mut server_sockets = SocketSet::new(&mut sstore[..]);
    let client_handle = client_sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut crx[..]),
        tcp::SocketBuffer::new(&mut ctx[..]),
    ));
    let mut listener = tcp::Socket::new(
        tcp::SocketBuffer::new(&mut srx[..]),
        tcp::SocketBuffer::new(&mut stx[..]),
    );
    if listener.listen(PORT).is_err() {
        board::finish(1)
    }
    let server = RefCell::new(Server {
        handle: server_sockets.add(listener),
        got: 0,
        want: None,
        sent: 0,
        served: 0,
        head: [0; 256],
    });
    let mut client: TcpClient = TcpClient::new(client_handle, DeviceSeed::new(0x2b1d));

    let requests = METRICS.declare(
        InstrumentDesc::counter_u64("http.client.requests")
            .attributes(&["route"])
            .max_series(5),
    );
    let latency = METRICS.declare(
        InstrumentDesc::histogram("http.client.duration")
            .unit("ms")
            .bounds(&[5.0, 10.0, 25.0, 50.0, 100.0])
            .max_series(1),
    );
    let (Ok(requests), Ok(latency)) = (requests, latency) else {
        board::finish(2)
    };
    let route = |path| [KeyValue::new("route", AttributeValue::Str(path))];
    let recorded = [
        METRICS.record(requests, 3u64, &route("/status")),
        METRICS.record(requests, 1u64, &route("/config")),
        METRICS.record(latency, 7.5, &[]),
        METRICS.record(latency, 42.0, &[]),
    ];
    if !recorded.iter().all(Result::is_ok) {
        board::finish(3)
    }

    let resource = [KeyValue::new(
        "service.name",
        AttributeValue::Str("thermostat"),
    )];
    let header = RequestHeader::new(Resource::new(&resource), Scope::new("firmware-min"));
    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host: "10.0.0.2",
        port: PORT,
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header);
    config.export_timeout_ms = 5_000;
    let ticks = Cell::new(0u64);
    let clock = Ticks(&ticks);
    let idle = |_now: Instant, _wake_by: Instant| {
        // The collector's side of the link runs here, while the client waits.
        server_iface.poll(
            smol_instant(Instant(ticks.get())),
            &mut server_dev,
            &mut server_sockets,
        );
        server.borrow_mut().serve(&mut server_sockets);
        ticks.set(ticks.get() + 1);
    };
    let stack = Stack {
        client: &mut client,
        iface: &mut client_iface,
        device: &mut client_dev,
        sockets: &mut client_sockets,
        clock: &clock,
        idle,
        resolver: IpLiteral,
    };
    let mut producer = &METRICS;
    let report = export_once(stack, &mut producer, snapshot, buffer, config, UNIX_START);
    board::report("stack.export", board::stack_high_water());
    board::report("smoltcp.points_sent", report.points_sent);
    board::report("smoltcp.served", server.borrow().served);
    // RAM of one more counter series on this target, registry and snapshot together: with
    // firmware-min's 9 bytes of attribute values, and with 34 (two 16-byte strings).
    board::report("ram.series_k9", series_bytes::<9, 10, 11>());
    board::report("ram.series_k34", series_bytes::<34, 10, 11>());
    // An instrument without declared keys stores keys too: 64 bytes holds
    // `method=GET, route=/api/v1/items, status=200` (47).
    board::report("ram.series_k64", series_bytes::<64, 10, 11>());
    let delivered = report.outcome == ExportOutcome::Success
        && report.points_collected == 3
        && report.points_sent == 3
        && report.requests == 1
        && server.borrow().served == 1;
    board::finish(if delivered { 0 } else { 10 })
}
