//! Soak: thousands of exports to a sink that closes idle keep-alive connections sooner
//! than the next export comes. With connections that were pooled and reused, every export
//! would meet a stale socket; here none fails, and no file descriptor leaks.
//!
//! A binary of its own with a single test, so that no other test's sockets are counted.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Producer, Snapshot};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_std::periodic::unix_now;
use otlp_embedded_std::{SharedRegistry, StdClock, TcpConnector};
use otlp_embedded_test_kit::sink::{Fault, Sink, SinkOptions};

const EXPORTS: u64 = 2_000;
/// The sink drops an idle connection after this long...
const IDLE_CLOSE: Duration = Duration::from_millis(2);
/// ...and exports come this far apart.
const INTERVAL: Duration = Duration::from_millis(3);
/// Hang guard for the whole soak.
const BUDGET: Duration = Duration::from_secs(50);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn two_thousand_exports_to_an_idle_closing_sink() {
    let started = Instant::now();
    let sink = Sink::start_with(SinkOptions {
        fault: Fault::IdleClose(IDLE_CLOSE),
        idle_timeout: IDLE_CLOSE,
        ..SinkOptions::default()
    })
    .unwrap();
    let registry: SharedRegistry<2, 8, 34, 2, 32> = SharedRegistry::new(unix_now());
    let ticks = registry
        .declare(
            InstrumentDesc::counter_u64("soak.ticks")
                .attributes(&["kind"])
                .max_series(2)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let attrs = [KeyValue::new("kind", AttributeValue::Str("tick"))];

    let resource = [KeyValue::new("service.name", AttributeValue::Str("soak"))];
    let header = RequestHeader::new(Resource::new(&resource), Scope::new("soak"));
    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host: "127.0.0.1",
        port: sink.addr().port(),
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header);
    config.export_timeout_ms = 5_000;
    config.request_timeout_ms = 2_000;
    let clock = StdClock::new();
    let mut exporter = Exporter::new(
        config,
        HttpClient::<_, _>::new(TcpConnector::new(clock), clock),
    );
    let mut snapshot = Box::new(Snapshot::new());
    let mut buffer = vec![0u8; 4096];
    let mut producer = &registry;

    let mut fds_after_first = None;
    let mut recorded = 0u64;
    for i in 0..EXPORTS {
        registry.record(ticks, i + 1, &attrs).unwrap();
        recorded += i + 1;
        let report = exporter.export(
            &mut producer,
            &mut snapshot,
            &mut buffer,
            &clock,
            unix_now(),
            otlp_embedded_std::Sleep,
        );
        assert_eq!(
            report.outcome,
            ExportOutcome::Success,
            "export {i}: {report:?}"
        );
        assert_eq!((report.retries, report.points_sent), (0, 1), "export {i}");
        if i == 0 {
            // Let the sink's side of the first connection go before counting.
            sink.wait_for(Duration::from_secs(2), |s| {
                s.connections_closed == s.connections_accepted
            });
            fds_after_first = Some(open_fds());
        }
        assert!(started.elapsed() < BUDGET, "hang guard: {i} exports so far");
        std::thread::sleep(INTERVAL);
    }
    let elapsed = started.elapsed();

    assert!(sink.wait_for(Duration::from_secs(5), |s| {
        s.connections_closed == s.connections_accepted
    }));
    let stats = exporter.stats();
    assert_eq!(
        (stats.exports_ok, stats.exports_failed, stats.retries),
        (EXPORTS as u32, 0, 0)
    );
    let sink_stats = sink.stats();
    assert_eq!(sink_stats.connections_accepted, EXPORTS);
    assert_eq!(sink_stats.requests_received, EXPORTS);
    assert_eq!(sink_stats.requests_answered_2xx, EXPORTS);
    assert!(sink_stats.requests_per_connection.iter().all(|&n| n == 1));
    let total = sink.total("soak.ticks", &[("kind", "tick")]).unwrap();
    assert_eq!(total.points, EXPORTS);
    assert_eq!(total.value_sum, recorded as f64);
    // Everything delivered was committed.
    let mut rest = Box::new(Snapshot::new());
    producer.collect(&mut rest, unix_now());
    assert_eq!(rest.total_points(), 0);
    assert_eq!(Some(open_fds()), fds_after_first, "file descriptors leaked");
    println!(
        "soak: {EXPORTS} exports, 0 failed, {} connections, in {elapsed:?}",
        sink_stats.connections_accepted
    );
}
