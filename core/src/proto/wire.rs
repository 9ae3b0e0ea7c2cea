//! Protobuf wire primitives: sizes, and a writer that fills a buffer from its end.
//!
//! A protobuf message is a sequence of fields, each a key (`field << 3 | wire type`, as a
//! varint) followed by a value: a varint, 8 or 4 little-endian bytes, or a length-prefixed
//! run of bytes. Nested messages are length-prefixed, so a forward writer must know a
//! message's size before writing it. [`ReverseWriter`] writes backwards instead (as upb
//! does): a message's content is written first, then its length, which is simply how far
//! the writer has moved, then its key. Fields are therefore written in reverse order.
//!
//! Every write checks the space left and returns [`BufferFull`] instead of writing past the
//! start of the buffer; nothing here panics.
//!
//! The encoder's forced inlines, and the inline hints on the writer's most used steps
//! (`varint`, `message`, `varint_field_len`), and the one-store fast paths
//! are left out with feature `prefer-size` (`cfg_attr(not(feature = "prefer-size"), ...)`):
//! they buy speed, and in a firmware built for size a forced inline copies a writer into
//! every caller, and a hint gives the crate that instantiates the encoder's generic
//! functions (the program's) a local copy of each step, which fat LTO keeps beside core's
//! own; LTO still inlines there wherever that pays. The writers every field ends in
//! (`varint_field_always`, `fixed64_field`, `str_field_always`) are only hinted inline:
//! the encoder calls them through its own writer (`encode/writer.rs`), whose out-of-line
//! copies with `prefer-size` take them in, one copy each. `key`, and the
//! variants that leave out zero and empty values (`varint_field`, `fixed64_field_nonzero`,
//! `str_field`), are always inlined: a shift, or a test and a branch, in front of the call
//! they make cost less than a call to them; so does `claim` (a compare and a split).
//! `str_field_len` is kept out of line with `prefer-size`: the sizes of names, units and
//! keys share one copy. (Each of these choices was measured on the Cortex-M footprint
//! image.)

use core::fmt;

/// Wire type 0: varint (`int32`, `int64`, `uint32`, `uint64`, `sint32`, `bool`, enums).
pub const VARINT: u8 = 0;
/// Wire type 1: 8 little-endian bytes (`fixed64`, `sfixed64`, `double`).
pub const FIXED64: u8 = 1;
/// Wire type 2: length-delimited (`string`, `bytes`, messages, packed repeated fields).
pub const LEN: u8 = 2;
/// Wire type 5: 4 little-endian bytes (`fixed32`, `sfixed32`, `float`).
pub const FIXED32: u8 = 5;

/// The buffer has no room left for what was being written.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferFull;

impl fmt::Display for BufferFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("protobuf buffer full")
    }
}

impl core::error::Error for BufferFull {}

/// Bytes a varint encoding of `value` takes (1 to 10).
#[inline]
pub const fn varint_len(value: u64) -> usize {
    // Significant bits, at least 1; each varint byte carries 7 of them.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    (bits * 9 + 64) / 64
}

/// ZigZag encoding of a `sint32`: small magnitudes of either sign become small varints.
#[inline]
pub const fn zigzag32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// ZigZag encoding of a `sint64`.
#[inline]
pub const fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The key of field `field` with wire type `wire_type`.
#[inline]
pub const fn key(field: u32, wire_type: u8) -> u64 {
    ((field as u64) << 3) | wire_type as u64
}

/// Bytes the key of field `field` takes.
#[inline]
pub const fn key_len(field: u32) -> usize {
    varint_len(key(field, 0))
}

/// Bytes a whole length-delimited field takes whose content is `len` bytes.
#[inline]
pub const fn len_field_len(field: u32, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

/// Bytes a string field takes, or 0 for an empty string (proto3 leaves defaults out).
#[cfg_attr(not(feature = "prefer-size"), inline)]
#[cfg_attr(feature = "prefer-size", inline(never))]
pub const fn str_field_len(field: u32, value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        len_field_len(field, value.len())
    }
}

/// Bytes a varint field takes, or 0 when `value` is 0 (proto3 leaves defaults out).
#[cfg_attr(not(feature = "prefer-size"), inline)]
pub const fn varint_field_len(field: u32, value: u64) -> usize {
    if value == 0 {
        0
    } else {
        key_len(field) + varint_len(value)
    }
}

/// Bytes a `fixed64`/`double` field takes (always written).
#[inline]
pub const fn fixed64_field_len(field: u32) -> usize {
    key_len(field) + 8
}

/// Bytes the content of a packed repeated `uint64` field takes (without key and length).
#[inline]
pub fn packed_varint_len(values: &[u64]) -> usize {
    values.iter().map(|&v| varint_len(v)).sum()
}

/// Writes protobuf backwards, from the end of a buffer towards its start.
///
/// The written bytes are always `buf[position()..]` of the buffer given to
/// [`new`](Self::new). To write a message: note [`position`](Self::position), write its
/// fields last to first, then call [`message`](Self::message) with the noted position to
/// prefix length and key.
#[derive(Debug)]
pub struct ReverseWriter<'a> {
    /// The part of the buffer not written yet: everything before the written bytes.
    free: &'a mut [u8],
    /// Length of the whole buffer.
    len: usize,
}

impl<'a> ReverseWriter<'a> {
    /// A writer that fills all of `buf`, starting at its end.
    #[inline]
    pub fn new(buf: &'a mut [u8]) -> Self {
        let len = buf.len();
        ReverseWriter { free: buf, len }
    }

    /// Where the written bytes start; they run to the end of the buffer.
    #[inline]
    pub fn position(&self) -> usize {
        self.free.len()
    }

    /// Bytes written so far.
    #[inline]
    pub fn written(&self) -> usize {
        self.len - self.free.len()
    }

    /// Bytes still free in front of what was written.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.free.len()
    }

    /// Claim the `n` bytes in front of what was written, for the caller to fill (for
    /// example with [`Fill`], when a small message's size is known beforehand).
    #[inline(always)]
    pub fn claim(&mut self, n: usize) -> Result<&'a mut [u8], BufferFull> {
        let free = core::mem::take(&mut self.free);
        match free.len().checked_sub(n) {
            Some(at) => {
                let (head, tail) = free.split_at_mut(at);
                self.free = head;
                Ok(tail)
            }
            None => {
                self.free = free;
                Err(BufferFull)
            }
        }
    }

    /// Claim exactly `N` bytes, as an array (so fixed-size copies compile to plain stores).
    #[inline]
    fn claim_array<const N: usize>(&mut self) -> Result<&'a mut [u8; N], BufferFull> {
        let free = core::mem::take(&mut self.free);
        match free.len().checked_sub(N) {
            Some(at) => {
                let (head, tail) = free.split_at_mut(at);
                self.free = head;
                tail.try_into().map_err(|_| BufferFull)
            }
            None => {
                self.free = free;
                Err(BufferFull)
            }
        }
    }

    /// Raw bytes.
    #[inline]
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), BufferFull> {
        copy_short(self.claim(bytes.len())?, bytes);
        Ok(())
    }

    /// A varint.
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    pub fn varint(&mut self, value: u64) -> Result<(), BufferFull> {
        if cfg!(not(feature = "prefer-size")) && value < 0x80 {
            // Keys, lengths and small values: one byte (without `prefer-size`; the loop
            // below does it with less code).
            self.claim_array::<1>()?[0] = value as u8;
            return Ok(());
        }
        self.varint_any(value)
    }

    /// A varint of any size.
    #[inline]
    fn varint_any(&mut self, mut value: u64) -> Result<(), BufferFull> {
        let slot = self.claim(varint_len(value))?;
        let (last, rest) = slot.split_last_mut().ok_or(BufferFull)?;
        for byte in rest {
            *byte = (value as u8) | 0x80;
            value >>= 7;
        }
        *last = value as u8;
        Ok(())
    }

    /// A field key.
    #[inline(always)]
    pub fn key(&mut self, field: u32, wire_type: u8) -> Result<(), BufferFull> {
        self.varint(key(field, wire_type))
    }

    /// 8 little-endian bytes.
    #[inline]
    pub fn fixed64(&mut self, value: u64) -> Result<(), BufferFull> {
        *self.claim_array::<8>()? = value.to_le_bytes();
        Ok(())
    }

    /// 4 little-endian bytes.
    #[inline]
    pub fn fixed32(&mut self, value: u32) -> Result<(), BufferFull> {
        *self.claim_array::<4>()? = value.to_le_bytes();
        Ok(())
    }

    /// Prefix what was written since `start` with its length and the key of `field`,
    /// making it a length-delimited field (a nested message, string or packed field).
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    pub fn message(&mut self, field: u32, start: usize) -> Result<(), BufferFull> {
        let len = start.checked_sub(self.position()).ok_or(BufferFull)?;
        self.varint(len as u64)?;
        self.key(field, LEN)
    }

    /// A `uint32`/`uint64`/`int64`/`bool`/enum field; nothing when `value` is 0.
    #[inline(always)]
    pub fn varint_field(&mut self, field: u32, value: u64) -> Result<(), BufferFull> {
        if value != 0 {
            self.varint_field_always(field, value)?;
        }
        Ok(())
    }

    /// A varint field written even when 0 (a `oneof` member, whose presence matters).
    #[inline]
    pub fn varint_field_always(&mut self, field: u32, value: u64) -> Result<(), BufferFull> {
        self.varint(value)?;
        self.key(field, VARINT)
    }

    /// A `fixed64`/`sfixed64` field, always written.
    #[inline]
    pub fn fixed64_field(&mut self, field: u32, value: u64) -> Result<(), BufferFull> {
        let key = key(field, FIXED64);
        if cfg!(not(feature = "prefer-size")) && key < 0x80 {
            // One store of key and value: every OTLP field number is below 16 (without
            // `prefer-size`; two writes take less code).
            let slot = self.claim_array::<9>()?;
            slot[0] = key as u8;
            let value = value.to_le_bytes();
            for (out, byte) in slot[1..].iter_mut().zip(value) {
                *out = byte;
            }
            return Ok(());
        }
        self.fixed64_field_any(key, value)
    }

    /// A `fixed64` field under any key.
    #[inline]
    fn fixed64_field_any(&mut self, key: u64, value: u64) -> Result<(), BufferFull> {
        self.fixed64(value)?;
        self.varint(key)
    }

    /// A `fixed64` field; nothing when `value` is 0.
    #[inline(always)]
    pub fn fixed64_field_nonzero(&mut self, field: u32, value: u64) -> Result<(), BufferFull> {
        if value != 0 {
            self.fixed64_field(field, value)?;
        }
        Ok(())
    }

    /// A `double` field, always written (exact bits: NaN payloads and -0.0 survive).
    #[inline]
    pub fn double_field(&mut self, field: u32, value: f64) -> Result<(), BufferFull> {
        self.fixed64_field(field, value.to_bits())
    }

    /// A string field, written even when empty (a `oneof` member).
    #[inline]
    pub fn str_field_always(&mut self, field: u32, value: &str) -> Result<(), BufferFull> {
        let start = self.position();
        self.bytes(value.as_bytes())?;
        self.message(field, start)
    }

    /// A string field; nothing when empty.
    #[inline(always)]
    pub fn str_field(&mut self, field: u32, value: &str) -> Result<(), BufferFull> {
        if value.is_empty() {
            return Ok(());
        }
        self.str_field_always(field, value)
    }

    /// A packed repeated `fixed64` field; nothing when `values` is empty.
    #[inline]
    pub fn packed_fixed64_field(&mut self, field: u32, values: &[u64]) -> Result<(), BufferFull> {
        if values.is_empty() {
            return Ok(());
        }
        let start = self.position();
        let n = values.len().checked_mul(8).ok_or(BufferFull)?;
        let slot = self.claim(n)?;
        for (out, value) in slot.chunks_exact_mut(8).zip(values) {
            out.copy_from_slice(&value.to_le_bytes());
        }
        self.message(field, start)
    }

    /// A packed repeated `double` field; nothing when `values` is empty.
    #[inline]
    pub fn packed_double_field(&mut self, field: u32, values: &[f64]) -> Result<(), BufferFull> {
        if values.is_empty() {
            return Ok(());
        }
        let start = self.position();
        let n = values.len().checked_mul(8).ok_or(BufferFull)?;
        let slot = self.claim(n)?;
        for (out, value) in slot.chunks_exact_mut(8).zip(values) {
            out.copy_from_slice(&value.to_bits().to_le_bytes());
        }
        self.message(field, start)
    }

    /// A packed repeated `uint64` (varint) field; nothing when `values` is empty.
    #[inline]
    pub fn packed_varint_field(&mut self, field: u32, values: &[u64]) -> Result<(), BufferFull> {
        if values.is_empty() {
            return Ok(());
        }
        let start = self.position();
        for &value in values.iter().rev() {
            self.varint(value)?;
        }
        self.message(field, start)
    }
}

/// Fills a claimed slice forwards: for small messages whose exact size is known, one
/// claim and a few stores instead of a claim per field.
#[derive(Debug)]
pub struct Fill<'a> {
    out: &'a mut [u8],
}

impl<'a> Fill<'a> {
    /// Fill `out` from its start.
    #[inline]
    pub fn new(out: &'a mut [u8]) -> Self {
        Fill { out }
    }

    /// Bytes not filled yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.out.len()
    }

    /// One byte.
    #[inline]
    pub fn byte(&mut self, byte: u8) -> Result<(), BufferFull> {
        let out = core::mem::take(&mut self.out);
        let (first, rest) = out.split_first_mut().ok_or(BufferFull)?;
        *first = byte;
        self.out = rest;
        Ok(())
    }

    /// Raw bytes.
    #[inline]
    pub fn bytes(&mut self, bytes: &[u8]) -> Result<(), BufferFull> {
        let out = core::mem::take(&mut self.out);
        if out.len() < bytes.len() {
            self.out = out;
            return Err(BufferFull);
        }
        let (head, rest) = out.split_at_mut(bytes.len());
        copy_short(head, bytes);
        self.out = rest;
        Ok(())
    }

    /// A varint.
    #[inline]
    pub fn varint(&mut self, mut value: u64) -> Result<(), BufferFull> {
        while value >= 0x80 {
            self.byte((value as u8) | 0x80)?;
            value >>= 7;
        }
        self.byte(value as u8)
    }
}

/// Copy `src` into `dst` (same length; nothing when they differ).
///
/// On 64-bit hosts, short runs (keys, attribute values, names) are copied with a few
/// fixed-size moves instead of a call to the `memcpy` routine, which costs more than the
/// copy itself at these sizes. A 32-bit MCU has no 8- or 16-byte moves (those copies call
/// `memcpy` anyway), so there one call to it keeps a firmware image small.
#[inline]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n != dst.len() {
        return;
    }
    #[cfg(target_pointer_width = "64")]
    {
        if (8..=16).contains(&n) {
            copy_fixed::<8>(dst, src, 0);
            copy_fixed::<8>(dst, src, n - 8);
            return;
        } else if (4..8).contains(&n) {
            copy_fixed::<4>(dst, src, 0);
            copy_fixed::<4>(dst, src, n - 4);
            return;
        } else if (17..=32).contains(&n) {
            copy_fixed::<16>(dst, src, 0);
            copy_fixed::<16>(dst, src, n - 16);
            return;
        } else if n < 4 {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = *s;
            }
            return;
        }
    }
    dst.copy_from_slice(src);
}

/// Copy the `N` bytes at `at` (the ranges overlap when the run is shorter than 2 N).
#[cfg(target_pointer_width = "64")]
#[inline]
fn copy_fixed<const N: usize>(dst: &mut [u8], src: &[u8], at: usize) {
    let from: Option<&[u8; N]> = src.get(at..at + N).and_then(|s| s.try_into().ok());
    let to: Option<&mut [u8; N]> = dst.get_mut(at..at + N).and_then(|d| d.try_into().ok());
    if let (Some(from), Some(to)) = (from, to) {
        *to = *from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes written into `buf` by a writer that ended at `pos`.
    fn tail(buf: &[u8], pos: usize) -> &[u8] {
        &buf[pos..]
    }

    #[test]
    fn varint_len_matches_encoding() {
        let cases: [(u64, usize); 10] = [
            (0, 1),
            (1, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            ((1 << 35) - 1, 5),
            (1 << 56, 9),
            ((1 << 63) - 1, 9),
            (u64::MAX, 10),
        ];
        for (value, len) in cases {
            assert_eq!(varint_len(value), len, "{value}");
            let mut buf = [0u8; 10];
            let mut w = ReverseWriter::new(&mut buf);
            w.varint(value).unwrap();
            assert_eq!(w.written(), len);
            // Decode it back: 7 bits per byte, high bit set on all but the last.
            let pos = w.position();
            let bytes = tail(&buf, pos);
            let mut decoded = 0u64;
            for (i, b) in bytes.iter().enumerate() {
                decoded |= u64::from(b & 0x7f) << (7 * i);
                assert_eq!(b & 0x80 != 0, i + 1 < bytes.len());
            }
            assert_eq!(decoded, value);
        }
    }

    #[test]
    fn zigzag_maps_small_magnitudes_to_small_values() {
        assert_eq!(zigzag32(0), 0);
        assert_eq!(zigzag32(-1), 1);
        assert_eq!(zigzag32(1), 2);
        assert_eq!(zigzag32(i32::MAX), u32::MAX - 1);
        assert_eq!(zigzag32(i32::MIN), u32::MAX);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
        assert_eq!(zigzag64(-2), 3);
    }

    #[test]
    fn nested_message_gets_its_length_and_key() {
        let mut buf = [0u8; 16];
        let mut w = ReverseWriter::new(&mut buf);
        let start = w.position();
        w.str_field(2, "hi").unwrap();
        w.varint_field(1, 150).unwrap();
        w.message(3, start).unwrap();
        let pos = w.position();
        assert_eq!(
            tail(&buf, pos),
            &[0x1a, 0x07, 0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i']
        );
    }

    #[test]
    fn packed_fields_are_little_endian_runs() {
        let mut buf = [0u8; 40];
        let mut w = ReverseWriter::new(&mut buf);
        w.packed_fixed64_field(6, &[1, 0x0102_0304_0506_0708])
            .unwrap();
        let pos = w.position();
        let out = tail(&buf, pos);
        assert_eq!(out[..2], [0x32, 16]);
        assert_eq!(out[2..10], 1u64.to_le_bytes());
        assert_eq!(out[10..], 0x0102_0304_0506_0708u64.to_le_bytes());

        let mut buf = [0u8; 40];
        let mut w = ReverseWriter::new(&mut buf);
        w.packed_varint_field(2, &[1, 300]).unwrap();
        let pos = w.position();
        assert_eq!(tail(&buf, pos), &[0x12, 3, 1, 0xac, 0x02]);
        assert_eq!(packed_varint_len(&[1, 300]), 3);
    }

    #[test]
    fn full_buffer_is_an_error_and_nothing_is_written_past_it() {
        for size in 0..=24 {
            let mut buf = [0u8; 24];
            let mut w = ReverseWriter::new(&mut buf[..size]);
            let r = w
                .fixed64_field(3, u64::MAX)
                .and_then(|()| w.varint(u64::MAX));
            assert_eq!(r.is_err(), size < 19, "size {size}");
            assert!(w.written() <= size);
            // Whatever a failed write claimed, the bytes beyond `size` are untouched.
            assert!(buf[size..].iter().all(|&b| b == 0));
        }
        let mut empty: [u8; 0] = [];
        let mut w = ReverseWriter::new(&mut empty);
        assert_eq!(w.varint(0), Err(BufferFull));
        assert_eq!(w.bytes(b"x"), Err(BufferFull));
        assert_eq!(w.packed_double_field(7, &[1.0]), Err(BufferFull));
    }

    #[test]
    fn short_and_long_copies_are_exact() {
        let src: [u8; 64] = core::array::from_fn(|i| i as u8 + 1);
        for n in 0..=64 {
            let mut buf = [0u8; 70];
            let mut w = ReverseWriter::new(&mut buf);
            w.bytes(&src[..n]).unwrap();
            let pos = w.position();
            assert_eq!(tail(&buf, pos), &src[..n], "{n}");
            assert!(buf[..70 - n].iter().all(|&b| b == 0));
        }
    }

    /// The one-store writers (hosts) and the general ones (the only ones with `prefer-size`)
    /// write the same bytes.
    #[test]
    fn fast_and_general_writers_agree() {
        let values = [0, 1, 0x7f, 0x80, 300, 1 << 35, u64::MAX];
        for value in values {
            let (mut a, mut b) = ([0u8; 24], [0u8; 24]);
            let mut wa = ReverseWriter::new(&mut a);
            let mut wb = ReverseWriter::new(&mut b);
            wa.varint(value).unwrap();
            wb.varint_any(value).unwrap();
            let (pa, pb) = (wa.position(), wb.position());
            assert_eq!(a[pa..], b[pb..], "varint {value}");
            for field in [1, 4, 15, 16, 2047] {
                let (mut a, mut b) = ([0u8; 24], [0u8; 24]);
                let mut wa = ReverseWriter::new(&mut a);
                let mut wb = ReverseWriter::new(&mut b);
                wa.fixed64_field(field, value).unwrap();
                wb.fixed64_field_any(key(field, FIXED64), value).unwrap();
                let (pa, pb) = (wa.position(), wb.position());
                assert_eq!(a[pa..], b[pb..], "fixed64 field {field} value {value}");
                assert_eq!(24 - pa, fixed64_field_len(field), "field {field}");
            }
        }
    }

    #[test]
    fn sizes_match_what_is_written() {
        let mut buf = [0u8; 64];
        let mut w = ReverseWriter::new(&mut buf);
        w.str_field(1, "abc").unwrap();
        assert_eq!(w.written(), str_field_len(1, "abc"));
        let before = w.written();
        w.varint_field(16, 300).unwrap();
        assert_eq!(w.written() - before, varint_field_len(16, 300));
        assert_eq!(key_len(16), 2);
        assert_eq!(len_field_len(1, 200), 1 + 2 + 200);
        assert_eq!(str_field_len(1, ""), 0);
        assert_eq!(varint_field_len(1, 0), 0);
    }
}
