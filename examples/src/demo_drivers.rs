//! The demo's `--driver`: one export policy, carried out blocking, from a superloop, or
//! with `.await` on tokio.

use std::task::Poll;
use std::time::Duration;

use otlp_embedded::export::{ExportReport, ExportStats, Exporter, ExporterConfig};
use otlp_embedded::http::{AsyncHttpClient, PollHttpClient};
use otlp_embedded::registry::Producer;
use otlp_embedded::time::{Clock, UnixNanos};
use otlp_embedded::transport::Exchange;
use otlp_embedded_std::{PollTcp, StdClock};
use otlp_embedded_test_kit::tokio_tcp::{TokioConnect, TokioTimer};

/// How the demo carries out its exports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Driver {
    /// `Exporter::export` over `HttpClient` and `TcpConnector` (TLS and gzip too): the
    /// thread sleeps through retries.
    Blocking,
    /// `Exporter::poll` once per millisecond tick over `PollHttpClient` and the non-blocking
    /// `PollTcp`; the device keeps recording between polls.
    Superloop,
    /// `Exporter::export_async` over `AsyncHttpClient` and tokio's `TcpStream`, awaited on
    /// a current-thread runtime.
    Async,
}

impl std::str::FromStr for Driver {
    type Err = String;
    fn from_str(text: &str) -> Result<Driver, String> {
        match text {
            "blocking" => Ok(Driver::Blocking),
            "superloop" => Ok(Driver::Superloop),
            "async" => Ok(Driver::Async),
            other => Err(format!(
                "--driver {other:?}: one of blocking, superloop, async"
            )),
        }
    }
}

impl Driver {
    /// The name as the flag takes it.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Blocking => "blocking",
            Driver::Superloop => "superloop",
            Driver::Async => "async",
        }
    }
}

/// One whole export at a time, whatever the driver.
pub trait DemoExporter {
    /// Collect from `producer` and export; `tick` is the device's work, which a superloop
    /// does between polls (the other drivers record only between exports).
    fn export<P: Producer>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        buffer: &mut [u8],
        unix_now: UnixNanos,
        tick: &mut dyn FnMut(&mut P) -> Result<(), String>,
    ) -> Result<ExportReport, String>;

    /// What the server said in the last export.
    fn last_server_message(&self) -> &str;

    /// Totals over the exporter's life.
    fn stats(&self) -> ExportStats;
}

/// The blocking driver over any exchange (plain, TLS, gzip).
pub struct Blocking<'a, X: Exchange> {
    exporter: Exporter<'a, X>,
    clock: StdClock,
}

impl<'a, X: Exchange> Blocking<'a, X> {
    /// Exports through `exchange`.
    pub fn new(config: ExporterConfig<'a>, exchange: X, clock: StdClock) -> Self {
        Blocking {
            exporter: Exporter::new(config, exchange),
            clock,
        }
    }
}

impl<X: Exchange> DemoExporter for Blocking<'_, X> {
    fn export<P: Producer>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        buffer: &mut [u8],
        unix_now: UnixNanos,
        _tick: &mut dyn FnMut(&mut P) -> Result<(), String>,
    ) -> Result<ExportReport, String> {
        Ok(self.exporter.export(
            producer,
            snapshot,
            buffer,
            &self.clock,
            unix_now,
            otlp_embedded_std::Sleep,
        ))
    }

    fn last_server_message(&self) -> &str {
        self.exporter.last_server_message()
    }

    fn stats(&self) -> ExportStats {
        *self.exporter.stats()
    }
}

/// Milliseconds between the superloop's ticks.
const LOOP_TICK: Duration = Duration::from_millis(1);
/// Superloop ticks between two of the device's recording ticks.
const TICKS_PER_RECORDING: u32 = 10;

/// The superloop driver: one `poll` per tick over a non-blocking socket.
pub struct Superloop<'a> {
    exporter: Exporter<'a, PollHttpClient>,
    tcp: PollTcp,
    clock: StdClock,
    /// `poll` calls over the exporter's life.
    pub polls: u64,
}

impl<'a> Superloop<'a> {
    /// Exports over plain TCP.
    pub fn new(config: ExporterConfig<'a>, clock: StdClock) -> Self {
        Superloop {
            exporter: Exporter::new(config, PollHttpClient::new()),
            tcp: PollTcp::new(),
            clock,
            polls: 0,
        }
    }
}

impl DemoExporter for Superloop<'_> {
    fn export<P: Producer>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        buffer: &mut [u8],
        unix_now: UnixNanos,
        tick: &mut dyn FnMut(&mut P) -> Result<(), String>,
    ) -> Result<ExportReport, String> {
        let mut run = self
            .exporter
            .start(producer, snapshot, unix_now, self.clock.now());
        let mut ticks = 0u32;
        // Bounded by the export deadline: the policy ends the run by then.
        loop {
            self.polls += 1;
            let polled = self.exporter.poll(
                &mut run,
                producer,
                snapshot,
                buffer,
                &mut self.tcp,
                &self.clock,
            );
            if let Poll::Ready(report) = polled {
                return Ok(report);
            }
            // The rest of the loop: the device records while the export goes on.
            ticks += 1;
            if ticks.is_multiple_of(TICKS_PER_RECORDING) {
                tick(producer)?;
            }
            std::thread::sleep(LOOP_TICK);
        }
    }

    fn last_server_message(&self) -> &str {
        self.exporter.last_server_message()
    }

    fn stats(&self) -> ExportStats {
        *self.exporter.stats()
    }
}

/// The async driver: each export awaited on a current-thread tokio runtime.
pub struct Async<'a> {
    exporter: Exporter<'a, AsyncHttpClient<TokioConnect, TokioTimer>>,
    timer: TokioTimer,
    runtime: tokio::runtime::Runtime,
}

impl<'a> Async<'a> {
    /// Exports over plain TCP with tokio.
    pub fn new(config: ExporterConfig<'a>) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
        let timer = runtime.block_on(async { TokioTimer::new() });
        Ok(Async {
            exporter: Exporter::new(config, AsyncHttpClient::new(TokioConnect, timer)),
            timer,
            runtime,
        })
    }
}

impl DemoExporter for Async<'_> {
    fn export<P: Producer>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        buffer: &mut [u8],
        unix_now: UnixNanos,
        _tick: &mut dyn FnMut(&mut P) -> Result<(), String>,
    ) -> Result<ExportReport, String> {
        let export = self
            .exporter
            .export_async(producer, snapshot, buffer, &self.timer, unix_now);
        Ok(self.runtime.block_on(export))
    }

    fn last_server_message(&self) -> &str {
        self.exporter.last_server_message()
    }

    fn stats(&self) -> ExportStats {
        *self.exporter.stats()
    }
}
