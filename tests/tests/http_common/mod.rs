//! A scripted in-memory connection for the HTTP client tests: scripted reads, recorded
//! writes, a close log and a fake clock that the stream can advance per operation.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use embedded_io::ErrorKind;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, TransportError};

/// A clock the test (and the stream) moves by hand.
#[derive(Clone, Default)]
pub struct FakeClock(pub Rc<Cell<u64>>);

impl FakeClock {
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get() + ms);
    }
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

/// One scripted answer to a read.
#[derive(Clone, Debug)]
pub enum Step {
    /// Bytes, handed out over as many reads as the reader's buffer needs.
    Data(Vec<u8>),
    /// A read error.
    Error(ErrorKind),
}

/// What reads return once the script is used up.
#[derive(Clone, Copy, Debug)]
pub enum AfterScript {
    /// End of stream (`Ok(0)`).
    Eof,
    /// This byte, one per read, forever.
    Endless(u8),
    /// `TimedOut`, as a socket with a read timeout would.
    TimedOut,
}

/// How writes behave.
#[derive(Clone, Copy, Debug)]
pub enum WriteMode {
    /// Take everything offered.
    All,
    /// Take at most this many bytes per write.
    UpTo(usize),
    /// Return `Ok(0)`.
    Zero,
    /// Take this many bytes in total, then fail with the error.
    FailAfter(usize, ErrorKind),
}

#[derive(Clone)]
pub struct Script {
    pub reads: VecDeque<Step>,
    pub after: AfterScript,
    pub write: WriteMode,
    /// Milliseconds the fake clock moves on every read and write.
    pub ms_per_op: u64,
    /// Readiness for the poll driver: every n-th readiness query says "not ready" (0: never).
    pub not_ready_every: u32,
    /// Fail `connect` with this error.
    pub connect_error: Option<TransportError>,
    /// `write_ready` always says "not ready" (a peer that stopped reading).
    pub write_blocked: bool,
    /// `read_ready` says "not ready" until this many request bytes were written, like a
    /// server that answers only after reading the request (`None`: no such wait).
    pub answer_after: Option<usize>,
}

impl Script {
    pub fn new(chunks: &[&[u8]]) -> Self {
        Script {
            reads: chunks.iter().map(|c| Step::Data(c.to_vec())).collect(),
            after: AfterScript::Eof,
            write: WriteMode::All,
            ms_per_op: 0,
            not_ready_every: 0,
            connect_error: None,
            write_blocked: false,
            answer_after: None,
        }
    }

    /// The response split into separate reads at the given offsets.
    pub fn split(response: &[u8], at: &[usize]) -> Self {
        let mut chunks = Vec::new();
        let mut start = 0;
        for &cut in at {
            chunks.push(&response[start..cut]);
            start = cut;
        }
        chunks.push(&response[start..]);
        let chunks: Vec<&[u8]> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        Script::new(&chunks)
    }
}

#[derive(Default, Debug)]
pub struct Log {
    pub connects: usize,
    pub written: Vec<u8>,
    pub writes: usize,
    pub reads: usize,
    pub deadlines_set: usize,
    pub last_deadline: Option<Instant>,
    pub closes: Vec<CloseMode>,
    pub connect_deadline: Option<Instant>,
}

pub struct ScriptConnect {
    pub script: Script,
    pub clock: FakeClock,
    pub log: Rc<RefCell<Log>>,
}

impl ScriptConnect {
    pub fn new(script: Script, clock: FakeClock) -> Self {
        ScriptConnect {
            script,
            clock,
            log: Rc::default(),
        }
    }
}

pub struct ScriptConn {
    reads: VecDeque<Step>,
    after: AfterScript,
    write: WriteMode,
    ms_per_op: u64,
    not_ready_every: u32,
    ready_queries: u32,
    write_blocked: bool,
    answer_after: Option<usize>,
    clock: FakeClock,
    log: Rc<RefCell<Log>>,
    closed: bool,
}

impl Connect for ScriptConnect {
    type Connection<'c> = ScriptConn;

    fn connect(
        &mut self,
        _endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<ScriptConn, TransportError> {
        let mut log = self.log.borrow_mut();
        log.connects += 1;
        log.connect_deadline = Some(deadline);
        if let Some(e) = self.script.connect_error {
            return Err(e);
        }
        Ok(ScriptConn {
            reads: self.script.reads.clone(),
            after: self.script.after,
            write: self.script.write,
            ms_per_op: self.script.ms_per_op,
            not_ready_every: self.script.not_ready_every,
            ready_queries: 0,
            write_blocked: self.script.write_blocked,
            answer_after: self.script.answer_after,
            clock: self.clock.clone(),
            log: self.log.clone(),
            closed: false,
        })
    }
}

impl embedded_io::ErrorType for ScriptConn {
    type Error = ErrorKind;
}

impl embedded_io::Read for ScriptConn {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        assert!(!self.closed, "read after close");
        assert!(!buf.is_empty(), "read with an empty buffer");
        self.log.borrow_mut().reads += 1;
        self.clock.advance(self.ms_per_op);
        match self.reads.pop_front() {
            Some(Step::Data(mut data)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                if n < data.len() {
                    data.drain(..n);
                    self.reads.push_front(Step::Data(data));
                }
                Ok(n)
            }
            Some(Step::Error(e)) => Err(e),
            None => match self.after {
                AfterScript::Eof => Ok(0),
                AfterScript::Endless(b) => {
                    buf[0] = b;
                    Ok(1)
                }
                AfterScript::TimedOut => Err(ErrorKind::TimedOut),
            },
        }
    }
}

impl embedded_io::Write for ScriptConn {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        assert!(!self.closed, "write after close");
        self.clock.advance(self.ms_per_op);
        let mut log = self.log.borrow_mut();
        log.writes += 1;
        let n = match self.write {
            WriteMode::All => buf.len(),
            WriteMode::UpTo(k) => buf.len().min(k),
            WriteMode::Zero => 0,
            WriteMode::FailAfter(total, e) => {
                let left = total - log.written.len().min(total);
                if left == 0 {
                    return Err(e);
                }
                buf.len().min(left)
            }
        };
        log.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl embedded_io::ReadReady for ScriptConn {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        if self
            .answer_after
            .is_some_and(|n| self.log.borrow().written.len() < n)
        {
            return Ok(false);
        }
        self.ready_queries += 1;
        Ok(self.not_ready_every == 0 || !self.ready_queries.is_multiple_of(self.not_ready_every))
    }
}

impl embedded_io::WriteReady for ScriptConn {
    fn write_ready(&mut self) -> Result<bool, ErrorKind> {
        if self.write_blocked {
            return Ok(false);
        }
        self.ready_queries += 1;
        Ok(self.not_ready_every == 0 || !self.ready_queries.is_multiple_of(self.not_ready_every))
    }
}

impl Connection for ScriptConn {
    fn set_deadline(&mut self, deadline: Instant) {
        let mut log = self.log.borrow_mut();
        log.deadlines_set += 1;
        log.last_deadline = Some(deadline);
    }

    fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        self.closed = true;
        self.log.borrow_mut().closes.push(mode);
        Ok(())
    }
}

/// Waiting on the fake clock moves it to the instant waited for, at once.
impl otlp_embedded::transport::AsyncTimer for FakeClock {
    async fn wait_until(&self, at: Instant) {
        if at.0 > self.0.get() {
            self.0.set(at.0);
        }
    }
}

/// The scripted connection as a superloop transport, for core's `PollHttpClient`: the
/// connect is ready at once and the close is done at once, logging its mode as the
/// blocking one does.
pub struct PollScript {
    connect: ScriptConnect,
    conn: Option<ScriptConn>,
}

impl PollScript {
    pub fn new(connect: ScriptConnect) -> Self {
        PollScript {
            connect,
            conn: None,
        }
    }
}

impl otlp_embedded::transport::PollIo for PollScript {
    fn poll_read(
        &mut self,
        buf: &mut [u8],
        now: Instant,
    ) -> std::task::Poll<Result<usize, TransportError>> {
        match &mut self.conn {
            Some(conn) => otlp_embedded::transport::PollIo::poll_read(conn, buf, now),
            None => panic!("read without a connection"),
        }
    }

    fn poll_write(
        &mut self,
        buf: &[u8],
        now: Instant,
    ) -> std::task::Poll<Result<usize, TransportError>> {
        match &mut self.conn {
            Some(conn) => otlp_embedded::transport::PollIo::poll_write(conn, buf, now),
            None => panic!("write without a connection"),
        }
    }

    fn poll_flush(&mut self, now: Instant) -> std::task::Poll<Result<(), TransportError>> {
        match &mut self.conn {
            Some(conn) => otlp_embedded::transport::PollIo::poll_flush(conn, now),
            None => panic!("flush without a connection"),
        }
    }
}

impl otlp_embedded::transport::PollConnect for PollScript {
    fn start_connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<(), TransportError> {
        assert!(self.conn.is_none(), "connect while a connection is open");
        self.conn = Some(self.connect.connect(endpoint, deadline)?);
        Ok(())
    }

    fn poll_connect(
        &mut self,
        _endpoint: &Endpoint<'_>,
        _now: Instant,
    ) -> std::task::Poll<Result<(), TransportError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn start_close(&mut self, mode: CloseMode, _deadline: Instant) {
        if let Some(conn) = self.conn.take() {
            let _ = Connection::close(conn, mode);
        }
    }

    fn poll_close(&mut self, _now: Instant) -> std::task::Poll<Result<(), TransportError>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The scripted connection as an async transport, for core's `AsyncHttpClient`: every
/// operation is the blocking one, ready at once.
pub struct AsyncScript(pub ScriptConnect);

/// A connection of [`AsyncScript`].
pub struct AsyncScriptConn(ScriptConn);

impl otlp_embedded::transport::AsyncConnect for AsyncScript {
    type Connection<'c> = AsyncScriptConn;

    async fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<AsyncScriptConn, TransportError> {
        self.0.connect(endpoint, deadline).map(AsyncScriptConn)
    }
}

impl embedded_io_async::ErrorType for AsyncScriptConn {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for AsyncScriptConn {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        embedded_io::Read::read(&mut self.0, buf)
    }
}

impl embedded_io_async::Write for AsyncScriptConn {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        embedded_io::Write::write(&mut self.0, buf)
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        embedded_io::Write::flush(&mut self.0)
    }
}

impl otlp_embedded::transport::AsyncConnection for AsyncScriptConn {
    fn set_deadline(&mut self, deadline: Instant) {
        Connection::set_deadline(&mut self.0, deadline)
    }

    async fn close(self, mode: CloseMode) -> Result<(), TransportError> {
        Connection::close(self.0, mode)
    }
}
