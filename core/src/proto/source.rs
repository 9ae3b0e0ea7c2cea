//! What the encoder reads: a small indexed view of metrics and their data points.
//!
//! The encoder never copies data into intermediate message structs. It asks a
//! [`MetricsSource`] for metric `m`, point `p`, attribute `i`, and writes protobuf straight
//! from the answers. Borrowed slices implement it ([`SliceSource`]) for users with their own
//! aggregation; the registry implements it over its snapshot tables.
//!
//! The required methods cover what the registry holds: one scope (the [`RequestHeader`]'s),
//! scalar attribute values, bucket data in slices. Data kept by another metrics library
//! (the `opentelemetry_sdk` bridge of otlp-embedded-std) needs more, so the trait has
//! provided methods that answer "nothing more" by default: several scopes per request
//! ([`MetricsSource::scope_count`]), attributes of any OTLP kind, arrays and bytes included,
//! for the resource, the scopes and the points ([`MetricsSource::any_attribute`]), and
//! bucket data read element by element instead of from slices
//! ([`MetricsSource::visit_buckets`]). A source that does not override them costs nothing
//! for them: the encoder's code for them is dead for it and left out of the binary.

use core::fmt;

/// An attribute value. OTLP `AnyValue` restricted to the scalar kinds metrics use.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AttributeValue<'a> {
    /// UTF-8 string.
    Str(&'a str),
    /// Boolean.
    Bool(bool),
    /// Signed 64-bit integer.
    Int(i64),
    /// Double.
    Double(f64),
}

/// One attribute: key and value.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeyValue<'a> {
    /// Attribute key.
    pub key: &'a str,
    /// Attribute value.
    pub value: AttributeValue<'a>,
}

impl<'a> KeyValue<'a> {
    /// A key with a value.
    pub const fn new(key: &'a str, value: AttributeValue<'a>) -> Self {
        KeyValue { key, value }
    }

    /// A key with a string value: `KeyValue::str("status", "200")`.
    pub const fn str(key: &'a str, value: &'a str) -> Self {
        KeyValue::new(key, AttributeValue::Str(value))
    }

    /// A key with a boolean value.
    pub const fn bool(key: &'a str, value: bool) -> Self {
        KeyValue::new(key, AttributeValue::Bool(value))
    }

    /// A key with an integer value.
    pub const fn int(key: &'a str, value: i64) -> Self {
        KeyValue::new(key, AttributeValue::Int(value))
    }

    /// A key with a floating-point value.
    pub const fn double(key: &'a str, value: f64) -> Self {
        KeyValue::new(key, AttributeValue::Double(value))
    }
}

/// An attribute value of any kind OpenTelemetry attributes allow: the scalar kinds of
/// [`AttributeValue`], bytes, and homogeneous arrays (OTLP `AnyValue`). Sources hand these
/// out through [`MetricsSource::any_attribute`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum AnyValue<'a> {
    /// UTF-8 string (`string_value`).
    Str(&'a str),
    /// Boolean (`bool_value`).
    Bool(bool),
    /// Signed 64-bit integer (`int_value`).
    Int(i64),
    /// Double (`double_value`).
    Double(f64),
    /// Bytes (`bytes_value`).
    Bytes(&'a [u8]),
    /// An array of one scalar kind (`array_value`).
    Array(ArrayValue<'a>),
}

impl<'a> From<AttributeValue<'a>> for AnyValue<'a> {
    fn from(value: AttributeValue<'a>) -> Self {
        match value {
            AttributeValue::Str(s) => AnyValue::Str(s),
            AttributeValue::Bool(b) => AnyValue::Bool(b),
            AttributeValue::Int(i) => AnyValue::Int(i),
            AttributeValue::Double(d) => AnyValue::Double(d),
        }
    }
}

/// A homogeneous array attribute value (OTLP `ArrayValue` whose elements are all of one
/// scalar kind, as OpenTelemetry attributes are).
///
/// String elements are read through [`StrList`], so that a source can lend its own
/// collection of string-likes (a `Vec<String>`, a slice of `&str`) without copying it:
///
/// ```
/// use otlp_embedded::proto::{AnyValue, ArrayValue, AttributeValue};
///
/// const ARGS: &[&str] = &["--port", "4318"];
/// let value = AnyValue::Array(ArrayValue::Str(&ARGS));
/// let AnyValue::Array(array) = value else { unreachable!() };
/// assert_eq!(array.len(), 2);
/// assert_eq!(array.element(1), Some(AttributeValue::Str("4318")));
/// ```
#[derive(Copy, Clone)]
pub enum ArrayValue<'a> {
    /// Booleans.
    Bool(&'a [bool]),
    /// Signed 64-bit integers.
    Int(&'a [i64]),
    /// Doubles.
    Double(&'a [f64]),
    /// UTF-8 strings.
    Str(&'a dyn StrList),
}

impl<'a> ArrayValue<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match *self {
            ArrayValue::Bool(v) => v.len(),
            ArrayValue::Int(v) => v.len(),
            ArrayValue::Double(v) => v.len(),
            ArrayValue::Str(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `index`, `None` past the end.
    pub fn element(&self, index: usize) -> Option<AttributeValue<'a>> {
        match *self {
            ArrayValue::Bool(v) => v.get(index).map(|&b| AttributeValue::Bool(b)),
            ArrayValue::Int(v) => v.get(index).map(|&i| AttributeValue::Int(i)),
            ArrayValue::Double(v) => v.get(index).map(|&d| AttributeValue::Double(d)),
            ArrayValue::Str(v) => v.get(index).map(AttributeValue::Str),
        }
    }
}

impl fmt::Debug for ArrayValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for index in 0..self.len() {
            list.entry(&self.element(index));
        }
        list.finish()
    }
}

impl PartialEq for ArrayValue<'_> {
    /// Same kind, same elements (doubles compared with `==`, as [`AttributeValue`] does).
    fn eq(&self, other: &Self) -> bool {
        let same_kind = matches!(
            (self, other),
            (ArrayValue::Bool(_), ArrayValue::Bool(_))
                | (ArrayValue::Int(_), ArrayValue::Int(_))
                | (ArrayValue::Double(_), ArrayValue::Double(_))
                | (ArrayValue::Str(_), ArrayValue::Str(_))
        );
        same_kind
            && self.len() == other.len()
            && (0..self.len()).all(|i| self.element(i) == other.element(i))
    }
}

/// The strings of an array attribute, read one by one. Implemented for everything that
/// dereferences to a slice of string-likes: `&[&str]`, and with `alloc`, `Vec<String>`,
/// `Box<[String]>` and the like.
pub trait StrList {
    /// Number of strings.
    fn len(&self) -> usize;
    /// String `index`, `None` past the end.
    fn get(&self, index: usize) -> Option<&str>;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<C> StrList for C
where
    C: core::ops::Deref,
    C::Target: slice::StrSlice,
{
    fn len(&self) -> usize {
        slice::StrSlice::slice_len(self.deref())
    }
    fn get(&self, index: usize) -> Option<&str> {
        slice::StrSlice::slice_get(self.deref(), index)
    }
}

mod slice {
    /// Slices of string-likes, for [`StrList`](super::StrList)'s blanket implementation.
    /// (Through the slice, whose borrow bounds its elements' lifetime.)
    pub trait StrSlice {
        fn slice_len(&self) -> usize;
        fn slice_get(&self, index: usize) -> Option<&str>;
    }

    impl<T: AsRef<str>> StrSlice for [T] {
        fn slice_len(&self) -> usize {
            self.len()
        }
        fn slice_get(&self, index: usize) -> Option<&str> {
            self.get(index).map(AsRef::as_ref)
        }
    }
}

/// One attribute of any value kind: key and [`AnyValue`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct AnyKeyValue<'a> {
    /// Attribute key.
    pub key: &'a str,
    /// Attribute value.
    pub value: AnyValue<'a>,
}

impl<'a> AnyKeyValue<'a> {
    /// A key with a value.
    pub const fn new(key: &'a str, value: AnyValue<'a>) -> Self {
        AnyKeyValue { key, value }
    }
}

/// Whose attributes [`MetricsSource::any_attribute`] is asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AttributeOwner {
    /// The resource every request carries.
    Resource,
    /// The source's scope with this index (see [`MetricsSource::scope`]).
    Scope(usize),
    /// Data point `point` of metric `metric`.
    Point {
        /// Metric index.
        metric: usize,
        /// Point index.
        point: usize,
    },
}

/// Which run of numbers of a histogram point [`MetricsSource::visit_buckets`] is asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BucketPart {
    /// An explicit-bucket histogram's upper bounds (visited as IEEE 754 bits,
    /// `f64::to_bits`).
    ExplicitBounds,
    /// An explicit-bucket histogram's count per bucket.
    BucketCounts,
    /// An exponential histogram's positive bucket counts, from `positive.offset`.
    PositiveCounts,
    /// An exponential histogram's negative bucket counts, from `negative.offset`.
    NegativeCounts,
}

/// The `Resource` every request carries.
///
/// ```
/// use otlp_embedded::proto::{AttributeValue, KeyValue, Resource};
///
/// const ATTRIBUTES: [KeyValue<'static>; 1] =
///     [KeyValue::new("service.name", AttributeValue::Str("pump-controller"))];
/// const RESOURCE: Resource<'static> = Resource::new(&ATTRIBUTES);
/// assert_eq!(RESOURCE.schema_url, "");
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Resource<'a> {
    /// Resource attributes such as `service.name`.
    pub attributes: &'a [KeyValue<'a>],
    /// Attributes the caller had to leave out.
    pub dropped_attributes_count: u32,
    /// `ResourceMetrics.schema_url`; empty for none.
    pub schema_url: &'a str,
}

impl<'a> Resource<'a> {
    /// A resource with these attributes, none dropped, no schema URL.
    pub const fn new(attributes: &'a [KeyValue<'a>]) -> Self {
        Resource {
            attributes,
            dropped_attributes_count: 0,
            schema_url: "",
        }
    }

    /// The same resource with this schema URL.
    pub const fn with_schema_url(self, schema_url: &'a str) -> Self {
        Resource { schema_url, ..self }
    }

    /// The same resource, saying that `count` attributes had to be left out.
    pub const fn with_dropped_attributes_count(self, count: u32) -> Self {
        Resource {
            dropped_attributes_count: count,
            ..self
        }
    }
}

/// The `InstrumentationScope` every request carries: name it after the code that records
/// (your firmware or service), not after this library.
///
/// ```
/// use otlp_embedded::proto::Scope;
///
/// let scope = Scope::new("pump-controller").with_version("2.1.0");
/// assert_eq!((scope.name, scope.version, scope.attributes.len()), ("pump-controller", "2.1.0", 0));
/// ```
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Scope<'a> {
    /// Scope name.
    pub name: &'a str,
    /// Scope version; empty for none.
    pub version: &'a str,
    /// Scope attributes.
    pub attributes: &'a [KeyValue<'a>],
    /// Attributes the caller had to leave out.
    pub dropped_attributes_count: u32,
    /// `ScopeMetrics.schema_url`; empty for none.
    pub schema_url: &'a str,
}

impl<'a> Scope<'a> {
    /// A scope with this name, no version, no attributes, no schema URL.
    pub const fn new(name: &'a str) -> Self {
        Scope {
            name,
            version: "",
            attributes: &[],
            dropped_attributes_count: 0,
            schema_url: "",
        }
    }

    /// The same scope with this version.
    pub const fn with_version(self, version: &'a str) -> Self {
        Scope { version, ..self }
    }

    /// The same scope with these attributes.
    pub const fn with_attributes(self, attributes: &'a [KeyValue<'a>]) -> Self {
        Scope { attributes, ..self }
    }

    /// The same scope with this schema URL.
    pub const fn with_schema_url(self, schema_url: &'a str) -> Self {
        Scope { schema_url, ..self }
    }

    /// The same scope, saying that `count` attributes had to be left out.
    pub const fn with_dropped_attributes_count(self, count: u32) -> Self {
        Scope {
            dropped_attributes_count: count,
            ..self
        }
    }
}

/// Resource and scope: the header that every request of a batch repeats.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct RequestHeader<'a> {
    /// The resource.
    pub resource: Resource<'a>,
    /// The instrumentation scope.
    pub scope: Scope<'a>,
}

impl<'a> RequestHeader<'a> {
    /// The header for `resource` and `scope`.
    pub const fn new(resource: Resource<'a>, scope: Scope<'a>) -> Self {
        RequestHeader { resource, scope }
    }
}

/// OTLP aggregation temporality.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Temporality {
    /// `AGGREGATION_TEMPORALITY_DELTA` (1): each point covers the time since the last one.
    Delta = 1,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` (2): each point covers the time since start.
    Cumulative = 2,
}

/// Which OTLP data message a metric holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MetricData {
    /// `Gauge`: last values.
    Gauge,
    /// `Sum`, monotonic (counter) or not (up-down counter).
    Sum {
        /// Delta or cumulative.
        temporality: Temporality,
        /// Whether the sum only goes up.
        is_monotonic: bool,
    },
    /// Explicit-bucket `Histogram`.
    Histogram {
        /// Delta or cumulative.
        temporality: Temporality,
    },
    /// Base-2 `ExponentialHistogram`.
    ExponentialHistogram {
        /// Delta or cumulative.
        temporality: Temporality,
    },
}

/// A metric's descriptive fields and data kind.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MetricInfo<'a> {
    /// Metric name.
    pub name: &'a str,
    /// Description; empty for none.
    pub description: &'a str,
    /// Unit (UCUM); empty for none.
    pub unit: &'a str,
    /// Which data message, with its temporality.
    pub data: MetricData,
}

/// Explicit-bucket histogram point values.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HistogramValue<'a> {
    /// Number of measurements.
    pub count: u64,
    /// Sum of measurements, when meaningful (absent when negative values were recorded
    /// into a monotonic-only histogram).
    pub sum: Option<f64>,
    /// Smallest measurement, if any.
    pub min: Option<f64>,
    /// Largest measurement, if any.
    pub max: Option<f64>,
    /// Upper bounds, ascending; `bucket_counts` has one more element than this.
    pub explicit_bounds: &'a [f64],
    /// Count per bucket.
    pub bucket_counts: &'a [u64],
}

/// One side (positive or negative) of an exponential histogram.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExponentialBuckets<'a> {
    /// Index of the first bucket in `bucket_counts`.
    pub offset: i32,
    /// Consecutive bucket counts from `offset`.
    pub bucket_counts: &'a [u64],
}

/// Base-2 exponential histogram point values.
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExponentialHistogramValue<'a> {
    /// Number of measurements.
    pub count: u64,
    /// Sum of measurements, when meaningful.
    pub sum: Option<f64>,
    /// Smallest measurement, if any.
    pub min: Option<f64>,
    /// Largest measurement, if any.
    pub max: Option<f64>,
    /// Resolution: bucket boundaries are powers of `2^(2^-scale)`.
    pub scale: i32,
    /// Measurements whose magnitude is at most `zero_threshold`.
    pub zero_count: u64,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Buckets for positive measurements.
    pub positive: ExponentialBuckets<'a>,
    /// Buckets for negative measurements (indexed by magnitude).
    pub negative: ExponentialBuckets<'a>,
}

/// The value part of a data point; must match the metric's [`MetricData`].
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PointValue<'a> {
    /// `NumberDataPoint.as_int`.
    Int(i64),
    /// `NumberDataPoint.as_double`.
    Double(f64),
    /// `HistogramDataPoint`.
    Histogram(HistogramValue<'a>),
    /// `ExponentialHistogramDataPoint`.
    ExponentialHistogram(ExponentialHistogramValue<'a>),
}

/// A data point's timestamps, flags and value (attributes are read separately).
#[derive(Copy, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Point<'a> {
    /// `start_time_unix_nano`; 0 for gauges, which have no start.
    pub start_time_unix_nano: u64,
    /// `time_unix_nano`.
    pub time_unix_nano: u64,
    /// `DataPointFlags` bits (1 = no recorded value).
    pub flags: u32,
    /// The value.
    pub value: PointValue<'a>,
}

/// Indexed read access to a batch of metrics, for the encoder.
///
/// Indexes passed in are always below the counts the source reported. A source whose
/// answers disagree with the metric's kind (a histogram value on a gauge) makes the
/// encoder return an error, never panic.
pub trait MetricsSource {
    /// Number of metrics.
    fn metric_count(&self) -> usize;
    /// Metric `metric`'s descriptive fields.
    fn metric(&self, metric: usize) -> MetricInfo<'_>;
    /// Number of data points of metric `metric`. Metrics with none are left out.
    fn point_count(&self, metric: usize) -> usize;
    /// Data point `point` of metric `metric`.
    fn point(&self, metric: usize, point: usize) -> Point<'_>;
    /// Number of attributes of that data point.
    fn attribute_count(&self, metric: usize, point: usize) -> usize;
    /// Attribute `index` of that data point.
    fn attribute(&self, metric: usize, point: usize, index: usize) -> KeyValue<'_>;

    /// How many instrumentation scopes the source names itself. 0 (the default): every
    /// metric is under the [`RequestHeader`]'s scope. Otherwise each metric is under the
    /// scope [`metric_scope`](Self::metric_scope) names, as [`scope`](Self::scope)
    /// describes it, and the header's scope only goes out in a request without metrics
    /// (`encode_request` of an empty batch).
    fn scope_count(&self) -> usize {
        0
    }

    /// The scope (below [`scope_count`](Self::scope_count)) metric `metric` is under; only
    /// asked when `scope_count` is not 0.
    ///
    /// Each run of consecutive metrics under one scope goes out as one `ScopeMetrics` (in
    /// every request that carries points of it), so a source should keep the metrics of a
    /// scope together.
    fn metric_scope(&self, metric: usize) -> usize {
        let _ = metric;
        0
    }

    /// Scope `scope` (below [`scope_count`](Self::scope_count)). Its attributes are
    /// `Scope::attributes`, then [`any_attribute`](Self::any_attribute)s of
    /// [`AttributeOwner::Scope`].
    fn scope(&self, scope: usize) -> Scope<'_> {
        let _ = scope;
        Scope::new("")
    }

    /// Number of attributes of any value kind `owner` has besides those the source gives
    /// otherwise (the header's resource attributes, `Scope::attributes`, the point's
    /// [`attribute`](Self::attribute)s); they are written after those. Default 0.
    fn any_attribute_count(&self, owner: AttributeOwner) -> usize {
        let _ = owner;
        0
    }

    /// Attribute `index` (below [`any_attribute_count`](Self::any_attribute_count)) of
    /// `owner`.
    fn any_attribute(&self, owner: AttributeOwner, index: usize) -> AnyKeyValue<'_> {
        let _ = (owner, index);
        AnyKeyValue::new("", AnyValue::Str(""))
    }

    /// How many numbers `part` of histogram point `point` of metric `metric` has, when the
    /// source hands them out with [`visit_buckets`](Self::visit_buckets) rather than in the
    /// point value's slice; the encoder then ignores that slice. `None` (the default): the
    /// slice holds them.
    fn bucket_len(&self, metric: usize, point: usize, part: BucketPart) -> Option<usize> {
        let _ = (metric, point, part);
        None
    }

    /// Call `each` with every number of `part` of that point, in order, exactly as many as
    /// [`bucket_len`](Self::bucket_len) said (a different number makes the encoder fail
    /// with an error, not write a wrong message). Bounds are passed as their bits
    /// (`f64::to_bits`). Only called where `bucket_len` answered `Some`.
    fn visit_buckets(
        &self,
        metric: usize,
        point: usize,
        part: BucketPart,
        each: &mut dyn FnMut(u64),
    ) {
        let _ = (metric, point, part, each);
    }
}

/// One metric as plain borrowed data, for [`SliceSource`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SliceMetric<'a> {
    /// Descriptive fields.
    pub info: MetricInfo<'a>,
    /// Its data points.
    pub points: &'a [SlicePoint<'a>],
}

/// One data point as plain borrowed data, for [`SliceSource`].
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SlicePoint<'a> {
    /// Attributes.
    pub attributes: &'a [KeyValue<'a>],
    /// Timestamps, flags and value.
    pub point: Point<'a>,
}

/// A [`MetricsSource`] over borrowed slices, for users with their own aggregation.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct SliceSource<'a> {
    /// The metrics.
    pub metrics: &'a [SliceMetric<'a>],
}

impl MetricsSource for SliceSource<'_> {
    fn metric_count(&self) -> usize {
        self.metrics.len()
    }
    fn metric(&self, metric: usize) -> MetricInfo<'_> {
        self.metrics[metric].info
    }
    fn point_count(&self, metric: usize) -> usize {
        self.metrics[metric].points.len()
    }
    fn point(&self, metric: usize, point: usize) -> Point<'_> {
        self.metrics[metric].points[point].point
    }
    fn attribute_count(&self, metric: usize, point: usize) -> usize {
        self.metrics[metric].points[point].attributes.len()
    }
    fn attribute(&self, metric: usize, point: usize, index: usize) -> KeyValue<'_> {
        self.metrics[metric].points[point].attributes[index]
    }
}
