//! The request writer: the bytes of one OTLP/HTTP POST, produced on demand.

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

const AFTER_PATH: &[u8] = b" HTTP/1.1\r\nHost: ";
const AFTER_HOST: &[u8] = b"\r\nContent-Type: application/x-protobuf\r\nContent-Length: ";
const AFTER_LENGTH: &[u8] = concat!(
    "\r\nUser-Agent: OTel-OTLP-Exporter-Rust/",
    env!("CARGO_PKG_VERSION"),
    " otlp-embedded/",
    env!("CARGO_PKG_VERSION"),
    "\r\nConnection: close\r\n"
)
.as_bytes();
/// [`AFTER_LENGTH`] without core's `User-Agent`, for a request whose caller headers bring
/// their own (two would contradict each other): its tail, so that the bytes are stored once.
const AFTER_LENGTH_CALLER_AGENT: &[u8] = AFTER_LENGTH
    .split_at(AFTER_LENGTH.len() - b"\r\nConnection: close\r\n".len())
    .1;

/// The start of the `Content-Encoding` line.
const CONTENT_ENCODING_LINE: &[u8] = b"Content-Encoding: ";

/// `len` bytes of `bytes` from `start`, at compile time.
const fn part(bytes: &'static [u8], start: usize, len: usize) -> &'static [u8] {
    bytes.split_at(start).1.split_at(len).0
}

// The field names (and the media type) that the request checks and the response reader
// compare with, ignoring case, are slices of the request head's own text, so that their
// bytes are stored once. `head_text_parts_are_the_names` checks the slices.
const HOST: &[u8] = part(AFTER_PATH, 11, 4);
pub(super) const CONTENT_TYPE: &[u8] = part(AFTER_HOST, 2, 12);
pub(super) const PROTOBUF: &[u8] = part(AFTER_HOST, 16, 22);
pub(super) const CONTENT_LENGTH: &[u8] = part(AFTER_HOST, 40, 14);
const USER_AGENT_NAME: &[u8] = part(AFTER_LENGTH, 2, 10);
const CONNECTION: &[u8] = part(AFTER_LENGTH_CALLER_AGENT, 2, 10);
const CONTENT_ENCODING: &[u8] = part(CONTENT_ENCODING_LINE, 0, 16);
/// Not in a request head; the response reader compares with it too.
pub(super) const TRANSFER_ENCODING: &[u8] = b"transfer-encoding";

/// Pieces before the caller headers; each caller header is four more, then the blank line
/// and the body.
const FIXED_PIECES: usize = 14;

/// Header names core writes itself: a caller copy would contradict the framing, the
/// routing or the media type. (`User-Agent` is not here: a caller's replaces core's.)
const RESERVED: [&[u8]; 6] = [
    HOST,
    CONTENT_LENGTH,
    CONTENT_TYPE,
    TRANSFER_ENCODING,
    CONNECTION,
    CONTENT_ENCODING,
];

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
    ipv6: bool,
    /// A caller header is `User-Agent`: core's is left out.
    caller_agent: bool,
    /// Bytes of the whole request (head and body), counted once in [`new`](Self::new).
    total: usize,
    /// Bytes reported sent: where the next byte to send is, read by walking the pieces.
    sent: usize,
}

/// RFC 9110 `tchar` as a bit set over ASCII: bit `b % 32` of word `b / 32` is set for a
/// token byte `b`. Built at compile time from the definition.
const TCHARS: [u32; 4] = {
    let mut set = [0u32; 4];
    let mut b = 0u8;
    while b < 128 {
        let tchar = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        if tchar {
            set[(b / 32) as usize] |= 1 << (b % 32);
        }
        b += 1;
    }
    set
};

fn is_tchar(b: u8) -> bool {
    // One table look-up: fewer instructions than the fifteen compares of the definition.
    TCHARS
        .get(usize::from(b / 32))
        .is_some_and(|word| word >> (b % 32) & 1 == 1)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Writes `value` in decimal at the end of `out`, returning where the digits start (cut
/// to `out`'s length, which callers make enough). A `usize` (ports and body lengths fit),
/// so 32-bit cores divide in hardware, not in a 64-bit library routine.
fn decimal(mut value: usize, out: &mut [u8]) -> u8 {
    let mut start = out.len();
    while start > 0 {
        start -= 1;
        if let Some(slot) = out.get_mut(start) {
            *slot = b'0' + (value % 10) as u8;
        }
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
            let name = header.name.as_bytes();
            caller_agent |= name.eq_ignore_ascii_case(USER_AGENT_NAME);
            let problem = if header.name.is_empty() {
                Some(HeaderProblem::EmptyName)
            } else if !is_token(header.name) {
                Some(HeaderProblem::NameNotToken)
            } else if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(name)) {
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
        let mut writer = RequestWriter {
            request: *request,
            port: [0; 5],
            port_start: 5,
            length: [0; 20],
            length_start: 20,
            ipv6: super::head::has_byte(host, b':'),
            caller_agent,
            total: 0,
            sent: 0,
        };
        if !endpoint.has_default_port() {
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
        let bracket = |s: &'static [u8]| if self.ipv6 { s } else { b"" };
        let with_port = |s: &'static [u8]| {
            if usize::from(self.port_start) < self.port.len() {
                s
            } else {
                b""
            }
        };
        let encoding = r.content_encoding;
        let piece: &[u8] = match index {
            0 => b"POST ",
            1 => r.endpoint.path.as_bytes(),
            2 => AFTER_PATH,
            3 => bracket(b"["),
            4 => r.endpoint.host.as_bytes(),
            5 => bracket(b"]"),
            6 => with_port(b":"),
            7 => self.port.get(usize::from(self.port_start)..).unwrap_or(b""),
            8 => AFTER_HOST,
            9 => self
                .length
                .get(usize::from(self.length_start)..)
                .unwrap_or(b""),
            10 if self.caller_agent => AFTER_LENGTH_CALLER_AGENT,
            10 => AFTER_LENGTH,
            11 => encoding.map_or(b"", |_| CONTENT_ENCODING_LINE),
            12 => encoding.map_or(b"", str::as_bytes),
            13 => encoding.map_or(b"", |_| b"\r\n"),
            i => {
                let k = i - FIXED_PIECES;
                match r.headers.get(k / 4) {
                    Some(h) => match k % 4 {
                        0 => h.name.as_bytes(),
                        1 => b": ",
                        2 => h.value.as_bytes(),
                        _ => b"\r\n",
                    },
                    // Past the fields (so `k` is at least four times their count): the blank
                    // line, then the body.
                    None => match k.wrapping_sub(4 * r.headers.len()) {
                        0 => b"\r\n",
                        1 => r.body,
                        _ => return None,
                    },
                }
            }
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
    fn head_text_parts_are_the_names() {
        let parts = [
            HOST,
            CONTENT_TYPE,
            PROTOBUF,
            CONTENT_LENGTH,
            USER_AGENT_NAME,
            CONNECTION,
            CONTENT_ENCODING,
        ];
        let names: [&[u8]; 7] = [
            b"Host",
            b"Content-Type",
            b"application/x-protobuf",
            b"Content-Length",
            b"User-Agent",
            b"Connection",
            b"Content-Encoding",
        ];
        assert_eq!(parts, names);
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

    #[test]
    fn token_bytes_are_the_rfc_9110_tchar_set() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), tchar, "{b:#04x}");
        }
    }
}
