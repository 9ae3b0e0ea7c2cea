//! [`SharedRegistry`]: a [`Registry`] that several threads record into, behind a lock of its
//! own.
//!
//! Unlike core's `CsRegistry`, which uses the process-wide `critical-section` lock (right
//! for interrupt handlers on a microcontroller), each `SharedRegistry` has its own
//! `std::sync::Mutex`: two registries never contend, and recording threads contend only
//! with each other and with the copy a collect makes.
//!
//! ```
//! use std::sync::Arc;
//! use otlp_embedded::proto::{AttributeValue, KeyValue, Temporality};
//! use otlp_embedded::registry::{InstrumentDesc, Snapshot};
//! use otlp_embedded::registry::Producer;
//! use otlp_embedded_std::SharedRegistry;
//!
//! let registry: Arc<SharedRegistry<4, 32, 34, 4, 64>> = Arc::new(SharedRegistry::new(0));
//! let hits = registry
//!     .declare(InstrumentDesc::counter_u64("hits").temporality(Temporality::Delta))
//!     .unwrap();
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let registry = Arc::clone(&registry);
//!         std::thread::spawn(move || {
//!             for _ in 0..100 {
//!                 registry.record(hits, 1u64, &[]).unwrap();
//!             }
//!         })
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap();
//! }
//! let mut snapshot = Box::new(Snapshot::new());
//! (&*registry).collect(&mut snapshot, 1);
//! assert_eq!(snapshot.total_points(), 1);
//! ```
//!
//! # Locking
//!
//! Recording, binding and declaring take the lock for one call. [`Producer::collect`] takes
//! it for the copy into the snapshot only (observable callbacks run then), and
//! [`Producer::settle`] for the commit of one request's points: never across encoding or
//! network I/O. Recording into a registry from inside one of its own observable callbacks
//! (while that thread holds its lock) returns [`RecordError::Busy`] instead of deadlocking.

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};

use otlp_embedded::proto::{KeyValue, PointSpan};
use otlp_embedded::registry::{
    Bound, DeclareError, Instrument, InstrumentDesc, InstrumentStats, Number, Producer,
    RecordError, Registry, Settlement, Snapshot, TemporalityPreference,
};
use otlp_embedded::time::UnixNanos;

thread_local! {
    /// Address of the registry this thread is collecting (running callbacks of), or 0.
    static COLLECTING: Cell<usize> = const { Cell::new(0) };
}

/// Marks this thread as collecting one registry until dropped.
struct CollectMark {
    previous: usize,
}

impl CollectMark {
    fn set(key: usize) -> CollectMark {
        CollectMark {
            previous: COLLECTING.with(|c| c.replace(key)),
        }
    }
}

impl Drop for CollectMark {
    fn drop(&mut self) {
        COLLECTING.with(|c| c.set(self.previous));
    }
}

/// A [`Registry`] behind its own `std::sync::Mutex`; see the [module docs](self).
///
/// `new` is `const`, so a registry can be a `static`:
///
/// ```
/// use otlp_embedded_std::SharedRegistry;
/// static METRICS: SharedRegistry<4, 32, 34, 4, 64> = SharedRegistry::new(0);
/// ```
///
/// `&SharedRegistry` and [`ArcProducer`] are [`Producer`]s, so either can be handed
/// to an [`Exporter`](otlp_embedded::export::Exporter) or a
/// [`PeriodicExporter`](crate::PeriodicExporter).
pub struct SharedRegistry<
    const INSTRUMENTS: usize = 8,
    const SERIES: usize = 128,
    const ATTRIBUTE_BYTES: usize = 34,
    const HISTOGRAM_SERIES: usize = 16,
    const BUCKETS: usize = 512,
> {
    inner: Mutex<Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>>,
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// An empty registry (see [`Registry::new`]).
    pub const fn new(start_time: UnixNanos) -> Self {
        SharedRegistry {
            inner: Mutex::new(Registry::new(start_time)),
        }
    }

    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// The lock, or `None` when this thread is inside this registry's collect (a callback).
    fn lock(
        &self,
    ) -> Option<
        MutexGuard<'_, Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>>,
    > {
        if COLLECTING.with(|c| c.get()) == self.key() {
            return None;
        }
        // A panic while the lock was held cannot leave the tables half-written in a way
        // that matters more than losing every later measurement: keep going.
        Some(self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs `f` on the registry with the lock held; `None` if called from inside one of
    /// this registry's observable callbacks. `f` must not use this `SharedRegistry` again
    /// (the lock is not re-entrant); it has the registry itself to work with.
    pub fn with<R>(
        &self,
        f: impl FnOnce(
            &mut Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        ) -> R,
    ) -> Option<R> {
        let mut guard = self.lock()?;
        Some(f(&mut guard))
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
        let value = value.into();
        self.with(|r| r.record(instrument, value, attributes))
            .unwrap_or(Err(RecordError::Busy))
    }

    /// See [`Registry::bind`].
    pub fn bind(
        &self,
        instrument: Instrument,
        attributes: &[KeyValue<'_>],
    ) -> Result<Bound, RecordError> {
        self.with(|r| r.bind(instrument, attributes))
            .unwrap_or(Err(RecordError::Busy))
    }

    /// See [`Registry::record_bound`].
    #[inline]
    pub fn record_bound(&self, bound: Bound, value: impl Into<Number>) -> Result<(), RecordError> {
        let value = value.into();
        self.with(|r| r.record_bound(bound, value))
            .unwrap_or(Err(RecordError::Busy))
    }

    /// See [`Registry::stats`].
    pub fn stats(&self, instrument: Instrument) -> Option<InstrumentStats> {
        self.with(|r| r.stats(instrument)).flatten()
    }

    /// Copy the registry into `snapshot` with the lock held for the copy only.
    fn collect_into(
        &self,
        snapshot: &mut Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        now: UnixNanos,
    ) {
        let Some(mut guard) = self.lock() else {
            return;
        };
        // Callbacks run inside collect; mark this thread so that they get `Busy`. The mark
        // is cleared by a guard so that a panicking callback does not leave it behind.
        let _mark = CollectMark::set(self.key());
        guard.collect(snapshot, now);
    }

    fn settle_span(
        &self,
        snapshot: &Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        span: PointSpan,
        settlement: Settlement,
    ) {
        if settlement == Settlement::Abandoned {
            // Nothing to commit: the live series keep the points for the next export.
            return;
        }
        if let Some(mut guard) = self.lock() {
            guard.settle(snapshot, span, settlement);
        }
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Producer
    for &SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    type Snapshot = Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>;

    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos) {
        self.collect_into(snapshot, now);
    }

    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement) {
        self.settle_span(snapshot, span, settlement);
    }

    fn set_temporality_preference(&mut self, preference: TemporalityPreference) {
        SharedRegistry::set_temporality_preference(self, preference);
    }
}

impl SharedRegistry {
    /// A registry with the default capacities, started now, in an `Arc` (the exporter
    /// thread and every [`SharedInstrument`] hold it): 8 instruments, 128 series, 34 bytes
    /// of attribute values per series, 16 histogram series and 512 bucket counters, about
    /// 15 KB, and 13 KB more for the exporter's snapshot. Name the capacities in the type
    /// for other sizes: `Arc::new(SharedRegistry::<4, 32, 34, 4, 64>::new(start_time))`.
    ///
    /// ```
    /// use otlp_embedded::registry::InstrumentDesc;
    /// use otlp_embedded_std::SharedRegistry;
    ///
    /// let registry = SharedRegistry::with_default_capacities();
    /// let requests = registry.instrument(InstrumentDesc::counter_u64("requests"))?;
    /// requests.record(1u64, &[])?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_default_capacities() -> Arc<Self> {
        Arc::new(SharedRegistry::new(crate::periodic::unix_now()))
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// Declare an instrument (see [`Registry::declare`]) and return a handle that records
    /// into this registry by itself, so the code that records needs only the handle.
    pub fn instrument(
        self: &Arc<Self>,
        desc: InstrumentDesc,
    ) -> Result<
        SharedInstrument<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        DeclareError,
    > {
        Ok(SharedInstrument {
            registry: Arc::clone(self),
            instrument: self.declare(desc)?,
        })
    }
}

/// An instrument of a [`SharedRegistry`] that records by itself: it holds the registry (an
/// `Arc`), so a thread that records needs the handle only. From
/// [`SharedRegistry::instrument`]; cheap to clone, and `Send + Sync`.
pub struct SharedInstrument<
    const INSTRUMENTS: usize = 8,
    const SERIES: usize = 128,
    const ATTRIBUTE_BYTES: usize = 34,
    const HISTOGRAM_SERIES: usize = 16,
    const BUCKETS: usize = 512,
> {
    registry: Arc<SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>>,
    instrument: Instrument,
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > SharedInstrument<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// Record `value` with `attributes` (see [`Registry::record`]).
    #[inline]
    pub fn record(
        &self,
        value: impl Into<Number>,
        attributes: &[KeyValue<'_>],
    ) -> Result<(), RecordError> {
        self.registry.record(self.instrument, value, attributes)
    }

    /// Bind `attributes` for [`record_bound`](Self::record_bound) (see [`Registry::bind`]).
    pub fn bind(&self, attributes: &[KeyValue<'_>]) -> Result<Bound, RecordError> {
        self.registry.bind(self.instrument, attributes)
    }

    /// Record `value` into a series bound with [`bind`](Self::bind).
    #[inline]
    pub fn record_bound(&self, bound: Bound, value: impl Into<Number>) -> Result<(), RecordError> {
        self.registry.record_bound(bound, value)
    }

    /// The instrument, for the registry's own methods.
    pub fn instrument(&self) -> Instrument {
        self.instrument
    }

    /// See [`Registry::stats`].
    pub fn stats(&self) -> Option<InstrumentStats> {
        self.registry.stats(self.instrument)
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Clone for SharedInstrument<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn clone(&self) -> Self {
        SharedInstrument {
            registry: Arc::clone(&self.registry),
            instrument: self.instrument,
        }
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > std::fmt::Debug
    for SharedInstrument<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedInstrument")
            .field("instrument", &self.instrument)
            .finish_non_exhaustive()
    }
}

/// An `Arc` of a [`SharedRegistry`] as a [`Producer`], for a producer that a thread owns
/// (such as [`PeriodicExporter`](crate::PeriodicExporter)'s); from
/// [`SharedRegistry::producer`]. A `&'static SharedRegistry` is a producer as it is.
pub struct ArcProducer<
    const INSTRUMENTS: usize = 8,
    const SERIES: usize = 128,
    const ATTRIBUTE_BYTES: usize = 34,
    const HISTOGRAM_SERIES: usize = 16,
    const BUCKETS: usize = 512,
>(pub Arc<SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>>);

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// A producer holding a reference count on this registry.
    pub fn producer(
        self: &Arc<Self>,
    ) -> ArcProducer<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS> {
        ArcProducer(Arc::clone(self))
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Producer for ArcProducer<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    type Snapshot = Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>;

    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos) {
        self.0.collect_into(snapshot, now);
    }

    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement) {
        self.0.settle_span(snapshot, span, settlement);
    }

    fn set_temporality_preference(&mut self, preference: TemporalityPreference) {
        self.0.set_temporality_preference(preference);
    }
}
