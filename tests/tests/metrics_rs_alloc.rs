//! A measurement through the `metrics` facade into an existing series allocates nothing:
//! the macro's `register_*` finds the handle by the hash its `Key` carries, and the
//! handle records with its labels converted on the stack. A counting global allocator
//! around the loop; its own binary (harness = false), so no harness thread allocates
//! while it counts.

use std::sync::Arc;

use otlp_embedded::proto::{MetricsSource, PointValue};
use otlp_embedded::registry::{Producer, Snapshot};
use otlp_embedded_std::metrics_rs::MetricsRecorder;
use otlp_embedded_std::SharedRegistry;
use otlp_embedded_tests::counting::{allocations, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

type Reg = SharedRegistry<8, 64, 48, 8, 256>;

const ROUNDS: u64 = 1000;

/// One round: every macro kind with labels, through the global recorder.
fn round(held: &metrics::Counter) {
    metrics::counter!("requests", "method" => "GET", "code" => "200").increment(1);
    metrics::counter!("requests", "code" => "500", "method" => "POST").increment(2);
    metrics::gauge!("queue", "name" => "jobs").increment(1.0);
    metrics::gauge!("queue", "name" => "jobs").decrement(0.5);
    metrics::gauge!("temperature").set(21.0);
    metrics::histogram!("latency", "route" => "/a").record(3.0);
    // Beyond the cardinality limit (2): into the overflow series, still no allocation.
    metrics::counter!("requests", "method" => "PUT").increment(1);
    held.increment(1);
}

fn main() {
    let registry: Arc<Reg> = Arc::new(SharedRegistry::new(0));
    let recorder = MetricsRecorder::builder(Arc::clone(&registry))
        .max_series(2)
        .max_histogram_series(2)
        .build();
    let stats = recorder.stats_handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this binary");
    let held = metrics::counter!("held", "k" => "v");
    // First uses: instruments declared, handles made (these allocate).
    round(&held);

    let before = allocations();
    for _ in 1..ROUNDS {
        round(&held);
    }
    let during = allocations() - before;

    let mut snapshot = Box::new(Snapshot::new());
    Producer::collect(&mut &*registry, &mut snapshot, 1);
    let mut sums = Vec::new();
    for m in 0..snapshot.metric_count() {
        let name = snapshot.metric(m).name;
        for p in 0..snapshot.point_count(m) {
            let point = snapshot.point(m, p);
            let value = match point.value {
                PointValue::Int(v) => v as f64,
                PointValue::Double(v) => v,
                PointValue::Histogram(h) => h.count as f64,
                other => panic!("{other:?}"),
            };
            sums.push((name.to_string(), value));
        }
    }
    sums.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let r = ROUNDS as f64;
    let expected = vec![
        ("held".to_string(), r),
        ("latency".to_string(), r),
        ("queue".to_string(), 0.5 * r),
        ("requests".to_string(), r),
        ("requests".to_string(), r), // the overflow series: PUT
        ("requests".to_string(), 2.0 * r),
        ("temperature".to_string(), 21.0),
    ];
    assert_eq!(sums, expected);
    let s = stats.get();
    assert_eq!(
        (s.series_overflowed, s.handles_uncached),
        (ROUNDS, 0),
        "{s}"
    );
    assert_eq!(s.instruments, 5, "{s}");
    println!(
        "metrics_rs_alloc: {during} allocations in {} measurements through existing series",
        (ROUNDS - 1) * 8
    );
    assert_eq!(during, 0, "measurements into existing series allocated");
}
