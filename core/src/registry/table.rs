//! The series table of each instrument: an open-addressing index over its slice of the
//! registry's series, the lookup that finds or creates the series of an attribute set, the
//! overflow series when the table is full, and reclaiming a series that has nothing left
//! to export.

use super::aggregate::HistState;
use super::desc::Number;
use super::{hash, key, open, pack};
use super::{Inst, Op, Registry, PREFER_SIZE};
use crate::proto::KeyValue;
use crate::time::UnixNanos;

/// Series states.
pub(super) const FREE: u8 = 0;
pub(super) const LIVE: u8 = 1;
pub(super) const PINNED: u8 = 2;
/// An empty index entry, and "no series" in `Inst::empty_slot` / `Inst::last_slot`.
pub(super) const EMPTY: u16 = u16::MAX;

#[derive(Copy, Clone, Debug)]
pub(super) struct Series<const ATTRIBUTE_BYTES: usize> {
    /// Sum (i64 wrapping or f64 bits) or last value.
    pub(super) value: u64,
    pub(super) start: UnixNanos,
    /// Measurements so far (wrapping): tells a commit whether anything came after the snapshot.
    /// (Observable series: half of [`Series::delta_base`].)
    pub(super) recorded: u32,
    /// Epoch of the last snapshot committed, so a point settled twice commits once.
    /// (Observable series: the other half of [`Series::delta_base`].)
    pub(super) settled: u32,
    /// The top 16 bits of the key's hash, compared before the key (0 with feature
    /// `prefer-size`, whose lookup compares keys whole).
    pub(super) hash: u16,
    pub(super) state: u8,
    /// Has something to export.
    pub(super) dirty: bool,
    /// The owning instrument's op, so bound and no-attribute records need not look the
    /// instrument up (fits in what was padding). `Observable` while the slot is free, so
    /// [`Series::add_int`] refuses a free slot with no separate state check.
    pub(super) op: Op,
    pub(super) key: [u8; ATTRIBUTE_BYTES],
}

impl<const ATTRIBUTE_BYTES: usize> Series<ATTRIBUTE_BYTES> {
    pub(super) const EMPTY: Self = Series {
        value: 0,
        start: 0,
        recorded: 0,
        settled: 0,
        hash: 0,
        state: FREE,
        dirty: false,
        op: Op::Observable,
        key: [0; ATTRIBUTE_BYTES],
    };

    /// An observable sum under delta temporality: the total its callback reported for the
    /// last committed point (0 for a new series), which the next delta point is counted
    /// from. It lives in the words `recorded` and `settled` hold for other series: an
    /// observable series takes no measurements to count, and its commit sets this base to
    /// the committed total, which is safe to repeat, so it needs no epoch either.
    pub(super) fn delta_base(&self) -> u64 {
        u64::from(self.recorded) | (u64::from(self.settled) << 32)
    }

    /// Sets [`delta_base`](Self::delta_base).
    pub(super) fn set_delta_base(&mut self, base: u64) {
        self.recorded = base as u32;
        self.settled = (base >> 32) as u32;
    }

    /// Adds an integer measurement to this live integer-sum series; false when the
    /// measurement needs the general path (another op, a float, a negative increment to a
    /// counter), which then also does the checks and counting.
    #[inline(always)]
    pub(super) fn add_int(&mut self, value: Number) -> bool {
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

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// The series of the empty attribute set (created if needed), remembered for the next
    /// record with no attributes. (Not with feature `prefer-size`, which remembers no
    /// series: [`find_or_insert_packed`](Self::find_or_insert_packed) finds every one.)
    #[cold]
    #[inline(never)]
    pub(super) fn find_empty(&mut self, i: usize) -> usize {
        let Some(inst) = self.inst(i) else {
            return usize::MAX;
        };
        if inst.empty_slot != EMPTY {
            return usize::from(inst.empty_slot);
        }
        let (base, cap) = (usize::from(inst.base), usize::from(inst.cap));
        // What `find_or_insert(i, &[])` finds, without its packers: the empty set packs to
        // an all-zero key under every packing, with the hash of no values.
        let slot = self.find_or_insert_whole(
            i,
            base,
            cap,
            hash::hash_in_order(&[]),
            &[0; ATTRIBUTE_BYTES],
        );
        if let Some(inst) = self.inst_mut(i) {
            if slot < usize::from(inst.base) + usize::from(inst.cap) {
                inst.empty_slot = slot as u16;
            }
        }
        slot
    }

    /// The series slot for `attributes`, created if needed, or the overflow slot.
    #[cfg_attr(not(feature = "prefer-size"), inline(always))]
    #[cfg_attr(feature = "prefer-size", inline)]
    pub(super) fn find_or_insert(&mut self, i: usize, attributes: &[KeyValue<'_>]) -> usize {
        if PREFER_SIZE {
            // One general packer for every call: the fast packers give the same key and
            // hash, only sooner, and each is code of its own.
            return self.find_or_insert_packed(i, attributes);
        }
        let Some(inst) = self.inst(i) else {
            return usize::MAX;
        };
        let keys = inst.desc.attribute_keys;
        let base = usize::from(inst.base);
        let cap = usize::from(inst.cap);
        let last = usize::from(inst.last_slot);
        let mut key = [0u8; ATTRIBUTE_BYTES];
        if pack::pack_unhashed(keys, attributes, &mut key) {
            // Same instrument's slot (only its own lookups set it), live, same key: the same
            // series.
            if let Some(s) = self.series.get(last) {
                if s.state != FREE && key::key_eq(&s.key, &key) {
                    return last;
                }
            }
            let hash = hash::hash_in_order(attributes);
            return self.find_or_insert_whole(i, base, cap, hash, &key);
        }
        self.find_or_insert_packed(i, attributes)
    }

    /// The lookup for declared keys packed whole in `key` (hash `hash`), when they are not
    /// the last series found: probe, insert when absent; remembers the series. (With
    /// feature `prefer-size` its one caller is
    /// [`find_or_insert_packed`](Self::find_or_insert_packed), which every lookup takes.)
    #[inline(always)]
    pub(super) fn find_or_insert_whole(
        &mut self,
        i: usize,
        base: usize,
        cap: usize,
        hash: u64,
        key: &[u8; ATTRIBUTE_BYTES],
    ) -> usize {
        let slot = if PREFER_SIZE {
            // One scan that finds or inserts, by the key alone: no hash is computed (the
            // caller's is 0), and a series' hash stays 0.
            self.lookup_or_insert(i, 0, |s| key::key_eq(&s.key, key), |k| *k = *key)
        } else {
            let h = (hash >> 48) as u16;
            match self.find(base, cap, h, |s| key::key_eq(&s.key, key)) {
                Some(slot) => slot,
                None => self.insert_key(i, h, key),
            }
        };
        // (With `prefer-size` the scan is the lookup: no last series is remembered.)
        if !PREFER_SIZE && slot < base + cap {
            if let Some(inst) = self.inst_mut(i) {
                inst.last_slot = slot as u16;
            }
        }
        slot
    }

    /// A new attribute set (or a full table): looks up again and inserts, or overflows.
    #[cold]
    #[inline(never)]
    pub(super) fn insert_key(&mut self, i: usize, h: u16, key: &[u8; ATTRIBUTE_BYTES]) -> usize {
        self.lookup_or_insert(i, h, |s| s.key == *key, |k| *k = *key)
    }

    /// The existing series of instrument slots `base..base + cap` with hash `h` that
    /// `is_match`, if any.
    #[cfg_attr(not(feature = "prefer-size"), inline(always))]
    #[cfg_attr(feature = "prefer-size", inline)]
    pub(super) fn find(
        &self,
        base: usize,
        cap: usize,
        h: u16,
        is_match: impl Fn(&Series<ATTRIBUTE_BYTES>) -> bool,
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
    /// With feature `prefer-size` every lookup, the empty set's too (whose series that
    /// build does not remember: the scan finds it as any other).
    #[inline(never)]
    pub(super) fn find_or_insert_packed(&mut self, i: usize, attributes: &[KeyValue<'_>]) -> usize {
        let Some(inst) = self.inst(i) else {
            return usize::MAX;
        };
        let keys = inst.desc.attribute_keys;
        let (base, cap) = (usize::from(inst.base), usize::from(inst.cap));
        let last = usize::from(inst.last_slot);
        let mut key = [0u8; ATTRIBUTE_BYTES];
        let mut at = [key::ABSENT; key::MAX_KEYS];
        let hash = if !PREFER_SIZE && pack::pack_declared(keys, attributes, &mut key, &mut at) {
            // Declared keys in another order (or a subset): the same shortcut as in order.
            if let Some(s) = self.series.get(last) {
                if s.state != FREE && key::key_eq(&s.key, &key) {
                    return last;
                }
            }
            hash::hash_located(attributes, &at, keys.len())
        } else if keys.is_empty() && !attributes.is_empty() {
            // No declared keys (and some attributes, which `pack_declared` refuses then):
            // keys are stored too. With `prefer-size` packed here, so that both packings
            // share the lookup below.
            if !PREFER_SIZE {
                return self.find_or_insert_open(i, base, cap, last, attributes);
            }
            or_return!(self.pack_open(i, attributes, &mut key), base + cap);
            0
        } else {
            key = [0u8; ATTRIBUTE_BYTES];
            let (_, loss, hash) = key::encode_hashed(keys, attributes, &mut key);
            if loss != key::EncodeLoss::default() {
                self.count_loss(i, loss);
            }
            hash
        };
        // With `prefer-size` every lookup comes here, and the scan finds the last series
        // as it finds any other (keys are unique among live series): no shortcut.
        // One probe for both packings (one copy of it per registry type).
        self.find_or_insert_whole(i, base, cap, hash, &key)
    }

    /// The lookup for an instrument that declares no keys (a non-empty attribute set):
    /// keys and values are packed together ([`open`]); a set that does not fit goes to the
    /// overflow series, counted as oversized. Not inlined: the declared-key lookup that
    /// calls it stays as it was.
    #[inline(never)]
    fn find_or_insert_open(
        &mut self,
        i: usize,
        base: usize,
        cap: usize,
        last: usize,
        attributes: &[KeyValue<'_>],
    ) -> usize {
        let mut key = [0u8; ATTRIBUTE_BYTES];
        let len = or_return!(self.pack_open(i, attributes, &mut key), base + cap);
        // The set the last lookup found: no hash, no probe.
        if let Some(s) = self.series.get(last) {
            if s.state != FREE && key::key_eq(&s.key, &key) {
                return last;
            }
        }
        self.find_or_insert_whole(i, base, cap, open::hash(&key, len), &key)
    }

    /// Packs `attributes` (undeclared keys, instrument `i`) into `key` (zeroed) with
    /// [`open::pack`], counting what was dropped; returns the packed length, or `None` when
    /// the set does not fit (counted as oversized: it belongs in the overflow series). The
    /// caller hashes the key only when it needs to: not when the last series matches, and
    /// never with `prefer-size`, whose lookup compares keys whole.
    #[inline(always)]
    fn pack_open(
        &mut self,
        i: usize,
        attributes: &[KeyValue<'_>],
        key: &mut [u8; ATTRIBUTE_BYTES],
    ) -> Option<usize> {
        match open::pack(attributes, key) {
            open::Packed::Whole { len, dropped } => {
                if dropped > 0 {
                    let dropped = dropped.min(usize::from(u8::MAX)) as u8;
                    self.count_loss(
                        i,
                        key::EncodeLoss {
                            truncated: 0,
                            dropped,
                        },
                    );
                }
                Some(len)
            }
            open::Packed::TooLarge => {
                if let Some(inst) = self.inst_mut(i) {
                    inst.stats.oversized = inst.stats.oversized.saturating_add(1);
                }
                None
            }
        }
    }

    /// Probes instrument `i`'s table for a series with hash `h` that `is_match`; inserts
    /// one (its key written by `fill`) when absent and there is room, else overflows.
    #[cfg_attr(not(feature = "prefer-size"), inline(always))]
    #[cfg_attr(feature = "prefer-size", inline)]
    pub(super) fn lookup_or_insert(
        &mut self,
        i: usize,
        h: u16,
        is_match: impl Fn(&Series<ATTRIBUTE_BYTES>) -> bool,
        fill: impl FnOnce(&mut [u8; ATTRIBUTE_BYTES]),
    ) -> usize {
        let Some(inst) = self.inst(i) else {
            return usize::MAX;
        };
        let base = usize::from(inst.base);
        let cap = usize::from(inst.cap);
        let op = inst.op;
        let overflow = base + cap;
        if PREFER_SIZE {
            // No index: the instrument's series are scanned in order, a live one with the
            // same key found (no hash: keys are compared whole), else the first free one
            // taken. The same series and slots as the probe below (it inserts at the first
            // free slot too, and its index is full exactly when no slot is free), for no
            // index and no hash code.
            let mut free = None;
            for (j, s) in self
                .series
                .get(base..overflow)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                if s.state == FREE {
                    free = free.or(Some(j));
                } else if is_match(s) {
                    return base + j;
                }
            }
            let Some(free) = free else {
                return self.route_overflow(i, overflow);
            };
            return self.insert_at(i, base + free, h, op, fill);
        }
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
        if let Some(e) = self.index.get_mut(base + pos) {
            *e = free as u16;
        }
        self.insert_at(i, base + free, h, op, fill)
    }

    /// Instrument `i`'s declaration and its slot `j`: the series and, for a histogram, its
    /// state and buckets; `None` when the instrument has no slot `j` (its series, then its
    /// overflow series, are slots `0..=max_series`). What collect and settle both look up
    /// for a point, in one copy: the tables are borrowed apart, each looked up once.
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn slot_parts(
        &mut self,
        i: usize,
        j: usize,
    ) -> Option<SlotParts<'_, ATTRIBUTE_BYTES>> {
        // (An undeclared entry's one slot, `EMPTY`, is past every series an instrument can
        // reserve: never live.)
        let inst = self.instruments.get_mut(i)?;
        if j > usize::from(inst.cap) {
            return None;
        }
        let slot = usize::from(inst.base) + j;
        let series = self.series.get_mut(slot)?;
        let mut hist = None;
        if inst.desc.is_histogram() {
            let h = self.hist.get_mut(usize::from(inst.hist_base) + j)?;
            let at = h.at as usize;
            let words = self.buckets.get_mut(at..at + usize::from(inst.stride))?;
            hist = Some((h, words));
        }
        Some(SlotParts { inst, series, hist })
    }

    /// Makes free slot `slot` of instrument `i` (whose op is `op`) a new live series with
    /// hash `h`, its key written by `fill`; the caller indexes it.
    #[inline(always)]
    fn insert_at(
        &mut self,
        i: usize,
        slot: usize,
        h: u16,
        op: Op,
        fill: impl FnOnce(&mut [u8; ATTRIBUTE_BYTES]),
    ) -> usize {
        let mut key = [0u8; ATTRIBUTE_BYTES];
        fill(&mut key);
        self.start_series(slot, h, op, &key);
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.series = inst.stats.series.saturating_add(1);
        }
        slot
    }

    /// Makes free slot `slot` a new live series (op `op`, hash `h`, key `key`) that starts
    /// at the last collect: what an insertion and the overflow series' revival share. A
    /// free series' histogram is empty already (as declared, or cleared by the commit that
    /// freed it: see `settle_point`), so only the series is written. Inlined into both
    /// (with `prefer-size` too: its two callers are the lookup's and `apply`'s one copy
    /// each, and a call of its own took more than the series writes it holds).
    #[inline(always)]
    pub(super) fn start_series(
        &mut self,
        slot: usize,
        h: u16,
        op: Op,
        key: &[u8; ATTRIBUTE_BYTES],
    ) {
        let start = self.last_collect;
        if let Some(s) = self.series.get_mut(slot) {
            *s = Series {
                value: 0,
                start,
                recorded: 0,
                settled: 0,
                hash: h,
                state: LIVE,
                dirty: false,
                op,
                key: *key,
            };
        }
    }

    #[cold]
    pub(super) fn count_loss(&mut self, i: usize, loss: key::EncodeLoss) {
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
    pub(super) fn route_overflow(&mut self, i: usize, overflow: usize) -> usize {
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.overflowed = inst.stats.overflowed.saturating_add(1);
        }
        overflow
    }

    /// Removes series `slot` of instrument `i` from its table (it has nothing to export,
    /// and a histogram's state and buckets are cleared already).
    pub(super) fn reclaim(&mut self, i: usize, slot: usize) {
        let Some(inst) = self.inst_mut(i) else { return };
        if usize::from(inst.empty_slot) == slot {
            inst.empty_slot = EMPTY;
        }
        let base = usize::from(inst.base);
        let cap = usize::from(inst.cap);
        let Some(s) = self.series.get(slot) else {
            return;
        };
        let overflow = slot >= base + cap;
        if overflow || PREFER_SIZE {
            // The overflow series is not in the index (nor counted in `stats.series`), and
            // the `prefer-size` build keeps no index (see `lookup_or_insert`): freeing the
            // slot is all.
            if let (Some(inst), Some(s)) = (self.instruments.get_mut(i), self.series.get_mut(slot))
            {
                free_series(inst, s, slot);
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
        if let (Some(inst), Some(s)) = (self.instruments.get_mut(i), self.series.get_mut(slot)) {
            free_series(inst, s, slot);
        }
    }
}

/// Marks series `s`, slot `slot` of instrument `inst`, free (out of the index already):
/// no longer the empty set's series, and no longer counted unless it is the overflow
/// series (which is never counted).
pub(super) fn free_series<const ATTRIBUTE_BYTES: usize>(
    inst: &mut Inst,
    s: &mut Series<ATTRIBUTE_BYTES>,
    slot: usize,
) {
    // (`prefer-size` remembers no empty-set series.)
    if !PREFER_SIZE && usize::from(inst.empty_slot) == slot {
        inst.empty_slot = EMPTY;
    }
    s.state = FREE;
    s.op = Op::Observable;
    s.dirty = false;
    if slot < usize::from(inst.base) + usize::from(inst.cap) {
        inst.stats.series = inst.stats.series.saturating_sub(1);
    }
}

/// What [`Registry::slot_parts`] finds: an instrument's declaration, one of its series
/// and, for a histogram, that series' state and buckets.
pub(super) struct SlotParts<'r, const ATTRIBUTE_BYTES: usize> {
    pub(super) inst: &'r mut Inst,
    pub(super) series: &'r mut Series<ATTRIBUTE_BYTES>,
    pub(super) hist: Option<(&'r mut HistState, &'r mut [u64])>,
}
