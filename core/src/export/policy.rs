//! The export policy, sans-IO: [`ExportPolicy`] decides, its driver does the I/O.
//!
//! [`ExportPolicy::next`] says what to do now ([`Action::Send`] a request by its deadline,
//! [`Action::Wait`] until an instant, or [`Action::Done`]); the driver carries out a send
//! however it does I/O (blocking, polled from a superloop, awaited) and hands the result
//! to [`ExportPolicy::conclude`]: settle, retry after a delay, or stop. Every rule about
//! settling, retrying, `Retry-After` and deadlines lives here and nowhere else.

use super::report::{ExportError, ExportErrorKind, ExportOutcome, ExportReport, ExportStats};
use super::retry::{Backoff, Delay};
use super::run::{Action, Decision, ExportRun, InFlight, Step};
use super::{ExporterConfig, SERVER_MESSAGE_CAPACITY};
use crate::proto::encode::points_from;
use crate::proto::response::decode_said;
use crate::proto::{EncodeError, MetricsSource, PointCursor, PointSpan, RequestSplitter};
use crate::registry::{Producer, Settlement};
use crate::time::{nanos_to_millis, Instant, UnixNanos};
use crate::transport::{ExchangeError, HttpResponse, RetryAfter};

/// The exporter's decisions apart from any I/O: configuration, retry timing, totals and
/// the last message a server sent. See the [module docs](super) for the rules.
///
/// A driver loops: [`next`](Self::next), carry out [`Action::Send`] and
/// [`conclude`](Self::conclude) with its result, sleep through [`Action::Wait`], stop at
/// [`Action::Done`]:
///
/// ```
/// use otlp_embedded::export::{Action, ExportPolicy, ExporterConfig};
/// use otlp_embedded::proto::{RequestHeader, Resource, Scope};
/// use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
/// use otlp_embedded::time::Instant;
/// use otlp_embedded::transport::{Endpoint, HttpResponse};
///
/// type Metrics = Registry<2, 8, 16, 2, 32>;
/// let mut registry = Metrics::new(0);
/// let boots = registry.declare(InstrumentDesc::counter_u64("boots").max_series(1)).unwrap();
/// registry.record(boots, 1u64, &[]).unwrap();
/// let header = RequestHeader::new(Resource::new(&[]), Scope::new("demo"));
/// let mut policy = ExportPolicy::new(ExporterConfig::new(Endpoint::DEFAULT, header));
/// let (mut snapshot, mut buffer, body) = (SnapshotOf::<Metrics>::new(), [0u8; 512], [0u8; 0]);
/// let mut now = Instant(0);
/// let mut run = policy.start(&mut registry, &mut snapshot, 1_700_000_000_000_000_000, now);
/// let report = loop {
///     match policy.next(&mut run, &mut registry, &snapshot, &mut buffer, now) {
///         Action::Send(request) => {
///             // The I/O: here a collector that accepts everything at once.
///             let answer = Ok(HttpResponse::new(200).with_bytes(request.body.len(), 0));
///             policy.conclude(&mut run, &mut registry, &snapshot, answer, &body, now);
///         }
///         Action::Wait(at) => now = at,
///         Action::Done(report) => break report,
///     }
/// };
/// assert_eq!((report.requests_delivered, report.points_sent), (1, 1));
/// ```
pub struct ExportPolicy<'a> {
    config: ExporterConfig<'a>,
    backoff: Backoff,
    stats: ExportStats,
    /// The last partial-success `error_message` or `Status.message`, cut at a character
    /// boundary to fit.
    server_message: heapless::String<SERVER_MESSAGE_CAPACITY>,
    /// The server's "not before" from its last `Retry-After` (jitter included), kept
    /// across exports: an export that starts before it sends nothing until then.
    hold_until: Option<Instant>,
}

impl core::fmt::Debug for ExportPolicy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExportPolicy")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .field("hold_until", &self.hold_until)
            .finish_non_exhaustive()
    }
}

impl<'a> ExportPolicy<'a> {
    /// A policy for exports as `config` says.
    // Inlined: a program builds its exporter once, from a configuration mostly known when
    // it is compiled; built where it is called, the policy takes the configuration's
    // constant parts (and the jitter generator's first state, worked out from a constant
    // seed) as constants instead of copying a 120-byte configuration built on the caller's
    // stack and mixing the seed at run time.
    #[inline]
    pub fn new(config: ExporterConfig<'a>) -> Self {
        ExportPolicy {
            config,
            backoff: Backoff::new(config.jitter_seed),
            stats: ExportStats::default(),
            server_message: heapless::String::new(),
            hold_until: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ExporterConfig<'a> {
        &self.config
    }

    /// Totals over this policy's life.
    pub fn stats(&self) -> &ExportStats {
        &self.stats
    }

    /// What the server said in the current (or last) export; see
    /// [`Exporter::last_server_message`](super::Exporter::last_server_message).
    pub fn last_server_message(&self) -> &str {
        self.server_message.as_str()
    }

    /// The instant before which the server asked not to be sent to (its last
    /// `Retry-After`, with the jitter added), if one is still held. Exports that start
    /// before it send nothing until then; one whose deadline comes first ends at once
    /// with its data kept. A 2xx answer clears it.
    pub fn hold_until(&self) -> Option<Instant> {
        self.hold_until
    }

    /// Replace the held instant: carry one over from a policy that lived before this one
    /// (an entry point that builds an exporter per export keeps it between calls), or
    /// release it with `None` (a final export at shutdown that will not wait).
    pub fn set_hold_until(&mut self, hold: Option<Instant>) {
        self.hold_until = hold;
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
        let points_collected = points_from(snapshot, PointCursor::default());
        log!(
            debug,
            "otlp export: {=usize} points collected",
            points_collected
        );
        // A collector that asked for more time than the last export had keeps it: this
        // export sends nothing before then ([`next`](Self::next) ends it at once, data
        // kept, when its deadline comes first).
        let not_before = self.hold_until.map_or(now, |hold| hold.max(now));
        let report = ExportReport::empty(points_collected);
        // Nothing to send, so nothing to hold back either: the export ends here, a success
        // (an empty report's outcome). Counted before the run is built, which is then
        // built where it is returned to, not built aside and copied there.
        let done = points_collected == 0;
        if done {
            log!(info, "otlp export: nothing to send");
            self.count_end(report.outcome, unix_now);
        }
        ExportRun {
            splitter: RequestSplitter::new(self.config.request_header),
            endpoint: self.config.endpoint,
            headers: self.config.headers,
            started: now,
            deadline: now.add_millis(u64::from(self.config.export_timeout_ms)),
            started_unix_nanos: unix_now,
            in_flight: None,
            attempt_deadline: now,
            awaiting: false,
            report,
            done,
            not_before,
        }
    }

    /// What to do at `now`: send a request (encoding it into `buffer` if none is waiting
    /// for its retry), wait, or stop. Pass the same `buffer` to every call of one run: a
    /// request waiting for its retry stays in it.
    pub fn next<'b, P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &'b mut [u8],
        now: Instant,
    ) -> Action<'b>
    where
        'a: 'b,
    {
        match self.decide(run, producer, snapshot, buffer, now) {
            Decision::Send(body) => Action::Send(run.request_with(body)),
            Decision::Wait(at) => Action::Wait(at),
            Decision::Done => Action::Done(run.report),
        }
    }

    /// [`next`](Self::next)'s decision, told without building what it hands out: the
    /// request's body (the rest of the request is in `run`), or the report left in `run`.
    /// The blocking driver builds the request where it sends it and copies the report once.
    pub(super) fn decide<'b, P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &'b mut [u8],
        now: Instant,
    ) -> Decision<'b>
    where
        'a: 'b,
    {
        // Bounded: each turn either returns or settles one point that cannot be encoded.
        // Every way the export ends here comes out of the loop with its reason, so that
        // ending it is one call.
        let kind = loop {
            if run.done {
                return Decision::Done;
            }
            let waiting = now < run.not_before;
            // Past the deadline; or the server's wait (carried over from an earlier export,
            // or a deadline brought forward) outlasts this export: end it now, data kept,
            // rather than send before the server wants it.
            if now >= run.deadline || (waiting && run.not_before >= run.deadline) {
                break ExportErrorKind::DeadlineExceeded;
            }
            if waiting {
                // Asked before the retry is due: the backoff holds however often we are
                // asked.
                return Decision::Wait(run.not_before);
            }
            if run.in_flight.is_none() {
                match self.encode_next(run, producer, snapshot, buffer) {
                    // Encoded into `run.in_flight`.
                    Ok(true) => {}
                    // Done, or a point dropped: look again.
                    Ok(false) => continue,
                    Err(kind) => break kind,
                }
            }
            // Worked on in place: the request stays in flight until it is settled.
            let Some(flight) = run.in_flight.as_mut() else {
                continue;
            };
            let buffer: &'b [u8] = buffer;
            let Some(body) = flight
                .offset
                .checked_add(flight.len)
                .and_then(|end| buffer.get(flight.offset..end))
            else {
                // The caller passed a different buffer than the one the request was encoded
                // into: the bytes are gone, so the points go back to the registry.
                break ExportErrorKind::BufferChanged;
            };
            let deadline = now
                .add_millis(u64::from(self.config.request_timeout_ms))
                .min(run.deadline);
            flight.attempts = flight.attempts.saturating_add(1);
            if flight.attempts > 1 {
                run.report.retries += 1;
                self.stats.retries += 1;
            }
            run.attempt_deadline = deadline;
            run.awaiting = true;
            return Decision::Send(body);
        };
        self.finish_abandoned(run, producer, snapshot, kind);
        Decision::Done
    }

    /// Encode the next request into `buffer` and put it in flight (`true`), settling
    /// points too large to send. `false` with `run.done` set when there is nothing left;
    /// `false` otherwise when a point was dropped (the caller looks again); an error when
    /// the export must end (the caller ends it).
    fn encode_next<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &mut [u8],
    ) -> Result<bool, ExportErrorKind> {
        match run.splitter.next_request(snapshot, buffer) {
            None => {
                self.finish(run);
                Ok(false)
            }
            Some(Ok(request)) => {
                let index = run.report.requests;
                run.report.requests += 1;
                run.in_flight = Some(InFlight {
                    offset: request.offset,
                    len: request.bytes.len(),
                    span: request.span,
                    index,
                    attempts: 0,
                });
                Ok(true)
            }
            Some(Err(error)) => {
                let kind = ExportErrorKind::Encode(error);
                match error {
                    EncodeError::PointTooLarge { metric, point }
                    | EncodeError::ValueKindMismatch { metric, point }
                    | EncodeError::BucketCountMismatch { metric, point }
                    | EncodeError::KindNotEnabled { metric, point } => {
                        // The splitter skipped this one point; it can never be sent.
                        let span = PointSpan {
                            start: PointCursor { metric, point },
                            end: PointCursor {
                                metric,
                                point: point + 1,
                            },
                            points: 1,
                        };
                        // Counted as its points only: no request carried it.
                        self.settle_span(run, producer, snapshot, span, Settlement::Dropped, 0);
                        self.note_error(
                            run,
                            ExportError {
                                request: run.report.requests,
                                kind,
                            },
                        );
                        Ok(false)
                    }
                    _ => Err(kind),
                }
            }
        }
    }

    /// Take the result of the request [`next`](Self::next) handed out, read at `now`
    /// (after the exchange): `response_body` holds the body the exchange kept. Settles the
    /// request, or schedules its retry, or ends the export; returns what
    /// [`next`](Self::next) would say now (a driver may ignore it and ask `next`). A call
    /// with no request awaiting its answer changes nothing.
    pub fn conclude<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        result: Result<HttpResponse, ExchangeError>,
        response_body: &[u8],
        now: Instant,
    ) -> Step {
        if run.done {
            return Step::Done(run.report);
        }
        if run.in_flight.is_none() || !run.awaiting {
            return Step::Wait(run.not_before.max(now));
        }
        match self.conclude_sent(run, producer, snapshot, result, response_body, now) {
            Some(at) => Step::Wait(at),
            None => Step::Done(run.report),
        }
    }

    /// [`conclude`](Self::conclude) for a run that awaits the answer to its request in
    /// flight, as it does after [`decide`](Self::decide) said send (and until this call):
    /// the drivers come here directly, without asking again what they know. Returns the
    /// instant to step again at, or `None` when the export is over (its report is the
    /// run's, copied out once by the caller that needs it).
    pub(super) fn conclude_sent<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        result: Result<HttpResponse, ExchangeError>,
        response_body: &[u8],
        now: Instant,
    ) -> Option<Instant> {
        // The parts of the request in flight the answer needs, not a copy of it whole.
        let Some(InFlight {
            span,
            index,
            attempts,
            ..
        }) = run.in_flight
        else {
            // Not reached: a request is in flight whenever the run awaits an answer.
            return Some(now);
        };
        run.awaiting = false;
        // What the answer comes to, worked out first and carried out once below, so that
        // each way of settling, noting and ending has one call site. Settled for good
        // (delivered or dropped), or else retried unless the exchange's error is permanent.
        let mut settlement = None;
        let mut retry_after = None;
        let mut failure = None;
        let mut noted = None;
        match result {
            Ok(response) => {
                run.report.bytes_sent += response.bytes_sent as u64;
                self.stats.bytes_sent += response.bytes_sent as u64;
                // Read once for either kind of answer: a 2xx may carry a partial success, an
                // error status a `Status` message.
                let said = decode_said(
                    response.status,
                    response.body_is_protobuf,
                    response.body_truncated,
                    response.body_len,
                    response_body,
                );
                match response.status {
                    200..=299 => {
                        // Without a partial success, the message kept so far stays.
                        let mut rejected = 0;
                        if let Some((number, text)) = said {
                            self.keep_message(text);
                            rejected = number;
                        }
                        // The server takes data again: whatever it asked for earlier is over.
                        self.hold_until = None;
                        // A server cannot reject fewer than none or more than it was sent.
                        let rejected = rejected.clamp(0, span.points as i64);
                        if rejected != 0 {
                            let counted = rejected as u64;
                            run.report.points_rejected += counted;
                            self.stats.points_rejected += counted;
                            noted = Some(ExportErrorKind::Rejected(rejected));
                        }
                        settlement = Some(Settlement::Delivered);
                    }
                    status => {
                        self.keep_message(said.map_or("", |(_, text)| text));
                        noted = Some(ExportErrorKind::Status(status));
                        if matches!(status, 429 | 502 | 503 | 504) {
                            retry_after = response.retry_after;
                        } else {
                            // Not a status that asks to come back: drop, counted.
                            settlement = Some(Settlement::Dropped);
                        }
                    }
                }
            }
            Err(error) => {
                // No answer, no message: an earlier one must not read as this one's.
                self.keep_message("");
                noted = Some(ExportErrorKind::Exchange(error));
                if let ExchangeError::ResponseTooLarge { .. } = error {
                    // The OTLP specification: a response over the client's limit is a
                    // non-retryable error. The server may or may not have kept the data;
                    // sending it again could only duplicate it, so it is dropped, counted.
                    settlement = Some(Settlement::Dropped);
                }
                failure = Some(error);
            }
        }
        if let Some(kind) = noted {
            self.note_error(
                run,
                ExportError {
                    request: index,
                    kind,
                },
            );
        }
        if let Some(settlement) = settlement {
            self.settle_span(run, producer, snapshot, span, settlement, 1);
            return Some(now);
        }
        let kind = match failure {
            // Sending again cannot help (a refused configuration, an unusable endpoint).
            Some(error) if !error.is_transient() => ExportErrorKind::Exchange(error),
            _ => match self.schedule_retry(run, attempts, index, retry_after, now) {
                Ok(at) => return Some(at),
                Err(kind) => kind,
            },
        };
        self.finish_abandoned(run, producer, snapshot, kind);
        None
    }

    /// After a retryable failure of request `index`, tried `attempts` times: when to send
    /// it again (noted in `run`), or why the export ends instead (its attempts or its
    /// deadline).
    fn schedule_retry(
        &mut self,
        run: &mut ExportRun<'a>,
        attempts: u16,
        // Only logged.
        #[cfg_attr(not(feature = "defmt"), allow(unused_variables))] index: u32,
        retry_after: Option<RetryAfter>,
        now: Instant,
    ) -> Result<Instant, ExportErrorKind> {
        // A retryable failure: wait, unless the attempts or the deadline say stop.
        let unix_now_ms =
            nanos_to_millis(run.started_unix_nanos).saturating_add(run.started.millis_until(now));
        let delay = self
            .backoff
            .delay(&self.config.retry, attempts, retry_after, unix_now_ms);
        let at = now.add_millis(delay.millis());
        if let Delay::Server(_) = delay {
            // Kept beyond this export: the next one must not come back earlier either.
            self.hold_until = Some(at);
        }
        let max_attempts = self.config.retry.max_attempts;
        if max_attempts != 0 && attempts >= max_attempts {
            return Err(ExportErrorKind::AttemptsExhausted);
        }
        if at >= run.deadline {
            return Err(ExportErrorKind::DeadlineExceeded);
        }
        log!(
            debug,
            "otlp export: request {=u32} retry in {=u64} ms",
            index,
            delay.millis()
        );
        run.not_before = at;
        Ok(at)
    }

    /// End `run` now, between steps; see [`Exporter::abandon`](super::Exporter::abandon).
    /// A request handed out and not concluded counts as not delivered.
    pub fn abandon<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
    ) -> ExportReport {
        if run.done {
            return run.report;
        }
        run.awaiting = false;
        if run.in_flight.is_none() && points_from(snapshot, run.splitter.position()) == 0 {
            // Every request is settled already: nothing is cancelled, the export just ends
            // as its next step would have ended it.
            self.finish(run);
        } else {
            self.finish_abandoned(run, producer, snapshot, ExportErrorKind::Cancelled);
        }
        run.report
    }

    /// Keep `message`, cut at the last character boundary that fits.
    fn keep_message(&mut self, message: &str) {
        let mut len = message.len().min(SERVER_MESSAGE_CAPACITY);
        // The longest prefix that ends at a character boundary: the boundary test and the
        // cut are one `get` (0 is always a boundary, so this ends).
        let kept = loop {
            if let Some(kept) = message.get(..len) {
                break kept;
            }
            len -= 1;
        };
        self.server_message.clear();
        // Cut to the capacity above, so this always fits.
        let _ = self.server_message.push_str(kept);
    }

    /// Note `error` as the export's latest (and first, if none came before) and the
    /// policy's last. Not inlined: of its three callers, the two in the blocking driver's
    /// step each had a copy of its three stores of the error, larger than a call.
    #[inline(never)]
    fn note_error(&mut self, run: &mut ExportRun<'a>, error: ExportError) {
        log!(warn, "otlp export: {}", error);
        run.report.record_error(error);
        self.stats.last_error = Some(error);
    }

    /// Settle `span` and count it: the request in flight's points (`requests` 1; the
    /// request is no longer in flight), or points no request carried (`requests` 0: a point
    /// dropped before it was encoded, the rest of an abandoned export). One place for every
    /// settlement and its counts.
    fn settle_span<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        span: PointSpan,
        settlement: Settlement,
        requests: u32,
    ) {
        run.in_flight = None;
        producer.settle(snapshot, span, settlement);
        let points = span.points;
        let (report, stats) = (&mut run.report, &mut self.stats);
        // One set of additions into the counters the settlement picks.
        let (in_report, points_in_report, total_requests, total_points) = match settlement {
            Settlement::Delivered => (
                &mut report.requests_delivered,
                &mut report.points_sent,
                &mut stats.requests_delivered,
                &mut stats.points_sent,
            ),
            Settlement::Dropped => (
                &mut report.requests_dropped,
                &mut report.points_dropped,
                &mut stats.requests_dropped,
                &mut stats.points_dropped,
            ),
            Settlement::Abandoned => {
                report.points_abandoned += points;
                return;
            }
        };
        *in_report += requests;
        *points_in_report += points;
        *total_requests += requests;
        *total_points += points as u64;
    }

    /// Stop the export: the request in flight and everything not yet encoded go back to
    /// the producer for the next export.
    fn finish_abandoned<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        kind: ExportErrorKind,
    ) {
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
            self.settle_span(
                run,
                producer,
                snapshot,
                flight.span,
                Settlement::Abandoned,
                1,
            );
        }
        let start = run.splitter.position();
        let end = PointCursor {
            metric: snapshot.metric_count(),
            point: 0,
        };
        let points = points_from(snapshot, start);
        if points > 0 {
            let rest = PointSpan { start, end, points };
            self.settle_span(run, producer, snapshot, rest, Settlement::Abandoned, 0);
        }
        self.finish(run);
    }

    // Not inlined: every way an export ends after its start comes through here.
    #[inline(never)]
    fn finish(&mut self, run: &mut ExportRun<'a>) {
        run.done = true;
        run.awaiting = false;
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
        self.count_end(report.outcome, run.started_unix_nanos);
    }

    /// Count an export that ended with `outcome`, whose snapshot was collected at
    /// `started_unix_nanos`. Not inlined: `finish` and `start` share it.
    #[inline(never)]
    fn count_end(&mut self, outcome: ExportOutcome, started_unix_nanos: UnixNanos) {
        match outcome {
            ExportOutcome::Failed => self.stats.exports_failed += 1,
            _ => {
                self.stats.exports_ok += 1;
                self.stats.last_success_unix_nanos = Some(started_unix_nanos);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::{ExportPolicy, SERVER_MESSAGE_CAPACITY};
    use crate::export::ExporterConfig;
    use crate::proto::{RequestHeader, Resource, Scope};
    use crate::transport::Endpoint;
    use std::string::String;

    /// The longest prefix of `message` that fits and ends at a character boundary, the
    /// slow way: whole characters, one at a time.
    fn expected_cut(message: &str) -> &str {
        let mut end = 0;
        for (at, c) in message.char_indices() {
            if at + c.len_utf8() > SERVER_MESSAGE_CAPACITY {
                break;
            }
            end = at + c.len_utf8();
        }
        &message[..end]
    }

    #[test]
    fn keep_message_cuts_at_the_last_character_boundary_that_fits() {
        let header = RequestHeader::new(Resource::new(&[]), Scope::new("test"));
        let mut policy = ExportPolicy::new(ExporterConfig::new(Endpoint::DEFAULT, header));
        // Characters of every UTF-8 length, placed so that one straddles the capacity at
        // each of its bytes, and messages shorter than, as long as and longer than it.
        let characters = ["a", "é", "€", "😀"];
        let mut checked = 0;
        for filler in 0..=SERVER_MESSAGE_CAPACITY + 2 {
            for c in characters {
                for tail in ["", "b", "ü"] {
                    let message = String::from("x").repeat(filler) + c + tail;
                    policy.keep_message(&message);
                    assert_eq!(
                        policy.last_server_message(),
                        expected_cut(&message),
                        "{filler} fillers, then {c:?} and {tail:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 1_000);
        // An empty message clears what was kept.
        policy.keep_message("");
        assert_eq!(policy.last_server_message(), "");
    }
}
