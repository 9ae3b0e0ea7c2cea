//! A fleet that loses its collector at the same moment must not come back at the same
//! moment: the first retries of 1,000 exporters seeded from consecutive device ids, all
//! answered 503 at the same instant, spread over the backoff window (fake clock, core's
//! exporter over a scripted exchange). And the same seed gives the same schedule.

use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig, RetryPolicy};
use otlp_embedded::proto::{RequestHeader, Resource, Scope};
use otlp_embedded::time::Instant;
use otlp_embedded::transport::Endpoint;
use otlp_embedded_tests::fake::{
    Answer, DeltaCounters, DeltaSnapshot, FakeClock, ScriptedExchange,
};

const DEVICES: u64 = 1_000;
/// Upper bound of the first retry's delay. Full jitter spreads first retries uniformly
/// over `0..=INITIAL_BACKOFF_MS`, so 100 ms buckets hold 2% each on average: the 5% bound
/// below leaves room for chance and none for lockstep (a bound of 5% needs a window of at
/// least 2 s in the first place).
const INITIAL_BACKOFF_MS: u32 = 5_000;
const BUCKET_MS: u64 = 100;
/// Latency of each scripted exchange.
const LATENCY_MS: u64 = 1;

fn header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&[]), Scope::new("fleet"))
}

/// The instants (fake clock) of the attempts of one device's export that meets 503 four
/// times and then 200, starting at 0.
fn attempts(jitter_seed: u64) -> Vec<u64> {
    let clock = FakeClock::at(0);
    let mut config = ExporterConfig::new(Endpoint::DEFAULT, header());
    config.export_timeout_ms = 120_000;
    config.request_timeout_ms = 5_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(INITIAL_BACKOFF_MS)
        .with_max_delay_ms(30_000)
        .with_max_attempts(0);
    config.jitter_seed = jitter_seed;
    let mut exchange = ScriptedExchange::new(&clock, std::iter::repeat_n(Answer::Status(503), 4));
    exchange.latency_ms = LATENCY_MS;
    let mut exporter = Exporter::new(config, exchange);
    let mut producer = DeltaCounters::new(1, 1);
    producer.add(0, 0, 7);
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 512];
    let report = exporter.export(
        &mut producer,
        &mut snapshot,
        &mut buffer,
        &clock,
        1_700_000_000_000_000_000,
        |now: Instant, until: Instant| clock.advance(now.millis_until(until)),
    );
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    assert_eq!((report.points_sent, report.retries), (1, 4), "{report:?}");
    assert_eq!(producer.delivered[0][0], 7);
    exporter.exchange().calls.iter().map(|c| c.at).collect()
}

/// First retry delay after the 503: from the answer to the second attempt.
fn first_retry_delay(jitter_seed: u64) -> u64 {
    let at = attempts(jitter_seed);
    at[1] - (at[0] + LATENCY_MS)
}

#[test]
fn consecutive_device_ids_spread_their_first_retries() {
    let delays: Vec<u64> = (0..DEVICES).map(first_retry_delay).collect();
    assert!(delays.iter().all(|&d| d <= u64::from(INITIAL_BACKOFF_MS)));
    let buckets = u64::from(INITIAL_BACKOFF_MS) / BUCKET_MS + 1;
    let mut counts = vec![0u64; buckets as usize];
    for d in &delays {
        counts[(d / BUCKET_MS) as usize] += 1;
    }
    let fullest = *counts.iter().max().unwrap();
    println!("first retries per 100 ms bucket: fullest {fullest} of {DEVICES}: {counts:?}");
    assert!(
        fullest * 100 <= DEVICES * 5,
        "a 100 ms bucket holds {fullest} of {DEVICES} first retries (over 5%): {counts:?}"
    );
    // Devices rarely share a delay (about 900 distinct values are expected among 1,000
    // draws from 5,001); devices retrying in pairs or groups would show far fewer.
    let mut distinct = delays.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() > 850,
        "only {} distinct first delays",
        distinct.len()
    );
    // Every bucket of the window is used: the delays cover it, not a part of it.
    assert!(
        counts[..buckets as usize - 1].iter().all(|&c| c > 0),
        "{counts:?}"
    );
}

#[test]
fn neighbouring_seeds_give_unrelated_schedules() {
    // Seeds 2k and 2k+1 once gave the same schedule (the generator was seeded with
    // `seed | 1`). Whole schedules of neighbours must differ, and their first delays may
    // coincide only by chance (5001 possible values).
    let mut same_first = 0;
    for k in 0..DEVICES / 2 {
        let (even, odd) = (attempts(2 * k), attempts(2 * k + 1));
        assert_ne!(
            even,
            odd,
            "seeds {} and {} retry in lockstep",
            2 * k,
            2 * k + 1
        );
        same_first += u32::from(even[1] == odd[1]);
    }
    assert!(
        same_first <= 3,
        "{same_first} neighbour pairs share a first retry"
    );
}

#[test]
fn the_same_seed_gives_the_same_schedule() {
    for seed in [0, 1, 2, 0x9E37_79B9_7F4A_7C15, u64::MAX] {
        let first = attempts(seed);
        assert_eq!(first.len(), 5);
        assert_eq!(first, attempts(seed), "seed {seed}");
    }
}

#[test]
fn firmware_clients_seeded_from_consecutive_device_ids_spread_their_first_retries() {
    // The firmware path: `DeviceSeed::new(device id)` -> `TcpClient` -> the jitter seed
    // `firmware::export_once` gives its exporter.
    use otlp_embedded_smoltcp::{DeviceSeed, TcpClient};
    use smoltcp::iface::SocketSet;
    use smoltcp::socket::tcp;
    let mut sockets = SocketSet::new(Vec::new());
    let handle = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; 64]),
        tcp::SocketBuffer::new(vec![0u8; 64]),
    ));
    let delays: Vec<u64> = (0..DEVICES)
        .map(|id| {
            let mut client: TcpClient = TcpClient::new(handle, DeviceSeed::new(id));
            first_retry_delay(client.next_jitter_seed())
        })
        .collect();
    let mut counts = vec![0u64; (u64::from(INITIAL_BACKOFF_MS) / BUCKET_MS + 1) as usize];
    for d in &delays {
        counts[(d / BUCKET_MS) as usize] += 1;
    }
    let fullest = *counts.iter().max().unwrap();
    println!("firmware first retries per 100 ms bucket: fullest {fullest} of {DEVICES}");
    assert!(fullest * 100 <= DEVICES * 5, "{counts:?}");
}

/// The first retry after `503` with `Retry-After: 8`, answered to every device at once.
fn first_retry_after_retry_after(jitter_seed: u64) -> u64 {
    use otlp_embedded::transport::RetryAfter;
    let clock = FakeClock::at(0);
    let mut config = ExporterConfig::new(Endpoint::DEFAULT, header());
    config.export_timeout_ms = 60_000;
    config.jitter_seed = jitter_seed;
    let exchange = ScriptedExchange::new(&clock, [Answer::RetryAfter(503, RetryAfter::Seconds(8))]);
    let mut exporter = Exporter::new(config, exchange);
    let mut producer = DeltaCounters::new(1, 1);
    producer.add(0, 0, 7);
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 512];
    let report = exporter.export(
        &mut producer,
        &mut snapshot,
        &mut buffer,
        &clock,
        1_700_000_000_000_000_000,
        |now: Instant, until: Instant| clock.advance(now.millis_until(until)),
    );
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    let calls = &exporter.exchange().calls;
    calls[1].at - (calls[0].at + LATENCY_MS)
}

/// A collector shedding load tells every device the same `Retry-After`. Honoured as an
/// exact instant it would bring the whole fleet back at once; each device waits at least
/// what it was told plus up to a quarter more (8 s: 8 to 10 s), from its own seed.
#[test]
fn a_fleet_told_the_same_retry_after_spreads_over_a_quarter_of_it() {
    let delays: Vec<u64> = (0..DEVICES).map(first_retry_after_retry_after).collect();
    assert!(
        delays.iter().all(|d| (8_000..=10_000).contains(d)),
        "{:?}",
        (delays.iter().min(), delays.iter().max())
    );
    let mut counts = vec![0u64; 21];
    for d in &delays {
        counts[((d - 8_000) / BUCKET_MS) as usize] += 1;
    }
    let fullest = *counts.iter().max().unwrap();
    println!("retries after Retry-After: 8 per 100 ms bucket: fullest {fullest}: {counts:?}");
    // 20 buckets of 100 ms: 5% each on average; lockstep would put everyone in one.
    assert!(fullest * 100 <= DEVICES * 9, "{counts:?}");
    assert!(counts[..20].iter().all(|&c| c > 0), "{counts:?}");
}
