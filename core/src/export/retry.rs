//! Retry timing: the policy a user configures ([`RetryPolicy`]) and the delay rule that
//! applies it (exponential backoff with full jitter, `Retry-After` as a floor, both capped).

use crate::transport::RetryAfter;

/// Retry timing: exponential backoff with full jitter, capped.
///
/// ```
/// use otlp_embedded::export::RetryPolicy;
///
/// let policy = RetryPolicy::new().with_initial_backoff_ms(200).with_max_attempts(5);
/// assert_eq!((policy.initial_backoff_ms, policy.max_delay_ms, policy.max_attempts), (200, 30_000, 5));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Upper bound of the first retry's delay, in milliseconds.
    pub initial_backoff_ms: u32,
    /// Cap on any delay, whether from backoff or from `Retry-After`, in milliseconds.
    pub max_delay_ms: u32,
    /// Attempts per request, the first included; 0 means "until the export deadline".
    pub max_attempts: u16,
}

impl RetryPolicy {
    /// 1 s initial backoff, 30 s cap, attempts bounded only by the export deadline.
    pub const fn new() -> Self {
        RetryPolicy {
            initial_backoff_ms: 1_000,
            max_delay_ms: 30_000,
            max_attempts: 0,
        }
    }

    /// The same policy with this upper bound on the first retry's delay.
    pub const fn with_initial_backoff_ms(self, initial_backoff_ms: u32) -> Self {
        RetryPolicy {
            initial_backoff_ms,
            ..self
        }
    }

    /// The same policy with this cap on any delay.
    pub const fn with_max_delay_ms(self, max_delay_ms: u32) -> Self {
        RetryPolicy {
            max_delay_ms,
            ..self
        }
    }

    /// The same policy with this many attempts per request (0: until the deadline).
    pub const fn with_max_attempts(self, max_attempts: u16) -> Self {
        RetryPolicy {
            max_attempts,
            ..self
        }
    }
}

impl Default for RetryPolicy {
    /// [`RetryPolicy::new`].
    fn default() -> Self {
        RetryPolicy::new()
    }
}

/// The delay rule and its jitter source (xorshift64*: small, seedable, good enough to
/// spread retries). One per exporter, so the sequence continues across exports.
#[derive(Clone, Debug)]
pub(super) struct Backoff {
    state: u64,
}

impl Backoff {
    pub(super) const fn new(seed: u64) -> Self {
        Backoff {
            state: jitter_start(seed),
        }
    }

    /// The delay before attempt `attempts + 1`, in milliseconds: full jitter over an
    /// exponentially growing ceiling, or the server's `Retry-After` when that is longer;
    /// both capped by `policy.max_delay_ms`. `unix_now_ms` dates an HTTP-date `Retry-After`.
    pub(super) fn delay(
        &mut self,
        policy: &RetryPolicy,
        attempts: u16,
        retry_after: Option<RetryAfter>,
        unix_now_ms: u64,
    ) -> u64 {
        let cap = u64::from(policy.max_delay_ms);
        let exponent = u32::from(attempts.saturating_sub(1)).min(32);
        let ceiling = u64::from(policy.initial_backoff_ms)
            .saturating_mul(1u64 << exponent)
            .min(cap);
        let backoff = self.next_random() % (ceiling + 1);
        let Some(retry_after) = retry_after else {
            return backoff;
        };
        let millis = match retry_after {
            RetryAfter::Seconds(seconds) => u64::from(seconds).saturating_mul(1000),
            RetryAfter::UnixSeconds(at) => at.saturating_mul(1000).saturating_sub(unix_now_ms),
        };
        // The server's wait is a floor, not a licence to hammer it: `Retry-After: 0`, or a
        // date already past (clocks disagree), still backs off.
        millis.max(backoff).min(cap)
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The jitter generator's first state from a seed: splitmix64's finalizer, so that seeds
/// that differ in one bit (consecutive device ids) start unrelated schedules, and never
/// zero, where xorshift would stay.
const fn jitter_start(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z == 0 {
        0x9E37_79B9_7F4A_7C15
    } else {
        z
    }
}
