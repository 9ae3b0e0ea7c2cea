//! TcpConnector against local std listeners: data both ways, FIN on graceful close, RST on
//! abort, refused ports, silent servers, names that do not resolve.

use std::io::{ErrorKind as StdKind, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use std::net::{IpAddr, Ipv4Addr};

use embedded_io::{ErrorKind, Read as _, Write as _};
use otlp_embedded::time::{Clock, Instant};
use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Resolve, Scheme, TransportError,
};
use otlp_embedded_std::{StdClock, TcpConnector};

fn endpoint(host: &str, port: u16) -> Endpoint<'_> {
    Endpoint {
        scheme: Scheme::Http,
        host,
        port,
        path: "/v1/metrics",
    }
}

#[test]
fn writes_reads_and_graceful_close_sends_fin() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).unwrap();
        s.write_all(b"world").unwrap();
        // After the client's FIN, read returns 0: that is what "sends FIN" means here.
        let mut rest = Vec::new();
        let n = s.read_to_end(&mut rest).unwrap();
        (got, n)
    });

    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let deadline = clock.now().add_millis(10_000);
    let mut conn = connector
        .connect(&endpoint("127.0.0.1", port), deadline)
        .unwrap();
    assert!(conn.stream().nodelay().unwrap(), "TCP_NODELAY is set");
    conn.set_deadline(deadline);
    conn.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"world");
    conn.close(CloseMode::Graceful).unwrap();

    let (got, trailing) = server.join().unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(trailing, 0, "server saw EOF right after the request bytes");
}

#[test]
fn graceful_close_waits_for_the_peers_fin_and_drains() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        let n = s.read_to_end(&mut rest).unwrap(); // until the client's FIN
                                                   // Bytes the client never asked for, then our FIN: the drain discards them.
        s.write_all(b"late bytes").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        n
    });
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let deadline = clock.now().add_millis(10_000);
    let conn = connector
        .connect(&endpoint("127.0.0.1", port), deadline)
        .unwrap();
    conn.close(CloseMode::Graceful).unwrap();
    assert_eq!(server.join().unwrap(), 0);
}

#[test]
fn abort_close_resets_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let deadline = clock.now().add_millis(10_000);
    let conn = connector
        .connect(&endpoint("127.0.0.1", port), deadline)
        .unwrap();
    let (mut server_side, _) = listener.accept().unwrap();
    conn.close(CloseMode::Abort).unwrap();
    server_side
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = server_side.read(&mut buf).unwrap_err();
    assert_eq!(err.kind(), StdKind::ConnectionReset);
}

#[test]
fn closed_port_is_refused() {
    // Bind then drop to find a port nobody listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let err = connector
        .connect(&endpoint("127.0.0.1", port), clock.now().add_millis(5_000))
        .unwrap_err();
    assert_eq!(err, TransportError::Io(ErrorKind::ConnectionRefused));
}

#[test]
fn silent_server_times_out_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let deadline = clock.now().add_millis(300);
    let mut conn = connector
        .connect(&endpoint("127.0.0.1", port), deadline)
        .unwrap();
    let _accepted = listener.accept().unwrap(); // accepted, never answers
    conn.set_deadline(deadline);
    conn.write_all(b"POST / HTTP/1.1\r\n\r\n").unwrap();
    let started = StdInstant::now();
    let mut buf = [0u8; 64];
    let err = conn.read(&mut buf).unwrap_err();
    assert_eq!(embedded_io::Error::kind(&err), ErrorKind::TimedOut);
    assert_eq!(conn.classify(&err), TransportError::Io(ErrorKind::TimedOut));
    // Loose bound only: it ended, and not long after the deadline.
    assert!(started.elapsed() < Duration::from_secs(10));

    // Once the deadline has passed, reads and writes fail at once instead of blocking.
    let err = conn.read(&mut buf).unwrap_err();
    assert_eq!(embedded_io::Error::kind(&err), ErrorKind::TimedOut);
    let err = conn.write(b"x").unwrap_err();
    assert_eq!(embedded_io::Error::kind(&err), ErrorKind::TimedOut);
    conn.close(CloseMode::Abort).unwrap();
}

#[test]
fn elapsed_deadline_fails_connect_without_blocking() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let err = connector
        .connect(
            &endpoint("127.0.0.1", port),
            otlp_embedded::time::Instant(0),
        )
        .unwrap_err();
    assert_eq!(err, TransportError::ConnectTimeout);
}

#[test]
fn unresolvable_names_are_resolve_errors() {
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let deadline = clock.now().add_millis(5_000);
    // Characters no host name may hold: glibc refuses it before any query. (On this machine
    // `nonexistent.invalid` is sent to the configured DNS server, as strace shows, so it
    // would take the test off the loopback.)
    let err = connector
        .connect(&endpoint("no such host!", 4318), deadline)
        .unwrap_err();
    assert_eq!(err, TransportError::Resolve);
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A resolver answering `collector.test` with the loopback address, after `delay`.
#[derive(Clone)]
struct SlowResolver {
    delay: Duration,
}

impl Resolve for SlowResolver {
    type Addresses = Vec<IpAddr>;
    fn resolve(
        &mut self,
        host: &str,
        _: &mut (),
        _: Instant,
    ) -> Result<Vec<IpAddr>, TransportError> {
        assert_eq!(host, "collector.test");
        thread::sleep(self.delay);
        Ok(vec![LOOPBACK])
    }
}

fn slow_resolver(delay: Duration) -> SlowResolver {
    SlowResolver { delay }
}

/// A resolver held by a gate until the test opens it.
#[derive(Clone)]
struct GatedResolver(Arc<(Mutex<bool>, Condvar)>);

impl Resolve for GatedResolver {
    type Addresses = Vec<IpAddr>;
    fn resolve(
        &mut self,
        host: &str,
        _: &mut (),
        _: Instant,
    ) -> Result<Vec<IpAddr>, TransportError> {
        assert_eq!(host, "collector.test");
        let (open, opened) = &*self.0;
        // Hang guard only: the test opens the gate long before this.
        let guard = opened
            .wait_timeout_while(open.lock().unwrap(), Duration::from_secs(30), |o| !*o)
            .unwrap()
            .0;
        drop(guard);
        Ok(vec![LOOPBACK])
    }
}

/// A resolver with a bug: it panics.
#[derive(Clone)]
struct PanickingResolver;

impl Resolve for PanickingResolver {
    type Addresses = Vec<IpAddr>;
    fn resolve(&mut self, _: &str, _: &mut (), _: Instant) -> Result<Vec<IpAddr>, TransportError> {
        panic!("resolver bug")
    }
}

#[test]
fn names_resolve_through_the_given_resolver() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock).with_resolver(slow_resolver(Duration::ZERO));
    let mut conn = connector
        .connect(
            &endpoint("collector.test", port),
            clock.now().add_millis(5_000),
        )
        .unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    conn.write_all(b"ping").unwrap();
    conn.flush().unwrap();
    let mut got = [0u8; 4];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    conn.close(CloseMode::Abort).unwrap();
}

/// A resolver that never answers in time ends the connect at its deadline, and stalled
/// resolutions are capped: past the cap a connect fails at once without a new thread.
/// The resolver is held by a gate rather than a sleep, so no step depends on timing.
#[test]
fn stalled_resolver_ends_at_the_deadline_and_is_capped() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let mut connector = TcpConnector::new(clock).with_resolver(GatedResolver(Arc::clone(&gate)));
    for _ in 0..otlp_embedded_std::MAX_STALLED_RESOLVES {
        let err = connector
            .connect(
                &endpoint("collector.test", 4318),
                clock.now().add_millis(100),
            )
            .unwrap_err();
        assert_eq!(err, TransportError::ConnectTimeout);
    }
    // Every stalled resolver is still held: the next connect does not wait at all, even
    // with a long deadline.
    let started = StdInstant::now();
    let err = connector
        .connect(
            &endpoint("collector.test", 4318),
            clock.now().add_millis(60_000),
        )
        .unwrap_err();
    assert_eq!(err, TransportError::ConnectTimeout);
    // Hang guard only: it did not wait for the 60 s deadline.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // Once the stalled resolvers answer, names resolve again (through the same gated
    // resolver, now open). Polled, bounded: the stalled threads end on their own time.
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let until = StdInstant::now() + Duration::from_secs(30);
    let conn = loop {
        match connector.connect(
            &endpoint("collector.test", port),
            clock.now().add_millis(5_000),
        ) {
            Ok(conn) => break conn,
            Err(TransportError::ConnectTimeout) if StdInstant::now() < until => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("names never resolved again: {e:?}"),
        }
    };
    let _accepted = listener.accept().unwrap();
    conn.close(CloseMode::Abort).unwrap();
}

/// A resolver that panics (a bug in the user's code) ends its connect with `Resolve` and
/// gives its slot back: panics do not use up the cap on stalled resolutions, so names
/// still resolve after more panics than the cap.
#[test]
fn panicking_resolver_does_not_use_up_the_cap() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let mut panicking = TcpConnector::new(clock).with_resolver(PanickingResolver);
    for attempt in 0..2 * otlp_embedded_std::MAX_STALLED_RESOLVES {
        let err = panicking
            .connect(
                &endpoint("collector.test", 4318),
                clock.now().add_millis(10_000),
            )
            .unwrap_err();
        assert_eq!(err, TransportError::Resolve, "attempt {attempt}");
    }
    // A clone shares the count: a working resolver is not refused for the panics.
    let mut fixed = panicking.with_resolver(slow_resolver(Duration::ZERO));
    let conn = fixed
        .connect(
            &endpoint("collector.test", port),
            clock.now().add_millis(10_000),
        )
        .unwrap();
    let _accepted = listener.accept().unwrap();
    conn.close(CloseMode::Abort).unwrap();
}

#[test]
fn https_needs_the_tls_feature() {
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let ep = Endpoint {
        scheme: Scheme::Https,
        host: "127.0.0.1",
        port: 443,
        path: "/v1/metrics",
    };
    let err = connector
        .connect(&ep, clock.now().add_millis(1_000))
        .unwrap_err();
    assert_eq!(err, TransportError::UnsupportedScheme);
}

#[test]
fn ipv6_loopback_connects_when_available() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        return; // no IPv6 on this machine; nothing to test
    };
    let port = listener.local_addr().unwrap().port();
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let conn = connector
        .connect(&endpoint("::1", port), clock.now().add_millis(5_000))
        .unwrap();
    assert!(conn.stream().peer_addr().unwrap().is_ipv6());
    conn.close(CloseMode::Abort).unwrap();
}
