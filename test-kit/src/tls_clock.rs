//! The machine's wall clock for the firmware TLS client (feature `tls-clock`), as a board
//! with a real-time clock or SNTP supplies it. The TLS tests and the field example's host
//! rig check certificate dates against the real date with it.

use std::time::{SystemTime, UNIX_EPOCH};

use otlp_embedded_tls::TlsClock;

/// Unix seconds from the system clock; `None` before 1970 (a clock set that wrong cannot
/// check a certificate's dates).
#[derive(Copy, Clone, Debug, Default)]
pub struct WallClock;

impl TlsClock for WallClock {
    fn now() -> Option<u64> {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock reads the system's date, not a fixed or zero one: within a second of
    /// what std says, and after this file was written (2025).
    #[test]
    fn reads_the_system_date() {
        let std_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let now = WallClock::now().unwrap();
        assert!(now.abs_diff(std_now) <= 1, "{now} vs {std_now}");
        assert!(now > 1_735_689_600, "{now} is before 2025");
    }
}
