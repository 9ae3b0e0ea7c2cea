//! What the encoder reads: a small indexed view of metrics and their data points.
//!
//! The encoder never copies data into intermediate message structs. It asks a
//! [`MetricsSource`] for metric `m`, point `p`, attribute `i`, and writes protobuf straight
//! from the answers. Borrowed slices implement it ([`SliceSource`]) for users with their own
//! aggregation; the registry implements it over its snapshot tables.

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
