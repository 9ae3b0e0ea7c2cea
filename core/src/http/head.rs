//! What a response's status line and header fields say about its body (RFC 9112 §6), and
//! obsolete line folding undone before any field is read (RFC 9112 §5.2).

use super::date::parse_trimmed_retry_after;
use super::reader::{ResponseEnd, State, CHUNK_START, MAX_HEADERS};
// The names as the request head spells them: compared ignoring case, and stored once.
use super::request::{
    known_name, NAME_CONTENT_LENGTH, NAME_CONTENT_TYPE, NAME_RETRY_AFTER, NAME_TRANSFER_ENCODING,
    PROTOBUF,
};
use crate::transport::{ExchangeError, Malformed, RetryAfter};
#[cfg(any(not(feature = "prefer-size"), test))]
use core::mem::MaybeUninit;

/// What the header fields of a final response say besides the framing.
pub(super) struct Head {
    pub(super) retry_after: Option<RetryAfter>,
    /// `Content-Type: application/x-protobuf`, and no transfer coding that this reader
    /// does not undo (a gzip-coded body is not protobuf to whoever reads it here).
    pub(super) protobuf: bool,
}

/// RFC 9110 `tchar`: bit `b % 32` of word `b / 32` is set for a token byte `b` (16 bytes,
/// and one look-up instead of the definition's dozen compares). Built at compile time from
/// the definition.
const TCHARS: [u32; 4] = {
    let mut set = [0u32; 4];
    let mut b = 0u8;
    while b < 128 {
        let tchar = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~'
            );
        if tchar {
            set[(b / 32) as usize] |= 1 << (b % 32);
        }
        b += 1;
    }
    set
};

/// A token byte (RFC 9110 `tchar`): of a request's header names and content coding, and of
/// a response's field names (the size build's head parser). One function for both, so
/// that the size build carries one copy.
pub(super) fn is_tchar(b: u8) -> bool {
    TCHARS
        .get(usize::from(b / 32))
        .is_some_and(|word| word >> (b % 32) & 1 == 1)
}

/// Whether `bytes` holds `byte`. Not `<[u8]>::contains`, which calls core's word-at-a-time
/// memchr (160 bytes on 32-bit cores) for the few hundred bytes of a head.
#[allow(clippy::manual_contains)]
pub(super) fn has_byte(bytes: &[u8], byte: u8) -> bool {
    bytes.iter().any(|&b| b == byte)
}

pub(super) fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// `v` up to its first `;` (where parameters start) or all of it, trimmed: a transfer
/// coding or a media type without its parameters.
fn without_parameters(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|&b| b == b';').unwrap_or(v.len());
    trim(v.get(..end).unwrap_or(v))
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    // `acc * 10 + digit` overflows exactly when `acc` is past u64::MAX / 10, or at it with
    // a digit past u64::MAX % 10 (5): two compares instead of a checked 64-bit multiply.
    const LIMIT: u64 = u64::MAX / 10;
    v.iter().try_fold(0u64, |acc, &b| {
        let digit = u64::from(b.wrapping_sub(b'0'));
        if digit > 9 || acc > LIMIT || (acc == LIMIT && digit > u64::MAX % 10) {
            return None;
        }
        Some(acc * 10 + digit)
    })
}

/// Receives a response head's header fields one by one, in order, as they are parsed.
pub(super) trait FieldVisitor {
    /// One field: its name (token bytes) and its value without the whitespace around it.
    fn field(&mut self, name: &[u8], value: &[u8]);
}

/// A complete response head: its length in the buffer (through the empty line that ends
/// it), the status code (any three digits) and the minor version (0 or 1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct HeadEnd {
    pub(super) len: usize,
    pub(super) status: u16,
    pub(super) minor: u8,
}

// The size build parses heads itself: see `head_parser.rs` for why. The test build has both
// parsers, to hold them to the same results.
#[cfg(any(feature = "prefer-size", test))]
#[path = "head_parser.rs"]
mod parser;

/// Parses the response head at the start of `buf`, handing its fields to `visitor`:
/// `Ok(None)` while more bytes are needed. Obsolete line folding is accepted here and
/// undone by [`unfold`] before any value is interpreted. What `visitor` was handed counts
/// only once the head is complete: the size build's parser hands each field over as it
/// reads it, also in a head that then turns out incomplete or invalid.
#[cfg(feature = "prefer-size")]
pub(super) fn parse<V: FieldVisitor>(
    buf: &[u8],
    visitor: &mut V,
) -> Result<Option<HeadEnd>, Malformed> {
    parser::parse_head(buf, visitor)
}

#[cfg(not(feature = "prefer-size"))]
pub(super) use parse_with_httparse as parse;

#[cfg(any(not(feature = "prefer-size"), test))]
fn map_parse_error(e: httparse::Error) -> Malformed {
    match e {
        httparse::Error::HeaderName => Malformed::HeaderName,
        httparse::Error::HeaderValue => Malformed::HeaderValue,
        httparse::Error::NewLine => Malformed::NewLine,
        httparse::Error::TooManyHeaders => Malformed::TooManyHeaders,
        // Status, Token, Version: all in the status line.
        _ => Malformed::StatusLine,
    }
}

/// [`parse`] by httparse, into [`MAX_HEADERS`] slots, handed to `visitor` once the head is
/// complete. The slots start uninitialised: the parser writes those it fills, and a
/// response only ever reads the filled ones (and only once the head is complete), so
/// clearing all of them first, as `parse_response` needs, would be a loop for nothing.
#[cfg(any(not(feature = "prefer-size"), test))]
pub(super) fn parse_with_httparse<V: FieldVisitor>(
    buf: &[u8],
    visitor: &mut V,
) -> Result<Option<HeadEnd>, Malformed> {
    let mut headers = [MaybeUninit::uninit(); MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut response, buf, &mut headers)
        .map_err(map_parse_error)?;
    let httparse::Status::Complete(len) = parsed else {
        return Ok(None);
    };
    for h in response.headers.iter() {
        visitor.field(h.name.as_bytes(), h.value);
    }
    Ok(Some(HeadEnd {
        len,
        // Both are set once the head is complete.
        status: response.code.unwrap_or(0),
        minor: response.version.unwrap_or(1),
    }))
}

/// Where the status line in `buf` ends (just past its LF), after the empty lines before
/// it, which are skipped as the parser does; `None` while no line end follows them: the
/// reader's stage.
pub(super) fn status_line_end(buf: &[u8]) -> Option<usize> {
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let at = buf.get(start..)?.iter().position(|b| *b == b'\n')?;
    Some(start + at + 1)
}

/// RFC 9112 §5.2: a user agent "MUST replace each received obs-fold with one or more SP
/// octets prior to interpreting the field value". `buf` holds a whole response head in
/// `..head_end` as parsed (and maybe body bytes after it). In a head the parser accepted,
/// every LF that a space or tab follows is a fold's: a header line cannot start with
/// whitespace, and neither can the status line after the empty lines before it, so no
/// status line needs finding first. Each fold (CRLF or LF), with the whitespace that
/// follows it, becomes one space, in place: the rest of `buf` moves down so that a folded
/// date reads as it would on one line. The first `skip` bytes are dropped (an interim
/// response's head, with `head_end` 0 as nothing is unfolded then): one loop moves bytes
/// down for both. Returns how many bytes were removed (0: nothing was folded or skipped).
pub(super) fn unfold(buf: &mut [u8], skip: usize, head_end: usize) -> usize {
    let is_ws = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    // One pass to the end of `buf`: inside the head each fold becomes one space; everything
    // after it (body bytes already received) only moves down. Byte by byte through `get`,
    // since `copy_within` brings a panic path the compiler cannot prove away.
    let (mut read, mut write) = (skip, 0);
    while let Some(&byte) = buf.get(read) {
        read += 1;
        let mut b = byte;
        if b == b'\n' && read < head_end && is_ws(buf.get(read)) {
            // The fold's CR, if any, was the byte just written.
            if write > 0 && buf.get(write - 1) == Some(&b'\r') {
                write -= 1;
            }
            while read < head_end && is_ws(buf.get(read)) {
                read += 1;
            }
            // One space for the fold; the value's own trailing space before it stays.
            b = b' ';
        }
        if let Some(dst) = buf.get_mut(write) {
            *dst = b;
        }
        write += 1;
    }
    read - write
}

/// What is wrong with a response's `Content-Length` values, worst last: a malformed value
/// outranks two that disagree, which outrank a repeated one.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum LengthProblem {
    None,
    Duplicate,
    Conflicting,
    Malformed,
}

impl LengthProblem {
    fn error(self) -> Option<ExchangeError> {
        match self {
            LengthProblem::None => None,
            LengthProblem::Duplicate => Some(ExchangeError::DuplicateContentLength),
            LengthProblem::Conflicting => Some(ExchangeError::ConflictingContentLength),
            LengthProblem::Malformed => Some(ExchangeError::Malformed(Malformed::ContentLength)),
        }
    }
}

/// What the header fields of a response say so far, field by field.
pub(super) struct Fields {
    /// A value held a line end: an obs-fold, to be undone before the fields are read
    /// again (the readings below are then meaningless).
    pub(super) folded: bool,
    retry_after: Option<RetryAfter>,
    content_type_protobuf: bool,
    length: Option<u64>,
    length_error: LengthProblem,
    // Transfer-Encoding over all its field lines, read as one list (RFC 9110 §5.3).
    te_lines: usize,
    codings: usize,
    chunked: usize,
    last_is_chunked: bool,
}

impl Fields {
    /// No fields yet.
    pub(super) const fn new() -> Self {
        Fields {
            folded: false,
            retry_after: None,
            content_type_protobuf: false,
            length: None,
            length_error: LengthProblem::None,
            te_lines: 0,
            codings: 0,
            chunked: 0,
            last_is_chunked: false,
        }
    }

    /// What a final response's head with these fields (read unfolded) says besides its
    /// framing ([`set_framing`](Self::set_framing)).
    pub(super) fn finish(&self) -> Head {
        // Transfer codings other than a last `chunked` stay on the body: not readable here.
        let transfer_coded = self.te_lines > 0 && (self.codings > 1 || !self.last_is_chunked);
        Head {
            retry_after: self.retry_after,
            protobuf: self.content_type_protobuf && !transfer_coded,
        }
    }

    /// What the reader reads next after a final response's head with these fields (read
    /// unfolded), status `status`, HTTP/1.`minor`, by how the body is delimited: nothing
    /// (204, 304, or `Content-Length: 0`), `Content-Length` bytes, chunks (`chunked` last in
    /// the `Transfer-Encoding` list), or everything until the server closes the connection.
    /// Set in the reader's own `state` (a `State` returned through a `Result` is a copy
    /// through memory); a framing error leaves it as it was.
    pub(super) fn set_framing(
        &self,
        status: u16,
        minor: u8,
        state: &mut State,
    ) -> Result<(), ExchangeError> {
        let Fields {
            length,
            length_error,
            te_lines,
            codings,
            chunked,
            last_is_chunked,
            ..
        } = *self;
        *state = if te_lines > 0 && minor == 0 {
            // RFC 9112 §6.1: faulty framing "even if a Content-Length is present".
            return Err(ExchangeError::TransferEncodingInHttp10);
        } else if status == 204 || status == 304 {
            State::Done(ResponseEnd::Complete)
        } else if te_lines > 0 && (length.is_some() || length_error != LengthProblem::None) {
            return Err(ExchangeError::TransferEncodingWithContentLength);
        } else if te_lines > 0 && (codings == 0 || chunked > 1) {
            return Err(ExchangeError::UnsupportedTransferEncoding);
        } else if te_lines > 0 && last_is_chunked {
            State::Chunked(CHUNK_START)
        } else if te_lines > 0 {
            // RFC 9112 §6.3, item 3: chunked is not the final coding of a response, so the
            // body runs until the server closes the connection.
            State::Close
        } else if let Some(e) = length_error.error() {
            return Err(e);
        } else {
            match length {
                Some(0) => State::Done(ResponseEnd::Complete),
                Some(remaining) => State::Body {
                    remaining,
                    chunked: false,
                },
                None => State::Close,
            }
        };
        Ok(())
    }
}

impl FieldVisitor for Fields {
    fn field(&mut self, name: &[u8], value: &[u8]) {
        // Only an obs-fold puts a line end inside a value.
        self.folded |= has_byte(value, b'\n');
        // Not trimmed here: the parser trims spaces and tabs off both ends of a value (so
        // Retry-After is read as it is), and the list readings below trim each item.
        // One search of the names the reader knows, then the field's reading.
        let known = known_name(name);
        if known == NAME_CONTENT_LENGTH {
            for item in value.split(|b| *b == b',') {
                let problem = match (parse_decimal(trim(item)), self.length) {
                    (None, _) => LengthProblem::Malformed,
                    (Some(n), None) => {
                        self.length = Some(n);
                        LengthProblem::None
                    }
                    (Some(n), Some(prev)) if prev == n => LengthProblem::Duplicate,
                    (Some(_), Some(_)) => LengthProblem::Conflicting,
                };
                // The worst problem seen is the one reported.
                self.length_error = self.length_error.max(problem);
            }
        } else if known == NAME_TRANSFER_ENCODING {
            self.te_lines += 1;
            // Empty list elements are skipped (RFC 9110 §5.6.1); parameters after `;` do
            // not change which coding it is.
            for item in value.split(|b| *b == b',') {
                let coding = without_parameters(item);
                if coding.is_empty() {
                    continue;
                }
                self.codings += 1;
                self.last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
                if self.last_is_chunked {
                    self.chunked += 1;
                }
            }
        } else if known == NAME_CONTENT_TYPE {
            let media = without_parameters(value);
            self.content_type_protobuf = media.eq_ignore_ascii_case(PROTOBUF);
        } else if known == NAME_RETRY_AFTER && self.retry_after.is_none() {
            self.retry_after = parse_trimmed_retry_after(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::http::{ReaderConfig, ResponseReader};
    use crate::transport::RetryAfter;

    /// The Retry-After a whole response's head gives, read through the reader.
    fn retry_after(response: &[u8]) -> Option<RetryAfter> {
        let (mut head, mut body) = ([0u8; 256], [0u8; 8]);
        let mut reader = ResponseReader::new(&mut head, &mut body, ReaderConfig::new());
        reader.feed(response).expect("a valid response");
        reader.response().expect("a complete response").retry_after
    }

    #[test]
    fn unfolding_turns_each_fold_into_one_space_and_only_moves_the_body() {
        let head: &[u8] = b"\nHTTP/1.1 200 OK\r\nA:\r\n \tb \r\n\t c\nD: e\n  f\r\n\r\n";
        let mut buf = [0u8; 96];
        // Body bytes after the head, a line end and whitespace among them, stay as they are.
        let body: &[u8] = b"x\r\n y";
        buf[..head.len()].copy_from_slice(head);
        buf[head.len()..head.len() + body.len()].copy_from_slice(body);
        let len = head.len() + body.len();
        let removed = super::unfold(&mut buf[..len], 0, head.len());
        let expected: &[u8] = b"\nHTTP/1.1 200 OK\r\nA: b  c\nD: e f\r\n\r\nx\r\n y";
        assert_eq!(
            (removed, &buf[..len - removed]),
            (len - expected.len(), expected)
        );
    }

    #[test]
    fn unfolding_with_a_skip_drops_those_bytes_and_unfolds_nothing_after_them() {
        let interim: &[u8] = b"HTTP/1.1 103 Hints\r\nLink:\r\n </a>\r\n\r\n";
        let rest: &[u8] = b"HTTP/1.1 200 OK\r\nB: c\r\n d\r\n\r\nx\r\n y";
        let mut buf = [0u8; 96];
        buf[..interim.len()].copy_from_slice(interim);
        buf[interim.len()..interim.len() + rest.len()].copy_from_slice(rest);
        let len = interim.len() + rest.len();
        let removed = super::unfold(&mut buf[..len], interim.len(), 0);
        assert_eq!((removed, &buf[..len - removed]), (interim.len(), rest));
    }

    #[test]
    fn an_interim_response_with_a_fold_is_dropped_and_the_final_one_unfolded() {
        let response: &[u8] = b"HTTP/1.1 103 Hints\r\nLink:\r\n </a>\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After:\r\n 120\r\nContent-Length: 2\r\n\r\nok";
        // Whole, and a byte at a time.
        for step in [response.len(), 1] {
            let (mut head, mut body) = ([0u8; 128], [0u8; 8]);
            let mut reader = ResponseReader::new(&mut head, &mut body, ReaderConfig::new());
            for part in response.chunks(step) {
                assert_eq!(reader.feed(part).expect("a valid response").0, part.len());
            }
            let got = reader.response().expect("a complete response");
            assert_eq!(
                (
                    got.status,
                    got.retry_after,
                    got.body_len,
                    got.bytes_received
                ),
                (503, Some(RetryAfter::Seconds(120)), 2, response.len())
            );
        }
        assert_eq!(retry_after(response), Some(RetryAfter::Seconds(120)));
    }

    #[test]
    fn bytes_reported_after_the_end_change_nothing() {
        use crate::http::{Progress, ResponseEnd};
        use crate::transport::{ExchangeError, Malformed};
        let (mut head, mut body) = ([0u8; 64], [0u8; 8]);
        let mut reader = ResponseReader::new(&mut head, &mut body, ReaderConfig::new());
        let response: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
        let end = Progress::Done(ResponseEnd::Complete);
        assert_eq!(reader.feed(response), Ok((response.len(), end)));
        let done = Ok(end);
        for n in [0, 5, 1000] {
            assert_eq!(reader.received(n), done);
            assert_eq!(reader.bytes_received(), response.len());
        }
        let (mut head, mut body) = ([0u8; 64], [0u8; 8]);
        let mut reader = ResponseReader::new(&mut head, &mut body, ReaderConfig::new());
        let error = ExchangeError::Malformed(Malformed::StatusLine);
        assert_eq!(reader.feed(b"HTTP/2"), Err(error));
        for n in [0, 5, 1000] {
            assert_eq!(reader.received(n), Err(error));
            assert_eq!(reader.bytes_received(), 0);
        }
    }

    #[test]
    fn retry_after_reads_the_value_the_parser_trimmed() {
        const DATE: RetryAfter = RetryAfter::UnixSeconds(784_111_777);
        let cases: [(&[u8], Option<RetryAfter>); 6] = [
            (b"Retry-After:120", Some(RetryAfter::Seconds(120))),
            (b"Retry-After: \t 120\t ", Some(RetryAfter::Seconds(120))),
            (
                b"Retry-After:\tSun, 06 Nov 1994 08:49:37 GMT \t",
                Some(DATE),
            ),
            // Folded: each fold reads as one space, and the ends are trimmed as well.
            (
                b"Retry-After:\r\n Sun Nov  6 08:49:37 1994\r\n\t",
                Some(DATE),
            ),
            (
                b"Retry-After: Sun, 06 Nov 1994\r\n 08:49:37 GMT",
                Some(DATE),
            ),
            // Only spaces and tabs: nothing to read.
            (b"Retry-After: \t ", None),
        ];
        for (field, expected) in cases {
            let mut response = [0u8; 128];
            let parts: [&[u8]; 3] = [
                b"HTTP/1.1 503 Busy\r\n",
                field,
                b"\r\nContent-Length: 0\r\n\r\n",
            ];
            let mut len = 0;
            for part in parts {
                response[len..len + part.len()].copy_from_slice(part);
                len += part.len();
            }
            assert_eq!(retry_after(&response[..len]), expected, "{field:?}");
        }
    }
}
