//! Aggregation: what one measurement does to a series (sums, last values, explicit and
//! exponential histograms), and the delta commit that subtracts what a snapshot carried.

use super::desc::{InstrumentKind, Number};
use super::expo::Window;
#[cfg(feature = "exponential-histogram")]
use super::expo::{map_to_index, MIN_SCALE};
use super::table::FREE;
use super::{Op, RecordError, Registry, EXPONENTIAL, PREFER_SIZE};

/// Histogram aggregation state; `at` is where its buckets start in the bucket table.
#[derive(Copy, Clone, Debug)]
pub(super) struct HistState {
    pub(super) count: u64,
    pub(super) sum: f64,
    pub(super) min: f64,
    pub(super) max: f64,
    /// Min and max of the measurements since the last collect: min and max cannot be
    /// subtracted, so a delta commit with newer measurements takes these instead.
    pub(super) since_min: f64,
    pub(super) since_max: f64,
    pub(super) zero_count: u64,
    pub(super) at: u32,
    pub(super) pos: Window,
    pub(super) neg: Window,
    pub(super) scale: i8,
}

impl HistState {
    pub(super) const EMPTY: Self = HistState {
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

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Registry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// Applies one measurement to series `slot` of instrument `i`, whose op is `op`.
    #[cfg_attr(not(feature = "prefer-size"), inline(always))]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn apply(
        &mut self,
        i: usize,
        op: Op,
        slot: usize,
        value: Number,
    ) -> Result<(), RecordError> {
        let monotonic = matches!(op, Op::CounterInt | Op::CounterF64);
        if !value.is_finite() {
            return Err(self.reject(i, RecordError::NotFinite));
        }
        if monotonic && value.is_negative() {
            return Err(self.reject(i, RecordError::Negative));
        }
        let s = or_return!(
            self.series.get_mut(slot),
            Err(RecordError::UnknownInstrument)
        );
        if s.state == FREE {
            self.revive(i, op, slot)?;
        } else if !PREFER_SIZE && matches!(op, Op::CounterInt | Op::SumInt) {
            // Integer sums here, ahead of `apply_live`'s other ops (which does the same:
            // with `prefer-size` it is left to it).
            s.recorded = s.recorded.wrapping_add(1);
            s.dirty = true;
            s.value = s.value.wrapping_add(value.to_i64() as u64);
            return Ok(());
        }
        self.apply_live(i, op, slot, value)
    }

    /// Counts a rejected measurement; returns why it was rejected, `error`.
    #[cold]
    #[inline(never)]
    pub(super) fn reject(&mut self, i: usize, error: RecordError) -> RecordError {
        if let Some(inst) = self.inst_mut(i) {
            inst.stats.rejected = inst.stats.rejected.saturating_add(1);
        }
        error
    }

    /// A measurement for a free slot: the overflow series comes to life on its first one
    /// (the caller then applies it); any other free slot is not a series (a stale or
    /// foreign handle). With feature `prefer-size` inlined into `apply`'s one copy, its
    /// only caller (no call, no frame of its own); otherwise out of line, as `apply` is
    /// inlined into each record path.
    #[cold]
    #[cfg_attr(not(feature = "prefer-size"), inline(never))]
    #[cfg_attr(feature = "prefer-size", inline(always))]
    pub(super) fn revive(&mut self, i: usize, op: Op, slot: usize) -> Result<(), RecordError> {
        let inst = or_return!(self.inst(i), Err(RecordError::UnknownInstrument));
        if slot != usize::from(inst.base) + usize::from(inst.cap) {
            return Err(RecordError::UnknownInstrument);
        }
        // What `Series::EMPTY` holds: no hash, an all-zero key.
        self.start_series(slot, 0, op, &[0; ATTRIBUTE_BYTES]);
        Ok(())
    }

    /// Applies a (valid) measurement to a live series: [`apply`](Self::apply)'s one copy
    /// of it, for revived and live series alike.
    #[inline(always)]
    pub(super) fn apply_live(
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
        // (Integer sums usually took `apply`'s inline path already.)
        match op {
            Op::CounterInt | Op::SumInt | Op::GaugeInt => {
                // One conversion for the three integer ops.
                let v = value.to_i64() as u64;
                s.value = if op == Op::GaugeInt {
                    v
                } else {
                    s.value.wrapping_add(v)
                };
            }
            Op::CounterF64 | Op::SumF64 => {
                s.value = (f64::from_bits(s.value) + value.as_f64()).to_bits();
            }
            Op::GaugeF64 => s.value = value.as_f64().to_bits(),
            Op::Histogram => return self.record_explicit(i, slot, value.as_f64()),
            #[cfg(feature = "exponential-histogram")]
            Op::ExpoHistogram => return self.record_expo(i, slot, value.as_f64()),
            // Never declared without the feature (`DeclareError::KindNotEnabled`).
            #[cfg(not(feature = "exponential-histogram"))]
            Op::ExpoHistogram => return Err(RecordError::WrongKind),
            Op::Observable | Op::Undeclared => return Err(RecordError::WrongKind),
        }
        Ok(())
    }

    /// Records finite `v` into explicit-bucket histogram series `slot` of instrument `i`.
    #[inline(always)]
    pub(super) fn record_explicit(
        &mut self,
        i: usize,
        slot: usize,
        v: f64,
    ) -> Result<(), RecordError> {
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
        if less(v, h.min) {
            h.min = v;
        }
        if less(h.max, v) {
            h.max = v;
        }
        if less(v, h.since_min) {
            h.since_min = v;
        }
        if less(h.since_max, v) {
            h.since_max = v;
        }
        // In range by construction: a series owns `bounds.len() + 1` words from `at`.
        if let Some(c) = self.buckets.get_mut(h.at as usize + b) {
            *c += 1;
        }
        Ok(())
    }

    /// Records finite `v` into exponential histogram series `slot` of instrument `i`.
    #[cfg(feature = "exponential-histogram")]
    #[inline(never)]
    pub(super) fn record_expo(&mut self, i: usize, slot: usize, v: f64) -> Result<(), RecordError> {
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
}

/// The explicit bucket of `v`: the number of (ascending) bounds below it, by binary search.
/// Up to 15 bounds (the default has 15), four fixed steps, a missing bound counting as
/// above `v`. With `prefer-size`, one scan from the lowest bound to the first not below
/// `v` (the same count, as the bounds ascend; at most `bounds.len()` compares instead of
/// about log2 of it, for the shortest code).
#[inline(always)]
fn bucket_of(bounds: &[f64], v: f64) -> usize {
    if PREFER_SIZE {
        let mut below = 0;
        for b in bounds {
            if !less(*b, v) {
                break;
            }
            below += 1;
        }
        return below;
    }
    if bounds.len() > 15 {
        return bounds.partition_point(|b| less(*b, v));
    }
    let mut lo = 0;
    for step in [8, 4, 2, 1] {
        if bounds.get(lo + step - 1).is_some_and(|b| less(*b, v)) {
            lo += step;
        }
    }
    lo
}

/// `a < b` for values that are not NaN (measurements are finite, bounds finite, min and max
/// at most infinite). With feature `prefer-size` by an integer key that keeps their order,
/// so that a target with no double-precision hardware links no soft-float compare; the
/// two zeros share one key, so `-0.0 < 0.0` stays false. Called there, as the soft-float
/// compare was, one copy.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline(never))]
pub(super) fn less(a: f64, b: f64) -> bool {
    if PREFER_SIZE {
        order_key(a) < order_key(b)
    } else {
        a < b
    }
}

/// The bits of `x` read as sign and magnitude, as a two's complement integer: the same
/// order as `x` for every value but NaN, and 0 for both zeros.
#[inline(always)]
fn order_key(x: f64) -> i64 {
    let bits = x.to_bits() as i64;
    let sign = bits >> 63;
    ((bits & i64::MAX) ^ sign).wrapping_sub(sign)
}

/// Records `v` into an exponential histogram, downscaling first when it would not fit.
#[cfg(feature = "exponential-histogram")]
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

/// Empties a histogram series: no measurements, starting scale `scale`, every bucket 0
/// (`h` keeps where its buckets are).
pub(super) fn clear_hist(h: &mut HistState, words: &mut [u64], scale: i8) {
    *h = HistState {
        at: h.at,
        scale,
        ..HistState::EMPTY
    };
    words.fill(0);
}

/// Takes each of `snap`'s counts off the live count at the same place (saturating): a
/// histogram's count and its explicit buckets share this one loop.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline(never))]
fn subtract_counts(live: &mut [u64], snap: &[u64]) {
    for (w, s) in live.iter_mut().zip(snap) {
        *w = w.saturating_sub(*s);
    }
}

/// `a - b` of a live sum `a` and the snapshot's copy `b` of it (delta commits): with
/// feature `prefer-size` computed as `a + -b`, the negation a flip of the sign bit and the
/// sum the soft-float addition that recording links anyway, so no subtraction routine is
/// linked on targets without a double-precision FPU. The same value bit for bit: that is
/// how soft-float subtracts, and with an FPU the only case that could differ, a NaN `b`
/// with a number `a`, does not occur (a sum that was NaN at the snapshot stays NaN, and
/// of two NaNs the first is the result either way).
///
/// A sum that overflowed to an infinity before the snapshot is that infinity at both ends,
/// and `inf - inf` is NaN, which would then be exported until the series is freed. What
/// was recorded since the snapshot is lost with the overflow either way, so the live sum
/// starts again from 0 instead (tested on the bits: a float compare would link a
/// soft-float routine).
#[inline(always)]
pub(super) fn minus(a: f64, b: f64) -> f64 {
    let difference = if PREFER_SIZE {
        a + f64::from_bits(b.to_bits() ^ (1 << 63))
    } else {
        a - b
    };
    if difference.to_bits() & !(1 << 63) > f64::INFINITY.to_bits() {
        0.0
    } else {
        difference
    }
}

/// Subtracts a snapshot's histogram from the live one (delta commit).
pub(super) fn hist_subtract(
    kind: InstrumentKind,
    h: &mut HistState,
    words: &mut [u64],
    max_size: usize,
    snap: &HistState,
    snap_words: &[u64],
) {
    subtract_counts(core::slice::from_mut(&mut h.count), &[snap.count]);
    h.sum = minus(h.sum, snap.sum);
    // What remains is exactly what was recorded after the snapshot.
    h.min = h.since_min;
    h.max = h.since_max;
    // Without the feature every histogram is an explicit one, whose zero count stays 0.
    if EXPONENTIAL {
        h.zero_count = h.zero_count.saturating_sub(snap.zero_count);
    }
    if kind == InstrumentKind::Histogram || !EXPONENTIAL {
        subtract_counts(words, snap_words);
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

#[cfg(test)]
mod tests {
    use super::{bucket_of, less, minus, order_key};

    /// The integer key orders every pair of non-NaN values as `<` does, the zeros equal.
    #[test]
    fn order_key_orders_as_floats_do() {
        let values = [
            f64::NEG_INFINITY,
            f64::MIN,
            -1.5,
            -f64::MIN_POSITIVE,
            -5e-324,
            -0.0,
            0.0,
            5e-324,
            f64::MIN_POSITIVE,
            1.0,
            1.5,
            f64::MAX,
            f64::INFINITY,
        ];
        for a in values {
            for b in values {
                assert_eq!(order_key(a) < order_key(b), a < b, "{a:e} < {b:e}");
                assert_eq!(less(a, b), a < b, "{a:e} < {b:e}");
            }
        }
        assert_eq!(order_key(-0.0), order_key(0.0));
    }

    /// The commit's subtraction gives `a - b` bit for bit for numbers of every class (zeros
    /// of both signs, subnormals, infinities), except where that is NaN: the difference of
    /// two infinities of one sign, or a NaN `a` (which recording never makes), is 0.
    #[test]
    fn minus_is_subtraction_except_nan() {
        let values = [
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            f64::MIN_POSITIVE,
            1.0,
            -1.5,
            0.1,
            3.0e300,
            -3.0e300,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let nans = [f64::NAN, -f64::NAN, f64::from_bits(0x7FF0_0000_0000_0001)];
        let mut zeroed = 0;
        for a in values {
            for b in values {
                let exact = a - b;
                let expected = if exact.is_nan() { 0.0 } else { exact };
                zeroed += usize::from(exact.is_nan());
                assert_eq!(minus(a, b).to_bits(), expected.to_bits(), "{a:e} - {b:e}");
            }
        }
        // inf - inf and -inf - -inf.
        assert_eq!(zeroed, 2);
        for a in nans {
            for b in values.iter().chain(&nans) {
                assert_eq!(minus(a, *b).to_bits(), 0, "{a:e} - {b:e}");
            }
        }
    }

    /// A float's sign test from its bits agrees with `< 0.0`, NaNs of both signs included.
    #[test]
    fn is_negative_agrees_with_less_than_zero() {
        let values = [
            f64::NEG_INFINITY,
            f64::MIN,
            -1.0,
            -5e-324,
            -0.0,
            0.0,
            5e-324,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0xFFF0_0000_0000_0001),
            f64::from_bits(0xFFFF_FFFF_FFFF_FFFF),
        ];
        for v in values {
            assert_eq!(super::Number::F64(v).is_negative(), v < 0.0, "{v:e}");
        }
    }

    /// The search (fixed steps, or with `prefer-size` the general one) agrees with counting
    /// the bounds below, for every length up to 17 and values on, between and beyond the
    /// bounds.
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
}
