//! A registry that interrupt handlers and the exporter share, through `critical-section`.

use core::cell::RefCell;

use critical_section::Mutex;

use super::{
    Bound, DeclareError, Instrument, InstrumentDesc, InstrumentStats, Number, Producer,
    RecordError, Registry, Settlement, Snapshot, TemporalityPreference, OBSERVABLE,
};
use crate::proto::{KeyValue, PointSpan};
use crate::time::UnixNanos;

/// A [`Registry`] behind a `critical_section::Mutex`, const-constructible for a `static`:
///
/// ```
/// use otlp_embedded::registry::{CsRegistry, InstrumentDesc};
/// static METRICS: CsRegistry<4, 32, 34, 4, 64> = CsRegistry::new(0);
/// ```
///
/// Recording takes the critical section for one measurement. Collecting takes it once per
/// series (and once per observable callback), never across encoding or I/O; settling takes
/// it once per point. Recording from a callback (inside the section) returns
/// [`RecordError::Busy`] instead of deadlocking or panicking.
pub struct CsRegistry<
    const INSTRUMENTS: usize = 8,
    const SERIES: usize = 128,
    const ATTRIBUTE_BYTES: usize = 34,
    const HISTOGRAM_SERIES: usize = 16,
    const BUCKETS: usize = 512,
> {
    inner:
        Mutex<RefCell<Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>>>,
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > CsRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// An empty shared registry (see [`Registry::new`]).
    pub const fn new(start_time: UnixNanos) -> Self {
        CsRegistry {
            inner: Mutex::new(RefCell::new(Registry::new(start_time))),
        }
    }

    /// Runs `f` on the registry inside one critical section; `None` if it is already
    /// borrowed (called from a callback).
    pub fn with<R>(
        &self,
        f: impl FnOnce(
            &mut Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        ) -> R,
    ) -> Option<R> {
        critical_section::with(|cs| {
            let mut r = self.inner.borrow(cs).try_borrow_mut().ok()?;
            Some(f(&mut r))
        })
    }

    /// See [`Registry::declare`].
    pub fn declare(&self, desc: InstrumentDesc) -> Result<Instrument, DeclareError> {
        self.with(|r| r.declare(desc))
            .unwrap_or(Err(DeclareError::Busy))
    }

    /// See [`Registry::set_start_time`].
    pub fn set_start_time(&self, start_time: UnixNanos) {
        self.with(|r| r.set_start_time(start_time));
    }

    /// See [`Registry::set_temporality_preference`].
    pub fn set_temporality_preference(&self, preference: TemporalityPreference) {
        self.with(|r| r.set_temporality_preference(preference));
    }

    /// See [`Registry::record`].
    #[inline]
    pub fn record(
        &self,
        instrument: Instrument,
        value: impl Into<Number>,
        attributes: &[KeyValue<'_>],
    ) -> Result<(), RecordError> {
        self.record_number(instrument, value.into(), attributes)
    }

    /// [`record`](Self::record) past the conversion to [`Number`]. With feature
    /// `prefer-size` one copy, called by each value type's: the critical section and the
    /// call into the registry are not repeated per type.
    #[cfg_attr(not(feature = "prefer-size"), inline(always))]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    fn record_number(
        &self,
        instrument: Instrument,
        value: Number,
        attributes: &[KeyValue<'_>],
    ) -> Result<(), RecordError> {
        // The result is written in place, Busy unless the closure ran: mapping an
        // `Option` of it to Busy afterwards costs a compare in every copy of this wrapper.
        let mut recorded = Err(RecordError::Busy);
        self.with(|r| recorded = r.record(instrument, value, attributes));
        recorded
    }

    /// See [`Registry::bind`].
    pub fn bind(
        &self,
        instrument: Instrument,
        attributes: &[KeyValue<'_>],
    ) -> Result<Bound, RecordError> {
        let mut bound = Err(RecordError::Busy);
        self.with(|r| bound = r.bind(instrument, attributes));
        bound
    }

    /// See [`Registry::record_bound`].
    #[inline]
    pub fn record_bound(&self, bound: Bound, value: impl Into<Number>) -> Result<(), RecordError> {
        let value = value.into();
        let mut recorded = Err(RecordError::Busy);
        self.with(|r| recorded = r.record_bound(bound, value));
        recorded
    }

    /// See [`Registry::stats`].
    pub fn stats(&self, instrument: Instrument) -> Option<InstrumentStats> {
        self.with(|r| r.stats(instrument)).flatten()
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Producer for &CsRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    type Snapshot = Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>;

    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos) {
        let count = self.with(|r| r.collect_begin(snapshot, now)).unwrap_or(0);
        for i in 0..count {
            // Without feature `observable` there are no callbacks: no critical section.
            if OBSERVABLE {
                self.with(|r| r.collect_observe(i));
            }
            // One critical section per slot; the first past the instrument's slots ends the
            // walk (a busy registry stays busy throughout: only a callback holds it, and
            // then for the whole collect).
            let mut j = 0;
            while self.with(|r| r.collect_series(i, j, snapshot)) == Some(true) {
                j += 1;
            }
        }
    }

    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement) {
        if settlement == Settlement::Abandoned {
            return;
        }
        snapshot.for_each_in(span, |m, p| {
            self.with(|r| r.settle_point(snapshot, m, p));
        });
    }

    fn set_temporality_preference(&mut self, preference: TemporalityPreference) {
        CsRegistry::set_temporality_preference(self, preference);
    }
}

#[cfg(feature = "defmt")]
impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > defmt::Format
    for CsRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn format(&self, f: defmt::Formatter<'_>) {
        match self.with(|r| (r.instrument_count(), r.series_used)) {
            Some((instruments, series)) => defmt::write!(
                f,
                "CsRegistry {{ instruments: {=usize}, series reserved: {=usize} }}",
                instruments,
                series
            ),
            None => defmt::write!(f, "CsRegistry {{ busy }}"),
        }
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > core::fmt::Debug
    for CsRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CsRegistry").finish_non_exhaustive()
    }
}
