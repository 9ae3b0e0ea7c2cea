//! OTLP end to end over two smoltcp interfaces in memory: the registry records, the
//! firmware function (`firmware::export_once`: Blocking + HttpClient + Exporter) exports,
//! and a small sink on the server interface (several listening sockets, re-listened after
//! each connection) reads every request, which the test decodes with opentelemetry-proto
//! and compares exactly with what was recorded. Then the same over a link that drops and
//! corrupts frames: exports succeed or fail by their deadline keeping their data, and the
//! delta totals over all exports equal what was recorded.
//!
//! Every wait is on the simulated clock and every export is capped by the idle hook's
//! hang detector, so no test can hang.

mod common;

use std::collections::BTreeMap;

use common::*;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use otlp_embedded::export::{
    ExportErrorKind, ExportOutcome, ExportReport, ExporterConfig, RetryPolicy,
};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{Instrument, InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{Endpoint, Scheme};
use otlp_embedded_smoltcp::firmware::export_once;
use otlp_embedded_test_kit::Repeats;
use prost::Message;
use smoltcp::phy::{Device, FaultInjector};
use smoltcp::socket::tcp::State;

type Reg = Registry<4, 16, 24, 4, 64>;
type Snap = Snapshot<4, 16, 24, 4, 64>;

const ROUTES: [&str; 3] = ["/a", "/bb", "/ccc"];
const BOUNDS: [f64; 3] = [10.0, 100.0, 1000.0];
/// Unix time of simulated instant 0.
const EPOCH_NS: u64 = 1_700_000_000_000_000_000;

/// What was recorded (delta data, summed over the recordings being compared).
#[derive(Clone, Debug, Default, PartialEq)]
struct Totals {
    /// Counter value per route.
    requests: BTreeMap<String, i64>,
    /// Histogram: count, sum, bucket counts.
    count: u64,
    sum: f64,
    buckets: Vec<u64>,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        for (route, v) in &other.requests {
            *self.requests.entry(route.clone()).or_default() += v;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.buckets.resize(BOUNDS.len() + 1, 0);
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }
}

/// A registry with a delta counter (per route) and a delta explicit-bucket histogram.
struct Meter {
    reg: Reg,
    requests: Instrument,
    latency: Instrument,
}

impl Meter {
    fn new() -> Self {
        let mut reg = Reg::new(EPOCH_NS);
        let requests = reg
            .declare(
                InstrumentDesc::counter_u64("http.requests")
                    .attributes(&["route"])
                    .max_series(4)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        let latency = reg
            .declare(
                InstrumentDesc::histogram("http.latency")
                    .unit("ms")
                    .bounds(&BOUNDS)
                    .max_series(1)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        Meter {
            reg,
            requests,
            latency,
        }
    }

    /// Record round `round`'s deterministic measurements; returns what was recorded.
    fn record(&mut self, round: u64) -> Totals {
        let mut t = Totals {
            buckets: vec![0; BOUNDS.len() + 1],
            ..Totals::default()
        };
        for (i, route) in ROUTES.iter().enumerate() {
            // Some rounds leave a route out, so series come and go.
            if (round + i as u64) % 4 == 3 {
                continue;
            }
            let v = 1 + (round * 7 + i as u64 * 3) % 11;
            let attrs = [KeyValue::new("route", AttributeValue::Str(route))];
            self.reg.record(self.requests, v, &attrs).unwrap();
            *t.requests.entry(route.to_string()).or_default() += v as i64;
        }
        for k in 0..(1 + round % 3) {
            // Integers, so float sums are exact; spread over every bucket.
            let v = ((round * 37 + k * 401) % 1500) as f64;
            self.reg.record(self.latency, v, &[]).unwrap();
            t.count += 1;
            t.sum += v;
            let bucket = BOUNDS.iter().position(|b| v <= *b).unwrap_or(BOUNDS.len());
            t.buckets[bucket] += 1;
        }
        t
    }
}

/// Decode the OTLP body of an HTTP request captured by the sink, checking its framing
/// and that every point is of the shape recorded: delta, integer counter points with a
/// route, histogram points with the test's bounds and buckets that add up.
fn decode(request: &[u8]) -> ExportMetricsServiceRequest {
    let end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("request has a header end")
        + 4;
    let head = std::str::from_utf8(&request[..end]).unwrap();
    assert!(head.starts_with("POST /v1/metrics HTTP/1.1\r\n"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: application/x-protobuf\r\n"));
    let body = ExportMetricsServiceRequest::decode(&request[end..]).expect("valid OTLP body");
    for rm in &body.resource_metrics {
        for sm in &rm.scope_metrics {
            assert_eq!(sm.scope.as_ref().unwrap().name, "smoltcp-test");
            for m in &sm.metrics {
                match m.data.as_ref().unwrap() {
                    metric::Data::Sum(sum) => {
                        assert_eq!(sum.aggregation_temporality, 1, "delta");
                        assert!(sum.is_monotonic);
                        for p in &sum.data_points {
                            let route = p
                                .attributes
                                .iter()
                                .find(|kv| kv.key == "route")
                                .and_then(|kv| kv.value.as_ref()?.value.as_ref());
                            match route {
                                Some(any_value::Value::StringValue(_)) => {}
                                other => panic!("route attribute {other:?}"),
                            }
                            let Some(number_data_point::Value::AsInt(_)) = p.value else {
                                panic!("int point expected: {p:?}");
                            };
                            assert!(p.time_unix_nano > p.start_time_unix_nano);
                        }
                    }
                    metric::Data::Histogram(h) => {
                        assert_eq!(h.aggregation_temporality, 1, "delta");
                        for p in &h.data_points {
                            assert_eq!(p.explicit_bounds, BOUNDS);
                            assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
                            assert!(p.sum.is_some(), "histogram sum: {p:?}");
                        }
                    }
                    other => panic!("unexpected metric data {other:?}"),
                }
            }
        }
    }
    body
}

/// Sum decoded requests into totals, with the test kit's totals function; also returns
/// how many points were counted. `repeats` says how a delta point that is superseded by
/// one of the same series and start time with a later time counts: an export abandoned
/// after the sink had read it leaves its data uncommitted, and the next export carries it
/// again (with what came since) over the same start time. Byte-identical retries collapse
/// the same way; copies of one interval that disagree fail the test.
fn totals(requests: &[ExportMetricsServiceRequest], repeats: Repeats) -> (Totals, u64) {
    let mut t = Totals {
        buckets: vec![0; BOUNDS.len() + 1],
        ..Totals::default()
    };
    let mut points = 0;
    for (key, total) in otlp_embedded_test_kit::totals(requests, repeats) {
        assert_eq!(
            total.conflicting_repeats, 0,
            "same interval, same data: {key:?}"
        );
        points += total.points;
        match key.metric.as_str() {
            "http.requests" => {
                let [(name, route)] = &key.attributes[..] else {
                    panic!("one attribute expected: {key:?}");
                };
                assert_eq!(name, "route");
                // Integer points: the f64 sum is exact.
                t.requests.insert(route.clone(), total.value_sum as i64);
            }
            "http.latency" => {
                assert!(key.attributes.is_empty(), "{key:?}");
                t.count += total.histogram_count;
                t.sum += total.histogram_sum;
                assert_eq!(total.bucket_counts.len(), BOUNDS.len() + 1);
                for (a, b) in t.buckets.iter_mut().zip(&total.bucket_counts) {
                    *a += b;
                }
            }
            name => panic!("unexpected {name} {total:?}"),
        }
    }
    (t, points)
}

fn header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&[]), Scope::new("smoltcp-test"))
}

fn config(export_timeout_ms: u32, request_timeout_ms: u32) -> ExporterConfig<'static> {
    let endpoint = Endpoint {
        scheme: Scheme::Http,
        host: "10.0.0.2",
        port: SERVER_PORT,
        path: "/v1/metrics",
    };
    let mut c = ExporterConfig::new(endpoint, header());
    c.export_timeout_ms = export_timeout_ms;
    c.request_timeout_ms = request_timeout_ms;
    c.retry = RetryPolicy::new()
        .with_initial_backoff_ms(200)
        .with_max_delay_ms(1_000)
        .with_max_attempts(0);
    c
}

/// Request buffer: small enough that a full round splits into two or three requests.
const BUFFER: usize = 320;

fn export<D: Device>(
    net: &mut Net<D>,
    meter: &mut Meter,
    snapshot: &mut Snap,
    buffer: &mut [u8],
    config: ExporterConfig<'static>,
) -> ExportReport {
    let unix_now = EPOCH_NS + net.clock.now().as_millis() * 1_000_000;
    export_once(
        net.stack(),
        &mut meter.reg,
        snapshot,
        buffer,
        config,
        unix_now,
    )
}

#[test]
fn exports_arrive_exactly_as_recorded() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 3, 4242);
    net.server.keep_requests = true;
    // The first export a second after the registry started, so every point's interval is
    // non-empty.
    net.settle(1_000);
    let mut meter = Meter::new();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; BUFFER];
    let mut requests = 0;
    for round in 0..40 {
        let recorded = meter.record(round);
        let before = net.server.log.len();
        let report = export(
            &mut net,
            &mut meter,
            &mut snapshot,
            &mut buffer,
            config(10_000, 3_000),
        );
        assert_eq!(
            report.outcome,
            ExportOutcome::Success,
            "round {round}: {report:?}"
        );
        let points = recorded.requests.len() + 1;
        assert_eq!(report.points_collected, points, "round {round}");
        assert_eq!(report.points_sent, points, "round {round}");
        assert_eq!(report.retries, 0, "round {round}");
        assert_eq!(report.requests, report.requests_delivered);
        // Each request the exporter sent is one the sink read, and decodes to this round.
        let log = &net.server.log[before..];
        assert_eq!(log.len() as u32, report.requests, "round {round}");
        assert_eq!(
            log.iter().map(|r| r.len() as u64).sum::<u64>(),
            report.bytes_sent
        );
        let decoded: Vec<_> = log.iter().map(|r| decode(r)).collect();
        let (got, decoded_points) = totals(&decoded, Repeats::CountAll);
        assert_eq!(decoded_points, points as u64, "round {round}");
        assert_eq!(got, recorded, "round {round}");
        requests += report.requests;
        assert!(
            matches!(net.client_state(), State::Closed | State::TimeWait),
            "round {round}: {:?}",
            net.client_state()
        );
        // Ten simulated seconds between exports, as a firmware's export period would.
        net.settle(10_000);
    }
    // The buffer is small enough that rounds split into several requests.
    assert!(requests > 40, "{requests} requests for 40 exports");
    eprintln!(
        "40 exports, {requests} requests, {} simulated ms",
        net.clock.now().as_millis()
    );
    net.settle(11_000);
    assert_eq!(net.client_state(), State::Closed);
    assert!(net.server.states().iter().all(|s| *s == State::Listen));
}

fn faulty(drop_pct: u8, corrupt_pct: u8, seed: u32) -> Net<FaultInjector<PipeDevice>> {
    // As in faults.rs: the client's injector drops on send and receive; corruption on both
    // receivers (smoltcp 0.14's injector corrupts on receive only, effectively).
    let (a, b) = device_pair();
    let mut a = FaultInjector::new(a, seed);
    a.set_drop_chance(drop_pct);
    a.set_corrupt_chance(corrupt_pct);
    let mut b = FaultInjector::new(b, seed.wrapping_mul(7919).wrapping_add(1));
    b.set_corrupt_chance(corrupt_pct);
    let mut net = Net::new(a, b, 4, 99);
    // An export may take at most its 4 s deadline (4 000 idle calls of 1 ms); the cap is a
    // hang detector far above that.
    net.idle_cap = 50_000;
    net
}

#[test]
fn lossy_link_delivers_every_delta_exactly_once_in_total() {
    let mut net = faulty(15, 5, 0x0f7e_2026);
    net.server.keep_requests = true;
    // The first export a second after the registry started, so every point's interval is
    // non-empty.
    net.settle(1_000);
    let mut meter = Meter::new();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; BUFFER];
    let mut recorded = Totals::default();
    let (mut ok, mut failed, mut retries) = (0, 0, 0);
    let export_timeout = 4_000;
    for round in 0..80 {
        recorded.add(&meter.record(round));
        let start = net.clock.now();
        let report = export(
            &mut net,
            &mut meter,
            &mut snapshot,
            &mut buffer,
            config(export_timeout, 1_500),
        );
        let took = start.millis_until(net.clock.now());
        // The export ends by its deadline (plus the last idle step of 1 ms).
        assert!(
            took <= u64::from(export_timeout) + 1,
            "round {round}: {took} ms"
        );
        assert_eq!(report.points_dropped, 0);
        assert_eq!(
            report.points_sent + report.points_abandoned,
            report.points_collected,
            "round {round}"
        );
        retries += report.retries;
        match report.outcome {
            ExportOutcome::Success => {
                assert_eq!(report.points_abandoned, 0);
                ok += 1;
            }
            ExportOutcome::Failed => {
                // Only running out of time fails an export here; its data stays.
                assert_eq!(
                    report.last_error.map(|e| e.kind),
                    Some(ExportErrorKind::DeadlineExceeded),
                    "round {round}: {report:?}"
                );
                assert!(report.points_abandoned > 0);
                failed += 1;
            }
            ExportOutcome::PartialSuccess => panic!("round {round}: {report:?}"),
        }
        assert!(
            matches!(net.client_state(), State::Closed | State::TimeWait),
            "round {round}: {:?}",
            net.client_state()
        );
        net.settle(2_000);
    }
    // Heal the link and flush what the failed exports kept.
    net.device.set_drop_chance(0);
    net.device.set_corrupt_chance(0);
    net.server.device.set_corrupt_chance(0);
    net.settle(5_000);
    let report = export(
        &mut net,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        config(10_000, 3_000),
    );
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    eprintln!(
        "15 % drop + 5 % corrupt, 80 exports: {ok} ok, {failed} failed at the deadline, \
         {retries} retries, {} requests read by the sink, final flush {} points",
        net.server.log.len(),
        report.points_sent
    );
    // This seed exercises both paths: retries that succeed, and exports that time out.
    assert!(
        retries > 0 && failed > 0 && ok > 0,
        "{ok} ok, {failed} failed, {retries} retries"
    );
    let decoded: Vec<_> = net.server.log.iter().map(|r| decode(r)).collect();
    let (_, all) = totals(&decoded, Repeats::CountAll);
    let (got, kept) = totals(&decoded, Repeats::LatestPerStart);
    eprintln!(
        "sink decoded {all} points: {kept} intervals, {} copies superseded by a later export",
        all - kept
    );
    assert_eq!(got, recorded);
    // Nothing left: a final collect carries no point.
    let report = export(
        &mut net,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        config(10_000, 3_000),
    );
    assert_eq!(
        (report.outcome, report.points_collected),
        (ExportOutcome::Success, 0)
    );
}

/// A collector answering 503 with `Retry-After: 1`: the export retries no sooner than a
/// second after each answer (the wait keeps the stack polled, so every connection closes
/// cleanly), fails at its deadline with every point kept, and the next export, once the
/// collector is back, delivers them all.
#[test]
fn retry_after_is_honoured_and_data_kept() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 2, 555);
    net.server.keep_requests = true;
    net.server.response =
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n".to_vec();
    net.settle(1_000);
    let mut meter = Meter::new();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let recorded = meter.record(1);
    let start = net.clock.now().as_millis();
    let report = export(
        &mut net,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        config(4_500, 1_000),
    );
    assert_eq!(report.outcome, ExportOutcome::Failed);
    assert_eq!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Status(503))
    );
    assert_eq!(
        report.last_error.map(|e| e.kind),
        Some(ExportErrorKind::DeadlineExceeded)
    );
    assert_eq!(report.points_abandoned, report.points_collected);
    let attempts = net.server.log.len();
    assert_eq!(attempts as u32, report.retries + 1);
    // Attempts at about 0, 1, 2, 3 and 4 s of a 4.5 s export.
    assert_eq!(attempts, 5, "{:?}", net.server.log_times);
    for pair in net.server.log_times.windows(2) {
        assert!(pair[1] - pair[0] >= 1_000, "{:?}", net.server.log_times);
    }
    assert!(net.server.log_times[0] - start < 100);
    // Every attempt carried the same request, byte for byte.
    assert!(net.server.log.iter().all(|r| *r == net.server.log[0]));
    assert!(matches!(
        net.client_state(),
        State::Closed | State::TimeWait
    ));

    net.server.response = OK_RESPONSE.to_vec();
    net.server.log.clear();
    let report = export(
        &mut net,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        config(4_500, 1_000),
    );
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    let decoded: Vec<_> = net.server.log.iter().map(|r| decode(r)).collect();
    assert_eq!(totals(&decoded, Repeats::CountAll).0, recorded);
}

/// `export_once` takes its retry jitter from the device seed the `TcpClient` was made
/// with, not from `config.jitter_seed`: two devices with the same seed and different
/// configured jitter seeds retry at the same instants, a device with another seed at other
/// instants, and one device's next export on yet another schedule.
#[test]
fn retry_jitter_comes_from_the_device_seed() {
    /// Milliseconds from each 503 answer to the next attempt, over two exports.
    fn retry_delays(port_seed: u16, config_jitter_seed: u64) -> Vec<u64> {
        let (a, b) = device_pair();
        let mut net = Net::new(a, b, 2, port_seed);
        net.server.keep_requests = true;
        net.server.response =
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec();
        net.settle(1_000);
        let mut meter = Meter::new();
        let mut snapshot = Snap::new();
        let mut buffer = [0u8; 1024];
        let mut delays = Vec::new();
        for round in 0..2 {
            meter.record(round);
            net.server.log_times.clear();
            let mut c = config(60_000, 1_000);
            c.retry = RetryPolicy::new()
                .with_initial_backoff_ms(5_000)
                .with_max_delay_ms(5_000)
                .with_max_attempts(3);
            c.jitter_seed = config_jitter_seed;
            let report = export(&mut net, &mut meter, &mut snapshot, &mut buffer, c);
            assert_eq!(report.outcome, ExportOutcome::Failed);
            assert_eq!(report.retries, 2, "{report:?}");
            assert_eq!(net.server.log_times.len(), 3);
            delays.extend(net.server.log_times.windows(2).map(|w| w[1] - w[0]));
            net.settle(100);
        }
        delays
    }
    let device = retry_delays(4242, 1);
    assert_eq!(device.len(), 4);
    // The configured seed makes no difference; the device seed does.
    assert_eq!(retry_delays(4242, 0x9E37_79B9_7F4A_7C15), device);
    let other = retry_delays(4243, 1);
    assert_ne!(other, device);
    // Successive exports of one device do not repeat its schedule.
    assert_ne!(device[..2], device[2..]);
}

/// A collector's `Retry-After` outlives the call that heard it: `export_once` builds an
/// exporter per call, and the `TcpClient` (kept across exports) carries the server's "not
/// before". An export that starts while it is more than its deadline away sends nothing
/// and keeps its data; one that starts within reach waits for it, then delivers.
#[test]
fn retry_after_past_the_deadline_holds_the_next_export_once() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 2, 777);
    net.server.keep_requests = true;
    net.server.response =
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 8\r\nContent-Length: 0\r\n\r\n".to_vec();
    net.settle(1_000);
    let mut meter = Meter::new();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let recorded = meter.record(1);
    let first = export(
        &mut net,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        config(3_000, 1_000),
    );
    assert_eq!(first.outcome, ExportOutcome::Failed);
    assert_eq!(
        first.last_error.map(|e| e.kind),
        Some(ExportErrorKind::DeadlineExceeded)
    );
    assert_eq!(net.server.log.len(), 1);
    let answered = net.server.log_times[0];

    // One second later the collector works again, but asked for 8 s: nothing is sent.
    net.server.response = OK_RESPONSE.to_vec();
    net.settle(1_000);
    let held = export(
        &mut net,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        config(3_000, 1_000),
    );
    assert_eq!(held.outcome, ExportOutcome::Failed);
    assert_eq!(held.requests, 0);
    assert_eq!(held.points_abandoned, held.points_collected);
    assert_eq!(
        net.server.log.len(),
        1,
        "sent while the collector asked to wait"
    );

    // Seven seconds after the answer the wait ends within the next export's deadline.
    net.settle(answered + 7_000 - net.clock.now().as_millis());
    let delivered = export(
        &mut net,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        config(5_000, 1_000),
    );
    assert_eq!(delivered.outcome, ExportOutcome::Success, "{delivered:?}");
    assert_eq!(net.server.log.len(), 2);
    assert!(
        net.server.log_times[1] >= answered + 8_000,
        "sent {} ms after the 503",
        net.server.log_times[1] - answered
    );
    let decoded: Vec<_> = net.server.log[1..].iter().map(|r| decode(r)).collect();
    assert_eq!(totals(&decoded, Repeats::CountAll).0, recorded);
}

// ---------------------------------------------------------------- superloop (poll form)

/// The clock of the superloop tests: the simulated one, counting how often it is read.
struct CountingClock<'c> {
    inner: &'c SimClock,
    reads: std::cell::Cell<u64>,
}

impl otlp_embedded::time::Clock for CountingClock<'_> {
    fn now(&self) -> otlp_embedded::time::Instant {
        self.reads.set(self.reads.get() + 1);
        self.inner.now()
    }
}

/// What one superloop export took.
struct Looped {
    report: ExportReport,
    /// `Exporter::poll` calls.
    polls: u64,
    /// The most clock reads in one `poll` call.
    most_reads: u64,
}

/// One export from a superloop: each tick polls the client interface and the server,
/// calls `Exporter::poll` once with a `PollStack` built for the tick, and lets 1 ms pass.
/// `respond(n)` is the server's answer on connection `n` (0-based, over the whole test), or
/// `None` to read the request and never answer. The clock stands still during a `poll` call, so a
/// call that waited for anything would never return: every call returning, with a
/// bounded number of clock reads, shows that none waits.
fn superloop_export<D: Device>(
    net: &mut Net<D>,
    exporter: &mut otlp_embedded::export::Exporter<'static, otlp_embedded::http::PollHttpClient>,
    meter: &mut Meter,
    snapshot: &mut Snap,
    buffer: &mut [u8],
    respond: &dyn Fn(u64) -> Option<Vec<u8>>,
) -> Looped {
    use core::task::Poll;
    use otlp_embedded_smoltcp::{smol_instant, PollStack};
    let unix_now = EPOCH_NS + net.clock.now().as_millis() * 1_000_000;
    let mut run = exporter.start(&mut meter.reg, snapshot, unix_now, net.clock.now());
    let mut polls = 0;
    let mut most_reads = 0;
    for _tick in 0..200_000 {
        let now = net.clock.now();
        net.iface
            .poll(smol_instant(now), &mut net.device, &mut net.sockets);
        match respond(net.server.accepted.saturating_sub(1)) {
            Some(response) => {
                net.server.response = response;
                net.server.behaviour = Behaviour::Answer;
            }
            None => net.server.behaviour = Behaviour::Silent,
        }
        net.server.poll(now);
        let clock = CountingClock {
            inner: &net.clock,
            reads: std::cell::Cell::new(0),
        };
        let mut stack = PollStack::new(&mut net.client, &mut net.iface, &mut net.sockets);
        let polled = exporter.poll(
            &mut run,
            &mut meter.reg,
            snapshot,
            buffer,
            &mut stack,
            &clock,
        );
        polls += 1;
        most_reads = most_reads.max(clock.reads.get());
        if let Poll::Ready(report) = polled {
            return Looped {
                report,
                polls,
                most_reads,
            };
        }
        net.clock.advance(1);
    }
    panic!("the superloop export did not end within 200 simulated seconds")
}

fn superloop_exporter(
) -> otlp_embedded::export::Exporter<'static, otlp_embedded::http::PollHttpClient> {
    otlp_embedded::export::Exporter::new(
        config(8_000, 2_000),
        otlp_embedded::http::PollHttpClient::new(),
    )
}

/// A superloop exports with the poll form alone: one `Exporter::poll` per tick, each
/// returning at once, and what the server decodes is exactly what was recorded, split
/// over several requests, every connection closed.
#[test]
fn superloop_exports_arrive_exactly_as_recorded_and_no_poll_waits() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 3, 9001);
    net.server.keep_requests = true;
    net.settle(1_000);
    let mut meter = Meter::new();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; BUFFER];
    let mut exporter = superloop_exporter();
    let mut recorded = Totals::default();
    let mut requests = 0;
    let mut most_reads = 0;
    for round in 0..20 {
        recorded.add(&meter.record(round));
        let looped = superloop_export(
            &mut net,
            &mut exporter,
            &mut meter,
            &mut snapshot,
            &mut buffer,
            &|_| Some(OK_RESPONSE.to_vec()),
        );
        let report = looped.report;
        assert_eq!(
            report.outcome,
            ExportOutcome::Success,
            "round {round}: {report:?}"
        );
        assert_eq!(report.points_sent, report.points_collected);
        assert!(
            looped.polls > u64::from(report.requests),
            "several ticks per export"
        );
        most_reads = most_reads.max(looped.most_reads);
        requests += report.requests;
        net.settle(50);
        assert!(matches!(
            net.client_state(),
            State::Closed | State::TimeWait
        ));
    }
    assert!(
        requests > 20,
        "{requests} requests: the buffer splits rounds"
    );
    assert_eq!(net.server.log.len(), requests as usize);
    assert_eq!(net.server.incomplete, 0);
    let decoded: Vec<_> = net.server.log.iter().map(|r| decode(r)).collect();
    assert_eq!(totals(&decoded, Repeats::CountAll).0, recorded);
    // A handful of clock reads per call: no call spins waiting for time to pass.
    assert!(most_reads <= 12, "{most_reads} clock reads in one poll");
    assert_eq!(exporter.stats().exports_ok, 20);
}

/// The superloop path through a collector's faults: a 503 with `Retry-After: 1`, a hung
/// collector (the request's deadline ends the wait), an answer that is not HTTP, a close
/// before the answer. Each is retried within the export, by ticks (no call waits), and
/// what was recorded arrives exactly once.
#[test]
fn superloop_retries_through_faults_and_delivers_once() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 3, 9002);
    net.server.keep_requests = true;
    net.settle(1_000);
    let mut meter = Meter::new();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let mut exporter = superloop_exporter();
    let respond = |n: u64| match n {
        0 => Some(
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
        ),
        1 => None,
        2 => Some(b"HTPT/1.1 2OO KO\r\n\r\n".to_vec()),
        3 => Some(Vec::new()),
        _ => Some(OK_RESPONSE.to_vec()),
    };
    let recorded = meter.record(1);
    let looped = superloop_export(
        &mut net,
        &mut exporter,
        &mut meter,
        &mut snapshot,
        &mut buffer,
        &respond,
    );
    let report = looped.report;
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    assert_eq!(report.requests, 1);
    assert_eq!(report.retries, 4);
    assert_eq!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Status(503))
    );
    println!(
        "superloop faults: {} polls, at most {} clock reads per poll, {:?}",
        looped.polls, looped.most_reads, net.server.log_times
    );
    assert!(looped.most_reads <= 12, "{} clock reads", looped.most_reads);
    // Five attempts reached the server, the last one answered 200.
    assert_eq!(net.server.log.len(), 5);
    assert!(
        net.server.log_times[1] - net.server.log_times[0] >= 1_000,
        "Retry-After: 1 honoured: {:?}",
        net.server.log_times
    );
    let delivered = decode(net.server.log.last().unwrap());
    assert_eq!(totals(&[delivered], Repeats::CountAll).0, recorded);
    net.settle(2_000);
    assert!(matches!(
        net.client_state(),
        State::Closed | State::TimeWait
    ));
    assert!(
        net.server
            .states()
            .iter()
            .all(|s| matches!(s, State::Listen | State::Closed | State::TimeWait)),
        "server sockets: {:?}",
        net.server.states()
    );
}
