//! Encodes the encode bench's batch (10 metrics, 500 points) in a loop, for instruction
//! counts that load on the machine does not change:
//!
//! ```sh
//! cargo build --release -p otlp-embedded-tests --example encode_loop
//! for n in 1000 2000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/encode_loop whole $n 2>&1 | grep Collected
//! done
//! ```
//!
//! The difference of the two totals divided by 1,000 is the cost of one encoding of the
//! batch, loop included. Operations: `whole` (one request, as `encode_request`) and
//! `split` (16 KiB requests from a `RequestSplitter`, as the bench's split row).

use std::hint::black_box;
use std::process::ExitCode;

use otlp_embedded::proto::{encode_request, RequestSplitter};
use otlp_embedded_tests::bench_batch;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(op), Some(Ok(n))) = (args.get(1), args.get(2).map(|n| n.parse::<u64>())) else {
        eprintln!("usage: encode_loop <whole|split> <count>");
        return ExitCode::from(2);
    };
    let batch = bench_batch();
    let source = batch.source();
    let header = batch.header;
    let mut buf = vec![0u8; 256 * 1024];
    let mut split_buf = vec![0u8; 16 * 1024];
    let mut total = 0usize;
    for _ in 0..n {
        match op.as_str() {
            "whole" => {
                let Ok(bytes) = encode_request(black_box(&header), black_box(&source), &mut buf)
                else {
                    eprintln!("the batch does not fit");
                    return ExitCode::FAILURE;
                };
                total += bytes.len();
            }
            "split" => {
                let mut splitter = RequestSplitter::new(black_box(header));
                while let Some(request) = splitter.next_request(black_box(&source), &mut split_buf)
                {
                    let Ok(request) = request else {
                        eprintln!("a point does not fit");
                        return ExitCode::FAILURE;
                    };
                    total += request.bytes.len();
                }
            }
            other => {
                eprintln!("unknown operation {other}");
                return ExitCode::from(2);
            }
        }
    }
    black_box(total);
    ExitCode::SUCCESS
}
