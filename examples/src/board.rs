//! A simulated board for the firmware quick start (`examples/quickstart_firmware.rs`), so that
//! it runs on the host: the five things a real board supplies, and a LAN behind them.
//!
//! | the quick start uses | a real board gives | this simulation |
//! |---|---|---|
//! | [`Board::ethernet`] | its MAC driver, as a smoltcp `Device` | an in-memory IP link |
//! | [`Board::iface`] | a smoltcp `Interface` with its address | 10.0.0.1/24 on that link |
//! | [`Board::clock`] | a millisecond tick counter (SysTick) | `std::time::Instant` |
//! | [`idle`] | feed the watchdog, sleep until an interrupt | run the LAN, sleep up to 1 ms |
//! | [`Board::random_u64`], [`Board::unix_nanos`] | its RNG and RTC (or SNTP) | the system clock |
//!
//! Behind the link, 10.0.0.2 port 4318 is a relay: each connection the board opens there is
//! carried over a real TCP connection to the collector named by `QUICKSTART_COLLECTOR`
//! (`host:port`, default `127.0.0.1:4318`), byte for byte, FIN for FIN. The relay runs
//! whenever the board idles, the way a LAN runs while a firmware sleeps.
//!
//! The board makes [`EXPORTS`] exports, [`INTERVAL`] apart, then powers off
//! ([`Board::wait_for_next_export`] says `false`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otlp_embedded::export::ExportReport;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded_smoltcp::smol_instant;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

/// Exports the simulated board makes before it powers off.
pub const EXPORTS: u32 = 2;
/// Time between exports (a real board would wait longer, 10 s or a minute).
pub const INTERVAL: Duration = Duration::from_millis(200);
/// The collector the relay forwards to: `host:port`.
pub const COLLECTOR_VARIABLE: &str = "QUICKSTART_COLLECTOR";
/// The board's address.
pub const BOARD_ADDRESS: IpAddress = IpAddress::v4(10, 0, 0, 1);
/// The relay's address, where the quick start sends its requests.
pub const RELAY_ADDRESS: IpAddress = IpAddress::v4(10, 0, 0, 2);
/// The port the relay listens on.
pub const RELAY_PORT: u16 = 4318;

/// Largest IP packet on the link.
const MTU: usize = 1500;
/// Frames one direction holds; more are dropped, as a full NIC ring would.
const QUEUE_FRAMES: usize = 64;
/// How long the relay waits for the collector to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The board's millisecond clock, counting from power-on.
#[derive(Copy, Clone, Debug)]
pub struct BoardClock {
    power_on: std::time::Instant,
}

impl Clock for BoardClock {
    fn now(&self) -> Instant {
        let ms = self.power_on.elapsed().as_millis();
        Instant(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// The board's network interface hardware: one end of an in-memory IP link.
#[derive(Debug)]
pub struct Ethernet {
    /// `queues[side]`: frames waiting to be received by `side`.
    queues: Rc<RefCell<[VecDeque<Vec<u8>>; 2]>>,
    side: usize,
}

/// A received frame.
pub struct Rx(Vec<u8>);

/// Permission to send one frame to the other end.
pub struct Tx {
    queues: Rc<RefCell<[VecDeque<Vec<u8>>; 2]>>,
    to: usize,
}

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let result = f(&mut frame);
        let mut queues = self.queues.borrow_mut();
        if let Some(queue) = queues.get_mut(self.to) {
            if queue.len() < QUEUE_FRAMES {
                queue.push_back(frame);
            }
        }
        result
    }
}

impl Device for Ethernet {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx)> {
        let frame = self.queues.borrow_mut().get_mut(self.side)?.pop_front()?;
        Some((Rx(frame), self.tx()))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx> {
        Some(self.tx())
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        caps
    }
}

impl Ethernet {
    fn tx(&self) -> Tx {
        Tx {
            queues: Rc::clone(&self.queues),
            to: 1 - self.side,
        }
    }
}

/// The simulated board: what the quick start borrows for each export.
pub struct Board {
    /// The network device.
    pub ethernet: Ethernet,
    /// The board's interface, 10.0.0.1/24.
    pub iface: Interface,
    /// Milliseconds since power-on.
    pub clock: BoardClock,
    exports: u32,
}

impl Board {
    /// Power on: the link, the board's interface, and the relay behind the link.
    pub fn init() -> Board {
        let clock = BoardClock {
            power_on: std::time::Instant::now(),
        };
        let queues = Rc::new(RefCell::new([VecDeque::new(), VecDeque::new()]));
        let mut ethernet = Ethernet {
            queues: Rc::clone(&queues),
            side: 0,
        };
        let mut far_end = Ethernet { queues, side: 1 };
        let iface = interface(&mut ethernet, BOARD_ADDRESS);
        let lan_iface = interface(&mut far_end, RELAY_ADDRESS);
        let collector =
            std::env::var(COLLECTOR_VARIABLE).unwrap_or_else(|_| "127.0.0.1:4318".into());
        let mut sockets = SocketSet::new(Vec::new());
        let listener = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 4096]),
            tcp::SocketBuffer::new(vec![0; 4096]),
        ));
        LAN.with(|lan| {
            *lan.borrow_mut() = Some(Lan {
                device: far_end,
                iface: lan_iface,
                sockets,
                listener,
                collector,
                clock,
                relay: None,
            });
        });
        Board {
            ethernet,
            iface,
            clock,
            exports: 0,
        }
    }

    /// A random number (a real board reads its hardware RNG).
    pub fn random_u64(&self) -> u64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id())
    }

    /// Unix time in nanoseconds (a real board reads its RTC, or keeps time from SNTP).
    pub fn unix_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Idle until the next export is due, [`INTERVAL`] from now; `false` once the board has
    /// made its [`EXPORTS`] exports (a real board never stops).
    pub fn wait_for_next_export(&mut self) -> bool {
        if self.exports == EXPORTS {
            return false;
        }
        self.exports += 1;
        let due = self.clock.now().add_millis(millis(INTERVAL));
        loop {
            let now = self.clock.now();
            if now >= due {
                return true;
            }
            idle(now, due);
        }
    }

    /// Print an export's outcome (a real board logs it over RTT or a UART).
    pub fn show(&self, report: &ExportReport) {
        println!(
            "export {}/{EXPORTS}: {:?}, {} point(s) sent in {} request(s), {} bytes, last error {:?}",
            self.exports,
            report.outcome,
            report.points_sent,
            report.requests,
            report.bytes_sent,
            report.last_error,
        );
    }
}

/// The board's idle hook: a real board feeds its watchdog and sleeps until an interrupt or
/// `wake_by`; here the LAN behind the link runs (the relay moves bytes), then the board
/// sleeps up to a millisecond if nothing happened.
pub fn idle(now: Instant, wake_by: Instant) {
    let moved = LAN.with(|lan| lan.borrow_mut().as_mut().is_some_and(Lan::run));
    if !moved {
        let nap = now.millis_until(wake_by).min(1);
        std::thread::sleep(Duration::from_millis(nap));
    }
}

thread_local! {
    /// The LAN behind the board's link, run by [`idle`] on the board's thread.
    static LAN: RefCell<Option<Lan>> = const { RefCell::new(None) };
}

/// The far end of the link: an interface at 10.0.0.2 with one listening socket, and the
/// relay of its current connection to the collector.
struct Lan {
    device: Ethernet,
    iface: Interface,
    sockets: SocketSet<'static>,
    listener: SocketHandle,
    collector: String,
    clock: BoardClock,
    relay: Option<Relay>,
}

/// One board connection carried to the collector.
struct Relay {
    stream: TcpStream,
    /// Bytes from the board not yet written to the collector.
    to_collector: Vec<u8>,
    /// Bytes from the collector not yet sent to the board.
    to_board: Vec<u8>,
    /// The board sent its FIN and it was passed on.
    board_done: bool,
    /// The collector closed its side.
    collector_done: bool,
}

impl Lan {
    /// Poll the interface and move what can be moved; whether anything happened.
    fn run(&mut self) -> bool {
        let now = self.clock.now();
        let polled = self
            .iface
            .poll(smol_instant(now), &mut self.device, &mut self.sockets);
        let socket = self.sockets.get_mut::<tcp::Socket>(self.listener);
        match socket.state() {
            tcp::State::Closed => {
                self.relay = None;
                // Ready for the board's next connection.
                let _ = socket.listen(RELAY_PORT);
                return polled != PollResult::None;
            }
            tcp::State::TimeWait => {
                // The board's side is closed already; free the socket at once.
                self.relay = None;
                socket.abort();
                return true;
            }
            tcp::State::Listen | tcp::State::SynReceived => return polled != PollResult::None,
            _ => {}
        }
        let relay = match &mut self.relay {
            Some(relay) => relay,
            None => match connect(&self.collector) {
                Some(stream) => self.relay.insert(Relay {
                    stream,
                    to_collector: Vec::new(),
                    to_board: Vec::new(),
                    board_done: false,
                    collector_done: false,
                }),
                None => {
                    // No collector: the board sees its connection reset.
                    socket.abort();
                    return true;
                }
            },
        };
        relay.pass(socket) || polled != PollResult::None
    }
}

impl Relay {
    /// Move bytes both ways and pass on each side's close; whether anything moved.
    fn pass(&mut self, socket: &mut tcp::Socket<'_>) -> bool {
        let mut moved = false;
        // Board to collector.
        while socket.can_recv() {
            let taken = socket.recv(|bytes| {
                self.to_collector.extend_from_slice(bytes);
                (bytes.len(), bytes.len())
            });
            moved |= matches!(taken, Ok(n) if n > 0);
            if !matches!(taken, Ok(n) if n > 0) {
                break;
            }
        }
        if !self.to_collector.is_empty() {
            match self.stream.write(&self.to_collector) {
                Ok(n) => {
                    self.to_collector.drain(..n);
                    moved |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    socket.abort();
                    return true;
                }
            }
        }
        if !socket.may_recv() && self.to_collector.is_empty() && !self.board_done {
            // The board's FIN, passed on.
            let _ = self.stream.shutdown(Shutdown::Write);
            self.board_done = true;
            moved = true;
        }
        // Collector to board.
        if !self.collector_done {
            let mut buffer = [0u8; 2048];
            match self.stream.read(&mut buffer) {
                Ok(0) => {
                    self.collector_done = true;
                    moved = true;
                }
                Ok(n) => {
                    self.to_board
                        .extend_from_slice(buffer.get(..n).unwrap_or(&[]));
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {
                    socket.abort();
                    return true;
                }
            }
        }
        if !self.to_board.is_empty() && socket.can_send() {
            let n = socket.send_slice(&self.to_board).unwrap_or(0);
            self.to_board.drain(..n);
            moved |= n > 0;
        }
        if self.collector_done && self.to_board.is_empty() && socket.may_send() {
            // The collector's FIN, passed on.
            socket.close();
            moved = true;
        }
        moved
    }
}

/// A non-blocking connection to the collector, or `None` if it cannot be reached.
fn connect(collector: &str) -> Option<TcpStream> {
    let address: SocketAddr = collector.to_socket_addrs().ok()?.next()?;
    let stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).ok()?;
    stream.set_nodelay(true).ok()?;
    stream.set_nonblocking(true).ok()?;
    Some(stream)
}

/// An interface on `device` with `address`/24.
fn interface(device: &mut Ethernet, address: IpAddress) -> Interface {
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = 0x5eed ^ u64::from(device.side as u8);
    let mut iface = Interface::new(config, device, smol_instant(Instant(0)));
    iface.update_ip_addrs(|addresses| {
        let _ = addresses.push(IpCidr::new(address, 24));
    });
    iface
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
