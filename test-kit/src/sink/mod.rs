//! A local OTLP/HTTP metrics receiver that decodes what it gets and misbehaves on request.
//!
//! Point a device or a service at [`Sink::endpoint_url`] to see exactly what it sends, and
//! switch on a [`Fault`] to see how it copes with a bad collector: idle keep-alive
//! connections closed without warning, resets, 429 and 503 with `Retry-After`, responses cut
//! off mid-headers or mid-body, trickled bytes, garbage, endless headers, partial success,
//! reused connections dropped.
//!
//! ```
//! use std::time::Duration;
//! use otlp_embedded_test_kit::sink::{Fault, RetryAfter, Sink};
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
//! - [`Sink::totals`] adds up what the acknowledged requests carried, per series, with
//!   the crate's one [`totals`] function.
//! - A request read in full whose body equals one read before counts in
//!   [`SinkStats::duplicate_requests`]: a batch delivered twice.
//!
//! TLS mode (feature `tls`): give `SinkOptions::tls` a `SinkTls` (certificate chain and
//! key, and optionally a client CA to require client certificates) and the sink speaks
//! HTTPS with every fault above; `Sink::tls_stats` counts handshakes, handshake failures
//! (with rustls's reason) and close_notify alerts. The crate's `test_pki` module makes a
//! throwaway PKI for it. (Plain names, not links: they exist only with the feature.)
//!
//! Every thread is bounded: one thread per connection, at most
//! [`SinkOptions::max_connections`] at once (more wait in the listen backlog); sockets poll
//! with short read timeouts so threads notice shutdown; dropping the sink stops them and
//! joins them with a bounded wait.
//!
//! The code follows the sink's seams: this file is the server loop and the public handle;
//! `fault` the script of answers, `answer` the bytes each fault sends, `connection` the
//! HTTP handling of one connection, `stream` and `tls` the byte stream and its TLS mode.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};

mod answer;
mod connection;
mod fault;
mod stream;
#[cfg(feature = "tls")]
mod tls;

pub use answer::{chunked_fault_body, mid_body_fault_body};
pub use fault::{http_date, Fault, RetryAfter};
#[cfg(feature = "tls")]
pub use tls::{SinkTls, TlsStats};

use crate::totals::{totals, Repeats, SeriesKey, SeriesTotal};

/// How often blocked socket calls and the accept loop wake to check for shutdown.
const POLL: Duration = Duration::from_millis(25);
/// How long dropping the sink waits for connection threads.
const JOIN_WAIT: Duration = Duration::from_secs(3);

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
    /// Serve HTTPS with this certificate (feature `tls`); `None` serves plain HTTP.
    #[cfg(feature = "tls")]
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
            #[cfg(feature = "tls")]
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
    /// Requests read in full whose decoded body equals one read in full before: a batch
    /// delivered again (a client's retry of a request whose answer it lost, although the
    /// server had read it).
    pub duplicate_requests: u64,
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

/// What the connection threads record, behind the lock in `Shared`.
#[derive(Default)]
struct State {
    fault: Fault,
    script: VecDeque<(Fault, usize)>,
    received: Vec<Received>,
    /// Canonical encodings of every request read in full, for `duplicate_requests`.
    bodies_read: HashSet<Vec<u8>>,
    stats: SinkStats,
    #[cfg(feature = "tls")]
    tls: TlsStats,
}

/// What the handle, the accept thread and every connection thread share.
struct Shared {
    shutdown: AtomicBool,
    accepting: AtomicBool,
    listener_closed: AtomicBool,
    active: AtomicUsize,
    state: Mutex<State>,
    changed: Condvar,
    options: SinkOptions,
    #[cfg(feature = "tls")]
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
    /// use otlp_embedded_test_kit::sink::{Fault, Sink, SinkOptions};
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
            #[cfg(feature = "tls")]
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
        #[cfg(feature = "tls")]
        if self.shared.tls.is_some() {
            return "https";
        }
        "http"
    }

    /// TLS counters (all zero in plain mode).
    #[cfg(feature = "tls")]
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

    /// Totals per series over the acknowledged requests, each counted once (the sink saw
    /// each delivered request once): [`totals`] with [`Repeats::CountAll`].
    pub fn totals(&self) -> BTreeMap<SeriesKey, SeriesTotal> {
        totals(&self.requests(), Repeats::CountAll)
    }

    /// The total for metric `name` with exactly these attributes (any order), if any point
    /// of it was acknowledged.
    pub fn total(&self, name: &str, attributes: &[(&str, &str)]) -> Option<SeriesTotal> {
        self.totals().remove(&SeriesKey::new(name, attributes))
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
                        connection::serve(id, stream, &worker_shared);
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
