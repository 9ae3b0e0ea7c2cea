//! A local OTLP/HTTP metrics receiver that decodes what it gets and misbehaves on request.
//!
//! Point a device or a service at [`Sink::endpoint_url`] to see exactly what it sends, and
//! switch on a [`Fault`] to see how it copes with a bad collector: idle keep-alive
//! connections closed without warning, resets, 429 and 503 with `Retry-After`, responses cut
//! off mid-headers or mid-body, trickled bytes, garbage, endless headers, partial success.
//!
//! ```
//! use std::time::Duration;
//! use otlp_embedded_std::sink::{Fault, RetryAfter, Sink};
//!
//! let sink = Sink::start().unwrap();
//! // The next two requests get 503 with `Retry-After: 1`; then it behaves.
//! sink.script([(Fault::Unavailable(Some(RetryAfter::Seconds(1))), 2)]);
//! // ... run the exporter against sink.endpoint_url() ...
//! let stats = sink.stats();
//! assert_eq!(stats.requests_received, 0);
//! assert!(sink.requests().is_empty()); // decoded requests acknowledged with a 2xx
//! ```
//!
//! What it does with each request:
//!
//! - It serves HTTP/1.1 with keep-alive: several requests on one connection, until the client
//!   sends `Connection: close`, the connection sits idle for
//!   [`SinkOptions::idle_timeout`] (or the [`Fault::IdleClose`] delay), or a fault closes it.
//! - A `POST` body (by `Content-Length`, `Content-Encoding: gzip` accepted) is decoded as an
//!   `ExportMetricsServiceRequest`. Undecodable bodies get 400.
//! - The answer is chosen per request: the next step of the [`Sink::script`], else the
//!   current fault ([`Sink::set_fault`]), else a plain
//!   `200 OK`, `Content-Type: application/x-protobuf`, `Content-Length: 0`.
//!
//! TLS mode (feature `sink-tls`): give `SinkOptions::tls` a `SinkTls` (certificate chain
//! and key, and optionally a client CA to require client certificates) and the sink speaks
//! HTTPS with every fault above; `Sink::tls_stats` counts handshakes, handshake failures
//! (with rustls's reason) and close_notify alerts. The `test_pki` module makes a throwaway
//! PKI for it. (Plain names, not links: they exist only with the feature.)
//!
//! Every thread is bounded: one thread per connection, at most
//! [`SinkOptions::max_connections`] at once (more wait in the listen backlog); sockets poll
//! with short read timeouts so threads notice shutdown; dropping the sink stops them and
//! joins them with a bounded wait.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;

pub use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, NumberDataPoint};

/// How often blocked socket calls and the accept loop wake to check for shutdown.
const POLL: Duration = Duration::from_millis(25);
/// A request head larger than this is answered with 431 and the connection closed.
const MAX_HEAD: usize = 64 * 1024;
/// Headers parsed per request.
const MAX_HEADERS: usize = 64;
/// Lingering close: how long, and how much, to read after our FIN before dropping.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;
/// How long dropping the sink waits for connection threads.
const JOIN_WAIT: Duration = Duration::from_secs(3);

/// A `Retry-After` value for 429 and 503 faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Delta-seconds: `Retry-After: 7`.
    Seconds(u32),
    /// An HTTP-date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) at this wall-clock time.
    HttpDate(SystemTime),
}

impl RetryAfter {
    /// An HTTP-date this many seconds from now.
    pub fn date_in(seconds: u64) -> RetryAfter {
        RetryAfter::HttpDate(SystemTime::now() + Duration::from_secs(seconds))
    }

    /// The header value as sent.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::HttpDate(t) => http_date(*t),
        }
    }
}

/// How the sink answers a request. [`Fault::None`] is a well-behaved collector.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// `200 OK`, `Content-Type: application/x-protobuf`, `Content-Length: 0`; keep-alive.
    #[default]
    None,
    /// Answer normally, then close the connection if no next request starts within this
    /// time, without having sent `Connection: close` (the stale keep-alive connection).
    IdleClose(Duration),
    /// Answer normally (no `Connection: close` header), then close at once.
    AnswerThenClose,
    /// Read the whole request, then close without answering.
    CloseBeforeAnswer,
    /// Send part of the status line and headers, then close.
    CloseMidHeaders,
    /// Send complete headers announcing a 16-byte protobuf body, 5 bytes of it, then close.
    CloseMidBody,
    /// `200 OK` with `Transfer-Encoding: chunked`: a protobuf
    /// `ExportMetricsServiceResponse` whose partial success has 0 rejected points and the
    /// message `"sent chunked"`, in 4-byte chunks (the first with a chunk extension).
    Chunked,
    /// The normal `200 OK` response, written one byte at a time at this many bytes per
    /// second.
    Trickle {
        /// Rate; 0 is treated as 1.
        bytes_per_second: u32,
    },
    /// `429 Too Many Requests` with an optional `Retry-After` and a `google.rpc.Status`
    /// protobuf body (code 8, RESOURCE_EXHAUSTED); keep-alive.
    TooManyRequests(Option<RetryAfter>),
    /// `503 Service Unavailable` with an optional `Retry-After` and a `google.rpc.Status`
    /// protobuf body (code 14, UNAVAILABLE); keep-alive.
    Unavailable(Option<RetryAfter>),
    /// This status (such as 400, 404 or 500) with a `google.rpc.Status` protobuf body;
    /// keep-alive.
    Status(u16),
    /// `413 Payload Too Large` and `Connection: close` as soon as the request head is read,
    /// before reading the body (the body is then discarded during a lingering close).
    PayloadTooLargeEarly,
    /// `200 OK` whose body is an `ExportMetricsServiceResponse` with `partial_success`.
    PartialSuccess {
        /// `rejected_data_points`.
        rejected: i64,
        /// `error_message`.
        message: String,
    },
    /// `502 Bad Gateway` with a `text/html` body, as a proxy in front of a collector sends;
    /// a client must not decode it as protobuf. Keep-alive.
    Html502,
    /// The line `HTPT/1.1 2OO KO`, a blank line, then close.
    GarbageStatusLine,
    /// `HTTP/1.1 200 OK` followed by header lines without end, until
    /// [`SinkOptions::endless_header_limit`] bytes, the client closes, or a write times out;
    /// then close.
    EndlessHeaders,
    /// Read the request, then reset the connection (`SO_LINGER` 0, so the close sends RST).
    Reset,
}

impl std::str::FromStr for Fault {
    type Err = String;

    /// Parse the compact form used on command lines:
    ///
    /// `none`, `idle-close=MS`, `answer-then-close`, `close-before-answer`,
    /// `close-mid-headers`, `close-mid-body`, `chunked`, `trickle=BYTES_PER_SECOND`,
    /// `429`, `429=SECONDS`, `429-date=SECONDS_FROM_NOW`, the same three for `503`,
    /// `status=CODE`, `413-early`, `partial=REJECTED[:MESSAGE]`, `html502`, `garbage`,
    /// `endless-headers`, `reset`.
    fn from_str(text: &str) -> Result<Fault, String> {
        let (name, arg) = match text.split_once('=') {
            Some((n, a)) => (n, Some(a)),
            None => (text, None),
        };
        let number = |what: &str| -> Result<u64, String> {
            arg.ok_or_else(|| format!("{name} needs ={what}"))?
                .parse::<u64>()
                .map_err(|_| format!("{name}: {what} must be a whole number"))
        };
        let retry = || -> Result<Option<RetryAfter>, String> {
            match arg {
                None => Ok(None),
                Some(_) => Ok(Some(RetryAfter::Seconds(
                    u32::try_from(number("SECONDS")?).map_err(|_| "seconds too large")?,
                ))),
            }
        };
        let fault = match name {
            "none" => Fault::None,
            "idle-close" => Fault::IdleClose(Duration::from_millis(number("MS")?)),
            "answer-then-close" => Fault::AnswerThenClose,
            "close-before-answer" => Fault::CloseBeforeAnswer,
            "close-mid-headers" => Fault::CloseMidHeaders,
            "close-mid-body" => Fault::CloseMidBody,
            "chunked" => Fault::Chunked,
            "trickle" => Fault::Trickle {
                bytes_per_second: u32::try_from(number("BYTES_PER_SECOND")?)
                    .map_err(|_| "rate too large")?,
            },
            "429" => Fault::TooManyRequests(retry()?),
            "503" => Fault::Unavailable(retry()?),
            "429-date" => Fault::TooManyRequests(Some(RetryAfter::date_in(number("SECONDS")?))),
            "503-date" => Fault::Unavailable(Some(RetryAfter::date_in(number("SECONDS")?))),
            "status" => Fault::Status(
                u16::try_from(number("CODE")?)
                    .ok()
                    .filter(|c| (100..1000).contains(c))
                    .ok_or("status code must be 100..=999")?,
            ),
            "413-early" => Fault::PayloadTooLargeEarly,
            "partial" => {
                let arg = arg.ok_or("partial needs =REJECTED[:MESSAGE]")?;
                let (n, message) = arg.split_once(':').unwrap_or((arg, ""));
                Fault::PartialSuccess {
                    rejected: n
                        .parse()
                        .map_err(|_| "partial: REJECTED must be a whole number")?,
                    message: message.to_string(),
                }
            }
            "html502" => Fault::Html502,
            "garbage" => Fault::GarbageStatusLine,
            "endless-headers" => Fault::EndlessHeaders,
            "reset" => Fault::Reset,
            _ => return Err(format!("unknown fault {text:?}")),
        };
        Ok(fault)
    }
}

/// Start-up settings for [`Sink::start_with`].
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Address to listen on: 127.0.0.1 by default. Use `0.0.0.0` to let a device on the
    /// network reach the sink (tests should stay on loopback).
    pub bind: IpAddr,
    /// Port; 0 picks an ephemeral one.
    pub port: u16,
    /// The fault in force until changed.
    pub fault: Fault,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// An idle keep-alive connection is closed after this long (without `Connection: close`,
    /// as real servers do).
    pub idle_timeout: Duration,
    /// A request head or body that takes longer than this to arrive ends the connection.
    pub request_timeout: Duration,
    /// Larger bodies (after gzip decoding too) are answered with 413.
    pub max_body: usize,
    /// [`Fault::EndlessHeaders`] stops after this many bytes.
    pub endless_header_limit: usize,
    /// Serve HTTPS with this certificate (feature `sink-tls`); `None` serves plain HTTP.
    #[cfg(feature = "sink-tls")]
    pub tls: Option<SinkTls>,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            fault: Fault::None,
            max_connections: 32,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_body: 16 * 1024 * 1024,
            endless_header_limit: 4 * 1024 * 1024,
            #[cfg(feature = "sink-tls")]
            tls: None,
        }
    }
}

/// Counters kept by the sink.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections closed by the sink or the client (the socket is gone).
    pub connections_closed: u64,
    /// Requests whose head was read.
    pub requests_received: u64,
    /// Requests answered with a complete 2xx response.
    pub requests_answered_2xx: u64,
    /// Bodies that were not a decodable `ExportMetricsServiceRequest` (answered 400).
    pub decode_errors: u64,
    /// Requests per connection, indexed by connection number (in order of acceptance).
    pub requests_per_connection: Vec<u64>,
}

/// One request as the sink saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// Connection number (index into [`SinkStats::requests_per_connection`]).
    pub connection: usize,
    /// Request method.
    pub method: String,
    /// Request target.
    pub path: String,
    /// Request headers, names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes on the wire (before gzip decoding).
    pub body_len: usize,
    /// The decoded body, when it was read and decoded.
    pub request: Option<ExportMetricsServiceRequest>,
    /// The fault used to answer it.
    pub fault: Fault,
    /// The status code sent, if a status line was sent.
    pub status: Option<u16>,
    /// Whether a complete 2xx response was sent: the data counts as delivered.
    pub acknowledged: bool,
}

impl Received {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A metric stream: metric name and its point's attributes, values rendered as strings,
/// sorted by key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Metric name.
    pub metric: String,
    /// Attributes, sorted by key.
    pub attributes: Vec<(String, String)>,
}

/// What the acknowledged requests carried for one [`SeriesKey`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SeriesTotal {
    /// Data points received.
    pub points: u64,
    /// Sum of gauge and sum point values (meaningful for delta sums).
    pub value_sum: f64,
    /// Value of the last gauge or sum point received (meaningful for cumulative sums and
    /// gauges).
    pub last_value: f64,
    /// Sum of histogram (and summary) point counts.
    pub histogram_count: u64,
    /// Sum of histogram (and summary) point sums.
    pub histogram_sum: f64,
}

#[derive(Default)]
struct State {
    fault: Fault,
    script: VecDeque<(Fault, usize)>,
    received: Vec<Received>,
    stats: SinkStats,
    #[cfg(feature = "sink-tls")]
    tls: TlsStats,
}

struct Shared {
    shutdown: AtomicBool,
    accepting: AtomicBool,
    listener_closed: AtomicBool,
    active: AtomicUsize,
    state: Mutex<State>,
    changed: Condvar,
    options: SinkOptions,
    #[cfg(feature = "sink-tls")]
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the sink's records with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    fn next_fault(&self) -> Fault {
        let mut st = self.lock();
        if let Some((fault, left)) = st.script.front_mut() {
            let fault = fault.clone();
            *left = left.saturating_sub(1);
            if *left == 0 {
                st.script.pop_front();
            }
            return fault;
        }
        st.fault.clone()
    }
}

/// The running sink. Dropping it stops it.
pub struct Sink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").field("addr", &self.addr).finish()
    }
}

impl Sink {
    /// Start a well-behaved sink on an ephemeral port of 127.0.0.1.
    ///
    /// ```
    /// use otlp_embedded_std::sink::{Fault, Sink, SinkOptions};
    ///
    /// let sink = Sink::start_with(SinkOptions {
    ///     fault: Fault::AnswerThenClose,
    ///     max_connections: 4,
    ///     ..SinkOptions::default()
    /// })
    /// .unwrap();
    /// assert!(sink.endpoint_url().starts_with("http://127.0.0.1:"));
    /// ```
    pub fn start() -> io::Result<Sink> {
        Sink::start_with(SinkOptions::default())
    }

    /// Start a sink on an ephemeral port that answers with `fault` until told otherwise.
    pub fn with_fault(fault: Fault) -> io::Result<Sink> {
        Sink::start_with(SinkOptions {
            fault,
            ..SinkOptions::default()
        })
    }

    /// Start a sink with these options.
    pub fn start_with(options: SinkOptions) -> io::Result<Sink> {
        let listener = TcpListener::bind((options.bind, options.port))?;
        // Non-blocking accept, polled, so the thread notices shutdown and stop_accepting.
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            shutdown: AtomicBool::new(false),
            accepting: AtomicBool::new(true),
            listener_closed: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            state: Mutex::new(State {
                fault: options.fault.clone(),
                ..State::default()
            }),
            changed: Condvar::new(),
            #[cfg(feature = "sink-tls")]
            tls: match &options.tls {
                Some(tls) => Some(tls.server_config()?),
                None => None,
            },
            options,
        });
        let workers = Arc::new(Mutex::new(Vec::new()));
        let accept_thread = {
            let shared = Arc::clone(&shared);
            let workers = Arc::clone(&workers);
            thread::Builder::new()
                .name("otlp-sink-accept".into())
                .spawn(move || accept_loop(listener, shared, workers))?
        };
        Ok(Sink {
            addr,
            shared,
            accept_thread: Some(accept_thread),
            workers,
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>:<port>/v1/metrics` (with the bound address, so `0.0.0.0` when bound
    /// to every interface).
    pub fn endpoint_url(&self) -> String {
        format!("{}/v1/metrics", self.base_url())
    }

    /// `http://127.0.0.1:<port>` (`https://` in TLS mode), for
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// `"https"` when serving TLS, else `"http"`.
    pub fn scheme(&self) -> &'static str {
        #[cfg(feature = "sink-tls")]
        if self.shared.tls.is_some() {
            return "https";
        }
        "http"
    }

    /// TLS counters (all zero in plain mode).
    #[cfg(feature = "sink-tls")]
    pub fn tls_stats(&self) -> TlsStats {
        self.shared.lock().tls.clone()
    }

    /// Change the fault used once the script is exhausted.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.lock().fault = fault;
    }

    /// Append steps to the script: each `(fault, n)` answers the next `n` requests with
    /// `fault`; when the script runs out, the sink uses [`Sink::set_fault`]'s fault again.
    pub fn script(&self, steps: impl IntoIterator<Item = (Fault, usize)>) {
        let mut st = self.shared.lock();
        st.script.extend(steps.into_iter().filter(|(_, n)| *n > 0));
    }

    /// Close the listener: new connections are refused. Existing ones are served on.
    /// Returns once the listener is closed (or after a bounded wait).
    pub fn stop_accepting(&self) {
        self.shared.accepting.store(false, Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(2);
        while !self.shared.listener_closed.load(Ordering::SeqCst) && Instant::now() < until {
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Decoded requests that were acknowledged with a complete 2xx response.
    pub fn requests(&self) -> Vec<ExportMetricsServiceRequest> {
        self.shared
            .lock()
            .received
            .iter()
            .filter(|r| r.acknowledged)
            .filter_map(|r| r.request.clone())
            .collect()
    }

    /// Every request the sink read, acknowledged or not, with how it was answered.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// The counters.
    pub fn stats(&self) -> SinkStats {
        self.shared.lock().stats.clone()
    }

    /// Wait until `condition` holds for the counters, at most `timeout`. Returns whether it
    /// held.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&SinkStats) -> bool,
    ) -> bool {
        let until = Instant::now() + timeout;
        let mut st = self.shared.lock();
        loop {
            if condition(&st.stats) {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            st = match self.shared.changed.wait_timeout(st, until - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    /// Totals per metric stream over the acknowledged requests.
    pub fn totals(&self) -> BTreeMap<SeriesKey, SeriesTotal> {
        let mut out: BTreeMap<SeriesKey, SeriesTotal> = BTreeMap::new();
        for request in self.requests() {
            add_totals(&request, &mut out);
        }
        out
    }

    /// The total for metric `name` with exactly these attributes (any order), if any point
    /// of it was acknowledged.
    pub fn total(&self, name: &str, attributes: &[(&str, &str)]) -> Option<SeriesTotal> {
        let mut attrs: Vec<(String, String)> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attrs.sort();
        let key = SeriesKey {
            metric: name.to_string(),
            attributes: attrs,
        };
        self.totals().remove(&key)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            // The accept loop polls every POLL, so this join is short.
            let _ = t.join();
        }
        let until = Instant::now() + JOIN_WAIT;
        let mut workers =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        while !workers.is_empty() && Instant::now() < until {
            let (done, running): (Vec<_>, Vec<_>) =
                workers.into_iter().partition(|h| h.is_finished());
            for h in done {
                let _ = h.join();
            }
            workers = running;
            if !workers.is_empty() {
                thread::sleep(Duration::from_millis(5));
            }
        }
        // Threads still running past the bounded wait are detached; each ends at its next
        // poll, as every loop checks the shutdown flag.
    }
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    loop {
        if shared.stopping() {
            break;
        }
        if !shared.accepting.load(Ordering::SeqCst) {
            break;
        }
        if shared.active.load(Ordering::SeqCst) >= shared.options.max_connections.max(1) {
            thread::sleep(Duration::from_millis(2));
            continue;
        }
        match listener.accept() {
            Ok((stream, _peer)) => {
                let id = {
                    let mut st = shared.lock();
                    st.stats.connections_accepted += 1;
                    st.stats.requests_per_connection.push(0);
                    st.stats.requests_per_connection.len() - 1
                };
                shared.active.fetch_add(1, Ordering::SeqCst);
                shared.changed.notify_all();
                let worker_shared = Arc::clone(&shared);
                let spawned = thread::Builder::new()
                    .name(format!("otlp-sink-conn-{id}"))
                    .spawn(move || {
                        let guard = ActiveGuard(Arc::clone(&worker_shared));
                        serve(id, stream, &worker_shared);
                        drop(guard);
                    });
                let mut list = workers.lock().unwrap_or_else(|e| e.into_inner());
                list.retain(|h| !h.is_finished());
                match spawned {
                    Ok(h) => list.push(h),
                    Err(_) => {
                        // The stream moved into the failed closure and is dropped: closed.
                        shared.active.fetch_sub(1, Ordering::SeqCst);
                        shared.lock().stats.connections_closed += 1;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL / 5),
            Err(_) => thread::sleep(POLL / 5),
        }
    }
    drop(listener);
    shared.listener_closed.store(true, Ordering::SeqCst);
}

/// Counts a connection closed however its thread ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        self.0.lock().stats.connections_closed += 1;
        self.0.changed.notify_all();
    }
}

/// How one connection's handling ended or continues.
enum Next {
    KeepAlive(Duration),
    Close,
    CloseNow,
}

struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    close_requested: bool,
}

enum ReadEnd {
    PeerClosed,
    Idle,
    Stopped,
    TimedOut,
    Failed,
    TooLarge,
    Malformed,
}

fn serve(id: usize, tcp: TcpStream, shared: &Arc<Shared>) {
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
        let next = handle_request(id, &mut stream, &mut pending, head, fault, shared);
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

fn is_timeout(e: &io::Error) -> bool {
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

/// Minimal `google.rpc.Status`, the body OTLP/HTTP servers send with error statuses.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn grpc_code(status: u16) -> i32 {
    match status {
        400 => 3,  // INVALID_ARGUMENT
        401 => 16, // UNAUTHENTICATED
        403 => 7,  // PERMISSION_DENIED
        404 => 5,  // NOT_FOUND
        413 => 8,  // RESOURCE_EXHAUSTED
        429 => 8,  // RESOURCE_EXHAUSTED
        503 => 14, // UNAVAILABLE
        _ => 13,   // INTERNAL
    }
}

/// A complete response with a body and optional extra header lines.
fn response(
    status: u16,
    content_type: &str,
    body: &[u8],
    extra: &[(&str, String)],
    close: bool,
) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in extra {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    ));
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn status_response(status: u16, message: &str, extra: &[(&str, String)], close: bool) -> Vec<u8> {
    let body = RpcStatus {
        code: grpc_code(status),
        message: message.to_string(),
    }
    .encode_to_vec();
    response(status, "application/x-protobuf", &body, extra, close)
}

/// The body [`Fault::Chunked`] sends.
pub fn chunked_fault_body() -> Vec<u8> {
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 0,
            error_message: "sent chunked".into(),
        }),
    }
    .encode_to_vec()
}

/// The full body [`Fault::CloseMidBody`] announces (it sends only the first 5 bytes).
pub fn mid_body_fault_body() -> Vec<u8> {
    ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 0,
            error_message: "0123456789ab".into(),
        }),
    }
    .encode_to_vec()
}

/// What to do on the wire for one request.
enum Action {
    /// Write these bytes (a whole response), then continue as `Next` says.
    Write(Vec<u8>, Next),
    /// Write these bytes (a cut-off response or garbage), then close.
    WriteThenClose(Vec<u8>),
    /// Write these bytes one at a time, `gap` apart, then continue as `Next` says.
    Trickle(Vec<u8>, Duration, Next),
    /// Close without answering.
    Close,
    /// Send header lines until the limit.
    Endless,
    /// Reset the connection.
    Reset,
}

fn handle_request(
    id: usize,
    stream: &mut SinkStream,
    pending: &mut Vec<u8>,
    head: Head,
    fault: Fault,
    shared: &Shared,
) -> Next {
    let close_after = head.close_requested;
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

    let (record, status, action) = if fault == Fault::PayloadTooLargeEarly {
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
                            record.request = Some(message);
                            let (status, action) = plan(&fault, close_after, shared);
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

/// The status sent (if any) and the action for a decoded request under `fault`.
fn plan(fault: &Fault, close_after: bool, shared: &Shared) -> (Option<u16>, Action) {
    let keep = |idle: Duration| {
        if close_after {
            Next::Close
        } else {
            Next::KeepAlive(idle)
        }
    };
    let idle = shared.options.idle_timeout;
    let ok = || response(200, "application/x-protobuf", &[], &[], close_after);
    match fault {
        Fault::None => (Some(200), Action::Write(ok(), keep(idle))),
        Fault::IdleClose(after) => (Some(200), Action::Write(ok(), keep(*after))),
        Fault::AnswerThenClose => {
            let bytes = response(200, "application/x-protobuf", &[], &[], false);
            (Some(200), Action::Write(bytes, Next::Close))
        }
        Fault::CloseBeforeAnswer => (None, Action::Close),
        Fault::CloseMidHeaders => (
            Some(200),
            Action::WriteThenClose(b"HTTP/1.1 200 OK\r\nContent-Type: applic".to_vec()),
        ),
        Fault::CloseMidBody => {
            let body = mid_body_fault_body();
            let mut full = response(200, "application/x-protobuf", &body, &[], false);
            full.truncate(full.len() - body.len() + 5);
            (Some(200), Action::WriteThenClose(full))
        }
        Fault::Chunked => {
            let body = chunked_fault_body();
            let mut bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n".to_vec();
            if close_after {
                bytes.extend_from_slice(b"Connection: close\r\n");
            }
            bytes.extend_from_slice(b"\r\n");
            for (i, part) in body.chunks(4).enumerate() {
                let size_line = if i == 0 {
                    format!("{:x};note=first\r\n", part.len())
                } else {
                    format!("{:x}\r\n", part.len())
                };
                bytes.extend_from_slice(size_line.as_bytes());
                bytes.extend_from_slice(part);
                bytes.extend_from_slice(b"\r\n");
            }
            bytes.extend_from_slice(b"0\r\n\r\n");
            (Some(200), Action::Write(bytes, keep(idle)))
        }
        Fault::Trickle { bytes_per_second } => {
            let gap = Duration::from_secs(1) / (*bytes_per_second).max(1);
            (Some(200), Action::Trickle(ok(), gap, keep(idle)))
        }
        Fault::TooManyRequests(retry) | Fault::Unavailable(retry) => {
            let status = if matches!(fault, Fault::TooManyRequests(_)) {
                429
            } else {
                503
            };
            let extra: Vec<(&str, String)> = retry
                .iter()
                .map(|r| ("Retry-After", r.header_value()))
                .collect();
            let bytes = status_response(status, "sink fault: try again later", &extra, close_after);
            (Some(status), Action::Write(bytes, keep(idle)))
        }
        Fault::Status(status) => {
            let status = (*status).clamp(100, 999);
            let bytes = status_response(
                status,
                &format!("sink fault: status {status}"),
                &[],
                close_after,
            );
            (Some(status), Action::Write(bytes, keep(idle)))
        }
        // Answered before the body was read; never reaches here.
        Fault::PayloadTooLargeEarly => (None, Action::Close),
        Fault::PartialSuccess { rejected, message } => {
            let body = ExportMetricsServiceResponse {
                partial_success: Some(ExportMetricsPartialSuccess {
                    rejected_data_points: *rejected,
                    error_message: message.clone(),
                }),
            }
            .encode_to_vec();
            let bytes = response(200, "application/x-protobuf", &body, &[], close_after);
            (Some(200), Action::Write(bytes, keep(idle)))
        }
        Fault::Html502 => {
            let body = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>\n";
            let bytes = response(502, "text/html", body, &[], close_after);
            (Some(502), Action::Write(bytes, keep(idle)))
        }
        Fault::GarbageStatusLine => (
            None,
            Action::WriteThenClose(b"HTPT/1.1 2OO KO\r\n\r\n".to_vec()),
        ),
        Fault::EndlessHeaders => (Some(200), Action::Endless),
        Fault::Reset => (None, Action::Reset),
    }
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

/// IMF-fixdate, such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // 1970-01-01 was a Thursday.
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (year, month, day) = civil_from_days(days as i64);
    let month_name = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(month - 1) as usize];
    format!("{weekday}, {day:02} {month_name} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn render(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn key_of(metric: &str, attributes: &[KeyValue]) -> SeriesKey {
    let mut attrs: Vec<(String, String)> = attributes
        .iter()
        .map(|kv| (kv.key.clone(), render(&kv.value)))
        .collect();
    attrs.sort();
    SeriesKey {
        metric: metric.to_string(),
        attributes: attrs,
    }
}

fn number(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        Some(number_data_point::Value::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

fn add_totals(request: &ExportMetricsServiceRequest, out: &mut BTreeMap<SeriesKey, SeriesTotal>) {
    let metrics = request
        .resource_metrics
        .iter()
        .flat_map(|r| r.scope_metrics.iter())
        .flat_map(|s| s.metrics.iter());
    for m in metrics {
        match &m.data {
            Some(metric::Data::Sum(sum)) => {
                for p in &sum.data_points {
                    let t = out.entry(key_of(&m.name, &p.attributes)).or_default();
                    t.points += 1;
                    t.value_sum += number(p);
                    t.last_value = number(p);
                }
            }
            Some(metric::Data::Gauge(g)) => {
                for p in &g.data_points {
                    let t = out.entry(key_of(&m.name, &p.attributes)).or_default();
                    t.points += 1;
                    t.value_sum += number(p);
                    t.last_value = number(p);
                }
            }
            Some(metric::Data::Histogram(h)) => {
                for p in &h.data_points {
                    let t = out.entry(key_of(&m.name, &p.attributes)).or_default();
                    t.points += 1;
                    t.histogram_count += p.count;
                    t.histogram_sum += p.sum.unwrap_or(0.0);
                }
            }
            Some(metric::Data::ExponentialHistogram(h)) => {
                for p in &h.data_points {
                    let t = out.entry(key_of(&m.name, &p.attributes)).or_default();
                    t.points += 1;
                    t.histogram_count += p.count;
                    t.histogram_sum += p.sum.unwrap_or(0.0);
                }
            }
            Some(metric::Data::Summary(s)) => {
                for p in &s.data_points {
                    let t = out.entry(key_of(&m.name, &p.attributes)).or_default();
                    t.points += 1;
                    t.histogram_count += p.count;
                    t.histogram_sum += p.sum;
                }
            }
            None => {}
        }
    }
}

/// The byte stream of one connection: the TCP stream itself, or TLS over it.
enum SinkStream {
    Plain(TcpStream),
    #[cfg(feature = "sink-tls")]
    Tls(Box<TlsStream>),
}

#[cfg(feature = "sink-tls")]
struct TlsStream {
    stream: rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    /// The client's close_notify was read (counted once).
    close_notify_seen: bool,
    shared: Arc<Shared>,
}

impl SinkStream {
    /// The connection's stream: TCP as it is, or TLS after a completed handshake. `None`
    /// when the handshake failed (counted in [`TlsStats`]); the socket is then dropped.
    #[cfg_attr(not(feature = "sink-tls"), allow(clippy::unnecessary_wraps))]
    fn open(tcp: TcpStream, shared: &Arc<Shared>) -> Option<SinkStream> {
        #[cfg(feature = "sink-tls")]
        if let Some(config) = &shared.tls {
            return tls_handshake(tcp, config, shared).map(|s| SinkStream::Tls(Box::new(s)));
        }
        #[cfg(not(feature = "sink-tls"))]
        let _ = shared;
        Some(SinkStream::Plain(tcp))
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            SinkStream::Plain(tcp) => tcp,
            #[cfg(feature = "sink-tls")]
            SinkStream::Tls(tls) => &tls.stream.sock,
        }
    }

    /// End our direction: FIN, preceded in TLS by our close_notify.
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            SinkStream::Plain(tcp) => tcp.shutdown(Shutdown::Write),
            #[cfg(feature = "sink-tls")]
            SinkStream::Tls(tls) => {
                tls.stream.conn.send_close_notify();
                io::Write::flush(&mut tls.stream)?;
                tls.shared.lock().tls.close_notify_sent += 1;
                tls.stream.sock.shutdown(Shutdown::Write)
            }
        }
    }
}

impl Read for SinkStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SinkStream::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "sink-tls")]
            SinkStream::Tls(tls) => {
                let n = tls.stream.read(buf)?;
                // rustls reads 0 only after the peer's close_notify; a TCP end without one
                // is an UnexpectedEof error.
                if n == 0 && !buf.is_empty() && !tls.close_notify_seen {
                    tls.close_notify_seen = true;
                    tls.shared.lock().tls.close_notify_received += 1;
                }
                Ok(n)
            }
        }
    }
}

impl Write for SinkStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            SinkStream::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "sink-tls")]
            SinkStream::Tls(tls) => {
                // rustls's `Stream::write` ignores socket errors once the bytes are
                // queued; flush so that a write that did not reach the socket fails here.
                let n = tls.stream.write(buf)?;
                tls.stream.flush()?;
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            SinkStream::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "sink-tls")]
            SinkStream::Tls(tls) => tls.stream.flush(),
        }
    }
}

#[cfg(feature = "sink-tls")]
fn tls_handshake(
    mut tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    shared: &Arc<Shared>,
) -> Option<TlsStream> {
    let fail = |reason: String| {
        let mut st = shared.lock();
        st.tls.handshake_failures += 1;
        st.tls.handshake_errors.push(reason);
        drop(st);
        shared.changed.notify_all();
        None
    };
    let mut conn = match rustls::ServerConnection::new(Arc::clone(config)) {
        Ok(conn) => conn,
        Err(e) => return fail(e.to_string()),
    };
    let started = Instant::now();
    // complete_io returns the reads that time out every POLL; bounded by the request
    // timeout and shutdown. On a handshake error rustls has already sent its alert.
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if shared.stopping() {
                    return None;
                }
                if started.elapsed() >= shared.options.request_timeout {
                    return fail("handshake timed out".into());
                }
            }
            Err(e) => return fail(e.to_string()),
        }
    }
    shared.lock().tls.handshakes += 1;
    shared.changed.notify_all();
    Some(TlsStream {
        stream: rustls::StreamOwned::new(conn, tcp),
        close_notify_seen: false,
        shared: Arc::clone(shared),
    })
}

/// TLS counters of a sink in TLS mode.
#[cfg(feature = "sink-tls")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed (the connection was then closed).
    pub handshake_failures: u64,
    /// Why each failed handshake failed, as rustls says it (such as `received fatal alert:
    /// UnknownCA` or `peer sent no certificates`), in order.
    pub handshake_errors: Vec<String>,
    /// Connections on which the client's close_notify arrived.
    pub close_notify_received: u64,
    /// Connections the sink closed with its own close_notify.
    pub close_notify_sent: u64,
}

/// The sink's TLS identity (feature `sink-tls`): certificate chain and private key, and
/// the CA certificates that client certificates must chain to, if any are required.
#[cfg(feature = "sink-tls")]
#[derive(Clone)]
pub struct SinkTls {
    /// Certificate chain, leaf first, DER.
    pub cert_chain_der: Vec<Vec<u8>>,
    /// Private key of the leaf, DER (PKCS#8, SEC1 or PKCS#1).
    pub key_der: Vec<u8>,
    /// When not empty, clients must present a certificate issued by one of these (DER):
    /// mutual TLS.
    pub client_ca_der: Vec<Vec<u8>>,
}

#[cfg(feature = "sink-tls")]
impl std::fmt::Debug for SinkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkTls")
            .field("certificates", &self.cert_chain_der.len())
            .field("key", &"<hidden>")
            .field("client_cas", &self.client_ca_der.len())
            .finish()
    }
}

#[cfg(feature = "sink-tls")]
impl SinkTls {
    /// A server identity from DER certificate chain (leaf first) and DER private key.
    pub fn from_der(cert_chain_der: Vec<Vec<u8>>, key_der: Vec<u8>) -> SinkTls {
        SinkTls {
            cert_chain_der,
            key_der,
            client_ca_der: Vec::new(),
        }
    }

    /// A server identity from PEM text: every certificate in `chain_pem` (leaf first) and
    /// the first private key in `key_pem`.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> io::Result<SinkTls> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("certificate PEM does not parse"))?;
        if chain.is_empty() {
            return Err(invalid("no certificate in the PEM text"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| invalid("no private key in the PEM text"))?;
        Ok(SinkTls::from_der(chain, key.secret_der().to_vec()))
    }

    /// Require client certificates issued by `ca_der` (DER); may be called again to trust
    /// several CAs.
    pub fn require_client_cert(mut self, ca_der: Vec<u8>) -> SinkTls {
        self.client_ca_der.push(ca_der);
        self
    }

    /// The rustls server configuration (ring provider, TLS 1.2 and 1.3).
    pub fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?;
        let builder = if self.client_ca_der.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for ca in &self.client_ca_der {
                roots
                    .add(CertificateDer::from(ca.clone()))
                    .map_err(|e| invalid(format!("client CA refused: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| invalid(format!("client verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        };
        let chain = self
            .cert_chain_der
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let key = PrivateKeyDer::try_from(self.key_der.clone())
            .map_err(|e| invalid(format!("private key: {e}")))?;
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("certificate and key refused: {e}")))?;
        Ok(Arc::new(config))
    }
}

#[cfg(feature = "sink-tls")]
pub mod test_pki;
