//! An embassy firmware's telemetry, as a board would ship it: a task that counts its own
//! loops and exports every second over the board's embassy-net stack, by host name.
//!
//! This crate is `#![no_std]` and allocates nothing: everything the task uses lives in
//! its own future (spawned once, so in the executor's static task storage on firmware).
//! A firmware's `main` spawns [`telemetry_task`] beside embassy-net's runner; the crate's
//! test (`tests/host.rs`) is such a `main` for Linux: embassy's std executor and timer, a
//! TAP device as the Ethernet, the test kit's sink and DNS server on the other side.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::ops::ControlFlow;

use otlp_embedded::export::{ExportOutcome, ExporterConfig, RetryPolicy};
use otlp_embedded::proto::{RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{DeclareError, InstrumentDesc, Registry, SnapshotOf};
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_embassy::{exporter, run_periodic, EmbassyConnector, Stack};

/// The board's metrics: one instrument; its series and the overflow series the registry
/// keeps for it.
pub type Metrics = Registry<1, 2, 8, 1, 8>;

/// The counter the task records: one per loop of the task (so one per export).
pub const LOOPS: &str = "board.loops";

/// Where and how often to export, and for how long.
#[derive(Copy, Clone, Debug)]
pub struct Settings {
    /// The collector's host name (resolved by embassy-net's DNS) or IPv4 address.
    pub host: &'static str,
    /// The collector's OTLP/HTTP port.
    pub port: u16,
    /// Time between export starts, in milliseconds.
    pub period_ms: u64,
    /// Stop after this many exports (`None`: never, as on a board).
    pub exports: Option<u32>,
    /// The Unix time of boot in nanoseconds (from SNTP or an RTC on a board).
    pub boot_unix_nanos: u64,
    /// Jitter seed for retries: a per-board value (chip id, RNG).
    pub device_seed: u64,
}

/// What the task did, when it stops (only with [`Settings::exports`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Exports run.
    pub exports: u32,
    /// Exports whose every point was delivered.
    pub succeeded: u32,
    /// Points delivered.
    pub points_sent: u64,
    /// The loops counted (the sum of everything recorded).
    pub loops_recorded: u64,
}

/// The telemetry task: record a loop, export, repeat every `settings.period_ms`.
///
/// Returns (only with [`Settings::exports`]) what it did, or at once the registry's error
/// when [`Metrics`] has no room for the board's instrument.
///
/// Failed exports keep their data in the registry (delta counters), so it goes out with
/// the next export: nothing recorded is lost while the collector is away.
pub async fn telemetry_task(
    stack: Stack<'static>,
    settings: Settings,
) -> Result<Summary, DeclareError> {
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let connector = EmbassyConnector::new(stack, &mut rx, &mut tx);
    let endpoint = Endpoint::new(Scheme::Http, settings.host, settings.port, "/v1/metrics");
    let header = RequestHeader::new(Resource::new(&[]), Scope::new("embassy-board"));
    let mut config = ExporterConfig::new(endpoint, header);
    // An export finishes (or gives up, keeping its data) before the next one is due.
    config.request_timeout_ms = 800;
    config.export_timeout_ms = settings.period_ms.saturating_sub(100).clamp(100, 30_000) as u32;
    config.retry = RetryPolicy::new().with_initial_backoff_ms(100);
    config.jitter_seed = settings.device_seed;
    let mut exporter = exporter(connector, config);

    let mut registry = Metrics::new(settings.boot_unix_nanos);
    let mut summary = Summary::default();
    let loops = registry.declare(
        InstrumentDesc::counter_u64(LOOPS)
            .max_series(1)
            .temporality(Temporality::Delta),
    )?;
    if registry.record(loops, 1u64, &[]).is_ok() {
        summary.loops_recorded += 1;
    }
    let mut snapshot = SnapshotOf::<Metrics>::new();
    let mut buffer = [0u8; 256];
    let boot = settings.boot_unix_nanos;
    let unix_now = || boot + embassy_time::Instant::now().as_micros() * 1_000;
    run_periodic(
        &mut exporter,
        &mut registry,
        &mut snapshot,
        &mut buffer,
        settings.period_ms,
        unix_now,
        |registry, report| {
            summary.exports += 1;
            summary.points_sent += report.points_sent as u64;
            if report.outcome == ExportOutcome::Success {
                summary.succeeded += 1;
            }
            if settings.exports.is_some_and(|n| summary.exports >= n) {
                return ControlFlow::Break(());
            }
            if registry.record(loops, 1u64, &[]).is_ok() {
                summary.loops_recorded += 1;
            }
            ControlFlow::Continue(())
        },
    )
    .await;
    Ok(summary)
}
