//! Time as core sees it: a monotonic clock the caller provides, for deadlines and retry
//! timing, and unix nanoseconds passed in for data point timestamps.
//!
//! Core owns no clock and no sleep. Deadlines are absolute [`Instant`]s on the caller's
//! monotonic clock, so a slow peer ends at the deadline however many reads it takes. What a
//! blocking driver does while it waits is the caller's too: one [`Wait`], whether that is
//! `std::thread::sleep`, a firmware's idle hook that keeps its network stack polled, or a
//! wait for an interrupt.

/// A point on the caller's monotonic clock, in milliseconds from an arbitrary origin.
///
/// Milliseconds in a `u64` last far longer than any device, and comparisons need no 64-bit
/// atomics, so this works the same on 32-bit microcontrollers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(pub u64);

impl Instant {
    /// Milliseconds since the clock's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This instant plus `millis`, saturating instead of overflowing.
    pub const fn add_millis(self, millis: u64) -> Instant {
        Instant(self.0.saturating_add(millis))
    }

    /// Milliseconds from `self` until `later`, or 0 when `later` is not after `self`.
    pub const fn millis_until(self, later: Instant) -> u64 {
        later.0.saturating_sub(self.0)
    }
}

/// A monotonic clock: never goes backwards, not tied to wall time.
///
/// On Linux this is `std::time::Instant` since process start; on firmware a tick counter.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// What a blocking driver does while it waits: the one wait of every blocking loop (retry
/// backoff in [`Exporter::export`](crate::export::Exporter::export), a stream that would
/// block, a resolver waiting for its answer).
///
/// `wait(now, until)` lets time pass until `until` at the latest: sleep for
/// `now.millis_until(until)` milliseconds (std), or feed a watchdog and sleep until an
/// interrupt or a timer set for `until` (firmware). It may return earlier (a packet
/// arrived); callers look at what they wait for and call again, and never wait past their
/// own deadline, since they pass it as `until`. `now` is the instant the caller read just
/// before, so a hook needs no clock of its own.
///
/// Any `FnMut(Instant, Instant)` is a `Wait`:
///
/// ```
/// use otlp_embedded::time::{Instant, Wait};
///
/// let mut slept = 0;
/// let mut sleep = |now: Instant, until: Instant| slept += now.millis_until(until);
/// sleep.wait(Instant(100), Instant(350));
/// assert_eq!(slept, 250);
/// ```
///
/// An async driver awaits a timer instead; its wait would be a twin of this trait with the
/// same arguments, beside it.
pub trait Wait {
    /// Let time pass until `until` at the latest; `now` is the current instant.
    fn wait(&mut self, now: Instant, until: Instant);
}

impl<F: FnMut(Instant, Instant)> Wait for F {
    fn wait(&mut self, now: Instant, until: Instant) {
        self(now, until)
    }
}

/// Unix time in nanoseconds, as OTLP timestamps carry it.
pub type UnixNanos = u64;

/// `nanos / 1_000_000` without a 64-bit division, which 32-bit cores do in a library
/// routine of some 400 bytes: `1_000_000 = 64 * 15_625`, and a division by a 16-bit number
/// goes 16 bits at a time in 32-bit arithmetic (the remainder stays below the divisor, so
/// `remainder << 16 | next 16 bits` fits).
pub(crate) const fn nanos_to_millis(nanos: UnixNanos) -> u64 {
    const DIVISOR: u32 = 15_625;
    let mut x = nanos >> 6;
    let mut quotient = 0u64;
    let mut remainder = 0u32;
    // The 16-bit parts from the top, each shifted out of `x` in turn by a constant amount
    // (a variable 64-bit shift is a library call on 32-bit cores).
    let mut parts = 4;
    while parts > 0 {
        parts -= 1;
        let part = (remainder << 16) | (x >> 48) as u32;
        x <<= 16;
        quotient = (quotient << 16) | (part / DIVISOR) as u64;
        remainder = part % DIVISOR;
    }
    quotient
}

#[cfg(test)]
mod tests {
    use super::nanos_to_millis;

    #[test]
    fn nanos_to_millis_matches_division() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let edges = [
            0,
            1,
            999_999,
            1_000_000,
            1_000_001,
            63,
            64,
            u64::MAX,
            u64::MAX - 1,
        ];
        for n in edges {
            assert_eq!(nanos_to_millis(n), n / 1_000_000, "{n}");
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(nanos_to_millis(x), x / 1_000_000, "{x}");
            let small = x >> 20;
            assert_eq!(nanos_to_millis(small), small / 1_000_000, "{small}");
        }
    }
}
