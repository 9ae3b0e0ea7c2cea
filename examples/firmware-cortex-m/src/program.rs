//! What firmware-min and firmware-worst share besides the board: the in-memory collector
//! that answers a script, the millisecond clock, and how they check and print results.
//! Here rather than in each binary so that the two run the same collector and differ only
//! by their script and their exports.
#![forbid(unsafe_code)]

use core::cell::Cell;

use otlp_embedded::export::ExportReport;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, TransportError};

/// Bytes a read returns at most: a TCP stack hands data over segment by segment, so the
/// reader must put a response together from pieces.
const SEGMENT: usize = 64;

/// A connector over a script: connection `n` answers `script[n]` whatever it is sent.
pub struct CannedCollector {
    script: &'static [&'static [u8]],
    next: usize,
    /// Connections opened.
    pub opened: usize,
    /// Connections closed.
    pub closed: usize,
    /// Request bytes written to all connections.
    pub bytes_received: usize,
}

/// One connection of [`CannedCollector`].
pub struct CannedConnection<'c> {
    collector: &'c mut CannedCollector,
    answer: &'static [u8],
    at: usize,
}

impl Connect for CannedCollector {
    type Connection<'c> = CannedConnection<'c>;

    fn connect(
        &mut self,
        _endpoint: &Endpoint<'_>,
        _deadline: Instant,
    ) -> Result<CannedConnection<'_>, TransportError> {
        let Some(&answer) = self.script.get(self.next) else {
            return Err(TransportError::Io(
                embedded_io::ErrorKind::ConnectionRefused,
            ));
        };
        self.next += 1;
        self.opened += 1;
        Ok(CannedConnection {
            collector: self,
            // Opaque to the optimizer, as bytes from a network would be.
            answer: core::hint::black_box(answer),
            at: 0,
        })
    }
}

impl embedded_io::ErrorType for CannedConnection<'_> {
    type Error = embedded_io::ErrorKind;
}

impl embedded_io::Read for CannedConnection<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let rest = self.answer.get(self.at..).unwrap_or(&[]);
        let n = rest.len().min(buf.len()).min(SEGMENT);
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

impl embedded_io::Write for CannedConnection<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.collector.bytes_received += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl Connection for CannedConnection<'_> {
    fn set_deadline(&mut self, _deadline: Instant) {}

    fn close(self, _mode: CloseMode) -> Result<(), TransportError> {
        self.collector.closed += 1;
        Ok(())
    }
}

impl CannedCollector {
    /// A collector that answers `script`, nothing opened yet.
    pub const fn new(script: &'static [&'static [u8]]) -> Self {
        CannedCollector {
            script,
            next: 0,
            opened: 0,
            closed: 0,
            bytes_received: 0,
        }
    }
}

/// A millisecond tick counter, as a SysTick handler would keep; waiting advances it.
pub struct Ticks(pub Cell<u64>);

impl Ticks {
    /// A counter at 0.
    pub const fn new() -> Self {
        Ticks(Cell::new(0))
    }
}

impl Default for Ticks {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

/// Check `holds`, or end the program with `code`.
pub fn check(holds: bool, code: u32) {
    if !holds {
        crate::report("failed.check", code as usize);
        crate::finish(code)
    }
}

/// Prints a report's counts, each name after `prefix`.
pub fn print_report(prefix: &str, report: &ExportReport) {
    crate::print(prefix);
    crate::report(".requests", report.requests as usize);
    crate::print(prefix);
    crate::report(".retries", report.retries as usize);
    crate::print(prefix);
    crate::report(".points_sent", report.points_sent);
    crate::print(prefix);
    crate::report(".points_rejected", report.points_rejected as usize);
    crate::print(prefix);
    crate::report(".bytes_sent", report.bytes_sent as usize);
}
