//! The request writer: the bytes of one OTLP/HTTP POST, produced on demand.

// One tchar test for the request's names and the response head parser's.
use super::head::is_tchar;
use crate::transport::{ExchangeError, HeaderProblem, HttpRequest};

/// The `User-Agent` core sends: `OTel-OTLP-Exporter-Rust/<version> otlp-embedded/<version>`.
///
/// The OTLP exporter specification ("User Agent"): "OpenTelemetry protocol exporters
/// SHOULD emit a User-Agent header to at a minimum identify the exporter, the language of
/// its implementation, and the version of the exporter. For example, the Python OTLP
/// exporter version 1.2.3 would report the following: `OTel-OTLP-Exporter-Python/1.2.3`".
/// The project's own product token follows, so that a collector can tell this exporter
/// from another Rust one (RFC 9110 section 10.1.5: product identifiers in decreasing order
/// of significance). A caller header named `User-Agent` replaces this one.
pub const USER_AGENT: &str = concat!(
    "OTel-OTLP-Exporter-Rust/",
    env!("CARGO_PKG_VERSION"),
    " otlp-embedded/",
    env!("CARGO_PKG_VERSION")
);

/// The text of the head's fixed pieces, each once, then `Transfer-Encoding` and
/// `Retry-After` (never sent, but names compared with): every fixed piece, and every field name the request checks
/// and the response reader compares with (ignoring case), is a slice of it ([`text`] and
/// [`span`] find them at compile time), so that their bytes are stored once, a piece is
/// a table entry of three bytes rather than an arm of code, and a reserved name two bytes
/// rather than a slice's eight.
const HEAD_TEXT: &[u8] = concat!(
    "POST  HTTP/1.1\r\nHost: []\r\nContent-Type: application/x-protobuf\r\nContent-Length: ",
    "\r\nUser-Agent: OTel-OTLP-Exporter-Rust/",
    env!("CARGO_PKG_VERSION"),
    " otlp-embedded/",
    env!("CARGO_PKG_VERSION"),
    "\r\nConnection: close\r\nContent-Encoding: Transfer-EncodingRetry-After"
)
.as_bytes();

/// The slice of [`HEAD_TEXT`] equal to `piece` (its first occurrence); fails to compile
/// when there is none, or when it does not start and end within a byte of offsets.
const fn text(piece: &[u8]) -> &'static [u8] {
    let (start, _) = offsets(piece);
    HEAD_TEXT.split_at(start).1.split_at(piece.len()).0
}

/// Where `piece` first occurs in [`HEAD_TEXT`], as a start and a length in bytes.
const fn span(piece: &[u8]) -> (u8, u8) {
    let (start, len) = offsets(piece);
    (start as u8, len as u8)
}

/// Where `piece` first occurs in [`HEAD_TEXT`], as a start and a length of at most 255.
const fn offsets(piece: &[u8]) -> (usize, usize) {
    let mut start = 0;
    while start + piece.len() <= HEAD_TEXT.len() {
        let mut i = 0;
        while i < piece.len() && HEAD_TEXT[start + i] == piece[i] {
            i += 1;
        }
        if i == piece.len() {
            assert!(start + piece.len() <= 255, "head text offsets are bytes");
            return (start, piece.len());
        }
        start += 1;
    }
    panic!("a head piece is not in the head text")
}

// The field names (and the media type) that the request checks and the response reader
// compare with. `head_text_parts_are_the_names` checks the slices.
const HOST: &[u8] = text(b"Host");
pub(super) const CONTENT_TYPE: &[u8] = text(b"Content-Type");
pub(super) const PROTOBUF: &[u8] = text(b"application/x-protobuf");
pub(super) const CONTENT_LENGTH: &[u8] = text(b"Content-Length");
const USER_AGENT_NAME: &[u8] = text(b"User-Agent");
const CONNECTION: &[u8] = text(b"Connection");
const CONTENT_ENCODING: &[u8] = text(b"Content-Encoding");
/// A field's separator and a line's end, for the caller headers.
const COLON_SPACE: &[u8] = text(b": ");
const CRLF: &[u8] = text(b"\r\n");
/// Not in a request head (a caller header may not name it); the response reader compares
/// with it too.
pub(super) const TRANSFER_ENCODING: &[u8] = text(b"Transfer-Encoding");
/// Not in a request head; the response reader reads it.
const RETRY_AFTER: &[u8] = text(b"Retry-After");

/// When a fixed piece of the head is sent. For a fixed text, conditions (bits) that must
/// all hold for the request, as the writer's `shown` records them (none: always); with bit
/// 7 set, one of the request's own values instead (never a condition).
type When = u8;
/// The host is an IPv6 literal: sent in brackets.
const IPV6: When = 1;
/// The port is not the scheme's default: sent after the host.
const PORT: When = 2;
/// The request has a content encoding: a `Content-Encoding` line.
const ENCODING: When = 4;
/// No caller header is `User-Agent`: core sends its own.
const CORE_AGENT: When = 8;
const ALWAYS: When = 0;
const PATH: When = 0x80;
const HOST_VALUE: When = 0x81;
const PORT_DIGITS: When = 0x82;
const LENGTH_DIGITS: When = 0x83;
const ENCODING_VALUE: When = 0x84;

/// A piece of the head before the caller headers: a slice of [`HEAD_TEXT`] (start and
/// length) and when it is sent, or one of the request's values.
#[derive(Copy, Clone)]
struct Fixed {
    start: u8,
    len: u8,
    when: When,
}

/// The fixed text `piece`, sent `when`.
const fn fixed(piece: &[u8], when: When) -> Fixed {
    let (start, len) = span(piece);
    Fixed { start, len, when }
}

/// One of the request's values.
const fn value(when: When) -> Fixed {
    Fixed {
        start: 0,
        len: 0,
        when,
    }
}

/// The pieces before the caller headers, in order.
const HEAD: [Fixed; 15] = [
    fixed(b"POST ", ALWAYS),
    value(PATH),
    fixed(b" HTTP/1.1\r\nHost: ", ALWAYS),
    fixed(b"[", IPV6),
    value(HOST_VALUE),
    fixed(b"]", IPV6),
    fixed(b":", PORT),
    value(PORT_DIGITS),
    fixed(
        b"\r\nContent-Type: application/x-protobuf\r\nContent-Length: ",
        ALWAYS,
    ),
    value(LENGTH_DIGITS),
    fixed(
        concat!(
            "\r\nUser-Agent: OTel-OTLP-Exporter-Rust/",
            env!("CARGO_PKG_VERSION"),
            " otlp-embedded/",
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
        CORE_AGENT,
    ),
    fixed(b"\r\nConnection: close\r\n", ALWAYS),
    fixed(b"Content-Encoding: ", ENCODING),
    value(ENCODING_VALUE),
    fixed(b"\r\n", ENCODING),
];

/// Pieces before the caller headers; each caller header is four more, then the blank line
/// and the body.
const FIXED_PIECES: usize = HEAD.len();

/// The field names the request writer and the response reader look for, as spans of
/// [`HEAD_TEXT`], in one table so that one loop ([`known_name`]) finds any of them for
/// both: first the names core writes itself, which a caller header may not name (a caller
/// copy would contradict the framing, the routing or the media type), then `User-Agent`
/// (a caller's replaces core's) and `Retry-After` (read in responses only). The response
/// reader's names come first, in the order of the `NAME_*` indexes.
const NAMES: [(u8, u8); 8] = [
    span(CONTENT_LENGTH),
    span(TRANSFER_ENCODING),
    span(CONTENT_TYPE),
    span(HOST),
    span(CONNECTION),
    span(CONTENT_ENCODING),
    span(USER_AGENT_NAME),
    span(RETRY_AFTER),
];
/// [`known_name`] of `Content-Length`.
pub(super) const NAME_CONTENT_LENGTH: usize = 0;
/// [`known_name`] of `Transfer-Encoding`.
pub(super) const NAME_TRANSFER_ENCODING: usize = 1;
/// [`known_name`] of `Content-Type`.
pub(super) const NAME_CONTENT_TYPE: usize = 2;
/// Names from [`known_name`] below this one are the reserved ones.
const NAME_USER_AGENT: usize = 6;
/// [`known_name`] of `Retry-After`.
pub(super) const NAME_RETRY_AFTER: usize = 7;

/// Where `name` is in [`NAMES`], ignoring case; `NAMES.len()` when it is none of them.
pub(super) fn known_name(name: &[u8]) -> usize {
    NAMES
        .iter()
        .position(|&(start, len)| {
            let start = usize::from(start);
            HEAD_TEXT
                .get(start..start + usize::from(len))
                .is_some_and(|known| known.eq_ignore_ascii_case(name))
        })
        .unwrap_or(NAMES.len())
}

/// Produces the bytes of one request: the head (request line and headers) and then the body.
///
/// Sans-IO: [`next_bytes`](Self::next_bytes) says what to send next, [`advance`](Self::advance)
/// records how much was sent. Everything is validated in [`new`](Self::new), before a byte
/// goes out. The request line and headers are:
///
/// ```text
/// POST {path} HTTP/1.1
/// Host: {host}[:{port} unless the scheme default; IPv6 literals in brackets]
/// Content-Type: application/x-protobuf
/// Content-Length: {body length}
/// User-Agent: OTel-OTLP-Exporter-Rust/{version} otlp-embedded/{version}   (unless a caller header is one)
/// Connection: close
/// [Content-Encoding: {encoding}]
/// {caller headers}
/// ```
#[derive(Clone, Debug)]
pub struct RequestWriter<'a> {
    request: HttpRequest<'a>,
    /// The port in decimal from `port_start` (when not the scheme's default), so that the
    /// digits are written from the last one without being reversed.
    port: [u8; 5],
    port_start: u8,
    /// The body length in decimal from `length_start`.
    length: [u8; 20],
    length_start: u8,
    /// Which conditional fixed pieces are sent: the [`When`] bits `IPV6`, `PORT`,
    /// `ENCODING` and `CORE_AGENT` that hold for this request.
    shown: When,
    /// Bytes of the whole request (head and body), counted once in [`new`](Self::new).
    total: usize,
    /// Bytes reported sent: where the next byte to send is, read by walking the pieces.
    sent: usize,
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Writes `value` in decimal at the end of `out`, returning where the digits start (cut
/// to `out`'s length, which callers make enough). A `usize` (ports and body lengths fit),
/// so 32-bit cores divide in hardware, not in a 64-bit library routine.
fn decimal(mut value: usize, out: &mut [u8]) -> u8 {
    let mut start = out.len();
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        start -= 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    start as u8
}

impl<'a> RequestWriter<'a> {
    /// Validate `request` and prepare its bytes.
    ///
    /// Fails, naming what is wrong, when the path, host, content encoding or a caller header
    /// (by index) could not be sent as valid HTTP/1.1, or when a caller header names one of
    /// the fields core writes itself (`Host`, `Content-Length`, `Content-Type`,
    /// `Transfer-Encoding`, `Connection`, `Content-Encoding`). A caller `User-Agent`
    /// replaces core's [`USER_AGENT`].
    // Never inlined: inside the exporter's step (the state machine it is called from) its
    // checks cost some 120 bytes more on Cortex-M than as one call per request.
    #[inline(never)]
    pub fn new(request: &HttpRequest<'a>) -> Result<Self, ExchangeError> {
        let endpoint = request.endpoint;
        let path = endpoint.path.as_bytes();
        if path.first() != Some(&b'/') || !path.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(ExchangeError::InvalidPath);
        }
        let host = endpoint.host.as_bytes();
        if host.is_empty()
            || !host.iter().all(|b| {
                (0x21..=0x7e).contains(b) && !matches!(b, b'/' | b'?' | b'#' | b'@' | b'[' | b']')
            })
        {
            return Err(ExchangeError::InvalidHost);
        }
        if let Some(encoding) = request.content_encoding {
            if !is_token(encoding) {
                return Err(ExchangeError::InvalidContentEncoding);
            }
        }
        let mut caller_agent = false;
        for (index, header) in request.headers.iter().enumerate() {
            let known = known_name(header.name.as_bytes());
            caller_agent |= known == NAME_USER_AGENT;
            let problem = if header.name.is_empty() {
                Some(HeaderProblem::EmptyName)
            } else if !is_token(header.name) {
                Some(HeaderProblem::NameNotToken)
            } else if known < NAME_USER_AGENT {
                Some(HeaderProblem::Reserved)
            } else if header
                .value
                .bytes()
                .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                Some(HeaderProblem::ValueControlByte)
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(ExchangeError::InvalidHeader { index, problem });
            }
        }
        let with_port = !endpoint.has_default_port();
        // Each condition's bit times whether it holds: no branch per condition.
        let shown = (CORE_AGENT * u8::from(!caller_agent))
            | (IPV6 * u8::from(super::head::has_byte(host, b':')))
            | (PORT * u8::from(with_port))
            | (ENCODING * u8::from(request.content_encoding.is_some()));
        let mut writer = RequestWriter {
            request: *request,
            port: [0; 5],
            port_start: 5,
            length: [0; 20],
            length_start: 20,
            shown,
            total: 0,
            sent: 0,
        };
        if with_port {
            writer.port_start = decimal(usize::from(endpoint.port), &mut writer.port);
        }
        writer.length_start = decimal(request.body.len(), &mut writer.length);
        writer.total = (0..)
            .map_while(|i| writer.piece(i))
            .fold(0usize, |sum, p| sum.saturating_add(p.len()));
        Ok(writer)
    }

    /// Piece `index` of the request, or `None` past the end.
    fn piece(&self, index: usize) -> Option<&[u8]> {
        let r = &self.request;
        if let Some(&Fixed { start, len, when }) = HEAD.get(index) {
            let piece: &[u8] = match when {
                PATH => r.endpoint.path.as_bytes(),
                HOST_VALUE => r.endpoint.host.as_bytes(),
                PORT_DIGITS => self.port.get(usize::from(self.port_start)..).unwrap_or(b""),
                LENGTH_DIGITS => self
                    .length
                    .get(usize::from(self.length_start)..)
                    .unwrap_or(b""),
                ENCODING_VALUE => r.content_encoding.map_or(b"", str::as_bytes),
                _ if self.shown & when == when => {
                    let start = usize::from(start);
                    HEAD_TEXT
                        .get(start..start + usize::from(len))
                        .unwrap_or(b"")
                }
                _ => b"",
            };
            return Some(piece);
        }
        let k = index - FIXED_PIECES;
        let piece: &[u8] = match r.headers.get(k / 4) {
            Some(h) => match k % 4 {
                0 => h.name.as_bytes(),
                1 => COLON_SPACE,
                2 => h.value.as_bytes(),
                _ => CRLF,
            },
            // Past the fields (so `k` is at least four times their count): the blank line,
            // then the body.
            None => match k.wrapping_sub(4 * r.headers.len()) {
                0 => CRLF,
                1 => r.body,
                _ => return None,
            },
        };
        Some(piece)
    }

    /// Total length of the request in bytes (head and body).
    pub fn total_len(&self) -> usize {
        self.total
    }

    /// Bytes reported sent so far through [`advance`](Self::advance).
    pub fn bytes_sent(&self) -> usize {
        self.sent
    }

    /// Whether every byte has been sent.
    pub fn is_done(&self) -> bool {
        self.sent >= self.total
    }

    /// The bytes to send next; empty only when [`is_done`](Self::is_done).
    ///
    /// While in the head, as much as fits is copied into `scratch` (continuing into the
    /// body, so a small request goes out in one write). Once the head is sent, the rest of
    /// the body is returned directly, without copying.
    // The position is the sent count alone, found by walking the pieces from the first:
    // a head is some twenty pieces, and keeping a piece index and an offset in step with
    // `advance` cost more code than the walk costs time.
    pub fn next_bytes<'s>(&'s self, scratch: &'s mut [u8]) -> &'s [u8] {
        let body = FIXED_PIECES + 4 * self.request.headers.len() + 1;
        let mut skip = self.sent;
        let mut filled = 0usize;
        let mut index = 0usize;
        while let Some(piece) = self.piece(index) {
            let src = piece.get(skip..).unwrap_or(b"");
            skip = skip.saturating_sub(piece.len());
            if !src.is_empty() {
                // Nothing copied yet, and the body or no scratch: sent from where it is.
                if filled == 0 && (index == body || scratch.is_empty()) {
                    return src;
                }
                let n = src.len().min(scratch.len() - filled);
                if let (Some(dst), Some(src)) = (scratch.get_mut(filled..filled + n), src.get(..n))
                {
                    dst.copy_from_slice(src);
                }
                filled += n;
                if filled == scratch.len() {
                    break;
                }
            }
            index += 1;
        }
        scratch.get(..filled).unwrap_or(b"")
    }

    /// Record that `n` more bytes were sent.
    pub fn advance(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_found_in_any_case_and_near_misses_are_not() {
        let names: [(&str, usize); 8] = [
            ("Content-Length", NAME_CONTENT_LENGTH),
            ("Transfer-Encoding", NAME_TRANSFER_ENCODING),
            ("Content-Type", NAME_CONTENT_TYPE),
            ("Host", 3),
            ("Connection", 4),
            ("Content-Encoding", 5),
            ("User-Agent", NAME_USER_AGENT),
            ("Retry-After", NAME_RETRY_AFTER),
        ];
        for (name, index) in names {
            let mut upper = heapless::String::<24>::new();
            let mut shorter = heapless::String::<24>::new();
            let mut longer = heapless::String::<24>::new();
            upper.push_str(&name.to_ascii_uppercase()).unwrap();
            shorter.push_str(&name[..name.len() - 1]).unwrap();
            longer.push_str(name).unwrap();
            longer.push('s').unwrap();
            for same in [name, &name.to_ascii_lowercase(), &upper] {
                assert_eq!(known_name(same.as_bytes()), index, "{same}");
            }
            for other in [&shorter, &longer, &name[1..]] {
                assert_eq!(known_name(other.as_bytes()), NAMES.len(), "{other}");
            }
        }
        assert_eq!(known_name(b""), NAMES.len());
    }

    #[test]
    fn head_text_parts_are_the_names() {
        let parts = [
            HOST,
            CONTENT_TYPE,
            PROTOBUF,
            CONTENT_LENGTH,
            USER_AGENT_NAME,
            CONNECTION,
            CONTENT_ENCODING,
            TRANSFER_ENCODING,
            RETRY_AFTER,
        ];
        let names: [&[u8]; 9] = [
            b"Host",
            b"Content-Type",
            b"application/x-protobuf",
            b"Content-Length",
            b"User-Agent",
            b"Connection",
            b"Content-Encoding",
            b"Transfer-Encoding",
            b"Retry-After",
        ];
        assert_eq!(parts, names);
    }

    /// Each field core writes, in three letter cases, is refused as a caller header; a
    /// caller `User-Agent` and names that only come close are not.
    #[test]
    fn caller_headers_naming_core_fields_are_reserved() {
        use crate::time::Instant;
        use crate::transport::{Endpoint, Header};
        let endpoint = Endpoint::DEFAULT;
        let verdict = |name: &str| {
            let headers = [Header::new("X-A", "1"), Header::new(name, "v")];
            let request = HttpRequest::new(&endpoint, b"", Instant(0)).with_headers(&headers);
            RequestWriter::new(&request).err()
        };
        let reserved = ExchangeError::InvalidHeader {
            index: 1,
            problem: HeaderProblem::Reserved,
        };
        let mut lower = [0u8; 20];
        let mut upper = [0u8; 20];
        for name in [
            "Host",
            "Content-Length",
            "Content-Type",
            "Transfer-Encoding",
            "Connection",
            "Content-Encoding",
        ] {
            let n = name.len();
            lower[..n].copy_from_slice(name.as_bytes());
            lower[..n].make_ascii_lowercase();
            upper[..n].copy_from_slice(name.as_bytes());
            upper[..n].make_ascii_uppercase();
            for spelled in [name.as_bytes(), &lower[..n], &upper[..n]] {
                let spelled = core::str::from_utf8(spelled).unwrap();
                assert_eq!(verdict(spelled), Some(reserved), "{spelled}");
            }
        }
        for name in [
            "User-Agent",
            "Hos",
            "Hosts",
            "Content-Encodin",
            "Transfer-Encodings",
        ] {
            assert_eq!(verdict(name), None, "{name}");
        }
    }

    /// The request, sent in writes of every size up to 9 bytes through a scratch of every
    /// size up to 9 bytes (none at all included), comes out as the same byte stream.
    #[test]
    fn any_scratch_and_write_size_send_the_same_stream() {
        use crate::time::Instant;
        use crate::transport::{Endpoint, Header, Scheme};
        let endpoint = Endpoint::new(Scheme::Http, "2001:db8::1", 4318, "/v1/metrics");
        let headers = [Header::new("X-Empty", ""), Header::new("X-Key", "v")];
        let mut request = HttpRequest::new(&endpoint, b"body", Instant(0)).with_headers(&headers);
        request.content_encoding = Some("gzip");
        let expected: &[u8] = concat!(
            "POST /v1/metrics HTTP/1.1\r\nHost: [2001:db8::1]:4318\r\n",
            "Content-Type: application/x-protobuf\r\nContent-Length: 4\r\n",
            "User-Agent: OTel-OTLP-Exporter-Rust/",
            env!("CARGO_PKG_VERSION"),
            " otlp-embedded/",
            env!("CARGO_PKG_VERSION"),
            "\r\nConnection: close\r\nContent-Encoding: gzip\r\n",
            "X-Empty: \r\nX-Key: v\r\n\r\nbody"
        )
        .as_bytes();
        for scratch_len in 0..10 {
            for write in 1..10 {
                let mut writer = RequestWriter::new(&request).unwrap();
                assert_eq!(writer.total_len(), expected.len());
                let mut scratch = [0u8; 9];
                let mut sent = [0u8; 400];
                while !writer.is_done() {
                    let bytes = writer.next_bytes(&mut scratch[..scratch_len]);
                    assert!(!bytes.is_empty());
                    let n = bytes.len().min(write);
                    let at = writer.bytes_sent();
                    sent[at..at + n].copy_from_slice(&bytes[..n]);
                    writer.advance(n);
                }
                assert_eq!(&sent[..writer.bytes_sent()], expected);
                assert!(writer.next_bytes(&mut scratch[..scratch_len]).is_empty());
            }
        }
    }

    /// Every combination of the head's conditional pieces (IPv6 host, port, content
    /// encoding, a caller `User-Agent`), against the head written out by hand.
    #[test]
    fn each_conditional_piece_is_sent_when_its_condition_holds() {
        use crate::time::Instant;
        use crate::transport::{Endpoint, Header, Scheme};
        for case in 0..16u8 {
            let (ipv6, port, encoding, caller_agent) =
                (case & 1 != 0, case & 2 != 0, case & 4 != 0, case & 8 != 0);
            let host = if ipv6 { "::1" } else { "collector" };
            let endpoint = Endpoint::new(Scheme::Https, host, if port { 80 } else { 443 }, "/m");
            let with_agent = [Header::new("X-A", "1"), Header::new("user-AGENT", "me/2")];
            let headers = if caller_agent {
                &with_agent[..]
            } else {
                &with_agent[..1]
            };
            let mut request =
                HttpRequest::new(&endpoint, b"0123456789", Instant(0)).with_headers(headers);
            request.content_encoding = encoding.then_some("gzip");

            let mut expected = [0u8; 300];
            let mut len = 0;
            let mut put = |s: &str| {
                expected[len..len + s.len()].copy_from_slice(s.as_bytes());
                len += s.len();
            };
            put("POST /m HTTP/1.1\r\nHost: ");
            put(if ipv6 { "[::1]" } else { "collector" });
            put(if port { ":80" } else { "" });
            put("\r\nContent-Type: application/x-protobuf\r\nContent-Length: 10\r\n");
            if !caller_agent {
                put("User-Agent: ");
                put(USER_AGENT);
                put("\r\n");
            }
            put("Connection: close\r\n");
            put(if encoding {
                "Content-Encoding: gzip\r\n"
            } else {
                ""
            });
            put("X-A: 1\r\n");
            put(if caller_agent {
                "user-AGENT: me/2\r\n"
            } else {
                ""
            });
            put("\r\n0123456789");

            let mut writer = RequestWriter::new(&request).unwrap();
            assert_eq!(writer.total_len(), len, "case {case}");
            let mut scratch = [0u8; 300];
            let bytes = writer.next_bytes(&mut scratch);
            assert_eq!(bytes, &expected[..len], "case {case}");
            writer.advance(len);
            assert!(writer.is_done());
        }
    }

    /// `decimal` against `core::fmt`, at every power of ten and its neighbours: the digits
    /// end at the buffer's end, and a buffer too short keeps the last digits.
    #[test]
    fn decimal_writes_the_digits_at_the_end() {
        use core::fmt::Write;
        let mut values = heapless::Vec::<usize, 80>::new();
        values.extend([0, usize::MAX, usize::MAX - 1]);
        let mut p = 1usize;
        while let Some(next) = p.checked_mul(10) {
            values.extend([p - 1, p, p + 1]);
            p = next;
        }
        for value in values {
            let mut expected = heapless::String::<24>::new();
            write!(expected, "{value}").unwrap();
            let mut out = [0u8; 20];
            let start = usize::from(decimal(value, &mut out));
            assert_eq!(&out[start..], expected.as_bytes(), "{value}");
            let mut short = [0u8; 5];
            let start = usize::from(decimal(value, &mut short));
            let kept = expected.len().min(5);
            assert_eq!(
                &short[start..],
                &expected.as_bytes()[expected.len() - kept..]
            );
        }
        assert_eq!(decimal(7, &mut []), 0);
    }

    #[test]
    fn token_bytes_are_the_rfc_9110_tchar_set() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), tchar, "{b:#04x}");
        }
    }
}
