//! The one function that turns decoded OTLP requests into totals per series: the sink, the
//! demo and every test that compares what arrived with what was recorded use [`totals`].
//!
//! A series is a metric name with one point's attributes ([`SeriesKey`]). Its
//! [`SeriesTotal`] keeps both readings a check may need:
//!
//! - every point added up (`value_sum`, `histogram_count`, `histogram_sum`,
//!   `bucket_counts`): what delta points stand for together;
//! - the latest point, by `time_unix_nano` (`last_value`, `last_histogram_count`,
//!   `last_histogram_sum`): what a cumulative point or a gauge stands for;
//!
//! and [`SeriesTotal::value`], [`SeriesTotal::count`] and [`SeriesTotal::sum`] pick the
//! reading that the series' temporality means.
//!
//! ```
//! use otlp_embedded_test_kit::totals::{totals, Repeats, SeriesKey};
//! use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
//! use opentelemetry_proto::tonic::metrics::v1::{
//!     metric::Data, number_data_point::Value, AggregationTemporality, Metric, NumberDataPoint,
//!     ResourceMetrics, ScopeMetrics, Sum,
//! };
//!
//! // One request with a delta counter point: 5 between t=10 and t=20.
//! let request = |value: i64, start: u64, time: u64| ExportMetricsServiceRequest {
//!     resource_metrics: vec![ResourceMetrics {
//!         scope_metrics: vec![ScopeMetrics {
//!             metrics: vec![Metric {
//!                 name: "requests".into(),
//!                 data: Some(Data::Sum(Sum {
//!                     data_points: vec![NumberDataPoint {
//!                         start_time_unix_nano: start,
//!                         time_unix_nano: time,
//!                         value: Some(Value::AsInt(value)),
//!                         ..Default::default()
//!                     }],
//!                     aggregation_temporality: AggregationTemporality::Delta as i32,
//!                     is_monotonic: true,
//!                 })),
//!                 ..Default::default()
//!             }],
//!             ..Default::default()
//!         }],
//!         ..Default::default()
//!     }],
//! };
//! let requests = [request(5, 10, 20), request(3, 20, 30)];
//! let all = totals(&requests, Repeats::CountAll);
//! let series = &all[&SeriesKey::new("requests", &[])];
//! assert_eq!((series.points, series.value()), (2, 8.0));
//! ```

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, NumberDataPoint};

/// A series' temporality, as the OTLP messages carry it.
pub use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;

/// A metric stream: metric name and its point's attributes, values rendered as strings,
/// sorted by key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Metric name.
    pub metric: String,
    /// Attributes, sorted by key.
    pub attributes: Vec<(String, String)>,
}

impl SeriesKey {
    /// The key of metric `metric` with exactly these attributes (any order), values as
    /// [`totals`] renders them (strings as they are, numbers and booleans by `Display`).
    pub fn new(metric: &str, attributes: &[(&str, &str)]) -> SeriesKey {
        let mut attributes: Vec<(String, String)> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attributes.sort();
        SeriesKey {
            metric: metric.to_string(),
            attributes,
        }
    }

    fn of(metric: &str, attributes: &[KeyValue]) -> SeriesKey {
        let mut attributes: Vec<(String, String)> = attributes
            .iter()
            .map(|kv| (kv.key.clone(), render(&kv.value)))
            .collect();
        attributes.sort();
        SeriesKey {
            metric: metric.to_string(),
            attributes,
        }
    }
}

/// The kind of a metric's data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataKind {
    /// `Gauge`.
    #[default]
    Gauge,
    /// `Sum` (monotonic or not).
    Sum,
    /// `Histogram` with explicit bounds.
    Histogram,
    /// `ExponentialHistogram`.
    ExponentialHistogram,
    /// `Summary`.
    Summary,
}

/// How points that repeat an interval count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeats {
    /// Every point counts: each request was delivered once (what a sink acknowledged).
    CountAll,
    /// Of the points of one series with the same start time, only the one with the latest
    /// time counts. Delivery is at least once: a request the collector read but did not
    /// answer is sent again, and after an abandoned export the next one carries the same
    /// interval's data again, extended to a later time. A cumulative series keeps one
    /// start time, so only its latest point counts, which is what it stands for anyway.
    LatestPerStart,
}

/// What the counted points of one [`SeriesKey`] carried.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeriesTotal {
    /// The kind of the series' first point.
    pub kind: DataKind,
    /// The temporality of the series' first point (`Unspecified` for gauges and
    /// summaries).
    pub temporality: AggregationTemporality,
    /// Points whose kind or temporality differs from the first point's: 0 unless the
    /// exporter changed a metric's shape.
    pub shape_changes: u64,
    /// Data points counted.
    pub points: u64,
    /// Sum of gauge and sum point values (the total of delta sums). Integers are exact up
    /// to 2^53; a number point without a value counts as NaN, so that no total that
    /// includes one equals a recorded number.
    pub value_sum: f64,
    /// Value of the latest gauge or sum point (the total of a cumulative sum, a gauge's
    /// reading).
    pub last_value: f64,
    /// Sum of histogram, exponential histogram and summary point counts.
    pub histogram_count: u64,
    /// Sum of the sums those points carry; points without one add nothing and are counted
    /// in `sums_absent`.
    pub histogram_sum: f64,
    /// Histogram points without a sum (allowed when negative values were recorded).
    pub sums_absent: u64,
    /// Explicit-bucket histogram bucket counts added up bucket by bucket (exponential
    /// histograms are not added here: their buckets depend on each point's scale).
    pub bucket_counts: Vec<u64>,
    /// Count of the latest histogram, exponential histogram or summary point.
    pub last_histogram_count: u64,
    /// Sum of that point, if it has one.
    pub last_histogram_sum: Option<f64>,
    /// `time_unix_nano` of the latest point; of equal times, the one received later
    /// counts as the latest.
    pub last_time_unix_nano: u64,
    /// With [`Repeats::LatestPerStart`]: points with the same start and time as another of
    /// the series but different data, a conflict in what should be one interval's copies.
    /// Always 0 with [`Repeats::CountAll`].
    pub conflicting_repeats: u64,
}

impl SeriesTotal {
    /// Whether the series' points are delta points, each covering the time since the
    /// previous one.
    pub fn is_delta(&self) -> bool {
        self.temporality == AggregationTemporality::Delta
    }

    /// What the series says was recorded: delta sums add up, a cumulative sum or a gauge
    /// is its latest point.
    pub fn value(&self) -> f64 {
        if self.is_delta() {
            self.value_sum
        } else {
            self.last_value
        }
    }

    /// The measurement count a histogram series says was recorded: delta points add up,
    /// a cumulative series is its latest point.
    pub fn count(&self) -> u64 {
        if self.is_delta() {
            self.histogram_count
        } else {
            self.last_histogram_count
        }
    }

    /// The sum a histogram series says was recorded, as [`SeriesTotal::count`] reads it;
    /// `None` when a point it rests on carries no sum.
    pub fn sum(&self) -> Option<f64> {
        if self.is_delta() {
            (self.sums_absent == 0).then_some(self.histogram_sum)
        } else {
            self.last_histogram_sum
        }
    }

    fn add(&mut self, point: &FlatPoint) {
        if self.points == 0 {
            self.kind = point.kind;
            self.temporality = point.temporality;
        } else if (self.kind, self.temporality) != (point.kind, point.temporality) {
            self.shape_changes += 1;
        }
        self.points += 1;
        let latest = point.time >= self.last_time_unix_nano;
        if latest {
            self.last_time_unix_nano = point.time;
        }
        match &point.reading {
            Reading::Number(value) => {
                self.value_sum += value;
                if latest {
                    self.last_value = *value;
                }
            }
            Reading::Distribution {
                count,
                sum,
                buckets,
            } => {
                self.histogram_count += count;
                match sum {
                    Some(sum) => self.histogram_sum += sum,
                    None => self.sums_absent += 1,
                }
                if self.bucket_counts.len() < buckets.len() {
                    self.bucket_counts.resize(buckets.len(), 0);
                }
                for (total, n) in self.bucket_counts.iter_mut().zip(buckets) {
                    *total += n;
                }
                if latest {
                    self.last_histogram_count = *count;
                    self.last_histogram_sum = *sum;
                }
            }
        }
    }
}

/// Totals per series over every data point of `requests`, with repeated intervals counted
/// as `repeats` says. Points are taken in order, request by request.
pub fn totals<'a, I>(requests: I, repeats: Repeats) -> BTreeMap<SeriesKey, SeriesTotal>
where
    I: IntoIterator<Item = &'a ExportMetricsServiceRequest>,
{
    let points: Vec<FlatPoint> = requests.into_iter().flat_map(flat_points).collect();
    let mut out: BTreeMap<SeriesKey, SeriesTotal> = BTreeMap::new();
    match repeats {
        Repeats::CountAll => {
            for point in &points {
                out.entry(point.key.clone()).or_default().add(point);
            }
        }
        Repeats::LatestPerStart => {
            // Which point stands for each (series, start): the latest; of equal times,
            // the later received, and a copy that differs is a conflict.
            let mut kept: BTreeMap<(&SeriesKey, u64), usize> = BTreeMap::new();
            let mut conflicts: BTreeMap<&SeriesKey, u64> = BTreeMap::new();
            for (index, point) in points.iter().enumerate() {
                let slot = kept.entry((&point.key, point.start)).or_insert(index);
                let current = &points[*slot];
                if point.time > current.time {
                    *slot = index;
                } else if point.time == current.time && *slot != index {
                    if !point.same_data(current) {
                        *conflicts.entry(&point.key).or_default() += 1;
                    }
                    *slot = index;
                }
            }
            let mut chosen: Vec<usize> = kept.into_values().collect();
            chosen.sort_unstable();
            for index in chosen {
                let point = &points[index];
                out.entry(point.key.clone()).or_default().add(point);
            }
            for (key, n) in conflicts {
                if let Some(total) = out.get_mut(key) {
                    total.conflicting_repeats = n;
                }
            }
        }
    }
    out
}

/// One data point with its series, in the form [`SeriesTotal::add`] reads.
struct FlatPoint {
    key: SeriesKey,
    kind: DataKind,
    temporality: AggregationTemporality,
    start: u64,
    time: u64,
    reading: Reading,
}

enum Reading {
    Number(f64),
    /// A histogram, exponential histogram or summary point.
    Distribution {
        count: u64,
        sum: Option<f64>,
        /// Explicit-bucket counts (empty for the other two kinds).
        buckets: Vec<u64>,
    },
}

impl FlatPoint {
    /// Same kind, and values equal bit for bit (so identical NaNs match).
    fn same_data(&self, other: &FlatPoint) -> bool {
        let bits = |sum: &Option<f64>| sum.map(f64::to_bits);
        (self.kind, self.temporality) == (other.kind, other.temporality)
            && match (&self.reading, &other.reading) {
                (Reading::Number(a), Reading::Number(b)) => a.to_bits() == b.to_bits(),
                (
                    Reading::Distribution {
                        count: ca,
                        sum: sa,
                        buckets: ba,
                    },
                    Reading::Distribution {
                        count: cb,
                        sum: sb,
                        buckets: bb,
                    },
                ) => ca == cb && bits(sa) == bits(sb) && ba == bb,
                _ => false,
            }
    }
}

fn temporality_of(value: i32) -> AggregationTemporality {
    AggregationTemporality::try_from(value).unwrap_or(AggregationTemporality::Unspecified)
}

fn flat_points(request: &ExportMetricsServiceRequest) -> Vec<FlatPoint> {
    let mut out = Vec::new();
    let metrics = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics);
    for m in metrics {
        let number = |kind, temporality, p: &NumberDataPoint| FlatPoint {
            key: SeriesKey::of(&m.name, &p.attributes),
            kind,
            temporality,
            start: p.start_time_unix_nano,
            time: p.time_unix_nano,
            reading: Reading::Number(number(p)),
        };
        match &m.data {
            Some(metric::Data::Gauge(g)) => out.extend(
                g.data_points
                    .iter()
                    .map(|p| number(DataKind::Gauge, AggregationTemporality::Unspecified, p)),
            ),
            Some(metric::Data::Sum(s)) => {
                let temporality = temporality_of(s.aggregation_temporality);
                out.extend(
                    s.data_points
                        .iter()
                        .map(|p| number(DataKind::Sum, temporality, p)),
                );
            }
            Some(metric::Data::Histogram(h)) => {
                let temporality = temporality_of(h.aggregation_temporality);
                out.extend(h.data_points.iter().map(|p| FlatPoint {
                    key: SeriesKey::of(&m.name, &p.attributes),
                    kind: DataKind::Histogram,
                    temporality,
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    reading: Reading::Distribution {
                        count: p.count,
                        sum: p.sum,
                        buckets: p.bucket_counts.clone(),
                    },
                }));
            }
            Some(metric::Data::ExponentialHistogram(h)) => {
                let temporality = temporality_of(h.aggregation_temporality);
                out.extend(h.data_points.iter().map(|p| FlatPoint {
                    key: SeriesKey::of(&m.name, &p.attributes),
                    kind: DataKind::ExponentialHistogram,
                    temporality,
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    reading: Reading::Distribution {
                        count: p.count,
                        sum: p.sum,
                        buckets: Vec::new(),
                    },
                }));
            }
            Some(metric::Data::Summary(s)) => {
                out.extend(s.data_points.iter().map(|p| FlatPoint {
                    key: SeriesKey::of(&m.name, &p.attributes),
                    kind: DataKind::Summary,
                    temporality: AggregationTemporality::Unspecified,
                    start: p.start_time_unix_nano,
                    time: p.time_unix_nano,
                    reading: Reading::Distribution {
                        count: p.count,
                        sum: Some(p.sum),
                        buckets: Vec::new(),
                    },
                }));
            }
            None => {}
        }
    }
    out
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => f64::NAN,
    }
}

fn render(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
