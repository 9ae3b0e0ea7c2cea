//! PLACEHOLDER (issue 6 fills this in): std transport, configuration, periodic exporter, sink.

#[cfg(feature = "tls")]
pub mod tls;
