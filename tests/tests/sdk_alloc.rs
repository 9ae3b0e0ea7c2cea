//! Zero heap allocations per export through the SDK bridge: from the second export on
//! (the first grows the reused index to the batch), exporting a collected 500-point
//! `ResourceMetrics` to a loopback server allocates nothing: no intermediate messages, no
//! request or response buffers, no pooled connection state. Its own binary
//! (`harness = false`): the counter sees every thread, and the server here is one that
//! allocates nothing once running.

use std::sync::atomic::Ordering;

use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use otlp_embedded::export::ExportOutcome;
use otlp_embedded_std::config::Config;
use otlp_embedded_std::sdk::MetricExporter;
use otlp_embedded_tests::answering::AnsweringServer;
use otlp_embedded_tests::counting::{allocations, CountingAllocator};
use otlp_embedded_tests::sdk::{block_on, five_hundred_points};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const EXPORTS: u64 = 20;

fn main() {
    let metrics = five_hundred_points(Temporality::Cumulative);
    let server = AnsweringServer::sequential();
    let endpoint = server.endpoint_url();
    let config = Config::from_lookup(|name| {
        (name == "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").then(|| endpoint.clone())
    })
    .unwrap();
    // Room for the whole batch in one request, as the bench sends it.
    let exporter = MetricExporter::builder()
        .with_config(config)
        .with_buffer_size(128 * 1024)
        .build()
        .unwrap();
    let stats = exporter.stats();

    block_on(exporter.export(&metrics)).unwrap();
    let first = stats.last_report().unwrap();
    assert_eq!(first.points_sent, 500);

    let before = allocations();
    for _ in 0..EXPORTS {
        block_on(exporter.export(&metrics)).unwrap();
    }
    let allocated = allocations() - before;

    let totals = stats.totals();
    assert_eq!(totals.exports_ok, 1 + EXPORTS as u32);
    assert_eq!(totals.points_sent, 500 * (1 + EXPORTS));
    let report = stats.last_report().unwrap();
    assert_eq!(
        (report.outcome, report.requests, report.retries),
        (ExportOutcome::Success, 1, 0)
    );
    // The server read every request whole, on a connection of its own.
    let counts = server.counts();
    assert_eq!(counts.requests.load(Ordering::Relaxed), 1 + EXPORTS);
    assert_eq!(counts.connections.load(Ordering::Relaxed), 1 + EXPORTS);
    assert!(counts.body_bytes.load(Ordering::Relaxed) > 500 * 20 * (1 + EXPORTS));
    println!(
        "sdk_alloc: {allocated} allocations over {EXPORTS} exports of a 500-point batch \
         ({} request bytes each)",
        report.bytes_sent
    );
    assert_eq!(allocated, 0, "allocations during {EXPORTS} exports");
}
