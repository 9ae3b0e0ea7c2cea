//! The poll form driven from a firmware-style superloop: one step per tick, nothing blocks.

mod common;

use common::*;
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{CloseMode, TransportError};
use otlp_embedded_smoltcp::{smol_instant, Phase, EPHEMERAL_FIRST};
use smoltcp::socket::tcp::State;
use smoltcp::wire::IpEndpoint;

enum Job {
    Start,
    Connect,
    Send(usize),
    Flush,
    Recv,
    Close,
    Done(Result<(), TransportError>),
}

#[test]
fn superloop_drives_one_exchange_through_every_phase() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 2, 55);
    let mut request = Vec::new();
    request_bytes(6000, &mut request); // more than the 4 KiB send buffer: several sends
    let mut response = Vec::new();
    let mut phases = vec![net.client.phase()];
    let mut job = Job::Start;
    let mut sends = 0;
    let remote = IpEndpoint::new(SERVER_V4, SERVER_PORT);
    let deadline = Instant(5_000);
    for _tick in 0..10_000 {
        let now = net.clock.now();
        net.iface
            .poll(smol_instant(now), &mut net.device, &mut net.sockets);
        net.server.poll(now);
        let c = &mut net.client;
        let s = &mut net.sockets;
        job = match job {
            Job::Start => {
                c.start_connect(s, remote, deadline);
                Job::Connect
            }
            Job::Connect => match c.poll_connect(&mut net.iface, s, now) {
                Ok(()) => Job::Send(0),
                Err(nb::Error::WouldBlock) => Job::Connect,
                Err(nb::Error::Other(e)) => Job::Done(Err(e)),
            },
            Job::Send(n) if n == request.len() => Job::Flush,
            Job::Send(n) => match c.send(s, &request[n..], now) {
                Ok(k) => {
                    sends += 1;
                    Job::Send(n + k)
                }
                Err(nb::Error::WouldBlock) => Job::Send(n),
                Err(nb::Error::Other(e)) => Job::Done(Err(e)),
            },
            Job::Flush => match c.flush(s, now) {
                Ok(()) => Job::Recv,
                Err(nb::Error::WouldBlock) => Job::Flush,
                Err(nb::Error::Other(e)) => Job::Done(Err(e)),
            },
            Job::Recv => {
                let mut buf = [0u8; 16];
                match c.recv(s, &mut buf, now) {
                    Ok(0) => {
                        c.start_close(s, CloseMode::Graceful, now.add_millis(1_000));
                        Job::Close
                    }
                    Ok(n) => {
                        response.extend_from_slice(&buf[..n]);
                        Job::Recv
                    }
                    Err(nb::Error::WouldBlock) => Job::Recv,
                    Err(nb::Error::Other(e)) => Job::Done(Err(e)),
                }
            }
            Job::Close => match c.poll_close(s, now) {
                Ok(()) => Job::Done(Ok(())),
                Err(nb::Error::WouldBlock) => Job::Close,
                Err(nb::Error::Other(e)) => Job::Done(Err(e)),
            },
            done @ Job::Done(_) => done,
        };
        if phases.last() != Some(&net.client.phase()) {
            phases.push(net.client.phase());
        }
        if matches!(job, Job::Done(_)) {
            break;
        }
        net.clock.advance(1);
    }
    assert!(
        matches!(job, Job::Done(Ok(()))),
        "superloop did not finish cleanly"
    );
    assert_eq!(
        phases,
        [
            Phase::Idle,
            Phase::Connecting,
            Phase::Established,
            Phase::Closing,
            Phase::Closed
        ]
    );
    assert!(
        sends >= 2,
        "a 6000-byte request needs several sends into a 4 KiB buffer"
    );
    assert_eq!(response, OK_RESPONSE);
    assert_eq!(net.server.last_request, request);
    assert!(matches!(
        net.client_state(),
        State::Closed | State::TimeWait
    ));
    assert!(net.clock.now() < deadline);
}

#[test]
fn steps_out_of_order_are_errors_not_hangs() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 1, 0);
    let now = net.clock.now();
    let mut buf = [0u8; 4];
    let not_connected = nb::Error::Other(TransportError::Io(embedded_io::ErrorKind::NotConnected));
    assert_eq!(
        net.client.send(&mut net.sockets, b"x", now),
        Err(not_connected)
    );
    assert_eq!(
        net.client.recv(&mut net.sockets, &mut buf, now),
        Err(not_connected)
    );
    assert_eq!(
        net.client
            .poll_connect(&mut net.iface, &mut net.sockets, now),
        Err(not_connected)
    );
    // Closing what never opened is a no-op.
    net.client
        .start_close(&mut net.sockets, CloseMode::Graceful, now);
    assert_eq!(net.client.poll_close(&mut net.sockets, now), Ok(()));
    assert_eq!(net.client.phase(), Phase::Idle);
}

#[test]
fn connects_faster_than_the_port_rule_wait_then_report_exhausted_at_the_deadline() {
    let (a, b) = device_pair();
    let mut net = Net::new(a, b, 1, 0);
    let remote = IpEndpoint::new(SERVER_V4, SERVER_PORT);
    let now = Instant(10);
    // Eight connects at the same instant take eight ports (the ring's burst)...
    for i in 0..8u16 {
        net.client
            .start_connect(&mut net.sockets, remote, now.add_millis(100));
        assert_eq!(
            net.client
                .poll_connect(&mut net.iface, &mut net.sockets, now),
            Err(nb::Error::WouldBlock)
        );
        let local = net
            .sockets
            .get::<smoltcp::socket::tcp::Socket>(net.client.handle())
            .local_endpoint()
            .map(|e| e.port);
        assert_eq!(local, Some(EPHEMERAL_FIRST + i));
        net.client.abort(&mut net.sockets);
    }
    // ...the ninth waits for the pacing window, then fails at its deadline.
    net.client
        .start_connect(&mut net.sockets, remote, now.add_millis(20));
    assert_eq!(
        net.client
            .poll_connect(&mut net.iface, &mut net.sockets, now.add_millis(19)),
        Err(nb::Error::WouldBlock)
    );
    assert_eq!(net.client.phase(), Phase::Connecting);
    assert_eq!(
        net.client
            .poll_connect(&mut net.iface, &mut net.sockets, now.add_millis(20)),
        Err(nb::Error::Other(TransportError::Exhausted))
    );
    assert_eq!(net.client.phase(), Phase::Closed);
    // Past the pacing window the next connect gets the next port.
    net.client
        .start_connect(&mut net.sockets, remote, now.add_millis(1_000));
    assert_eq!(
        net.client.poll_connect(
            &mut net.iface,
            &mut net.sockets,
            net.client.ports().ready_at()
        ),
        Err(nb::Error::WouldBlock)
    );
    assert_eq!(net.client.phase(), Phase::Connecting);
    assert_eq!(net.client.ports().peek(), EPHEMERAL_FIRST + 9);
}
