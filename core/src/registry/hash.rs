//! Series hashing: a series' hash is the sum of one hash per present attribute value, each
//! mixed with its declared key's index, so it does not depend on the order the caller
//! passes attributes in, and it is computed from the values themselves (reading back a
//! freshly packed key would stall on store forwarding). Not for adversarial input: a
//! collision only costs a longer probe and a compare.

use super::key::{
    read4, read8, slot, value_at, Located, MAX_KEYS, TAG_DOUBLE, TAG_INT, TAG_STR, TAG_TRUE,
};
use crate::proto::{AttributeValue, KeyValue};

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// Multiplies and folds the 128-bit product: every input bit reaches the middle bits.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn mix(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The hash of value `v` of declared key `d`.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline(never))]
pub(super) fn value_hash(d: usize, v: &AttributeValue<'_>) -> u64 {
    let seed = SEED.wrapping_mul(d as u64 + 1);
    match *v {
        AttributeValue::Bool(b) => mix(seed ^ u64::from(b), MUL ^ u64::from(TAG_TRUE)),
        AttributeValue::Int(x) => mix(seed ^ x as u64, MUL ^ u64::from(TAG_INT)),
        AttributeValue::Double(x) => mix(seed ^ x.to_bits(), MUL ^ u64::from(TAG_DOUBLE)),
        AttributeValue::Str(s) => {
            let b = s.as_bytes();
            let n = b.len();
            // The length goes into the multiplier, which makes the overlapping word loads
            // of short strings and of tails unambiguous.
            let m = MUL ^ (u64::from(TAG_STR) + ((n as u64) << 8));
            if n <= 8 {
                mix(seed ^ short_word(b), m)
            } else if n <= 16 {
                mix(seed ^ read8(b, 0), m).wrapping_add(mix(seed ^ read8(b, n - 8), m ^ SEED))
            } else {
                long_hash(seed, m, b)
            }
        }
    }
}

#[inline(never)]
fn long_hash(seed: u64, m: u64, b: &[u8]) -> u64 {
    let n = b.len();
    let mut h = 0u64;
    let mut i = 0;
    let mut k = seed;
    while i + 8 <= n {
        h = h.wrapping_add(mix(k ^ read8(b, i), m));
        k = k.wrapping_add(SEED);
        i += 8;
    }
    if i < n {
        h = h.wrapping_add(mix(k ^ read8(b, n - 8), m));
    }
    h
}

/// Up to 8 bytes as one word (overlapping loads; the caller mixes in the length).
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        read8(b, 0)
    } else if n >= 4 {
        read4(b, 0) | (read4(b, n - 4) << 32)
    } else if n > 0 {
        let at = |i: usize| u64::from(b.get(i).copied().unwrap_or(0));
        at(0) | (at(n / 2) << 8) | (at(n - 1) << 16)
    } else {
        0
    }
}

/// Hash of a whole byte string (the packed key of an instrument without declared keys,
/// already in one canonical order).
pub(super) fn hash_bytes(b: &[u8]) -> u64 {
    let m = MUL ^ ((b.len() as u64) << 8);
    let h = if b.len() <= 8 {
        mix(SEED ^ short_word(b), m)
    } else {
        long_hash(SEED, m, b)
    };
    finish(h)
}

/// Spreads the summed value hashes (the top bits pick the table position).
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(super) fn finish(h: u64) -> u64 {
    mix(h ^ SEED, MUL)
}

/// Hash of a packed key: the same as [`pack_in_order`](super::key::pack_in_order) gives for the values it holds.
pub(super) fn hash_key(keys: &[&str], key: &[u8]) -> u64 {
    let mut h = 0u64;
    let mut pos = 0;
    for d in 0..keys.len() {
        let (v, next) = slot(key, pos);
        if let Some(v) = v {
            h = h.wrapping_add(value_hash(d, &v));
        }
        pos = next;
    }
    finish(h)
}

/// The hash [`encode_hashed`](super::key::encode_hashed) gives for attributes [`pack_unhashed`](super::key::pack_unhashed) accepted (so in
/// declared order: the keys are not looked at again), from the values alone.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(super) fn hash_in_order(attrs: &[KeyValue<'_>]) -> u64 {
    let mut h = 0u64;
    for (d, kv) in attrs.iter().enumerate() {
        h = h.wrapping_add(value_hash(d, &kv.value));
    }
    finish(h)
}

/// The hash [`encode_hashed`](super::key::encode_hashed) gives for attributes [`pack_declared`](super::key::pack_declared) accepted, from the
/// values alone (reading the fresh key back would stall on store forwarding).
#[inline(never)]
pub(super) fn hash_located(attrs: &[KeyValue<'_>], at: &Located, keys: usize) -> u64 {
    let mut h = 0u64;
    for d in 0..keys.min(MAX_KEYS) {
        if let Some(v) = value_at(attrs, at, d) {
            h = h.wrapping_add(value_hash(d, v));
        }
    }
    finish(h)
}
