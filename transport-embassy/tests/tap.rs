//! embassy-net against a real TCP peer: the Linux kernel, through a TAP device in a network
//! namespace the test creates (the test kit's `netns`), with embassy's std executor and
//! embassy-time's std driver on the host.
//!
//! Inside the namespace the test kit's OTLP sink listens on 192.168.69.100:4318 in the
//! kernel's TCP stack, and the test kit's scripted DNS server answers for `collector.test`
//! on port 53. An embassy-net stack (192.168.69.1, `embassy-net-tuntap` on `tap0`) exports
//! a registry's metrics to `collector.test` through `EmbassyConnector`, resolving the name
//! with embassy-net's DNS client. What the kernel says afterwards is the evidence:
//!
//! - every graceful close's FIN reached it: each connection the sink answered is in
//!   TIME-WAIT on the kernel side (the sink closes first, so only our FIN moves its socket
//!   from FIN-WAIT-2 to TIME-WAIT), from exactly the local ports our connections used, and
//!   none is left ESTABLISHED, CLOSE-WAIT or FIN-WAIT;
//! - every abort's RST reached it: a trickling answer cut at the deadline and a connection
//!   dropped without a close each add one to the namespace's `EstabResets`, and leave no
//!   socket behind;
//! - the sink decodes exactly what was recorded (data of the failed rounds delivered by the
//!   next export), and DNS failures (NXDOMAIN, silence) end with their own error and keep
//!   the data.
//!
//! Needs root, `/dev/net/tun` and `ip`/`ss` (Debian: iproute2). Without them: one `SKIP:`
//! line, unless `OTLP_REQUIRE_TAP=1` (CI), which makes that a failure.
//!
//! Exports run through `otlp_embedded_embassy::export_once` (core's policy and async client,
//! one attempt per request here), each connection's port and close recorded by the
//! forwarding wrapper in `common::http`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::http::{export, export_lent_head, Exported};
use embassy_futures::select::{select, Either};
use embassy_net::tcp::State;
use embassy_net::Ipv4Address;
use embassy_net_tuntap::TunTapDevice;
use embedded_io_async::Write;
use otlp_embedded::export::{ExportErrorKind, ExportOutcome};
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{Instrument, InstrumentDesc, Registry, Snapshot};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{
    CloseMode, DnsFailure, Endpoint, ExchangeError, Scheme, Stage, TransportError,
};
use otlp_embedded_embassy::{EmbassyClock, EmbassyConnector};
use otlp_embedded_test_kit::dns::{DnsFault, UdpResponder, Zone};
use otlp_embedded_test_kit::netns::{run_in_namespace, tcp_counters, tcp_sockets, KERNEL_ADDR};
use otlp_embedded_test_kit::sink::{Fault, Sink, SinkOptions};

const PORT: u16 = 4318;
const NAME: &str = "collector.test";
const EMBASSY_ADDR: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const KERNEL_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);

type Reg = Registry<4, 16, 24, 4, 64>;
type Snap = Snapshot<4, 16, 24, 4, 64>;
const ROUTES: [&str; 2] = ["/x", "/yy"];
const BOUNDS: [f64; 2] = [10.0, 100.0];

#[test]
fn embassy_exports_to_the_kernel_over_tap() {
    run_in_namespace(
        "embassy_exports_to_the_kernel_over_tap",
        "embassy",
        in_namespace,
        &["ss"],
        Duration::from_secs(120),
    );
}

/// A registry and what was recorded into it.
struct Meter {
    reg: Reg,
    requests: Instrument,
    latency: Instrument,
    counter: BTreeMap<String, i64>,
    count: u64,
    sum: f64,
    buckets: [u64; 3],
}

impl Meter {
    fn new() -> Meter {
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

    /// Record round `round`: one point per route, two histogram values.
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

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn header() -> RequestHeader<'static> {
    RequestHeader::new(Resource::new(&[]), Scope::new("embassy-tap"))
}

/// Points per export of one round's data: one per route and the histogram's one.
const POINTS: usize = ROUTES.len() + 1;

/// What the embassy side did, for the checks after the run.
#[derive(Default)]
struct Ran {
    /// Local ports of the connections closed gracefully.
    graceful_ports: BTreeSet<u16>,
    /// Those of them whose socket ended in TIME-WAIT here: our FIN went out before the
    /// sink's (or with it), so the kernel's socket may be gone (CLOSE-WAIT, LAST-ACK,
    /// CLOSED) rather than in TIME-WAIT. Which side closes first is a race between the
    /// sink's thread closing after its answer and this client closing once it has read the
    /// whole answer.
    closed_first_ports: BTreeSet<u16>,
    /// Local ports of the connections aborted (trickle) or dropped.
    reset_ports: BTreeSet<u16>,
    /// Exports that delivered.
    delivered_exports: u64,
    /// Name resolutions asked of the DNS server.
    lookups: usize,
    /// Resets sent, per the namespace counter, after the graceful rounds.
    resets_after_graceful: i64,
}

impl Ran {
    /// A connection closed gracefully from `port`, its socket now in `state`: CLOSED when
    /// the sink closed first (our FIN answered its FIN), TIME-WAIT when ours went first.
    fn graceful(&mut self, port: u16, state: State) {
        assert!(
            matches!(state, State::TimeWait | State::Closed),
            "port {port} after a graceful close: {state:?}"
        );
        self.graceful_ports.insert(port);
        if state == State::TimeWait {
            self.closed_first_ports.insert(port);
        }
    }
}

fn in_namespace() {
    let sink = Rc::new(
        Sink::start_with(SinkOptions {
            bind: KERNEL_ADDR.parse().unwrap(),
            port: PORT,
            idle_timeout: Duration::from_millis(300),
            request_timeout: Duration::from_secs(10),
            max_connections: 4,
            ..SinkOptions::default()
        })
        .expect("sink on the namespace's TAP address"),
    );
    let responder = Rc::new(
        UdpResponder::start(
            (KERNEL_ADDR.parse::<std::net::IpAddr>().unwrap(), 53).into(),
            Zone::one(NAME, KERNEL_ADDR.parse().unwrap(), 60),
        )
        .expect("DNS server on the namespace's TAP address"),
    );
    let before = tcp_counters();
    let mut device = TunTapDevice::new("tap0").expect("open tap0");
    device.set_hardware_address([0x02, 0, 0, 0, 0, 0x01]);
    let (stack, mut runner) = common::stack(
        device,
        common::ipv4_config(EMBASSY_ADDR, &[KERNEL_IP]),
        u64::from(std::process::id()),
    );
    let (sink2, responder2) = (Rc::clone(&sink), Rc::clone(&responder));
    let (meter, ran) = common::run(Duration::from_secs(100), async move {
        match select(runner.run(), exports(stack, &sink2, &responder2)).await {
            Either::First(_) => unreachable!("the runner never returns"),
            Either::Second(result) => result,
        }
    });

    // The kernel's view of every connection to the sink.
    let sockets = tcp_sockets(PORT);
    for socket in &sockets {
        println!(
            "tap: kernel socket {} {} <- {}",
            socket.state, socket.local, socket.peer
        );
    }
    assert!(
        sockets.iter().all(|s| s.state == "TIME-WAIT"),
        "a connection did not end: {sockets:?}"
    );
    let time_wait: BTreeSet<u16> = sockets.iter().filter_map(|s| s.peer_port()).collect();
    // Where the sink closed first, only our FIN moves the kernel's socket from FIN-WAIT-2
    // to TIME-WAIT: each such port must be there. Where ours went first, the kernel's
    // socket either closed (it got our FIN in ESTABLISHED) or is in TIME-WAIT too (both
    // FINs crossed); a reset instead would show in EstabResets, checked below.
    let sink_closed_first: BTreeSet<u16> = ran
        .graceful_ports
        .difference(&ran.closed_first_ports)
        .copied()
        .collect();
    assert!(
        time_wait.is_subset(&ran.graceful_ports),
        "kernel TIME-WAIT entries {time_wait:?} from ports we did not close gracefully {:?}",
        ran.graceful_ports
    );
    assert!(
        sink_closed_first.is_subset(&time_wait),
        "our FIN did not reach the kernel: TIME-WAIT {time_wait:?}, sink closed first on {sink_closed_first:?}"
    );
    println!(
        "tap: graceful closes: {} after the sink's FIN, {} before it; kernel TIME-WAIT {}",
        sink_closed_first.len(),
        ran.closed_first_ports.len(),
        time_wait.len()
    );
    let after = tcp_counters();
    let delta = |name: &str| after[name] - before[name];
    let connections = (ran.graceful_ports.len() + ran.reset_ports.len()) as i64;
    println!(
        "tap: {connections} connections: {} closed with FIN, {} reset; kernel PassiveOpens +{}, EstabResets +{}",
        ran.graceful_ports.len(),
        ran.reset_ports.len(),
        delta("PassiveOpens"),
        delta("EstabResets")
    );
    assert_eq!(delta("PassiveOpens"), connections);
    assert_eq!(ran.resets_after_graceful, 0);
    assert_eq!(delta("EstabResets"), ran.reset_ports.len() as i64);
    assert_eq!(after["CurrEstab"], 0);

    // Exactly what was recorded, in as many points as exports delivered.
    for (route, value) in &meter.counter {
        let total = sink
            .total("tap.requests", &[("route", route)])
            .expect("route at the sink");
        assert_eq!(total.points, ran.delivered_exports, "{route}");
        assert_eq!(total.value_sum, *value as f64, "{route}");
    }
    let total = sink
        .total("tap.latency", &[])
        .expect("histogram at the sink");
    assert_eq!(
        (total.points, total.histogram_count, total.histogram_sum),
        (ran.delivered_exports, meter.count, meter.sum)
    );
    assert_eq!(total.bucket_counts, meter.buckets);
    let stats = sink.stats();
    assert_eq!(stats.requests_answered_2xx, ran.delivered_exports);
    assert_eq!(stats.decode_errors, 0);

    let queries = responder.log().queries;
    assert!(queries.iter().all(|(q, _)| q.name == NAME && q.qtype == 1));
    // The very first query may wait for ARP and go out once more.
    assert!(
        (ran.lookups..=ran.lookups + 1).contains(&queries.len()),
        "{} lookups, {} queries",
        ran.lookups,
        queries.len()
    );
    println!(
        "tap: {} exports delivered, {} DNS queries",
        ran.delivered_exports,
        queries.len()
    );
    println!("tap: done");
}

fn expect_delivered(exported: &Exported, what: &str) -> u16 {
    let report = &exported.report;
    assert_eq!(report.outcome, ExportOutcome::Success, "{what}: {report:?}");
    assert_eq!(
        (
            report.points_collected,
            report.points_sent,
            report.points_abandoned,
            report.points_dropped
        ),
        (POINTS, POINTS, 0, 0),
        "{what}: {report:?}"
    );
    assert_eq!(
        (report.requests, report.requests_delivered),
        (1, 1),
        "{what}"
    );
    assert_eq!(exported.connections.len(), 1, "{what}");
    let connection = &exported.connections[0];
    assert_eq!(
        connection.close,
        Some((CloseMode::Graceful, Ok(()))),
        "{what}"
    );
    connection.local_port.expect("a connection")
}

async fn exports(
    stack: embassy_net::Stack<'static>,
    sink: &Sink,
    responder: &UdpResponder,
) -> (Meter, Ran) {
    stack.wait_config_up().await;
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let mut connector = EmbassyConnector::new(stack, &mut rx, &mut tx);
    let mut meter = Meter::new();
    let mut snapshot = Snap::new();
    let mut buffer = [0u8; 1024];
    let mut ran = Ran::default();
    let by_name = Endpoint::new(Scheme::Http, NAME, PORT, "/v1/metrics");
    let by_address = Endpoint::new(Scheme::Http, KERNEL_ADDR, PORT, "/v1/metrics");
    let before = tcp_counters();
    let mut round = 0u64;

    // Graceful exports, by name and by address; the last three with the client's header
    // buffer lent, as a firmware lends it from a static.
    let mut head = [0u8; otlp_embedded::http::DEFAULT_HEAD_BUFFER];
    for k in 0..6 {
        meter.record(round);
        round += 1;
        let endpoint = if k % 2 == 0 { &by_name } else { &by_address };
        ran.lookups += usize::from(k % 2 == 0);
        let report = if k < 3 {
            export(
                &mut connector,
                &mut meter.reg,
                &mut snapshot,
                &mut buffer,
                header(),
                endpoint,
                5_000,
                unix_now(),
                |_| {},
            )
            .await
        } else {
            export_lent_head(
                &mut connector,
                &mut meter.reg,
                &mut snapshot,
                &mut buffer,
                header(),
                endpoint,
                5_000,
                unix_now(),
                &mut head,
            )
            .await
        };
        let port = expect_delivered(&report, &format!("graceful export {k}"));
        ran.graceful(port, connector.socket_state());
        ran.delivered_exports += 1;
    }
    ran.resets_after_graceful = tcp_counters()["EstabResets"] - before["EstabResets"];

    // A trickling answer cannot finish in 1.5 s: the read ends at the deadline, the
    // connection is aborted, and the data stays for the next export.
    sink.set_fault(Fault::Trickle {
        bytes_per_second: 2,
    });
    meter.record(round);
    round += 1;
    let exported = export(
        &mut connector,
        &mut meter.reg,
        &mut snapshot,
        &mut buffer,
        header(),
        &by_address,
        1_500,
        unix_now(),
        |_| {},
    )
    .await;
    let took = exported.took_ms;
    sink.set_fault(Fault::None);
    let report = &exported.report;
    assert_eq!(
        (report.points_sent, report.points_abandoned),
        (0, POINTS),
        "{report:?}"
    );
    assert_eq!(
        report.first_error.map(|e| e.kind),
        Some(ExportErrorKind::Exchange(ExchangeError::Timeout(
            Stage::StatusLine
        )))
    );
    assert_eq!(exported.connections.len(), 1);
    let exchanged = &exported.connections[0];
    // Core asks for the abort at the deadline and gives it no time: the RST is queued at
    // once; the close either finished or was dropped (and the drop aborted).
    assert_eq!(exchanged.close_mode, Some(CloseMode::Abort));
    assert!(matches!(
        exchanged.close,
        None | Some((CloseMode::Abort, Ok(())))
    ));
    assert!(
        (1_500..2_500).contains(&took),
        "trickle ended after {took} ms"
    );
    ran.reset_ports
        .insert(exchanged.local_port.expect("a connection"));
    println!("tap: trickle aborted after {took} ms");

    // A connection dropped mid-request (its future cancelled): reset by the drop.
    {
        let deadline = EmbassyClock.now().add_millis(3_000);
        let mut conn = connector
            .connect(&by_address, deadline)
            .await
            .expect("connect");
        ran.reset_ports.insert(conn.local_port().expect("a port"));
        let head = "POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial";
        conn.write_all(head.as_bytes()).await.expect("write");
        conn.flush().await.expect("acknowledged");
    }

    // The name does not exist (NXDOMAIN), then the server is silent: each its own error,
    // no connection, the data kept.
    for (fault, expected, timeout) in [
        (DnsFault::NxDomain, TransportError::Resolve, 3_000),
        (
            DnsFault::Silent,
            TransportError::Dns(DnsFailure::Timeout),
            1_500,
        ),
    ] {
        responder.set_fault(fault);
        meter.record(round);
        round += 1;
        ran.lookups += 1;
        let exported = export(
            &mut connector,
            &mut meter.reg,
            &mut snapshot,
            &mut buffer,
            header(),
            &by_name,
            timeout,
            unix_now(),
            |_| {},
        )
        .await;
        let took = exported.took_ms;
        let report = &exported.report;
        assert_eq!(
            (report.points_sent, report.points_abandoned),
            (0, POINTS),
            "{fault:?}: {report:?}"
        );
        assert_eq!(
            report.first_error.map(|e| e.kind),
            Some(ExportErrorKind::Exchange(ExchangeError::Connect(expected))),
            "{fault:?}"
        );
        assert!(exported.connections.is_empty(), "{fault:?}");
        if fault == DnsFault::Silent {
            assert!(
                (1_500..2_500).contains(&took),
                "silent DNS ended after {took} ms"
            );
        }
        println!("tap: DNS {fault:?}: {expected:?} after {took} ms");
    }
    responder.set_fault(DnsFault::None);

    // Everything kept since the last delivery goes out now, in the same series.
    meter.record(round);
    ran.lookups += 1;
    let report = export(
        &mut connector,
        &mut meter.reg,
        &mut snapshot,
        &mut buffer,
        header(),
        &by_name,
        5_000,
        unix_now(),
        |_| {},
    )
    .await;
    ran.graceful(
        expect_delivered(&report, "final export"),
        connector.socket_state(),
    );
    ran.delivered_exports += 1;
    (meter, ran)
}
