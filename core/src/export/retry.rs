//! Retry timing: the policy a user configures ([`RetryPolicy`]) and the delay rule that
//! applies it (exponential backoff with full jitter and a cap; the server's `Retry-After`
//! as a floor with bounded jitter on top, never cut to the cap).

use crate::transport::RetryAfter;

/// Retry timing: exponential backoff with full jitter, capped; a server's `Retry-After`
/// honoured as a floor.
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
    /// Cap on the exporter's own backoff, and on the jitter added to a server's
    /// `Retry-After`, in milliseconds. A `Retry-After` itself is not cut to it: the export
    /// waits as long as the server asked when its deadline allows, and ends (data kept)
    /// when it does not.
    pub max_delay_ms: u32,
    /// Attempts per request, the first included; 0 means "until the export deadline".
    pub max_attempts: u16,
    /// The longest server `Retry-After` honoured, in milliseconds; a longer one (a
    /// misconfigured proxy, an HTTP-date years ahead) counts as this long, so that it
    /// cannot silence an exporter for good.
    pub max_retry_after_ms: u32,
}

impl RetryPolicy {
    /// 1 s initial backoff, 30 s cap, attempts bounded only by the export deadline,
    /// `Retry-After` honoured up to an hour.
    pub const fn new() -> Self {
        RetryPolicy {
            initial_backoff_ms: 1_000,
            max_delay_ms: 30_000,
            max_attempts: 0,
            max_retry_after_ms: 3_600_000,
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

    /// The same policy with this longest `Retry-After` honoured.
    pub const fn with_max_retry_after_ms(self, max_retry_after_ms: u32) -> Self {
        RetryPolicy {
            max_retry_after_ms,
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

/// A retry delay in milliseconds, and whose it is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Delay {
    /// The exporter's own backoff.
    Backoff(u64),
    /// The server's `Retry-After`, with jitter on top: kept across exports.
    Server(u64),
}

impl Delay {
    pub(super) fn millis(self) -> u64 {
        match self {
            Delay::Backoff(ms) | Delay::Server(ms) => ms,
        }
    }
}

/// The delay rule and its jitter source (xorshift64*: small, seedable, good enough to
/// spread retries). One per exporter, so the sequence continues across exports.
#[derive(Clone, Debug)]
pub(super) struct Backoff {
    state: u64,
}

impl Backoff {
    // Inlined into the policy's constructor, its one caller, which is inlined where the
    // exporter is built: a seed known when the program is compiled (the configuration's
    // default) then gives the first state as a constant, with no 64-bit multiplies at run
    // time.
    #[inline(always)]
    pub(super) const fn new(seed: u64) -> Self {
        Backoff {
            state: jitter_start(seed),
        }
    }

    /// The delay before attempt `attempts + 1`, in milliseconds, and whether it is the
    /// server's: full jitter over an exponentially growing ceiling (capped by
    /// `policy.max_delay_ms`), or, when the server sent a `Retry-After` that is longer,
    /// that wait plus a jitter of up to a quarter of it (at most `policy.max_delay_ms`).
    /// The server's wait is never shortened to the backoff cap; it is bounded only by
    /// `policy.max_retry_after_ms`. `unix_now_ms` dates an HTTP-date `Retry-After`.
    pub(super) fn delay(
        &mut self,
        policy: &RetryPolicy,
        attempts: u16,
        retry_after: Option<RetryAfter>,
        unix_now_ms: u64,
    ) -> Delay {
        let cap = policy.max_delay_ms;
        let ceiling = ceiling(policy.initial_backoff_ms, attempts, cap);
        let backoff = u64::from(self.at_most(ceiling));
        let Some(retry_after) = retry_after else {
            return Delay::Backoff(backoff);
        };
        let millis = match retry_after {
            // At most 2^32 * 1000: no overflow.
            RetryAfter::Seconds(seconds) => u64::from(seconds) * 1000,
            RetryAfter::UnixSeconds(at) => at.saturating_mul(1000).saturating_sub(unix_now_ms),
        }
        // Cut to a 32-bit bound, it fits in 32 bits.
        .min(u64::from(policy.max_retry_after_ms)) as u32;
        // Every device told the same wait would come back at the same instant: spread them
        // over a quarter of the wait (a fleet told 8 s arrives over 2 s), never earlier
        // than asked and never more than the backoff cap later.
        let spread = (millis / 4).min(cap);
        // Both below 2^32: no overflow.
        let floor = u64::from(millis) + u64::from(self.at_most(spread));
        // `Retry-After: 0`, or a date already past (clocks disagree), still backs off: the
        // server's wait is a floor, not a licence to hammer it.
        if floor > backoff {
            Delay::Server(floor)
        } else {
            Delay::Backoff(backoff)
        }
    }

    /// A random number in `0..=max`: the generator's output modulo `max + 1`, by
    /// shift-and-subtract rather than a 64-bit `%`, which 32-bit cores do in a library
    /// routine of some 400 bytes. Same value as `%`, so a seed keeps its schedule; 64
    /// cheap steps next to a network round trip.
    fn at_most(&mut self, max: u32) -> u32 {
        let mut x = self.next_random();
        // `max + 1 = 2^32` divides 2^64: the remainder is the low half. Any smaller
        // modulus leaves a remainder below it, so the steps are 32-bit arithmetic.
        let Some(bound) = max.checked_add(1) else {
            return x as u32;
        };
        let mut remainder = 0u32;
        // The bits of `x` from the top, each shifted out of it in turn: a shift by one,
        // where taking bit `i` would be a shift by a variable amount (a library call on
        // 32-bit cores).
        for _ in 0..64 {
            // The doubled remainder is below `2 * bound < 2^33`; its 33rd bit, shifted
            // out here, means it is at least `bound`, and what is left after subtracting
            // `bound` is below `bound`, so the wrapping subtraction is exact.
            let carry = remainder >> 31;
            remainder = (remainder << 1) | (x >> 63) as u32;
            x <<= 1;
            if carry != 0 || remainder >= bound {
                remainder = remainder.wrapping_sub(bound);
            }
        }
        remainder
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

/// The backoff ceiling before attempt `attempts + 1`: `initial` doubled `attempts - 1`
/// times (not at all for 0 or 1), cut to `cap`, in 32-bit arithmetic. The doubled value
/// is at most `cap` exactly when `initial` is at most `cap` halved as many times (rounded
/// down); doubled 32 times or more, only an `initial` of 0 stays under a 32-bit cap.
fn ceiling(initial: u32, attempts: u16, cap: u32) -> u32 {
    let exponent = u32::from(attempts.saturating_sub(1));
    if initial <= cap.checked_shr(exponent).unwrap_or(0) {
        initial.checked_shl(exponent).unwrap_or(0)
    } else {
        cap
    }
}

/// The jitter generator's first state from a seed: splitmix64's finalizer, so that seeds
/// that differ in one bit (consecutive device ids) start unrelated schedules, and never
/// zero, where xorshift would stay. Always inlined, for the reason [`Backoff::new`] is.
#[inline(always)]
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

#[cfg(test)]
mod tests {
    use super::{Backoff, Delay, RetryPolicy};
    use crate::transport::RetryAfter;

    /// The largest settings, attempts and waits: no step of the rule overflows (a debug
    /// build would panic), and the server's wait is kept whole with its jitter on top.
    #[test]
    fn extreme_settings_do_not_overflow() {
        let most = u64::from(u32::MAX);
        let policy = RetryPolicy::new()
            .with_initial_backoff_ms(u32::MAX)
            .with_max_delay_ms(u32::MAX)
            .with_max_retry_after_ms(u32::MAX);
        for seed in 0..50 {
            let mut backoff = Backoff::new(seed);
            for attempts in [0, 1, 2, 33, u16::MAX] {
                match backoff.delay(&policy, attempts, None, 0) {
                    Delay::Backoff(ms) => assert!(ms <= most),
                    other => panic!("{other:?}"),
                }
                for wait in [
                    RetryAfter::Seconds(u32::MAX),
                    RetryAfter::UnixSeconds(u64::MAX),
                ] {
                    match backoff.delay(&policy, attempts, Some(wait), 5) {
                        Delay::Server(ms) => assert!((most..=most + most / 4).contains(&ms)),
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
    }

    /// The 32-bit ceiling against the shift in 64 bits it replaces, for every attempt
    /// count that shifts by up to 33 and the largest: every pair of edge settings, and
    /// random settings of every magnitude.
    #[test]
    fn ceiling_is_the_shifted_initial_backoff_cut_to_the_cap() {
        let wide = |initial: u32, attempts: u16, cap: u32| {
            let exponent = u32::from(attempts.saturating_sub(1)).min(32);
            (u64::from(initial) << exponent).min(u64::from(cap))
        };
        let check = |initial: u32, cap: u32| {
            for attempts in (0..=34).chain([u16::MAX]) {
                assert_eq!(
                    u64::from(super::ceiling(initial, attempts, cap)),
                    wide(initial, attempts, cap),
                    "initial {initial}, attempts {attempts}, cap {cap}"
                );
            }
        };
        let edges = [
            0u32,
            1,
            2,
            3,
            999,
            1_000,
            30_000,
            1 << 31,
            u32::MAX - 1,
            u32::MAX,
        ];
        for initial in edges {
            for cap in edges {
                check(initial, cap);
            }
        }
        let mut random = Backoff::new(3);
        for _ in 0..20_000 {
            let r = random.next_random();
            let (a, b) = (r as u32, (r >> 32) as u32);
            check(a >> (b & 31), b >> (a & 31));
        }
    }

    #[test]
    fn at_most_is_the_remainder() {
        let bounds = [
            1u64,
            2,
            3,
            10,
            101,
            1_000,
            30_001,
            65_536,
            1 << 31,
            (1 << 31) + 1,
            3 << 30,
            (1 << 32) - 1,
            1 << 32,
        ];
        for seed in 0..200u64 {
            let (mut a, mut b) = (Backoff::new(seed), Backoff::new(seed));
            for bound in bounds {
                assert_eq!(
                    u64::from(a.at_most((bound - 1) as u32)),
                    b.next_random() % bound,
                    "seed {seed}, bound {bound}"
                );
            }
        }
        // Random bounds of every magnitude up to 2^32 (above 2^31, the doubled remainder
        // needs its 33rd bit).
        let (mut a, mut b) = (Backoff::new(7), Backoff::new(7));
        let mut bounds = Backoff::new(8);
        for _ in 0..200_000 {
            let r = bounds.next_random();
            let bound = (r >> (r & 31)) % (1 << 32) + 1;
            assert_eq!(
                u64::from(a.at_most((bound - 1) as u32)),
                b.next_random() % bound,
                "bound {bound}"
            );
        }
    }
}
