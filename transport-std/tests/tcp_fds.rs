//! Every TcpConnector path closes its socket: open file descriptors are counted before and
//! after many connections closed each way, refused connects and timed-out reads.
//!
//! A binary of its own with a single test, so no other test's sockets are counted.
#![cfg(target_os = "linux")]

use std::net::TcpListener;

use embedded_io::{Read as _, Write as _};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{CloseMode, Connect, Connection, Endpoint, Scheme};
use otlp_embedded_std::{StdClock, TcpConnector};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn no_path_leaks_a_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let refused_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ep = |port| Endpoint {
        scheme: Scheme::Http,
        host: "127.0.0.1",
        port,
        path: "/",
    };
    let clock = StdClock::new();
    let mut connector = TcpConnector::new(clock);
    let before = open_fds();

    for round in 0..20 {
        let deadline = clock.now().add_millis(5_000);
        // Graceful: the server side closes first, so the drain ends at once.
        let mut conn = connector.connect(&ep(port), deadline).unwrap();
        let (server, _) = listener.accept().unwrap();
        conn.write_all(b"x").unwrap();
        drop(server);
        conn.close(CloseMode::Graceful).unwrap();

        // Abort.
        let conn = connector.connect(&ep(port), deadline).unwrap();
        let (server, _) = listener.accept().unwrap();
        conn.close(CloseMode::Abort).unwrap();
        drop(server);

        // A read that times out, then close.
        let mut conn = connector.connect(&ep(port), deadline).unwrap();
        let (server, _) = listener.accept().unwrap();
        conn.set_deadline(clock.now().add_millis(20));
        let mut buf = [0u8; 8];
        assert!(conn.read(&mut buf).is_err(), "round {round}");
        conn.close(CloseMode::Graceful).unwrap();
        drop(server);

        // Refused.
        assert!(connector.connect(&ep(refused_port), deadline).is_err());
    }

    assert_eq!(open_fds(), before);
}
