//! Encoding the benchmark batch (10 metrics: 6 sums, 4 histograms with 10 bounds;
//! 50 points each with 2 attributes): otlp-embedded against prost with opentelemetry-proto,
//! both building-and-encoding and encoding an already built message, in one group.
//!
//! `cargo bench -p otlp-embedded-tests --bench encode -- --warm-up-time 1 --measurement-time 3`
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use otlp_embedded::proto::{encode_request, RequestSplitter};
use otlp_embedded_tests::{assert_same, bench_batch, decode, expected_request, flatten};
use prost::Message;

fn encode(c: &mut Criterion) {
    let batch = bench_batch();
    let source = batch.source();
    let header = batch.header;
    let mut buf = vec![0u8; 256 * 1024];

    // Before timing anything: both encoders produce the same message.
    let ours = encode_request(&header, &source, &mut buf)
        .expect("fits")
        .to_vec();
    let prebuilt = expected_request(&header, &source);
    let reference = prebuilt.encode_to_vec();
    assert_same(&decode(&ours), &decode(&reference));
    assert_eq!(flatten(&decode(&ours)).len(), batch.point_count());
    // Split into 16 KiB requests, every point still carried once.
    let mut split_buf = vec![0u8; 16 * 1024];
    let mut splitter = RequestSplitter::new(header);
    let mut carried = 0;
    while let Some(request) = splitter.next_request(&source, &mut split_buf) {
        let request = request.expect("every point fits");
        assert_eq!(flatten(&decode(request.bytes)).len(), request.span.points);
        carried += request.span.points;
    }
    assert_eq!(carried, batch.point_count());

    let mut group = c.benchmark_group("encode_batch_500_points");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("otlp_embedded", |b| {
        b.iter(|| {
            let bytes = encode_request(black_box(&header), black_box(&source), &mut buf);
            black_box(bytes.map(<[u8]>::len))
        })
    });
    group.bench_function("otlp_embedded_split_16KiB", |b| {
        b.iter(|| {
            let mut splitter = RequestSplitter::new(black_box(header));
            let mut bytes = 0;
            while let Some(Ok(request)) = splitter.next_request(black_box(&source), &mut split_buf)
            {
                bytes += request.bytes.len();
            }
            black_box(bytes)
        })
    });
    group.bench_function("prost_build_and_encode", |b| {
        b.iter(|| expected_request(black_box(&header), black_box(&source)).encode_to_vec())
    });
    let mut out = Vec::with_capacity(reference.len());
    group.bench_function("prost_encode_prebuilt", |b| {
        b.iter(|| {
            out.clear();
            black_box(&prebuilt).encode(&mut out).expect("Vec grows");
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
