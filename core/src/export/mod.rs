//! The exporter: collect, encode, send, and settle every request as OTLP prescribes.
//!
//! One export takes a snapshot from a [`Producer`] (the registry), encodes it into the
//! caller's buffer as one or more requests
//! ([`RequestSplitter`](crate::proto::RequestSplitter)), sends each through an
//! [`Exchange`] (core's [`HttpClient`](crate::http::HttpClient) over a stream transport, or the
//! user's own HTTP stack) and settles each request on its own:
//!
//! | answer | action | settlement |
//! |---|---|---|
//! | 2xx (partial success decoded, rejected points counted) | done | [`Settlement::Delivered`] |
//! | 429, 502, 503, 504 | retry after backoff, or after the server's `Retry-After` plus up to a quarter of it as jitter | none until it ends |
//! | transport error (refused, reset, closed before the answer, timeout, garbled answer) | retry after backoff | none until it ends |
//! | any other status | drop, counted | [`Settlement::Dropped`] |
//! | a response body over the client's limit (any status) | drop, counted; connection aborted | [`Settlement::Dropped`] |
//! | a point too large for the buffer | drop that point, counted | [`Settlement::Dropped`] |
//! | export deadline reached (or a `Retry-After` that ends after it), or a configuration error | stop | [`Settlement::Abandoned`] |
//!
//! So when request 2 of 3 fails for good, request 1's points are not sent again and request
//! 2's (and 3's) are, with the next export: abandoned delta data stays in the registry and
//! goes out next time together with what was recorded meanwhile; cumulative data is simply
//! current next time.
//!
//! # Delivery is at least once
//!
//! OTLP over HTTP cannot tell "the server never got it" from "the server kept it but the
//! answer was lost": a collector that reads a request and closes without answering may
//! have stored it. The exporter retries in both cases, so a point can arrive twice, never
//! zero times while the export deadline and the registry's memory allow. For cumulative
//! data a duplicate is harmless (the backend keeps the latest value per start time). For
//! delta data a duplicate counts twice in the backend's sum; the only cure is server-side
//! deduplication, which OTLP does not define.
//!
//! # One policy, three drivers
//!
//! [`ExportPolicy`] decides everything (what to send, when to retry, how each request
//! settles) and does no I/O; the drivers only carry out its sends and waits:
//!
//! - blocking: [`Exporter::export`] (or [`Exporter::step`]) over an [`Exchange`], for a
//!   thread that may wait;
//! - superloop: [`Exporter::poll`], one call per tick, over a
//!   [`PollExchange`](crate::transport::PollExchange) such as core's
//!   [`PollHttpClient`](crate::http::PollHttpClient): no call waits;
//! - async: `Exporter::export_async` (feature `async`) over an `AsyncExchange` such as
//!   core's `AsyncHttpClient`, for embassy or tokio tasks.
//!
//! The same answers give the same reports and settlements under all three.
//!
//! # Core owns no sleep
//!
//! Retry timing is state: [`Step::Wait`] says "call again not before this instant". A
//! blocking driver sleeps until then ([`Exporter::export`] does this with the [`Wait`]
//! you pass); a superloop checks the instant each tick and does other work meanwhile:
//!
//! ```
//! use core::cell::Cell;
//! use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig, Step};
//! use otlp_embedded::proto::{RequestHeader, Resource, Scope};
//! use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
//! use otlp_embedded::time::{Clock, Instant};
//! use otlp_embedded::transport::{Endpoint, Exchange, ExchangeError, HttpRequest, HttpResponse};
//!
//! // A stand-in for the network that accepts every request. In real use this is
//! // `HttpClient::new(connector, clock)` over a TCP stack, or your own HTTP stack.
//! struct Accept;
//! impl Exchange for Accept {
//!     fn exchange(&mut self, request: &HttpRequest<'_>, _body: &mut [u8])
//!         -> Result<HttpResponse, ExchangeError> {
//!         Ok(HttpResponse::new(200).with_bytes(request.body.len(), 0))
//!     }
//! }
//! // A millisecond tick counter.
//! struct Ticks(Cell<u64>);
//! impl Clock for Ticks {
//!     fn now(&self) -> Instant { Instant(self.0.get()) }
//! }
//!
//! type Metrics = Registry<2, 8, 16, 2, 32>;
//! let mut registry = Metrics::new(0);
//! let boots = registry.declare(InstrumentDesc::counter_u64("boots").max_series(1)).unwrap();
//! registry.record(boots, 1u64, &[]).unwrap();
//! let header = RequestHeader::new(Resource::new(&[]), Scope::new("demo"));
//! let mut exporter = Exporter::new(ExporterConfig::new(Endpoint::DEFAULT, header), Accept);
//! let mut snapshot = SnapshotOf::<Metrics>::new();
//! let mut buffer = [0u8; 512];
//! let clock = Ticks(Cell::new(0));
//!
//! // Superloop: one step per tick; retry timing is checked, never slept on.
//! let unix_now = 1_700_000_000_000_000_000;
//! let mut run = exporter.start(&mut registry, &mut snapshot, unix_now, clock.now());
//! let mut next_step = clock.now();
//! let report = loop {
//!     clock.0.set(clock.0.get() + 10); // ... the tick's other work ...
//!     if clock.now() < next_step {
//!         continue;
//!     }
//!     match exporter.step(&mut run, &mut registry, &snapshot, &mut buffer, &clock) {
//!         Step::Wait(at) => next_step = at,
//!         Step::Done(report) => break report,
//!     }
//! };
//! assert_eq!(report.outcome, ExportOutcome::Success);
//!
//! // Blocking driver: the same, waiting between retries (`std::thread::sleep` on Linux,
//! // a timer wait on firmware: any `time::Wait`).
//! registry.record(boots, 1u64, &[]).unwrap();
//! let report = exporter.export(&mut registry, &mut snapshot, &mut buffer, &clock,
//!     unix_now + 60_000_000_000, |_now, until: Instant| clock.0.set(until.as_millis()));
//! assert_eq!(report.points_sent, 1);
//! ```
//!
//! # Layout
//!
//! - [`Exporter`] (this file): the exporter and its blocking driver; `poll` and `asynch`
//!   its superloop and async drivers, the only places besides this file that carry out
//!   exchanges;
//! - `policy`: [`ExportPolicy`], which decides what to send, and what follows from each
//!   answer; `run`: one export's state ([`ExportRun`]) and what the policy asks
//!   ([`Action`], [`Step`]);
//! - [`RetryPolicy`] and the delay rule (`retry`); [`ExporterConfig`] (`config`);
//! - what an export reports (`report`): [`ExportReport`], [`ExportError`], [`ExportStats`].

/// Logs through defmt when the `defmt` feature is on; compiles to nothing otherwise.
/// (Defined before the submodules, which use it.)
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "defmt")]
        defmt::$level!($($arg)*);
    };
}

#[cfg(feature = "async")]
mod asynch;
mod config;
mod policy;
mod poll;
mod report;
mod retry;
mod run;

pub use config::ExporterConfig;
pub use policy::ExportPolicy;
pub use report::{ExportError, ExportErrorKind, ExportOutcome, ExportReport, ExportStats};
pub use retry::RetryPolicy;
use run::Decision;
pub use run::{Action, ExportRun, Step};

use crate::registry::Producer;
#[cfg(doc)]
use crate::registry::Settlement;
use crate::time::{Clock, Instant, UnixNanos, Wait};
use crate::transport::Exchange;

/// Capacity of the buffer the exporter keeps response bodies in. Partial-success and
/// `Status` messages longer than this are cut; what matters (counts, codes) comes first.
///
/// The most response body the exporter reads is this buffer plus the HTTP client's
/// [`ReaderConfig::drain_cap`](crate::http::ReaderConfig::drain_cap): 256 + 16,384 =
/// 16,640 bytes with core's client and its default. The OTLP specification ("OTLP/HTTP
/// Response") says: "The client MUST limit the size of the response body when parsing
/// it [...]. If the limit is exceeded, the client MUST treat the response as a
/// non-retryable error and SHOULD record the fact that the response was discarded." A
/// longer body, whatever its status, ends the exchange with
/// [`ExchangeError::ResponseTooLarge`](crate::transport::ExchangeError::ResponseTooLarge):
/// the connection is aborted, and the request's points are dropped and counted, never
/// sent again. The specification recommends 4 MiB; an OTLP answer is a few bytes to a
/// partial-success message, and a device should not spend its link reading more, so the
/// default is far lower (raise it with `ReaderConfig::with_drain_cap`).
pub const RESPONSE_BODY_CAPACITY: usize = 256;

/// Capacity of the copy of the server's last message.
pub const SERVER_MESSAGE_CAPACITY: usize = 128;

/// Collects, encodes, sends and settles; see the [module docs](self).
///
/// The [`ExportPolicy`] decides; `X` carries the requests: an [`Exchange`] for the
/// blocking driver ([`export`](Self::export), [`step`](Self::step)).
pub struct Exporter<'a, X> {
    policy: ExportPolicy<'a>,
    exchange: X,
    response_body: [u8; RESPONSE_BODY_CAPACITY],
}

impl<'a, X> Exporter<'a, X> {
    /// An exporter sending through `exchange`.
    pub fn new(config: ExporterConfig<'a>, exchange: X) -> Self {
        Exporter {
            policy: ExportPolicy::new(config),
            exchange,
            response_body: [0; RESPONSE_BODY_CAPACITY],
        }
    }

    /// What the server said in the current (or last) export: a partial success's
    /// `error_message`, or the `google.rpc.Status` message of an error answer; empty when
    /// the answer behind the export's latest error carried none (a 400 with an empty body,
    /// a connection that failed), so it is never an earlier export's message. Cut to
    /// [`SERVER_MESSAGE_CAPACITY`] bytes.
    pub fn last_server_message(&self) -> &str {
        self.policy.last_server_message()
    }

    /// Totals over this exporter's life.
    pub fn stats(&self) -> &ExportStats {
        self.policy.stats()
    }

    /// The configuration.
    pub fn config(&self) -> &ExporterConfig<'a> {
        self.policy.config()
    }

    /// The policy, for inspection.
    pub fn policy(&self) -> &ExportPolicy<'a> {
        &self.policy
    }

    /// The policy, to carry over or release a server's hold
    /// ([`ExportPolicy::set_hold_until`]) or to drive it directly.
    pub fn policy_mut(&mut self) -> &mut ExportPolicy<'a> {
        &mut self.policy
    }

    /// The exchange, for inspection.
    pub fn exchange(&self) -> &X {
        &self.exchange
    }

    /// The exchange, for adjustment between exports.
    pub fn exchange_mut(&mut self) -> &mut X {
        &mut self.exchange
    }

    /// Collect a snapshot from `producer` and begin an export of it. `unix_now` stamps the
    /// points; `now` starts the export deadline.
    pub fn start<P: Producer>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        unix_now: UnixNanos,
        now: Instant,
    ) -> ExportRun<'a> {
        self.policy.start(producer, snapshot, unix_now, now)
    }

    /// End `run` now, between steps (a shutdown that will not wait for a retry): the
    /// request waiting for its retry and everything not yet sent are settled
    /// [`Settlement::Abandoned`], so they go out with the next export;
    /// [`ExportErrorKind::Cancelled`] is noted. A finished run is returned as it is, and a
    /// run with every request already settled just ends, with no error. A superloop whose
    /// exchange may be under way uses [`cancel`](Self::cancel) instead, which also aborts
    /// the exchange's connection.
    pub fn abandon<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
    ) -> ExportReport {
        self.policy.abandon(run, producer, snapshot)
    }
}

impl<'a, X: Exchange> Exporter<'a, X> {
    /// Advance `run` by at most one exchange. `buffer` holds encoded requests: pass the
    /// same buffer to every step of a run, since a request waiting for its retry stays in
    /// it. The clock is read before the exchange (for its deadline) and after it (retry
    /// timing counts from the answer).
    pub fn step<P: Producer, K: Clock>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &mut [u8],
        clock: &K,
    ) -> Step {
        let body = match self
            .policy
            .decide(run, producer, snapshot, buffer, clock.now())
        {
            Decision::Send(body) => body,
            Decision::Wait(at) => return Step::Wait(at),
            Decision::Done => return Step::Done(run.report),
        };
        let request = run.request_with(body);
        // The only place the blocking driver talks to the network; the policy decides
        // everything before and after.
        let result = self.exchange.exchange(&request, &mut self.response_body);
        let now = clock.now();
        match self
            .policy
            .conclude_sent(run, producer, snapshot, result, &self.response_body, now)
        {
            Some(at) => Step::Wait(at),
            None => Step::Done(run.report),
        }
    }

    /// Run a whole export, waiting between retries with `wait` (`wait(now, until)`: a
    /// sleep on Linux, an idle hook on firmware; see [`Wait`]). Returns when every request
    /// is settled or the export deadline has passed.
    // Never inlined: a program that exports from one place would otherwise get the whole
    // export (start, step, the client) inlined into its own function, whose frame then
    // holds the export's locals between exports too (firmware-min's main: 1,584 -> 880
    // bytes of stack on entry), and the footprint report would count it as the program's.
    // The same size either way on Cortex-M4F (23,244 B).
    #[inline(never)]
    pub fn export<P: Producer, K: Clock>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        buffer: &mut [u8],
        clock: &K,
        unix_now: UnixNanos,
        mut wait: impl Wait,
    ) -> ExportReport {
        let mut run = self.start(producer, snapshot, unix_now, clock.now());
        loop {
            match self.step(&mut run, producer, snapshot, buffer, clock) {
                // The run's report, which the step's is a copy of: read where the export
                // returns it, the step's copy is never made.
                Step::Done(_) => return run.report,
                Step::Wait(at) => {
                    let now = clock.now();
                    if now < at {
                        wait.wait(now, at);
                    }
                }
            }
        }
    }
}
