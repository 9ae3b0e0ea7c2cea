//! [`PeriodicExporter`]: a background thread that exports every `export_interval`.
//!
//! The thread owns the [`Exporter`], a snapshot and the request buffer, allocated once at
//! start. Each round it collects from the producer (a [`SharedRegistry`]
//! shared with the threads that record), encodes, sends and settles through
//! [`Exporter::export`], sleeping between retries as the exporter asks (backoff or
//! `Retry-After`), never past the export timeout. Totals are published after every export
//! and can be read from any thread ([`PeriodicExporter::stats`]).
//!
//! [`PeriodicExporter::shutdown`] (or dropping the exporter) wakes the thread at once; it
//! makes one final export, so that what was recorded since the last round is not lost, and
//! the thread is joined. An export in progress does not wait out its retry backoff: its
//! unsent points go back to the registry ([`Exporter::abandon`]) and the final export
//! carries them. Shutdown therefore takes at most a request already in flight (the request
//! timeout) plus one export timeout. [`PeriodicExporter::shutdown_within`] fits the final
//! export into a budget of the caller's (a service's termination grace period) and returns
//! by its end whatever the collector does.
//!
//! [`PeriodicExporter::from_env`] is the short way: the `OTEL_*` variables, a
//! [`SharedRegistry`], and the instrumentation scope's name (the
//! caller's: a service's or a library's name):
//!
//! ```no_run
//! use otlp_embedded::registry::InstrumentDesc;
//! use otlp_embedded_std::{PeriodicExporter, SharedRegistry};
//!
//! let registry = SharedRegistry::with_default_capacities();
//! let requests = registry.instrument(InstrumentDesc::counter_u64("requests"))?;
//! let exporter = PeriodicExporter::from_env("my-service", &registry)?;
//! requests.record(1u64, &[])?;
//! // ... the service runs; the thread exports every OTEL_METRIC_EXPORT_INTERVAL ...
//! let stats = exporter.shutdown(); // final export, then join
//! println!("{} exports ok, {} failed", stats.exports_ok, stats.exports_failed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`PeriodicExporter::from_config`] takes a [`Config`] read elsewhere and any
//! [`Producer`]; [`PeriodicExporter::start`] takes [`PeriodicOptions`] set field by field.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otlp_embedded::export::{ExportReport, ExportStats, Exporter, RetryPolicy, Step};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::Scope;
use otlp_embedded::registry::{Producer, Snapshot};
use otlp_embedded::time::{Clock, UnixNanos, Wait};
use otlp_embedded::transport::{Connect, Exchange, Scheme};

use crate::config::{Compression, Config, ConfigError, EndpointUrl, ExporterParts, TlsFiles};
use crate::{SharedRegistry, Sleep, StdClock, TcpConnector};

/// Default size of the request buffer: requests are split to fit it.
pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

/// Everything the periodic exporter needs, owned.
#[derive(Clone, Debug)]
pub struct PeriodicOptions {
    /// Where requests go (path included).
    pub endpoint: EndpointUrl,
    /// Extra request headers: name and value.
    pub headers: Vec<(String, String)>,
    /// Resource attributes (`service.name`, `telemetry.sdk.*`, ...).
    pub resource: Vec<(String, String)>,
    /// Instrumentation scope name: the caller's (its service's or library's name).
    pub scope_name: String,
    /// Instrumentation scope version (the caller's); empty for none.
    pub scope_version: String,
    /// Deadline of one exchange.
    pub request_timeout: Duration,
    /// Time from the start of one export to the start of the next.
    pub export_interval: Duration,
    /// Deadline of one export, retries included.
    pub export_timeout: Duration,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// Request body compression.
    pub compression: Compression,
    /// Certificate and key files for an `https` endpoint (used with the `tls` feature).
    pub tls: TlsFiles,
    /// Size of the request buffer in bytes; larger snapshots go out as several requests.
    pub buffer_size: usize,
    /// Jitter seed; give each process its own so that a fleet does not retry in lockstep.
    pub jitter_seed: u64,
}

impl PeriodicOptions {
    /// The settings of `config` (the `OTEL_*` variables): endpoint, headers, timeouts,
    /// interval, resource, compression and TLS files; the instrumentation scope is
    /// `scope_name`, the caller's (with no version: set
    /// [`scope_version`](Self::scope_version) for one).
    pub fn from_config(config: &Config, scope_name: &str) -> Self {
        PeriodicOptions {
            endpoint: config.endpoint.clone(),
            headers: config.headers.clone(),
            resource: config.resource.clone(),
            scope_name: scope_name.to_string(),
            scope_version: String::new(),
            request_timeout: config.timeout,
            export_interval: config.export_interval,
            export_timeout: config.export_timeout,
            retry: RetryPolicy::default(),
            compression: config.compression,
            tls: config.tls.clone(),
            buffer_size: DEFAULT_BUFFER_SIZE,
            jitter_seed: default_seed(),
        }
    }
}

/// A seed that differs between processes and between exporters of one process.
fn default_seed() -> u64 {
    let nanos = unix_now();
    let pid = u64::from(std::process::id());
    nanos ^ pid.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15
}

/// Wall-clock time for point timestamps; 0 before 1970 rather than a panic.
pub fn unix_now() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Why a periodic exporter did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The `OTEL_*` configuration could not be read ([`PeriodicExporter::from_env`]).
    Config(ConfigError),
    /// Gzip compression was asked for but the `gzip` feature is off.
    GzipUnavailable,
    /// The endpoint is `https` but the `tls` feature is off.
    TlsUnavailable,
    /// The TLS configuration could not be built from the certificate and key files.
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsConfigError),
    /// The thread could not be spawned.
    Spawn(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "configuration: {e}"),
            StartError::GzipUnavailable => {
                f.write_str("gzip compression needs the `gzip` feature of otlp-embedded-std")
            }
            StartError::TlsUnavailable => {
                f.write_str("an https endpoint needs the `tls` feature of otlp-embedded-std")
            }
            #[cfg(feature = "tls")]
            StartError::Tls(e) => write!(f, "TLS configuration: {e}"),
            StartError::Spawn(e) => write!(f, "could not spawn the export thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Config(e) => Some(e),
            #[cfg(feature = "tls")]
            StartError::Tls(e) => Some(e),
            StartError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for StartError {
    fn from(error: ConfigError) -> Self {
        StartError::Config(error)
    }
}

/// What the thread and its handle share.
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    stop: bool,
    /// When a [`PeriodicExporter::shutdown_within`] budget ends.
    stop_by: Option<std::time::Instant>,
    /// The thread has returned.
    finished: bool,
    export_requested: bool,
    exports: u64,
    begun: u64,
    stats: ExportStats,
    last_report: Option<ExportReport>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on the condition variable until `done(state)` holds or `until` comes; the
    /// guard back, and whether `done` held. The one wait loop of this module.
    fn wait_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        until: std::time::Instant,
        mut done: impl FnMut(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        loop {
            if done(&state) {
                return (state, true);
            }
            let now = std::time::Instant::now();
            if now >= until {
                return (state, false);
            }
            state = match self.wake.wait_timeout(state, until - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// Marks the thread finished and wakes the waiters when dropped, however the thread ends.
struct Finished<'a>(&'a Shared);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        self.0.lock().finished = true;
        self.0.wake.notify_all();
    }
}

/// A thread that exports every interval; see the [module docs](self).
pub struct PeriodicExporter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for PeriodicExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicExporter")
            .field("running", &self.thread.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

impl PeriodicExporter {
    /// Start exporting `registry` as the `OTEL_*` variables say ([`Config::from_env`], then
    /// [`from_config`](Self::from_config)), in the instrumentation scope `scope_name` (the
    /// caller's: its service's or library's name). The snapshot the thread collects into is
    /// allocated here, sized by the registry's type.
    pub fn from_env<
        const INSTRUMENTS: usize,
        const SERIES: usize,
        const ATTRIBUTE_BYTES: usize,
        const HISTOGRAM_SERIES: usize,
        const BUCKETS: usize,
    >(
        scope_name: &str,
        registry: &Arc<
            SharedRegistry<INSTRUMENTS, SERIES, ATTRIBUTE_BYTES, HISTOGRAM_SERIES, BUCKETS>,
        >,
    ) -> Result<PeriodicExporter, StartError> {
        let config = Config::from_env()?;
        let snapshot = Box::new(Snapshot::new());
        PeriodicExporter::from_config(&config, scope_name, registry.producer(), snapshot)
    }

    /// Start exporting from `producer` as `config` says, in the instrumentation scope
    /// `scope_name` (the caller's), over TLS when the endpoint is `https` (feature `tls`).
    /// Each of the configuration's [`warnings`](Config::warnings) is printed to standard
    /// error first, as `otlp-embedded: warning: ...`. The configured temporality preference
    /// goes to the producer ([`Producer::set_temporality_preference`]), so instruments that
    /// chose no temporality export with the one it gives their kind. With
    /// `OTEL_SDK_DISABLED=true` no thread is started and nothing is ever sent
    /// ([`PeriodicExporter::is_running`] is false).
    pub fn from_config<P>(
        config: &Config,
        scope_name: &str,
        mut producer: P,
        snapshot: Box<P::Snapshot>,
    ) -> Result<PeriodicExporter, StartError>
    where
        P: Producer + Send + 'static,
        P::Snapshot: Send,
    {
        // The SDK environment-variable specification asks for a warning where a value was
        // ignored; a service has no other place to see it.
        for warning in &config.warnings {
            eprintln!("otlp-embedded: warning: {warning}");
        }
        if config.sdk_disabled {
            return Ok(PeriodicExporter::disabled());
        }
        producer.set_temporality_preference(config.temporality);
        let options = PeriodicOptions::from_config(config, scope_name);
        PeriodicExporter::start(options, producer, snapshot)
    }

    /// Start exporting from `producer` over TCP (core's HTTP client over
    /// [`TcpConnector`]), with TLS over it for an `https` endpoint (feature `tls`: rustls,
    /// trusting `options.tls`'s CA file or else the built-in roots), gzip-compressed if
    /// `options.compression` says so. `snapshot` is the storage each collect copies into
    /// (boxed: snapshots of large registries are big).
    pub fn start<P>(
        options: PeriodicOptions,
        producer: P,
        snapshot: Box<P::Snapshot>,
    ) -> Result<PeriodicExporter, StartError>
    where
        P: Producer + Send + 'static,
        P::Snapshot: Send,
    {
        let clock = StdClock::new();
        let tcp = TcpConnector::new(clock);
        match options.endpoint.scheme {
            Scheme::Http => PeriodicExporter::start_over(options, producer, snapshot, tcp, clock),
            #[cfg(feature = "tls")]
            Scheme::Https => {
                let files = &options.tls;
                let tls = crate::tls::TlsOptions {
                    ca_certificate: files.ca_certificate.clone(),
                    client_certificate: files.client_certificate.clone(),
                    client_key: files.client_key.clone(),
                }
                .client_config()
                .map_err(StartError::Tls)?;
                let connector = crate::tls::TlsConnector::new(tcp, tls);
                PeriodicExporter::start_over(options, producer, snapshot, connector, clock)
            }
            #[cfg(not(feature = "tls"))]
            Scheme::Https => Err(StartError::TlsUnavailable),
        }
    }

    /// [`start`](Self::start) with the stream connector chosen for the endpoint's scheme.
    fn start_over<P, C>(
        options: PeriodicOptions,
        producer: P,
        snapshot: Box<P::Snapshot>,
        connector: C,
        clock: StdClock,
    ) -> Result<PeriodicExporter, StartError>
    where
        P: Producer + Send + 'static,
        P::Snapshot: Send,
        C: Connect + Send + 'static,
    {
        let client = HttpClient::new(connector, clock);
        match options.compression {
            Compression::None => {
                PeriodicExporter::start_with_exchange(options, producer, snapshot, client, clock)
            }
            #[cfg(feature = "gzip")]
            Compression::Gzip => {
                let mut gzip = crate::gzip::GzipExchange::new(client);
                gzip.reserve(options.buffer_size);
                PeriodicExporter::start_with_exchange(options, producer, snapshot, gzip, clock)
            }
            #[cfg(not(feature = "gzip"))]
            Compression::Gzip => Err(StartError::GzipUnavailable),
        }
    }

    /// Start exporting from `producer` through `exchange`, whose deadlines are measured on
    /// `clock` (give both the same clock). `options.compression` is not applied here: wrap
    /// the exchange yourself.
    pub fn start_with_exchange<P, X, K>(
        options: PeriodicOptions,
        producer: P,
        snapshot: Box<P::Snapshot>,
        exchange: X,
        clock: K,
    ) -> Result<PeriodicExporter, StartError>
    where
        P: Producer + Send + 'static,
        P::Snapshot: Send,
        X: Exchange + Send + 'static,
        K: Clock + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || {
                // Set on the way out, a panic's unwinding included.
                let _finished = Finished(&thread_shared);
                run(options, producer, snapshot, exchange, clock, &thread_shared);
            })
            .map_err(StartError::Spawn)?;
        Ok(PeriodicExporter {
            shared,
            thread: Some(thread),
        })
    }

    /// An exporter that never runs (the SDK is disabled).
    fn disabled() -> PeriodicExporter {
        PeriodicExporter {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
            }),
            thread: None,
        }
    }

    /// Whether the export thread is running (false when disabled by configuration).
    pub fn is_running(&self) -> bool {
        self.thread.is_some()
    }

    /// Totals over the exporter's life, as of the last finished export.
    pub fn stats(&self) -> ExportStats {
        self.shared.lock().stats
    }

    /// The report of the last finished export.
    pub fn last_report(&self) -> Option<ExportReport> {
        self.shared.lock().last_report
    }

    /// Exports finished so far.
    pub fn exports(&self) -> u64 {
        self.shared.lock().exports
    }

    /// Export now rather than at the next interval, and wait at most `wait` for that
    /// export to finish. Returns its report, or `None` if it did not finish in time (or
    /// the exporter is not running).
    pub fn force_export(&self, wait: Duration) -> Option<ExportReport> {
        self.thread.as_ref()?;
        let until = instant_after(std::time::Instant::now(), wait);
        let mut state = self.shared.lock();
        // An export in progress may have collected before this call: wait for one that
        // begins after it.
        let target = state.begun + 1;
        state.export_requested = true;
        self.shared.wake.notify_all();
        let (state, done) = self
            .shared
            .wait_until(state, until, |s| s.exports >= target);
        done.then_some(state.last_report).flatten()
    }

    /// Wake the thread, make a final export (bounded by the export timeout), join the
    /// thread, and return the final totals. An export in progress stops at its next retry
    /// wait and leaves its unsent points to the final export.
    pub fn shutdown(mut self) -> ExportStats {
        self.stop();
        self.stats()
    }

    /// [`shutdown`](Self::shutdown) within `budget`: the final export ends by then (its
    /// deadline is the sooner of the export timeout and the budget's end), and this call
    /// returns by then. If the thread is still inside a request at that point (one sent
    /// before the shutdown, bounded by the request timeout), it is left to end on its own:
    /// the totals returned are those of the exports finished so far, and what the thread
    /// had not delivered stays in the registry. A budget too long to add to the current
    /// instant (`Duration::MAX`) sets no limit: this is then [`shutdown`](Self::shutdown).
    pub fn shutdown_within(mut self, budget: Duration) -> ExportStats {
        // A budget past what an instant can hold is no limit at all.
        let Some(until) = std::time::Instant::now().checked_add(budget) else {
            return self.shutdown();
        };
        let Some(thread) = self.thread.take() else {
            return self.stats();
        };
        let mut state = self.shared.lock();
        state.stop = true;
        state.stop_by = Some(until);
        self.shared.wake.notify_all();
        let (state, finished) = self.shared.wait_until(state, until, |s| s.finished);
        if !finished {
            // Detached: the thread ends within its own deadlines.
            return state.stats;
        }
        drop(state);
        // Finished: the join returns at once. A panic in the thread (a bug) is not
        // propagated into the caller's shutdown path.
        let _ = thread.join();
        self.stats()
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        // The thread ends within a request in flight plus one export timeout; a panic in
        // it (a bug) is not propagated into the caller's shutdown path.
        let _ = thread.join();
    }
}

/// `from + wait`, or a year on when that cannot be represented (a `Duration::MAX` interval
/// or wait meaning "no limit"): far enough to mean never, near enough to stay a deadline.
fn instant_after(from: std::time::Instant, wait: Duration) -> std::time::Instant {
    const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
    from.checked_add(wait)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}

/// Waits `wait` for an export's next step; true when a shutdown came first (the export is
/// then abandoned so that the final export can start at once).
fn wait_unless_stopped(shared: &Shared, wait: Duration) -> bool {
    let until = instant_after(std::time::Instant::now(), wait);
    shared.wait_until(shared.lock(), until, |s| s.stop).1
}

impl Drop for PeriodicExporter {
    /// Same as [`PeriodicExporter::shutdown`].
    fn drop(&mut self) {
        self.stop();
    }
}

/// The export thread.
fn run<P, X, K>(
    options: PeriodicOptions,
    mut producer: P,
    mut snapshot: Box<P::Snapshot>,
    exchange: X,
    clock: K,
    shared: &Shared,
) where
    P: Producer,
    X: Exchange,
    K: Clock,
{
    let parts = ExporterParts::new(
        &options.endpoint,
        &options.headers,
        &options.resource,
        options.request_timeout,
        options.export_timeout,
    );
    let scope = Scope::new(&options.scope_name).with_version(&options.scope_version);
    let mut config = parts.exporter_config(scope);
    config.retry = options.retry;
    config.jitter_seed = options.jitter_seed;
    let mut exporter = Exporter::new(config, exchange);
    let mut buffer = vec![0u8; options.buffer_size];
    let interval = options.export_interval;
    let mut next = instant_after(std::time::Instant::now(), interval);
    loop {
        let stopping = {
            let (mut state, _) =
                shared.wait_until(shared.lock(), next, |s| s.stop || s.export_requested);
            let stopping = state.stop;
            if !stopping {
                // A forced export, or the interval: either way this round serves it.
                state.export_requested = false;
            }
            state.begun += 1;
            stopping
        };
        let started = std::time::Instant::now();
        let stop_by = if stopping {
            shared.lock().stop_by
        } else {
            None
        };
        if stop_by.is_some_and(|by| by <= std::time::Instant::now()) {
            // No budget left for a final export: leave what was recorded in the registry
            // rather than collect it into a snapshot that would only be abandoned.
            return;
        }
        if stopping {
            // The last chance to deliver: one attempt now rather than wait out a server's
            // `Retry-After` past the shutdown, or lose the data with the process.
            exporter.policy_mut().set_hold_until(None);
        }
        let mut run = exporter.start(&mut producer, &mut snapshot, unix_now(), clock.now());
        if let Some(by) = stop_by {
            let left = by.saturating_duration_since(std::time::Instant::now());
            let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
            run.end_by(clock.now().add_millis(left_ms));
        }
        let report = loop {
            match exporter.step(&mut run, &mut producer, &snapshot, &mut buffer, &clock) {
                Step::Done(report) => break report,
                Step::Wait(at) => {
                    let now = clock.now();
                    if stopping {
                        // The final export: its deadline bounds every wait.
                        Sleep.wait(now, at);
                    } else if wait_unless_stopped(
                        shared,
                        Duration::from_millis(now.millis_until(at)),
                    ) {
                        break exporter.abandon(&mut run, &mut producer, &snapshot);
                    }
                }
            }
        };
        {
            let mut state = shared.lock();
            state.exports += 1;
            state.stats = *exporter.stats();
            state.last_report = Some(report);
        }
        shared.wake.notify_all();
        if stopping {
            return;
        }
        // Fixed rate from each export's start; after a long export, wait a whole interval
        // rather than exporting back to back.
        next = instant_after(started, interval);
        let now = std::time::Instant::now();
        if next <= now {
            next = instant_after(now, interval);
        }
    }
}
