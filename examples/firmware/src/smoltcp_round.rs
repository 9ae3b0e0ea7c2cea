//! The firmware export path over smoltcp, with no network: two smoltcp interfaces joined by
//! an in-memory link (static frame rings), a tiny HTTP server on the second one answering
//! `200 OK`, and a simulated clock advanced by the idle hook. Everything is static; nothing
//! is allocated.
//!
//! Two exports through `otlp_embedded_smoltcp::firmware::export_once`:
//!
//! 1. with the link cut (every frame dropped) and a 2 s export deadline: the export must
//!    fail at its deadline and keep all its points (`points_abandoned == points_collected`);
//! 2. with the link up: it must succeed, delivering the abandoned delta data together with
//!    what was recorded since, in one request the server read completely;
//!
//! then one from a superloop (`Exporter::poll` over `PollHttpClient` and the smoltcp poll
//! form, `PollStack`): one poll per tick, the loop recording meanwhile, no idle hook at all.
//!
//! [`run`] returns 0 only when all three happened exactly so (16: a static was already lent).

use core::cell::{Cell, RefCell};

use core::task::Poll;

use otlp_embedded::export::{
    ExportErrorKind, ExportOutcome, Exporter, ExporterConfig, RetryPolicy,
};
use otlp_embedded::http::{PollHttpClient, ReaderConfig};
use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricsSource, RequestHeader, Resource, Scope, Temporality,
};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_smoltcp::firmware::{export_once, Stack};
use otlp_embedded_smoltcp::{smol_instant, DeviceSeed, IpLiteral, PollStack, TcpClient};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use crate::runtime::TakeOnce;

/// Largest IP packet on the link.
const MTU: usize = 1500;
/// Frames a direction holds; more are dropped, like a full NIC ring.
const SLOTS: usize = 8;

/// One direction of the link: a ring of frames.
struct Ring {
    frames: [[u8; MTU]; SLOTS],
    lens: [usize; SLOTS],
    head: usize,
    len: usize,
}

impl Ring {
    const fn new() -> Self {
        Ring {
            frames: [[0; MTU]; SLOTS],
            lens: [0; SLOTS],
            head: 0,
            len: 0,
        }
    }
}

/// The link: `rings[side]` holds the frames waiting for `side`. Separate cells per
/// direction, since smoltcp transmits a reply from inside the receive token's closure.
struct Wire {
    rings: [RefCell<Ring>; 2],
    /// When false every frame is dropped (a cable pulled out).
    up: Cell<bool>,
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
        let len = ring.lens.get(head).copied().unwrap_or(0).min(MTU);
        ring.head = (head + 1) % SLOTS;
        ring.len = ring.len.saturating_sub(1);
        // The slot stays intact while `f` reads it: the sender writes only into free slots.
        let frame = ring.frames.get(head).map(|f| &f[..len]).unwrap_or(&[]);
        f(frame)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut scratch = [0u8; MTU];
        let Some(cell) = self.wire.rings.get(self.to) else {
            return f(&mut scratch[..len.min(MTU)]);
        };
        let mut ring = cell.borrow_mut();
        let len = len.min(MTU);
        if !self.wire.up.get() || ring.len == SLOTS {
            drop(ring);
            return f(&mut scratch[..len]);
        }
        let slot = (ring.head + ring.len) % SLOTS;
        ring.len += 1;
        if let Some(l) = ring.lens.get_mut(slot) {
            *l = len;
        }
        match ring.frames.get_mut(slot) {
            Some(frame) => f(&mut frame[..len]),
            None => f(&mut scratch[..len]),
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
        let waiting = self.wire.rings.get(self.side)?.borrow().len;
        if waiting == 0 {
            return None;
        }
        Some((
            Rx {
                wire: self.wire,
                side: self.side,
            },
            Tx {
                wire: self.wire,
                to: 1 - self.side,
            },
        ))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx {
            wire: self.wire,
            to: 1 - self.side,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

/// The simulated clock: advanced by the idle hook, one millisecond per wait.
struct TickClock<'c>(&'c Cell<u64>);

impl Clock for TickClock<'_> {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

/// Room for one request at the tiny server.
const REQUEST_CAP: usize = 2048;
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
const PORT: u16 = 4318;

/// A one-socket HTTP server: reads a request (headers and `Content-Length` body), answers
/// 200, closes, and listens again.
struct Server<'a> {
    handle: SocketHandle,
    request: &'a mut [u8; REQUEST_CAP],
    got: usize,
    answered: bool,
    sent: usize,
    /// Complete requests read.
    served: u32,
    /// Size of the last complete request.
    last_len: usize,
}

impl Server<'_> {
    fn serve(&mut self, sockets: &mut SocketSet<'_>) {
        let s = sockets.get_mut::<tcp::Socket>(self.handle);
        match s.state() {
            tcp::State::Closed | tcp::State::TimeWait => {
                self.got = 0;
                self.answered = false;
                self.sent = 0;
                let _ = s.listen(PORT);
                return;
            }
            tcp::State::Listen | tcp::State::SynReceived => return,
            _ => {}
        }
        if !self.answered {
            if let Some(room) = self.request.get_mut(self.got..) {
                if let Ok(n) = s.recv_slice(room) {
                    self.got += n;
                }
            }
            if let Some(len) = complete(self.request.get(..self.got).unwrap_or(&[])) {
                self.answered = true;
                self.served += 1;
                self.last_len = len;
            } else if s.state() == tcp::State::CloseWait {
                s.close();
            }
        } else {
            // Nothing follows a request with `Connection: close`; discard if it does.
            let _ = s.recv(|b| (b.len(), ()));
        }
        if self.answered && s.may_send() && self.sent < OK.len() {
            self.sent += s
                .send_slice(OK.get(self.sent..).unwrap_or(&[]))
                .unwrap_or(0);
            if self.sent == OK.len() {
                s.close();
            }
        }
    }
}

/// The length of the complete request at the start of `buf`, if it is complete.
fn complete(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let mut body = 0usize;
    for line in buf.get(..end)?.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line.get(..colon)?.eq_ignore_ascii_case(b"content-length") {
            body = 0;
            for &b in line.get(colon + 1..)? {
                if b.is_ascii_digit() {
                    body = body.checked_mul(10)?.checked_add(usize::from(b - b'0'))?;
                }
            }
        }
    }
    let total = end + 4 + body;
    (buf.len() >= total).then_some(total)
}

/// The link, lent once to [`run`]; `run` shares it between the two ends.
static WIRE: TakeOnce<Wire> = TakeOnce::new(Wire {
    rings: [RefCell::new(Ring::new()), RefCell::new(Ring::new())],
    up: Cell::new(false),
});
static CLIENT_RX: TakeOnce<[u8; 1024]> = TakeOnce::new([0; 1024]);
static CLIENT_TX: TakeOnce<[u8; 2048]> = TakeOnce::new([0; 2048]);
static SERVER_RX: TakeOnce<[u8; 2048]> = TakeOnce::new([0; 2048]);
static SERVER_TX: TakeOnce<[u8; 256]> = TakeOnce::new([0; 256]);
static CLIENT_SOCKETS: TakeOnce<[SocketStorage<'static>; 1]> =
    TakeOnce::new([SocketStorage::EMPTY]);
static SERVER_SOCKETS: TakeOnce<[SocketStorage<'static>; 1]> =
    TakeOnce::new([SocketStorage::EMPTY]);
static SERVER_REQUEST: TakeOnce<[u8; REQUEST_CAP]> = TakeOnce::new([0; REQUEST_CAP]);
static REQUEST_BUFFER: TakeOnce<[u8; 1024]> = TakeOnce::new([0; 1024]);
static METRICS: TakeOnce<Registry<2, 8, 16, 2, 16>> =
    TakeOnce::new(Registry::new(1_700_000_000_000_000_000));
static SNAPSHOT: TakeOnce<Snapshot<2, 8, 16, 2, 16>> = TakeOnce::new(Snapshot::new());

fn iface(device: &mut End<'_>, addr: IpAddress, seed: u64) -> Interface {
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = seed;
    let mut iface = Interface::new(config, device, smol_instant(Instant(0)));
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(addr, 24));
    });
    iface
}

/// Record, export over a dead link, export over a live one. Returns the process status.
pub fn run() -> i32 {
    let (
        Some(wire),
        Some(crx),
        Some(ctx),
        Some(srx),
        Some(stx),
        Some(cstore),
        Some(sstore),
        Some(sreq),
        Some(buffer),
        Some(metrics),
        Some(snapshot),
    ) = (
        WIRE.take(),
        CLIENT_RX.take(),
        CLIENT_TX.take(),
        SERVER_RX.take(),
        SERVER_TX.take(),
        CLIENT_SOCKETS.take(),
        SERVER_SOCKETS.take(),
        SERVER_REQUEST.take(),
        REQUEST_BUFFER.take(),
        METRICS.take(),
        SNAPSHOT.take(),
    )
    else {
        return 16;
    };
    // Both ends share the link; only `Cell`s and `RefCell`s in it change.
    let wire: &Wire = wire;
    let mut client_dev = End { wire, side: 0 };
    let mut server_dev = End { wire, side: 1 };
    let mut client_iface = iface(&mut client_dev, IpAddress::v4(10, 0, 0, 1), 0xc11e);
    let mut server_iface = iface(&mut server_dev, IpAddress::v4(10, 0, 0, 2), 0x5e17);
    let mut client_sockets = SocketSet::new(&mut cstore[..]);
    let mut server_sockets = SocketSet::new(&mut sstore[..]);
    let chandle = client_sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut crx[..]),
        tcp::SocketBuffer::new(&mut ctx[..]),
    ));
    let mut listener = tcp::Socket::new(
        tcp::SocketBuffer::new(&mut srx[..]),
        tcp::SocketBuffer::new(&mut stx[..]),
    );
    if listener.listen(PORT).is_err() {
        return 10;
    }
    let mut server = Server {
        handle: server_sockets.add(listener),
        request: sreq,
        got: 0,
        answered: false,
        sent: 0,
        served: 0,
        last_len: 0,
    };
    let mut client: TcpClient = TcpClient::new(chandle, DeviceSeed::new(0x2b1d));

    let Ok(boots) = metrics.declare(
        InstrumentDesc::counter_u64("boots")
            .attributes(&["reason"])
            .max_series(2)
            .temporality(Temporality::Delta),
    ) else {
        return 11;
    };
    let Ok(latency) = metrics.declare(
        InstrumentDesc::histogram("irq.latency")
            .bounds(&[1.0, 10.0])
            .max_series(1)
            .temporality(Temporality::Delta),
    ) else {
        return 11;
    };
    let power_on = [KeyValue::new("reason", AttributeValue::Str("power-on"))];
    if metrics.record(boots, 1u64, &power_on).is_err()
        || metrics.record(latency, 0.5, &[]).is_err()
        || metrics.record(latency, 12.0, &[]).is_err()
    {
        return 12;
    }

    let resource_attributes = [KeyValue::new(
        "service.name",
        AttributeValue::Str("firmware"),
    )];
    let header = RequestHeader::new(
        Resource::new(&resource_attributes),
        Scope::new("otlp-embedded-firmware"),
    );
    let endpoint = Endpoint::new(Scheme::Http, "10.0.0.2", PORT, "/v1/metrics");
    let mut config = ExporterConfig::new(endpoint, header);
    config.export_timeout_ms = 2_000;
    config.request_timeout_ms = 1_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(100)
        .with_max_delay_ms(500)
        .with_max_attempts(0);

    let ticks = Cell::new(0u64);
    let clock = TickClock(&ticks);
    // Caps the whole program at 100 simulated seconds, whatever goes wrong.
    let hung = Cell::new(false);

    // 1. The cable is out: the export ends at its 2 s deadline and keeps everything.
    wire.up.set(false);
    let report = {
        let idle = |_now: Instant, _wake_by: Instant| {
            if ticks.get() > 100_000 {
                hung.set(true);
            }
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
        export_once(
            stack,
            &mut *metrics,
            &mut *snapshot,
            &mut buffer[..],
            config,
            1_700_000_001_000_000_000,
        )
    };
    let cut_ok = report.outcome == ExportOutcome::Failed
        && report.points_collected == 2
        && report.points_abandoned == 2
        && report.points_sent == 0
        && matches!(
            report.last_error.map(|e| e.kind),
            Some(ExportErrorKind::DeadlineExceeded)
        )
        && ticks.get() >= 2_000
        && ticks.get() <= 2_100;
    if !cut_ok || hung.get() {
        return 13;
    }

    // Recorded while the link was down: goes out with the abandoned data.
    if metrics.record(boots, 2u64, &power_on).is_err() {
        return 12;
    }

    // 2. The link is up and the server answers.
    wire.up.set(true);
    let report = {
        let idle = |_now: Instant, _wake_by: Instant| {
            if ticks.get() > 100_000 {
                hung.set(true);
            }
            server_iface.poll(
                smol_instant(Instant(ticks.get())),
                &mut server_dev,
                &mut server_sockets,
            );
            server.serve(&mut server_sockets);
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
        export_once(
            stack,
            &mut *metrics,
            &mut *snapshot,
            &mut buffer[..],
            config,
            1_700_000_004_000_000_000,
        )
    };
    let counter_total = match snapshot.point(0, 0).value {
        otlp_embedded::proto::PointValue::Int(v) => v,
        _ => -1,
    };
    let live_ok = report.outcome == ExportOutcome::Success
        && report.points_collected == 2
        && report.points_sent == 2
        && report.requests == 1
        && report.requests_delivered == 1
        && report.retries == 0
        && counter_total == 3
        && server.served == 1
        && u64::try_from(server.last_len).ok() == Some(report.bytes_sent);
    if !live_ok || hung.get() {
        return 14;
    }
    // Delivered delta data is committed: nothing is left to export.
    use otlp_embedded::registry::Producer;
    metrics.collect(&mut *snapshot, 1_700_000_005_000_000_000);
    if snapshot.metric_count() != 0 {
        return 15;
    }

    // 3. A superloop: each tick polls both interfaces, serves, and calls `Exporter::poll`
    // once with a `PollStack` made for the tick; the loop records meanwhile. The server's
    // socket is given a few ticks to listen again first.
    for _ in 0..20 {
        let now = smol_instant(Instant(ticks.get()));
        client_iface.poll(now, &mut client_dev, &mut client_sockets);
        server_iface.poll(now, &mut server_dev, &mut server_sockets);
        server.serve(&mut server_sockets);
        ticks.set(ticks.get() + 1);
    }
    if metrics.record(boots, 4u64, &power_on).is_err() {
        return 12;
    }
    let mut exporter = Exporter::new(
        config,
        PollHttpClient::<512>::with_head_buffer(ReaderConfig::new()),
    );
    let mut run = exporter.start(
        &mut *metrics,
        &mut *snapshot,
        1_700_000_006_000_000_000,
        clock.now(),
    );
    let mut polls = 0u32;
    let report = loop {
        if ticks.get() > 200_000 {
            return 16;
        }
        let now = smol_instant(Instant(ticks.get()));
        client_iface.poll(now, &mut client_dev, &mut client_sockets);
        server_iface.poll(now, &mut server_dev, &mut server_sockets);
        server.serve(&mut server_sockets);
        let mut stack = PollStack::new(&mut client, &mut client_iface, &mut client_sockets);
        polls += 1;
        let polled = exporter.poll(
            &mut run,
            &mut *metrics,
            &*snapshot,
            &mut buffer[..],
            &mut stack,
            &clock,
        );
        if let Poll::Ready(report) = polled {
            break report;
        }
        // The rest of the loop: an interrupt's measurement, recorded during the export.
        if polls == 3 && metrics.record(latency, 3.0, &[]).is_err() {
            return 12;
        }
        ticks.set(ticks.get() + 1);
    };
    let looped_ok = report.outcome == ExportOutcome::Success
        && report.points_collected == 1
        && report.points_sent == 1
        && report.retries == 0
        && polls > 3
        && server.served == 2
        && u64::try_from(server.last_len).ok() == Some(report.bytes_sent);
    if !looped_ok {
        return 17;
    }
    // What was recorded during the export waits for the next one.
    metrics.collect(&mut *snapshot, 1_700_000_007_000_000_000);
    if snapshot.metric_count() == 1 && snapshot.point_count(0) == 1 {
        0
    } else {
        18
    }
}
