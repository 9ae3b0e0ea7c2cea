//! Random sequences of record, collect and per-request settle (with recording between collect
//! and settle): nothing is lost and nothing is counted twice. For every series,
//! committed (delivered + dropped) + what the next collect would carry == everything recorded.
//!
//! A histogram point whose measurements include a negative value carries no sum
//! (metrics.proto), so the exponential histogram that takes negative values is checked for
//! exactly that, and a second one fed the magnitudes checks that sums commit exactly.

use std::collections::BTreeMap;

use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricsSource, PointCursor, PointSpan, PointValue, Temporality,
};
use otlp_embedded::registry::{
    Instrument, InstrumentDesc, Producer, Registry, Settlement, Snapshot, DEFAULT_BOUNDS,
};
use proptest::prelude::*;

type Reg = Registry<8, 64, 34, 32, 2048>;
type Snap = Snapshot<8, 64, 34, 32, 2048>;

const KEYS: [&str; 4] = ["a", "b", "c", "d"];
// Dyadic values, so float sums are exact and the comparison can be exact; wide enough to
// force downscaling with max size 4.
const EXPO_VALUES: [f64; 9] = [
    0.0,
    0.125,
    -0.25,
    1.0,
    -3.0,
    3.0,
    1024.0,
    -1_048_576.0,
    1_048_576.0,
];

#[derive(Debug, Clone)]
enum Op {
    /// Instrument 0..5, attribute value index, value index.
    Record(u8, u8, u16),
    /// Collect, then cut the snapshot into requests at these (sorted, deduplicated) points.
    Collect(Vec<u8>),
    /// Settle the next pending request.
    Settle(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..5, 0u8..4, 0u16..300).prop_map(|(i, k, v)| Op::Record(i, k, v)),
        1 => proptest::collection::vec(any::<u8>(), 0..4).prop_map(Op::Collect),
        2 => (0u8..3).prop_map(Op::Settle),
    ]
}

fn settlement(n: u8) -> Settlement {
    match n % 3 {
        0 => Settlement::Delivered,
        1 => Settlement::Dropped,
        _ => Settlement::Abandoned,
    }
}

/// Totals per (instrument name, attribute value or "overflow"): counter sum, histogram
/// count, sum, buckets; exponential count, zero count, bucket total.
#[derive(Debug, Default, Clone, PartialEq)]
struct Tally {
    sum: i64,
    count: u64,
    fsum: f64,
    buckets: Vec<u64>,
    zero: u64,
    expo_buckets: u64,
}

type Totals = BTreeMap<(String, String), Tally>;

fn series_key(snap: &Snap, m: usize, p: usize) -> (String, String) {
    let name = snap.metric(m).name.to_string();
    let kv = snap.attribute(m, p, 0);
    let v = match kv.value {
        AttributeValue::Str(s) => s.to_string(),
        AttributeValue::Bool(true) if kv.key == "otel.metric.overflow" => "overflow".into(),
        other => format!("{other:?}"),
    };
    (name, v)
}

fn add_point(totals: &mut Totals, snap: &Snap, m: usize, p: usize) {
    let t = totals.entry(series_key(snap, m, p)).or_default();
    match snap.point(m, p).value {
        PointValue::Int(v) => t.sum += v,
        PointValue::Histogram(h) => {
            t.count += h.count;
            t.fsum += h.sum.unwrap();
            if t.buckets.is_empty() {
                t.buckets = vec![0; h.bucket_counts.len()];
            }
            for (a, b) in t.buckets.iter_mut().zip(h.bucket_counts) {
                *a += b;
            }
        }
        PointValue::ExponentialHistogram(h) => {
            t.count += h.count;
            // The sum is left out exactly when a measurement of this point was negative.
            assert_eq!(h.sum.is_none(), h.min.is_some_and(|m| m < 0.0), "{h:?}");
            if snap.metric(m).name == "expo_magnitudes" {
                t.fsum += h.sum.expect("magnitudes only: every point has a sum");
            }
            t.zero += h.zero_count;
            t.expo_buckets += h.positive.bucket_counts.iter().sum::<u64>()
                + h.negative.bucket_counts.iter().sum::<u64>();
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn merge(into: &mut Totals, from: &Totals) {
    for (k, v) in from {
        let t = into.entry(k.clone()).or_default();
        t.sum += v.sum;
        t.count += v.count;
        t.fsum += v.fsum;
        t.zero += v.zero;
        t.expo_buckets += v.expo_buckets;
        if t.buckets.is_empty() {
            t.buckets = vec![0; v.buckets.len()];
        }
        for (a, b) in t.buckets.iter_mut().zip(&v.buckets) {
            *a += b;
        }
    }
}

struct World {
    reg: Reg,
    inst: [Instrument; 5],
    snap: Box<Snap>,
    /// Requests of the current snapshot not settled yet.
    pending: Vec<PointSpan>,
    committed: Totals,
    recorded: Totals,
    now: u64,
}

impl World {
    fn new() -> Self {
        let mut reg = Reg::new(1);
        let inst = [
            reg.declare(
                InstrumentDesc::counter_u64("counter")
                    .attributes(&["k"])
                    .max_series(4)
                    .temporality(Temporality::Delta),
            )
            .unwrap(),
            // One series only: the other attribute sets overflow.
            reg.declare(
                InstrumentDesc::up_down_counter_i64("small")
                    .attributes(&["k"])
                    .max_series(1)
                    .temporality(Temporality::Delta),
            )
            .unwrap(),
            reg.declare(
                InstrumentDesc::histogram("hist")
                    .attributes(&["k"])
                    .max_series(4)
                    .temporality(Temporality::Delta),
            )
            .unwrap(),
            reg.declare(
                InstrumentDesc::exponential_histogram("expo")
                    .attributes(&["k"])
                    .max_series(4)
                    .exponential_limits(4, 20)
                    .temporality(Temporality::Delta),
            )
            .unwrap(),
            reg.declare(
                InstrumentDesc::exponential_histogram("expo_magnitudes")
                    .attributes(&["k"])
                    .max_series(4)
                    .exponential_limits(4, 20)
                    .temporality(Temporality::Delta),
            )
            .unwrap(),
        ];
        World {
            reg,
            inst,
            snap: Box::new(Snap::new()),
            pending: Vec::new(),
            committed: Totals::new(),
            recorded: Totals::new(),
            now: 1,
        }
    }

    fn record(&mut self, i: u8, k: u8, v: u16) {
        let key = KEYS[usize::from(k)];
        let attrs = [KeyValue::new("k", AttributeValue::Str(key))];
        let inst = self.inst[usize::from(i)];
        let name = self.reg.desc(inst).unwrap().name.to_string();
        let overflowed_before = self.reg.stats(inst).unwrap().overflowed;
        let t_key = |reg: &Reg| {
            if reg.stats(inst).unwrap().overflowed != overflowed_before {
                "overflow".to_string()
            } else {
                key.to_string()
            }
        };
        match i {
            0 => {
                self.reg.record(inst, u64::from(v), &attrs).unwrap();
                let k = t_key(&self.reg);
                self.recorded.entry((name, k)).or_default().sum += i64::from(v);
            }
            1 => {
                let v = i64::from(v) - 150;
                self.reg.record(inst, v, &attrs).unwrap();
                let k = t_key(&self.reg);
                self.recorded.entry((name, k)).or_default().sum += v;
            }
            2 => {
                let x = f64::from(v) * 40.0;
                self.reg.record(inst, x, &attrs).unwrap();
                let t = self.recorded.entry((name, key.to_string())).or_default();
                t.count += 1;
                t.fsum += x;
                if t.buckets.is_empty() {
                    t.buckets = vec![0; DEFAULT_BOUNDS.len() + 1];
                }
                t.buckets[DEFAULT_BOUNDS.partition_point(|b| *b < x)] += 1;
            }
            _ => {
                let x = EXPO_VALUES[usize::from(v) % EXPO_VALUES.len()];
                // Instrument 3 takes the values as they are (its sums are not exported
                // once a negative one is in a point: not tallied); instrument 4 their
                // magnitudes, whose sums must commit exactly.
                let (x, fsum) = if i == 3 { (x, 0.0) } else { (x.abs(), x.abs()) };
                self.reg.record(inst, x, &attrs).unwrap();
                let t = self.recorded.entry((name, key.to_string())).or_default();
                t.count += 1;
                t.fsum += fsum;
                if x == 0.0 {
                    t.zero += 1;
                } else {
                    t.expo_buckets += 1;
                }
            }
        }
    }

    fn settle_next(&mut self, how: Settlement) {
        if self.pending.is_empty() {
            return;
        }
        let span = self.pending.remove(0);
        if how != Settlement::Abandoned {
            let mut part = Totals::new();
            let mut c = span.start;
            let mut n = 0;
            while c < span.end {
                if c.point >= self.snap.point_count(c.metric) {
                    c = PointCursor {
                        metric: c.metric + 1,
                        point: 0,
                    };
                    continue;
                }
                add_point(&mut part, &self.snap, c.metric, c.point);
                c.point += 1;
                n += 1;
            }
            assert_eq!(n, span.points);
            merge(&mut self.committed, &part);
        }
        self.reg.settle(&self.snap, span, how);
    }

    fn collect(&mut self, cuts: &[u8], seed: u8) {
        // The exporter settles every request of a snapshot before the next collect.
        while !self.pending.is_empty() {
            self.settle_next(settlement(seed));
        }
        self.now += 10;
        self.reg.collect(&mut self.snap, self.now);
        let mut cursors = Vec::new();
        for m in 0..self.snap.metric_count() {
            for p in 0..self.snap.point_count(m) {
                cursors.push(PointCursor {
                    metric: m,
                    point: p,
                });
            }
        }
        let total = cursors.len();
        let end_of = |j: usize| {
            cursors.get(j).copied().unwrap_or(PointCursor {
                metric: self.snap.metric_count(),
                point: 0,
            })
        };
        let mut bounds: Vec<usize> = cuts.iter().map(|c| usize::from(*c) % (total + 1)).collect();
        bounds.push(0);
        bounds.push(total);
        bounds.sort();
        bounds.dedup();
        for w in bounds.windows(2) {
            self.pending.push(PointSpan {
                start: end_of(w[0]),
                end: end_of(w[1]),
                points: w[1] - w[0],
            });
        }
    }

    /// Settles everything as abandoned and collects: what the next export would carry.
    fn outstanding(&mut self) -> Totals {
        while !self.pending.is_empty() {
            self.settle_next(Settlement::Abandoned);
        }
        self.now += 10;
        self.reg.collect(&mut self.snap, self.now);
        let mut t = Totals::new();
        for m in 0..self.snap.metric_count() {
            for p in 0..self.snap.point_count(m) {
                add_point(&mut t, &self.snap, m, p);
                let pt = self.snap.point(m, p);
                assert!(pt.time_unix_nano >= pt.start_time_unix_nano);
            }
        }
        t
    }
}

fn normalize(t: &Totals) -> Totals {
    t.iter()
        .filter(|(_, v)| {
            **v != Tally::default()
                && !(v.count == 0
                    && v.sum == 0
                    && v.fsum == 0.0
                    && v.buckets.iter().all(|b| *b == 0))
        })
        .map(|(k, v)| {
            let mut v = v.clone();
            if v.buckets.iter().all(|b| *b == 0) {
                v.buckets.clear();
            }
            (k.clone(), v)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn no_loss_no_double_count(ops in proptest::collection::vec(op(), 0..120)) {
        let mut w = World::new();
        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Record(i, k, v) => w.record(*i, *k, *v),
                Op::Collect(cuts) => w.collect(cuts, n as u8),
                Op::Settle(s) => w.settle_next(settlement(*s)),
            }
        }
        let outstanding = w.outstanding();
        let mut seen = w.committed.clone();
        merge(&mut seen, &outstanding);
        prop_assert_eq!(normalize(&seen), normalize(&w.recorded));
    }
}
