//! Unit tests of the registry's internals (lookup shortcuts, fast paths).

use super::*;
use crate::proto::{AttributeValue, MetricsSource, PointValue};

/// The remembered empty-set series is forgotten when it is reclaimed: a later record
/// with no attributes must not land in the series that reused its slot.
#[test]
fn empty_set_slot_is_forgotten_on_reclaim() {
    let mut reg: Registry<1, 2, 16, 1, 1> = Registry::new(1);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["k"])
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let mut snap: Snapshot<1, 2, 16, 1, 1> = Snapshot::new();
    reg.record(c, 1u64, &[]).unwrap();
    reg.collect(&mut snap, 2);
    assert_eq!(snap.point_count(0), 1);
    // Delivered with nothing since: the series is reclaimed.
    reg.settle(&snap, snap.full_span(), Settlement::Delivered);
    let kv = [KeyValue::new("k", AttributeValue::Str("v"))];
    reg.record(c, 5u64, &kv).unwrap();
    // The only slot is taken by {k=v}: no attributes now overflow.
    reg.record(c, 2u64, &[]).unwrap();
    reg.collect(&mut snap, 3);
    assert_eq!(snap.point_count(0), 2);
    assert_eq!(snap.point(0, 0).value, PointValue::Int(5));
    assert_eq!(snap.point(0, 1).value, PointValue::Int(2));
    assert_eq!(reg.stats(c).unwrap().overflowed, 1);
}

/// The remembered last series is only a shortcut: alternating attribute sets land in
/// their own series, and a freed slot, or one reused by another attribute set, is not
/// recorded into.
#[test]
fn last_series_shortcut_checks_state_and_key() {
    let mut reg: Registry<1, 3, 16, 1, 1> = Registry::new(1);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["k"])
                .max_series(2)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let a = [KeyValue::new("k", AttributeValue::Str("a"))];
    let b = [KeyValue::new("k", AttributeValue::Str("b"))];
    let x = [KeyValue::new("k", AttributeValue::Str("x"))];
    reg.record(c, 1u64, &a).unwrap();
    reg.record(c, 10u64, &b).unwrap();
    reg.record(c, 2u64, &a).unwrap();
    reg.record(c, 20u64, &b).unwrap();
    let mut snap: Snapshot<1, 3, 16, 1, 1> = Snapshot::new();
    reg.collect(&mut snap, 2);
    let mut got: heapless::Vec<(i64, bool), 4> = heapless::Vec::new();
    for p in 0..snap.point_count(0) {
        let point = snap.point(0, p);
        if let PointValue::Int(v) = point.value {
            let is_a = snap.attribute(0, p, 0) == a[0];
            got.push((v, is_a)).unwrap();
        }
    }
    got.sort_unstable();
    assert_eq!(got.as_slice(), &[(3, true), (30, false)]);
    // Both delivered with nothing since: both slots are freed.
    reg.settle(&snap, snap.full_span(), Settlement::Delivered);
    assert_eq!(reg.stats(c).unwrap().series, 0);
    // `b` was the last series found, and its slot is now free: `b` again must make a
    // new series, and `x` one of its own.
    reg.record(c, 7u64, &b).unwrap();
    reg.record(c, 5u64, &x).unwrap();
    reg.record(c, 1u64, &x).unwrap();
    reg.collect(&mut snap, 3);
    let mut got: heapless::Vec<(i64, bool), 4> = heapless::Vec::new();
    for p in 0..snap.point_count(0) {
        let point = snap.point(0, p);
        if let PointValue::Int(v) = point.value {
            let is_x = snap.attribute(0, p, 0) == x[0];
            got.push((v, is_x)).unwrap();
        }
    }
    got.sort_unstable();
    assert_eq!(got.as_slice(), &[(6, true), (7, false)]);
    assert_eq!(reg.stats(c).unwrap().overflowed, 0);
}

/// Integer adds through a bound handle take the short path; others (floats into an
/// integer counter, negative increments) are checked and counted as before.
#[test]
fn bound_fast_path_keeps_the_checks() {
    let mut reg: Registry<2, 4, 16, 1, 1> = Registry::new(1);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").max_series(1))
        .unwrap();
    let u = reg
        .declare(InstrumentDesc::up_down_counter_i64("u").max_series(1))
        .unwrap();
    let bc = reg.bind(c, &[]).unwrap();
    let bu = reg.bind(u, &[]).unwrap();
    reg.record_bound(bc, 3u64).unwrap();
    assert_eq!(reg.record_bound(bc, -1i64), Err(RecordError::Negative));
    assert_eq!(reg.record_bound(bc, f64::NAN), Err(RecordError::NotFinite));
    reg.record_bound(bc, 2.0).unwrap();
    reg.record_bound(bu, -4i64).unwrap();
    reg.record_bound(bu, u64::MAX).unwrap(); // saturates to i64::MAX
    reg.record(c, 1u64, &[]).unwrap();
    let mut snap: Snapshot<2, 4, 16, 1, 1> = Snapshot::new();
    reg.collect(&mut snap, 2);
    assert_eq!(snap.point(0, 0).value, PointValue::Int(6));
    assert_eq!(snap.point(1, 0).value, PointValue::Int(i64::MAX - 4));
    assert_eq!(reg.stats(c).unwrap().rejected, 2);
}

/// Without feature `exponential-histogram`, an exponential histogram is refused at
/// declaration with the kind named, and nothing is reserved for it.
#[cfg(not(feature = "exponential-histogram"))]
#[test]
fn exponential_histogram_needs_its_feature() {
    let mut reg: Registry<2, 8, 8, 4, 64> = Registry::new(1);
    let refused = reg.declare(InstrumentDesc::exponential_histogram("e").max_series(1));
    assert_eq!(
        refused,
        Err(DeclareError::KindNotEnabled {
            kind: InstrumentKind::ExponentialHistogram
        })
    );
    assert_eq!(reg.instrument_count(), 0);
    // The tables are untouched: an explicit histogram still gets all of them.
    let h = reg.declare(InstrumentDesc::histogram("h").max_series(3));
    assert_eq!(h, Ok(Instrument(0)));
}

/// Without feature `observable`, each observable kind is refused at declaration with the
/// kind named.
#[cfg(not(feature = "observable"))]
#[test]
fn observable_instruments_need_their_feature() {
    fn callback(_: &mut dyn Observe) {}
    let mut reg: Registry<2, 8, 8, 1, 1> = Registry::new(1);
    let descs = [
        InstrumentDesc::observable_counter("c", NumberKind::Int, callback),
        InstrumentDesc::observable_up_down_counter("u", NumberKind::Int, callback),
        InstrumentDesc::observable_gauge("g", NumberKind::Double, callback),
    ];
    for desc in descs {
        assert_eq!(
            reg.declare(desc),
            Err(DeclareError::KindNotEnabled { kind: desc.kind })
        );
    }
    assert_eq!(reg.instrument_count(), 0);
}

/// A new series takes the first free slot, an existing set is found wherever it sits
/// (with the index, or by the `prefer-size` scan), a freed slot is reused first, and a
/// full table overflows; slots are what the snapshot's point order shows.
#[test]
fn new_series_take_the_first_free_slot() {
    let mut reg: Registry<1, 4, 16, 1, 1> = Registry::new(1);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["k"])
                .max_series(3)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let kv = |v: i64| [KeyValue::new("k", AttributeValue::Int(v))];
    let mut snap: Snapshot<1, 4, 16, 1, 1> = Snapshot::new();
    // (value, k) of each point in order; the overflow series' k is -1.
    fn values(snap: &Snapshot<1, 4, 16, 1, 1>) -> heapless::Vec<(i64, i64), 4> {
        let mut got = heapless::Vec::new();
        for p in 0..snap.point_count(0) {
            let k = match snap.attribute(0, p, 0).value {
                AttributeValue::Int(k) => k,
                _ => -1,
            };
            if let PointValue::Int(v) = snap.point(0, p).value {
                got.push((v, k)).unwrap();
            }
        }
        got
    }
    for v in [1, 2, 3] {
        reg.record(c, 10u64 * v as u64, &kv(v)).unwrap();
    }
    reg.record(c, 1u64, &kv(4)).unwrap(); // full: overflow
    reg.record(c, 1u64, &kv(2)).unwrap(); // found, not the last one used
    reg.collect(&mut snap, 2);
    assert_eq!(
        values(&snap).as_slice(),
        &[(10, 1), (21, 2), (30, 3), (1, -1)]
    );
    // {k=3} and {k=1} record again before the commit; {k=2} had nothing since and is
    // reclaimed.
    reg.record(c, 5u64, &kv(3)).unwrap();
    reg.record(c, 6u64, &kv(1)).unwrap();
    reg.settle(&snap, snap.full_span(), Settlement::Delivered);
    assert_eq!(reg.stats(c).unwrap().series, 2);
    // {k=5} takes the freed middle slot; {k=3} and {k=1} are still found.
    reg.record(c, 7u64, &kv(5)).unwrap();
    reg.record(c, 8u64, &kv(3)).unwrap();
    reg.record(c, 9u64, &kv(1)).unwrap();
    reg.record(c, 1u64, &kv(6)).unwrap(); // full again: overflow
    reg.collect(&mut snap, 3);
    assert_eq!(
        values(&snap).as_slice(),
        &[(15, 1), (7, 5), (13, 3), (1, -1)]
    );
    assert_eq!(reg.stats(c).unwrap().overflowed, 2);
}

/// A point's attribute count and its attributes by index come from one walk: declared
/// keys (absent ones skipped), undeclared keys, the overflow series, an index past the
/// attributes and a point that does not exist.
#[test]
fn attributes_by_index_and_count_agree() {
    let mut reg: Registry<2, 5, 24, 1, 1> = Registry::new(1);
    let d = reg
        .declare(
            InstrumentDesc::counter_u64("d")
                .attributes(&["a", "b", "c"])
                .max_series(1),
        )
        .unwrap();
    let o = reg
        .declare(InstrumentDesc::counter_u64("o").max_series(2))
        .unwrap();
    let a = KeyValue::new("a", AttributeValue::Int(1));
    let c = KeyValue::new("c", AttributeValue::Bool(true));
    reg.record(d, 1u64, &[c, a]).unwrap();
    reg.record(d, 1u64, &[a]).unwrap(); // full: overflow
    let y = KeyValue::new("y", AttributeValue::Str("v"));
    let x = KeyValue::new("x", AttributeValue::Double(0.5));
    reg.record(o, 1u64, &[y, x]).unwrap();
    let mut snap: Snapshot<2, 5, 24, 1, 1> = Snapshot::new();
    reg.collect(&mut snap, 2);
    let empty = KeyValue::new("", AttributeValue::Str(""));
    let overflow = KeyValue::new("otel.metric.overflow", AttributeValue::Bool(true));
    for (metric, point, want) in [
        (0, 0, &[a, c][..]),
        (0, 1, &[overflow][..]),
        (1, 0, &[x, y][..]),
        (1, 1, &[][..]),
        (2, 0, &[][..]),
    ] {
        assert_eq!(snap.attribute_count(metric, point), want.len());
        for (index, kv) in want.iter().enumerate() {
            assert_eq!(snap.attribute(metric, point, index), *kv);
        }
        assert_eq!(snap.attribute(metric, point, want.len()), empty);
        assert_eq!(snap.attribute(metric, point, usize::MAX), empty);
    }
}

/// A histogram series freed by a delta commit is reused by a new attribute set (and the
/// overflow series revived) with an empty histogram: count, sum, min, max and buckets
/// are the new measurement's alone.
#[test]
fn reused_histogram_series_starts_empty() {
    let mut reg: Registry<1, 2, 16, 2, 8> = Registry::new(1);
    let h = reg
        .declare(
            InstrumentDesc::histogram("h")
                .attributes(&["k"])
                .bounds(&[1.0, 10.0, 100.0])
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let kv = |v: i64| [KeyValue::new("k", AttributeValue::Int(v))];
    let mut snap: Snapshot<1, 2, 16, 2, 8> = Snapshot::new();
    reg.record(h, 50.0, &kv(1)).unwrap();
    reg.record(h, 0.5, &kv(1)).unwrap();
    reg.record(h, 500.0, &kv(2)).unwrap(); // full: overflow
    reg.collect(&mut snap, 2);
    assert_eq!(snap.point_count(0), 2);
    // Nothing since: both series are freed.
    reg.settle(&snap, snap.full_span(), Settlement::Delivered);
    assert_eq!(reg.stats(h).unwrap().series, 0);
    reg.record(h, 5.0, &kv(3)).unwrap(); // reuses the freed slot
    reg.record(h, 7.0, &kv(4)).unwrap(); // full: revives the overflow series
    reg.collect(&mut snap, 3);
    assert_eq!(snap.point_count(0), 2);
    for (p, v, bucket) in [(0, 5.0, 1), (1, 7.0, 1)] {
        let PointValue::Histogram(got) = snap.point(0, p).value else {
            panic!("point {p} is not a histogram");
        };
        assert_eq!(got.count, 1, "point {p}");
        assert_eq!(got.sum, Some(v), "point {p}");
        assert_eq!((got.min, got.max), (Some(v), Some(v)), "point {p}");
        let mut want = [0u64; 4];
        want[bucket] = 1;
        assert_eq!(got.bucket_counts, &want[..], "point {p}");
    }
}

/// An exponential histogram series freed by a delta commit after it downscaled starts
/// again at its declared scale when its slot is reused.
#[cfg(feature = "exponential-histogram")]
#[test]
fn reused_exponential_series_starts_at_its_scale() {
    let mut reg: Registry<1, 2, 16, 2, 16> = Registry::new(1);
    let h = reg
        .declare(
            InstrumentDesc::exponential_histogram("e")
                .attributes(&["k"])
                .exponential_limits(4, 5)
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let kv = |v: i64| [KeyValue::new("k", AttributeValue::Int(v))];
    let mut snap: Snapshot<1, 2, 16, 2, 16> = Snapshot::new();
    let scale_and_count = |snap: &Snapshot<1, 2, 16, 2, 16>| match snap.point(0, 0).value {
        PointValue::ExponentialHistogram(e) => (e.scale, e.count),
        _ => panic!("not an exponential histogram"),
    };
    // A first series at the declared scale, then one that must downscale.
    reg.record(h, 1.5, &kv(0)).unwrap();
    reg.collect(&mut snap, 2);
    assert_eq!(scale_and_count(&snap), (5, 1));
    reg.settle(&snap, snap.full_span(), Settlement::Delivered);
    reg.record(h, 1.5, &kv(1)).unwrap();
    reg.record(h, 1e6, &kv(1)).unwrap();
    reg.collect(&mut snap, 3);
    let (downscaled, count) = scale_and_count(&snap);
    assert!(downscaled < 5);
    assert_eq!(count, 2);
    reg.settle(&snap, snap.full_span(), Settlement::Delivered);
    assert_eq!(reg.stats(h).unwrap().series, 0);
    reg.record(h, 1.5, &kv(2)).unwrap();
    reg.collect(&mut snap, 4);
    assert_eq!(scale_and_count(&snap), (5, 1));
}

/// The repeated key reported is the first one that repeats an earlier key, whichever
/// key it repeats.
#[test]
fn first_repeated_key_is_reported() {
    let mut reg: Registry<1, 2, 16, 1, 1> = Registry::new(1);
    let cases: [(&'static [&'static str], u8); 3] = [
        (&["a", "b", "b", "a"], 2),
        (&["a", "b", "c", "a", "b"], 3),
        (&["x", "x"], 1),
    ];
    for (keys, index) in cases {
        assert_eq!(
            reg.declare(InstrumentDesc::counter_u64("c").attributes(keys)),
            Err(DeclareError::DuplicateKey { index }),
            "{keys:?}"
        );
    }
    assert_eq!(reg.instrument_count(), 0);
}

/// Handles of instruments this registry never declared (from a registry with more) are
/// refused as unknown by every record path, have no declaration or stats, and change
/// nothing: the entries past the declared ones are undeclared, not empty instruments.
#[test]
fn handles_past_the_declared_instruments_are_unknown() {
    let mut big: Registry<4, 8, 16, 2, 16> = Registry::new(1);
    let mut small: Registry<4, 8, 16, 2, 16> = Registry::new(1);
    let _ = big
        .declare(InstrumentDesc::counter_u64("c").max_series(1))
        .unwrap();
    let counter = big
        .declare(InstrumentDesc::counter_u64("c").max_series(1))
        .unwrap();
    let hist = big
        .declare(InstrumentDesc::histogram("h").bounds(&[1.0]).max_series(1))
        .unwrap();
    let gauge = big
        .declare(InstrumentDesc::gauge_f64("g").max_series(1))
        .unwrap();
    let mine = small
        .declare(InstrumentDesc::counter_u64("c").max_series(2))
        .unwrap();
    // Bound by `big`: its counter's series is slot 2, inside the series `small` reserved.
    let bound = big.bind(counter, &[]).unwrap();
    let kv = [KeyValue::new("k", AttributeValue::Str("v"))];
    let unknown = Err(RecordError::UnknownInstrument);
    for inst in [counter, hist, gauge] {
        assert_eq!(small.record(inst, 1u64, &[]), unknown);
        assert_eq!(small.record(inst, -1i64, &[]), unknown);
        assert_eq!(small.record(inst, 2.5, &[]), unknown);
        assert_eq!(small.record(inst, f64::NAN, &kv), unknown);
        assert_eq!(small.record(inst, 3u64, &kv), unknown);
        assert_eq!(small.bind(inst, &[]), Err(RecordError::UnknownInstrument));
        assert_eq!(small.bind(inst, &kv), Err(RecordError::UnknownInstrument));
        assert!(small.desc(inst).is_none());
        assert!(small.stats(inst).is_none());
    }
    assert_eq!(small.record_bound(bound, 1u64), unknown);
    assert_eq!(small.record_bound(bound, 1.5), unknown);
    assert_eq!(small.instrument_count(), 1);
    assert_eq!(small.desc(mine).map(|d| d.name), Some("c"));
    assert_eq!(small.stats(mine), Some(InstrumentStats::default()));
    // Nothing was recorded anywhere, and the next declaration still takes the next entry
    // with fresh stats.
    let mut snap: Snapshot<4, 8, 16, 2, 16> = Snapshot::new();
    small.collect(&mut snap, 2);
    assert_eq!(snap.metric_count(), 0);
    let next = small
        .declare(InstrumentDesc::gauge_i64("n").max_series(1))
        .unwrap();
    assert_eq!(next, counter);
    assert_eq!(small.stats(next), Some(InstrumentStats::default()));
    small.record(next, 7i64, &[]).unwrap();
    small.collect(&mut snap, 3);
    assert_eq!(snap.metric_count(), 1);
    assert_eq!(snap.metric(0).name, "n");
    assert_eq!(snap.point(0, 0).value, PointValue::Int(7));
}

/// An observable instrument takes no measurement from the record paths (its values come
/// from its callback): record and bind say it is the wrong kind, and nothing is kept.
#[cfg(feature = "observable")]
#[test]
fn observable_instruments_refuse_measurements() {
    fn callback(o: &mut dyn Observe) {
        o.observe(Number::I64(4), &[]);
    }
    let mut reg: Registry<2, 4, 16, 1, 1> = Registry::new(1);
    let g = reg
        .declare(InstrumentDesc::observable_gauge("g", NumberKind::Int, callback).max_series(1))
        .unwrap();
    let kv = [KeyValue::new("k", AttributeValue::Int(1))];
    assert_eq!(reg.record(g, 1u64, &[]), Err(RecordError::WrongKind));
    assert_eq!(reg.record(g, 1.5, &kv), Err(RecordError::WrongKind));
    assert_eq!(reg.bind(g, &[]), Err(RecordError::WrongKind));
    assert_eq!(reg.bind(g, &kv), Err(RecordError::WrongKind));
    assert_eq!(reg.stats(g), Some(InstrumentStats::default()));
    let mut snap: Snapshot<2, 4, 16, 1, 1> = Snapshot::new();
    reg.collect(&mut snap, 2);
    assert_eq!(snap.point_count(0), 1);
    assert_eq!(snap.point(0, 0).value, PointValue::Int(4));
}

/// Records with no attributes, of every op that takes the lookup, land in the empty
/// set's one series, also pinned by `bind(&[])`, and a new one after that series was
/// reclaimed (whether the build remembers the series or finds it by scan).
#[test]
fn empty_set_records_find_their_series() {
    let mut reg: Registry<3, 9, 16, 3, 12> = Registry::new(1);
    let delta = Temporality::Delta;
    let f = reg
        .declare(
            InstrumentDesc::counter_f64("f")
                .attributes(&["k"])
                .max_series(2)
                .temporality(delta),
        )
        .unwrap();
    let h = reg
        .declare(
            InstrumentDesc::histogram("h")
                .bounds(&[1.0, 2.0])
                .max_series(2)
                .temporality(delta),
        )
        .unwrap();
    let g = reg
        .declare(InstrumentDesc::gauge_i64("g").max_series(2))
        .unwrap();
    let kv = [KeyValue::new("k", AttributeValue::Int(1))];
    reg.record(f, 1.5, &[]).unwrap();
    reg.record(f, 2.0, &kv).unwrap();
    reg.record(f, 0.5, &[]).unwrap();
    reg.record(h, 0.5, &[]).unwrap();
    reg.record(h, 1.5, &[]).unwrap();
    reg.record(g, 3i64, &[]).unwrap();
    let pinned = reg.bind(g, &[]).unwrap();
    reg.record_bound(pinned, 4i64).unwrap();
    reg.record(g, 5i64, &[]).unwrap();
    let mut snap: Snapshot<3, 9, 16, 3, 12> = Snapshot::new();
    reg.collect(&mut snap, 2);
    assert_eq!(snap.point_count(0), 2);
    assert_eq!(snap.point(0, 0).value, PointValue::Double(2.0));
    assert_eq!(snap.attribute_count(0, 0), 0);
    assert_eq!(snap.point(0, 1).value, PointValue::Double(2.0));
    assert_eq!(snap.point_count(1), 1);
    let PointValue::Histogram(hv) = snap.point(1, 0).value else {
        panic!("{:?}", snap.point(1, 0).value)
    };
    assert_eq!((hv.count, hv.bucket_counts), (2, &[1, 1, 0][..]));
    assert_eq!(snap.point_count(2), 1);
    assert_eq!(snap.point(2, 0).value, PointValue::Int(5));
    // Delivered with nothing since: the counter's and the histogram's empty-set series
    // are reclaimed (the pinned gauge's is not); the counter's slot goes to a new set.
    reg.settle(&snap, snap.full_span(), Settlement::Delivered);
    let other = [KeyValue::new("k", AttributeValue::Int(2))];
    reg.record(f, 7.0, &other).unwrap();
    reg.record(f, 0.25, &[]).unwrap();
    reg.record(h, 2.5, &[]).unwrap();
    reg.record(g, 6i64, &[]).unwrap();
    reg.collect(&mut snap, 3);
    let values: heapless::Vec<(PointValue<'_>, usize), 4> = (0..snap.point_count(0))
        .map(|p| (snap.point(0, p).value, snap.attribute_count(0, p)))
        .collect();
    assert_eq!(
        values.as_slice(),
        &[(PointValue::Double(7.0), 1), (PointValue::Double(0.25), 0)]
    );
    let PointValue::Histogram(hv) = snap.point(1, 0).value else {
        panic!("{:?}", snap.point(1, 0).value)
    };
    assert_eq!((hv.count, hv.bucket_counts), (1, &[0, 0, 1][..]));
    assert_eq!(snap.point(2, 0).value, PointValue::Int(6));
    assert_eq!(reg.stats(g).map(|s| s.series), Some(1));
    assert_eq!(reg.stats(f).map(|s| s.overflowed), Some(0));
}

/// Bound values for [`bounds_are_finite_and_strictly_ascending`]: the infinities, NaNs of
/// both signs (and one with a payload), both zeros, the extremes and a subnormal.
const BOUND_VALUES: [f64; 12] = [
    f64::NEG_INFINITY,
    f64::MIN,
    -1.0,
    -0.0,
    0.0,
    5e-324,
    1.0,
    f64::MAX,
    f64::INFINITY,
    f64::NAN,
    f64::from_bits(0xfff8_0000_0000_0000),
    f64::from_bits(0x7ff0_0000_0000_0001),
];

/// Every triple of [`BOUND_VALUES`]; their prefixes are every sequence of up to 3.
static BOUND_TRIPLES: [[f64; 3]; 1728] = {
    let mut all = [[0.0; 3]; 1728];
    let mut n = 0;
    while n < 1728 {
        all[n] = [
            BOUND_VALUES[n % 12],
            BOUND_VALUES[n / 12 % 12],
            BOUND_VALUES[n / 144],
        ];
        n += 1;
    }
    all
};

/// A histogram declares exactly when its bounds are all finite and strictly ascending
/// (compared as floats: -0.0 is not below 0.0), for every sequence of up to 3 values.
#[test]
fn bounds_are_finite_and_strictly_ascending() {
    let mut refused = 0;
    for triple in &BOUND_TRIPLES {
        for len in 0..=3 {
            let bounds = &triple[..len];
            let valid =
                bounds.iter().all(|b| b.is_finite()) && bounds.windows(2).all(|w| w[0] < w[1]);
            let mut reg: Registry<1, 1, 1, 1, 4> = Registry::new(1);
            let got = reg.declare(InstrumentDesc::histogram("h").bounds(bounds).max_series(0));
            if valid {
                assert_eq!(got, Ok(Instrument(0)), "{bounds:?}");
            } else {
                refused += 1;
                assert_eq!(got, Err(DeclareError::InvalidBounds), "{bounds:?}");
            }
        }
    }
    // Both answers are exercised.
    assert!(refused > 1000 && refused < 4 * 1728 - 100, "{refused}");
}
