//! Test tooling for otlp-embedded, never published: the misbehaving OTLP/HTTP sink that
//! the tests, the benches and the demo send to, the one function that turns decoded
//! requests into totals, a scripted DNS server, and (feature `tls`) a throwaway test PKI.
//!
//! - [`sink`]: [`Sink`], a local OTLP/HTTP receiver that decodes what it gets and can
//!   misbehave on purpose (idle closes, resets, 429/503 with `Retry-After`, trickling,
//!   garbage, cut-off answers, partial success). With feature `tls` it also serves HTTPS
//!   (`SinkOptions::tls`).
//! - [`totals`](mod@totals): [`totals()`], totals per series over decoded
//!   `ExportMetricsServiceRequest`s; the sink, the demo and the tests all count with it.
//! - [`dns`]: a scripted DNS server for the resolver tests, answering from a small zone or
//!   misbehaving on purpose (silence, NXDOMAIN, SERVFAIL, truncation, cut or looping
//!   records, wrong ids); [`dns::respond`] for in-memory tests, [`dns::UdpResponder`] on a
//!   kernel UDP socket.
//! - `test_pki` (feature `tls`): a CA, server, expired, wrong-name and client certificates
//!   made at run time with rcgen.
//! - `tokio_tcp` (feature `tokio`): core's async stream seam over tokio's `TcpStream`, for
//!   the demo's async driver and the async tests and benches.
//! - `tls_clock` (feature `tls-clock`): `WallClock`, the system's date as the firmware TLS
//!   client's clock (certificate dates checked as a board with an RTC checks them).
//! - Real servers and the network around them, for the tests that need root and Debian
//!   programs: [`netns`] (a network namespace with a TAP device, a test body run in it,
//!   and what the kernel says about its TCP sockets there), [`dnsmasq`] (a DNS server),
//!   [`nginx`] (a TLS front in front of the sink), [`openssl_pki`] (public-CA-shaped
//!   chains made with the `openssl` command), and [`process`] (finding those programs,
//!   the SKIP rule, scratch directories).
//!
//! ```
//! use otlp_embedded_test_kit::sink::Sink;
//!
//! let sink = Sink::start().unwrap();
//! // ... export to sink.endpoint_url() ...
//! assert!(sink.totals().is_empty()); // per series, over the acknowledged requests
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dns;
pub mod dnsmasq;
pub mod netns;
pub mod nginx;
pub mod openssl_pki;
pub mod process;
pub mod sink;
#[cfg(feature = "tls")]
pub mod test_pki;
#[cfg(feature = "tls-clock")]
pub mod tls_clock;
#[cfg(feature = "tokio")]
pub mod tokio_tcp;
pub mod totals;

pub use sink::{Fault, RetryAfter, Sink, SinkOptions, SinkStats};
pub use totals::{totals, Repeats, SeriesKey, SeriesTotal};
