//! What the recorder could not keep, counted: [`RecorderStats`].

use std::fmt;

use otlp_embedded::registry::DeclareError;

/// The three kinds of metric the facade records, each its own name space (as in the
/// facade's other recorders): a counter and a gauge of the same name are two instruments.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// `counter!`: a monotonic sum of `u64` increments.
    Counter,
    /// `gauge!`: a last value (`f64`).
    Gauge,
    /// `histogram!`: a histogram of `f64` values.
    Histogram,
}

/// The recorder's counts of what did not fit, from
/// [`MetricsRecorder::stats`](super::MetricsRecorder::stats) or a
/// [`StatsHandle`](super::StatsHandle).
///
/// The registry's own per-instrument counts are summed in too: measurements routed to an
/// overflow series (`series_overflowed`, `attributes_oversized`) are exported, under the
/// attribute `otel.metric.overflow = true`; what the other fields count was not exported.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Instruments declared in the registry for metric names.
    pub instruments: u32,
    /// Metric names (of one kind) the registry refused an instrument: its instrument table
    /// or its series, histogram or bucket reserve was full, or the name storage was
    /// (`name_bytes_exhausted`). Each is counted once while at most
    /// [`MetricsRecorderBuilder::refused_names`](super::MetricsRecorderBuilder::refused_names)
    /// are remembered, then once per handle made for one.
    pub names_refused: u32,
    /// Why the registry refused the last refused name, if it did (rather than the name
    /// storage).
    pub last_refusal: Option<DeclareError>,
    /// Measurements recorded to refused names: not exported.
    pub measurements_dropped: u64,
    /// Names and descriptions that did not fit the name storage
    /// ([`MetricsRecorderBuilder::name_bytes`](super::MetricsRecorderBuilder::name_bytes));
    /// a description that did not fit is left out, a name refused.
    pub name_bytes_exhausted: u32,
    /// `describe_*` calls that came after the metric's instrument was declared with
    /// another unit or description: the registry keeps the first (describe at start-up).
    pub descriptions_late: u32,
    /// Handles made without a place in the handle cache (it was full of handles still held
    /// or keeping a value): each such registration allocated one handle.
    pub handles_uncached: u64,
    /// Measurements the registry refused for a reason its own counts do not cover
    /// (recorded from inside one of its observable callbacks).
    pub records_failed: u64,
    /// Sum of the instruments' [`InstrumentStats::overflowed`](otlp_embedded::registry::InstrumentStats::overflowed):
    /// measurements of label sets beyond the cardinality limit, in the overflow series.
    pub series_overflowed: u64,
    /// Sum of [`InstrumentStats::oversized`](otlp_embedded::registry::InstrumentStats::oversized):
    /// measurements whose labels did not fit a series' attribute bytes, in the overflow
    /// series.
    pub attributes_oversized: u64,
    /// Sum of [`InstrumentStats::rejected`](otlp_embedded::registry::InstrumentStats::rejected):
    /// NaN or infinite gauge and histogram values, not exported.
    pub rejected: u64,
    /// Sum of [`InstrumentStats::dropped_attributes`](otlp_embedded::registry::InstrumentStats::dropped_attributes):
    /// earlier copies of a label key given twice in one key.
    pub duplicate_labels: u64,
}

impl RecorderStats {
    /// Whether every measurement went where its name and labels say: nothing refused,
    /// dropped, overflowed or rejected.
    pub fn all_kept(&self) -> bool {
        self.names_refused == 0
            && self.measurements_dropped == 0
            && self.name_bytes_exhausted == 0
            && self.descriptions_late == 0
            && self.records_failed == 0
            && self.series_overflowed == 0
            && self.attributes_oversized == 0
            && self.rejected == 0
            && self.duplicate_labels == 0
    }
}

impl fmt::Display for RecorderStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} instruments; {} names refused ({} measurements dropped); {} overflowed, \
             {} oversized, {} rejected, {} failed; {} name-storage misses, {} late \
             descriptions, {} uncached handles",
            self.instruments,
            self.names_refused,
            self.measurements_dropped,
            self.series_overflowed,
            self.attributes_oversized,
            self.rejected,
            self.records_failed,
            self.name_bytes_exhausted,
            self.descriptions_late,
            self.handles_uncached
        )
    }
}
