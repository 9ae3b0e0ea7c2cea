//! Adapter from `embedded-nal-async` 0.9's [`TcpConnect`] to the async stream seam
//! ([`AsyncConnect`] / [`AsyncConnection`]), so any stack that implements it gets core's
//! [`AsyncHttpClient`](crate::http::AsyncHttpClient).
//!
//! Host names go through an [`embedded_nal_async::Dns`] when one is given
//! ([`AsyncDnsResolver`]); otherwise ([`IpLiteralOnly`]) the host must be an IP literal.
//!
//! # Close by drop
//!
//! `TcpConnect` has no close: a connection ends when it is dropped, however the stack
//! does it. So [`CloseMode::Graceful`] flushes what was written and then drops the
//! connection, and [`CloseMode::Abort`] drops it at once; neither can wait for the peer's
//! FIN or send an RST on purpose. What that means on the wire:
//!
//! - **A socket of the host OS** (std or tokio `TcpStream`, as `tests/tests/async_nal.rs`
//!   drives it on Linux): dropping closes the descriptor. With every received byte read
//!   (core reads the whole response) the kernel sends FIN after what was written, and the
//!   connection lingers in TIME-WAIT on our side; with bytes still unread (an aborted
//!   exchange) Linux sends RST instead. The peer sees an orderly close after a complete
//!   response and a reset after an error, as with the native seams.
//! - **embassy-net's `TcpClient`** (read in its 0.9.1 source, not run here): its
//!   connection's drop calls `TcpSocket::close` and frees the socket at once, in the same
//!   call. The FIN is queued but the socket is gone before the stack is polled again, so
//!   neither FIN nor RST goes out: the collector's side stays open until its idle timeout,
//!   and its next segment is answered with RST. Prefer the native embassy transport
//!   (`otlp-embedded-embassy`), which closes and flushes before the socket is dropped.
//!
//! A stack whose drop ends connections properly gets proper closes through this adapter;
//! one whose drop does not cannot, which is why core's own seams close explicitly.

use core::net::{IpAddr, SocketAddr};

use embedded_nal_async::{AddrType, Dns, TcpConnect};

use crate::time::Instant;
use crate::transport::{
    AsyncConnect, AsyncConnection, CloseMode, Endpoint, Scheme, TransportError,
};

/// Turns an endpoint's host into an address for [`NalAsyncConnect`].
#[allow(async_fn_in_trait)]
pub trait AsyncResolve {
    /// The address of `host`; core races this against the connect deadline.
    async fn resolve(&mut self, host: &str) -> Result<IpAddr, TransportError>;
}

/// No name resolution: the endpoint host must be an IPv4 or IPv6 literal.
#[derive(Copy, Clone, Debug, Default)]
pub struct IpLiteralOnly;

impl AsyncResolve for IpLiteralOnly {
    async fn resolve(&mut self, host: &str) -> Result<IpAddr, TransportError> {
        host.parse().map_err(|_| TransportError::Resolve)
    }
}

/// Name resolution through an [`embedded_nal_async::Dns`] (literals are used as they are).
#[derive(Debug)]
pub struct AsyncDnsResolver<D>(pub D);

impl<D: Dns> AsyncResolve for AsyncDnsResolver<D> {
    async fn resolve(&mut self, host: &str) -> Result<IpAddr, TransportError> {
        if let Ok(ip) = host.parse() {
            return Ok(ip);
        }
        self.0
            .get_host_by_name(host, AddrType::Either)
            .await
            .map_err(|_| TransportError::Resolve)
    }
}

/// An [`AsyncConnect`] over an `embedded-nal-async` TCP stack; see the
/// [module docs](self) for what closing means.
#[derive(Debug)]
pub struct NalAsyncConnect<S, R = IpLiteralOnly> {
    stack: S,
    resolver: R,
}

impl<S: TcpConnect> NalAsyncConnect<S, IpLiteralOnly> {
    /// An adapter for endpoints given as IP literals.
    pub fn new(stack: S) -> Self {
        NalAsyncConnect {
            stack,
            resolver: IpLiteralOnly,
        }
    }
}

impl<S: TcpConnect, R: AsyncResolve> NalAsyncConnect<S, R> {
    /// An adapter that resolves host names with `resolver` (an [`AsyncDnsResolver`]).
    pub fn with_resolver(stack: S, resolver: R) -> Self {
        NalAsyncConnect { stack, resolver }
    }

    /// The stack.
    pub fn stack(&self) -> &S {
        &self.stack
    }

    /// Take the adapter apart.
    pub fn into_parts(self) -> (S, R) {
        (self.stack, self.resolver)
    }
}

impl<S: TcpConnect, R: AsyncResolve> AsyncConnect for NalAsyncConnect<S, R> {
    type Connection<'c>
        = NalAsyncConnection<S::Connection<'c>>
    where
        Self: 'c;

    async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        _deadline: Instant,
    ) -> Result<Self::Connection<'_>, TransportError> {
        if endpoint.scheme != Scheme::Http {
            return Err(TransportError::UnsupportedScheme);
        }
        let ip = self.resolver.resolve(endpoint.host).await?;
        let remote = SocketAddr::new(ip, endpoint.port);
        match self.stack.connect(remote).await {
            Ok(inner) => Ok(NalAsyncConnection { inner }),
            Err(e) => Err(TransportError::Io(embedded_io::Error::kind(&e))),
        }
    }
}

/// An open connection of a [`NalAsyncConnect`]: the stack's connection, closed by drop.
#[derive(Debug)]
pub struct NalAsyncConnection<C> {
    inner: C,
}

impl<C: embedded_io_async::ErrorType> embedded_io_async::ErrorType for NalAsyncConnection<C> {
    type Error = C::Error;
}

impl<C: embedded_io_async::Read> embedded_io_async::Read for NalAsyncConnection<C> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.inner.read(buf).await
    }
}

impl<C: embedded_io_async::Write> embedded_io_async::Write for NalAsyncConnection<C> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.inner.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await
    }
}

impl<C: embedded_io_async::Read + embedded_io_async::Write> AsyncConnection
    for NalAsyncConnection<C>
{
    async fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        let flushed = match mode {
            // What was written goes out before the drop ends the connection.
            CloseMode::Graceful => self
                .inner
                .flush()
                .await
                .map_err(|e| TransportError::Io(embedded_io::Error::kind(&e))),
            CloseMode::Abort => Ok(()),
        };
        drop(self);
        flushed
    }
}
