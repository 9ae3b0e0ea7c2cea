//! Core's clock on embassy-time: [`EmbassyClock`], and core instants as embassy instants.
//!
//! Core measures deadlines in milliseconds on a monotonic clock the caller provides. This
//! crate waits with embassy-time's timers, so the two must be the same clock: pass
//! [`EmbassyClock`] wherever core asks for a [`Clock`], and every deadline core hands the
//! connection is an instant on embassy-time's clock.

use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::AsyncTimer;

/// Core's [`Clock`] read from embassy-time: milliseconds since embassy-time's origin (boot,
/// on firmware).
///
/// ```
/// use otlp_embedded::time::Clock;
/// use otlp_embedded_embassy::EmbassyClock;
///
/// fn deadline_in(ms: u64) -> otlp_embedded::time::Instant {
///     EmbassyClock.now().add_millis(ms)
/// }
/// # let _ = deadline_in;
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now(&self) -> Instant {
        Instant(embassy_time::Instant::now().as_millis())
    }
}

/// Core's async timer on embassy-time: core's async HTTP client and export driver wait
/// with embassy-time's timer queue, so no other timer is needed.
impl AsyncTimer for EmbassyClock {
    async fn wait_until(&self, at: Instant) {
        embassy_time::Timer::at(embassy_instant(at)).await
    }
}

/// The embassy-time instant of core's `at` (milliseconds on [`EmbassyClock`]); an instant
/// beyond embassy-time's range is its last one, so a far deadline never wraps to an early
/// one.
pub fn embassy_instant(at: Instant) -> embassy_time::Instant {
    embassy_time::Instant::try_from_millis(at.as_millis()).unwrap_or(embassy_time::Instant::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_deadlines_saturate_instead_of_wrapping() {
        assert_eq!(
            embassy_instant(Instant(u64::MAX)),
            embassy_time::Instant::MAX
        );
        assert_eq!(
            embassy_instant(Instant(1_500)),
            embassy_time::Instant::from_millis(1_500)
        );
    }
}
