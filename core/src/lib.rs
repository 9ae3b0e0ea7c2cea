//! OpenTelemetry metrics over OTLP/HTTP for firmware and Linux, with fixed memory and no heap.
//!
//! The data path runs in one direction:
//!
//! ```text
//! record -> registry (fixed series tables) -> collect (snapshot)
//!        -> proto (encode requests into the caller's buffer, split as needed)
//!        -> http (write request, read the whole response, close)
//!        -> export (settle each request: commit, drop or abandon)
//! ```
//!
//! The modules are layers, each using only those below it (`scripts/layers.py` checks
//! this in CI):
//!
//! ```text
//! 3  export                        the policy and its blocking, superloop and async drivers
//! 2  registry   http      nal      instruments, snapshots, the collect/settle contract |
//!                         nal_async  HTTP/1.1 writer, reader and clients | embedded-nal
//!                                  and embedded-nal-async adapters
//! 1  proto      transport          OTLP protobuf, response decoders |
//!                                  the seams (blocking, poll, async), request/response
//!                                  values, exchange errors
//! 0  time                          the caller's clock, unix timestamps
//!
//! export               -> registry, proto, transport, time
//! registry             -> proto, time
//! http, nal, nal_async -> transport, time
//! transport            -> time
//! ```
//!
//! One export policy ([`export::ExportPolicy`]) drives every way of doing I/O: blocking
//! ([`export::Exporter::export`] over [`transport::Exchange`]), a superloop that never
//! waits ([`export::Exporter::poll`] over [`transport::PollExchange`]), and `.await`
//! (`Exporter::export_async` over `transport::AsyncExchange`, feature `async`). Which to
//! use: a thread that may block (Linux, an RTOS task) takes the blocking driver; bare-metal
//! firmware whose main loop must keep serving its hardware takes the superloop driver; an
//! embassy (or tokio) task takes the async one, which never starves the executor.
//!
//! `core` never allocates, never owns a clock and never sleeps: time comes in through
//! [`time::Clock`] and unix timestamps passed by the caller, and retry timing is state that
//! the caller's driver honours.
#![no_std]
#![forbid(unsafe_code)]
// docs.rs (nightly, `--cfg docsrs`) marks each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod export;
pub mod http;
#[cfg(feature = "embedded-nal")]
pub mod nal;
#[cfg(feature = "embedded-nal-async")]
pub mod nal_async;
pub mod proto;
pub mod registry;
pub mod time;
pub mod transport;

// The README's example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
