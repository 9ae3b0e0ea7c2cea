//! Field numbers, from the OTLP `.proto` files (opentelemetry-proto 1.x). Every one is
//! below 16, so every key is a single byte (`field_len` relies on it).

// ExportMetricsServiceRequest
pub const REQUEST_RESOURCE_METRICS: u32 = 1;
// ResourceMetrics
pub const RM_RESOURCE: u32 = 1;
pub const RM_SCOPE_METRICS: u32 = 2;
pub const RM_SCHEMA_URL: u32 = 3;
// Resource
pub const RESOURCE_ATTRIBUTES: u32 = 1;
pub const RESOURCE_DROPPED: u32 = 2;
// ScopeMetrics
pub const SM_SCOPE: u32 = 1;
pub const SM_METRICS: u32 = 2;
pub const SM_SCHEMA_URL: u32 = 3;
// InstrumentationScope
pub const SCOPE_NAME: u32 = 1;
pub const SCOPE_VERSION: u32 = 2;
pub const SCOPE_ATTRIBUTES: u32 = 3;
pub const SCOPE_DROPPED: u32 = 4;
// KeyValue
pub const KV_KEY: u32 = 1;
pub const KV_VALUE: u32 = 2;
// AnyValue (oneof value)
pub const ANY_STRING: u32 = 1;
pub const ANY_BOOL: u32 = 2;
pub const ANY_INT: u32 = 3;
pub const ANY_DOUBLE: u32 = 4;
pub const ANY_ARRAY: u32 = 5;
pub const ANY_BYTES: u32 = 7;
// ArrayValue
pub const ARRAY_VALUES: u32 = 1;
// Metric (oneof data: gauge 5, sum 7, histogram 9, exponential_histogram 10)
pub const METRIC_NAME: u32 = 1;
pub const METRIC_DESCRIPTION: u32 = 2;
pub const METRIC_UNIT: u32 = 3;
pub const METRIC_GAUGE: u32 = 5;
pub const METRIC_SUM: u32 = 7;
pub const METRIC_HISTOGRAM: u32 = 9;
pub const METRIC_EXPONENTIAL_HISTOGRAM: u32 = 10;
// Gauge, Sum, Histogram, ExponentialHistogram
pub const DATA_POINTS: u32 = 1;
pub const AGGREGATION_TEMPORALITY: u32 = 2;
pub const SUM_IS_MONOTONIC: u32 = 3;
// NumberDataPoint (oneof value: as_double 4, as_int 6)
pub const NUMBER_START: u32 = 2;
pub const NUMBER_TIME: u32 = 3;
pub const NUMBER_AS_DOUBLE: u32 = 4;
pub const NUMBER_AS_INT: u32 = 6;
pub const NUMBER_ATTRIBUTES: u32 = 7;
pub const NUMBER_FLAGS: u32 = 8;
// HistogramDataPoint
pub const HIST_START: u32 = 2;
pub const HIST_TIME: u32 = 3;
pub const HIST_COUNT: u32 = 4;
pub const HIST_SUM: u32 = 5;
pub const HIST_BUCKET_COUNTS: u32 = 6;
pub const HIST_EXPLICIT_BOUNDS: u32 = 7;
pub const HIST_ATTRIBUTES: u32 = 9;
pub const HIST_FLAGS: u32 = 10;
pub const HIST_MIN: u32 = 11;
pub const HIST_MAX: u32 = 12;
// ExponentialHistogramDataPoint
#[cfg(feature = "exponential-histogram")]
pub const EXP_ATTRIBUTES: u32 = 1;
#[cfg(feature = "exponential-histogram")]
pub const EXP_START: u32 = 2;
#[cfg(feature = "exponential-histogram")]
pub const EXP_TIME: u32 = 3;
#[cfg(feature = "exponential-histogram")]
pub const EXP_COUNT: u32 = 4;
#[cfg(feature = "exponential-histogram")]
pub const EXP_SUM: u32 = 5;
#[cfg(feature = "exponential-histogram")]
pub const EXP_SCALE: u32 = 6;
#[cfg(feature = "exponential-histogram")]
pub const EXP_ZERO_COUNT: u32 = 7;
#[cfg(feature = "exponential-histogram")]
pub const EXP_POSITIVE: u32 = 8;
#[cfg(feature = "exponential-histogram")]
pub const EXP_NEGATIVE: u32 = 9;
#[cfg(feature = "exponential-histogram")]
pub const EXP_FLAGS: u32 = 10;
#[cfg(feature = "exponential-histogram")]
pub const EXP_MIN: u32 = 12;
#[cfg(feature = "exponential-histogram")]
pub const EXP_MAX: u32 = 13;
#[cfg(feature = "exponential-histogram")]
pub const EXP_ZERO_THRESHOLD: u32 = 14;
// ExponentialHistogramDataPoint.Buckets
#[cfg(feature = "exponential-histogram")]
pub const BUCKETS_OFFSET: u32 = 1;
#[cfg(feature = "exponential-histogram")]
pub const BUCKETS_COUNTS: u32 = 2;
