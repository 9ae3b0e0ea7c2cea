//! Linux and other `std` platforms for [otlp-embedded](otlp_embedded): a TCP transport, the
//! `OTEL_*` environment configuration, a periodic exporter, gzip and rustls.
//!
//! One counter, exported every `OTEL_METRIC_EXPORT_INTERVAL` to the collector the `OTEL_*`
//! variables name:
//!
//! ```no_run
//! use otlp_embedded::proto::KeyValue;
//! use otlp_embedded::registry::InstrumentDesc;
//! use otlp_embedded_std::{PeriodicExporter, SharedRegistry};
//!
//! let registry = SharedRegistry::with_default_capacities();
//! let requests = registry.instrument(InstrumentDesc::counter_u64("requests"))?;
//! let exporter = PeriodicExporter::from_env("my-service", &registry)?;
//! requests.record(1u64, &[KeyValue::str("status", "200")])?;
//! exporter.shutdown(); // one final export, then the thread ends
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`clock`]: [`StdClock`], core's monotonic clock over `std::time::Instant`, and
//!   [`Sleep`], core's wait as `std::thread::sleep`.
//! - [`tcp`]: [`TcpConnector`], core's stream seam over `std::net::TcpStream`, every call
//!   bounded by core's deadline; closes are explicit (FIN and drain, or RST). Host names go
//!   through core's resolver seam ([`SystemResolver`] by default).
//! - [`poll`]: [`PollTcp`], core's superloop seam over a non-blocking `TcpStream`, for a
//!   single-threaded event loop (core's `Exporter::poll`); nothing waits.
//! - [`config`]: [`Config`], the OTLP exporter settings from `OTEL_*` variables as the
//!   OpenTelemetry specification defines them; values it cannot use are warnings naming
//!   the variable (or errors, read strictly). [`Config::exporter_parts`] lends them as
//!   core's `ExporterConfig`.
//! - [`shared`]: [`SharedRegistry`], a registry behind a `std::sync::Mutex` of its own, for
//!   services that record from many threads, and [`SharedInstrument`], an instrument handle
//!   that records without the registry passed around.
//! - [`periodic`]: [`PeriodicExporter`], a background thread that exports every interval and
//!   once more on shutdown; built from a [`Config`], it goes over TLS for an `https`
//!   endpoint (feature `tls`) and gzip-compresses when configured (feature `gzip`).
//! - `gzip` (feature `gzip`): `GzipExchange`, gzip request compression as an exchange wrapper.
//! - `metrics_rs` (feature `metrics-rs`): `metrics_rs::MetricsRecorder`, a recorder for
//!   the `metrics` crate facade over a [`SharedRegistry`].
//! - `tls` (feature `tls`): rustls for `https` endpoints over any stream-seam connector
//!   (`tls::TlsConnector`, `tls::SchemeConnector`).
//!
//! The stream seam by hand, for a transport of your own over `TcpConnector`:
//!
//! ```no_run
//! use otlp_embedded::time::Clock;
//! use otlp_embedded::transport::{CloseMode, Connect, Connection};
//! use otlp_embedded_std::config::{millis_u32, Config};
//! use otlp_embedded_std::{StdClock, TcpConnector};
//!
//! let config = Config::from_env()?;
//! let clock = StdClock::new();
//! let mut connector = TcpConnector::new(clock);
//! let deadline = clock.now().add_millis(u64::from(millis_u32(config.timeout)));
//! let mut connection = connector.connect(&config.endpoint(), deadline)?;
//! connection.set_deadline(deadline);
//! // Core's HTTP client writes the request and reads the whole response here.
//! connection.close(CloseMode::Graceful)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
// docs.rs (nightly, `--cfg docsrs`) marks each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod clock;
pub mod config;
#[cfg(feature = "gzip")]
pub mod gzip;
#[cfg(feature = "metrics-rs")]
pub mod metrics_rs;
pub mod periodic;
pub mod poll;
#[cfg(feature = "sdk")]
pub mod sdk;
pub mod shared;
pub mod tcp;

pub use clock::{Sleep, StdClock};
pub use config::Config;
#[cfg(feature = "gzip")]
pub use gzip::GzipExchange;
pub use periodic::{PeriodicExporter, PeriodicOptions};
pub use poll::PollTcp;
pub use shared::{ArcProducer, SharedInstrument, SharedRegistry};
pub use tcp::{SystemResolver, TcpConnection, TcpConnector, MAX_STALLED_RESOLVES};

#[cfg(feature = "tls")]
pub mod tls;

// The README's example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
