//! `SharedRegistry`: threads record while collects and settles run; every measurement is
//! either committed by a settle or still pending, never lost or doubled; a callback that
//! records into its own registry gets `Busy` instead of a deadlock.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use otlp_embedded::proto::{AttributeValue, KeyValue, MetricsSource, PointValue, Temporality};
use otlp_embedded::registry::{
    Instrument, InstrumentDesc, NumberKind, Observe, Producer, RecordError, Settlement, Snapshot,
};
use otlp_embedded_std::SharedRegistry;

type Reg = SharedRegistry<4, 32, 34, 8, 256>;
type Snap = Snapshot<4, 32, 34, 8, 256>;

/// Sum of the integer points of `snapshot`.
fn int_sum(snapshot: &Snap) -> u64 {
    let mut sum = 0;
    for m in 0..snapshot.metric_count() {
        for p in 0..snapshot.point_count(m) {
            if let PointValue::Int(v) = snapshot.point(m, p).value {
                sum += v as u64;
            }
        }
    }
    sum
}

#[test]
fn threads_record_while_collect_and_settle_run() {
    let registry = Arc::new(Reg::new(1));
    let counter = registry
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["t"])
                .max_series(8)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2_000;
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = Arc::clone(&registry);
            std::thread::spawn(move || {
                let name = ["a", "b", "c", "d"][t as usize];
                let attrs = [KeyValue::new("t", AttributeValue::Str(name))];
                let bound = registry.bind(counter, &attrs).unwrap();
                for i in 0..PER_THREAD {
                    // Half through the lookup path, half through the bound handle.
                    if i % 2 == 0 {
                        registry.record(counter, i + 1, &attrs).unwrap();
                    } else {
                        registry.record_bound(bound, i + 1).unwrap();
                    }
                }
            })
        })
        .collect();
    // Collect and settle while the workers run: the lock is held per call, so they go on.
    let mut producer = registry.producer();
    let mut snapshot = Box::new(Snap::new());
    let mut committed = 0u64;
    let mut rounds = 0;
    while !workers.iter().all(|w| w.is_finished()) && rounds < 10_000 {
        producer.collect(&mut snapshot, 10 + rounds);
        committed += int_sum(&snapshot);
        producer.settle(&snapshot, snapshot.full_span(), Settlement::Delivered);
        rounds += 1;
    }
    for w in workers {
        w.join().unwrap();
    }
    producer.collect(&mut snapshot, 1_000_000);
    committed += int_sum(&snapshot);
    producer.settle(&snapshot, snapshot.full_span(), Settlement::Delivered);
    let per_thread: u64 = (1..=PER_THREAD).sum();
    assert_eq!(committed, per_thread * THREADS);
    // Everything committed: nothing pending.
    producer.collect(&mut snapshot, 2_000_000);
    assert_eq!(int_sum(&snapshot), 0);
    assert_eq!(registry.stats(counter).unwrap().series, THREADS as u16);
}

#[test]
fn abandoned_settle_keeps_the_points() {
    let registry = Reg::new(1);
    let counter = registry
        .declare(InstrumentDesc::counter_u64("c").temporality(Temporality::Delta))
        .unwrap();
    registry.record(counter, 5u64, &[]).unwrap();
    let mut producer = &registry;
    let mut snapshot = Box::new(Snap::new());
    producer.collect(&mut snapshot, 2);
    producer.settle(&snapshot, snapshot.full_span(), Settlement::Abandoned);
    registry.record(counter, 7u64, &[]).unwrap();
    producer.collect(&mut snapshot, 3);
    assert_eq!(int_sum(&snapshot), 12);
    producer.settle(&snapshot, snapshot.full_span(), Settlement::Dropped);
    producer.collect(&mut snapshot, 4);
    assert_eq!(int_sum(&snapshot), 0);
}

static STATIC_REG: Reg = Reg::new(1);
/// What the callback's record returned: 0 not run, 1 Busy, 2 something else.
static CALLBACK_SAW: AtomicU8 = AtomicU8::new(0);

fn reentrant(o: &mut dyn Observe) {
    let r = STATIC_REG.record(Instrument::clone(&first_instrument()), 1u64, &[]);
    let seen = if r == Err(RecordError::Busy) { 1 } else { 2 };
    CALLBACK_SAW.store(seen, Ordering::SeqCst);
    o.observe(42i64.into(), &[]);
}

/// The counter declared by the test (the collect, and so the callback, runs on its thread).
fn first_instrument() -> Instrument {
    FIRST.with(|f| f.get()).unwrap()
}

thread_local! {
    static FIRST: std::cell::Cell<Option<Instrument>> = const { std::cell::Cell::new(None) };
}

#[test]
fn callback_recording_into_its_own_registry_is_busy_not_a_deadlock() {
    let counter = STATIC_REG
        .declare(InstrumentDesc::counter_u64("c").temporality(Temporality::Delta))
        .unwrap();
    FIRST.with(|f| f.set(Some(counter)));
    STATIC_REG
        .declare(InstrumentDesc::observable_gauge(
            "g",
            NumberKind::Int,
            reentrant,
        ))
        .unwrap();
    let mut producer = &STATIC_REG;
    let mut snapshot = Box::new(Snap::new());
    producer.collect(&mut snapshot, 2);
    assert_eq!(CALLBACK_SAW.load(Ordering::SeqCst), 1);
    // The gauge was observed; the counter got nothing from the callback.
    assert_eq!(snapshot.total_points(), 1);
    assert_eq!(int_sum(&snapshot), 42);
    // Outside the callback the same thread records normally again.
    STATIC_REG.record(counter, 3u64, &[]).unwrap();
    producer.collect(&mut snapshot, 3);
    assert_eq!(int_sum(&snapshot), 42 + 3);
    assert_eq!(STATIC_REG.with(|r| r.instrument_count()), Some(2));
}
