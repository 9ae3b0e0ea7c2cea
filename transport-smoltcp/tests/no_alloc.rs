//! 500 exchanges over the in-memory network allocate nothing once warm, the client socket
//! is reused every time, and every socket ends `Closed`/`TimeWait` and reusable. The whole
//! simulated network (devices, server, test client) is built to not allocate after warm-up,
//! so any allocation counted here would come from the transport or smoltcp.
//!
//! Its own test binary (`harness = false`): a counting global allocator sees only this
//! thread's work.

mod common;

use common::*;
use otlp_embedded::time::Clock;
use otlp_embedded_smoltcp::{Blocking, PortWalker, SmolConnection, TcpClient};
use smoltcp::socket::tcp::State;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

type Conn<'c, 'a> = SmolConnection<
    'c,
    'a,
    'static,
    PipeDevice,
    SimClock,
    fn(otlp_embedded::time::Instant, otlp_embedded::time::Instant),
    8,
>;

fn main() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 4, 2024);
    let mut requests = [Vec::new(), Vec::new()];
    request_bytes(100, &mut requests[0]);
    request_bytes(2500, &mut requests[1]);
    let mut response = [0u8; 256];
    let ep = endpoint("10.0.0.2");

    let mut one = |net: &mut Net<PipeDevice>, i: usize| {
        let request = &requests[i % 2];
        let deadline = net.clock.now().add_millis(2_000);
        let r = net.with_blocking(|c| exchange(c, &ep, request, &mut response, deadline));
        assert_eq!(
            r,
            Ok(Exchanged {
                received: OK_RESPONSE.len()
            }),
            "exchange {i}"
        );
        assert_eq!(&response[..OK_RESPONSE.len()], OK_RESPONSE);
        assert!(net.server.last_request == *request, "exchange {i}");
        let st = net.client_state();
        assert!(
            matches!(st, State::Closed | State::TimeWait),
            "exchange {i}: {st:?}"
        );
    };

    for i in 0..20 {
        one(&mut net, i);
    }
    let before = allocations();
    assert!(
        before > 0,
        "the counter sees the set-up's allocations, so it is live"
    );
    let served_before = net.server.served;
    for i in 0..500 {
        one(&mut net, i);
    }
    let allocations = allocations() - before;
    assert_eq!(net.server.served - served_before, 500);
    assert_eq!(allocations, 0, "allocations during 500 exchanges");

    // Let TIME-WAIT expire on both sides: everything is reusable.
    net.settle(11_000);
    assert_eq!(net.client_state(), State::Closed);
    assert!(net.server.states().iter().all(|s| *s == State::Listen));
    assert_eq!(net.device.wire().borrow().overflowed, 0);

    println!(
        "no_alloc: 520 exchanges, 0 allocations in the last 500, simulated {} ms, {} idle calls",
        net.clock.now().as_millis(),
        net.idles
    );
    println!(
        "sizes on {}-bit: TcpClient<8> {} B, PortWalker<8> {} B, Blocking (refs + clock + hook) {} B, connection {} B",
        usize::BITS,
        size_of::<TcpClient<8>>(),
        size_of::<PortWalker<8>>(),
        size_of::<Blocking<'static, 'static, PipeDevice, SimClock>>(),
        size_of::<Conn<'static, 'static>>(),
    );
    println!("1 passed, 0 failed");
}
