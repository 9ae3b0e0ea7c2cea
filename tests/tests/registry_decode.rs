//! The registry's snapshot through the real encoder: split into several requests, each
//! decoded with the reference protobuf types (opentelemetry-proto + prost) and compared
//! value by value; then each request's span settled, and the next collect checked.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue as PbKeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricsSource, PointSpan, RequestHeader, RequestSplitter, Resource,
    Scope, Temporality,
};
use otlp_embedded::registry::{
    InstrumentDesc, NumberKind, Observe, Producer, Registry, Settlement, Snapshot,
};
use prost::Message;

type Reg = Registry<8, 64, 34, 32, 2048>;
type Snap = Snapshot<8, 64, 34, 32, 2048>;

static RESOURCE: [KeyValue<'static>; 1] =
    [KeyValue::new("service.name", AttributeValue::Str("reg"))];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&RESOURCE), Scope::new("registry-test"))
}

/// Encodes the whole snapshot into requests of at most `buf_len` bytes; returns each
/// request's decoded metrics and span.
fn encode_all(snap: &Snap, buf_len: usize) -> Vec<(Vec<Metric>, PointSpan)> {
    let header = header();
    let mut splitter = RequestSplitter::new(header);
    let mut buf = vec![0u8; buf_len];
    let mut out = Vec::new();
    for _ in 0..=snap.total_points() {
        let Some(r) = splitter.next_request(snap, &mut buf) else {
            break;
        };
        let r = r.expect("every point fits");
        let req = ExportMetricsServiceRequest::decode(r.bytes).expect("decodes");
        assert_eq!(req.resource_metrics.len(), 1);
        let rm = &req.resource_metrics[0];
        assert_eq!(rm.scope_metrics.len(), 1);
        assert_eq!(
            rm.scope_metrics[0].scope.as_ref().unwrap().name,
            "registry-test"
        );
        out.push((rm.scope_metrics[0].metrics.clone(), r.span));
    }
    out
}

fn attrs_of(kvs: &[PbKeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => format!("Str({s:?})"),
                Some(any_value::Value::IntValue(i)) => format!("Int({i})"),
                Some(any_value::Value::BoolValue(b)) => format!("Bool({b})"),
                Some(any_value::Value::DoubleValue(d)) => format!("Double({d})"),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

fn snap_attrs(snap: &Snap, m: usize, p: usize) -> Vec<(String, String)> {
    (0..snap.attribute_count(m, p))
        .map(|i| {
            let kv = snap.attribute(m, p, i);
            (kv.key.to_string(), format!("{:?}", kv.value))
        })
        .collect()
}

fn observe(o: &mut dyn Observe) {
    o.observe(
        2.5f64.into(),
        &[KeyValue::new("cpu", AttributeValue::Int(3))],
    );
}

/// (metric name, attributes, rendered value, start, time).
type Row = (String, Vec<(String, String)>, String, u64, u64);

/// Decoded rows, in order.
fn rows(metrics: &[Metric]) -> Vec<Row> {
    let mut out = Vec::new();
    for m in metrics {
        match m.data.as_ref().unwrap() {
            metric::Data::Sum(s) => {
                for p in &s.data_points {
                    let v = match p.value.unwrap() {
                        number_data_point::Value::AsInt(i) => format!("Int({i})"),
                        number_data_point::Value::AsDouble(d) => format!("Double({d})"),
                    };
                    let v = format!("{v} t{} mono{}", s.aggregation_temporality, s.is_monotonic);
                    out.push((
                        m.name.clone(),
                        attrs_of(&p.attributes),
                        v,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                    ));
                }
            }
            metric::Data::Gauge(g) => {
                for p in &g.data_points {
                    let v = match p.value.unwrap() {
                        number_data_point::Value::AsInt(i) => format!("Int({i})"),
                        number_data_point::Value::AsDouble(d) => format!("Double({d})"),
                    };
                    out.push((
                        m.name.clone(),
                        attrs_of(&p.attributes),
                        v,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                    ));
                }
            }
            metric::Data::Histogram(h) => {
                for p in &h.data_points {
                    let v = format!(
                        "Histogram(count={}, sum={:?}, min={:?}, max={:?}, bounds={:?}, buckets={:?}) t{}",
                        p.count, p.sum, p.min, p.max, p.explicit_bounds, p.bucket_counts, h.aggregation_temporality
                    );
                    out.push((
                        m.name.clone(),
                        attrs_of(&p.attributes),
                        v,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                    ));
                }
            }
            metric::Data::ExponentialHistogram(h) => {
                for p in &h.data_points {
                    let pos = p.positive.clone().unwrap_or_default();
                    let neg = p.negative.clone().unwrap_or_default();
                    let v = format!(
                        "Expo(count={}, sum={:?}, min={:?}, max={:?}, scale={}, zero={}, pos={}:{:?}, neg={}:{:?}) t{}",
                        p.count, p.sum, p.min, p.max, p.scale, p.zero_count, pos.offset, pos.bucket_counts, neg.offset, neg.bucket_counts, h.aggregation_temporality
                    );
                    out.push((
                        m.name.clone(),
                        attrs_of(&p.attributes),
                        v,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                    ));
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

/// The same rows rendered from the snapshot's MetricsSource answers.
fn snap_rows(snap: &Snap) -> Vec<Row> {
    use otlp_embedded::proto::{MetricData, PointValue};
    let mut out = Vec::new();
    for m in 0..snap.metric_count() {
        let info = snap.metric(m);
        for p in 0..snap.point_count(m) {
            let pt = snap.point(m, p);
            let v = match (pt.value, info.data) {
                (PointValue::Int(i), MetricData::Sum { temporality, is_monotonic }) => {
                    format!("Int({i}) t{} mono{is_monotonic}", temporality as i32)
                }
                (PointValue::Double(d), MetricData::Sum { temporality, is_monotonic }) => {
                    format!("Double({d}) t{} mono{is_monotonic}", temporality as i32)
                }
                (PointValue::Int(i), _) => format!("Int({i})"),
                (PointValue::Double(d), _) => format!("Double({d})"),
                (PointValue::Histogram(h), MetricData::Histogram { temporality }) => format!(
                    "Histogram(count={}, sum={:?}, min={:?}, max={:?}, bounds={:?}, buckets={:?}) t{}",
                    h.count, h.sum, h.min, h.max, h.explicit_bounds, h.bucket_counts, temporality as i32
                ),
                (PointValue::ExponentialHistogram(h), MetricData::ExponentialHistogram { temporality }) => format!(
                    "Expo(count={}, sum={:?}, min={:?}, max={:?}, scale={}, zero={}, pos={}:{:?}, neg={}:{:?}) t{}",
                    h.count, h.sum, h.min, h.max, h.scale, h.zero_count, h.positive.offset, h.positive.bucket_counts,
                    h.negative.offset, h.negative.bucket_counts, temporality as i32
                ),
                other => panic!("mismatch {other:?}"),
            };
            out.push((
                info.name.to_string(),
                snap_attrs(snap, m, p),
                v,
                pt.start_time_unix_nano,
                pt.time_unix_nano,
            ));
        }
    }
    out
}

#[test]
fn every_kind_encodes_splits_and_decodes_exactly() {
    let mut reg = Reg::new(1_000);
    let c = reg
        .declare(
            InstrumentDesc::counter_u64("requests")
                .attributes(&["method", "code"])
                .max_series(2)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let h = reg
        .declare(InstrumentDesc::histogram("latency").attributes(&["method"]))
        .unwrap();
    let e = reg
        .declare(InstrumentDesc::exponential_histogram("size").exponential_limits(8, 3))
        .unwrap();
    let g = reg.declare(InstrumentDesc::gauge_f64("temp")).unwrap();
    reg.declare(
        InstrumentDesc::observable_up_down_counter("load", NumberKind::Double, observe)
            .attributes(&["cpu"]),
    )
    .unwrap();
    let methods = ["GET", "PUT", "POST", "DELETE"];
    for (i, m) in methods.iter().enumerate() {
        let a = [
            KeyValue::new("code", AttributeValue::Int(200 + i as i64)),
            KeyValue::new("method", AttributeValue::Str(m)),
        ];
        reg.record(c, (i + 1) as u64 * 10, &a).unwrap(); // 3rd and 4th overflow
        reg.record(h, i as f64 * 30.0, &a[1..]).unwrap();
    }
    for v in [0.0, 1.0, 2.0, 3.0, -0.5, 100.0] {
        reg.record(e, v, &[]).unwrap();
    }
    reg.record(g, -1.25, &[]).unwrap();
    let mut snap = Box::new(Snap::new());
    reg.collect(&mut snap, 2_000);
    let expected = snap_rows(&snap);
    assert_eq!(expected.len(), 3 + 4 + 1 + 1 + 1);
    assert!(expected.iter().any(|r| r.0 == "requests"
        && r.1 == vec![("otel.metric.overflow".into(), "Bool(true)".into())]
        && r.2 == "Int(70) t1 monotrue"));

    let requests = encode_all(&snap, 400);
    assert!(requests.len() > 1, "400-byte buffers force a split");
    let mut decoded = Vec::new();
    let mut carried = 0;
    for (metrics, span) in &requests {
        let r = rows(metrics);
        assert_eq!(r.len(), span.points);
        carried += span.points;
        decoded.extend(r);
    }
    assert_eq!(carried, snap.total_points());
    assert_eq!(decoded, expected);

    // Settle per request: the first delivered, the rest abandoned. The abandoned part of
    // the delta counter comes back in the next collect, with what was recorded meanwhile.
    for (n, (_, span)) in requests.iter().enumerate() {
        let how = if n == 0 {
            Settlement::Delivered
        } else {
            Settlement::Abandoned
        };
        reg.settle(&snap, *span, how);
    }
    reg.record(
        c,
        1u64,
        &[
            KeyValue::new("method", AttributeValue::Str("GET")),
            KeyValue::new("code", AttributeValue::Int(200)),
        ],
    )
    .unwrap();
    reg.collect(&mut snap, 3_000);
    let again = encode_all(&snap, 4096);
    assert_eq!(again.len(), 1);
    let rows2 = rows(&again[0].0);
    let get = rows2
        .iter()
        .find(|r| r.0 == "requests" && r.1.contains(&("method".into(), "Str(\"GET\")".into())))
        .unwrap();
    // The first request carried the counter's points (they come first): committed.
    assert_eq!(get.2, "Int(1) t1 monotrue");
    assert_eq!((get.3, get.4), (2_000, 3_000));
    assert_eq!(rows2, snap_rows(&snap));
}
