//! The facade's handles: one per key (name and labels), recording into the registry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use metrics::{CounterFn, GaugeFn, HistogramFn, Key};
use otlp_embedded::proto::{AttributeValue, KeyValue};
use otlp_embedded::registry::{Instrument, Number, RecordError};

use super::Shared;

/// Labels converted on the stack; a key with more takes one allocation per measurement.
const STACK_LABELS: usize = 16;

/// What a handle remembers between measurements.
#[derive(Copy, Clone, Debug, Default)]
struct Value {
    /// A counter's total through this handle: what `absolute` compares with.
    total: u64,
    /// A gauge's current value: what `increment` and `decrement` move.
    gauge: f64,
}

/// A handle for one key of one kind.
pub(super) struct Series {
    shared: Arc<Shared>,
    /// `None`: the name was refused an instrument; measurements are counted as dropped.
    instrument: Option<Instrument>,
    key: Key,
    value: Mutex<Value>,
    /// Whether `value` matters: a gauge's always, a counter's once `absolute` was used.
    /// Such a handle stays cached, since a new one would start from zero.
    keeps_state: AtomicBool,
}

impl Series {
    pub(super) fn new(
        shared: Arc<Shared>,
        instrument: Option<Instrument>,
        key: &Key,
        keeps_state: bool,
    ) -> Series {
        Series {
            shared,
            instrument,
            key: key.clone(),
            value: Mutex::new(Value::default()),
            keeps_state: AtomicBool::new(keeps_state),
        }
    }

    pub(super) fn keeps_state(&self) -> bool {
        self.keeps_state.load(Ordering::Relaxed)
    }

    fn value(&self) -> std::sync::MutexGuard<'_, Value> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, value: Number) {
        let Some(instrument) = self.instrument else {
            self.shared.count(|c| c.measurements_dropped += 1);
            return;
        };
        let result = with_attributes(&self.key, |attributes| {
            self.shared.registry.record(instrument, value, attributes)
        });
        match result {
            // Counted by the registry per instrument (`rejected`).
            Ok(()) | Err(RecordError::Negative | RecordError::NotFinite) => {}
            Err(_) => self.shared.count(|c| c.records_failed += 1),
        }
    }
}

/// Runs `f` with `key`'s labels as string attributes.
fn with_attributes<R>(key: &Key, f: impl FnOnce(&[KeyValue<'_>]) -> R) -> R {
    let mut stack = [KeyValue::new("", AttributeValue::Bool(false)); STACK_LABELS];
    let mut n = 0;
    for (slot, label) in stack.iter_mut().zip(key.labels()) {
        *slot = KeyValue::new(label.key(), AttributeValue::Str(label.value()));
        n += 1;
    }
    if key.labels().len() <= STACK_LABELS {
        return f(stack.get(..n).unwrap_or(&[]));
    }
    let heap: Vec<KeyValue<'_>> = key
        .labels()
        .map(|l| KeyValue::new(l.key(), AttributeValue::Str(l.value())))
        .collect();
    f(&heap)
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        // The value lock orders this handle's measurements as the registry sees them.
        let mut v = self.value();
        v.total = v.total.saturating_add(value);
        self.record(Number::U64(value));
    }

    /// Raises the counter to `value` when that is above its total through this handle:
    /// the difference is recorded as an increment (so delta export works as for any
    /// increment). A smaller value (an older read of the external counter) changes
    /// nothing.
    fn absolute(&self, value: u64) {
        self.keeps_state.store(true, Ordering::Relaxed);
        let mut v = self.value();
        if value > v.total {
            let increment = value - v.total;
            v.total = value;
            self.record(Number::U64(increment));
        }
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        let mut v = self.value();
        let next = v.gauge + value;
        if next.is_finite() {
            v.gauge = next;
        }
        // A non-finite result is recorded so that the registry rejects and counts it.
        self.record(Number::F64(next));
    }

    fn decrement(&self, value: f64) {
        let mut v = self.value();
        let next = v.gauge - value;
        if next.is_finite() {
            v.gauge = next;
        }
        self.record(Number::F64(next));
    }

    fn set(&self, value: f64) {
        let mut v = self.value();
        if value.is_finite() {
            v.gauge = value;
        }
        self.record(Number::F64(value));
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        Series::record(self, Number::F64(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Label;

    #[test]
    fn labels_become_string_attributes_in_order_on_the_stack_and_past_it() {
        let key = Key::from_parts("m", vec![Label::new("b", "2"), Label::new("a", "1")]);
        with_attributes(&key, |a| {
            assert_eq!(
                a,
                [
                    KeyValue::new("b", AttributeValue::Str("2")),
                    KeyValue::new("a", AttributeValue::Str("1"))
                ]
            )
        });
        let many: Vec<Label> = (0..STACK_LABELS + 3)
            .map(|i| Label::new(format!("k{i}"), format!("v{i}")))
            .collect();
        let key = Key::from_parts("m", many);
        let got = with_attributes(&key, |a| {
            a.iter()
                .map(|kv| match kv.value {
                    AttributeValue::Str(v) => format!("{}={v}", kv.key),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(got.len(), STACK_LABELS + 3);
        assert_eq!(got[STACK_LABELS + 2], "k18=v18");
    }
}
