//! Linux and other `std` platforms for [otlp-embedded](otlp_embedded): a TCP transport, the
//! `OTEL_*` environment configuration, a periodic exporter, gzip and rustls.
//!
//! - [`clock`]: [`StdClock`], core's monotonic clock over `std::time::Instant`.
//! - [`tcp`]: [`TcpConnector`], core's stream seam over `std::net::TcpStream`, every call
//!   bounded by core's deadline; closes are explicit (FIN and drain, or RST).
//! - [`config`]: [`Config`], the OTLP exporter settings from `OTEL_*` variables as the
//!   OpenTelemetry specification defines them; values it cannot use are warnings naming
//!   the variable (or errors, read strictly).
//! - [`shared`]: [`SharedRegistry`], a registry behind a `std::sync::Mutex` of its own, for
//!   services that record from many threads.
//! - [`periodic`]: [`PeriodicExporter`], a background thread that exports every interval and
//!   once more on shutdown; built from a [`Config`], it goes over TLS for an `https`
//!   endpoint (feature `tls`) and gzip-compresses when configured (feature `gzip`).
//! - `gzip` (feature `gzip`): `GzipExchange`, gzip request compression as an exchange wrapper.
//! - `tls` (feature `tls`): rustls for `https` endpoints over any stream-seam connector
//!   (`tls::TlsConnector`, `tls::SchemeConnector`).
//!
//! ```no_run
//! use otlp_embedded::time::Clock;
//! use otlp_embedded::transport::{CloseMode, Connect, Connection};
//! use otlp_embedded_std::{config::Config, StdClock, TcpConnector};
//!
//! let config = Config::from_env()?;
//! let clock = StdClock::new();
//! let mut connector = TcpConnector::new(clock);
//! let deadline = clock.now().add_millis(config.timeout.as_millis() as u64);
//! let mut connection = connector
//!     .connect(&config.endpoint(), deadline)
//!     .map_err(|e| e.to_string())?;
//! connection.set_deadline(deadline);
//! // Core's HTTP client writes the request and reads the whole response here.
//! connection.close(CloseMode::Graceful).map_err(|e| e.to_string())?;
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
pub mod periodic;
#[cfg(feature = "sdk")]
pub mod sdk;
pub mod shared;
pub mod tcp;

pub use clock::StdClock;
pub use config::Config;
#[cfg(feature = "gzip")]
pub use gzip::GzipExchange;
pub use periodic::{PeriodicExporter, PeriodicOptions};
pub use shared::{ArcProducer, SharedRegistry};
pub use tcp::{system_resolver, Resolver, TcpConnection, TcpConnector, MAX_STALLED_RESOLVES};

#[cfg(feature = "tls")]
pub mod tls;

// The README's example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
