//! Recording, binding, collecting and settling allocate nothing: a counting global
//! allocator around the whole path. Its own binary (harness = false), so no test-harness
//! thread allocates while we count.

mod registry_cs;

use otlp_embedded_tests::counting::{allocations, CountingAllocator};

use otlp_embedded::proto::{AttributeValue, KeyValue, MetricsSource, Temporality};
use otlp_embedded::registry::{
    CsRegistry, InstrumentDesc, NumberKind, Observe, Producer, Registry, Settlement, Snapshot,
};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

type Reg = Registry<8, 64, 34, 16, 1024>;
type Snap = Snapshot<8, 64, 34, 16, 1024>;

static SHARED: CsRegistry<8, 64, 34, 16, 1024> = CsRegistry::new(0);
static mut SNAPSHOT: Snap = Snap::new();

fn observe(o: &mut dyn Observe) {
    o.observe(3i64.into(), &[KeyValue::new("cpu", AttributeValue::Int(0))]);
}

fn declare(declare: &mut dyn FnMut(InstrumentDesc)) {
    declare(
        InstrumentDesc::counter_u64("c")
            .attributes(&["a", "b", "c"])
            .temporality(Temporality::Delta),
    );
    declare(InstrumentDesc::histogram("h").attributes(&["a", "b", "c"]));
    declare(
        InstrumentDesc::exponential_histogram("e")
            .exponential_limits(8, 20)
            .max_series(2),
    );
    declare(InstrumentDesc::gauge_f64("g"));
    declare(InstrumentDesc::observable_gauge("o", NumberKind::Int, observe).attributes(&["cpu"]));
}

fn main() {
    let mut reg = Box::new(Reg::new(0));
    let mut snap = Box::new(Snap::new());
    let mut ids = Vec::new();
    declare(&mut |d| ids.push(reg.declare(d).unwrap()));
    let mut shared_ids = Vec::new();
    declare(&mut |d| shared_ids.push(SHARED.declare(d).unwrap()));
    let attrs = [
        KeyValue::new("a", AttributeValue::Str("GET")),
        KeyValue::new("b", AttributeValue::Int(200)),
        KeyValue::new("c", AttributeValue::Bool(true)),
    ];
    let reordered = [attrs[2], attrs[0], attrs[1]];
    // SAFETY: main is the only thread touching SNAPSHOT.
    let shared_snap = unsafe { &mut *std::ptr::addr_of_mut!(SNAPSHOT) };

    let before = allocations();
    let mut points = 0;
    for round in 0..100u64 {
        reg.record(ids[0], round, &attrs).unwrap();
        reg.record(ids[0], 1u64, &reordered).unwrap();
        reg.record(ids[1], round as f64, &reordered).unwrap();
        reg.record(ids[2], 1.0 + round as f64 * 1000.0, &[])
            .unwrap();
        reg.record(ids[2], -(round as f64), &[]).unwrap();
        reg.record(ids[3], 0.5, &[]).unwrap();
        let b = reg.bind(ids[0], &[attrs[1]]).unwrap();
        reg.record_bound(b, 2u64).unwrap();
        reg.collect(&mut snap, round * 10 + 1);
        points += snap.total_points();
        for m in 0..snap.metric_count() {
            for p in 0..snap.point_count(m) {
                let _ = snap.point(m, p);
                for i in 0..snap.attribute_count(m, p) {
                    let _ = snap.attribute(m, p, i);
                }
            }
        }
        let how = if round % 3 == 0 {
            Settlement::Abandoned
        } else {
            Settlement::Delivered
        };
        reg.settle(&snap, snap.full_span(), how);

        SHARED.record(shared_ids[0], round, &attrs).unwrap();
        SHARED.record(shared_ids[1], 3.5, &attrs).unwrap();
        let mut producer = &SHARED;
        producer.collect(shared_snap, round * 10 + 1);
        points += shared_snap.total_points();
        producer.settle(shared_snap, shared_snap.full_span(), Settlement::Delivered);
    }
    let counted = allocations() - before;
    assert!(points >= 100 * 6, "the loop exported points ({points})");
    assert_eq!(counted, 0, "allocations while recording and collecting");
    println!("registry_alloc: {points} points collected, 0 allocations");
}
