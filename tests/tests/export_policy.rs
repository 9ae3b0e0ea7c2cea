//! Exporter policy over a scripted exchange and a fake clock: every answer class, retry
//! timing, deadlines, and settlement of every point exactly once.
//!
//! Every test that runs whole exports runs them through each driver in turn (blocking,
//! superloop, async; `DRIVERS`): the same scripted answers must give the same reports,
//! settlements and instants, since one policy decides for all three. Tests that step a run
//! by hand use the blocking `step`.

use otlp_embedded::export::{
    ExportErrorKind, ExportOutcome, Exporter, ExporterConfig, RetryPolicy, Step,
};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope};
use otlp_embedded::registry::Settlement;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, ExchangeError, RetryAfter, TransportError};
use otlp_embedded_tests::fake::{
    accepted_totals, export_with, Answer, DeltaCounters, DeltaSnapshot, Driver, FakeClock,
    ScriptedExchange, DRIVERS,
};

const RESOURCE: [KeyValue<'static>; 1] = [KeyValue::new(
    "service.name",
    AttributeValue::Str("policy-test"),
)];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(
        Resource::new(&RESOURCE),
        Scope::new("policy").with_version("1"),
    )
}

fn config() -> ExporterConfig<'static> {
    let mut config = ExporterConfig::new(Endpoint::DEFAULT, header());
    config.export_timeout_ms = 30_000;
    config.request_timeout_ms = 5_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(1_000)
        .with_max_delay_ms(8_000)
        .with_max_attempts(0);
    config
}

fn refused() -> ExchangeError {
    ExchangeError::Connect(TransportError::Io(
        embedded_io::ErrorKind::ConnectionRefused,
    ))
}

/// Counters with distinct values, so totals tell which point went where.
fn counters(metrics: usize, series: usize) -> DeltaCounters {
    let mut c = DeltaCounters::new(metrics, series);
    for m in 0..metrics {
        for s in 0..series {
            c.add(m, s, (m * 100 + s + 1) as i64);
        }
    }
    c
}

/// Run one export through `driver` (blocking, superloop or async), on the fake clock.
fn export(
    driver: Driver,
    exporter: &mut Exporter<'static, ScriptedExchange<'_>>,
    producer: &mut DeltaCounters,
    buffer: &mut [u8],
    clock: &FakeClock,
) -> otlp_embedded::export::ExportReport {
    export_with(driver, exporter, producer, buffer, clock)
}

#[test]
fn success_delivers_every_point_once() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(1_000);
        let mut producer = counters(3, 4);
        let mut exporter = Exporter::new(config(), ScriptedExchange::new(&clock, []));
        let mut buffer = [0u8; 4096];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(report.points_collected, 12);
        assert_eq!(report.points_sent, 12);
        assert_eq!(report.requests, 1);
        assert_eq!(report.retries, 0);
        producer.assert_each_settled_once();
        let totals = accepted_totals(&exporter.exchange().accepted);
        assert_eq!(totals.len(), 12);
        for m in 0..3 {
            for s in 0..4 {
                assert_eq!(
                    totals[&(format!("counter.{m}"), s as i64)],
                    (m * 100 + s + 1) as i64
                );
                assert_eq!(producer.pending[m][s], 0);
            }
        }
        assert_eq!(exporter.stats().exports_ok, 1);
        assert_eq!(exporter.stats().points_sent, 12);
        assert_eq!(
            report.bytes_sent,
            exporter.exchange().accepted[0].len() as u64 + 200
        );
    }
}

#[test]
fn nothing_recorded_sends_nothing() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = DeltaCounters::new(2, 2);
        let mut exporter = Exporter::new(config(), ScriptedExchange::new(&clock, []));
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(report.requests, 0);
        assert!(exporter.exchange().calls.is_empty());
    }
}

/// An export with nothing collected ends in `start` itself: the run is done, a success,
/// counted in the totals with its snapshot's time, before any step.
#[test]
fn nothing_collected_ends_at_start() {
    let clock = FakeClock::at(0);
    let mut producer = DeltaCounters::new(2, 2);
    let mut exporter = Exporter::new(config(), ScriptedExchange::new(&clock, []));
    let mut snapshot = DeltaSnapshot::default();
    let unix_now = 1_700_000_000_000_000_000;
    let run = exporter.start(&mut producer, &mut snapshot, unix_now, clock.now());
    assert!(run.is_done());
    assert_eq!(run.waiting_until(clock.now()), None);
    assert_eq!(run.report().outcome, ExportOutcome::Success);
    assert_eq!(
        (run.report().points_collected, run.report().requests),
        (0, 0)
    );
    let stats = exporter.stats();
    assert_eq!((stats.exports_ok, stats.exports_failed), (1, 0));
    assert_eq!(stats.last_success_unix_nanos, Some(unix_now));
    assert_eq!(stats.last_error, None);
}

#[test]
fn each_retryable_status_is_retried_then_delivered() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        for status in [429u16, 502, 503, 504] {
            let clock = FakeClock::at(0);
            let mut producer = counters(1, 2);
            let mut exporter = Exporter::new(
                config(),
                ScriptedExchange::new(&clock, [Answer::Status(status)]),
            );
            let mut buffer = [0u8; 1024];
            let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
            assert_eq!(report.outcome, ExportOutcome::Success, "status {status}");
            assert_eq!(report.retries, 1, "status {status}");
            assert_eq!(report.points_sent, 2);
            assert_eq!(
                report.first_error.unwrap().kind,
                ExportErrorKind::Status(status)
            );
            let calls = &exporter.exchange().calls;
            assert_eq!(calls.len(), 2);
            // First retry waits at most the initial backoff after the first answer.
            let waited = calls[1].at - (calls[0].at + 1);
            assert!(waited <= 1_000, "status {status}: waited {waited}");
            producer.assert_each_settled_once();
            assert_eq!(producer.delivered[0], vec![1, 2]);
        }
    }
}

#[test]
fn html_502_page_is_retried_not_decoded() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 1);
        let mut exporter =
            Exporter::new(config(), ScriptedExchange::new(&clock, [Answer::Html(502)]));
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(report.retries, 1);
        assert_eq!(report.points_rejected, 0);
    }
}

#[test]
fn transport_errors_are_retried() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 3);
        let mut exporter = Exporter::new(
            config(),
            ScriptedExchange::new(&clock, [Answer::Fail(refused()), Answer::Fail(refused())]),
        );
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(report.retries, 2);
        assert_eq!(
            report.first_error.unwrap().kind,
            ExportErrorKind::Exchange(refused())
        );
        assert_eq!(producer.delivered[0], vec![1, 2, 3]);
    }
}

#[test]
fn retry_after_seconds_is_honoured() {
    let clock = FakeClock::at(10_000);
    let mut producer = counters(1, 1);
    let mut exporter = Exporter::new(
        config(),
        ScriptedExchange::new(&clock, [Answer::RetryAfter(503, RetryAfter::Seconds(3))]),
    );
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 1024];
    let mut run = exporter.start(&mut producer, &mut snapshot, 5_000_000_000, clock.now());
    let step = exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock);
    // The exchange took 1 ms; the retry is due 3 s after the answer, plus at most a
    // quarter of that as jitter.
    let Step::Wait(at) = step else {
        panic!("{step:?}")
    };
    assert!(
        (10_001 + 3_000..=10_001 + 3_000 + 750).contains(&at.0),
        "{at:?}"
    );
}

#[test]
fn retry_after_http_date_is_honoured() {
    let clock = FakeClock::at(10_000);
    let mut producer = counters(1, 1);
    // The export starts at unix second 1000; the server says "not before second 1005".
    let mut exporter = Exporter::new(
        config(),
        ScriptedExchange::new(
            &clock,
            [Answer::RetryAfter(429, RetryAfter::UnixSeconds(1_005))],
        ),
    );
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 1024];
    let mut run = exporter.start(&mut producer, &mut snapshot, 1_000_000_000_000, clock.now());
    let step = exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock);
    // Second 1005 is 5 s after the start, plus at most a quarter of the wait as jitter.
    let Step::Wait(at) = step else {
        panic!("{step:?}")
    };
    assert!(
        (10_000 + 5_000..=10_000 + 5_000 + 1_250).contains(&at.0),
        "{at:?}"
    );
}

/// Issue 14 item 9: a `Retry-After` longer than the backoff cap (`max_delay_ms`, 8 s
/// here) is honoured in full when the export deadline allows it, never cut to the cap.
/// RFC 9110 section 10.2.3: `Retry-After` indicates "how long the user agent ought to
/// wait before making a follow-up request"; the OTLP specification (OTLP/HTTP Throttling):
/// "The client SHOULD honour the value specified in the "Retry-After" header if it is
/// present."
#[test]
fn retry_after_longer_than_the_backoff_cap_is_honoured_within_the_deadline() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 1);
        let mut exporter = Exporter::new(
            config(),
            ScriptedExchange::new(&clock, [Answer::RetryAfter(503, RetryAfter::Seconds(12))]),
        );
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(report.retries, 1);
        let calls = &exporter.exchange().calls;
        assert_eq!(calls.len(), 2);
        // The answer came at 1; the retry not before 12 s after it, and within the jitter
        // allowed on top (a quarter of the wait).
        assert!(
            (1 + 12_000..=1 + 12_000 + 3_000).contains(&calls[1].at),
            "retried at {}",
            calls[1].at
        );
        producer.assert_each_settled_once();
    }
}

/// Issue 14 item 9, the other half: a `Retry-After` that ends after the export deadline
/// ends the export at once with its data kept, rather than retrying early.
#[test]
fn retry_after_past_the_export_deadline_abandons_with_the_data_kept() {
    let clock = FakeClock::at(0);
    let mut producer = counters(1, 1);
    let mut exporter = Exporter::new(
        config(),
        ScriptedExchange::new(
            &clock,
            [Answer::RetryAfter(503, RetryAfter::Seconds(3_600))],
        ),
    );
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 1024];
    let mut run = exporter.start(&mut producer, &mut snapshot, 0, clock.now());
    let step = exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock);
    let Step::Done(report) = step else {
        panic!("the export waits for a retry it cannot make: {step:?}")
    };
    assert_eq!(report.outcome, ExportOutcome::Failed);
    assert_eq!(
        report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::DeadlineExceeded)
    );
    assert_eq!(report.points_abandoned, 1);
    assert_eq!(producer.pending[0], vec![1]);
    assert_eq!(exporter.exchange().calls.len(), 1);
}

/// A fleet told the same `Retry-After` must not come back at the same instant: each
/// device waits at least what the server asked, plus a jitter of up to a quarter of it
/// (at most `max_delay_ms`), drawn from its own seed.
#[test]
fn retry_after_gets_bounded_jitter_on_top_so_a_fleet_does_not_retry_in_lockstep() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let mut delays = Vec::new();
        for seed in 0..200u64 {
            let clock = FakeClock::at(0);
            let mut producer = counters(1, 1);
            let mut cfg = config();
            cfg.jitter_seed = seed * 7919 + 1;
            let mut exporter = Exporter::new(
                cfg,
                ScriptedExchange::new(&clock, [Answer::RetryAfter(503, RetryAfter::Seconds(8))]),
            );
            let mut buffer = [0u8; 1024];
            let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
            assert_eq!(report.outcome, ExportOutcome::Success);
            let calls = &exporter.exchange().calls;
            let waited = calls[1].at - (calls[0].at + 1);
            assert!(
                (8_000..=10_000).contains(&waited),
                "seed {seed}: waited {waited} ms after Retry-After: 8"
            );
            delays.push(waited);
        }
        delays.sort_unstable();
        delays.dedup();
        assert!(delays.len() > 150, "only {} distinct delays", delays.len());
        assert!(*delays.first().unwrap() < 8_100, "{:?}", delays.first());
        assert!(*delays.last().unwrap() > 9_900, "{:?}", delays.last());
    }
}

/// The server's "not before" outlives the export that heard it: the next export does
/// not hammer a collector that asked for more time than one export lasts. It abandons at
/// once with its data kept while the wait would pass its deadline, waits for it when the
/// deadline allows, and sends as usual once it has passed.
#[test]
fn retry_after_past_the_deadline_is_kept_for_the_next_exports() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 1);
        let mut exporter = Exporter::new(
            config(),
            ScriptedExchange::new(&clock, [Answer::RetryAfter(503, RetryAfter::Seconds(70))]),
        );
        let mut buffer = [0u8; 1024];
        let first = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(first.outcome, ExportOutcome::Failed);
        assert_eq!(exporter.exchange().calls.len(), 1);

        // One interval later: the collector asked for 70 s (plus jitter), the export deadline
        // is 30 s away. Nothing is sent; the data stays.
        clock.advance(10_000);
        producer.add(0, 0, 4);
        let second = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(second.outcome, ExportOutcome::Failed);
        assert_eq!(
            second.last_error.map(|e| e.kind),
            Some(ExportErrorKind::DeadlineExceeded)
        );
        assert_eq!(second.requests, 0);
        assert_eq!(second.points_abandoned, 1);
        assert_eq!(
            exporter.exchange().calls.len(),
            1,
            "nothing sent while held"
        );
        assert_eq!(
            clock.now(),
            Instant(10_001),
            "abandoned at once, nothing waited"
        );
        assert_eq!(producer.pending[0], vec![5]);

        // Within reach of the deadline: the export waits for the server's instant, then sends.
        clock.set(60_000);
        let third = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(third.outcome, ExportOutcome::Success);
        let calls = &exporter.exchange().calls;
        assert_eq!(calls.len(), 2);
        assert!(
            (1 + 70_000..=1 + 70_000 + 8_000).contains(&calls[1].at),
            "sent at {}",
            calls[1].at
        );
        assert_eq!(producer.delivered[0], vec![5]);
        assert_eq!(producer.pending[0], vec![0]);

        // A success clears the hold: the export after it sends at once.
        producer.add(0, 0, 6);
        let at = clock.now().0;
        let fourth = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(fourth.outcome, ExportOutcome::Success);
        assert_eq!(exporter.exchange().calls[2].at, at);
    }
}

/// A `Retry-After` beyond `RetryPolicy::max_retry_after_ms` (a misconfigured proxy, a date
/// years ahead) holds the exporter for that limit, not for good.
#[test]
fn retry_after_beyond_its_limit_holds_for_the_limit() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 1);
        let mut cfg = config();
        cfg.retry = cfg.retry.with_max_retry_after_ms(120_000);
        let mut exporter = Exporter::new(
            cfg,
            ScriptedExchange::new(
                &clock,
                [Answer::RetryAfter(503, RetryAfter::Seconds(10 * 86_400))],
            ),
        );
        let mut buffer = [0u8; 1024];
        let first = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(first.outcome, ExportOutcome::Failed);
        // Two minutes and its jitter (at most the 8 s cap) later, the exporter sends again.
        clock.set(1 + 120_000 + 8_000);
        let second = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(second.outcome, ExportOutcome::Success);
        assert_eq!(exporter.exchange().calls.len(), 2);
    }
}

#[test]
fn retry_after_beyond_deadline_abandons_at_once() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 2);
        let mut cfg = config();
        cfg.export_timeout_ms = 5_000;
        let mut exporter = Exporter::new(
            cfg,
            ScriptedExchange::new(&clock, [Answer::RetryAfter(503, RetryAfter::Seconds(7))]),
        );
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Failed);
        assert_eq!(report.points_abandoned, 2);
        assert_eq!(
            report.last_error.unwrap().kind,
            ExportErrorKind::DeadlineExceeded
        );
        assert_eq!(exporter.exchange().calls.len(), 1);
        // Nothing was waited for: the export ended right after the answer.
        assert_eq!(clock.now(), Instant(1));
        assert_eq!(producer.pending[0], vec![1, 2]);
        producer.assert_each_settled_once();
    }
}

#[test]
fn backoff_grows_within_bounds_and_jitter_spreads() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let mut first_delays = Vec::new();
        for seed in 0..200u64 {
            let clock = FakeClock::at(0);
            let mut producer = counters(1, 1);
            let mut cfg = config();
            cfg.jitter_seed = seed * 7919 + 1;
            cfg.export_timeout_ms = 60_000;
            cfg.retry.max_attempts = 6;
            let mut exchange = ScriptedExchange::new(&clock, []);
            exchange.fallback = Answer::Status(503);
            let mut exporter = Exporter::new(cfg, exchange);
            let mut buffer = [0u8; 1024];
            let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
            assert_eq!(report.outcome, ExportOutcome::Failed);
            assert_eq!(
                report.last_error.unwrap().kind,
                ExportErrorKind::AttemptsExhausted
            );
            let calls = &exporter.exchange().calls;
            assert_eq!(calls.len(), 6);
            for (n, pair) in calls.windows(2).enumerate() {
                let waited = pair[1].at - (pair[0].at + 1);
                let ceiling = (1_000u64 << n).min(8_000);
                assert!(
                    waited <= ceiling,
                    "seed {seed} retry {}: {waited} > {ceiling}",
                    n + 1
                );
            }
            first_delays.push(calls[1].at - calls[0].at - 1);
        }
        // Full jitter: delays spread over the whole range, not bunched at one value.
        first_delays.sort_unstable();
        first_delays.dedup();
        assert!(
            first_delays.len() > 150,
            "only {} distinct delays",
            first_delays.len()
        );
        assert!(*first_delays.first().unwrap() < 100);
        assert!(*first_delays.last().unwrap() > 900);
    }
}

#[test]
fn deadline_is_never_exceeded() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        for latency in [1u64, 700, 4_999, 20_000] {
            let clock = FakeClock::at(50);
            let mut producer = counters(2, 3);
            let mut exchange = ScriptedExchange::new(&clock, []);
            exchange.fallback = Answer::Fail(refused());
            exchange.latency_ms = latency;
            let mut exporter = Exporter::new(config(), exchange);
            let mut buffer = [0u8; 1024];
            let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
            let deadline = 50 + 30_000;
            assert_eq!(report.outcome, ExportOutcome::Failed);
            assert_eq!(report.points_abandoned, 6);
            assert_eq!(
                report.last_error.unwrap().kind,
                ExportErrorKind::DeadlineExceeded
            );
            assert!(
                clock.now().0 <= deadline,
                "latency {latency}: ended at {}",
                clock.now().0
            );
            for call in &exporter.exchange().calls {
                assert!(call.deadline <= deadline);
                assert!(call.deadline <= call.at + 5_000);
            }
            producer.assert_each_settled_once();
            // Abandoned delta data stays for the next export.
            assert_eq!(producer.pending, counters(2, 3).pending);
        }
    }
}

#[test]
fn partial_success_is_counted() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 4);
        let mut exporter = Exporter::new(
            config(),
            ScriptedExchange::new(&clock, [Answer::Partial(3, "bad attribute")]),
        );
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::PartialSuccess);
        assert_eq!(report.points_sent, 4);
        assert_eq!(report.points_rejected, 3);
        assert_eq!(
            report.last_error.unwrap().kind,
            ExportErrorKind::Rejected(3)
        );
        assert_eq!(exporter.stats().points_rejected, 3);
        // Delivered: the server decided what to keep; resending would duplicate the rest.
        assert_eq!(producer.pending[0], vec![0, 0, 0, 0]);
    }
}

#[test]
fn non_retryable_statuses_drop_and_count() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        for status in [400u16, 401, 403, 404, 413, 500, 501, 301] {
            let clock = FakeClock::at(0);
            let mut producer = counters(1, 2);
            let mut exporter = Exporter::new(
                config(),
                ScriptedExchange::new(&clock, [Answer::Status(status)]),
            );
            let mut buffer = [0u8; 1024];
            let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
            assert_eq!(report.outcome, ExportOutcome::Failed, "status {status}");
            assert_eq!(report.requests_dropped, 1);
            assert_eq!(report.points_dropped, 2);
            assert_eq!(report.retries, 0);
            assert_eq!(
                report.last_error.unwrap().kind,
                ExportErrorKind::Status(status)
            );
            assert_eq!(exporter.stats().requests_dropped, 1);
            assert_eq!(exporter.stats().points_dropped, 2);
            assert_eq!(producer.dropped[0], vec![1, 2]);
            assert_eq!(producer.pending[0], vec![0, 0]);
            producer.assert_each_settled_once();
        }
    }
}

#[test]
fn split_export_failing_part_way_resends_exactly_the_unsent() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        // A buffer that holds only a few points per request.
        let clock = FakeClock::at(0);
        let mut producer = counters(4, 8);
        let mut exchange = ScriptedExchange::new(&clock, [Answer::Status(200)]);
        exchange.fallback = Answer::Fail(refused());
        let mut exporter = Exporter::new(config(), exchange);
        let mut buffer = [0u8; 400];
        let first = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(first.outcome, ExportOutcome::Failed);
        assert!(first.requests >= 2, "{first:?}");
        assert_eq!(first.requests_delivered, 1);
        assert_eq!(first.points_sent + first.points_abandoned, 32);
        producer.assert_each_settled_once();
        let delivered_first = accepted_totals(&exporter.exchange().accepted);
        assert_eq!(delivered_first.len(), first.points_sent);

        // The collector recovers: the next export sends exactly what was not delivered.
        exporter.exchange_mut().fallback = Answer::Status(200);
        exporter.exchange_mut().accepted.clear();
        let second = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(second.outcome, ExportOutcome::Success);
        assert_eq!(second.points_sent, first.points_abandoned);
        let delivered_second = accepted_totals(&exporter.exchange().accepted);
        for key in delivered_second.keys() {
            assert!(!delivered_first.contains_key(key), "{key:?} sent twice");
        }
        assert_eq!(delivered_first.len() + delivered_second.len(), 32);
        for m in 0..4 {
            for s in 0..8 {
                assert_eq!(producer.delivered[m][s], (m * 100 + s + 1) as i64);
            }
        }
    }
}

#[test]
fn delta_kept_after_failure_is_not_doubled_after_success() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = DeltaCounters::new(1, 1);
        producer.add(0, 0, 5);
        let mut exchange = ScriptedExchange::new(&clock, []);
        exchange.fallback = Answer::Fail(refused());
        let mut exporter = Exporter::new(config(), exchange);
        let mut buffer = [0u8; 1024];
        let failed = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(failed.outcome, ExportOutcome::Failed);
        producer.add(0, 0, 7);
        exporter.exchange_mut().fallback = Answer::Status(200);
        let ok = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(ok.outcome, ExportOutcome::Success);
        let totals = accepted_totals(&exporter.exchange().accepted);
        assert_eq!(totals[&("counter.0".to_string(), 0)], 12);
        assert_eq!(producer.pending[0][0], 0);
        // A third export has nothing new to send.
        let empty = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(empty.requests, 0);
    }
}

#[test]
fn point_too_large_is_dropped_and_counted_rest_delivered() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        // Metric names that make one metric's points larger than the buffer.
        let clock = FakeClock::at(0);
        let mut producer = counters(3, 2);
        producer.names[1] = "x".repeat(600);
        let mut exporter = Exporter::new(config(), ScriptedExchange::new(&clock, []));
        let mut buffer = [0u8; 512];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::PartialSuccess);
        assert_eq!(report.points_dropped, 2);
        assert_eq!(report.points_sent, 4);
        assert!(matches!(
            report.first_error.unwrap().kind,
            ExportErrorKind::Encode(otlp_embedded::proto::EncodeError::PointTooLarge {
                metric: 1,
                ..
            })
        ));
        assert_eq!(producer.dropped[1], vec![101, 102]);
        assert_eq!(producer.delivered[0], vec![1, 2]);
        assert_eq!(producer.delivered[2], vec![201, 202]);
        producer.assert_each_settled_once();
    }
}

#[test]
fn configuration_error_abandons_without_retry() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 2);
        let unsupported = ExchangeError::Connect(TransportError::UnsupportedScheme);
        assert!(!unsupported.is_transient());
        let mut exporter = Exporter::new(
            config(),
            ScriptedExchange::new(&clock, [Answer::Fail(unsupported)]),
        );
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Failed);
        assert_eq!(report.points_abandoned, 2);
        assert_eq!(exporter.exchange().calls.len(), 1);
        assert_eq!(producer.pending[0], vec![1, 2]);
    }
}

#[test]
fn superloop_steps_never_block_on_retry_timing() {
    let clock = FakeClock::at(0);
    let mut producer = counters(1, 1);
    let mut exporter = Exporter::new(
        config(),
        ScriptedExchange::new(&clock, [Answer::Status(503), Answer::Status(503)]),
    );
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 1024];
    let mut run = exporter.start(&mut producer, &mut snapshot, 0, clock.now());
    let mut ticks = 0;
    let mut next = clock.now();
    let report = loop {
        ticks += 1;
        assert!(ticks < 100_000, "superloop never finished");
        clock.advance(10); // one tick of other work
        if clock.now() < next {
            continue;
        }
        match exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock) {
            Step::Wait(at) => next = at,
            Step::Done(report) => break report,
        }
    };
    assert_eq!(report.outcome, ExportOutcome::Success);
    assert_eq!(report.retries, 2);
    assert!(ticks > 2, "the retries were waited for across ticks");
    assert_eq!(
        producer.log.last().map(|(_, s)| *s),
        Some(Settlement::Delivered)
    );
}

#[test]
fn retry_after_zero_still_backs_off() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        // An overloaded collector saying "retry now", or a date already past: no hot loop.
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 1);
        let mut exchange = ScriptedExchange::new(&clock, []);
        exchange.fallback = Answer::RetryAfter(503, RetryAfter::Seconds(0));
        let mut exporter = Exporter::new(config(), exchange);
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Failed);
        let calls = exporter.exchange().calls.len();
        // Backoff up to 8 s over a 30 s export allows a few dozen attempts, not thousands.
        assert!(calls < 60, "{calls} attempts in one export");
        producer.assert_each_settled_once();
    }
}

#[test]
fn rejected_counts_are_kept_within_what_was_sent() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        for (rejected, counted) in [(-3i64, 0u64), (100, 2), (1, 1)] {
            let clock = FakeClock::at(0);
            let mut producer = counters(1, 2);
            let mut exporter = Exporter::new(
                config(),
                ScriptedExchange::new(&clock, [Answer::Partial(rejected, "")]),
            );
            let mut buffer = [0u8; 1024];
            let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
            assert_eq!(report.points_rejected, counted, "server said {rejected}");
            assert!(report.points_rejected <= report.points_sent as u64);
        }
    }
}

#[test]
fn long_partial_success_message_keeps_its_rejected_count() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        // The exporter keeps 256 bytes of body; the rejected count comes before the message.
        let message: &'static str = Box::leak(
            "rejected: bad unit on metric x; "
                .repeat(20)
                .into_boxed_str(),
        );
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 4);
        let mut exporter = Exporter::new(
            config(),
            ScriptedExchange::new(&clock, [Answer::Partial(3, message)]),
        );
        let mut buffer = [0u8; 1024];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::PartialSuccess);
        assert_eq!(report.points_rejected, 3);
        let kept = exporter.last_server_message();
        assert!(
            !kept.is_empty() && message.starts_with(kept),
            "kept {kept:?}"
        );
    }
}

/// What the server said belongs to the export (and the answer) it came with: an export
/// whose answers carry no message (a 400 with an empty body, a refused connection) does
/// not show an earlier export's message beside its own error.
#[test]
fn server_message_belongs_to_the_export_that_received_it() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(1, 1);
        let mut exporter = Exporter::new(
            config(),
            ScriptedExchange::new(
                &clock,
                [
                    Answer::Partial(1, "bad unit on counter.0"),
                    Answer::Status(400),
                    Answer::Partial(0, "deprecated field"),
                    Answer::Fail(refused()),
                ],
            ),
        );
        let mut buffer = [0u8; 1024];

        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::PartialSuccess);
        assert_eq!(exporter.last_server_message(), "bad unit on counter.0");

        producer.add(0, 0, 5);
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Failed);
        assert_eq!(
            report.last_error.map(|e| e.kind),
            Some(ExportErrorKind::Status(400))
        );
        assert_eq!(exporter.last_server_message(), "");

        producer.add(0, 0, 6);
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(exporter.last_server_message(), "deprecated field");

        // Refused, then delivered on the retry: the error has no message from the server.
        producer.add(0, 0, 7);
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Success);
        assert_eq!(report.retries, 1);
        assert_eq!(
            report.last_error.map(|e| e.kind),
            Some(ExportErrorKind::Exchange(refused()))
        );
        assert_eq!(exporter.last_server_message(), "");
        assert_eq!(exporter.exchange().calls.len(), 5);
    }
}

/// Within one export, a 2xx answer without a body keeps the message an earlier request's
/// partial success brought, while an error status without one clears it.
#[test]
fn plain_success_keeps_an_earlier_requests_message() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(4, 8);
        let exchange = ScriptedExchange::new(
            &clock,
            [
                Answer::Partial(1, "bad unit on counter.0"),
                Answer::Status(200),
            ],
        );
        let mut exporter = Exporter::new(config(), exchange);
        // Small enough that the batch goes out as several requests.
        let mut buffer = [0u8; 400];
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert!(report.requests >= 3, "{report:?}");
        assert_eq!(report.requests_delivered, report.requests);
        assert_eq!(report.points_rejected, 1);
        assert_eq!(exporter.last_server_message(), "bad unit on counter.0");

        producer.add(0, 0, 5);
        exporter.exchange_mut().fallback = Answer::Status(400);
        let report = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(report.outcome, ExportOutcome::Failed);
        assert_eq!(exporter.last_server_message(), "");
    }
}

#[test]
fn a_step_before_the_retry_is_due_sends_nothing() {
    let clock = FakeClock::at(0);
    let mut producer = counters(1, 1);
    let mut exporter = Exporter::new(
        config(),
        ScriptedExchange::new(&clock, [Answer::RetryAfter(503, RetryAfter::Seconds(2))]),
    );
    let mut snapshot = DeltaSnapshot::default();
    let mut buffer = [0u8; 1024];
    let mut run = exporter.start(&mut producer, &mut snapshot, 0, clock.now());
    let first = exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock);
    assert!(
        matches!(first, Step::Wait(at) if (1 + 2_000..=1 + 2_000 + 500).contains(&at.0)),
        "{first:?}"
    );
    // A careless superloop calls again at once, many times: the backoff holds.
    for _ in 0..10 {
        clock.advance(10);
        let again = exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock);
        assert_eq!(again, first);
    }
    assert_eq!(exporter.exchange().calls.len(), 1);
}

/// A run abandoned while waiting for a retry, part way through a split export: what was
/// delivered stays delivered, the waiting request and the unsent rest go back to the
/// producer once each, and the next export sends exactly them.
#[test]
fn abandon_between_steps_returns_the_rest_to_the_producer() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let clock = FakeClock::at(0);
        let mut producer = counters(4, 8);
        let mut exchange =
            ScriptedExchange::new(&clock, [Answer::Status(200), Answer::Status(503)]);
        exchange.fallback = Answer::Status(200);
        let mut exporter = Exporter::new(config(), exchange);
        let mut buffer = [0u8; 400];
        let mut snapshot = DeltaSnapshot::default();
        let mut run = exporter.start(&mut producer, &mut snapshot, 1, clock.now());
        // First request delivered, second answered 503: a retry is due later.
        let mut last = Step::Wait(clock.now());
        while exporter.exchange().calls.len() < 2 {
            assert!(
                matches!(last, Step::Wait(at) if at <= clock.now()),
                "{last:?}"
            );
            last = exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock);
        }
        assert!(
            matches!(last, Step::Wait(at) if at > clock.now()),
            "{last:?}"
        );
        let report = exporter.abandon(&mut run, &mut producer, &snapshot);
        assert_eq!(report.outcome, ExportOutcome::Failed);
        assert_eq!(report.requests_delivered, 1);
        assert_eq!(report.points_sent + report.points_abandoned, 32);
        assert_eq!(
            report.last_error.map(|e| e.kind),
            Some(ExportErrorKind::Cancelled)
        );
        assert_eq!(
            exporter.exchange().calls.len(),
            2,
            "nothing sent after abandon"
        );
        producer.assert_each_settled_once();
        // Abandoning again, or stepping, changes nothing.
        assert_eq!(exporter.abandon(&mut run, &mut producer, &snapshot), report);
        assert_eq!(
            exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock),
            Step::Done(report)
        );
        let sent_first = report.points_sent;
        let second = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
        assert_eq!(second.outcome, ExportOutcome::Success);
        assert_eq!(second.points_sent, 32 - sent_first);
        for m in 0..4 {
            for s in 0..8 {
                assert_eq!(producer.delivered[m][s], (m * 100 + s + 1) as i64);
            }
        }
    }
}

/// `end_by` brings the deadline forward (never back), and no request is given a deadline
/// past it.
#[test]
fn end_by_shortens_the_export() {
    let clock = FakeClock::at(100);
    let mut producer = counters(1, 2);
    let mut exchange = ScriptedExchange::new(&clock, []);
    exchange.fallback = Answer::Fail(refused());
    let mut exporter = Exporter::new(config(), exchange);
    let mut buffer = [0u8; 1024];
    let mut snapshot = DeltaSnapshot::default();
    let mut run = exporter.start(&mut producer, &mut snapshot, 1, clock.now());
    assert_eq!(run.deadline(), Instant(100 + 30_000));
    run.end_by(Instant(100 + 60_000));
    assert_eq!(run.deadline(), Instant(100 + 30_000));
    run.end_by(Instant(100 + 2_500));
    assert_eq!(run.deadline(), Instant(100 + 2_500));
    let report = loop {
        match exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock) {
            Step::Done(report) => break report,
            Step::Wait(at) => clock.advance(clock.now().millis_until(at)),
        }
    };
    assert_eq!(
        report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::DeadlineExceeded)
    );
    assert_eq!(report.points_abandoned, 2);
    assert!(clock.now().0 <= 100 + 2_500, "ended at {}", clock.now().0);
    let calls = &exporter.exchange().calls;
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|c| c.deadline <= 100 + 2_500), "{calls:?}");
    producer.assert_each_settled_once();
}

/// Abandoned after any number of steps of a split export with deliveries, a dropped
/// request and retries: every point is settled exactly once, and the next export delivers
/// exactly what was abandoned (nothing lost, nothing twice).
#[test]
fn abandon_after_any_step_settles_each_point_once() {
    for driver in DRIVERS {
        eprintln!("driver: {driver:?}");
        let script = [
            Answer::Status(200),
            Answer::Status(503),
            Answer::Status(400),
            Answer::Status(200),
            Answer::Fail(refused()),
            Answer::Status(200),
        ];
        let mut steps = 0;
        loop {
            let clock = FakeClock::at(0);
            let mut producer = counters(4, 8);
            let mut exchange = ScriptedExchange::new(&clock, script.clone());
            exchange.fallback = Answer::Status(200);
            let mut exporter = Exporter::new(config(), exchange);
            let mut buffer = [0u8; 400];
            let mut snapshot = DeltaSnapshot::default();
            let mut run = exporter.start(&mut producer, &mut snapshot, 1, clock.now());
            let mut finished = false;
            for _ in 0..steps {
                match exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock) {
                    Step::Done(_) => {
                        finished = true;
                        break;
                    }
                    Step::Wait(at) => clock.advance(clock.now().millis_until(at)),
                }
            }
            let calls = exporter.exchange().calls.len();
            let report = exporter.abandon(&mut run, &mut producer, &snapshot);
            assert_eq!(
                exporter.exchange().calls.len(),
                calls,
                "abandon sends nothing"
            );
            assert_eq!(
                report.points_sent + report.points_dropped + report.points_abandoned,
                32,
                "after {steps} steps: {report:?}"
            );
            producer.assert_each_settled_once();
            // The collector is well again for the next export.
            exporter.exchange_mut().script.clear();
            let next = export(driver, &mut exporter, &mut producer, &mut buffer, &clock);
            assert_eq!(next.outcome, ExportOutcome::Success, "after {steps} steps");
            assert_eq!(
                next.points_sent, report.points_abandoned,
                "after {steps} steps"
            );
            for m in 0..4 {
                for s in 0..8 {
                    assert_eq!(
                        producer.delivered[m][s] + producer.dropped[m][s],
                        (m * 100 + s + 1) as i64,
                        "after {steps} steps: metric {m} series {s}"
                    );
                    assert_eq!(producer.pending[m][s], 0);
                }
            }
            if finished {
                break;
            }
            steps += 1;
            assert!(steps < 100, "the export never ended");
        }
        assert!(steps > 6, "the script was played through: {steps} steps");
    }
}

/// Abandoning a run whose every request is already settled (the zero wait after its last
/// answer) has nothing to cancel: the export ends as it would have, with no error noted.
#[test]
fn abandon_with_nothing_left_is_no_error() {
    let clock = FakeClock::at(0);
    let mut producer = counters(2, 2);
    let mut exporter = Exporter::new(config(), ScriptedExchange::new(&clock, []));
    let mut buffer = [0u8; 4096];
    let mut snapshot = DeltaSnapshot::default();
    let mut run = exporter.start(&mut producer, &mut snapshot, 1, clock.now());
    let step = exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock);
    assert_eq!(step, Step::Wait(clock.now()));
    assert_eq!(run.report().points_sent, 4, "delivered in one request");
    let report = exporter.abandon(&mut run, &mut producer, &snapshot);
    assert_eq!(report.outcome, ExportOutcome::Success);
    assert_eq!((report.points_sent, report.points_abandoned), (4, 0));
    assert_eq!(report.first_error, None);
    assert_eq!(exporter.stats().last_error, None);
    assert_eq!(exporter.stats().exports_ok, 1);
    producer.assert_each_settled_once();
}
