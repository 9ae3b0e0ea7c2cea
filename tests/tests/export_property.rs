//! Loss and duplication, end to end through the real registry and encoder: random
//! recordings between exports, random server answers (success, partial success, retryable,
//! non-retryable, transport errors), random buffer sizes. By decoding every request the fake
//! server accepted, each recorded value must have been accepted exactly once or counted as
//! dropped.

use std::collections::BTreeMap;

use otlp_embedded::export::{ExportOutcome, Exporter, ExporterConfig, RetryPolicy};
use otlp_embedded::proto::{
    AttributeValue, KeyValue, MetricsSource, PointSpan, PointValue, RequestHeader, Resource, Scope,
    Temporality,
};
use otlp_embedded::registry::{
    Instrument, InstrumentDesc, Producer, Registry, Settlement, Snapshot,
};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{Endpoint, ExchangeError, RetryAfter, TransportError};
use otlp_embedded_tests::fake::{Answer, FakeClock, ScriptedExchange};
use otlp_embedded_tests::metrics::{metric, number_data_point};
use otlp_embedded_tests::{decode, series_attribute, totals_by_series};
use proptest::prelude::*;

type Reg = Registry<4, 32, 34, 16, 512>;
type Snap = Snapshot<4, 32, 34, 16, 512>;

const SERIES: i64 = 5;

/// Per (metric name, series) totals: (sum of values, histogram measurement count).
type Totals = BTreeMap<(String, i64), (i64, u64)>;

/// The registry, with every value the exporter settles as dropped added up on the side.
struct Audited {
    registry: Reg,
    dropped: Totals,
}

fn series_of(snapshot: &Snap, m: usize, p: usize) -> i64 {
    match snapshot.attribute(m, p, 0).value {
        AttributeValue::Int(k) => k,
        other => panic!("unexpected series attribute {other:?}"),
    }
}

impl Producer for Audited {
    type Snapshot = Snap;

    fn collect(&mut self, snapshot: &mut Snap, now: u64) {
        self.registry.collect(snapshot, now);
    }

    fn settle(&mut self, snapshot: &Snap, span: PointSpan, settlement: Settlement) {
        if settlement == Settlement::Dropped {
            for m in 0..snapshot.metric_count() {
                for p in 0..snapshot.point_count(m) {
                    let here = (m, p);
                    if here < (span.start.metric, span.start.point)
                        || here >= (span.end.metric, span.end.point)
                    {
                        continue;
                    }
                    let key = (
                        snapshot.metric(m).name.to_string(),
                        series_of(snapshot, m, p),
                    );
                    let entry = self.dropped.entry(key).or_default();
                    match snapshot.point(m, p).value {
                        // A sum point aggregates many measurements: only its value counts.
                        PointValue::Int(v) => entry.0 += v,
                        PointValue::Histogram(h) => {
                            entry.0 += h.sum.unwrap_or(0.0) as i64;
                            entry.1 += h.count;
                        }
                        other => panic!("unexpected value {other:?}"),
                    }
                }
            }
        }
        self.registry.settle(snapshot, span, settlement);
    }
}

/// What the server kept, decoded with prost and counted by the test kit's totals function:
/// (sum of values, histogram measurement count) per series. Panics unless every point is
/// a delta integer sum point or a delta histogram point whose buckets add up to its count.
fn accepted(bodies: &[Vec<u8>]) -> Totals {
    let requests: Vec<_> = bodies.iter().map(|body| decode(body)).collect();
    let metrics = requests
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|rm| &rm.scope_metrics)
        .flat_map(|sm| &sm.metrics);
    for m in metrics {
        match &m.data {
            Some(metric::Data::Sum(sum)) => {
                assert_eq!(sum.aggregation_temporality, 1, "delta");
                for p in &sum.data_points {
                    series_attribute(&p.attributes);
                    let Some(number_data_point::Value::AsInt(_)) = p.value else {
                        panic!("int expected")
                    };
                }
            }
            Some(metric::Data::Histogram(h)) => {
                assert_eq!(h.aggregation_temporality, 1, "delta");
                for p in &h.data_points {
                    series_attribute(&p.attributes);
                    assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                }
            }
            other => panic!("unexpected data {other:?}"),
        }
    }
    totals_by_series(&requests)
        .into_iter()
        .map(|(key, total)| {
            // Integer values: the f64 sums are exact. A sum point aggregates many
            // measurements: only histograms export a measurement count.
            let value = total.value_sum + total.histogram_sum;
            (key, (value as i64, total.histogram_count))
        })
        .collect()
}

#[derive(Clone, Debug)]
enum Op {
    Count {
        series: i64,
        value: u64,
    },
    Observe {
        series: i64,
        value: u32,
    },
    Export {
        answers: Vec<AnswerKind>,
        buffer: usize,
    },
}

#[derive(Clone, Copy, Debug)]
enum AnswerKind {
    Ok,
    Partial,
    Retryable,
    RetryAfter,
    NonRetryable,
    Refused,
    Reset,
}

impl AnswerKind {
    fn answer(self) -> Answer {
        match self {
            AnswerKind::Ok => Answer::Status(200),
            AnswerKind::Partial => Answer::Partial(1, "one point rejected"),
            AnswerKind::Retryable => Answer::Status(503),
            AnswerKind::RetryAfter => Answer::RetryAfter(429, RetryAfter::Seconds(1)),
            AnswerKind::NonRetryable => Answer::Status(400),
            AnswerKind::Refused => Answer::Fail(ExchangeError::Connect(TransportError::Io(
                embedded_io::ErrorKind::ConnectionRefused,
            ))),
            AnswerKind::Reset => Answer::Fail(ExchangeError::ClosedBeforeResponse),
        }
    }
}

fn answer_kind() -> impl Strategy<Value = AnswerKind> {
    prop_oneof![
        4 => Just(AnswerKind::Ok),
        1 => Just(AnswerKind::Partial),
        2 => Just(AnswerKind::Retryable),
        1 => Just(AnswerKind::RetryAfter),
        1 => Just(AnswerKind::NonRetryable),
        2 => Just(AnswerKind::Refused),
        1 => Just(AnswerKind::Reset),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..SERIES, 1u64..1_000).prop_map(|(series, value)| Op::Count { series, value }),
        3 => (0..SERIES, 0u32..500).prop_map(|(series, value)| Op::Observe { series, value }),
        1 => (prop::collection::vec(answer_kind(), 0..8), 200usize..2_000)
            .prop_map(|(answers, buffer)| Op::Export { answers, buffer }),
    ]
}

const HEADER: RequestHeader<'static> =
    RequestHeader::new(Resource::new(&[]), Scope::new("property"));

struct World {
    producer: Audited,
    counter: Instrument,
    histogram: Instrument,
    recorded: Totals,
    accepted_bodies: Vec<Vec<u8>>,
    clock: FakeClock,
}

impl World {
    fn new() -> Self {
        let mut registry = Reg::new(1_000);
        let counter = registry
            .declare(
                InstrumentDesc::counter_u64("requests")
                    .attributes(&["series"])
                    .max_series(8)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        let histogram = registry
            .declare(
                InstrumentDesc::histogram("latency")
                    .attributes(&["series"])
                    .max_series(8)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        World {
            producer: Audited {
                registry,
                dropped: Totals::new(),
            },
            counter,
            histogram,
            recorded: Totals::new(),
            accepted_bodies: Vec::new(),
            clock: FakeClock::at(10),
        }
    }

    fn record(&mut self, name: &str, instrument: Instrument, series: i64, value: u64) {
        let attrs = [KeyValue::new("series", AttributeValue::Int(series))];
        if name == "latency" {
            self.producer
                .registry
                .record(instrument, value as f64, &attrs)
                .unwrap();
        } else {
            self.producer
                .registry
                .record(instrument, value, &attrs)
                .unwrap();
        }
        let e = self.recorded.entry((name.to_string(), series)).or_default();
        e.0 += value as i64;
        // Measurement counts are exported by histograms only.
        if name == "latency" {
            e.1 += 1;
        }
    }

    fn export(
        &mut self,
        answers: &[AnswerKind],
        buffer_size: usize,
        fallback: Answer,
    ) -> ExportOutcome {
        let mut config = ExporterConfig::new(Endpoint::DEFAULT, HEADER);
        config.export_timeout_ms = 20_000;
        config.retry = RetryPolicy::new()
            .with_initial_backoff_ms(100)
            .with_max_delay_ms(2_000)
            .with_max_attempts(4);
        let mut exchange = ScriptedExchange::new(&self.clock, answers.iter().map(|a| a.answer()));
        exchange.fallback = fallback;
        let mut exporter = Exporter::new(config, exchange);
        let mut snapshot = Snap::new();
        let mut buffer = vec![0u8; buffer_size];
        let unix = 1_000_000 + self.clock.now().0 * 1_000_000;
        let clock = &self.clock;
        let report = exporter.export(
            &mut self.producer,
            &mut snapshot,
            &mut buffer,
            clock,
            unix,
            |now: Instant, until: Instant| clock.advance(now.millis_until(until)),
        );
        assert_eq!(
            report.points_sent + report.points_dropped + report.points_abandoned,
            report.points_collected,
            "{report:?}"
        );
        self.accepted_bodies
            .extend(exporter.exchange().accepted.iter().cloned());
        self.clock.advance(1_000);
        report.outcome
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_value_accepted_once_or_counted_dropped(ops in prop::collection::vec(op(), 1..60)) {
        let mut world = World::new();
        for op in &ops {
            match *op {
                Op::Count { series, value } => world.record("requests", world.counter, series, value),
                Op::Observe { series, value } => {
                    world.record("latency", world.histogram, series, u64::from(value))
                }
                Op::Export { ref answers, buffer } => {
                    let fallback = answers.last().map_or(Answer::Status(200), |a| a.answer());
                    world.export(answers, buffer, fallback);
                }
            }
        }
        // The collector recovers: one clean export flushes whatever is still pending.
        let outcome = world.export(&[], 64 * 1024, Answer::Status(200));
        prop_assert_eq!(outcome, ExportOutcome::Success);

        let accepted = accepted(&world.accepted_bodies);
        let dropped = &world.producer.dropped;
        for (key, &(sum, count)) in &world.recorded {
            let a = accepted.get(key).copied().unwrap_or_default();
            let d = dropped.get(key).copied().unwrap_or_default();
            prop_assert_eq!((a.0 + d.0, a.1 + d.1), (sum, count), "series {:?}: accepted {:?} dropped {:?}", key, a, d);
        }
        for key in accepted.keys().chain(dropped.keys()) {
            prop_assert!(world.recorded.contains_key(key), "{:?} was never recorded", key);
        }
    }
}
