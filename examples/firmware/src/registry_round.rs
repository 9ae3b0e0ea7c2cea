//! The critical-section registry in firmware: a `static` registry that interrupt handlers
//! record into, a `static` snapshot outside its lock, collect and settle.

use otlp_embedded::proto::{AttributeValue, KeyValue, MetricsSource, PointValue, Temporality};
use otlp_embedded::registry::{CsRegistry, InstrumentDesc, Producer, Settlement, Snapshot};

use crate::runtime::TakeOnce;

/// The metrics registry, in a `static` so interrupt handlers can record into it.
/// 4 instruments, 32 series, 34 bytes of attribute values per series, 8 histogram series,
/// 160 bucket counters.
static METRICS: CsRegistry<4, 32, 34, 8, 160> = CsRegistry::new(0);
/// The snapshot, outside the registry's lock and off the stack.
static SNAPSHOT: TakeOnce<Snapshot<4, 32, 34, 8, 160>> = TakeOnce::new(Snapshot::new());

/// Records into the static registry, collects, and checks what the snapshot holds.
pub fn run() -> bool {
    let Ok(irqs) = METRICS.declare(
        InstrumentDesc::counter_u64("irq.count")
            .attributes(&["line"])
            .max_series(4)
            .temporality(Temporality::Delta),
    ) else {
        return false;
    };
    let Ok(latency) = METRICS.declare(InstrumentDesc::histogram("irq.latency").max_series(1))
    else {
        return false;
    };
    // What an interrupt handler would do.
    for line in 0..3i64 {
        let attrs = [KeyValue::new("line", AttributeValue::Int(line))];
        if METRICS.record(irqs, 1u64 + line as u64, &attrs).is_err() {
            return false;
        }
    }
    if METRICS.record(latency, 12.5, &[]).is_err() {
        return false;
    }
    let Some(snapshot) = SNAPSHOT.take() else {
        return false;
    };
    // Lent once: a second `&mut` to the same snapshot must not exist.
    if SNAPSHOT.take().is_some() {
        return false;
    }
    let mut producer = &METRICS;
    producer.collect(snapshot, 1_700_000_000_000_000_000);
    let ok = snapshot.metric_count() == 2
        && snapshot.point_count(0) == 3
        && snapshot.point_count(1) == 1
        && (0..3).all(|p| match snapshot.point(0, p).value {
            PointValue::Int(v) => (1..=3).contains(&v),
            _ => false,
        });
    producer.settle(snapshot, snapshot.full_span(), Settlement::Delivered);
    // Delta: committed, so nothing is left for the counter; the cumulative histogram stays.
    producer.collect(snapshot, 1_700_000_000_000_000_001);
    ok && snapshot.metric_count() == 1 && snapshot.point_count(0) == 1
}
