//! The critical-section registry in a `static`: threads record while the main thread
//! collects and settles, in short sections; every increment ends up committed or pending.

mod registry_cs;

use otlp_embedded::proto::{AttributeValue, KeyValue, MetricsSource, PointValue, Temporality};
use otlp_embedded::registry::{
    CsRegistry, InstrumentDesc, Observe, Producer, RecordError, Settlement, Snapshot,
};
use std::sync::atomic::{AtomicU64, Ordering};

static REG: CsRegistry<4, 32, 34, 8, 256> = CsRegistry::new(5);

fn reentrant(o: &mut dyn Observe) {
    // Recording into the registry from its own callback must fail cleanly, not deadlock.
    let r = REG.record(
        otlp_embedded::registry::Instrument::clone(&first()),
        1u64,
        &[],
    );
    assert_eq!(r, Err(RecordError::Busy));
    // So must binding, and recording through a binding made before.
    let attrs = [KeyValue::new("t", AttributeValue::Int(0))];
    assert_eq!(REG.bind(first(), &attrs), Err(RecordError::Busy));
    let bound = BOUND.with(|b| b.get().unwrap());
    assert_eq!(REG.record_bound(bound, 1u64), Err(RecordError::Busy));
    o.observe(1i64.into(), &[]);
}

fn first() -> otlp_embedded::registry::Instrument {
    FIRST.with(|f| f.get().unwrap())
}

/// Collect-and-settle rounds the test's collector has finished.
static ROUNDS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static FIRST: std::cell::Cell<Option<otlp_embedded::registry::Instrument>> = const { std::cell::Cell::new(None) };
    static BOUND: std::cell::Cell<Option<otlp_embedded::registry::Bound>> = const { std::cell::Cell::new(None) };
}

#[test]
fn threads_record_while_collect_and_settle_run() {
    let c = REG
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["t"])
                .max_series(4)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    FIRST.with(|f| f.set(Some(c)));
    let bound = REG
        .bind(c, &[KeyValue::new("t", AttributeValue::Int(0))])
        .unwrap();
    BOUND.with(|b| b.set(Some(bound)));
    REG.declare(InstrumentDesc::observable_gauge(
        "o",
        otlp_embedded::registry::NumberKind::Int,
        reentrant,
    ))
    .unwrap();
    let threads: Vec<_> = (0..3i64)
        .map(|t| {
            std::thread::spawn(move || {
                let attrs = [KeyValue::new("t", AttributeValue::Int(t))];
                for i in 0..20_000 {
                    if i == 10_000 {
                        // Halfway, until the collector has run two rounds: so that collect
                        // and settle do overlap recording however the threads are
                        // scheduled (on a loaded machine they could all finish first).
                        while ROUNDS.load(Ordering::Acquire) < 2 {
                            std::thread::yield_now();
                        }
                    }
                    REG.record(c, 1u64, &attrs).unwrap();
                }
            })
        })
        .collect();
    let mut snap: Box<Snapshot<4, 32, 34, 8, 256>> = Box::default();
    let mut committed = [0i64; 3];
    let mut producer = &REG;
    let mut round = 0u64;
    let tally = |snap: &Snapshot<4, 32, 34, 8, 256>, into: &mut [i64; 3]| {
        let Some(m) = (0..snap.metric_count()).find(|&m| snap.metric(m).name == "c") else {
            return;
        };
        for p in 0..snap.point_count(m) {
            let AttributeValue::Int(t) = snap.attribute(m, p, 0).value else {
                panic!()
            };
            let PointValue::Int(v) = snap.point(m, p).value else {
                panic!()
            };
            into[t as usize] += v;
        }
    };
    while threads.iter().any(|t| !t.is_finished()) && round < 100_000 {
        round += 1;
        producer.collect(&mut snap, 10 + round);
        let last = snap.metric_count() - 1;
        assert_eq!(snap.metric(last).name, "o", "the callback ran");
        let how = if round.is_multiple_of(4) {
            Settlement::Abandoned
        } else {
            tally(&snap, &mut committed);
            Settlement::Delivered
        };
        producer.settle(&snap, snap.full_span(), how);
        ROUNDS.store(round, Ordering::Release);
    }
    for t in threads {
        t.join().unwrap();
    }
    producer.collect(&mut snap, u64::MAX);
    let mut pending = [0i64; 3];
    tally(&snap, &mut pending);
    for t in 0..3 {
        assert_eq!(committed[t] + pending[t], 20_000, "thread {t}");
    }
    assert!(round > 1, "collected while recording");
}
