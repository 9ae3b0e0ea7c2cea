//! The stream seam: a user-written transport over a serial-like link to a gateway.
//!
//! The device has no TCP/IP stack, only a byte pipe (a UART, say) to a gateway that opens a
//! TCP connection per session and relays bytes both ways. Implementing `Connect` and
//! `Connection` for that pipe is all it takes: core's HTTP client writes the request, reads
//! the whole response and closes. Here the pipe is a pair of in-memory channels and the
//! gateway a thread relaying to the in-process OTLP sink.
//! Run: `cargo run -p otlp-embedded-examples --example custom_stream`
mod common;

use embedded_io::ErrorKind;
use otlp_embedded::http::HttpClient;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, TransportError};
use otlp_embedded_std::StdClock;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};

/// The device side of the serial link: opens a session through the gateway.
struct SerialLink {
    gateway: SocketAddr,
    clock: StdClock,
}

/// One open session: bytes out, bytes in, and the deadline core set.
struct Session {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    deadline: Instant,
    clock: StdClock,
}

impl Connect for SerialLink {
    type Connection<'c> = Session;
    fn connect(&mut self, _: &Endpoint<'_>, deadline: Instant) -> Result<Session, TransportError> {
        // "Dial" the gateway: it opens TCP to the collector and relays until we hang up.
        let (tx, rx) = common::gateway_session(self.gateway)
            .map_err(|e| TransportError::Io(e.kind().into()))?;
        Ok(Session {
            tx,
            rx,
            pending: Vec::new(),
            deadline,
            clock: self.clock,
        })
    }
}

impl embedded_io::ErrorType for Session {
    type Error = ErrorKind;
}

impl embedded_io::Read for Session {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if self.pending.is_empty() {
            let wait =
                std::time::Duration::from_millis(self.clock.now().millis_until(self.deadline));
            match self.rx.recv_timeout(wait) {
                Ok(chunk) => self.pending = chunk,
                Err(RecvTimeoutError::Timeout) => return Err(ErrorKind::TimedOut),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl embedded_io::Write for Session {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.tx
            .send(buf.to_vec())
            .map(|()| buf.len())
            .map_err(|_| ErrorKind::BrokenPipe)
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl Connection for Session {
    fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }
    // Hang up: dropping both ends tells the gateway to close its TCP connection.
    fn close(self, _: CloseMode) -> Result<(), TransportError> {
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::record_export_check("custom_stream", |gateway, clock| {
        // Core's HTTP/1.1 client over the user's stream: the whole exchange seam for free.
        HttpClient::new(SerialLink { gateway, clock }, clock)
    })
}
