//! A recorder for the [`metrics`] crate facade (feature `metrics-rs`): `counter!`, `gauge!`
//! and `histogram!` record into a [`SharedRegistry`], which a
//! [`PeriodicExporter`](crate::PeriodicExporter) sends as OTLP.
//!
//! ```
//! use std::sync::Arc;
//! use otlp_embedded::registry::Snapshot;
//! use otlp_embedded_std::metrics_rs::{MetricKind, MetricsRecorder};
//! use otlp_embedded_std::SharedRegistry;
//!
//! let registry = Arc::new(SharedRegistry::<8, 128, 48, 16, 512>::new(0));
//! let recorder = MetricsRecorder::builder(Arc::clone(&registry)).max_series(16).build();
//! let stats = recorder.stats_handle();
//! metrics::with_local_recorder(&recorder, || {
//!     metrics::describe_counter!("requests", metrics::Unit::Count, "Requests served");
//!     metrics::counter!("requests", "method" => "GET").increment(2);
//!     metrics::gauge!("queue.depth").set(7.0);
//!     metrics::histogram!("latency", "route" => "/").record(0.25);
//! });
//! assert_eq!(stats.get().instruments, 3);
//! assert_eq!(recorder.instrument_stats(MetricKind::Counter, "requests").unwrap().series, 1);
//! // Hand `registry.producer()` to a PeriodicExporter (built from OTEL_* with
//! // `from_config`), or collect it yourself:
//! let mut snapshot = Box::new(Snapshot::new());
//! otlp_embedded::registry::Producer::collect(&mut &*registry, &mut snapshot, 1);
//! assert_eq!(snapshot.total_points(), 3);
//! ```
//!
//! # What maps to what
//!
//! | facade                        | OTLP                                                      |
//! |-------------------------------|-----------------------------------------------------------|
//! | `counter!(..).increment(n)`   | monotonic sum of integers, `n` added                       |
//! | `counter!(..).absolute(n)`    | the same sum raised to `n` if above the total (see below)   |
//! | `gauge!(..).set(x)`           | gauge of doubles, last value `x`                           |
//! | `gauge!(..).increment(x)` / `decrement(x)` | gauge, the handle's value moved by `x`        |
//! | `histogram!(..).record(x)`    | explicit-bucket or exponential histogram, as configured    |
//! | labels `"k" => "v"`           | string attributes `k = "v"`                                |
//! | `describe_*(name, unit, text)`| the metric's `description` and `unit` ([`ucum`])           |
//!
//! **Names.** A metric name (within its kind: counters, gauges and histograms are separate
//! name spaces, as in the facade's other recorders) gets an instrument in the registry on
//! its first use, declared with no attribute keys so that it keeps whatever labels a
//! measurement carries, up to [`max_series`](MetricsRecorderBuilder::max_series) label
//! sets ([`max_histogram_series`](MetricsRecorderBuilder::max_histogram_series) for
//! histograms). A name the registry cannot declare (its `INSTRUMENTS` are taken, or its
//! `SERIES`, `HISTOGRAM_SERIES` or `BUCKETS` reserve cannot hold `max_series + 1` more),
//! or that does not fit the recorder's name storage, is refused: its measurements are
//! counted in [`RecorderStats::measurements_dropped`] and the name in
//! [`RecorderStats::names_refused`], with the registry's reason in
//! [`RecorderStats::last_refusal`]. Size the registry for the names the program uses.
//!
//! **Labels.** Keys and values are run-time strings, kept by the registry's storage for
//! undeclared keys (sorted by key: `"a" => "1", "b" => "2"` and `"b" => "2", "a" => "1"`
//! are one series). A label set beyond the cardinality limit goes to the instrument's
//! overflow series (`otel.metric.overflow = true`), counted in
//! [`RecorderStats::series_overflowed`]; one whose keys and values do not fit the
//! registry's `ATTRIBUTE_BYTES` (each label takes 2 bytes plus its key and value) goes
//! there too, counted in [`RecorderStats::attributes_oversized`]. Nothing is merged
//! silently: the overflow series is the specification's, and the counts say how much went
//! into it.
//!
//! **Counters.** `increment` adds. `absolute(n)` is for a counter kept elsewhere (a
//! kernel's, a device's): each handle remembers the total it recorded (increments and
//! absolutes), and `absolute(n)` records `n - total` when `n` is above it, so the exported
//! sum follows the external counter under either temporality; a smaller `n` (a stale
//! read) changes nothing.
//!
//! **Gauges.** The registry keeps a gauge's last value; `increment` and `decrement` move
//! the value the handle remembers and record the result, `set` replaces it. A NaN or
//! infinite result is recorded so that the registry rejects it and counts it
//! ([`RecorderStats::rejected`]); the remembered value stays.
//!
//! **Histograms.** `f64` values, explicit buckets ([`DEFAULT_BOUNDS`] unless set) or base-2
//! exponential, per name ([`MetricsRecorderBuilder::histograms`],
//! [`histograms_by`](MetricsRecorderBuilder::histograms_by)). NaN and infinities are
//! rejected and counted.
//!
//! **Temporality.** The recorder chooses none: instruments take the registry's
//! [`TemporalityPreference`](otlp_embedded::registry::TemporalityPreference), which
//! [`PeriodicExporter::from_config`](crate::PeriodicExporter::from_config) sets from
//! `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (counters and histograms delta
//! under `delta` and `lowmemory`; gauges always cumulative).
//!
//! **Descriptions.** `describe_*` is kept until the name's first use and declared with
//! it. A description that comes after the first use with another unit or text cannot
//! change the declared instrument: it is counted ([`RecorderStats::descriptions_late`]).
//! Describe at start-up, as the facade recommends.
//!
//! # Memory and speed
//!
//! Series live in the registry's fixed tables. The recorder adds, allocated at build: the
//! name storage ([`name_bytes`](MetricsRecorderBuilder::name_bytes), never freed, since
//! the registry borrows names for `'static`) and three handle caches of
//! [`handles`](MetricsRecorderBuilder::handles) entries each. A macro call finds its
//! handle by the hash its `metrics::Key` carries, without allocating; a measurement
//! through an existing handle converts the labels on the stack (up to 16) and takes the
//! handle's lock and the registry's. The first use of a key allocates its handle (and a
//! copy of the key if it was not `'static`).

mod cache;
mod directory;
mod series;
mod stats;
mod unit;

use std::sync::{Arc, Mutex, PoisonError};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use otlp_embedded::proto::KeyValue;
use otlp_embedded::registry::{
    DeclareError, Instrument, InstrumentDesc, InstrumentStats, Number, RecordError, DEFAULT_BOUNDS,
};

use crate::SharedRegistry;
use cache::Cache;
use directory::{Directory, Lookup};
use series::Series;

pub use stats::{MetricKind, RecorderStats};
pub use unit::ucum;

/// How histograms aggregate.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum HistogramAggregation {
    /// Explicit buckets with these boundaries (strictly ascending, finite).
    Explicit(&'static [f64]),
    /// Base-2 exponential buckets: at most `max_size` per sign, starting at `max_scale`.
    Exponential {
        /// Most buckets per sign, at least 3.
        max_size: u16,
        /// Starting (largest) scale, `-10..=20`.
        max_scale: i8,
    },
}

impl Default for HistogramAggregation {
    /// Explicit buckets, the specification's default boundaries.
    fn default() -> Self {
        HistogramAggregation::Explicit(&DEFAULT_BOUNDS)
    }
}

/// The registry as the recorder uses it, whatever its capacities.
trait Access: Send + Sync {
    fn declare(&self, desc: InstrumentDesc) -> Result<Instrument, DeclareError>;
    fn record(
        &self,
        instrument: Instrument,
        value: Number,
        attributes: &[KeyValue<'_>],
    ) -> Result<(), RecordError>;
    fn stats(&self, instrument: Instrument) -> Option<InstrumentStats>;
    /// Unit and description.
    fn desc(&self, instrument: Instrument) -> Option<(&'static str, &'static str)>;
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Access for SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn declare(&self, desc: InstrumentDesc) -> Result<Instrument, DeclareError> {
        SharedRegistry::declare(self, desc)
    }

    #[inline]
    fn record(
        &self,
        instrument: Instrument,
        value: Number,
        attributes: &[KeyValue<'_>],
    ) -> Result<(), RecordError> {
        SharedRegistry::record(self, instrument, value, attributes)
    }

    fn stats(&self, instrument: Instrument) -> Option<InstrumentStats> {
        SharedRegistry::stats(self, instrument)
    }

    fn desc(&self, instrument: Instrument) -> Option<(&'static str, &'static str)> {
        self.with(|r| r.desc(instrument).map(|d| (d.unit, d.description)))
            .flatten()
    }
}

/// Reads a recorder's [`RecorderStats`] from anywhere, after the recorder was moved into
/// the facade; from [`MetricsRecorder::stats_handle`].
#[derive(Clone)]
pub struct StatsHandle {
    shared: Arc<Shared>,
}

impl StatsHandle {
    /// The counts now, with the registry's per-instrument counts summed in.
    pub fn get(&self) -> RecorderStats {
        let mut stats = *self
            .shared
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let instruments = self
            .shared
            .instruments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for instrument in instruments {
            if let Some(s) = self.shared.registry.stats(instrument) {
                stats.series_overflowed += u64::from(s.overflowed);
                stats.attributes_oversized += u64::from(s.oversized);
                stats.rejected += u64::from(s.rejected);
                stats.duplicate_labels += u64::from(s.dropped_attributes);
            }
        }
        stats
    }
}

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StatsHandle").field(&self.get()).finish()
    }
}

/// The builder's settings.
#[derive(Copy, Clone)]
struct Options {
    max_series: u16,
    max_histogram_series: u16,
    histograms: HistogramChoice,
    name_bytes: usize,
    handles: usize,
    refused_names: usize,
}

/// One aggregation for every histogram, or one chosen by name.
#[derive(Copy, Clone)]
enum HistogramChoice {
    All(HistogramAggregation),
    ByName(fn(&str) -> HistogramAggregation),
}

impl HistogramChoice {
    fn for_name(self, name: &str) -> HistogramAggregation {
        match self {
            HistogramChoice::All(a) => a,
            HistogramChoice::ByName(choose) => choose(name),
        }
    }
}

/// What the recorder and its handles share: the registry and the counts.
struct Shared {
    registry: Arc<dyn Access>,
    counts: Mutex<RecorderStats>,
    /// Every instrument declared, for the summed registry counts.
    instruments: Mutex<Vec<Instrument>>,
}

impl Shared {
    fn count(&self, f: impl FnOnce(&mut RecorderStats)) {
        f(&mut self.counts.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Builds a [`MetricsRecorder`]; from [`MetricsRecorder::builder`].
pub struct MetricsRecorderBuilder {
    registry: Arc<dyn Access>,
    options: Options,
}

impl MetricsRecorderBuilder {
    /// Label sets each counter and gauge may hold besides its overflow series (the
    /// cardinality limit); default 16 (a registry of default capacities, 128 series,
    /// then holds 7 such metrics). Each instrument reserves `max_series + 1` of the
    /// registry's `SERIES` when declared.
    pub fn max_series(mut self, max_series: u16) -> Self {
        self.options.max_series = max_series;
        self
    }

    /// Label sets each histogram may hold besides its overflow series; default 4 (a
    /// registry of default capacities, 16 histogram series, then holds 3 histograms). Each
    /// reserves `max_histogram_series + 1` of the registry's `SERIES` and
    /// `HISTOGRAM_SERIES`, and their buckets of `BUCKETS`.
    pub fn max_histogram_series(mut self, max_series: u16) -> Self {
        self.options.max_histogram_series = max_series;
        self
    }

    /// How every histogram aggregates (default: explicit buckets, [`DEFAULT_BOUNDS`]).
    pub fn histograms(mut self, aggregation: HistogramAggregation) -> Self {
        self.options.histograms = HistogramChoice::All(aggregation);
        self
    }

    /// How each histogram aggregates, chosen by its name when it is declared.
    pub fn histograms_by(mut self, choose: fn(&str) -> HistogramAggregation) -> Self {
        self.options.histograms = HistogramChoice::ByName(choose);
        self
    }

    /// Bytes for metric names and descriptions, allocated once at build and kept for the
    /// life of the process (the registry borrows names for `'static`); default 4096.
    pub fn name_bytes(mut self, bytes: usize) -> Self {
        self.options.name_bytes = bytes;
        self
    }

    /// Handles cached per kind (counters, gauges, histograms); default 1024. Keep it at
    /// least the registry's `SERIES`, so that every gauge series keeps the handle that
    /// remembers its value.
    pub fn handles(mut self, handles: usize) -> Self {
        self.options.handles = handles;
        self
    }

    /// Refused names remembered, so that each is counted once and not declared again;
    /// default 256.
    pub fn refused_names(mut self, names: usize) -> Self {
        self.options.refused_names = names;
        self
    }

    /// The recorder.
    pub fn build(self) -> MetricsRecorder {
        let o = self.options;
        MetricsRecorder {
            shared: Arc::new(Shared {
                registry: self.registry,
                counts: Mutex::new(RecorderStats::default()),
                instruments: Mutex::new(Vec::new()),
            }),
            directory: Mutex::new(Directory::new(o.name_bytes)),
            counters: Cache::new(o.handles),
            gauges: Cache::new(o.handles),
            histograms: Cache::new(o.handles),
            options: o,
        }
    }
}

/// A [`metrics::Recorder`] over a [`SharedRegistry`]; see the [module docs](self).
///
/// Install it with `metrics::set_global_recorder` (or use it through
/// `metrics::with_local_recorder`); keep a [`StatsHandle`] to read its counts afterwards.
pub struct MetricsRecorder {
    shared: Arc<Shared>,
    directory: Mutex<Directory>,
    counters: Cache,
    gauges: Cache,
    histograms: Cache,
    options: Options,
}

impl MetricsRecorder {
    /// A builder recording into `registry`.
    pub fn builder<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    >(
        registry: Arc<
            SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        >,
    ) -> MetricsRecorderBuilder {
        MetricsRecorderBuilder {
            registry,
            options: Options {
                max_series: 16,
                max_histogram_series: 4,
                histograms: HistogramChoice::All(HistogramAggregation::default()),
                name_bytes: 4096,
                handles: 1024,
                refused_names: 256,
            },
        }
    }

    /// A recorder into `registry` with the builder's defaults.
    pub fn new<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    >(
        registry: Arc<
            SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        >,
    ) -> MetricsRecorder {
        MetricsRecorder::builder(registry).build()
    }

    /// What did not fit so far, with the registry's per-instrument counts summed in.
    pub fn stats(&self) -> RecorderStats {
        self.stats_handle().get()
    }

    /// A handle that reads [`stats`](Self::stats) after the recorder was installed (and
    /// so moved into the facade).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The registry's counts for one metric; `None` if it has no instrument (not used
    /// yet, or refused).
    pub fn instrument_stats(&self, kind: MetricKind, name: &str) -> Option<InstrumentStats> {
        self.directory().stats(&*self.shared.registry, kind, name)
    }

    /// Bytes of name storage left.
    pub fn name_bytes_left(&self) -> usize {
        self.directory().name_bytes_left()
    }

    /// Handles cached, by kind: counters, gauges, histograms.
    pub fn handles_cached(&self) -> [usize; 3] {
        [
            self.counters.len(),
            self.gauges.len(),
            self.histograms.len(),
        ]
    }

    fn directory(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn cache(&self, kind: MetricKind) -> &Cache {
        match kind {
            MetricKind::Counter => &self.counters,
            MetricKind::Gauge => &self.gauges,
            MetricKind::Histogram => &self.histograms,
        }
    }

    /// The handle of `key`: cached (no allocation), or made on its first use.
    #[inline]
    fn handle(&self, kind: MetricKind, key: &Key) -> Arc<Series> {
        match self.cache(kind).get(key) {
            Some(handle) => handle,
            None => self.first_use(kind, key),
        }
    }

    #[inline(never)]
    fn first_use(&self, kind: MetricKind, key: &Key) -> Arc<Series> {
        let lookup = {
            let mut directory = self.directory();
            let (lookup, outcome) =
                directory.instrument(&*self.shared.registry, &self.options, kind, key.name());
            if outcome.declared || outcome.refused || outcome.name_bytes_exhausted > 0 {
                self.shared.count(|c| {
                    c.instruments += u32::from(outcome.declared);
                    c.names_refused += u32::from(outcome.refused);
                    c.name_bytes_exhausted += outcome.name_bytes_exhausted;
                    if outcome.refusal.is_some() {
                        c.last_refusal = outcome.refusal;
                    }
                });
            }
            if let Lookup::Declared(instrument) = lookup {
                if outcome.declared {
                    self.shared
                        .instruments
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(instrument);
                }
            }
            lookup
        };
        let instrument = match lookup {
            Lookup::Declared(i) => Some(i),
            Lookup::Refused => None,
        };
        let (handle, uncached) = self.cache(kind).get_or_insert(key, || {
            Series::new(
                Arc::clone(&self.shared),
                instrument,
                key,
                kind == MetricKind::Gauge,
            )
        });
        if uncached {
            self.shared.count(|c| c.handles_uncached += 1);
        }
        handle
    }

    fn describe(&self, kind: MetricKind, name: KeyName, unit: Option<Unit>, text: SharedString) {
        let unit = unit.map_or("", ucum);
        let (late, exhausted) =
            self.directory()
                .describe(&*self.shared.registry, kind, name.as_str(), unit, &text);
        if late || exhausted {
            self.shared.count(|c| {
                c.descriptions_late += u32::from(late);
                c.name_bytes_exhausted += u32::from(exhausted);
            });
        }
    }
}

impl Recorder for MetricsRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(MetricKind::Counter, key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(MetricKind::Gauge, key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(MetricKind::Histogram, key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(MetricKind::Counter, key))
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(MetricKind::Gauge, key))
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(MetricKind::Histogram, key))
    }
}

impl std::fmt::Debug for MetricsRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsRecorder")
            .field("stats", &self.stats())
            .field("handles_cached", &self.handles_cached())
            .finish_non_exhaustive()
    }
}
