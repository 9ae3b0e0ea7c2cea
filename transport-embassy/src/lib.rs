//! embassy-net TCP transport for otlp-embedded: async firmware sends OTLP over its embassy-net
//! stack.
//!
//! [`EmbassyConnector`] owns one embassy-net `TcpSocket` on the caller's [`Stack`], with
//! receive and send buffers the caller lends, and opens connection after connection on it.
//! An [`EmbassyConnection`] is an `embedded-io-async` `Read` + `Write` stream in which every
//! wait ends at an absolute deadline on core's clock ([`EmbassyClock`], embassy-time
//! underneath), and which is closed explicitly: [`close`](EmbassyConnection::close) sends
//! our FIN (or, for a peer that misbehaved, an RST) and waits, by the deadline, until the
//! close has happened on the wire before the socket is reused. Host names are resolved by
//! embassy-net's DNS client (feature `dns`), within the connect deadline.
//!
//! The connector plugs into core's async seams (`AsyncConnect`, `AsyncConnection`, and
//! [`EmbassyClock`] as core's `AsyncTimer`), so core's async HTTP client and exporter run
//! over it: [`exporter`] builds one, [`export_once`] runs one export (retries,
//! `Retry-After` and deadlines as core's policy says), and [`run_periodic`] is the loop an
//! exporting task runs.
//!
//! Nothing here allocates or spawns: the stack's runner task is the firmware's, as in every
//! embassy-net program, and a connector lives in whichever task exports.
//!
//! ```
//! use embassy_net::Stack;
//! use embedded_io_async::{Read, Write};
//! use otlp_embedded::time::Clock;
//! use otlp_embedded::transport::{CloseMode, Endpoint, Scheme, TransportError};
//! use otlp_embedded_embassy::{EmbassyClock, EmbassyConnector};
//!
//! /// Send `request` to 10.0.0.2:4318 and read the reply into `reply`, within 5 s.
//! async fn send_once(
//!     stack: Stack<'_>,
//!     request: &[u8],
//!     reply: &mut [u8],
//! ) -> Result<usize, TransportError> {
//!     let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
//!     let mut connector = EmbassyConnector::new(stack, &mut rx, &mut tx);
//!     let deadline = EmbassyClock.now().add_millis(5_000);
//!     let endpoint = Endpoint::new(Scheme::Http, "10.0.0.2", 4318, "/v1/metrics");
//!     let mut conn = connector.connect(&endpoint, deadline).await?;
//!     if let Err(kind) = conn.write_all(request).await {
//!         conn.close(CloseMode::Abort).await?;
//!         return Err(TransportError::Io(kind));
//!     }
//!     let mut got = 0;
//!     while got < reply.len() {
//!         match conn.read(&mut reply[got..]).await {
//!             Ok(0) => break, // the peer's FIN, after everything it sent
//!             Ok(n) => got += n,
//!             Err(kind) => {
//!                 conn.close(CloseMode::Abort).await?;
//!                 return Err(TransportError::Io(kind));
//!             }
//!         }
//!     }
//!     // FIN out, the peer's FIN in and ours acknowledged, or an abort at the deadline.
//!     conn.close(CloseMode::Graceful).await?;
//!     Ok(got)
//! }
//! # let _ = send_once;
//! ```
//!
//! ## embassy-net's smoltcp and otlp-embedded-smoltcp's
//!
//! embassy-net 0.9 is built on smoltcp 0.13 and pins it; `otlp-embedded-smoltcp` uses
//! smoltcp 0.14. To cargo these are two different crates (0.x minor versions are
//! incompatible), so a build with both transports links both smoltcp versions, and their
//! types do not mix: an address of one is not an address of the other. A firmware uses one
//! of them: embassy-net and this crate (async), or its own smoltcp interface and
//! `otlp-embedded-smoltcp` (superloop or blocking). This crate names no smoltcp type
//! itself, only embassy-net's re-exports, and core depends on neither, so the protocol,
//! HTTP and exporter code is the same under both. This crate moves to smoltcp 0.14 when
//! embassy-net does.
//!
//! One trap when both smoltcp versions are in one build (a host test, a workspace): smoltcp
//! 0.13 only compiles with `managed`'s `alloc` or `std` feature when its own `alloc` is on
//! too. If anything turns those on for `managed` (smoltcp 0.14 with `std` does), turn on
//! embassy-net's `alloc` feature in that build as well; this workspace's tests do.
//!
//! ## Notes for firmware
//!
//! - The connector's socket stays in the stack's socket set for the connector's life, and
//!   embassy-net's DNS client takes one more slot: size `StackResources` for both, plus
//!   whatever else the firmware opens.
//! - Deadlines are embassy-time instants: use [`EmbassyClock`] as core's clock, so that core's
//!   deadlines and this crate's timers agree.
//! - A connection dropped without `close` (its future cancelled) is aborted: the RST goes
//!   out on the runner's next poll, and the next `connect` first waits for it (bounded by
//!   [`ABORT_GRACE_MS`] past its deadline at most).
//! - IPv4 only: embassy-net with `proto-ipv4` and `medium-ethernet` is what this crate
//!   asks for; an IPv6 literal host is refused as `Io(Unsupported)`.
//!
//! ## Features
//!
//! - `dns` (default): host names through embassy-net's DNS client; without it only IPv4
//!   literals are accepted and embassy-net's DNS socket is not built on this crate's
//!   account.
//! - `defmt`: `defmt::Format` on this crate's types, and defmt in core, embassy-net and
//!   embassy-time.
#![no_std]
#![forbid(unsafe_code)]
// docs.rs (nightly, `--cfg docsrs`) marks each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod connection;
mod export;
pub mod resolve;
mod time;

pub use connection::{EmbassyConnection, EmbassyConnector, ABORT_GRACE_MS};
pub use export::{
    export_once, exporter, exporter_with_lent_head, run_periodic, EmbassyExporter,
    EmbassyHttpClient, EmbassyLentHeadClient, EmbassyLentHeadExporter,
};
pub use time::{embassy_instant, EmbassyClock};

/// embassy-net's stack handle, which [`EmbassyConnector::new`] takes.
pub use embassy_net::Stack;

// The README's example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
