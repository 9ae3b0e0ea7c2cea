//! End-to-end exchanges over the in-memory device pair: bytes checked on both ends, error
//! paths (refused, timeouts, resolve, scheme) and the socket's reuse across many exchanges.

mod common;

use common::*;
use embedded_io::ErrorKind;
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, Scheme, TransportError};
use otlp_embedded_smoltcp::{Phase, StaticHosts, EPHEMERAL_FIRST, EPHEMERAL_LAST};
use smoltcp::socket::tcp::State;

fn net() -> Net<PipeDevice> {
    let (a, b) = device_pair();
    Net::new(a, b, 4, 1234)
}

fn run(
    net: &mut Net<PipeDevice>,
    host: &str,
    request: &[u8],
    timeout_ms: u64,
) -> (Result<Exchanged, TransportError>, Vec<u8>) {
    let mut response = vec![0u8; 512];
    let deadline = net.clock.now().add_millis(timeout_ms);
    let ep = endpoint(host);
    let r = net.with_blocking(|c| exchange(c, &ep, request, &mut response, deadline));
    let n = r.map(|e| e.received).unwrap_or(0);
    response.truncate(n);
    (r, response)
}

#[test]
fn one_exchange_carries_exact_bytes_both_ways() {
    let mut net = net();
    let mut request = Vec::new();
    request_bytes(3000, &mut request); // bigger than one segment
    let first_port = net.client.ports().peek();
    assert_eq!(first_port, EPHEMERAL_FIRST + 1234);
    let (r, response) = run(&mut net, "10.0.0.2", &request, 2_000);
    assert_eq!(
        r,
        Ok(Exchanged {
            received: OK_RESPONSE.len()
        })
    );
    assert_eq!(response, OK_RESPONSE);
    assert_eq!(net.server.served, 1);
    assert_eq!(net.server.last_request, request);
    assert_eq!(net.client.phase(), Phase::Closed);
    assert!(
        matches!(net.client_state(), State::Closed | State::TimeWait),
        "{:?}",
        net.client_state()
    );
    assert_eq!(net.client.ports().peek(), first_port + 1);
    assert!(net
        .client
        .ports()
        .recently_used(first_port, net.clock.now()));
}

#[test]
fn ipv6_literal_with_and_without_brackets() {
    let mut net = net();
    let mut request = Vec::new();
    request_bytes(10, &mut request);
    for host in ["fd00::2", "[fd00::2]"] {
        let (r, response) = run(&mut net, host, &request, 2_000);
        assert_eq!(
            r,
            Ok(Exchanged {
                received: OK_RESPONSE.len()
            }),
            "{host}"
        );
        assert_eq!(response, OK_RESPONSE);
        assert_eq!(net.server.last_request, request);
    }
    assert_eq!(net.server.served, 2);
}

#[test]
fn host_name_needs_a_resolver() {
    let mut net = net();
    let mut request = Vec::new();
    request_bytes(5, &mut request);
    let (r, _) = run(&mut net, "collector.local", &request, 1_000);
    assert_eq!(r, Err(TransportError::Resolve));
    assert_eq!(net.client.phase(), Phase::Idle, "nothing was started");
    assert_eq!(net.server.served, 0);

    let table = [("collector.local", SERVER_V4)];
    let deadline = net.clock.now().add_millis(1_000);
    let mut response = [0u8; 128];
    let ep = endpoint("Collector.Local");
    let r = net.with_blocking_resolver(StaticHosts(&table), |c| {
        exchange(c, &ep, &request, &mut response, deadline)
    });
    assert_eq!(
        r,
        Ok(Exchanged {
            received: OK_RESPONSE.len()
        })
    );
    assert_eq!(net.server.last_request, request);
}

#[test]
fn https_is_refused_without_tls() {
    let mut net = net();
    let ep = Endpoint {
        scheme: Scheme::Https,
        ..endpoint("10.0.0.2")
    };
    let deadline = net.clock.now().add_millis(1_000);
    let r = net.with_blocking(|c| {
        c.connect(&ep, deadline)
            .map(|conn| conn.close(CloseMode::Abort))
            .err()
    });
    assert_eq!(r, Some(TransportError::UnsupportedScheme));
}

#[test]
fn closed_port_is_refused() {
    let mut net = net();
    let ep = Endpoint {
        port: 9,
        ..endpoint("10.0.0.2")
    };
    let deadline = net.clock.now().add_millis(1_000);
    let r = net.with_blocking(|c| {
        c.connect(&ep, deadline)
            .map(|conn| conn.close(CloseMode::Abort))
            .err()
    });
    assert_eq!(r, Some(TransportError::Io(ErrorKind::ConnectionRefused)));
    assert!(
        net.clock.now() < deadline,
        "a reset ends the connect before the deadline"
    );
    assert_eq!(net.client.phase(), Phase::Closed);
}

#[test]
fn unreachable_peer_times_out_at_the_deadline() {
    let mut net = net();
    // No route: 10.0.0.9 is on the link but nobody answers (Medium::Ip, no ARP), so SYNs go
    // unanswered until the deadline.
    let start = net.clock.now();
    let deadline = start.add_millis(3_000);
    let r = net.with_blocking(|c| {
        c.connect(&endpoint("10.0.0.9"), deadline)
            .map(|conn| conn.close(CloseMode::Abort))
            .err()
    });
    assert_eq!(r, Some(TransportError::ConnectTimeout));
    let now = net.clock.now();
    assert!(
        now >= deadline && now <= deadline.add_millis(2),
        "ended at {now:?}, deadline {deadline:?}"
    );
    assert_eq!(net.client_state(), State::Closed);
    assert_eq!(net.client.phase(), Phase::Closed);
}

#[test]
fn silent_server_read_times_out_and_connection_is_aborted() {
    let mut net = net();
    net.server.behaviour = Behaviour::Silent;
    let mut request = Vec::new();
    request_bytes(100, &mut request);
    let start = net.clock.now();
    let (r, _) = run(&mut net, "10.0.0.2", &request, 1_500);
    assert_eq!(r, Err(TransportError::Io(ErrorKind::TimedOut)));
    let now = net.clock.now();
    assert!(
        now >= start.add_millis(1_500) && now <= start.add_millis(1_502),
        "{now:?}"
    );
    assert_eq!(net.server.served, 1, "the request itself arrived whole");
    assert_eq!(net.server.last_request, request);
    assert_eq!(net.client_state(), State::Closed);
    // The RST reached the server: its socket is back to listening.
    net.settle(10);
    assert!(
        net.server.states().iter().all(|s| *s == State::Listen),
        "{:?}",
        net.server.states()
    );
}

#[test]
fn graceful_close_gives_up_at_the_deadline_when_the_peer_never_fins() {
    use embedded_io::{Read, Write};
    let mut net = net();
    net.server.behaviour = Behaviour::Silent;
    let mut request = Vec::new();
    request_bytes(0, &mut request);
    let deadline = net.clock.now().add_millis(1_000);
    let (close, state_before) = net.with_blocking(|c| {
        let mut conn = c.connect(&endpoint("10.0.0.2"), deadline).unwrap();
        conn.set_deadline(deadline);
        conn.write_all(&request).unwrap();
        conn.flush().unwrap();
        let mut b = [0u8; 4];
        assert_eq!(conn.read(&mut b), Err(ErrorKind::TimedOut));
        let close_deadline = deadline.add_millis(700);
        conn.set_deadline(close_deadline);
        (conn.close(CloseMode::Graceful), close_deadline)
    });
    assert_eq!(close, Err(TransportError::Io(ErrorKind::TimedOut)));
    let now = net.clock.now();
    assert!(
        now >= state_before && now <= state_before.add_millis(2),
        "{now:?}"
    );
    assert_eq!(net.client_state(), State::Closed);
    assert_eq!(net.client.phase(), Phase::Closed);
}

#[test]
fn dropping_a_connection_aborts_it() {
    let mut net = net();
    let deadline = net.clock.now().add_millis(1_000);
    net.with_blocking(|c| {
        let conn = c.connect(&endpoint("10.0.0.2"), deadline).unwrap();
        drop(conn);
    });
    assert_eq!(net.client_state(), State::Closed);
    net.settle(10);
    assert!(
        net.server.states().iter().all(|s| *s == State::Listen),
        "{:?}",
        net.server.states()
    );
}

#[test]
fn five_hundred_exchanges_reuse_one_socket_with_fresh_ports() {
    let mut net = net();
    let mut request = Vec::new();
    let mut ports = Vec::new();
    for i in 0..500usize {
        request_bytes(i % 1800, &mut request);
        let port = net.client.ports().peek();
        let (r, response) = run(&mut net, "10.0.0.2", &request, 2_000);
        assert_eq!(
            r,
            Ok(Exchanged {
                received: OK_RESPONSE.len()
            }),
            "exchange {i}"
        );
        assert_eq!(response, OK_RESPONSE);
        assert_eq!(net.server.last_request, request, "exchange {i}");
        assert!(
            matches!(net.client_state(), State::Closed | State::TimeWait),
            "exchange {i}: {:?}",
            net.client_state()
        );
        assert_eq!(net.client.phase(), Phase::Closed);
        ports.push(port);
    }
    assert_eq!(net.server.served, 500);
    assert_eq!(net.server.incomplete, 0);
    assert!(ports
        .iter()
        .all(|p| (EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(p)));
    let expected: Vec<u16> = (0..500).map(|i| EPHEMERAL_FIRST + 1234 + i).collect();
    assert_eq!(ports, expected, "ports walk in order from the seed");
    // TIME-WAIT ends on both sides; every server socket listens again.
    net.settle(11_000);
    assert_eq!(net.client_state(), State::Closed);
    assert!(
        net.server.states().iter().all(|s| *s == State::Listen),
        "{:?}",
        net.server.states()
    );
    let wire = net.device.wire();
    assert_eq!(wire.borrow().overflowed, 0);
}

/// A client that stops reading once it has the whole response (as core's HTTP client does
/// with `Content-Length`) closes first and ends in TIME-WAIT; the next connection reuses
/// the socket at once with the next port.
#[test]
fn closing_first_leaves_time_wait_and_the_socket_is_reused_at_once() {
    use embedded_io::{Read, Write};
    let mut net = net();
    net.server.behaviour = Behaviour::AnswerThenWait;
    let mut request = Vec::new();
    request_bytes(42, &mut request);
    for round in 0..3u16 {
        let port = net.client.ports().peek();
        assert_eq!(port, EPHEMERAL_FIRST + 1234 + round);
        let deadline = net.clock.now().add_millis(2_000);
        let (got, close) = net.with_blocking(|c| {
            let mut conn = c.connect(&endpoint("10.0.0.2"), deadline).unwrap();
            conn.set_deadline(deadline);
            assert_eq!(conn.local_port(), Some(port));
            conn.write_all(&request).unwrap();
            let mut got = vec![0u8; OK_RESPONSE.len()];
            conn.read_exact(&mut got).unwrap();
            (got, conn.close(CloseMode::Graceful))
        });
        assert_eq!(got, OK_RESPONSE);
        assert_eq!(close, Ok(()));
        assert_eq!(net.client_state(), State::TimeWait, "round {round}");
        assert_eq!(net.server.last_request, request);
    }
    assert_eq!(net.server.served, 3);
    net.settle(10);
    assert!(
        net.server.states().iter().all(|s| *s == State::Listen),
        "{:?}",
        net.server.states()
    );
}

#[test]
fn a_deadline_already_past_sends_nothing() {
    let mut net = net();
    let port = net.client.ports().peek();
    let deadline = net.clock.now();
    let r = net.with_blocking(|c| {
        c.connect(&endpoint("10.0.0.2"), deadline)
            .map(|conn| conn.close(CloseMode::Abort))
            .err()
    });
    assert_eq!(r, Some(TransportError::ConnectTimeout));
    assert_eq!(net.client.ports().peek(), port, "no port was taken");
    assert_eq!(net.device.wire().borrow().sent, [0, 0], "no frame was sent");
}

/// A consumer that takes the connector by value (as core's `HttpClient<C: Connect, K>`
/// does) over the owned-hook connector from `Net::blocking`.
#[test]
fn connector_by_value_for_clients_that_own_it() {
    struct Owner<C: Connect>(C);
    impl<C: Connect> Owner<C> {
        fn send(
            &mut self,
            request: &[u8],
            response: &mut [u8],
            deadline: otlp_embedded::time::Instant,
        ) -> Result<Exchanged, TransportError> {
            exchange(
                &mut self.0,
                &endpoint("10.0.0.2"),
                request,
                response,
                deadline,
            )
        }
    }
    let mut net = net();
    let mut request = Vec::new();
    request_bytes(64, &mut request);
    let deadline = net.clock.now().add_millis(2_000);
    let mut response = [0u8; 128];
    let mut owner = Owner(net.blocking());
    let first = owner.send(&request, &mut response, deadline);
    let second = owner.send(&request, &mut response, deadline.add_millis(2_000));
    drop(owner);
    assert_eq!(
        first,
        Ok(Exchanged {
            received: OK_RESPONSE.len()
        })
    );
    assert_eq!(
        second,
        Ok(Exchanged {
            received: OK_RESPONSE.len()
        })
    );
    assert_eq!(&response[..OK_RESPONSE.len()], OK_RESPONSE);
    assert_eq!(net.server.served, 2);
    assert_eq!(net.server.last_request, request);
}
