//! The SDK's collected data as core's [`MetricsSource`]: the encoder reads the
//! `ResourceMetrics` the reader hands to `export` in place, through the SDK's accessors,
//! without building any intermediate message.
//!
//! The mapping of each SDK shape is tabled in the [module docs](super).
//!
//! Everything is looked up by position on each call. The SDK's accessors are slice
//! iterators, so `nth` is constant time; only the resource's attributes (a hash map) are
//! walked to their position, and a resource has a handful of them.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::{Array, KeyValue as SdkKeyValue, Value};
use opentelemetry_sdk::metrics::data::{
    AggregatedMetrics, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    MetricData as SdkData, ResourceMetrics,
};
use opentelemetry_sdk::metrics::Temporality as SdkTemporality;
use otlp_embedded::proto::PointSpan;
use otlp_embedded::proto::{
    AnyKeyValue, AnyValue, ArrayValue, AttributeOwner, AttributeValue, BucketPart,
    ExponentialBuckets, ExponentialHistogramValue, HistogramValue, KeyValue, MetricData,
    MetricInfo, MetricsSource, Point, PointValue, Scope, Temporality,
};
use otlp_embedded::registry::{Producer, Settlement};
use otlp_embedded::time::UnixNanos;

/// Call `$body` with `$data` bound to the metric's `&MetricData<T>`, whatever `T`.
macro_rules! with_data {
    ($metric:expr, |$data:ident| $body:expr) => {
        match $metric.data() {
            AggregatedMetrics::F64($data) => $body,
            AggregatedMetrics::U64($data) => $body,
            AggregatedMetrics::I64($data) => $body,
        }
    };
}

/// Where metric `m` of the flattened batch is (scope and position in it), and its points'
/// times, which the SDK keeps per metric: converted once here rather than for each point.
#[derive(Copy, Clone, Debug)]
pub(super) struct MetricAt {
    scope: usize,
    metric: usize,
    start_time_unix_nano: u64,
    time_unix_nano: u64,
}

/// Rebuild `index` for `metrics`: one entry per metric, in order, scope by scope. Reuses
/// the vector's memory, so an export allocates only when the batch has more metrics than
/// any before it.
pub(super) fn index_metrics(metrics: &ResourceMetrics, index: &mut Vec<MetricAt>) {
    index.clear();
    for (scope, scope_metrics) in metrics.scope_metrics().enumerate() {
        index.extend(scope_metrics.metrics().enumerate().map(|(metric, m)| {
            let (start, time) = with_data!(m, |data| times(data));
            MetricAt {
                scope,
                metric,
                start_time_unix_nano: start,
                time_unix_nano: time,
            }
        }));
    }
}

/// A metric's start time (0 for a gauge without one) and time, as OTLP nanoseconds.
fn times<T>(data: &SdkData<T>) -> (u64, u64) {
    let (start, time) = match data {
        SdkData::Gauge(g) => (g.start_time().map_or(0, unix_nanos), g.time()),
        SdkData::Sum(s) => (unix_nanos(s.start_time()), s.time()),
        SdkData::Histogram(h) => (unix_nanos(h.start_time()), h.time()),
        SdkData::ExponentialHistogram(e) => (unix_nanos(e.start_time()), e.time()),
    };
    (start, unix_nanos(time))
}

/// Attributes of one point kept at hand: the encoder asks for a point's attributes one by
/// one, twice (size, then bytes), and finding the point again each time costs more than
/// the attribute itself.
const CACHED_ATTRIBUTES: usize = 16;

struct PointAttributes<'m> {
    /// Metric and point these are of, if any yet.
    at: Option<(usize, usize)>,
    /// How many the point has (those past `CACHED_ATTRIBUTES` are found again each time).
    count: usize,
    first: [Option<&'m SdkKeyValue>; CACHED_ATTRIBUTES],
}

/// A `ResourceMetrics` read as core's [`MetricsSource`].
pub(super) struct SdkSource<'m> {
    metrics: &'m ResourceMetrics,
    index: &'m [MetricAt],
    scopes: usize,
    /// The attributes of the point asked about last (borrowed, not copied, on each ask).
    attributes: RefCell<PointAttributes<'m>>,
}

impl<'m> SdkSource<'m> {
    /// `index` as [`index_metrics`] built it for `metrics`.
    pub(super) fn new(metrics: &'m ResourceMetrics, index: &'m [MetricAt]) -> Self {
        SdkSource {
            metrics,
            index,
            scopes: metrics.scope_metrics().count(),
            attributes: RefCell::new(PointAttributes {
                at: None,
                count: 0,
                first: [None; CACHED_ATTRIBUTES],
            }),
        }
    }

    /// Have the attributes of point `point` of metric `metric` at hand; their count.
    fn point_attribute_count(&self, metric: usize, point: usize) -> usize {
        let mut cache = self.attributes.borrow_mut();
        if cache.at == Some((metric, point)) {
            return cache.count;
        }
        let cache = &mut *cache;
        cache.at = Some((metric, point));
        cache.count = 0;
        let Some(m) = self.sdk_metric(metric) else {
            return 0;
        };
        let first = &mut cache.first;
        let count = with_data!(m, |data| with_point_attributes(data, point, |attributes| {
            let mut count = 0;
            for kv in attributes {
                if let Some(slot) = first.get_mut(count) {
                    *slot = Some(kv);
                }
                count += 1;
            }
            count
        }))
        .unwrap_or(0);
        cache.count = count;
        count
    }

    /// Attribute `index` of point `point` of metric `metric`.
    fn point_attribute(
        &self,
        metric: usize,
        point: usize,
        index: usize,
    ) -> Option<&'m SdkKeyValue> {
        if index >= self.point_attribute_count(metric, point) {
            return None;
        }
        if let Some(kv) = self.attributes.borrow().first.get(index) {
            return *kv;
        }
        let m = self.sdk_metric(metric)?;
        with_data!(m, |data| with_point_attributes(data, point, |a| a
            .nth(index)))
        .flatten()
    }

    fn sdk_metric(&self, metric: usize) -> Option<&'m Metric> {
        let at = self.index.get(metric)?;
        self.metrics
            .scope_metrics()
            .nth(at.scope)?
            .metrics()
            .nth(at.metric)
    }
}

/// The SDK's number types, as the encoder needs them.
trait Number: Copy {
    fn point_value(self) -> PointValue<'static>;
    fn to_f64(self) -> f64;
}

impl Number for f64 {
    fn point_value(self) -> PointValue<'static> {
        PointValue::Double(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

impl Number for i64 {
    fn point_value(self) -> PointValue<'static> {
        PointValue::Int(self)
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Number for u64 {
    fn point_value(self) -> PointValue<'static> {
        // `as_int` is signed: saturate as core's registry does, rather than send 0.
        PointValue::Int(i64::try_from(self).unwrap_or(i64::MAX))
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    // As opentelemetry-proto's transform: before 1970 is 0, the rest truncated to 64 bits.
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn temporality(temporality: SdkTemporality) -> Temporality {
    match temporality {
        SdkTemporality::Delta => Temporality::Delta,
        // `LowMemory` is a preference, never the temporality of collected data; read any
        // other as the transform does.
        _ => Temporality::Cumulative,
    }
}

fn kind<T>(data: &SdkData<T>) -> MetricData {
    match data {
        SdkData::Gauge(_) => MetricData::Gauge,
        SdkData::Sum(sum) => MetricData::Sum {
            temporality: temporality(sum.temporality()),
            is_monotonic: sum.is_monotonic(),
        },
        SdkData::Histogram(h) => MetricData::Histogram {
            temporality: temporality(h.temporality()),
        },
        SdkData::ExponentialHistogram(e) => MetricData::ExponentialHistogram {
            temporality: temporality(e.temporality()),
        },
    }
}

/// Point `index` of `data`, whose metric's times `at` holds.
fn point<T: Number>(data: &SdkData<T>, at: &MetricAt, index: usize) -> Option<Point<'static>> {
    let value = match data {
        SdkData::Gauge(g) => g.data_points().nth(index)?.value().point_value(),
        SdkData::Sum(s) => s.data_points().nth(index)?.value().point_value(),
        SdkData::Histogram(h) => histogram_value(h.data_points().nth(index)?),
        SdkData::ExponentialHistogram(e) => exponential_value(e.data_points().nth(index)?),
    };
    Some(Point {
        start_time_unix_nano: at.start_time_unix_nano,
        time_unix_nano: at.time_unix_nano,
        flags: 0,
        value,
    })
}

/// The point's scalars; its bounds and counts are visited ([`MetricsSource::bucket_len`]).
fn histogram_value<T: Number>(p: &HistogramDataPoint<T>) -> PointValue<'static> {
    PointValue::Histogram(HistogramValue {
        count: p.count(),
        sum: Some(p.sum().to_f64()),
        min: p.min().map(Number::to_f64),
        max: p.max().map(Number::to_f64),
        explicit_bounds: &[],
        bucket_counts: &[],
    })
}

fn exponential_value<T: Number>(p: &ExponentialHistogramDataPoint<T>) -> PointValue<'static> {
    PointValue::ExponentialHistogram(ExponentialHistogramValue {
        count: p.count() as u64,
        sum: Some(p.sum().to_f64()),
        min: p.min().map(Number::to_f64),
        max: p.max().map(Number::to_f64),
        scale: i32::from(p.scale()),
        zero_count: p.zero_count(),
        zero_threshold: p.zero_threshold(),
        positive: ExponentialBuckets {
            offset: p.positive_bucket().offset(),
            bucket_counts: &[],
        },
        negative: ExponentialBuckets {
            offset: p.negative_bucket().offset(),
            bucket_counts: &[],
        },
    })
}

/// The attributes of point `index` of `data`, walked by `f`.
fn with_point_attributes<'m, T, R>(
    data: &'m SdkData<T>,
    index: usize,
    f: impl FnOnce(&mut dyn Iterator<Item = &'m SdkKeyValue>) -> R,
) -> Option<R> {
    Some(match data {
        SdkData::Gauge(g) => f(&mut g.data_points().nth(index)?.attributes()),
        SdkData::Sum(s) => f(&mut s.data_points().nth(index)?.attributes()),
        SdkData::Histogram(h) => f(&mut h.data_points().nth(index)?.attributes()),
        SdkData::ExponentialHistogram(e) => f(&mut e.data_points().nth(index)?.attributes()),
    })
}

/// The numbers of `part` of point `index` of `data`, walked by `f`; `None` when the point
/// is not a histogram of that kind.
fn with_buckets<T, R>(
    data: &SdkData<T>,
    index: usize,
    part: BucketPart,
    f: impl FnOnce(&mut dyn Iterator<Item = u64>) -> R,
) -> Option<R> {
    match (data, part) {
        (SdkData::Histogram(h), BucketPart::ExplicitBounds) => {
            let point = h.data_points().nth(index)?;
            Some(f(&mut point.bounds().map(f64::to_bits)))
        }
        (SdkData::Histogram(h), BucketPart::BucketCounts) => {
            Some(f(&mut h.data_points().nth(index)?.bucket_counts()))
        }
        (SdkData::ExponentialHistogram(e), BucketPart::PositiveCounts) => Some(f(&mut e
            .data_points()
            .nth(index)?
            .positive_bucket()
            .counts())),
        (SdkData::ExponentialHistogram(e), BucketPart::NegativeCounts) => Some(f(&mut e
            .data_points()
            .nth(index)?
            .negative_bucket()
            .counts())),
        _ => None,
    }
}

/// An SDK attribute as core's attribute of any kind.
fn any_key_value<'a>(key: &'a opentelemetry::Key, value: &'a Value) -> AnyKeyValue<'a> {
    let value = match value {
        Value::Bool(b) => AnyValue::Bool(*b),
        Value::I64(i) => AnyValue::Int(*i),
        Value::F64(d) => AnyValue::Double(*d),
        Value::String(s) => AnyValue::Str(s.as_str()),
        Value::Array(Array::Bool(v)) => AnyValue::Array(ArrayValue::Bool(v)),
        Value::Array(Array::I64(v)) => AnyValue::Array(ArrayValue::Int(v)),
        Value::Array(Array::F64(v)) => AnyValue::Array(ArrayValue::Double(v)),
        Value::Array(Array::String(v)) => AnyValue::Array(ArrayValue::Str(v)),
        // Both enums are `non_exhaustive`, and this SDK version has no other kinds: a later
        // one's new kind needs its own mapping here.
        _ => AnyValue::Str(""),
    };
    AnyKeyValue::new(key.as_str(), value)
}

impl MetricsSource for SdkSource<'_> {
    fn metric_count(&self) -> usize {
        self.index.len()
    }

    fn metric(&self, metric: usize) -> MetricInfo<'_> {
        match self.sdk_metric(metric) {
            Some(m) => MetricInfo {
                name: m.name(),
                description: m.description(),
                unit: m.unit(),
                data: with_data!(m, |data| kind(data)),
            },
            // Unreachable (indexes are below `metric_count`); a harmless answer all the same.
            None => MetricInfo {
                name: "",
                description: "",
                unit: "",
                data: MetricData::Gauge,
            },
        }
    }

    fn point_count(&self, metric: usize) -> usize {
        self.sdk_metric(metric).map_or(0, |m| {
            with_data!(m, |data| match data {
                SdkData::Gauge(g) => g.data_points().count(),
                SdkData::Sum(s) => s.data_points().count(),
                SdkData::Histogram(h) => h.data_points().count(),
                SdkData::ExponentialHistogram(e) => e.data_points().count(),
            })
        })
    }

    fn point(&self, metric: usize, point: usize) -> Point<'_> {
        let at = self.index.get(metric);
        self.sdk_metric(metric)
            .zip(at)
            .and_then(|(m, at)| with_data!(m, |data| self::point(data, at, point)))
            .unwrap_or(Point {
                start_time_unix_nano: 0,
                time_unix_nano: 0,
                flags: 0,
                value: PointValue::Int(0),
            })
    }

    // Every attribute goes through `any_attribute`: SDK values may be arrays.
    fn attribute_count(&self, _metric: usize, _point: usize) -> usize {
        0
    }

    fn attribute(&self, _metric: usize, _point: usize, _index: usize) -> KeyValue<'_> {
        KeyValue::new("", AttributeValue::Str(""))
    }

    fn scope_count(&self) -> usize {
        self.scopes
    }

    fn metric_scope(&self, metric: usize) -> usize {
        self.index.get(metric).map_or(0, |at| at.scope)
    }

    fn scope(&self, scope: usize) -> Scope<'_> {
        match self.metrics.scope_metrics().nth(scope) {
            Some(sm) => {
                let s = sm.scope();
                Scope::new(s.name())
                    .with_version(s.version().unwrap_or(""))
                    .with_schema_url(s.schema_url().unwrap_or(""))
            }
            None => Scope::new(""),
        }
    }

    fn any_attribute_count(&self, owner: AttributeOwner) -> usize {
        match owner {
            AttributeOwner::Resource => self.metrics.resource().len(),
            AttributeOwner::Scope(scope) => self
                .metrics
                .scope_metrics()
                .nth(scope)
                .map_or(0, |sm| sm.scope().attributes().count()),
            AttributeOwner::Point { metric, point } => self.point_attribute_count(metric, point),
        }
    }

    fn any_attribute(&self, owner: AttributeOwner, index: usize) -> AnyKeyValue<'_> {
        let found = match owner {
            AttributeOwner::Resource => self
                .metrics
                .resource()
                .iter()
                .nth(index)
                .map(|(k, v)| any_key_value(k, v)),
            AttributeOwner::Scope(scope) => self
                .metrics
                .scope_metrics()
                .nth(scope)
                .and_then(|sm| sm.scope().attributes().nth(index))
                .map(|kv| any_key_value(&kv.key, &kv.value)),
            AttributeOwner::Point { metric, point } => self
                .point_attribute(metric, point, index)
                .map(|kv| any_key_value(&kv.key, &kv.value)),
        };
        found.unwrap_or(AnyKeyValue::new("", AnyValue::Str("")))
    }

    fn bucket_len(&self, metric: usize, point: usize, part: BucketPart) -> Option<usize> {
        let m = self.sdk_metric(metric)?;
        with_data!(m, |data| with_buckets(data, point, part, |b| b.count()))
    }

    fn visit_buckets(
        &self,
        metric: usize,
        point: usize,
        part: BucketPart,
        each: &mut dyn FnMut(u64),
    ) {
        if let Some(m) = self.sdk_metric(metric) {
            with_data!(m, |data| with_buckets(data, point, part, |b| b
                .for_each(&mut *each)));
        }
    }
}

/// The producer side of core's exporter for data the SDK has already collected: nothing
/// to collect, nothing to settle. (The SDK keeps its own state: with delta temporality a
/// failed export's points are gone, as with any exporter of the SDK; cumulative ones are
/// current again in the next export.)
pub(super) struct Collected<'m>(PhantomData<&'m ()>);

impl Collected<'_> {
    pub(super) fn new() -> Self {
        Collected(PhantomData)
    }
}

impl<'m> Producer for Collected<'m> {
    type Snapshot = SdkSource<'m>;

    fn collect(&mut self, _snapshot: &mut SdkSource<'m>, _now: UnixNanos) {}

    fn settle(&mut self, _snapshot: &SdkSource<'m>, _span: PointSpan, _settlement: Settlement) {}
}
