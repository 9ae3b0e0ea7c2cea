//! Test doubles for the exporter: a fake monotonic clock, a scripted exchange that decodes
//! what it accepts, and a small delta-counter producer that tracks every settlement.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricData, MetricInfo, MetricsSource, Point, PointSpan, PointValue,
    Temporality,
};
use otlp_embedded::registry::{Producer, Settlement};
use otlp_embedded::time::{Clock, Instant, UnixNanos};
use otlp_embedded::transport::{
    AsyncExchange, AsyncTimer, Exchange, ExchangeError, HttpRequest, HttpResponse, PollExchange,
    RetryAfter,
};
use prost::Message;

use crate::collector::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};

/// A monotonic clock that moves only when told to.
#[derive(Debug, Default)]
pub struct FakeClock(Cell<u64>);

impl FakeClock {
    /// A clock at `millis`.
    pub fn at(millis: u64) -> Self {
        FakeClock(Cell::new(millis))
    }
    /// Move forward by `millis`.
    pub fn advance(&self, millis: u64) {
        self.0.set(self.0.get() + millis);
    }
    /// Set the time.
    pub fn set(&self, millis: u64) {
        self.0.set(millis);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        Instant(self.0.get())
    }
}

/// Waiting on the fake clock moves it to the instant waited for, at once.
impl AsyncTimer for FakeClock {
    async fn wait_until(&self, at: Instant) {
        if at.0 > self.0.get() {
            self.0.set(at.0);
        }
    }
}

/// Run `future` to completion on this thread: a minimal executor for tests whose futures
/// never wait for anything outside themselves (a fake clock, in-memory streams). Panics
/// if the future keeps saying `Pending`, which would mean it waits for something that
/// can never come.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("the future never finished")
}

/// The ways to drive one export: blocking, superloop (poll) and async.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Driver {
    /// `Exporter::export`, sleeping on the fake clock.
    Blocking,
    /// `Exporter::poll` once per tick, the clock moved to the next due instant between.
    Superloop,
    /// `Exporter::export_async` on [`block_on`], waiting on the fake clock.
    Async,
}

/// Every driver, for table-driven tests.
pub const DRIVERS: [Driver; 3] = [Driver::Blocking, Driver::Superloop, Driver::Async];

/// One whole export of `producer` through `exporter`, driven by `driver`, on the fake
/// clock; points are stamped from the clock.
pub fn export_with(
    driver: Driver,
    exporter: &mut otlp_embedded::export::Exporter<'static, ScriptedExchange<'_>>,
    producer: &mut DeltaCounters,
    buffer: &mut [u8],
    clock: &FakeClock,
) -> otlp_embedded::export::ExportReport {
    let mut snapshot = DeltaSnapshot::default();
    let unix_now = 1_700_000_000_000_000_000 + clock.now().0 * 1_000_000;
    match driver {
        Driver::Blocking => exporter.export(
            producer,
            &mut snapshot,
            buffer,
            clock,
            unix_now,
            |now: Instant, until: Instant| clock.advance(now.millis_until(until)),
        ),
        Driver::Async => {
            block_on(exporter.export_async(producer, &mut snapshot, buffer, clock, unix_now))
        }
        Driver::Superloop => {
            let mut run = exporter.start(producer, &mut snapshot, unix_now, clock.now());
            for _ in 0..1_000_000 {
                let polled = exporter.poll(&mut run, producer, &snapshot, buffer, &mut (), clock);
                match polled {
                    Poll::Ready(report) => return report,
                    // Nothing to do before the next due instant: the loop's other work
                    // takes until then.
                    Poll::Pending => match run.waiting_until(clock.now()) {
                        Some(at) => clock.set(at.0),
                        None => clock.advance(1),
                    },
                }
            }
            panic!("the superloop export never finished")
        }
    }
}

/// What the scripted server does with one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Answer this status with an empty protobuf body.
    Status(u16),
    /// Answer this status with a `Retry-After`.
    RetryAfter(u16, RetryAfter),
    /// Answer 200 with a partial success.
    Partial(i64, &'static str),
    /// Answer this status with an HTML body (a proxy's error page).
    Html(u16),
    /// Fail the exchange with this error.
    Fail(ExchangeError),
}

impl Answer {
    /// Whether the server keeps the request's data.
    pub fn accepts(&self) -> bool {
        matches!(
            self,
            Answer::Status(200..=299) | Answer::Partial(..) | Answer::Html(200..=299)
        )
    }
}

/// One call the exporter made.
#[derive(Clone, Debug)]
pub struct Call {
    /// Clock when the exchange began.
    pub at: u64,
    /// The exchange's deadline.
    pub deadline: u64,
    /// The answer given.
    pub answer: Answer,
}

/// An [`Exchange`] that answers from a script (then with `fallback`), keeps the bodies of
/// the requests it accepted, and lets the fake clock run `latency_ms` per exchange.
pub struct ScriptedExchange<'c> {
    /// The clock to advance.
    pub clock: &'c FakeClock,
    /// Answers to give, in order.
    pub script: VecDeque<Answer>,
    /// The answer once the script is used up.
    pub fallback: Answer,
    /// Time each exchange takes.
    pub latency_ms: u64,
    /// Bodies of requests answered 2xx.
    pub accepted: Vec<Vec<u8>>,
    /// Every call.
    pub calls: Vec<Call>,
}

impl<'c> ScriptedExchange<'c> {
    /// Answers `script`, then 200 forever.
    pub fn new(clock: &'c FakeClock, script: impl IntoIterator<Item = Answer>) -> Self {
        ScriptedExchange {
            clock,
            script: script.into_iter().collect(),
            fallback: Answer::Status(200),
            latency_ms: 1,
            accepted: Vec::new(),
            calls: Vec::new(),
        }
    }
}

impl Exchange for ScriptedExchange<'_> {
    fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.answer(request, response_body)
    }
}

/// The same answers awaited: ready at once (the fake clock moves by the latency).
impl AsyncExchange for ScriptedExchange<'_> {
    async fn exchange(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        self.answer(request, response_body)
    }
}

/// The same answers polled: ready on the first call (the fake clock moves by the
/// latency), so the three drivers see the same instants.
impl PollExchange for ScriptedExchange<'_> {
    fn poll_exchange(
        &mut self,
        _: &mut (),
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
        _now: Instant,
    ) -> Poll<Result<HttpResponse, ExchangeError>> {
        Poll::Ready(self.answer(request, response_body))
    }

    fn cancel(&mut self, _: &mut ()) {}
}

impl ScriptedExchange<'_> {
    fn answer(
        &mut self,
        request: &HttpRequest<'_>,
        response_body: &mut [u8],
    ) -> Result<HttpResponse, ExchangeError> {
        let at = self.clock.now().0;
        assert!(
            request.deadline.0 > at,
            "exchange started at {at} with deadline {} already past",
            request.deadline.0
        );
        let answer = self
            .script
            .pop_front()
            .unwrap_or_else(|| self.fallback.clone());
        self.calls.push(Call {
            at,
            deadline: request.deadline.0,
            answer: answer.clone(),
        });
        // Never let the fake exchange run past its deadline, as a real one would not.
        let latency = self.latency_ms.min(request.deadline.0 - at);
        self.clock.advance(latency);
        if answer.accepts() {
            self.accepted.push(request.body.to_vec());
        }
        let mut response = HttpResponse::new(200)
            .with_body(0, true)
            .with_bytes(request.body.len() + 200, 100);
        match answer {
            Answer::Status(status) => response.status = status,
            Answer::RetryAfter(status, retry_after) => {
                response.status = status;
                response.retry_after = Some(retry_after);
            }
            Answer::Partial(rejected, message) => {
                let body = ExportMetricsServiceResponse {
                    partial_success: Some(ExportMetricsPartialSuccess {
                        rejected_data_points: rejected,
                        error_message: message.to_string(),
                    }),
                }
                .encode_to_vec();
                let n = body.len().min(response_body.len());
                response_body[..n].copy_from_slice(&body[..n]);
                response.body_len = n;
                response.body_truncated = n < body.len();
            }
            Answer::Html(status) => {
                let page = b"<html><body>502 Bad Gateway</body></html>";
                let n = page.len().min(response_body.len());
                response_body[..n].copy_from_slice(&page[..n]);
                response.status = status;
                response.body_is_protobuf = false;
                response.body_len = n;
            }
            Answer::Fail(error) => return Err(error),
        }
        Ok(response)
    }
}

/// A delta counter per series, as a registry would keep it: `pending` is what was recorded
/// since the last commit; collect copies it; Delivered/Dropped subtract what was collected.
#[derive(Debug)]
pub struct DeltaCounters {
    /// Metric names; each metric has `series` series.
    pub names: Vec<String>,
    /// Series per metric.
    pub series: usize,
    /// Recorded and not yet committed, per metric and series.
    pub pending: Vec<Vec<i64>>,
    /// Committed as delivered, per metric and series.
    pub delivered: Vec<Vec<i64>>,
    /// Committed as dropped, per metric and series.
    pub dropped: Vec<Vec<i64>>,
    /// Times each snapshot point was settled in the current export.
    pub settled: Vec<Vec<u32>>,
    /// Every settlement made, in order.
    pub log: Vec<(PointSpan, Settlement)>,
}

impl DeltaCounters {
    /// `metrics` metrics of `series` series each, all zero.
    pub fn new(metrics: usize, series: usize) -> Self {
        let zeros = || vec![vec![0; series]; metrics];
        DeltaCounters {
            names: (0..metrics).map(|m| format!("counter.{m}")).collect(),
            series,
            pending: zeros(),
            delivered: zeros(),
            dropped: zeros(),
            settled: vec![vec![0; series]; metrics],
            log: Vec::new(),
        }
    }

    /// Record `value` into metric `m`, series `s`.
    pub fn add(&mut self, m: usize, s: usize, value: i64) {
        self.pending[m][s] += value;
    }
}

/// The snapshot of [`DeltaCounters`]: the series with a non-zero pending value.
#[derive(Debug, Default)]
pub struct DeltaSnapshot {
    names: Vec<String>,
    /// Per metric: (series index, value).
    pub points: Vec<Vec<(usize, i64)>>,
    time: UnixNanos,
}

impl MetricsSource for DeltaSnapshot {
    fn metric_count(&self) -> usize {
        self.points.len()
    }
    fn metric(&self, metric: usize) -> MetricInfo<'_> {
        MetricInfo {
            name: &self.names[metric],
            description: "a delta counter",
            unit: "1",
            data: MetricData::Sum {
                temporality: Temporality::Delta,
                is_monotonic: true,
            },
        }
    }
    fn point_count(&self, metric: usize) -> usize {
        self.points[metric].len()
    }
    fn point(&self, metric: usize, point: usize) -> Point<'_> {
        Point {
            start_time_unix_nano: 1,
            time_unix_nano: self.time.max(1),
            flags: 0,
            value: PointValue::Int(self.points[metric][point].1),
        }
    }
    fn attribute_count(&self, _metric: usize, _point: usize) -> usize {
        1
    }
    fn attribute(&self, metric: usize, point: usize, _index: usize) -> KeyValue<'_> {
        KeyValue::new(
            "series",
            AttributeValue::Int(self.points[metric][point].0 as i64),
        )
    }
}

/// Calls `f(metric, point)` for every point of `span` in `snapshot`.
pub fn for_each_in_span(
    snapshot: &DeltaSnapshot,
    span: PointSpan,
    mut f: impl FnMut(usize, usize),
) {
    let mut visited = 0;
    for (m, points) in snapshot.points.iter().enumerate() {
        for p in 0..points.len() {
            let here = (m, p);
            if here >= (span.start.metric, span.start.point)
                && here < (span.end.metric, span.end.point)
            {
                f(m, p);
                visited += 1;
            }
        }
    }
    assert_eq!(
        visited, span.points,
        "span {span:?} claims {} points",
        span.points
    );
}

impl Producer for DeltaCounters {
    type Snapshot = DeltaSnapshot;

    fn collect(&mut self, snapshot: &mut DeltaSnapshot, now: UnixNanos) {
        snapshot.names = self.names.clone();
        snapshot.time = now;
        snapshot.points = self
            .pending
            .iter()
            .map(|series| {
                series
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0)
                    .map(|(s, v)| (s, *v))
                    .collect()
            })
            .collect();
        self.settled = snapshot.points.iter().map(|p| vec![0; p.len()]).collect();
    }

    fn settle(&mut self, snapshot: &DeltaSnapshot, span: PointSpan, settlement: Settlement) {
        self.log.push((span, settlement));
        let mut touched = Vec::new();
        for_each_in_span(snapshot, span, |m, p| touched.push((m, p)));
        for (m, p) in touched {
            self.settled[m][p] += 1;
            let (series, value) = snapshot.points[m][p];
            match settlement {
                Settlement::Delivered => {
                    self.pending[m][series] -= value;
                    self.delivered[m][series] += value;
                }
                Settlement::Dropped => {
                    self.pending[m][series] -= value;
                    self.dropped[m][series] += value;
                }
                Settlement::Abandoned => {}
            }
        }
    }
}

impl DeltaCounters {
    /// Panics unless every point of the last snapshot was settled exactly once.
    pub fn assert_each_settled_once(&self) {
        for (m, points) in self.settled.iter().enumerate() {
            for (p, times) in points.iter().enumerate() {
                assert_eq!(*times, 1, "metric {m} point {p} settled {times} times");
            }
        }
    }
}

/// Sum of the int values per (metric name, `series` attribute) in accepted request bodies,
/// counted by [`totals_by_series`](crate::totals_by_series). Panics unless every point is
/// an integer sum point with an integer `series` attribute.
pub fn accepted_totals(bodies: &[Vec<u8>]) -> std::collections::BTreeMap<(String, i64), i64> {
    use crate::collector::ExportMetricsServiceRequest;
    use crate::metrics::{metric, number_data_point};
    let requests: Vec<ExportMetricsServiceRequest> = bodies
        .iter()
        .map(|body| ExportMetricsServiceRequest::decode(body.as_slice()).expect("decodes"))
        .collect();
    let metrics = requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics);
    for metric in metrics {
        let Some(metric::Data::Sum(sum)) = &metric.data else {
            panic!("expected a sum")
        };
        for point in &sum.data_points {
            crate::series_attribute(&point.attributes);
            let Some(number_data_point::Value::AsInt(_)) = point.value else {
                panic!("expected an int")
            };
        }
    }
    crate::totals_by_series(&requests)
        .into_iter()
        // Integer points: the f64 sum is exact.
        .map(|(key, total)| (key, total.value_sum as i64))
        .collect()
}
