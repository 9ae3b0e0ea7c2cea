//! Series keys: a series' attribute values packed into a fixed byte array.
//!
//! Keys are declared per instrument (`&'static str`), so a series stores only values, in
//! declared-key order, which makes identity independent of the order the caller passes
//! them in. Each declared key takes one tag byte followed by its payload:
//!
//! | tag         | meaning                   | payload                 |
//! |-------------|---------------------------|-------------------------|
//! | 0           | attribute absent          | none                    |
//! | 1 / 2       | `false` / `true`          | none                    |
//! | 3           | `i64`                     | 8 bytes, little endian  |
//! | 4           | `f64`                     | 8 bytes, IEEE bits LE   |
//! | 5 + len     | string of `len` <= 250    | `len` UTF-8 bytes       |
//!
//! Unused trailing bytes are zero, so two keys are equal exactly when their arrays are.

use super::hash::{hash_key, hash_located};
use super::PREFER_SIZE;
use crate::proto::AttributeValue;
use crate::proto::KeyValue;

const TAG_ABSENT: u8 = 0;
pub(super) const TAG_FALSE: u8 = 1;
pub(super) const TAG_TRUE: u8 = 2;
pub(super) const TAG_INT: u8 = 3;
pub(super) const TAG_DOUBLE: u8 = 4;
pub(super) const TAG_STR: u8 = 5;
/// Longest string value a key can carry (the tag byte holds `5 + len`).
pub const MAX_STR_LEN: usize = (u8::MAX - TAG_STR) as usize;

/// The most attribute keys one instrument may declare.
pub const MAX_KEYS: usize = 8;

/// What encoding a key had to give up.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EncodeLoss {
    /// String values cut short (at a UTF-8 boundary).
    pub truncated: u8,
    /// Attributes left out: keys that were not declared, or values with no room at all.
    pub dropped: u8,
}

/// Which declared key `key` is: pointer equality first (callers usually pass the same
/// `&'static str` literal that was declared), at position `hint` and then anywhere, before
/// comparing bytes. With feature `prefer-size` by bytes only: the same key, less code.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn declared_index(keys: &[&str], hint: usize, key: &str) -> Option<usize> {
    if PREFER_SIZE {
        // Declared keys are distinct by bytes (`declare` refuses a repeat), so the byte
        // compare alone finds the same key the pointer compares would.
        return declared_index_by_bytes(keys, key);
    }
    let same = |k: &&str| core::ptr::eq(k.as_ptr(), key.as_ptr()) && k.len() == key.len();
    if keys.get(hint).is_some_and(same) {
        return Some(hint);
    }
    match keys.iter().position(same) {
        Some(d) => Some(d),
        None => declared_index_by_bytes(keys, key),
    }
}

#[cfg_attr(not(feature = "prefer-size"), cold)]
#[inline(never)]
pub(super) fn declared_index_by_bytes(keys: &[&str], key: &str) -> Option<usize> {
    keys.iter().position(|k| k.as_bytes() == key.as_bytes())
}

/// No attribute for this declared key.
pub(super) const ABSENT: u8 = u8::MAX;

/// Where each declared key's attribute is in the caller's slice ([`ABSENT`] when none), as
/// [`pack_declared`](super::pack::pack_declared) found it.
pub(super) type Located = [u8; MAX_KEYS];

/// For each declared key, the index of its attribute in the caller's slice ([`ABSENT`]
/// when none). A key passed twice takes the last value (the SDK specification: a later
/// attribute with the same key overwrites); the other copies count as dropped, as do keys
/// that were not declared.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn locate(keys: &[&str], attrs: &[KeyValue<'_>]) -> ([u8; MAX_KEYS], usize) {
    let mut at = [ABSENT; MAX_KEYS];
    let mut dropped = 0;
    for (j, kv) in attrs.iter().enumerate() {
        let slot = declared_index(keys, j, kv.key).and_then(|d| at.get_mut(d));
        match slot {
            Some(slot) if j < usize::from(ABSENT) => {
                if *slot != ABSENT {
                    dropped += 1;
                }
                *slot = j as u8;
            }
            _ => dropped += 1,
        }
    }
    (at, dropped)
}

/// The caller's value for declared key `d`, as located.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(super) fn value_at<'b, 'a>(
    attrs: &'b [KeyValue<'a>],
    at: &[u8; MAX_KEYS],
    d: usize,
) -> Option<&'b AttributeValue<'a>> {
    let j = *at.get(d)?;
    if j == ABSENT {
        return None;
    }
    attrs.get(usize::from(j)).map(|kv| &kv.value)
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn payload_len(value: &AttributeValue<'_>) -> usize {
    match value {
        AttributeValue::Bool(_) => 0,
        AttributeValue::Int(_) | AttributeValue::Double(_) => 8,
        AttributeValue::Str(s) => s.len(),
    }
}

/// The bytes of the longest prefix of `s` of at most `max` bytes that ends on a char
/// boundary (as bytes: the boundary is found here, so no second test of it).
fn truncate_str(s: &str, max: usize) -> &[u8] {
    if s.len() <= max {
        return s.as_bytes();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.as_bytes().get(..end).unwrap_or(&[])
}

/// Writes one value at `pos`; `str_budget` caps string payloads. Returns the new position,
/// or `None` when the value does not fit at all. With feature `prefer-size` one copy, which
/// the whole and the cut encodings call, and the packing of undeclared keys.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline(never))]
pub(super) fn put(
    key: &mut [u8],
    pos: usize,
    value: &AttributeValue<'_>,
    str_budget: usize,
    loss: &mut EncodeLoss,
) -> Option<usize> {
    // Every value is a tag and a payload: one write for all four kinds.
    let word: [u8; 8];
    let (tag, payload): (u8, &[u8]) = match *value {
        AttributeValue::Bool(b) => (if b { TAG_TRUE } else { TAG_FALSE }, &[]),
        AttributeValue::Int(v) => {
            word = v.to_le_bytes();
            (TAG_INT, &word)
        }
        AttributeValue::Double(v) => {
            word = v.to_bits().to_le_bytes();
            (TAG_DOUBLE, &word)
        }
        AttributeValue::Str(s) => {
            let room = key.len().checked_sub(pos + 1)?;
            let t = truncate_str(s, room.min(str_budget).min(MAX_STR_LEN));
            if t.len() < s.len() {
                loss.truncated = loss.truncated.saturating_add(1);
            }
            (TAG_STR + t.len() as u8, t)
        }
    };
    let end = pos + 1 + payload.len();
    let (t, rest) = key.get_mut(pos..end)?.split_first_mut()?;
    *t = tag;
    rest.copy_from_slice(payload);
    Some(end)
}

/// Packs the values of `attrs` for the declared `keys` into `key` (which must be zeroed).
/// Returns the bytes used and what was lost.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
#[cfg(test)]
pub(crate) fn encode(keys: &[&str], attrs: &[KeyValue<'_>], key: &mut [u8]) -> (usize, EncodeLoss) {
    let (used, loss, _) = encode_hashed(keys, attrs, key);
    (used, loss)
}

/// [`encode`], also returning the key's hash ([`hash_key`]), computed from the caller's
/// values rather than by reading the fresh key back. With feature `prefer-size` the hash
/// is 0: that build's lookup compares packed keys whole, with no hash, so the value
/// hashes are not linked.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(crate) fn encode_hashed(
    keys: &[&str],
    attrs: &[KeyValue<'_>],
    key: &mut [u8],
) -> (usize, EncodeLoss, u64) {
    let (at, dropped) = locate(keys, attrs);
    let extra = dropped.min(usize::from(u8::MAX)) as u8;
    // Every value whole if they all fit (the common case), else the cut encoding: one
    // writing loop, called once or twice, for both.
    let mut cut = false;
    let mut budget = usize::MAX;
    loop {
        let (used, mut loss, fixed, strings) = put_located(keys.len(), attrs, &at, key, budget);
        // Uncut, nothing lost: every value went in whole, as packed.
        if cut || loss == EncodeLoss::default() {
            loss.dropped = loss.dropped.saturating_add(extra);
            let hash = if PREFER_SIZE {
                0
            } else if cut {
                hash_key(keys, key)
            } else {
                hash_located(attrs, &at, keys.len())
            };
            return (used, loss, hash);
        }
        // The values do not all fit: strings share equally what fixed-size values leave.
        key.fill(0);
        budget = key
            .len()
            .saturating_sub(fixed)
            .checked_div(strings)
            .unwrap_or(0);
        cut = true;
    }
}

/// Writes the located values of the `keys` declared keys in declared order from the
/// start of `key` (zeroed: an absent value's zero tag is in place), strings cut to `budget`
/// bytes, and a value with no room at all left out (counted as dropped). Returns the bytes
/// used (at most the key's length) and what was cut, then what a cut encoding shares out:
/// the bytes every key takes but strings' payloads (a tag each, the fixed-size payloads),
/// and the number of strings. With budget `usize::MAX` nothing is lost exactly when every
/// value fits whole.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
fn put_located(
    keys: usize,
    attrs: &[KeyValue<'_>],
    at: &Located,
    key: &mut [u8],
    budget: usize,
) -> (usize, EncodeLoss, usize, usize) {
    let mut loss = EncodeLoss::default();
    let mut pos = 0;
    let mut fixed = keys;
    let mut strings = 0;
    for i in 0..keys {
        let written = match value_at(attrs, at, i) {
            None => None,
            Some(v) => {
                match v {
                    AttributeValue::Str(_) => strings += 1,
                    _ => fixed += payload_len(v),
                }
                let written = put(key, pos, v, budget, &mut loss);
                if written.is_none() {
                    // No room even for this value: leave the attribute out.
                    loss.dropped = loss.dropped.saturating_add(1);
                }
                written
            }
        };
        // Absent, or left out: one (zero) tag byte while there is room.
        pos = written.unwrap_or(pos + usize::from(pos < key.len()));
    }
    (pos, loss, fixed, strings)
}

/// Iterates the present attributes of a packed key: of declared `keys` (values only, in
/// declared order), or with no declared keys, of the layout that stores keys too
/// ([`open`](super::open)). One walk for both, so a snapshot reads either with one copy.
pub(crate) struct Decoder<'k> {
    keys: &'static [&'static str],
    key: &'k [u8],
    index: usize,
    pos: usize,
}

impl<'k> Decoder<'k> {
    pub(crate) fn new(keys: &'static [&'static str], key: &'k [u8]) -> Self {
        Decoder {
            keys,
            key,
            index: 0,
            pos: 0,
        }
    }
}

impl<'k> Iterator for Decoder<'k> {
    type Item = KeyValue<'k>;

    fn next(&mut self) -> Option<KeyValue<'k>> {
        loop {
            let name = self.next_name()?;
            let (v, next) = slot(self.key, self.pos);
            self.pos = next;
            match v {
                Some(v) => return Some(KeyValue::new(name, v)),
                // An absent declared key is skipped; a stored key always has a value.
                None if self.keys.is_empty() => return None,
                None => {}
            }
        }
    }
}

impl<'k> Decoder<'k> {
    /// The next entry's key, the position moved to its value; `None` at the end. With
    /// `prefer-size` inlined into the walk, its one caller (the walk stays one loop for
    /// both layouts: the layout is a test in it, not a loop each).
    #[cfg_attr(feature = "prefer-size", inline(always))]
    fn next_name(&mut self) -> Option<&'k str> {
        if self.keys.is_empty() {
            // A length byte (`1 + len`; 0 ends the list), the key's bytes, the value.
            let len = usize::from(*self.key.get(self.pos)?);
            let name = self.key.get(self.pos + 1..self.pos + len)?;
            self.pos += len;
            return Some(crate::proto::utf8::whole_or_empty(name));
        }
        let name = *self.keys.get(self.index)?;
        self.index += 1;
        (self.pos < self.key.len()).then_some(name)
    }
}

/// Whether two packed keys are equal: word compares, one branch. With feature
/// `prefer-size` a slice compare, which calls the `memcmp` the program links anyway.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(crate) fn key_eq(a: &[u8], b: &[u8]) -> bool {
    if PREFER_SIZE {
        return a == b;
    }
    let mut wa = a.chunks_exact(8);
    let mut wb = b.chunks_exact(8);
    let mut diff = 0u64;
    for (x, y) in (&mut wa).zip(&mut wb) {
        diff |= read8(x, 0) ^ read8(y, 0);
    }
    diff == 0 && wa.remainder() == wb.remainder()
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(super) fn read8(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_le_bytes)
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline)]
pub(super) fn read4(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
}

/// The value at `pos` of a packed key (None when absent) and the position after it.
pub(super) fn slot(key: &[u8], pos: usize) -> (Option<AttributeValue<'_>>, usize) {
    let Some(&tag) = key.get(pos) else {
        return (None, pos + 1);
    };
    let start = pos + 1;
    match tag {
        TAG_ABSENT => (None, start),
        TAG_FALSE | TAG_TRUE => (Some(AttributeValue::Bool(tag == TAG_TRUE)), start),
        TAG_INT | TAG_DOUBLE => {
            let Some(bytes) = key
                .get(start..start + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
            else {
                return (None, start);
            };
            let raw = u64::from_le_bytes(bytes);
            let v = if tag == TAG_INT {
                AttributeValue::Int(raw as i64)
            } else {
                AttributeValue::Double(f64::from_bits(raw))
            };
            (Some(v), start + 8)
        }
        _ => {
            let len = usize::from(tag - TAG_STR);
            match key.get(start..start + len) {
                Some(b) => (
                    Some(AttributeValue::Str(crate::proto::utf8::whole_or_empty(b))),
                    start + len,
                ),
                None => (None, start),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::pack::{pack_any_order, pack_in_order};

    const KEYS: &[&str] = &["a", "b", "c"];

    fn kv<'a>(k: &'a str, v: AttributeValue<'a>) -> KeyValue<'a> {
        KeyValue::new(k, v)
    }

    #[test]
    fn order_does_not_matter_and_roundtrips() {
        let mut k1 = [0u8; 40];
        let mut k2 = [0u8; 40];
        let a = [
            kv("a", AttributeValue::Str("x")),
            kv("b", AttributeValue::Int(-3)),
            kv("c", AttributeValue::Bool(true)),
        ];
        let b = [a[2], a[0], a[1]];
        let (n1, l1, h1) = encode_hashed(KEYS, &a, &mut k1);
        let (n2, _, h2) = encode_hashed(KEYS, &b, &mut k2);
        assert_eq!(h1, h2);
        if !PREFER_SIZE {
            assert_eq!(h1, hash_key(KEYS, &k1));
        }
        assert_eq!((n1, n2), (12, 12));
        assert_eq!(l1, EncodeLoss::default());
        assert_eq!(k1, k2);
        let mut d = Decoder::new(KEYS, &k1);
        assert_eq!(d.next(), Some(a[0]));
        assert_eq!(d.next(), Some(a[1]));
        assert_eq!(d.next(), Some(a[2]));
        assert_eq!(d.next(), None);
    }

    #[test]
    fn pack_in_order_equals_encode() {
        let strs = [
            "",
            "x",
            "ab",
            "abc",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "a longer string v",
        ];
        for s1 in strs {
            for s2 in strs {
                let a = [
                    kv("a", AttributeValue::Str(s1)),
                    kv("b", AttributeValue::Int(-3)),
                    kv("c", AttributeValue::Str(s2)),
                ];
                let mut packed = [0u8; 48];
                let mut encoded = [0u8; 48];
                let h = pack_in_order(KEYS, &a, &mut packed);
                encode(KEYS, &a, &mut encoded);
                assert_eq!(packed, encoded, "{s1:?} {s2:?}");
                assert!(key_eq(&packed, &encoded));
                assert_eq!(h, Some(hash_key(KEYS, &encoded)));
            }
        }
        let b = [
            kv("a", AttributeValue::Double(2.5)),
            kv("b", AttributeValue::Bool(true)),
            kv("c", AttributeValue::Bool(false)),
        ];
        let (mut packed, mut encoded) = ([0u8; 40], [0u8; 40]);
        let h = pack_in_order(KEYS, &b, &mut packed);
        encode(KEYS, &b, &mut encoded);
        assert_eq!(packed, encoded);
        assert_eq!(h, Some(hash_key(KEYS, &encoded)));
        // Too long to fit: the caller must take the encode path.
        let long = [kv("a", AttributeValue::Str("a string longer than eight"))];
        assert!(pack_in_order(&KEYS[..1], &long, &mut [0u8; 8]).is_none());
        // Another order is not declared order, but packs to the same key and hash through
        // `pack_any_order`, which also takes declared order.
        assert!(pack_in_order(KEYS, &[b[2], b[0], b[1]], &mut [0u8; 40]).is_none());
        let mut same = [0u8; 40];
        assert_eq!(pack_any_order(KEYS, &b, &mut same), h);
        assert_eq!(same, encoded);
        let mut reordered = [0u8; 40];
        let h2 = pack_any_order(KEYS, &[b[2], b[0], b[1]], &mut reordered);
        assert_eq!(reordered, encoded);
        assert_eq!(h2, h);
        // A subset too (the missing key is absent).
        let (mut sub, mut sub_encoded) = ([0u8; 40], [0u8; 40]);
        let hs = pack_any_order(KEYS, &[b[2], b[0]], &mut sub);
        encode(KEYS, &[b[2], b[0]], &mut sub_encoded);
        assert_eq!(sub, sub_encoded);
        assert_eq!(hs, Some(hash_key(KEYS, &sub_encoded)));
        // An undeclared key, a repeated key, or a declared key passed as another string
        // with the same bytes take the general path.
        let other = [b[0], b[1], kv("zz", AttributeValue::Int(1))];
        assert!(pack_in_order(KEYS, &other, &mut [0u8; 40]).is_none());
        assert!(pack_any_order(KEYS, &other, &mut [0u8; 40]).is_none());
        assert!(pack_any_order(KEYS, &[b[0], b[0]], &mut [0u8; 40]).is_none());
        let bytes = [b'b'];
        let same_bytes = core::str::from_utf8(&bytes).unwrap_or("");
        let copy = [b[0], kv(same_bytes, AttributeValue::Bool(true))];
        assert!(pack_any_order(KEYS, &copy, &mut [0u8; 40]).is_none());
        // Too long to fit whole: the general path truncates.
        assert!(pack_any_order(&KEYS[..1], &long, &mut [0u8; 8]).is_none());
        let mut k1 = [0u8; 40];
        let mut k2 = [0u8; 40];
        k2[39] = 1;
        assert!(!key_eq(&k1, &k2));
        k1[39] = 1;
        assert!(key_eq(&k1, &k2));
        assert_ne!(hash_key(KEYS, &encoded), hash_key(KEYS, &[0u8; 40]));
    }

    /// Keys declared more than once (the same literal, so pointer-equal) and passed in
    /// any order, any number of times: whenever the declared-key path packs, it packs what
    /// `encode` does, with the same hash and nothing lost. Declared keys are distinct, as
    /// `Registry::declare` requires.
    #[test]
    fn any_spelling_packs_as_encode_does() {
        // One binding: every copy of a name below is the same pointer.
        let names: [&str; 3] = ["a", "b", "c"];
        // Every word over the 3 keys of length 0..=4, as indexes.
        let words = || {
            (0..=4u32).flat_map(|n| {
                (0..3usize.pow(n)).map(move |mut x| {
                    let mut w = heapless::Vec::<usize, 4>::new();
                    for _ in 0..n {
                        let _ = w.push(x % 3);
                        x /= 3;
                    }
                    w
                })
            })
        };
        let distinct = |w: &heapless::Vec<usize, 4>| {
            w.iter()
                .enumerate()
                .all(|(i, x)| !w.iter().take(i).any(|y| y == x))
        };
        let mut accepted = 0;
        for kw in words().filter(distinct) {
            let keys: heapless::Vec<&str, 4> = kw.iter().map(|&i| names[i]).collect();
            for aw in words() {
                let attrs: heapless::Vec<KeyValue<'_>, 4> = aw
                    .iter()
                    .enumerate()
                    .map(|(j, &i)| kv(names[i], AttributeValue::Int(j as i64)))
                    .collect();
                let mut encoded = [0u8; 40];
                let (_, loss, h) = encode_hashed(&keys, &attrs, &mut encoded);
                let mut packed = [0u8; 40];
                if let Some(hp) = pack_any_order(&keys, &attrs, &mut packed) {
                    accepted += 1;
                    assert_eq!(packed, encoded, "{kw:?} {aw:?}");
                    if !PREFER_SIZE {
                        assert_eq!(hp, h, "{kw:?} {aw:?}");
                    }
                    assert_eq!(loss, EncodeLoss::default(), "{kw:?} {aw:?}");
                }
                let mut in_order = [0u8; 40];
                if let Some(hp) = pack_in_order(&keys, &attrs, &mut in_order) {
                    assert_eq!(in_order, encoded, "{kw:?} {aw:?}");
                    if !PREFER_SIZE {
                        assert_eq!(hp, h, "{kw:?} {aw:?}");
                    }
                    assert_eq!(loss, EncodeLoss::default(), "{kw:?} {aw:?}");
                }
            }
        }
        // The path is taken, not refused throughout.
        assert!(accepted > 30, "{accepted}");
    }

    #[test]
    fn repeated_key_takes_the_last_value() {
        let mut k = [0u8; 40];
        let a = [
            kv("b", AttributeValue::Int(1)),
            kv("b", AttributeValue::Int(2)),
        ];
        let (_, loss) = encode(KEYS, &a, &mut k);
        assert_eq!(loss.dropped, 1);
        let got: heapless::Vec<KeyValue<'_>, 4> = Decoder::new(KEYS, &k).collect();
        assert_eq!(got.as_slice(), &[kv("b", AttributeValue::Int(2))]);
    }

    #[test]
    fn truncates_at_char_boundary_and_drops_unknown() {
        let mut k = [0u8; 8];
        let a = [
            kv("a", AttributeValue::Str("héllo wörld")),
            kv("zz", AttributeValue::Int(1)),
        ];
        let (_, loss) = encode(KEYS, &a, &mut k);
        assert_eq!(
            loss,
            EncodeLoss {
                truncated: 1,
                dropped: 1
            }
        );
        let got: heapless::Vec<KeyValue<'_>, 4> = Decoder::new(KEYS, &k).collect();
        // 8 bytes - 3 tags = 5 bytes of string, cut before the 2-byte 'é' ends at 3.
        assert_eq!(got.as_slice(), &[kv("a", AttributeValue::Str("héll"))]);
    }
}
