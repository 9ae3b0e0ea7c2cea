//! The encoder's writer: a [`ReverseWriter`] whose running out of room ends a request's
//! writing at once, or with feature `prefer-size` is remembered and told once at its end.
//!
//! Every field write returns a [`Step`]. Without `prefer-size` a write that does not fit
//! returns `Err(BufferFull)` and the encoder's `?` stops there, as fast as a failed
//! one-pass attempt can stop. With `prefer-size`, [`Step`] cannot fail (its error type is
//! uninhabited, so the `?` after each of the ~40 field writes of a request compile to
//! nothing): the write that does not fit sets a flag instead, the writing carries on to the
//! end of the request (writing whatever still fits, in front of the written bytes, never
//! past the start of the buffer), and [`Writer::finish`] tells the request unusable. Lengths
//! stay consistent however it ends: a message's length is how far the writer moved since
//! its start, and the writer only moves towards the start of the buffer.

#[cfg(feature = "prefer-size")]
use core::convert::Infallible;

use super::EncodeError;
use crate::proto::wire::{self, BufferFull, ReverseWriter};

/// Why a [`Step`] stops the writing: out of room, or, with `prefer-size`, nothing (the
/// flag in the [`Writer`] says it).
#[cfg(not(feature = "prefer-size"))]
pub(super) type Stop = BufferFull;
/// Why a [`Step`] stops the writing: out of room, or, with `prefer-size`, nothing (the
/// flag in the [`Writer`] says it).
#[cfg(feature = "prefer-size")]
pub(super) type Stop = Infallible;

/// What writing one part of a request returns (see the module notes).
pub(super) type Step = Result<(), Stop>;

/// Writes a request backwards (see the module notes for how a full buffer is told).
pub(super) struct Writer<'a> {
    w: ReverseWriter<'a>,
    /// A write did not fit, or a point could not be written: the request is unusable.
    #[cfg(feature = "prefer-size")]
    full: bool,
    /// Why a point of the request could not be encoded, whatever the buffer (see
    /// [`refuse`](Self::refuse)).
    #[cfg(feature = "prefer-size")]
    refused: Option<EncodeError>,
}

impl<'a> Writer<'a> {
    /// A writer that fills all of `buf`, starting at its end.
    #[inline]
    pub(super) fn new(buf: &'a mut [u8]) -> Self {
        Writer {
            w: ReverseWriter::new(buf),
            #[cfg(feature = "prefer-size")]
            full: false,
            #[cfg(feature = "prefer-size")]
            refused: None,
        }
    }

    /// Where the written bytes start; they run to the end of the buffer.
    #[inline(always)]
    pub(super) fn position(&self) -> usize {
        self.w.position()
    }

    /// Bytes written so far.
    #[inline]
    pub(super) fn written(&self) -> usize {
        self.w.written()
    }

    /// Whether the request whose writing returned `written` was written whole: `Err` when
    /// a write did not fit or a point could not be written.
    #[inline]
    pub(super) fn finish(&self, written: Step) -> Result<(), BufferFull> {
        #[cfg(feature = "prefer-size")]
        {
            let Ok(()) = written;
            if self.full {
                return Err(BufferFull);
            }
            Ok(())
        }
        #[cfg(not(feature = "prefer-size"))]
        written
    }

    /// The request cannot be written: out of room, or a point that cannot be encoded.
    #[inline(always)]
    pub(super) fn fail(&mut self) -> Step {
        #[cfg(feature = "prefer-size")]
        {
            self.full = true;
            Ok(())
        }
        #[cfg(not(feature = "prefer-size"))]
        Err(BufferFull)
    }

    /// The request cannot be written: one of its points cannot be encoded, for `error`,
    /// which with `prefer-size` [`refused`](Self::refused) then tells: planning by writing
    /// learns from it why the first point left out of a request was left out, without
    /// reading that point again. Without `prefer-size` (where the splitter plans by
    /// sizes) nothing is kept, so the one-pass writing's per-point path is as it was.
    #[inline(always)]
    pub(super) fn refuse(&mut self, error: EncodeError) -> Step {
        #[cfg(feature = "prefer-size")]
        {
            self.refused = Some(error);
        }
        #[cfg(not(feature = "prefer-size"))]
        let _ = error;
        self.fail()
    }

    /// Why the point refused ([`refuse`](Self::refuse)) could not be encoded, if one was.
    #[cfg(feature = "prefer-size")]
    #[inline]
    pub(super) fn refused(&self) -> Option<EncodeError> {
        self.refused
    }

    /// The outcome of one write of the [`ReverseWriter`].
    #[inline(always)]
    fn step(&mut self, written: Result<(), BufferFull>) -> Step {
        match written {
            Ok(()) => Ok(()),
            Err(BufferFull) => self.fail(),
        }
    }

    /// Claim the `n` bytes in front of what was written, for the caller to fill; `None`
    /// (nothing claimed, nothing noted: the caller calls [`fail`](Self::fail)) when they
    /// do not fit.
    #[inline(always)]
    pub(super) fn claim(&mut self, n: usize) -> Option<&'a mut [u8]> {
        self.w.claim(n).ok()
    }

    /// Raw bytes.
    #[inline]
    pub(super) fn bytes(&mut self, bytes: &[u8]) -> Step {
        let written = self.w.bytes(bytes);
        self.step(written)
    }

    /// Prefix what was written since `start` with its length and the key of `field`.
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn message(&mut self, field: u32, start: usize) -> Step {
        if cfg!(not(feature = "prefer-size")) {
            // The wire writer's own: fewer instructions per field than two calls of
            // `varint` (measured on the encode bench's batch).
            let written = self.w.message(field, start);
            return self.step(written);
        }
        let Some(len) = start.checked_sub(self.position()) else {
            return self.fail();
        };
        self.varint(len as u64)?;
        self.varint(wire::key(field, wire::LEN))
    }

    /// A varint. Every key and length goes through here, so with `prefer-size` it is the
    /// one place a varint that does not fit is noted, and the writers made of varints
    /// (`message`, `varint_field_always`) carry on after it without a test of their own.
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    fn varint(&mut self, value: u64) -> Step {
        let written = self.w.varint(value);
        self.step(written)
    }

    /// A varint field; nothing when `value` is 0.
    #[inline(always)]
    pub(super) fn varint_field(&mut self, field: u32, value: u64) -> Step {
        if value != 0 {
            self.varint_field_always(field, value)?;
        }
        Ok(())
    }

    /// A varint field written even when 0 (a `oneof` member).
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn varint_field_always(&mut self, field: u32, value: u64) -> Step {
        if cfg!(not(feature = "prefer-size")) {
            // The wire writer's own, as `message`.
            let written = self.w.varint_field_always(field, value);
            return self.step(written);
        }
        self.varint(value)?;
        self.varint(wire::key(field, wire::VARINT))
    }

    /// A `fixed64` field, always written.
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn fixed64_field(&mut self, field: u32, value: u64) -> Step {
        if cfg!(feature = "prefer-size") {
            // The value, then its key through the one varint writer (the wire writer's
            // one-store fast path is left out with `prefer-size` anyway).
            let written = self.w.fixed64(value);
            self.step(written)?;
            return self.varint(wire::key(field, wire::FIXED64));
        }
        let written = self.w.fixed64_field(field, value);
        self.step(written)
    }

    /// A `fixed64` field; nothing when `value` is 0. With `prefer-size` one copy of the
    /// test, which the point times and a histogram's count share.
    #[cfg_attr(not(feature = "prefer-size"), inline(always))]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn fixed64_field_nonzero(&mut self, field: u32, value: u64) -> Step {
        if value != 0 {
            self.fixed64_field(field, value)?;
        }
        Ok(())
    }

    /// A `double` field, always written (exact bits).
    #[inline]
    pub(super) fn double_field(&mut self, field: u32, value: f64) -> Step {
        self.fixed64_field(field, value.to_bits())
    }

    /// A string field, written even when empty (a `oneof` member).
    #[cfg_attr(not(feature = "prefer-size"), inline)]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn str_field_always(&mut self, field: u32, value: &str) -> Step {
        let start = self.position();
        self.bytes(value.as_bytes())?;
        self.message(field, start)
    }

    /// A string field; nothing when empty. With `prefer-size` one copy of the test, which
    /// the names, units, versions and schema URLs share.
    #[cfg_attr(not(feature = "prefer-size"), inline(always))]
    #[cfg_attr(feature = "prefer-size", inline(never))]
    pub(super) fn str_field(&mut self, field: u32, value: &str) -> Step {
        if value.is_empty() {
            return Ok(());
        }
        self.str_field_always(field, value)
    }

    /// A packed repeated `fixed64` field; nothing when `values` is empty.
    #[inline]
    pub(super) fn packed_fixed64_field(&mut self, field: u32, values: &[u64]) -> Step {
        if values.is_empty() {
            return Ok(());
        }
        let start = self.position();
        let Some(slot) = values.len().checked_mul(8).and_then(|n| self.claim(n)) else {
            return self.fail();
        };
        for (out, value) in slot.chunks_exact_mut(8).zip(values) {
            out.copy_from_slice(&value.to_le_bytes());
        }
        self.message(field, start)
    }

    /// A packed repeated `double` field; nothing when `values` is empty.
    #[inline]
    pub(super) fn packed_double_field(&mut self, field: u32, values: &[f64]) -> Step {
        if values.is_empty() {
            return Ok(());
        }
        let start = self.position();
        let Some(slot) = values.len().checked_mul(8).and_then(|n| self.claim(n)) else {
            return self.fail();
        };
        for (out, value) in slot.chunks_exact_mut(8).zip(values) {
            out.copy_from_slice(&value.to_bits().to_le_bytes());
        }
        self.message(field, start)
    }

    /// A packed repeated `uint64` (varint) field; nothing when `values` is empty.
    #[cfg(feature = "exponential-histogram")]
    #[inline]
    pub(super) fn packed_varint_field(&mut self, field: u32, values: &[u64]) -> Step {
        let written = self.w.packed_varint_field(field, values);
        self.step(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request with a write that did not fit is refused, even when later writes fit
    /// (with `prefer-size` the writing carries on after it).
    #[test]
    fn a_write_that_did_not_fit_fails_the_request() {
        for size in 0..=16 {
            let mut buf = [0u8; 16];
            let mut w = Writer::new(&mut buf[..size]);
            let write = |w: &mut Writer<'_>| -> Step {
                let start = w.position();
                w.varint_field(1, 150)?;
                w.str_field(2, "a string")?;
                w.varint_field(3, 1)?;
                w.message(4, start)
            };
            let written = write(&mut w);
            // 2 + 3 + 10 + 2 bytes: the message needs 17.
            assert_eq!(w.finish(written), Err(BufferFull), "size {size}");
            assert!(w.written() <= size);
        }
        let mut buf = [0u8; 17];
        let mut w = Writer::new(&mut buf);
        let start = w.position();
        let written = w.varint_field(1, 150);
        assert_eq!(w.finish(written), Ok(()));
        let written = w.str_field(2, "a string");
        assert_eq!(w.finish(written), Ok(()));
        let written = w.message(4, start);
        assert_eq!(w.finish(written), Ok(()));
        assert_eq!(w.written(), 2 + 10 + 3);
        assert_eq!(
            buf[2..],
            [0x22, 13, 0x12, 8, b'a', b' ', b's', b't', b'r', b'i', b'n', b'g', 8, 0x96, 1]
        );
        let mut w = Writer::new(&mut buf);
        let written = w.fail();
        assert_eq!(w.finish(written), Err(BufferFull));
    }

    /// A refused point fails the request and tells why; a request that only ran out of
    /// room tells no refusal.
    #[cfg(feature = "prefer-size")]
    #[test]
    fn a_refused_point_fails_the_request_and_says_why() {
        let mut buf = [0u8; 16];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.refused(), None);
        let error = EncodeError::BucketCountMismatch {
            metric: 3,
            point: 7,
        };
        let written = w.refuse(error);
        assert_eq!(w.finish(written), Err(BufferFull));
        assert_eq!(w.refused(), Some(error));

        let mut w = Writer::new(&mut buf[..2]);
        let written = w.str_field_always(1, "too long");
        assert_eq!(w.finish(written), Err(BufferFull));
        assert_eq!(w.refused(), None);
    }

    /// The field writers write what the wire writer's do, and refuse what does not fit, at
    /// every buffer size around their length.
    #[test]
    fn field_writers_match_the_wire_writer() {
        let values = [0, 1, 0x7f, 0x80, 300, 1 << 35, u64::MAX];
        let mut compared = 0;
        for field in [1, 4, 15, 16, 2047] {
            for value in values {
                for size in 0..=24 {
                    for kind in 0..4 {
                        let (mut a, mut b) = ([0u8; 24], [0u8; 24]);
                        let mut w = Writer::new(&mut a[..size]);
                        let mut r = ReverseWriter::new(&mut b[..size]);
                        let text = &"a string of twenty bytes"[..(value % 21) as usize];
                        let (written, expected) = match kind {
                            0 => (
                                w.varint_field_always(field, value),
                                r.varint_field_always(field, value),
                            ),
                            1 => (w.fixed64_field(field, value), r.fixed64_field(field, value)),
                            2 => (
                                w.str_field_always(field, text),
                                r.str_field_always(field, text),
                            ),
                            _ => {
                                let (ws, rs) = (w.position(), r.position());
                                if size >= 3 {
                                    assert_eq!(w.bytes(&[7; 3]), Ok(()));
                                    assert_eq!(r.bytes(&[7; 3]), Ok(()));
                                }
                                (w.message(field, ws), r.message(field, rs))
                            }
                        };
                        let written = w.finish(written);
                        if kind == 3 && size < 3 {
                            // The message's content does not fit: nothing to compare.
                            continue;
                        }
                        assert_eq!(
                            written, expected,
                            "kind {kind} field {field} {value} in {size}"
                        );
                        if expected.is_ok() {
                            assert_eq!(w.position(), r.position());
                            assert_eq!(a, b);
                            compared += 1;
                        }
                    }
                }
            }
        }
        assert!(compared > 1000, "{compared}");
    }

    /// The packed writers write what the wire writer's do, and refuse what does not fit.
    #[test]
    fn packed_fields_match_the_wire_writer() {
        let words: [u64; 3] = [0, 1, 0x0102_0304_0506_0708];
        let doubles: [f64; 3] = [-0.0, 2.5, f64::NAN];
        for n in 0..=3 {
            for size in [0, 2 + 8 * n - 1, 2 + 8 * n, 40] {
                let (mut a, mut b) = ([0u8; 40], [0u8; 40]);
                let mut w = Writer::new(&mut a[..size]);
                let mut r = ReverseWriter::new(&mut b[..size]);
                let written = w.packed_fixed64_field(6, &words[..n]);
                let expected = r.packed_fixed64_field(6, &words[..n]);
                assert_eq!(w.finish(written), expected, "{n} words in {size}");
                if expected.is_ok() {
                    assert_eq!(w.position(), r.position());
                    assert_eq!(a, b);
                }

                let (mut a, mut b) = ([0u8; 40], [0u8; 40]);
                let mut w = Writer::new(&mut a[..size]);
                let mut r = ReverseWriter::new(&mut b[..size]);
                let written = w.packed_double_field(7, &doubles[..n]);
                let expected = r.packed_double_field(7, &doubles[..n]);
                assert_eq!(w.finish(written), expected, "{n} doubles in {size}");
                if expected.is_ok() {
                    assert_eq!(w.position(), r.position());
                    assert_eq!(a, b);
                }
            }
        }
    }
}
