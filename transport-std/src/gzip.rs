//! [`GzipExchange`]: gzip request compression as an [`Exchange`] wrapper (feature `gzip`).
//!
//! Core's exporter builds each request itself, so compression sits between it and the
//! exchange that sends: the wrapper deflates the encoded body into a buffer of its own and
//! forwards the request with `Content-Encoding: gzip`. The deflate state and the buffer are
//! kept and reused, so once the buffer has grown to the largest request no export
//! allocates.
//!
//! ```
//! use otlp_embedded::http::HttpClient;
//! use otlp_embedded_std::{GzipExchange, StdClock, TcpConnector};
//!
//! let clock = StdClock::new();
//! let exchange = GzipExchange::new(HttpClient::new(TcpConnector::new(clock), clock));
//! assert_eq!(exchange.last_compressed_len(), 0);
//! ```

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use otlp_embedded::transport::{
    Exchange, ExchangeError, HttpRequest, HttpResponse, TransportError,
};

/// Gzip member header: magic, deflate, no flags, no mtime, no extra flags, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// CRC-32 and input size, little-endian.
const GZIP_TRAILER_LEN: usize = 8;
/// Deflate passes per request before giving up; each pass at least doubles the room.
const MAX_PASSES: usize = 32;

/// Compresses each request body with gzip and forwards it to `X`; see the
/// [module docs](self).
pub struct GzipExchange<X: Exchange> {
    inner: X,
    deflate: Compress,
    buffer: Vec<u8>,
    last_len: usize,
}

impl<X: Exchange> std::fmt::Debug for GzipExchange<X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipExchange")
            .field("buffer_capacity", &self.buffer.capacity())
            .field("last_compressed_len", &self.last_len)
            .finish()
    }
}

impl<X: Exchange> GzipExchange<X> {
    /// Wrap `inner`, compressing at the default level (6).
    pub fn new(inner: X) -> Self {
        Self::with_level(inner, Compression::default().level())
    }

    /// Wrap `inner`, compressing at `level` (0 none to 9 best; higher values mean 9).
    pub fn with_level(inner: X, level: u32) -> Self {
        GzipExchange {
            inner,
            // Raw deflate: the gzip header and trailer are written here.
            deflate: Compress::new(Compression::new(level.min(9)), false),
            buffer: Vec::new(),
            last_len: 0,
        }
    }

    /// Room for compressed requests of up to `body_len` bytes without growing later.
    pub fn reserve(&mut self, body_len: usize) {
        let want = worst_case(body_len);
        self.buffer.reserve(want.saturating_sub(self.buffer.len()));
    }

    /// Bytes the compressed-body buffer holds before it would have to grow.
    pub fn capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// Size on the wire of the last body sent (header and trailer included).
    pub fn last_compressed_len(&self) -> usize {
        self.last_len
    }

    /// The wrapped exchange.
    pub fn inner(&self) -> &X {
        &self.inner
    }

    /// The wrapped exchange, mutably.
    pub fn inner_mut(&mut self) -> &mut X {
        &mut self.inner
    }

    /// Unwrap.
    pub fn into_inner(self) -> X {
        self.inner
    }

    /// Gzip `body` into `self.buffer`.
    fn compress(&mut self, body: &[u8]) -> Result<(), ExchangeError> {
        self.buffer.clear();
        let want = worst_case(body.len());
        if self.buffer.capacity() < want {
            self.buffer.reserve(want);
        }
        self.buffer.extend_from_slice(&GZIP_HEADER);
        self.deflate.reset();
        let mut passes = 0;
        loop {
            let consumed = usize::try_from(self.deflate.total_in()).unwrap_or(usize::MAX);
            let input = body.get(consumed..).unwrap_or(&[]);
            let status = self
                .deflate
                .compress_vec(input, &mut self.buffer, FlushCompress::Finish)
                .map_err(|_| compress_failed())?;
            if status == Status::StreamEnd {
                break;
            }
            passes += 1;
            if passes > MAX_PASSES {
                return Err(compress_failed());
            }
            // Out of room (incompressible input beyond the estimate): grow and go on.
            let more = self.buffer.capacity().max(64);
            self.buffer.reserve(more);
        }
        let mut crc = Crc::new();
        crc.update(body);
        self.buffer.extend_from_slice(&crc.sum().to_le_bytes());
        // ISIZE is the input length modulo 2^32.
        self.buffer
            .extend_from_slice(&(body.len() as u32).to_le_bytes());
        Ok(())
    }
}

/// Deflate's worst case: stored blocks of at most 64 KiB, 5 bytes of overhead each, plus
/// the gzip framing and some slack.
fn worst_case(body_len: usize) -> usize {
    body_len + (body_len / 16_384 + 1) * 5 + GZIP_HEADER.len() + GZIP_TRAILER_LEN + 64
}

/// Compressing into a growable buffer does not fail in practice; if zlib ever refuses, the
/// request is reported as not written (a transient error, so it is retried).
fn compress_failed() -> ExchangeError {
    ExchangeError::Write(TransportError::Io(embedded_io::ErrorKind::Other))
}

impl<X: Exchange> Exchange for GzipExchange<X> {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        if request.content_encoding.is_some() {
            // Already encoded by someone else: do not compress twice.
            return self.inner.exchange(request, response_body);
        }
        self.compress(request.body)?;
        self.last_len = self.buffer.len();
        let compressed = request
            .with_content_encoding(Some("gzip"))
            .with_body(&self.buffer);
        self.inner.exchange(&compressed, response_body)
    }
}
