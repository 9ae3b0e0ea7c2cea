//! The sink's whole fault matrix through each driver over real loopback sockets: blocking
//! (`HttpClient` over `TcpConnector`), superloop (`PollHttpClient` over the non-blocking
//! `PollTcp`, one `Exporter::poll` per tick) and async (`AsyncHttpClient` over tokio's
//! `TcpStream` on a current-thread runtime). For each fault, each driver must give the
//! same outcome, the sink must have decoded exactly what was recorded (once), every wait
//! must end by its deadline, and every connection the sink accepted must be closed.

use std::time::{Duration, Instant as StdInstant};

use otlp_embedded::export::{
    ExportErrorKind, ExportOutcome, ExportReport, Exporter, ExporterConfig, RetryPolicy,
};
use otlp_embedded::http::{AsyncHttpClient, HttpClient, PollHttpClient};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{Endpoint, ExchangeError};
use otlp_embedded_std::{PollTcp, StdClock, TcpConnector};
use otlp_embedded_test_kit::sink::{Fault, RetryAfter, Sink};
use otlp_embedded_test_kit::tokio_tcp::{TokioConnect, TokioTimer};

type Reg = Registry<2, 8, 16, 2, 32>;
type Snap = Snapshot<2, 8, 16, 2, 32>;

const KEYS: [&str; 3] = ["a", "b", "c"];
/// Per exchange; the export allows a few of them.
const REQUEST_TIMEOUT_MS: u32 = 1_000;
const EXPORT_TIMEOUT_MS: u32 = 6_000;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Driver {
    Blocking,
    Superloop,
    Async,
}

/// What an export through a fault must come to.
#[derive(Clone, Debug)]
struct Expect {
    outcome: ExportOutcome,
    retries: u32,
    /// Whether the recorded points reach the sink (acknowledged 2xx).
    delivered: bool,
    /// The first error, when one is expected, by a predicate.
    first_error: fn(Option<ExportErrorKind>) -> bool,
}

fn no_error(e: Option<ExportErrorKind>) -> bool {
    e.is_none()
}

fn any_exchange_error(e: Option<ExportErrorKind>) -> bool {
    matches!(e, Some(ExportErrorKind::Exchange(_)))
}

fn timeout(e: Option<ExportErrorKind>) -> bool {
    matches!(
        e,
        Some(ExportErrorKind::Exchange(ExchangeError::Timeout(_)))
    )
}

fn status_503(e: Option<ExportErrorKind>) -> bool {
    e == Some(ExportErrorKind::Status(503))
}

fn status_429(e: Option<ExportErrorKind>) -> bool {
    e == Some(ExportErrorKind::Status(429))
}

fn status_502(e: Option<ExportErrorKind>) -> bool {
    e == Some(ExportErrorKind::Status(502))
}

fn status_400(e: Option<ExportErrorKind>) -> bool {
    e == Some(ExportErrorKind::Status(400))
}

fn rejected(e: Option<ExportErrorKind>) -> bool {
    e == Some(ExportErrorKind::Rejected(1))
}

/// Every fault the sink has, once on the first request (then it behaves), and what an
/// export through it must come to.
fn matrix() -> Vec<(&'static str, Fault, Expect)> {
    let retried = |first_error| Expect {
        outcome: ExportOutcome::Success,
        retries: 1,
        delivered: true,
        first_error,
    };
    vec![
        (
            "none",
            Fault::None,
            Expect {
                outcome: ExportOutcome::Success,
                retries: 0,
                delivered: true,
                first_error: no_error,
            },
        ),
        (
            "idle close",
            Fault::IdleClose(Duration::from_millis(20)),
            Expect {
                outcome: ExportOutcome::Success,
                retries: 0,
                delivered: true,
                first_error: no_error,
            },
        ),
        (
            "answer then close",
            Fault::AnswerThenClose,
            Expect {
                outcome: ExportOutcome::Success,
                retries: 0,
                delivered: true,
                first_error: no_error,
            },
        ),
        (
            "chunked",
            Fault::Chunked,
            Expect {
                outcome: ExportOutcome::Success,
                retries: 0,
                delivered: true,
                first_error: no_error,
            },
        ),
        (
            "close before answer",
            Fault::CloseBeforeAnswer,
            retried(any_exchange_error),
        ),
        (
            "close mid headers",
            Fault::CloseMidHeaders,
            retried(any_exchange_error),
        ),
        (
            "close mid body",
            Fault::CloseMidBody,
            retried(any_exchange_error),
        ),
        ("reset", Fault::Reset, retried(any_exchange_error)),
        (
            "garbage",
            Fault::GarbageStatusLine,
            retried(any_exchange_error),
        ),
        (
            "endless headers",
            Fault::EndlessHeaders,
            retried(any_exchange_error),
        ),
        // 100 response bytes at 20 per second: the request's deadline comes first.
        (
            "trickle",
            Fault::Trickle {
                bytes_per_second: 20,
            },
            retried(timeout),
        ),
        (
            "429 with Retry-After",
            Fault::TooManyRequests(Some(RetryAfter::Seconds(1))),
            retried(status_429),
        ),
        (
            "503 with Retry-After",
            Fault::Unavailable(Some(RetryAfter::Seconds(1))),
            retried(status_503),
        ),
        ("502 html", Fault::Html502, retried(status_502)),
        (
            "partial success",
            Fault::PartialSuccess {
                rejected: 1,
                message: "one bad point".into(),
            },
            Expect {
                outcome: ExportOutcome::PartialSuccess,
                retries: 0,
                delivered: true,
                first_error: rejected,
            },
        ),
        (
            "400",
            Fault::Status(400),
            Expect {
                outcome: ExportOutcome::Failed,
                retries: 0,
                delivered: false,
                first_error: status_400,
            },
        ),
    ]
}

struct Meter {
    reg: Reg,
}

fn meter() -> Meter {
    let mut reg = Reg::new(1_700_000_000_000_000_000);
    let counter = reg
        .declare(
            InstrumentDesc::counter_u64("faults.count")
                .attributes(&["k"])
                .max_series(4)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    for (i, key) in KEYS.iter().enumerate() {
        let attrs = [KeyValue::new("k", AttributeValue::Str(key))];
        reg.record(counter, (i as u64 + 1) * 10, &attrs).unwrap();
    }
    Meter { reg }
}

fn config(endpoint: Endpoint<'_>) -> ExporterConfig<'_> {
    let header = RequestHeader::new(Resource::new(&[]), Scope::new("driver-faults"));
    let mut config = ExporterConfig::new(endpoint, header);
    config.request_timeout_ms = REQUEST_TIMEOUT_MS;
    config.export_timeout_ms = EXPORT_TIMEOUT_MS;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(100)
        .with_max_delay_ms(500);
    config
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// One export of `meter` to `url` through `driver`.
fn export(driver: Driver, url: &str, meter: &mut Meter) -> ExportReport {
    let endpoint = Endpoint::parse(url).unwrap();
    let config = config(endpoint);
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; 4096];
    match driver {
        Driver::Blocking => {
            let clock = StdClock::new();
            let mut exporter =
                Exporter::new(config, HttpClient::new(TcpConnector::new(clock), clock));
            exporter.export(
                &mut meter.reg,
                &mut snapshot,
                &mut buffer,
                &clock,
                unix_now(),
                otlp_embedded_std::Sleep,
            )
        }
        Driver::Superloop => {
            let clock = StdClock::new();
            let mut exporter = Exporter::new(config, PollHttpClient::new());
            let mut tcp = PollTcp::new();
            let mut run = exporter.start(&mut meter.reg, &mut snapshot, unix_now(), clock.now());
            loop {
                let polled = exporter.poll(
                    &mut run,
                    &mut meter.reg,
                    &snapshot,
                    &mut buffer,
                    &mut tcp,
                    &clock,
                );
                if let std::task::Poll::Ready(report) = polled {
                    assert!(!tcp.is_busy(), "a connection left open");
                    return report;
                }
                // The loop's other work; a real one would wait for readiness or a timer.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Driver::Async => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let timer = TokioTimer::new();
                let mut exporter = Exporter::new(config, AsyncHttpClient::new(TokioConnect, timer));
                exporter
                    .export_async(
                        &mut meter.reg,
                        &mut snapshot,
                        &mut buffer,
                        &timer,
                        unix_now(),
                    )
                    .await
            })
        }
    }
}

fn run_matrix(driver: Driver) {
    for (name, fault, expect) in matrix() {
        let sink = Sink::start().unwrap();
        match fault {
            // A standing fault: every request sees it (an idle close happens between).
            Fault::IdleClose(_) | Fault::AnswerThenClose | Fault::Chunked | Fault::None => {
                sink.set_fault(fault.clone())
            }
            _ => sink.script([(fault.clone(), 1)]),
        }
        let mut meter = meter();
        let started = StdInstant::now();
        let report = export(driver, &sink.endpoint_url(), &mut meter);
        let took = started.elapsed();
        let what = format!("{driver:?}, {name}: {report:?}");
        println!(
            "{driver:?} {name}: {:?}, {} retries, {took:?}",
            report.outcome, report.retries
        );
        assert_eq!(report.outcome, expect.outcome, "{what}");
        assert_eq!(report.retries, expect.retries, "{what}");
        assert!(
            (expect.first_error)(report.first_error.map(|e| e.kind)),
            "{what}"
        );
        assert_eq!(report.points_collected, KEYS.len(), "{what}");
        // Every wait ends by its deadline: the export by its own (a grace for scheduling).
        assert!(
            took <= Duration::from_millis(u64::from(EXPORT_TIMEOUT_MS) + 500),
            "{what}: took {took:?}"
        );
        for (i, key) in KEYS.iter().enumerate() {
            let total = sink.total("faults.count", &[("k", key)]);
            if expect.delivered {
                let total = total.unwrap_or_else(|| panic!("{what}: {key} never arrived"));
                assert_eq!(total.points, 1, "{what}: {key} arrived once");
                assert_eq!(total.value_sum, ((i + 1) * 10) as f64, "{what}: {key}");
            } else {
                assert!(total.is_none(), "{what}: {key} was acknowledged");
            }
        }
        // The points are settled as the outcome says: delivered or dropped, nothing left.
        let mut producer = meter.reg;
        let mut snapshot = Box::new(Snap::new());
        otlp_embedded::registry::Producer::collect(&mut producer, &mut snapshot, unix_now());
        assert_eq!(
            otlp_embedded::proto::MetricsSource::point_count(&*snapshot, 0),
            0,
            "{what}: points left in the registry"
        );
        // Every connection the sink accepted is closed (the sink's threads count a close
        // when they see it).
        let closed = sink.wait_for(Duration::from_secs(5), |s| {
            s.connections_closed == s.connections_accepted
        });
        let stats = sink.stats();
        assert!(closed, "{what}: {stats:?}");
        // One connection per attempt at least (an idle-close sink may see more).
        assert!(
            stats.connections_accepted > u64::from(expect.retries),
            "{what}"
        );
    }
}

#[test]
fn fault_matrix_blocking() {
    run_matrix(Driver::Blocking);
}

#[test]
fn fault_matrix_superloop() {
    run_matrix(Driver::Superloop);
}

#[test]
fn fault_matrix_async() {
    run_matrix(Driver::Async);
}
