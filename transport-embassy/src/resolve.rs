//! The endpoint's host as an address: an IPv4 literal as it is, any other name through
//! embassy-net's DNS client (feature `dns`), within the connect deadline.

use embassy_net::{IpAddress, Stack};
use otlp_embedded::time::Instant;
use otlp_embedded::transport::TransportError;

/// The address of `host`, by `deadline`.
///
/// - An IPv4 literal (`10.0.0.2`) is used as it is, without a query.
/// - An IPv6 literal (`fd00::2`, with or without brackets) is
///   `Io(Unsupported)`: this transport connects over IPv4 only, so the same endpoint
///   will never work and the exporter does not retry it.
/// - Any other host is asked of the stack's DNS servers (`Stack::dns_query`, an `A`
///   query) with feature `dns`, and is [`TransportError::Resolve`] without it.
///
/// DNS errors: a name embassy-net refuses to ask for (empty or over-long label) is
/// `Dns(InvalidName)`; no answer by `deadline` is `Dns(Timeout)` (the query is cancelled);
/// a failed lookup is [`TransportError::Resolve`], because smoltcp's DNS socket reports
/// NXDOMAIN, an answer without an address, no reachable server and no configured server
/// all as one failure. Core retries `Resolve` within the export like any transient error.
pub async fn resolve(
    stack: Stack<'_>,
    host: &str,
    deadline: Instant,
) -> Result<IpAddress, TransportError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(v4) = bare.parse::<core::net::Ipv4Addr>() {
        return Ok(IpAddress::Ipv4(v4));
    }
    if bare.parse::<core::net::Ipv6Addr>().is_ok() {
        return Err(TransportError::Io(
            embedded_io_async::ErrorKind::Unsupported,
        ));
    }
    lookup(stack, bare, deadline).await
}

#[cfg(feature = "dns")]
async fn lookup(
    stack: Stack<'_>,
    name: &str,
    deadline: Instant,
) -> Result<IpAddress, TransportError> {
    use embassy_net::dns::{DnsQueryType, Error};
    use otlp_embedded::transport::DnsFailure;

    // Dropping the query future at the deadline cancels the query in embassy-net, which
    // frees its slot for the next export.
    let answer = embassy_time::with_deadline(
        crate::time::embassy_instant(deadline),
        stack.dns_query(name, DnsQueryType::A),
    )
    .await;
    match answer {
        Err(embassy_time::TimeoutError) => Err(TransportError::Dns(DnsFailure::Timeout)),
        Ok(Err(Error::InvalidName | Error::NameTooLong)) => {
            Err(TransportError::Dns(DnsFailure::InvalidName))
        }
        Ok(Err(Error::Failed)) => Err(TransportError::Resolve),
        Ok(Ok(addresses)) => addresses
            .first()
            .copied()
            .ok_or(TransportError::Dns(DnsFailure::NoAddress)),
    }
}

#[cfg(not(feature = "dns"))]
async fn lookup(
    _stack: Stack<'_>,
    _name: &str,
    _deadline: Instant,
) -> Result<IpAddress, TransportError> {
    Err(TransportError::Resolve)
}
