//! One export in progress ([`ExportRun`]) and what the policy asks of its driver
//! ([`Action`], [`Step`]).

use super::report::ExportReport;
use crate::proto::{PointSpan, RequestSplitter};
use crate::time::{Instant, UnixNanos};
use crate::transport::{Endpoint, Header, HttpRequest};

/// What the policy asks a driver to do next ([`ExportPolicy::next`](super::ExportPolicy::next)).
///
/// `Send` borrows only the caller's encode buffer and the configuration: carry it out
/// (blocking, polled or awaited), then hand the result to
/// [`ExportPolicy::conclude`](super::ExportPolicy::conclude).
#[derive(Copy, Clone, Debug)]
pub enum Action<'b> {
    /// Send this request; it carries its own deadline.
    Send(HttpRequest<'b>),
    /// Nothing to send before this instant (a retry's backoff or a server's
    /// `Retry-After`); ask again then.
    Wait(Instant),
    /// The export is over.
    Done(ExportReport),
}

/// What [`Exporter::step`](super::Exporter::step) and
/// [`ExportPolicy::conclude`](super::ExportPolicy::conclude) return.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Step {
    /// Call `step` again, not before this instant (which may already have come).
    Wait(Instant),
    /// The export is over.
    Done(ExportReport),
}

/// What [`ExportPolicy::decide`](super::ExportPolicy) says, before it is told as an
/// [`Action`]: the body of the request to send (the rest of it is in the run), a wait, or
/// the end (the report is the run's).
pub(super) enum Decision<'b> {
    /// Send the request in flight, whose body this is ([`ExportRun::request_with`]).
    Send(&'b [u8]),
    /// [`Action::Wait`].
    Wait(Instant),
    /// The export is over; its report is the run's.
    Done,
}

/// The request being sent: where its bytes are in the buffer and what it carries.
#[derive(Copy, Clone, Debug)]
pub(super) struct InFlight {
    pub(super) offset: usize,
    pub(super) len: usize,
    pub(super) span: PointSpan,
    pub(super) index: u32,
    pub(super) attempts: u16,
}

/// One export in progress, created by
/// [`ExportPolicy::start`](super::ExportPolicy::start) (or [`Exporter::start`](super::Exporter::start))
/// and advanced by its driver. Holds no borrow of the snapshot or the buffers: pass the
/// same ones to every call of one run.
#[derive(Debug)]
pub struct ExportRun<'a> {
    pub(super) splitter: RequestSplitter<'a>,
    pub(super) endpoint: Endpoint<'a>,
    pub(super) headers: &'a [Header<'a>],
    pub(super) started: Instant,
    pub(super) deadline: Instant,
    pub(super) started_unix_nanos: UnixNanos,
    pub(super) in_flight: Option<InFlight>,
    /// The deadline the request in flight was sent with.
    pub(super) attempt_deadline: Instant,
    /// A `Send` was handed out and its result is not concluded yet.
    pub(super) awaiting: bool,
    pub(super) report: ExportReport,
    pub(super) done: bool,
    /// Nothing is sent before this instant: a retry's backoff, or the server's
    /// `Retry-After` (also one carried over from an earlier export).
    pub(super) not_before: Instant,
}

impl<'a> ExportRun<'a> {
    /// The account so far.
    pub fn report(&self) -> &ExportReport {
        &self.report
    }

    /// The instant by which the export ends, retries included.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the export is over.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The instant before which nothing will be sent (a retry's backoff or the server's
    /// `Retry-After`), if it is later than `now`: a superloop may sleep until then.
    pub fn waiting_until(&self, now: Instant) -> Option<Instant> {
        (!self.done && !self.awaiting && self.not_before > now).then_some(self.not_before)
    }

    /// End the export by `at` if that is sooner than its deadline (a shutdown with less
    /// time than the export timeout). Takes effect from the next step: a request already
    /// sent keeps the deadline it was sent with.
    pub fn end_by(&mut self, at: Instant) {
        self.deadline = self.deadline.min(at);
    }

    /// The request sent last and not yet concluded, rebuilt from `buffer` (the buffer it
    /// was encoded into): a driver that carries one exchange over several calls (a
    /// superloop) asks for it again each time instead of holding a borrow of the buffer.
    /// `None` when no request awaits its answer, or `buffer` is too short to hold it.
    pub fn request<'b>(&self, buffer: &'b [u8]) -> Option<HttpRequest<'b>>
    where
        'a: 'b,
    {
        let flight = self.in_flight.filter(|_| self.awaiting)?;
        let body = buffer.get(flight.offset..flight.offset.checked_add(flight.len)?)?;
        Some(self.request_with(body))
    }

    /// The request in flight, carrying `body`.
    pub(super) fn request_with<'b>(&self, body: &'b [u8]) -> HttpRequest<'b>
    where
        'a: 'b,
    {
        HttpRequest::new(&self.endpoint, body, self.attempt_deadline).with_headers(self.headers)
    }
}
