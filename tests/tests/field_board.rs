//! A board in the field reaching a hosted collector, end to end on the host: the field
//! example (`otlp-embedded-field-board`, run by `examples/examples/field_board.rs`) with
//! every outcome checked exactly.
//!
//! The test makes a network namespace with a TAP device (the test kit's `netns`) and runs
//! its body again inside it. There the board's `#![no_std]` code exports over smoltcp on
//! the TAP device to `https://otlp.collector.test/v1/metrics`: its DNS resolver asks a
//! real dnsmasq on the kernel side for the name, its TLS client (otlp-embedded-tls with
//! `p384` and `rsa`, trusting an RSA root and a P-384 root, checking dates with the wall
//! clock) verifies the chain a real nginx serves for that name, and nginx passes the
//! request to the test kit's sink, which decodes it. The collector serves an RSA-4096 ->
//! RSA-2048 -> P-256 chain for two exports, is down for one, then serves a P-384 -> P-384
//! -> P-256 chain (ISRG Root X2's shape) for three: the sink's decoded totals must equal
//! what the board recorded, the failed export's data arriving with the next one.
//!
//! Needs root, `/dev/net/tun`, `ip` and dnsmasq (else SKIP, or a failure with
//! `OTLP_REQUIRE_TAP=1`), nginx and openssl (else SKIP, or a failure with
//! `OTLP_REQUIRE_NGINX=1`). Bounded: the child has two minutes, every process it starts is
//! ended by its id, the namespace is deleted on every path.

use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use otlp_embedded::export::{ExportError, ExportErrorKind, ExportOutcome};
use otlp_embedded::transport::{ExchangeError, TransportError};
use otlp_embedded_field_board::host::{self, Chain, SCHEDULE};
use otlp_embedded_field_board::{COLLECTOR_HOST, LOOP_BOUNDS_MS, SENSORS};
use otlp_embedded_test_kit::netns::{self, Namespace};
use otlp_embedded_test_kit::process::go_on_or_skip;
use smoltcp::socket::tcp;

const TEST: &str = "board_exports_by_name_over_tls_to_public_ca_chains";
const CHILD_LIMIT: Duration = Duration::from_secs(120);

#[test]
fn board_exports_by_name_over_tls_to_public_ca_chains() {
    if netns::in_child() {
        in_namespace();
        return;
    }
    for (why, var) in host::prerequisites() {
        if !go_on_or_skip("field board test", Err(why), &[var]) {
            return;
        }
    }
    let ns = match Namespace::create("field") {
        Ok(ns) => ns,
        Err(why) => {
            go_on_or_skip("field board test", Err(why), &["OTLP_REQUIRE_TAP"]);
            return;
        }
    };
    let args = ["--exact", TEST, "--nocapture", "--test-threads=1"];
    netns::run_self_in(ns, &args, CHILD_LIMIT)
        .expect("namespace run")
        .relay_and_expect_done("field: ");
}

/// Points per export: one per sensor, one histogram.
const POINTS: usize = SENSORS.len() + 1;

fn in_namespace() {
    let run = host::run(&SCHEDULE, |line| println!("field: {line}"));
    assert_eq!(run.exports.len(), SCHEDULE.len());
    let down = |e: ExportErrorKind| {
        Some(ExportError {
            request: 0,
            kind: e,
        })
    };
    for (round, export) in run.exports.iter().enumerate() {
        let r = &export.report;
        assert!(
            matches!(
                export.socket_after,
                tcp::State::Closed | tcp::State::TimeWait
            ),
            "export {round}: socket {:?}",
            export.socket_after
        );
        match export.collector {
            Some(_) => {
                assert_eq!(r.outcome, ExportOutcome::Success, "export {round}: {r:?}");
                // The export after the failed one carries its data in the same series.
                assert_eq!(
                    (r.points_collected, r.points_sent),
                    (POINTS, POINTS),
                    "{r:?}"
                );
                assert_eq!((r.points_abandoned, r.points_dropped), (0, 0), "{r:?}");
                assert_eq!((r.requests, r.requests_delivered), (1, 1), "{r:?}");
                assert_eq!((r.retries, r.first_error), (0, None), "{r:?}");
            }
            None => {
                // Refused on every attempt until the export's deadline; nothing sent, the
                // delta data kept.
                let refused = ExportErrorKind::Exchange(ExchangeError::Connect(
                    TransportError::Io(embedded_io::ErrorKind::ConnectionRefused),
                ));
                assert_eq!(r.outcome, ExportOutcome::Failed, "export {round}: {r:?}");
                assert_eq!(r.first_error, down(refused), "{r:?}");
                assert_eq!(
                    r.last_error,
                    down(ExportErrorKind::DeadlineExceeded),
                    "{r:?}"
                );
                assert!(r.retries >= 1, "{r:?}");
                assert_eq!((r.points_sent, r.bytes_sent), (0, 0), "{r:?}");
                assert_eq!((r.points_abandoned, r.points_dropped), (POINTS, 0), "{r:?}");
            }
        }
    }
    let delivered = SCHEDULE.iter().filter(|c| c.is_some()).count() as u64;

    // What the sink decoded equals what the board recorded, exactly.
    let sink = run.field.sink();
    for sensor in SENSORS {
        let total = sink
            .total("board.readings", &[("sensor", sensor)])
            .unwrap_or_else(|| panic!("{sensor} reached the sink"));
        assert_eq!(total.points, delivered, "{sensor}");
        assert_eq!(
            total.value_sum, run.recorded.readings[sensor] as f64,
            "{sensor}"
        );
    }
    let total = sink
        .total("board.loop.duration", &[])
        .expect("the histogram reached the sink");
    assert_eq!(
        (total.points, total.histogram_count, total.histogram_sum),
        (delivered, run.recorded.loop_count, run.recorded.loop_sum)
    );
    assert_eq!(total.bucket_counts, run.recorded.loop_buckets);
    assert_eq!(sink.totals().len(), POINTS, "{:?}", sink.totals());
    let requests = sink.requests();
    assert_eq!(requests.len() as u64, delivered);
    for request in &requests {
        let resource = request.resource_metrics[0]
            .resource
            .as_ref()
            .expect("resource");
        assert_eq!(
            string_attributes(&resource.attributes),
            [
                ("service.name".to_string(), "field-board".to_string()),
                ("device.id".to_string(), host::DEVICE_ID.to_string()),
            ]
        );
        for metric in request.resource_metrics[0].scope_metrics[0].metrics.iter() {
            use opentelemetry_proto::tonic::metrics::v1::metric::Data;
            if let Some(Data::Histogram(h)) = &metric.data {
                assert!(h
                    .data_points
                    .iter()
                    .all(|p| p.explicit_bounds == LOOP_BOUNDS_MS));
            }
        }
    }
    let stats = sink.stats();
    assert_eq!(
        (
            stats.requests_received,
            stats.requests_answered_2xx,
            stats.decode_errors
        ),
        (delivered, delivered, 0),
        "{stats:?}"
    );

    // Each chain's nginx passed on its exports' requests, and nothing else.
    assert_eq!(run.field.passed(Chain::Rsa), 2);
    assert_eq!(run.field.passed(Chain::P384), 3);

    // One lookup for the whole run (TTL 60 s), or two when the first datagram waited for
    // ARP until its resend; the last lookup succeeded.
    let queries = run
        .field
        .dnsmasq()
        .queries(COLLECTOR_HOST, host::BOARD_ADDR.into());
    assert!((1..=2).contains(&queries), "{}", run.field.dnsmasq().log());
    assert_eq!(run.dns_last_error, None);

    println!(
        "field: {} exports, {delivered} delivered through nginx (2 with the RSA chain, 3 with the P-384 chain), {queries} DNS queries; sink totals equal the recorded ones",
        run.exports.len()
    );
    println!("field: done");
}

/// Attributes as (key, string value); a value that is not a string shows as its debug form.
fn string_attributes(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}
