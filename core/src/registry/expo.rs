//! Base-2 exponential histogram: the index mapping and bucket window operations.
//!
//! Bucket `i` at scale `s` holds values in `(2^(i / 2^s), 2^((i + 1) / 2^s)]` (upper bound
//! inclusive, as the OpenTelemetry data model defines). The index is computed from the
//! float's bits, so every boundary that a float can hold exactly (powers of two) maps
//! exactly, and subnormals map by their true magnitude. For scale > 0 the fraction comes from
//! `log2` of the mantissa; when that lands close to a boundary, an exact comparison in
//! double-double arithmetic decides (so `f64` `sqrt(2)`, which lies just above the true
//! root, lands above the scale-1 boundary).

/// Largest scale the data model allows.
pub const MAX_SCALE: i8 = 20;
/// Smallest scale the data model allows; at -10 every finite `f64` fits in three buckets.
pub const MIN_SCALE: i8 = -10;

/// `(e, m)` with `v = m * 2^e`, `m` in `[1, 2)`, for finite `v > 0`, exactly.
#[cfg(feature = "exponential-histogram")]
fn normalize(v: f64) -> (i32, f64) {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    if biased != 0 {
        (biased - 1023, f64::from_bits(frac | (1023u64 << 52)))
    } else {
        // Subnormal: shift the leading one up to the implicit bit position.
        let lz = frac.leading_zeros() as i32 - 11; // zeros within the 53-bit field
        let shifted = (frac << lz) & ((1u64 << 52) - 1);
        (-1022 - lz, f64::from_bits(shifted | (1023u64 << 52)))
    }
}

/// Bucket index of finite `v > 0` at `scale` (in `MIN_SCALE..=MAX_SCALE`).
#[cfg(feature = "exponential-histogram")]
pub fn map_to_index(v: f64, scale: i8) -> i32 {
    let (e, m) = normalize(v);
    let exact_pow2 = m == 1.0;
    if scale <= 0 {
        let e = if exact_pow2 { e - 1 } else { e };
        return e >> (-i32::from(scale));
    }
    let s = i32::from(scale);
    if exact_pow2 {
        return (e << s) - 1;
    }
    // m in (1, 2): sub-index j in 0..2^s with 2^(j/2^s) < m <= 2^((j+1)/2^s).
    let x = libm::log2(m) * f64::from(1u32 << s);
    let mut j = libm::ceil(x) as i32 - 1;
    let near = x - libm::floor(x);
    if !(1e-6..=1.0 - 1e-6).contains(&near) {
        // Close to a boundary: decide exactly. Candidate j must satisfy m > 2^(j/2^s) and
        // m <= 2^((j+1)/2^s).
        let max_j = (1i32 << s) - 1;
        j = j.clamp(0, max_j);
        if j > 0 && pow2_cmp(m, s, j) != core::cmp::Ordering::Greater {
            j -= 1;
        } else if j < max_j && pow2_cmp(m, s, j + 1) == core::cmp::Ordering::Greater {
            j += 1;
        }
    }
    (e << s) + j
}

/// Two-sum: `a + b = s + err` exactly.
#[cfg(feature = "exponential-histogram")]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    (s, err)
}

/// Compares `m^(2^s)` with `2^k` for `m` in `(1, 2)`, squaring `s` times in double-double
/// (about 104 bits) and renormalising the exponent after each step so nothing overflows.
#[cfg(feature = "exponential-histogram")]
fn pow2_cmp(m: f64, s: i32, k: i32) -> core::cmp::Ordering {
    let (mut hi, mut lo) = (m, 0.0f64);
    let mut exp: i64 = 0;
    for _ in 0..s {
        let p = hi * hi;
        let err = libm::fma(hi, hi, -p);
        let cross = 2.0 * hi * lo + lo * lo;
        let (h, l) = two_sum(p, err + cross);
        hi = h;
        lo = l;
        exp *= 2;
        // Scale back to [1, 2): dividing by a power of two is exact.
        while hi >= 2.0 {
            hi *= 0.5;
            lo *= 0.5;
            exp += 1;
        }
    }
    match exp.cmp(&i64::from(k)) {
        core::cmp::Ordering::Equal => {}
        other => return other,
    }
    if hi > 1.0 || (hi == 1.0 && lo > 0.0) {
        core::cmp::Ordering::Greater
    } else if hi == 1.0 && lo == 0.0 {
        core::cmp::Ordering::Equal
    } else {
        core::cmp::Ordering::Less
    }
}

/// One side of an exponential histogram: counts for indexes `offset..offset + len`, kept at
/// the front of a fixed slice of `max_size` words.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Window {
    pub offset: i32,
    pub len: u16,
}

impl Window {
    /// How much to downscale so that `index` fits next to the current window.
    #[cfg(feature = "exponential-histogram")]
    pub(crate) fn downscale_needed(&self, index: i32, max_size: usize) -> u32 {
        if self.len == 0 {
            return 0;
        }
        let (mut lo, mut hi) = (
            i64::from(self.offset.min(index)),
            i64::from((self.offset + i32::from(self.len) - 1).max(index)),
        );
        let mut k = 0;
        while hi - lo + 1 > max_size as i64 {
            lo >>= 1;
            hi >>= 1;
            k += 1;
        }
        k
    }

    /// Merges buckets pairwise `k` times: index `i` becomes `i >> k`.
    #[cfg(feature = "exponential-histogram")]
    pub(crate) fn downscale(&mut self, counts: &mut [u64], k: u32) {
        if k == 0 || self.len == 0 {
            return;
        }
        let k = k.min(63);
        let new_offset = (i64::from(self.offset) >> k) as i32;
        for j in 0..usize::from(self.len) {
            let old = i64::from(self.offset) + j as i64;
            let ni = ((old >> k) - i64::from(new_offset)) as usize;
            let c = counts.get(j).copied().unwrap_or(0);
            if let Some(slot) = counts.get_mut(j) {
                *slot = 0;
            }
            if let Some(slot) = counts.get_mut(ni) {
                *slot += c;
            }
        }
        let last = (i64::from(self.offset) + i64::from(self.len) - 1) >> k;
        self.len = (last - i64::from(new_offset) + 1) as u16;
        self.offset = new_offset;
    }

    /// Adds `n` at `index`, which must fit in `max_size` with the window (downscale first).
    #[cfg(feature = "exponential-histogram")]
    pub(crate) fn add(&mut self, counts: &mut [u64], index: i32, n: u64) {
        if self.len == 0 {
            self.offset = index;
            self.len = 1;
            if let Some(c) = counts.first_mut() {
                *c = n;
            }
            return;
        }
        if index < self.offset {
            let shift = (self.offset - index) as usize;
            let len = usize::from(self.len);
            if len + shift > counts.len() {
                return;
            }
            counts.copy_within(0..len, shift);
            for c in counts.iter_mut().take(shift) {
                *c = 0;
            }
            self.offset = index;
            self.len = (len + shift) as u16;
        }
        let at = (index - self.offset) as usize;
        if at >= counts.len() {
            return;
        }
        if at >= usize::from(self.len) {
            for c in counts.iter_mut().take(at).skip(usize::from(self.len)) {
                *c = 0;
            }
            self.len = (at + 1) as u16;
            counts[at] = 0;
        }
        counts[at] += n;
    }

    /// Trims zero counts from both ends (after a delta subtraction).
    pub(crate) fn trim(&mut self, counts: &mut [u64]) {
        let len = usize::from(self.len).min(counts.len());
        let first = counts[..len].iter().position(|c| *c != 0);
        match first {
            None => *self = Window::default(),
            Some(f) => {
                let last = counts[..len].iter().rposition(|c| *c != 0).unwrap_or(f);
                counts.copy_within(f..=last, 0);
                for c in counts.iter_mut().take(len).skip(last - f + 1) {
                    *c = 0;
                }
                self.offset += f as i32;
                self.len = (last - f + 1) as u16;
            }
        }
    }
}

#[cfg(all(test, feature = "exponential-histogram"))]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_are_upper_inclusive() {
        for scale in MIN_SCALE..=MAX_SCALE {
            for e in [-1074, -1022, -1, 0, 1, 2, 1023] {
                let v = libm::ldexp(1.0, e);
                let want = if scale <= 0 {
                    (e - 1) >> -i32::from(scale)
                } else {
                    (e << scale) - 1
                };
                assert_eq!(map_to_index(v, scale), want, "2^{e} at scale {scale}");
            }
        }
    }

    #[test]
    fn sqrt2_at_scale_1_lies_above_the_boundary() {
        // f64 sqrt(2) = 1.41421356237309514547... > 2^(1/2) = 1.41421356237309504880...
        assert_eq!(map_to_index(core::f64::consts::SQRT_2, 1), 1);
        // The float just below is below the true root.
        let below = f64::from_bits(core::f64::consts::SQRT_2.to_bits() - 1);
        assert_eq!(map_to_index(below, 1), 0);
    }

    #[test]
    fn extremes() {
        assert_eq!(map_to_index(f64::MAX, 20), (1 << 30) - 1);
        assert_eq!(map_to_index(f64::MAX, 0), 1023);
        assert_eq!(map_to_index(f64::MIN_POSITIVE, 0), -1023);
        assert_eq!(map_to_index(5e-324, 0), -1075);
        assert_eq!(map_to_index(5e-324, -10), (-1075) >> 10);
    }

    #[test]
    fn window_grows_downward_and_downscales() {
        let mut c = [0u64; 4];
        let mut w = Window::default();
        w.add(&mut c, 10, 1);
        w.add(&mut c, 8, 2);
        assert_eq!((w.offset, w.len, c), (8, 3, [2, 0, 1, 0]));
        assert_eq!(w.downscale_needed(12, 4), 1);
        w.downscale(&mut c, 1);
        assert_eq!((w.offset, w.len, &c[..2]), (4, 2, &[2u64, 1][..]));
        w.add(&mut c, 6, 5);
        assert_eq!((w.offset, w.len, c), (4, 3, [2, 1, 5, 0]));
    }
}
