//! The response reader: status line and headers into a bounded buffer, then the body by its
//! framing, into the caller's buffer and past it up to a drain cap.

use super::head;
use crate::transport::{ExchangeError, HttpResponse, Malformed, RetryAfter, Stage};

// Parking a read between calls needs the reader's private fields: a child module, kept in
// a file of its own.
#[path = "reader_state.rs"]
mod state;
pub use state::ReaderState;

/// Header fields the reader can track in one response (a larger count is
/// [`Malformed::TooManyHeaders`]).
pub const MAX_HEADERS: usize = 32;

/// Default for [`ReaderConfig::drain_cap`]: body bytes read and discarded past the caller's
/// buffer before the connection is given up on.
pub const DEFAULT_DRAIN_CAP: usize = 16 * 1024;

/// Default for [`ReaderConfig::max_chunk_line`].
pub const DEFAULT_MAX_CHUNK_LINE: usize = 256;

/// Limits of a [`ResponseReader`] beyond its two buffers.
///
/// ```
/// use otlp_embedded::http::ReaderConfig;
///
/// let config = ReaderConfig::new().with_drain_cap(4096);
/// assert_eq!((config.drain_cap, config.max_chunk_line), (4096, 256));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ReaderConfig {
    /// Body bytes that do not fit in the body buffer are read and discarded, up to this many;
    /// past it the reader stops with [`ResponseEnd::DrainCapReached`].
    pub drain_cap: usize,
    /// Longest chunk-size line accepted (hex digits, extensions and line end), in bytes.
    pub max_chunk_line: usize,
}

impl ReaderConfig {
    /// [`DEFAULT_DRAIN_CAP`] and [`DEFAULT_MAX_CHUNK_LINE`].
    pub const fn new() -> Self {
        ReaderConfig {
            drain_cap: DEFAULT_DRAIN_CAP,
            max_chunk_line: DEFAULT_MAX_CHUNK_LINE,
        }
    }

    /// The same limits with this drain cap.
    pub const fn with_drain_cap(self, drain_cap: usize) -> Self {
        ReaderConfig { drain_cap, ..self }
    }

    /// The same limits with this longest chunk-size line.
    pub const fn with_max_chunk_line(self, max_chunk_line: usize) -> Self {
        ReaderConfig {
            max_chunk_line,
            ..self
        }
    }
}

impl Default for ReaderConfig {
    /// [`ReaderConfig::new`].
    fn default() -> Self {
        ReaderConfig::new()
    }
}

/// How a response ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResponseEnd {
    /// The whole message was read; the connection can be closed gracefully.
    Complete,
    /// The body went past the buffer plus the drain cap. The status and the kept part of the
    /// body are valid; the rest was not read, so the connection must be aborted.
    DrainCapReached,
}

/// What the reader needs next.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// More bytes (or the end of the stream) are needed.
    NeedMore,
    /// The response is finished; [`ResponseReader::response`] has it.
    Done(ResponseEnd),
}

/// Where a chunk-size line is (`1A;name=value\r\n`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum SizeLine {
    /// No digit yet.
    Start,
    /// In the hex digits.
    Digits,
    /// Whitespace after the digits, before any `;`: only more whitespace, `;` or the line
    /// end may follow.
    Space,
    /// A `;` was seen: chunk extensions run to the line end.
    Params,
    /// A CR was seen: only LF may follow.
    Cr,
}

/// Where a chunked body is, outside a chunk's data.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Chunk {
    Size {
        value: u64,
        at: SizeLine,
        line: usize,
    },
    DataCr,
    DataLf,
    Trailer {
        /// The trailer line so far holds more than a CR (only whether an empty line ends
        /// the trailers matters, not how long a line is).
        in_line: bool,
        total: usize,
    },
}

/// A chunked body's start: its first chunk-size line.
pub(super) const CHUNK_START: Chunk = Chunk::Size {
    value: 0,
    at: SizeLine::Start,
    line: 0,
};

/// What the reader reads next.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum State {
    Head,
    /// A `Content-Length` body or a chunk's data (`chunked`): `remaining` bytes to copy.
    Body {
        remaining: u64,
        chunked: bool,
    },
    Chunked(Chunk),
    Close,
    Done(ResponseEnd),
    Failed(ExchangeError),
}

/// Reads one HTTP/1.1 response, sans-IO.
///
/// Bytes go in either by [`feed`](Self::feed) (copied) or by reading straight into
/// [`recv_buf`](Self::recv_buf) and reporting the count with [`received`](Self::received);
/// the end of the stream is reported with [`eof`](Self::eof).
///
/// - The status line and headers must fit in the header buffer; a larger header block is
///   [`ExchangeError::HeadersTooLarge`] naming its size. Once they are parsed, that buffer
///   is reused as the receive buffer for the body.
/// - Interim responses (100 Continue, 103 Early Hints, ...) are skipped; 101 is an error.
/// - 204 and 304 have no body whatever the headers say. Otherwise the body is framed by
///   `Transfer-Encoding: chunked` (extensions and trailers skipped), `Content-Length`, or
///   the connection closing.
/// - The body is kept up to the body buffer's size; the rest is read and discarded up to
///   [`ReaderConfig::drain_cap`] bytes, after which the reader stops with
///   [`ResponseEnd::DrainCapReached`].
///
/// After an error every call returns the same error. Nothing here panics or allocates.
#[derive(Debug)]
pub struct ResponseReader<'a> {
    head: &'a mut [u8],
    head_len: usize,
    /// `head.len()`, kept because `head` is taken out while the body is processed.
    head_cap: usize,
    body: &'a mut [u8],
    config: ReaderConfig,
    state: State,
    status: u16,
    retry_after: Option<RetryAfter>,
    protobuf: bool,
    body_len: usize,
    drained: usize,
    received: usize,
    /// Bytes of the head being parsed that unfolding removed (counted as received once the
    /// head is complete).
    unfolded: usize,
}

fn hex_value(b: u8) -> Option<u8> {
    // ASCII letters differ from their lower case only in 0x20; no other byte becomes
    // `a`..=`f` by setting it.
    let letter = (b | 0x20).wrapping_sub(b'a');
    let digit = match b {
        b'0'..=b'9' => b - b'0',
        _ if letter < 6 => letter + 10,
        _ => return None,
    };
    Some(digit)
}

fn bad<T>(m: Malformed) -> Result<T, ExchangeError> {
    Err(ExchangeError::Malformed(m))
}

impl<'a> ResponseReader<'a> {
    /// A reader keeping the status line and headers in `head` (its length is the header size
    /// limit) and the body in `body`.
    // Never inlined, like `RequestWriter::new`: one call per exchange, smaller than a copy
    // in every driver's state machine.
    #[inline(never)]
    pub fn new(head: &'a mut [u8], body: &'a mut [u8], config: ReaderConfig) -> Self {
        let state = if head.is_empty() {
            State::Failed(ExchangeError::HeadersTooLarge { limit: 0 })
        } else {
            State::Head
        };
        ResponseReader {
            head_cap: head.len(),
            head,
            head_len: 0,
            body,
            config,
            state,
            status: 0,
            retry_after: None,
            protobuf: false,
            body_len: 0,
            drained: 0,
            received: 0,
            unfolded: 0,
        }
    }

    /// Whether nothing has been received yet, so the header buffer holds no response data
    /// and may be lent out as scratch (the request writer uses it; see
    /// [`scratch`](Self::scratch)).
    pub fn is_untouched(&self) -> bool {
        self.state == State::Head && self.head_len == 0 && self.received == 0
    }

    /// The header buffer as scratch space, while [`is_untouched`](Self::is_untouched);
    /// otherwise an empty slice.
    pub fn scratch(&mut self) -> &mut [u8] {
        if self.is_untouched() {
            self.head
        } else {
            &mut []
        }
    }

    /// Whether the reader is done or failed (no more bytes are wanted).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done(_) | State::Failed(_))
    }

    /// The stage the reader is in, for naming where a timeout or close happened.
    pub fn stage(&self) -> Stage {
        match self.state {
            State::Head => {
                if head::status_line_end(self.head.get(..self.head_len).unwrap_or(b"")).is_some() {
                    Stage::Headers
                } else {
                    Stage::StatusLine
                }
            }
            State::Body { chunked: false, .. } => Stage::ContentLengthBody,
            State::Chunked(Chunk::Size { .. }) => Stage::ChunkSize,
            State::Chunked(Chunk::Trailer { .. }) => Stage::Trailers,
            State::Body { chunked: true, .. } | State::Chunked(_) => Stage::ChunkData,
            State::Close | State::Done(_) | State::Failed(_) => Stage::CloseDelimitedBody,
        }
    }

    /// Where the next received bytes should be written; then call
    /// [`received`](Self::received) with the count. Empty once finished.
    pub fn recv_buf(&mut self) -> &mut [u8] {
        match self.state {
            State::Head => self.head.get_mut(self.head_len..).unwrap_or(&mut []),
            State::Done(_) | State::Failed(_) => &mut [],
            _ => self.head,
        }
    }

    /// `n` bytes were written at the start of [`recv_buf`](Self::recv_buf).
    pub fn received(&mut self, n: usize) -> Result<Progress, ExchangeError> {
        let result = match self.state {
            State::Head => {
                self.head_len = self.head_len.saturating_add(n).min(self.head.len());
                self.process_head()
            }
            // Also after the end: the body reading answers `Done` or the error at once,
            // taking nothing.
            _ => {
                let head = core::mem::take(&mut self.head);
                let result = self.process_body(head.get(..n).unwrap_or(head));
                self.head = head;
                result
            }
        };
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    /// The peer ended the stream.
    // Never inlined: at most once per exchange; inside a driver's read loop its error
    // paths cost more than the call.
    #[inline(never)]
    pub fn eof(&mut self) -> Result<Progress, ExchangeError> {
        // Found once: only a head without its status line is at `Stage::StatusLine`.
        let stage = self.stage();
        let result = match self.state {
            State::Done(end) => return Ok(Progress::Done(end)),
            // Kept as it is (set again below).
            State::Failed(e) => Err(e),
            State::Close => {
                self.state = State::Done(ResponseEnd::Complete);
                return Ok(Progress::Done(ResponseEnd::Complete));
            }
            _ if stage == Stage::StatusLine => Err(ExchangeError::ClosedBeforeResponse),
            _ => Err(ExchangeError::ClosedEarly(stage)),
        };
        if let Err(e) = result {
            self.state = State::Failed(e);
        }
        result
    }

    /// Copy bytes from `input` in and process them. Returns how many were taken and the
    /// progress; bytes after the end of the response are not taken.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Progress), ExchangeError> {
        let mut used = 0usize;
        loop {
            match self.state {
                State::Done(end) => return Ok((used, Progress::Done(end))),
                State::Failed(e) => return Err(e),
                _ => {}
            }
            let rest = input.get(used..).unwrap_or(b"");
            if rest.is_empty() {
                return Ok((used, Progress::NeedMore));
            }
            let buf = self.recv_buf();
            let n = buf.len().min(rest.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            used += n;
            self.received(n)?;
        }
    }

    /// The response, once [`Progress::Done`] was reported (`bytes_sent` is 0; the driver
    /// fills it in).
    pub fn response(&self) -> Option<HttpResponse> {
        match self.state {
            State::Done(_) => Some(HttpResponse {
                status: self.status,
                retry_after: self.retry_after,
                body_is_protobuf: self.protobuf,
                body_len: self.body_len,
                body_truncated: self.drained > 0,
                bytes_sent: 0,
                bytes_received: self.received,
            }),
            _ => None,
        }
    }

    /// Body bytes read and discarded because they did not fit in the body buffer.
    pub fn drained(&self) -> usize {
        self.drained
    }

    /// Response bytes consumed so far (interim responses, status line, headers, body).
    pub fn bytes_received(&self) -> usize {
        self.received
    }

    // Never inlined: in the default build its 32 parsed-header slots (512 bytes on 32-bit
    // cores) would otherwise sit in the caller's frame for the whole export, on top of the
    // encoder's (the size build's parser keeps no slots).
    #[inline(never)]
    fn process_head(&mut self) -> Result<Progress, ExchangeError> {
        loop {
            let buf = self.head.get(..self.head_len).unwrap_or(b"");
            let mut fields = head::Fields::new();
            let parsed = head::parse(buf, &mut fields).map_err(ExchangeError::Malformed)?;
            let Some(head::HeadEnd {
                len: n,
                status,
                minor,
            }) = parsed
            else {
                if self.head_len >= self.head.len() {
                    return Err(ExchangeError::HeadersTooLarge {
                        limit: self.head.len(),
                    });
                }
                return Ok(Progress::NeedMore);
            };
            if n > self.head_len {
                // No parser reports more than it was given; stay safe regardless.
                return Err(ExchangeError::Malformed(Malformed::StatusLine));
            }
            if status < 100 {
                return Err(ExchangeError::Malformed(Malformed::StatusLine));
            }
            if status == 101 {
                return Err(ExchangeError::SwitchingProtocols);
            }
            let folded = fields.folded;
            if !folded {
                // This head is done with (a final or an interim response's): received, with
                // the bytes an unfolding removed from it.
                self.received = self
                    .received
                    .saturating_add(n)
                    .saturating_add(core::mem::take(&mut self.unfolded));
            }
            if folded || status < 200 {
                // After unfolding, parse again so that the values hold spaces; after an
                // interim response, drop it and parse what follows. One loop moves the
                // bytes down for both (through `get`: `copy_within`'s range checks are a
                // panic path the compiler keeps).
                let (skip, fold_end) = if folded { (0, n) } else { (n, 0) };
                let buf = self.head.get_mut(..self.head_len).unwrap_or(&mut []);
                let removed = head::unfold(buf, skip, fold_end);
                if folded && removed == 0 {
                    return Err(ExchangeError::Malformed(Malformed::HeaderValue));
                }
                if folded {
                    self.unfolded += removed;
                }
                self.head_len -= removed;
                continue;
            }
            let head = fields.finish();
            self.status = status;
            self.retry_after = head.retry_after;
            self.protobuf = head.protobuf;
            fields.set_framing(status, minor, &mut self.state)?;
            let end = self.head_len;
            self.head_len = 0;
            // A response without a body (`Done`) is reported by the body reading too, which
            // then takes nothing.
            let head_buf = core::mem::take(&mut self.head);
            let result = self.process_body(head_buf.get(n..end).unwrap_or(b""));
            self.head = head_buf;
            return result;
        }
    }

    /// Keep `data` in the body buffer as far as it fits and drain the rest. When the drain
    /// cap is passed, returns how many bytes of `data` were taken: up to and including the
    /// first byte past the cap, so the count does not depend on how reads were split.
    fn sink(&mut self, data: &[u8]) -> Option<usize> {
        let room = self.body.len().saturating_sub(self.body_len);
        let keep = room.min(data.len());
        if let (Some(dst), Some(src)) = (
            self.body.get_mut(self.body_len..self.body_len + keep),
            data.get(..keep),
        ) {
            dst.copy_from_slice(src);
            self.body_len += keep;
        }
        let rest = data.len() - keep;
        let allowed = self.config.drain_cap.saturating_sub(self.drained);
        if rest > allowed {
            self.drained = self.config.drain_cap.saturating_add(1);
            return Some(keep + allowed + 1);
        }
        self.drained += rest;
        None
    }

    fn process_body(&mut self, input: &[u8]) -> Result<Progress, ExchangeError> {
        let mut i = 0usize;
        let progress = loop {
            let rest = input.get(i..).unwrap_or(b"");
            match self.state {
                State::Done(end) => break Progress::Done(end),
                State::Failed(e) => return Err(e),
                State::Head => break Progress::NeedMore,
                _ if rest.is_empty() => break Progress::NeedMore,
                State::Close => match self.sink(rest) {
                    Some(used) => {
                        i += used;
                        self.state = State::Done(ResponseEnd::DrainCapReached);
                    }
                    None => i += rest.len(),
                },
                // A Content-Length body and a chunk's data: the same copy, different states
                // after it.
                State::Body { remaining, chunked } => {
                    let take = (rest.len() as u64).min(remaining) as usize;
                    let left = remaining - take as u64;
                    let capped = self.sink(rest.get(..take).unwrap_or(b""));
                    i += capped.unwrap_or(take);
                    self.state = match (capped, left, chunked) {
                        (Some(_), _, _) => State::Done(ResponseEnd::DrainCapReached),
                        (None, 0, false) => State::Done(ResponseEnd::Complete),
                        (None, 0, true) => State::Chunked(Chunk::DataCr),
                        (None, left, _) => State::Body {
                            remaining: left,
                            chunked,
                        },
                    };
                }
                State::Chunked(chunk) => {
                    let b = rest.first().copied().unwrap_or(0);
                    i += 1;
                    self.chunk_byte(chunk, b)?;
                }
            }
        };
        self.received = self.received.saturating_add(i);
        Ok(progress)
    }

    /// One framing byte of a chunked body: sets the state it leads to in place (a `State`
    /// returned through a `Result` is a copy through memory); an error leaves it as it was.
    fn chunk_byte(&mut self, chunk: Chunk, b: u8) -> Result<(), ExchangeError> {
        let next = match chunk {
            Chunk::Size { value, at, line } => {
                let line = line.saturating_add(1);
                if line > self.config.max_chunk_line {
                    return Err(ExchangeError::ChunkLineTooLong {
                        limit: self.config.max_chunk_line,
                    });
                }
                let at = match (at, hex_value(b)) {
                    (SizeLine::Start, Some(d)) => {
                        self.state = State::Chunked(Chunk::Size {
                            value: u64::from(d),
                            at: SizeLine::Digits,
                            line,
                        });
                        return Ok(());
                    }
                    (SizeLine::Start, None) => return bad(Malformed::ChunkSize),
                    _ if b == b'\n' => {
                        self.state = if value == 0 {
                            State::Chunked(Chunk::Trailer {
                                in_line: false,
                                total: 0,
                            })
                        } else {
                            State::Body {
                                remaining: value,
                                chunked: true,
                            }
                        };
                        return Ok(());
                    }
                    (SizeLine::Cr, _) => return bad(Malformed::ChunkSize),
                    (SizeLine::Digits, Some(d)) => {
                        // One more hex digit fits exactly when the top four bits are clear.
                        if value >> 60 != 0 {
                            return bad(Malformed::ChunkSizeOverflow);
                        }
                        let value = value << 4 | u64::from(d);
                        self.state = State::Chunked(Chunk::Size { value, at, line });
                        return Ok(());
                    }
                    _ if b == b'\r' => SizeLine::Cr,
                    _ if b == b';' => SizeLine::Params,
                    // Whitespace before `;` (RFC 9112 BWS), or whitespace or any visible or
                    // non-ASCII byte inside an extension.
                    (SizeLine::Params, _) if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                        SizeLine::Params
                    }
                    _ if b == b' ' || b == b'\t' => SizeLine::Space,
                    // Digits, whitespace, then more than whitespace before any `;`
                    // ("5 5"): not a chunk size.
                    _ => return bad(Malformed::ChunkSize),
                };
                Chunk::Size { value, at, line }
            }
            // The line end after a chunk's data: CRLF or a bare LF.
            Chunk::DataCr | Chunk::DataLf => match b {
                b'\n' => CHUNK_START,
                b'\r' if chunk == Chunk::DataCr => Chunk::DataLf,
                _ => return bad(Malformed::ChunkDataEnd),
            },
            Chunk::Trailer { in_line, total } => {
                let total = total + 1;
                if total > self.head_cap {
                    return Err(ExchangeError::TrailersTooLarge {
                        limit: self.head_cap,
                    });
                }
                match b {
                    b'\n' if !in_line => {
                        self.state = State::Done(ResponseEnd::Complete);
                        return Ok(());
                    }
                    b'\n' => Chunk::Trailer {
                        in_line: false,
                        total,
                    },
                    b'\r' => Chunk::Trailer { in_line, total },
                    _ => Chunk::Trailer {
                        in_line: true,
                        total,
                    },
                }
            }
        };
        self.state = State::Chunked(next);
        Ok(())
    }
}
