//! The export policy: one export from collect to the last settle, advanced one exchange at
//! a time. Everything here decides; nothing here does I/O. [`Policy::next_attempt`] says
//! which request to send next (or that there is nothing to send now), the driver sends it,
//! and [`Policy::conclude`] takes the exchange's result: settle, retry after a delay, or
//! stop.

use super::report::{ExportError, ExportErrorKind, ExportOutcome, ExportReport, ExportStats};
use super::retry::Backoff;
use super::{ExporterConfig, SERVER_MESSAGE_CAPACITY};
use crate::proto::response::{decode_body, ReceivedBody, ResponseBody};
use crate::proto::{EncodeError, MetricsSource, PointCursor, PointSpan, RequestSplitter};
use crate::registry::{Producer, Settlement};
use crate::time::{Clock, Instant, UnixNanos};
use crate::transport::{ExchangeError, HttpResponse};

/// What [`Exporter::step`](super::Exporter::step) asks of its caller.
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
pub(super) struct InFlight {
    offset: usize,
    len: usize,
    span: PointSpan,
    index: u32,
    attempts: u16,
}

/// One export in progress, created by [`Exporter::start`](super::Exporter::start) and
/// advanced by [`Exporter::step`](super::Exporter::step). Holds no borrow of the snapshot or
/// buffer: pass the same ones to every step.
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

/// What the policy wants next.
pub(super) enum Next<'b> {
    /// Send this request now.
    Send(Attempt<'b>),
    /// No exchange in this step.
    Step(Step),
}

/// One attempt at sending a request.
pub(super) struct Attempt<'b> {
    /// The encoded request, in the caller's buffer.
    pub(super) body: &'b [u8],
    /// The exchange ends by this instant.
    pub(super) deadline: Instant,
    /// What the answer settles.
    pub(super) flight: InFlight,
}

/// The exporter's state apart from its exchange: configuration, retry timing, totals and
/// the last message a server sent.
pub(super) struct Policy<'a> {
    pub(super) config: ExporterConfig<'a>,
    backoff: Backoff,
    pub(super) stats: ExportStats,
    /// The last partial-success `error_message` or `Status.message`, cut at a character
    /// boundary to fit.
    pub(super) server_message: heapless::String<SERVER_MESSAGE_CAPACITY>,
}

impl<'a> Policy<'a> {
    pub(super) fn new(config: ExporterConfig<'a>) -> Self {
        Policy {
            config,
            backoff: Backoff::new(config.jitter_seed),
            stats: ExportStats::default(),
            server_message: heapless::String::new(),
        }
    }

    /// Collect a snapshot from `producer` and begin an export of it.
    pub(super) fn start<P: Producer>(
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

    /// The request to send now, encoding it if none is waiting for its retry; or the step
    /// to return when there is none (done, deadline passed, retry not due, a point dropped).
    /// The clock is read on entry and again just before the attempt (its deadline).
    pub(super) fn next_attempt<'b, P: Producer, K: Clock>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        buffer: &'b mut [u8],
        clock: &K,
    ) -> Next<'b> {
        let now = clock.now();
        if run.done {
            return Next::Step(Step::Done(run.report));
        }
        if now >= run.deadline {
            let step =
                self.finish_abandoned(run, producer, snapshot, ExportErrorKind::DeadlineExceeded);
            return Next::Step(step);
        }
        if now < run.not_before {
            // Called before the retry is due: the backoff holds however often we are asked.
            return Next::Step(Step::Wait(run.not_before));
        }
        let mut flight = match run.in_flight {
            Some(flight) => flight,
            None => match self.encode_next(run, producer, snapshot, buffer) {
                Some(flight) => flight,
                None if run.done => return Next::Step(Step::Done(run.report)),
                None => return Next::Step(Step::Wait(now)),
            },
        };
        let buffer: &'b [u8] = buffer;
        let now = clock.now();
        let Some(body) = buffer.get(flight.offset..flight.offset + flight.len) else {
            // The caller passed a different buffer than the one the request was encoded
            // into: the bytes are gone, so the points go back to the registry.
            let kind = ExportErrorKind::BufferChanged;
            return Next::Step(self.finish_abandoned(run, producer, snapshot, kind));
        };
        let deadline = now
            .add_millis(u64::from(self.config.request_timeout_ms))
            .min(run.deadline);
        flight.attempts = flight.attempts.saturating_add(1);
        if flight.attempts > 1 {
            run.report.retries += 1;
            self.stats.retries += 1;
        }
        run.in_flight = Some(flight);
        Next::Send(Attempt {
            body,
            deadline,
            flight,
        })
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
        match run.splitter.next_request(snapshot, buffer) {
            None => {
                self.finish(run);
                None
            }
            Some(Ok(request)) => {
                let index = run.report.requests;
                run.report.requests += 1;
                let range = request.range();
                let flight = InFlight {
                    offset: range.start,
                    len: range.len(),
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

    /// What follows from one attempt's result, read at `now` (after the exchange):
    /// `response_body` holds the body the exchange kept.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn conclude<P: Producer>(
        &mut self,
        run: &mut ExportRun<'a>,
        producer: &mut P,
        snapshot: &P::Snapshot,
        flight: InFlight,
        result: Result<HttpResponse, ExchangeError>,
        response_body: &[u8],
        now: Instant,
    ) -> Step {
        let error_at = |kind| ExportError {
            request: flight.index,
            kind,
        };
        let retry_after = match result {
            Ok(response) => {
                run.report.bytes_sent += response.bytes_sent as u64;
                self.stats.bytes_sent += response.bytes_sent as u64;
                let body = received(&response, response_body);
                match response.status {
                    200..=299 => {
                        let rejected = match decode_body(&body) {
                            ResponseBody::PartialSuccess(partial) => {
                                self.keep_message(partial.error_message);
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
                        self.keep_status_message(&body);
                        self.note_error(run, error_at(ExportErrorKind::Status(response.status)));
                        response.retry_after
                    }
                    status => {
                        self.keep_status_message(&body);
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
        let unix_now_ms = run.started_unix_nanos / 1_000_000 + run.started.millis_until(now);
        let delay = self.backoff.delay(
            &self.config.retry,
            flight.attempts,
            retry_after,
            unix_now_ms,
        );
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

    /// End `run` between steps; see [`Exporter::abandon`](super::Exporter::abandon).
    pub(super) fn abandon<P: Producer>(
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

    fn keep_status_message(&mut self, body: &ReceivedBody<'_>) {
        match decode_body(body) {
            ResponseBody::Status(status) => self.keep_message(status.message),
            _ => self.server_message.clear(),
        }
    }

    /// Keep `message`, cut at the last character boundary that fits.
    fn keep_message(&mut self, message: &str) {
        let mut len = message.len().min(SERVER_MESSAGE_CAPACITY);
        while !message.is_char_boundary(len) {
            len -= 1;
        }
        self.server_message.clear();
        // Cut to the capacity above, so this always fits.
        let _ = self
            .server_message
            .push_str(message.get(..len).unwrap_or(""));
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

/// The body `response` kept at the start of `body`, as the decoders see it.
fn received<'b>(response: &HttpResponse, body: &'b [u8]) -> ReceivedBody<'b> {
    ReceivedBody {
        status: response.status,
        is_protobuf: response.body_is_protobuf,
        bytes: body.get(..response.body_len).unwrap_or(body),
        truncated: response.body_truncated,
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
