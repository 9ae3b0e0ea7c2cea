//! Caller-owned snapshot storage, read by the encoder through [`MetricsSource`].

use super::aggregate::HistState;
use super::key::Decoder;
use super::table::Series;
use super::{Inst, InstrumentDesc, InstrumentKind, Number, NumberKind, EXPONENTIAL};
use crate::proto::{
    AttributeValue, ExponentialBuckets, ExponentialHistogramValue, HistogramValue, KeyValue,
    MetricData, MetricInfo, MetricsSource, Point, PointCursor, PointSpan, PointValue, Temporality,
};
use crate::time::UnixNanos;

/// The attribute the overflow series carries.
const OVERFLOW: KeyValue<'static> =
    KeyValue::new("otel.metric.overflow", AttributeValue::Bool(true));

#[derive(Copy, Clone, Debug)]
struct SnapMetric {
    /// The instrument's declaration, copied whole: one block copy at collect instead of
    /// a load and a store per field the encoder reads (name, kind, keys, bounds, ...).
    desc: InstrumentDesc,
    instrument: u16,
    temporality: Temporality,
    /// The overflow series' index among the instrument's series (its `max_series`).
    overflow_index: u16,
    first: u32,
    count: u32,
    hist_first: u32,
}

impl SnapMetric {
    const EMPTY: Self = SnapMetric {
        desc: InstrumentDesc::gauge_i64(""),
        instrument: 0,
        temporality: Temporality::Cumulative,
        overflow_index: u16::MAX,
        first: 0,
        count: 0,
        hist_first: 0,
    };
}

#[derive(Copy, Clone, Debug)]
pub(super) struct SnapPoint<const ATTRIBUTE_BYTES: usize> {
    pub(super) value: u64,
    pub(super) start: UnixNanos,
    pub(super) recorded: u32,
    /// Which of its instrument's series (`0..=max_series`) the point is.
    pub(super) index: u16,
    pub(super) key: [u8; ATTRIBUTE_BYTES],
}

impl<const ATTRIBUTE_BYTES: usize> SnapPoint<ATTRIBUTE_BYTES> {
    const EMPTY: Self = SnapPoint {
        value: 0,
        start: 0,
        recorded: 0,
        index: 0,
        key: [0; ATTRIBUTE_BYTES],
    };
}

/// A copy of a [`Registry`](super::Registry)'s exportable state at one collect, owned by
/// the caller (keep it in a `static` on firmware: it is as large as the registry's series
/// and histogram tables). Its parameters are the registry's, so it always has room.
///
/// Read it through [`MetricsSource`]; metrics appear in declaration order, each with only
/// the series that have something to export.
#[derive(Clone, Debug)]
pub struct Snapshot<
    const INSTRUMENTS: usize = 8,
    const SERIES: usize = 128,
    const ATTRIBUTE_BYTES: usize = 34,
    const HISTOGRAM_SERIES: usize = 16,
    const BUCKETS: usize = 512,
> {
    time: UnixNanos,
    epoch: u32,
    metrics: [SnapMetric; INSTRUMENTS],
    metric_count: usize,
    points: [SnapPoint<ATTRIBUTE_BYTES>; SERIES],
    point_count: usize,
    hist: [HistState; HISTOGRAM_SERIES],
    hist_count: usize,
    buckets: [u64; BUCKETS],
    bucket_count: usize,
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Default for Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// An empty snapshot (const, so it can be a `static`).
    pub const fn new() -> Self {
        Snapshot {
            time: 0,
            epoch: 0,
            metrics: [SnapMetric::EMPTY; INSTRUMENTS],
            metric_count: 0,
            points: [SnapPoint::EMPTY; SERIES],
            point_count: 0,
            hist: [HistState::EMPTY; HISTOGRAM_SERIES],
            hist_count: 0,
            buckets: [0; BUCKETS],
            bucket_count: 0,
        }
    }

    /// The collect time (unix nanoseconds).
    pub fn time(&self) -> UnixNanos {
        self.time
    }

    /// Total data points across metrics.
    pub fn total_points(&self) -> usize {
        self.point_count
    }

    /// The span covering every point, for settling a whole snapshot at once.
    pub fn full_span(&self) -> PointSpan {
        PointSpan {
            start: PointCursor::default(),
            end: PointCursor {
                metric: self.metric_count,
                point: 0,
            },
            points: self.point_count,
        }
    }

    pub(super) fn epoch(&self) -> u32 {
        self.epoch
    }

    pub(super) fn clear(&mut self, time: UnixNanos, epoch: u32) {
        self.time = time;
        self.epoch = epoch;
        self.metric_count = 0;
        self.point_count = 0;
        self.hist_count = 0;
        self.bucket_count = 0;
    }

    /// Appends one series' state, exporting `value` (the series' own, or the change an
    /// observable delta series reports).
    pub(super) fn push(
        &mut self,
        instrument: u16,
        inst: &Inst,
        index: u16,
        s: &Series<ATTRIBUTE_BYTES>,
        value: u64,
        hist: Option<(&HistState, &[u64])>,
    ) {
        // Each table is borrowed apart, once: the point's place (none: the snapshot is
        // full), its metric (the last one if it is this instrument's, else a new one),
        // then its histogram's.
        let Some(p) = self.points.get_mut(self.point_count) else {
            return;
        };
        let m = match self.metrics.get_mut(self.metric_count.wrapping_sub(1)) {
            Some(m) if m.instrument == instrument => m,
            _ => {
                let Some(m) = self.metrics.get_mut(self.metric_count) else {
                    return;
                };
                *m = SnapMetric {
                    desc: inst.desc,
                    instrument,
                    temporality: inst.temporality,
                    overflow_index: inst.cap,
                    first: self.point_count as u32,
                    count: 0,
                    hist_first: self.hist_count as u32,
                };
                self.metric_count += 1;
                m
            }
        };
        if let Some((h, words)) = hist {
            // Explicit: every bucket. Exponential: only the used part of each side.
            let max = usize::from(inst.desc.max_size);
            let (first, second) = if inst.desc.kind == InstrumentKind::Histogram || !EXPONENTIAL {
                (words, &[][..])
            } else {
                (
                    words.get(..usize::from(h.pos.len)).unwrap_or(&[]),
                    words.get(max..max + usize::from(h.neg.len)).unwrap_or(&[]),
                )
            };
            let at = self.bucket_count;
            let total = first.len() + second.len();
            let (Some(dst), Some(hs)) = (
                self.buckets.get_mut(at..at + total),
                self.hist.get_mut(self.hist_count),
            ) else {
                return;
            };
            let (d1, d2) = dst.split_at_mut(first.len());
            d1.copy_from_slice(first);
            d2.copy_from_slice(second);
            // Whole, then the one field that differs: one block copy, not one per field.
            *hs = *h;
            hs.at = at as u32;
            self.bucket_count += total;
            self.hist_count += 1;
        }
        *p = SnapPoint {
            value,
            start: s.start,
            recorded: s.recorded,
            index,
            key: s.key,
        };
        self.point_count += 1;
        m.count += 1;
    }

    /// Metric `metric` if it was collected.
    #[inline(always)]
    fn collected_metric(&self, metric: usize) -> Option<&SnapMetric> {
        self.metrics.get(..self.metric_count)?.get(metric)
    }

    fn point_ref(
        &self,
        metric: usize,
        point: usize,
    ) -> Option<(&SnapMetric, &SnapPoint<ATTRIBUTE_BYTES>)> {
        let m = self.collected_metric(metric)?;
        if point >= m.count as usize {
            return None;
        }
        let p = self.points.get(m.first as usize + point)?;
        Some((m, p))
    }

    fn hist_ref(&self, m: &SnapMetric, point: usize) -> Option<(&HistState, &[u64])> {
        let h = self.hist.get(m.hist_first as usize + point)?;
        // Without exponential-histogram every histogram is an explicit one.
        let len = if m.desc.kind == InstrumentKind::Histogram || !EXPONENTIAL {
            m.desc.bounds.len() + 1
        } else {
            usize::from(h.pos.len) + usize::from(h.neg.len)
        };
        let at = h.at as usize;
        Some((h, self.buckets.get(at..at + len)?))
    }

    /// What the registry needs to commit a point: instrument, point, histogram copy.
    #[allow(clippy::type_complexity)]
    pub(super) fn point_for_settle(
        &self,
        metric: usize,
        point: usize,
    ) -> Option<(
        u16,
        &SnapPoint<ATTRIBUTE_BYTES>,
        Option<(&HistState, &[u64])>,
    )> {
        let (m, p) = self.point_ref(metric, point)?;
        let hist = match m.desc.kind {
            InstrumentKind::Histogram | InstrumentKind::ExponentialHistogram => {
                Some(self.hist_ref(m, point)?)
            }
            _ => None,
        };
        Some((m.instrument, p, hist))
    }

    /// Calls `f(metric, point)` for each point of `span` (bounded by this snapshot).
    pub(super) fn for_each_in(&self, span: PointSpan, mut f: impl FnMut(usize, usize)) {
        let mut c = span.start;
        while c < span.end && c.metric < self.metric_count {
            let count = self.metrics.get(c.metric).map_or(0, |m| m.count as usize);
            if c.point >= count {
                c = PointCursor {
                    metric: c.metric + 1,
                    point: 0,
                };
                continue;
            }
            f(c.metric, c.point);
            c.point += 1;
        }
    }
}

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > MetricsSource for Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn metric_count(&self) -> usize {
        self.metric_count
    }

    fn metric(&self, metric: usize) -> MetricInfo<'_> {
        // One test for both ways a metric is missing (past the collected ones, past the
        // table), so that one answer serves them.
        let Some(m) = self.collected_metric(metric) else {
            return MetricInfo {
                name: "",
                description: "",
                unit: "",
                data: MetricData::Gauge,
            };
        };
        let temporality = m.temporality;
        let data = match m.desc.kind {
            InstrumentKind::Counter | InstrumentKind::ObservableCounter => MetricData::Sum {
                temporality,
                is_monotonic: true,
            },
            InstrumentKind::UpDownCounter | InstrumentKind::ObservableUpDownCounter => {
                MetricData::Sum {
                    temporality,
                    is_monotonic: false,
                }
            }
            InstrumentKind::Gauge | InstrumentKind::ObservableGauge => MetricData::Gauge,
            InstrumentKind::Histogram => MetricData::Histogram { temporality },
            InstrumentKind::ExponentialHistogram => {
                MetricData::ExponentialHistogram { temporality }
            }
        };
        MetricInfo {
            name: m.desc.name,
            description: m.desc.description,
            unit: m.desc.unit,
            data,
        }
    }

    fn point_count(&self, metric: usize) -> usize {
        self.collected_metric(metric)
            .map_or(0, |m| m.count as usize)
    }

    fn point(&self, metric: usize, point: usize) -> Point<'_> {
        let Some((m, p)) = self.point_ref(metric, point) else {
            return Point {
                start_time_unix_nano: 0,
                time_unix_nano: self.time,
                flags: 0,
                value: PointValue::Int(0),
            };
        };
        let is_gauge = matches!(
            m.desc.kind,
            InstrumentKind::Gauge | InstrumentKind::ObservableGauge
        );
        let start = if is_gauge { 0 } else { p.start };
        // A clock that went backwards must not produce time < start.
        let time = self.time.max(start);
        let number = |raw: u64| match (m.desc.kind, m.desc.number) {
            (InstrumentKind::Counter | InstrumentKind::ObservableCounter, NumberKind::Int) => {
                PointValue::Int(i64::try_from(raw).unwrap_or(i64::MAX))
            }
            (_, NumberKind::Int) => PointValue::Int(raw as i64),
            (_, NumberKind::Double) => PointValue::Double(f64::from_bits(raw)),
        };
        // metrics.proto: "Negative events *can* be recorded, but sum should not be filled
        // out when doing so." `min` is the least value of exactly this point's
        // measurements (infinite when there are none; never NaN), so its sign bit test
        // (-0.0 is not negative) is `min < 0.0` with no float compare.
        let sum = |h: &HistState| (!Number::F64(h.min).is_negative()).then_some(h.sum);
        let value = match m.desc.kind {
            InstrumentKind::Histogram => match self.hist_ref(m, point) {
                Some((h, words)) => PointValue::Histogram(HistogramValue {
                    count: h.count,
                    sum: sum(h),
                    min: (h.count > 0).then_some(h.min),
                    max: (h.count > 0).then_some(h.max),
                    explicit_bounds: m.desc.bounds,
                    bucket_counts: words,
                }),
                None => number(0),
            },
            // Never declared without the feature: the branch folds away with it.
            InstrumentKind::ExponentialHistogram if EXPONENTIAL => match self.hist_ref(m, point) {
                Some((h, words)) => {
                    let (pos, neg) = words.split_at(usize::from(h.pos.len).min(words.len()));
                    PointValue::ExponentialHistogram(ExponentialHistogramValue {
                        count: h.count,
                        sum: sum(h),
                        min: (h.count > 0).then_some(h.min),
                        max: (h.count > 0).then_some(h.max),
                        scale: i32::from(h.scale),
                        zero_count: h.zero_count,
                        zero_threshold: 0.0,
                        positive: ExponentialBuckets {
                            offset: h.pos.offset,
                            bucket_counts: pos,
                        },
                        negative: ExponentialBuckets {
                            offset: h.neg.offset,
                            bucket_counts: neg,
                        },
                    })
                }
                None => number(0),
            },
            _ => number(p.value),
        };
        Point {
            start_time_unix_nano: start,
            time_unix_nano: time,
            flags: 0,
            value,
        }
    }

    fn attribute_count(&self, metric: usize, point: usize) -> usize {
        // `usize::MAX` is past every point's attributes: the walk ends with their count.
        let mut count = 0;
        self.nth_attribute(metric, point, usize::MAX, &mut count);
        count
    }

    fn attribute(&self, metric: usize, point: usize, index: usize) -> KeyValue<'_> {
        self.nth_attribute(metric, point, index, &mut 0)
    }
}

/// What a point past its attributes (or no point) hands out: the empty key and string.
const NO_ATTRIBUTE: KeyValue<'static> = KeyValue::new("", AttributeValue::Str(""));

impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    /// Attribute `index` of a point ([`NO_ATTRIBUTE`] when `index` is past them), and in
    /// `walked` how many attributes the walk passed: all of them (0 for no such point)
    /// when `index` is past them. One walk serves both the count and the lookup; the
    /// attribute is returned where the caller wants it (no copy), the count beside it.
    fn nth_attribute(
        &self,
        metric: usize,
        point: usize,
        index: usize,
        walked: &mut usize,
    ) -> KeyValue<'_> {
        *walked = 0;
        let Some((m, p)) = self.point_ref(metric, point) else {
            return NO_ATTRIBUTE;
        };
        if p.index == m.overflow_index {
            if index == 0 {
                return OVERFLOW;
            }
            *walked = 1;
            return NO_ATTRIBUTE;
        }
        for kv in Decoder::new(m.desc.attribute_keys, &p.key) {
            if *walked == index {
                return kv;
            }
            *walked += 1;
        }
        NO_ATTRIBUTE
    }
}

#[cfg(feature = "defmt")]
impl<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    > defmt::Format for Snapshot<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>
{
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Snapshot {{ time: {=u64}, metrics: {=usize}, points: {=usize} }}",
            self.time,
            self.metric_count,
            self.point_count
        )
    }
}
