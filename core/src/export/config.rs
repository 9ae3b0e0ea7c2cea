//! What an exporter is told: [`ExporterConfig`].

use super::RetryPolicy;
use crate::proto::RequestHeader;
use crate::transport::{Endpoint, Header};

/// Everything an exporter needs to know, borrowed from the caller.
///
/// Start from [`ExporterConfig::new`] and change the fields that differ:
///
/// ```
/// use otlp_embedded::export::{ExporterConfig, RetryPolicy};
/// use otlp_embedded::proto::{RequestHeader, Resource, Scope};
/// use otlp_embedded::transport::{Endpoint, Header};
///
/// let auth = [Header::new("Authorization", "Bearer t0k3n")];
/// let header = RequestHeader::new(Resource::new(&[]), Scope::new("sensor-node"));
/// let mut config = ExporterConfig::new(Endpoint::DEFAULT, header);
/// config.headers = &auth;
/// config.export_timeout_ms = 5_000;
/// config.retry = RetryPolicy::new().with_max_attempts(3);
/// ```
#[derive(Copy, Clone, Debug)]
#[non_exhaustive]
pub struct ExporterConfig<'a> {
    /// Where requests go.
    pub endpoint: Endpoint<'a>,
    /// Extra request headers (authorization and the like).
    pub headers: &'a [Header<'a>],
    /// Resource and scope, repeated in every request.
    pub request_header: RequestHeader<'a>,
    /// Deadline of one whole export, retries included, in milliseconds.
    pub export_timeout_ms: u32,
    /// Deadline of one exchange (`OTEL_EXPORTER_OTLP_TIMEOUT`), in milliseconds.
    pub request_timeout_ms: u32,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// Seed of the jitter generator; give each device its own so that a fleet does not
    /// retry in lockstep. Any value works, consecutive ones too (it is mixed before use).
    /// [`ExporterConfig::new`] puts a constant here, fit for one process or a test; the
    /// firmware entry points of `otlp-embedded-smoltcp` replace it with one drawn from the
    /// device seed they require.
    pub jitter_seed: u64,
}

impl<'a> ExporterConfig<'a> {
    /// A configuration with the OTLP defaults: 10 s per request, 30 s per export, default
    /// retry policy, no extra headers.
    pub const fn new(endpoint: Endpoint<'a>, request_header: RequestHeader<'a>) -> Self {
        ExporterConfig {
            endpoint,
            headers: &[],
            request_header,
            export_timeout_ms: 30_000,
            request_timeout_ms: 10_000,
            retry: RetryPolicy::new(),
            jitter_seed: 0x9E37_79B9_7F4A_7C15,
        }
    }
}
