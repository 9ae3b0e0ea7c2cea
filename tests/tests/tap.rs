//! smoltcp against a real TCP peer: the Linux kernel, through a TAP device.
//!
//! The test creates a network namespace `otlp-tap-<pid>` holding a TAP device `tap0`
//! (kernel side 192.168.69.100/24), then runs its own body again inside that namespace
//! (`ip netns exec NS <this test binary> --exact <this test>` with `OTLP_TAP_CHILD=1`):
//! there the std OTLP sink listens on 192.168.69.100:4318 in the kernel's TCP stack, and
//! `otlp_embedded_smoltcp::firmware::export_once` exports from a smoltcp interface
//! (192.168.69.1, Ethernet over the TAP device) through ARP and TCP to it. The namespace
//! has no other interface than `lo` and `tap0`, so no frame leaves it, and it is deleted at
//! the end whatever happens (a guard's `Drop`).
//!
//! A second test does the same over TLS: the sink in its TLS mode (a test PKI made at run
//! time, the server certificate for the DNS name `sink.test`), the firmware TLS client
//! (`otlp-embedded-tls`, embedded-tls) layered over smoltcp's connector through
//! `firmware::export_once_with`, trusting the test CA only, and once trusting another CA.
//! Each test has its own namespace (`otlp-tap-<pid>-<tag>`), so they can run at once.
//!
//! Needs root, `/dev/net/tun` and the `ip` tool (Debian: `apt-get install -y iproute2`).
//! Without them the test prints one `SKIP:` line and passes, unless `OTLP_REQUIRE_TAP=1`,
//! which makes a missing prerequisite a failure.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::metrics::v1::metric;
use otlp_embedded::export::{
    ExportError, ExportErrorKind, ExportOutcome, ExportReport, ExporterConfig, RetryPolicy,
};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{Instrument, InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    Connect, Endpoint, ExchangeError, Scheme, TlsFailure, TransportError,
};
use otlp_embedded_smoltcp::firmware::{export_once, export_once_with, Layer, Stack};
use otlp_embedded_smoltcp::{smol_instant, TcpClient};
use otlp_embedded_std::sink::test_pki::TestPki;
use otlp_embedded_std::sink::{Fault, RetryAfter, Sink, SinkOptions};
use otlp_embedded_std::StdClock;
use otlp_embedded_tls::{NoClock, TlsConnector, TlsOptions, READ_BUFFER_LEN};
use rand_core::OsRng;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

const CHILD_ENV: &str = "OTLP_TAP_CHILD";
const KERNEL_ADDR: &str = "192.168.69.100";
const SMOLTCP_ADDR: IpAddress = IpAddress::v4(192, 168, 69, 1);
const PORT: u16 = 4318;
/// The DNS name in the TLS sink's certificate: embedded-tls checks DNS names only, so the
/// client connects to the IP and checks this name.
const TLS_NAME: &str = "sink.test";
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
fn firmware_tls_exports_to_the_kernel_over_tap() {
    run_in_namespace(
        "firmware_tls_exports_to_the_kernel_over_tap",
        "tls",
        tls_in_namespace,
    );
}

/// In the parent: make the namespace `otlp-tap-<pid>-<tag>`, run test `test_name` of this
/// binary in it, print its `tap: ` lines, delete the namespace, and fail if the body
/// failed. In the child (inside the namespace): run `body`.
fn run_in_namespace(test_name: &str, tag: &str, body: fn()) {
    if std::env::var_os(CHILD_ENV).is_some() {
        body();
        return;
    }
    let required = std::env::var("OTLP_REQUIRE_TAP").is_ok_and(|v| v == "1");
    if let Err(why) = prerequisites() {
        assert!(!required, "OTLP_REQUIRE_TAP=1 but {why}");
        println!("SKIP: smoltcp TAP test ({tag}): {why}");
        return;
    }
    let ns = match Namespace::create(tag) {
        Ok(ns) => ns,
        Err(why) => {
            assert!(!required, "OTLP_REQUIRE_TAP=1 but {why}");
            println!("SKIP: smoltcp TAP test ({tag}): {why}");
            return;
        }
    };
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test body in the namespace");
    // Bounded wait; a child past its limit is killed (by its own id) and fails the test.
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > CHILD_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The harness prints "test NAME ... " before the body's first line: cut at the tag.
    for line in stdout
        .lines()
        .filter_map(|l| l.find("tap: ").map(|i| &l[i..]))
    {
        println!("{line}");
    }
    let name = ns.name.clone();
    drop(ns);
    assert!(
        !namespace_exists(&name),
        "namespace {name} still exists after the guard"
    );
    match status {
        Some(s) if s.success() && stdout.contains("tap: done") => {}
        Some(s) => panic!("namespace run failed ({s}):\n{stdout}\n{stderr}"),
        None => panic!("namespace run exceeded {CHILD_LIMIT:?}:\n{stdout}\n{stderr}"),
    }
}

/// Why the test cannot run here, if it cannot.
fn prerequisites() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Err(format!("needs root (effective uid {euid})"));
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err("no /dev/net/tun".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("no `ip` tool (apt-get install -y iproute2)".into()),
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn namespace_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name))
        })
        .unwrap_or(false)
}

/// A network namespace with `tap0` up at 192.168.69.100/24 and `lo` up; deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(tag: &str) -> Result<Namespace, String> {
        let name = format!("otlp-tap-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on the guard deletes it, also when a step below fails.
        let ns = Namespace { name };
        let n = ns.name.as_str();
        ip(&["-n", n, "tuntap", "add", "dev", "tap0", "mode", "tap"])?;
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{KERNEL_ADDR}/24"),
            "dev",
            "tap0",
        ])?;
        ip(&["-n", n, "link", "set", "tap0", "up"])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        Ok(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["-n", &self.name, "link", "del", "tap0"]);
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("could not delete namespace {}: {e}", self.name);
        }
    }
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

/// smoltcp on `tap0` at 192.168.69.1, one TCP socket.
struct Net {
    device: TunTapInterface,
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    client: TcpClient,
    clock: StdClock,
}

impl Net {
    fn new() -> Net {
        let mut device = TunTapInterface::new("tap0", Medium::Ethernet).expect("open tap0");
        let clock = StdClock::new();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
            0x02, 0, 0, 0, 0, 0x01,
        ])));
        config.random_seed = u64::from(std::process::id());
        let mut iface = Interface::new(config, &mut device, smol_instant(clock.now()));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(SMOLTCP_ADDR, 24)).unwrap());
        let mut sockets = SocketSet::new(Vec::new());
        let handle = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; 4096]),
            tcp::SocketBuffer::new(vec![0u8; 4096]),
        ));
        let client: TcpClient = TcpClient::new(handle, std::process::id() as u16);
        Net {
            device,
            iface,
            sockets,
            handle,
            client,
            clock,
        }
    }

    /// Idle like firmware: sleep until a frame arrives or smoltcp's next timer is due.
    fn idle(&self) -> impl FnMut(Instant, Instant) + Copy {
        let fd = self.device.as_raw_fd();
        move |now: Instant, wake_by: Instant| {
            let ms = now.millis_until(wake_by).min(50);
            let _ = smoltcp::phy::wait(fd, Some(smoltcp::time::Duration::from_millis(ms)));
        }
    }

    /// The borrowed stack for one export.
    fn stack(
        &mut self,
    ) -> Stack<'_, 'static, TunTapInterface, StdClock, impl FnMut(Instant, Instant)> {
        let idle = self.idle();
        Stack {
            client: &mut self.client,
            iface: &mut self.iface,
            device: &mut self.device,
            sockets: &mut self.sockets,
            clock: &self.clock,
            idle,
        }
    }

    /// Keep the stack polled between exports (firmware's superloop would) for `ms`, then
    /// check the socket is free for the next export.
    fn settle(&mut self, ms: u64, what: &str) {
        let mut idle = self.idle();
        let until = self.clock.now().add_millis(ms);
        while self.clock.now() < until {
            self.iface.poll(
                smol_instant(self.clock.now()),
                &mut self.device,
                &mut self.sockets,
            );
            idle(self.clock.now(), until);
        }
        let state = self.sockets.get::<tcp::Socket>(self.handle).state();
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
    let mut buckets = [0u64; 3];
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
                    for (b, c) in buckets.iter_mut().zip(&p.bucket_counts) {
                        *b += c;
                    }
                }
            }
        }
    }
    assert_eq!(buckets, meter.buckets);
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

/// The firmware TLS client as `export_once_with`'s layer: built over the `Blocking`
/// connector for one export, from the caller's RNG, options and record buffers.
struct Tls<'b> {
    options: TlsOptions<'b>,
    read: &'b mut [u8],
    write: &'b mut [u8],
}

impl<'b, B: Connect> Layer<B> for Tls<'b> {
    type Connector = TlsConnector<'b, B, OsRng, NoClock>;
    fn wrap(self, beneath: B) -> Self::Connector {
        TlsConnector::new(beneath, OsRng, self.options, self.read, self.write)
    }
    fn beneath(connector: &mut Self::Connector) -> &mut B {
        connector.inner_mut()
    }
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
        let layer = Tls {
            options: TlsOptions::new(ca).with_server_name(TLS_NAME),
            read: &mut read,
            write: &mut write,
        };
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}
