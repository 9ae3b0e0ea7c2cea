//! Every instrument kind driven through record, collect and settle, checked through the
//! snapshot's `MetricsSource` answers (and, in `registry_decode.rs`, through the encoder).

use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricData, MetricsSource, PointCursor, PointSpan, PointValue,
    Temporality,
};
use otlp_embedded::registry::{
    map_to_index, InstrumentDesc, InstrumentStats, NumberKind, Observe, Producer, Registry,
    Settlement, Snapshot, DEFAULT_BOUNDS,
};

type Reg = Registry<8, 64, 34, 32, 4096>;
type Snap = Snapshot<8, 64, 34, 32, 4096>;

fn s(k: &'static str, v: &'static str) -> KeyValue<'static> {
    KeyValue::new(k, AttributeValue::Str(v))
}

fn attrs(src: &Snap, m: usize, p: usize) -> Vec<(String, String)> {
    (0..src.attribute_count(m, p))
        .map(|i| {
            let kv = src.attribute(m, p, i);
            (kv.key.to_string(), format!("{:?}", kv.value))
        })
        .collect()
}

fn int(src: &Snap, m: usize, p: usize) -> i64 {
    match src.point(m, p).value {
        PointValue::Int(v) => v,
        other => panic!("not an int: {other:?}"),
    }
}

fn double(src: &Snap, m: usize, p: usize) -> f64 {
    match src.point(m, p).value {
        PointValue::Double(v) => v,
        other => panic!("not a double: {other:?}"),
    }
}

/// Finds the point whose attributes include `key = value` (string).
fn find(src: &Snap, m: usize, key: &str, value: &str) -> usize {
    (0..src.point_count(m))
        .find(|&p| {
            (0..src.attribute_count(m, p)).any(|i| {
                let kv = src.attribute(m, p, i);
                kv.key == key && kv.value == AttributeValue::Str(value)
            })
        })
        .unwrap_or_else(|| panic!("no point with {key}={value}"))
}

fn settle_all(reg: &mut Reg, snap: &Snap, how: Settlement) {
    reg.settle(snap, snap.full_span(), how);
}

/// Each way of passing the same attribute set (declared order, another order, a subset in
/// either order, keys as copied strings rather than the declared literals) reaches one
/// series, whichever series was recorded last.
#[test]
fn every_spelling_of_an_attribute_set_is_one_series() {
    let mut reg = Reg::new(0);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("requests")
                .attributes(&["method", "status", "route"])
                .max_series(8),
        )
        .unwrap();
    let method = s("method", "GET");
    let status = KeyValue::new("status", AttributeValue::Int(200));
    let route = s("route", "/x");
    let (copied_method, copied_route) = (String::from("method"), String::from("route"));
    let copied = [
        KeyValue::new(&copied_route, AttributeValue::Str("/x")),
        KeyValue::new(&copied_method, AttributeValue::Str("GET")),
    ];
    let full_spellings: [&[KeyValue<'_>]; 3] = [
        &[method, status, route],
        &[route, method, status],
        &[status, route, method],
    ];
    let pair_spellings: [&[KeyValue<'_>]; 3] = [&[method, route], &[route, method], &copied];
    let other = [s("method", "PUT")];
    for round in 0..4u64 {
        for (j, attrs) in full_spellings.iter().enumerate() {
            reg.record(c, 1 + j as u64, attrs).unwrap();
            if round % 2 == 1 {
                // Another series in between, so the last-series shortcut misses.
                reg.record(c, 100u64, &other).unwrap();
            }
        }
        for attrs in pair_spellings {
            reg.record(c, 10u64, attrs).unwrap();
        }
    }
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    assert_eq!(snap.point_count(0), 3);
    let full = (0..3).find(|&p| snap.attribute_count(0, p) == 3).unwrap();
    let pair = (0..3).find(|&p| snap.attribute_count(0, p) == 2).unwrap();
    let put = find(&snap, 0, "method", "PUT");
    assert_eq!(int(&snap, 0, full), 4 * (1 + 2 + 3));
    assert_eq!(int(&snap, 0, pair), 4 * 3 * 10);
    assert_eq!(int(&snap, 0, put), 2 * 3 * 100);
    assert_eq!(
        attrs(&snap, 0, pair),
        vec![
            ("method".into(), "Str(\"GET\")".into()),
            ("route".into(), "Str(\"/x\")".into()),
        ]
    );
    assert_eq!(
        reg.stats(c).unwrap(),
        InstrumentStats {
            series: 3,
            ..Default::default()
        }
    );
}

#[test]
fn cumulative_counter_order_independent_with_start_and_time() {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("requests")
                .description("served")
                .unit("{request}")
                .attributes(&["method", "status", "route"])
                .max_series(4),
        )
        .unwrap();
    let a = [
        KeyValue::new("method", AttributeValue::Str("GET")),
        KeyValue::new("status", AttributeValue::Int(200)),
        KeyValue::new("route", AttributeValue::Str("/x")),
    ];
    let b = [a[2], a[0], a[1]];
    reg.record(c, 3u64, &a).unwrap();
    reg.record(c, 4u64, &b).unwrap();
    reg.record(c, 10u64, &a[..1]).unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 5_000);
    assert_eq!(snap.metric_count(), 1);
    let info = snap.metric(0);
    assert_eq!(
        (info.name, info.description, info.unit),
        ("requests", "served", "{request}")
    );
    assert_eq!(
        info.data,
        MetricData::Sum {
            temporality: Temporality::Cumulative,
            is_monotonic: true
        }
    );
    assert_eq!(snap.point_count(0), 2);
    let full = (0..2).find(|&p| snap.attribute_count(0, p) == 3).unwrap();
    let one = 1 - full;
    assert_eq!(int(&snap, 0, full), 7);
    assert_eq!(int(&snap, 0, one), 10);
    assert_eq!(
        attrs(&snap, 0, full),
        vec![
            ("method".into(), "Str(\"GET\")".into()),
            ("status".into(), "Int(200)".into()),
            ("route".into(), "Str(\"/x\")".into()),
        ]
    );
    let p = snap.point(0, full);
    assert_eq!(
        (p.start_time_unix_nano, p.time_unix_nano, p.flags),
        (1_000, 5_000, 0)
    );
    // Cumulative: a commit changes nothing; the next collect carries the totals again.
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.record(c, 1u64, &b).unwrap();
    reg.collect(&mut snap, 9_000);
    let full = (0..2).find(|&p| snap.attribute_count(0, p) == 3).unwrap();
    assert_eq!(int(&snap, 0, full), 8);
    let p = snap.point(0, full);
    assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (1_000, 9_000));
    assert_eq!(
        reg.stats(c).unwrap(),
        InstrumentStats {
            series: 2,
            ..Default::default()
        }
    );
}

#[test]
fn delta_counter_commit_and_abandon() {
    let mut reg = Reg::new(100);
    let c = reg
        .declare(
            InstrumentDesc::counter_f64("bytes")
                .attributes(&["dir"])
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let rx = [s("dir", "rx")];
    reg.record(c, 1.5, &rx).unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 200);
    assert_eq!(double(&snap, 0, 0), 1.5);
    assert_eq!(snap.point(0, 0).start_time_unix_nano, 100);
    // Recorded between collect and settle: must survive the commit.
    reg.record(c, 2.0, &rx).unwrap();
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 300);
    assert_eq!(double(&snap, 0, 0), 2.0);
    let p = snap.point(0, 0);
    assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (200, 300));
    // Abandoned: the next collect carries it again, plus what came after.
    settle_all(&mut reg, &snap, Settlement::Abandoned);
    reg.record(c, 4.0, &rx).unwrap();
    reg.collect(&mut snap, 400);
    assert_eq!(double(&snap, 0, 0), 6.0);
    assert_eq!(snap.point(0, 0).start_time_unix_nano, 200);
    // Settled twice: committed once.
    settle_all(&mut reg, &snap, Settlement::Dropped);
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 500);
    assert_eq!(snap.metric_count(), 0, "nothing recorded since the commit");
    assert_eq!(reg.stats(c).unwrap().series, 0, "reclaimed");
}

#[test]
fn up_down_counters_and_gauges() {
    let mut reg = Reg::new(0);
    let ud = reg
        .declare(InstrumentDesc::up_down_counter_i64("queue"))
        .unwrap();
    let udf = reg
        .declare(InstrumentDesc::up_down_counter_f64("level").temporality(Temporality::Delta))
        .unwrap();
    let g = reg.declare(InstrumentDesc::gauge_i64("temp")).unwrap();
    let gf = reg
        .declare(InstrumentDesc::gauge_f64("volts").temporality(Temporality::Delta))
        .unwrap();
    reg.record(ud, 5i64, &[]).unwrap();
    reg.record(ud, -8i64, &[]).unwrap();
    reg.record(udf, -0.5, &[]).unwrap();
    reg.record(g, 21i64, &[]).unwrap();
    reg.record(g, -4i64, &[]).unwrap();
    reg.record(gf, 3.25, &[]).unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 10);
    assert_eq!(snap.metric_count(), 4);
    assert_eq!(int(&snap, 0, 0), -3);
    assert_eq!(
        snap.metric(0).data,
        MetricData::Sum {
            temporality: Temporality::Cumulative,
            is_monotonic: false
        }
    );
    assert_eq!(double(&snap, 1, 0), -0.5);
    assert_eq!(int(&snap, 2, 0), -4);
    assert_eq!(snap.metric(2).data, MetricData::Gauge);
    assert_eq!(
        snap.point(2, 0).start_time_unix_nano,
        0,
        "gauges have no start"
    );
    assert_eq!(double(&snap, 3, 0), 3.25);
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 20);
    // Cumulative up-down and cumulative gauge stay; delta ones had nothing new.
    assert_eq!(snap.metric_count(), 2);
    assert_eq!(snap.metric(0).name, "queue");
    assert_eq!(int(&snap, 0, 0), -3);
    assert_eq!(snap.metric(1).name, "temp");
}

/// A delta float sum that overflowed to an infinity before a collect, with a measurement
/// recorded between that collect and its settle: the commit leaves 0, not NaN (inf - inf),
/// so the next export carries no NaN, and the series goes on summing from there.
#[test]
fn an_overflowed_delta_sum_commits_to_zero_not_nan() {
    let mut reg = Reg::new(0);
    let c = reg
        .declare(InstrumentDesc::counter_f64("c").temporality(Temporality::Delta))
        .unwrap();
    let h = reg
        .declare(InstrumentDesc::histogram("h").temporality(Temporality::Delta))
        .unwrap();
    for _ in 0..2 {
        reg.record(c, f64::MAX, &[]).unwrap();
        reg.record(h, f64::MAX, &[]).unwrap();
    }
    let mut snap = Snap::new();
    reg.collect(&mut snap, 10);
    assert_eq!(double(&snap, 0, 0), f64::INFINITY);
    let PointValue::Histogram(first) = snap.point(1, 0).value else {
        panic!("not a histogram")
    };
    assert_eq!((first.count, first.sum), (2, Some(f64::INFINITY)));
    // Recorded after the collect, before its settle.
    reg.record(c, 1.0, &[]).unwrap();
    reg.record(h, 1.0, &[]).unwrap();
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 20);
    assert_eq!(double(&snap, 0, 0).to_bits(), 0.0f64.to_bits());
    let PointValue::Histogram(second) = snap.point(1, 0).value else {
        panic!("not a histogram")
    };
    assert_eq!(second.count, 1);
    assert_eq!(second.sum.map(f64::to_bits), Some(0.0f64.to_bits()));
    // From there the sums are exact again.
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.record(c, 2.5, &[]).unwrap();
    reg.record(h, 2.5, &[]).unwrap();
    reg.collect(&mut snap, 30);
    assert_eq!(double(&snap, 0, 0), 2.5);
    let PointValue::Histogram(third) = snap.point(1, 0).value else {
        panic!("not a histogram")
    };
    assert_eq!((third.count, third.sum), (1, Some(2.5)));
}

#[test]
fn rejected_values_are_counted() {
    let mut reg = Reg::new(0);
    let c = reg.declare(InstrumentDesc::counter_f64("c")).unwrap();
    let h = reg.declare(InstrumentDesc::histogram("h")).unwrap();
    assert!(reg.record(c, -1.0, &[]).is_err());
    assert!(reg.record(c, f64::NAN, &[]).is_err());
    assert!(reg.record(h, f64::INFINITY, &[]).is_err());
    assert_eq!(reg.stats(c).unwrap().rejected, 2);
    assert_eq!(reg.stats(h).unwrap().rejected, 1);
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    assert_eq!(snap.metric_count(), 0);
}

#[test]
fn explicit_histogram_buckets_min_max_and_delta() {
    let mut reg = Reg::new(0);
    let h = reg
        .declare(InstrumentDesc::histogram("latency").temporality(Temporality::Delta))
        .unwrap();
    for v in [0.0, 5.0, 5.5, 10_000.0, 20_000.0, 3.0] {
        reg.record(h, v, &[]).unwrap();
    }
    let mut snap = Snap::new();
    reg.collect(&mut snap, 50);
    let PointValue::Histogram(v) = snap.point(0, 0).value else {
        panic!()
    };
    assert_eq!(v.count, 6);
    assert_eq!(v.sum, Some(30_013.5));
    assert_eq!((v.min, v.max), (Some(0.0), Some(20_000.0)));
    assert_eq!(v.explicit_bounds, &DEFAULT_BOUNDS[..]);
    let mut want = [0u64; 16];
    want[0] = 1; // 0 <= 0
    want[1] = 2; // 3, 5 in (0, 5]
    want[2] = 1; // 5.5
    want[14] = 1; // 10000 in (7500, 10000]
    want[15] = 1; // above
    assert_eq!(v.bucket_counts, &want[..]);
    // A value recorded between collect and commit stays, and the next delta point's min
    // and max are its own, not the delivered interval's.
    reg.record(h, 7.0, &[]).unwrap();
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 60);
    let PointValue::Histogram(v) = snap.point(0, 0).value else {
        panic!()
    };
    assert_eq!((v.count, v.sum), (1, Some(7.0)));
    assert_eq!(v.bucket_counts.iter().sum::<u64>(), 1);
    assert_eq!(v.bucket_counts[2], 1);
    assert_eq!((v.min, v.max), (Some(7.0), Some(7.0)));
    assert_eq!(snap.point(0, 0).start_time_unix_nano, 50);
    settle_all(&mut reg, &snap, Settlement::Delivered);
    // Nothing since: reset, so the next point's min/max are its own.
    reg.record(h, 42.0, &[]).unwrap();
    reg.collect(&mut snap, 70);
    let PointValue::Histogram(v) = snap.point(0, 0).value else {
        panic!()
    };
    assert_eq!((v.count, v.min, v.max), (1, Some(42.0), Some(42.0)));
}

#[test]
fn custom_bounds_and_bad_bounds() {
    let mut reg = Reg::new(0);
    static BOUNDS: [f64; 2] = [1.0, 2.0];
    let h = reg
        .declare(InstrumentDesc::histogram("h").bounds(&BOUNDS))
        .unwrap();
    for v in [1.0, 1.5, 2.0, 2.5, -1.0] {
        reg.record(h, v, &[]).unwrap();
    }
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    let PointValue::Histogram(v) = snap.point(0, 0).value else {
        panic!()
    };
    assert_eq!(v.bucket_counts, &[2, 2, 1]);
    assert_eq!(v.min, Some(-1.0));
    static BAD: [f64; 2] = [2.0, 1.0];
    assert_eq!(
        reg.declare(InstrumentDesc::histogram("bad").bounds(&BAD)),
        Err(otlp_embedded::registry::DeclareError::InvalidBounds)
    );
}

fn expo(snap: &Snap, m: usize) -> otlp_embedded::proto::ExponentialHistogramValue<'_> {
    match snap.point(m, 0).value {
        PointValue::ExponentialHistogram(v) => v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn exponential_histogram_boundaries_at_scale_1() {
    let mut reg = Reg::new(0);
    let h = reg
        .declare(InstrumentDesc::exponential_histogram("e").exponential_limits(16, 1))
        .unwrap();
    // (2^(i/2), 2^((i+1)/2)]: 1.0 -> -1, sqrt(2) (f64, just above the root) -> 1,
    // 2.0 -> 1, 4.0 -> 3, 0.5 -> -3.
    for v in [1.0, core::f64::consts::SQRT_2, 2.0, 4.0, 0.5, 0.0, -1.0] {
        reg.record(h, v, &[]).unwrap();
    }
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    let v = expo(&snap, 0);
    assert_eq!(v.scale, 1);
    assert_eq!((v.count, v.zero_count), (7, 1));
    assert_eq!(v.positive.offset, -3);
    // indexes -3..=3: 0.5, -, 1.0, -, sqrt2 and 2.0, -, 4.0
    assert_eq!(v.positive.bucket_counts, &[1, 0, 1, 0, 2, 0, 1]);
    assert_eq!(
        (v.negative.offset, v.negative.bucket_counts),
        (-1, &[1u64][..])
    );
    // -1.0 was recorded: metrics.proto says the sum "should not be filled out" then.
    assert_eq!((v.min, v.max, v.sum), (Some(-1.0), Some(4.0), None));
}

fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (e + 1074))
    }
}

#[test]
fn exponential_mapping_at_scale_20_and_extremes() {
    // Exact powers of two are upper bounds of their bucket at every scale.
    for e in [-1074, -1030, -1022, -1, 0, 1, 1023] {
        let v = pow2(e);
        assert_eq!(map_to_index(v, 20), (e << 20) - 1, "2^{e}");
        assert_eq!(map_to_index(v, 0), e - 1);
        assert_eq!(map_to_index(v, -3), (e - 1) >> 3);
    }
    // The next float above a power of two opens the next bucket; the one below stays.
    for e in [-1, 0, 5] {
        let v = pow2(e);
        let up = f64::from_bits(v.to_bits() + 1);
        let down = f64::from_bits(v.to_bits() - 1);
        assert_eq!(map_to_index(up, 20), e << 20);
        assert_eq!(map_to_index(down, 20), (e << 20) - 1);
    }
    assert_eq!(map_to_index(f64::MAX, 20), (1 << 30) - 1);
    assert_eq!(map_to_index(f64::MAX, -10), 0);
    // Subnormals map by their true magnitude: 3 * 2^-1074 lies in (2^-1073, 2^-1072].
    assert_eq!(map_to_index(3.0 * 5e-324, 0), -1073);
    assert_eq!(map_to_index(5e-324, 20), (-1074 << 20) - 1);
    // Floats around the first scale-20 boundary 2^(1/2^20): the mapping is monotonic and
    // steps by exactly one bucket across it.
    let root = 2f64.powf(1.0 / 1_048_576.0);
    let below = f64::from_bits(root.to_bits() - 2);
    let above = f64::from_bits(root.to_bits() + 2);
    assert_eq!(map_to_index(below, 20), 0);
    assert_eq!(map_to_index(above, 20), 1);
    // sqrt(2) at scale 1: the f64 lies above the irrational root, the float below it under.
    let s = core::f64::consts::SQRT_2;
    assert_eq!(map_to_index(s, 1), 1);
    assert_eq!(map_to_index(f64::from_bits(s.to_bits() - 1), 1), 0);
}

#[test]
fn exponential_histogram_downscales_and_delta_subtracts_across_scales() {
    let mut reg = Reg::new(0);
    let h = reg
        .declare(
            InstrumentDesc::exponential_histogram("e")
                .exponential_limits(4, 20)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    reg.record(h, 1.0, &[]).unwrap();
    reg.record(h, 1.5, &[]).unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    let v = expo(&snap, 0);
    // 1.0 -> -1 and 1.5 -> ceil(0.585 * 2^scale) - 1: they first fit in 4 buckets at
    // scale 2, where 1.5 -> 2.
    assert_eq!(v.scale, 2);
    assert_eq!(
        (v.positive.offset, v.positive.bucket_counts),
        (-1, &[1u64, 0, 0, 1][..])
    );
    // Recorded before the commit, and wide enough to force another downscale.
    reg.record(h, 8.0, &[]).unwrap();
    reg.record(h, 1.0, &[]).unwrap();
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 2);
    let v = expo(&snap, 0);
    assert_eq!(v.count, 2);
    assert_eq!(v.sum, Some(9.0));
    // 8.0 (index 11 at scale 2) forced scale 0: 1.0 -> -1, 1.5 -> 0, 8.0 -> 2. The
    // snapshot's scale-2 buckets were mapped down before subtracting.
    assert_eq!(v.scale, 0);
    assert_eq!(
        (v.positive.offset, v.positive.bucket_counts),
        (-1, &[1u64, 0, 0, 1][..])
    );
}

static OBSERVED: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn callback(o: &mut dyn Observe) {
    let v = OBSERVED.load(std::sync::atomic::Ordering::Relaxed);
    o.observe(v.into(), &[KeyValue::new("cpu", AttributeValue::Int(0))]);
    if v > 10 {
        o.observe(
            (v * 2).into(),
            &[KeyValue::new("cpu", AttributeValue::Int(1))],
        );
    }
}

#[test]
fn observables_read_through_callbacks() {
    let mut reg = Reg::new(7);
    let oc = reg
        .declare(
            InstrumentDesc::observable_counter("uptime", NumberKind::Int, callback)
                .attributes(&["cpu"]),
        )
        .unwrap();
    reg.declare(
        InstrumentDesc::observable_up_down_counter("threads", NumberKind::Double, callback)
            .attributes(&["cpu"]),
    )
    .unwrap();
    reg.declare(
        InstrumentDesc::observable_gauge("load", NumberKind::Int, callback).attributes(&["cpu"]),
    )
    .unwrap();
    assert!(
        reg.record(oc, 1u64, &[]).is_err(),
        "observables take no measurements"
    );
    OBSERVED.store(5, std::sync::atomic::Ordering::Relaxed);
    let mut snap = Snap::new();
    reg.collect(&mut snap, 100);
    assert_eq!(snap.metric_count(), 3);
    assert_eq!(int(&snap, 0, 0), 5);
    assert_eq!(double(&snap, 1, 0), 5.0);
    assert_eq!(int(&snap, 2, 0), 5);
    assert_eq!(snap.point(0, 0).start_time_unix_nano, 7);
    assert_eq!(snap.point(2, 0).start_time_unix_nano, 0);
    OBSERVED.store(12, std::sync::atomic::Ordering::Relaxed);
    reg.collect(&mut snap, 200);
    assert_eq!(snap.point_count(0), 2);
    assert_eq!(int(&snap, 0, 0), 12, "absolute, not added");
    assert_eq!(int(&snap, 0, 1), 24);
    OBSERVED.store(3, std::sync::atomic::Ordering::Relaxed);
    reg.collect(&mut snap, 300);
    assert_eq!(snap.point_count(0), 1, "only what the callback reported");
}

#[test]
fn overflow_exactly_when_full_with_right_totals() {
    let mut reg = Reg::new(0);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["k"])
                .max_series(3),
        )
        .unwrap();
    for (i, v) in ["a", "b", "c"].iter().enumerate() {
        reg.record(c, (i + 1) as u64, &[s("k", v)]).unwrap();
    }
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    assert_eq!(snap.point_count(0), 3, "three fit: no overflow yet");
    assert_eq!(reg.stats(c).unwrap().overflowed, 0);
    reg.record(c, 10u64, &[s("k", "d")]).unwrap();
    reg.record(c, 20u64, &[s("k", "e")]).unwrap();
    reg.record(c, 5u64, &[s("k", "a")]).unwrap(); // existing: not overflow
    reg.collect(&mut snap, 2);
    assert_eq!(snap.point_count(0), 4);
    let ov = (0..4)
        .find(|&p| snap.attribute(0, p, 0).key == "otel.metric.overflow")
        .unwrap();
    assert_eq!(snap.attribute_count(0, ov), 1);
    assert_eq!(snap.attribute(0, ov, 0).value, AttributeValue::Bool(true));
    assert_eq!(int(&snap, 0, ov), 30);
    assert_eq!(int(&snap, 0, find(&snap, 0, "k", "a")), 6);
    assert_eq!(reg.stats(c).unwrap().overflowed, 2);
}

#[test]
fn delta_reclaims_idle_series_so_new_sets_fit() {
    let mut reg = Reg::new(0);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["k"])
                .max_series(2)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let pinned = reg.bind(c, &[s("k", "pinned")]).unwrap();
    let mut snap = Snap::new();
    let names = ["a", "b", "c", "d", "e", "f", "g"];
    for (round, name) in names.iter().enumerate() {
        reg.record(c, 1u64, &[s("k", name)]).unwrap();
        reg.record_bound(pinned, 2u64).unwrap();
        reg.collect(&mut snap, round as u64 + 1);
        assert_eq!(snap.point_count(0), 2, "round {round}");
        assert_eq!(int(&snap, 0, find(&snap, 0, "k", name)), 1);
        assert_eq!(int(&snap, 0, find(&snap, 0, "k", "pinned")), 2);
        // Recorded again before the commit: the next round carries it, then it goes idle.
        settle_all(&mut reg, &snap, Settlement::Delivered);
    }
    assert_eq!(reg.stats(c).unwrap().overflowed, 0);
    // Pinned survives being idle.
    reg.collect(&mut snap, 100);
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.record_bound(pinned, 3u64).unwrap();
    reg.collect(&mut snap, 101);
    assert_eq!(snap.point_count(0), 1);
    assert_eq!(int(&snap, 0, 0), 3);
    // sdk.md: a delta point's start "MUST equal the previous collection interval's
    // timestamp": the collect at 100, though the pinned series had nothing for it.
    assert_eq!(snap.point(0, 0).start_time_unix_nano, 100);
}

#[test]
fn clock_backwards_keeps_time_at_or_after_start() {
    let mut reg = Reg::new(0);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").temporality(Temporality::Delta))
        .unwrap();
    reg.record(c, 1u64, &[]).unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1_000);
    reg.record(c, 1u64, &[]).unwrap();
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 400); // clock stepped back
    let p = snap.point(0, 0);
    assert_eq!(p.start_time_unix_nano, 1_000);
    assert_eq!(p.time_unix_nano, 1_000);
}

#[test]
fn long_strings_truncated_at_char_boundary_and_counted() {
    let mut reg: Registry<2, 8, 12, 1, 1> = Registry::new(0);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["a", "b"])
                .max_series(2),
        )
        .unwrap();
    reg.record(
        c,
        1u64,
        &[
            KeyValue::new("a", AttributeValue::Str("ééééé")),
            KeyValue::new("b", AttributeValue::Bool(true)),
            KeyValue::new("zzz", AttributeValue::Int(1)),
        ],
    )
    .unwrap();
    let mut snap: Snapshot<2, 8, 12, 1, 1> = Snapshot::new();
    reg.collect(&mut snap, 1);
    // 12 bytes: tag + 10 bytes of 'é' + bool tag = 12: fits exactly.
    assert_eq!(snap.attribute(0, 0, 0).value, AttributeValue::Str("ééééé"));
    assert_eq!(snap.attribute(0, 0, 1).value, AttributeValue::Bool(true));
    reg.record(
        c,
        1u64,
        &[KeyValue::new("a", AttributeValue::Str("aéééééé"))],
    )
    .unwrap();
    reg.collect(&mut snap, 2);
    let p = (0..2)
        .find(|&p| snap.attribute(0, p, 0).value != AttributeValue::Str("ééééé"))
        .unwrap();
    // 12 - 2 tags = 10 bytes: "a" + 4 'é' = 9; a 5th 'é' would need 11.
    assert_eq!(snap.attribute(0, p, 0).value, AttributeValue::Str("aéééé"));
    assert_eq!(snap.attribute_count(0, p), 1);
    let st = reg.stats(c).unwrap();
    assert_eq!((st.truncated, st.dropped_attributes), (1, 1));
    // The same over-long value again finds the truncated series (no new series).
    reg.record(
        c,
        5u64,
        &[KeyValue::new("a", AttributeValue::Str("aéééééé"))],
    )
    .unwrap();
    reg.collect(&mut snap, 3);
    assert_eq!(snap.point_count(0), 2);
    let p = (0..2)
        .find(|&p| snap.attribute(0, p, 0).value == AttributeValue::Str("aéééé"))
        .unwrap();
    assert_eq!(
        snap.point(0, p).value,
        otlp_embedded::proto::PointValue::Int(6)
    );
    assert_eq!(reg.stats(c).unwrap().truncated, 2);
}

#[test]
fn declaration_limits() {
    use otlp_embedded::registry::DeclareError;
    let mut reg: Registry<2, 10, 34, 3, 40> = Registry::new(0);
    assert_eq!(
        reg.declare(InstrumentDesc::counter_u64("big").max_series(10)),
        Err(DeclareError::SeriesExhausted {
            needed: 11,
            left: 10
        })
    );
    reg.declare(InstrumentDesc::histogram("h").max_series(1))
        .unwrap(); // 2 x 16 buckets
    assert_eq!(
        reg.declare(InstrumentDesc::histogram("h2").max_series(0)),
        Err(DeclareError::BucketsExhausted {
            needed: 16,
            left: 8
        })
    );
    reg.declare(InstrumentDesc::counter_u64("c").max_series(2))
        .unwrap();
    assert_eq!(
        reg.declare(InstrumentDesc::counter_u64("x").max_series(0)),
        Err(DeclareError::TooManyInstruments)
    );
    assert_eq!(
        Reg::new(0).declare(
            InstrumentDesc::counter_u64("k")
                .attributes(&["1", "2", "3", "4", "5", "6", "7", "8", "9"])
        ),
        Err(DeclareError::TooManyKeys)
    );
}

#[test]
fn snapshot_answers_out_of_range_without_panicking() {
    let mut reg = Reg::new(0);
    let c = reg.declare(InstrumentDesc::counter_u64("c")).unwrap();
    reg.record(c, 1u64, &[]).unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    assert_eq!(snap.point_count(9), 0);
    assert_eq!(snap.metric(9).name, "");
    assert_eq!(snap.attribute_count(0, 9), 0);
    assert_eq!(snap.attribute(0, 0, 9).key, "");
    assert_eq!(snap.point(5, 5).value, PointValue::Int(0));
    // Spans past the end settle what exists and stop.
    reg.settle(
        &snap,
        PointSpan {
            start: PointCursor {
                metric: 0,
                point: 0,
            },
            end: PointCursor {
                metric: usize::MAX,
                point: usize::MAX,
            },
            points: usize::MAX,
        },
        Settlement::Delivered,
    );
    reg.collect(&mut snap, 2);
    assert_eq!(int(&snap, 0, 0), 1, "cumulative: unchanged by the commit");
}

#[test]
fn exponential_histogram_extreme_range_still_counts_every_value() {
    let mut reg = Reg::new(0);
    let h = reg
        .declare(InstrumentDesc::exponential_histogram("e").exponential_limits(3, 20))
        .unwrap();
    assert!(reg
        .declare(InstrumentDesc::exponential_histogram("x").exponential_limits(2, 20))
        .is_err());
    for v in [5e-324, f64::MAX, 1.0, -f64::MAX, -5e-324] {
        reg.record(h, v, &[]).unwrap();
    }
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    let v = expo(&snap, 0);
    assert_eq!(v.scale, -10);
    assert_eq!(v.positive.bucket_counts.iter().sum::<u64>(), 3);
    assert_eq!(v.negative.bucket_counts.iter().sum::<u64>(), 2);
    assert_eq!(v.positive.offset, -2);
    assert_eq!(v.positive.bucket_counts, &[1, 1, 1]);
}

#[test]
fn stale_snapshot_settle_is_ignored() {
    let mut reg = Reg::new(0);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").temporality(Temporality::Delta))
        .unwrap();
    reg.record(c, 5u64, &[]).unwrap();
    let mut old = Snap::new();
    reg.collect(&mut old, 10);
    reg.record(c, 7u64, &[]).unwrap();
    let mut new = Snap::new();
    reg.collect(&mut new, 20);
    assert_eq!(int(&new, 0, 0), 12);
    settle_all(&mut reg, &old, Settlement::Delivered); // stale: ignored
    settle_all(&mut reg, &new, Settlement::Delivered);
    reg.record(c, 1u64, &[]).unwrap();
    reg.collect(&mut new, 30);
    assert_eq!(int(&new, 0, 0), 1);
}

#[test]
fn delta_min_max_after_abandon_then_commit_cover_only_what_remains() {
    let mut reg = Reg::new(0);
    let h = reg
        .declare(InstrumentDesc::histogram("latency").temporality(Temporality::Delta))
        .unwrap();
    let e = reg
        .declare(InstrumentDesc::exponential_histogram("sizes").temporality(Temporality::Delta))
        .unwrap();
    let mut snap = Snap::new();
    reg.record(h, 100.0, &[]).unwrap();
    reg.record(e, 100.0, &[]).unwrap();
    // First export abandoned: the next collect carries 100 and 1.
    reg.collect(&mut snap, 10);
    reg.record(h, 1.0, &[]).unwrap();
    reg.record(e, 1.0, &[]).unwrap();
    reg.collect(&mut snap, 20);
    // 50 arrives while the second export is in flight; then that export is delivered.
    reg.record(h, 50.0, &[]).unwrap();
    reg.record(e, 50.0, &[]).unwrap();
    settle_all(&mut reg, &snap, Settlement::Delivered);
    reg.collect(&mut snap, 30);
    let PointValue::Histogram(v) = snap.point(0, 0).value else {
        panic!()
    };
    assert_eq!((v.count, v.sum), (1, Some(50.0)));
    assert_eq!((v.min, v.max), (Some(50.0), Some(50.0)));
    let x = expo(&snap, 1);
    assert_eq!((x.count, x.sum), (1, Some(50.0)));
    assert_eq!((x.min, x.max), (Some(50.0), Some(50.0)));
}

/// The snapshot's attribute walk at its edges, in both key layouts (declared keys, and
/// keys stored with their values): each attribute by index, the empty key and string past
/// the last one, on the overflow series past its one attribute, and for a point or metric
/// that does not exist (whose count is 0).
#[test]
fn attribute_walk_edges() {
    let mut reg = Reg::new(0);
    let declared = reg
        .declare(
            InstrumentDesc::counter_u64("declared")
                .attributes(&["a", "b", "c"])
                .max_series(1),
        )
        .unwrap();
    let open = reg.declare(InstrumentDesc::gauge_i64("open")).unwrap();
    reg.record(declared, 1u64, &[s("c", "z"), s("a", "x")])
        .unwrap();
    reg.record(declared, 2u64, &[s("b", "y")]).unwrap(); // the overflow series
    reg.record(open, 3i64, &[KeyValue::int("n", 7), s("k", "v")])
        .unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 1);
    let empty = KeyValue::new("", AttributeValue::Str(""));
    let ov = (0..2)
        .find(|&p| snap.attribute(0, p, 0).key == "otel.metric.overflow")
        .unwrap();
    let plain = 1 - ov;
    assert_eq!(snap.attribute_count(0, plain), 2);
    assert_eq!(snap.attribute(0, plain, 0), s("a", "x"));
    assert_eq!(snap.attribute(0, plain, 1), s("c", "z"));
    assert_eq!(snap.attribute(0, plain, 2), empty);
    assert_eq!(snap.attribute(0, plain, usize::MAX), empty);
    assert_eq!(snap.attribute_count(0, ov), 1);
    assert_eq!(
        snap.attribute(0, ov, 0),
        KeyValue::new("otel.metric.overflow", AttributeValue::Bool(true))
    );
    assert_eq!(snap.attribute(0, ov, 1), empty);
    assert_eq!(snap.attribute_count(1, 0), 2);
    assert_eq!(snap.attribute(1, 0, 0), s("k", "v"));
    assert_eq!(snap.attribute(1, 0, 1), KeyValue::int("n", 7));
    assert_eq!(snap.attribute(1, 0, 2), empty);
    for (m, p) in [(0, 2), (1, 1), (2, 0), (usize::MAX, 0)] {
        assert_eq!(snap.attribute_count(m, p), 0, "metric {m} point {p}");
        assert_eq!(snap.attribute(m, p, 0), empty, "metric {m} point {p}");
    }
}

/// A metric that was not collected (inside the snapshot's table or past it) reads as an
/// empty gauge with no points; a point that does not exist reads as the integer 0 at the
/// collect time.
#[test]
fn missing_metrics_and_points_read_empty() {
    let mut reg = Reg::new(0);
    let c = reg.declare(InstrumentDesc::counter_u64("c")).unwrap();
    reg.record(c, 5u64, &[]).unwrap();
    let mut snap = Snap::new();
    reg.collect(&mut snap, 7);
    assert_eq!(snap.metric_count(), 1);
    assert_eq!(snap.metric(0).name, "c");
    assert_eq!(snap.point_count(0), 1);
    for m in [1, 7, 8, usize::MAX] {
        let info = snap.metric(m);
        assert_eq!(
            (info.name, info.description, info.unit, info.data),
            ("", "", "", MetricData::Gauge),
            "metric {m}"
        );
        assert_eq!(snap.point_count(m), 0, "metric {m}");
    }
    for (m, p) in [(0, 1), (1, 0), (8, 0), (usize::MAX, usize::MAX)] {
        let point = snap.point(m, p);
        assert_eq!(point.start_time_unix_nano, 0, "metric {m} point {p}");
        assert_eq!(point.time_unix_nano, 7, "metric {m} point {p}");
        assert_eq!(point.flags, 0, "metric {m} point {p}");
        assert_eq!(point.value, PointValue::Int(0), "metric {m} point {p}");
    }
}
