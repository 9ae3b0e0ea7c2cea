//! Two embassy-net devices joined by an in-memory Ethernet link that loses and corrupts
//! frames on a seeded schedule, so TCP's retransmission and the stacks' checksums are
//! exercised deterministically (the same seed gives the same faults for the same frames).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Waker};

use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};

/// Frames waiting on one side before more are dropped, as a full receive ring would.
const QUEUE_FRAMES: usize = 64;
/// Ethernet MTU (embassy-net counts the Ethernet header in it).
const MTU: usize = 1514;
/// Corruption leaves the Ethernet header alone: a damaged MAC address is a lost frame to
/// the receiver anyway, and a damaged source MAC could teach it a wrong neighbour.
const ETHERNET_HEADER: usize = 14;

/// How often the link misbehaves, per thousand frames.
#[derive(Copy, Clone, Debug)]
pub struct Faults {
    /// Frames dropped.
    pub loss_per_mille: u32,
    /// Frames delivered with one bit flipped past the Ethernet header (IP or TCP checksums
    /// must catch each one).
    pub corrupt_per_mille: u32,
    /// Seed of the fault schedule.
    pub seed: u64,
}

/// What the link did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames offered by either side.
    pub frames: u64,
    /// Frames dropped by the fault schedule.
    pub lost: u64,
    /// Frames delivered corrupted.
    pub corrupted: u64,
    /// Frames dropped because the other side's queue was full.
    pub overflowed: u64,
}

struct Shared {
    /// `queues[side]`: frames waiting for `side` to receive.
    queues: [VecDeque<Vec<u8>>; 2],
    wakers: [Option<Waker>; 2],
    faults: Faults,
    rng: u64,
    stats: LinkStats,
}

impl Shared {
    /// SplitMix64: small, seeded, good enough to schedule faults.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn send(&mut self, to: usize, mut frame: Vec<u8>) {
        self.stats.frames += 1;
        if self.next() % 1000 < u64::from(self.faults.loss_per_mille) {
            self.stats.lost += 1;
            return;
        }
        if frame.len() > ETHERNET_HEADER
            && self.next() % 1000 < u64::from(self.faults.corrupt_per_mille)
        {
            let span = (frame.len() - ETHERNET_HEADER) as u64;
            let at = ETHERNET_HEADER + (self.next() % span) as usize;
            let bit = 1u8 << (self.next() % 8);
            frame[at] ^= bit;
            self.stats.corrupted += 1;
        }
        if self.queues[to].len() >= QUEUE_FRAMES {
            self.stats.overflowed += 1;
            return;
        }
        self.queues[to].push_back(frame);
        if let Some(waker) = self.wakers[to].take() {
            waker.wake();
        }
    }
}

/// A handle on the link, to read what it did.
#[derive(Clone)]
pub struct Link(Rc<RefCell<Shared>>);

impl Link {
    /// What the link did so far.
    pub fn stats(&self) -> LinkStats {
        self.0.borrow().stats
    }

    /// Change the fault rates from now on (the schedule continues).
    pub fn set_faults(&self, loss_per_mille: u32, corrupt_per_mille: u32) {
        let mut shared = self.0.borrow_mut();
        shared.faults.loss_per_mille = loss_per_mille;
        shared.faults.corrupt_per_mille = corrupt_per_mille;
    }
}

/// One end of the link: an embassy-net driver with an Ethernet address.
pub struct MemoryDevice {
    shared: Rc<RefCell<Shared>>,
    side: usize,
    mac: [u8; 6],
}

/// Two devices on one link (MAC addresses `02:00:00:00:00:01` and `...:02`), and the
/// link's handle.
pub fn memory_link(faults: Faults) -> (MemoryDevice, MemoryDevice, Link) {
    let shared = Rc::new(RefCell::new(Shared {
        queues: [VecDeque::new(), VecDeque::new()],
        wakers: [None, None],
        faults,
        rng: faults.seed,
        stats: LinkStats::default(),
    }));
    let end = |side: usize| MemoryDevice {
        shared: Rc::clone(&shared),
        side,
        mac: [0x02, 0, 0, 0, 0, side as u8 + 1],
    };
    (end(0), end(1), Link(Rc::clone(&shared)))
}

/// A received frame.
pub struct MemoryRx(Vec<u8>);

impl RxToken for MemoryRx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

/// Room to send one frame to the other side.
pub struct MemoryTx {
    shared: Rc<RefCell<Shared>>,
    to: usize,
}

impl TxToken for MemoryTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let result = f(&mut frame);
        self.shared.borrow_mut().send(self.to, frame);
        result
    }
}

impl Driver for MemoryDevice {
    type RxToken<'a>
        = MemoryRx
    where
        Self: 'a;
    type TxToken<'a>
        = MemoryTx
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(MemoryRx, MemoryTx)> {
        let mut shared = self.shared.borrow_mut();
        match shared.queues[self.side].pop_front() {
            Some(frame) => Some((
                MemoryRx(frame),
                MemoryTx {
                    shared: Rc::clone(&self.shared),
                    to: 1 - self.side,
                },
            )),
            None => {
                shared.wakers[self.side] = Some(cx.waker().clone());
                None
            }
        }
    }

    fn transmit(&mut self, _cx: &mut Context) -> Option<MemoryTx> {
        Some(MemoryTx {
            shared: Rc::clone(&self.shared),
            to: 1 - self.side,
        })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        // Checksums computed and checked in software on both sides (the default), so a
        // corrupted frame is dropped by the receiving stack.
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}
