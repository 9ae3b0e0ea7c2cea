//! `KeyValue` and `AnyValue`: the attributes of the resource, the scope and each data
//! point. Sizes beside the writers, field for field.

use super::field::*;
use super::field_len;
use super::writer::{Step, Writer};
use crate::proto::source::{
    AnyKeyValue, AnyValue, ArrayValue, AttributeOwner, AttributeValue, KeyValue, MetricsSource,
};
use crate::proto::wire::{self, varint_len, Fill};

#[inline]
pub(super) fn any_value_len(value: &AttributeValue<'_>) -> usize {
    match *value {
        AttributeValue::Str(s) => field_len(s.len()),
        AttributeValue::Bool(_) => 2,
        AttributeValue::Int(i) => 1 + varint_len(i as u64),
        AttributeValue::Double(_) => 9,
    }
}

/// Bytes of a `KeyValue` field (key, length and content). One copy with `prefer-size`,
/// which the resource's, the scope's and the points' attribute sizes share.
#[cfg_attr(not(feature = "prefer-size"), inline)]
#[cfg_attr(feature = "prefer-size", inline(never))]
pub(super) fn key_value_field_len(kv: &KeyValue<'_>) -> usize {
    let body = wire::str_field_len(KV_KEY, kv.key) + field_len(any_value_len(&kv.value));
    field_len(body)
}

pub(super) fn slice_attributes_len(attributes: &[KeyValue<'_>]) -> usize {
    attributes.iter().fold(0usize, |acc, kv| {
        acc.saturating_add(key_value_field_len(kv))
    })
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
pub(super) fn point_attributes_len<S: MetricsSource + ?Sized>(
    source: &S,
    metric: usize,
    point: usize,
) -> usize {
    let mut len = 0usize;
    for index in 0..source.attribute_count(metric, point) {
        len = len.saturating_add(key_value_field_len(&source.attribute(metric, point, index)));
    }
    len.saturating_add(any_attributes_len(
        source,
        AttributeOwner::Point { metric, point },
    ))
}

#[cfg_attr(not(feature = "prefer-size"), inline(always))]
pub(super) fn write_key_value(w: &mut Writer<'_>, field: u32, kv: &KeyValue<'_>) -> Step {
    // Common case, every length below 128 (one-byte lengths): claim the whole field once
    // and fill it forwards. Not with `prefer-size`: in a build for size, the field
    // by field writer below does it with a third of the code.
    let key = kv.key.as_bytes();
    let any = any_value_len(&kv.value);
    let body = 2 + key.len() + 2 + any;
    if cfg!(not(feature = "prefer-size")) && !key.is_empty() && body < 0x80 && field < 16 {
        // Fixed offsets through slice patterns: one length check per part.
        let Some(slot) = w.claim(2 + body) else {
            return w.fail();
        };
        let [k0, k1, k2, k3, rest @ ..] = slot else {
            return w.fail();
        };
        *k0 = wire::key(field, wire::LEN) as u8;
        *k1 = body as u8;
        *k2 = wire::key(KV_KEY, wire::LEN) as u8;
        *k3 = key.len() as u8;
        let Some((key_bytes, rest)) = rest.split_at_mut_checked(key.len()) else {
            return w.fail();
        };
        wire::copy_short(key_bytes, key);
        let [v0, v1, a0, rest @ ..] = rest else {
            return w.fail();
        };
        *v0 = wire::key(KV_VALUE, wire::LEN) as u8;
        *v1 = any as u8;
        match kv.value {
            AttributeValue::Str(s) => {
                *a0 = wire::key(ANY_STRING, wire::LEN) as u8;
                let [len, rest @ ..] = rest else {
                    return w.fail();
                };
                *len = s.len() as u8;
                if rest.len() != s.len() {
                    return w.fail();
                }
                wire::copy_short(rest, s.as_bytes());
            }
            AttributeValue::Bool(b) => {
                *a0 = wire::key(ANY_BOOL, wire::VARINT) as u8;
                let [value] = rest else {
                    return w.fail();
                };
                *value = u8::from(b);
            }
            AttributeValue::Int(i) => {
                *a0 = wire::key(ANY_INT, wire::VARINT) as u8;
                let mut f = Fill::new(rest);
                if f.varint(i as u64).is_err() || f.remaining() != 0 {
                    return w.fail();
                }
            }
            AttributeValue::Double(d) => {
                *a0 = wire::key(ANY_DOUBLE, wire::FIXED64) as u8;
                let Ok(value): Result<&mut [u8; 8], _> = rest.try_into() else {
                    return w.fail();
                };
                *value = d.to_bits().to_le_bytes();
            }
        }
        return Ok(());
    }
    write_key_value_fields(w, field, kv)
}

/// A `KeyValue` field written field by field, whatever its lengths.
fn write_key_value_fields(w: &mut Writer<'_>, field: u32, kv: &KeyValue<'_>) -> Step {
    let start = w.position();
    match kv.value {
        AttributeValue::Str(s) => w.str_field_always(ANY_STRING, s)?,
        AttributeValue::Bool(b) => w.varint_field_always(ANY_BOOL, u64::from(b))?,
        AttributeValue::Int(i) => w.varint_field_always(ANY_INT, i as u64)?,
        AttributeValue::Double(d) => w.double_field(ANY_DOUBLE, d)?,
    }
    w.message(KV_VALUE, start)?;
    w.str_field(KV_KEY, kv.key)?;
    w.message(field, start)
}

/// A point's attributes, last to first. One copy with `prefer-size`, which every kind of
/// point calls.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
#[cfg_attr(feature = "prefer-size", inline(never))]
pub(super) fn write_point_attributes<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    field: u32,
    source: &S,
    metric: usize,
    point: usize,
) -> Step {
    // The attributes of any kind come after the scalar ones, so (backwards) first.
    write_any_attributes(w, field, source, AttributeOwner::Point { metric, point })?;
    for index in (0..source.attribute_count(metric, point)).rev() {
        write_key_value(w, field, &source.attribute(metric, point, index))?;
    }
    Ok(())
}

// Attributes of any kind, from `MetricsSource::any_attribute`. Only sources that override
// it reach this code; for the others the loops below run zero times and are left out.

/// Bytes of an `ArrayValue`'s content: one `values` field per element.
fn array_content_len(array: &ArrayValue<'_>) -> usize {
    let mut len = 0usize;
    for index in 0..array.len() {
        // A `StrList` shorter than its `len` loses the missing elements here and in the
        // writer alike, so the size always matches what is written.
        if let Some(element) = array.element(index) {
            len = len.saturating_add(field_len(any_value_len(&element)));
        }
    }
    len
}

/// Bytes of an `AnyValue` message's content.
fn any_content_len(value: &AnyValue<'_>) -> usize {
    match *value {
        AnyValue::Str(s) => field_len(s.len()),
        AnyValue::Bool(b) => any_value_len(&AttributeValue::Bool(b)),
        AnyValue::Int(i) => any_value_len(&AttributeValue::Int(i)),
        AnyValue::Double(d) => any_value_len(&AttributeValue::Double(d)),
        AnyValue::Bytes(b) => field_len(b.len()),
        AnyValue::Array(a) => field_len(array_content_len(&a)),
    }
}

/// Bytes of a `KeyValue` field holding an [`AnyKeyValue`].
fn any_key_value_field_len(kv: &AnyKeyValue<'_>) -> usize {
    let body =
        wire::str_field_len(KV_KEY, kv.key).saturating_add(field_len(any_content_len(&kv.value)));
    field_len(body)
}

/// Bytes of `owner`'s attributes of any kind.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
pub(super) fn any_attributes_len<S: MetricsSource + ?Sized>(
    source: &S,
    owner: AttributeOwner,
) -> usize {
    let mut len = 0usize;
    for index in 0..source.any_attribute_count(owner) {
        len = len.saturating_add(any_key_value_field_len(&source.any_attribute(owner, index)));
    }
    len
}

/// `owner`'s attributes of any kind, last to first.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
pub(super) fn write_any_attributes<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    field: u32,
    source: &S,
    owner: AttributeOwner,
) -> Step {
    for index in (0..source.any_attribute_count(owner)).rev() {
        write_any_key_value(w, field, &source.any_attribute(owner, index))?;
    }
    Ok(())
}

/// One element of an array: the `AnyValue` content of a scalar.
fn write_scalar_content(w: &mut Writer<'_>, value: &AttributeValue<'_>) -> Step {
    match *value {
        AttributeValue::Str(s) => w.str_field_always(ANY_STRING, s),
        AttributeValue::Bool(b) => w.varint_field_always(ANY_BOOL, u64::from(b)),
        AttributeValue::Int(i) => w.varint_field_always(ANY_INT, i as u64),
        AttributeValue::Double(d) => w.double_field(ANY_DOUBLE, d),
    }
}

fn write_any_key_value(w: &mut Writer<'_>, field: u32, kv: &AnyKeyValue<'_>) -> Step {
    // Scalars take the scalar writer and its one-claim fast path.
    let scalar = match kv.value {
        AnyValue::Str(s) => Some(AttributeValue::Str(s)),
        AnyValue::Bool(b) => Some(AttributeValue::Bool(b)),
        AnyValue::Int(i) => Some(AttributeValue::Int(i)),
        AnyValue::Double(d) => Some(AttributeValue::Double(d)),
        AnyValue::Bytes(_) | AnyValue::Array(_) => None,
    };
    if let Some(value) = scalar {
        return write_key_value(w, field, &KeyValue::new(kv.key, value));
    }
    let start = w.position();
    match kv.value {
        AnyValue::Str(_) | AnyValue::Bool(_) | AnyValue::Int(_) | AnyValue::Double(_) => {}
        AnyValue::Bytes(bytes) => {
            // `oneof`: written even when empty.
            let bytes_start = w.position();
            w.bytes(bytes)?;
            w.message(ANY_BYTES, bytes_start)?;
        }
        AnyValue::Array(array) => {
            let array_start = w.position();
            for index in (0..array.len()).rev() {
                if let Some(element) = array.element(index) {
                    let element_start = w.position();
                    write_scalar_content(w, &element)?;
                    w.message(ARRAY_VALUES, element_start)?;
                }
            }
            w.message(ANY_ARRAY, array_start)?;
        }
    }
    w.message(KV_VALUE, start)?;
    w.str_field(KV_KEY, kv.key)?;
    w.message(field, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-claim writer and the field by field one (the only one with `prefer-size`)
    /// write the same bytes, at every length around the one-byte limit.
    #[test]
    fn both_key_value_writers_agree() {
        let long = "k".repeat(130);
        let values = [
            AttributeValue::Str(""),
            AttributeValue::Str("GET"),
            AttributeValue::Str(&long[..60]),
            AttributeValue::Str(&long[..125]),
            AttributeValue::Str(&long),
            AttributeValue::Bool(false),
            AttributeValue::Bool(true),
            AttributeValue::Int(0),
            AttributeValue::Int(300),
            AttributeValue::Int(-1),
            AttributeValue::Double(-0.0),
            AttributeValue::Double(2.5),
        ];
        let mut compared = 0;
        for key in ["", "a", "http.route", &long[..100], &long[..123], &long] {
            for value in values {
                for field in [RESOURCE_ATTRIBUTES, NUMBER_ATTRIBUTES, HIST_ATTRIBUTES] {
                    let kv = KeyValue::new(key, value);
                    let (mut a, mut b) = ([0u8; 400], [0u8; 400]);
                    let mut wa = Writer::new(&mut a);
                    let mut wb = Writer::new(&mut b);
                    write_key_value(&mut wa, field, &kv).unwrap();
                    write_key_value_fields(&mut wb, field, &kv).unwrap();
                    let (pa, pb) = (wa.position(), wb.position());
                    assert_eq!(a[pa..], b[pb..], "{kv:?} in field {field}");
                    assert_eq!(a.len() - pa, key_value_field_len(&kv), "{kv:?}");
                    compared += 1;
                }
            }
        }
        assert_eq!(compared, 6 * 12 * 3);
    }
}
