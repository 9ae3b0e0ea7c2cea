//! Turning an endpoint's host into an address.
//!
//! The transport needs no DNS socket: the host is an IP literal unless the caller supplies a
//! [`Resolve`] (a fixed table, a cache filled at boot, or the caller's own DNS client).

use otlp_embedded::time::Instant;
use otlp_embedded::transport::TransportError;
use smoltcp::wire::IpAddress;

/// Resolves a host name to one address.
pub trait Resolve {
    /// The address of `host`, by `deadline`; `Err(TransportError::Resolve)` when it has none.
    fn resolve(&mut self, host: &str, deadline: Instant) -> Result<IpAddress, TransportError>;
}

impl<R: Resolve + ?Sized> Resolve for &mut R {
    fn resolve(&mut self, host: &str, deadline: Instant) -> Result<IpAddress, TransportError> {
        (**self).resolve(host, deadline)
    }
}

/// Accepts only IPv4 and IPv6 literals (`10.0.0.2`, `fd00::2`, `[fd00::2]`); any other host
/// is a [`TransportError::Resolve`]. A build without the `proto-ipv6` feature refuses IPv6
/// literals the same way (it has no IPv6 to reach them with), and one without `proto-ipv4`
/// refuses IPv4 literals.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IpLiteral;

impl Resolve for IpLiteral {
    fn resolve(&mut self, host: &str, _deadline: Instant) -> Result<IpAddress, TransportError> {
        parse_ip_literal(host).ok_or(TransportError::Resolve)
    }
}

/// Parse an IP literal, with or without the brackets of a URL's IPv6 host. Only the address
/// families this build has are parsed, so an IPv4-only build links no IPv6 parser.
pub fn parse_ip_literal(host: &str) -> Option<IpAddress> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    #[cfg(feature = "proto-ipv4")]
    if let Ok(v4) = bare.parse::<core::net::Ipv4Addr>() {
        return Some(IpAddress::Ipv4(v4));
    }
    #[cfg(feature = "proto-ipv6")]
    if let Ok(v6) = bare.parse::<core::net::Ipv6Addr>() {
        return Some(IpAddress::Ipv6(v6));
    }
    None
}

/// A fixed table of `(host, address)` pairs, tried before IP-literal parsing.
#[derive(Copy, Clone, Debug)]
pub struct StaticHosts<'t>(pub &'t [(&'t str, IpAddress)]);

impl Resolve for StaticHosts<'_> {
    fn resolve(&mut self, host: &str, _deadline: Instant) -> Result<IpAddress, TransportError> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|&(_, addr)| addr)
            .or_else(|| parse_ip_literal(host))
            .ok_or(TransportError::Resolve)
    }
}
