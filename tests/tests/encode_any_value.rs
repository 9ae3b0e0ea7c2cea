//! Attributes of any kind and bucket numbers handed out one by one, through
//! `MetricsSource`'s provided methods: every `AnyValue` kind (empty strings, bytes and
//! arrays included) decodes with prost to exactly the reference message, for the resource,
//! the scope and a point; a source whose visits disagree with the count it announced gets
//! an error, never a wrong message or a panic.
use otlp_embedded::proto::*;
use otlp_embedded_tests::{assert_same, collector, common, decode, metrics, resource};

const NAMES: &[&str] = &["eth0", "", "wlan0"];

/// One gauge point whose attributes (and the resource's and scope's) are `attributes()`.
struct Kinds {
    owned: Vec<String>,
    bounds: Vec<f64>,
    counts: Vec<u64>,
    /// How many bucket counts the source visits (the honest answer: `counts.len()`).
    visited: usize,
}

impl Kinds {
    fn new() -> Self {
        Kinds {
            owned: vec!["a".into(), "b c".into()],
            bounds: vec![0.5, 1.0],
            counts: vec![1, 2, 3],
            visited: 3,
        }
    }

    fn attributes(&self) -> Vec<AnyKeyValue<'_>> {
        vec![
            AnyKeyValue::new("empty", AnyValue::Str("")),
            AnyKeyValue::new("str", AnyValue::Str("x")),
            AnyKeyValue::new("bool", AnyValue::Bool(false)),
            AnyKeyValue::new("int", AnyValue::Int(-1)),
            AnyKeyValue::new("double", AnyValue::Double(-0.0)),
            AnyKeyValue::new("no.bytes", AnyValue::Bytes(&[])),
            AnyKeyValue::new("bytes", AnyValue::Bytes(&[0, 1, 0xff])),
            AnyKeyValue::new("bools", AnyValue::Array(ArrayValue::Bool(&[true, false]))),
            AnyKeyValue::new("no.ints", AnyValue::Array(ArrayValue::Int(&[]))),
            AnyKeyValue::new(
                "ints",
                AnyValue::Array(ArrayValue::Int(&[i64::MIN, 0, 300])),
            ),
            AnyKeyValue::new(
                "doubles",
                AnyValue::Array(ArrayValue::Double(&[1.5, f64::INFINITY])),
            ),
            AnyKeyValue::new("names", AnyValue::Array(ArrayValue::Str(&NAMES))),
            AnyKeyValue::new("owned", AnyValue::Array(ArrayValue::Str(&self.owned))),
            AnyKeyValue::new("", AnyValue::Int(7)),
        ]
    }
}

impl MetricsSource for Kinds {
    fn metric_count(&self) -> usize {
        2
    }
    fn metric(&self, metric: usize) -> MetricInfo<'_> {
        let data = if metric == 0 {
            MetricData::Gauge
        } else {
            MetricData::Histogram {
                temporality: Temporality::Delta,
            }
        };
        MetricInfo {
            name: "m",
            description: "",
            unit: "",
            data,
        }
    }
    fn point_count(&self, _: usize) -> usize {
        1
    }
    fn point(&self, metric: usize, _: usize) -> Point<'_> {
        let value = if metric == 0 {
            PointValue::Int(5)
        } else {
            PointValue::Histogram(HistogramValue {
                count: 6,
                sum: Some(9.0),
                min: None,
                max: None,
                explicit_bounds: &[],
                bucket_counts: &[],
            })
        };
        Point {
            start_time_unix_nano: 1,
            time_unix_nano: 2,
            flags: 0,
            value,
        }
    }
    fn attribute_count(&self, _: usize, _: usize) -> usize {
        1
    }
    fn attribute(&self, _: usize, _: usize, _: usize) -> KeyValue<'_> {
        KeyValue::new("scalar", AttributeValue::Bool(true))
    }
    fn any_attribute_count(&self, _: AttributeOwner) -> usize {
        self.attributes().len()
    }
    fn any_attribute(&self, _: AttributeOwner, index: usize) -> AnyKeyValue<'_> {
        self.attributes()[index]
    }
    fn scope_count(&self) -> usize {
        1
    }
    fn scope(&self, _: usize) -> Scope<'_> {
        const FIRST: [KeyValue<'static>; 1] = [KeyValue::new("first", AttributeValue::Int(1))];
        Scope::new("kinds").with_attributes(&FIRST)
    }
    fn bucket_len(&self, metric: usize, _: usize, part: BucketPart) -> Option<usize> {
        assert_eq!(metric, 1, "only the histogram is asked");
        Some(match part {
            BucketPart::ExplicitBounds => self.bounds.len(),
            _ => self.counts.len(),
        })
    }
    fn visit_buckets(&self, _: usize, _: usize, part: BucketPart, each: &mut dyn FnMut(u64)) {
        match part {
            BucketPart::ExplicitBounds => self.bounds.iter().for_each(|b| each(b.to_bits())),
            _ => (0..self.visited).for_each(|i| each(i as u64 + 1)),
        }
    }
}

fn any(value: common::any_value::Value) -> Option<common::AnyValue> {
    Some(common::AnyValue { value: Some(value) })
}

fn array(values: Vec<common::any_value::Value>) -> common::any_value::Value {
    common::any_value::Value::ArrayValue(common::ArrayValue {
        values: values
            .into_iter()
            .map(|v| common::AnyValue { value: Some(v) })
            .collect(),
    })
}

fn kv(key: &str, value: common::any_value::Value) -> common::KeyValue {
    common::KeyValue {
        key: key.into(),
        value: any(value),
        ..Default::default()
    }
}

/// The reference attributes, in the order `Kinds::attributes` gives them.
fn expected_attributes() -> Vec<common::KeyValue> {
    use common::any_value::Value::*;
    vec![
        kv("empty", StringValue(String::new())),
        kv("str", StringValue("x".into())),
        kv("bool", BoolValue(false)),
        kv("int", IntValue(-1)),
        kv("double", DoubleValue(-0.0)),
        kv("no.bytes", BytesValue(vec![])),
        kv("bytes", BytesValue(vec![0, 1, 0xff])),
        kv("bools", array(vec![BoolValue(true), BoolValue(false)])),
        kv("no.ints", array(vec![])),
        kv(
            "ints",
            array(vec![IntValue(i64::MIN), IntValue(0), IntValue(300)]),
        ),
        kv(
            "doubles",
            array(vec![DoubleValue(1.5), DoubleValue(f64::INFINITY)]),
        ),
        kv(
            "names",
            array(vec![
                StringValue("eth0".into()),
                StringValue(String::new()),
                StringValue("wlan0".into()),
            ]),
        ),
        kv(
            "owned",
            array(vec![StringValue("a".into()), StringValue("b c".into())]),
        ),
        kv("", IntValue(7)),
    ]
}

fn header() -> RequestHeader<'static> {
    const SERVICE: [KeyValue<'static>; 1] =
        [KeyValue::new("service.name", AttributeValue::Str("kinds"))];
    RequestHeader::new(Resource::new(&SERVICE), Scope::new("not used"))
}

fn expected_request() -> collector::ExportMetricsServiceRequest {
    use common::any_value::Value::*;
    let with_scalar = |mut first: Vec<common::KeyValue>| {
        first.extend(expected_attributes());
        first
    };
    let point_attributes = with_scalar(vec![kv("scalar", BoolValue(true))]);
    collector::ExportMetricsServiceRequest {
        resource_metrics: vec![metrics::ResourceMetrics {
            resource: Some(resource::Resource {
                attributes: with_scalar(vec![kv("service.name", StringValue("kinds".into()))]),
                ..Default::default()
            }),
            scope_metrics: vec![metrics::ScopeMetrics {
                scope: Some(common::InstrumentationScope {
                    name: "kinds".into(),
                    attributes: with_scalar(vec![kv("first", IntValue(1))]),
                    ..Default::default()
                }),
                metrics: vec![
                    metrics::Metric {
                        name: "m".into(),
                        data: Some(metrics::metric::Data::Gauge(metrics::Gauge {
                            data_points: vec![metrics::NumberDataPoint {
                                attributes: point_attributes.clone(),
                                start_time_unix_nano: 1,
                                time_unix_nano: 2,
                                value: Some(metrics::number_data_point::Value::AsInt(5)),
                                ..Default::default()
                            }],
                        })),
                        ..Default::default()
                    },
                    metrics::Metric {
                        name: "m".into(),
                        data: Some(metrics::metric::Data::Histogram(metrics::Histogram {
                            data_points: vec![metrics::HistogramDataPoint {
                                attributes: point_attributes,
                                start_time_unix_nano: 1,
                                time_unix_nano: 2,
                                count: 6,
                                sum: Some(9.0),
                                bucket_counts: vec![1, 2, 3],
                                explicit_bounds: vec![0.5, 1.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        })),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn every_value_kind_decodes_to_the_reference() {
    let source = Kinds::new();
    let mut buf = vec![0u8; 4096];
    let bytes = encode_request(&header(), &source, &mut buf)
        .unwrap()
        .to_vec();
    assert_eq!(encoded_len(&header(), &source), Ok(bytes.len()));
    assert_same(&decode(&bytes), &expected_request());
    // Field for field in prost's order, too: the very bytes prost writes.
    assert_eq!(bytes, prost::Message::encode_to_vec(&expected_request()));

    // Planned rather than written in one pass: a buffer of exactly the request's size,
    // after a first attempt one byte short.
    let mut short = vec![0u8; bytes.len() - 1];
    assert_eq!(
        encode_request(&header(), &source, &mut short),
        Err(EncodeError::BufferTooSmall {
            needed: bytes.len(),
            buffer: bytes.len() - 1
        })
    );
    let mut exact = vec![0u8; bytes.len()];
    let mut splitter = RequestSplitter::new(header());
    let request = splitter.next_request(&source, &mut exact).unwrap().unwrap();
    assert_eq!(request.bytes, &bytes[..]);
    assert_eq!(request.span.points, 2);
    assert!(splitter.next_request(&source, &mut exact).is_none());
}

#[test]
fn visits_that_disagree_with_the_count_are_an_error() {
    for visited in [2, 4] {
        let source = Kinds {
            visited,
            ..Kinds::new()
        };
        let mut buf = vec![0u8; 4096];
        assert_eq!(
            encode_request(&header(), &source, &mut buf),
            Err(EncodeError::SizeMismatch),
            "{visited} counts visited, 3 announced"
        );
        let mut splitter = RequestSplitter::new(header());
        assert_eq!(
            splitter
                .next_request(&source, &mut buf)
                .map(|r| r.map(|q| q.span)),
            Some(Err(EncodeError::SizeMismatch))
        );
        assert!(splitter.next_request(&source, &mut buf).is_none());
    }
}

#[test]
fn array_values_compare_and_print_by_element() {
    let owned: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let a = ArrayValue::Str(&NAMES);
    let b = ArrayValue::Str(&owned);
    assert_eq!(a, b);
    assert_ne!(a, ArrayValue::Str(&&NAMES[..2]));
    assert_ne!(ArrayValue::Int(&[]), ArrayValue::Bool(&[]));
    assert_eq!(
        format!("{a:?}"),
        r#"[Some(Str("eth0")), Some(Str("")), Some(Str("wlan0"))]"#
    );
    assert_eq!(a.element(3), None);
    assert!(ArrayValue::Double(&[]).is_empty());
}
