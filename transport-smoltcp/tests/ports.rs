//! The local port walk: in range, from the seed, never reused within 60 s of simulated time.

use std::collections::HashMap;

use otlp_embedded::time::Instant;
use otlp_embedded_smoltcp::{PortWalker, EPHEMERAL_FIRST, EPHEMERAL_LAST, PORT_QUIET_MS};

#[test]
fn starts_at_the_seed_and_walks_in_order() {
    let mut w: PortWalker = PortWalker::new(100);
    assert_eq!(w.peek(), EPHEMERAL_FIRST + 100);
    let got: Vec<u16> = (0..5)
        .map(|i| w.next_port(Instant(i * 1_000)).unwrap())
        .collect();
    assert_eq!(got, [49252, 49253, 49254, 49255, 49256]);
    // Seeds wrap into the range.
    assert_eq!(PortWalker::<8>::new(16384 + 7).peek(), EPHEMERAL_FIRST + 7);
    assert_eq!(
        PortWalker::<8>::new(u16::MAX).peek(),
        EPHEMERAL_FIRST + (u16::MAX % 16384)
    );
}

#[test]
fn wraps_from_the_top_of_the_range_to_the_bottom() {
    let mut w: PortWalker<1> = PortWalker::new(16383);
    let mut t = 0;
    let a = w.next_port(Instant(t)).unwrap();
    t += PortWalker::<1>::PACING_MS;
    let b = w.next_port(Instant(t)).unwrap();
    assert_eq!((a, b), (EPHEMERAL_LAST, EPHEMERAL_FIRST));
}

#[test]
fn pacing_allows_a_burst_of_n_then_waits() {
    let mut w: PortWalker<8> = PortWalker::new(0);
    assert_eq!(PortWalker::<8>::PACING_MS, 30); // ceil(60000 / 2048)
    for i in 0..8 {
        assert_eq!(w.next_port(Instant(5)), Some(EPHEMERAL_FIRST + i));
    }
    assert_eq!(w.next_port(Instant(5)), None);
    assert_eq!(w.ready_at(), Instant(35));
    assert_eq!(w.next_port(Instant(34)), None);
    assert_eq!(w.next_port(Instant(35)), Some(EPHEMERAL_FIRST + 8));
    // The ring remembers the last 8 ports: the first one was pushed out by the ninth.
    assert!(!w.recently_used(EPHEMERAL_FIRST, Instant(35)));
    assert!(w.recently_used(EPHEMERAL_FIRST + 1, Instant(35)));
    assert!(w.recently_used(EPHEMERAL_FIRST + 8, Instant(35)));
    assert!(!w.recently_used(EPHEMERAL_FIRST + 1, Instant(5 + PORT_QUIET_MS)));
}

/// Take ports as fast as the walker allows for several laps of the range, trying every
/// simulated millisecond, and check every port's reuse distance.
fn no_reuse_within_60s<const N: usize>(seed: u16) {
    let mut w: PortWalker<N> = PortWalker::new(seed);
    let mut last: HashMap<u16, u64> = HashMap::new();
    let mut handed = 0u64;
    let mut min_gap = u64::MAX;
    let mut t = 0u64;
    while handed < 3 * 16384 + 100 {
        if let Some(p) = w.next_port(Instant(t)) {
            assert!((EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(&p));
            if let Some(prev) = last.insert(p, t) {
                min_gap = min_gap.min(t - prev);
            }
            handed += 1;
        }
        t += 1;
    }
    assert_eq!(last.len(), 16384, "every port of the range was used");
    assert!(
        min_gap >= PORT_QUIET_MS,
        "N={N}: a port came back after {min_gap} ms"
    );
    // The walker is not needlessly slow: at full rate a port comes back after exactly
    // 16384 / N pacing windows (60 s rounded up to whole milliseconds per window), plus at
    // most one window when N does not divide 16384.
    let bound = (16384 / N as u64) * PortWalker::<N>::PACING_MS;
    assert!(
        min_gap >= bound && min_gap <= bound + PortWalker::<N>::PACING_MS,
        "N={N}: {min_gap}"
    );
    assert!(bound < PORT_QUIET_MS * 110 / 100, "N={N}: {bound} ms");
}

#[test]
fn no_port_reused_within_60_seconds() {
    no_reuse_within_60s::<1>(0);
    no_reuse_within_60s::<8>(4321);
    no_reuse_within_60s::<16>(16383);
    no_reuse_within_60s::<100>(9);
}
