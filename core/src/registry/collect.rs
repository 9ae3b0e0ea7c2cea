//! Collect and settle: copying every series that has something to export into the
//! caller's snapshot (one short step at a time, so the critical-section wrapper can let
//! interrupts in between), running observable callbacks, and committing what each request
//! carried once it is settled.

use super::aggregate::{clear_hist, hist_subtract, minus};
use super::desc::{InstrumentKind, Number, NumberKind, Observe};
use super::key::key_eq;
use super::producer::{Producer, Settlement};
use super::table::{free_series, Series, SlotParts, FREE, LIVE, PINNED};
use super::{Registry, Snapshot, TemporalityPreference, OBSERVABLE, PREFER_SIZE};
use crate::proto::{KeyValue, PointSpan, Temporality};
use crate::time::UnixNanos;

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    pub(super) fn collect_begin(
        &mut self,
        snapshot: &mut Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        now: UnixNanos,
    ) -> usize {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.epoch = 1;
        }
        snapshot.clear(now, self.epoch);
        if self.start_time == 0 {
            self.adopt_start_time(now);
        }
        self.prev_collect = self.last_collect;
        self.last_collect = now;
        self.instrument_count
    }

    /// The registry was made without a start time (0: not known) and this is its first
    /// collect: everything that exists starts now. data-model.md: "When StartTimeUnixNano
    /// equals TimeUnixNano, a new unbroken sequence of observations begins with a reset at
    /// an unknown start time", which is what a start of 0 would otherwise misstate.
    #[cold]
    fn adopt_start_time(&mut self, now: UnixNanos) {
        self.start_time = now;
        self.last_collect = now;
        self.prev_collect = now;
        for s in self.series.iter_mut().take(self.series_used) {
            if s.start == 0 {
                s.start = now;
            }
        }
    }

    /// Runs the callback of observable instrument `i`.
    pub(super) fn collect_observe(&mut self, i: usize) {
        if !OBSERVABLE {
            return;
        }
        let Some(inst) = self.inst(i) else { return };
        let (Some(callback), true) = (inst.desc.callback, inst.desc.kind.is_observable()) else {
            return;
        };
        let (base, cap) = (usize::from(inst.base), usize::from(inst.cap));
        // Only what this callback reports is exported.
        for s in self.series.get_mut(base..=base + cap).unwrap_or(&mut []) {
            s.dirty = false;
        }
        callback(&mut Observer {
            registry: self,
            instrument: i,
        });
        for slot in base..=base + cap {
            let unobserved = self
                .series
                .get(slot)
                .is_some_and(|s| s.state == LIVE && !s.dirty);
            if unobserved {
                self.reclaim(i, slot);
            }
        }
    }

    /// Copies slot `j` of instrument `i` into the snapshot if it has something to export;
    /// false when the instrument has no slot `j`: a walk over the slots ends there.
    pub(super) fn collect_series(
        &mut self,
        i: usize,
        j: usize,
        snapshot: &mut Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
    ) -> bool {
        let Some(SlotParts {
            inst,
            series: s,
            hist,
            ..
        }) = self.slot_parts(i, j)
        else {
            return false;
        };
        // A free series is never dirty (freeing clears the flag, and a measurement takes a
        // free slot only through `start_series`, which also sets its start).
        if !s.dirty {
            // Nothing since its last commit: a delta point that comes later starts at this
            // collection, the one before it (a series bound with `bind` that sat idle).
            if inst.temporality == Temporality::Delta {
                s.start = s.start.max(snapshot.time());
            }
            return true;
        }
        let s = &*s;
        let value = if observable_delta(inst.desc.kind, inst.temporality) {
            change_since(inst.desc.kind, inst.desc.number, s.value, s.delta_base())
        } else {
            s.value
        };
        let copied = hist.as_ref().map(|(h, words)| (&**h, &**words));
        snapshot.push(i as u16, inst, j as u16, s, value, copied);
        if let Some((h, _)) = hist {
            // The snapshot has them: the next point's own min and max start afresh.
            h.since_min = f64::INFINITY;
            h.since_max = f64::NEG_INFINITY;
        }
        true
    }

    /// Commits point `p` of metric `m` of the snapshot (Delivered or Dropped).
    pub(super) fn settle_point(
        &mut self,
        snapshot: &Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        m: usize,
        p: usize,
    ) {
        // A snapshot older than the latest collect is stale: the newer one already carries
        // everything it did, so committing it could subtract the same values twice.
        if snapshot.epoch() != self.epoch {
            return;
        }
        let Some((i, sp, snap_hist)) = snapshot.point_for_settle(m, p) else {
            return;
        };
        let i = usize::from(i);
        let epoch = snapshot.epoch();
        let time = snapshot.time();
        let j = usize::from(sp.index);
        let Some(SlotParts {
            inst,
            series: s,
            hist,
        }) = self.slot_parts(i, j)
        else {
            return;
        };
        let (kind, number, temporality) = (inst.desc.kind, inst.desc.number, inst.temporality);
        let max_size = usize::from(inst.desc.max_size);
        if s.state == FREE || !key_eq(&s.key, &sp.key) {
            return;
        }
        if OBSERVABLE && kind.is_observable() {
            // Callbacks run only in collect, and this snapshot is the latest: the live
            // total is the one the point was counted to. Assigning it twice is harmless.
            if observable_delta(kind, temporality) {
                s.set_delta_base(s.value);
                s.start = s.start.max(time);
            }
            return;
        }
        if s.settled == epoch {
            return;
        }
        s.settled = epoch;
        if temporality == Temporality::Cumulative {
            return;
        }
        let since = s.recorded != sp.recorded;
        s.start = s.start.max(time);
        match (kind, number) {
            (InstrumentKind::Counter | InstrumentKind::UpDownCounter, _) if !since => s.value = 0,
            (InstrumentKind::Counter | InstrumentKind::UpDownCounter, NumberKind::Int) => {
                s.value = s.value.wrapping_sub(sp.value);
            }
            (InstrumentKind::Counter | InstrumentKind::UpDownCounter, NumberKind::Double) => {
                s.value = minus(f64::from_bits(s.value), f64::from_bits(sp.value)).to_bits();
            }
            _ => {}
        }
        if since {
            if let (Some((sh, sbuckets)), Some((h, words))) = (snap_hist, hist) {
                hist_subtract(kind, h, words, max_size, sh, sbuckets);
            }
            return;
        }
        // Nothing since the snapshot: the series is now empty.
        s.dirty = false;
        let pinned = s.state == PINNED;
        // Cleared before the series may be freed: `start_series` takes a free series'
        // histogram to be empty.
        if let Some((h, words)) = hist {
            clear_hist(h, words, inst.desc.max_scale);
        }
        if pinned {
            return;
        }
        let slot = usize::from(inst.base) + j;
        if PREFER_SIZE {
            // No index to take it out of (see `reclaim`): freed through what
            // `slot_parts` found, with no lookup again.
            free_series(inst, s, slot);
        } else {
            self.reclaim(i, slot);
        }
    }
}

/// What a callback reports into.
struct Observer<
    'r,
    const INSTRUMENTS: usize,
    const SERIES: usize,
    const ATTRIBUTE_BYTES: usize,
    const HISTOGRAM_SERIES: usize,
    const BUCKETS: usize,
> {
    registry: &'r mut Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
    instrument: usize,
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Observe for Observer<'_, INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn observe(&mut self, value: Number, attributes: &[KeyValue<'_>]) {
        let r = &mut *self.registry;
        let i = self.instrument;
        let Some(inst) = r.inst(i) else { return };
        let (kind, number) = (inst.desc.kind, inst.desc.number);
        let overflow = usize::from(inst.base) + usize::from(inst.cap);
        if !value.is_finite() || (kind == InstrumentKind::ObservableCounter && value.is_negative())
        {
            if let Some(inst) = r.inst_mut(i) {
                inst.stats.rejected = inst.stats.rejected.saturating_add(1);
            }
            return;
        }
        let created = r.inst(i).map_or(0, |x| x.stats.series);
        let slot = r.find_or_insert(i, attributes);
        let start = r.prev_collect;
        if r.inst(i).map_or(0, |x| x.stats.series) != created {
            // Created by this callback: it started at the previous collect, not now.
            if let Some(s) = r.series.get_mut(slot) {
                s.start = start;
            }
        }
        let Some(s) = r.series.get_mut(slot) else {
            return;
        };
        if s.state == FREE && slot == overflow {
            *s = Series {
                start,
                state: LIVE,
                ..Series::EMPTY
            };
        }
        let raw = match number {
            NumberKind::Int => value.to_i64() as u64,
            NumberKind::Double => value.as_f64().to_bits(),
        };
        if slot == overflow && s.dirty && kind != InstrumentKind::ObservableGauge {
            // Several attribute sets folded into the overflow series: their sums add up.
            s.value = match number {
                NumberKind::Int => (s.value as i64).wrapping_add(raw as i64) as u64,
                NumberKind::Double => (f64::from_bits(s.value) + f64::from_bits(raw)).to_bits(),
            };
        } else {
            s.value = raw;
        }
        // Not `recorded`: an observable series keeps its delta base there.
        s.dirty = true;
    }
}

/// Whether points of this instrument are changes of its callback's totals.
fn observable_delta(kind: InstrumentKind, temporality: Temporality) -> bool {
    OBSERVABLE
        && temporality == Temporality::Delta
        && matches!(
            kind,
            InstrumentKind::ObservableCounter | InstrumentKind::ObservableUpDownCounter
        )
}

/// The change from total `base` to total `now` (raw series values of `number` kind). A
/// monotonic counter whose total went down has restarted: all of `now` is new.
fn change_since(kind: InstrumentKind, number: NumberKind, now: u64, base: u64) -> u64 {
    let restarted = |went_down: bool| kind == InstrumentKind::ObservableCounter && went_down;
    match number {
        NumberKind::Int => {
            let (now_i, base_i) = (now as i64, base as i64);
            if restarted(now_i < base_i) {
                now
            } else {
                now_i.wrapping_sub(base_i) as u64
            }
        }
        NumberKind::Double => {
            let (now_f, base_f) = (f64::from_bits(now), f64::from_bits(base));
            if restarted(now_f < base_f) {
                now
            } else {
                (now_f - base_f).to_bits()
            }
        }
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Producer for Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    type Snapshot = Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>;

    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos) {
        let count = self.collect_begin(snapshot, now);
        for i in 0..count {
            self.collect_observe(i);
            let mut j = 0;
            while self.collect_series(i, j, snapshot) {
                j += 1;
            }
        }
    }

    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement) {
        if settlement == Settlement::Abandoned {
            return;
        }
        snapshot.for_each_in(span, |m, p| self.settle_point(snapshot, m, p));
    }

    fn set_temporality_preference(&mut self, preference: TemporalityPreference) {
        Registry::set_temporality_preference(self, preference);
    }
}
