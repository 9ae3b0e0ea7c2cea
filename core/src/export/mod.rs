//! The exporter: collect, encode, send, settle.

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
/// request's [`PointSpan`] (indexes into that snapshot) is settled exactly once.
pub trait Producer {
    /// Storage the snapshot is copied into; encoded through [`MetricsSource`].
    type Snapshot: MetricsSource;

    /// Copy the current state into `snapshot`, stamped `now`.
    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos);

    /// Settle the points of `snapshot` in `span`.
    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement);
}
