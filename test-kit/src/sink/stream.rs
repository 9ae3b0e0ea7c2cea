//! The byte stream of one connection, plain TCP or TLS over it, with the close that each
//! needs (FIN; close_notify first in TLS).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

#[cfg(feature = "tls")]
use super::tls::{tls_handshake, TlsStream};
use super::Shared;

/// The byte stream of one connection: the TCP stream itself, or TLS over it.
pub(super) enum SinkStream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

impl SinkStream {
    /// The connection's stream: TCP as it is, or TLS after a completed handshake. `None`
    /// when the handshake failed (counted in the TLS counters); the socket is then dropped.
    #[cfg_attr(not(feature = "tls"), allow(clippy::unnecessary_wraps))]
    pub(super) fn open(tcp: TcpStream, shared: &Arc<Shared>) -> Option<SinkStream> {
        #[cfg(feature = "tls")]
        if let Some(config) = &shared.tls {
            return tls_handshake(tcp, config, shared).map(|s| SinkStream::Tls(Box::new(s)));
        }
        #[cfg(not(feature = "tls"))]
        let _ = shared;
        Some(SinkStream::Plain(tcp))
    }

    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            SinkStream::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            SinkStream::Tls(tls) => &tls.stream.sock,
        }
    }

    /// End our direction: FIN, preceded in TLS by our close_notify.
    pub(super) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            SinkStream::Plain(tcp) => tcp.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
            SinkStream::Tls(tls) => {
                tls.stream.conn.send_close_notify();
                io::Write::flush(&mut tls.stream)?;
                tls.shared.lock().tls.close_notify_sent += 1;
                tls.stream.sock.shutdown(Shutdown::Write)
            }
        }
    }
}

impl Read for SinkStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SinkStream::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            SinkStream::Tls(tls) => {
                let n = tls.stream.read(buf)?;
                // rustls reads 0 only after the peer's close_notify; a TCP end without one
                // is an UnexpectedEof error.
                if n == 0 && !buf.is_empty() && !tls.close_notify_seen {
                    tls.close_notify_seen = true;
                    tls.shared.lock().tls.close_notify_received += 1;
                }
                Ok(n)
            }
        }
    }
}

impl Write for SinkStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SinkStream::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            SinkStream::Tls(tls) => {
                // rustls's `Stream::write` ignores socket errors once the bytes are
                // queued; flush so that a write that did not reach the socket fails here.
                let n = tls.stream.write(buf)?;
                tls.stream.flush()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            SinkStream::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            SinkStream::Tls(tls) => tls.stream.flush(),
        }
    }
}
