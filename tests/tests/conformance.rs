//! Encoder conformance: every metric kind and field, extreme values included, encoded by
//! otlp-embedded, decoded by prost with opentelemetry-proto, compared with the reference
//! message built from the same input.
use otlp_embedded::proto::*;
use otlp_embedded_tests::{
    assert_header, assert_same, decode, expected_request, flatten, metrics, proto_metric,
};

/// A NaN with a payload, to check doubles travel bit for bit.
const ODD_NAN: f64 = f64::from_bits(0x7ff8_0000_0000_1234);

const RESOURCE_ATTRS: &[KeyValue<'static>] = &[
    KeyValue::new("service.name", AttributeValue::Str("pump-ctl")),
    KeyValue::new("host.ünïcode.名前", AttributeValue::Str("値 ✓ 😀")),
    KeyValue::new("empty.value", AttributeValue::Str("")),
    KeyValue::new("", AttributeValue::Str("empty key")),
    KeyValue::new("flag.false", AttributeValue::Bool(false)),
    KeyValue::new("flag.true", AttributeValue::Bool(true)),
    KeyValue::new("int.min", AttributeValue::Int(i64::MIN)),
    KeyValue::new("int.max", AttributeValue::Int(i64::MAX)),
    KeyValue::new("int.zero", AttributeValue::Int(0)),
    KeyValue::new("int.neg", AttributeValue::Int(-1)),
    KeyValue::new("double.nan", AttributeValue::Double(ODD_NAN)),
    KeyValue::new("double.negzero", AttributeValue::Double(-0.0)),
    KeyValue::new("double.zero", AttributeValue::Double(0.0)),
    KeyValue::new("double.inf", AttributeValue::Double(f64::NEG_INFINITY)),
];

const SCOPE_ATTRS: &[KeyValue<'static>] = &[
    KeyValue::new("scope.kind", AttributeValue::Str("firmware")),
    KeyValue::new("scope.n", AttributeValue::Int(-42)),
    KeyValue::new("scope.b", AttributeValue::Bool(true)),
    KeyValue::new("scope.d", AttributeValue::Double(2.5e-300)),
];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(
        Resource::new(RESOURCE_ATTRS)
            .with_dropped_attributes_count(u32::MAX)
            .with_schema_url("https://opentelemetry.io/schemas/1.30.0"),
        Scope::new("otlp-embedded/conformance")
            .with_version("1.2.3-ß")
            .with_attributes(SCOPE_ATTRS)
            .with_dropped_attributes_count(7)
            .with_schema_url("https://example.invalid/scope-schema"),
    )
}

/// A header with every field at its default.
fn bare_header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&[]), Scope::new(""))
}

const POINT_ATTRS: &[KeyValue<'static>] = &[
    KeyValue::new("s", AttributeValue::Str("ü€😀")),
    KeyValue::new("s.empty", AttributeValue::Str("")),
    KeyValue::new("", AttributeValue::Int(i64::MIN)),
    KeyValue::new("b", AttributeValue::Bool(false)),
    KeyValue::new("d", AttributeValue::Double(f64::NAN)),
    KeyValue::new("d.neg0", AttributeValue::Double(-0.0)),
];

const ONE_ATTR: &[KeyValue<'static>] = &[KeyValue::new("k", AttributeValue::Int(1))];

fn number(
    attributes: &'static [KeyValue<'static>],
    start: u64,
    time: u64,
    flags: u32,
    value: PointValue<'static>,
) -> SlicePoint<'static> {
    SlicePoint {
        attributes,
        point: Point {
            start_time_unix_nano: start,
            time_unix_nano: time,
            flags,
            value,
        },
    }
}

fn gauge_int_points() -> Vec<SlicePoint<'static>> {
    vec![
        number(POINT_ATTRS, 0, 1, 0, PointValue::Int(i64::MIN)),
        number(&[], 0, u64::MAX, 1, PointValue::Int(i64::MAX)),
        number(ONE_ATTR, 0, 0, u32::MAX, PointValue::Int(0)),
        number(&[], 0, 5, 0, PointValue::Int(-1)),
    ]
}

fn gauge_double_points() -> Vec<SlicePoint<'static>> {
    [
        ODD_NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::MIN,
        5e-324,
    ]
    .iter()
    .enumerate()
    .map(|(i, &v)| number(ONE_ATTR, 0, 10 + i as u64, 0, PointValue::Double(v)))
    .collect()
}

fn sum_points(double: bool) -> Vec<SlicePoint<'static>> {
    (0..5)
        .map(|i| {
            let value = if double {
                PointValue::Double(-1.5 * i as f64)
            } else {
                PointValue::Int(i64::MAX - i)
            };
            number(
                if i % 2 == 0 { POINT_ATTRS } else { &[] },
                1_700_000_000_000_000_000,
                1_700_000_000_000_000_000 + i as u64,
                0,
                value,
            )
        })
        .collect()
}

const BOUNDS: &[f64] = &[-10.0, 0.0, 2.5, f64::INFINITY];
const COUNTS: &[u64] = &[0, u64::MAX, 3, 1, 7];
const BOUNDS_1: &[f64] = &[1.0];
const COUNTS_1: &[u64] = &[5, 6];

fn histogram_points() -> Vec<SlicePoint<'static>> {
    let hist = |count, sum, min, max, explicit_bounds, bucket_counts| {
        PointValue::Histogram(HistogramValue {
            count,
            sum,
            min,
            max,
            explicit_bounds,
            bucket_counts,
        })
    };
    vec![
        number(
            POINT_ATTRS,
            3,
            4,
            0,
            hist(u64::MAX, Some(0.0), None, Some(ODD_NAN), BOUNDS, COUNTS),
        ),
        number(
            &[],
            3,
            5,
            1,
            hist(
                11,
                None,
                Some(-0.0),
                Some(f64::INFINITY),
                BOUNDS_1,
                COUNTS_1,
            ),
        ),
        // No buckets at all (both empty), count 0 and nothing optional.
        number(ONE_ATTR, 0, 0, 0, hist(0, None, None, None, &[], &[])),
        number(
            &[],
            9,
            10,
            0,
            hist(
                1,
                Some(-7.25),
                Some(f64::NEG_INFINITY),
                Some(0.0),
                BOUNDS_1,
                COUNTS_1,
            ),
        ),
    ]
}

const POS: &[u64] = &[1, 0, u64::MAX, 300, 127, 128];
const NEG: &[u64] = &[2];

fn exponential_points() -> Vec<SlicePoint<'static>> {
    let exp = |scale, zero_count, zero_threshold, positive, negative, sum, min, max| {
        PointValue::ExponentialHistogram(ExponentialHistogramValue {
            count: 12345,
            sum,
            min,
            max,
            scale,
            zero_count,
            zero_threshold,
            positive,
            negative,
        })
    };
    let buckets = |offset, bucket_counts| ExponentialBuckets {
        offset,
        bucket_counts,
    };
    vec![
        number(
            POINT_ATTRS,
            1,
            2,
            0,
            exp(
                -3,
                u64::MAX,
                1e-9,
                buckets(-5, POS),
                buckets(7, NEG),
                Some(0.0),
                Some(-3.0),
                Some(ODD_NAN),
            ),
        ),
        number(
            &[],
            1,
            3,
            1,
            exp(
                20,
                0,
                -0.0,
                buckets(i32::MIN, NEG),
                buckets(i32::MAX, POS),
                None,
                None,
                None,
            ),
        ),
        number(
            ONE_ATTR,
            0,
            4,
            0,
            exp(
                0,
                1,
                0.0,
                buckets(0, &[]),
                buckets(0, &[]),
                Some(f64::NEG_INFINITY),
                Some(0.0),
                None,
            ),
        ),
        number(
            &[],
            0,
            5,
            0,
            exp(
                i32::MIN,
                0,
                f64::NAN,
                buckets(-1, &[0]),
                buckets(1, &[]),
                None,
                None,
                Some(-0.0),
            ),
        ),
    ]
}

struct Batch {
    infos: Vec<MetricInfo<'static>>,
    points: Vec<Vec<SlicePoint<'static>>>,
}

impl Batch {
    fn all_kinds() -> Batch {
        let info = |name, description, unit, data| MetricInfo {
            name,
            description,
            unit,
            data,
        };
        use Temporality::*;
        let entries: Vec<(MetricInfo<'static>, Vec<SlicePoint<'static>>)> = vec![
            (
                info("gauge.int", "an int gauge", "1", MetricData::Gauge),
                gauge_int_points(),
            ),
            (
                info("gauge.double", "", "", MetricData::Gauge),
                gauge_double_points(),
            ),
            (
                info(
                    "never.recorded",
                    "no points: left out",
                    "1",
                    MetricData::Gauge,
                ),
                vec![],
            ),
            (
                info(
                    "sum.mono.cumulative",
                    "counter",
                    "By",
                    MetricData::Sum {
                        temporality: Cumulative,
                        is_monotonic: true,
                    },
                ),
                sum_points(false),
            ),
            (
                info(
                    "sum.updown.delta",
                    "",
                    "{item}",
                    MetricData::Sum {
                        temporality: Delta,
                        is_monotonic: false,
                    },
                ),
                sum_points(true),
            ),
            (
                info(
                    "sum.mono.delta",
                    "d",
                    "s",
                    MetricData::Sum {
                        temporality: Delta,
                        is_monotonic: true,
                    },
                ),
                sum_points(true),
            ),
            (
                info(
                    "sum.updown.cumulative",
                    "ü",
                    "",
                    MetricData::Sum {
                        temporality: Cumulative,
                        is_monotonic: false,
                    },
                ),
                sum_points(false),
            ),
            (
                info(
                    "hist.delta",
                    "latency",
                    "ms",
                    MetricData::Histogram { temporality: Delta },
                ),
                histogram_points(),
            ),
            (
                info(
                    "",
                    "",
                    "",
                    MetricData::Histogram {
                        temporality: Cumulative,
                    },
                ),
                histogram_points(),
            ),
            (
                info(
                    "exp.cumulative",
                    "expo",
                    "ms",
                    MetricData::ExponentialHistogram {
                        temporality: Cumulative,
                    },
                ),
                exponential_points(),
            ),
            (
                info(
                    "exp.δelta.名前",
                    "",
                    "",
                    MetricData::ExponentialHistogram { temporality: Delta },
                ),
                exponential_points(),
            ),
            (
                info(
                    "also.empty",
                    "",
                    "",
                    MetricData::Histogram { temporality: Delta },
                ),
                vec![],
            ),
        ];
        let (infos, points) = entries.into_iter().unzip();
        Batch { infos, points }
    }

    fn metrics(&self) -> Vec<SliceMetric<'_>> {
        self.infos
            .iter()
            .zip(&self.points)
            .map(|(info, points)| SliceMetric {
                info: *info,
                points,
            })
            .collect()
    }

    fn point_count(&self) -> usize {
        self.points.iter().map(Vec::len).sum()
    }
}

#[test]
fn every_kind_and_field_round_trips_through_prost() {
    let batch = Batch::all_kinds();
    let metrics = batch.metrics();
    let source = SliceSource { metrics: &metrics };
    for header in [header(), bare_header()] {
        let mut buf = vec![0u8; 64 * 1024];
        let bytes = encode_request(&header, &source, &mut buf).expect("fits");
        assert_eq!(encoded_len(&header, &source), Ok(bytes.len()));
        let decoded = decode(bytes);
        assert_same(&decoded, &expected_request(&header, &source));
        assert_header(&decoded, &header);
        // Metrics without points are left out, the others kept in order.
        let names: Vec<&str> = decoded.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        let expected_names: Vec<&str> = batch
            .infos
            .iter()
            .zip(&batch.points)
            .filter(|(_, p)| !p.is_empty())
            .map(|(i, _)| i.name)
            .collect();
        assert_eq!(names, expected_names);
        assert_eq!(flatten(&decoded).len(), batch.point_count());
    }
}

/// Values whose equality the Debug/prost comparison could blur, checked field by field.
#[test]
fn extreme_values_survive_bit_for_bit() {
    use metrics::metric::Data;
    use metrics::number_data_point::Value;
    let batch = Batch::all_kinds();
    let metrics = batch.metrics();
    let source = SliceSource { metrics: &metrics };
    let mut buf = vec![0u8; 64 * 1024];
    let decoded = decode(encode_request(&header(), &source, &mut buf).unwrap());
    let rm = &decoded.resource_metrics[0];
    let res = rm.resource.as_ref().unwrap();
    assert_eq!(res.dropped_attributes_count, u32::MAX);
    let nan_attr = res
        .attributes
        .iter()
        .find(|kv| kv.key == "double.nan")
        .unwrap();
    match nan_attr.value.as_ref().unwrap().value {
        Some(otlp_embedded_tests::common::any_value::Value::DoubleValue(d)) => {
            assert_eq!(d.to_bits(), ODD_NAN.to_bits())
        }
        ref other => panic!("{other:?}"),
    }
    let negzero = res
        .attributes
        .iter()
        .find(|kv| kv.key == "double.negzero")
        .unwrap();
    match negzero.value.as_ref().unwrap().value {
        Some(otlp_embedded_tests::common::any_value::Value::DoubleValue(d)) => {
            assert_eq!(d.to_bits(), (-0.0f64).to_bits())
        }
        ref other => panic!("{other:?}"),
    }
    let ms = &rm.scope_metrics[0].metrics;

    let Some(Data::Gauge(g)) = &ms[0].data else {
        panic!()
    };
    let ints: Vec<_> = g.data_points.iter().map(|p| p.value).collect();
    assert_eq!(
        ints,
        [i64::MIN, i64::MAX, 0, -1].map(|v| Some(Value::AsInt(v)))
    );
    assert_eq!(g.data_points[1].time_unix_nano, u64::MAX);
    assert_eq!(g.data_points[1].flags, 1);
    assert_eq!(g.data_points[2].flags, u32::MAX);

    let Some(Data::Gauge(g)) = &ms[1].data else {
        panic!()
    };
    let bits: Vec<u64> = g
        .data_points
        .iter()
        .map(|p| match p.value {
            Some(Value::AsDouble(d)) => d.to_bits(),
            ref other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<u64> = gauge_double_points()
        .iter()
        .map(|p| match p.point.value {
            PointValue::Double(d) => d.to_bits(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(bits, expected);

    // Histograms: optional doubles present exactly when Some, with exact bits.
    let Some(Data::Histogram(h)) = &ms[6].data else {
        panic!("{:?}", ms[6])
    };
    assert_eq!(h.aggregation_temporality, 1);
    let p = &h.data_points;
    assert_eq!(p[0].count, u64::MAX);
    assert_eq!(p[0].sum.map(f64::to_bits), Some(0.0f64.to_bits()));
    assert_eq!(p[0].min, None);
    assert_eq!(p[0].max.map(f64::to_bits), Some(ODD_NAN.to_bits()));
    assert_eq!(p[0].bucket_counts, COUNTS);
    assert_eq!(p[1].sum, None);
    assert_eq!(p[1].min.map(f64::to_bits), Some((-0.0f64).to_bits()));
    assert_eq!(p[2].bucket_counts, Vec::<u64>::new());
    assert_eq!((p[2].sum, p[2].min, p[2].max), (None, None, None));
    assert_eq!(p[3].max, Some(0.0));

    let Some(Data::ExponentialHistogram(e)) = &ms[8].data else {
        panic!()
    };
    assert_eq!(e.aggregation_temporality, 2);
    let p = &e.data_points;
    assert_eq!(p[0].scale, -3);
    assert_eq!(p[0].zero_count, u64::MAX);
    let pos = p[0].positive.as_ref().unwrap();
    assert_eq!((pos.offset, pos.bucket_counts.as_slice()), (-5, POS));
    let neg = p[0].negative.as_ref().unwrap();
    assert_eq!((neg.offset, neg.bucket_counts.as_slice()), (7, NEG));
    assert_eq!(p[0].sum, Some(0.0));
    // -0.0 as zero_threshold is not the proto3 default (+0.0) bit for bit: it is written.
    assert_eq!(p[1].zero_threshold.to_bits(), (-0.0f64).to_bits());
    assert_eq!(p[1].positive.as_ref().unwrap().offset, i32::MIN);
    assert_eq!(p[1].negative.as_ref().unwrap().offset, i32::MAX);
    assert_eq!((p[1].sum, p[1].min, p[1].max), (None, None, None));
    assert!(p[3].zero_threshold.is_nan());
    assert_eq!(p[3].scale, i32::MIN);
    assert_eq!(p[3].max.map(f64::to_bits), Some((-0.0f64).to_bits()));
}

#[test]
fn splitter_with_room_for_everything_matches_encode_request() {
    let batch = Batch::all_kinds();
    let metrics = batch.metrics();
    let source = SliceSource { metrics: &metrics };
    let mut whole = vec![0u8; 64 * 1024];
    let expected = encode_request(&header(), &source, &mut whole)
        .unwrap()
        .to_vec();
    let mut buf = vec![0u8; 64 * 1024];
    let mut splitter = RequestSplitter::new(header());
    let request = splitter.next_request(&source, &mut buf).unwrap().unwrap();
    assert_eq!(request.bytes, expected.as_slice());
    assert_eq!(
        request.span.start,
        PointCursor {
            metric: 0,
            point: 0
        }
    );
    assert_eq!(
        request.span.end,
        PointCursor {
            metric: metrics.len(),
            point: 0
        }
    );
    assert_eq!(request.span.points, batch.point_count());
    assert!(splitter.next_request(&source, &mut buf).is_none());
    assert!(splitter.next_request(&source, &mut buf).is_none());
    assert!(splitter.is_finished());
}

#[test]
fn request_is_exactly_the_tail_of_an_exact_buffer() {
    let batch = Batch::all_kinds();
    let metrics = batch.metrics();
    let source = SliceSource { metrics: &metrics };
    let len = encoded_len(&header(), &source).unwrap();
    let mut buf = vec![0u8; len];
    assert_eq!(
        encode_request(&header(), &source, &mut buf).unwrap().len(),
        len
    );
    let mut short = vec![0u8; len - 1];
    assert_eq!(
        encode_request(&header(), &source, &mut short),
        Err(EncodeError::BufferTooSmall {
            needed: len,
            buffer: len - 1
        })
    );
}

#[test]
fn empty_batch_gives_no_request_from_the_splitter_and_a_bare_one_from_encode_request() {
    let points: [SlicePoint<'_>; 0] = [];
    let metrics = [SliceMetric {
        info: MetricInfo {
            name: "idle",
            description: "",
            unit: "",
            data: MetricData::Gauge,
        },
        points: &points,
    }];
    for source in [
        SliceSource { metrics: &metrics },
        SliceSource { metrics: &[] },
    ] {
        let mut buf = [0u8; 1024];
        let mut splitter = RequestSplitter::new(header());
        assert!(splitter.next_request(&source, &mut buf).is_none());
        let decoded = decode(encode_request(&header(), &source, &mut buf).unwrap());
        assert_header(&decoded, &header());
        assert!(decoded.resource_metrics[0].scope_metrics[0]
            .metrics
            .is_empty());
    }
}

#[test]
fn header_too_large_is_reported_once_and_the_splitter_ends() {
    let batch = Batch::all_kinds();
    let metrics = batch.metrics();
    let source = SliceSource { metrics: &metrics };
    let mut buf = [0u8; 100];
    let mut splitter = RequestSplitter::new(header());
    assert_eq!(
        splitter
            .next_request(&source, &mut buf)
            .unwrap()
            .unwrap_err(),
        EncodeError::HeaderTooLarge { buffer: 100 }
    );
    assert!(splitter.next_request(&source, &mut buf).is_none());
    assert!(splitter.is_finished());
    assert_eq!(
        splitter.position(),
        PointCursor {
            metric: 0,
            point: 0
        }
    );
}

#[test]
fn invalid_points_are_reported_and_skipped_the_rest_goes_out() {
    let hist = PointValue::Histogram(HistogramValue {
        count: 1,
        sum: None,
        min: None,
        max: None,
        explicit_bounds: BOUNDS_1,
        bucket_counts: COUNTS,
    });
    let good_hist = PointValue::Histogram(HistogramValue {
        count: 1,
        sum: None,
        min: None,
        max: None,
        explicit_bounds: BOUNDS_1,
        bucket_counts: COUNTS_1,
    });
    let gauge_points = [
        number(&[], 0, 1, 0, PointValue::Int(1)),
        number(&[], 0, 2, 0, good_hist),
        number(&[], 0, 3, 0, PointValue::Double(3.0)),
    ];
    let hist_points = [
        number(&[], 0, 4, 0, PointValue::Int(4)),
        number(&[], 0, 5, 0, hist),
        number(&[], 0, 6, 0, good_hist),
    ];
    let metrics = [
        SliceMetric {
            info: MetricInfo {
                name: "g",
                description: "",
                unit: "",
                data: MetricData::Gauge,
            },
            points: &gauge_points,
        },
        SliceMetric {
            info: MetricInfo {
                name: "h",
                description: "",
                unit: "",
                data: MetricData::Histogram {
                    temporality: Temporality::Delta,
                },
            },
            points: &hist_points,
        },
    ];
    let source = SliceSource { metrics: &metrics };
    let mut buf = [0u8; 4096];
    assert_eq!(
        encode_request(&header(), &source, &mut buf),
        Err(EncodeError::ValueKindMismatch {
            metric: 0,
            point: 1
        })
    );
    let mut splitter = RequestSplitter::new(header());
    let mut outcomes = Vec::new();
    let mut times = Vec::new();
    while let Some(result) = splitter.next_request(&source, &mut buf) {
        match result {
            Ok(request) => {
                let decoded = decode(request.bytes);
                assert_header(&decoded, &header());
                let flat = flatten(&decoded);
                assert_eq!(flat.len(), request.span.points);
                times.extend(flat.iter().map(|p| p.time_unix_nano));
                outcomes.push(Ok(request.span));
            }
            Err(e) => outcomes.push(Err(e)),
        }
        assert!(outcomes.len() < 20, "splitter does not end");
    }
    let c = |metric, point| PointCursor { metric, point };
    let span = |start, end, points| PointSpan { start, end, points };
    assert_eq!(
        outcomes,
        vec![
            Ok(span(c(0, 0), c(0, 1), 1)),
            Err(EncodeError::ValueKindMismatch {
                metric: 0,
                point: 1
            }),
            Ok(span(c(0, 2), c(1, 0), 1)),
            Err(EncodeError::ValueKindMismatch {
                metric: 1,
                point: 0
            }),
            Err(EncodeError::BucketCountMismatch {
                metric: 1,
                point: 1
            }),
            Ok(span(c(1, 2), c(2, 0), 1)),
        ]
    );
    assert_eq!(times, [1, 3, 6]);
    // Display says what failed and where.
    assert_eq!(
        EncodeError::BucketCountMismatch {
            metric: 1,
            point: 1
        }
        .to_string(),
        "metric 1 point 1: bucket_counts must have one element more than explicit_bounds"
    );
}

#[test]
fn point_span_counts_match_decoded_points_for_a_single_metric() {
    let points: Vec<_> = (0..10)
        .map(|i| number(ONE_ATTR, 1, 100 + i, 0, PointValue::Int(i as i64)))
        .collect();
    let info = MetricInfo {
        name: "n",
        description: "",
        unit: "",
        data: MetricData::Sum {
            temporality: Temporality::Delta,
            is_monotonic: true,
        },
    };
    let metrics = [SliceMetric {
        info,
        points: &points,
    }];
    let source = SliceSource { metrics: &metrics };
    let expected = proto_metric(&info, &points);
    let mut buf = [0u8; 160];
    let mut splitter = RequestSplitter::new(bare_header());
    let mut all = Vec::new();
    let mut requests = 0;
    while let Some(result) = splitter.next_request(&source, &mut buf) {
        let request = result.unwrap();
        let flat = flatten(&decode(request.bytes));
        assert_eq!(flat.len(), request.span.points);
        assert!(request.span.points >= 1);
        all.extend(flat);
        requests += 1;
        assert!(requests <= 10);
    }
    assert!(requests > 1, "160 bytes should not hold ten points");
    let mut whole = expected.clone();
    let Some(metrics::metric::Data::Sum(s)) = &mut whole.data else {
        panic!()
    };
    s.data_points.clear();
    use prost::Message;
    let shell = whole.encode_to_vec();
    let Some(metrics::metric::Data::Sum(s)) = &expected.data else {
        panic!()
    };
    let want: Vec<Vec<u8>> = s.data_points.iter().map(|p| p.encode_to_vec()).collect();
    let got: Vec<Vec<u8>> = all.iter().map(|p| p.point.clone()).collect();
    assert_eq!(got, want);
    assert!(all.iter().all(|p| p.metric == shell));
}
