//! `Metric`: name, description, unit and the data message (`Gauge`, `Sum`, `Histogram`,
//! `ExponentialHistogram`) around the points. The size of the parts that do not depend on
//! the points ([`MetricLen`]) sits beside the writer.

#[cfg(feature = "exponential-histogram")]
use super::exponential::write_exponential_point;
use super::field::*;
use super::point::{
    check_point, write_histogram_point, write_number_point, write_point_times, PointHead,
};
use super::writer::{Step, Writer};
use super::{field_len, PointCursor};
use crate::proto::source::{MetricData, MetricInfo, MetricsSource, Point, PointValue};
use crate::proto::wire;

/// Sizes of the parts of a `Metric` field that do not depend on its points.
pub(super) struct MetricLen {
    /// Name, description, unit.
    pub(super) strings: usize,
    /// Data message content except its points (temporality, monotonicity).
    pub(super) data: usize,
}

impl MetricLen {
    pub(super) fn new(info: &MetricInfo<'_>) -> Self {
        let strings = wire::str_field_len(METRIC_NAME, info.name)
            .saturating_add(wire::str_field_len(METRIC_DESCRIPTION, info.description))
            .saturating_add(wire::str_field_len(METRIC_UNIT, info.unit));
        let (_, temporality, is_monotonic) = data_fields(info.data);
        let data = wire::varint_field_len(SUM_IS_MONOTONIC, u64::from(is_monotonic))
            + wire::varint_field_len(AGGREGATION_TEMPORALITY, temporality);
        MetricLen { strings, data }
    }

    /// Size of the `Metric` field (key included) whose data point fields take `points` bytes.
    pub(super) fn field(&self, points: usize) -> usize {
        let data = points.saturating_add(self.data);
        field_len(self.strings.saturating_add(field_len(data)))
    }
}

/// The data message's field number, temporality and monotonicity (0 and `false` where the
/// kind has none: fields that are 0 are left out, so a gauge writes neither and a histogram
/// no monotonicity, and one pair of writes serves every kind).
fn data_fields(data: MetricData) -> (u32, u64, bool) {
    match data {
        MetricData::Gauge => (METRIC_GAUGE, 0, false),
        MetricData::Sum {
            temporality,
            is_monotonic,
        } => (METRIC_SUM, temporality as u64, is_monotonic),
        MetricData::Histogram { temporality } => (METRIC_HISTOGRAM, temporality as u64, false),
        MetricData::ExponentialHistogram { temporality } => {
            (METRIC_EXPONENTIAL_HISTOGRAM, temporality as u64, false)
        }
    }
}

/// One `Metric` field carrying points `from..to`. Out of line with `prefer-size`: inlined
/// in the request writer's metric loop, it cost more code than the call.
#[cfg_attr(feature = "prefer-size", inline(never))]
pub(super) fn write_metric<S: MetricsSource + ?Sized>(
    w: &mut Writer<'_>,
    source: &S,
    metric: usize,
    from: usize,
    to: usize,
) -> Step {
    let info = source.metric(metric);
    let metric_start = w.position();
    let data_start = w.position();
    let (data_field, temporality, is_monotonic) = data_fields(info.data);
    w.varint_field(SUM_IS_MONOTONIC, u64::from(is_monotonic))?;
    w.varint_field(AGGREGATION_TEMPORALITY, temporality)?;
    for point in (from..to).rev() {
        let point_start = w.position();
        // The value is read where the source put it: moving it out of the point would
        // copy it (a hundred bytes for a histogram) onto the stack first.
        let Point {
            start_time_unix_nano,
            time_unix_nano,
            flags,
            ref value,
        } = source.point(metric, point);
        let head = PointHead {
            start: start_time_unix_nano,
            time: time_unix_nano,
            flags,
        };
        let at = PointCursor { metric, point };
        // Checked here, on every path (the one-pass path does not plan; planning by
        // writing learns why a point is left out from the writer).
        if let Err(error) = check_point(source, info.data, value, at) {
            return w.refuse(error);
        }
        // Both number kinds through one (inlined) number writer; without `prefer-size`
        // through one inlined copy each, whose value field is a constant (faster).
        let number = match *value {
            PointValue::Int(i) => Some((NUMBER_AS_INT, i as u64)),
            PointValue::Double(d) => Some((NUMBER_AS_DOUBLE, d.to_bits())),
            _ => None,
        };
        match (number, value) {
            #[cfg(not(feature = "prefer-size"))]
            (Some(_), PointValue::Int(i)) => {
                write_number_point(w, source, at, head, NUMBER_AS_INT, *i as u64)?
            }
            #[cfg(not(feature = "prefer-size"))]
            (Some(_), PointValue::Double(d)) => {
                write_number_point(w, source, at, head, NUMBER_AS_DOUBLE, d.to_bits())?
            }
            (Some((value_field, bits)), _) => {
                write_number_point(w, source, at, head, value_field, bits)?
            }
            (None, PointValue::Histogram(h)) => write_histogram_point(w, source, at, head, h)?,
            #[cfg(feature = "exponential-histogram")]
            (None, PointValue::ExponentialHistogram(e)) => {
                // Its times are not its first fields: written whole.
                write_exponential_point(w, source, at, head, e)?;
                w.message(DATA_POINTS, point_start)?;
                continue;
            }
            // Numbers are written above; without feature `exponential-histogram`, an
            // exponential point is refused by check_point just above.
            _ => return w.fail(),
        }
        write_point_times(w, head)?;
        w.message(DATA_POINTS, point_start)?;
    }
    w.message(data_field, data_start)?;
    w.str_field(METRIC_UNIT, info.unit)?;
    w.str_field(METRIC_DESCRIPTION, info.description)?;
    w.str_field(METRIC_NAME, info.name)?;
    w.message(SM_METRICS, metric_start)
}
