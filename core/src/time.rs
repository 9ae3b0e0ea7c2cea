//! Time as core sees it: a monotonic clock the caller provides, for deadlines and retry
//! timing, and unix nanoseconds passed in for data point timestamps.
//!
//! Core owns no clock and no sleep. Deadlines are absolute [`Instant`]s on the caller's
//! monotonic clock, so a slow peer ends at the deadline however many reads it takes.

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

/// Unix time in nanoseconds, as OTLP timestamps carry it.
pub type UnixNanos = u64;
