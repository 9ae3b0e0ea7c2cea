//! Golden-byte tests of the encoder: each message kind against bytes worked out by hand
//! (`golden_cases.rs`), through both write paths (one pass, and plan then write), and the
//! splitter's spans and offsets.

use super::{encode_request, encoded_len, plan, write_planned, PointCursor, RequestSplitter};
use crate::proto::source::{
    AttributeValue, ExponentialBuckets, ExponentialHistogramValue, HistogramValue, KeyValue,
    MetricData, MetricInfo, Point, PointValue, RequestHeader, Resource, Scope, SliceMetric,
    SlicePoint, SliceSource, Temporality,
};

include!("golden_cases.rs");

fn cursor((metric, point): (usize, usize)) -> PointCursor {
    PointCursor { metric, point }
}

/// The golden batches this build encodes: without feature `exponential-histogram` the
/// exponential one is refused instead (`exponential_points_are_refused_without_the_feature`).
fn encodable_cases() -> impl Iterator<Item = Golden> {
    golden_cases().into_iter().filter(|case| {
        cfg!(feature = "exponential-histogram") || case.name != "exponential histogram"
    })
}

/// Without feature `exponential-histogram` an exponential point from a source is skipped
/// with `KindNotEnabled` (and counted as dropped by the exporter), and the points after it
/// are still encoded: here the gauge behind it, exactly as its own golden request.
#[cfg(not(feature = "exponential-histogram"))]
#[test]
fn exponential_points_are_refused_without_the_feature() {
    use super::EncodeError;
    let metrics = [EXPONENTIAL_METRICS[0], GAUGE_METRICS[0]];
    let source = SliceSource { metrics: &metrics };
    let mut splitter = RequestSplitter::new(SCOPE_S);
    let mut buffer = [0u8; 256];
    assert_eq!(
        splitter.next_request(&source, &mut buffer).map(|r| r.err()),
        Some(Some(EncodeError::KindNotEnabled {
            metric: 0,
            point: 0
        }))
    );
    let request = match splitter.next_request(&source, &mut buffer) {
        Some(Ok(request)) => request,
        other => panic!("expected the gauge's request, got {other:?}"),
    };
    assert_eq!(request.span.start, cursor((1, 0)));
    assert_eq!(request.span.points, 1);
    assert_eq!(request.bytes, GAUGE_REQUESTS[0].bytes);
    assert!(splitter.next_request(&source, &mut buffer).is_none());
    assert_eq!(
        encoded_len(&SCOPE_S, &source),
        Err(EncodeError::KindNotEnabled {
            metric: 0,
            point: 0
        })
    );
}

/// The splitter makes exactly the golden requests, each the tail of the buffer, carrying
/// the golden spans.
#[test]
fn splitter_writes_the_golden_bytes() {
    for case in encodable_cases() {
        let source = SliceSource {
            metrics: case.metrics,
        };
        let mut splitter = RequestSplitter::new(case.header);
        let mut buffer = [0u8; 256];
        let buffer = &mut buffer[..case.buffer];
        let mut made = 0;
        while let Some(result) = splitter.next_request(&source, buffer) {
            let request = result.unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let golden = case
                .requests
                .get(made)
                .unwrap_or_else(|| panic!("{}: more requests than {made}", case.name));
            assert_eq!(request.bytes, golden.bytes, "{} request {made}", case.name);
            assert_eq!(
                request.range(),
                case.buffer - golden.bytes.len()..case.buffer
            );
            assert_eq!(request.span.start, cursor(golden.start), "{}", case.name);
            assert_eq!(request.span.end, cursor(golden.end), "{}", case.name);
            assert_eq!(request.span.points, golden.points, "{}", case.name);
            made += 1;
        }
        assert_eq!(made, case.requests.len(), "{}", case.name);
    }
}

/// The planned path (size every field, then write exactly that) makes the same bytes as
/// the one-pass path, and its size is exact.
#[test]
fn planned_writes_match_the_golden_bytes() {
    for case in encodable_cases() {
        let source = SliceSource {
            metrics: case.metrics,
        };
        for golden in case.requests {
            let plan = match plan(&case.header, &source, cursor(golden.start), case.buffer) {
                Ok(plan) => plan,
                Err(_) => panic!("{}: no plan", case.name),
            };
            assert_eq!(plan.total, golden.bytes.len(), "{}", case.name);
            assert_eq!(plan.points, golden.points, "{}", case.name);
            let mut buffer = [0u8; 256];
            let position = write_planned(&case.header, &source, &plan, &mut buffer)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(&buffer[position..], golden.bytes, "{}", case.name);
        }
    }
}

/// A batch that fits is one request: `encode_request` writes the golden bytes and
/// `encoded_len` knows their length.
#[test]
fn whole_batch_functions_agree() {
    for case in encodable_cases() {
        let [golden] = case.requests else {
            continue;
        };
        let source = SliceSource {
            metrics: case.metrics,
        };
        let mut buffer = [0u8; 256];
        let bytes = encode_request(&case.header, &source, &mut buffer)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(bytes, golden.bytes, "{}", case.name);
        assert_eq!(encoded_len(&case.header, &source), Ok(golden.bytes.len()));
    }
}

/// One byte short of a golden request is too small for it: the splitter never writes a
/// request it cannot finish, it splits or reports the point.
#[test]
fn one_byte_short_does_not_fit() {
    for case in encodable_cases() {
        let source = SliceSource {
            metrics: case.metrics,
        };
        let [golden] = case.requests else {
            continue;
        };
        let mut buffer = [0u8; 256];
        let short = golden.bytes.len() - 1;
        let mut splitter = RequestSplitter::new(case.header);
        match splitter.next_request(&source, &mut buffer[..short]) {
            Some(Err(super::EncodeError::PointTooLarge {
                metric: 0,
                point: 0,
            })) => {}
            other => panic!(
                "{}: {:?}",
                case.name,
                other.map(|r| r.map(|r| r.bytes.len()))
            ),
        }
    }
}
