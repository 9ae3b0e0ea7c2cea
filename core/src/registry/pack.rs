//! The fast packers: attributes passed as the declared `&'static str` keys, in declared
//! order or any order, packed whole with word moves and no byte compares. Each gives the
//! same key as [`encode_hashed`](super::key::encode_hashed), which handles every other case
//! (undeclared or repeated keys, values that must be cut).

#[cfg(test)]
use super::hash::{hash_in_order, hash_located};
#[cfg(test)]
use super::key::ABSENT;
use super::key::{
    read4, read8, Located, MAX_KEYS, MAX_STR_LEN, TAG_DOUBLE, TAG_FALSE, TAG_INT, TAG_STR, TAG_TRUE,
};
use crate::proto::{AttributeValue, KeyValue};

/// Packs attributes passed as exactly the declared keys, in declared order, as the same
/// `&'static str` literals (the common case: one pointer compare per key), into `key`
/// (zeroed) as [`encode`](super::key::encode) would. False when they are not that, or do not all fit untruncated
/// (then try [`pack_declared`]).
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(super) fn pack_unhashed(keys: &[&str], attrs: &[KeyValue<'_>], key: &mut [u8]) -> bool {
    if attrs.len() != keys.len() {
        return false;
    }
    let mut pos = 0;
    for (kv, k) in attrs.iter().zip(keys) {
        if !(core::ptr::eq(kv.key.as_ptr(), k.as_ptr()) && kv.key.len() == k.len()) {
            return false;
        }
        match put_whole(key, pos, &kv.value) {
            Some(p) => pos = p,
            None => return false,
        }
    }
    true
}

/// Packs attributes whose keys are all declared, each passed once, as the same
/// `&'static str` literals that were declared (pointer equality: no byte compares), in any
/// order, into `key` (zeroed) exactly as [`encode`](super::key::encode) would, and records in `at` where each
/// declared key's value was. False when they are not that (an undeclared or repeated key, a
/// key passed as another string with the same bytes) or do not all fit untruncated: then
/// use [`encode_hashed`](super::key::encode_hashed), which handles every case.
///
/// `keys` must be distinct (`Registry::declare` refuses a key listed twice): with a key
/// declared twice one attribute could fill both places.
///
/// The declared-order case is [`pack_unhashed`]'s; this one costs a short scan of the
/// caller's slice per key. Not inlined: it takes a slice, so one copy serves every
/// registry configuration (firmware flash) for the price of a call.
#[inline(never)]
pub(super) fn pack_declared(
    keys: &[&str],
    attrs: &[KeyValue<'_>],
    key: &mut [u8],
    at: &mut Located,
) -> bool {
    if attrs.len() > keys.len() || keys.len() > MAX_KEYS {
        return false;
    }
    let mut pos = 0;
    let mut found = 0;
    for (d, k) in keys.iter().enumerate() {
        let same = |kv: &KeyValue<'_>| {
            core::ptr::eq(kv.key.as_ptr(), k.as_ptr()) && kv.key.len() == k.len()
        };
        let j = if attrs.get(d).is_some_and(same) {
            Some(d)
        } else {
            attrs.iter().position(same)
        };
        let (Some(j), Some(slot)) = (j, at.get_mut(d)) else {
            // Absent: the zero tag is already in place.
            pos += 1;
            continue;
        };
        *slot = j as u8;
        found += 1;
        match attrs.get(j).and_then(|kv| put_whole(key, pos, &kv.value)) {
            Some(p) => pos = p,
            None => return false,
        }
    }
    // Every attribute matched a distinct declared key: none undeclared, none repeated.
    found == attrs.len()
}

/// [`pack_declared`] and [`hash_located`] together, for tests.
#[cfg(test)]
pub(super) fn pack_any_order(keys: &[&str], attrs: &[KeyValue<'_>], key: &mut [u8]) -> Option<u64> {
    let mut at = [ABSENT; MAX_KEYS];
    if !pack_declared(keys, attrs, key, &mut at) {
        return None;
    }
    Some(hash_located(attrs, &at, keys.len()))
}

/// [`pack_unhashed`] and [`hash_in_order`] together, for tests.
#[cfg(test)]
pub(super) fn pack_in_order(keys: &[&str], attrs: &[KeyValue<'_>], key: &mut [u8]) -> Option<u64> {
    if !pack_unhashed(keys, attrs, key) {
        return None;
    }
    Some(hash_in_order(attrs))
}

/// Writes one value at `pos` untruncated with word moves; `None` when it does not fit.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn put_whole(key: &mut [u8], pos: usize, v: &AttributeValue<'_>) -> Option<usize> {
    match *v {
        AttributeValue::Bool(b) => {
            *key.get_mut(pos)? = if b { TAG_TRUE } else { TAG_FALSE };
            Some(pos + 1)
        }
        AttributeValue::Int(x) => put_word(key, pos, TAG_INT, x as u64),
        AttributeValue::Double(x) => put_word(key, pos, TAG_DOUBLE, x.to_bits()),
        AttributeValue::Str(s) => {
            let src = s.as_bytes();
            let n = src.len();
            if n > MAX_STR_LEN {
                return None;
            }
            let (tag, dst) = key.get_mut(pos..pos + 1 + n)?.split_first_mut()?;
            *tag = TAG_STR + n as u8;
            // Overlapping word moves: every byte is written, some twice with the same value.
            if n >= 8 {
                let mut i = 0;
                while i + 8 <= n {
                    write8(dst, i, read8(src, i));
                    i += 8;
                }
                if i < n {
                    write8(dst, n - 8, read8(src, n - 8));
                }
            } else if n >= 4 {
                write4(dst, 0, read4(src, 0));
                write4(dst, n - 4, read4(src, n - 4));
            } else if n > 0 {
                // Positions 0, n/2 and n-1 cover every byte of up to 3 (no memcpy call).
                for at in [0, n / 2, n - 1] {
                    if let (Some(d), Some(s)) = (dst.get_mut(at), src.get(at)) {
                        *d = *s;
                    }
                }
            }
            Some(pos + 1 + n)
        }
    }
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn put_word(key: &mut [u8], pos: usize, tag: u8, w: u64) -> Option<usize> {
    let (t, dst) = key.get_mut(pos..pos + 9)?.split_first_mut()?;
    *t = tag;
    write8(dst, 0, w);
    Some(pos + 9)
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn write8(dst: &mut [u8], at: usize, w: u64) {
    if let Some(d) = dst.get_mut(at..at + 8) {
        d.copy_from_slice(&w.to_le_bytes());
    }
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn write4(dst: &mut [u8], at: usize, w: u64) {
    if let Some(d) = dst.get_mut(at..at + 4) {
        d.copy_from_slice(&(w as u32).to_le_bytes());
    }
}
