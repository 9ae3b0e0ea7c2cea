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
