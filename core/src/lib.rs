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
//! 3  export                        the policy: collect, encode, send, settle
//! 2  registry   http      nal      instruments, snapshots, the collect/settle contract |
//!                                  HTTP/1.1 writer, reader and drivers | embedded-nal adapter
//! 1  proto      transport          OTLP protobuf, response decoders |
//!                                  the seams, request/response values, exchange errors
//! 0  time                          the caller's clock, unix timestamps
//!
//! export    -> registry, proto, transport, time
//! registry  -> proto, time
//! http, nal -> transport, time
//! transport -> time
//! ```
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
pub mod proto;
pub mod registry;
pub mod time;
pub mod transport;

// The README's example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
