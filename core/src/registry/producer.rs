//! The collect/settle contract between whatever holds metrics and the exporter that sends
//! them: [`Producer`] and [`Settlement`].
//!
//! It lives with the registry, below the exporter, so that the registry implements it
//! without knowing the exporter, and the exporter uses it without knowing how a producer
//! stores its series.

use super::TemporalityPreference;
use crate::proto::{MetricsSource, PointSpan};
use crate::time::UnixNanos;

/// What became of the points a request carried.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Settlement {
    /// The server accepted them (2xx, including partial success): commit.
    Delivered,
    /// They will never be sent (non-retryable answer, too large): commit as dropped.
    Dropped,
    /// They were not delivered and may be sent again: leave the live state as it is, so the
    /// next collect includes them together with what was recorded meanwhile.
    Abandoned,
}

/// Something that produces snapshots of its metrics and learns what became of them.
///
/// The registry implements this; so does its critical-section wrapper. A snapshot is taken
/// in short critical sections, then encoded and sent with no lock held; afterwards each
/// request's [`PointSpan`] (indexes into that snapshot) is settled exactly once. Every point
/// of a snapshot ends up in exactly one settled span. A span's `end` may be
/// `PointCursor { metric: metric_count, point: 0 }`, meaning "to the end of the snapshot".
pub trait Producer {
    /// Storage the snapshot is copied into; encoded through [`MetricsSource`].
    type Snapshot: MetricsSource;

    /// Copy the current state into `snapshot`, stamped `now`.
    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos);

    /// Settle the points of `snapshot` in `span`.
    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement);

    /// The exporter's temporality preference (the specification's OTLP exporter
    /// `temporality` option, `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`): metrics
    /// that did not choose a temporality take the one it gives their kind. An exporter
    /// built from configuration passes it on before its first collect. The default does
    /// nothing, for producers whose temporalities are fixed.
    fn set_temporality_preference(&mut self, preference: TemporalityPreference) {
        let _ = preference;
    }
}

impl<P: Producer + ?Sized> Producer for &mut P {
    type Snapshot = P::Snapshot;
    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos) {
        (**self).collect(snapshot, now)
    }
    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement) {
        (**self).settle(snapshot, span, settlement)
    }
    fn set_temporality_preference(&mut self, preference: TemporalityPreference) {
        (**self).set_temporality_preference(preference)
    }
}

/// The snapshot type of producer `P`, so that a registry's capacities are written once:
///
/// ```
/// use otlp_embedded::registry::{Registry, SnapshotOf};
///
/// type Metrics = Registry<4, 32, 34, 8, 256>;
/// let registry = Metrics::new(0);
/// let snapshot = SnapshotOf::<Metrics>::new();
/// # let _ = (registry, snapshot);
/// ```
pub type SnapshotOf<P> = <P as Producer>::Snapshot;
