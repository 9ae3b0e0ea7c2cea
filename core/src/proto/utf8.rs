//! Bytes read back as strings: a response's messages (kept up to their first invalid byte)
//! and the attribute keys and values the registry stores.
//!
//! Core forbids `unsafe`, so bytes become `&str` only through the standard library's own
//! validators. By default that is `core::str::from_utf8`, which checks ASCII a word at a
//! time. With `prefer-size` it is the first chunk of `<[u8]>::utf8_chunks`, a loop over
//! one byte at a time that stops at the first invalid sequence: the same valid prefix in
//! less code (288 bytes against 364 on Cortex-M4F; both read core's 256-byte table of
//! character widths), as `from_utf8` is then not linked at all.
//!
//! Some validator stays linked: the registry hands its stored strings out as `&str`
//! (`MetricsSource::attribute`), and the response decoders' public structs hold `&str`.

/// The longest valid UTF-8 prefix of `bytes`, and whether anything after it was cut (the
/// prefix ends at `core::str::from_utf8`'s `valid_up_to`).
#[cfg(not(feature = "prefer-size"))]
pub(crate) fn valid_prefix(bytes: &[u8]) -> (&str, bool) {
    // The second turn reads the valid prefix, which passes: one call site of `from_utf8`.
    let mut valid = bytes;
    loop {
        match core::str::from_utf8(valid) {
            Ok(s) => return (s, s.len() != bytes.len()),
            Err(e) => valid = valid.get(..e.valid_up_to()).unwrap_or_default(),
        }
    }
}

/// The longest valid UTF-8 prefix of `bytes`, and whether anything after it was cut (the
/// prefix ends at `core::str::from_utf8`'s `valid_up_to`).
#[cfg(feature = "prefer-size")]
#[inline]
pub(crate) fn valid_prefix(bytes: &[u8]) -> (&str, bool) {
    let valid = first_chunk(bytes);
    (valid, valid.len() != bytes.len())
}

/// `bytes` as a string when all of it is valid UTF-8, else the empty string.
#[cfg(not(feature = "prefer-size"))]
#[inline]
pub(crate) fn whole_or_empty(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("")
}

/// `bytes` as a string when all of it is valid UTF-8, else the empty string.
#[cfg(feature = "prefer-size")]
#[inline]
pub(crate) fn whole_or_empty(bytes: &[u8]) -> &str {
    let valid = first_chunk(bytes);
    if valid.len() == bytes.len() {
        valid
    } else {
        ""
    }
}

/// The longest valid UTF-8 prefix of `bytes`, by `utf8_chunks`: its first chunk's valid
/// part (empty input has no chunk). Returned alone, in two registers: the callers compare
/// its length with the input's.
#[cfg(any(test, feature = "prefer-size"))]
#[inline(never)]
fn first_chunk(bytes: &[u8]) -> &str {
    bytes.utf8_chunks().next().map_or("", |chunk| chunk.valid())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What both variants must return, from `core::str::from_utf8` directly.
    fn reference(bytes: &[u8]) -> (&str, bool) {
        match core::str::from_utf8(bytes) {
            Ok(s) => (s, false),
            Err(e) => match core::str::from_utf8(&bytes[..e.valid_up_to()]) {
                Ok(s) => (s, true),
                Err(_) => unreachable!("the valid prefix is valid"),
            },
        }
    }

    /// Both variants (the build's own and `first_chunk`) against the reference: the same
    /// prefix (same start and length), the same cut flag, and the whole string only when
    /// nothing was cut.
    fn check(bytes: &[u8]) {
        let expected = reference(bytes);
        for (name, got) in [
            ("valid_prefix", valid_prefix(bytes)),
            ("first_chunk", {
                let valid = first_chunk(bytes);
                (valid, valid.len() != bytes.len())
            }),
        ] {
            assert_eq!(got, expected, "{name} {bytes:02x?}");
            assert_eq!(got.0.as_ptr(), bytes.as_ptr(), "{name} {bytes:02x?}");
        }
        let whole = whole_or_empty(bytes);
        assert_eq!(whole, if expected.1 { "" } else { expected.0 });
        assert_eq!(whole.len(), if expected.1 { 0 } else { bytes.len() });
    }

    #[test]
    fn every_sequence_of_up_to_three_bytes_matches_from_utf8() {
        check(&[]);
        let mut buf = [0u8; 3];
        for a in 0..=255u8 {
            buf[0] = a;
            check(&buf[..1]);
            for b in 0..=255u8 {
                buf[1] = b;
                check(&buf[..2]);
                for c in 0..=255u8 {
                    buf[2] = c;
                    check(&buf);
                }
            }
        }
    }

    /// Every four-byte sequence whose first byte starts a four-byte character (0xF0 to
    /// 0xF4) and whose others are continuation bytes or their neighbours, each also
    /// followed by one more byte: the edges of overlongs, of U+10FFFF and of truncation.
    #[test]
    fn four_byte_sequences_around_continuation_bytes_match_from_utf8() {
        let around: [u8; 10] = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0];
        for lead in 0xf0..=0xf7u8 {
            for b in 0x7f..=0xc0u8 {
                for c in 0x7f..=0xc0u8 {
                    for d in 0x7f..=0xc0u8 {
                        check(&[lead, b, c, d]);
                    }
                    for d in around {
                        check(&[lead, b, c, 0x80, d]);
                    }
                }
            }
        }
    }

    /// Random sequences of 4 to 40 bytes: half of them bytes drawn mostly from those that
    /// matter to UTF-8 (ASCII, continuation bytes, lead bytes of each width, bytes never
    /// valid), half valid text of characters of every width with one byte replaced by such
    /// a byte or not, and the text cut anywhere.
    #[test]
    fn random_longer_sequences_match_from_utf8() {
        const INTERESTING: [u8; 24] = [
            b'a', 0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
            0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut buf = [0u8; 44];
        let (mut valid, mut cut) = (0u32, 0u32);
        for _ in 0..2_000_000 {
            let len = 4 + (next() % 37) as usize;
            let interesting = |r: u64| INTERESTING[(r % INTERESTING.len() as u64) as usize];
            if next() & 1 == 0 {
                for slot in &mut buf[..len] {
                    let r = next();
                    *slot = if r & 3 == 0 {
                        (r >> 8) as u8
                    } else {
                        interesting(r >> 8)
                    };
                }
            } else {
                let mut at = 0;
                while at < len {
                    // Up to U+10FFFF, each width about as often.
                    let top = [0x80, 0x800, 0x1_0000, 0x11_0000][(next() % 4) as usize];
                    let ch = char::from_u32((next() % top) as u32).unwrap_or('\u{fffd}');
                    at += ch.encode_utf8(&mut buf[at..]).len();
                }
                if next() & 1 == 0 {
                    buf[(next() % len as u64) as usize] = interesting(next());
                }
            }
            check(&buf[..len]);
            if core::str::from_utf8(&buf[..len]).is_ok() {
                valid += 1;
            } else {
                cut += 1;
            }
        }
        // Both outcomes were exercised, many times.
        assert!(valid > 100_000 && cut > 100_000, "{valid} valid, {cut} cut");
    }
}
