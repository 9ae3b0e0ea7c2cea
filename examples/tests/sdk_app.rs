//! Runs the built sdk_app binary as a user would, with no OTEL_* variables leaking in from
//! the environment, and checks its exit status and what it printed: both exporters against
//! the in-process sink, an unreachable collector, usage errors.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs sdk_app with `args` and the variables `env`, killing it if it has not ended
/// within `limit`.
fn sdk_app(args: &[&str], env: &[(&str, &str)], limit: Duration) -> (Output, Duration) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sdk_app"));
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
    let mut child = command.spawn().expect("sdk_app starts");
    // Bounded wait: poll until it exits or the limit passes, then kill it.
    while child.try_wait().expect("wait on sdk_app").is_none() {
        if started.elapsed() > limit {
            child.kill().expect("kill sdk_app");
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("sdk_app output");
    (output, started.elapsed())
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn export_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("export ")).collect()
}

#[test]
fn the_bridge_exports_to_the_in_process_sink() {
    let (output, _) = sdk_app(
        &["--exports", "4", "--interval-ms", "100"],
        &[],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    let lines = export_lines(&out);
    assert_eq!(lines.len(), 4, "{out}");
    for (n, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("export {}/4: ok ", n + 1)),
            "{line}"
        );
        // The bridge's own account: every point sent in one request, no retry.
        assert!(line.contains("requests 1  retries 0"), "{line}");
    }
    assert!(
        out.contains("exporter totals: 4 ok, 0 failed, 0 retries, 4 requests delivered"),
        "{out}"
    );
    assert!(
        out.contains("sink: 4 requests read, 4 acknowledged, 0 duplicates, 4 connections"),
        "{out}"
    );
    assert!(
        out.contains("verified: the sink's request counts equal those recorded"),
        "{out}"
    );
}

#[test]
fn opentelemetry_otlp_exports_to_the_in_process_sink() {
    let (output, _) = sdk_app(
        &[
            "--exporter",
            "otlp",
            "--exports",
            "3",
            "--interval-ms",
            "100",
        ],
        &[],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    let lines = export_lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines.iter().all(|l| l.contains(": ok ")), "{out}");
    assert!(out.contains("through opentelemetry-otlp"), "{out}");
    assert!(
        out.contains("verified: the sink's request counts equal those recorded"),
        "{out}"
    );
}

#[test]
fn an_unreachable_collector_fails_each_export_by_its_timeout() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let (output, took) = sdk_app(
        &[
            "--exports",
            "2",
            "--interval-ms",
            "50",
            "--endpoint",
            &endpoint,
        ],
        &[("OTEL_EXPORTER_OTLP_TIMEOUT", "400")],
        Duration::from_secs(60),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    // Each export outlasts the 50 ms interval, so the reader may start one more before the
    // shutdown's: 2 or 3 exports, every one of them printed, in order, and counted.
    let lines = export_lines(&out);
    assert!(matches!(lines.len(), 2 | 3), "{out}");
    for (n, line) in lines.iter().enumerate() {
        assert!(line.starts_with(&format!("export {}/2: ", n + 1)), "{out}");
        assert!(
            line.contains("FAILED") && line.contains("timed out"),
            "{out}"
        );
    }
    assert!(
        out.contains(&format!("exporter totals: 0 ok, {} failed", lines.len())),
        "{out}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--exports", "0"][..],
        &["--interval-ms", "0"],
        &["--exporter", "grpc"],
        &["--endpoint", "ftp://collector"],
        &["--frobnicate"],
    ] {
        let (output, _) = sdk_app(args, &[], Duration::from_secs(30));
        let out = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {out}");
        assert!(out.starts_with("sdk_app: "), "{args:?}: {out}");
    }
    let (output, _) = sdk_app(&["--help"], &[], Duration::from_secs(30));
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output).contains("--exporter NAME"));
}
