//! OTLP protobuf: wire primitives, the metrics request encoder, response-body decoders.
//!
//! - [`wire`]: protobuf wire primitives and sizes; a writer that fills buffers backwards.
//! - [`source`]: what the encoder reads ([`MetricsSource`]).
//! - [`encode`]: `ExportMetricsServiceRequest` into a caller-supplied buffer, split into as
//!   many requests as needed.
//! - [`response`]: `ExportMetricsServiceResponse` and `google.rpc.Status` bodies.

pub mod encode;
pub mod response;
pub mod source;
pub(crate) mod utf8;
pub mod wire;

pub use encode::{
    encode_request, encoded_len, EncodeError, EncodedRequest, PointCursor, PointSpan,
    RequestSplitter,
};
pub use source::*;
