//! What an export reports: how it ended ([`ExportOutcome`]), the account of its points and
//! requests ([`ExportReport`]), what went wrong ([`ExportError`]), and totals over an
//! exporter's life ([`ExportStats`]).

use crate::proto::EncodeError;
use crate::time::UnixNanos;
use crate::transport::ExchangeError;

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
#[non_exhaustive]
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
    /// The caller ended the export before it was done ([`Exporter::abandon`](super::Exporter::abandon)).
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
#[non_exhaustive]
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
    pub(super) const fn empty(points_collected: usize) -> Self {
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

    pub(super) fn record_error(&mut self, error: ExportError) {
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
        self.last_error = Some(error);
    }
}

/// Totals over the exporter's life, for a user to read or log.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
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

impl core::error::Error for ExportError {}
