//! HTTP/1.1 exchange over the stream seam: write one request, read the whole response,
//! close the connection.
//!
//! The protocol code is sans-IO: [`RequestWriter`] is asked for the request bytes and told
//! how many were sent; [`ResponseReader`] is handed the bytes received and says whether it
//! needs more, is done or failed. Drivers are thin layers over those two:
//!
//! - [`HttpClient`]: blocking, over [`Connect`](crate::transport::Connect) /
//!   [`Connection`](crate::transport::Connection); it implements
//!   [`Exchange`](crate::transport::Exchange) for the exporter.
//! - [`PollHttpClient`]: for a superloop, one step per call and never waiting, over
//!   [`PollConnect`](crate::transport::PollConnect); it implements
//!   [`PollExchange`](crate::transport::PollExchange). [`NonBlockingExchange`] is its
//!   exchange over a connection the caller opened and closes (any
//!   [`PollIo`](crate::transport::PollIo), which includes every blocking
//!   [`Connection`](crate::transport::Connection) that reports readiness through
//!   `embedded_io::ReadReady` / `WriteReady`).
//!
//! Every request carries `Connection: close` and every connection is closed by core exactly
//! once: gracefully after a complete response, aborted after any error or when an oversize
//! body is cut off. No connection outlives an exchange, so a collector that closes idle
//! keep-alive connections can never make a later export fail half-way.
//!
//! ```
//! use otlp_embedded::http::{ResponseReader, ReaderConfig, Progress};
//!
//! let mut head = [0u8; 256];
//! let mut body = [0u8; 64];
//! let mut reader = ResponseReader::new(&mut head, &mut body, ReaderConfig::default());
//! let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
//! let (used, progress) = reader.feed(bytes).unwrap();
//! assert_eq!(used, bytes.len());
//! assert!(matches!(progress, Progress::Done(_)));
//! let response = reader.response().unwrap();
//! assert_eq!((response.status, response.body_len), (200, 2));
//! ```

#[cfg(feature = "async")]
mod asynch;
mod client;
mod date;
mod head;
mod poll;
mod reader;
mod request;

#[cfg(feature = "async")]
pub use asynch::{with_deadline, AsyncHttpClient};
pub use client::{HttpClient, DEFAULT_HEAD_BUFFER, MIN_HEAD_BUFFER};
pub use date::parse_retry_after;
pub use poll::{Finished, NonBlockingExchange, PollHttpClient};
pub use reader::{
    Progress, ReaderConfig, ReaderState, ResponseEnd, ResponseReader, DEFAULT_DRAIN_CAP,
    DEFAULT_MAX_CHUNK_LINE, MAX_HEADERS,
};
pub use request::{RequestWriter, USER_AGENT};
