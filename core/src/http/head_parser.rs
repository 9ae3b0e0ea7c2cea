//! The size build's response-head parser: status line and header fields, each field handed
//! to a [`FieldVisitor`] as soon as its line (and any obs-fold continuation) is read.
//!
//! Why not httparse under `prefer-size`: inlined into the reader, httparse's parser costs
//! about 1,370 bytes of flash on Cortex-M4F plus its two 256-byte character tables, and it
//! writes the fields into [`MAX_HEADERS`] slots (512 bytes of stack on 32-bit cores) that
//! the analysis then walks. This parser tests characters by compares and a 16-byte bit set
//! and keeps no slots: with it, firmware-min's library cost on Cortex-M4F fell from 23,932
//! to 22,932 bytes and its worst export's stack from 2,664 to 2,368 bytes. It accepts,
//! refuses and waits on exactly the inputs httparse does with
//! `allow_obsolete_multiline_headers_in_responses(true)` and its other options at their
//! defaults, with the same error kinds (the differential test below holds the two to
//! that), so the default build keeps httparse, unchanged, and both builds behave the same.

use super::{is_tchar as is_token, FieldVisitor, HeadEnd, MAX_HEADERS};
use crate::transport::Malformed;

/// Why parsing stopped before the end of the head.
enum Stop {
    /// The bytes so far are a valid start of a head.
    NeedMore,
    Bad(Malformed),
}

fn bad<T>(m: Malformed) -> Result<T, Stop> {
    Err(Stop::Bad(m))
}

/// A byte of a reason phrase or a field value: HTAB, SP, VCHAR or obs-text.
fn is_text(b: u8) -> bool {
    b == b'\t' || (b >= b' ' && b != 0x7f)
}

/// The head being read, and how far.
struct Cursor<'b> {
    buf: &'b [u8],
    at: usize,
}

// `peek` and `next` are forced inline (their call sequences cost more than their bodies:
// 128 bytes on Cortex-M4F), `next_in_line` is left to the compiler, which calls it.
impl Cursor<'_> {
    #[inline(always)]
    fn peek(&self) -> Result<u8, Stop> {
        self.buf.get(self.at).copied().ok_or(Stop::NeedMore)
    }

    #[inline(always)]
    fn next(&mut self) -> Result<u8, Stop> {
        let b = self.peek()?;
        self.at += 1;
        Ok(b)
    }

    /// The next byte, where a line may end: CRLF is read as one LF. A CR that another byte
    /// follows is read as CR, which no caller accepts (it is neither a line end nor text
    /// nor a token byte), so each refuses it with its own error kind, as httparse does.
    fn next_in_line(&mut self) -> Result<u8, Stop> {
        let b = self.next()?;
        if b == b'\r' && self.peek()? == b'\n' {
            self.at += 1;
            return Ok(b'\n');
        }
        Ok(b)
    }
}

/// Parses the response head at the start of `buf`: `Ok(None)` while `buf` is a valid start
/// of one, the error kind httparse would give for an invalid one. Each field is handed to
/// `visitor` as it is read, the value with the whitespace after the colon and at its end
/// left out and any obs-fold inside it kept as received (CR, LF and all); a field is not
/// retracted when a later byte turns out invalid or missing, so a caller uses what it was
/// handed only once the head is complete.
pub(super) fn parse_head<V: FieldVisitor>(
    buf: &[u8],
    visitor: &mut V,
) -> Result<Option<HeadEnd>, Malformed> {
    match parse(&mut Cursor { buf, at: 0 }, visitor) {
        Ok(end) => Ok(Some(end)),
        Err(Stop::NeedMore) => Ok(None),
        Err(Stop::Bad(m)) => Err(m),
    }
}

fn parse<V: FieldVisitor>(c: &mut Cursor<'_>, visitor: &mut V) -> Result<HeadEnd, Stop> {
    // Empty lines before the status line are skipped (RFC 9112 §2.2).
    let mut b = c.next_in_line()?;
    while b == b'\n' {
        b = c.next_in_line()?;
    }
    if b == b'\r' {
        return bad(Malformed::NewLine);
    }
    // Version and code as one pattern, byte by byte, so that a wrong byte is refused before
    // the whole version has arrived, as httparse does when fewer than its 8 bytes are there:
    // `m` is the minor version (0 or 1), `s` a digit of the code (any three digits, 000
    // included, as httparse reads them; the reader refuses a code below 100), any other
    // byte itself.
    let (mut minor, mut status) = (0u8, 0u16);
    let mut pattern = b"HTTP/1.m sss".iter();
    while let Some(&expected) = pattern.next() {
        let digit = b.wrapping_sub(b'0');
        match expected {
            b'm' if digit <= 1 => minor = digit,
            b's' if digit <= 9 => status = status * 10 + u16::from(digit),
            b'm' | b's' => return bad(Malformed::StatusLine),
            _ if b != expected => return bad(Malformed::StatusLine),
            _ => {}
        }
        if pattern.len() > 0 {
            b = c.next()?;
        }
    }
    // One space and a reason phrase, or the line end straight after the code.
    b = c.next_in_line()?;
    if b == b' ' {
        b = c.next_in_line()?;
        while is_text(b) {
            b = c.next_in_line()?;
        }
    }
    if b != b'\n' {
        return bad(Malformed::StatusLine);
    }

    let mut fields = 0usize;
    loop {
        b = c.next_in_line()?;
        if b == b'\n' {
            return Ok(HeadEnd {
                len: c.at,
                status,
                minor,
            });
        }
        if b == b'\r' {
            return bad(Malformed::NewLine);
        }
        // No whitespace before the name or between it and the colon.
        let name_start = c.at - 1;
        if !is_token(b) {
            return bad(Malformed::HeaderName);
        }
        while is_token(b) {
            b = c.next()?;
        }
        if b != b':' {
            return bad(Malformed::HeaderName);
        }
        let name_end = c.at - 1;
        // The value runs from its first to its last byte that is not whitespace (nor a
        // fold's line end); `value_end` is 0 until the first.
        let (mut value_start, mut value_end) = (0, 0);
        loop {
            b = c.next_in_line()?;
            if b == b'\n' {
                // A line starting with whitespace continues the field (obs-fold), which
                // cannot be told before the next byte has arrived.
                if !matches!(c.peek()?, b' ' | b'\t') {
                    break;
                }
            } else if !is_text(b) {
                return bad(Malformed::HeaderValue);
            } else if b != b' ' && b != b'\t' {
                if value_end == 0 {
                    value_start = c.at - 1;
                }
                value_end = c.at;
            }
        }
        // Like httparse: the field past the limit is read whole (and a bad byte in it
        // reported as such) before there are too many.
        if fields == MAX_HEADERS {
            return bad(Malformed::TooManyHeaders);
        }
        fields += 1;
        let name = c.buf.get(name_start..name_end).unwrap_or(b"");
        let value = c.buf.get(value_start..value_end).unwrap_or(b"");
        visitor.field(name, value);
    }
}

#[cfg(test)]
mod tests {
    //! Differential test: this parser against httparse (as the default build calls it) on
    //! generated heads, their single-byte mutations and random bytes, every prefix of each.

    use super::super::{parse_with_httparse, FieldVisitor, HeadEnd, MAX_HEADERS};
    use super::parse_head;
    use crate::transport::Malformed;
    use heapless::Vec;

    /// Longest input generated; the field record below fits any head this long.
    const MAX_INPUT: usize = 1024;

    /// The fields handed over, as (length, name, length, value) records in order.
    struct Record(Vec<u8, { 2 * MAX_INPUT }>);

    impl FieldVisitor for Record {
        fn field(&mut self, name: &[u8], value: &[u8]) {
            for part in [name, value] {
                let len = u16::try_from(part.len()).expect("a short part");
                self.0.extend_from_slice(&len.to_le_bytes()).expect("room");
                self.0.extend_from_slice(part).expect("room");
            }
        }
    }

    type Outcome = Result<Option<(HeadEnd, Vec<u8, { 2 * MAX_INPUT }>)>, Malformed>;

    /// A parser's result on `buf`: the fields count only in a complete head (this parser
    /// hands them over as it goes, httparse at the end).
    fn outcome(
        parse: fn(&[u8], &mut Record) -> Result<Option<HeadEnd>, Malformed>,
        buf: &[u8],
    ) -> Outcome {
        let mut record = Record(Vec::new());
        let end = parse(buf, &mut record)?;
        Ok(end.map(|end| (end, record.0)))
    }

    /// What the inputs came to, so that a generator gone wrong (everything refused at the
    /// first byte, say) fails the test instead of passing it.
    #[derive(Default, Debug)]
    struct Tally {
        inputs: u64,
        need_more: u64,
        complete: u64,
        complete_folded: u64,
        complete_many_fields: u64,
        errors: [u64; 5],
    }

    impl Tally {
        fn add(&mut self, outcome: &Outcome) {
            self.inputs += 1;
            match outcome {
                Ok(None) => self.need_more += 1,
                Ok(Some((_, fields))) => {
                    self.complete += 1;
                    self.complete_folded += u64::from(fields.contains(&b'\n'));
                    // Each field takes at least 4 bytes of record: 20 fields or more.
                    self.complete_many_fields += u64::from(fields.len() >= 4 * 20);
                }
                Err(m) => {
                    let kind = match m {
                        Malformed::StatusLine => 0,
                        Malformed::HeaderName => 1,
                        Malformed::HeaderValue => 2,
                        Malformed::NewLine => 3,
                        Malformed::TooManyHeaders => 4,
                        other => panic!("a head parser gave {other:?}"),
                    };
                    self.errors[kind] += 1;
                }
            }
        }
    }

    /// Both parsers on every prefix of `buf` from `from` bytes on (shorter ones were
    /// checked as prefixes of the input `buf` was made from).
    fn check_prefixes(buf: &[u8], from: usize, tally: &mut Tally) {
        for len in from.min(buf.len())..=buf.len() {
            let input = &buf[..len];
            let ours = outcome(parse_head, input);
            let theirs = outcome(parse_with_httparse, input);
            assert_eq!(ours, theirs, "input {:?}", Escaped(input));
            tally.add(&ours);
        }
    }

    struct Escaped<'a>(&'a [u8]);

    impl core::fmt::Debug for Escaped<'_> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("b\"")?;
            for &b in self.0 {
                core::fmt::Display::fmt(&core::ascii::escape_default(b), f)?;
            }
            f.write_str("\"")
        }
    }

    /// xorshift64*, seeded.
    struct Rng(u64);

    impl Rng {
        #[inline(always)]
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn percent(&mut self, p: usize) -> bool {
            self.below(100) < p
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// Bytes for random and mutated input: heavy in what heads are made of, with the
    /// control, DEL and non-ASCII bytes parsers trip on.
    const ALPHABET: &[u8] =
        b"\r\n\r\n\r\n:::    \t\t\tHTTTP//..0123456789azAZ-!~,;\"()@{}\x00\x01\x7f\x80\xff";

    /// Bytes of a reason phrase or a value: visible, space and tab, obs-text.
    const TEXT: &[u8] = b"abcXYZ019 \t  ,;=\"()/:-.\x80\xc3\xa9\xff";

    const NAMES: &[&[u8]] = &[
        b"Content-Length",
        b"content-type",
        b"Transfer-Encoding",
        b"Retry-After",
        b"X-a",
        b"!#$%&'*+-.^_`|~",
    ];

    fn push(buf: &mut Vec<u8, MAX_INPUT>, bytes: &[u8]) {
        buf.extend_from_slice(bytes)
            .expect("a head within MAX_INPUT");
    }

    fn line_end(rng: &mut Rng, buf: &mut Vec<u8, MAX_INPUT>) {
        push(buf, if rng.percent(75) { b"\r\n" } else { b"\n" });
    }

    fn text(rng: &mut Rng, buf: &mut Vec<u8, MAX_INPUT>, max: usize) {
        for _ in 0..rng.below(max + 1) {
            push(buf, &[*rng.pick(TEXT)]);
        }
    }

    fn whitespace(rng: &mut Rng, buf: &mut Vec<u8, MAX_INPUT>, max: usize) {
        for _ in 0..rng.below(max + 1) {
            push(buf, if rng.percent(70) { b" " } else { b"\t" });
        }
    }

    /// A valid head (and maybe a few body bytes after it).
    fn valid_head(rng: &mut Rng) -> Vec<u8, MAX_INPUT> {
        let mut buf = Vec::new();
        if rng.percent(10) {
            for _ in 0..rng.below(3) {
                line_end(rng, &mut buf);
            }
        }
        push(
            &mut buf,
            if rng.percent(80) {
                b"HTTP/1.1 "
            } else {
                b"HTTP/1.0 "
            },
        );
        for _ in 0..3 {
            push(&mut buf, &[b'0' + rng.below(10) as u8]);
        }
        if rng.percent(85) {
            push(&mut buf, b" ");
            text(rng, &mut buf, 8);
        }
        line_end(rng, &mut buf);
        // Mostly a few fields; sometimes about as many as the limit, short ones.
        let (fields, short) = if rng.percent(15) {
            (MAX_HEADERS - 2 + rng.below(5), true)
        } else {
            (rng.below(6), false)
        };
        for _ in 0..fields {
            if short || rng.percent(30) {
                for _ in 0..1 + rng.below(3) {
                    push(&mut buf, &[*rng.pick(b"aZ9-_!~")]);
                }
            } else {
                push(&mut buf, rng.pick::<&[u8]>(NAMES));
            }
            push(&mut buf, b":");
            whitespace(rng, &mut buf, 2);
            if !short {
                // Folds: a line end and whitespace inside the value, at its start, or at
                // its end.
                for part in 0..1 + rng.below(3) {
                    if part > 0 {
                        line_end(rng, &mut buf);
                        push(&mut buf, if rng.percent(70) { b" " } else { b"\t" });
                        whitespace(rng, &mut buf, 2);
                    }
                    text(rng, &mut buf, 10);
                }
            } else {
                text(rng, &mut buf, 2);
            }
            line_end(rng, &mut buf);
        }
        line_end(rng, &mut buf);
        text(rng, &mut buf, 3);
        buf
    }

    /// `buf` with one byte replaced, deleted or inserted at `at`: `op` 0 deletes, 1
    /// replaces by `byte`, 2 inserts it.
    fn mutated(buf: &[u8], at: usize, op: u8, byte: u8) -> Vec<u8, MAX_INPUT> {
        let mut out = Vec::new();
        push(&mut out, &buf[..at]);
        match op {
            0 => push(&mut out, buf.get(at + 1..).unwrap_or(b"")),
            1 => {
                push(&mut out, &[byte]);
                push(&mut out, buf.get(at + 1..).unwrap_or(b""));
            }
            _ => {
                push(&mut out, &[byte]);
                push(&mut out, buf.get(at..).unwrap_or(b""));
            }
        }
        out
    }

    /// Every single-byte mutation of `head` (each position deleted, or replaced by or with
    /// inserted before it each byte of [`ALPHABET`]), every prefix of each.
    fn check_mutations(head: &[u8], tally: &mut Tally) {
        for at in 0..head.len() {
            check_prefixes(&mutated(head, at, 0, 0), at, tally);
            for &byte in ALPHABET {
                for op in 1..=2 {
                    check_prefixes(&mutated(head, at, op, byte), at, tally);
                }
            }
        }
    }

    /// `rounds` rounds from `seed`, each a valid head, a random mutation of it and a run of
    /// random bytes, every prefix of each; and all mutations of the valid head of one
    /// round in `exhaustive_every` (0: none).
    fn run(seed: u64, rounds: u64, exhaustive_every: u64, tally: &mut Tally) {
        let mut rng = Rng(seed | 1);
        for round in 0..rounds {
            let head = valid_head(&mut rng);
            check_prefixes(&head, 0, tally);
            let at = rng.below(head.len());
            let byte = if rng.percent(50) {
                *rng.pick(ALPHABET)
            } else {
                rng.next() as u8
            };
            let op = rng.below(3) as u8;
            check_prefixes(&mutated(&head, at, op, byte), at, tally);
            let mut random = Vec::<u8, MAX_INPUT>::new();
            // Mostly after a valid status line, or most would stop at its first bytes.
            if rng.percent(70) {
                push(&mut random, b"HTTP/1.1 200 OK\r\n");
            }
            for _ in 0..rng.below(60) {
                push(&mut random, &[*rng.pick(ALPHABET)]);
            }
            check_prefixes(&random, 0, tally);
            if exhaustive_every > 0 && round % exhaustive_every == 0 {
                check_mutations(&head, tally);
            }
        }
    }

    #[test]
    fn parses_as_httparse_does() {
        // By default about 320,000 inputs (a fraction of a second in release, a few in
        // debug). Bigger runs by hand, from another seed too; the tally is shown by
        // failing on purpose:
        // HEAD_PARSER_ROUNDS=40000 HEAD_PARSER_EXHAUSTIVE_EVERY=100 HEAD_PARSER_SEED=7
        //   HEAD_PARSER_SHOW=1 cargo test --release -p otlp-embedded --lib
        //   parses_as_httparse_does
        // (40,000 rounds, all mutations of every 100th head: 362 million inputs, 100 s).
        let setting =
            |value: Option<&str>, default| value.map_or(default, |v| v.parse().expect("a count"));
        let rounds = setting(option_env!("HEAD_PARSER_ROUNDS"), 1_000);
        let exhaustive_every = setting(option_env!("HEAD_PARSER_EXHAUSTIVE_EVERY"), 0);
        let seed = setting(option_env!("HEAD_PARSER_SEED"), 0x5eed_4ead);
        let mut tally = Tally::default();
        // All mutations of a head with most of what a head can hold: an empty line first,
        // bare LFs, a tab and obs-text in the reason, a fold inside a value and one after
        // the colon, whitespace around values, an empty value.
        check_mutations(
            b"\nHTTP/1.1 200 A\t\x80\r\nA: b \r\n c\nD:\r\n\te\r\nF:\r\n\r\nx",
            &mut tally,
        );
        run(seed, rounds, exhaustive_every, &mut tally);
        if option_env!("HEAD_PARSER_SHOW").is_some() {
            panic!("{tally:?}");
        }
        // Every kind of result was reached, and often.
        let least = rounds / 20;
        assert!(tally.need_more > least * 10, "{tally:?}");
        assert!(tally.complete > least, "{tally:?}");
        assert!(tally.complete_folded > least, "{tally:?}");
        assert!(tally.complete_many_fields > least, "{tally:?}");
        assert!(tally.errors.iter().all(|&n| n > least), "{tally:?}");
    }

    #[test]
    fn fields_are_handed_over_as_the_default_build_reads_them() {
        let head =
            b"\r\nHTTP/1.0 204\nA: \t x \r\n\tfolded \t\r\n \r\nB:\r\n  \t\r\nC:c\r\n\r\nbody";
        // Length, name, length, value; the fold inside A kept, whitespace around it gone.
        let fields: &[u8] = b"\x01\x00A\x0b\x00x \r\n\tfolded\x01\x00B\x00\x00\x01\x00C\x01\x00c";
        let end = HeadEnd {
            len: head.len() - 4,
            status: 204,
            minor: 0,
        };
        let expected: Outcome = Ok(Some((end, Vec::from_slice(fields).expect("room"))));
        assert_eq!(outcome(parse_head, head), expected);
        assert_eq!(outcome(parse_with_httparse, head), expected);
    }
}
