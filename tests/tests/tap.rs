//! smoltcp against a real TCP peer: the Linux kernel, through a TAP device.
//!
//! The test creates a network namespace `otlp-tap-<pid>` holding a TAP device `tap0`
//! (kernel side 192.168.69.100/24), then runs its own body again inside that namespace
//! (`ip netns exec NS <this test binary> --exact <this test>` with `OTLP_TAP_CHILD=1`,
//! the test kit's `netns`): there the std OTLP sink listens on 192.168.69.100:4318 in the
//! kernel's TCP stack, and
//! `otlp_embedded_smoltcp::firmware::export_once` exports from a smoltcp interface
//! (192.168.69.1, Ethernet over the TAP device) through ARP and TCP to it. The namespace
//! has no other interface than `lo` and `tap0`, so no frame leaves it, and it is deleted at
//! the end whatever happens (a guard's `Drop`).
//!
//! Another does the same from a superloop: smoltcp's poll form (`PollStack`) under core's
//! `PollHttpClient` and `Exporter::poll`, one call per tick, through the sink's faults.
//!
//! A second test does the same over TLS: the sink in its TLS mode (a test PKI made at run
//! time, the server certificate for the DNS name `sink.test`), the firmware TLS client
//! (`otlp-embedded-tls`, embedded-tls) layered over smoltcp's connector through
//! `firmware::export_once_with` (the field example's `TlsLayer`), trusting the test CA
//! only, and once trusting another CA.
//! Each test has its own namespace (`otlp-tap-<pid>-<tag>`), so they can run at once.
//!
//! Two more export to the host name `collector.test`, resolved by the firmware DNS resolver
//! (`otlp_embedded_smoltcp::dns`) over smoltcp UDP: one asks a real `dnsmasq` that the test
//! starts on the kernel side (its own flags, no system configuration, killed by its process
//! id), the other a scripted UDP responder in the test (`otlp_embedded_test_kit::dns`) that
//! answers with each fault dnsmasq never sends: NXDOMAIN, truncated, refused, records for
//! another name, cut short, a compression loop, a huge count, SERVFAIL, a wrong id, a wrong
//! question, silence.
//!
//! Needs root, `/dev/net/tun` and the `ip` tool (Debian: `apt-get install -y iproute2`),
//! and `dnsmasq` for the DNS test (Debian: `dnsmasq-base`). Without them the test prints one
//! `SKIP:` line and passes, unless `OTLP_REQUIRE_TAP=1`, which makes a missing prerequisite
//! a failure.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::metrics::v1::metric;
use otlp_embedded::export::{
    ExportError, ExportErrorKind, ExportOutcome, ExportReport, ExporterConfig, RetryPolicy,
};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{Instrument, InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant, Wait};
use otlp_embedded::transport::{
    DnsFailure, Endpoint, ExchangeError, Scheme, TlsFailure, TransportError,
};
use otlp_embedded_field_board::host::TapBoard;
use otlp_embedded_field_board::TlsLayer;
use otlp_embedded_smoltcp::dns::wire::{Malformed, Mismatch};
use otlp_embedded_smoltcp::dns::{DnsError, DnsResolver};
use otlp_embedded_smoltcp::firmware::{export_once, export_once_with, Stack};
use otlp_embedded_smoltcp::{DeviceSeed, IpLiteral, TcpClient};
use otlp_embedded_std::StdClock;
use otlp_embedded_test_kit::dns::{DnsFault, UdpResponder, Zone};
use otlp_embedded_test_kit::dnsmasq::Dnsmasq;
use otlp_embedded_test_kit::netns;
use otlp_embedded_test_kit::sink::{Fault, RetryAfter, Sink, SinkOptions};
use otlp_embedded_test_kit::test_pki::TestPki;
use otlp_embedded_tls::{NoClock, TlsOptions, READ_BUFFER_LEN};
use rand_core::OsRng;
use smoltcp::iface::SocketHandle;
use smoltcp::phy::TunTapInterface;
use smoltcp::socket::tcp;
use smoltcp::wire::IpAddress;

/// The kernel side of the TAP device, as an endpoint host.
const KERNEL_ADDR: &str = netns::KERNEL_ADDR;
/// smoltcp's side: the field example's board address.
const SMOLTCP_IP4: std::net::Ipv4Addr = otlp_embedded_field_board::host::BOARD_ADDR;
const PORT: u16 = 4318;
/// The DNS name in the TLS sink's certificate: embedded-tls checks DNS names only, so the
/// client connects to the IP and checks this name.
const TLS_NAME: &str = "sink.test";
/// The collector's host name in the DNS tests.
const DNS_NAME: &str = "collector.test";
/// The kernel side's address, where the DNS server listens.
const KERNEL_IP: IpAddress = IpAddress::Ipv4(netns::KERNEL_IP);
/// The child's whole run is bounded by this.
const CHILD_LIMIT: Duration = Duration::from_secs(120);

#[test]
fn smoltcp_exports_to_the_kernel_over_tap() {
    run_in_namespace(
        "smoltcp_exports_to_the_kernel_over_tap",
        "plain",
        in_namespace,
    );
}

#[test]
fn smoltcp_superloop_exports_to_the_kernel_over_tap() {
    run_in_namespace(
        "smoltcp_superloop_exports_to_the_kernel_over_tap",
        "loop",
        superloop_in_namespace,
    );
}

#[test]
fn firmware_tls_exports_to_the_kernel_over_tap() {
    run_in_namespace(
        "firmware_tls_exports_to_the_kernel_over_tap",
        "tls",
        tls_in_namespace,
    );
}

#[test]
fn smoltcp_resolves_the_collector_with_dnsmasq_over_tap() {
    netns::run_in_namespace(
        "smoltcp_resolves_the_collector_with_dnsmasq_over_tap",
        "dns",
        dnsmasq_in_namespace,
        &["dnsmasq"],
        CHILD_LIMIT,
    );
}

#[test]
fn smoltcp_dns_faults_keep_the_data_over_tap() {
    run_in_namespace(
        "smoltcp_dns_faults_keep_the_data_over_tap",
        "dnsfault",
        dns_faults_in_namespace,
    );
}

/// In the parent: run test `test_name` of this binary in a namespace tagged `tag` (the
/// test kit's `netns`); in the child (inside the namespace): run `body`.
fn run_in_namespace(test_name: &str, tag: &str, body: fn()) {
    netns::run_in_namespace(test_name, tag, body, &[], CHILD_LIMIT);
}

// ------------------------------------------------------------------ inside the namespace

type Reg = Registry<4, 16, 24, 4, 64>;
type Snap = Snapshot<4, 16, 24, 4, 64>;
const ROUTES: [&str; 2] = ["/x", "/yy"];
const BOUNDS: [f64; 2] = [10.0, 100.0];

struct Meter {
    reg: Reg,
    requests: Instrument,
    latency: Instrument,
    /// Recorded totals: counter per route, histogram count, sum, buckets.
    counter: BTreeMap<String, i64>,
    count: u64,
    sum: f64,
    buckets: [u64; 3],
}

impl Meter {
    fn record(&mut self, round: u64) {
        for (i, route) in ROUTES.iter().enumerate() {
            let v = 1 + round * 3 + i as u64;
            let attrs = [KeyValue::new("route", AttributeValue::Str(route))];
            self.reg.record(self.requests, v, &attrs).unwrap();
            *self.counter.entry(route.to_string()).or_default() += v as i64;
        }
        for k in 0..2 {
            let v = ((round * 53 + k * 71) % 150) as f64;
            self.reg.record(self.latency, v, &[]).unwrap();
            self.count += 1;
            self.sum += v;
            self.buckets[BOUNDS.iter().position(|b| v <= *b).unwrap_or(2)] += 1;
        }
    }
}

fn new_meter() -> Meter {
    let mut reg = Reg::new(unix_now());
    let requests = reg
        .declare(
            InstrumentDesc::counter_u64("tap.requests")
                .attributes(&["route"])
                .max_series(4)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    let latency = reg
        .declare(
            InstrumentDesc::histogram("tap.latency")
                .bounds(&BOUNDS)
                .max_series(1)
                .temporality(Temporality::Delta),
        )
        .unwrap();
    Meter {
        reg,
        requests,
        latency,
        counter: BTreeMap::new(),
        count: 0,
        sum: 0.0,
        buckets: [0; 3],
    }
}

/// The field example's board (smoltcp on `tap0` at 192.168.69.1, one TCP and one UDP
/// socket) and a TCP client on its socket.
struct Net {
    board: TapBoard,
    udp: SocketHandle,
    client: TcpClient,
}

impl Net {
    fn new() -> Net {
        let board = TapBoard::new().expect("open tap0");
        let client: TcpClient = TcpClient::new(board.tcp(), board.seed());
        Net {
            udp: board.udp(),
            board,
            client,
        }
    }

    /// The borrowed stack for one export.
    fn stack(&mut self) -> Stack<'_, 'static, TunTapInterface, StdClock, impl Wait> {
        self.stack_with(IpLiteral)
    }

    /// The borrowed stack for one export, resolving hosts with `resolver`.
    fn stack_with<R>(
        &mut self,
        resolver: R,
    ) -> Stack<'_, 'static, TunTapInterface, StdClock, impl Wait, R> {
        let hardware = self.board.hardware();
        Stack {
            client: &mut self.client,
            iface: hardware.iface,
            device: hardware.device,
            sockets: hardware.sockets,
            clock: hardware.clock,
            idle: hardware.idle,
            resolver,
        }
    }

    fn now(&self) -> Instant {
        self.board.clock().now()
    }

    /// Keep the stack polled between exports (firmware's superloop would) for `ms`, then
    /// check the socket is free for the next export.
    fn settle(&mut self, ms: u64, what: &str) {
        let state = self.board.settle(ms);
        assert!(
            matches!(state, tcp::State::Closed | tcp::State::TimeWait),
            "{what}: socket {state:?}"
        );
    }
}

fn header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&[]), Scope::new("tap"))
}

fn exporter_config(scheme: Scheme) -> ExporterConfig<'static> {
    let endpoint = Endpoint {
        scheme,
        host: KERNEL_ADDR,
        port: PORT,
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header());
    config.export_timeout_ms = 15_000;
    config.request_timeout_ms = 5_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(200)
        .with_max_delay_ms(2_000)
        .with_max_attempts(0);
    config
}

/// What the kernel-side sink acknowledged decodes to exactly what was recorded: each route
/// in `points` points (one per delivered export), sums, histogram count, sum and buckets.
fn check_totals(sink: &Sink, meter: &Meter, points: u64) {
    for (route, value) in &meter.counter {
        let total = sink
            .total("tap.requests", &[("route", route)])
            .expect("route reached the sink");
        assert_eq!(total.points, points, "{route}");
        assert_eq!(total.value_sum, *value as f64, "{route}");
    }
    let total = sink
        .total("tap.latency", &[])
        .expect("histogram reached the sink");
    assert_eq!(
        (total.points, total.histogram_count, total.histogram_sum),
        (points, meter.count, meter.sum)
    );
    assert_eq!(total.bucket_counts, meter.buckets);
    for request in sink.requests() {
        for m in request
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .flat_map(|s| &s.metrics)
        {
            if let Some(metric::Data::Histogram(h)) = &m.data {
                for p in &h.data_points {
                    assert_eq!(p.explicit_bounds, BOUNDS);
                }
            }
        }
    }
}

fn in_namespace() {
    let sink = Sink::start_with(SinkOptions {
        bind: KERNEL_ADDR.parse().unwrap(),
        port: PORT,
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(10),
        max_connections: 4,
        ..SinkOptions::default()
    })
    .expect("sink on the namespace's TAP address");
    let mut net = Net::new();
    let mut meter = new_meter();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let config = exporter_config(Scheme::Http);

    let rounds = 6u64;
    let mut reports: Vec<ExportReport> = Vec::new();
    for round in 0..rounds {
        meter.record(round);
        match round {
            // A collector shedding load once: 503 with Retry-After: 1.
            2 => sink.script([(Fault::Unavailable(Some(RetryAfter::Seconds(1))), 1)]),
            // A collector that closes idle connections, and one that closes right after
            // answering without saying so: each export opens its own connection anyway.
            3 => sink.set_fault(Fault::IdleClose(Duration::from_millis(100))),
            5 => sink.set_fault(Fault::AnswerThenClose),
            _ => {}
        }
        let started = std::time::Instant::now();
        let report = export_once(
            net.stack(),
            &mut meter.reg,
            &mut snapshot,
            &mut buffer,
            config,
            unix_now(),
        );
        println!(
            "tap: export {round}: {:?}, {} points, {} retries, {} bytes, {:?}",
            report.outcome,
            report.points_sent,
            report.retries,
            report.bytes_sent,
            started.elapsed()
        );
        assert_eq!(
            report.outcome,
            ExportOutcome::Success,
            "export {round}: {report:?}"
        );
        assert_eq!(report.points_sent, ROUTES.len() + 1, "export {round}");
        assert_eq!(report.retries, u32::from(round == 2), "export {round}");
        reports.push(report);
        // Long enough for the sink's idle close to happen.
        net.settle(400, &format!("export {round}"));
    }

    check_totals(&sink, &meter, rounds);
    let stats = sink.stats();
    // One request per connection (core closes after every exchange); the 503 one extra.
    assert_eq!(stats.requests_received, rounds + 1);
    assert_eq!(stats.requests_answered_2xx, rounds);
    assert_eq!(stats.decode_errors, 0);
    assert!(
        stats.requests_per_connection.iter().all(|&n| n == 1),
        "{stats:?}"
    );
    println!(
        "tap: {} exports over TAP to the kernel, {} connections, bytes sent {}",
        rounds,
        stats.connections_accepted,
        reports.iter().map(|r| r.bytes_sent).sum::<u64>()
    );
    println!("tap: done");
}

/// The std clock, counting how often it is read.
struct CountingClock {
    inner: StdClock,
    reads: std::cell::Cell<u64>,
}

impl Clock for CountingClock {
    fn now(&self) -> Instant {
        self.reads.set(self.reads.get() + 1);
        self.inner.now()
    }
}

/// A superloop against the kernel's TCP: each tick polls the interface, calls
/// `Exporter::poll` once with a `PollStack` made for the tick, then waits for a frame or
/// 1 ms (a firmware's `wfi`). The sink misbehaves on some rounds; every export still
/// delivers, the sink decodes exactly what was recorded, each poll reads the clock a
/// handful of times (it never spins or sleeps: it has no device and no idle hook), and
/// every connection is closed.
fn superloop_in_namespace() {
    use otlp_embedded::export::Exporter;
    use otlp_embedded::http::PollHttpClient;
    use otlp_embedded_smoltcp::{smol_instant, PollStack};
    use std::os::fd::AsRawFd;
    let sink = Sink::start_with(SinkOptions {
        bind: KERNEL_ADDR.parse().unwrap(),
        port: PORT,
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(10),
        max_connections: 4,
        ..SinkOptions::default()
    })
    .expect("sink on the namespace's TAP address");
    let mut net = Net::new();
    let mut meter = new_meter();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let mut exporter = Exporter::new(exporter_config(Scheme::Http), PollHttpClient::new());
    let rounds = 6u64;
    let mut most_reads = 0;
    let mut polls = 0u64;
    for round in 0..rounds {
        meter.record(round);
        match round {
            1 => sink.script([(Fault::Unavailable(Some(RetryAfter::Seconds(1))), 1)]),
            2 => sink.script([(Fault::CloseBeforeAnswer, 1)]),
            3 => sink.script([(Fault::Reset, 1)]),
            4 => sink.set_fault(Fault::IdleClose(Duration::from_millis(100))),
            5 => sink.set_fault(Fault::AnswerThenClose),
            _ => {}
        }
        let clock = CountingClock {
            inner: *net.board.clock(),
            reads: std::cell::Cell::new(0),
        };
        let mut run = exporter.start(&mut meter.reg, &mut snapshot, unix_now(), clock.now());
        let report = loop {
            // The board's hardware without its idle hook: a superloop never waits inside
            // the export, only here, between ticks.
            let hardware = net.board.hardware();
            let fd = hardware.device.as_raw_fd();
            hardware.iface.poll(
                smol_instant(hardware.clock.now()),
                hardware.device,
                hardware.sockets,
            );
            let mut stack = PollStack::new(&mut net.client, hardware.iface, hardware.sockets);
            clock.reads.set(0);
            let polled = exporter.poll(
                &mut run,
                &mut meter.reg,
                &snapshot,
                &mut buffer,
                &mut stack,
                &clock,
            );
            polls += 1;
            most_reads = most_reads.max(clock.reads.get());
            if let std::task::Poll::Ready(report) = polled {
                break report;
            }
            let _ = smoltcp::phy::wait(fd, Some(smoltcp::time::Duration::from_millis(1)));
        };
        println!(
            "tap: superloop export {round}: {:?}, {} points, {} retries",
            report.outcome, report.points_sent, report.retries
        );
        assert_eq!(
            report.outcome,
            ExportOutcome::Success,
            "export {round}: {report:?}"
        );
        assert_eq!(report.points_sent, ROUTES.len() + 1, "export {round}");
        assert_eq!(
            report.retries,
            u32::from((1..=3).contains(&round)),
            "export {round}"
        );
        net.settle(400, &format!("superloop export {round}"));
    }
    check_totals(&sink, &meter, rounds);
    assert!(most_reads <= 12, "{most_reads} clock reads in one poll");
    assert!(
        sink.wait_for(Duration::from_secs(5), |s| s.connections_closed
            == s.connections_accepted),
        "{:?}",
        sink.stats()
    );
    let stats = sink.stats();
    assert_eq!(stats.requests_answered_2xx, rounds);
    println!(
        "tap: {rounds} superloop exports over TAP, {polls} polls (at most {most_reads} clock \
         reads each), {} connections, all closed",
        stats.connections_accepted
    );
    println!("tap: done");
}

fn tls_in_namespace() {
    let pki = TestPki::generate_for(&[TLS_NAME]);
    let sink = Sink::start_with(SinkOptions {
        bind: KERNEL_ADDR.parse().unwrap(),
        port: PORT,
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(10),
        max_connections: 4,
        tls: Some(pki.sink_tls()),
        ..SinkOptions::default()
    })
    .expect("TLS sink on the namespace's TAP address");
    let mut net = Net::new();
    let mut meter = new_meter();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let mut read = vec![0u8; READ_BUFFER_LEN];
    let mut write = vec![0u8; 2048];
    let config = exporter_config(Scheme::Https);

    let rounds = 6u64;
    const WRONG_CA: u64 = 3;
    let mut reports: Vec<ExportReport> = Vec::new();
    for round in 0..rounds {
        meter.record(round);
        if round == 2 {
            // A collector shedding load once, over TLS: 503 with Retry-After: 1.
            sink.script([(Fault::Unavailable(Some(RetryAfter::Seconds(1))), 1)]);
        }
        let ca = if round == WRONG_CA {
            &pki.other_ca.cert_der
        } else {
            &pki.ca.cert_der
        };
        let options = TlsOptions::new(ca).with_server_name(TLS_NAME);
        let layer: TlsLayer<'_, _, NoClock> = TlsLayer::new(OsRng, options, &mut read, &mut write);
        let started = std::time::Instant::now();
        let report = export_once_with(
            net.stack(),
            layer,
            &mut meter.reg,
            &mut snapshot,
            &mut buffer,
            config,
            unix_now(),
        );
        println!(
            "tap: tls export {round}: {:?}, {} points, {} abandoned, {} retries, {} bytes, {:?}",
            report.outcome,
            report.points_sent,
            report.points_abandoned,
            report.retries,
            report.bytes_sent,
            started.elapsed()
        );
        if round == WRONG_CA {
            // A distinct TLS failure, not retried (another attempt would fail alike), and
            // the delta data kept.
            let unknown = Some(ExportError {
                request: 0,
                kind: ExportErrorKind::Exchange(ExchangeError::Connect(TransportError::Tls(
                    TlsFailure::UnknownIssuer,
                ))),
            });
            assert_eq!(report.outcome, ExportOutcome::Failed, "{report:?}");
            assert_eq!(report.first_error, unknown, "{report:?}");
            assert_eq!(report.last_error, unknown, "{report:?}");
            assert_eq!(
                (
                    report.points_sent,
                    report.points_abandoned,
                    report.points_dropped
                ),
                (0, ROUTES.len() + 1, 0),
                "{report:?}"
            );
            assert_eq!((report.retries, report.bytes_sent), (0, 0), "{report:?}");
        } else {
            assert_eq!(
                report.outcome,
                ExportOutcome::Success,
                "export {round}: {report:?}"
            );
            // The export after the failed one carries its data too, in the same series.
            assert_eq!(report.points_sent, ROUTES.len() + 1, "export {round}");
            assert_eq!(report.retries, u32::from(round == 2), "export {round}");
        }
        reports.push(report);
        net.settle(400, &format!("tls export {round}"));
    }

    // The failed export's data arrived with the next one: one point fewer per series.
    check_totals(&sink, &meter, rounds - 1);
    let stats = sink.stats();
    let tls = sink.tls_stats();
    println!("tap: tls sink stats {stats:?}");
    println!("tap: tls stats {tls:?}");
    // One request per connection; the 503 one extra. The wrong-CA attempt never got as far
    // as a request: its handshake failed on the sink's side too.
    assert_eq!(stats.requests_received, rounds);
    assert_eq!(stats.requests_answered_2xx, rounds - 1);
    assert_eq!(stats.decode_errors, 0);
    let mut per_connection = stats.requests_per_connection.clone();
    per_connection.sort_unstable();
    let mut expected = vec![1; rounds as usize];
    expected.insert(0, 0);
    assert_eq!(per_connection, expected, "{stats:?}");
    assert_eq!(stats.connections_accepted, rounds + 1, "{stats:?}");
    assert_eq!(
        (
            tls.handshakes,
            tls.handshake_failures,
            tls.close_notify_received
        ),
        (rounds, 1, rounds),
        "{tls:?}"
    );
    println!(
        "tap: {} TLS exports over TAP to the kernel, {} connections, bytes sent {}",
        rounds,
        stats.connections_accepted,
        reports.iter().map(|r| r.bytes_sent).sum::<u64>()
    );
    println!("tap: done");
}

// ------------------------------------------------------------------ DNS

/// The plain sink on the kernel side, as the first test uses it.
fn plain_sink() -> Sink {
    Sink::start_with(SinkOptions {
        bind: KERNEL_ADDR.parse().unwrap(),
        port: PORT,
        idle_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(10),
        max_connections: 4,
        ..SinkOptions::default()
    })
    .expect("sink on the namespace's TAP address")
}

/// The error an export reports for a DNS failure of its first request.
fn dns_error(failure: DnsFailure) -> Option<ExportError> {
    Some(ExportError {
        request: 0,
        kind: ExportErrorKind::Exchange(ExchangeError::Connect(TransportError::Dns(failure))),
    })
}

/// Exports to `collector.test`, which dnsmasq resolves: exact totals, the answer cached
/// for its TTL (one query for several exports), a name that does not exist keeping the
/// data for the next export without a retry.
fn dnsmasq_in_namespace() {
    let sink = plain_sink();
    let dnsmasq = Dnsmasq::start(
        netns::KERNEL_IP.into(),
        &[
            format!("--address=/{DNS_NAME}/{KERNEL_ADDR}"),
            // Every other name under .test does not exist (NXDOMAIN).
            "--local=/test/".into(),
            // Answers from configuration carry a TTL of 0 unless told otherwise.
            "--local-ttl=60".into(),
        ],
    );
    let mut net = Net::new();
    let mut dns: DnsResolver = DnsResolver::new(
        net.udp,
        DeviceSeed::new(u64::from(std::process::id())),
        &[KERNEL_IP],
    );
    let mut meter = new_meter();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];

    const MISSING: u64 = 3;
    let rounds = 6u64;
    let mut first_export_queries = 0;
    for round in 0..rounds {
        meter.record(round);
        let mut config = exporter_config(Scheme::Http);
        config.endpoint.host = if round == MISSING {
            "missing.test"
        } else {
            DNS_NAME
        };
        if round == 5 {
            // The cache is what saved the queries: without it, dnsmasq is asked again.
            dns.clear_cache();
        }
        let started = std::time::Instant::now();
        let report = export_once(
            net.stack_with(&mut dns),
            &mut meter.reg,
            &mut snapshot,
            &mut buffer,
            config,
            unix_now(),
        );
        println!(
            "tap: dns export {round} to {}: {:?}, {} points, {} abandoned, {:?}, {:?}",
            config.endpoint.host,
            report.outcome,
            report.points_sent,
            report.points_abandoned,
            report.first_error,
            started.elapsed()
        );
        if round == MISSING {
            assert_eq!(report.outcome, ExportOutcome::Failed, "{report:?}");
            let missing = dns_error(DnsFailure::NameNotFound);
            assert_eq!(report.first_error, missing, "{report:?}");
            assert_eq!(report.last_error, missing, "{report:?}");
            assert_eq!(dns.last_error(), Some(DnsError::NameNotFound));
            assert_eq!(
                (report.retries, report.bytes_sent, report.points_dropped),
                (0, 0, 0),
                "{report:?}"
            );
            assert_eq!(report.points_abandoned, ROUTES.len() + 1, "{report:?}");
        } else {
            assert_eq!(
                report.outcome,
                ExportOutcome::Success,
                "export {round}: {report:?}"
            );
            assert_eq!(report.points_sent, ROUTES.len() + 1, "export {round}");
            assert_eq!(report.retries, 0, "export {round}");
            assert_eq!(dns.cached(DNS_NAME, net.now()), Some(KERNEL_IP));
        }
        if round == 0 {
            // One query, or two when the first datagram waited for ARP until the resend.
            first_export_queries = dnsmasq.queries(DNS_NAME, SMOLTCP_IP4.into());
            assert!((1..=2).contains(&first_export_queries), "{}", dnsmasq.log());
        }
        if round == 2 {
            // Exports 1 and 2 asked nothing: the 60 s TTL was honoured.
            assert_eq!(
                dnsmasq.queries(DNS_NAME, SMOLTCP_IP4.into()),
                first_export_queries,
                "{}",
                dnsmasq.log()
            );
        }
        net.settle(400, &format!("dns export {round}"));
    }
    assert_eq!(
        dnsmasq.queries(DNS_NAME, SMOLTCP_IP4.into()),
        first_export_queries + 1,
        "{}",
        dnsmasq.log()
    );
    // NXDOMAIN is not retried within the export: one query.
    assert_eq!(
        dnsmasq.queries("missing.test", SMOLTCP_IP4.into()),
        1,
        "{}",
        dnsmasq.log()
    );

    // The export after the missing name carried its data: one point fewer per series.
    check_totals(&sink, &meter, rounds - 1);
    let stats = sink.stats();
    assert_eq!(stats.requests_received, rounds - 1);
    assert_eq!(stats.requests_answered_2xx, rounds - 1);
    assert_eq!(stats.decode_errors, 0);
    println!(
        "tap: {} exports to {DNS_NAME} via dnsmasq, {} dnsmasq queries ({} in the first)",
        rounds - 1,
        dnsmasq.queries(DNS_NAME, SMOLTCP_IP4.into()),
        first_export_queries
    );
    drop(dnsmasq);
    println!("tap: done");
}

/// How a DNS fault round ends.
#[derive(Copy, Clone, Debug)]
enum DnsOutcome {
    /// The export succeeds.
    Delivered,
    /// Not retried: one attempt, the error given, the data kept.
    Final(DnsFailure, DnsError),
    /// Retried (two attempts allowed), this many queries in all.
    Retried(DnsFailure, DnsError, usize),
}

/// Exports to `collector.test` while a scripted responder answers each query with a
/// fault: each its own error, retried or not as core says, no panic, the data kept and
/// delivered by the first export that gets an address.
fn dns_faults_in_namespace() {
    use DnsFailure as F;
    use DnsOutcome::*;
    let sink = plain_sink();
    // TTL 0: every export asks, so each round meets its fault.
    let responder = UdpResponder::start(
        (KERNEL_ADDR.parse::<std::net::IpAddr>().unwrap(), 53).into(),
        Zone::one(DNS_NAME, KERNEL_ADDR.parse().unwrap(), 0),
    )
    .expect("DNS responder on the namespace's TAP address");
    let mut net = Net::new();
    let mut dns: DnsResolver = DnsResolver::new(
        net.udp,
        DeviceSeed::new(u64::from(std::process::id())),
        &[KERNEL_IP],
    );
    let mut meter = new_meter();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let malformed = |m| DnsError::Malformed(m);
    let rounds = [
        (DnsFault::None, Delivered),
        (
            DnsFault::NxDomain,
            Final(F::NameNotFound, DnsError::NameNotFound),
        ),
        (
            DnsFault::Truncated,
            Final(F::Truncated, DnsError::Truncated),
        ),
        (DnsFault::Refused, Final(F::Refused, DnsError::Refused(5))),
        (
            DnsFault::OtherNameRecords,
            Final(F::NoAddress, DnsError::NoAddress),
        ),
        (
            DnsFault::CutShort,
            Retried(F::Malformed, malformed(Malformed::RecordOutsideMessage), 2),
        ),
        (
            DnsFault::PointerLoop,
            Retried(F::Malformed, malformed(Malformed::PointerNotBackward), 2),
        ),
        (
            DnsFault::HugeCount,
            Retried(F::Malformed, malformed(Malformed::RecordOutsideMessage), 2),
        ),
        (
            DnsFault::BadAddressLength,
            Retried(F::Malformed, malformed(Malformed::AddressLength), 2),
        ),
        (
            DnsFault::ServFail,
            Retried(F::ServerFailure, DnsError::ServerFailure, 2),
        ),
        // No usable answer: each 1.5 s attempt sends at 0 and resends at 1 s.
        (
            DnsFault::WrongId,
            Retried(F::UnmatchedAnswers, DnsError::Unmatched(Mismatch::Id), 4),
        ),
        (
            DnsFault::WrongQuestion,
            Retried(
                F::UnmatchedAnswers,
                DnsError::Unmatched(Mismatch::Question),
                4,
            ),
        ),
        (DnsFault::Silent, Retried(F::Timeout, DnsError::Timeout, 4)),
        (DnsFault::None, Delivered),
    ];
    for (round, (fault, expected)) in rounds.iter().enumerate() {
        let round = round as u64;
        meter.record(round);
        responder.set_fault(*fault);
        let asked_before = responder.log().queries.len();
        let mut config = exporter_config(Scheme::Http);
        config.endpoint.host = DNS_NAME;
        config.export_timeout_ms = 5_000;
        config.request_timeout_ms = 1_500;
        config.retry = RetryPolicy::new()
            .with_initial_backoff_ms(200)
            .with_max_delay_ms(200)
            .with_max_attempts(2);
        let started = std::time::Instant::now();
        let report = export_once(
            net.stack_with(&mut dns),
            &mut meter.reg,
            &mut snapshot,
            &mut buffer,
            config,
            unix_now(),
        );
        let asked = responder.log().queries.len() - asked_before;
        println!(
            "tap: dns fault {fault:?}: {:?}, {} points, {} abandoned, {} retries, {asked} queries, {:?}, {:?}",
            report.outcome,
            report.points_sent,
            report.points_abandoned,
            report.retries,
            dns.last_error(),
            started.elapsed()
        );
        match *expected {
            Delivered => {
                assert_eq!(
                    report.outcome,
                    ExportOutcome::Success,
                    "{fault:?}: {report:?}"
                );
                // Every point recorded since the last delivery, in the same series.
                assert_eq!(report.points_sent, ROUTES.len() + 1, "{fault:?}");
                assert_eq!(report.retries, 0, "{fault:?}");
                assert_eq!(asked, 1, "{fault:?}");
            }
            Final(failure, detail) => {
                assert_eq!(
                    report.outcome,
                    ExportOutcome::Failed,
                    "{fault:?}: {report:?}"
                );
                assert_eq!(report.first_error, dns_error(failure), "{fault:?}");
                assert_eq!(report.last_error, dns_error(failure), "{fault:?}");
                assert_eq!(dns.last_error(), Some(detail), "{fault:?}");
                assert_eq!((report.retries, report.bytes_sent), (0, 0), "{fault:?}");
                assert_eq!(asked, 1, "{fault:?}");
            }
            Retried(failure, detail, queries) => {
                assert_eq!(
                    report.outcome,
                    ExportOutcome::Failed,
                    "{fault:?}: {report:?}"
                );
                assert_eq!(report.first_error, dns_error(failure), "{fault:?}");
                assert_eq!(
                    report.last_error.map(|e| e.kind),
                    Some(ExportErrorKind::AttemptsExhausted),
                    "{fault:?}"
                );
                assert_eq!(dns.last_error(), Some(detail), "{fault:?}");
                assert_eq!((report.retries, report.bytes_sent), (1, 0), "{fault:?}");
                assert_eq!(asked, queries, "{fault:?}");
            }
        }
        if !matches!(expected, Delivered) {
            // Abandoned, not dropped: the next export that gets an address sends it.
            assert_eq!(
                (report.points_abandoned, report.points_dropped),
                (ROUTES.len() + 1, 0),
                "{fault:?}"
            );
        }
        net.settle(100, &format!("dns fault {fault:?}"));
    }
    // Two deliveries: the first round's, and the last one's carrying everything between.
    check_totals(&sink, &meter, 2);
    let stats = sink.stats();
    assert_eq!(stats.requests_received, 2);
    assert_eq!(stats.decode_errors, 0);
    assert!(responder
        .log()
        .queries
        .iter()
        .all(|(q, _)| q.name == DNS_NAME && q.qtype == 1 && q.flags == 0x0100));
    println!(
        "tap: {} DNS fault rounds, {} queries answered by the responder",
        rounds.len(),
        responder.log().queries.len()
    );
    println!("tap: done");
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
