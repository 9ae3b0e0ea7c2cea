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
    assert_eq!(p.negative.as_ref().unwrap().bucket_counts.iter().sum::<u64>(), 1);
    let p = exponential(&m, "ed");
    assert_eq!((p.count, p.sum, p.min), (2, None, Some(-1.5)));
    settle(&mut reg, &snap, Settlement::Delivered);

    // Only non-negative values since: the delta points have their sum again.
    for i in all {
        reg.record(i, 2.0, &[]).unwrap();
    }
    let m = collect(&mut reg, &mut snap, 4_000);
    assert_eq!((histogram(&m, "h").count, histogram(&m, "h").sum), (6, None));
    assert_eq!(histogram(&m, "hd").sum, Some(2.0));
    assert_eq!(exponential(&m, "e").sum, None);
    assert_eq!(exponential(&m, "ed").sum, Some(2.0));
}
