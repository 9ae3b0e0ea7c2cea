//! Turning an endpoint's host into an address.
//!
//! The blocking connector asks its resolver, a core [`Resolve`], for the address of the
//! endpoint's host. The resolver is lent the caller's stack (anything implementing
//! [`StackAccess`]) so that one that talks to the network (the `dns::DnsResolver` of the
//! `dns` feature) can keep it polled while it waits. Without the `dns` feature nothing here
//! sends a packet: the host is an IP literal ([`IpLiteral`]) or found in a fixed table
//! ([`StaticHosts`]); those two need nothing of the stack, so they serve any transport.

use core::net::IpAddr;

use otlp_embedded::time::Instant;
use otlp_embedded::transport::{AddressFamily, Resolve, TransportError};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::wire::IpAddress;

/// The caller's smoltcp stack as a resolver sees it while it waits in a blocking call.
///
/// Implemented by the [`Blocking`](crate::Blocking) connector's driver; a resolver loops
/// `poll` -> its own step on [`with_parts`](Self::with_parts) -> `idle_until`, and ends at
/// its deadline.
pub trait StackAccess {
    /// Poll the interface once (send and receive what is due) and return the instant it
    /// was polled at.
    fn poll(&mut self) -> Instant;

    /// Call the caller's idle hook, to be woken at the earlier of `wake_by` and smoltcp's
    /// next timer.
    fn idle_until(&mut self, now: Instant, wake_by: Instant);

    /// Run `f` with the interface and the socket set.
    fn with_parts<T>(&mut self, f: impl FnOnce(&mut Interface, &mut SocketSet<'_>) -> T) -> T;
}

/// Accepts only IPv4 and IPv6 literals (`10.0.0.2`, `fd00::2`, `[fd00::2]`); any other host
/// is a [`TransportError::Resolve`]. A build without the `proto-ipv6` feature has no IPv6
/// to reach an IPv6 literal with, and one without `proto-ipv4` none for an IPv4 literal:
/// such a host is [`TransportError::UnsupportedAddressFamily`], which the exporter does
/// not retry (a misconfigured firmware hears so at once, not at its export deadline).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IpLiteral;

impl<S: ?Sized> Resolve<S> for IpLiteral {
    type Addresses = Option<IpAddr>;

    fn resolve(
        &mut self,
        host: &str,
        _stack: &mut S,
        _deadline: Instant,
    ) -> Result<Option<IpAddr>, TransportError> {
        match ip_literal(host) {
            Some(Ok(address)) => Ok(Some(address.into())),
            Some(Err(family)) => Err(TransportError::UnsupportedAddressFamily(family)),
            None => Err(TransportError::Resolve),
        }
    }
}

/// Parse an IP literal, with or without the brackets of a URL's IPv6 host. Only the address
/// families this build has are parsed, so an IPv4-only build links no IPv6 parser.
pub fn parse_ip_literal(host: &str) -> Option<IpAddress> {
    let bare = without_brackets(host);
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

fn without_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// `host` as an IP literal: its address when this build has its family, the family when
/// it does not, `None` when `host` is not a literal (a name, or nothing valid).
pub(crate) fn ip_literal(host: &str) -> Option<Result<IpAddress, AddressFamily>> {
    match parse_ip_literal(host) {
        Some(address) => Some(Ok(address)),
        None => missing_family(without_brackets(host)).map(Err),
    }
}

/// The family of a literal whose parser this build leaves out. An IPv6 literal is
/// recognised by its shape (two colons or more, hex digits and the dots of an embedded
/// IPv4 address), not parsed, so that an IPv4-only build still links no IPv6 code; a host
/// name never has a colon, and a mistaken `host:port` has one.
#[cfg(not(all(feature = "proto-ipv4", feature = "proto-ipv6")))]
fn missing_family(bare: &str) -> Option<AddressFamily> {
    #[cfg(not(feature = "proto-ipv6"))]
    if bare.bytes().filter(|&b| b == b':').count() >= 2
        && bare
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    {
        return Some(AddressFamily::Ipv6);
    }
    #[cfg(not(feature = "proto-ipv4"))]
    if bare.parse::<core::net::Ipv4Addr>().is_ok() {
        return Some(AddressFamily::Ipv4);
    }
    None
}

/// A dual-stack build parses both families: no literal lacks its family.
#[cfg(all(feature = "proto-ipv4", feature = "proto-ipv6"))]
fn missing_family(_bare: &str) -> Option<AddressFamily> {
    None
}

/// A fixed table of `(host, address)` pairs, tried before IP-literal parsing (a literal of
/// a family the build lacks is refused as [`IpLiteral`] refuses it).
#[derive(Copy, Clone, Debug)]
pub struct StaticHosts<'t>(pub &'t [(&'t str, IpAddress)]);

impl StaticHosts<'_> {
    /// The table's address for `host` (names compared ignoring ASCII case), or `host`
    /// parsed as an IP literal.
    pub fn lookup(&self, host: &str) -> Option<IpAddress> {
        self.named(host).or_else(|| parse_ip_literal(host))
    }

    /// The table's address for `host` (names compared ignoring ASCII case), if listed.
    pub(crate) fn named(&self, host: &str) -> Option<IpAddress> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|&(_, addr)| addr)
    }
}

impl<S: ?Sized> Resolve<S> for StaticHosts<'_> {
    type Addresses = Option<IpAddr>;

    fn resolve(
        &mut self,
        host: &str,
        stack: &mut S,
        deadline: Instant,
    ) -> Result<Option<IpAddr>, TransportError> {
        match self.named(host) {
            Some(address) => Ok(Some(address.into())),
            None => IpLiteral.resolve(host, stack, deadline),
        }
    }
}

/// The first of `addresses` this build's smoltcp can reach (an IPv6 address needs
/// `proto-ipv6`, an IPv4 one `proto-ipv4`). None: [`TransportError::Resolve`] when nothing
/// was found, [`TransportError::UnsupportedAddressFamily`] when everything found is of a
/// family the build lacks (a resolver speaks `core::net::IpAddr`, which has both), as an
/// IP literal of that family is refused.
pub(crate) fn first_reachable(
    addresses: impl IntoIterator<Item = IpAddr>,
) -> Result<IpAddress, TransportError> {
    let mut unreachable = None;
    for address in addresses {
        match address {
            #[cfg(feature = "proto-ipv4")]
            IpAddr::V4(v4) => return Ok(IpAddress::Ipv4(v4)),
            #[cfg(feature = "proto-ipv6")]
            IpAddr::V6(v6) => return Ok(IpAddress::Ipv6(v6)),
            #[allow(unreachable_patterns)]
            other => {
                unreachable = unreachable.or(Some(match other {
                    IpAddr::V4(_) => AddressFamily::Ipv4,
                    IpAddr::V6(_) => AddressFamily::Ipv6,
                }))
            }
        }
    }
    Err(unreachable.map_or(
        TransportError::Resolve,
        TransportError::UnsupportedAddressFamily,
    ))
}
