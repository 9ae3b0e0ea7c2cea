//! Instruments, aggregation and snapshots, in fixed memory.
//!
//! A [`Registry`] holds every series of every instrument in tables whose sizes are const
//! generics, so its size is known at compile time and it can live in a `static`:
//!
//! - `I`: instruments;
//! - `N`: series, shared out at declaration: each instrument reserves
//!   `max_series + 1` (the extra one is its overflow series);
//! - `K`: bytes of attribute values per series (see below);
//! - `H`: histogram series (explicit and exponential), reserved `max_series + 1` each;
//! - `B`: bucket counters (`u64`), reserved per histogram series: `bounds.len() + 1` for an
//!   explicit-bucket histogram, `2 * max_size` for an exponential one.
//!
//! A [`Snapshot`] has the same five parameters and so always has room for everything the
//! registry holds: collection never fails for lack of space.
//!
//! ```
//! use otlp_embedded::export::{Producer, Settlement};
//! use otlp_embedded::proto::{AttributeValue, KeyValue, MetricsSource, PointValue, Temporality};
//! use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
//!
//! // 4 instruments, 32 series, 34 bytes of values per series, 8 histogram series,
//! // 256 bucket counters.
//! let mut registry: Registry<4, 32, 34, 8, 256> = Registry::new(1_700_000_000_000_000_000);
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
//! let mut snapshot: Snapshot<4, 32, 34, 8, 256> = Snapshot::new();
//! registry.collect(&mut snapshot, 1_700_000_010_000_000_000);
//! assert_eq!(snapshot.point(0, 0).value, PointValue::Int(3));
//! // ... encode `snapshot` into requests, send them, then settle each request's span:
//! registry.settle(&snapshot, snapshot.full_span(), Settlement::Delivered);
//! ```
//!
//! # Attributes
//!
//! Attribute keys are declared with the instrument (`&'static str`); a series stores only
//! the values, packed in declared-key order, so identity does not depend on the order the
//! caller passes them in. Each present value takes one tag byte plus its payload: 0 bytes
//! for a bool, 8 for an `i64`/`f64`, the UTF-8 bytes for a string (at most 250). Two string
//! values of up to 16 bytes need `K = 34`. A value set that does not fit is cut: strings
//! share the room that remains (each truncated at a UTF-8 boundary) and the truncation is
//! counted in [`InstrumentStats`]. Keys that were not declared are left out and counted;
//! a key passed twice takes the last value (the other copy counts as left out).
//!
//! # Speed
//!
//! Passing the declared keys in declared order, as the same `&'static str` literals, takes
//! the fastest lookup (no key search); any other order or spelling is found too, a little
//! slower. Recording with no attributes goes straight to a remembered series, and integer
//! adds through a [`Bound`] handle touch only their series.
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
//! Core owns no clock: [`Producer::collect`] takes the unix time. A series' start time is
//! the time of the collect before it was created (the registry's start time before the
//! first collect); under delta temporality it moves to the snapshot time at each commit.
//! Gauges export start time 0. If the clock jumps backwards, every exported point still has
//! `time >= start_time`: the point time is clamped up to its start.
//!
//! # Collect and settle
//!
//! `collect` copies every series that has something to export into the caller's snapshot.
//! The exporter encodes the snapshot into requests and settles each request's
//! [`PointSpan`] once. [`Settlement::Delivered`] and [`Settlement::Dropped`] commit: under
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

mod desc;
mod expo;
mod key;
#[cfg(feature = "critical-section")]
mod shared;
mod snapshot;

pub use desc::{
    Callback, InstrumentDesc, InstrumentKind, Number, NumberKind, Observe, DEFAULT_BOUNDS,
};
pub use expo::{map_to_index, MAX_SCALE, MIN_SCALE};
pub use key::{MAX_KEYS, MAX_STR_LEN};
#[cfg(feature = "critical-section")]
pub use shared::CsRegistry;
pub use snapshot::Snapshot;

use crate::export::{Producer, Settlement};
use crate::proto::{KeyValue, PointSpan, Temporality};
use crate::time::UnixNanos;
use expo::Window;

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

/// Why a declaration failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DeclareError {
    /// All `I` instrument slots are taken.
    TooManyInstruments,
    /// Fewer than `max_series + 1` of the `N` series remain.
    SeriesExhausted {
        /// Series needed.
        needed: usize,
        /// Series left.
        left: usize,
    },
    /// Fewer than `max_series + 1` of the `H` histogram series remain.
    HistogramsExhausted {
        /// Histogram series needed.
        needed: usize,
        /// Histogram series left.
        left: usize,
    },
    /// Not enough of the `B` bucket counters remain.
    BucketsExhausted {
        /// Bucket counters needed.
        needed: usize,
        /// Bucket counters left.
        left: usize,
    },
    /// More than [`MAX_KEYS`] attribute keys.
    TooManyKeys,
    /// An attribute key listed twice (OTLP attribute keys are unique per point).
    DuplicateKey {
        /// Position of the second listing in the declared keys.
        index: u8,
    },
    /// Bounds not strictly ascending, or not finite.
    InvalidBounds,
    /// Exponential limits out of range (max size below 3, scale outside -10..=20).
    InvalidLimits,
    /// An observable instrument without a callback.
    MissingCallback,
    /// The shared registry was already borrowed (declared from inside a callback).
    Busy,
}

impl core::fmt::Display for DeclareError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DeclareError::TooManyInstruments => f.write_str("registry: instrument table full"),
            DeclareError::SeriesExhausted { needed, left } => {
                write!(f, "registry: {needed} series needed, {left} left")
            }
            DeclareError::HistogramsExhausted { needed, left } => {
                write!(f, "registry: {needed} histogram series needed, {left} left")
            }
            DeclareError::BucketsExhausted { needed, left } => {
                write!(f, "registry: {needed} bucket counters needed, {left} left")
            }
            DeclareError::TooManyKeys => write!(f, "registry: more than {MAX_KEYS} attribute keys"),
            DeclareError::DuplicateKey { index } => {
                write!(f, "registry: attribute key {index} is listed twice")
            }
            DeclareError::InvalidBounds => {
                f.write_str("registry: bounds not finite and strictly ascending")
            }
            DeclareError::InvalidLimits => {
                f.write_str("registry: exponential max size < 3 or scale outside -10..=20")
            }
            DeclareError::MissingCallback => {
                f.write_str("registry: observable instrument without callback")
            }
            DeclareError::Busy => f.write_str("registry: already borrowed"),
        }
    }
}

/// Why a measurement was not recorded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RecordError {
    /// The instrument (or bound series) is not one of this registry's.
    UnknownInstrument,
    /// The instrument does not take measurements this way (an observable instrument).
    WrongKind,
    /// A negative increment to a monotonic counter.
    Negative,
    /// NaN or an infinity.
    NotFinite,
    /// The shared registry was already borrowed (recorded from inside a callback).
    Busy,
}

impl core::fmt::Display for RecordError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RecordError::UnknownInstrument => "registry: unknown instrument or series",
            RecordError::WrongKind => "registry: instrument does not take measurements",
            RecordError::Negative => "registry: negative increment to a counter",
            RecordError::NotFinite => "registry: value not finite",
            RecordError::Busy => "registry: already borrowed",
        })
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
    /// String attribute values truncated to fit.
    pub truncated: u32,
    /// Attributes left out (undeclared keys, or no room).
    pub dropped_attributes: u32,
    /// Measurements rejected (negative counter increments, NaN, infinities).
    pub rejected: u32,
}

const FREE: u8 = 0;
const LIVE: u8 = 1;
const PINNED: u8 = 2;
const EMPTY: u16 = u16::MAX;

#[derive(Copy, Clone, Debug)]
struct Series<const K: usize> {
    /// Sum (i64 wrapping or f64 bits) or last value.
    value: u64,
    start: UnixNanos,
    /// Measurements so far (wrapping): tells a commit whether anything came after the snapshot.
    recorded: u32,
    /// Epoch of the last snapshot committed, so a point settled twice commits once.
    settled: u32,
    hash: u16,
    state: u8,
    /// Has something to export.
    dirty: bool,
    /// The owning instrument's op, so bound and no-attribute records need not look the
    /// instrument up (fits in what was padding). `Observable` while the slot is free, so
    /// [`Series::add_int`] refuses a free slot with no separate state check.
    op: Op,
    key: [u8; K],
}

impl<const K: usize> Series<K> {
    const EMPTY: Self = Series {
        value: 0,
        start: 0,
        recorded: 0,
        settled: 0,
        hash: 0,
        state: FREE,
        dirty: false,
        op: Op::Observable,
        key: [0; K],
    };

    /// Adds an integer measurement to this live integer-sum series; false when the
    /// measurement needs the general path (another op, a float, a negative increment to a
    /// counter), which then also does the checks and counting.
    #[inline(always)]
    fn add_int(&mut self, value: Number) -> bool {
        let v = match value {
            Number::U64(v) if matches!(self.op, Op::CounterInt | Op::SumInt) => {
                i64::try_from(v).unwrap_or(i64::MAX)
            }
            Number::I64(v) if self.op == Op::SumInt || (self.op == Op::CounterInt && v >= 0) => v,
            _ => return false,
        };
        self.value = self.value.wrapping_add(v as u64);
        self.recorded = self.recorded.wrapping_add(1);
        self.dirty = true;
        true
    }
}

/// Histogram aggregation state; `at` is where its buckets start in the bucket table.
#[derive(Copy, Clone, Debug)]
struct HistState {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// Min and max of the measurements since the last collect: min and max cannot be
    /// subtracted, so a delta commit with newer measurements takes these instead.
    since_min: f64,
    since_max: f64,
    zero_count: u64,
    at: u32,
    pos: Window,
    neg: Window,
    scale: i8,
}

impl HistState {
    const EMPTY: Self = HistState {
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        since_min: f64::INFINITY,
        since_max: f64::NEG_INFINITY,
        zero_count: 0,
        at: 0,
        pos: Window { offset: 0, len: 0 },
        neg: Window { offset: 0, len: 0 },
        scale: 0,
    };
}

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
    empty_slot: u16,
    /// The series the last lookup of declared keys packed whole found, in whatever order the
    /// attributes came (`EMPTY`: none yet). Tried first,
    /// by comparing its key, before hashing: a repeated attribute set skips hash and probe.
    /// Needs no clearing: a freed slot is refused by its state, a reused one by its key.
    last_slot: u16,
    stats: InstrumentStats,
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
}

impl Op {
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
    const I: usize = 8,
    const N: usize = 128,
    const K: usize = 34,
    const H: usize = 16,
    const B: usize = 512,
> {
    instruments: [Option<Inst>; I],
    instrument_count: usize,
    series: [Series<K>; N],
    index: [u16; N],
    series_used: usize,
    hist: [HistState; H],
    hist_used: usize,
    buckets: [u64; B],
    buckets_used: usize,
    start_time: UnixNanos,
    last_collect: UnixNanos,
    /// The collect before `last_collect`: start of series that callbacks create.
    prev_collect: UnixNanos,
    epoch: u32,
}

impl<const I: usize, const N: usize, const K: usize, const H: usize, const B: usize> Default
    for Registry<I, N, K, H, B>
{
    fn default() -> Self {
        Self::new(0)
    }
}

/// Unwraps an `Option` or returns the given value.
macro_rules! or_return {
    ($e:expr, $r:expr) => {
        match $e {
            Some(v) => v,
            None => return $r,
        }
    };
}

impl<const I: usize, const N: usize, const K: usize, const H: usize, const B: usize>
    Registry<I, N, K, H, B>
{
    const NO_INST: Option<Inst> = None;

    /// An empty registry; series created before the first collect start at `start_time`
    /// (unix nanoseconds; pass 0 and call [`set_start_time`](Self::set_start_time) when the
    /// time is not known yet).
    pub const fn new(start_time: UnixNanos) -> Self {
        Registry {
            instruments: [Self::NO_INST; I],
            instrument_count: 0,
            series: [Series::EMPTY; N],
            index: [EMPTY; N],
            series_used: 0,
            hist: [HistState::EMPTY; H],
            hist_used: 0,
            buckets: [0; B],
            buckets_used: 0,
            start_time,
            last_collect: start_time,
            prev_collect: start_time,
            epoch: 0,
        }
    }

    /// Sets the start time used before the first collect (once the wall clock is known).
    pub fn set_start_time(&mut self, start_time: UnixNanos) {
        self.start_time = start_time;
        if self.epoch == 0 {
            self.last_collect = start_time;
            self.prev_collect = start_time;
        }
    }

    /// Declares an instrument, reserving its series, histogram states and buckets.
    pub fn declare(&mut self, desc: InstrumentDesc) -> Result<Instrument, DeclareError> {
        if self.instrument_count >= I || self.instrument_count >= usize::from(u16::MAX) {
            return Err(DeclareError::TooManyInstruments);
        }
        if desc.attribute_keys.len() > MAX_KEYS {
            return Err(DeclareError::TooManyKeys);
        }
        // Compared by bytes: two literals with the same text may sit at different addresses.
        let keys = desc.attribute_keys;
        let repeated = keys
            .iter()
            .enumerate()
            .find(|&(i, k)| keys.iter().take(i).any(|earlier| earlier == k));
        if let Some((index, _)) = repeated {
            return Err(DeclareError::DuplicateKey { index: index as u8 });
        }
        if desc.kind.is_observable() && desc.callback.is_none() {
            return Err(DeclareError::MissingCallback);
        }
        match desc.kind {
            InstrumentKind::Histogram => {
                let ok = desc.bounds.iter().all(|b| b.is_finite())
                    && desc.bounds.windows(2).all(|w| w[0] < w[1]);
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
        let left = N.min(usize::from(EMPTY)) - self.series_used;
        if slots > left {
            return Err(DeclareError::SeriesExhausted {
                needed: slots,
                left,
            });
        }
        let (hist_base, bucket_base, stride) = if desc.is_histogram() {
            let left = H.min(usize::from(u16::MAX)) - self.hist_used;
            if slots > left {
                return Err(DeclareError::HistogramsExhausted {
                    needed: slots,
                    left,
                });
            }
            let stride = desc.bucket_stride();
            let needed = stride.saturating_mul(slots);
            let left = B.min(u32::MAX as usize) - self.buckets_used;
            if needed > left || stride > usize::from(u16::MAX) {
                return Err(DeclareError::BucketsExhausted { needed, left });
            }
            (self.hist_used, self.buckets_used, stride)
        } else {
            (0, 0, 0)
        };
        // Observable instruments report absolute values: only cumulative makes sense.
        let temporality = if desc.kind.is_observable() {
            Temporality::Cumulative
        } else {
            desc.temporality
        };
        let inst = Inst {
            desc,
            temporality,
            base: self.series_used as u16,
            cap: desc.max_series,
            hist_base: hist_base as u16,
            stride: stride as u16,
            op: Op::of(&desc),
            empty_slot: EMPTY,
            last_slot: EMPTY,
            stats: InstrumentStats::default(),
        };
        let id = self.instrument_count;
        *or_return!(
            self.instruments.get_mut(id),
            Err(DeclareError::TooManyInstruments)
        ) = Some(inst);
        self.instrument_count += 1;
        self.series_used += slots;
        if desc.is_histogram() {
            self.hist_used += slots;
            self.buckets_used += stride * slots;
            for j in 0..slots {
                if let Some(h) = self.hist.get_mut(hist_base + j) {
                    h.at = (bucket_base + j * stride) as u32;
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
        self.inst(usize::from(instrument.0)).map(|i| &i.desc)
    }

    /// What `instrument` had to cut, reject or redirect so far.
    pub fn stats(&self, instrument: Instrument) -> Option<InstrumentStats> {
        self.inst(usize::from(instrument.0)).map(|i| i.stats)
    }

    fn inst(&self, i: usize) -> Option<&Inst> {
        self.instruments.get(i).and_then(|i| i.as_ref())
    }

    fn inst_mut(&mut self, i: usize) -> Option<&mut Inst> {
        self.instruments.get_mut(i).and_then(|i| i.as_mut())
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
        if attributes.is_empty() {
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
    /// checks, or the empty set's series not known yet.
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
        if op == Op::Observable {
            return Err(RecordError::WrongKind);
        }
        let slot = if attributes.is_empty() {
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
        if inst.desc.kind.is_observable() {
            return Err(RecordError::WrongKind);
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
        if op == Op::Observable {
            return Err(RecordError::WrongKind);
        }
        self.apply(i, op, slot, value)
    }

    /// The series of the empty attribute set (created if needed), remembered for the next
    /// record with no attributes.
    #[cold]
    #[inline(never)]
    fn find_empty(&mut self, i: usize) -> usize {
        let slot = self.find_or_insert(i, &[]);
        if let Some(inst) = self.inst_mut(i) {
            if slot < usize::from(inst.base) + usize::from(inst.cap) {
                inst.empty_slot = slot as u16;
            }
        }
        slot
    }

    /// The series slot for `attributes`, created if needed, or the overflow slot.
    #[inline(always)]
    fn find_or_insert(&mut self, i: usize, attributes: &[KeyValue<'_>]) -> usize {
        let Some(inst) = self.instruments.get(i).and_then(|x| x.as_ref()) else {
            return usize::MAX;
        };
        let keys = inst.desc.attribute_keys;
        let base = usize::from(inst.base);
        let cap = usize::from(inst.cap);
        let last = usize::from(inst.last_slot);
        let mut key = [0u8; K];
        if key::pack_unhashed(keys, attributes, &mut key) {
            // Same instrument's slot (only its own lookups set it), live, same key: the same
            // series.
            if let Some(s) = self.series.get(last) {
                if s.state != FREE && key::key_eq(&s.key, &key) {
                    return last;
                }
            }
            let hash = key::hash_in_order(attributes);
            return self.find_or_insert_whole(i, base, cap, hash, &key);
        }
        self.find_or_insert_packed(i, attributes)
    }

    /// The lookup for declared keys packed whole in `key` (hash `hash`), when they are not
    /// the last series found: probe, insert when absent; remembers the series.
    #[inline(always)]
    fn find_or_insert_whole(
        &mut self,
        i: usize,
        base: usize,
        cap: usize,
        hash: u64,
        key: &[u8; K],
    ) -> usize {
        let h = (hash >> 48) as u16;
        let slot = match self.find(base, cap, h, |s| key::key_eq(&s.key, key)) {
            Some(slot) => slot,
            None => self.insert_key(i, h, key),
        };
        if slot < base + cap {
            if let Some(inst) = self.inst_mut(i) {
                inst.last_slot = slot as u16;
            }
        }
        slot
    }

    /// A new attribute set (or a full table): looks up again and inserts, or overflows.
    #[cold]
    #[inline(never)]
    fn insert_key(&mut self, i: usize, h: u16, key: &[u8; K]) -> usize {
        self.lookup_or_insert(i, h, |s| s.key == *key, |k| *k = *key)
    }

    /// The existing series of instrument slots `base..base + cap` with hash `h` that
    /// `is_match`, if any.
    #[inline(always)]
    fn find(
        &self,
        base: usize,
        cap: usize,
        h: u16,
        is_match: impl Fn(&Series<K>) -> bool,
    ) -> Option<usize> {
        let index = self.index.get(base..base + cap)?;
        let series = self.series.get(base..base + cap)?;
        let mut pos = (usize::from(h) * index.len()) >> 16;
        for _ in 0..index.len() {
            let e = index.get(pos).copied().unwrap_or(EMPTY);
            if e == EMPTY {
                return None;
            }
            if let Some(s) = series.get(usize::from(e)) {
                if s.hash == h && is_match(s) {
                    return Some(base + usize::from(e));
                }
            }
            pos += 1;
            if pos == index.len() {
                pos = 0;
            }
        }
        None
    }

    /// The general path (attributes in another order, undeclared or repeated keys, values
    /// that must be truncated): pack in declared order, then look up by the packed key.
    #[inline(never)]
    fn find_or_insert_packed(&mut self, i: usize, attributes: &[KeyValue<'_>]) -> usize {
        let Some(inst) = self.inst(i) else {
            return usize::MAX;
        };
        let keys = inst.desc.attribute_keys;
        let (base, cap) = (usize::from(inst.base), usize::from(inst.cap));
        let last = usize::from(inst.last_slot);
        let mut key = [0u8; K];
        let mut at = [key::ABSENT; key::MAX_KEYS];
        let hash = if key::pack_declared(keys, attributes, &mut key, &mut at) {
            // Declared keys in another order (or a subset): the same shortcut as in order.
            if let Some(s) = self.series.get(last) {
                if s.state != FREE && key::key_eq(&s.key, &key) {
                    return last;
                }
            }
            key::hash_located(attributes, &at, keys.len())
        } else {
            key = [0u8; K];
            let (_, loss, hash) = key::encode_hashed(keys, attributes, &mut key);
            if loss != key::EncodeLoss::default() {
                self.count_loss(i, loss);
            }
            hash
        };
        // One probe for both packings (one copy of it per registry type).
        self.find_or_insert_whole(i, base, cap, hash, &key)
    }

    /// Probes instrument `i`'s table for a series with hash `h` that `is_match`; inserts
    /// one (its key written by `fill`) when absent and there is room, else overflows.
    #[inline(always)]
    fn lookup_or_insert(
        &mut self,
        i: usize,
        h: u16,
        is_match: impl Fn(&Series<K>) -> bool,
        fill: impl FnOnce(&mut [u8; K]),
    ) -> usize {
        let Some(inst) = self.inst(i) else {
            return usize::MAX;
        };
        let base = usize::from(inst.base);
        let cap = usize::from(inst.cap);
        let op = inst.op;
        let overflow = base + cap;
        if cap == 0 {
            return self.route_overflow(i, overflow);
        }
        let mut pos = (usize::from(h) * cap) >> 16;
        let mut empty_at = None;
        for _ in 0..cap {
            let e = self.index.get(base + pos).copied().unwrap_or(EMPTY);
            if e == EMPTY {
                empty_at = Some(pos);
                break;
            }
            if let Some(s) = self.series.get(base + usize::from(e)) {
                if s.hash == h && is_match(s) {
                    return base + usize::from(e);
                }
            }
            pos += 1;
            if pos == cap {
                pos = 0;
            }
        }
        let Some(pos) = empty_at else {
            return self.route_overflow(i, overflow);
        };
        let free = self
            .series
            .get(base..overflow)
            .and_then(|s| s.iter().position(|s| s.state == FREE));
        let Some(free) = free else {
            return self.route_overflow(i, overflow);
        };
        let mut key = [0u8; K];
        fill(&mut key);
        let start = self.last_collect;
        if let Some(s) = self.series.get_mut(base + free) {
            *s = Series {
                value: 0,
                start,
                recorded: 0,
                settled: 0,
                hash: h,
                state: LIVE,
                dirty: false,
                op,
                key,
            };
        }
        if let Some(e) = self.index.get_mut(base + pos) {
            *e = free as u16;
        }
        self.reset_hist(i, base + free);
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.series = inst.stats.series.saturating_add(1);
        }
        base + free
    }

    #[cold]
    fn count_loss(&mut self, i: usize, loss: key::EncodeLoss) {
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.truncated = inst
                .stats
                .truncated
                .saturating_add(u32::from(loss.truncated));
            inst.stats.dropped_attributes = inst
                .stats
                .dropped_attributes
                .saturating_add(u32::from(loss.dropped));
        }
    }

    #[cold]
    fn route_overflow(&mut self, i: usize, overflow: usize) -> usize {
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.overflowed = inst.stats.overflowed.saturating_add(1);
        }
        overflow
    }

    fn reset_hist(&mut self, i: usize, slot: usize) {
        let Some(inst) = self.inst(i) else { return };
        if !inst.desc.is_histogram() {
            return;
        }
        let j = slot - usize::from(inst.base);
        let scale = inst.desc.max_scale;
        let (at, stride) = (usize::from(inst.hist_base) + j, usize::from(inst.stride));
        if let Some(h) = self.hist.get_mut(at) {
            let b = h.at as usize;
            *h = HistState {
                at: h.at,
                scale,
                ..HistState::EMPTY
            };
            if let Some(words) = self.buckets.get_mut(b..b + stride) {
                words.fill(0);
            }
        }
    }

    /// Applies one measurement to series `slot` of instrument `i`, whose op is `op`.
    #[inline(always)]
    fn apply(&mut self, i: usize, op: Op, slot: usize, value: Number) -> Result<(), RecordError> {
        let monotonic = matches!(op, Op::CounterInt | Op::CounterF64);
        if !value.is_finite() || (monotonic && value.is_negative()) {
            return Err(self.reject(i, value));
        }
        let s = or_return!(
            self.series.get_mut(slot),
            Err(RecordError::UnknownInstrument)
        );
        if s.state == FREE {
            return self.apply_revive(i, op, slot, value);
        }
        self.apply_live(i, op, slot, value)
    }

    /// Counts a rejected measurement and says why it was rejected.
    #[cold]
    #[inline(never)]
    fn reject(&mut self, i: usize, value: Number) -> RecordError {
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.rejected = inst.stats.rejected.saturating_add(1);
        }
        if value.is_finite() {
            RecordError::Negative
        } else {
            RecordError::NotFinite
        }
    }

    /// A measurement for a free slot: the overflow series comes to life on its first one;
    /// any other free slot is not a series (a stale or foreign handle).
    #[cold]
    #[inline(never)]
    fn apply_revive(
        &mut self,
        i: usize,
        op: Op,
        slot: usize,
        value: Number,
    ) -> Result<(), RecordError> {
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        if slot != usize::from(inst.base) + usize::from(inst.cap) {
            return Err(RecordError::UnknownInstrument);
        }
        let start = self.last_collect;
        if let Some(s) = self.series.get_mut(slot) {
            *s = Series {
                start,
                state: LIVE,
                op,
                ..Series::EMPTY
            };
        }
        self.reset_hist(i, slot);
        self.apply_live(i, op, slot, value)
    }

    /// Applies a (valid) measurement to a live series.
    #[inline(always)]
    fn apply_live(
        &mut self,
        i: usize,
        op: Op,
        slot: usize,
        value: Number,
    ) -> Result<(), RecordError> {
        let s = or_return!(
            self.series.get_mut(slot),
            Err(RecordError::UnknownInstrument)
        );
        s.recorded = s.recorded.wrapping_add(1);
        s.dirty = true;
        // Integer sums first, with one compare (they are adjacent in `Op`).
        if matches!(op, Op::CounterInt | Op::SumInt) {
            s.value = s.value.wrapping_add(value.as_i64() as u64);
            return Ok(());
        }
        match op {
            Op::CounterInt | Op::SumInt => {
                s.value = s.value.wrapping_add(value.as_i64() as u64);
            }
            Op::CounterF64 | Op::SumF64 => {
                s.value = (f64::from_bits(s.value) + value.as_f64()).to_bits();
            }
            Op::GaugeInt => s.value = value.as_i64() as u64,
            Op::GaugeF64 => s.value = value.as_f64().to_bits(),
            Op::Histogram => return self.record_explicit(i, slot, value.as_f64()),
            Op::ExpoHistogram => return self.record_expo(i, slot, value.as_f64()),
            Op::Observable => return Err(RecordError::WrongKind),
        }
        Ok(())
    }

    /// Records finite `v` into explicit-bucket histogram series `slot` of instrument `i`.
    #[inline(always)]
    fn record_explicit(&mut self, i: usize, slot: usize, v: f64) -> Result<(), RecordError> {
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        let hist_index = usize::from(inst.hist_base) + slot.wrapping_sub(usize::from(inst.base));
        let bounds = inst.desc.bounds;
        let b = bucket_of(bounds, v);
        debug_assert!(b < usize::from(inst.stride));
        let h = or_return!(
            self.hist.get_mut(hist_index),
            Err(RecordError::UnknownInstrument)
        );
        h.count += 1;
        h.sum += v;
        if v < h.min {
            h.min = v;
        }
        if v > h.max {
            h.max = v;
        }
        if v < h.since_min {
            h.since_min = v;
        }
        if v > h.since_max {
            h.since_max = v;
        }
        // In range by construction: a series owns `bounds.len() + 1` words from `at`.
        if let Some(c) = self.buckets.get_mut(h.at as usize + b) {
            *c += 1;
        }
        Ok(())
    }

    /// Records finite `v` into exponential histogram series `slot` of instrument `i`.
    #[inline(never)]
    fn record_expo(&mut self, i: usize, slot: usize, v: f64) -> Result<(), RecordError> {
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        let hist_index = usize::from(inst.hist_base) + slot.wrapping_sub(usize::from(inst.base));
        let (stride, max_size) = (usize::from(inst.stride), usize::from(inst.desc.max_size));
        let h = or_return!(
            self.hist.get_mut(hist_index),
            Err(RecordError::UnknownInstrument)
        );
        h.count += 1;
        h.sum += v;
        h.min = h.min.min(v);
        h.max = h.max.max(v);
        h.since_min = h.since_min.min(v);
        h.since_max = h.since_max.max(v);
        let at = h.at as usize;
        let words = or_return!(
            self.buckets.get_mut(at..at + stride),
            Err(RecordError::UnknownInstrument)
        );
        expo_record(h, words, max_size, v);
        Ok(())
    }

    /// Removes series `slot` of instrument `i` from its table (it has nothing to export).
    fn reclaim(&mut self, i: usize, slot: usize) {
        let Some(inst) = self.inst_mut(i) else { return };
        if usize::from(inst.empty_slot) == slot {
            inst.empty_slot = EMPTY;
        }
        let base = usize::from(inst.base);
        let cap = usize::from(inst.cap);
        let Some(s) = self.series.get(slot) else {
            return;
        };
        if slot >= base + cap {
            // The overflow series is not in the index.
            if let Some(s) = self.series.get_mut(slot) {
                s.state = FREE;
                s.op = Op::Observable;
                s.dirty = false;
            }
            return;
        }
        let home = (usize::from(s.hash) * cap) >> 16;
        let target = (slot - base) as u16;
        let mut pos = home;
        let mut found = None;
        for _ in 0..cap {
            match self.index.get(base + pos).copied() {
                Some(e) if e == target => {
                    found = Some(pos);
                    break;
                }
                Some(EMPTY) | None => break,
                _ => {}
            }
            pos = if pos + 1 == cap { 0 } else { pos + 1 };
        }
        let Some(mut hole) = found else { return };
        // Backward-shift deletion keeps every probe chain unbroken without tombstones.
        let mut j = hole;
        for _ in 0..cap {
            j = if j + 1 == cap { 0 } else { j + 1 };
            let e = self.index.get(base + j).copied().unwrap_or(EMPTY);
            if e == EMPTY {
                break;
            }
            let h = self.series.get(base + usize::from(e)).map_or(0, |s| s.hash);
            let k = (usize::from(h) * cap) >> 16;
            // Move e into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < k && k <= j
            } else {
                hole < k || k <= j
            };
            if !stays {
                if let Some(x) = self.index.get_mut(base + hole) {
                    *x = e;
                }
                hole = j;
            }
        }
        if let Some(x) = self.index.get_mut(base + hole) {
            *x = EMPTY;
        }
        if let Some(s) = self.series.get_mut(slot) {
            s.state = FREE;
            s.op = Op::Observable;
            s.dirty = false;
        }
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.series = inst.stats.series.saturating_sub(1);
        }
    }

    // ----- collect, in steps that the critical-section wrapper runs one at a time -----

    fn collect_begin(&mut self, snapshot: &mut Snapshot<I, N, K, H, B>, now: UnixNanos) -> usize {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.epoch = 1;
        }
        snapshot.clear(now, self.epoch);
        self.prev_collect = self.last_collect;
        self.last_collect = now;
        self.instrument_count
    }

    /// Slots of instrument `i` (its series plus the overflow series).
    fn slot_count(&self, i: usize) -> usize {
        self.inst(i).map_or(0, |inst| usize::from(inst.cap) + 1)
    }

    /// Runs the callback of observable instrument `i`.
    fn collect_observe(&mut self, i: usize) {
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

    /// Copies series `j` of instrument `i` into the snapshot if it has something to export.
    fn collect_series(&mut self, i: usize, j: usize, snapshot: &mut Snapshot<I, N, K, H, B>) {
        let Some(inst) = self.inst(i) else { return };
        if j > usize::from(inst.cap) {
            return;
        }
        let slot = usize::from(inst.base) + j;
        let Some(s) = self.series.get(slot) else {
            return;
        };
        if s.state == FREE || !s.dirty {
            return;
        }
        let hist = if inst.desc.is_histogram() {
            let Some(h) = self.hist.get(usize::from(inst.hist_base) + j) else {
                return;
            };
            let at = h.at as usize;
            let Some(words) = self.buckets.get(at..at + usize::from(inst.stride)) else {
                return;
            };
            Some((h, words))
        } else {
            None
        };
        let hist_index = hist.is_some().then(|| usize::from(inst.hist_base) + j);
        snapshot.push(i as u16, inst, slot as u16, s, hist);
        if let Some(h) = hist_index.and_then(|index| self.hist.get_mut(index)) {
            h.since_min = f64::INFINITY;
            h.since_max = f64::NEG_INFINITY;
        }
    }

    /// Commits point `p` of metric `m` of the snapshot (Delivered or Dropped).
    fn settle_point(&mut self, snapshot: &Snapshot<I, N, K, H, B>, m: usize, p: usize) {
        // A snapshot older than the latest collect is stale: the newer one already carries
        // everything it did, so committing it could subtract the same values twice.
        if snapshot.epoch() != self.epoch {
            return;
        }
        let Some((i, sp, snap_hist)) = snapshot.point_for_settle(m, p) else {
            return;
        };
        let i = usize::from(i);
        let slot = usize::from(sp.slot);
        let Some(inst) = self.inst(i) else { return };
        let (kind, number, temporality) = (inst.desc.kind, inst.desc.number, inst.temporality);
        let j = slot.wrapping_sub(usize::from(inst.base));
        if j > usize::from(inst.cap) {
            return;
        }
        let hist_index = usize::from(inst.hist_base) + j;
        let stride = usize::from(inst.stride);
        let max_size = usize::from(inst.desc.max_size);
        let epoch = snapshot.epoch();
        let time = snapshot.time();
        let Some(s) = self.series.get_mut(slot) else {
            return;
        };
        if s.state == FREE || s.key != sp.key || s.settled == epoch {
            return;
        }
        s.settled = epoch;
        if temporality == Temporality::Cumulative || kind.is_observable() {
            return;
        }
        let since = s.recorded != sp.recorded;
        match (kind, number) {
            (InstrumentKind::Counter | InstrumentKind::UpDownCounter, _) if !since => s.value = 0,
            (InstrumentKind::Counter | InstrumentKind::UpDownCounter, NumberKind::Int) => {
                s.value = s.value.wrapping_sub(sp.value);
            }
            (InstrumentKind::Counter | InstrumentKind::UpDownCounter, NumberKind::Double) => {
                s.value = (f64::from_bits(s.value) - f64::from_bits(sp.value)).to_bits();
            }
            _ => {}
        }
        s.start = s.start.max(time);
        let pinned = s.state == PINNED;
        if since {
            if let (Some((sh, sbuckets)), Some(h)) = (snap_hist, self.hist.get_mut(hist_index)) {
                let at = h.at as usize;
                if let Some(words) = self.buckets.get_mut(at..at + stride) {
                    hist_subtract(kind, h, words, max_size, sh, sbuckets);
                }
            }
            return;
        }
        // Nothing since the snapshot: the series is now empty.
        if let Some(s) = self.series.get_mut(slot) {
            s.dirty = false;
        }
        self.reset_hist(i, slot);
        if !pinned {
            self.reclaim(i, slot);
        }
    }
}

/// Records `v` into an exponential histogram, downscaling first when it would not fit.
/// The explicit bucket of `v`: the number of (ascending) bounds below it, by binary search.
/// Up to 15 bounds (the default has 15), four fixed steps, a missing bound counting as
/// above `v`.
#[inline(always)]
fn bucket_of(bounds: &[f64], v: f64) -> usize {
    if bounds.len() > 15 {
        return bounds.partition_point(|b| *b < v);
    }
    let mut lo = 0;
    for step in [8, 4, 2, 1] {
        if bounds.get(lo + step - 1).is_some_and(|b| *b < v) {
            lo += step;
        }
    }
    lo
}

fn expo_record(h: &mut HistState, words: &mut [u64], max_size: usize, v: f64) {
    let mag = v.abs();
    if mag == 0.0 {
        h.zero_count += 1;
        return;
    }
    let (pos_words, neg_words) = words.split_at_mut(max_size.min(words.len()));
    let mut index = map_to_index(mag, h.scale);
    let window = if v > 0.0 { h.pos } else { h.neg };
    let k = window
        .downscale_needed(index, max_size)
        .min((i32::from(h.scale) - i32::from(MIN_SCALE)) as u32);
    if k > 0 {
        h.pos.downscale(pos_words, k);
        h.neg.downscale(neg_words, k);
        h.scale -= k as i8;
        index = map_to_index(mag, h.scale);
    }
    if v > 0.0 {
        h.pos.add(pos_words, index, 1);
    } else {
        h.neg.add(neg_words, index, 1);
    }
}

/// Subtracts a snapshot's histogram from the live one (delta commit).
fn hist_subtract(
    kind: InstrumentKind,
    h: &mut HistState,
    words: &mut [u64],
    max_size: usize,
    snap: &HistState,
    snap_words: &[u64],
) {
    h.count = h.count.saturating_sub(snap.count);
    h.sum -= snap.sum;
    // What remains is exactly what was recorded after the snapshot.
    h.min = h.since_min;
    h.max = h.since_max;
    h.zero_count = h.zero_count.saturating_sub(snap.zero_count);
    if kind == InstrumentKind::Histogram {
        for (w, s) in words.iter_mut().zip(snap_words) {
            *w = w.saturating_sub(*s);
        }
        return;
    }
    // The live scale is at most the snapshot's: map snapshot buckets down to it.
    let shift = (i32::from(snap.scale) - i32::from(h.scale)).clamp(0, 63) as u32;
    let (pos_words, neg_words) = words.split_at_mut(max_size.min(words.len()));
    let (snap_pos, snap_neg) = snap_words.split_at(usize::from(snap.pos.len).min(snap_words.len()));
    for (window, live, side, sw) in [
        (&mut h.pos, pos_words, &snap.pos, snap_pos),
        (&mut h.neg, neg_words, &snap.neg, snap_neg),
    ] {
        for (j, c) in sw.iter().enumerate().take(usize::from(side.len)) {
            let index = (i64::from(side.offset) + j as i64) >> shift;
            let at = index - i64::from(window.offset);
            if at >= 0 && at < i64::from(window.len) {
                if let Some(w) = live.get_mut(at as usize) {
                    *w = w.saturating_sub(*c);
                }
            }
        }
        window.trim(live);
    }
}

/// What a callback reports into.
struct Observer<'r, const I: usize, const N: usize, const K: usize, const H: usize, const B: usize>
{
    registry: &'r mut Registry<I, N, K, H, B>,
    instrument: usize,
}

impl<const I: usize, const N: usize, const K: usize, const H: usize, const B: usize> Observe
    for Observer<'_, I, N, K, H, B>
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
            NumberKind::Int => value.as_i64() as u64,
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
        s.recorded = s.recorded.wrapping_add(1);
        s.dirty = true;
    }
}

impl<const I: usize, const N: usize, const K: usize, const H: usize, const B: usize> Producer
    for Registry<I, N, K, H, B>
{
    type Snapshot = Snapshot<I, N, K, H, B>;

    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos) {
        let count = self.collect_begin(snapshot, now);
        for i in 0..count {
            self.collect_observe(i);
            for j in 0..self.slot_count(i) {
                self.collect_series(i, j, snapshot);
            }
        }
    }

    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement) {
        if settlement == Settlement::Abandoned {
            return;
        }
        snapshot.for_each_in(span, |m, p| self.settle_point(snapshot, m, p));
    }
}

#[cfg(feature = "defmt")]
impl<const I: usize, const N: usize, const K: usize, const H: usize, const B: usize> defmt::Format
    for Registry<I, N, K, H, B>
{
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Registry {{ instruments: {=usize}/{=usize}, series reserved: {=usize}/{=usize}, histogram series: {=usize}/{=usize}, buckets: {=usize}/{=usize} }}",
            self.instrument_count,
            I,
            self.series_used,
            N,
            self.hist_used,
            H,
            self.buckets_used,
            B
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{AttributeValue, MetricsSource, PointValue};

    /// The remembered empty-set series is forgotten when it is reclaimed: a later record
    /// with no attributes must not land in the series that reused its slot.
    #[test]
    fn empty_set_slot_is_forgotten_on_reclaim() {
        let mut reg: Registry<1, 2, 16, 1, 1> = Registry::new(1);
        let c = reg
            .declare(
                InstrumentDesc::counter_u64("c")
                    .attributes(&["k"])
                    .max_series(1)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        let mut snap: Snapshot<1, 2, 16, 1, 1> = Snapshot::new();
        reg.record(c, 1u64, &[]).unwrap();
        reg.collect(&mut snap, 2);
        assert_eq!(snap.point_count(0), 1);
        // Delivered with nothing since: the series is reclaimed.
        reg.settle(&snap, snap.full_span(), Settlement::Delivered);
        let kv = [KeyValue::new("k", AttributeValue::Str("v"))];
        reg.record(c, 5u64, &kv).unwrap();
        // The only slot is taken by {k=v}: no attributes now overflow.
        reg.record(c, 2u64, &[]).unwrap();
        reg.collect(&mut snap, 3);
        assert_eq!(snap.point_count(0), 2);
        assert_eq!(snap.point(0, 0).value, PointValue::Int(5));
        assert_eq!(snap.point(0, 1).value, PointValue::Int(2));
        assert_eq!(reg.stats(c).unwrap().overflowed, 1);
    }

    /// The fixed-step search agrees with counting the bounds below, for every length up to
    /// 17 and values on, between and beyond the bounds.
    #[test]
    fn bucket_of_counts_bounds_below() {
        let all: [f64; 17] = core::array::from_fn(|k| k as f64 * 10.0);
        for n in 0..=all.len() {
            let bounds = &all[..n];
            for t in -1..=(n as i32 * 2 + 1) {
                let v = f64::from(t) * 5.0;
                let want = bounds.iter().filter(|b| **b < v).count();
                assert_eq!(bucket_of(bounds, v), want, "{n} bounds, v = {v}");
            }
        }
    }

    /// The remembered last series is only a shortcut: alternating attribute sets land in
    /// their own series, and a freed slot, or one reused by another attribute set, is not
    /// recorded into.
    #[test]
    fn last_series_shortcut_checks_state_and_key() {
        let mut reg: Registry<1, 3, 16, 1, 1> = Registry::new(1);
        let c = reg
            .declare(
                InstrumentDesc::counter_u64("c")
                    .attributes(&["k"])
                    .max_series(2)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        let a = [KeyValue::new("k", AttributeValue::Str("a"))];
        let b = [KeyValue::new("k", AttributeValue::Str("b"))];
        let x = [KeyValue::new("k", AttributeValue::Str("x"))];
        reg.record(c, 1u64, &a).unwrap();
        reg.record(c, 10u64, &b).unwrap();
        reg.record(c, 2u64, &a).unwrap();
        reg.record(c, 20u64, &b).unwrap();
        let mut snap: Snapshot<1, 3, 16, 1, 1> = Snapshot::new();
        reg.collect(&mut snap, 2);
        let mut got: heapless::Vec<(i64, bool), 4> = heapless::Vec::new();
        for p in 0..snap.point_count(0) {
            let point = snap.point(0, p);
            if let PointValue::Int(v) = point.value {
                let is_a = snap.attribute(0, p, 0) == a[0];
                got.push((v, is_a)).unwrap();
            }
        }
        got.sort_unstable();
        assert_eq!(got.as_slice(), &[(3, true), (30, false)]);
        // Both delivered with nothing since: both slots are freed.
        reg.settle(&snap, snap.full_span(), Settlement::Delivered);
        assert_eq!(reg.stats(c).unwrap().series, 0);
        // `b` was the last series found, and its slot is now free: `b` again must make a
        // new series, and `x` one of its own.
        reg.record(c, 7u64, &b).unwrap();
        reg.record(c, 5u64, &x).unwrap();
        reg.record(c, 1u64, &x).unwrap();
        reg.collect(&mut snap, 3);
        let mut got: heapless::Vec<(i64, bool), 4> = heapless::Vec::new();
        for p in 0..snap.point_count(0) {
            let point = snap.point(0, p);
            if let PointValue::Int(v) = point.value {
                let is_x = snap.attribute(0, p, 0) == x[0];
                got.push((v, is_x)).unwrap();
            }
        }
        got.sort_unstable();
        assert_eq!(got.as_slice(), &[(6, true), (7, false)]);
        assert_eq!(reg.stats(c).unwrap().overflowed, 0);
    }

    /// Integer adds through a bound handle take the short path; others (floats into an
    /// integer counter, negative increments) are checked and counted as before.
    #[test]
    fn bound_fast_path_keeps_the_checks() {
        let mut reg: Registry<2, 4, 16, 1, 1> = Registry::new(1);
        let c = reg
            .declare(InstrumentDesc::counter_u64("c").max_series(1))
            .unwrap();
        let u = reg
            .declare(InstrumentDesc::up_down_counter_i64("u").max_series(1))
            .unwrap();
        let bc = reg.bind(c, &[]).unwrap();
        let bu = reg.bind(u, &[]).unwrap();
        reg.record_bound(bc, 3u64).unwrap();
        assert_eq!(reg.record_bound(bc, -1i64), Err(RecordError::Negative));
        assert_eq!(reg.record_bound(bc, f64::NAN), Err(RecordError::NotFinite));
        reg.record_bound(bc, 2.0).unwrap();
        reg.record_bound(bu, -4i64).unwrap();
        reg.record_bound(bu, u64::MAX).unwrap(); // saturates to i64::MAX
        reg.record(c, 1u64, &[]).unwrap();
        let mut snap: Snapshot<2, 4, 16, 1, 1> = Snapshot::new();
        reg.collect(&mut snap, 2);
        assert_eq!(snap.point(0, 0).value, PointValue::Int(6));
        assert_eq!(snap.point(1, 0).value, PointValue::Int(i64::MAX - 4));
        assert_eq!(reg.stats(c).unwrap().rejected, 2);
    }
}
