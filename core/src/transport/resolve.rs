//! Turning an endpoint's host into addresses: [`Resolve`], the one resolver seam of every
//! blocking transport.

use core::net::IpAddr;

use super::TransportError;
use crate::time::Instant;

/// Turns an endpoint's host into the addresses to connect to, blocking until `deadline` at
/// the latest.
///
/// `Stack` is what the transport lends a resolver while it waits, since a resolver that
/// asks the network must keep that network running: smoltcp's connector lends its stack
/// (polled between attempts), the embedded-nal adapter its clock and idle hook, and the std
/// connector nothing (`()`: its resolver blocks on a thread of its own, and the connect
/// stops waiting for it at the deadline). A resolver that needs nothing of the stack, such
/// as one that only parses address literals or looks in a fixed table, implements
/// `Resolve<S>` for every `S` and so works with every transport.
///
/// The addresses come in the order to try them ([`Resolve::Addresses`]: one address, an
/// array, or a `Vec` on std). Errors use the transport vocabulary:
/// [`TransportError::Resolve`] for a host this resolver cannot answer,
/// [`TransportError::Dns`] for a DNS failure, [`TransportError::ConnectTimeout`] when the
/// deadline came first.
///
/// ```
/// use core::net::{IpAddr, Ipv4Addr};
/// use otlp_embedded::time::Instant;
/// use otlp_embedded::transport::{Resolve, TransportError};
///
/// /// The collector's name, from a table fixed at build time; address literals as they are.
/// struct Collector;
///
/// impl<S: ?Sized> Resolve<S> for Collector {
///     type Addresses = Option<IpAddr>;
///     fn resolve(&mut self, host: &str, _: &mut S, _: Instant)
///         -> Result<Option<IpAddr>, TransportError> {
///         match host {
///             "collector.lan" => Ok(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))),
///             other => other.parse().map(Some).map_err(|_| TransportError::Resolve),
///         }
///     }
/// }
///
/// let found = Collector.resolve("collector.lan", &mut (), Instant(0));
/// assert_eq!(found, Ok(Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))));
/// ```
///
/// An async transport's resolver would be a twin of this trait beside it, with the same
/// arguments, the same `Addresses` and the same errors.
pub trait Resolve<Stack: ?Sized = ()> {
    /// The addresses found, in the order to try them.
    type Addresses: IntoIterator<Item = IpAddr>;

    /// The addresses of `host` by `deadline`, using `stack` while it waits for the network.
    fn resolve(
        &mut self,
        host: &str,
        stack: &mut Stack,
        deadline: Instant,
    ) -> Result<Self::Addresses, TransportError>;
}

impl<S: ?Sized, R: Resolve<S> + ?Sized> Resolve<S> for &mut R {
    type Addresses = R::Addresses;

    fn resolve(
        &mut self,
        host: &str,
        stack: &mut S,
        deadline: Instant,
    ) -> Result<R::Addresses, TransportError> {
        (**self).resolve(host, stack, deadline)
    }
}
