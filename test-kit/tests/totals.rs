//! The totals function on hand-built requests: every reading of a series (added up and
//! latest), what temporality picks, how repeated intervals count, and the series keys.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point::Value, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use otlp_embedded_test_kit::totals::{totals, DataKind, Repeats, SeriesKey};

const DELTA: i32 = AggregationTemporality::Delta as i32;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn route(route: &str) -> Vec<KeyValue> {
    vec![attr("route", any_value::Value::StringValue(route.into()))]
}

fn number(
    attributes: Vec<KeyValue>,
    start: u64,
    time: u64,
    value: Option<Value>,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value,
        ..Default::default()
    }
}

fn sum(name: &str, temporality: i32, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: temporality,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

/// (start, time, count, sum, bucket counts) of one histogram point.
type HistogramPoint<'a> = (u64, u64, u64, Option<f64>, &'a [u64]);

fn histogram(name: &str, temporality: i32, points: &[HistogramPoint<'_>]) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Histogram(Histogram {
            data_points: points
                .iter()
                .map(|(start, time, count, sum, buckets)| HistogramDataPoint {
                    start_time_unix_nano: *start,
                    time_unix_nano: *time,
                    count: *count,
                    sum: *sum,
                    bucket_counts: buckets.to_vec(),
                    explicit_bounds: vec![10.0; buckets.len().saturating_sub(1)],
                    ..Default::default()
                })
                .collect(),
            aggregation_temporality: temporality,
        })),
        ..Default::default()
    }
}

#[test]
fn delta_sums_add_up_and_cumulative_sums_take_the_latest_point() {
    let requests = [
        request(vec![
            sum(
                "d",
                DELTA,
                vec![number(route("/a"), 0, 10, Some(Value::AsInt(4)))],
            ),
            sum(
                "c",
                CUMULATIVE,
                vec![number(vec![], 0, 10, Some(Value::AsDouble(4.5)))],
            ),
        ]),
        request(vec![
            sum(
                "d",
                DELTA,
                vec![number(route("/a"), 10, 20, Some(Value::AsInt(6)))],
            ),
            sum(
                "c",
                CUMULATIVE,
                vec![number(vec![], 0, 20, Some(Value::AsDouble(9.0)))],
            ),
        ]),
    ];
    let all = totals(&requests, Repeats::CountAll);
    assert_eq!(all.len(), 2);
    let d = &all[&SeriesKey::new("d", &[("route", "/a")])];
    assert_eq!(
        (d.kind, d.temporality),
        (DataKind::Sum, AggregationTemporality::Delta)
    );
    assert!(d.is_delta());
    assert_eq!(
        (d.points, d.value_sum, d.last_value, d.value()),
        (2, 10.0, 6.0, 10.0)
    );
    assert_eq!(d.last_time_unix_nano, 20);
    let c = &all[&SeriesKey::new("c", &[])];
    assert_eq!(c.temporality, AggregationTemporality::Cumulative);
    assert!(!c.is_delta());
    assert_eq!(
        (c.points, c.value_sum, c.last_value, c.value()),
        (2, 13.5, 9.0, 9.0)
    );
    assert_eq!((c.shape_changes, c.conflicting_repeats), (0, 0));
}

#[test]
fn the_latest_point_is_chosen_by_time_and_then_by_arrival() {
    // Arrival order 30, 10, 30: the later of the two points at time 30 is the latest.
    let requests = [
        request(vec![gauge(
            "g",
            vec![number(vec![], 0, 30, Some(Value::AsDouble(1.0)))],
        )]),
        request(vec![gauge(
            "g",
            vec![number(vec![], 0, 10, Some(Value::AsDouble(2.0)))],
        )]),
        request(vec![gauge(
            "g",
            vec![number(vec![], 0, 30, Some(Value::AsDouble(3.0)))],
        )]),
    ];
    let g = &totals(&requests, Repeats::CountAll)[&SeriesKey::new("g", &[])];
    assert_eq!(g.kind, DataKind::Gauge);
    assert_eq!(g.temporality, AggregationTemporality::Unspecified);
    assert_eq!(
        (g.points, g.value_sum, g.last_value, g.value()),
        (3, 6.0, 3.0, 3.0)
    );
    assert_eq!(g.last_time_unix_nano, 30);
}

#[test]
fn a_number_point_without_a_value_never_equals_a_number() {
    let requests = [request(vec![sum(
        "s",
        DELTA,
        vec![
            number(vec![], 0, 1, Some(Value::AsInt(1))),
            number(vec![], 1, 2, None),
        ],
    )])];
    let s = &totals(&requests, Repeats::CountAll)[&SeriesKey::new("s", &[])];
    assert_eq!(s.points, 2);
    assert!(s.value().is_nan(), "{s:?}");
}

#[test]
fn histograms_add_counts_sums_and_buckets_or_take_the_latest() {
    let requests = [
        request(vec![
            histogram("hd", DELTA, &[(0, 10, 3, Some(12.0), &[1, 2])]),
            histogram("hc", CUMULATIVE, &[(0, 10, 3, Some(12.0), &[1, 2])]),
        ]),
        request(vec![
            histogram("hd", DELTA, &[(10, 20, 4, Some(30.5), &[0, 3, 1])]),
            histogram("hc", CUMULATIVE, &[(0, 20, 7, Some(42.5), &[1, 5, 1])]),
        ]),
    ];
    let all = totals(&requests, Repeats::CountAll);
    let hd = &all[&SeriesKey::new("hd", &[])];
    assert_eq!(hd.kind, DataKind::Histogram);
    assert_eq!(
        (
            hd.points,
            hd.histogram_count,
            hd.histogram_sum,
            hd.sums_absent
        ),
        (2, 7, 42.5, 0)
    );
    // Buckets add up position by position; a longer point extends the list.
    assert_eq!(hd.bucket_counts, [1, 5, 1]);
    assert_eq!((hd.count(), hd.sum()), (7, Some(42.5)));
    let hc = &all[&SeriesKey::new("hc", &[])];
    assert_eq!(
        (hc.last_histogram_count, hc.last_histogram_sum),
        (7, Some(42.5))
    );
    assert_eq!((hc.count(), hc.sum()), (7, Some(42.5)));
    assert_eq!(hc.histogram_count, 10);
}

#[test]
fn a_histogram_without_a_sum_is_counted_and_has_no_total_sum() {
    let requests = [request(vec![histogram(
        "h",
        DELTA,
        &[(0, 10, 2, Some(-1.0), &[2]), (10, 20, 1, None, &[1])],
    )])];
    let h = &totals(&requests, Repeats::CountAll)[&SeriesKey::new("h", &[])];
    assert_eq!(
        (h.histogram_count, h.histogram_sum, h.sums_absent),
        (3, -1.0, 1)
    );
    assert_eq!(h.sum(), None);
    assert_eq!(h.last_histogram_sum, None);
}

#[test]
fn exponential_histograms_and_summaries_count_without_buckets() {
    let requests = [request(vec![
        Metric {
            name: "e".into(),
            data: Some(Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    time_unix_nano: 5,
                    count: 9,
                    sum: Some(81.0),
                    ..Default::default()
                }],
                aggregation_temporality: CUMULATIVE,
            })),
            ..Default::default()
        },
        Metric {
            name: "q".into(),
            data: Some(Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: 5,
                    count: 2,
                    sum: 3.5,
                    ..Default::default()
                }],
            })),
            ..Default::default()
        },
    ])];
    let all = totals(&requests, Repeats::CountAll);
    let e = &all[&SeriesKey::new("e", &[])];
    assert_eq!(e.kind, DataKind::ExponentialHistogram);
    assert_eq!(
        (e.count(), e.sum(), e.bucket_counts.len()),
        (9, Some(81.0), 0)
    );
    let q = &all[&SeriesKey::new("q", &[])];
    assert_eq!(q.kind, DataKind::Summary);
    assert_eq!((q.count(), q.sum()), (2, Some(3.5)));
}

#[test]
fn latest_per_start_keeps_one_point_per_interval() {
    // Interval starting at 10 sent three times: cut short (time 15), complete (20), and
    // the complete one again byte for byte. Only one counts, the one ending latest.
    let point = |start, time, v| number(route("/a"), start, time, Some(Value::AsInt(v)));
    let requests = [
        request(vec![sum("d", DELTA, vec![point(0, 10, 5)])]),
        request(vec![sum("d", DELTA, vec![point(10, 15, 2)])]),
        request(vec![sum("d", DELTA, vec![point(10, 20, 3)])]),
        request(vec![sum("d", DELTA, vec![point(10, 20, 3)])]),
    ];
    let key = SeriesKey::new("d", &[("route", "/a")]);
    let once = &totals(&requests, Repeats::LatestPerStart)[&key];
    assert_eq!((once.points, once.value()), (2, 8.0));
    assert_eq!(once.conflicting_repeats, 0);
    let every = &totals(&requests, Repeats::CountAll)[&key];
    assert_eq!((every.points, every.value()), (4, 13.0));
}

#[test]
fn latest_per_start_counts_copies_that_disagree() {
    let point = |v| number(vec![], 10, 20, Some(Value::AsInt(v)));
    let requests = [
        request(vec![sum("d", DELTA, vec![point(3)])]),
        request(vec![sum("d", DELTA, vec![point(4)])]),
    ];
    let d = &totals(&requests, Repeats::LatestPerStart)[&SeriesKey::new("d", &[])];
    // The later copy counts; the disagreement is reported, not hidden.
    assert_eq!((d.points, d.value(), d.conflicting_repeats), (1, 4.0, 1));
}

#[test]
fn latest_per_start_leaves_a_cumulative_series_its_latest_point() {
    let point = |time, v| number(vec![], 0, time, Some(Value::AsInt(v)));
    let requests = [
        request(vec![sum("c", CUMULATIVE, vec![point(10, 3)])]),
        request(vec![sum("c", CUMULATIVE, vec![point(20, 7)])]),
    ];
    let c = &totals(&requests, Repeats::LatestPerStart)[&SeriesKey::new("c", &[])];
    assert_eq!((c.points, c.value(), c.value_sum), (1, 7.0, 7.0));
}

#[test]
fn a_series_that_changes_shape_is_flagged() {
    let requests = [
        request(vec![sum(
            "m",
            DELTA,
            vec![number(vec![], 0, 1, Some(Value::AsInt(1)))],
        )]),
        request(vec![sum(
            "m",
            CUMULATIVE,
            vec![number(vec![], 0, 2, Some(Value::AsInt(1)))],
        )]),
        request(vec![gauge(
            "m",
            vec![number(vec![], 0, 3, Some(Value::AsInt(1)))],
        )]),
    ];
    let m = &totals(&requests, Repeats::CountAll)[&SeriesKey::new("m", &[])];
    assert_eq!(
        (m.kind, m.temporality),
        (DataKind::Sum, AggregationTemporality::Delta)
    );
    assert_eq!((m.points, m.shape_changes), (3, 2));
}

#[test]
fn series_keys_render_values_and_sort_attributes() {
    let attributes = vec![
        attr("z", any_value::Value::BoolValue(true)),
        attr("i", any_value::Value::IntValue(-3)),
        attr("d", any_value::Value::DoubleValue(0.5)),
        attr("s", any_value::Value::StringValue("x".into())),
    ];
    let requests = [request(vec![
        gauge("g", vec![number(attributes, 0, 1, Some(Value::AsInt(1)))]),
        // Same name, other attributes: another series.
        gauge("g", vec![number(route("/b"), 0, 1, Some(Value::AsInt(2)))]),
    ])];
    let all = totals(&requests, Repeats::CountAll);
    let keys: Vec<&SeriesKey> = all.keys().collect();
    assert_eq!(
        keys,
        [
            &SeriesKey::new("g", &[("z", "true"), ("s", "x"), ("i", "-3"), ("d", "0.5")]),
            &SeriesKey::new("g", &[("route", "/b")]),
        ]
    );
    assert_eq!(
        keys[0].attributes,
        [
            ("d".to_string(), "0.5".to_string()),
            ("i".to_string(), "-3".to_string()),
            ("s".to_string(), "x".to_string()),
            ("z".to_string(), "true".to_string()),
        ]
    );
}

#[test]
fn nothing_in_nothing_out() {
    let none: [ExportMetricsServiceRequest; 0] = [];
    assert!(totals(&none, Repeats::CountAll).is_empty());
    let empty = [request(vec![Metric {
        name: "no data".into(),
        ..Default::default()
    }])];
    assert!(totals(&empty, Repeats::LatestPerStart).is_empty());
}
