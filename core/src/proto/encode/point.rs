//! The data points: `NumberDataPoint` and `HistogramDataPoint` (`ExponentialHistogramDataPoint`
//! is in `exponential.rs`, with feature `exponential-histogram`). Each size function sits
//! beside the writer it mirrors, field for field.

use super::attribute::{point_attributes_len, write_point_attributes};
use super::field::*;
use super::writer::{Step, Writer};
use super::{field_len, EncodeError, PointCursor};
use crate::proto::source::{
    BucketPart, HistogramValue, MetricData, MetricsSource, Point, PointValue,
};
use crate::proto::wire;

/// Why a point cannot be encoded, whatever the buffer.
pub(super) fn check_point<S: MetricsSource + ?Sized>(
    source: &S,
    data: MetricData,
    value: &PointValue<'_>,
    at: PointCursor,
) -> Result<(), EncodeError> {
    let PointCursor { metric, point } = at;
    match (data, value) {
        (
            MetricData::Gauge | MetricData::Sum { .. },
            PointValue::Int(_) | PointValue::Double(_),
        ) => Ok(()),
        (MetricData::Histogram { .. }, PointValue::Histogram(h)) => {
            let (bounds, counts) = histogram_lens(source, at, h);
            if (counts == 0 && bounds == 0) || counts == bounds.wrapping_add(1) {
                Ok(())
            } else {
                Err(EncodeError::BucketCountMismatch { metric, point })
            }
        }
        #[cfg(feature = "exponential-histogram")]
        (MetricData::ExponentialHistogram { .. }, PointValue::ExponentialHistogram(_)) => Ok(()),
        // Without the feature their writer is not linked. Every path checks a point before
        // it sizes or writes it, so the arms that skip them below are never reached.
        #[cfg(not(feature = "exponential-histogram"))]
        (MetricData::ExponentialHistogram { .. }, PointValue::ExponentialHistogram(_)) => {
            Err(EncodeError::KindNotEnabled { metric, point })
        }
        _ => Err(EncodeError::ValueKindMismatch { metric, point }),
    }
}

#[inline]
pub(super) fn optional_double_len(value: Option<f64>) -> usize {
    if value.is_some() {
        9
    } else {
        0
    }
}

#[inline]
pub(super) fn fixed64_nonzero_len(value: u64) -> usize {
    if value != 0 {
        9
    } else {
        0
    }
}

#[inline]
pub(super) fn packed_fixed64_len(elements: usize) -> usize {
    if elements == 0 {
        0
    } else {
        field_len(elements.saturating_mul(8))
    }
}

pub(super) fn write_optional_double(w: &mut Writer<'_>, field: u32, value: Option<f64>) -> Step {
    match value {
        Some(value) => w.double_field(field, value),
        None => Ok(()),
    }
}

/// The scalar fields every data point has.
#[derive(Copy, Clone)]
pub(super) struct PointHead {
    pub(super) start: u64,
    pub(super) time: u64,
    pub(super) flags: u32,
}

/// Bytes of the data point message's content (without its key and length): the fields
/// every kind has, then the value's own. Out of line with `prefer-size`: inlined, it grew
/// the planner's caller (the exporter's step) by more than its own size, and its frame.
#[cfg_attr(feature = "prefer-size", inline(never))]
pub(super) fn point_len<S: MetricsSource + ?Sized>(
    source: &S,
    at: PointCursor,
    point: &Point<'_>,
) -> usize {
    let attributes = point_attributes_len(source, at.metric, at.point);
    // The flags field number differs by kind, but each is below 16: one key byte.
    let common = fixed64_nonzero_len(point.start_time_unix_nano)
        + fixed64_nonzero_len(point.time_unix_nano)
        + wire::varint_field_len(NUMBER_FLAGS, u64::from(point.flags));
    let value = match &point.value {
        PointValue::Int(_) | PointValue::Double(_) => NUMBER_VALUE_LEN,
        PointValue::Histogram(h) => histogram_value_len(source, at, h),
        #[cfg(feature = "exponential-histogram")]
        PointValue::ExponentialHistogram(e) => {
            super::exponential::exponential_value_len(source, at, e)
        }
        // Refused by check_point before any sizing.
        #[cfg(not(feature = "exponential-histogram"))]
        PointValue::ExponentialHistogram(_) => 0,
    };
    attributes.saturating_add(common + value)
}

/// Bytes of `as_int` / `as_double`: a key and a fixed64.
const NUMBER_VALUE_LEN: usize = 9;

/// `NumberDataPoint` content but its times (see [`write_point_times`]); `value_field` says
/// `as_int` or `as_double`. Inlined with `prefer-size` too: in its one caller it costs
/// less than its call.
#[inline(always)]
pub(super) fn write_number_point<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    source: &S,
    at: PointCursor,
    head: PointHead,
    value_field: u32,
    value: u64,
) -> Step {
    write_flags_and_attributes(w, source, at, head.flags, NUMBER_FLAGS, NUMBER_ATTRIBUTES)?;
    w.fixed64_field(value_field, value)
}

// The number and histogram points have their times as fields 2 and 3, their first fields.
const _: () = assert!(NUMBER_TIME == HIST_TIME && NUMBER_START == HIST_START);

/// A number or histogram point's times: its first fields, so the last written, after its
/// kind's own (one copy for both kinds).
#[inline(always)]
pub(super) fn write_point_times(w: &mut Writer<'_>, head: PointHead) -> Step {
    w.fixed64_field_nonzero(NUMBER_TIME, head.time)?;
    w.fixed64_field_nonzero(NUMBER_START, head.start)
}

/// How many explicit bounds and bucket counts a histogram point has: its slices', unless
/// the source hands them out itself ([`MetricsSource::bucket_len`]).
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
fn histogram_lens<S: MetricsSource + ?Sized>(
    source: &S,
    at: PointCursor,
    h: &HistogramValue<'_>,
) -> (usize, usize) {
    let PointCursor { metric, point } = at;
    let bounds = source
        .bucket_len(metric, point, BucketPart::ExplicitBounds)
        .unwrap_or(h.explicit_bounds.len());
    let counts = source
        .bucket_len(metric, point, BucketPart::BucketCounts)
        .unwrap_or(h.bucket_counts.len());
    (bounds, counts)
}

/// Bytes of a `HistogramDataPoint`'s own fields (not the common ones, see [`point_len`]).
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
fn histogram_value_len<S: MetricsSource + ?Sized>(
    source: &S,
    at: PointCursor,
    h: &HistogramValue<'_>,
) -> usize {
    let (bounds, counts) = histogram_lens(source, at, h);
    fixed64_nonzero_len(h.count)
        + optional_double_len(h.sum)
        + optional_double_len(h.min)
        + optional_double_len(h.max)
        + packed_fixed64_len(counts).saturating_add(packed_fixed64_len(bounds))
}

/// A point's flags and attributes, adjacent in both kinds. Inlined: the flags are written
/// where the point was read, so a source whose flags are always 0 (the registry's
/// snapshot) links no code for them; the attributes are one copy with `prefer-size`.
#[inline(always)]
fn write_flags_and_attributes<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    source: &S,
    at: PointCursor,
    flags: u32,
    flags_field: u32,
    attributes_field: u32,
) -> Step {
    w.varint_field(flags_field, u64::from(flags))?;
    write_point_attributes(w, attributes_field, source, at.metric, at.point)
}

/// `HistogramDataPoint` content but its times (see [`write_point_times`]).
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
pub(super) fn write_histogram_point<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    source: &S,
    at: PointCursor,
    head: PointHead,
    h: &HistogramValue<'_>,
) -> Step {
    write_optional_double(w, HIST_MAX, h.max)?;
    write_optional_double(w, HIST_MIN, h.min)?;
    write_flags_and_attributes(w, source, at, head.flags, HIST_FLAGS, HIST_ATTRIBUTES)?;
    let PointCursor { metric, point } = at;
    match source.bucket_len(metric, point, BucketPart::ExplicitBounds) {
        None => w.packed_double_field(HIST_EXPLICIT_BOUNDS, h.explicit_bounds)?,
        Some(n) => write_visited_fixed64(
            w,
            HIST_EXPLICIT_BOUNDS,
            source,
            at,
            BucketPart::ExplicitBounds,
            n,
        )?,
    }
    match source.bucket_len(metric, point, BucketPart::BucketCounts) {
        None => w.packed_fixed64_field(HIST_BUCKET_COUNTS, h.bucket_counts)?,
        Some(n) => write_visited_fixed64(
            w,
            HIST_BUCKET_COUNTS,
            source,
            at,
            BucketPart::BucketCounts,
            n,
        )?,
    }
    write_optional_double(w, HIST_SUM, h.sum)?;
    w.fixed64_field_nonzero(HIST_COUNT, h.count)
}

// Bucket numbers the source hands out one by one (`MetricsSource::visit_buckets`): sized
// by a first visit where their encoding varies, then written forwards into a slot claimed
// whole. A source visiting another count than it announced gets a failed write (the request
// fails as `SizeMismatch`), never a message with wrong lengths.

/// A packed `fixed64`/`double` field of `n` visited numbers; nothing when `n` is 0.
fn write_visited_fixed64<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    field: u32,
    source: &S,
    at: PointCursor,
    part: BucketPart,
    n: usize,
) -> Step {
    if n == 0 {
        return Ok(());
    }
    let start = w.position();
    let Some(slot) = n.checked_mul(8).and_then(|len| w.claim(len)) else {
        return w.fail();
    };
    let mut chunks = slot.chunks_exact_mut(8);
    let mut overflow = false;
    source.visit_buckets(
        at.metric,
        at.point,
        part,
        &mut |value| match chunks.next() {
            Some(out) => out.copy_from_slice(&value.to_le_bytes()),
            None => overflow = true,
        },
    );
    if overflow || chunks.next().is_some() {
        return w.fail();
    }
    w.message(field, start)
}
