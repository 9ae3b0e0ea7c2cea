//! HTTP handling of one connection: read a request head and body, decode the body, pick
//! the answer, write it, record what happened, and close as the answer says.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use prost::Message;

use super::answer::{plan, status_response, Action, Next};
use super::fault::Fault;
use super::stream::SinkStream;
use super::{ExportMetricsServiceRequest, Received, Shared, POLL};

/// A request head larger than this is answered with 431 and the connection closed.
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per request.
const MAX_HEADERS: usize = 64;
/// Lingering close: how long, and how much, to read after our FIN before dropping.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    close_requested: bool,
}

/// Why no (complete) request was read: the client left, the connection idled out or took
/// too long, the sink is stopping, or the head was too large or not HTTP.
enum ReadEnd {
    PeerClosed,
    Idle,
    Stopped,
    TimedOut,
    Failed,
    TooLarge,
    Malformed,
}

/// Serve connection number `id` until it closes or the sink stops.
pub(super) fn serve(id: usize, tcp: TcpStream, shared: &Arc<Shared>) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(POLL));
    // A client that never reads must not pin the thread: writes give up after this.
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(5)));
    let Some(mut stream) = SinkStream::open(tcp, shared) else {
        return;
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut idle_limit = shared.options.idle_timeout;
    let mut served = 0u64;
    loop {
        let head = match read_head(&mut stream, &mut pending, shared, idle_limit) {
            Ok(h) => h,
            Err(ReadEnd::TooLarge) => {
                let _ = stream.write_all(
                    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                );
                lingering_close(stream, shared);
                return;
            }
            Err(ReadEnd::Malformed) => {
                let _ = stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                );
                lingering_close(stream, shared);
                return;
            }
            // Idle keep-alive timeout: close without having said `Connection: close`.
            Err(ReadEnd::Idle) => {
                lingering_close(stream, shared);
                return;
            }
            Err(_) => return,
        };
        {
            let mut st = shared.lock();
            st.stats.requests_received += 1;
            if let Some(n) = st.stats.requests_per_connection.get_mut(id) {
                *n += 1;
            }
        }
        shared.changed.notify_all();
        let fault = shared.next_fault();
        let reused = served > 0;
        served += 1;
        let next = handle_request(id, &mut stream, &mut pending, head, fault, reused, shared);
        match next {
            Next::KeepAlive(idle) => idle_limit = idle,
            Next::Close => {
                lingering_close(stream, shared);
                return;
            }
            Next::CloseNow => return,
        }
    }
}

fn read_head(
    stream: &mut SinkStream,
    pending: &mut Vec<u8>,
    shared: &Shared,
    idle_limit: Duration,
) -> Result<Head, ReadEnd> {
    let started = Instant::now();
    let mut chunk = [0u8; 8192];
    loop {
        if !pending.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(pending) {
                Ok(httparse::Status::Complete(n)) => {
                    let headers: Vec<(String, String)> = req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    let version = req.version.unwrap_or(1);
                    let connection = headers
                        .iter()
                        .filter(|(n, _)| n == "connection")
                        .map(|(_, v)| v.to_ascii_lowercase())
                        .collect::<Vec<_>>()
                        .join(",");
                    let close_requested = connection.split(',').any(|t| t.trim() == "close")
                        || (version == 0 && !connection.contains("keep-alive"));
                    let head = Head {
                        method: req.method.unwrap_or("").to_string(),
                        path: req.path.unwrap_or("").to_string(),
                        headers,
                        close_requested,
                    };
                    pending.drain(..n);
                    return Ok(head);
                }
                Ok(httparse::Status::Partial) => {
                    if pending.len() > MAX_HEAD {
                        return Err(ReadEnd::TooLarge);
                    }
                }
                Err(_) => return Err(ReadEnd::Malformed),
            }
        }
        if shared.stopping() {
            return Err(ReadEnd::Stopped);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ReadEnd::PeerClosed),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {
                let waited = started.elapsed();
                if pending.is_empty() && waited >= idle_limit {
                    return Err(ReadEnd::Idle);
                }
                if !pending.is_empty() && waited >= shared.options.request_timeout {
                    return Err(ReadEnd::TimedOut);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadEnd::Failed),
        }
    }
}

pub(super) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Read exactly `len` body bytes (some may already be in `pending`).
fn read_body(
    stream: &mut SinkStream,
    pending: &mut Vec<u8>,
    len: usize,
    shared: &Shared,
) -> Result<Vec<u8>, ReadEnd> {
    let started = Instant::now();
    let mut chunk = [0u8; 16 * 1024];
    while pending.len() < len {
        if shared.stopping() {
            return Err(ReadEnd::Stopped);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ReadEnd::PeerClosed),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {
                if started.elapsed() >= shared.options.request_timeout {
                    return Err(ReadEnd::TimedOut);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadEnd::Failed),
        }
    }
    let rest = pending.split_off(len);
    Ok(std::mem::replace(pending, rest))
}

/// Read, decode, record and answer one request; `reused` when it is not the connection's
/// first.
fn handle_request(
    id: usize,
    stream: &mut SinkStream,
    pending: &mut Vec<u8>,
    head: Head,
    fault: Fault,
    reused: bool,
    shared: &Shared,
) -> Next {
    let close_after = head.close_requested;
    // What the fault does to this request (the record keeps the fault as set).
    let acting = match fault {
        Fault::DropOnReuse if reused => Fault::CloseBeforeAnswer,
        ref other => other.clone(),
    };
    let mut record = Received {
        connection: id,
        method: head.method.clone(),
        path: head.path.clone(),
        headers: head.headers.clone(),
        body_len: 0,
        request: None,
        fault: fault.clone(),
        status: None,
        acknowledged: false,
    };
    let header = |name: &str| {
        head.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim().to_string())
    };
    let reject = |record: Received, status: u16, msg: &str| {
        let bytes = status_response(status, msg, &[], true);
        (record, Some(status), Action::Write(bytes, Next::Close))
    };

    let (record, status, action) = if acting == Fault::PayloadTooLargeEarly {
        // 413 before the body: the client may still be writing it.
        reject(record, 413, "sink fault: payload too large")
    } else if head.method != "POST" {
        reject(record, 405, "only POST is served")
    } else {
        match header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            None => reject(record, 411, "Content-Length required"),
            Some(len) if len > shared.options.max_body => {
                reject(record, 413, "body larger than the sink accepts")
            }
            Some(len) => match read_body(stream, pending, len, shared) {
                Err(_) => {
                    publish(shared, record);
                    return Next::CloseNow;
                }
                Ok(body) => {
                    record.body_len = body.len();
                    match decode_body(&body, header("content-encoding").as_deref(), shared) {
                        Err(status) => reject(record, status, "body could not be decoded"),
                        Ok(None) => {
                            shared.lock().stats.decode_errors += 1;
                            let bytes = status_response(
                                400,
                                "not an ExportMetricsServiceRequest",
                                &[],
                                close_after,
                            );
                            let next = if close_after {
                                Next::Close
                            } else {
                                Next::KeepAlive(shared.options.idle_timeout)
                            };
                            (record, Some(400), Action::Write(bytes, next))
                        }
                        Ok(Some(message)) => {
                            count_duplicate(shared, &message);
                            record.request = Some(message);
                            let (status, action) =
                                plan(&acting, close_after, shared.options.idle_timeout);
                            (record, status, action)
                        }
                    }
                }
            },
        }
    };

    // Publish before writing, so a client that has read the response finds the request
    // recorded; a 2xx whose write then fails is revoked.
    let mut record = record;
    record.status = status;
    let wants_ack = matches!(action, Action::Write(..) | Action::Trickle(..))
        && status.is_some_and(|s| (200..300).contains(&s));
    record.acknowledged = wants_ack;
    let index = publish(shared, record);

    let (written, next) = match action {
        Action::Write(bytes, next) => (stream.write_all(&bytes).is_ok(), next),
        Action::WriteThenClose(bytes) => {
            let _ = stream.write_all(&bytes);
            (false, Next::Close)
        }
        Action::Trickle(bytes, gap, next) => {
            let mut complete = true;
            for (i, b) in bytes.iter().enumerate() {
                if shared.stopping() || stream.write_all(std::slice::from_ref(b)).is_err() {
                    complete = false;
                    break;
                }
                if i + 1 < bytes.len() {
                    thread::sleep(gap);
                }
            }
            (complete, next)
        }
        Action::Close => (false, Next::Close),
        Action::Endless => {
            endless_headers(stream, shared);
            (false, Next::CloseNow)
        }
        Action::Reset => {
            let _ = socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO));
            (false, Next::CloseNow)
        }
    };
    if wants_ack && !written {
        revoke(shared, index);
    }
    if written {
        next
    } else {
        match next {
            Next::KeepAlive(_) => Next::CloseNow,
            other => other,
        }
    }
}

/// Decode a body: `Err(status)` when it cannot be unpacked, `Ok(None)` when it is not an
/// `ExportMetricsServiceRequest`.
fn decode_body(
    body: &[u8],
    encoding: Option<&str>,
    shared: &Shared,
) -> Result<Option<ExportMetricsServiceRequest>, u16> {
    let unpacked;
    let bytes = match encoding {
        None | Some("identity") | Some("") => body,
        Some(enc) if enc.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            let limit = shared.options.max_body as u64 + 1;
            match flate2::read::GzDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out)
            {
                Ok(n) if n as u64 >= limit => return Err(413),
                Ok(_) => {}
                Err(_) => return Err(400),
            }
            unpacked = out;
            &unpacked[..]
        }
        Some(_) => return Err(415),
    };
    Ok(ExportMetricsServiceRequest::decode(bytes).ok())
}

fn endless_headers(stream: &mut SinkStream, shared: &Shared) {
    if stream.write_all(b"HTTP/1.1 200 OK\r\n").is_err() {
        return;
    }
    let filler = "a".repeat(100);
    let mut sent = 0usize;
    let mut n = 0u64;
    while sent < shared.options.endless_header_limit && !shared.stopping() {
        let line = format!("X-Endless-{n}: {filler}\r\n");
        if stream.write_all(line.as_bytes()).is_err() {
            return;
        }
        sent += line.len();
        n += 1;
    }
}

/// Count `message` as a duplicate delivery if the sink has read the same request in full
/// before (compared by its canonical encoding).
fn count_duplicate(shared: &Shared, message: &ExportMetricsServiceRequest) {
    let bytes = message.encode_to_vec();
    let mut st = shared.lock();
    if !st.bodies_read.insert(bytes) {
        st.stats.duplicate_requests += 1;
    }
}

/// Record a request (and count its 2xx); returns its index for [`revoke`].
fn publish(shared: &Shared, record: Received) -> usize {
    let index = {
        let mut st = shared.lock();
        if record.acknowledged {
            st.stats.requests_answered_2xx += 1;
        }
        st.received.push(record);
        st.received.len() - 1
    };
    shared.changed.notify_all();
    index
}

/// A 2xx that could not be written whole does not acknowledge anything.
fn revoke(shared: &Shared, index: usize) {
    {
        let mut st = shared.lock();
        let was = st
            .received
            .get_mut(index)
            .map(|r| std::mem::replace(&mut r.acknowledged, false))
            .unwrap_or(false);
        if was {
            st.stats.requests_answered_2xx = st.stats.requests_answered_2xx.saturating_sub(1);
        }
    }
    shared.changed.notify_all();
}

/// FIN, then read and discard what the client still sends (bounded in time and bytes), so
/// that unread request bytes do not turn the close into a reset.
fn lingering_close(mut stream: SinkStream, shared: &Shared) {
    if stream.shutdown_write().is_err() {
        return;
    }
    let until = Instant::now() + LINGER_TIME;
    let mut chunk = [0u8; 8192];
    let mut drained = 0usize;
    while Instant::now() < until && drained < LINGER_BYTES && !shared.stopping() {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
