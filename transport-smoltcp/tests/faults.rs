//! Exchanges over a link that drops and corrupts frames (smoltcp's seeded `FaultInjector`
//! on both ends): each exchange either delivers exact bytes both ways or fails with a
//! timeout by its deadline; none hangs (the idle hook caps every exchange).

mod common;

use common::*;
use embedded_io::ErrorKind;
use otlp_embedded::time::Clock;
use otlp_embedded::transport::TransportError;
use smoltcp::phy::FaultInjector;
use smoltcp::socket::tcp::State;

fn faulty(drop_pct: u8, corrupt_pct: u8, seed: u32) -> Net<FaultInjector<PipeDevice>> {
    faulty_pair(device_pair(), drop_pct, corrupt_pct, seed)
}

fn faulty_pair(
    (a, b): (PipeDevice, PipeDevice),
    drop_pct: u8,
    corrupt_pct: u8,
    seed: u32,
) -> Net<FaultInjector<PipeDevice>> {
    // Every frame, in either direction, meets each chance once: the client's injector drops
    // on send and on receive; corruption is set on both receivers, since smoltcp 0.14's
    // injector flips its transmit-side bit before the stack writes the frame (so a
    // transmit-side corruption is overwritten and has no effect).
    let mut a = FaultInjector::new(a, seed);
    a.set_drop_chance(drop_pct);
    a.set_corrupt_chance(corrupt_pct);
    let mut b = FaultInjector::new(b, seed.wrapping_mul(7919).wrapping_add(1));
    b.set_corrupt_chance(corrupt_pct);
    let mut net = Net::new(a, b, 4, 777);
    // Each exchange may take at most 20 s of simulated time (20 000 idle calls of 1 ms);
    // the cap is a hang detector far above that.
    net.idle_cap = 100_000;
    net
}

struct Tally {
    ok: u32,
    timed_out: u32,
}

fn run_many(net: &mut Net<FaultInjector<PipeDevice>>, count: usize, timeout_ms: u64) -> Tally {
    let mut tally = Tally {
        ok: 0,
        timed_out: 0,
    };
    let mut request = Vec::new();
    let mut response = vec![0u8; 512];
    for i in 0..count {
        request_bytes(200 + (i * 37) % 3000, &mut request);
        let served_before = net.server.served;
        let deadline = net.clock.now().add_millis(timeout_ms);
        let ep = endpoint("10.0.0.2");
        let r = net.with_blocking(|c| exchange(c, &ep, &request, &mut response, deadline));
        let now = net.clock.now();
        // Every step ends by its deadline (plus one idle step of 1 ms).
        assert!(
            now <= deadline.add_millis(1),
            "exchange {i} ended at {now:?}, deadline {deadline:?}"
        );
        match r {
            Ok(e) => {
                assert_eq!(&response[..e.received], OK_RESPONSE, "exchange {i}");
                assert_eq!(net.server.served, served_before + 1, "exchange {i}");
                assert_eq!(net.server.last_request, request, "exchange {i}");
                tally.ok += 1;
            }
            Err(TransportError::ConnectTimeout) | Err(TransportError::Io(ErrorKind::TimedOut)) => {
                tally.timed_out += 1;
            }
            Err(other) => panic!(
                "exchange {i}: unexpected error {other:?}; server sockets {:?}, now {:?}",
                net.server.states(),
                net.clock.now()
            ),
        }
        assert!(
            matches!(net.client_state(), State::Closed | State::TimeWait),
            "exchange {i}: {:?}",
            net.client_state()
        );
    }
    tally
}

#[test]
fn ten_percent_drop_and_corruption() {
    let mut net = faulty(10, 10, 0x1234_5678);
    let t = run_many(&mut net, 60, 20_000);
    eprintln!(
        "10 % drop + 10 % corrupt: {} ok, {} timed out, {} idle ms",
        t.ok, t.timed_out, net.idles
    );
    assert_eq!(t.ok + t.timed_out, 60);
    // TCP retransmits through 10 % loss well within 20 s; most exchanges get through.
    assert!(t.ok >= 50, "only {} of 60 succeeded", t.ok);
    // Corrupted frames were rejected by checksums, never delivered as data: every
    // successful exchange above compared its bytes exactly.
    net.settle(12_000);
    assert!(
        net.server.states().iter().all(|s| *s == State::Listen),
        "{:?}",
        net.server.states()
    );
}

#[test]
fn heavy_loss_fails_by_the_deadline_without_hanging() {
    let mut net = faulty(30, 10, 42);
    let t = run_many(&mut net, 30, 4_000);
    eprintln!(
        "30 % drop + 10 % corrupt: {} ok, {} timed out",
        t.ok, t.timed_out
    );
    assert_eq!(t.ok + t.timed_out, 30);
    // This seed gives both outcomes: exact delivery and timeouts at the deadline.
    assert!(
        t.timed_out > 0,
        "at 30 % loss and 4 s some exchanges must time out"
    );
    assert!(
        t.ok > 0,
        "at 30 % loss and 4 s some exchanges still get through"
    );
}

#[test]
fn total_loss_is_a_connect_timeout() {
    let mut net = faulty(100, 0, 9);
    let mut response = [0u8; 64];
    let deadline = net.clock.now().add_millis(2_500);
    let ep = endpoint("10.0.0.2");
    let r =
        net.with_blocking(|c| exchange(c, &ep, b"GET / HTTP/1.1\r\n\r\n", &mut response, deadline));
    assert_eq!(r, Err(TransportError::ConnectTimeout));
    assert!(net.clock.now() >= deadline);
    assert_eq!(net.server.served, 0);
}

/// Every frame has one bit flipped. With checksums checked (the pair's capabilities) no
/// frame is accepted, so the connect times out; the control run with checksums reported as
/// ignored (what `Loopback` does) shows that a corrupted frame would otherwise be taken, which
/// is why the pair must check them.
#[test]
fn corrupted_frames_are_rejected_by_checksums() {
    let deadline_ms = 2_000;
    let attempt = |ignore: bool| {
        let (mut a, mut b) = device_pair();
        a.ignore_checksums = ignore;
        b.ignore_checksums = ignore;
        let mut net = faulty_pair((a, b), 0, 100, 5);
        let mut response = [0u8; 64];
        let ep = endpoint("10.0.0.2");
        for _ in 0..20 {
            let deadline = net.clock.now().add_millis(deadline_ms);
            let r = net.with_blocking(|c| {
                exchange(c, &ep, b"GET / HTTP/1.1\r\n\r\n", &mut response, deadline)
            });
            if !ignore {
                assert_eq!(r, Err(TransportError::ConnectTimeout));
            }
        }
        (net.server.accepted, net.server.served)
    };
    assert_eq!(
        attempt(false),
        (0, 0),
        "checksums checked: no SYN ever accepted"
    );
    let (accepted, _) = attempt(true);
    assert!(
        accepted > 0,
        "control: with checksums ignored, corrupted SYNs are accepted"
    );
}
