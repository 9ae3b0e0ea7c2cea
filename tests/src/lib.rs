//! Shared helpers for the conformance tests and benches: decoding with the reference
//! protobuf types (opentelemetry-proto with prost), building the reference message from the
//! same plain data the encoder reads, flattening requests into comparable points, and
//! totals per `series` attribute (counted by the test kit's one totals function).
pub use opentelemetry_proto::tonic::collector::metrics::v1 as collector;
pub use opentelemetry_proto::tonic::common::v1 as common;
pub use opentelemetry_proto::tonic::metrics::v1 as metrics;
pub use opentelemetry_proto::tonic::resource::v1 as resource;

use otlp_embedded::proto::{
    AttributeValue, ExponentialBuckets, KeyValue, MetricData, MetricInfo, PointValue,
    RequestHeader, SlicePoint, SliceSource,
};
use otlp_embedded_test_kit::totals::{totals, Repeats, SeriesTotal};
use prost::Message;

/// Decode an `ExportMetricsServiceRequest` with prost; panics (failing the test) if invalid.
pub fn decode(bytes: &[u8]) -> collector::ExportMetricsServiceRequest {
    collector::ExportMetricsServiceRequest::decode(bytes)
        .unwrap_or_else(|e| panic!("request does not decode: {e}; bytes {bytes:02x?}"))
}

/// The reference `AnyValue`-carrying `KeyValue`.
pub fn proto_key_value(kv: &KeyValue<'_>) -> common::KeyValue {
    use common::any_value::Value;
    let value = match kv.value {
        AttributeValue::Str(s) => Value::StringValue(s.to_owned()),
        AttributeValue::Bool(b) => Value::BoolValue(b),
        AttributeValue::Int(i) => Value::IntValue(i),
        AttributeValue::Double(d) => Value::DoubleValue(d),
    };
    common::KeyValue {
        key: kv.key.to_owned(),
        value: Some(common::AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn proto_attributes(attributes: &[KeyValue<'_>]) -> Vec<common::KeyValue> {
    attributes.iter().map(proto_key_value).collect()
}

/// The reference `Resource`.
pub fn proto_resource(header: &RequestHeader<'_>) -> resource::Resource {
    resource::Resource {
        attributes: proto_attributes(header.resource.attributes),
        dropped_attributes_count: header.resource.dropped_attributes_count,
        ..Default::default()
    }
}

/// The reference `InstrumentationScope`.
pub fn proto_scope(header: &RequestHeader<'_>) -> common::InstrumentationScope {
    common::InstrumentationScope {
        name: header.scope.name.to_owned(),
        version: header.scope.version.to_owned(),
        attributes: proto_attributes(header.scope.attributes),
        dropped_attributes_count: header.scope.dropped_attributes_count,
    }
}

fn proto_buckets(b: &ExponentialBuckets<'_>) -> metrics::exponential_histogram_data_point::Buckets {
    metrics::exponential_histogram_data_point::Buckets {
        offset: b.offset,
        bucket_counts: b.bucket_counts.to_vec(),
    }
}

/// The reference `Metric` carrying `points`. Panics if a point's value does not match the
/// metric's kind (test data is expected to be valid).
pub fn proto_metric(info: &MetricInfo<'_>, points: &[SlicePoint<'_>]) -> metrics::Metric {
    use metrics::metric::Data;
    let number = |p: &SlicePoint<'_>| metrics::NumberDataPoint {
        attributes: proto_attributes(p.attributes),
        start_time_unix_nano: p.point.start_time_unix_nano,
        time_unix_nano: p.point.time_unix_nano,
        flags: p.point.flags,
        exemplars: vec![],
        value: Some(match p.point.value {
            PointValue::Int(i) => metrics::number_data_point::Value::AsInt(i),
            PointValue::Double(d) => metrics::number_data_point::Value::AsDouble(d),
            other => panic!("not a number point: {other:?}"),
        }),
    };
    let data = match info.data {
        MetricData::Gauge => Data::Gauge(metrics::Gauge {
            data_points: points.iter().map(number).collect(),
        }),
        MetricData::Sum {
            temporality,
            is_monotonic,
        } => Data::Sum(metrics::Sum {
            data_points: points.iter().map(number).collect(),
            aggregation_temporality: temporality as i32,
            is_monotonic,
        }),
        MetricData::Histogram { temporality } => Data::Histogram(metrics::Histogram {
            data_points: points
                .iter()
                .map(|p| {
                    let PointValue::Histogram(h) = p.point.value else {
                        panic!("not a histogram point: {p:?}")
                    };
                    metrics::HistogramDataPoint {
                        attributes: proto_attributes(p.attributes),
                        start_time_unix_nano: p.point.start_time_unix_nano,
                        time_unix_nano: p.point.time_unix_nano,
                        count: h.count,
                        sum: h.sum,
                        bucket_counts: h.bucket_counts.to_vec(),
                        explicit_bounds: h.explicit_bounds.to_vec(),
                        exemplars: vec![],
                        flags: p.point.flags,
                        min: h.min,
                        max: h.max,
                    }
                })
                .collect(),
            aggregation_temporality: temporality as i32,
        }),
        MetricData::ExponentialHistogram { temporality } => {
            Data::ExponentialHistogram(metrics::ExponentialHistogram {
                data_points: points
                    .iter()
                    .map(|p| {
                        let PointValue::ExponentialHistogram(e) = p.point.value else {
                            panic!("not an exponential histogram point: {p:?}")
                        };
                        metrics::ExponentialHistogramDataPoint {
                            attributes: proto_attributes(p.attributes),
                            start_time_unix_nano: p.point.start_time_unix_nano,
                            time_unix_nano: p.point.time_unix_nano,
                            count: e.count,
                            sum: e.sum,
                            scale: e.scale,
                            zero_count: e.zero_count,
                            positive: Some(proto_buckets(&e.positive)),
                            negative: Some(proto_buckets(&e.negative)),
                            flags: p.point.flags,
                            exemplars: vec![],
                            min: e.min,
                            max: e.max,
                            zero_threshold: e.zero_threshold,
                        }
                    })
                    .collect(),
                aggregation_temporality: temporality as i32,
            })
        }
    };
    metrics::Metric {
        name: info.name.to_owned(),
        description: info.description.to_owned(),
        unit: info.unit.to_owned(),
        metadata: vec![],
        data: Some(data),
    }
}

/// The reference request carrying every point of `source` (metrics without points left
/// out, as the encoder does): what an SDK would build before encoding with prost.
pub fn expected_request(
    header: &RequestHeader<'_>,
    source: &SliceSource<'_>,
) -> collector::ExportMetricsServiceRequest {
    let metrics = source
        .metrics
        .iter()
        .filter(|m| !m.points.is_empty())
        .map(|m| proto_metric(&m.info, m.points))
        .collect();
    collector::ExportMetricsServiceRequest {
        resource_metrics: vec![metrics::ResourceMetrics {
            resource: Some(proto_resource(header)),
            scope_metrics: vec![metrics::ScopeMetrics {
                scope: Some(proto_scope(header)),
                metrics,
                schema_url: header.scope.schema_url.to_owned(),
            }],
            schema_url: header.resource.schema_url.to_owned(),
        }],
    }
}

/// Assert two messages are equal, doubles compared bit for bit (NaN payloads, -0.0 in
/// `oneof`/`optional` fields): by their `Debug` text (readable diff) and by their prost
/// encoding (exact bits).
pub fn assert_same<M: Message + std::fmt::Debug>(actual: &M, expected: &M) {
    assert_eq!(format!("{actual:#?}"), format!("{expected:#?}"));
    assert_eq!(
        actual.encode_to_vec(),
        expected.encode_to_vec(),
        "bit-level difference"
    );
}

/// One data point of a decoded request with the metric it belongs to, in comparable form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlatPoint {
    /// The metric's name.
    pub metric_name: String,
    /// The metric without its data points (name, description, unit, kind, temporality,
    /// monotonicity), prost-encoded.
    pub metric: Vec<u8>,
    /// `time_unix_nano` of the point (tests make it unique to identify the point).
    pub time_unix_nano: u64,
    /// The data point, prost-encoded (doubles bit for bit).
    pub point: Vec<u8>,
}

/// Every data point of `request`, in order, with its metric. Panics unless the request has
/// exactly one `ResourceMetrics` with exactly one `ScopeMetrics`.
pub fn flatten(request: &collector::ExportMetricsServiceRequest) -> Vec<FlatPoint> {
    use metrics::metric::Data;
    assert_eq!(request.resource_metrics.len(), 1, "one ResourceMetrics");
    let rm = &request.resource_metrics[0];
    assert_eq!(rm.scope_metrics.len(), 1, "one ScopeMetrics");
    let mut out = Vec::new();
    for metric in &rm.scope_metrics[0].metrics {
        let mut shell = metric.clone();
        let mut points: Vec<(u64, Vec<u8>)> = Vec::new();
        match shell.data.as_mut().expect("metric has data") {
            Data::Gauge(g) => points.extend(
                g.data_points
                    .drain(..)
                    .map(|p| (p.time_unix_nano, p.encode_to_vec())),
            ),
            Data::Sum(s) => points.extend(
                s.data_points
                    .drain(..)
                    .map(|p| (p.time_unix_nano, p.encode_to_vec())),
            ),
            Data::Histogram(h) => points.extend(
                h.data_points
                    .drain(..)
                    .map(|p| (p.time_unix_nano, p.encode_to_vec())),
            ),
            Data::ExponentialHistogram(e) => points.extend(
                e.data_points
                    .drain(..)
                    .map(|p| (p.time_unix_nano, p.encode_to_vec())),
            ),
            Data::Summary(_) => panic!("the encoder never writes summaries"),
        }
        assert!(!points.is_empty(), "metric {} without points", metric.name);
        let shell_bytes = shell.encode_to_vec();
        out.extend(points.into_iter().map(|(time_unix_nano, point)| FlatPoint {
            metric_name: metric.name.clone(),
            metric: shell_bytes.clone(),
            time_unix_nano,
            point,
        }));
    }
    out
}

/// The value of the first attribute, which the export tests' instruments declare as the
/// integer `series`. Panics (failing the test) if it is missing or not an integer.
pub fn series_attribute(attributes: &[common::KeyValue]) -> i64 {
    match attributes
        .first()
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
    {
        Some(common::any_value::Value::IntValue(series)) => *series,
        other => panic!("series attribute {other:?}"),
    }
}

/// Totals per (metric name, `series` attribute) over `requests`, every point counted once,
/// by the test kit's totals function. Panics unless each series has exactly the one
/// attribute `series` with an integer value.
pub fn totals_by_series(
    requests: &[collector::ExportMetricsServiceRequest],
) -> std::collections::BTreeMap<(String, i64), SeriesTotal> {
    totals(requests, Repeats::CountAll)
        .into_iter()
        .map(|(key, total)| {
            let [(name, value)] = &key.attributes[..] else {
                panic!("one attribute expected: {key:?}")
            };
            assert_eq!(name, "series", "{key:?}");
            let series = value
                .parse()
                .unwrap_or_else(|_| panic!("series is not an integer: {key:?}"));
            ((key.metric, series), total)
        })
        .collect()
}

/// Assert `request` carries exactly `header`'s resource and scope (and schema URLs).
pub fn assert_header(request: &collector::ExportMetricsServiceRequest, header: &RequestHeader<'_>) {
    assert_eq!(request.resource_metrics.len(), 1, "one ResourceMetrics");
    let rm = &request.resource_metrics[0];
    assert_same(
        rm.resource.as_ref().expect("resource present"),
        &proto_resource(header),
    );
    assert_eq!(rm.schema_url, header.resource.schema_url);
    assert_eq!(rm.scope_metrics.len(), 1, "one ScopeMetrics");
    let sm = &rm.scope_metrics[0];
    assert_same(
        sm.scope.as_ref().expect("scope present"),
        &proto_scope(header),
    );
    assert_eq!(sm.schema_url, header.scope.schema_url);
}

/// A batch owning its data, for benches and allocation tests (built once, leaked: the
/// borrowed source types need `'static` slices and a test process lives briefly).
pub struct OwnedBatch {
    /// Resource and scope.
    pub header: RequestHeader<'static>,
    /// One entry per metric.
    pub metrics: Vec<otlp_embedded::proto::SliceMetric<'static>>,
}

impl OwnedBatch {
    /// The batch as a [`SliceSource`].
    pub fn source(&self) -> SliceSource<'_> {
        SliceSource {
            metrics: &self.metrics,
        }
    }

    /// Number of data points.
    pub fn point_count(&self) -> usize {
        self.metrics.iter().map(|m| m.points.len()).sum()
    }
}

/// The benchmark batch: one resource with 3 attributes, 10 metrics (6 sums and 4
/// histograms with 10 bounds), 50 points each with 2 attributes.
pub fn bench_batch() -> OwnedBatch {
    use otlp_embedded::proto::{HistogramValue, Point, Resource, Scope, SliceMetric, Temporality};
    const ROUTES: [&str; 5] = [
        "/api/v1/users",
        "/api/v1/orders",
        "/health",
        "/metrics",
        "/",
    ];
    const BOUNDS: &[f64] = &[
        0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0,
    ];
    let resource_attributes: &'static [KeyValue<'static>] = Box::leak(Box::new([
        KeyValue::new("service.name", AttributeValue::Str("checkout")),
        KeyValue::new("service.version", AttributeValue::Str("1.4.2")),
        KeyValue::new("host.name", AttributeValue::Str("node-17.eu-west")),
    ]));
    let header = RequestHeader::new(
        Resource::new(resource_attributes),
        Scope::new("otlp-embedded").with_version("0.1.0"),
    );
    let _: Resource<'_> = header.resource;
    let start = 1_700_000_000_000_000_000u64;
    let mut metrics = Vec::new();
    for m in 0..10usize {
        let histogram = m >= 6;
        let points: Vec<SlicePoint<'static>> = (0..50usize)
            .map(|p| {
                let attributes: &'static [KeyValue<'static>] = Box::leak(Box::new([
                    KeyValue::new("http.route", AttributeValue::Str(ROUTES[p % ROUTES.len()])),
                    KeyValue::new(
                        "http.status_code",
                        AttributeValue::Int(200 + (p as i64 % 7) * 50),
                    ),
                ]));
                let value = if histogram {
                    let counts: Vec<u64> = (0..=BOUNDS.len() as u64)
                        .map(|b| (b * 7 + p as u64) % 13)
                        .collect();
                    let count = counts.iter().sum();
                    PointValue::Histogram(HistogramValue {
                        count,
                        sum: Some(count as f64 * 42.5),
                        min: Some(0.25),
                        max: Some(980.0 + p as f64),
                        explicit_bounds: BOUNDS,
                        bucket_counts: Box::leak(counts.into_boxed_slice()),
                    })
                } else if m % 2 == 0 {
                    PointValue::Int((m * 1000 + p * 37) as i64)
                } else {
                    PointValue::Double(m as f64 * 0.5 + p as f64 * 1.25)
                };
                SlicePoint {
                    attributes,
                    point: Point {
                        start_time_unix_nano: start,
                        time_unix_nano: start + 10_000_000_000,
                        flags: 0,
                        value,
                    },
                }
            })
            .collect();
        let name: &'static str = Box::leak(format!("bench.metric.{m}").into_boxed_str());
        let data = if histogram {
            MetricData::Histogram {
                temporality: Temporality::Delta,
            }
        } else {
            MetricData::Sum {
                temporality: Temporality::Cumulative,
                is_monotonic: m % 3 != 0,
            }
        };
        metrics.push(SliceMetric {
            info: MetricInfo {
                name,
                description: "a metric of the benchmark batch",
                unit: if histogram { "ms" } else { "1" },
                data,
            },
            points: Box::leak(points.into_boxed_slice()),
        });
    }
    OwnedBatch { header, metrics }
}

pub mod fake;

pub mod counting;
pub mod tls_server;

/// The `opentelemetry_sdk` application the SDK bridge's tests and bench record with.
pub mod sdk;

/// A minimal loopback server that answers every request `200` without decoding it.
pub mod answering;
