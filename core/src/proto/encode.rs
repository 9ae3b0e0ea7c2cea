//! PLACEHOLDER (issue 2 fills this in): `ExportMetricsServiceRequest` encoder with splitting.

use super::source::{MetricsSource, RequestHeader};

/// Position in the flattened order of a batch's data points: metric `metric`, point `point`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PointCursor {
    /// Metric index.
    pub metric: usize,
    /// Point index within the metric.
    pub point: usize,
}

/// The data points one request carries: every point from `start` (inclusive) to `end`
/// (exclusive) in the flattened (metric, point) order, `points` of them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PointSpan {
    /// First point carried.
    pub start: PointCursor,
    /// One past the last point carried.
    pub end: PointCursor,
    /// How many points.
    pub points: usize,
}

/// One encoded request: its bytes (a part of the caller's buffer) and what it carries.
#[derive(Debug)]
pub struct EncodedRequest<'b> {
    /// The protobuf `ExportMetricsServiceRequest`.
    pub bytes: &'b [u8],
    /// The data points in it.
    pub span: PointSpan,
}

/// Why encoding stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The buffer cannot hold even the resource and scope header.
    HeaderTooLarge {
        /// Buffer size given.
        buffer: usize,
    },
    /// This data point does not fit in the buffer even alone; it is skipped (dropped).
    PointTooLarge {
        /// Metric index.
        metric: usize,
        /// Point index.
        point: usize,
    },
}

/// Produces requests one after another until every point of a batch has been encoded once.
#[derive(Debug)]
pub struct RequestSplitter<'h> {
    header: RequestHeader<'h>,
    next: PointCursor,
}

impl<'h> RequestSplitter<'h> {
    /// Start splitting a batch under `header`.
    pub fn new(header: RequestHeader<'h>) -> Self {
        RequestSplitter {
            header,
            next: PointCursor::default(),
        }
    }

    /// Encode the next request into `buf`. `None` when every point has been handled.
    pub fn next_request<'b, S: MetricsSource + ?Sized>(
        &mut self,
        source: &S,
        buf: &'b mut [u8],
    ) -> Option<Result<EncodedRequest<'b>, EncodeError>> {
        let _ = (source, buf, &self.header, self.next);
        None
    }
}
