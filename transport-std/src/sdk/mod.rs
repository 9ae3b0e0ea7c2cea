//! A drop-in exporter for the `opentelemetry_sdk` metrics pipeline (feature `sdk`).
//!
//! Services instrumented through the `opentelemetry` API keep their instruments, their
//! meter provider and its `PeriodicReader`; one line changes, the exporter:
//!
//! ```no_run
//! use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
//!
//! // Was: let exporter = opentelemetry_otlp::MetricExporter::builder().with_http().build()?;
//! let exporter = otlp_embedded_std::sdk::MetricExporter::builder().with_http().build()?;
//! let stats = exporter.stats(); // the reader owns the exporter; the handle stays here
//! let provider = SdkMeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(exporter).build())
//!     .build();
//! // ... record through opentelemetry::global or provider.meter(..) ...
//! provider.shutdown()?;
//! println!("{} exports ok, {} failed", stats.totals().exports_ok, stats.totals().exports_failed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What the exporter does differently from opentelemetry-otlp's HTTP exporter, which pools
//! keep-alive connections: each request opens its own connection, reads the whole response
//! and closes the connection explicitly, so a collector or load balancer closing an idle
//! connection can never fail the next export, and nothing is retried after the server may
//! have kept it because a pooled connection died under it. The `ResourceMetrics` the reader
//! hands over is encoded straight into a buffer kept between exports (no intermediate
//! protobuf messages, no allocation per export once the buffer and index have grown to the
//! batch), split into several requests when it does not fit, and each request is settled by
//! core's exporter policy: OTLP retries with backoff and `Retry-After`, partial success
//! counted, one deadline for the whole export.
//!
//! Configuration is the `OTEL_*` environment ([`Config`]), read when the exporter is built,
//! with the builder's values taking precedence as in opentelemetry-otlp:
//!
//! - endpoint, headers, compression (`gzip` with the `gzip` feature), certificates (`https`
//!   with the `tls` feature), as [`Config`] reads them;
//! - the temporality preference, given to the SDK through
//!   [`PushMetricExporter::temporality`] (the reader applies the per-instrument table);
//! - `OTEL_EXPORTER_OTLP_[METRICS_]TIMEOUT` bounds each export, retries included; so does
//!   `OTEL_METRIC_EXPORT_TIMEOUT` when sooner (the SDK's reader does not apply it itself);
//! - `OTEL_SDK_DISABLED=true`: every export returns at once and sends nothing.
//!
//! `export` blocks its caller until the export ends, which the SDK's `PeriodicReader` does
//! on its own thread (`futures_executor::block_on`); no lock is held that the reader's
//! other calls (`temporality`, `force_flush`, `shutdown`) wait for. A `shutdown` from
//! another thread ends a retry wait at once (what was not delivered is reported as
//! cancelled); a request in flight ends by its deadline.
//!
//! # Mapping
//!
//! Each SDK shape maps as opentelemetry-proto's `transform` maps it (what
//! opentelemetry-otlp sends; the conformance tests compare the bytes), the one difference
//! marked:
//!
//! | SDK | OTLP |
//! |---|---|
//! | `Sum<T>` | `Sum`, its temporality (`LowMemory` never appears in data; read as cumulative) and monotonicity |
//! | `Gauge<T>` | `Gauge`; `start_time` when the SDK has one, else none |
//! | `Histogram<T>` | `Histogram`; `sum` always set, `min`/`max` when recorded, as doubles |
//! | `ExponentialHistogram<T>` | `ExponentialHistogram`; both bucket sides always present |
//! | `u64` value | `as_int`; above `i64::MAX` it saturates (opentelemetry-otlp sends 0) |
//! | `i64` / `f64` value | `as_int` / `as_double` |
//! | each `ScopeMetrics` | one `ScopeMetrics` with its scope's name, version, attributes, schema URL |
//! | `Resource` | the request's resource, attributes in the SDK's order, its schema URL |
//! | attribute values | bool, int, double, string, and arrays of each |
//! | exemplars | dropped: the SDK of this version never records any |

mod exchange;
mod source;
mod stats;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use otlp_embedded::export::{
    ExportErrorKind, ExportOutcome, ExportReport, Exporter, ExporterConfig, RetryPolicy, Step,
};
use otlp_embedded::http::RequestWriter;
use otlp_embedded::proto::{RequestHeader, Resource, Scope};
use otlp_embedded::time::Clock;
use otlp_embedded::transport::{Exchange, ExchangeError, Header, HttpRequest};

use crate::config::{
    millis_u32, Compression, Config, ConfigError, EndpointUrl, TemporalityPreference,
};
use crate::periodic::{unix_now, DEFAULT_BUFFER_SIZE};
use crate::StdClock;
use source::{index_metrics, Collected, MetricAt, SdkSource};
use stats::Shared;
pub use stats::{ExportStatsHandle, REPORT_HISTORY};

/// Most extra request headers an exporter sends (they are lent to each export from a
/// fixed array, so that an export allocates nothing).
pub const MAX_HEADERS: usize = 32;

/// Why [`MetricExporterBuilder::build`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// An `OTEL_*` variable or a builder value could not be used (the error names which).
    Config(ConfigError),
    /// A header could not be sent: its name, and what is wrong with it.
    Header {
        /// The header's name.
        name: String,
        /// What is wrong ([`ExchangeError::InvalidHeader`]).
        problem: ExchangeError,
    },
    /// More extra headers than [`MAX_HEADERS`].
    TooManyHeaders {
        /// How many were configured.
        count: usize,
    },
    /// The endpoint is `https` but the `tls` feature is off.
    TlsUnavailable,
    /// gzip compression was asked for but the `gzip` feature is off.
    GzipUnavailable,
    /// The TLS configuration could not be built from the certificate and key files.
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsConfigError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "{e}"),
            BuildError::Header { name, problem } => {
                write!(f, "request header {name:?} cannot be sent: {problem}")
            }
            BuildError::TooManyHeaders { count } => write!(
                f,
                "{count} request headers configured; the exporter sends at most {MAX_HEADERS}"
            ),
            BuildError::TlsUnavailable => {
                f.write_str("an https endpoint needs the `tls` feature of otlp-embedded-std")
            }
            BuildError::GzipUnavailable => {
                f.write_str("gzip compression needs the `gzip` feature of otlp-embedded-std")
            }
            #[cfg(feature = "tls")]
            BuildError::Tls(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<ConfigError> for BuildError {
    fn from(error: ConfigError) -> Self {
        BuildError::Config(error)
    }
}

/// Builds a [`MetricExporter`]; the method names are opentelemetry-otlp's, so code written
/// for its `MetricExporter::builder()` compiles unchanged.
#[derive(Debug, Default)]
#[must_use]
pub struct MetricExporterBuilder {
    config: Option<Config>,
    endpoint: Option<String>,
    timeout: Option<Duration>,
    headers: Option<Vec<(String, String)>>,
    temporality: Option<Temporality>,
    compression: Option<Compression>,
    retry: Option<RetryPolicy>,
    buffer_size: Option<usize>,
}

impl MetricExporterBuilder {
    /// OTLP over HTTP with protobuf bodies, the only protocol this exporter speaks (kept
    /// so that a builder chain written for opentelemetry-otlp compiles unchanged).
    pub fn with_http(self) -> Self {
        self
    }

    /// Configure from `config` instead of reading the `OTEL_*` environment at
    /// [`build`](Self::build). The other `with_*` values still take precedence.
    pub fn with_config(self, config: Config) -> Self {
        MetricExporterBuilder {
            config: Some(config),
            ..self
        }
    }

    /// The full URL requests go to (`http://collector:4318/v1/metrics`), used as is, as
    /// opentelemetry-otlp uses its `with_endpoint` and `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
    pub fn with_endpoint(self, url: impl Into<String>) -> Self {
        MetricExporterBuilder {
            endpoint: Some(url.into()),
            ..self
        }
    }

    /// The deadline of each export, retries included (`OTEL_EXPORTER_OTLP_TIMEOUT`).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        MetricExporterBuilder {
            timeout: Some(timeout),
            ..self
        }
    }

    /// Extra request headers (authorization and the like), instead of the configured ones.
    pub fn with_headers(self, headers: HashMap<String, String>) -> Self {
        let mut headers: Vec<(String, String)> = headers.into_iter().collect();
        // A stable order on the wire.
        headers.sort();
        MetricExporterBuilder {
            headers: Some(headers),
            ..self
        }
    }

    /// The temporality the SDK should aggregate with (the reader maps it per instrument
    /// kind), instead of `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub fn with_temporality(self, temporality: Temporality) -> Self {
        MetricExporterBuilder {
            temporality: Some(temporality),
            ..self
        }
    }

    /// Request body compression, instead of `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub fn with_compression(self, compression: Compression) -> Self {
        MetricExporterBuilder {
            compression: Some(compression),
            ..self
        }
    }

    /// Retry timing (attempts, backoff), instead of core's default OTLP policy.
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Self {
        MetricExporterBuilder {
            retry: Some(retry),
            ..self
        }
    }

    /// Size of the request buffer, allocated once: a batch that does not fit goes out as
    /// several requests. Default [`DEFAULT_BUFFER_SIZE`].
    pub fn with_buffer_size(self, bytes: usize) -> Self {
        MetricExporterBuilder {
            buffer_size: Some(bytes),
            ..self
        }
    }

    /// Read the configuration (unless given), check it, and make the exporter. Each of
    /// the configuration's [`warnings`](Config::warnings) is printed to standard error, as
    /// `otlp-embedded: warning: ...`.
    pub fn build(self) -> Result<MetricExporter, BuildError> {
        let config = match self.config {
            Some(config) => config,
            None => Config::from_env()?,
        };
        for warning in &config.warnings {
            eprintln!("otlp-embedded: warning: {warning}");
        }
        let endpoint = match &self.endpoint {
            Some(url) => EndpointUrl::parse("MetricExporterBuilder::with_endpoint", url)?,
            None => config.endpoint.clone(),
        };
        let headers = self.headers.unwrap_or_else(|| config.headers.clone());
        check_headers(&endpoint, &headers)?;
        let timeout = self
            .timeout
            .unwrap_or(config.timeout)
            .min(config.export_timeout);
        let temporality = self.temporality.unwrap_or(match config.temporality {
            TemporalityPreference::Cumulative => Temporality::Cumulative,
            TemporalityPreference::Delta => Temporality::Delta,
            TemporalityPreference::LowMemory => Temporality::LowMemory,
        });
        let compression = self.compression.unwrap_or(config.compression);
        let buffer_size = self.buffer_size.unwrap_or(DEFAULT_BUFFER_SIZE);
        let clock = StdClock::new();
        let exchange =
            exchange::exchange_for(&endpoint, &config.tls, compression, buffer_size, clock)?;
        Ok(MetricExporter {
            settings: Settings {
                endpoint,
                headers,
                timeout,
                retry: self.retry.unwrap_or_default(),
                temporality,
                disabled: config.sdk_disabled,
                jitter_seed: unix_now() ^ u64::from(std::process::id()).rotate_left(32),
            },
            state: Mutex::new(ExportState {
                exchange,
                clock,
                buffer: vec![0; buffer_size],
                index: Vec::new(),
                exports_started: 0,
            }),
            shared: Arc::new(Shared::new()),
        })
    }
}

/// Check that `headers` fit and that core's request writer would send them.
fn check_headers(endpoint: &EndpointUrl, headers: &[(String, String)]) -> Result<(), BuildError> {
    if headers.len() > MAX_HEADERS {
        return Err(BuildError::TooManyHeaders {
            count: headers.len(),
        });
    }
    let endpoint = endpoint.as_endpoint();
    for (name, value) in headers {
        let one = [Header::new(name, value)];
        let request =
            HttpRequest::new(&endpoint, &[], otlp_embedded::time::Instant(0)).with_headers(&one);
        if let Err(problem) = RequestWriter::new(&request) {
            if matches!(problem, ExchangeError::InvalidHeader { .. }) {
                return Err(BuildError::Header {
                    name: name.clone(),
                    problem,
                });
            }
        }
    }
    Ok(())
}

/// What the exporter was built with; fixed for its life.
struct Settings {
    endpoint: EndpointUrl,
    headers: Vec<(String, String)>,
    /// Deadline of one export, retries included.
    timeout: Duration,
    retry: RetryPolicy,
    temporality: Temporality,
    disabled: bool,
    jitter_seed: u64,
}

/// What one export needs mutably; behind a lock that only `export` takes.
struct ExportState {
    exchange: Box<dyn Exchange + Send>,
    clock: StdClock,
    /// Where requests are encoded, allocated once.
    buffer: Vec<u8>,
    /// Position of each metric of the batch, rebuilt each export in the same memory.
    index: Vec<MetricAt>,
    exports_started: u64,
}

/// An `opentelemetry_sdk` [`PushMetricExporter`] that sends OTLP/HTTP through
/// otlp-embedded's exchange; see the [module docs](self).
pub struct MetricExporter {
    settings: Settings,
    state: Mutex<ExportState>,
    shared: Arc<Shared>,
}

impl fmt::Debug for MetricExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricExporter")
            .field("endpoint", &self.settings.endpoint)
            .field("timeout", &self.settings.timeout)
            .field("temporality", &self.settings.temporality)
            .field("disabled", &self.settings.disabled)
            .finish_non_exhaustive()
    }
}

/// Marks an export running while it lives; `shutdown` waits for none to run.
struct Running<'a>(&'a Shared);

impl<'a> Running<'a> {
    fn start(shared: &'a Shared) -> Result<Self, OTelSdkError> {
        let mut state = shared.lock();
        if state.shut_down {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.exporting += 1;
        Ok(Running(shared))
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().exporting -= 1;
        self.0.notify();
    }
}

impl MetricExporter {
    /// A builder, configured from the `OTEL_*` environment when built.
    pub fn builder() -> MetricExporterBuilder {
        MetricExporterBuilder::default()
    }

    /// A handle on this exporter's statistics, to keep after the reader has taken the
    /// exporter.
    pub fn stats(&self) -> ExportStatsHandle {
        ExportStatsHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Send `metrics`, blocking until every request is settled or the export's deadline.
    fn export_now(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if self.settings.disabled {
            return Ok(());
        }
        let _running = Running::start(&self.shared)?;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // A shutdown that came while this export waited for another to end.
        if self.shared.lock().shut_down {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let ExportState {
            exchange,
            clock,
            buffer,
            index,
            exports_started,
        } = &mut *state;
        index_metrics(metrics, index);
        let mut snapshot = SdkSource::new(metrics, index);

        // The resource's attributes come from the source; its schema URL and the (unused:
        // every metric is under one of the source's scopes) header scope from here.
        let schema_url = metrics.resource().schema_url().unwrap_or("");
        let header = RequestHeader::new(
            Resource::new(&[]).with_schema_url(schema_url),
            Scope::new(""),
        );
        // Not `ExporterParts`: it collects the headers into a `Vec` each time, and an export
        // here allocates nothing.
        let mut headers = [Header::new("", ""); MAX_HEADERS];
        for (slot, (name, value)) in headers.iter_mut().zip(&self.settings.headers) {
            *slot = Header::new(name, value);
        }
        let millis = millis_u32(self.settings.timeout);
        let mut config = ExporterConfig::new(self.settings.endpoint.as_endpoint(), header);
        config.headers = headers
            .get(..self.settings.headers.len())
            .unwrap_or_default();
        config.export_timeout_ms = millis;
        config.request_timeout_ms = millis;
        config.retry = self.settings.retry;
        // Each export its own jitter sequence (the seed is mixed before use).
        config.jitter_seed = self.settings.jitter_seed.wrapping_add(*exports_started);
        *exports_started += 1;

        let mut exporter = Exporter::new(config, &mut **exchange);
        let mut producer = Collected::new();
        let mut run = exporter.start(&mut producer, &mut snapshot, unix_now(), clock.now());
        let report = loop {
            match exporter.step(&mut run, &mut producer, &snapshot, buffer, &*clock) {
                Step::Done(report) => break report,
                Step::Wait(at) => {
                    let until = instant_after(Instant::now(), clock.remaining(at));
                    let shut_down = self
                        .shared
                        .wait_until(self.shared.lock(), until, |s| s.shut_down)
                        .1;
                    if shut_down {
                        break exporter.abandon(&mut run, &mut producer, &snapshot);
                    }
                }
            }
        };
        self.shared
            .lock()
            .record(report, exporter.stats(), exporter.last_server_message());
        self.shared.notify();
        self.result(&report)
    }

    /// The SDK's view of how an export ended. Partial success is success, as OTLP says;
    /// the rejected points are in the statistics.
    fn result(&self, report: &ExportReport) -> OTelSdkResult {
        if report.outcome != ExportOutcome::Failed {
            return Ok(());
        }
        let kind = report.last_error.map(|e| e.kind);
        if kind == Some(ExportErrorKind::DeadlineExceeded) {
            return Err(OTelSdkError::Timeout(self.settings.timeout));
        }
        let why = report
            .last_error
            .map_or_else(|| "no error recorded".to_string(), |e| e.to_string());
        Err(OTelSdkError::InternalFailure(format!(
            "{} of {} points not delivered ({} dropped, {} left undelivered): {why}",
            report.points_dropped + report.points_abandoned,
            report.points_collected,
            report.points_dropped,
            report.points_abandoned,
        )))
    }
}

impl PushMetricExporter for MetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        self.export_now(metrics)
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Nothing is buffered between exports.
        Ok(())
    }

    /// Refuse further exports, end a retry wait in progress at once, and wait at most
    /// `timeout` for a running export to end.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let mut state = self.shared.lock();
        if state.shut_down {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        state.shut_down = true;
        self.shared.notify();
        let until = instant_after(Instant::now(), timeout);
        let idle = self.shared.wait_until(state, until, |s| s.exporting == 0).1;
        if idle {
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }

    fn temporality(&self) -> Temporality {
        self.settings.temporality
    }
}

/// `from + wait`, or a year on when that cannot be represented (`Duration::MAX`).
pub(crate) fn instant_after(from: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(365 * 24 * 3600);
    from.checked_add(wait)
        .or_else(|| from.checked_add(FAR))
        .unwrap_or(from)
}
