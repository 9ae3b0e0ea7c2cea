//! Runs the built demo binary as a user would, with no OTEL_* variables leaking in from the
//! environment, and checks its exit status and what it printed.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the demo with `args`, killing it if it has not ended within `limit`.
fn demo(args: &[&str], limit: Duration) -> (Output, Duration) {
    demo_env(args, &[], limit)
}

/// Runs the demo with `args` and the variables `env`.
fn demo_env(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (Output, Duration) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_demo"));
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let started = Instant::now();
    let mut child = command.spawn().expect("demo binary starts");
    // Bounded wait: poll until it exits or the limit passes, then kill it.
    loop {
        if child.try_wait().expect("wait on demo").is_some() {
            break;
        }
        if started.elapsed() > limit {
            child.kill().expect("kill demo");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("demo output");
    (output, started.elapsed())
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn sink_run_verifies_totals() {
    let (output, _) = demo(
        &["--exports", "3", "--interval-ms", "100"],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.contains("verified: sink totals match recorded totals"),
        "{out}"
    );
    for n in 1..=3 {
        assert!(out.contains(&format!("export {n}/3: success")), "{out}");
    }
    // One connection per request, each closed.
    assert!(
        out.contains("sink: 3 connections accepted, 3 closed, 3 requests received, 3 answered 2xx"),
        "{out}"
    );
}

#[test]
fn unreachable_endpoint_fails_within_deadline() {
    let (output, took) = demo(
        &[
            "--endpoint",
            "http://127.0.0.1:1",
            "--exports",
            "1",
            "--interval-ms",
            "10",
        ],
        Duration::from_secs(30),
    );
    let out = text(&output);
    // The demo's export deadline is 5 s; killed by the limit it would have no exit code.
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(took < Duration::from_secs(30), "{out}");
    assert!(out.contains("export 1/1: FAILED"), "{out}");
    assert!(out.contains("nothing is listening at 127.0.0.1:1"), "{out}");
    assert!(!out.contains("verified"), "{out}");
}

#[test]
fn sink_fault_is_ridden_out_with_a_retry() {
    let (output, _) = demo(
        &[
            "--exports",
            "2",
            "--interval-ms",
            "50",
            "--sink-fault",
            "503=1",
        ],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    let first = out
        .lines()
        .find(|l| l.starts_with("export 1/2:"))
        .unwrap_or_else(|| panic!("no line for export 1: {out}"));
    assert!(first.contains("success"), "{out}");
    assert!(first.contains("retries 1 "), "{out}");
    assert!(first.contains("server answered status 503"), "{out}");
    assert!(
        out.contains("verified: sink totals match recorded totals"),
        "{out}"
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let (output, _) = demo(&["--exports", "many"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let (output, _) = demo(&["--sink-fault", "teapot"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let (output, _) = demo(&["--help"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output);
    for flag in ["--exports", "--interval-ms", "--endpoint", "--sink-fault"] {
        assert!(help.contains(flag), "{help}");
    }
}

#[test]
fn dropped_delta_data_is_reported_as_a_mismatch() {
    // A 400 is not retryable: the first request's points are dropped, so the sink's delta
    // totals fall short of what was recorded, and the demo must say so.
    let (output, _) = demo_env(
        &[
            "--exports",
            "2",
            "--interval-ms",
            "50",
            "--sink-fault",
            "status=400",
        ],
        &[("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("export 1/2: FAILED"), "{out}");
    assert!(out.contains("server answered status 400"), "{out}");
    assert!(out.contains("export 2/2: success"), "{out}");
    assert!(out.contains("MISMATCH"), "{out}");
    assert!(!out.contains("verified"), "{out}");
}

#[test]
fn abandoned_delta_data_goes_out_with_the_next_export() {
    // The first request is answered 503 with `Retry-After: 1`, later than the 300 ms export
    // deadline: export 1 fails and abandons its points, export 2 carries them together with
    // what was recorded after, so the sink's delta totals still match. The exit status
    // reports the failed export. Export 2 comes 1.5 s later: the collector asked for 1 s
    // (up to 1.25 s with jitter), which an export that starts earlier honours by sending
    // nothing.
    let (output, _) = demo_env(
        &[
            "--exports",
            "2",
            "--interval-ms",
            "1500",
            "--sink-fault",
            "503=1",
        ],
        &[
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "300"),
        ],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    let first = out
        .lines()
        .find(|l| l.starts_with("export 1/2:"))
        .unwrap_or_else(|| panic!("no line for export 1: {out}"));
    assert!(first.contains("FAILED"), "{out}");
    assert!(first.contains("sent 0"), "{out}");
    assert!(out.contains("export 2/2: success"), "{out}");
    assert!(
        out.contains("verified: sink totals match recorded totals"),
        "{out}"
    );
}

#[test]
fn verification_expects_no_series_for_instruments_that_recorded_nothing() {
    // With `--interval-ms 0` each export follows a single recording tick; the demo's
    // deterministic generator serves no request in the first two ticks, so only the gauge
    // has a measurement. Every export succeeds, so the sink must hold exactly what was
    // recorded up to the last collection: one gauge series and nothing else.
    for temporality in ["cumulative", "delta"] {
        let (output, _) = demo_env(
            &["--exports", "2", "--interval-ms", "0"],
            &[(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                temporality,
            )],
            Duration::from_secs(60),
        );
        let out = text(&output);
        assert_eq!(output.status.code(), Some(0), "{temporality}: {out}");
        assert!(out.contains("export 1/2: success"), "{out}");
        assert!(out.contains("export 2/2: success"), "{out}");
        assert!(!out.contains("MISMATCH"), "{out}");
        assert!(
            out.contains("verified: sink totals match recorded totals"),
            "{out}"
        );
        // The case this test is about: the histograms recorded nothing and sent nothing.
        let table = out
            .split("what the sink decoded")
            .nth(1)
            .unwrap_or_else(|| panic!("no table: {out}"));
        assert!(table.contains("device.temperature"), "{out}");
        assert!(!table.contains("device.request.duration"), "{out}");
        assert!(!table.contains("device.payload.size"), "{out}");
    }
}

#[test]
fn zero_exports_is_a_usage_error() {
    let (output, _) = demo(&["--exports", "0"], Duration::from_secs(30));
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(out.contains("--exports"), "{out}");
    assert!(!out.contains("MISMATCH"), "{out}");
    assert!(!out.contains("verified"), "{out}");
    assert!(!out.contains("exporter totals"), "{out}");
}

#[test]
fn gzip_from_the_environment_compresses_every_request() {
    let (output, _) = demo_env(
        &["--exports", "2", "--interval-ms", "50"],
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(!out.contains("not wired in"), "{out}");
    let banner = out
        .lines()
        .find(|l| l.starts_with("demo: 2 exports"))
        .unwrap_or_else(|| panic!("no banner: {out}"));
    assert!(banner.contains("compression gzip"), "{out}");
    // What the sink saw on the wire, and it still decoded every point.
    assert!(
        out.contains("sink: 2 of 2 requests arrived with Content-Encoding: gzip"),
        "{out}"
    );
    assert!(
        out.contains("verified: sink totals match recorded totals"),
        "{out}"
    );
}

#[test]
fn sdk_disabled_exports_nothing_and_says_so() {
    let (output, _) = demo_env(
        &["--exports", "2", "--interval-ms", "50"],
        &[("OTEL_SDK_DISABLED", "TRUE")],
        Duration::from_secs(30),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "OTEL_SDK_DISABLED=true: the SDK is disabled; nothing is recorded or exported"
        ),
        "{out}"
    );
    assert!(!out.contains("export 1/2"), "{out}");
    assert!(!out.contains("sink:"), "{out}");
}

#[test]
fn a_configuration_error_names_where_the_value_came_from() {
    let (output, _) = demo(&["--endpoint", "htp:/x"], Duration::from_secs(30));
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        out.contains("--endpoint \"htp:/x\": expected a URL starting with http:// or https://"),
        "{out}"
    );
    assert!(!out.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{out}");

    let (output, _) = demo_env(
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "htp:/x")],
        Duration::from_secs(30),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}");
    assert!(
        out.contains("OTEL_EXPORTER_OTLP_ENDPOINT=\"htp:/x\": expected a URL"),
        "{out}"
    );
    assert!(!out.contains("--endpoint"), "{out}");
}

#[test]
fn unusable_values_are_warned_about_and_the_demo_runs_on_its_defaults() {
    let (output, _) = demo_env(
        &["--exports", "1", "--interval-ms", "50"],
        &[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1"),
        ],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "demo: warning: OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\": unknown compression; \
             expected none or gzip; using none (the default)"
        ),
        "{out}"
    );
    // The demo's own default, and the warning says so.
    assert!(
        out.contains(
            "demo: warning: OTEL_EXPORTER_OTLP_TIMEOUT=\"-1\": negative; expected a whole \
             number of milliseconds greater than 0; using 5000 ms (the demo's default)"
        ),
        "{out}"
    );
    assert!(out.contains("timeouts 5000 ms per request"), "{out}");
    assert!(out.contains("export 1/1: success"), "{out}");

    // An interval from the environment the demo would wait on for ever is not taken.
    let (output, took) = demo_env(
        &["--exports", "1"],
        &[("OTEL_METRIC_EXPORT_INTERVAL", "99999999999999")],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(took < Duration::from_secs(60), "{out}");
    assert!(
        out.contains(
            "demo: warning: OTEL_METRIC_EXPORT_INTERVAL=\"99999999999999\": more than the \
             demo waits (3600000 ms); using 1000 ms (the demo's default)"
        ),
        "{out}"
    );
}

#[test]
fn an_export_error_line_shows_only_what_the_server_said_to_that_export() {
    // Export 1 is a partial success with a message; export 2 meets a proxy's HTML 502
    // (no message a client can read) until its deadline.
    let (output, _) = demo_env(
        &[
            "--exports",
            "2",
            "--interval-ms",
            "50",
            "--sink-fault",
            "partial=1:earlier-message,html502*all",
        ],
        &[("OTEL_METRIC_EXPORT_TIMEOUT", "700")],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    let line = |n: u32| {
        out.lines()
            .find(|l| l.starts_with(&format!("export {n}/2:")))
            .unwrap_or_else(|| panic!("no line for export {n}: {out}"))
    };
    assert!(line(1).contains("partial-success"), "{out}");
    assert!(
        line(1).contains("(server said: \"earlier-message\")"),
        "{out}"
    );
    assert!(line(2).contains("FAILED"), "{out}");
    assert!(line(2).contains("server answered status 502"), "{out}");
    assert!(!line(2).contains("server said"), "{out}");
}

#[test]
fn out_of_range_flags_are_refused_with_exit_2() {
    for args in [
        ["--interval-ms", "99999999999999"],
        ["--interval-ms", "3600001"],
        ["--exports", "0"],
        ["--exports", "10001"],
    ] {
        let (output, took) = demo(&args, Duration::from_secs(30));
        let out = text(&output);
        // Killed at the limit, it would have no exit code.
        assert_eq!(output.status.code(), Some(2), "{args:?}: {out}");
        assert!(took < Duration::from_secs(30), "{args:?}: {out}");
        assert!(
            out.contains(args[0]) && out.contains("out of range"),
            "{out}"
        );
        assert!(!out.contains("export 1/"), "{out}");
    }
}

/// What one demo run came to, in the terms the drivers must agree on.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    exit: Option<i32>,
    /// Per export: the outcome word and the retries.
    exports: Vec<(String, u32)>,
    /// The verification line (with the in-process sink).
    verified: bool,
}

fn outcome(output: &Output) -> Outcome {
    let out = String::from_utf8_lossy(&output.stdout);
    let exports = out
        .lines()
        .filter(|l| l.starts_with("export "))
        .map(|l| {
            let word = l.split_whitespace().nth(2).unwrap_or("").to_string();
            let retries = l
                .split("retries ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(u32::MAX);
            (word, retries)
        })
        .collect();
    Outcome {
        exit: output.status.code(),
        exports,
        verified: out.contains("verified: sink totals match recorded totals"),
    }
}

const DRIVERS: [&str; 3] = ["blocking", "superloop", "async"];

/// Every `--sink-fault` mode, once on the first request, through each driver: the same
/// exit status, the same outcome and retries for every export, and the same verification
/// of the sink's totals against what was recorded.
#[test]
fn every_sink_fault_through_every_driver_gives_the_same_outcomes() {
    let faults = [
        "none",
        "idle-close=20",
        "answer-then-close",
        "close-before-answer",
        "close-mid-headers",
        "close-mid-body",
        "chunked",
        "trickle=40",
        "429",
        "503",
        "429=1",
        "503=1",
        "429-date=2",
        "503-date=2",
        "status=400",
        "413-early",
        "partial=1:one bad point",
        "html502",
        "garbage",
        "endless-headers",
        "reset",
    ];
    // Short timeouts so a trickling sink is given up on within a second.
    let env = [
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "4000"),
    ];
    for fault in faults {
        let runs: Vec<(String, Output)> = std::thread::scope(|scope| {
            let handles: Vec<_> = DRIVERS
                .iter()
                .map(|driver| {
                    scope.spawn(move || {
                        let args = [
                            "--exports",
                            "2",
                            "--interval-ms",
                            "100",
                            "--sink-fault",
                            fault,
                            "--driver",
                            driver,
                        ];
                        (
                            driver.to_string(),
                            demo_env(&args, &env, Duration::from_secs(60)).0,
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let (_, blocking) = &runs[0];
        let expected = outcome(blocking);
        assert_eq!(expected.exports.len(), 2, "{fault}: {}", text(blocking));
        for (driver, output) in &runs {
            let out = text(output);
            assert!(out.contains(&format!("driver {driver}")), "{fault}: {out}");
            assert_eq!(outcome(output), expected, "{fault}, driver {driver}: {out}");
            // One connection per request, every one closed.
            assert!(
                out.lines()
                    .filter(|l| l.starts_with("sink: ") && l.contains("connections accepted"))
                    .any(|l| {
                        let n: Vec<u64> = l
                            .split(|c: char| !c.is_ascii_digit())
                            .filter_map(|w| w.parse().ok())
                            .collect();
                        n.len() >= 2 && n[0] == n[1]
                    }),
                "{fault}, driver {driver}: {out}"
            );
        }
        println!("{fault}: {expected:?} through every driver");
    }
}

/// The drivers against an external endpoint (a sink started apart from the demo, as a
/// collector would be): each run's two exports are delivered and acknowledged, every
/// connection is closed, and the same instruments arrive (which request statuses the
/// simulated device served depends on how many ticks it had, so series may differ).
#[test]
fn every_driver_exports_to_an_external_endpoint() {
    use otlp_embedded_test_kit::sink::Sink;
    let mut series = Vec::new();
    for driver in DRIVERS {
        let sink = Sink::start().unwrap();
        let (output, _) = demo(
            &[
                "--exports",
                "2",
                "--interval-ms",
                "100",
                "--endpoint",
                &sink.base_url(),
                "--driver",
                driver,
            ],
            Duration::from_secs(60),
        );
        let out = text(&output);
        assert_eq!(output.status.code(), Some(0), "{driver}: {out}");
        assert!(out.contains("export 1/2: success"), "{driver}: {out}");
        assert!(out.contains("export 2/2: success"), "{driver}: {out}");
        assert!(
            sink.wait_for(Duration::from_secs(5), |s| s.connections_closed
                == s.connections_accepted),
            "{driver}: {:?}",
            sink.stats()
        );
        let stats = sink.stats();
        assert_eq!(
            (stats.requests_received, stats.requests_answered_2xx),
            (2, 2),
            "{driver}"
        );
        let mut metrics: Vec<String> = sink.totals().into_keys().map(|k| k.metric).collect();
        metrics.dedup();
        series.push(metrics);
    }
    assert!(!series[0].is_empty());
    assert_eq!(series[1], series[0], "superloop");
    assert_eq!(series[2], series[0], "async");
}

#[test]
fn a_driver_that_cannot_do_what_the_configuration_asks_is_refused() {
    let (output, _) = demo(&["--driver", "threads"], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("one of blocking, superloop, async"));
    for driver in ["superloop", "async"] {
        let (output, _) = demo_env(
            &["--driver", driver, "--exports", "1"],
            &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")],
            Duration::from_secs(30),
        );
        let out = text(&output);
        assert_eq!(output.status.code(), Some(2), "{out}");
        assert!(
            out.contains("gzip compression needs the blocking driver"),
            "{out}"
        );
        let (output, _) = demo(
            &["--driver", driver, "--endpoint", "https://127.0.0.1:1"],
            Duration::from_secs(30),
        );
        let out = text(&output);
        assert_eq!(output.status.code(), Some(2), "{out}");
        assert!(
            out.contains("an https endpoint needs the blocking driver"),
            "{out}"
        );
    }
}

/// (metric, attributes, temporality, start, time) of every sum, histogram and exponential
/// histogram point of one request.
type PointTimes = Vec<(String, String, i32, u64, u64)>;

fn point_times(
    request: &opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest,
) -> PointTimes {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let mut out = Vec::new();
    for m in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let attrs = |a: &[opentelemetry_proto::tonic::common::v1::KeyValue]| format!("{a:?}");
        match &m.data {
            Some(Data::Sum(s)) => out.extend(s.data_points.iter().map(|p| {
                let t = s.aggregation_temporality;
                (
                    m.name.clone(),
                    attrs(&p.attributes),
                    t,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                )
            })),
            Some(Data::Histogram(h)) => out.extend(h.data_points.iter().map(|p| {
                let t = h.aggregation_temporality;
                (
                    m.name.clone(),
                    attrs(&p.attributes),
                    t,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                )
            })),
            Some(Data::ExponentialHistogram(h)) => out.extend(h.data_points.iter().map(|p| {
                let t = h.aggregation_temporality;
                (
                    m.name.clone(),
                    attrs(&p.attributes),
                    t,
                    p.start_time_unix_nano,
                    p.time_unix_nano,
                )
            })),
            _ => {}
        }
    }
    out
}

/// Issue 14's check on delta and cumulative runs of the demo against a sink (this test's
/// own, so that it can read every request): every sum and histogram point has
/// 0 < start <= time; a cumulative series keeps one start (sdk.md: "Cumulative timeseries
/// MUST use a consistent start timestamp for all collection intervals"); a delta point
/// starts at the previous collection ("the start timestamp MUST equal the previous
/// collection interval's timestamp"), so delta points of a series never overlap; and the
/// observable counter follows the preference like the rest (otlp.md's table: delta for
/// "Counter, Asynchronous Counter and Histogram").
#[test]
fn delta_and_cumulative_runs_keep_the_start_time_rules() {
    const DELTA: i32 = 1;
    const CUMULATIVE: i32 = 2;
    for (preference, sums) in [("delta", DELTA), ("cumulative", CUMULATIVE)] {
        let sink = otlp_embedded_test_kit::Sink::start().expect("sink starts");
        let (output, _) = demo_env(
            &[
                "--exports",
                "4",
                "--interval-ms",
                "60",
                "--endpoint",
                &sink.base_url(),
            ],
            &[(
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                preference,
            )],
            Duration::from_secs(60),
        );
        let out = text(&output);
        assert_eq!(output.status.code(), Some(0), "{preference}: {out}");
        let requests: Vec<PointTimes> = sink.requests().iter().map(point_times).collect();
        assert_eq!(requests.len(), 4, "{preference}: {out}");
        // Each request is one collection: its points share one time.
        let times: Vec<u64> = requests
            .iter()
            .map(|points| {
                let t = points[0].4;
                assert!(points.iter().all(|p| p.4 == t), "{preference}: {points:?}");
                t
            })
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        let mut cumulative_start: std::collections::BTreeMap<(String, String), u64> =
            Default::default();
        for (r, points) in requests.iter().enumerate() {
            for (name, attrs, temporality, start, time) in points {
                assert!(0 < *start && start <= time, "{preference}: {name} {attrs}");
                if *temporality == CUMULATIVE {
                    let first = cumulative_start
                        .entry((name.clone(), attrs.clone()))
                        .or_insert(*start);
                    assert_eq!(
                        start, first,
                        "{preference}: {name} {attrs} changed its start"
                    );
                } else {
                    assert_eq!(*temporality, DELTA, "{name}");
                    // Every export here succeeds: a delta point starts at the collection
                    // before its own (the first ones at the registry's start).
                    match r.checked_sub(1) {
                        Some(previous) => assert_eq!(*start, times[previous], "{name} {attrs}"),
                        None => assert!(*start < *time, "{name} {attrs}"),
                    }
                }
            }
        }
        for r in &requests {
            let ticks: Vec<_> = r.iter().filter(|p| p.0 == "device.ticks").collect();
            assert_eq!(ticks.len(), 1, "{preference}: {r:?}");
            assert_eq!(ticks[0].2, sums, "{preference}: device.ticks's temporality");
            let requests = r.iter().filter(|p| p.0 == "device.requests");
            assert!(requests.clone().all(|p| p.2 == sums), "{preference}");
        }
    }
}
