//! The `metrics` facade through `otlp_embedded_std::metrics_rs::MetricsRecorder`, a
//! `PeriodicExporter` built from `OTEL_*` settings and the test kit's sink on 127.0.0.1:
//! what the macros recorded, decoded from the requests that arrived (opentelemetry-proto),
//! value for value.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use metrics::Unit;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use otlp_embedded::export::ExportOutcome;
use otlp_embedded::registry::{DeclareError, Snapshot};
use otlp_embedded_std::config::Config;
use otlp_embedded_std::metrics_rs::{
    HistogramAggregation, MetricKind, MetricsRecorder, MetricsRecorderBuilder, RecorderStats,
};
use otlp_embedded_std::{PeriodicExporter, SharedRegistry};
use otlp_embedded_test_kit::sink::Sink;

/// 8 instruments, 128 series, 48 bytes of labels per series, 20 histogram series, 1024
/// bucket counters.
type Reg = SharedRegistry<8, 128, 48, 20, 1024>;

const DELTA: i32 = 1;
const CUMULATIVE: i32 = 2;

/// Attributes as sorted `key=value` strings (`otel.metric.overflow=true` for the overflow
/// series).
type Attrs = Vec<String>;

/// One decoded point's value.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Int(i64),
    Double(f64),
    /// count, sum, bucket counts (explicit) or (scale, positive offset, positive buckets).
    Histogram {
        count: u64,
        sum: Option<f64>,
        buckets: Vec<u64>,
    },
    Exponential {
        count: u64,
        sum: Option<f64>,
        scale: i32,
        zero_count: u64,
    },
}

/// One metric of one request: its shape and its points by attributes.
#[derive(Clone, Debug, PartialEq)]
struct Decoded {
    unit: String,
    description: String,
    /// "sum", "gauge", "histogram", "exponential_histogram".
    shape: &'static str,
    temporality: i32,
    monotonic: bool,
    points: BTreeMap<Attrs, Value>,
}

fn attrs(kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> Attrs {
    let mut out: Attrs = kvs
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                other => panic!("{}: unexpected value {other:?}", kv.key),
            };
            format!("{}={v}", kv.key)
        })
        .collect();
    out.sort();
    out
}

fn decode_metric(m: &Metric) -> Decoded {
    let number = |v: &Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsInt(i)) => Value::Int(*i),
        Some(number_data_point::Value::AsDouble(d)) => Value::Double(*d),
        None => panic!("{}: point without value", m.name),
    };
    let (shape, temporality, monotonic, points) = match &m.data {
        Some(Data::Sum(s)) => (
            "sum",
            s.aggregation_temporality,
            s.is_monotonic,
            s.data_points
                .iter()
                .map(|p| (attrs(&p.attributes), number(&p.value)))
                .collect::<Vec<_>>(),
        ),
        Some(Data::Gauge(g)) => (
            "gauge",
            0,
            false,
            g.data_points
                .iter()
                .map(|p| (attrs(&p.attributes), number(&p.value)))
                .collect(),
        ),
        Some(Data::Histogram(h)) => (
            "histogram",
            h.aggregation_temporality,
            false,
            h.data_points
                .iter()
                .map(|p| {
                    (
                        attrs(&p.attributes),
                        Value::Histogram {
                            count: p.count,
                            sum: p.sum,
                            buckets: p.bucket_counts.clone(),
                        },
                    )
                })
                .collect(),
        ),
        Some(Data::ExponentialHistogram(h)) => (
            "exponential_histogram",
            h.aggregation_temporality,
            false,
            h.data_points
                .iter()
                .map(|p| {
                    (
                        attrs(&p.attributes),
                        Value::Exponential {
                            count: p.count,
                            sum: p.sum,
                            scale: p.scale,
                            zero_count: p.zero_count,
                        },
                    )
                })
                .collect(),
        ),
        other => panic!("{}: unexpected data {other:?}", m.name),
    };
    let n = points.len();
    let points: BTreeMap<Attrs, Value> = points.into_iter().collect();
    assert_eq!(
        points.len(),
        n,
        "{}: two points with one attribute set",
        m.name
    );
    Decoded {
        unit: m.unit.clone(),
        description: m.description.clone(),
        shape,
        temporality,
        monotonic,
        points,
    }
}

/// Every metric of one request, by name.
fn decode(request: &ExportMetricsServiceRequest) -> BTreeMap<String, Decoded> {
    let mut out = BTreeMap::new();
    for m in request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
    {
        let previous = out.insert(m.name.clone(), decode_metric(m));
        assert!(previous.is_none(), "{} twice in one request", m.name);
    }
    out
}

fn a(pairs: &[&str]) -> Attrs {
    let mut v: Attrs = pairs.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// A sink, a registry, a recorder from `build` and an exporter from `OTEL_*` settings
/// with the given temporality preference.
struct Rig {
    sink: Sink,
    recorder: MetricsRecorder,
    exporter: PeriodicExporter,
}

fn rig(preference: &str, build: impl FnOnce(MetricsRecorderBuilder) -> MetricsRecorder) -> Rig {
    let sink = Sink::start().unwrap();
    let config = Config::from_lookup(|name| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(sink.base_url()),
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE" => Some(preference.into()),
        "OTEL_METRIC_EXPORT_INTERVAL" => Some("3600000".into()),
        "OTEL_METRIC_EXPORT_TIMEOUT" => Some("5000".into()),
        _ => None,
    })
    .unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let registry: Arc<Reg> = Arc::new(SharedRegistry::new(0));
    let recorder = build(MetricsRecorder::builder(Arc::clone(&registry)));
    let exporter = PeriodicExporter::from_config(
        &config,
        "metrics-rs-test",
        registry.producer(),
        Box::new(Snapshot::new()),
    )
    .unwrap();
    Rig {
        sink,
        recorder,
        exporter,
    }
}

impl Rig {
    /// Runs `f` with the recorder installed on this thread.
    fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }

    /// One export now; what it sent, decoded.
    fn export(&self) -> BTreeMap<String, Decoded> {
        decode(&self.export_raw())
    }

    /// One export now; the request it sent.
    fn export_raw(&self) -> ExportMetricsServiceRequest {
        let before = self.sink.requests().len();
        let report = self
            .exporter
            .force_export(Duration::from_secs(10))
            .expect("export finished");
        assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
        assert_eq!(report.points_sent, report.points_collected, "{report:?}");
        let requests = self.sink.requests();
        assert_eq!(requests.len(), before + 1, "one request per export here");
        requests[before].clone()
    }

    fn finish(self) -> RecorderStats {
        let stats = self.exporter.shutdown();
        assert_eq!(stats.exports_failed, 0, "{stats:?}");
        self.recorder.stats()
    }
}

/// Every macro kind with labels: round one and round two of each temporality.
fn record_round_one() {
    metrics::describe_counter!("requests", Unit::Count, "Requests served");
    metrics::describe_gauge!("temperature", "Board temperature");
    metrics::describe_histogram!("latency", Unit::Milliseconds, "Request latency");
    metrics::counter!("requests", "method" => "GET", "code" => "200").increment(3);
    // The same label set in another order is the same series.
    metrics::counter!("requests", "code" => "200", "method" => "GET").increment(2);
    let external = metrics::counter!("requests", "method" => "POST");
    external.absolute(10);
    external.absolute(7); // a stale read: no change
    metrics::counter!("requests", "method" => "POST").increment(1);
    metrics::gauge!("temperature", "zone" => "cpu").set(20.5);
    metrics::gauge!("temperature", "zone" => "cpu").increment(1.5);
    metrics::gauge!("temperature", "zone" => "cpu").decrement(0.5);
    metrics::gauge!("temperature", "zone" => "gpu").decrement(3.0);
    for v in [0.25, 7.0, 120.0] {
        metrics::histogram!("latency", "route" => "/a").record(v);
    }
    metrics::histogram!("latency", "route" => "/b").record(5000.5);
}

fn record_round_two() {
    metrics::counter!("requests", "method" => "GET", "code" => "200").increment(4);
    // Following the external counter: 10 + 1 so far through this key, now 15.
    metrics::counter!("requests", "method" => "POST").absolute(15);
    metrics::gauge!("temperature", "zone" => "cpu").increment(2.0);
    metrics::histogram!("latency", "route" => "/a").record(1.0);
}

/// Bucket counts over the default bounds (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000,
/// 2500, 5000, 7500, 10000) with `ones` at the given indices.
fn buckets(counts: &[(usize, u64)]) -> Vec<u64> {
    let mut b = vec![0u64; 16];
    for (i, c) in counts {
        b[*i] += c;
    }
    b
}

fn check_round_one(got: &BTreeMap<String, Decoded>, temporality: i32) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["latency", "requests", "temperature"]
    );
    let requests = &got["requests"];
    assert_eq!(
        (
            requests.shape,
            requests.temporality,
            requests.monotonic,
            requests.unit.as_str(),
            requests.description.as_str()
        ),
        ("sum", temporality, true, "1", "Requests served")
    );
    assert_eq!(
        requests.points,
        BTreeMap::from([
            (a(&["code=200", "method=GET"]), Value::Int(5)),
            (a(&["method=POST"]), Value::Int(11)),
        ])
    );
    let temperature = &got["temperature"];
    assert_eq!(
        (
            temperature.shape,
            temperature.unit.as_str(),
            temperature.description.as_str()
        ),
        ("gauge", "", "Board temperature")
    );
    assert_eq!(
        temperature.points,
        BTreeMap::from([
            (a(&["zone=cpu"]), Value::Double(21.5)),
            (a(&["zone=gpu"]), Value::Double(-3.0)),
        ])
    );
    let latency = &got["latency"];
    assert_eq!(
        (
            latency.shape,
            latency.temporality,
            latency.unit.as_str(),
            latency.description.as_str()
        ),
        ("histogram", temporality, "ms", "Request latency")
    );
    assert_eq!(
        latency.points,
        BTreeMap::from([
            (
                a(&["route=/a"]),
                Value::Histogram {
                    count: 3,
                    sum: Some(127.25),
                    buckets: buckets(&[(1, 1), (2, 1), (7, 1)]),
                }
            ),
            (
                a(&["route=/b"]),
                Value::Histogram {
                    count: 1,
                    sum: Some(5000.5),
                    buckets: buckets(&[(13, 1)]),
                }
            ),
        ])
    );
}

#[test]
fn every_macro_kind_with_labels_arrives_exactly_under_cumulative_temporality() {
    let rig = rig("cumulative", MetricsRecorderBuilder::build);
    rig.record(record_round_one);
    check_round_one(&rig.export(), CUMULATIVE);
    rig.record(record_round_two);
    let got = rig.export();
    assert_eq!(
        got["requests"].points,
        BTreeMap::from([
            (a(&["code=200", "method=GET"]), Value::Int(9)),
            (a(&["method=POST"]), Value::Int(15)),
        ])
    );
    assert_eq!(
        got["temperature"].points,
        BTreeMap::from([
            (a(&["zone=cpu"]), Value::Double(23.5)),
            (a(&["zone=gpu"]), Value::Double(-3.0)),
        ])
    );
    assert_eq!(
        got["latency"].points[&a(&["route=/a"])],
        Value::Histogram {
            count: 4,
            sum: Some(128.25),
            buckets: buckets(&[(1, 2), (2, 1), (7, 1)]),
        }
    );
    let stats = rig.finish();
    assert!(stats.all_kept(), "{stats}");
    assert_eq!(stats.instruments, 3);
}

#[test]
fn every_macro_kind_with_labels_arrives_exactly_under_delta_temporality() {
    let rig = rig("delta", MetricsRecorderBuilder::build);
    rig.record(record_round_one);
    check_round_one(&rig.export(), DELTA);
    rig.record(record_round_two);
    let got = rig.export();
    // Only what round two added; series with nothing new send no point; gauges stay
    // cumulative (last value) under every preference.
    assert_eq!(
        got["requests"].points,
        BTreeMap::from([
            (a(&["code=200", "method=GET"]), Value::Int(4)),
            (a(&["method=POST"]), Value::Int(4)),
        ])
    );
    assert_eq!(got["requests"].temporality, DELTA);
    assert_eq!(
        got["temperature"].points,
        BTreeMap::from([
            (a(&["zone=cpu"]), Value::Double(23.5)),
            (a(&["zone=gpu"]), Value::Double(-3.0)),
        ])
    );
    assert_eq!(
        got["latency"].points,
        BTreeMap::from([(
            a(&["route=/a"]),
            Value::Histogram {
                count: 1,
                sum: Some(1.0),
                buckets: buckets(&[(1, 1)]),
            }
        )])
    );
    let stats = rig.finish();
    assert!(stats.all_kept(), "{stats}");
}

#[test]
fn histograms_can_be_exponential_and_chosen_by_name() {
    fn by_name(name: &str) -> HistogramAggregation {
        if name.ends_with(".exp") {
            HistogramAggregation::Exponential {
                max_size: 20,
                max_scale: 3,
            }
        } else {
            HistogramAggregation::Explicit(&[1.0, 10.0])
        }
    }
    let rig = rig("cumulative", |b| b.histograms_by(by_name).build());
    rig.record(|| {
        for v in [0.0, 1.0, 2.0, 4.0] {
            metrics::histogram!("size.exp", "disk" => "a").record(v);
            metrics::histogram!("size", "disk" => "a").record(v);
        }
    });
    let got = rig.export();
    assert_eq!(got["size.exp"].shape, "exponential_histogram");
    // 1, 2 and 4 span 2 powers of two: 20 buckets hold them at scale 3 (8 per power).
    assert_eq!(
        got["size.exp"].points[&a(&["disk=a"])],
        Value::Exponential {
            count: 4,
            sum: Some(7.0),
            scale: 3,
            zero_count: 1,
        }
    );
    assert_eq!(
        got["size"].points[&a(&["disk=a"])],
        Value::Histogram {
            count: 4,
            sum: Some(7.0),
            buckets: vec![2, 2, 0],
        }
    );
    assert!(rig.finish().all_kept());
}

#[test]
fn label_sets_beyond_the_cardinality_limit_go_to_the_overflow_series_and_are_counted() {
    let rig = rig("cumulative", |b| b.max_series(2).build());
    rig.record(|| {
        for (i, user) in ["u1", "u2", "u3", "u4", "u5"].iter().enumerate() {
            // Run-time label values: each key is made (and allocated) at the call.
            metrics::counter!("logins", "user" => user.to_string()).increment(i as u64 + 1);
        }
        // An existing series still records into itself.
        metrics::counter!("logins", "user" => "u1").increment(10);
        metrics::gauge!("load", "cpu" => "0").set(1.0);
        metrics::gauge!("load", "cpu" => "1").set(2.0);
        metrics::gauge!("load", "cpu" => "2").set(3.0);
    });
    let got = rig.export();
    assert_eq!(
        got["logins"].points,
        BTreeMap::from([
            (a(&["user=u1"]), Value::Int(11)),
            (a(&["user=u2"]), Value::Int(2)),
            // u3, u4, u5: 3 + 4 + 5.
            (a(&["otel.metric.overflow=true"]), Value::Int(12)),
        ])
    );
    assert_eq!(
        got["load"].points,
        BTreeMap::from([
            (a(&["cpu=0"]), Value::Double(1.0)),
            (a(&["cpu=1"]), Value::Double(2.0)),
            (a(&["otel.metric.overflow=true"]), Value::Double(3.0)),
        ])
    );
    let logins = rig
        .recorder
        .instrument_stats(MetricKind::Counter, "logins")
        .unwrap();
    assert_eq!((logins.series, logins.overflowed), (2, 3));
    let stats = rig.finish();
    assert_eq!(stats.series_overflowed, 4, "{stats}");
    assert_eq!(stats.attributes_oversized, 0);
    assert_eq!(stats.measurements_dropped, 0);
}

#[test]
fn labels_beyond_the_attribute_bytes_go_to_the_overflow_series_and_are_counted() {
    let rig = rig("cumulative", MetricsRecorderBuilder::build);
    // 48 bytes per series: "path" => 42 bytes takes 2 + 4 + 42 = 48 and fits; 43 do not.
    let fits = "x".repeat(42);
    let too_long = "y".repeat(43);
    rig.record(|| {
        metrics::counter!("hits", "path" => fits.clone()).increment(1);
        metrics::counter!("hits", "path" => too_long.clone()).increment(2);
        metrics::counter!("hits", "path" => too_long.clone()).increment(3);
        metrics::counter!("hits", "a" => "1", "b" => "2").increment(4);
    });
    let got = rig.export();
    assert_eq!(
        got["hits"].points,
        BTreeMap::from([
            (a(&[&format!("path={fits}")]), Value::Int(1)),
            (a(&["a=1", "b=2"]), Value::Int(4)),
            (a(&["otel.metric.overflow=true"]), Value::Int(5)),
        ])
    );
    let stats = rig.finish();
    assert_eq!(
        (stats.attributes_oversized, stats.series_overflowed),
        (2, 0),
        "{stats}"
    );
}

#[test]
fn names_beyond_the_instrument_capacity_or_the_name_storage_are_refused_and_counted() {
    // 8 instruments of 128 series: 3 counters at max_series 40 take 123; the fourth name
    // finds 5 left. A 24-byte name store holds "first", "second", "third" and "fourth"
    // (22 bytes), not "fifth.one".
    let rig = rig("cumulative", |b| b.max_series(40).name_bytes(24).build());
    rig.record(|| {
        metrics::counter!("first").increment(1);
        metrics::counter!("second").increment(2);
        metrics::counter!("third").increment(3);
        metrics::counter!("fourth").increment(4); // the name fits, its series do not
        metrics::counter!("fourth", "k" => "v").increment(5); // refused already
        metrics::counter!("fifth.one").increment(6); // 9 bytes, 2 left
    });
    let got = rig.export();
    assert_eq!(got.keys().collect::<Vec<_>>(), ["first", "second", "third"]);
    assert_eq!(got["third"].points[&a(&[])], Value::Int(3));
    let stats = rig.finish();
    assert_eq!(stats.instruments, 3, "{stats}");
    assert_eq!(stats.names_refused, 2, "{stats}");
    assert_eq!(stats.measurements_dropped, 3, "{stats}");
    assert_eq!(stats.name_bytes_exhausted, 1, "{stats}");
    assert_eq!(
        stats.last_refusal,
        Some(DeclareError::SeriesExhausted {
            needed: 41,
            left: 5
        })
    );
}

#[test]
fn a_description_after_first_use_is_counted_not_applied() {
    let rig = rig("cumulative", MetricsRecorderBuilder::build);
    rig.record(|| {
        metrics::counter!("jobs").increment(1);
        metrics::describe_counter!("jobs", Unit::Count, "Jobs run");
        // Describing a gauge of the same name is another instrument's description.
        metrics::describe_gauge!("jobs", Unit::Percent, "Jobs busy");
        metrics::gauge!("jobs").set(50.0);
    });
    // One request carries both: they share a name, so read them in order.
    let request = rig.export_raw();
    let metrics: Vec<(String, String, String)> = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| (m.name.clone(), m.unit.clone(), m.description.clone()))
        .collect();
    assert_eq!(
        metrics,
        [
            ("jobs".to_string(), String::new(), String::new()),
            ("jobs".to_string(), "%".to_string(), "Jobs busy".to_string()),
        ]
    );
    let stats = rig.finish();
    assert_eq!(stats.descriptions_late, 1, "{stats}");
}
