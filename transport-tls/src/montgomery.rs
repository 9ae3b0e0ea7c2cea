//! Montgomery arithmetic modulo an odd number, over 32-bit limbs (least significant
//! first), shared by the RSA verifier (moduli up to 4096 bits) and the ECDSA verifier
//! (P-384's field prime and group order).
//!
//! Numbers live in fixed arrays of `L` limbs, of which a modulus uses its own count; the
//! work is done by non-generic functions over slices, so that RSA and ECDSA builds link one
//! copy of it. Multiplication is CIOS (coarsely integrated operand scanning): the product
//! and the reduction are interleaved row by row, needing one row of carry space instead of
//! a double-width product. 32-bit limbs with 64-bit products are native on the Cortex-M3/M4
//! (UMULL/UMLAL) and fine on 64-bit hosts.
//!
//! Every number these verifiers handle is public (keys, signatures, digests), so the code is
//! variable-time: it branches and returns early on values. It must not be used with secrets.

/// An odd modulus, the limbs it uses, and -n^-1 mod 2^32 for the reduction.
#[derive(Clone, Debug)]
pub(crate) struct Modulus<const L: usize> {
    n: [u32; L],
    limbs: usize,
    neg_inv: u32,
}

impl<const L: usize> Modulus<L> {
    /// The modulus `n`, which must be odd (callers check it: an even `n` has no
    /// Montgomery form). It uses the limbs up to its highest non-zero one; R, the
    /// Montgomery radix, is 2^(32 * that count).
    pub const fn new(n: [u32; L]) -> Self {
        let mut limbs = L;
        while limbs > 1 && n[limbs - 1] == 0 {
            limbs -= 1;
        }
        // Newton's iteration for n^-1 mod 2^32: each step doubles the correct low bits,
        // and n0 itself is correct to 3 bits for odd n0.
        let n0 = n[0];
        let mut inverse = n0;
        let mut i = 0;
        while i < 4 {
            inverse = inverse.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(inverse)));
            i += 1;
        }
        Modulus {
            n,
            limbs,
            neg_inv: inverse.wrapping_neg(),
        }
    }

    /// The modulus.
    pub fn value(&self) -> &[u32; L] {
        &self.n
    }

    /// How many limbs the modulus uses.
    pub fn limbs(&self) -> usize {
        self.limbs
    }

    /// `a * b * R^-1 mod n`, for `a < R` and `b < n` (so also for a, b < n): the product of
    /// two numbers in Montgomery form, or, with one of them in plain form, the plain product.
    pub fn multiply(&self, a: &[u32; L], b: &[u32; L]) -> [u32; L] {
        let s = self.limbs;
        let mut out = [0u32; L];
        montgomery_multiply(&mut out[..s], &a[..s], &b[..s], &self.n[..s], self.neg_inv);
        out
    }

    /// `a + b mod n`, for a, b < n.
    pub fn add(&self, a: &[u32; L], b: &[u32; L]) -> [u32; L] {
        let s = self.limbs;
        let mut out = *a;
        let carry = add_in_place(&mut out[..s], &b[..s]);
        if carry || !less_than(&out[..s], &self.n[..s]) {
            subtract_in_place(&mut out[..s], &self.n[..s]);
        }
        out
    }

    /// `a - b mod n`, for a, b < n.
    // Only the curve arithmetic subtracts; an RSA-only build leaves it out.
    #[cfg_attr(not(feature = "p384"), allow(dead_code))]
    pub fn subtract(&self, a: &[u32; L], b: &[u32; L]) -> [u32; L] {
        let s = self.limbs;
        let mut out = *a;
        if subtract_in_place(&mut out[..s], &b[..s]) {
            add_in_place(&mut out[..s], &self.n[..s]);
        }
        out
    }

    /// `x^exponent` of `x` in Montgomery form, staying in it, by left-to-right square and
    /// multiply; `exponent` (limbs, least significant first) must not be zero (for zero the
    /// result is `x`, not one: no caller raises to the power zero).
    pub fn power(&self, x: &[u32; L], exponent: &[u32]) -> [u32; L] {
        let Some(top) = top_bit(exponent) else {
            return *x;
        };
        let mut acc = *x;
        for bit in (0..top).rev() {
            acc = self.multiply(&acc, &acc);
            if bit_of(exponent, bit) {
                acc = self.multiply(&acc, x);
            }
        }
        acc
    }
}

/// CIOS Montgomery multiplication: `out = a * b * 2^(-32 * s) mod n`, all slices of the
/// same length s >= 1, `n` odd with `neg_inv = -n^-1 mod 2^32`, `a * b < n * 2^(32 * s)`.
// Out of line and not generic: one copy serves every modulus size.
#[inline(never)]
fn montgomery_multiply(out: &mut [u32], a: &[u32], b: &[u32], n: &[u32], neg_inv: u32) {
    let s = n.len();
    // Equal lengths, said once, let the compiler drop the bounds checks in the loops.
    if s == 0 || out.len() != s || a.len() != s || b.len() != s {
        return;
    }
    out.fill(0);
    // The two limbs above `out`: together `out` and `top` are the running sum t.
    let mut top = 0u32;
    for &bi in b {
        let mut carry = 0u64;
        for (tj, aj) in out.iter_mut().zip(a) {
            let x = u64::from(*tj) + u64::from(*aj) * u64::from(bi) + carry;
            *tj = x as u32;
            carry = x >> 32;
        }
        let x = u64::from(top) + carry;
        let (top_low, top_high) = (x as u32, (x >> 32) as u32);
        // Add u * n, which makes the lowest limb zero, and shift down one limb.
        let u = out[0].wrapping_mul(neg_inv);
        let mut carry = (u64::from(out[0]) + u64::from(u) * u64::from(n[0])) >> 32;
        for j in 1..s {
            let x = u64::from(out[j]) + u64::from(u) * u64::from(n[j]) + carry;
            out[j - 1] = x as u32;
            carry = x >> 32;
        }
        let x = u64::from(top_low) + carry;
        out[s - 1] = x as u32;
        top = top_high + (x >> 32) as u32;
    }
    // t < 2n: one conditional subtraction.
    if top != 0 || !less_than(out, n) {
        subtract_in_place(out, n);
    }
}

/// a < b, both the same length, most significant limb last.
pub(crate) fn less_than(a: &[u32], b: &[u32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// a += b (mod 2^(32 * len)); true when it carried out.
pub(crate) fn add_in_place(a: &mut [u32], b: &[u32]) -> bool {
    let mut carry = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let sum = u64::from(*x) + u64::from(*y) + carry;
        *x = sum as u32;
        carry = sum >> 32;
    }
    carry != 0
}

/// a -= b (mod 2^(32 * len)); true when it borrowed (b was larger).
pub(crate) fn subtract_in_place(a: &mut [u32], b: &[u32]) -> bool {
    let mut borrow = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let d = u64::from(*x)
            .wrapping_sub(u64::from(*y))
            .wrapping_sub(borrow);
        *x = d as u32;
        borrow = (d >> 63) & 1;
    }
    borrow != 0
}

/// The index of the highest set bit, if any.
pub(crate) fn top_bit(x: &[u32]) -> Option<usize> {
    let (i, limb) = x.iter().enumerate().rev().find(|(_, limb)| **limb != 0)?;
    Some(32 * i + 31 - limb.leading_zeros() as usize)
}

/// Bit `i` of `x` (false past its end).
pub(crate) fn bit_of(x: &[u32], i: usize) -> bool {
    x.get(i / 32).is_some_and(|limb| limb >> (i % 32) & 1 == 1)
}

/// A big-endian byte string as limbs, least significant first; `None` if it does not fit.
pub(crate) fn from_be_bytes<const L: usize>(bytes: &[u8]) -> Option<[u32; L]> {
    let significant = bytes
        .get(bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len())..)
        .unwrap_or(&[]);
    if significant.len() > 4 * L {
        return None;
    }
    let mut limbs = [0u32; L];
    for (i, byte) in significant.iter().rev().enumerate() {
        limbs[i / 4] |= u32::from(*byte) << (8 * (i % 4));
    }
    Some(limbs)
}

/// The low `out.len()` bytes of `x`, big-endian (zeros past its end).
#[cfg(any(test, feature = "rsa"))]
pub(crate) fn write_be_bytes(x: &[u32], out: &mut [u8]) {
    let len = out.len();
    for (i, byte) in out.iter_mut().enumerate() {
        let position = len - 1 - i;
        *byte = x
            .get(position / 4)
            .map_or(0, |limb| (limb >> (8 * (position % 4))) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(value: u64) -> [u32; 4] {
        [value as u32, (value >> 32) as u32, 0, 0]
    }

    #[test]
    fn products_sums_and_powers_mod_a_small_prime() {
        // n = 2^61 - 1 (a Mersenne prime) in two limbs: R = 2^64, R mod n = 2^3 = 8,
        // so R^2 mod n = 64.
        let n = Modulus::new(small((1 << 61) - 1));
        assert_eq!(n.limbs(), 2);
        let r2 = small(64);
        let to = |x: u64| n.multiply(&small(x), &r2);
        let from = |x: &[u32; 4]| n.multiply(x, &small(1));
        let a = 1_234_567_890_123_456_789u64; // below n
        let b = 987_654_321_987_654_321u64;
        let expected = (u128::from(a) * u128::from(b) % ((1u128 << 61) - 1)) as u64;
        assert_eq!(from(&n.multiply(&to(a), &to(b))), small(expected));
        // One factor plain: the product comes out plain.
        assert_eq!(n.multiply(&small(a), &to(b)), small(expected));
        let m = (1u64 << 61) - 1;
        assert_eq!(n.add(&small(m - 1), &small(5)), small(4));
        assert_eq!(n.subtract(&small(3), &small(5)), small(m - 2));
        assert_eq!(n.subtract(&small(5), &small(3)), small(2));
        // Fermat: a^(n-1) = 1 and a^(n-2) = a^-1.
        assert_eq!(from(&n.power(&to(a), &small(m - 1))), small(1));
        let inverse = from(&n.power(&to(a), &small(m - 2)));
        assert_eq!(
            from(&n.multiply(&to(a), &n.multiply(&inverse, &r2))),
            small(1)
        );
        assert_eq!(from(&n.power(&to(3), &small(5))), small(243));
    }

    #[test]
    fn a_modulus_counts_its_limbs() {
        assert_eq!(Modulus::new([7u32, 0, 0, 0]).limbs(), 1);
        assert_eq!(Modulus::new([7u32, 0, 1, 0]).limbs(), 3);
        // 7 * 0xb6db6db7 = 5 * 2^32 + 1: the inverse of 7 mod 2^32 is 0xb6db6db7.
        assert_eq!(Modulus::new([7u32]).neg_inv, 0xb6db_6db7u32.wrapping_neg());
    }

    #[test]
    fn bytes_and_bits() {
        assert_eq!(from_be_bytes::<2>(&[1, 2, 3, 4, 5]), Some([0x0203_0405, 1]));
        assert_eq!(
            from_be_bytes::<2>(&[0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
            Some([0x0506_0708, 0x0102_0304])
        );
        assert_eq!(from_be_bytes::<2>(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
        assert_eq!(from_be_bytes::<2>(&[]), Some([0, 0]));
        let mut out = [0u8; 6];
        write_be_bytes(&[0x0304_0506, 0x0102], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        let mut long = [0xffu8; 10];
        write_be_bytes(&[0x0304_0506, 0x0102], &mut long);
        assert_eq!(long, [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(top_bit(&[0, 0]), None);
        assert_eq!(top_bit(&[1, 0]), Some(0));
        assert_eq!(top_bit(&[0xffff, 0x8000_0000]), Some(63));
        assert!(bit_of(&[0, 2], 33));
        assert!(!bit_of(&[0, 2], 32));
        assert!(!bit_of(&[0, 2], 99));
    }
}
