//! Shared helpers for the conformance tests and benches: decoding with the reference
//! protobuf types (opentelemetry-proto with prost).
pub use opentelemetry_proto::tonic::collector::metrics::v1 as collector;
pub use opentelemetry_proto::tonic::metrics::v1 as metrics;

pub mod tls_server;
