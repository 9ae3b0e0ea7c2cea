//! [`StdClock`]: core's monotonic [`Clock`] over `std::time::Instant`; [`Sleep`]: core's
//! [`Wait`] as `std::thread::sleep`.

use otlp_embedded::time::{Clock, Instant, Wait};

/// Milliseconds since the clock was created, from `std::time::Instant` (monotonic).
///
/// The clock is `Copy`: copies share the same origin, so a copy handed to the
/// [`TcpConnector`](crate::tcp::TcpConnector) and another handed to core's HTTP client agree
/// on every deadline.
#[derive(Copy, Clone, Debug)]
pub struct StdClock {
    origin: std::time::Instant,
}

impl StdClock {
    /// A clock whose origin (instant 0) is now.
    pub fn new() -> Self {
        StdClock {
            origin: std::time::Instant::now(),
        }
    }

    /// The `std` instant that core's [`Instant`] `at` stands for on this clock.
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        self.origin + std::time::Duration::from_millis(at.as_millis())
    }

    /// Time left until `deadline`, zero when it has passed.
    pub fn remaining(&self, deadline: Instant) -> std::time::Duration {
        std::time::Duration::from_millis(self.now().millis_until(deadline))
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now(&self) -> Instant {
        // u64 milliseconds last 584 million years; saturate rather than wrap regardless.
        let ms = self.origin.elapsed().as_millis();
        Instant(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// Core's [`Wait`] as `std::thread::sleep`: a blocking driver's wait on Linux, such as the
/// backoff between an export's retries in
/// [`Exporter::export`](otlp_embedded::export::Exporter::export).
#[derive(Copy, Clone, Debug, Default)]
pub struct Sleep;

impl Wait for Sleep {
    fn wait(&mut self, now: Instant, until: Instant) {
        std::thread::sleep(std::time::Duration::from_millis(now.millis_until(until)));
    }
}
