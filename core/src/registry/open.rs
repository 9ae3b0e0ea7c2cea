//! Series keys of instruments that declare no attribute keys: the keys are stored too.
//!
//! Such an instrument keeps every attribute a measurement carries (the SDK specification:
//! "If neither is provided, all attributes must be retained"), so a series' attribute
//! bytes hold key and value pairs, sorted by key so that identity does not depend on the
//! order the caller passes them in:
//!
//! | bytes          | meaning                                                      |
//! |----------------|--------------------------------------------------------------|
//! | 1              | `1 + len` of the key, `len` <= [`MAX_OPEN_KEY_LEN`]          |
//! | `len`          | the key, UTF-8                                               |
//! | 1 + payload    | the value, tagged as in [`key`](super::key)'s table          |
//!
//! The first zero length byte (or the end) ends the list; unused bytes stay zero, so two
//! keys are equal exactly when their arrays are. Keys are bytes, not `&'static str`: a
//! recorder whose keys are made at run time can use the same storage. A set that does not
//! fit whole is not cut (that would merge distinct sets): the caller routes it to the
//! overflow series.

use super::hash::hash_bytes;
use super::key::{self, EncodeLoss, MAX_STR_LEN};
use crate::proto::{AttributeValue, KeyValue};

/// Longest key an instrument without declared keys stores (its length byte holds
/// `1 + len`).
pub const MAX_OPEN_KEY_LEN: usize = u8::MAX as usize - 1;

/// What packing an attribute set of undeclared keys gave.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Packed {
    /// Packed into the first `len` bytes; `dropped` attributes were left out (earlier
    /// copies of a key given twice).
    Whole { len: usize, dropped: usize },
    /// The set does not fit in the series' bytes (or a key or string is too long to
    /// store): it belongs in the overflow series.
    TooLarge,
}

fn value_len(v: &AttributeValue<'_>) -> usize {
    match v {
        AttributeValue::Bool(_) => 1,
        AttributeValue::Int(_) | AttributeValue::Double(_) => 9,
        AttributeValue::Str(s) => 1 + s.len(),
    }
}

/// Appends `kv` at `*pos`, or says the set does not fit.
fn append(key: &mut [u8], pos: &mut usize, kv: &KeyValue<'_>) -> Result<(), ()> {
    let k = kv.key.as_bytes();
    let too_long = match kv.value {
        AttributeValue::Str(s) => s.len() > MAX_STR_LEN,
        _ => false,
    };
    let need = 1 + k.len() + value_len(&kv.value);
    if k.len() > MAX_OPEN_KEY_LEN || too_long || *pos + need > key.len() {
        return Err(());
    }
    if !put(key, *pos, k, &kv.value) {
        return Err(());
    }
    *pos += need;
    Ok(())
}

/// Packs `attrs` into `key` (zeroed), sorted by key bytes; a key given more than once keeps
/// its last value. Hash the result with [`hash`].
pub(super) fn pack(attrs: &[KeyValue<'_>], key: &mut [u8]) -> Packed {
    let mut pos = 0usize;
    // Keys already in strictly ascending order (the same call site passes the same order;
    // sorted, it packs in one pass).
    if attrs
        .windows(2)
        .all(|w| w[0].key.as_bytes() < w[1].key.as_bytes())
    {
        for kv in attrs {
            if append(key, &mut pos, kv).is_err() {
                return Packed::TooLarge;
            }
        }
        return Packed::Whole {
            len: pos,
            dropped: 0,
        };
    }
    let mut written = 0usize;
    // The last key written: the next one is the least key above it. Selection in key
    // order needs no scratch memory; the bytes bound how many rounds can succeed.
    let mut prev: Option<&[u8]> = None;
    loop {
        let mut best: Option<&KeyValue<'_>> = None;
        for kv in attrs {
            let k = kv.key.as_bytes();
            if prev.is_some_and(|p| k <= p) {
                continue;
            }
            // `<=`: of equal keys the last one given wins.
            if best.is_none_or(|b| k <= b.key.as_bytes()) {
                best = Some(kv);
            }
        }
        let Some(kv) = best else { break };
        if append(key, &mut pos, kv).is_err() {
            return Packed::TooLarge;
        }
        written += 1;
        prev = Some(kv.key.as_bytes());
    }
    Packed::Whole {
        len: pos,
        dropped: attrs.len() - written,
    }
}

/// The hash of a key packed to `len` bytes.
pub(super) fn hash(key: &[u8], len: usize) -> u64 {
    hash_bytes(key.get(..len).unwrap_or(key))
}

/// Writes one entry at `pos` (room checked by the caller): the length byte and the key,
/// then the value as a declared-key series stores it ([`key::put`](super::key::put)).
fn put(key: &mut [u8], pos: usize, k: &[u8], v: &AttributeValue<'_>) -> bool {
    let at = pos + 1 + k.len();
    let Some((len, name)) = key.get_mut(pos..at).and_then(|d| d.split_first_mut()) else {
        return false;
    };
    *len = 1 + k.len() as u8;
    name.copy_from_slice(k);
    // It fits whole (checked by the caller), so nothing is cut and nothing lost.
    let mut loss = EncodeLoss::default();
    key::put(key, at, v, usize::MAX, &mut loss).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::key::Decoder;

    /// The attributes of a key packed by [`pack`], as a snapshot reads them.
    fn entries(key: &[u8]) -> Decoder<'_> {
        Decoder::new(&[], key)
    }

    fn kv<'a>(k: &'a str, v: AttributeValue<'a>) -> KeyValue<'a> {
        KeyValue::new(k, v)
    }

    #[test]
    fn any_order_packs_the_same_and_reads_back_sorted() {
        let a = [
            kv("zone", AttributeValue::Str("eu")),
            kv("code", AttributeValue::Int(-7)),
            kv("hot", AttributeValue::Bool(false)),
            kv("load", AttributeValue::Double(0.25)),
        ];
        let b = [a[2], a[0], a[3], a[1]];
        let (mut ka, mut kb) = ([0u8; 48], [0u8; 48]);
        let (pa, pb) = (pack(&a, &mut ka), pack(&b, &mut kb));
        assert_eq!(pa, pb);
        assert_eq!(ka, kb);
        assert!(matches!(pa, Packed::Whole { dropped: 0, .. }));
        assert_eq!(hash(&ka, 41), hash(&kb, 41));
        let got: heapless::Vec<KeyValue<'_>, 8> = entries(&ka).collect();
        assert_eq!(got.as_slice(), &[a[1], a[2], a[3], a[0]]);
        // code 1+4+9, hot 1+3+1, load 1+4+9, zone 1+4+3: 41 bytes fit exactly, 40 do not.
        assert_eq!(pack(&a, &mut [0u8; 41]), pa);
        assert_eq!(pack(&a, &mut [0u8; 40]), Packed::TooLarge);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_and_counts_the_rest() {
        let a = [
            kv("k", AttributeValue::Int(1)),
            kv("j", AttributeValue::Bool(true)),
            kv("k", AttributeValue::Int(2)),
            kv("k", AttributeValue::Int(3)),
        ];
        let mut key = [0u8; 32];
        assert!(matches!(
            pack(&a, &mut key),
            Packed::Whole { dropped: 2, .. }
        ));
        let got: heapless::Vec<KeyValue<'_>, 4> = entries(&key).collect();
        assert_eq!(got.as_slice(), &[a[1], a[3]]);
    }

    #[test]
    fn keys_and_strings_too_long_to_store_do_not_fit() {
        let long_key = [b'k'; MAX_OPEN_KEY_LEN + 1];
        let long_key = core::str::from_utf8(&long_key).unwrap_or("");
        let mut key = [0u8; 512];
        assert_eq!(
            pack(&[kv(long_key, AttributeValue::Bool(true))], &mut key),
            Packed::TooLarge
        );
        let long_str = [b's'; MAX_STR_LEN + 1];
        let long_str = core::str::from_utf8(&long_str).unwrap_or("");
        assert_eq!(
            pack(&[kv("k", AttributeValue::Str(long_str))], &mut key),
            Packed::TooLarge
        );
        // The longest of each fits.
        let (k, s) = (&long_key[1..], &long_str[1..]);
        let mut key = [0u8; 512];
        assert!(matches!(
            pack(&[kv(k, AttributeValue::Str(s))], &mut key),
            Packed::Whole { dropped: 0, .. }
        ));
        let got: heapless::Vec<KeyValue<'_>, 1> = entries(&key).collect();
        assert_eq!(got.as_slice(), &[kv(k, AttributeValue::Str(s))]);
    }

    #[test]
    fn the_empty_set_packs_to_zeros() {
        let mut key = [0u8; 8];
        assert!(matches!(
            pack(&[], &mut key),
            Packed::Whole { dropped: 0, .. }
        ));
        assert_eq!(key, [0u8; 8]);
        assert_eq!(entries(&key).count(), 0);
    }
}
