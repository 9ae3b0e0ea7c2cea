//! A minimal OTLP/HTTP answering server on loopback: reads each request (head, then the
//! body by `Content-Length`) and answers `200 OK` with an empty protobuf body at once,
//! keeping the connection for the next request until the client closes it, or closing it
//! after the answer when the request says `Connection: close` (as HTTP servers do; the
//! closing side keeps the `TIME_WAIT` state, so a client connecting per request does not
//! pile up its own). It decodes nothing, so that a bench measures the client; it counts
//! requests and body bytes.
//!
//! Every wait is bounded: sockets read with a short timeout and check the stop flag, and
//! dropping the server stops its threads (each ends within that timeout; the accepting
//! one is woken by a connection of the server's own). Accepting blocks rather than polls,
//! so that a client opening a connection per request waits for no poll interval.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
const OK_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// How often blocked calls wake to check the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

/// Counters the server keeps.
#[derive(Default)]
pub struct Counts {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Request body bytes read.
    pub body_bytes: AtomicU64,
}

/// The running server; dropping it stops it.
pub struct AnsweringServer {
    addr: SocketAddr,
    counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AnsweringServer {
    /// A server on 127.0.0.1 serving each connection on a thread of its own (a pooling
    /// client may hold one connection while opening another).
    pub fn start() -> AnsweringServer {
        AnsweringServer::spawn(false)
    }

    /// A server on 127.0.0.1 serving one connection after another on one thread, which
    /// allocates nothing once running (for the allocation-counting test binaries, whose
    /// counter sees every thread).
    pub fn sequential() -> AnsweringServer {
        AnsweringServer::spawn(true)
    }

    fn spawn(sequential: bool) -> AnsweringServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                let mut workers = Vec::new();
                loop {
                    let accepted = listener.accept();
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok((stream, _)) = accepted else {
                        thread::sleep(Duration::from_millis(1));
                        continue;
                    };
                    counts.connections.fetch_add(1, Ordering::Relaxed);
                    if sequential {
                        serve(stream, &mut buf, &counts, &stop);
                    } else {
                        let (counts, stop) = (Arc::clone(&counts), Arc::clone(&stop));
                        workers.push(thread::spawn(move || {
                            serve(stream, &mut vec![0u8; 64 * 1024], &counts, &stop)
                        }));
                        workers.retain(|w: &JoinHandle<()>| !w.is_finished());
                    }
                }
                for worker in workers {
                    let _ = worker.join();
                }
            })
        };
        AnsweringServer {
            addr,
            counts,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>/v1/metrics`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}/v1/metrics", self.addr)
    }

    /// The counters.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }
}

impl Drop for AnsweringServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the blocking accept; it sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answer requests on `stream` until the client closes it, a read fails, or stop.
fn serve(mut stream: TcpStream, buf: &mut [u8], counts: &Counts, stop: &AtomicBool) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut filled = 0usize;
    loop {
        // The head: up to the blank line.
        let head_end = loop {
            if let Some(end) = find(&buf[..filled], b"\r\n\r\n") {
                break end + 4;
            }
            if filled >= MAX_HEAD.min(buf.len()) {
                return;
            }
            match read_some(&mut stream, &mut buf[filled..], stop) {
                Some(0) | None => return,
                Some(n) => filled += n,
            }
        };
        let body = content_length(&buf[..head_end]);
        let close = asks_to_close(&buf[..head_end]);
        // The body: count it and drop it, keeping what follows it.
        let (mut have, mut end) = (filled - head_end, filled);
        while have < body {
            match read_some(&mut stream, &mut buf[head_end..], stop) {
                Some(0) | None => return,
                Some(n) => (have, end) = (have + n, head_end + n),
            }
        }
        // Bytes past the body (a next request already sent) are the tail of the last read.
        let after = have - body;
        buf.copy_within(end - after..end, 0);
        filled = after;
        counts.requests.fetch_add(1, Ordering::Relaxed);
        counts.body_bytes.fetch_add(body as u64, Ordering::Relaxed);
        if close {
            // Answer, then close first (dropping the stream sends the FIN).
            let _ = stream.write_all(OK_CLOSE);
            return;
        }
        if stream.write_all(OK).is_err() {
            return;
        }
    }
}

/// One read; `None` on an error or stop, `Some(0)` at the end of the stream.
fn read_some(stream: &mut TcpStream, into: &mut [u8], stop: &AtomicBool) -> Option<usize> {
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match stream.read(into) {
            Ok(n) => return Some(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of header `name` in a request head.
fn header<'h>(head: &'h [u8], name: &[u8]) -> Option<&'h str> {
    head.split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (field, value) = line.split_at(colon);
            if !field.eq_ignore_ascii_case(name) {
                return None;
            }
            Some(std::str::from_utf8(&value[1..]).ok()?.trim())
        })
        .next()
}

/// The `Content-Length` of a request head (0 when absent or unreadable).
fn content_length(head: &[u8]) -> usize {
    header(head, b"content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Whether the request asks for the connection to be closed after the answer.
fn asks_to_close(head: &[u8]) -> bool {
    header(head, b"connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}
