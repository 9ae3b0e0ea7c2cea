//! Splitting, property-tested: random batches into random buffer sizes. Every request
//! decodes with prost and repeats the header; every point is carried exactly once, by the
//! request whose span names it; spans are contiguous and cover the batch; points too large
//! for the buffer are reported, skipped, and nothing else is lost.
//!
//! The same batches through `MetricsSource`'s provided methods (attributes of any kind,
//! bucket numbers visited, scopes of the source's own): one scope with scalar attributes
//! must give the same bytes as the slices, request for request; several scopes must put
//! each point under its metric's scope, with no empty `ScopeMetrics`.
use std::collections::BTreeMap;

use otlp_embedded::proto::*;
use otlp_embedded_tests::{
    assert_header, collector, decode, expected_request, flatten, metrics, FlatPoint,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum OwnedAttr {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
}

impl OwnedAttr {
    fn borrow(&self) -> AttributeValue<'_> {
        match self {
            OwnedAttr::Str(s) => AttributeValue::Str(s),
            OwnedAttr::Bool(b) => AttributeValue::Bool(*b),
            OwnedAttr::Int(i) => AttributeValue::Int(*i),
            OwnedAttr::Double(d) => AttributeValue::Double(*d),
        }
    }
}

#[derive(Clone, Debug)]
enum OwnedValue {
    Int(i64),
    Double(f64),
    Hist {
        count: u64,
        sum: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
        bounds: Vec<f64>,
        counts: Vec<u64>,
    },
    Exp {
        count: u64,
        sum: Option<f64>,
        scale: i32,
        zero_count: u64,
        zero_threshold: f64,
        positive: (i32, Vec<u64>),
        negative: (i32, Vec<u64>),
    },
}

impl OwnedValue {
    fn borrow(&self) -> PointValue<'_> {
        match self {
            OwnedValue::Int(i) => PointValue::Int(*i),
            OwnedValue::Double(d) => PointValue::Double(*d),
            OwnedValue::Hist {
                count,
                sum,
                min,
                max,
                bounds,
                counts,
            } => PointValue::Histogram(HistogramValue {
                count: *count,
                sum: *sum,
                min: *min,
                max: *max,
                explicit_bounds: bounds,
                bucket_counts: counts,
            }),
            OwnedValue::Exp {
                count,
                sum,
                scale,
                zero_count,
                zero_threshold,
                positive,
                negative,
            } => PointValue::ExponentialHistogram(ExponentialHistogramValue {
                count: *count,
                sum: *sum,
                min: sum.map(|s| s - 1.0),
                max: None,
                scale: *scale,
                zero_count: *zero_count,
                zero_threshold: *zero_threshold,
                positive: ExponentialBuckets {
                    offset: positive.0,
                    bucket_counts: &positive.1,
                },
                negative: ExponentialBuckets {
                    offset: negative.0,
                    bucket_counts: &negative.1,
                },
            }),
        }
    }
}

#[derive(Clone, Debug)]
struct OwnedPoint {
    attrs: Vec<(String, OwnedAttr)>,
    start: u64,
    flags: u32,
    value: OwnedValue,
}

#[derive(Clone, Debug)]
struct OwnedMetric {
    name: String,
    unit: String,
    data: MetricData,
    points: Vec<OwnedPoint>,
}

/// Each point's `time_unix_nano` identifies it: metric and index.
fn point_id(metric: usize, point: usize) -> u64 {
    1 + metric as u64 * 10_000 + point as u64
}

fn cursor_of(id: u64) -> PointCursor {
    PointCursor {
        metric: ((id - 1) / 10_000) as usize,
        point: ((id - 1) % 10_000) as usize,
    }
}

/// Run `f` over the batch as a [`SliceSource`].
fn with_source<R>(metrics: &[OwnedMetric], f: impl FnOnce(&SliceSource<'_>) -> R) -> R {
    let kvs: Vec<Vec<Vec<KeyValue<'_>>>> = metrics
        .iter()
        .map(|m| {
            m.points
                .iter()
                .map(|p| {
                    p.attrs
                        .iter()
                        .map(|(k, v)| KeyValue::new(k, v.borrow()))
                        .collect()
                })
                .collect()
        })
        .collect();
    let points: Vec<Vec<SlicePoint<'_>>> = metrics
        .iter()
        .enumerate()
        .map(|(mi, m)| {
            m.points
                .iter()
                .enumerate()
                .map(|(pi, p)| SlicePoint {
                    attributes: &kvs[mi][pi],
                    point: Point {
                        start_time_unix_nano: p.start,
                        time_unix_nano: point_id(mi, pi),
                        flags: p.flags,
                        value: p.value.borrow(),
                    },
                })
                .collect()
        })
        .collect();
    let slice_metrics: Vec<SliceMetric<'_>> = metrics
        .iter()
        .zip(&points)
        .map(|(m, points)| SliceMetric {
            info: MetricInfo {
                name: &m.name,
                description: "",
                unit: &m.unit,
                data: m.data,
            },
            points,
        })
        .collect();
    f(&SliceSource {
        metrics: &slice_metrics,
    })
}

fn attr() -> impl Strategy<Value = (String, OwnedAttr)> {
    let value = prop_oneof![
        "\\PC{0,24}".prop_map(OwnedAttr::Str),
        any::<bool>().prop_map(OwnedAttr::Bool),
        any::<i64>().prop_map(OwnedAttr::Int),
        proptest::num::f64::ANY.prop_map(OwnedAttr::Double),
    ];
    ("\\PC{0,16}", value)
}

fn counts(max: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(prop_oneof![0..300u64, any::<u64>()], 0..max)
}

/// A point value of the metric kind `kind` (0 gauge, 1 sum, 2 histogram, 3 exponential).
fn value(kind: u8) -> BoxedStrategy<OwnedValue> {
    let opt = || proptest::option::of(proptest::num::f64::ANY);
    match kind {
        0 | 1 => prop_oneof![
            any::<i64>().prop_map(OwnedValue::Int),
            proptest::num::f64::ANY.prop_map(OwnedValue::Double),
        ]
        .boxed(),
        2 => (
            any::<u64>(),
            opt(),
            opt(),
            opt(),
            prop::collection::vec(-1e6..1e6f64, 0..20),
        )
            .prop_flat_map(|(count, sum, min, max, bounds)| {
                let n = if bounds.is_empty() {
                    0
                } else {
                    bounds.len() + 1
                };
                (prop::collection::vec(any::<u64>(), n..=n)).prop_map(move |counts| {
                    OwnedValue::Hist {
                        count,
                        sum,
                        min,
                        max,
                        bounds: bounds.clone(),
                        counts,
                    }
                })
            })
            .boxed(),
        _ => (
            any::<u64>(),
            opt(),
            -10..=20i32,
            any::<u64>(),
            proptest::num::f64::ANY,
            (any::<i32>(), counts(40)),
            (any::<i32>(), counts(10)),
        )
            .prop_map(
                |(count, sum, scale, zero_count, zero_threshold, positive, negative)| {
                    OwnedValue::Exp {
                        count,
                        sum,
                        scale,
                        zero_count,
                        zero_threshold,
                        positive,
                        negative,
                    }
                },
            )
            .boxed(),
    }
}

fn metric() -> impl Strategy<Value = OwnedMetric> {
    (
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        "\\PC{0,20}",
        "[a-z{}]{0,4}",
    )
        .prop_flat_map(|(kind, cumulative, is_monotonic, name, unit)| {
            let temporality = if cumulative {
                Temporality::Cumulative
            } else {
                Temporality::Delta
            };
            let data = match kind {
                0 => MetricData::Gauge,
                1 => MetricData::Sum {
                    temporality,
                    is_monotonic,
                },
                2 => MetricData::Histogram { temporality },
                _ => MetricData::ExponentialHistogram { temporality },
            };
            let point = (
                prop::collection::vec(attr(), 0..4),
                any::<u64>(),
                prop_oneof![Just(0u32), any::<u32>()],
                value(kind),
            )
                .prop_map(|(attrs, start, flags, value)| OwnedPoint {
                    attrs,
                    start,
                    flags,
                    value,
                });
            prop::collection::vec(point, 0..12).prop_map(move |points| OwnedMetric {
                name: name.clone(),
                unit: unit.clone(),
                data,
                points,
            })
        })
}

fn batch() -> impl Strategy<Value = Vec<OwnedMetric>> {
    prop::collection::vec(metric(), 0..7)
}

const RESOURCE_ATTRS: &[KeyValue<'static>] = &[
    KeyValue::new("service.name", AttributeValue::Str("proptest")),
    KeyValue::new("host.id", AttributeValue::Int(-7)),
];

const SCOPE_ATTRS: &[KeyValue<'static>] = &[KeyValue::new("s", AttributeValue::Bool(true))];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(
        Resource::new(RESOURCE_ATTRS)
            .with_dropped_attributes_count(2)
            .with_schema_url("https://example.invalid/r"),
        Scope::new("split")
            .with_version("9")
            .with_attributes(SCOPE_ATTRS),
    )
}

/// Size of a request carrying only point `p` of metric `m`.
fn alone_size(source: &SliceSource<'_>, m: usize, p: usize) -> usize {
    let metric = SliceMetric {
        info: source.metrics[m].info,
        points: &source.metrics[m].points[p..=p],
    };
    encoded_len(&header(), &SliceSource { metrics: &[metric] }).unwrap()
}

fn header_size() -> usize {
    encoded_len(&header(), &SliceSource { metrics: &[] }).unwrap()
}

/// What the splitter did over a whole batch.
struct Outcome {
    /// Carried points by cursor (from the id in `time_unix_nano`).
    carried: BTreeMap<PointCursor, FlatPoint>,
    /// Points reported too large.
    too_large: Vec<PointCursor>,
}

/// Split `source` into `size`-byte buffers, checking each request against its span.
fn split(source: &SliceSource<'_>, size: usize) -> Outcome {
    let total_points: usize = source.metrics.iter().map(|m| m.points.len()).sum();
    let mut buf = vec![0u8; size];
    let mut splitter = RequestSplitter::new(header());
    let mut outcome = Outcome {
        carried: BTreeMap::new(),
        too_large: Vec::new(),
    };
    let mut expected_start = splitter_start(source);
    let mut calls = 0;
    while let Some(result) = splitter.next_request(source, &mut buf) {
        calls += 1;
        assert!(calls <= total_points + 1, "splitter does not end");
        match result {
            Ok(request) => {
                assert!(request.bytes.len() <= size);
                let span = request.span;
                assert_eq!(span.start, expected_start, "spans are contiguous");
                assert!(span.points >= 1 && span.start < span.end);
                let decoded = decode(request.bytes);
                assert_header(&decoded, &header());
                let flat = flatten(&decoded);
                assert_eq!(flat.len(), span.points, "span count matches the request");
                for point in flat {
                    let at = cursor_of(point.time_unix_nano);
                    assert!(span.start <= at && at < span.end, "{at:?} outside {span:?}");
                    assert!(outcome.carried.insert(at, point).is_none(), "{at:?} twice");
                }
                expected_start = span.end;
            }
            Err(EncodeError::PointTooLarge { metric, point }) => {
                let at = PointCursor { metric, point };
                assert_eq!(at, expected_start, "the skipped point is the next one");
                outcome.too_large.push(at);
                expected_start = next_cursor(source, at);
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        expected_start,
        PointCursor {
            metric: source.metrics.len(),
            point: 0
        },
        "spans cover the whole batch"
    );
    outcome
}

fn splitter_start(source: &SliceSource<'_>) -> PointCursor {
    next_existing(
        source,
        PointCursor {
            metric: 0,
            point: 0,
        },
    )
}

fn next_cursor(source: &SliceSource<'_>, at: PointCursor) -> PointCursor {
    next_existing(
        source,
        PointCursor {
            metric: at.metric,
            point: at.point + 1,
        },
    )
}

fn next_existing(source: &SliceSource<'_>, mut at: PointCursor) -> PointCursor {
    while at.metric < source.metrics.len() && at.point >= source.metrics[at.metric].points.len() {
        at = PointCursor {
            metric: at.metric + 1,
            point: 0,
        };
    }
    if at.metric >= source.metrics.len() {
        at.point = 0;
    }
    at
}

/// Every point of the batch in the reference encoding, by cursor.
fn reference(source: &SliceSource<'_>) -> BTreeMap<PointCursor, FlatPoint> {
    flatten(&expected_request(&header(), source))
        .into_iter()
        .map(|p| (cursor_of(p.time_unix_nano), p))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn every_point_is_carried_exactly_once(batch in batch(), pick in any::<u32>()) {
        with_source(&batch, |source| {
            let largest = (0..source.metrics.len())
                .flat_map(|m| (0..source.metrics[m].points.len()).map(move |p| (m, p)))
                .map(|(m, p)| alone_size(source, m, p))
                .max()
                .unwrap_or_else(header_size);
            let limit = 64 * 1024;
            // Half the cases near the smallest workable size, where splitting is busiest.
            let size = if pick % 2 == 0 {
                largest + (pick as usize / 2) % 512
            } else {
                largest + (pick as usize / 2) % (limit - largest + 1)
            };
            let outcome = split(source, size);
            prop_assert!(outcome.too_large.is_empty());
            let expected = reference(source);
            prop_assert_eq!(outcome.carried.len(), expected.len());
            prop_assert!(outcome.carried == expected, "carried points differ from the input");
            Ok(())
        })?;
    }

    #[test]
    fn points_too_large_are_reported_and_the_rest_carried_once(batch in batch(), pick in any::<u32>()) {
        with_source(&batch, |source| {
            let sizes: BTreeMap<PointCursor, usize> = (0..source.metrics.len())
                .flat_map(|m| (0..source.metrics[m].points.len()).map(move |p| (m, p)))
                .map(|(m, p)| (PointCursor { metric: m, point: p }, alone_size(source, m, p)))
                .collect();
            let largest = sizes.values().copied().max().unwrap_or_else(header_size);
            let smallest_request = header_size();
            let size = smallest_request + pick as usize % (largest - smallest_request + 1);
            let outcome = split(source, size);
            let too_large: Vec<PointCursor> =
                sizes.iter().filter(|(_, &s)| s > size).map(|(&c, _)| c).collect();
            prop_assert_eq!(&outcome.too_large, &too_large);
            let mut expected = reference(source);
            expected.retain(|c, _| !too_large.contains(c));
            prop_assert!(outcome.carried == expected, "carried points differ from the input");
            Ok(())
        })?;
    }

    #[test]
    fn buffer_below_the_header_reports_once_and_ends(batch in batch(), pick in any::<u32>()) {
        with_source(&batch, |source| {
            let size = pick as usize % header_size();
            let mut buf = vec![0u8; size];
            let mut splitter = RequestSplitter::new(header());
            let any_points = source.metrics.iter().any(|m| !m.points.is_empty());
            let first = splitter.next_request(source, &mut buf);
            if any_points {
                prop_assert_eq!(first.map(|r| r.map(|q| q.span)), Some(Err(EncodeError::HeaderTooLarge { buffer: size })));
            } else {
                prop_assert!(first.is_none());
            }
            prop_assert!(splitter.next_request(source, &mut buf).is_none());
            Ok(())
        })?;
    }
}

/// The header (resource, scope, schema URLs) is repeated in every request of a split batch.
#[test]
fn every_request_repeats_the_header() {
    let points: Vec<SlicePoint<'_>> = (0..40)
        .map(|i| SlicePoint {
            attributes: RESOURCE_ATTRS,
            point: Point {
                start_time_unix_nano: 1,
                time_unix_nano: point_id(0, i),
                flags: 0,
                value: PointValue::Double(i as f64),
            },
        })
        .collect();
    let metrics = [SliceMetric {
        info: MetricInfo {
            name: "m",
            description: "d",
            unit: "u",
            data: MetricData::Gauge,
        },
        points: &points,
    }];
    let source = SliceSource { metrics: &metrics };
    let mut buf = vec![0u8; 400];
    let mut splitter = RequestSplitter::new(header());
    let mut requests = 0;
    let mut carried = 0;
    while let Some(result) = splitter.next_request(&source, &mut buf) {
        let request = result.unwrap();
        let decoded = decode(request.bytes);
        assert_header(&decoded, &header());
        carried += flatten(&decoded).len();
        requests += 1;
        assert!(requests <= 40);
    }
    assert!(
        requests >= 5,
        "400 bytes should need several requests, got {requests}"
    );
    assert_eq!(carried, 40);
}

/// `source` read through the provided methods instead of slices: the header's scope as the
/// source's one scope, every attribute (resource, scope, point) as an `any_attribute`, and
/// every bucket number visited. With [`indirect_header`] it must encode byte for byte what
/// `source` does under [`header`].
struct Indirect<'s> {
    source: &'s SliceSource<'s>,
    scope: Scope<'s>,
}

impl<'s> Indirect<'s> {
    fn new(source: &'s SliceSource<'s>) -> Self {
        let scope = header().scope;
        Indirect {
            source,
            scope: scope.with_attributes(&[]),
        }
    }
}

/// [`header`] with its resource attributes left to the source. (Its scope goes out only
/// in a request without metrics, which `encode_request` makes of an empty batch.)
fn indirect_header() -> RequestHeader<'static> {
    let header = header();
    RequestHeader::new(
        Resource::new(&[])
            .with_dropped_attributes_count(header.resource.dropped_attributes_count)
            .with_schema_url(header.resource.schema_url),
        header.scope,
    )
}

fn as_any<'a>(kv: &KeyValue<'a>) -> AnyKeyValue<'a> {
    AnyKeyValue::new(kv.key, kv.value.into())
}

fn bucket_slice<'v>(value: &PointValue<'v>, part: BucketPart) -> &'v [u64] {
    match (value, part) {
        (PointValue::Histogram(h), BucketPart::BucketCounts) => h.bucket_counts,
        (PointValue::ExponentialHistogram(e), BucketPart::PositiveCounts) => {
            e.positive.bucket_counts
        }
        (PointValue::ExponentialHistogram(e), BucketPart::NegativeCounts) => {
            e.negative.bucket_counts
        }
        _ => &[],
    }
}

impl MetricsSource for Indirect<'_> {
    fn metric_count(&self) -> usize {
        self.source.metric_count()
    }
    fn metric(&self, metric: usize) -> MetricInfo<'_> {
        self.source.metric(metric)
    }
    fn point_count(&self, metric: usize) -> usize {
        self.source.point_count(metric)
    }
    fn point(&self, metric: usize, point: usize) -> Point<'_> {
        // The bucket numbers are visited, so the slices the encoder must ignore hold junk.
        let mut p = self.source.point(metric, point);
        match &mut p.value {
            PointValue::Histogram(h) => {
                h.explicit_bounds = &[1.5, 2.5];
                h.bucket_counts = &[7, 7, 7];
            }
            PointValue::ExponentialHistogram(e) => {
                e.positive.bucket_counts = &[9];
                e.negative.bucket_counts = &[9, 9];
            }
            _ => {}
        }
        p
    }
    fn attribute_count(&self, _: usize, _: usize) -> usize {
        0
    }
    fn attribute(&self, _: usize, _: usize, _: usize) -> KeyValue<'_> {
        unreachable!("no scalar attributes")
    }
    fn scope_count(&self) -> usize {
        1
    }
    fn metric_scope(&self, _: usize) -> usize {
        0
    }
    fn scope(&self, scope: usize) -> Scope<'_> {
        assert_eq!(scope, 0);
        self.scope
    }
    fn any_attribute_count(&self, owner: AttributeOwner) -> usize {
        match owner {
            AttributeOwner::Resource => RESOURCE_ATTRS.len(),
            AttributeOwner::Scope(_) => SCOPE_ATTRS.len(),
            AttributeOwner::Point { metric, point } => self.source.attribute_count(metric, point),
        }
    }
    fn any_attribute(&self, owner: AttributeOwner, index: usize) -> AnyKeyValue<'_> {
        match owner {
            AttributeOwner::Resource => as_any(&RESOURCE_ATTRS[index]),
            AttributeOwner::Scope(_) => as_any(&SCOPE_ATTRS[index]),
            AttributeOwner::Point { metric, point } => {
                as_any(&self.source.metrics[metric].points[point].attributes[index])
            }
        }
    }
    fn bucket_len(&self, metric: usize, point: usize, part: BucketPart) -> Option<usize> {
        let value = self.source.point(metric, point).value;
        match part {
            BucketPart::ExplicitBounds => match value {
                PointValue::Histogram(h) => Some(h.explicit_bounds.len()),
                _ => None,
            },
            _ => Some(bucket_slice(&value, part).len()),
        }
    }
    fn visit_buckets(
        &self,
        metric: usize,
        point: usize,
        part: BucketPart,
        each: &mut dyn FnMut(u64),
    ) {
        let value = self.source.point(metric, point).value;
        match (part, value) {
            (BucketPart::ExplicitBounds, PointValue::Histogram(h)) => {
                h.explicit_bounds.iter().for_each(|b| each(b.to_bits()))
            }
            _ => bucket_slice(&value, part).iter().for_each(|&c| each(c)),
        }
    }
}

/// Every result of splitting `source` under `header` into `size`-byte buffers: the bytes
/// of each request with its span, or the error.
fn results<S: MetricsSource>(
    header: RequestHeader<'_>,
    source: &S,
    size: usize,
) -> Vec<Result<(Vec<u8>, PointSpan), EncodeError>> {
    let mut buf = vec![0u8; size];
    let mut splitter = RequestSplitter::new(header);
    let mut out = Vec::new();
    while let Some(result) = splitter.next_request(source, &mut buf) {
        out.push(result.map(|r| (r.bytes.to_vec(), r.span)));
        assert!(out.len() <= 10_000, "splitter does not end");
    }
    out
}

/// `source` with its metrics under the source's own scopes: metric `m` under
/// `scope_of[m]`, scope `s` named `scope-{s}` with one attribute `index = s` of any kind.
struct Scoped<'s> {
    source: &'s SliceSource<'s>,
    scope_of: Vec<usize>,
    names: Vec<String>,
}

impl MetricsSource for Scoped<'_> {
    fn metric_count(&self) -> usize {
        self.source.metric_count()
    }
    fn metric(&self, metric: usize) -> MetricInfo<'_> {
        self.source.metric(metric)
    }
    fn point_count(&self, metric: usize) -> usize {
        self.source.point_count(metric)
    }
    fn point(&self, metric: usize, point: usize) -> Point<'_> {
        self.source.point(metric, point)
    }
    fn attribute_count(&self, metric: usize, point: usize) -> usize {
        self.source.attribute_count(metric, point)
    }
    fn attribute(&self, metric: usize, point: usize, index: usize) -> KeyValue<'_> {
        self.source.attribute(metric, point, index)
    }
    fn scope_count(&self) -> usize {
        self.names.len()
    }
    fn metric_scope(&self, metric: usize) -> usize {
        self.scope_of[metric]
    }
    fn scope(&self, scope: usize) -> Scope<'_> {
        Scope::new(&self.names[scope])
            .with_version("1")
            .with_schema_url("https://example.invalid/s")
    }
    fn any_attribute_count(&self, owner: AttributeOwner) -> usize {
        usize::from(matches!(owner, AttributeOwner::Scope(_)))
    }
    fn any_attribute(&self, owner: AttributeOwner, _: usize) -> AnyKeyValue<'_> {
        let AttributeOwner::Scope(s) = owner else {
            unreachable!()
        };
        AnyKeyValue::new("index", AnyValue::Int(s as i64))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_provided_methods_encode_the_same_bytes_as_slices(batch in batch(), pick in any::<u32>()) {
        with_source(&batch, |source| {
            let indirect = Indirect::new(source);
            // From below the header (nothing fits) to one request for everything.
            let size = header_size().saturating_sub(8) + pick as usize % 4096;
            let direct = results(header(), source, size);
            let through = results(indirect_header(), &indirect, size);
            prop_assert!(direct == through, "the two paths differ at {} bytes", size);
            // And whole: the one-pass path and `encoded_len`.
            let mut whole = vec![0u8; 1 << 20];
            let a = encode_request(&header(), source, &mut whole).map(|b| b.to_vec());
            let b = encode_request(&indirect_header(), &indirect, &mut whole).map(|b| b.to_vec());
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(encoded_len(&header(), source), encoded_len(&indirect_header(), &indirect));
            Ok(())
        })?;
    }

    #[test]
    fn several_scopes_put_each_point_under_its_metric_scope(
        batch in batch(),
        scope_picks in prop::collection::vec(0usize..3, 7),
        pick in any::<u32>(),
    ) {
        with_source(&batch, |source| {
            // Runs of metrics per scope, a scope may come back after another.
            let scope_of: Vec<usize> = (0..source.metrics.len()).map(|m| scope_picks[m]).collect();
            let names = (0..3).map(|s| format!("scope-{s}")).collect();
            let scoped = Scoped { source, scope_of: scope_of.clone(), names };
            let size = 300 + pick as usize % 8192;
            let mut carried = BTreeMap::new();
            for result in results(header(), &scoped, size) {
                let (bytes, span) = match result {
                    Ok(ok) => ok,
                    Err(EncodeError::PointTooLarge { .. }) => continue,
                    Err(other) => panic!("unexpected {other:?}"),
                };
                let request = decode(&bytes);
                prop_assert_eq!(request.resource_metrics.len(), 1);
                let rm = &request.resource_metrics[0];
                let mut in_request = 0;
                for sm in &rm.scope_metrics {
                    prop_assert!(!sm.metrics.is_empty(), "empty ScopeMetrics");
                    let scope = sm.scope.as_ref().expect("scope present");
                    let index = scope.name.strip_prefix("scope-").expect("a source scope");
                    prop_assert_eq!(&scope.version, "1");
                    prop_assert_eq!(&sm.schema_url, "https://example.invalid/s");
                    prop_assert_eq!(scope.attributes.len(), 1);
                    let one = collector::ExportMetricsServiceRequest {
                        resource_metrics: vec![metrics::ResourceMetrics {
                            scope_metrics: vec![sm.clone()],
                            ..rm.clone()
                        }],
                    };
                    for point in flatten(&one) {
                        let at = cursor_of(point.time_unix_nano);
                        prop_assert_eq!(index.parse::<usize>().unwrap(), scope_of[at.metric]);
                        prop_assert!(span.start <= at && at < span.end);
                        prop_assert!(carried.insert(at, point).is_none(), "{:?} twice", at);
                        in_request += 1;
                    }
                }
                prop_assert_eq!(in_request, span.points);
                // Consecutive `ScopeMetrics` of a request differ in scope.
                for pair in rm.scope_metrics.windows(2) {
                    prop_assert_ne!(&pair[0].scope, &pair[1].scope);
                }
            }
            let mut expected = reference(source);
            let too_large: Vec<PointCursor> = expected
                .keys()
                .copied()
                .filter(|c| !carried.contains_key(c))
                .collect();
            // Only points too large for the buffer may be missing, and only at small sizes.
            for c in &too_large {
                prop_assert!(alone_size(source, c.metric, c.point) + 64 > size, "{:?} lost", c);
            }
            expected.retain(|c, _| !too_large.contains(c));
            prop_assert!(carried == expected, "carried points differ from the input");
            Ok(())
        })?;
    }
}
