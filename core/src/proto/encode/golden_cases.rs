// Golden requests: small batches and the exact bytes of each request the encoder makes of
// them, worked out by hand from the OTLP `.proto` field numbers (see `field.rs`), one
// commented line per field. Included by core's encoder unit tests (`golden.rs`), which
// compare the encoder's output with them, and by the tests package
// (`tests/tests/encode_golden.rs`), which decodes them with opentelemetry-proto so that a
// wrong golden cannot hide. The includer brings `RequestHeader`, `Resource`, `Scope`,
// `KeyValue`, `AttributeValue` and the `Slice*`/`Point*`/`Metric*` source types into scope.
//
// Every request here has one resource and one scope: `0a len` (resource_metrics) around
// `0a len` (resource), `12 len` (scope_metrics: `0a len` scope, `12 len` metric per
// metric, `1a len` schema_url), `1a len` (schema_url). Fixed64 values are little endian.

/// One golden batch.
pub struct Golden {
    /// What the batch exercises.
    pub name: &'static str,
    /// Resource and scope.
    pub header: RequestHeader<'static>,
    /// The metrics.
    pub metrics: &'static [SliceMetric<'static>],
    /// The buffer size to encode into.
    pub buffer: usize,
    /// Each request: its bytes and the (metric, point) span it carries, `end` exclusive
    /// and normalized (`(metric_count, 0)` at the end of the batch).
    pub requests: &'static [GoldenRequest],
}

/// One request of a golden batch.
pub struct GoldenRequest {
    /// Exact bytes.
    pub bytes: &'static [u8],
    /// First point carried: (metric, point).
    pub start: (usize, usize),
    /// One past the last point carried.
    pub end: (usize, usize),
    /// Points carried.
    pub points: usize,
}

const SCOPE_S: RequestHeader<'static> = RequestHeader::new(Resource::new(&[]), Scope::new("s"));

const fn number(time: u64, value: PointValue<'static>) -> Point<'static> {
    Point {
        start_time_unix_nano: 0,
        time_unix_nano: time,
        flags: 0,
        value,
    }
}

const fn gauge(name: &'static str) -> MetricInfo<'static> {
    MetricInfo {
        name,
        description: "",
        unit: "",
        data: MetricData::Gauge,
    }
}

// ----- gauge: one int point, no attributes, empty resource, scope "s" -----------------

static GAUGE_POINTS: [SlicePoint<'static>; 1] = [SlicePoint {
    attributes: &[],
    point: number(1, PointValue::Int(5)),
}];
static GAUGE_METRICS: [SliceMetric<'static>; 1] = [SliceMetric {
    info: gauge("g"),
    points: &GAUGE_POINTS,
}];
#[rustfmt::skip]
static GAUGE_BYTES: [u8; 38] = [
    0x0a, 0x24,                               // resource_metrics, 36 bytes
      0x0a, 0x00,                             //   resource: empty
      0x12, 0x20,                             //   scope_metrics, 32 bytes
        0x0a, 0x03, 0x0a, 0x01, b's',         //     scope { name "s" }
        0x12, 0x19,                           //     metric, 25 bytes
          0x0a, 0x01, b'g',                   //       name "g"
          0x2a, 0x14,                         //       gauge, 20 bytes
            0x0a, 0x12,                       //         data_points, 18 bytes
              0x19, 1, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 1
              0x31, 5, 0, 0, 0, 0, 0, 0, 0,   //           as_int 5
];

// ----- sum: monotonic cumulative double, with description and unit --------------------

static SUM_POINTS: [SlicePoint<'static>; 1] = [SlicePoint {
    attributes: &[],
    point: Point {
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        flags: 0,
        value: PointValue::Double(1.5),
    },
}];
static SUM_METRICS: [SliceMetric<'static>; 1] = [SliceMetric {
    info: MetricInfo {
        name: "c",
        description: "d",
        unit: "1",
        data: MetricData::Sum {
            temporality: Temporality::Cumulative,
            is_monotonic: true,
        },
    },
    points: &SUM_POINTS,
}];
#[rustfmt::skip]
static SUM_BYTES: [u8; 57] = [
    0x0a, 0x37,                               // resource_metrics, 55 bytes
      0x0a, 0x00,                             //   resource: empty
      0x12, 0x33,                             //   scope_metrics, 51 bytes
        0x0a, 0x03, 0x0a, 0x01, b's',         //     scope { name "s" }
        0x12, 0x2c,                           //     metric, 44 bytes
          0x0a, 0x01, b'c',                   //       name "c"
          0x12, 0x01, b'd',                   //       description "d"
          0x1a, 0x01, b'1',                   //       unit "1"
          0x3a, 0x21,                         //       sum, 33 bytes
            0x0a, 0x1b,                       //         data_points, 27 bytes
              0x11, 1, 0, 0, 0, 0, 0, 0, 0,   //           start_time_unix_nano 1
              0x19, 2, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 2
              0x21, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, //       as_double 1.5
            0x10, 0x02,                       //         aggregation_temporality CUMULATIVE
            0x18, 0x01,                       //         is_monotonic true
];

// ----- attributes: one of each value kind on a point, oneof members always written -----

static ATTRIBUTES: [KeyValue<'static>; 6] = [
    KeyValue::new("s", AttributeValue::Str("x")),
    KeyValue::new("t", AttributeValue::Bool(true)),
    KeyValue::new("f", AttributeValue::Bool(false)),
    KeyValue::new("i", AttributeValue::Int(-2)),
    KeyValue::new("d", AttributeValue::Double(0.5)),
    KeyValue::new("e", AttributeValue::Str("")),
];
static ATTRIBUTE_POINTS: [SlicePoint<'static>; 1] = [SlicePoint {
    attributes: &ATTRIBUTES,
    point: number(1, PointValue::Int(-1)),
}];
static ATTRIBUTE_METRICS: [SliceMetric<'static>; 1] = [SliceMetric {
    info: gauge("a"),
    points: &ATTRIBUTE_POINTS,
}];
#[rustfmt::skip]
static ATTRIBUTE_BYTES: [u8; 109] = [
    0x0a, 0x6b,                               // resource_metrics, 107 bytes
      0x0a, 0x00,                             //   resource: empty
      0x12, 0x67,                             //   scope_metrics, 103 bytes
        0x0a, 0x03, 0x0a, 0x01, b's',         //     scope { name "s" }
        0x12, 0x60,                           //     metric, 96 bytes
          0x0a, 0x01, b'a',                   //       name "a"
          0x2a, 0x5b,                         //       gauge, 91 bytes
            0x0a, 0x59,                       //         data_points, 89 bytes
              0x19, 1, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 1
              0x31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // as_int -1
              0x3a, 0x08,                     //           attributes, 8 bytes
                0x0a, 0x01, b's',             //             key "s"
                0x12, 0x03, 0x0a, 0x01, b'x', //             value { string_value "x" }
              0x3a, 0x07,                     //           attributes, 7 bytes
                0x0a, 0x01, b't',             //             key "t"
                0x12, 0x02, 0x10, 0x01,       //             value { bool_value true }
              0x3a, 0x07,                     //           attributes, 7 bytes
                0x0a, 0x01, b'f',             //             key "f"
                0x12, 0x02, 0x10, 0x00,       //             value { bool_value false }
              0x3a, 0x10,                     //           attributes, 16 bytes
                0x0a, 0x01, b'i',             //             key "i"
                0x12, 0x0b, 0x18,             //             value { int_value -2 (10-byte varint)
                  0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // }
              0x3a, 0x0e,                     //           attributes, 14 bytes
                0x0a, 0x01, b'd',             //             key "d"
                0x12, 0x09, 0x21,             //             value { double_value 0.5
                  0, 0, 0, 0, 0, 0, 0xe0, 0x3f, //           }
              0x3a, 0x07,                     //           attributes, 7 bytes
                0x0a, 0x01, b'e',             //             key "e"
                0x12, 0x02, 0x0a, 0x00,       //             value { string_value "" }
];

// ----- resource and scope: attributes, dropped counts, version, schema URLs -------------

static RESOURCE_ATTRIBUTES: [KeyValue<'static>; 1] = [KeyValue::new("r", AttributeValue::Str("v"))];
static SCOPE_ATTRIBUTES: [KeyValue<'static>; 1] = [KeyValue::new("k", AttributeValue::Int(7))];
const FULL_HEADER: RequestHeader<'static> = RequestHeader::new(
    Resource::new(&RESOURCE_ATTRIBUTES)
        .with_dropped_attributes_count(2)
        .with_schema_url("u"),
    Scope::new("s")
        .with_version("1")
        .with_attributes(&SCOPE_ATTRIBUTES)
        .with_dropped_attributes_count(3)
        .with_schema_url("w"),
);
#[rustfmt::skip]
static HEADER_BYTES: [u8; 70] = [
    0x0a, 0x44,                               // resource_metrics, 68 bytes
      0x0a, 0x0c,                             //   resource, 12 bytes
        0x0a, 0x08,                           //     attributes, 8 bytes
          0x0a, 0x01, b'r',                   //       key "r"
          0x12, 0x03, 0x0a, 0x01, b'v',       //       value { string_value "v" }
        0x10, 0x02,                           //     dropped_attributes_count 2
      0x12, 0x31,                             //   scope_metrics, 49 bytes
        0x0a, 0x11,                           //     scope, 17 bytes
          0x0a, 0x01, b's',                   //       name "s"
          0x12, 0x01, b'1',                   //       version "1"
          0x1a, 0x07,                         //       attributes, 7 bytes
            0x0a, 0x01, b'k',                 //         key "k"
            0x12, 0x02, 0x18, 0x07,           //         value { int_value 7 }
          0x20, 0x03,                         //       dropped_attributes_count 3
        0x12, 0x19,                           //     metric, 25 bytes (as in the gauge case)
          0x0a, 0x01, b'g',                   //       name "g"
          0x2a, 0x14,                         //       gauge, 20 bytes
            0x0a, 0x12,                       //         data_points, 18 bytes
              0x19, 1, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 1
              0x31, 5, 0, 0, 0, 0, 0, 0, 0,   //           as_int 5
        0x1a, 0x01, b'w',                     //     schema_url "w"
      0x1a, 0x01, b'u',                       //   schema_url "u"
];

// ----- histogram: explicit buckets, delta, sum/min/max present --------------------------

static HISTOGRAM_POINTS: [SlicePoint<'static>; 1] = [SlicePoint {
    attributes: &[],
    point: Point {
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        flags: 0,
        value: PointValue::Histogram(HistogramValue {
            count: 3,
            sum: Some(6.0),
            min: Some(1.0),
            max: Some(4.0),
            explicit_bounds: &[2.0],
            bucket_counts: &[1, 2],
        }),
    },
}];
static HISTOGRAM_METRICS: [SliceMetric<'static>; 1] = [SliceMetric {
    info: MetricInfo {
        name: "h",
        description: "",
        unit: "",
        data: MetricData::Histogram {
            temporality: Temporality::Delta,
        },
    },
    points: &HISTOGRAM_POINTS,
}];
#[rustfmt::skip]
static HISTOGRAM_BYTES: [u8; 104] = [
    0x0a, 0x66,                               // resource_metrics, 102 bytes
      0x0a, 0x00,                             //   resource: empty
      0x12, 0x62,                             //   scope_metrics, 98 bytes
        0x0a, 0x03, 0x0a, 0x01, b's',         //     scope { name "s" }
        0x12, 0x5b,                           //     metric, 91 bytes
          0x0a, 0x01, b'h',                   //       name "h"
          0x4a, 0x56,                         //       histogram, 86 bytes
            0x0a, 0x52,                       //         data_points, 82 bytes
              0x11, 1, 0, 0, 0, 0, 0, 0, 0,   //           start_time_unix_nano 1
              0x19, 2, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 2
              0x21, 3, 0, 0, 0, 0, 0, 0, 0,   //           count 3
              0x29, 0, 0, 0, 0, 0, 0, 0x18, 0x40, //       sum 6.0
              0x32, 0x10,                     //           bucket_counts, packed, 16 bytes
                1, 0, 0, 0, 0, 0, 0, 0,       //             1
                2, 0, 0, 0, 0, 0, 0, 0,       //             2
              0x3a, 0x08,                     //           explicit_bounds, packed, 8 bytes
                0, 0, 0, 0, 0, 0, 0, 0x40,    //             2.0
              0x59, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, //       min 1.0
              0x61, 0, 0, 0, 0, 0, 0, 0x10, 0x40, //       max 4.0
            0x10, 0x01,                       //         aggregation_temporality DELTA
];

// ----- exponential histogram: attributes first, zigzag scale and offset, empty side -----

static EXPONENTIAL_ATTRIBUTES: [KeyValue<'static>; 1] =
    [KeyValue::new("k", AttributeValue::Bool(true))];
static EXPONENTIAL_POINTS: [SlicePoint<'static>; 1] = [SlicePoint {
    attributes: &EXPONENTIAL_ATTRIBUTES,
    point: Point {
        start_time_unix_nano: 1,
        time_unix_nano: 2,
        flags: 0,
        value: PointValue::ExponentialHistogram(ExponentialHistogramValue {
            count: 3,
            sum: Some(5.0),
            min: None,
            max: None,
            scale: -1,
            zero_count: 1,
            zero_threshold: 0.0,
            positive: ExponentialBuckets {
                offset: -2,
                bucket_counts: &[1, 1],
            },
            negative: ExponentialBuckets {
                offset: 0,
                bucket_counts: &[],
            },
        }),
    },
}];
static EXPONENTIAL_METRICS: [SliceMetric<'static>; 1] = [SliceMetric {
    info: MetricInfo {
        name: "e",
        description: "",
        unit: "",
        data: MetricData::ExponentialHistogram {
            temporality: Temporality::Cumulative,
        },
    },
    points: &EXPONENTIAL_POINTS,
}];
#[rustfmt::skip]
static EXPONENTIAL_BYTES: [u8; 88] = [
    0x0a, 0x56,                               // resource_metrics, 86 bytes
      0x0a, 0x00,                             //   resource: empty
      0x12, 0x52,                             //   scope_metrics, 82 bytes
        0x0a, 0x03, 0x0a, 0x01, b's',         //     scope { name "s" }
        0x12, 0x4b,                           //     metric, 75 bytes
          0x0a, 0x01, b'e',                   //       name "e"
          0x52, 0x46,                         //       exponential_histogram, 70 bytes
            0x0a, 0x42,                       //         data_points, 66 bytes
              0x0a, 0x07,                     //           attributes, 7 bytes
                0x0a, 0x01, b'k',             //             key "k"
                0x12, 0x02, 0x10, 0x01,       //             value { bool_value true }
              0x11, 1, 0, 0, 0, 0, 0, 0, 0,   //           start_time_unix_nano 1
              0x19, 2, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 2
              0x21, 3, 0, 0, 0, 0, 0, 0, 0,   //           count 3
              0x29, 0, 0, 0, 0, 0, 0, 0x14, 0x40, //       sum 5.0
              0x30, 0x01,                     //           scale -1 (zigzag 1)
              0x39, 1, 0, 0, 0, 0, 0, 0, 0,   //           zero_count 1
              0x42, 0x06,                     //           positive, 6 bytes
                0x08, 0x03,                   //             offset -2 (zigzag 3)
                0x12, 0x02, 0x01, 0x01,       //             bucket_counts, packed: 1, 1
              0x4a, 0x00,                     //           negative: empty, still written
            0x10, 0x02,                       //         aggregation_temporality CUMULATIVE
];

// ----- split: three gauge points into a 60-byte buffer: two, then one -------------------

static SPLIT_POINTS: [SlicePoint<'static>; 3] = [
    SlicePoint {
        attributes: &[],
        point: number(1, PointValue::Int(1)),
    },
    SlicePoint {
        attributes: &[],
        point: number(1, PointValue::Int(2)),
    },
    SlicePoint {
        attributes: &[],
        point: number(1, PointValue::Int(3)),
    },
];
static SPLIT_METRICS: [SliceMetric<'static>; 1] = [SliceMetric {
    info: gauge("g"),
    points: &SPLIT_POINTS,
}];
#[rustfmt::skip]
static SPLIT_FIRST_BYTES: [u8; 58] = [
    0x0a, 0x38,                               // resource_metrics, 56 bytes
      0x0a, 0x00,                             //   resource: empty
      0x12, 0x34,                             //   scope_metrics, 52 bytes
        0x0a, 0x03, 0x0a, 0x01, b's',         //     scope { name "s" }
        0x12, 0x2d,                           //     metric, 45 bytes
          0x0a, 0x01, b'g',                   //       name "g"
          0x2a, 0x28,                         //       gauge, 40 bytes
            0x0a, 0x12,                       //         data_points, 18 bytes
              0x19, 1, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 1
              0x31, 1, 0, 0, 0, 0, 0, 0, 0,   //           as_int 1
            0x0a, 0x12,                       //         data_points, 18 bytes
              0x19, 1, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 1
              0x31, 2, 0, 0, 0, 0, 0, 0, 0,   //           as_int 2
];
#[rustfmt::skip]
static SPLIT_SECOND_BYTES: [u8; 38] = [
    0x0a, 0x24,                               // resource_metrics, 36 bytes
      0x0a, 0x00,                             //   resource: empty
      0x12, 0x20,                             //   scope_metrics, 32 bytes
        0x0a, 0x03, 0x0a, 0x01, b's',         //     scope { name "s" }
        0x12, 0x19,                           //     metric, 25 bytes (the metric again)
          0x0a, 0x01, b'g',                   //       name "g"
          0x2a, 0x14,                         //       gauge, 20 bytes
            0x0a, 0x12,                       //         data_points, 18 bytes
              0x19, 1, 0, 0, 0, 0, 0, 0, 0,   //           time_unix_nano 1
              0x31, 3, 0, 0, 0, 0, 0, 0, 0,   //           as_int 3
];

/// A request carrying the one point of a one-point batch.
const fn one(bytes: &'static [u8]) -> GoldenRequest {
    GoldenRequest {
        bytes,
        start: (0, 0),
        end: (1, 0),
        points: 1,
    }
}

static GAUGE_REQUESTS: [GoldenRequest; 1] = [one(&GAUGE_BYTES)];
static SUM_REQUESTS: [GoldenRequest; 1] = [one(&SUM_BYTES)];
static ATTRIBUTE_REQUESTS: [GoldenRequest; 1] = [one(&ATTRIBUTE_BYTES)];
static HEADER_REQUESTS: [GoldenRequest; 1] = [one(&HEADER_BYTES)];
static HISTOGRAM_REQUESTS: [GoldenRequest; 1] = [one(&HISTOGRAM_BYTES)];
static EXPONENTIAL_REQUESTS: [GoldenRequest; 1] = [one(&EXPONENTIAL_BYTES)];
static SPLIT_REQUESTS: [GoldenRequest; 2] = [
    GoldenRequest {
        bytes: &SPLIT_FIRST_BYTES,
        start: (0, 0),
        end: (0, 2),
        points: 2,
    },
    GoldenRequest {
        bytes: &SPLIT_SECOND_BYTES,
        start: (0, 2),
        end: (1, 0),
        points: 1,
    },
];

/// Every golden batch.
pub fn golden_cases() -> [Golden; 7] {
    let case = |name, header, metrics, buffer, requests| Golden {
        name,
        header,
        metrics,
        buffer,
        requests,
    };
    [
        case("gauge", SCOPE_S, &GAUGE_METRICS, 256, &GAUGE_REQUESTS),
        case("sum", SCOPE_S, &SUM_METRICS, 256, &SUM_REQUESTS),
        case(
            "attributes of each value kind",
            SCOPE_S,
            &ATTRIBUTE_METRICS,
            256,
            &ATTRIBUTE_REQUESTS,
        ),
        case("resource and scope", FULL_HEADER, &GAUGE_METRICS, 256, &HEADER_REQUESTS),
        case("histogram", SCOPE_S, &HISTOGRAM_METRICS, 256, &HISTOGRAM_REQUESTS),
        case(
            "exponential histogram",
            SCOPE_S,
            &EXPONENTIAL_METRICS,
            256,
            &EXPONENTIAL_REQUESTS,
        ),
        case("split into two requests", SCOPE_S, &SPLIT_METRICS, 60, &SPLIT_REQUESTS),
    ]
}
