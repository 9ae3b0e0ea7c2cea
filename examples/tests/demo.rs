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
    // reports the failed export.
    let (output, _) = demo_env(
        &[
            "--exports",
            "2",
            "--interval-ms",
            "50",
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
