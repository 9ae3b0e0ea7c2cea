//! The poll-style driver: one exchange advanced a little on each tick of a superloop.

use core::task::Poll;

use embedded_io::{ReadReady, WriteReady};

use super::client::{io_failure, too_large, MAX_INTERRUPTED};
use super::{Progress, ReaderConfig, RequestWriter, ResponseEnd, ResponseReader};
use crate::time::Instant;
use crate::transport::{
    CloseMode, Connection, ExchangeError, HttpRequest, HttpResponse, Stage, TransportError,
};

/// Reads or writes done in one [`PollExchange::poll`] call at most, so one tick stays short.
const OPS_PER_POLL: usize = 16;

/// How a polled exchange ended, and how the caller must close the connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Finished {
    /// The response, or why there is none.
    pub result: Result<HttpResponse, ExchangeError>,
    /// Close the connection this way, exactly once: graceful only after a complete response.
    pub close: CloseMode,
}

/// One exchange over a non-blocking connection, advanced by [`poll`](Self::poll).
///
/// The caller opens the connection, calls `poll` on each tick until it is `Ready`, then
/// closes the connection with [`Finished::close`]. The connection reports readiness
/// through `embedded_io::ReadReady` / `WriteReady`; "not ready" is `Pending`, never an end
/// of stream. The same request writer and response reader as [`HttpClient`](super::HttpClient)
/// do the protocol work. While the request cannot be written, whatever the peer already sent
/// is read, so a server that answers early (413) and stops reading is heard, not waited on.
#[derive(Debug)]
pub struct PollExchange<'a> {
    writer: RequestWriter<'a>,
    reader: ResponseReader<'a>,
    deadline: Instant,
    write_error: Option<ExchangeError>,
    flushed: bool,
    interrupted: u8,
    finished: Option<Finished>,
    body_buffer: usize,
    config: ReaderConfig,
}

impl<'a> PollExchange<'a> {
    /// Prepare an exchange of `request`. `head` is the header buffer (its size is the header
    /// limit, and it holds the request head while it is written); the body is kept in
    /// `body`. Fails before anything is sent when the request is invalid.
    pub fn new(
        request: &HttpRequest<'a>,
        head: &'a mut [u8],
        body: &'a mut [u8],
        config: ReaderConfig,
    ) -> Result<Self, ExchangeError> {
        let body_buffer = body.len();
        Ok(PollExchange {
            body_buffer,
            config,
            writer: RequestWriter::new(request)?,
            reader: ResponseReader::new(head, body, config),
            deadline: request.deadline,
            write_error: None,
            flushed: false,
            interrupted: 0,
            finished: None,
        })
    }

    /// Advance the exchange with what `conn` can do now. Once `Ready`, every later call
    /// returns the same [`Finished`].
    pub fn poll<T>(&mut self, conn: &mut T, now: Instant) -> Poll<Finished>
    where
        T: Connection + ReadReady + WriteReady,
    {
        if let Some(done) = self.finished {
            return Poll::Ready(done);
        }
        let step = self.step(conn, now);
        match step {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                let request_sent =
                    self.write_error.is_none() && self.writer.is_done() && self.flushed;
                let answered_success = self
                    .reader
                    .response()
                    .is_some_and(|r| (200..300).contains(&r.status));
                let result = match (result, self.write_error) {
                    (Err(_), Some(w)) => Err(w),
                    // Early answers stand only as refusals: a 2xx to a request that did not
                    // all go out is not a delivery.
                    (Ok(_), _) if answered_success && !request_sent => {
                        Err(ExchangeError::SuccessBeforeRequestSent)
                    }
                    (Ok(ResponseEnd::DrainCapReached), _) => {
                        Err(too_large(&self.reader, self.body_buffer, self.config))
                    }
                    (r, _) => r,
                };
                let close = match result {
                    Ok(ResponseEnd::Complete) => CloseMode::Graceful,
                    _ => CloseMode::Abort,
                };
                let result = result.and_then(|_| {
                    let mut response = self
                        .reader
                        .response()
                        .ok_or(ExchangeError::ClosedBeforeResponse)?;
                    response.bytes_sent = self.writer.bytes_sent();
                    Ok(response)
                });
                let done = Finished { result, close };
                self.finished = Some(done);
                Poll::Ready(done)
            }
        }
    }

    fn failure<T: Connection>(
        &mut self,
        conn: &T,
        e: &T::Error,
        stage: Stage,
        wrap: fn(TransportError) -> ExchangeError,
    ) -> Option<ExchangeError> {
        let e = conn.classify(e);
        if e == TransportError::Io(embedded_io::ErrorKind::Interrupted)
            && self.interrupted < MAX_INTERRUPTED
        {
            self.interrupted += 1;
            return None;
        }
        Some(io_failure(e, stage, wrap))
    }

    fn step<T>(&mut self, conn: &mut T, now: Instant) -> Poll<Result<ResponseEnd, ExchangeError>>
    where
        T: Connection + ReadReady + WriteReady,
    {
        let writing = self.write_error.is_none() && !self.flushed;
        if now >= self.deadline {
            let stage = if writing {
                Stage::Write
            } else {
                self.reader.stage()
            };
            return Poll::Ready(Err(ExchangeError::Timeout(stage)));
        }
        conn.set_deadline(self.deadline);
        let mut ops = 0usize;
        while self.write_error.is_none() && !self.writer.is_done() {
            if ops == OPS_PER_POLL {
                return Poll::Pending;
            }
            ops += 1;
            match conn.write_ready() {
                // The peer may have stopped reading because it already answered (413 and
                // close): look for that answer below instead of waiting to write.
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    self.write_error = self.failure(conn, &e, Stage::Write, ExchangeError::Write);
                    continue;
                }
            }
            let bytes = self.writer.next_bytes(self.reader.scratch());
            let len = bytes.len();
            match conn.write(bytes) {
                Ok(0) => self.write_error = Some(ExchangeError::WriteZero),
                Ok(n) => {
                    self.interrupted = 0;
                    self.writer.advance(n.min(len));
                }
                Err(e) => {
                    self.write_error = self.failure(conn, &e, Stage::Write, ExchangeError::Write)
                }
            }
        }
        if self.write_error.is_none() && self.writer.is_done() && !self.flushed {
            match conn.flush() {
                Ok(()) => self.flushed = true,
                Err(e) => {
                    if let Some(err) = self.failure(conn, &e, Stage::Write, ExchangeError::Write) {
                        self.write_error = Some(err);
                    } else {
                        return Poll::Pending;
                    }
                }
            }
        }
        loop {
            if ops == OPS_PER_POLL {
                return Poll::Pending;
            }
            ops += 1;
            match conn.read_ready() {
                Ok(false) => return Poll::Pending,
                Ok(true) => {}
                Err(e) => {
                    let stage = self.reader.stage();
                    match self.failure(conn, &e, stage, ExchangeError::Read) {
                        Some(err) => return Poll::Ready(Err(err)),
                        None => continue,
                    }
                }
            }
            let progress = match conn.read(self.reader.recv_buf()) {
                Ok(0) => self.reader.eof(),
                Ok(n) => {
                    self.interrupted = 0;
                    self.reader.received(n)
                }
                Err(e) => {
                    let stage = self.reader.stage();
                    match self.failure(conn, &e, stage, ExchangeError::Read) {
                        Some(err) => Err(err),
                        None => continue,
                    }
                }
            };
            match progress {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Progress::Done(end)) => return Poll::Ready(Ok(end)),
                Ok(Progress::NeedMore) if self.reader.is_finished() => {
                    return Poll::Ready(Err(ExchangeError::ClosedEarly(self.reader.stage())))
                }
                Ok(Progress::NeedMore) => {}
            }
        }
    }
}
