//! Exports from an embassy task: core's exporter policy driven with `.await` over this
//! crate's connector ([`export_once`]), and the loop a firmware spawns to export on a
//! period ([`run_periodic`]).
//!
//! Everything is lent by the caller: the connector (its socket buffers), the exporter (its
//! response body and the client's header buffer), the producer, its snapshot and the
//! encode buffer. The futures only borrow them, so they stay small (see the crate's
//! `sizes` test) and nothing is allocated.

use core::ops::ControlFlow;

use otlp_embedded::export::{ExportReport, Exporter, ExporterConfig};
use otlp_embedded::http::{AsyncHttpClient, ReaderConfig};
use otlp_embedded::registry::Producer;
use otlp_embedded::time::{Clock, UnixNanos};
use otlp_embedded::transport::AsyncExchange;

use crate::time::{embassy_instant, EmbassyClock};

/// Core's async HTTP client over an [`EmbassyConnector`](crate::EmbassyConnector), waiting on embassy-time.
///
/// `C` is the connector, owned (`EmbassyConnector<'d>`) or lent (`&mut EmbassyConnector<'d>`,
/// so the caller keeps it, and its socket, across exporters).
pub type EmbassyHttpClient<C> = AsyncHttpClient<C, EmbassyClock>;

/// Core's exporter over [`EmbassyHttpClient`]: what [`export_once`] and [`run_periodic`]
/// drive. Make it with [`exporter`].
pub type EmbassyExporter<'a, C> = Exporter<'a, EmbassyHttpClient<C>>;

/// [`EmbassyHttpClient`] whose header buffer is lent by the caller (`'h`), not kept inside.
pub type EmbassyLentHeadClient<'h, C> = AsyncHttpClient<C, EmbassyClock, 0, &'h mut [u8]>;

/// Core's exporter over [`EmbassyLentHeadClient`]: what [`exporter_with_lent_head`] makes,
/// driven by [`export_once`] and [`run_periodic`] like an [`EmbassyExporter`].
pub type EmbassyLentHeadExporter<'a, 'h, C> = Exporter<'a, EmbassyLentHeadClient<'h, C>>;

/// An exporter that sends to `config.endpoint` through `connector`.
///
/// The connector resolves host names through embassy-net's DNS client (feature `dns`)
/// within each request's deadline. Give `config.jitter_seed` a per-device value (from the
/// chip's unique id or its RNG) so that a fleet does not retry in lockstep.
///
/// The exporter holds the response body buffer and the client its header buffer (about
/// 1.3 KiB together): keep it in a `static` cell or in the exporting task's frame, and
/// keep it across exports, so that its statistics and a collector's `Retry-After` carry
/// over.
pub fn exporter<'a, C: otlp_embedded::transport::AsyncConnect>(
    connector: C,
    config: ExporterConfig<'a>,
) -> EmbassyExporter<'a, C> {
    Exporter::new(config, AsyncHttpClient::new(connector, EmbassyClock))
}

/// [`exporter`] with the HTTP client's header buffer `head` lent by the caller (a `static`
/// cell on firmware), so that its 1 KiB is not in the exporter, nor in the task that holds
/// it: a response's status line plus headers longer than `head` is
/// [`ExchangeError::HeadersTooLarge`](otlp_embedded::transport::ExchangeError::HeadersTooLarge).
/// [`DEFAULT_HEAD_BUFFER`](otlp_embedded::http::DEFAULT_HEAD_BUFFER) bytes is what
/// [`exporter`]'s client holds.
pub fn exporter_with_lent_head<'a, 'h, C: otlp_embedded::transport::AsyncConnect>(
    connector: C,
    config: ExporterConfig<'a>,
    head: &'h mut [u8],
) -> EmbassyLentHeadExporter<'a, 'h, C> {
    Exporter::new(
        config,
        AsyncHttpClient::with_lent_head(connector, EmbassyClock, ReaderConfig::new(), head),
    )
}

/// Collect from `producer` into `snapshot`, encode into `buffer`, and export to the
/// exporter's endpoint, retrying as its config says until its export deadline; `unix_now`
/// stamps the points.
///
/// This is core's [`Exporter::export_async`] with embassy-time as its timer: the same policy
/// as the blocking and superloop drivers (settlement, backoff, `Retry-After`, partial
/// success), every exchange and every wait between retries raced against its deadline, and
/// every connection closed (gracefully after a complete answer, aborted otherwise) before
/// the next one. The report accounts for every collected point; abandoned delta data stays
/// in `producer` for the next export.
///
/// Cancelling the future (dropping it, e.g. in a `select`) is safe: unsettled data stays in
/// the producer, and an open connection is aborted (its RST leaves on the stack runner's
/// next poll; the connector's next `connect` waits for it).
pub async fn export_once<X: AsyncExchange, P: Producer>(
    exporter: &mut Exporter<'_, X>,
    producer: &mut P,
    snapshot: &mut P::Snapshot,
    buffer: &mut [u8],
    unix_now: UnixNanos,
) -> ExportReport {
    exporter
        .export_async(producer, snapshot, buffer, &EmbassyClock, unix_now)
        .await
}

/// Export every `period_ms` milliseconds, for a task the firmware spawns.
///
/// Each period: [`export_once`] with `unix_now()` as the points' time, then `after(producer,
/// &report)`: the task's own work between exports (log the report, record the next
/// readings into the producer) and whether to go on. Return `ControlFlow::Continue(())` to
/// keep exporting (a firmware's task never stops); `ControlFlow::Break(())` ends the loop
/// and this function returns.
///
/// Exports start on a fixed schedule (boot-relative, embassy-time): an export that takes
/// longer than a period makes the missed starts be skipped, not run back to back. Give
/// the exporter an `export_timeout_ms` below `period_ms` to keep every start on time.
///
/// A registry that other tasks record into is shared through a mutex: implement
/// [`Producer`] on a handle that locks it (each `collect` and `settle` is short and never
/// waits), and pass that handle here.
///
/// ```
/// use core::ops::ControlFlow;
/// use otlp_embedded::export::{ExportOutcome, ExporterConfig};
/// use otlp_embedded::proto::{RequestHeader, Resource, Scope};
/// use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
/// use otlp_embedded::transport::{Endpoint, Scheme};
/// use otlp_embedded_embassy::{exporter, run_periodic, EmbassyConnector, Stack};
///
/// type Metrics = Registry<2, 4, 8, 2, 32>;
///
/// async fn telemetry(stack: Stack<'static>, boot_unix_nanos: u64) {
///     let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
///     let connector = EmbassyConnector::new(stack, &mut rx, &mut tx);
///     let header = RequestHeader::new(Resource::new(&[]), Scope::new("sensor"));
///     let endpoint = Endpoint::new(Scheme::Http, "collector.lan", 4318, "/v1/metrics");
///     let mut config = ExporterConfig::new(endpoint, header);
///     config.export_timeout_ms = 5_000;
///     let mut exporter = exporter(connector, config);
///     let mut registry = Metrics::new(boot_unix_nanos);
///     let Ok(ticks) = registry.declare(InstrumentDesc::counter_u64("ticks").max_series(1)) else {
///         return;
///     };
///     let mut snapshot = SnapshotOf::<Metrics>::new();
///     let mut buffer = [0u8; 512];
///     let unix_now = || boot_unix_nanos + embassy_time::Instant::now().as_micros() * 1_000;
///     run_periodic(&mut exporter, &mut registry, &mut snapshot, &mut buffer, 10_000, unix_now,
///         |registry, report| {
///             let _ = report.outcome == ExportOutcome::Success; // log it
///             let _ = registry.record(ticks, 1u64, &[]);
///             ControlFlow::Continue(())
///         },
///     )
///     .await;
/// }
/// # let _ = telemetry;
/// ```
pub async fn run_periodic<X, P, N, F>(
    exporter: &mut Exporter<'_, X>,
    producer: &mut P,
    snapshot: &mut P::Snapshot,
    buffer: &mut [u8],
    period_ms: u64,
    mut unix_now: N,
    mut after: F,
) where
    X: AsyncExchange,
    P: Producer,
    N: FnMut() -> UnixNanos,
    F: FnMut(&mut P, &ExportReport) -> ControlFlow<()>,
{
    // A zero period would export back to back without ever yielding to a timer.
    let period_ms = period_ms.max(1);
    let mut next = EmbassyClock.now().add_millis(period_ms);
    loop {
        embassy_time::Timer::at(embassy_instant(next)).await;
        let report = export_once(exporter, producer, snapshot, buffer, unix_now()).await;
        if after(producer, &report).is_break() {
            return;
        }
        next = next.add_millis(period_ms);
        let now = EmbassyClock.now();
        if next <= now {
            // Skip the starts the export overran, keeping the schedule's phase.
            let behind = next.millis_until(now);
            next = next.add_millis((behind / period_ms + 1) * period_ms);
        }
    }
}
