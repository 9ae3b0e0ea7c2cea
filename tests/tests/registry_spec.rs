//! The registry against the OpenTelemetry specification, rule by rule: each test quotes the
//! sentence it follows, drives the registry through record, collect and settle, encodes the
//! snapshot with the real encoder and checks what a collector would decode (prost with
//! opentelemetry-proto). `docs/conformance.md` lists these tests beside the rules.

use otlp_embedded::proto::{
    AttributeValue, KeyValue, RequestHeader, RequestSplitter, Resource, Scope, Temporality,
};
use otlp_embedded::registry::{InstrumentDesc, Producer, Registry, Settlement, Snapshot};
use otlp_embedded_tests::{common, decode, metrics};

type Reg = Registry<8, 96, 48, 16, 1024>;
type Snap = Snapshot<8, 96, 48, 16, 1024>;

/// Collects `reg` at `now` into `snap` and returns the metrics of the one request the
/// snapshot encodes to.
fn collect(reg: &mut Reg, snap: &mut Snap, now: u64) -> Vec<metrics::Metric> {
    reg.collect(snap, now);
    encode(snap)
}

fn encode(snap: &Snap) -> Vec<metrics::Metric> {
    let mut splitter = RequestSplitter::new(RequestHeader::new(
        Resource::new(&[]),
        Scope::new("registry-spec"),
    ));
    let mut buf = vec![0u8; 64 * 1024];
    let Some(request) = splitter.next_request(snap, &mut buf) else {
        return Vec::new();
    };
    let request = decode(request.expect("the snapshot fits one request").bytes);
    assert!(
        splitter.next_request(snap, &mut buf).is_none(),
        "one request"
    );
    let mut rm = request.resource_metrics;
    assert_eq!(rm.len(), 1);
    let mut sm = rm.remove(0).scope_metrics;
    assert_eq!(sm.len(), 1);
    sm.remove(0).metrics
}

fn settle(reg: &mut Reg, snap: &Snap, how: Settlement) {
    reg.settle(snap, snap.full_span(), how);
}

fn metric<'m>(metrics: &'m [metrics::Metric], name: &str) -> &'m metrics::Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no metric {name} in {metrics:?}"))
}

fn histogram(metrics: &[metrics::Metric], name: &str) -> metrics::HistogramDataPoint {
    match &metric(metrics, name).data {
        Some(metrics::metric::Data::Histogram(h)) => {
            assert_eq!(h.data_points.len(), 1, "{name}");
            h.data_points[0].clone()
        }
        other => panic!("{name}: not a histogram: {other:?}"),
    }
}

fn exponential(metrics: &[metrics::Metric], name: &str) -> metrics::ExponentialHistogramDataPoint {
    match &metric(metrics, name).data {
        Some(metrics::metric::Data::ExponentialHistogram(h)) => {
            assert_eq!(h.data_points.len(), 1, "{name}");
            h.data_points[0].clone()
        }
        other => panic!("{name}: not an exponential histogram: {other:?}"),
    }
}

/// Attributes rendered `key=value`, sorted.
fn attributes(kvs: &[common::KeyValue]) -> Vec<String> {
    let mut out: Vec<String> = kvs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(common::any_value::Value::StringValue(s)) => s.clone(),
                Some(common::any_value::Value::IntValue(i)) => i.to_string(),
                Some(common::any_value::Value::BoolValue(b)) => b.to_string(),
                Some(common::any_value::Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            format!("{}={v}", kv.key)
        })
        .collect();
    out.sort();
    out
}

fn s(key: &'static str, value: &'static str) -> KeyValue<'static> {
    KeyValue::new(key, AttributeValue::Str(value))
}

// ---- Item 4: histogram sum --------------------------------------------------------------

/// metrics.proto, `HistogramDataPoint.sum` and `ExponentialHistogramDataPoint.sum`: "Note:
/// Sum should only be filled out when measuring non-negative discrete events, and is
/// assumed to be monotonic over the values of these events. Negative events *can* be
/// recorded, but sum should not be filled out when doing so."
///
/// Histogram instruments here take values of either sign (the API specification asks for
/// non-negative values but says the API "SHOULD NOT validate this value"). A point whose
/// measurements include a negative value carries no sum; count, buckets, min and max stay.
/// A cumulative series keeps every measurement, so its sum stays out from then on; a
/// delta point covers only its own interval, so the next one without negatives has one.
#[test]
fn histogram_sum_is_left_out_when_a_negative_value_was_recorded() {
    let mut reg = Reg::new(1_000);
    let explicit = |name| InstrumentDesc::histogram(name).max_series(1);
    let expo = |name| {
        InstrumentDesc::exponential_histogram(name)
            .exponential_limits(20, 20)
            .max_series(1)
    };
    let h = reg.declare(explicit("h")).unwrap();
    let e = reg.declare(expo("e")).unwrap();
    let hd = reg
        .declare(explicit("hd").temporality(Temporality::Delta))
        .unwrap();
    let ed = reg
        .declare(expo("ed").temporality(Temporality::Delta))
        .unwrap();
    let all = [h, e, hd, ed];
    let mut snap = Snap::new();
    for i in all {
        reg.record(i, 3.0, &[]).unwrap();
        reg.record(i, 0.0, &[]).unwrap();
        reg.record(i, -0.0, &[]).unwrap();
    }
    let m = collect(&mut reg, &mut snap, 2_000);
    for name in ["h", "hd"] {
        let p = histogram(&m, name);
        assert_eq!((p.count, p.sum, p.min), (3, Some(3.0), Some(0.0)), "{name}");
    }
    for name in ["e", "ed"] {
        let p = exponential(&m, name);
        assert_eq!((p.count, p.sum, p.zero_count), (3, Some(3.0), 2), "{name}");
    }
    settle(&mut reg, &snap, Settlement::Delivered);

    for i in all {
        reg.record(i, -1.5, &[]).unwrap();
        reg.record(i, 4.0, &[]).unwrap();
    }
    let m = collect(&mut reg, &mut snap, 3_000);
    let p = histogram(&m, "h");
    assert_eq!(
        (p.count, p.sum, p.min, p.max),
        (5, None, Some(-1.5), Some(4.0))
    );
    assert_eq!(p.bucket_counts.iter().sum::<u64>(), 5);
    let p = histogram(&m, "hd");
    assert_eq!(
        (p.count, p.sum, p.min, p.max),
        (2, None, Some(-1.5), Some(4.0))
    );
    let p = exponential(&m, "e");
    assert_eq!((p.count, p.sum, p.min), (5, None, Some(-1.5)));
    assert_eq!(
        p.negative
            .as_ref()
            .unwrap()
            .bucket_counts
            .iter()
            .sum::<u64>(),
        1
    );
    let p = exponential(&m, "ed");
    assert_eq!((p.count, p.sum, p.min), (2, None, Some(-1.5)));
    settle(&mut reg, &snap, Settlement::Delivered);

    // Only non-negative values since: the delta points have their sum again.
    for i in all {
        reg.record(i, 2.0, &[]).unwrap();
    }
    let m = collect(&mut reg, &mut snap, 4_000);
    assert_eq!(
        (histogram(&m, "h").count, histogram(&m, "h").sum),
        (6, None)
    );
    assert_eq!(histogram(&m, "hd").sum, Some(2.0));
    assert_eq!(exponential(&m, "e").sum, None);
    assert_eq!(exponential(&m, "ed").sum, Some(2.0));
}

// ---- Item 3: start times -----------------------------------------------------------------

/// (start, time, value) of every point of a sum metric, sorted by attributes.
fn sum_points(metrics: &[metrics::Metric], name: &str) -> Vec<(Vec<String>, u64, u64, f64)> {
    let Some(m) = metrics.iter().find(|m| m.name == name) else {
        return Vec::new();
    };
    let Some(metrics::metric::Data::Sum(sum)) = &m.data else {
        panic!("{name}: not a sum: {:?}", m.data);
    };
    let mut out: Vec<_> = sum
        .data_points
        .iter()
        .map(|p| {
            let v = match p.value {
                Some(metrics::number_data_point::Value::AsInt(i)) => i as f64,
                Some(metrics::number_data_point::Value::AsDouble(d)) => d,
                None => f64::NAN,
            };
            (
                attributes(&p.attributes),
                p.start_time_unix_nano,
                p.time_unix_nano,
                v,
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn temporality_of(metrics: &[metrics::Metric], name: &str) -> i32 {
    match &metric(metrics, name).data {
        Some(metrics::metric::Data::Sum(s)) => s.aggregation_temporality,
        Some(metrics::metric::Data::Histogram(h)) => h.aggregation_temporality,
        Some(metrics::metric::Data::ExponentialHistogram(h)) => h.aggregation_temporality,
        Some(metrics::metric::Data::Gauge(_)) => 0,
        other => panic!("{name}: {other:?}"),
    }
}

const DELTA: i32 = metrics::AggregationTemporality::Delta as i32;
const CUMULATIVE: i32 = metrics::AggregationTemporality::Cumulative as i32;

/// sdk.md, "Start timestamps": "For delta aggregations, the start timestamp MUST equal the
/// previous collection interval's timestamp, or the creation time of the instrument if
/// this is the first collection interval for the instrument. This implies that all data
/// points with delta temporality aggregation for an instrument MUST share the same start
/// timestamp."
///
/// A series bound with `bind` (never reclaimed) that sat idle through a collection, and a
/// series that was reclaimed and comes back, both start at the previous collection. An
/// export that was abandoned is the one case where a point reaches further back: the next
/// point carries the unsent interval too, so it starts where that one did (the
/// specification assumes every collection is exported; see docs/conformance.md).
#[test]
fn delta_points_start_at_the_previous_collection_after_an_idle_interval() {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("c")
                .attributes(&["k"])
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let bound = reg.bind(c, &[s("k", "bound")]).unwrap();
    let mut snap = Snap::new();
    let round = |reg: &mut Reg, snap: &mut Snap, now: u64, how: Settlement| {
        let m = collect(reg, snap, now);
        settle(reg, snap, how);
        sum_points(&m, "c")
    };
    reg.record(c, 1u64, &[s("k", "a")]).unwrap();
    reg.record_bound(bound, 2u64).unwrap();
    let k = |v: &str| vec![format!("k={v}")];
    assert_eq!(
        round(&mut reg, &mut snap, 2_000, Settlement::Delivered),
        vec![(k("a"), 1_000, 2_000, 1.0), (k("bound"), 1_000, 2_000, 2.0)]
    );
    // An idle interval: nothing to export.
    assert_eq!(
        round(&mut reg, &mut snap, 3_000, Settlement::Delivered),
        vec![]
    );
    reg.record(c, 3u64, &[s("k", "a")]).unwrap();
    reg.record_bound(bound, 4u64).unwrap();
    assert_eq!(
        round(&mut reg, &mut snap, 4_000, Settlement::Delivered),
        vec![(k("a"), 3_000, 4_000, 3.0), (k("bound"), 3_000, 4_000, 4.0)]
    );
    // Abandoned: the next point carries (4000, 6000].
    reg.record_bound(bound, 5u64).unwrap();
    assert_eq!(
        round(&mut reg, &mut snap, 5_000, Settlement::Abandoned),
        vec![(k("bound"), 4_000, 5_000, 5.0)]
    );
    reg.record_bound(bound, 6u64).unwrap();
    reg.record(c, 7u64, &[s("k", "a")]).unwrap();
    assert_eq!(
        round(&mut reg, &mut snap, 6_000, Settlement::Delivered),
        vec![
            (k("a"), 5_000, 6_000, 7.0),
            (k("bound"), 4_000, 6_000, 11.0)
        ]
    );
}

/// sdk.md, "Start timestamps": "Cumulative timeseries MUST use a consistent start timestamp
/// for all collection intervals. For synchronous instruments, the start timestamp SHOULD be
/// the time of the first measurement for the series." Core has no clock when a measurement
/// is recorded, so a series starts at the collection before its first measurement (the
/// registry's start before the first collection): the section's first sentence, "the
/// timestamp which best represents the first possible moment a measurement for this
/// timeseries could have been recorded", since the series did not exist at that collection.
#[test]
fn cumulative_series_keep_the_start_before_their_first_measurement() {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").attributes(&["k"]))
        .unwrap();
    let h = reg
        .declare(
            InstrumentDesc::histogram("h")
                .attributes(&["k"])
                .max_series(2),
        )
        .unwrap();
    let mut snap = Snap::new();
    reg.record(c, 1u64, &[s("k", "early")]).unwrap();
    reg.record(h, 1.0, &[s("k", "early")]).unwrap();
    let m = collect(&mut reg, &mut snap, 2_000);
    assert_eq!(sum_points(&m, "c")[0].1, 1_000);
    assert_eq!(histogram(&m, "h").start_time_unix_nano, 1_000);
    settle(&mut reg, &snap, Settlement::Delivered);
    reg.record(c, 1u64, &[s("k", "late")]).unwrap();
    for now in [3_000, 4_000, 5_000] {
        reg.record(c, 1u64, &[s("k", "early")]).unwrap();
        let m = collect(&mut reg, &mut snap, now);
        settle(&mut reg, &snap, Settlement::Delivered);
        let points = sum_points(&m, "c");
        assert_eq!(temporality_of(&m, "c"), CUMULATIVE);
        assert_eq!(
            points
                .iter()
                .map(|p| (p.0[0].as_str(), p.1, p.2))
                .collect::<Vec<_>>(),
            vec![("k=early", 1_000, now), ("k=late", 2_000, now)]
        );
        assert_eq!(histogram(&m, "h").start_time_unix_nano, 1_000);
    }
}

fn observe_cpu(o: &mut dyn otlp_embedded::registry::Observe) {
    let seen = OBSERVED.load(std::sync::atomic::Ordering::Relaxed);
    // Low 16 bits: cpu0's reading; bit 16: whether cpu1 is reported (with reading 100).
    o.observe(
        (seen & 0xffff).into(),
        &[KeyValue::new("cpu", AttributeValue::Int(0))],
    );
    if seen & 0x1_0000 != 0 {
        o.observe(
            100u64.into(),
            &[KeyValue::new("cpu", AttributeValue::Int(1))],
        );
    }
}

static OBSERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// The tests that drive `observe_cpu` take turns.
static OBSERVED_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn set_observed(v: u64) {
    OBSERVED.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// sdk.md, "Start timestamps": "For asynchronous instrument, the start timestamp SHOULD be:
/// The creation time of the instrument, if the first series measurement occurred in the
/// first collection interval, Otherwise, the timestamp of the collection interval prior to
/// the first series measurement." The instrument is created with the registry (start
/// 1000); cpu 1 first appears at the collection at 4000, so it starts at 3000.
#[test]
fn observable_series_start_at_creation_or_the_collection_before_their_first_observation() {
    let _turn = OBSERVED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut reg = Reg::new(1_000);
    reg.declare(
        InstrumentDesc::observable_counter(
            "cpu.time",
            otlp_embedded::registry::NumberKind::Int,
            observe_cpu,
        )
        .attributes(&["cpu"])
        .temporality(Temporality::Cumulative),
    )
    .unwrap();
    let mut snap = Snap::new();
    let mut rounds = Vec::new();
    for (now, seen) in [(2_000, 5), (3_000, 7), (4_000, 0x1_0009), (5_000, 0x1_000a)] {
        set_observed(seen);
        let m = collect(&mut reg, &mut snap, now);
        settle(&mut reg, &snap, Settlement::Delivered);
        rounds.push(sum_points(&m, "cpu.time"));
    }
    let cpu = |n: u32, start: u64, time: u64, v: f64| (vec![format!("cpu={n}")], start, time, v);
    assert_eq!(
        rounds,
        vec![
            vec![cpu(0, 1_000, 2_000, 5.0)],
            vec![cpu(0, 1_000, 3_000, 7.0)],
            vec![cpu(0, 1_000, 4_000, 9.0), cpu(1, 3_000, 4_000, 100.0)],
            vec![cpu(0, 1_000, 5_000, 10.0), cpu(1, 3_000, 5_000, 100.0)],
        ]
    );
}

/// metrics.proto says `start_time_unix_nano` is "strongly encouraged" for points with a
/// temporality, and data-model.md, "Resets and Gaps": "When StartTimeUnixNano equals
/// TimeUnixNano, a new unbroken sequence of observations begins with a reset at an unknown
/// start time." A registry made with start time 0 (a `static`, before the wall clock is
/// known) takes its first collection's time as the start of everything that existed by
/// then, so no sum or histogram point is ever exported with start 0.
#[test]
fn a_registry_without_a_start_time_never_exports_start_zero() {
    let _turn = OBSERVED_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    set_observed(4);
    let mut reg = Reg::new(0);
    let c = reg.declare(InstrumentDesc::counter_u64("c")).unwrap();
    let d = reg
        .declare(InstrumentDesc::counter_u64("d").temporality(Temporality::Delta))
        .unwrap();
    let h = reg
        .declare(InstrumentDesc::histogram("h").max_series(1))
        .unwrap();
    reg.declare(
        InstrumentDesc::observable_counter(
            "o",
            otlp_embedded::registry::NumberKind::Int,
            observe_cpu,
        )
        .attributes(&["cpu"]),
    )
    .unwrap();
    let bound = reg.bind(c, &[]).unwrap();
    reg.record(d, 2u64, &[]).unwrap();
    reg.record(h, 3.0, &[]).unwrap();
    let mut snap = Snap::new();
    let m = collect(&mut reg, &mut snap, 7_000);
    settle(&mut reg, &snap, Settlement::Delivered);
    // `c` has nothing yet; the others start at this first collection.
    assert!(m.iter().all(|m| m.name != "c"));
    assert_eq!(
        sum_points(&m, "d")[0].1..=sum_points(&m, "d")[0].2,
        7_000..=7_000
    );
    assert_eq!(histogram(&m, "h").start_time_unix_nano, 7_000);
    assert_eq!(sum_points(&m, "o")[0].1, 7_000);
    reg.record_bound(bound, 1u64).unwrap();
    reg.record(d, 5u64, &[]).unwrap();
    let m = collect(&mut reg, &mut snap, 8_000);
    assert_eq!(sum_points(&m, "c")[0].1, 7_000);
    assert_eq!(sum_points(&m, "d")[0].1, 7_000);
    assert_eq!(histogram(&m, "h").start_time_unix_nano, 7_000);
    assert_eq!(sum_points(&m, "o")[0].1, 7_000);
}

// ---- Item 1: temporality preference ------------------------------------------------------

fn observe_constant(o: &mut dyn otlp_embedded::registry::Observe) {
    o.observe(3u64.into(), &[]);
}

/// specification/metrics/sdk_exporters/otlp.md, `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`:
/// "`Cumulative`: Choose cumulative aggregation temporality for all instrument kinds.
/// `Delta`: Choose Delta aggregation temporality for Counter, Asynchronous Counter and
/// Histogram instrument kinds, choose Cumulative aggregation for UpDownCounter and
/// Asynchronous UpDownCounter instrument kinds. `LowMemory`: This configuration uses Delta
/// aggregation temporality for Synchronous Counter and Histogram and uses Cumulative
/// aggregation temporality for Synchronous UpDownCounter, Asynchronous Counter, and
/// Asynchronous UpDownCounter instrument kinds."
///
/// Instruments that choose no temporality take the preference, whether it is set before
/// they are declared or after (up to the first collect); one that chooses keeps its choice.
/// The exponential histogram counts as a histogram. Gauges carry no temporality on the
/// wire (the table does not name them; they keep reporting their last value).
#[test]
fn temporality_preference_applies_to_instruments_that_do_not_choose() {
    use otlp_embedded::registry::{NumberKind, TemporalityPreference as P};
    let names = [
        "counter",
        "up_down",
        "histogram",
        "exponential",
        "observable_counter",
        "observable_up_down",
        "explicit_cumulative",
        "explicit_delta",
    ];
    let (d, c) = (DELTA, CUMULATIVE);
    let table = [
        (P::Cumulative, [c, c, c, c, c, c, c, d]),
        (P::Delta, [d, c, d, d, d, c, c, d]),
        (P::LowMemory, [d, c, d, d, c, c, c, d]),
    ];
    for (preference, want) in table {
        for set_before_declaring in [true, false] {
            let mut reg = Reg::new(1_000);
            if set_before_declaring {
                reg.set_temporality_preference(preference);
            }
            let descs = [
                InstrumentDesc::counter_u64(names[0]),
                InstrumentDesc::up_down_counter_i64(names[1]),
                InstrumentDesc::histogram(names[2]).max_series(1),
                InstrumentDesc::exponential_histogram(names[3])
                    .exponential_limits(8, 20)
                    .max_series(1),
                InstrumentDesc::observable_counter(names[4], NumberKind::Int, observe_constant),
                InstrumentDesc::observable_up_down_counter(
                    names[5],
                    NumberKind::Int,
                    observe_constant,
                ),
                InstrumentDesc::counter_u64(names[6]).temporality(Temporality::Cumulative),
                InstrumentDesc::counter_u64(names[7]).temporality(Temporality::Delta),
            ];
            let mut declared = Vec::new();
            for desc in descs {
                declared.push(reg.declare(desc).unwrap());
            }
            if !set_before_declaring {
                reg.set_temporality_preference(preference);
            }
            for &i in &declared {
                if !reg.desc(i).unwrap().kind.is_observable() {
                    reg.record(i, 1u64, &[]).unwrap();
                }
            }
            let mut snap = Snap::new();
            let m = collect(&mut reg, &mut snap, 2_000);
            let got: Vec<i32> = names.iter().map(|n| temporality_of(&m, n)).collect();
            assert_eq!(
                got, want,
                "{preference:?}, set before declaring: {set_before_declaring}"
            );
        }
    }
    // After the first collect the instruments keep what they exported with; only those
    // declared later take a new preference.
    let mut reg = Reg::new(1_000);
    let early = reg.declare(InstrumentDesc::counter_u64("early")).unwrap();
    reg.record(early, 1u64, &[]).unwrap();
    let mut snap = Snap::new();
    collect(&mut reg, &mut snap, 2_000);
    reg.set_temporality_preference(P::Delta);
    let late = reg.declare(InstrumentDesc::counter_u64("late")).unwrap();
    reg.record(late, 1u64, &[]).unwrap();
    let m = collect(&mut reg, &mut snap, 3_000);
    assert_eq!(
        (temporality_of(&m, "early"), temporality_of(&m, "late")),
        (CUMULATIVE, DELTA)
    );
}

static METER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static LEVEL: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn observe_meter(o: &mut dyn otlp_embedded::registry::Observe) {
    let v = METER.load(std::sync::atomic::Ordering::Relaxed);
    // Bit 32: the series is not reported this time.
    if v & (1 << 32) == 0 {
        o.observe((v & 0xffff_ffff).into(), &[s("meter", "main")]);
    }
}

fn observe_level(o: &mut dyn otlp_embedded::registry::Observe) {
    let v = LEVEL.load(std::sync::atomic::Ordering::Relaxed);
    o.observe((v as f64).into(), &[]);
}

/// sdk.md, MetricReader: "For asynchronous instruments with Delta temporality, this means
/// converting Cumulative to Delta aggregation temporality", and "For asynchronous
/// instruments with Delta or Cumulative aggregation temporality, MetricReader.Collect MUST
/// only receive data points with measurements recorded since the previous collection."
///
/// The callback reports the running total; each delta point is the change since the
/// observation the last delivered (or dropped) export carried, starting at the previous
/// collection. The first observation of a series is its whole value. An abandoned export
/// leaves the base where it was, so the next point covers both intervals. A total that
/// went down on a monotonic counter is a restart: the point is the new total. An up-down
/// counter's delta may be negative. A series the callback stops reporting is gone; when
/// it comes back it starts over.
#[test]
fn observable_counters_under_delta_report_the_change_since_the_last_export() {
    use otlp_embedded::registry::{NumberKind, TemporalityPreference};
    let mut reg = Reg::new(1_000);
    reg.set_temporality_preference(TemporalityPreference::Delta);
    reg.declare(
        InstrumentDesc::observable_counter("meter", NumberKind::Int, observe_meter)
            .attributes(&["meter"]),
    )
    .unwrap();
    reg.declare(
        InstrumentDesc::observable_up_down_counter("level", NumberKind::Double, observe_level)
            .temporality(Temporality::Delta),
    )
    .unwrap();
    let mut snap = Snap::new();
    let steps: [(u64, u64, i64, Settlement); 7] = [
        (2_000, 10, 5, Settlement::Delivered),
        (3_000, 15, 2, Settlement::Abandoned),
        (4_000, 22, 4, Settlement::Dropped),
        (5_000, 22, 4, Settlement::Delivered),
        (6_000, 3, -6, Settlement::Delivered),
        (7_000, 1 << 32, -6, Settlement::Delivered),
        (8_000, 8, -6, Settlement::Delivered),
    ];
    let mut got = Vec::new();
    for (now, meter, level, how) in steps {
        METER.store(meter, std::sync::atomic::Ordering::Relaxed);
        LEVEL.store(level, std::sync::atomic::Ordering::Relaxed);
        let m = collect(&mut reg, &mut snap, now);
        settle(&mut reg, &snap, how);
        assert_eq!(temporality_of(&m, "level"), DELTA);
        let meter: Vec<_> = sum_points(&m, "meter")
            .into_iter()
            .map(|p| (p.1, p.2, p.3))
            .collect();
        if !meter.is_empty() {
            assert_eq!(temporality_of(&m, "meter"), DELTA);
        }
        let level: Vec<_> = sum_points(&m, "level")
            .into_iter()
            .map(|p| (p.1, p.2, p.3))
            .collect();
        got.push((meter, level));
    }
    assert_eq!(
        got,
        vec![
            (vec![(1_000, 2_000, 10.0)], vec![(1_000, 2_000, 5.0)]),
            // Abandoned: not committed.
            (vec![(2_000, 3_000, 5.0)], vec![(2_000, 3_000, -3.0)]),
            // So this point covers (2000, 4000]; dropped counts as committed.
            (vec![(2_000, 4_000, 12.0)], vec![(2_000, 4_000, -1.0)]),
            // Observed, unchanged: a zero point.
            (vec![(4_000, 5_000, 0.0)], vec![(4_000, 5_000, 0.0)]),
            // 22 -> 3: the counter restarted.
            (vec![(5_000, 6_000, 3.0)], vec![(5_000, 6_000, -10.0)]),
            // Not reported: no point, and the series is gone.
            (vec![], vec![(6_000, 7_000, 0.0)]),
            // Back: its first observation again, from the collection before it.
            (vec![(7_000, 8_000, 8.0)], vec![(7_000, 8_000, 0.0)]),
        ]
    );
}

// ---- Item 2: attributes ------------------------------------------------------------------

/// (attributes, value) of every point of sum metric `name`, sorted.
fn values(metrics: &[metrics::Metric], name: &str) -> Vec<(Vec<String>, f64)> {
    let mut out: Vec<_> = sum_points(metrics, name)
        .into_iter()
        .map(|p| (p.0, p.3))
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// sdk.md, "Instrument advisory parameter: `Attributes`": "If the user has provided
/// attribute keys via View(s), those keys take precedence. If no View is configured, or if
/// a matching view does not specify attribute keys, the advisory parameter should be used.
/// If neither is provided, all attributes must be retained."
///
/// An instrument that declares no keys keeps each measurement's attributes, keys and
/// values, in its series' attribute bytes: the same set in any order is one series; keys
/// may be strings made at run time; a key given twice keeps its last value (the other copy
/// counts as a dropped attribute, as for declared keys).
#[test]
fn an_instrument_without_declared_keys_keeps_every_attribute() {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").max_series(6))
        .unwrap();
    let tenant_key = String::from("tenant");
    let tenant_value = format!("acme-{}", 7);
    let tenant = KeyValue::new(&tenant_key, AttributeValue::Str(&tenant_value));
    let get = s("method", "GET");
    let ok = KeyValue::new("status", AttributeValue::Int(200));
    let sets: [(&[KeyValue<'_>], u64); 8] = [
        (&[get, ok], 1),
        (&[ok, get], 2),
        (&[s("method", "PUT")], 4),
        (&[], 8),
        (
            &[tenant, KeyValue::new("ratio", AttributeValue::Double(0.5))],
            16,
        ),
        (
            &[KeyValue::new("cold", AttributeValue::Bool(true)), tenant],
            32,
        ),
        // `method` twice: the last value counts.
        (&[s("method", "PUT"), s("method", "GET"), ok], 64),
        (&[ok, get], 128),
    ];
    for (attrs, v) in sets {
        reg.record(c, v, attrs).unwrap();
    }
    let bound = reg
        .bind(
            c,
            &[tenant, KeyValue::new("cold", AttributeValue::Bool(true))],
        )
        .unwrap();
    reg.record_bound(bound, 256u64).unwrap();
    let mut snap = Snap::new();
    let m = collect(&mut reg, &mut snap, 2_000);
    assert_eq!(
        values(&m, "c"),
        vec![
            (vec![], 8.0),
            (strs(&["cold=true", "tenant=acme-7"]), 288.0),
            (strs(&["method=GET", "status=200"]), 195.0),
            (strs(&["method=PUT"]), 4.0),
            (strs(&["ratio=0.5", "tenant=acme-7"]), 16.0),
        ]
    );
    let stats = reg.stats(c).unwrap();
    assert_eq!(
        (
            stats.series,
            stats.overflowed,
            stats.oversized,
            stats.dropped_attributes
        ),
        (5, 0, 0, 1)
    );
}

/// sdk.md, "Overflow attribute": "An overflow attribute set is defined, containing a single
/// attribute `otel.metric.overflow` having (boolean) value `true`, which is used to report
/// a synthetic aggregation of the Measurements that could not be independently aggregated
/// because of the limit." And: "Measurements MUST NOT be double-counted or dropped during
/// an overflow."
///
/// Attribute bytes are a limit too: a set of undeclared keys that does not fit in a
/// series' `ATTRIBUTE_BYTES` (here 48) goes to the overflow series, counted in `oversized`,
/// apart from the sets that overflow because the table is full (`overflowed`).
#[test]
fn undeclared_attributes_that_do_not_fit_go_to_the_overflow_series_and_are_counted() {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").max_series(2))
        .unwrap();
    let long = "x".repeat(60);
    let long_key = "k".repeat(300);
    reg.record(c, 1u64, &[s("a", "1")]).unwrap();
    // 48 bytes hold 1 + 4 + 1 + 38 = 44 ("path" and a 38-byte string) but not 1 + 4 + 1 + 60.
    let fits = "y".repeat(38);
    reg.record(
        c,
        2u64,
        &[KeyValue::new("path", AttributeValue::Str(&fits))],
    )
    .unwrap();
    reg.record(
        c,
        4u64,
        &[KeyValue::new("path", AttributeValue::Str(&long))],
    )
    .unwrap();
    reg.record(
        c,
        8u64,
        &[KeyValue::new(&long_key, AttributeValue::Bool(true))],
    )
    .unwrap();
    // The table (2 series) is full: a third set that fits overflows as well.
    reg.record(c, 16u64, &[s("b", "2")]).unwrap();
    let mut snap = Snap::new();
    let m = collect(&mut reg, &mut snap, 2_000);
    let path = format!("path={fits}");
    assert_eq!(
        values(&m, "c"),
        vec![
            (strs(&["a=1"]), 1.0),
            (strs(&["otel.metric.overflow=true"]), 28.0),
            (vec![path], 2.0),
        ]
    );
    let stats = reg.stats(c).unwrap();
    assert_eq!((stats.series, stats.overflowed, stats.oversized), (2, 1, 2));
}

/// sdk.md, View `attribute_keys`: "This is, at a minimum, an allow-list of attribute keys
/// for measurements captured in the metric stream. The allow-list contains attribute keys
/// that identify the attributes that MUST be kept, and all other attributes MUST be
/// ignored." Declared keys are that allow-list (and the instrument's advisory
/// `Attributes`): other keys are left out of the series and counted in
/// `dropped_attributes`, which the specification does not ask for but which makes the
/// filtering visible.
#[test]
fn declared_keys_are_an_allow_list_and_what_they_leave_out_is_counted() {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").attributes(&["method"]))
        .unwrap();
    let region = s("region", "eu");
    let ok = KeyValue::new("status", AttributeValue::Int(200));
    reg.record(c, 1u64, &[s("method", "GET"), ok, region])
        .unwrap();
    reg.record(c, 2u64, &[region, s("method", "GET")]).unwrap();
    reg.record(c, 4u64, &[ok]).unwrap();
    let mut snap = Snap::new();
    let m = collect(&mut reg, &mut snap, 2_000);
    assert_eq!(
        values(&m, "c"),
        vec![(vec![], 4.0), (strs(&["method=GET"]), 3.0)]
    );
    let stats = reg.stats(c).unwrap();
    assert_eq!(
        (stats.series, stats.dropped_attributes, stats.overflowed),
        (2, 4, 0)
    );
}

// ---- Item 5: cardinality limit -----------------------------------------------------------

/// opentelemetry_sdk's `ManualReader` behind an `Arc`, so the test keeps a handle to
/// collect with after the provider took the reader.
#[derive(Debug, Clone)]
struct SharedReader(std::sync::Arc<opentelemetry_sdk::metrics::ManualReader>);

impl opentelemetry_sdk::metrics::reader::MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: std::sync::Weak<opentelemetry_sdk::metrics::Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(
        &self,
        rm: &mut opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(
        &self,
        kind: opentelemetry_sdk::metrics::InstrumentKind,
    ) -> opentelemetry_sdk::metrics::Temporality {
        self.0.temporality(kind)
    }
}

/// opentelemetry_sdk 0.33 with a view limiting counter "c" to `limit` attribute sets:
/// records `sets` (set `j` gets value `j + 1`) and returns the points as (attributes,
/// value), sorted.
fn sdk_points(limit: usize, sets: &[Vec<(String, String)>]) -> Vec<(Vec<String>, f64)> {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
    use opentelemetry_sdk::metrics::reader::MetricReader as _;
    use opentelemetry_sdk::metrics::{Instrument, ManualReader, SdkMeterProvider, Stream};
    let reader = SharedReader(std::sync::Arc::new(ManualReader::builder().build()));
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .with_view(move |i: &Instrument| {
            (i.name() == "c")
                .then(|| Stream::builder().with_cardinality_limit(limit).build().ok())
                .flatten()
        })
        .build();
    let counter = provider.meter("cardinality").u64_counter("c").build();
    for (j, set) in sets.iter().enumerate() {
        let attrs: Vec<opentelemetry::KeyValue> = set
            .iter()
            .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone()))
            .collect();
        counter.add(j as u64 + 1, &attrs);
    }
    let mut rm = ResourceMetrics::default();
    reader.collect(&mut rm).unwrap();
    let mut out = Vec::new();
    for m in rm.scope_metrics().flat_map(|s| s.metrics()) {
        let AggregatedMetrics::U64(MetricData::Sum(sum)) = m.data() else {
            panic!("not a u64 sum: {m:?}");
        };
        for p in sum.data_points() {
            let mut attrs: Vec<String> = p
                .attributes()
                .map(|kv| format!("{}={}", kv.key, kv.value))
                .collect();
            attrs.sort();
            out.push((attrs, p.value() as f64));
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let _ = provider.shutdown();
    out
}

/// The same through this registry: counter "c" with `max_series(limit)`.
fn our_points(limit: u16, sets: &[Vec<(String, String)>]) -> Vec<(Vec<String>, f64)> {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(InstrumentDesc::counter_u64("c").max_series(limit))
        .unwrap();
    for (j, set) in sets.iter().enumerate() {
        let attrs: Vec<KeyValue<'_>> = set
            .iter()
            .map(|(k, v)| KeyValue::new(k, AttributeValue::Str(v)))
            .collect();
        reg.record(c, j as u64 + 1, &attrs).unwrap();
    }
    let mut snap = Snap::new();
    values(&collect(&mut reg, &mut snap, 2_000), "c")
}

/// sdk.md, "Cardinality limits": "The SDK MUST create an Aggregator with the overflow
/// attribute set prior to reaching the cardinality limit and use it to aggregate
/// Measurements for which the correct Aggregator could not be created. The SDK MUST
/// provide the guarantee that overflow would not happen if the maximum number of distinct,
/// non-overflow attribute sets is less than or equal to the limit."
///
/// `max_series` is that limit: `limit` distinct sets never overflow, the next one goes to
/// the overflow series, which is one point more than the limit. (The section's opening,
/// "a hard limit on the number of Metric Points", would count the overflow point too; the
/// guarantee above cannot hold then, and opentelemetry_sdk 0.33 reads it the same way.)
/// limit - 1, limit and limit + 1 sets, here and in opentelemetry_sdk, give the same
/// points, decoded.
///
/// One difference, kept on purpose: opentelemetry_sdk does not count the empty attribute
/// set against the limit; here it is a set like any other ("The number of unique
/// combinations of attributes is called cardinality"), so `limit` sets plus the empty one
/// overflow here and not there.
#[test]
fn cardinality_limit_overflows_at_limit_plus_one_as_opentelemetry_sdk_does() {
    const LIMIT: usize = 4;
    let set = |j: usize| vec![("k".to_string(), format!("v{j}"))];
    let point = |j: usize| (vec![format!("k=v{j}")], j as f64 + 1.0);
    for n in [LIMIT - 1, LIMIT, LIMIT + 1] {
        let sets: Vec<_> = (0..n).map(set).collect();
        let ours = our_points(LIMIT as u16, &sets);
        assert_eq!(ours, sdk_points(LIMIT, &sets), "{n} sets");
        let mut want: Vec<_> = (0..n.min(LIMIT)).map(point).collect();
        if n > LIMIT {
            want.push((strs(&["otel.metric.overflow=true"]), n as f64));
        }
        want.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(ours, want, "{n} sets");
    }
    // LIMIT sets and the empty one: one overflow here, none in opentelemetry_sdk.
    let mut sets: Vec<_> = (0..LIMIT).map(set).collect();
    sets.push(Vec::new());
    let ours = our_points(LIMIT as u16, &sets);
    let theirs = sdk_points(LIMIT, &sets);
    assert_eq!(ours.len(), LIMIT + 1);
    assert!(ours.contains(&(strs(&["otel.metric.overflow=true"]), LIMIT as f64 + 1.0)));
    assert_eq!(theirs.len(), LIMIT + 1);
    assert!(theirs.contains(&(vec![], LIMIT as f64 + 1.0)));
}

/// The same rule when the start time arrives late: series made before
/// `set_start_time` (bound at boot, before the wall clock was read) start at the time it
/// sets, not at 0, as long as no collect has run yet.
#[test]
fn a_start_time_set_after_series_exist_applies_to_them() {
    let mut reg = Reg::new(0);
    let c = reg.declare(InstrumentDesc::counter_u64("c")).unwrap();
    let h = reg
        .declare(InstrumentDesc::histogram("h").max_series(1))
        .unwrap();
    let bound = reg.bind(c, &[]).unwrap();
    reg.record(h, 1.0, &[]).unwrap();
    reg.set_start_time(5_000);
    reg.record_bound(bound, 1u64).unwrap();
    let mut snap = Snap::new();
    let m = collect(&mut reg, &mut snap, 9_000);
    assert_eq!(sum_points(&m, "c")[0].1, 5_000);
    assert_eq!(histogram(&m, "h").start_time_unix_nano, 5_000);
}
