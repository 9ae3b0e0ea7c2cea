//! Cross-check of core's golden requests (`core/src/proto/encode/golden_cases.rs`, worked
//! out by hand and compared byte for byte with the encoder by core's own unit tests): each
//! golden request decodes with opentelemetry-proto into exactly the message its batch
//! describes, and prost encodes that message into exactly the golden bytes. So a golden
//! that is wrong cannot make a wrong encoder look right.

use otlp_embedded::proto::{
    AttributeValue, ExponentialBuckets, ExponentialHistogramValue, HistogramValue, KeyValue,
    MetricData, MetricInfo, Point, PointValue, RequestHeader, Resource, Scope, SliceMetric,
    SlicePoint, SliceSource, Temporality,
};
use otlp_embedded_tests::{assert_same, decode, expected_request};
use prost::Message;

include!("../../core/src/proto/encode/golden_cases.rs");

/// The metrics of `metrics` with only the points from `start` to `end` (exclusive), as
/// the request carrying that span holds them.
fn span_of<'a>(
    metrics: &'a [SliceMetric<'a>],
    start: (usize, usize),
    end: (usize, usize),
) -> Vec<SliceMetric<'a>> {
    metrics
        .iter()
        .enumerate()
        .filter_map(|(m, metric)| {
            let from = if m == start.0 { start.1 } else { 0 };
            let to = if m == end.0 {
                end.1
            } else {
                metric.points.len()
            };
            let inside = m >= start.0 && m <= end.0 && from < to;
            inside.then(|| SliceMetric {
                info: metric.info,
                points: &metric.points[from..to],
            })
        })
        .collect()
}

#[test]
fn golden_requests_decode_to_their_batches() {
    let mut requests = 0;
    for case in golden_cases() {
        let mut points = 0;
        for golden in case.requests {
            let decoded = decode(golden.bytes);
            let metrics = span_of(case.metrics, golden.start, golden.end);
            let expected = expected_request(&case.header, &SliceSource { metrics: &metrics });
            assert_same(&decoded, &expected);
            assert_eq!(
                decoded.encode_to_vec(),
                golden.bytes,
                "{}: prost encodes the decoded request differently",
                case.name
            );
            let carried: usize = metrics.iter().map(|m| m.points.len()).sum();
            assert_eq!(carried, golden.points, "{}", case.name);
            points += carried;
            requests += 1;
        }
        let total: usize = case.metrics.iter().map(|m| m.points.len()).sum();
        assert_eq!(
            points, total,
            "{}: every point in exactly one request",
            case.name
        );
    }
    assert_eq!(requests, 8);
}
