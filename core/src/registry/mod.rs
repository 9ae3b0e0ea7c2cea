//! Instruments, aggregation and snapshots, in fixed memory.
//!
//! A [`Registry`] holds every series of every instrument in tables whose sizes are const
//! generics, so its size is known at compile time and it can live in a `static`:
//!
//! - `INSTRUMENTS`: instruments;
//! - `SERIES`: series, shared out at declaration: each instrument reserves
//!   `max_series + 1` (the extra one is its overflow series);
//! - `ATTRIBUTE_BYTES`: bytes of attribute values per series (see below);
//! - `HISTOGRAM_SERIES`: histogram series (explicit and exponential), reserved
//!   `max_series + 1` each;
//! - `BUCKETS`: bucket counters (`u64`), reserved per histogram series: `bounds.len() + 1`
//!   for an explicit-bucket histogram, `2 * max_size` for an exponential one.
//!
//! A [`Snapshot`] has the same five parameters and so always has room for everything the
//! registry holds: collection never fails for lack of space. Write the capacities once, in
//! a type alias, and name the snapshot after it with [`SnapshotOf`].
//!
//! ```
//! use otlp_embedded::proto::{AttributeValue, KeyValue, MetricsSource, PointValue, Temporality};
//! use otlp_embedded::registry::{InstrumentDesc, Producer, Registry, Settlement, SnapshotOf};
//!
//! // 4 instruments, 32 series, 34 bytes of values per series, 8 histogram series,
//! // 256 bucket counters.
//! type Metrics = Registry<4, 32, 34, 8, 256>;
//! let mut registry = Metrics::new(1_700_000_000_000_000_000);
//! let requests = registry
//!     .declare(
//!         InstrumentDesc::counter_u64("http.server.requests")
//!             .attributes(&["method", "status"])
//!             .max_series(8)
//!             .temporality(Temporality::Delta),
//!     )
//!     .unwrap();
//! let get_ok = [
//!     KeyValue::new("status", AttributeValue::Int(200)), // any order
//!     KeyValue::new("method", AttributeValue::Str("GET")),
//! ];
//! registry.record(requests, 1u64, &get_ok).unwrap();
//! let bound = registry.bind(requests, &get_ok).unwrap(); // no lookup from here on
//! registry.record_bound(bound, 2u64).unwrap();
//!
//! let mut snapshot = SnapshotOf::<Metrics>::new();
//! registry.collect(&mut snapshot, 1_700_000_010_000_000_000);
//! assert_eq!(snapshot.point(0, 0).value, PointValue::Int(3));
//! // ... encode `snapshot` into requests, send them, then settle each request's span:
//! registry.settle(&snapshot, snapshot.full_span(), Settlement::Delivered);
//! ```
//!
//! # Instrument kinds and cargo features
//!
//! Exponential histograms need feature `exponential-histogram` (which brings `libm`), and
//! observable instruments need feature `observable`; both are on by default. A firmware
//! build that declares neither turns default features off and links none of their code.
//! Declaring either kind without its feature fails with [`DeclareError::KindNotEnabled`].
//!
//! Feature `prefer-size` trades recording speed for flash: the lookup and hash helpers
//! are called rather than forced inline into every record path, and every attribute
//! lookup takes the general packer (the fast packers of the [Speed](#speed) section give
//! the same series, only sooner); a lookup scans the instrument's series, comparing
//! packed keys whole, instead of trying the last series found and then probing a hash
//! index, and a record with no attributes takes that lookup too, with no remembered
//! series. Behaviour is the same: the same series in the same slots.
//!
//! # Attributes
//!
//! Attribute keys declared with the instrument (`&'static str`) are its allow-list, as a
//! View's `attribute_keys` in the SDK specification: keys that were not declared are left
//! out and counted in [`InstrumentStats::dropped_attributes`]. A series stores only the
//! values, packed in declared-key order, so identity does not depend on the order the
//! caller passes them in. Each present value takes one tag byte plus its payload: 0 bytes
//! for a bool, 8 for an `i64`/`f64`, the UTF-8 bytes for a string (at most 250). Two string
//! values of up to 16 bytes need `ATTRIBUTE_BYTES = 34`. A value set that does not fit is cut: strings
//! share the room that remains (each truncated at a UTF-8 boundary) and the truncation is
//! counted in [`InstrumentStats`]. A key passed twice takes the last value (the other copy
//! counts as left out).
//!
//! An instrument that declares no keys keeps every attribute ("If neither is provided, all
//! attributes must be retained"): its series store keys and values, sorted by key, in the
//! same `ATTRIBUTE_BYTES` (each attribute takes a length byte, the key's bytes, then the
//! value as above: `method=GET` is 1 + 6 + 1 + 3 = 11 bytes). Keys are stored as bytes, so
//! they may be strings made at run time (up to [`MAX_OPEN_KEY_LEN`] bytes). A set that does
//! not fit whole is not cut, which would merge distinct sets: the measurement goes to the
//! overflow series and is counted in [`InstrumentStats::oversized`]. Declaring the keys
//! stays the fast path and the compact one (values only).
//!
//! # Speed
//!
//! Passing the declared keys in declared order, as the same `&'static str` literals, takes
//! the fastest lookup (no key search); any other order or spelling is found too, a little
//! slower. Recording with no attributes goes straight to a remembered series, and integer
//! adds through a [`Bound`] handle touch only their series.
//!
//! # Temporality
//!
//! An instrument that chooses no temporality ([`InstrumentDesc::temporality`]) takes the
//! one the registry's [`TemporalityPreference`] gives its kind (cumulative unless set;
//! [`Registry::set_temporality_preference`], or [`Producer::set_temporality_preference`],
//! which an exporter built from `OTEL_*` configuration calls). Observable counters and
//! up-down counters can be delta: their callback reports running totals, and each point is
//! the change since the total the last committed export carried (the first observation of
//! a series is all of it; a monotonic total that went down is a restart, all of it new).
//! That memory costs nothing extra: it sits in words observable series do not use.
//!
//! # Cardinality
//!
//! When an instrument's series table is full, measurements for new attribute sets go to its
//! overflow series, exported with the single attribute `otel.metric.overflow = true`; nothing
//! is dropped, and [`InstrumentStats::overflowed`] counts them. Under delta temporality a
//! series that had no measurement since its last commit is reclaimed at that commit (series
//! pinned with [`Registry::bind`] never are), so a long-running device does not fill up.
//!
//! # Time
//!
//! Core owns no clock: [`Producer::collect`] takes the unix time, and start times follow
//! the SDK specification's "Start timestamps" with collect times standing in for the
//! moments core cannot see:
//!
//! - a cumulative series starts at the collect before its first measurement (the
//!   registry's start time before the first collect), and keeps that start;
//! - a delta point starts at the previous collect: a series' start moves to the snapshot
//!   time when a commit empties it, and to the collect's time when a collect finds it with
//!   nothing to report (a series pinned with [`Registry::bind`] that sat idle). The one
//!   exception follows an abandoned export: the next point carries the unsent interval
//!   too, so it starts where that one did and no two points overlap;
//! - an observable series starts at the collect before the one that first observed it
//!   (the registry's start time for the first collect);
//! - a registry made with start time 0 (not known yet, as in a `static`) takes its first
//!   collect's time as the start of everything that exists by then;
//! - gauges export no start time (0: the proto's field is optional for points without a
//!   temporality).
//!
//! If the clock jumps backwards, every exported point still has `time >= start_time`: the
//! point time is clamped up to its start.
//!
//! # Collect and settle
//!
//! `collect` copies every series that has something to export into the caller's snapshot.
//! The exporter encodes the snapshot into requests and settles each request's
//! [`PointSpan`](crate::proto::PointSpan) once. [`Settlement::Delivered`] and [`Settlement::Dropped`] commit: under
//! delta temporality what the snapshot carried is subtracted from the live series (which
//! may have recorded more meanwhile) and the series' start moves to the snapshot time;
//! [`Settlement::Abandoned`] leaves the series alone, so the next collect carries the unsent
//! part together with what came after. A point settled twice is committed once.
//! Settle each snapshot before collecting the next: a settle for a snapshot older than the
//! latest collect is ignored (its points stay live, so they are exported again rather than
//! subtracted twice).
//!
//! Histogram min and max cannot be subtracted, so each histogram series also keeps the min
//! and max of what was recorded since the last collect; a delta commit with newer
//! measurements takes those, so the next delta point's min/max cover exactly its own
//! measurements. An exponential
//! histogram may have downscaled since the snapshot; the snapshot's buckets are mapped to
//! the live scale before subtracting.
//!
//! Float sums subtract in floating point; delta commits of float counters are exact only
//! while the values are exactly representable (integers below 2^53, for instance).

/// Unwraps an `Option` or returns the given value. (Defined before the submodules, which
/// use it.)
macro_rules! or_return {
    ($e:expr, $r:expr) => {
        match $e {
            Some(v) => v,
            None => return $r,
        }
    };
}

mod aggregate;
mod collect;
mod desc;
mod error;
mod expo;
mod hash;
mod key;
mod open;
mod pack;
mod producer;
#[cfg(feature = "critical-section")]
mod shared;
mod snapshot;
mod table;

pub use desc::{
    Callback, InstrumentDesc, InstrumentKind, Number, NumberKind, Observe, TemporalityPreference,
    DEFAULT_BOUNDS,
};
pub use error::{DeclareError, RecordError};
#[cfg(feature = "exponential-histogram")]
#[cfg_attr(docsrs, doc(cfg(feature = "exponential-histogram")))]
pub use expo::map_to_index;
pub use expo::{MAX_SCALE, MIN_SCALE};
pub use key::{MAX_KEYS, MAX_STR_LEN};
pub use open::MAX_OPEN_KEY_LEN;
pub use producer::{Producer, Settlement, SnapshotOf};
#[cfg(feature = "critical-section")]
pub use shared::CsRegistry;
pub use snapshot::Snapshot;

use crate::proto::{KeyValue, Temporality};
use crate::time::UnixNanos;
use aggregate::HistState;
use desc::{kind_enabled, EXPONENTIAL, OBSERVABLE, PREFER_SIZE};
use table::{Series, EMPTY, PINNED};

/// A declared instrument: pass it to [`Registry::record`] and [`Registry::bind`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instrument(u16);

impl Instrument {
    /// Position in declaration order.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A series pinned to one attribute set: records with no lookup, never reclaimed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Bound {
    instrument: u16,
    slot: u16,
}

impl Bound {
    /// The instrument this series belongs to.
    pub const fn instrument(self) -> Instrument {
        Instrument(self.instrument)
    }
}

/// What an instrument had to cut, reject or redirect.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InstrumentStats {
    /// Live series (the overflow series not included).
    pub series: u16,
    /// Measurements routed to the overflow series because the table was full.
    pub overflowed: u32,
    /// Measurements routed to the overflow series because their attribute set (keys and
    /// values, on an instrument that declares no keys) did not fit in a series'
    /// `ATTRIBUTE_BYTES`.
    pub oversized: u32,
    /// String attribute values truncated to fit.
    pub truncated: u32,
    /// Attributes left out: keys that were not declared, values with no room at all, and
    /// the earlier copies of a key passed twice.
    pub dropped_attributes: u32,
    /// Measurements rejected (negative counter increments, NaN, infinities).
    pub rejected: u32,
}

/// An instrument's entry in the registry's table; entries past the declared ones are
/// [`Inst::UNDECLARED`], so that a lookup needs no test of whether an entry is there.
#[derive(Copy, Clone, Debug)]
struct Inst {
    desc: InstrumentDesc,
    temporality: Temporality,
    base: u16,
    cap: u16,
    hist_base: u16,
    stride: u16,
    /// What a measurement does, decided once at declaration.
    op: Op,
    /// The series of the empty attribute set, once it exists (`EMPTY`: not known), so
    /// recording with no attributes skips the lookup. Cleared when that series is reclaimed.
    /// Not kept with feature `prefer-size`, whose lookup scans.
    empty_slot: u16,
    /// The series the last lookup of declared keys packed whole found, in whatever order the
    /// attributes came (`EMPTY`: none yet). Tried first,
    /// by comparing its key, before hashing: a repeated attribute set skips hash and probe.
    /// Needs no clearing: a freed slot is refused by its state, a reused one by its key.
    /// Not kept with feature `prefer-size`, whose lookup scans.
    last_slot: u16,
    stats: InstrumentStats,
}

impl Inst {
    /// An entry no instrument was declared into: op [`Op::Undeclared`] (the record paths
    /// answer [`RecordError::UnknownInstrument`]), no series (they would start at
    /// `EMPTY`, past every series an instrument can reserve) and no histogram.
    const UNDECLARED: Inst = Inst {
        desc: InstrumentDesc::gauge_i64(""),
        temporality: Temporality::Cumulative,
        base: EMPTY,
        cap: 0,
        hist_base: 0,
        stride: 0,
        op: Op::Undeclared,
        empty_slot: EMPTY,
        last_slot: EMPTY,
        stats: InstrumentStats {
            series: 0,
            overflowed: 0,
            oversized: 0,
            truncated: 0,
            dropped_attributes: 0,
            rejected: 0,
        },
    };
}

/// What a measurement does to a series: the instrument's kind and number kind in one.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Op {
    /// Adds an integer; negative increments are rejected.
    CounterInt,
    /// Adds an integer.
    SumInt,
    /// Adds a float; negative increments are rejected.
    CounterF64,
    /// Adds a float.
    SumF64,
    /// Keeps the last integer.
    GaugeInt,
    /// Keeps the last float.
    GaugeF64,
    /// Explicit-bucket histogram.
    Histogram,
    /// Exponential histogram.
    ExpoHistogram,
    /// Takes no measurements (values come from its callback).
    Observable,
    /// No instrument: an entry past the declared ones ([`Inst::UNDECLARED`]).
    Undeclared,
}

impl Op {
    /// Why an instrument with this op takes no measurement, if it takes none: an
    /// observable one's values come from its callback, and there is no undeclared one.
    /// (The two are the last ops: one compare on the way to a measurement.)
    #[inline(always)]
    fn refusal(self) -> Option<RecordError> {
        if (self as u8) < (Op::Observable as u8) {
            return None;
        }
        Some(if self == Op::Observable {
            RecordError::WrongKind
        } else {
            RecordError::UnknownInstrument
        })
    }

    fn of(desc: &InstrumentDesc) -> Op {
        match (desc.kind, desc.number) {
            (InstrumentKind::Counter, NumberKind::Int) => Op::CounterInt,
            (InstrumentKind::Counter, NumberKind::Double) => Op::CounterF64,
            (InstrumentKind::UpDownCounter, NumberKind::Int) => Op::SumInt,
            (InstrumentKind::UpDownCounter, NumberKind::Double) => Op::SumF64,
            (InstrumentKind::Gauge, NumberKind::Int) => Op::GaugeInt,
            (InstrumentKind::Gauge, NumberKind::Double) => Op::GaugeF64,
            (InstrumentKind::Histogram, _) => Op::Histogram,
            (InstrumentKind::ExponentialHistogram, _) => Op::ExpoHistogram,
            _ => Op::Observable,
        }
    }
}

/// The registry: instruments and their series in fixed tables (see the [module docs](self)).
///
/// Works through `&mut self`; `CsRegistry` (feature `critical-section`) shares one between
/// interrupt handlers and the exporter.
#[cfg_attr(feature = "critical-section", doc = "", doc = "See [`CsRegistry`].")]
#[derive(Clone, Debug)]
pub struct Registry<
    const INSTRUMENTS: usize = 8,
    const SERIES: usize = 128,
    const ATTRIBUTE_BYTES: usize = 34,
    const HISTOGRAM_SERIES: usize = 16,
    const BUCKETS: usize = 512,
> {
    /// Declared in `..instrument_count`, [`Inst::UNDECLARED`] after.
    instruments: [Inst; INSTRUMENTS],
    instrument_count: usize,
    series: [Series<ATTRIBUTE_BYTES>; SERIES],
    index: [u16; SERIES],
    series_used: usize,
    hist: [HistState; HISTOGRAM_SERIES],
    hist_used: usize,
    buckets: [u64; BUCKETS],
    buckets_used: usize,
    start_time: UnixNanos,
    last_collect: UnixNanos,
    /// The collect before `last_collect`: start of series that callbacks create.
    prev_collect: UnixNanos,
    epoch: u32,
    /// The temporality of instruments that do not choose one.
    preference: TemporalityPreference,
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Default for Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn default() -> Self {
        Self::new(0)
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// An empty registry; series created before the first collect start at `start_time`
    /// (unix nanoseconds). Pass 0 when the time is not known yet: the first collect's time
    /// is then taken (or call [`set_start_time`](Self::set_start_time) once it is known).
    pub const fn new(start_time: UnixNanos) -> Self {
        Registry {
            instruments: [Inst::UNDECLARED; INSTRUMENTS],
            instrument_count: 0,
            series: [Series::EMPTY; SERIES],
            index: [EMPTY; SERIES],
            series_used: 0,
            hist: [HistState::EMPTY; HISTOGRAM_SERIES],
            hist_used: 0,
            buckets: [0; BUCKETS],
            buckets_used: 0,
            start_time,
            last_collect: start_time,
            prev_collect: start_time,
            epoch: 0,
            preference: TemporalityPreference::Cumulative,
        }
    }

    /// Sets the temporality of instruments that do not choose one (see
    /// [`TemporalityPreference`]): those declared from now on, and, until the first
    /// collect, those declared already. After the first collect an instrument keeps the
    /// temporality its points went out with: a stream that changed temporality half-way
    /// would be misread.
    pub fn set_temporality_preference(&mut self, preference: TemporalityPreference) {
        self.preference = preference;
        if self.epoch != 0 {
            return;
        }
        for inst in self.instruments.iter_mut().take(self.instrument_count) {
            if inst.desc.temporality.is_none() {
                inst.temporality = preference.temporality_for(inst.desc.kind);
            }
        }
    }

    /// The preference set with [`set_temporality_preference`](Self::set_temporality_preference).
    pub fn temporality_preference(&self) -> TemporalityPreference {
        self.preference
    }

    /// Sets the start time used before the first collect (once the wall clock is known).
    /// Before the first collect it is also the start of every series made so far (bound
    /// at boot, say); after it, it changes nothing that was exported.
    pub fn set_start_time(&mut self, start_time: UnixNanos) {
        self.start_time = start_time;
        if self.epoch == 0 {
            self.last_collect = start_time;
            self.prev_collect = start_time;
            for s in self.series.iter_mut().take(self.series_used) {
                s.start = start_time;
            }
        }
    }

    /// Declares an instrument, reserving its series, histogram states and buckets.
    pub fn declare(&mut self, desc: InstrumentDesc) -> Result<Instrument, DeclareError> {
        self.declare_desc(&desc)
    }

    /// [`declare`](Self::declare) from a reference: the declaration stays where it is
    /// while it is checked and is copied once, into its table entry, instead of being held
    /// field by field across the checks.
    #[inline(never)]
    fn declare_desc(&mut self, desc: &InstrumentDesc) -> Result<Instrument, DeclareError> {
        if self.instrument_count >= INSTRUMENTS || self.instrument_count >= usize::from(u16::MAX) {
            return Err(DeclareError::TooManyInstruments);
        }
        if desc.attribute_keys.len() > MAX_KEYS {
            return Err(DeclareError::TooManyKeys);
        }
        // Compared by bytes: two literals with the same text may sit at different addresses.
        let keys = desc.attribute_keys;
        // A key repeats an earlier one exactly when its first place is not its own: the
        // packer's key search, not a loop of its own.
        let repeated = keys
            .iter()
            .enumerate()
            .find(|&(i, k)| key::declared_index_by_bytes(keys, k) != Some(i));
        if let Some((index, _)) = repeated {
            return Err(DeclareError::DuplicateKey { index: index as u8 });
        }
        if !kind_enabled(desc.kind) {
            return Err(DeclareError::KindNotEnabled { kind: desc.kind });
        }
        if desc.kind.is_observable() && desc.callback.is_none() {
            return Err(DeclareError::MissingCallback);
        }
        match desc.kind {
            InstrumentKind::Histogram => {
                // Finite and above the bound before it (the first has none), in one walk.
                let bounds = desc.bounds;
                let ok = bounds.iter().enumerate().all(|(j, &b)| {
                    b.is_finite()
                        && bounds
                            .get(j.wrapping_sub(1))
                            .is_none_or(|&a| aggregate::less(a, b))
                });
                if !ok {
                    return Err(DeclareError::InvalidBounds);
                }
            }
            InstrumentKind::ExponentialHistogram
                if desc.max_size < 3 || !(MIN_SCALE..=MAX_SCALE).contains(&desc.max_scale) =>
            {
                return Err(DeclareError::InvalidLimits);
            }
            _ => {}
        }
        let slots = usize::from(desc.max_series) + 1;
        let left = SERIES.min(usize::from(EMPTY)) - self.series_used;
        if slots > left {
            return Err(DeclareError::SeriesExhausted {
                needed: slots,
                left,
            });
        }
        let (hist_base, bucket_base, stride) = if desc.is_histogram() {
            let left = HISTOGRAM_SERIES.min(usize::from(u16::MAX)) - self.hist_used;
            if slots > left {
                return Err(DeclareError::HistogramsExhausted {
                    needed: slots,
                    left,
                });
            }
            let stride = desc.bucket_stride();
            let needed = stride.saturating_mul(slots);
            let left = BUCKETS.min(u32::MAX as usize) - self.buckets_used;
            if needed > left || stride > usize::from(u16::MAX) {
                return Err(DeclareError::BucketsExhausted { needed, left });
            }
            (self.hist_used, self.buckets_used, stride)
        } else {
            (0, 0, 0)
        };
        let temporality = desc
            .temporality
            .unwrap_or(self.preference.temporality_for(desc.kind));
        let id = self.instrument_count;
        let base = self.series_used as u16;
        let inst = or_return!(
            self.instruments.get_mut(id),
            Err(DeclareError::TooManyInstruments)
        );
        // Written in place, field by field: the entry is `Inst::UNDECLARED` (entries are
        // only ever declared, in order), whose remembered series and stats are already a
        // new instrument's.
        inst.desc = *desc;
        inst.temporality = temporality;
        inst.base = base;
        inst.cap = desc.max_series;
        inst.hist_base = hist_base as u16;
        inst.stride = stride as u16;
        inst.op = Op::of(desc);
        self.instrument_count += 1;
        self.series_used += slots;
        if desc.is_histogram() {
            self.hist_used += slots;
            self.buckets_used += stride * slots;
            for j in 0..slots {
                if let Some(h) = self.hist.get_mut(hist_base + j) {
                    h.at = (bucket_base + j * stride) as u32;
                    // Empty at the starting scale, as a commit that frees a series leaves
                    // it (only exponential histograms read their scale).
                    if EXPONENTIAL {
                        h.scale = desc.max_scale;
                    }
                }
            }
        }
        Ok(Instrument(id as u16))
    }

    /// Instruments declared so far.
    pub fn instrument_count(&self) -> usize {
        self.instrument_count
    }

    /// The declaration of `instrument`.
    pub fn desc(&self, instrument: Instrument) -> Option<&InstrumentDesc> {
        self.declared(instrument).map(|i| &i.desc)
    }

    /// What `instrument` had to cut, reject or redirect so far.
    pub fn stats(&self, instrument: Instrument) -> Option<InstrumentStats> {
        self.declared(instrument).map(|i| i.stats)
    }

    /// `instrument`'s entry if it was declared in this registry.
    fn declared(&self, instrument: Instrument) -> Option<&Inst> {
        self.inst(usize::from(instrument.0))
            .filter(|i| i.op != Op::Undeclared)
    }

    /// Entry `i`: a declared instrument, or [`Inst::UNDECLARED`] past them (the record
    /// paths test its op; what they call after that has a declared instrument).
    fn inst(&self, i: usize) -> Option<&Inst> {
        self.instruments.get(i)
    }

    /// [`inst`](Self::inst), mutably.
    fn inst_mut(&mut self, i: usize) -> Option<&mut Inst> {
        self.instruments.get_mut(i)
    }

    /// Records `value` for the attribute set `attributes` (order does not matter): adds to a
    /// counter, sets a gauge, records into a histogram.
    #[inline(always)]
    pub fn record(
        &mut self,
        instrument: Instrument,
        value: impl Into<Number>,
        attributes: &[KeyValue<'_>],
    ) -> Result<(), RecordError> {
        let value = value.into();
        // (With `prefer-size` no series is remembered: every record takes the lookup.)
        if !PREFER_SIZE && attributes.is_empty() {
            // No attributes: straight to the remembered series, no hashing, no lookup.
            let i = usize::from(instrument.0);
            // `EMPTY` (not known, or no such instrument) is past the table: not found.
            let slot = self.inst(i).map_or(EMPTY, |inst| inst.empty_slot);
            if let Some(s) = self.series.get_mut(usize::from(slot)) {
                // A free slot's op is `Observable`: `add_int` refuses it.
                if s.add_int(value) {
                    return Ok(());
                }
            }
            return self.record_empty(instrument, value);
        }
        self.record_attrs(instrument, value, attributes)
    }

    /// [`record`](Self::record) with no attributes, past the integer add: other ops,
    /// checks, or the empty set's series not known yet. (With feature `prefer-size`,
    /// [`record_attrs`](Self::record_attrs) does this, through its lookup.)
    #[inline(never)]
    fn record_empty(&mut self, instrument: Instrument, value: Number) -> Result<(), RecordError> {
        let i = usize::from(instrument.0);
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        let (op, slot) = (inst.op, inst.empty_slot);
        if op != Op::Observable && slot != EMPTY {
            return self.apply(i, op, usize::from(slot), value);
        }
        self.record_attrs(instrument, value, &[])
    }

    /// [`record`](Self::record) through the lookup.
    #[inline(never)]
    fn record_attrs(
        &mut self,
        instrument: Instrument,
        value: Number,
        attributes: &[KeyValue<'_>],
    ) -> Result<(), RecordError> {
        let i = usize::from(instrument.0);
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        let op = inst.op;
        if let Some(refused) = op.refusal() {
            return Err(refused);
        }
        // (With `prefer-size` the general lookup finds the empty set too.)
        let slot = if !PREFER_SIZE && attributes.is_empty() {
            self.find_empty(i)
        } else {
            self.find_or_insert(i, attributes)
        };
        self.apply(i, op, slot, value)
    }

    /// Pins the series for `attributes` and returns a handle that records with no lookup.
    /// When the table is full the handle records into the overflow series.
    pub fn bind(
        &mut self,
        instrument: Instrument,
        attributes: &[KeyValue<'_>],
    ) -> Result<Bound, RecordError> {
        let i = usize::from(instrument.0);
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        if let Some(refused) = inst.op.refusal() {
            return Err(refused);
        }
        let overflow = usize::from(inst.base) + usize::from(inst.cap);
        let slot = self.find_or_insert(i, attributes);
        if slot != overflow {
            if let Some(s) = self.series.get_mut(slot) {
                s.state = PINNED;
            }
        }
        Ok(Bound {
            instrument: instrument.0,
            slot: slot as u16,
        })
    }

    /// Records `value` into a bound series.
    #[inline(always)]
    pub fn record_bound(
        &mut self,
        bound: Bound,
        value: impl Into<Number>,
    ) -> Result<(), RecordError> {
        let value = value.into();
        // A handle's series is pinned, so never freed or reused: an integer add needs no
        // instrument lookup.
        if let Some(s) = self.series.get_mut(usize::from(bound.slot)) {
            if s.state == PINNED && s.add_int(value) {
                return Ok(());
            }
        }
        self.record_bound_checked(bound, value)
    }

    /// [`record_bound`](Self::record_bound) for other ops, the overflow series and handles
    /// that are not this registry's.
    #[inline(never)]
    fn record_bound_checked(&mut self, bound: Bound, value: Number) -> Result<(), RecordError> {
        let i = usize::from(bound.instrument);
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        let slot = usize::from(bound.slot);
        let base = usize::from(inst.base);
        let op = inst.op;
        // A handle from another registry must not reach another instrument's series.
        if slot.wrapping_sub(base) > usize::from(inst.cap) {
            return Err(RecordError::UnknownInstrument);
        }
        if let Some(refused) = op.refusal() {
            return Err(refused);
        }
        self.apply(i, op, slot, value)
    }
}

#[cfg(feature = "defmt")]
#[cfg(feature = "defmt")]
impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > defmt::Format for Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Registry {{ instruments: {=usize}/{=usize}, series reserved: {=usize}/{=usize}, histogram series: {=usize}/{=usize}, buckets: {=usize}/{=usize} }}",
            self.instrument_count,
            INSTRUMENTS,
            self.series_used,
            SERIES,
            self.hist_used,
            HISTOGRAM_SERIES,
            self.buckets_used,
            BUCKETS
        )
    }
}

#[cfg(test)]
mod tests;
