//! `KeyValue` and `AnyValue`: the attributes of the resource, the scope and each data
//! point. Sizes beside the writers, field for field.

use super::field::*;
use super::field_len;
use crate::proto::source::{AttributeValue, KeyValue, MetricsSource};
use crate::proto::wire::{self, varint_len, BufferFull, Fill, ReverseWriter};

#[inline]
pub(super) fn any_value_len(value: &AttributeValue<'_>) -> usize {
    match *value {
        AttributeValue::Str(s) => field_len(s.len()),
        AttributeValue::Bool(_) => 2,
        AttributeValue::Int(i) => 1 + varint_len(i as u64),
        AttributeValue::Double(_) => 9,
    }
}

/// Bytes of a `KeyValue` field (key, length and content).
#[inline]
pub(super) fn key_value_field_len(kv: &KeyValue<'_>) -> usize {
    let body = wire::str_field_len(KV_KEY, kv.key) + field_len(any_value_len(&kv.value));
    field_len(body)
}

pub(super) fn slice_attributes_len(attributes: &[KeyValue<'_>]) -> usize {
    attributes.iter().fold(0usize, |acc, kv| {
        acc.saturating_add(key_value_field_len(kv))
    })
}

#[inline(always)]
pub(super) fn point_attributes_len<S: MetricsSource + ?Sized>(
    source: &S,
    metric: usize,
    point: usize,
) -> usize {
    let mut len = 0usize;
    for index in 0..source.attribute_count(metric, point) {
        len = len.saturating_add(key_value_field_len(&source.attribute(metric, point, index)));
    }
    len
}

#[inline(always)]
pub(super) fn write_key_value(
    w: &mut ReverseWriter<'_>,
    field: u32,
    kv: &KeyValue<'_>,
) -> Result<(), BufferFull> {
    // Common case, every length below 128 (one-byte lengths): claim the whole field once
    // and fill it forwards.
    let key = kv.key.as_bytes();
    let any = any_value_len(&kv.value);
    let body = 2 + key.len() + 2 + any;
    if !key.is_empty() && body < 0x80 && field < 16 {
        // Fixed offsets through slice patterns: one length check per part.
        let slot = w.claim(2 + body)?;
        let [k0, k1, k2, k3, rest @ ..] = slot else {
            return Err(BufferFull);
        };
        *k0 = wire::key(field, wire::LEN) as u8;
        *k1 = body as u8;
        *k2 = wire::key(KV_KEY, wire::LEN) as u8;
        *k3 = key.len() as u8;
        let (key_bytes, rest) = rest.split_at_mut_checked(key.len()).ok_or(BufferFull)?;
        wire::copy_short(key_bytes, key);
        let [v0, v1, a0, rest @ ..] = rest else {
            return Err(BufferFull);
        };
        *v0 = wire::key(KV_VALUE, wire::LEN) as u8;
        *v1 = any as u8;
        match kv.value {
            AttributeValue::Str(s) => {
                *a0 = wire::key(ANY_STRING, wire::LEN) as u8;
                let [len, rest @ ..] = rest else {
                    return Err(BufferFull);
                };
                *len = s.len() as u8;
                if rest.len() != s.len() {
                    return Err(BufferFull);
                }
                wire::copy_short(rest, s.as_bytes());
            }
            AttributeValue::Bool(b) => {
                *a0 = wire::key(ANY_BOOL, wire::VARINT) as u8;
                let [value] = rest else {
                    return Err(BufferFull);
                };
                *value = u8::from(b);
            }
            AttributeValue::Int(i) => {
                *a0 = wire::key(ANY_INT, wire::VARINT) as u8;
                let mut f = Fill::new(rest);
                f.varint(i as u64)?;
                if f.remaining() != 0 {
                    return Err(BufferFull);
                }
            }
            AttributeValue::Double(d) => {
                *a0 = wire::key(ANY_DOUBLE, wire::FIXED64) as u8;
                let value: &mut [u8; 8] = rest.try_into().map_err(|_| BufferFull)?;
                *value = d.to_bits().to_le_bytes();
            }
        }
        return Ok(());
    }
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

#[inline(always)]
pub(super) fn write_point_attributes<S: MetricsSource + ?Sized>(
    w: &mut ReverseWriter<'_>,
    field: u32,
    source: &S,
    metric: usize,
    point: usize,
) -> Result<(), BufferFull> {
    for index in (0..source.attribute_count(metric, point)).rev() {
        write_key_value(w, field, &source.attribute(metric, point, index))?;
    }
    Ok(())
}
