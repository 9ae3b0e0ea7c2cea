//! In-memory test network for the smoltcp transport: a device pair joined by queues, a
//! simulated clock, a small HTTP/1.1 server on its own smoltcp interface, and a minimal
//! client over core's stream seam. Nothing here touches the kernel's network.
//!
//! Reuse: `Net::new(..)` gives a client stack and a `Server`; `Net::blocking(..)` builds the
//! blocking connector whose idle hook runs the server and advances the clock, so any code
//! written against `otlp_embedded::transport::Connect` (core's `HttpClient`) can run over it.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, Scheme, TransportError};
use otlp_embedded_smoltcp::firmware::Stack;
use otlp_embedded_smoltcp::{
    smol_instant, Blocking, DeviceSeed, IpLiteral, Resolve, SmolStack, TcpClient,
};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

/// Largest IP packet the pair carries.
pub const MTU: usize = 1500;
/// Frames a direction holds before it drops, like a NIC ring.
pub const QUEUE_FRAMES: usize = 64;

// ---------------------------------------------------------------- clock

/// A simulated monotonic clock shared by everything in a test.
#[derive(Clone, Debug, Default)]
pub struct SimClock(Rc<Cell<u64>>);

impl SimClock {
    /// Move time forward.
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

// ---------------------------------------------------------------- device pair

/// The wire between two [`PipeDevice`]s: one queue per direction and a pool of frame
/// buffers that are recycled, so that after warm-up moving frames allocates nothing.
#[derive(Debug, Default)]
pub struct Wire {
    /// `queues[side]` holds frames waiting to be received by `side`.
    queues: [VecDeque<Vec<u8>>; 2],
    pool: Vec<Vec<u8>>,
    /// Frames sent by each side.
    pub sent: [u64; 2],
    /// Frames dropped because the receiving queue was full.
    pub overflowed: u64,
}

/// One end of an in-memory IP link. Checksums are computed on send and checked on receive
/// (unlike smoltcp's `Loopback`), so a corrupted frame is rejected by the stack.
#[derive(Clone, Debug)]
pub struct PipeDevice {
    wire: Rc<RefCell<Wire>>,
    side: usize,
    /// Report checksums as ignored, like `Loopback` (only for the control experiment that
    /// shows why the pair must not).
    pub ignore_checksums: bool,
}

/// Two devices joined back to back.
pub fn device_pair() -> (PipeDevice, PipeDevice) {
    let mut wire = Wire::default();
    for q in &mut wire.queues {
        q.reserve(QUEUE_FRAMES + 1);
    }
    for _ in 0..2 * QUEUE_FRAMES + 4 {
        wire.pool.push(Vec::with_capacity(MTU));
    }
    let wire = Rc::new(RefCell::new(wire));
    (
        PipeDevice {
            wire: wire.clone(),
            side: 0,
            ignore_checksums: false,
        },
        PipeDevice {
            wire,
            side: 1,
            ignore_checksums: false,
        },
    )
}

impl PipeDevice {
    /// The shared wire, for counters.
    pub fn wire(&self) -> Rc<RefCell<Wire>> {
        self.wire.clone()
    }
}

/// A received frame; its buffer goes back to the pool when consumed.
pub struct PipeRx {
    frame: Vec<u8>,
    wire: Rc<RefCell<Wire>>,
}

/// Permission to send one frame to the other side.
pub struct PipeTx {
    wire: Rc<RefCell<Wire>>,
    side: usize,
}

impl phy::RxToken for PipeRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        self.wire.borrow_mut().pool.push(self.frame);
        r
    }
}

impl phy::TxToken for PipeTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut w = self.wire.borrow_mut();
        let mut frame = w.pool.pop().unwrap_or_else(|| Vec::with_capacity(MTU));
        frame.clear();
        frame.resize(len, 0);
        let r = f(&mut frame);
        let to = 1 - self.side;
        w.sent[self.side] += 1;
        if w.queues[to].len() >= QUEUE_FRAMES {
            w.overflowed += 1;
            w.pool.push(frame);
        } else {
            w.queues[to].push_back(frame);
        }
        r
    }
}

impl Device for PipeDevice {
    type RxToken<'a> = PipeRx;
    type TxToken<'a> = PipeTx;

    fn receive(
        &mut self,
        _timestamp: smoltcp::time::Instant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.wire.borrow_mut().queues[self.side].pop_front()?;
        Some((
            PipeRx {
                frame,
                wire: self.wire.clone(),
            },
            PipeTx {
                wire: self.wire.clone(),
                side: self.side,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: smoltcp::time::Instant) -> Option<Self::TxToken<'_>> {
        Some(PipeTx {
            wire: self.wire.clone(),
            side: self.side,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = MTU;
        // Default checksum capabilities are `Both`: compute on send, verify on receive.
        if self.ignore_checksums {
            caps.checksum = phy::ChecksumCapabilities::ignored();
        }
        caps
    }
}

// ---------------------------------------------------------------- stacks

/// Client and server addresses.
pub const CLIENT_V4: IpAddress = IpAddress::v4(10, 0, 0, 1);
/// Server IPv4 address.
pub const SERVER_V4: IpAddress = IpAddress::v4(10, 0, 0, 2);
/// Client IPv6 address.
pub const CLIENT_V6: IpAddress = IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 1);
/// Server IPv6 address.
pub const SERVER_V6: IpAddress = IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2);
/// Port the server listens on.
pub const SERVER_PORT: u16 = 4318;

/// An interface with an IPv4 /24 and an IPv6 /64 address.
pub fn make_iface<D: Device>(device: &mut D, v4: IpAddress, v6: IpAddress, seed: u64) -> Interface {
    let mut config = Config::new(HardwareAddress::Ip);
    config.random_seed = seed;
    let mut iface = Interface::new(config, device, smol_instant(Instant(0)));
    iface.update_ip_addrs(|addrs| {
        addrs.push(IpCidr::new(v4, 24)).unwrap();
        addrs.push(IpCidr::new(v6, 64)).unwrap();
    });
    iface
}

/// A socket set with room for `n` sockets, living for the test (leaked: smoltcp without
/// `alloc` takes borrowed storage).
pub fn socket_set(n: usize) -> SocketSet<'static> {
    let storage: &'static mut [SocketStorage<'static>] = Box::leak(
        (0..n)
            .map(|_| SocketStorage::EMPTY)
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    SocketSet::new(storage)
}

/// A TCP socket with leaked buffers of the given sizes.
pub fn tcp_socket(rx: usize, tx: usize) -> tcp::Socket<'static> {
    let rx: &'static mut [u8] = Box::leak(vec![0u8; rx].into_boxed_slice());
    let tx: &'static mut [u8] = Box::leak(vec![0u8; tx].into_boxed_slice());
    tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx))
}

// ---------------------------------------------------------------- server

/// What the server does with a complete request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer with the response bytes and close.
    Answer,
    /// Read the request and never answer nor close (a hung collector).
    Silent,
    /// Answer, then keep the connection open until the client closes first (a keep-alive
    /// server); the client then ends in `TimeWait`.
    AnswerThenWait,
}

/// Per-listener state.
#[derive(Debug)]
struct Slot {
    handle: SocketHandle,
    request: Vec<u8>,
    answered: bool,
    response_sent: usize,
    listening: bool,
}

/// A small HTTP/1.1 server on its own smoltcp interface: several sockets listen on one port
/// (each re-listens after its connection ends); each reads one request (headers and a
/// `Content-Length` body), answers with `response` and closes.
pub struct Server<D: Device> {
    /// The server's interface.
    pub iface: Interface,
    /// The server's device.
    pub device: D,
    /// The server's sockets.
    pub sockets: SocketSet<'static>,
    slots: Vec<Slot>,
    /// Port listened on.
    pub port: u16,
    /// Bytes sent back for every request.
    pub response: Vec<u8>,
    /// What to do with requests.
    pub behaviour: Behaviour,
    /// Complete requests read.
    pub served: u64,
    /// Copy of the last complete request (capacity kept, so no allocation after warm-up).
    pub last_request: Vec<u8>,
    /// Connections that ended before a complete request.
    pub incomplete: u64,
    /// Times a listening socket was seen to take a connection (SYN accepted).
    pub accepted: u64,
    /// When true, every complete request is also appended to `log` (this allocates, so
    /// allocation-counting tests leave it off).
    pub keep_requests: bool,
    /// Complete requests in arrival order, when `keep_requests` is on.
    pub log: Vec<Vec<u8>>,
    /// When each request in `log` was complete (simulated milliseconds).
    pub log_times: Vec<u64>,
}

/// Capacity of a request kept by the server.
pub const MAX_REQUEST: usize = 16 * 1024;

impl<D: Device> Server<D> {
    /// A server with `listeners` sockets on `port`, answering `response`.
    pub fn new(mut device: D, listeners: usize, port: u16, response: &[u8]) -> Self {
        let iface = make_iface(&mut device, SERVER_V4, SERVER_V6, 0x5e17);
        let mut sockets = socket_set(listeners);
        let mut slots = Vec::new();
        for _ in 0..listeners {
            let mut s = tcp_socket(8192, 8192);
            // Like a real server, reap connections whose peer vanished (its RST may have
            // been lost on a faulty link): probe idle ones (the client's stack answers a probe
            // for a forgotten connection with RST), drop ones silent for longer than any
            // test's deadline.
            s.set_keep_alive(Some(smoltcp::time::Duration::from_millis(1_000)));
            s.set_timeout(Some(smoltcp::time::Duration::from_millis(30_000)));
            s.listen(port).unwrap();
            slots.push(Slot {
                handle: sockets.add(s),
                request: Vec::with_capacity(MAX_REQUEST),
                answered: false,
                response_sent: 0,
                listening: true,
            });
        }
        Server {
            iface,
            device,
            sockets,
            slots,
            port,
            response: response.to_vec(),
            behaviour: Behaviour::Answer,
            served: 0,
            last_request: Vec::with_capacity(MAX_REQUEST),
            incomplete: 0,
            accepted: 0,
            keep_requests: false,
            log: Vec::new(),
            log_times: Vec::new(),
        }
    }

    /// Poll the interface and serve every socket once.
    pub fn poll(&mut self, now: Instant) {
        self.iface
            .poll(smol_instant(now), &mut self.device, &mut self.sockets);
        for slot in &mut self.slots {
            let s = self.sockets.get_mut::<tcp::Socket>(slot.handle);
            let listening = s.state() == tcp::State::Listen;
            if slot.listening && !listening {
                self.accepted += 1;
            }
            slot.listening = listening;
            match s.state() {
                tcp::State::Closed | tcp::State::TimeWait => {
                    if !slot.answered && !slot.request.is_empty() {
                        self.incomplete += 1;
                    }
                    slot.request.clear();
                    slot.answered = false;
                    slot.response_sent = 0;
                    s.listen(self.port).unwrap();
                    slot.listening = true;
                }
                tcp::State::Listen | tcp::State::SynReceived => {}
                _ if !slot.answered => {
                    while s.can_recv() {
                        let room = MAX_REQUEST - slot.request.len();
                        let req = &mut slot.request;
                        let n = s
                            .recv(|b| {
                                let n = b.len().min(room);
                                req.extend_from_slice(&b[..n]);
                                (n, n)
                            })
                            .unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                    }
                    if request_complete(&slot.request) {
                        slot.answered = true;
                        self.served += 1;
                        self.last_request.clear();
                        self.last_request.extend_from_slice(&slot.request);
                        if self.keep_requests {
                            self.log.push(slot.request.clone());
                            self.log_times.push(now.as_millis());
                        }
                    } else if s.state() == tcp::State::CloseWait {
                        // The client gave up half-way: close our side too.
                        s.close();
                    }
                }
                _ => {
                    // Discard anything after the request.
                    while s.can_recv() {
                        if s.recv(|b| (b.len(), ())).is_err() {
                            break;
                        }
                    }
                }
            }
            if slot.answered && self.behaviour != Behaviour::Silent && s.may_send() {
                if slot.response_sent < self.response.len() {
                    slot.response_sent += s
                        .send_slice(&self.response[slot.response_sent..])
                        .unwrap_or(0);
                }
                let client_closed = s.state() == tcp::State::CloseWait;
                if slot.response_sent == self.response.len()
                    && (self.behaviour == Behaviour::Answer || client_closed)
                {
                    s.close();
                }
            }
        }
    }

    /// TCP states of the server's sockets.
    pub fn states(&self) -> Vec<tcp::State> {
        self.slots
            .iter()
            .map(|slot| self.sockets.get::<tcp::Socket>(slot.handle).state())
            .collect()
    }
}

/// Whether `buf` holds a whole request: headers and `Content-Length` bytes of body.
pub fn request_complete(buf: &[u8]) -> bool {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = &buf[..end];
    let mut length = 0usize;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            if line[..colon].eq_ignore_ascii_case(b"content-length") {
                length = std::str::from_utf8(&line[colon + 1..])
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    buf.len() >= end + 4 + length
}

// ---------------------------------------------------------------- whole network

/// Client stack, server and clock, wired together in memory.
pub struct Net<D: Device> {
    /// Client state kept across connections.
    pub client: TcpClient,
    /// Client interface.
    pub iface: Interface,
    /// Client device.
    pub device: D,
    /// Client sockets (one TCP socket, `client.handle()`).
    pub sockets: SocketSet<'static>,
    /// The server.
    pub server: Server<D>,
    /// The shared simulated clock.
    pub clock: SimClock,
    /// Simulated milliseconds per idle call.
    pub step_ms: u64,
    /// Idle calls allowed per exchange before the test fails as hung.
    pub idle_cap: u64,
    /// Idle calls so far, in total.
    pub idles: u64,
}

/// The canonical response of the test server.
pub const OK_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

impl<D: Device> Net<D> {
    /// A network over `client_dev` / `server_dev` with `listeners` server sockets.
    pub fn new(mut client_dev: D, server_dev: D, listeners: usize, port_seed: u16) -> Self {
        let iface = make_iface(&mut client_dev, CLIENT_V4, CLIENT_V6, 0xc11e);
        let mut sockets = socket_set(1);
        let handle = sockets.add(tcp_socket(4096, 4096));
        Net {
            client: TcpClient::new(handle, DeviceSeed::new(u64::from(port_seed))),
            iface,
            device: client_dev,
            sockets,
            server: Server::new(server_dev, listeners, SERVER_PORT, OK_RESPONSE),
            clock: SimClock::default(),
            step_ms: 1,
            idle_cap: 1_000_000,
            idles: 0,
        }
    }

    /// Run `f` with a blocking connector whose idle hook serves the server and advances the
    /// clock by `step_ms` (and fails the test after `idle_cap` idle calls).
    pub fn with_blocking<T>(
        &mut self,
        f: impl FnOnce(&mut Blocking<'_, 'static, D, SimClock, &mut dyn FnMut(Instant, Instant)>) -> T,
    ) -> T {
        self.with_blocking_resolver(IpLiteral, f)
    }

    /// [`with_blocking`](Self::with_blocking) with a host resolver.
    pub fn with_blocking_resolver<R, T>(
        &mut self,
        resolver: R,
        f: impl FnOnce(
            &mut Blocking<'_, 'static, D, SimClock, &mut dyn FnMut(Instant, Instant), R>,
        ) -> T,
    ) -> T
    where
        R: for<'x> Resolve<
            SmolStack<'x, 'static, D, SimClock, &'x mut dyn FnMut(Instant, Instant), 8>,
        >,
    {
        let mut hook = idle_hook(
            &mut self.server,
            &mut self.idles,
            self.clock.clone(),
            self.step_ms,
            self.idle_cap,
        );
        let hook: &mut dyn FnMut(Instant, Instant) = &mut hook;
        let mut connector = Blocking::new(
            &mut self.client,
            &mut self.iface,
            &mut self.device,
            &mut self.sockets,
            self.clock.clone(),
        )
        .with_idle(hook)
        .with_resolver(resolver);
        f(&mut connector)
    }

    /// A blocking connector that owns its idle hook (serve the server, advance the clock),
    /// for code that takes a `Connect` by value, such as core's `HttpClient`.
    pub fn blocking(
        &mut self,
    ) -> Blocking<'_, 'static, D, SimClock, impl FnMut(Instant, Instant) + '_> {
        let hook = idle_hook(
            &mut self.server,
            &mut self.idles,
            self.clock.clone(),
            self.step_ms,
            self.idle_cap,
        );
        Blocking::new(
            &mut self.client,
            &mut self.iface,
            &mut self.device,
            &mut self.sockets,
            self.clock.clone(),
        )
        .with_idle(hook)
    }

    /// The client stack, clock and an idle hook (serve the server, advance the clock) for
    /// `otlp_embedded_smoltcp::firmware::export_once`.
    pub fn stack(&mut self) -> Stack<'_, 'static, D, SimClock, impl FnMut(Instant, Instant) + '_> {
        let idle = idle_hook(
            &mut self.server,
            &mut self.idles,
            self.clock.clone(),
            self.step_ms,
            self.idle_cap,
        );
        Stack {
            client: &mut self.client,
            iface: &mut self.iface,
            device: &mut self.device,
            sockets: &mut self.sockets,
            clock: &self.clock,
            idle,
            resolver: IpLiteral,
        }
    }

    /// Poll both sides for `ms` simulated milliseconds (lets TIME-WAIT and retransmissions
    /// play out between checks).
    pub fn settle(&mut self, ms: u64) {
        for _ in 0..ms {
            let now = self.clock.now();
            self.iface
                .poll(smol_instant(now), &mut self.device, &mut self.sockets);
            self.server.poll(now);
            self.clock.advance(1);
        }
    }

    /// TCP state of the client socket.
    pub fn client_state(&self) -> tcp::State {
        self.sockets
            .get::<tcp::Socket>(self.client.handle())
            .state()
    }
}

/// The idle hook of the in-memory network: serve the server, advance the clock by `step`
/// ms, and fail the test after `cap` calls (a hang detector).
fn idle_hook<'h, D: Device>(
    server: &'h mut Server<D>,
    idles: &'h mut u64,
    clock: SimClock,
    step: u64,
    cap: u64,
) -> impl FnMut(Instant, Instant) + 'h {
    let mut count = 0u64;
    move |_now: Instant, _wake_by: Instant| {
        count += 1;
        *idles += 1;
        assert!(count <= cap, "exchange did not end within {cap} idle calls");
        server.poll(clock.now());
        clock.advance(step);
    }
}

/// The endpoint of the test server, by IP literal.
pub fn endpoint(host: &str) -> Endpoint<'_> {
    Endpoint {
        scheme: Scheme::Http,
        host,
        port: SERVER_PORT,
        path: "/v1/metrics",
    }
}

/// What one test exchange produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchanged {
    /// Response bytes read (into the caller's buffer).
    pub received: usize,
}

/// A minimal HTTP client over the stream seam: connect, write `request`, read until the
/// peer's FIN into `response`, close gracefully. Errors close with `Abort`.
pub fn exchange<C: Connect>(
    connector: &mut C,
    endpoint: &Endpoint<'_>,
    request: &[u8],
    response: &mut [u8],
    deadline: Instant,
) -> Result<Exchanged, TransportError> {
    use embedded_io::{Read, Write};
    let mut conn = connector.connect(endpoint, deadline)?;
    conn.set_deadline(deadline);
    let mut sent = 0;
    while sent < request.len() {
        match conn.write(&request[sent..]) {
            Ok(0) => {
                let _ = conn.close(CloseMode::Abort);
                return Err(TransportError::Io(embedded_io::ErrorKind::WriteZero));
            }
            Ok(n) => sent += n,
            Err(e) => {
                let err = conn.classify(&e);
                let _ = conn.close(CloseMode::Abort);
                return Err(err);
            }
        }
    }
    if let Err(e) = conn.flush() {
        let err = conn.classify(&e);
        let _ = conn.close(CloseMode::Abort);
        return Err(err);
    }
    let mut got = 0;
    loop {
        if got == response.len() {
            let _ = conn.close(CloseMode::Abort);
            return Err(TransportError::Io(embedded_io::ErrorKind::OutOfMemory));
        }
        match conn.read(&mut response[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => {
                let err = conn.classify(&e);
                let _ = conn.close(CloseMode::Abort);
                return Err(err);
            }
        }
    }
    conn.close(CloseMode::Graceful)?;
    Ok(Exchanged { received: got })
}

/// A request of `body_len` body bytes (a fixed pattern), as the integrator's OTLP client
/// would send one.
pub fn request_bytes(body_len: usize, out: &mut Vec<u8>) {
    use std::io::Write;
    out.clear();
    write!(
        out,
        "POST /v1/metrics HTTP/1.1\r\nHost: 10.0.0.2:4318\r\nContent-Type: application/x-protobuf\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    out.extend((0..body_len).map(|i| (i % 251) as u8));
}

/// A global allocator that counts allocations, for the harness-free zero-allocation test
/// binaries (each declares it as its `#[global_allocator]`).
pub struct CountingAllocator;

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Allocations counted so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}
