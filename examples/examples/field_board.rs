//! A board in the field reaching a hosted collector, run on this machine.
//!
//! The board's `#![no_std]` code (`examples/field-board`: smoltcp, a DNS resolver, the
//! firmware TLS client with P-384 and RSA, core's exporter) exports to
//! `https://otlp.collector.test/v1/metrics` over a TAP device into a network namespace
//! that this program creates. There dnsmasq resolves the name, nginx terminates TLS with
//! a public-CA-shaped chain, and the test kit's sink behind it decodes what arrives:
//! two exports to an RSA-4096 -> RSA-2048 -> P-256 chain, one while the collector is down
//! (its data kept), three to a P-384 -> P-384 -> P-256 chain (ISRG Root X2's shape). The
//! board trusts both roots. At the end it compares the sink's totals with what the board
//! recorded.
//!
//! Needs root (the namespace, the TAP device, port 53 and 443 in it), `ip`, `dnsmasq`,
//! `nginx` and `openssl` (Debian: `apt-get install -y iproute2 dnsmasq-base nginx-light
//! openssl`):
//!
//! ```sh
//! cargo run -p otlp-embedded-examples --example field_board
//! ```
//!
//! Exit status 0 when every export did what the schedule says and the totals match, 1
//! otherwise, 2 when something it needs is missing. Nothing leaves the namespace; it is
//! deleted, and every process started in it ended, on every path.

use std::process::ExitCode;
use std::time::Duration;

use otlp_embedded::export::ExportOutcome;
use otlp_embedded_field_board::host::{self, SCHEDULE};
use otlp_embedded_field_board::SENSORS;
use otlp_embedded_test_kit::netns::{self, Namespace};

fn main() -> ExitCode {
    if netns::in_child() {
        return in_the_field();
    }
    let missing = host::prerequisites();
    if !missing.is_empty() {
        for (why, _) in missing {
            eprintln!("field_board: {why}");
        }
        return ExitCode::from(2);
    }
    let ns = match Namespace::create("example") {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("field_board: {why}");
            return ExitCode::from(2);
        }
    };
    println!(
        "field_board: network namespace {} with tap0 ({} on the Linux side)",
        ns.name(),
        netns::KERNEL_IP
    );
    match netns::run_self_in(ns, &[], Duration::from_secs(120)) {
        Ok(output) => {
            print!("{}", output.stdout);
            eprint!("{}", output.stderr);
            if output.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(why) => {
            eprintln!("field_board: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Inside the namespace: run the schedule, then compare the sink's totals with the board's.
fn in_the_field() -> ExitCode {
    let run = host::run(&SCHEDULE, |line| println!("{line}"));
    let as_planned = run.exports.iter().all(|e| {
        let expected = match e.collector {
            Some(_) => ExportOutcome::Success,
            None => ExportOutcome::Failed,
        };
        e.report.outcome == expected
    });
    let sink = run.field.sink();
    let mut rows = Vec::new();
    for sensor in SENSORS {
        let decoded = sink.total("board.readings", &[("sensor", sensor)]);
        rows.push((
            format!("board.readings sensor={sensor}"),
            format!("{}", run.recorded.readings[sensor]),
            decoded.map_or("-".into(), |t| format!("{}", t.value_sum)),
        ));
    }
    let recorded = &run.recorded;
    let decoded = sink.total("board.loop.duration", &[]);
    rows.push((
        "board.loop.duration count, sum, buckets".into(),
        format!(
            "{}, {}, {:?}",
            recorded.loop_count, recorded.loop_sum, recorded.loop_buckets
        ),
        decoded.map_or("-".into(), |t| {
            format!(
                "{}, {}, {:?}",
                t.histogram_count, t.histogram_sum, t.bucket_counts
            )
        }),
    ));
    println!();
    println!("{:<42} {:<24} decoded by the sink", "series", "recorded");
    for (series, recorded, decoded) in &rows {
        println!("{series:<42} {recorded:<24} {decoded}");
    }
    let totals_match = rows.iter().all(|(_, r, d)| r == d);
    println!();
    if as_planned && totals_match {
        println!("verified: every export went as planned; the sink's totals equal what the board recorded");
        ExitCode::SUCCESS
    } else {
        println!("NOT verified: exports as planned {as_planned}, totals match {totals_match}");
        ExitCode::FAILURE
    }
}
