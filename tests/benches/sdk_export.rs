//! One `export` of a collected 500-point `ResourceMetrics` (tests/src/sdk.rs: 250 counter
//! series, 100 histograms, 150 gauges; 80 KB of protobuf), in one run:
//!
//! - `otlp-embedded-std`: the SDK bridge (feature `sdk`): encode in place into its
//!   buffer, open a connection, write, read the whole response, close;
//! - `opentelemetry-otlp`: its HTTP exporter with its default client (reqwest's blocking
//!   one, which pools keep-alive connections): transform into prost messages, encode,
//!   send on the pooled connection.
//!
//! Each to its own instance of a minimal answering server on 127.0.0.1
//! (tests/src/answering.rs): it decodes nothing, so the rows measure the clients, and it
//! accepts and answers on one thread, so that one server thread wakes per request for
//! either client (a thread spawned per connection would charge the client that connects
//! per request for the server's thread start). Each row is timed from its second call
//! (one export each first, checked). `sdk_collect` is the SDK's own `collect` of the same
//! 500 series, which runs before either exporter in a real pipeline.
//!
//! `cargo bench -p otlp-embedded-tests --bench sdk_export -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use otlp_embedded::export::ExportOutcome;
use otlp_embedded_std::config::Config;
use otlp_embedded_tests::answering::AnsweringServer;
use otlp_embedded_tests::sdk::{block_on, five_hundred_points, five_hundred_series};

fn sdk_export(c: &mut Criterion) {
    let metrics = five_hundred_points(Temporality::Cumulative);
    let our_server = AnsweringServer::sequential();
    // Its pooled keep-alive connection is served until the exporter drops it.
    let their_server = AnsweringServer::sequential();
    let url = our_server.endpoint_url();

    let config = Config::from_lookup(|name| {
        (name == "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").then(|| url.clone())
    })
    .unwrap();
    // Room for the batch in one request, as opentelemetry-otlp sends it.
    let ours = otlp_embedded_std::sdk::MetricExporter::builder()
        .with_config(config)
        .with_buffer_size(128 * 1024)
        .build()
        .unwrap();
    let theirs = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_endpoint(their_server.endpoint_url())
        .build()
        .unwrap();

    // The first call of each, checked: one request each, the whole batch.
    block_on(ours.export(&metrics)).unwrap();
    let report = ours.stats().last_report().unwrap();
    assert_eq!(
        (report.outcome, report.points_sent, report.requests),
        (ExportOutcome::Success, 500, 1)
    );
    let ours_bytes = our_server.counts().body_bytes.load(Ordering::Relaxed);
    block_on(theirs.export(&metrics)).unwrap();
    let counts = their_server.counts();
    assert_eq!(counts.requests.load(Ordering::Relaxed), 1);
    let theirs_bytes = counts.body_bytes.load(Ordering::Relaxed);
    assert_eq!(ours_bytes, theirs_bytes, "the same request body size");

    let mut group = c.benchmark_group("sdk_export_500_points");
    group.throughput(Throughput::Elements(500));
    group.bench_function("otlp-embedded-std", |b| {
        b.iter(|| block_on(ours.export(black_box(&metrics))).unwrap())
    });
    group.bench_function("opentelemetry-otlp", |b| {
        b.iter(|| block_on(theirs.export(black_box(&metrics))).unwrap())
    });
    let floor_server = AnsweringServer::sequential();
    let floor_addr = floor_server
        .endpoint_url()
        .trim_start_matches("http://")
        .trim_end_matches("/v1/metrics")
        .to_string();
    let body = vec![0u8; usize::try_from(ours_bytes).unwrap()];
    let head = format!(
        "POST /v1/metrics HTTP/1.1\r\nHost: {floor_addr}\r\n\
         Content-Type: application/x-protobuf\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let mut answer = [0u8; 1024];
    let mut bare_request = || {
        let mut stream = TcpStream::connect(&floor_addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        let mut read = 0;
        loop {
            match stream.read(&mut answer[read..]).unwrap() {
                0 => break,
                n => read += n,
            }
        }
        answer[..read].starts_with(b"HTTP/1.1 200 ")
    };
    assert!(bare_request(), "the bare request was answered 200");
    group.bench_function("loopback floor", |b| b.iter(|| black_box(bare_request())));
    group.finish();
    assert_eq!(ours.stats().totals().exports_failed, 0);
    assert_eq!(
        floor_server.counts().body_bytes.load(Ordering::Relaxed) % ours_bytes,
        0,
        "every bare request carried the whole body"
    );

    let (reader, _provider) = five_hundred_series(Temporality::Cumulative);
    c.bench_function("sdk_collect_500_points", |b| {
        b.iter(|| black_box(reader.collect()))
    });
}

criterion_group!(benches, sdk_export);
criterion_main!(benches);
