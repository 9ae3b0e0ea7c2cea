//! Encoding allocates nothing: a counting global allocator around whole-batch encoding and
//! splitting. Its own test binary (`harness = false`), so no other test thread allocates.
use otlp_embedded_tests::counting::{allocations, CountingAllocator};

use otlp_embedded::proto::{encode_request, RequestSplitter};
use otlp_embedded_tests::{bench_batch, decode, flatten};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn main() {
    let batch = bench_batch();
    let source = batch.source();
    let mut whole = vec![0u8; 256 * 1024];
    let mut small = vec![0u8; 4 * 1024];
    // Spans and lengths are kept in preallocated storage, checked after counting stops.
    let mut spans = Vec::with_capacity(1024);

    let before = allocations();
    let whole_len = encode_request(&batch.header, &source, &mut whole).map(<[u8]>::len);
    let mut splitter = RequestSplitter::new(batch.header);
    while let Some(result) = splitter.next_request(&source, &mut small) {
        match result {
            Ok(request) => spans.push(Ok((request.span, request.bytes.len()))),
            Err(error) => spans.push(Err(error)),
        }
        if spans.len() == spans.capacity() {
            break;
        }
    }
    let during = allocations() - before;

    assert_eq!(during, 0, "encoding allocated {during} times");
    // What was encoded is real: the whole batch decodes, the split covers every point.
    let whole_len = whole_len.expect("batch fits in 256 KiB");
    let decoded = decode(&whole[whole.len() - whole_len..]);
    assert_eq!(flatten(&decoded).len(), batch.point_count());
    // The counter is live: decoding with prost allocates.
    assert!(allocations() > before, "allocation counter never moved");
    let carried: usize = spans
        .iter()
        .map(|s| s.as_ref().expect("every point fits in 4 KiB").0.points)
        .sum();
    assert_eq!(carried, batch.point_count());
    assert!(spans.len() > 1, "4 KiB should need several requests");
    println!(
        "encode_alloc: 0 allocations encoding {} points whole ({whole_len} bytes) and split into {} requests",
        batch.point_count(),
        spans.len()
    );
}
