//! Runs one registry record operation in a loop, for instruction counts that load on the
//! machine does not change (the registry bench's rows, plus alternating between two series):
//!
//! ```sh
//! cargo build --release -p otlp-embedded-tests --example record_loop
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/record_loop attrs $n 2>&1 | grep Collected
//! done
//! ```
//!
//! The difference of the two totals divided by 100,000 is the cost of one record, loop
//! included. Operations: `attrs`, `reordered`, `alternate`, `none`, `bound`, `hist`, and
//! `undeclared` (the `attrs` set into a counter that declares no keys, so that keys are
//! stored too, in a registry with 64 bytes per series).

use std::hint::black_box;
use std::process::ExitCode;

use otlp_embedded::proto::{AttributeValue, KeyValue};
use otlp_embedded::registry::{InstrumentDesc, Registry};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(op), Some(Ok(n))) = (args.get(1), args.get(2).map(|n| n.parse::<u64>())) else {
        eprintln!(
            "usage: record_loop <attrs|reordered|alternate|none|bound|hist|undeclared> <count>"
        );
        return ExitCode::from(2);
    };
    // The same registry and series as tests/benches/registry.rs.
    let mut reg: Box<Registry<4, 64, 40, 17, 1024>> = Box::new(Registry::new(0));
    let declared = reg
        .declare(
            InstrumentDesc::counter_u64("requests")
                .attributes(&["method", "route", "status"])
                .max_series(16),
        )
        .and_then(|c| {
            let plain = reg.declare(InstrumentDesc::counter_u64("plain").max_series(1))?;
            let hist = reg.declare(
                InstrumentDesc::histogram("latency")
                    .attributes(&["method", "route", "status"])
                    .max_series(16),
            )?;
            Ok((c, plain, hist))
        });
    let Ok((counter, plain, hist)) = declared else {
        eprintln!("declare failed: {declared:?}");
        return ExitCode::FAILURE;
    };
    let attrs = [
        KeyValue::new("method", AttributeValue::Str("GET")),
        KeyValue::new("route", AttributeValue::Str("/api/v1/items")),
        KeyValue::new("status", AttributeValue::Int(200)),
    ];
    let reordered = [attrs[2], attrs[0], attrs[1]];
    let not_found = [
        attrs[0],
        attrs[1],
        KeyValue::new("status", AttributeValue::Int(404)),
    ];
    for i in 0..8 {
        let other = [
            KeyValue::new("method", AttributeValue::Str("PUT")),
            KeyValue::new("status", AttributeValue::Int(400 + i)),
        ];
        let _ = reg.record(counter, 1u64, &other);
        let _ = reg.record(hist, 1.0, &other);
    }
    let _ = reg.record(counter, 1u64, &attrs);
    let Ok(bound) = reg.bind(counter, &attrs) else {
        return ExitCode::FAILURE;
    };
    let mut open_reg: Box<Registry<1, 17, 64, 1, 1>> = Box::new(Registry::new(0));
    let Ok(open) = open_reg.declare(InstrumentDesc::counter_u64("requests").max_series(16)) else {
        return ExitCode::FAILURE;
    };
    for i in 0..8 {
        let other = [
            KeyValue::new("method", AttributeValue::Str("PUT")),
            KeyValue::new("status", AttributeValue::Int(400 + i)),
        ];
        let _ = open_reg.record(open, 1u64, &other);
    }
    let mut failed = 0u64;
    for k in 0..n {
        let result = match op.as_str() {
            "attrs" => reg.record(counter, black_box(1u64), black_box(&attrs)),
            "reordered" => reg.record(counter, black_box(1u64), black_box(&reordered)),
            "alternate" => {
                let set = if k % 2 == 0 { &attrs } else { &not_found };
                reg.record(counter, black_box(1u64), black_box(set))
            }
            "none" => reg.record(plain, black_box(1u64), black_box(&[])),
            "bound" => reg.record_bound(black_box(bound), black_box(1u64)),
            "hist" => reg.record(hist, black_box(42.0), black_box(&attrs)),
            "undeclared" => open_reg.record(open, black_box(1u64), black_box(&attrs)),
            other => {
                eprintln!("unknown operation {other}");
                return ExitCode::from(2);
            }
        };
        failed += u64::from(result.is_err());
    }
    if failed > 0 {
        eprintln!("{failed} records failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
