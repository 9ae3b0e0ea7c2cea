//! OpenTelemetry metrics over OTLP/HTTP for firmware and Linux, with fixed memory and no heap.
//!
//! The data path runs in one direction, one module per layer:
//!
//! ```text
//! record -> registry (fixed series tables) -> collect (snapshot)
//!        -> proto (encode requests into the caller's buffer, split as needed)
//!        -> http (write request, read the whole response, close)
//!        -> export (settle each request: commit, drop or abandon)
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
