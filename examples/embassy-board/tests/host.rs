//! The board's runner on Linux: embassy's std executor and timer, a TAP device in a network
//! namespace the test creates as the board's Ethernet, the test kit's DNS server and sink
//! on the kernel's side. The no_std telemetry task runs unchanged for five exports, one a
//! second, by host name; the sink must have decoded exactly the loops it counted.
//!
//! Needs root and `/dev/net/tun` (`OTLP_REQUIRE_TAP=1` turns a skip into a failure).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use embassy_executor::Executor;
use embassy_futures::select::{select, Either};
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, StackResources, StaticConfigV4};
use embassy_net_tuntap::TunTapDevice;
use otlp_embedded_embassy_board::{telemetry_task, Settings, Summary, LOOPS};
use otlp_embedded_test_kit::dns::{UdpResponder, Zone};
use otlp_embedded_test_kit::netns::{run_in_namespace, tcp_counters, tcp_sockets, KERNEL_ADDR};
use otlp_embedded_test_kit::sink::{Sink, SinkOptions};

const NAME: &str = "collector.board.test";
const PORT: u16 = 4318;
const EXPORTS: u32 = 5;

#[test]
fn the_board_exports_every_second() {
    run_in_namespace(
        "the_board_exports_every_second",
        "embboard",
        in_namespace,
        &["ss"],
        Duration::from_secs(60),
    );
}

#[embassy_executor::task]
async fn net(mut runner: embassy_net::Runner<'static, TunTapDevice>) {
    runner.run().await
}

#[embassy_executor::task]
async fn telemetry(
    stack: embassy_net::Stack<'static>,
    settings: Settings,
    done: Rc<RefCell<Option<Summary>>>,
) {
    stack.wait_config_up().await;
    let limit = embassy_time::Timer::after_secs(30);
    match select(telemetry_task(stack, settings), limit).await {
        Either::First(summary) => *done.borrow_mut() = Some(summary.expect("the registry")),
        Either::Second(()) => panic!("the board's exports ran past 30 s"),
    }
}

fn in_namespace() {
    let sink = Sink::start_with(SinkOptions {
        bind: KERNEL_ADDR.parse().unwrap(),
        port: PORT,
        ..SinkOptions::default()
    })
    .expect("sink on the namespace's TAP address");
    let kernel: std::net::Ipv4Addr = KERNEL_ADDR.parse().unwrap();
    let dns = UdpResponder::start((kernel, 53).into(), Zone::one(NAME, kernel.into(), 60))
        .expect("DNS server on the namespace's TAP address");

    let mut device = TunTapDevice::new("tap0").expect("open tap0");
    device.set_hardware_address([0x02, 0, 0, 0, 0, 0x01]);
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24),
        gateway: None,
        dns_servers: [Ipv4Address::from(kernel.octets())].into_iter().collect(),
    });
    // A board's stack lives for ever: the host runner leaks its resources once.
    let resources: &'static mut StackResources<4> = Box::leak(Box::new(StackResources::new()));
    let (stack, runner) = embassy_net::new(device, config, resources, 0x5eed);
    let boot_unix_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let settings = Settings {
        host: NAME,
        port: PORT,
        period_ms: 1_000,
        exports: Some(EXPORTS),
        boot_unix_nanos,
        device_seed: u64::from(std::process::id()),
    };
    let done: Rc<RefCell<Option<Summary>>> = Rc::default();
    let finished = Rc::clone(&done);
    let started = std::time::Instant::now();
    let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
    executor.run_until(
        |spawner| {
            spawner.spawn(net(runner).expect("a task slot"));
            spawner.spawn(telemetry(stack, settings, Rc::clone(&done)).expect("a task slot"));
        },
        move || finished.borrow().is_some(),
    );
    let took = started.elapsed();
    let summary = done.borrow().expect("the task finished");
    println!("tap: board: {summary:?} in {took:?}");

    // Five exports, one a second (the first a period after start), all delivered.
    assert_eq!(
        summary,
        Summary {
            exports: EXPORTS,
            succeeded: EXPORTS,
            points_sent: u64::from(EXPORTS),
            loops_recorded: u64::from(EXPORTS),
        }
    );
    assert!(
        (Duration::from_millis(4_900)..Duration::from_millis(7_000)).contains(&took),
        "{took:?}"
    );
    // The sink decoded one point per export, summing to every loop counted.
    let books = sink.wait_for(Duration::from_secs(5), |s| {
        s.requests_answered_2xx == u64::from(EXPORTS)
    });
    assert!(books, "{:?}", sink.stats());
    let total = sink
        .total(LOOPS, &[])
        .expect("the board's counter at the sink");
    assert_eq!(
        (total.points, total.value_sum),
        (u64::from(EXPORTS), summary.loops_recorded as f64)
    );
    assert_eq!(sink.stats().decode_errors, 0);
    // Every export found the collector by name, and closed its connection.
    assert!(dns.log().queries.iter().all(|(q, _)| q.name == NAME));
    assert!(dns.log().queries.len() >= EXPORTS as usize);
    let closed = sink.wait_for(Duration::from_secs(5), |s| {
        s.connections_closed == s.connections_accepted
    });
    assert!(closed, "{:?}", sink.stats());
    assert_eq!(sink.stats().connections_accepted, u64::from(EXPORTS));
    assert!(tcp_sockets(PORT).iter().all(|s| s.state == "TIME-WAIT"));
    assert_eq!(tcp_counters()["CurrEstab"], 0);
    println!("tap: done");
}
