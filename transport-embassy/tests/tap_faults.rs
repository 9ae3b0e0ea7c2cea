//! The sink's whole fault matrix over embassy: `otlp_embedded_embassy::export_once` (core's
//! policy and async HTTP client over `EmbassyConnector`) on an embassy-net stack whose
//! device is a TAP interface, to the test kit's sink on the Linux side of it, in a network
//! namespace the test creates (needs root and `/dev/net/tun`; `OTLP_REQUIRE_TAP=1` turns a
//! skip into a failure).
//!
//! The driver-level matrix (same faults, same expectations, blocking, superloop and tokio)
//! is `tests/tests/driver_faults.rs`; what this one adds is embassy's side of it: every
//! wait ends on embassy-time by its deadline, every connection ends on embassy-net's
//! socket (Closed or TimeWait after each export) and on the kernel's (nothing established
//! afterwards, every socket the sink saw closed), the retry happens on the same socket,
//! and the sink decodes exactly what was recorded, once.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::http::export;
use embassy_futures::select::{select, Either};
use embassy_net::tcp::State;
use embassy_net::Ipv4Address;
use embassy_net_tuntap::TunTapDevice;
use otlp_embedded::export::{ExportErrorKind, ExportOutcome, RetryPolicy};
use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricsSource, RequestHeader, Resource, Scope, Temporality,
};
use otlp_embedded::registry::{InstrumentDesc, Producer, Registry, Snapshot};
use otlp_embedded::transport::{Endpoint, ExchangeError, Scheme};
use otlp_embedded_embassy::EmbassyConnector;
use otlp_embedded_test_kit::netns::{run_in_namespace, tcp_counters, tcp_sockets, KERNEL_ADDR};
use otlp_embedded_test_kit::sink::{Fault, RetryAfter, Sink, SinkOptions};

const PORT: u16 = 4318;
const EMBASSY_ADDR: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const KERNEL_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
const PARTS: [&str; 2] = ["a", "b"];
/// Per exchange; the export allows a few of them.
const REQUEST_TIMEOUT_MS: u32 = 1_000;
const EXPORT_TIMEOUT_MS: u32 = 6_000;

type Reg = Registry<2, 4, 48, 2, 32>;
type Snap = Snapshot<2, 4, 48, 2, 32>;

#[test]
fn fault_matrix_over_embassy_and_tap() {
    run_in_namespace(
        "fault_matrix_over_embassy_and_tap",
        "embassyf",
        in_namespace,
        &["ss"],
        Duration::from_secs(180),
    );
}

/// What an export through a fault must come to.
#[derive(Clone, Debug)]
struct Expect {
    outcome: ExportOutcome,
    retries: u32,
    /// Whether the recorded points reach the sink (acknowledged 2xx).
    delivered: bool,
    first_error: fn(Option<ExportErrorKind>) -> bool,
}

fn matrix() -> Vec<(&'static str, Fault, Expect)> {
    let clean = |outcome, first_error| Expect {
        outcome,
        retries: 0,
        delivered: true,
        first_error,
    };
    let retried = |first_error| Expect {
        outcome: ExportOutcome::Success,
        retries: 1,
        delivered: true,
        first_error,
    };
    fn none(e: Option<ExportErrorKind>) -> bool {
        e.is_none()
    }
    fn exchange(e: Option<ExportErrorKind>) -> bool {
        matches!(e, Some(ExportErrorKind::Exchange(_)))
    }
    fn timeout(e: Option<ExportErrorKind>) -> bool {
        matches!(
            e,
            Some(ExportErrorKind::Exchange(ExchangeError::Timeout(_)))
        )
    }
    fn s429(e: Option<ExportErrorKind>) -> bool {
        e == Some(ExportErrorKind::Status(429))
    }
    fn s503(e: Option<ExportErrorKind>) -> bool {
        e == Some(ExportErrorKind::Status(503))
    }
    fn rejected(e: Option<ExportErrorKind>) -> bool {
        e == Some(ExportErrorKind::Rejected(1))
    }
    fn s400(e: Option<ExportErrorKind>) -> bool {
        e == Some(ExportErrorKind::Status(400))
    }
    vec![
        ("none", Fault::None, clean(ExportOutcome::Success, none)),
        (
            "idle-close",
            Fault::IdleClose(Duration::from_millis(20)),
            clean(ExportOutcome::Success, none),
        ),
        (
            "answer-then-close",
            Fault::AnswerThenClose,
            clean(ExportOutcome::Success, none),
        ),
        (
            "chunked",
            Fault::Chunked,
            clean(ExportOutcome::Success, none),
        ),
        (
            "close-before-answer",
            Fault::CloseBeforeAnswer,
            retried(exchange),
        ),
        (
            "close-mid-headers",
            Fault::CloseMidHeaders,
            retried(exchange),
        ),
        ("close-mid-body", Fault::CloseMidBody, retried(exchange)),
        ("reset", Fault::Reset, retried(exchange)),
        ("garbage", Fault::GarbageStatusLine, retried(exchange)),
        ("endless-headers", Fault::EndlessHeaders, retried(exchange)),
        // The answer at 20 bytes a second: the request's 1 s deadline comes first.
        (
            "trickle",
            Fault::Trickle {
                bytes_per_second: 20,
            },
            retried(timeout),
        ),
        (
            "429-retry-after",
            Fault::TooManyRequests(Some(RetryAfter::Seconds(1))),
            retried(s429),
        ),
        (
            "503-retry-after",
            Fault::Unavailable(Some(RetryAfter::Seconds(1))),
            retried(s503),
        ),
        (
            "partial-success",
            Fault::PartialSuccess {
                rejected: 1,
                message: "one bad point".into(),
            },
            clean(ExportOutcome::PartialSuccess, rejected),
        ),
        (
            "400",
            Fault::Status(400),
            Expect {
                outcome: ExportOutcome::Failed,
                retries: 0,
                delivered: false,
                first_error: s400,
            },
        ),
    ]
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The value recorded for part `p` of case `i`.
fn value(i: usize, p: usize) -> u64 {
    (i as u64 + 1) * 100 + p as u64 + 1
}

fn in_namespace() {
    let sink = Sink::start_with(SinkOptions {
        bind: KERNEL_ADDR.parse().unwrap(),
        port: PORT,
        ..SinkOptions::default()
    })
    .expect("sink on the namespace's TAP address");
    let before = tcp_counters();
    let mut device = TunTapDevice::new("tap0").expect("open tap0");
    device.set_hardware_address([0x02, 0, 0, 0, 0, 0x01]);
    let (stack, mut runner) = common::stack(
        device,
        common::ipv4_config(EMBASSY_ADDR, &[KERNEL_IP]),
        u64::from(std::process::id()),
    );
    let sink = std::rc::Rc::new(sink);
    let sink2 = std::rc::Rc::clone(&sink);
    common::run(Duration::from_secs(170), async move {
        let work = async {
            stack.wait_config_up().await;
            let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
            let mut connector = EmbassyConnector::new(stack, &mut rx, &mut tx);
            let endpoint = Endpoint::new(Scheme::Http, KERNEL_ADDR, PORT, "/v1/metrics");
            let mut answered = 0u64;
            // The first SYN waits for ARP, which can take longer than a request's 1 s:
            // one connection first, so the matrix measures the faults, not the neighbour
            // lookup.
            let warm_up = otlp_embedded::time::Clock::now(&otlp_embedded_embassy::EmbassyClock)
                .add_millis(10_000);
            let conn = connector
                .connect(&endpoint, warm_up)
                .await
                .expect("warm-up");
            conn.close(otlp_embedded::transport::CloseMode::Graceful)
                .await
                .expect("warm-up close");
            for (i, (name, fault, expect)) in matrix().into_iter().enumerate() {
                match fault {
                    // A standing fault: every request sees it.
                    Fault::IdleClose(_) | Fault::AnswerThenClose | Fault::Chunked | Fault::None => {
                        sink2.set_fault(fault.clone())
                    }
                    _ => sink2.script([(fault.clone(), 1)]),
                }
                let mut reg = Reg::new(unix_now());
                let counter = reg
                    .declare(
                        InstrumentDesc::counter_u64("embassy.faults")
                            .attributes(&["case", "part"])
                            .max_series(2)
                            .temporality(Temporality::Delta),
                    )
                    .unwrap();
                for (p, part) in PARTS.iter().enumerate() {
                    let attrs = [
                        KeyValue::new("case", AttributeValue::Str(name)),
                        KeyValue::new("part", AttributeValue::Str(part)),
                    ];
                    reg.record(counter, value(i, p), &attrs).unwrap();
                }
                let mut snapshot = Snap::new();
                let mut buffer = [0u8; 1024];
                let header = RequestHeader::new(Resource::new(&[]), Scope::new("embassy-faults"));
                let exported = export(
                    &mut connector,
                    &mut reg,
                    &mut snapshot,
                    &mut buffer,
                    header,
                    &endpoint,
                    REQUEST_TIMEOUT_MS,
                    unix_now(),
                    |config| {
                        config.export_timeout_ms = EXPORT_TIMEOUT_MS;
                        config.retry = RetryPolicy::new()
                            .with_initial_backoff_ms(100)
                            .with_max_delay_ms(500);
                    },
                )
                .await;
                sink2.set_fault(Fault::None);
                let report = &exported.report;
                let what = format!("{name}: {report:?} {:?}", exported.connections);
                println!(
                    "tap: {name}: {:?}, {} retries, {} connections, {} ms",
                    report.outcome,
                    report.retries,
                    exported.connections.len(),
                    exported.took_ms
                );
                assert_eq!(report.outcome, expect.outcome, "{what}");
                assert_eq!(report.retries, expect.retries, "{what}");
                assert!(
                    (expect.first_error)(report.first_error.map(|e| e.kind)),
                    "{what}"
                );
                assert_eq!(report.points_collected, PARTS.len(), "{what}");
                // Every wait ends by its deadline (a grace for scheduling).
                assert!(
                    exported.took_ms <= u64::from(EXPORT_TIMEOUT_MS) + 500,
                    "{what}"
                );
                // One connection per attempt, each closed by the client: gracefully after a
                // complete answer, aborted otherwise; the socket is free afterwards.
                assert_eq!(
                    exported.connections.len(),
                    1 + expect.retries as usize,
                    "{what}"
                );
                assert!(
                    exported.connections.iter().all(|c| c.close_mode.is_some()),
                    "{what}"
                );
                assert!(
                    matches!(connector.socket_state(), State::Closed | State::TimeWait),
                    "{what}: {:?}",
                    connector.socket_state()
                );
                // Settled as the outcome says: nothing left in the registry.
                let mut rest = Snap::new();
                reg.collect(&mut rest, unix_now());
                assert_eq!(rest.point_count(0), 0, "{what}: points left");
                // The sink books a request after answering it: wait (bounded) for the books.
                answered += u64::from(report.requests_delivered);
                let books = embassy_time::Instant::now() + embassy_time::Duration::from_secs(2);
                while sink2.stats().requests_answered_2xx < answered
                    && embassy_time::Instant::now() < books
                {
                    embassy_time::Timer::after_millis(2).await;
                }
                assert_eq!(sink2.stats().requests_answered_2xx, answered, "{what}");
                // The sink decoded exactly what was recorded, once (or nothing for a 400).
                for (p, part) in PARTS.iter().enumerate() {
                    let total = sink2.total("embassy.faults", &[("case", name), ("part", part)]);
                    if expect.delivered {
                        let total = total.unwrap_or_else(|| {
                            panic!("{what}: {part} missing from {:?}", sink2.totals())
                        });
                        assert_eq!(total.points, 1, "{what}: {part} once");
                        assert_eq!(total.value_sum, value(i, p) as f64, "{what}: {part}");
                    } else {
                        assert!(total.is_none(), "{what}: {part} acknowledged");
                    }
                }
            }
        };
        match select(runner.run(), work).await {
            Either::First(_) => unreachable!("the runner never returns"),
            Either::Second(()) => {}
        }
    });
    // Every connection the sink accepted is closed, on its side and the kernel's.
    let closed = sink.wait_for(Duration::from_secs(5), |s| {
        s.connections_closed == s.connections_accepted
    });
    let stats = sink.stats();
    assert!(closed, "{stats:?}");
    let sockets = tcp_sockets(PORT);
    assert!(
        sockets.iter().all(|s| s.state == "TIME-WAIT"),
        "a connection did not end: {sockets:?}"
    );
    let after = tcp_counters();
    assert_eq!(after["CurrEstab"], 0);
    println!(
        "tap: sink accepted {} connections, all closed; kernel PassiveOpens +{}, EstabResets +{}",
        stats.connections_accepted,
        after["PassiveOpens"] - before["PassiveOpens"],
        after["EstabResets"] - before["EstabResets"]
    );
    println!("tap: done");
}
