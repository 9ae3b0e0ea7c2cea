//! Local port choice for outgoing connections.
//!
//! smoltcp does not pick an ephemeral port: the caller passes one to `connect`. Reusing a
//! port too soon can land a new SYN on the peer's TIME-WAIT entry for the previous
//! connection with the same four-tuple, which the peer may answer with a stale ACK or drop.
//!
//! [`PortWalker`] walks the IANA dynamic range `49152..=65535` in order from a seeded start,
//! so a given port comes back only after all 16384 others were handed out. It also keeps a
//! fixed ring of the last `N` `(port, time)` pairs and refuses a new port while the one handed
//! out `N` allocations ago is younger than a short window `W`. Since every block of `N`
//! allocations then spans at least `W`, and `W` is chosen so that `16384 / N` blocks span at
//! least 60 s, no port is ever handed out twice within 60 s, with `N` pairs of memory.
//! `N` sets how many connections may be opened in a burst before the pacing applies.

use otlp_embedded::time::Instant;

/// First port of the dynamic (ephemeral) range.
pub const EPHEMERAL_FIRST: u16 = 49152;
/// Last port of the dynamic (ephemeral) range.
pub const EPHEMERAL_LAST: u16 = 65535;
/// How long a port is kept out of use after being handed out, in milliseconds (a generous
/// bound on a peer's TIME-WAIT, which is 2 MSL: 60 s on Linux).
pub const PORT_QUIET_MS: u64 = 60_000;

/// Number of ports in the dynamic range.
const SPAN: u32 = (EPHEMERAL_LAST as u32) - (EPHEMERAL_FIRST as u32) + 1;

/// Hands out local ports from the dynamic range without reusing one within 60 s.
///
/// `N` (at least 1, at most 16384) is the size of the ring of recently used ports.
#[derive(Clone, Debug)]
pub struct PortWalker<const N: usize = 8> {
    /// Offset into the range of the next port to hand out.
    cursor: u32,
    /// The last `N` ports handed out, with when; `head` is the oldest (next to overwrite).
    /// Port 0 (outside the range) marks a slot not used yet.
    recent: [(u16, Instant); N],
    head: usize,
}

impl<const N: usize> PortWalker<N> {
    const VALID_N: () = assert!(N >= 1 && N <= SPAN as usize, "ring size must be 1..=16384");

    /// Minimum time between an allocation and the one `N` allocations later, in
    /// milliseconds: `ceil(60 s / floor(16384 / N))`.
    pub const PACING_MS: u64 = {
        let blocks = SPAN as u64 / if N == 0 { 1 } else { N as u64 };
        let blocks = if blocks == 0 { 1 } else { blocks };
        PORT_QUIET_MS.div_ceil(blocks)
    };

    /// A walker whose first port is `49152 + seed % 16384`.
    ///
    /// Give a seed that differs on each boot (a hardware RNG value, or the one given to
    /// smoltcp's `Config::random_seed`): the ring lives in RAM, so only a fresh seed keeps a
    /// device that rebooted within a minute off the ports it used just before.
    pub const fn new(seed: u16) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::VALID_N;
        PortWalker {
            cursor: seed as u32 % SPAN,
            recent: [(0, Instant(0)); N],
            head: 0,
        }
    }

    /// The port the next successful [`next_port`](Self::next_port) returns.
    pub const fn peek(&self) -> u16 {
        // cursor < SPAN, so the sum fits in a u16.
        (EPHEMERAL_FIRST as u32 + self.cursor) as u16
    }

    /// The earliest instant at which [`next_port`](Self::next_port) succeeds.
    pub fn ready_at(&self) -> Instant {
        match self.recent.get(self.head) {
            Some(&(port, at)) if port != 0 => at.add_millis(Self::PACING_MS),
            _ => Instant(0),
        }
    }

    /// Hand out the next port at `now`, or `None` when ports are being opened faster than
    /// the 60 s rule allows (try again at [`ready_at`](Self::ready_at)).
    pub fn next_port(&mut self, now: Instant) -> Option<u16> {
        if now < self.ready_at() {
            return None;
        }
        let port = self.peek();
        self.cursor = (self.cursor + 1) % SPAN;
        if let Some(slot) = self.recent.get_mut(self.head) {
            *slot = (port, now);
        }
        self.head = (self.head + 1) % N;
        Some(port)
    }

    /// Whether `port` was handed out within the last 60 s before `now`, as far as the ring
    /// remembers (the last `N` ports).
    pub fn recently_used(&self, port: u16, now: Instant) -> bool {
        self.recent
            .iter()
            .any(|&(p, at)| p != 0 && p == port && at.millis_until(now) < PORT_QUIET_MS)
    }
}
