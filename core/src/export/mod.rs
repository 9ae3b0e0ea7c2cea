//! The exporter: collect, encode, send, and settle every request as OTLP prescribes.
//!
//! One export takes a snapshot from a [`Producer`] (the registry), encodes it into the
//! caller's buffer as one or more requests ([`RequestSplitter`]), sends each through an
//! [`Exchange`] (core's [`HttpClient`](crate::http::HttpClient) over a stream transport, or the
//! user's own HTTP stack) and settles each request on its own:
//!
//! | answer | action | settlement |
//! |---|---|---|
//! | 2xx (partial success decoded, rejected points counted) | done | [`Settlement::Delivered`] |
//! | 429, 502, 503, 504 | retry after backoff or `Retry-After` | none until it ends |
//! | transport error (refused, reset, closed before the answer, timeout, garbled answer) | retry after backoff | none until it ends |
//! | any other status | drop, counted | [`Settlement::Dropped`] |
//! | a point too large for the buffer | drop that point, counted | [`Settlement::Dropped`] |
//! | export deadline reached, or a configuration error | stop | [`Settlement::Abandoned`] |
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
//! # Core owns no sleep
//!
//! Retry timing is state: [`Step::Wait`] says "call again not before this instant". A
//! blocking driver sleeps until then ([`Exporter::export`] does this with a sleep function
//! you pass); a superloop checks the instant each tick and does other work meanwhile:
//!
//! ```
//! use core::cell::Cell;
//! use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig, Step};
//! use otlp_embedded::http::ExchangeError;
//! use otlp_embedded::proto::{RequestHeader, Resource, Scope};
//! use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
//! use otlp_embedded::time::{Clock, Instant};
//! use otlp_embedded::transport::{Endpoint, Exchange, HttpRequest, HttpResponse};
//!
//! // A stand-in for the network that accepts every request. In real use this is
//! // `HttpClient::new(connector, clock)` over a TCP stack, or your own HTTP stack.
//! struct Accept;
//! impl Exchange for Accept {
//!     fn exchange(&mut self, request: &HttpRequest<'_>, _body: &mut [u8])
//!         -> Result<HttpResponse, ExchangeError> {
//!         Ok(HttpResponse { status: 200, retry_after: None, body_is_protobuf: false,
//!             body_len: 0, body_truncated: false, bytes_sent: request.body.len(),
//!             bytes_received: 0 })
//!     }
//! }
//! // A millisecond tick counter.
//! struct Ticks(Cell<u64>);
//! impl Clock for Ticks {
//!     fn now(&self) -> Instant { Instant(self.0.get()) }
//! }
//!
//! let mut registry: Registry<2, 8, 16, 2, 32> = Registry::new(0);
//! let boots = registry.declare(InstrumentDesc::counter_u64("boots").max_series(1)).unwrap();
//! registry.record(boots, 1u64, &[]).unwrap();
//! let header = RequestHeader {
//!     resource: Resource { attributes: &[], dropped_attributes_count: 0, schema_url: "" },
//!     scope: Scope { name: "demo", version: "", attributes: &[],
//!                    dropped_attributes_count: 0, schema_url: "" },
//! };
//! let mut exporter = Exporter::new(ExporterConfig::new(Endpoint::DEFAULT, header), Accept);
//! let mut snapshot: Snapshot<2, 8, 16, 2, 32> = Snapshot::new();
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
//! // Blocking driver: the same, sleeping between retries (`std::thread::sleep` on Linux,
//! // a timer wait on firmware).
//! registry.record(boots, 1u64, &[]).unwrap();
//! let report = exporter.export(&mut registry, &mut snapshot, &mut buffer, &clock,
//!     unix_now + 60_000_000_000, |ms| clock.0.set(clock.0.get() + ms));
//! assert_eq!(report.points_sent, 1);
//! ```

use crate::http::ExchangeError;
use crate::proto::response::{decode_body, ResponseBody};
use crate::proto::{
    EncodeError, MetricsSource, PointCursor, PointSpan, RequestHeader, RequestSplitter,
};
use crate::time::{Clock, Instant, UnixNanos};
use crate::transport::{Endpoint, Exchange, Header, HttpRequest, RetryAfter};

/// Logs through defmt when the `defmt` feature is on; compiles to nothing otherwise.
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "defmt")]
        defmt::$level!($($arg)*);
    };
}

/// What became of the points a request carried.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Settlement {
    /// The server accepted them (2xx, including partial success): commit.
    Delivered,
    /// They will never be sent (non-retryable answer, too large): commit as dropped.
    Dropped,
    /// They were not delivered and may be sent again: leave the live state as it is, so the
    /// next collect includes them together with what was recorded meanwhile.
    Abandoned,
}

/// Something that produces snapshots of its metrics and learns what became of them.
///
/// The registry implements this; so does its critical-section wrapper. A snapshot is taken
/// in short critical sections, then encoded and sent with no lock held; afterwards each
/// request's [`PointSpan`] (indexes into that snapshot) is settled exactly once. Every point
/// of a snapshot ends up in exactly one settled span. A span's `end` may be
/// `PointCursor { metric: metric_count, point: 0 }`, meaning "to the end of the snapshot".
pub trait Producer {
    /// Storage the snapshot is copied into; encoded through [`MetricsSource`].
    type Snapshot: MetricsSource;

    /// Copy the current state into `snapshot`, stamped `now`.
    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos);

    /// Settle the points of `snapshot` in `span`.
    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement);
}

impl<P: Producer + ?Sized> Producer for &mut P {
    type Snapshot = P::Snapshot;
    fn collect(&mut self, snapshot: &mut Self::Snapshot, now: UnixNanos) {
        (**self).collect(snapshot, now)
    }
    fn settle(&mut self, snapshot: &Self::Snapshot, span: PointSpan, settlement: Settlement) {
        (**self).settle(snapshot, span, settlement)
    }
}

/// Retry timing: exponential backoff with full jitter, capped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetryPolicy {
    /// Upper bound of the first retry's delay, in milliseconds.
    pub initial_backoff_ms: u32,
    /// Cap on any delay, whether from backoff or from `Retry-After`, in milliseconds.
    pub max_delay_ms: u32,
    /// Attempts per request, the first included; 0 means "until the export deadline".
    pub max_attempts: u16,
}

impl Default for RetryPolicy {
    /// 1 s initial backoff, 30 s cap, attempts bounded only by the export deadline.
    fn default() -> Self {
        RetryPolicy {
            initial_backoff_ms: 1_000,
            max_delay_ms: 30_000,
            max_attempts: 0,
        }
    }
}

/// Everything an exporter needs to know, borrowed from the caller.
#[derive(Copy, Clone, Debug)]
pub struct ExporterConfig<'a> {
    /// Where requests go.
    pub endpoint: Endpoint<'a>,
    /// Extra request headers (authorization and the like).
    pub headers: &'a [Header<'a>],
    /// Resource and scope, repeated in every request.
    pub request_header: RequestHeader<'a>,
    /// Deadline of one whole export, retries included, in milliseconds.
    pub export_timeout_ms: u32,
    /// Deadline of one exchange (`OTEL_EXPORTER_OTLP_TIMEOUT`), in milliseconds.
    pub request_timeout_ms: u32,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// Seed of the jitter generator; give each device its own so that a fleet does not
    /// retry in lockstep. Any value works, consecutive ones too (it is mixed before use).
    /// [`ExporterConfig::new`] puts a constant here, fit for one process or a test; the
    /// firmware entry points of `otlp-embedded-smoltcp` replace it with one drawn from the
    /// device seed they require.
    pub jitter_seed: u64,
}

impl<'a> ExporterConfig<'a> {
    /// A configuration with the OTLP defaults: 10 s per request, 30 s per export, default
    /// retry policy, no extra headers.
    pub fn new(endpoint: Endpoint<'a>, request_header: RequestHeader<'a>) -> Self {
        ExporterConfig {
            endpoint,
            headers: &[],
            request_header,
            export_timeout_ms: 30_000,
            request_timeout_ms: 10_000,
            retry: RetryPolicy::default(),
            jitter_seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

/// What went wrong in an export, with the request it happened to (0-based, in order of
/// encoding). `Copy`, no allocation: suitable as a "last error".
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExportError {
    /// Index of the request within its export.
    pub request: u32,
    /// What happened.
    pub kind: ExportErrorKind,
}

/// The kinds of [`ExportError`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExportErrorKind {
    /// The exchange failed (transport or HTTP framing).
    Exchange(ExchangeError),
    /// The server answered with this non-success status.
    Status(u16),
    /// Encoding failed (a point too large: dropped; the header too large: nothing sent).
    Encode(EncodeError),
    /// The server accepted the request but rejected this many points (partial success).
    Rejected(i64),
    /// The export deadline came before the request was delivered.
    DeadlineExceeded,
    /// The request was tried `RetryPolicy::max_attempts` times.
    AttemptsExhausted,
    /// A step was given a buffer too short to hold the request encoded in an earlier step.
    BufferChanged,
    /// The caller ended the export before it was done ([`Exporter::abandon`]).
    Cancelled,
}

impl core::fmt::Display for ExportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "request {}: ", self.request)?;
        match self.kind {
            ExportErrorKind::Exchange(e) => write!(f, "{e}"),
            ExportErrorKind::Status(s) => write!(f, "server answered status {s}"),
            ExportErrorKind::Encode(e) => write!(f, "{e}"),
            ExportErrorKind::Rejected(n) => write!(f, "server rejected {n} data points"),
            ExportErrorKind::DeadlineExceeded => f.write_str("export deadline exceeded"),
            ExportErrorKind::AttemptsExhausted => f.write_str("retry attempts exhausted"),
            ExportErrorKind::BufferChanged => {
                f.write_str("step given a different buffer than the request was encoded into")
            }
            ExportErrorKind::Cancelled => f.write_str("export cancelled by the caller"),
        }
    }
}

/// How one export ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExportOutcome {
    /// Every point was delivered and accepted (also when there was nothing to send).
    Success,
    /// Every request was delivered, but the server rejected some points or some points
    /// were too large to send; see the counts.
    PartialSuccess,
    /// At least one request was dropped or abandoned; see the counts and the error.
    Failed,
}

/// The account of one export. Every collected point is in exactly one of `points_sent`,
/// `points_dropped` and `points_abandoned`; `points_rejected` is the part of `points_sent`
/// the server said it did not keep.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExportReport {
    /// How it ended.
    pub outcome: ExportOutcome,
    /// Points in the snapshot.
    pub points_collected: usize,
    /// Points in requests the server answered 2xx.
    pub points_sent: usize,
    /// Points the server reported as rejected in partial-success answers.
    pub points_rejected: u64,
    /// Points dropped: carried by requests answered with a non-retryable status, or too
    /// large to encode.
    pub points_dropped: usize,
    /// Points not delivered and left for the next export.
    pub points_abandoned: usize,
    /// Requests encoded.
    pub requests: u32,
    /// Requests answered 2xx.
    pub requests_delivered: u32,
    /// Requests dropped after a non-retryable answer.
    pub requests_dropped: u32,
    /// Retries made (attempts after the first, over all requests).
    pub retries: u32,
    /// Request bytes written, retries included.
    pub bytes_sent: u64,
    /// The first error, if any.
    pub first_error: Option<ExportError>,
    /// The last error, if any.
    pub last_error: Option<ExportError>,
}

impl ExportReport {
    const fn empty(points_collected: usize) -> Self {
        ExportReport {
            outcome: ExportOutcome::Success,
            points_collected,
            points_sent: 0,
            points_rejected: 0,
            points_dropped: 0,
            points_abandoned: 0,
            requests: 0,
            requests_delivered: 0,
            requests_dropped: 0,
            retries: 0,
            bytes_sent: 0,
            first_error: None,
            last_error: None,
        }
    }

    fn record_error(&mut self, error: ExportError) {
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
        self.last_error = Some(error);
    }
}

/// Totals over the exporter's life, for a user to read or log.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExportStats {
    /// Exports that ended in [`ExportOutcome::Success`] or [`ExportOutcome::PartialSuccess`].
    pub exports_ok: u32,
    /// Exports that ended in [`ExportOutcome::Failed`].
    pub exports_failed: u32,
    /// Retries made.
    pub retries: u32,
    /// Requests answered 2xx.
    pub requests_delivered: u32,
    /// Requests dropped after a non-retryable answer.
    pub requests_dropped: u32,
    /// Points delivered.
    pub points_sent: u64,
    /// Points the server rejected (partial success).
    pub points_rejected: u64,
    /// Points dropped.
    pub points_dropped: u64,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// The most recent error.
    pub last_error: Option<ExportError>,
    /// Unix time at which the most recent successful export collected its snapshot.
    pub last_success_unix_nanos: Option<UnixNanos>,
}

/// What [`Exporter::step`] asks of its caller.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    /// Call `step` again, not before this instant (which may already have come).
    Wait(Instant),
    /// The export is over.
    Done(ExportReport),
}

/// The request being sent: where its bytes are in the buffer and what it carries.
#[derive(Copy, Clone, Debug)]
struct InFlight {
    offset: usize,
    len: usize,
    span: PointSpan,
    index: u32,
    attempts: u16,
}

/// One export in progress, created by [`Exporter::start`] and advanced by
/// [`Exporter::step`]. Holds no borrow of the snapshot or buffer: pass the same ones to
/// every step.
#[derive(Debug)]
pub struct ExportRun<'a> {
    splitter: RequestSplitter<'a>,
    started: Instant,
    deadline: Instant,
    started_unix_nanos: UnixNanos,
    in_flight: Option<InFlight>,
    report: ExportReport,
    done: bool,
    /// The last `Step::Wait` instant: a step before it does nothing.
    not_before: Instant,
}

impl ExportRun<'_> {
    /// The account so far.
    pub fn report(&self) -> &ExportReport {
        &self.report
    }

    /// The instant by which the export ends, retries included.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// End the export by `at` if that is sooner than its deadline (a shutdown with less
    /// time than the export timeout). Takes effect from the next step: a request already
    /// sent keeps the deadline it was sent with.
    pub fn end_by(&mut self, at: Instant) {
        self.deadline = self.deadline.min(at);
    }
}

/// The jitter generator's first state from a seed: splitmix64's finalizer, so that seeds
/// that differ in one bit (consecutive device ids) start unrelated schedules, and never
/// zero, where xorshift would stay.
const fn jitter_start(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z == 0 {
        0x9E37_79B9_7F4A_7C15
    } else {
        z
    }
}

/// Capacity of the buffer the exporter keeps response bodies in. Partial-success and
/// `Status` messages longer than this are cut; what matters (counts, codes) comes first.
pub const RESPONSE_BODY_CAPACITY: usize = 256;

/// Collects, encodes, sends and settles; see the [module docs](self).
pub struct Exporter<'a, X: Exchange> {
    config: ExporterConfig<'a>,
    exchange: X,
    jitter_state: u64,
    stats: ExportStats,
    response_body: [u8; RESPONSE_BODY_CAPACITY],
    server_message: ServerMessage,
}

/// Capacity of the copy of the server's last message.
pub const SERVER_MESSAGE_CAPACITY: usize = 128;

/// The last message a server sent (partial-success `error_message` or `Status.message`),
/// cut at a character boundary to fit.
#[derive(Clone, Debug)]
struct ServerMessage {
    bytes: [u8; SERVER_MESSAGE_CAPACITY],
    len: usize,
}

impl ServerMessage {
    const fn new() -> Self {
        ServerMessage {
            bytes: [0; SERVER_MESSAGE_CAPACITY],
            len: 0,
        }
    }

    fn set(&mut self, message: &str) {
        let mut len = message.len().min(SERVER_MESSAGE_CAPACITY);
        while !message.is_char_boundary(len) {
            len -= 1;
        }
        self.bytes[..len].copy_from_slice(&message.as_bytes()[..len]);
        self.len = len;
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in, so this never fails.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl<'a, X: Exchange> Exporter<'a, X> {
    /// An exporter sending through `exchange`.
    pub fn new(config: ExporterConfig<'a>, exchange: X) -> Self {
        Exporter {
            config,
            exchange,
            jitter_state: jitter_start(config.jitter_seed),
            stats: ExportStats::default(),
            response_body: [0; RESPONSE_BODY_CAPACITY],
            server_message: ServerMessage::new(),
        }
    }

    /// What the server said in the current (or last) export: a partial success's
    /// `error_message`, or the `google.rpc.Status` message of an error answer; empty when
    /// the answer behind the export's latest error carried none (a 400 with an empty body,
    /// a connection that failed), so it is never an earlier export's message. Cut to
    /// [`SERVER_MESSAGE_CAPACITY`] bytes.
    pub fn last_server_message(&self) -> &str {
        self.server_message.as_str()
    }

    /// Totals over this exporter's life.
    pub fn stats(&self) -> &ExportStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &ExporterConfig<'a> {
        &self.config
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
        producer.collect(snapshot, unix_now);
        // A message from an earlier export must not read as this one's.
        self.server_message.clear();
        let points_collected: usize = (0..snapshot.metric_count())
            .map(|m| snapshot.point_count(m))
            .sum();
        log!(
            debug,
            "otlp export: {=usize} points collected",
            points_collected
        );
        ExportRun {
            splitter: RequestSplitter::new(self.config.request_header),
            started: now,
            deadline: now.add_millis(u64::from(self.config.export_timeout_ms)),
            started_unix_nanos: unix_now,
            in_flight: None,
            report: ExportReport::empty(points_collected),
            done: false,
            not_before: now,
        }
    }

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
        let now = clock.now();
        if run.done {
            return Step::Done(run.report);
        }
        if now >= run.deadline {
            return self.finish_abandoned(
                run,
                producer,
                snapshot,
                ExportErrorKind::DeadlineExceeded,
            );
        }
        if now < run.not_before {
            // Called before the retry is due: the backoff holds however often we are asked.
            return Step::Wait(run.not_before);
        }
        let flight = match run.in_flight {
            Some(flight) => flight,
            None => match self.encode_next(run, producer, snapshot, buffer) {
                Some(flight) => flight,
                None if run.done => return Step::Done(run.report),
                None => return Step::Wait(now),
            },
        };
        self.send(run, producer, snapshot, buffer, flight, clock)
    }

    /// End `run` now, between steps (a shutdown that will not wait for a retry): the
    /// request waiting for its retry and everything not yet sent are settled
    /// [`Settlement::Abandoned`], so they go out with the next export;
    /// [`ExportErrorKind::Cancelled`] is noted. A finished run is returned as it is, and a
    /// run with every request already settled just ends, with no error.
    pub fn abandon<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
    ) -> ExportReport {
        if run.done {
            return run.report;
        }
        if run.in_flight.is_none() && remaining_points(snapshot, run.splitter.position()) == 0 {
            // Every request is settled already: nothing is cancelled, the export just ends
            // as its next step would have ended it.
            self.finish(run);
        } else {
            self.finish_abandoned(run, producer, snapshot, ExportErrorKind::Cancelled);
        }
        run.report
    }

    /// Run a whole export, sleeping between retries with `sleep(milliseconds)`. Returns
    /// when every request is settled or the export deadline has passed.
    pub fn export<P: Producer, K: Clock>(
        &mut self,
        producer: &mut P,
        snapshot: &mut P::Snapshot,
        buffer: &mut [u8],
        clock: &K,
        unix_now: UnixNanos,
        mut sleep: impl FnMut(u64),
    ) -> ExportReport {
        let mut run = self.start(producer, snapshot, unix_now, clock.now());
        loop {
            match self.step(&mut run, producer, snapshot, buffer, clock) {
                Step::Done(report) => return report,
                Step::Wait(at) => {
                    let wait = clock.now().millis_until(at);
                    if wait > 0 {
                        sleep(wait);
                    }
                }
            }
        }
    }

    /// Encode the next request into `buffer`, settling points too large to send. `None`
    /// with `run.done` set when there is nothing left; `None` otherwise when a point was
    /// dropped (the caller steps again).
    fn encode_next<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &mut [u8],
    ) -> Option<InFlight> {
        let base = buffer.as_ptr() as usize;
        match run.splitter.next_request(snapshot, buffer) {
            None => {
                self.finish(run);
                None
            }
            Some(Ok(request)) => {
                let index = run.report.requests;
                run.report.requests += 1;
                let flight = InFlight {
                    offset: request.bytes.as_ptr() as usize - base,
                    len: request.bytes.len(),
                    span: request.span,
                    index,
                    attempts: 0,
                };
                run.in_flight = Some(flight);
                Some(flight)
            }
            Some(Err(error)) => {
                let kind = ExportErrorKind::Encode(error);
                match error {
                    EncodeError::PointTooLarge { metric, point }
                    | EncodeError::ValueKindMismatch { metric, point }
                    | EncodeError::BucketCountMismatch { metric, point } => {
                        // The splitter skipped this one point; it can never be sent.
                        let span = PointSpan {
                            start: PointCursor { metric, point },
                            end: PointCursor {
                                metric,
                                point: point + 1,
                            },
                            points: 1,
                        };
                        producer.settle(snapshot, span, Settlement::Dropped);
                        run.report.points_dropped += 1;
                        self.stats.points_dropped += 1;
                        self.note_error(
                            run,
                            ExportError {
                                request: run.report.requests,
                                kind,
                            },
                        );
                        None
                    }
                    _ => {
                        self.finish_abandoned(run, producer, snapshot, kind);
                        None
                    }
                }
            }
        }
    }

    /// One attempt at sending `flight`, and what follows from the answer.
    fn send<P: Producer, K: Clock>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &mut [u8],
        mut flight: InFlight,
        clock: &K,
    ) -> Step {
        let now = clock.now();
        let Some(body) = buffer.get(flight.offset..flight.offset + flight.len) else {
            // The caller passed a different buffer than the one the request was encoded
            // into: the bytes are gone, so the points go back to the registry.
            return self.finish_abandoned(run, producer, snapshot, ExportErrorKind::BufferChanged);
        };
        let request_deadline = now
            .add_millis(u64::from(self.config.request_timeout_ms))
            .min(run.deadline);
        let request = HttpRequest {
            endpoint: &self.config.endpoint,
            headers: self.config.headers,
            content_encoding: None,
            body,
            deadline: request_deadline,
        };
        flight.attempts = flight.attempts.saturating_add(1);
        if flight.attempts > 1 {
            run.report.retries += 1;
            self.stats.retries += 1;
        }
        run.in_flight = Some(flight);
        let result = self.exchange.exchange(&request, &mut self.response_body);
        let now = clock.now();
        let error_at = |kind| ExportError {
            request: flight.index,
            kind,
        };
        let retry_after = match result {
            Ok(response) => {
                run.report.bytes_sent += response.bytes_sent as u64;
                self.stats.bytes_sent += response.bytes_sent as u64;
                match response.status {
                    200..=299 => {
                        let rejected = match decode_body(&response, &self.response_body) {
                            ResponseBody::PartialSuccess(partial) => {
                                self.server_message.set(partial.error_message);
                                partial.rejected_data_points
                            }
                            _ => 0,
                        };
                        self.settle_flight(run, producer, snapshot, flight, Settlement::Delivered);
                        // A server cannot reject fewer than none or more than it was sent.
                        let rejected = rejected.clamp(0, flight.span.points as i64);
                        if rejected != 0 {
                            let counted = rejected as u64;
                            run.report.points_rejected += counted;
                            self.stats.points_rejected += counted;
                            self.note_error(run, error_at(ExportErrorKind::Rejected(rejected)));
                        }
                        return Step::Wait(now);
                    }
                    429 | 502 | 503 | 504 => {
                        self.keep_status_message(&response);
                        self.note_error(run, error_at(ExportErrorKind::Status(response.status)));
                        response.retry_after
                    }
                    status => {
                        self.keep_status_message(&response);
                        self.note_error(run, error_at(ExportErrorKind::Status(status)));
                        self.settle_flight(run, producer, snapshot, flight, Settlement::Dropped);
                        return Step::Wait(now);
                    }
                }
            }
            Err(error) => {
                self.server_message.clear();
                self.note_error(run, error_at(ExportErrorKind::Exchange(error)));
                if !error.is_transient() {
                    return self.finish_abandoned(
                        run,
                        producer,
                        snapshot,
                        ExportErrorKind::Exchange(error),
                    );
                }
                None
            }
        };
        // A retryable failure: wait, unless the attempts or the deadline say stop.
        let max_attempts = self.config.retry.max_attempts;
        if max_attempts != 0 && flight.attempts >= max_attempts {
            return self.finish_abandoned(
                run,
                producer,
                snapshot,
                ExportErrorKind::AttemptsExhausted,
            );
        }
        let delay = self.retry_delay(run, flight.attempts, retry_after, now);
        let at = now.add_millis(delay);
        if at >= run.deadline {
            return self.finish_abandoned(
                run,
                producer,
                snapshot,
                ExportErrorKind::DeadlineExceeded,
            );
        }
        log!(
            debug,
            "otlp export: request {=u32} retry in {=u64} ms",
            flight.index,
            delay
        );
        run.not_before = at;
        Step::Wait(at)
    }

    /// The delay before the next attempt: full jitter over an exponentially growing
    /// ceiling, or the server's `Retry-After` when that is longer; both capped.
    fn retry_delay(
        &mut self,
        run: &ExportRun<'a>,
        attempts: u16,
        retry_after: Option<RetryAfter>,
        now: Instant,
    ) -> u64 {
        let cap = u64::from(self.config.retry.max_delay_ms);
        let exponent = u32::from(attempts.saturating_sub(1)).min(32);
        let ceiling = u64::from(self.config.retry.initial_backoff_ms)
            .saturating_mul(1u64 << exponent)
            .min(cap);
        let backoff = self.next_random() % (ceiling + 1);
        let Some(retry_after) = retry_after else {
            return backoff;
        };
        let millis = match retry_after {
            RetryAfter::Seconds(seconds) => u64::from(seconds).saturating_mul(1000),
            RetryAfter::UnixSeconds(at) => {
                let unix_now_ms =
                    run.started_unix_nanos / 1_000_000 + run.started.millis_until(now);
                at.saturating_mul(1000).saturating_sub(unix_now_ms)
            }
        };
        // The server's wait is a floor, not a licence to hammer it: `Retry-After: 0`, or a
        // date already past (clocks disagree), still backs off.
        millis.max(backoff).min(cap)
    }

    /// xorshift64*: small, seedable, good enough to spread retries.
    fn next_random(&mut self) -> u64 {
        let mut x = self.jitter_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.jitter_state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn keep_status_message(&mut self, response: &crate::transport::HttpResponse) {
        match decode_body(response, &self.response_body) {
            ResponseBody::Status(status) => self.server_message.set(status.message),
            _ => self.server_message.clear(),
        }
    }

    fn note_error(&mut self, run: &mut ExportRun<'a>, error: ExportError) {
        log!(warn, "otlp export: {}", error);
        run.report.record_error(error);
        self.stats.last_error = Some(error);
    }

    fn settle_flight<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        flight: InFlight,
        settlement: Settlement,
    ) {
        run.in_flight = None;
        producer.settle(snapshot, flight.span, settlement);
        match settlement {
            Settlement::Delivered => {
                run.report.requests_delivered += 1;
                run.report.points_sent += flight.span.points;
                self.stats.requests_delivered += 1;
                self.stats.points_sent += flight.span.points as u64;
            }
            Settlement::Dropped => {
                run.report.requests_dropped += 1;
                run.report.points_dropped += flight.span.points;
                self.stats.requests_dropped += 1;
                self.stats.points_dropped += flight.span.points as u64;
            }
            Settlement::Abandoned => run.report.points_abandoned += flight.span.points,
        }
    }

    /// Stop the export: the request in flight and everything not yet encoded go back to
    /// the producer for the next export.
    fn finish_abandoned<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        kind: ExportErrorKind,
    ) -> Step {
        let index = match run.in_flight {
            Some(flight) => flight.index,
            None => run.report.requests,
        };
        self.note_error(
            run,
            ExportError {
                request: index,
                kind,
            },
        );
        if let Some(flight) = run.in_flight {
            self.settle_flight(run, producer, snapshot, flight, Settlement::Abandoned);
        }
        let start = run.splitter.position();
        let end = PointCursor {
            metric: snapshot.metric_count(),
            point: 0,
        };
        let points = remaining_points(snapshot, start);
        if points > 0 {
            producer.settle(
                snapshot,
                PointSpan { start, end, points },
                Settlement::Abandoned,
            );
            run.report.points_abandoned += points;
        }
        self.finish(run);
        Step::Done(run.report)
    }

    fn finish(&mut self, run: &mut ExportRun<'a>) {
        run.done = true;
        let report = &mut run.report;
        report.outcome = if report.points_abandoned > 0 || report.requests_dropped > 0 {
            ExportOutcome::Failed
        } else if report.points_rejected > 0 || report.points_dropped > 0 {
            ExportOutcome::PartialSuccess
        } else {
            ExportOutcome::Success
        };
        log!(
            info,
            "otlp export: {} sent={=usize} dropped={=usize} abandoned={=usize} requests={=u32} retries={=u32}",
            report.outcome,
            report.points_sent,
            report.points_dropped,
            report.points_abandoned,
            report.requests,
            report.retries
        );
        match report.outcome {
            ExportOutcome::Failed => self.stats.exports_failed += 1,
            _ => {
                self.stats.exports_ok += 1;
                self.stats.last_success_unix_nanos = Some(run.started_unix_nanos);
            }
        }
    }
}

/// Points of `source` from `start` to the end.
fn remaining_points<S: MetricsSource + ?Sized>(source: &S, start: PointCursor) -> usize {
    (start.metric..source.metric_count())
        .map(|m| {
            let count = source.point_count(m);
            if m == start.metric {
                count.saturating_sub(start.point)
            } else {
                count
            }
        })
        .sum()
}
