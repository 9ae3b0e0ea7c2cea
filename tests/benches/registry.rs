//! The registry against opentelemetry_sdk 0.33 (the incumbent), in one run:
//! counter add with 3 attributes on an existing series, the same attributes in another
//! order, no attributes, a pre-bound handle (SDK: `experimental_metrics_bound_instruments`
//! `Counter::bind`), and histogram record with 3 attributes. The no-attribute and bound
//! groups also time the floor: `u64 += v` in memory with `v` hidden from the compiler.
//!
//! A last group records the same three attributes into a counter that declares no keys, so
//! the registry stores keys and values (64 bytes per series): the undeclared-key path.
//!
//! Before measuring it prints memory figures: `size_of` a registry for 8 instruments with
//! 16 series each, bytes per counter series (registry + snapshot) with declared keys and
//! with undeclared keys, and the heap bytes the SDK allocates per new series (counted by
//! this binary's global allocator).
//!
//! `cargo bench -p otlp-embedded-tests --bench registry -- --warm-up-time 1 --measurement-time 3`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue as OtelKeyValue;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use otlp_embedded::proto::{AttributeValue, KeyValue};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};

struct Counting;
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only adds up requested bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.fetch_add(new_size.saturating_sub(layout.size()), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 8 instruments x (16 series + 1 overflow), counters only (one histogram slot and bucket
/// word, the smallest the tables can be).
type Reg8x16 = Registry<8, 136, 34, 1, 1>;
type Snap8x16 = Snapshot<8, 136, 34, 1, 1>;

fn memory_report() {
    let width = usize::BITS;
    let reg = std::mem::size_of::<Reg8x16>();
    let snap = std::mem::size_of::<Snap8x16>();
    // Per series: the difference between tables of 1024 and of 0 series.
    let per_reg = (std::mem::size_of::<Registry<1, 1024, 34, 1, 1>>()
        - std::mem::size_of::<Registry<1, 0, 34, 1, 1>>())
        / 1024;
    let per_snap = (std::mem::size_of::<Snapshot<1, 1024, 34, 1, 1>>()
        - std::mem::size_of::<Snapshot<1, 0, 34, 1, 1>>())
        / 1024;
    println!("memory ({width}-bit host):");
    println!("  Registry<8 instruments, 136 series (8 x (16 + overflow)), K=34>: {reg} bytes");
    println!("  Snapshot of the same: {snap} bytes");
    println!(
        "  per counter series with two <=16-byte string values (K=34): registry {per_reg} + snapshot {per_snap} = {} bytes",
        per_reg + per_snap
    );
    let per_reg_open = (std::mem::size_of::<Registry<1, 1024, 64, 1, 1>>()
        - std::mem::size_of::<Registry<1, 0, 64, 1, 1>>())
        / 1024;
    let per_snap_open = (std::mem::size_of::<Snapshot<1, 1024, 64, 1, 1>>()
        - std::mem::size_of::<Snapshot<1, 0, 64, 1, 1>>())
        / 1024;
    println!(
        "  per counter series with undeclared keys, K=64 (e.g. method=GET, route=/api/v1/items, status=200: 47 bytes): registry {per_reg_open} + snapshot {per_snap_open} = {} bytes",
        per_reg_open + per_snap_open
    );

    // The SDK: heap bytes per new series.
    let reader = ManualReader::builder().build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    let counter = provider.meter("bench").u64_counter("c").build();
    let names: Vec<String> = (0..1000).map(|i| format!("value-{i:05}")).collect();
    // Warm the instrument up with one series so one-off allocations are not counted.
    counter.add(
        1,
        &[
            OtelKeyValue::new("a", "warm"),
            OtelKeyValue::new("b", "warm"),
        ],
    );
    let mut total = 0;
    for n in &names {
        let attrs = [
            OtelKeyValue::new("a", n.clone()),
            OtelKeyValue::new("b", "b-value-0001"),
        ];
        let before = BYTES.load(Ordering::Relaxed);
        counter.add(1, &attrs);
        total += BYTES.load(Ordering::Relaxed) - before;
    }
    println!(
        "  opentelemetry_sdk 0.33: {} heap bytes per new counter series with two string attributes (mean of 1000; table growth included)",
        total / names.len()
    );
}

fn bench(c: &mut Criterion) {
    memory_report();

    let mut reg: Box<Registry<4, 64, 40, 17, 1024>> = Box::new(Registry::new(0));
    let counter = reg
        .declare(
            InstrumentDesc::counter_u64("requests")
                .attributes(&["method", "route", "status"])
                .max_series(16),
        )
        .unwrap();
    let plain = reg
        .declare(InstrumentDesc::counter_u64("plain").max_series(1))
        .unwrap();
    let hist = reg
        .declare(
            InstrumentDesc::histogram("latency")
                .attributes(&["method", "route", "status"])
                .max_series(16),
        )
        .unwrap();
    let attrs = [
        KeyValue::new("method", AttributeValue::Str("GET")),
        KeyValue::new("route", AttributeValue::Str("/api/v1/items")),
        KeyValue::new("status", AttributeValue::Int(200)),
    ];
    let reordered = [attrs[2], attrs[0], attrs[1]];
    // A few other series in the table, so lookups are not trivially on an empty table.
    for i in 0..8 {
        let other = [
            KeyValue::new("method", AttributeValue::Str("PUT")),
            KeyValue::new("status", AttributeValue::Int(400 + i)),
        ];
        reg.record(counter, 1u64, &other).unwrap();
        reg.record(hist, 1.0, &other).unwrap();
    }
    reg.record(counter, 1u64, &attrs).unwrap();
    let bound = reg.bind(counter, &attrs).unwrap();

    let provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let meter = provider.meter("bench");
    let otel_counter = meter.u64_counter("requests").build();
    let otel_plain = meter.u64_counter("plain").build();
    let otel_hist = meter.f64_histogram("latency").build();
    let otel_attrs = [
        OtelKeyValue::new("method", "GET"),
        OtelKeyValue::new("route", "/api/v1/items"),
        OtelKeyValue::new("status", 200i64),
    ];
    let otel_reordered = [
        otel_attrs[2].clone(),
        otel_attrs[0].clone(),
        otel_attrs[1].clone(),
    ];
    otel_counter.add(1, &otel_attrs);
    otel_hist.record(1.0, &otel_attrs);
    let otel_bound = otel_counter.bind(&otel_attrs);

    let mut g = c.benchmark_group("counter_add_3_attrs");
    g.bench_function("otlp-embedded", |b| {
        b.iter(|| reg.record(counter, black_box(1u64), black_box(&attrs)))
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| otel_counter.add(black_box(1), black_box(&otel_attrs)))
    });
    g.finish();

    let mut g = c.benchmark_group("counter_add_3_attrs_reordered");
    g.bench_function("otlp-embedded", |b| {
        b.iter(|| reg.record(counter, black_box(1u64), black_box(&reordered)))
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| otel_counter.add(black_box(1), black_box(&otel_reordered)))
    });
    g.finish();

    // The floor for the next two rows: adding a value the compiler cannot see to a u64 in
    // memory at an index it cannot see (as a handle's). Every recorder does at least this per
    // call; each call's add depends on the previous call's store, so the CPU's
    // store-to-load forwarding latency bounds it.
    let mut floor_cells = [0u64; 4];
    let mut add_to_memory = |index: usize, v: u64| {
        if let Some(c) = floor_cells.get_mut(index) {
            *c = c.wrapping_add(v);
        }
    };
    let mut g = c.benchmark_group("counter_add_no_attrs");
    g.bench_function("otlp-embedded", |b| {
        b.iter(|| reg.record(plain, black_box(1u64), black_box(&[])))
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| otel_plain.add(black_box(1), black_box(&[])))
    });
    g.bench_function("floor: u64 += v in memory", |b| {
        b.iter(|| add_to_memory(black_box(1), black_box(1u64)))
    });
    g.finish();

    let mut g = c.benchmark_group("counter_add_bound");
    g.bench_function("otlp-embedded", |b| {
        b.iter(|| reg.record_bound(black_box(bound), black_box(1u64)))
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| otel_bound.add(black_box(1)))
    });
    g.bench_function("floor: u64 += v in memory", |b| {
        b.iter(|| add_to_memory(black_box(1), black_box(1u64)))
    });
    g.finish();
    black_box(floor_cells);

    let mut g = c.benchmark_group("histogram_record_3_attrs");
    g.bench_function("otlp-embedded", |b| {
        b.iter(|| reg.record(hist, black_box(42.0), black_box(&attrs)))
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| otel_hist.record(black_box(42.0), black_box(&otel_attrs)))
    });
    g.finish();

    // No declared keys: keys and values stored per series (the SDK has no declared keys
    // at all, so its figure is the same call as in the first group).
    let mut open_reg: Box<Registry<1, 17, 64, 1, 1>> = Box::new(Registry::new(0));
    let open = open_reg
        .declare(InstrumentDesc::counter_u64("requests").max_series(16))
        .unwrap();
    for i in 0..8 {
        let other = [
            KeyValue::new("method", AttributeValue::Str("PUT")),
            KeyValue::new("status", AttributeValue::Int(400 + i)),
        ];
        open_reg.record(open, 1u64, &other).unwrap();
    }
    open_reg.record(open, 1u64, &attrs).unwrap();
    assert_eq!(
        open_reg.stats(open).unwrap().series,
        9,
        "every set has its series"
    );
    let mut g = c.benchmark_group("counter_add_3_attrs_undeclared_keys");
    g.bench_function("otlp-embedded", |b| {
        b.iter(|| open_reg.record(open, black_box(1u64), black_box(&attrs)))
    });
    g.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| otel_counter.add(black_box(1), black_box(&otel_attrs)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
