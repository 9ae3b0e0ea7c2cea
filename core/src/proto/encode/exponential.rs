//! `ExponentialHistogramDataPoint` and its `Buckets` (feature `exponential-histogram`:
//! without it the registry declares no exponential histogram and the encoder refuses such
//! a point from any other source as `EncodeError::KindNotEnabled`, so none of this is
//! linked). Each size function sits beside the writer it mirrors, field for field.

use super::attribute::write_point_attributes;
use super::field::*;
use super::point::{fixed64_nonzero_len, optional_double_len, write_optional_double, PointHead};
use super::writer::{Step, Writer};
use super::{field_len, PointCursor};
use crate::proto::source::{
    BucketPart, ExponentialBuckets, ExponentialHistogramValue, MetricsSource,
};
use crate::proto::wire::{self, varint_len, zigzag32, Fill};

/// Bytes of a `Buckets` message's content (`part` says positive or negative).
pub(super) fn buckets_len<S: MetricsSource + ?Sized>(
    source: &S,
    at: PointCursor,
    part: BucketPart,
    buckets: &ExponentialBuckets<'_>,
) -> usize {
    let counts = match source.bucket_len(at.metric, at.point, part) {
        None if buckets.bucket_counts.is_empty() => 0,
        None => field_len(wire::packed_varint_len(buckets.bucket_counts)),
        Some(0) => 0,
        Some(_) => field_len(visited_varint_len(source, at, part).0),
    };
    wire::varint_field_len(BUCKETS_OFFSET, u64::from(zigzag32(buckets.offset))) + counts
}

pub(super) fn write_buckets<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    field: u32,
    source: &S,
    at: PointCursor,
    part: BucketPart,
    buckets: &ExponentialBuckets<'_>,
) -> Step {
    let start = w.position();
    match source.bucket_len(at.metric, at.point, part) {
        None => w.packed_varint_field(BUCKETS_COUNTS, buckets.bucket_counts)?,
        Some(n) => write_visited_varints(w, BUCKETS_COUNTS, source, at, part, n)?,
    }
    w.varint_field(BUCKETS_OFFSET, u64::from(zigzag32(buckets.offset)))?;
    w.message(field, start)
}

/// Bytes of the visited numbers as varints, and how many were visited.
fn visited_varint_len<S: MetricsSource + ?Sized>(
    source: &S,
    at: PointCursor,
    part: BucketPart,
) -> (usize, usize) {
    let (mut len, mut count) = (0usize, 0usize);
    source.visit_buckets(at.metric, at.point, part, &mut |value| {
        len = len.saturating_add(varint_len(value));
        count += 1;
    });
    (len, count)
}

/// A packed varint field of `n` visited numbers; nothing when `n` is 0.
fn write_visited_varints<S: MetricsSource + ?Sized>(
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
    let (len, count) = visited_varint_len(source, at, part);
    if count != n {
        return w.fail();
    }
    let start = w.position();
    let Some(slot) = w.claim(len) else {
        return w.fail();
    };
    let mut fill = Fill::new(slot);
    let mut overflow = false;
    source.visit_buckets(at.metric, at.point, part, &mut |value| {
        overflow |= fill.varint(value).is_err();
    });
    if overflow || fill.remaining() != 0 {
        return w.fail();
    }
    w.message(field, start)
}

/// Bytes of an `ExponentialHistogramDataPoint`'s own fields (not the common ones, see
/// [`point_len`]).
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
pub(super) fn exponential_value_len<S: MetricsSource + ?Sized>(
    source: &S,
    at: PointCursor,
    e: &ExponentialHistogramValue<'_>,
) -> usize {
    let zero_threshold = if e.zero_threshold.to_bits() != 0 {
        9
    } else {
        0
    };
    (fixed64_nonzero_len(e.count)
        + optional_double_len(e.sum)
        + optional_double_len(e.min)
        + optional_double_len(e.max)
        + wire::varint_field_len(EXP_SCALE, u64::from(zigzag32(e.scale)))
        + fixed64_nonzero_len(e.zero_count)
        + zero_threshold)
        .saturating_add(field_len(buckets_len(
            source,
            at,
            BucketPart::PositiveCounts,
            &e.positive,
        )))
        .saturating_add(field_len(buckets_len(
            source,
            at,
            BucketPart::NegativeCounts,
            &e.negative,
        )))
}

/// `ExponentialHistogramDataPoint` content.
#[cfg_attr(not(feature = "prefer-size"), inline(always))]
pub(super) fn write_exponential_point<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    source: &S,
    at: PointCursor,
    head: PointHead,
    e: &ExponentialHistogramValue<'_>,
) -> Step {
    if e.zero_threshold.to_bits() != 0 {
        w.double_field(EXP_ZERO_THRESHOLD, e.zero_threshold)?;
    }
    write_optional_double(w, EXP_MAX, e.max)?;
    write_optional_double(w, EXP_MIN, e.min)?;
    w.varint_field(EXP_FLAGS, u64::from(head.flags))?;
    write_buckets(
        w,
        EXP_NEGATIVE,
        source,
        at,
        BucketPart::NegativeCounts,
        &e.negative,
    )?;
    write_buckets(
        w,
        EXP_POSITIVE,
        source,
        at,
        BucketPart::PositiveCounts,
        &e.positive,
    )?;
    w.fixed64_field_nonzero(EXP_ZERO_COUNT, e.zero_count)?;
    w.varint_field(EXP_SCALE, u64::from(zigzag32(e.scale)))?;
    write_optional_double(w, EXP_SUM, e.sum)?;
    w.fixed64_field_nonzero(EXP_COUNT, e.count)?;
    w.fixed64_field_nonzero(EXP_TIME, head.time)?;
    w.fixed64_field_nonzero(EXP_START, head.start)?;
    write_point_attributes(w, EXP_ATTRIBUTES, source, at.metric, at.point)
}
