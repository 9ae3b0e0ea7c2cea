//! Two embassy-net stacks in one embassy executor, joined by an in-memory Ethernet link that
//! loses and corrupts frames (checksums on): the client exchanges OTLP/HTTP requests over
//! `EmbassyConnector` with a small HTTP peer on the other stack.
//!
//! - Over a link losing 5% of frames and corrupting 3%: every request body arrives byte for
//!   byte, every response is read whole, every connection closes gracefully on both sides
//!   (each side reads the other's FIN), and the faults really happened.
//! - Every wait ends by its deadline: a peer that never answers, one that trickles, a port
//!   nobody listens on, an address nobody has, a peer that never sends its FIN; each ends
//!   with its own error, and the peer sees the RST of each abort.
//! - A connection dropped without a close (a cancelled future) still reaches the peer as a
//!   reset, and the next connection works.
//!
//! Addresses 10.0.0.1 (client) and 10.0.0.2 (peer) exist only on the in-memory link: no
//! frame reaches a kernel.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::http::{exchange, Exchanged};
use common::link::{memory_link, Faults, Link};
use embassy_futures::join::join;
use embassy_futures::select::{select, Either};
use embassy_net::tcp::{State, TcpSocket};
use embassy_net::{Ipv4Address, Stack};
use embassy_time::Timer;
use embedded_io_async::{ErrorKind, Write};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{
    CloseMode, Endpoint, ExchangeError, HttpRequest, Scheme, Stage, TransportError,
};
use otlp_embedded_embassy::{EmbassyClock, EmbassyConnector};

const CLIENT: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const PEER: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const PORT: u16 = 4318;

/// How the peer treats one connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Behaviour {
    /// Read the request, answer 200 with this many body bytes, close, read until the
    /// client's FIN.
    Answer(usize),
    /// Read the request and never answer; read until the connection ends.
    Silent,
    /// Answer 200 one byte every this many milliseconds.
    Trickle(u64),
    /// Answer 200 with no body and never close; read until the connection ends.
    NoFin,
}

/// How a connection ended, seen from the peer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PeerEnd {
    /// The client's FIN arrived (read returned 0) and our FIN, if sent, was acknowledged.
    Fin,
    /// The client reset the connection.
    Reset,
}

/// What the peer saw on one connection.
#[derive(Clone, Debug)]
struct PeerRecord {
    head: String,
    body: Vec<u8>,
    end: PeerEnd,
}

/// The peer's records, and how many connections it has started to accept.
#[derive(Default)]
struct PeerLog {
    accepting: Cell<usize>,
    records: RefCell<Vec<PeerRecord>>,
}

/// The response body the peer sends for a body of `len` bytes.
fn answer_body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// The request body of exchange `k`, `len` bytes.
fn request_body(k: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + k * 17) as u8).collect()
}

/// Read one request head and its `Content-Length` body from `socket`, `None` when the
/// connection ends first.
async fn read_request(socket: &mut TcpSocket<'_>) -> Option<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 512];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a Content-Length header");
    while data.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, data[head_end..].to_vec()))
}

/// Read and discard until the connection ends: `Fin` at the client's FIN, `Reset` at a
/// reset.
async fn read_to_end(socket: &mut TcpSocket<'_>) -> PeerEnd {
    let mut chunk = [0u8; 512];
    loop {
        match socket.read(&mut chunk).await {
            Ok(0) => return PeerEnd::Fin,
            Ok(_) => {}
            Err(_) => return PeerEnd::Reset,
        }
    }
}

/// Serve one connection per entry of `script`, in order, on port 4318 of `stack`.
async fn peer(stack: Stack<'static>, script: Vec<Behaviour>, log: Rc<PeerLog>) {
    let (mut rx, mut tx) = ([0u8; 2048], [0u8; 2048]);
    let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
    for (k, behaviour) in script.into_iter().enumerate() {
        // Set before the accept is first polled (which listens), in the same poll.
        log.accepting.set(k + 1);
        socket.accept(PORT).await.expect("accept");
        let Some((head, body)) = read_request(&mut socket).await else {
            log.records.borrow_mut().push(PeerRecord {
                head: String::new(),
                body: Vec::new(),
                end: PeerEnd::Reset,
            });
            socket.abort();
            let _ = socket.flush().await;
            continue;
        };
        let end = match behaviour {
            Behaviour::Answer(len) => {
                let response = [
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: {len}\r\n\r\n"
                    )
                    .into_bytes(),
                    answer_body(len),
                ]
                .concat();
                match socket.write_all(&response).await {
                    Ok(()) => {
                        socket.close();
                        let end = read_to_end(&mut socket).await;
                        // Our FIN acknowledged (or the connection gone).
                        let _ = socket.flush().await;
                        end
                    }
                    Err(_) => PeerEnd::Reset,
                }
            }
            Behaviour::Silent => read_to_end(&mut socket).await,
            Behaviour::Trickle(gap_ms) => {
                let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                let mut end = PeerEnd::Fin;
                for byte in response {
                    if socket.write_all(&[*byte]).await.is_err() {
                        end = PeerEnd::Reset;
                        break;
                    }
                    // Either the next byte is due or the client gave up.
                    match select(Timer::after_millis(gap_ms), socket.wait_read_ready()).await {
                        Either::First(()) => {}
                        Either::Second(()) => {}
                    }
                    if socket.state() == State::Closed {
                        end = PeerEnd::Reset;
                        break;
                    }
                }
                if end == PeerEnd::Fin {
                    end = read_to_end(&mut socket).await;
                }
                end
            }
            Behaviour::NoFin => {
                let response = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                let _ = socket.write_all(response).await;
                match read_to_end(&mut socket).await {
                    // The client's FIN: hold ours back until the client gives up.
                    PeerEnd::Fin => {
                        while socket.state() != State::Closed {
                            Timer::after_millis(5).await;
                        }
                        PeerEnd::Reset
                    }
                    PeerEnd::Reset => PeerEnd::Reset,
                }
            }
        };
        if !matches!(socket.state(), State::Closed | State::TimeWait) {
            socket.abort();
            let _ = socket.flush().await;
        }
        log.records
            .borrow_mut()
            .push(PeerRecord { head, body, end });
    }
}

/// The client and peer stacks over one link, their runners running while `work` runs.
async fn with_link<F, Fut>(faults: Faults, script: Vec<Behaviour>, work: F) -> (Rc<PeerLog>, Link)
where
    F: FnOnce(Stack<'static>, Rc<PeerLog>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (client_dev, peer_dev, link) = memory_link(faults);
    let (client, mut client_runner) =
        common::stack(client_dev, common::ipv4_config(CLIENT, &[]), 0x5eed_0001);
    let (peer_stack, mut peer_runner) =
        common::stack(peer_dev, common::ipv4_config(PEER, &[]), 0x5eed_0002);
    let log = Rc::new(PeerLog::default());
    let runners = join(client_runner.run(), peer_runner.run());
    let both = join(
        peer(peer_stack, script, Rc::clone(&log)),
        work(client, Rc::clone(&log)),
    );
    match select(runners, both).await {
        Either::First(_) => unreachable!("runners never return"),
        Either::Second(((), ())) => {}
    }
    (log, link)
}

/// Wait until the peer listens for its connection number `n` (counting from 1).
async fn peer_listening(log: &PeerLog, n: usize) {
    while log.accepting.get() < n {
        Timer::after_millis(1).await;
    }
}

fn endpoint(host: &'static str, port: u16) -> Endpoint<'static> {
    Endpoint::new(Scheme::Http, host, port, "/v1/metrics")
}

#[test]
fn requests_arrive_exactly_over_a_lossy_corrupting_link() {
    // Request body sizes: empty-ish, one segment, several segments, more than the socket's
    // send buffer several times over.
    const SIZES: [usize; 6] = [1, 700, 1460, 3000, 9000, 20_000];
    const ANSWERS: [usize; 6] = [0, 16, 200, 1000, 5, 3000];
    let faults = Faults {
        loss_per_mille: 50,
        corrupt_per_mille: 30,
        seed: 0x0dd_c0ffee,
    };
    let script = ANSWERS.iter().map(|&n| Behaviour::Answer(n)).collect();
    let outcomes: Rc<RefCell<Vec<Exchanged>>> = Rc::default();
    let seen = Rc::clone(&outcomes);
    let (log, link) = common::run(Duration::from_secs(240), async move {
        with_link(faults, script, |client, log| async move {
            let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
            let mut connector = EmbassyConnector::new(client, &mut rx, &mut tx);
            let target = endpoint("10.0.0.2", PORT);
            for (k, &size) in SIZES.iter().enumerate() {
                peer_listening(&log, k + 1).await;
                let body = request_body(k, size);
                let deadline = EmbassyClock.now().add_millis(60_000);
                let request = HttpRequest::new(&target, &body, deadline);
                let mut answer = [0u8; 4096];
                let exchanged = exchange(&mut connector, &request, &mut answer).await;
                if let Ok(response) = &exchanged.result {
                    assert_eq!(
                        &answer[..response.body_len],
                        &answer_body(ANSWERS[k])[..],
                        "response body {k}"
                    );
                }
                assert!(
                    matches!(connector.socket_state(), State::TimeWait | State::Closed),
                    "socket after exchange {k}: {:?}",
                    connector.socket_state()
                );
                seen.borrow_mut().push(exchanged);
            }
        })
        .await
    });
    let outcomes = outcomes.borrow();
    assert_eq!(outcomes.len(), SIZES.len());
    for (k, exchanged) in outcomes.iter().enumerate() {
        let response = exchanged.result.as_ref().expect("every exchange succeeds");
        assert_eq!(
            (response.status, response.body_len, response.body_truncated),
            (200, ANSWERS[k], false),
            "exchange {k}"
        );
        assert_eq!(
            exchanged.close,
            Some((CloseMode::Graceful, Ok(()))),
            "exchange {k}"
        );
        assert!(response.bytes_sent > SIZES[k], "exchange {k}");
    }
    let records = log.records.borrow();
    assert_eq!(records.len(), SIZES.len());
    for (k, record) in records.iter().enumerate() {
        assert_eq!(record.body, request_body(k, SIZES[k]), "request body {k}");
        assert!(
            record
                .head
                .starts_with("POST /v1/metrics HTTP/1.1\r\nHost: 10.0.0.2:4318\r\n"),
            "{}",
            record.head
        );
        assert!(record
            .head
            .contains(&format!("Content-Length: {}\r\n", SIZES[k])));
        assert!(record.head.contains("Connection: close\r\n"));
        // The client's FIN reached the peer every time.
        assert_eq!(record.end, PeerEnd::Fin, "connection {k}");
    }
    // Each connection had its own local port.
    let mut ports: Vec<u16> = outcomes.iter().filter_map(|e| e.local_port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), SIZES.len());
    let stats = link.stats();
    println!("link: {stats:?}");
    assert!(stats.lost > 0 && stats.corrupted > 0, "{stats:?}");
}

#[test]
fn every_wait_ends_at_its_deadline_and_every_abort_reaches_the_peer() {
    let faults = Faults {
        loss_per_mille: 0,
        corrupt_per_mille: 0,
        seed: 1,
    };
    let script = vec![
        Behaviour::Silent,
        Behaviour::Trickle(300),
        Behaviour::NoFin,
        Behaviour::Answer(4),
    ];
    type Timed = (Exchanged, u64);
    let outcomes: Rc<RefCell<Vec<Timed>>> = Rc::default();
    let seen = Rc::clone(&outcomes);
    let (log, _link) = common::run(Duration::from_secs(60), async move {
        with_link(faults, script, |client, log| async move {
            let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
            let mut connector = EmbassyConnector::new(client, &mut rx, &mut tx);
            let target = endpoint("10.0.0.2", PORT);
            let body = request_body(0, 100);
            let mut answer = [0u8; 256];
            for k in 0..4 {
                peer_listening(&log, k + 1).await;
                let started = EmbassyClock.now();
                let request = HttpRequest::new(&target, &body, started.add_millis(1_500));
                let exchanged = exchange(&mut connector, &request, &mut answer).await;
                let took = started.millis_until(EmbassyClock.now());
                // Whatever happened, the connection is over when the exchange returns: a
                // close cut short at the deadline must not leave a half-closed socket.
                assert!(
                    matches!(connector.socket_state(), State::Closed | State::TimeWait),
                    "socket after exchange {k}: {:?}",
                    connector.socket_state()
                );
                seen.borrow_mut().push((exchanged, took));
            }
            // Nobody listens on port 9 of the peer: refused at once, not at the deadline.
            let started = EmbassyClock.now();
            let closed_port = endpoint("10.0.0.2", 9);
            let refused = connector
                .connect(&closed_port, started.add_millis(5_000))
                .await
                .err();
            assert_eq!(
                refused,
                Some(TransportError::Io(ErrorKind::ConnectionRefused))
            );
            assert!(started.millis_until(EmbassyClock.now()) < 2_000);
            // Nobody has 10.0.0.3: the neighbour lookup and SYN go unanswered until the
            // deadline.
            let started = EmbassyClock.now();
            let nobody = endpoint("10.0.0.3", PORT);
            let missing = connector
                .connect(&nobody, started.add_millis(800))
                .await
                .err();
            assert_eq!(missing, Some(TransportError::ConnectTimeout));
            let took = started.millis_until(EmbassyClock.now());
            assert!((800..1_800).contains(&took), "{took} ms");
            assert!(matches!(
                connector.socket_state(),
                State::Closed | State::TimeWait
            ));
        })
        .await
    });
    let outcomes = outcomes.borrow();
    let expect = [
        // Silent: the status line never comes.
        Err(ExchangeError::Timeout(Stage::StatusLine)),
        // Trickle: 39 bytes at one per 300 ms cannot arrive in 1.5 s.
        Err(ExchangeError::Timeout(Stage::StatusLine)),
        Ok(200),
        Ok(200),
    ];
    for (k, ((exchanged, took), expected)) in outcomes.iter().zip(expect).enumerate() {
        assert_eq!(
            exchanged.result.as_ref().map(|r| r.status).map_err(|e| *e),
            expected,
            "exchange {k}"
        );
        if expected.is_err() {
            // Ended by the 1.5 s deadline, plus at most the abort's grace and scheduling.
            assert!((1_500..2_500).contains(took), "exchange {k}: {took} ms");
            // Core asks for the abort after the deadline and gives it no time: the RST is
            // queued at once, and the close either finished (`Ok`) or was dropped.
            assert_eq!(exchanged.close_mode, Some(CloseMode::Abort), "exchange {k}");
            assert!(
                matches!(exchanged.close, None | Some((CloseMode::Abort, Ok(())))),
                "exchange {k}: {:?}",
                exchanged.close
            );
        }
    }
    // NoFin: the response is complete, but the peer never closes: the graceful close
    // waits for its FIN until the deadline, where core drops it and the connection's drop
    // aborts (the peer's RST below).
    assert_eq!(outcomes[2].0.close_mode, Some(CloseMode::Graceful));
    assert_eq!(outcomes[2].0.close, None);
    assert!(
        (1_500..2_500).contains(&outcomes[2].1),
        "{} ms",
        outcomes[2].1
    );
    assert_eq!(outcomes[3].0.close, Some((CloseMode::Graceful, Ok(()))));
    let ends: Vec<PeerEnd> = log.records.borrow().iter().map(|r| r.end).collect();
    // Every abort reached the peer as a reset; the last connection closed with FINs.
    assert_eq!(
        ends,
        [PeerEnd::Reset, PeerEnd::Reset, PeerEnd::Reset, PeerEnd::Fin]
    );
}

#[test]
fn a_connection_dropped_without_close_is_reset_and_the_next_one_works() {
    let faults = Faults {
        loss_per_mille: 0,
        corrupt_per_mille: 0,
        seed: 2,
    };
    let script = vec![Behaviour::Silent, Behaviour::NoFin, Behaviour::Answer(3)];
    let last: Rc<RefCell<Option<Exchanged>>> = Rc::default();
    let seen = Rc::clone(&last);
    let (log, _link) = common::run(Duration::from_secs(30), async move {
        with_link(faults, script, |client, log| async move {
            let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
            let mut connector = EmbassyConnector::new(client, &mut rx, &mut tx);
            let target = endpoint("10.0.0.2", PORT);
            peer_listening(&log, 1).await;
            let deadline = EmbassyClock.now().add_millis(5_000);
            {
                let mut conn = connector.connect(&target, deadline).await.expect("connect");
                let head = "POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
                conn.write_all(head.as_bytes()).await.expect("write");
                conn.flush().await.expect("acknowledged");
                // The export future is cancelled here: no close.
            }
            // A graceful close cancelled while it waits for the peer's FIN (a task's
            // `select` gave up on it): the connection must end in a reset now, not stay
            // half-closed until the next connect.
            peer_listening(&log, 2).await;
            {
                let mut conn = connector.connect(&target, deadline).await.expect("connect");
                let head = "POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ndef";
                conn.write_all(head.as_bytes()).await.expect("write");
                conn.flush().await.expect("acknowledged");
                let cut = select(conn.close(CloseMode::Graceful), Timer::after_millis(300)).await;
                assert!(
                    matches!(cut, Either::Second(())),
                    "the peer holds its FIN back"
                );
            }
            assert_eq!(connector.socket_state(), State::Closed);
            peer_listening(&log, 3).await;
            let body = request_body(1, 50);
            let request = HttpRequest::new(&target, &body, EmbassyClock.now().add_millis(5_000));
            let mut answer = [0u8; 256];
            *seen.borrow_mut() = Some(exchange(&mut connector, &request, &mut answer).await);
        })
        .await
    });
    let last = last.borrow();
    let exchanged = last.as_ref().expect("second exchange ran");
    assert_eq!(exchanged.result.as_ref().map(|r| r.status), Ok(200));
    assert_eq!(exchanged.close, Some((CloseMode::Graceful, Ok(()))));
    let records = log.records.borrow();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].body, b"abc");
    assert_eq!(records[1].body, b"def");
    assert_eq!(
        (records[0].end, records[1].end, records[2].end),
        (PeerEnd::Reset, PeerEnd::Reset, PeerEnd::Fin)
    );
    assert_eq!(records[2].body, request_body(1, 50));
}
