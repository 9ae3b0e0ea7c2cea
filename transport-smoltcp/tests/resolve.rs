//! Host parsing: IP literals only, unless a table (or the caller's own resolver) is given.
//!
//! These run with the default features (IPv4 and IPv6); scripts/cross.sh also runs them in
//! an IPv4-only build, where IPv6 literals are refused.

use core::net::IpAddr;

use otlp_embedded::time::Instant;
use otlp_embedded::transport::TransportError;
use otlp_embedded_smoltcp::{parse_ip_literal, IpLiteral, Resolve, StackAccess, StaticHosts};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::wire::IpAddress;

/// What a resolver of this crate answers for `address`: that one address.
fn found(address: IpAddress) -> Option<IpAddr> {
    Some(address.into())
}

/// Table and literal resolvers never wait for the network: a stack that fails the test if
/// it is touched.
struct NoStack;

impl StackAccess for NoStack {
    fn poll(&mut self) -> Instant {
        panic!("a table resolver polled the stack")
    }
    fn idle_until(&mut self, _now: Instant, _wake_by: Instant) {
        panic!("a table resolver waited")
    }
    fn with_parts<T>(&mut self, _f: impl FnOnce(&mut Interface, &mut SocketSet<'_>) -> T) -> T {
        panic!("a table resolver used the stack")
    }
}

#[test]
fn literals_parse_and_names_do_not() {
    assert_eq!(
        parse_ip_literal("10.0.0.2"),
        Some(IpAddress::v4(10, 0, 0, 2))
    );
    #[cfg(feature = "proto-ipv6")]
    assert_eq!(
        parse_ip_literal("::1"),
        Some(IpAddress::v6(0, 0, 0, 0, 0, 0, 0, 1))
    );
    #[cfg(feature = "proto-ipv6")]
    assert_eq!(
        parse_ip_literal("[fd00::2]"),
        Some(IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2))
    );
    for bad in [
        "",
        "localhost",
        "10.0.0.256",
        "10.0.0",
        "[::1",
        "::1]",
        "[10.0.0.1]x",
        "1.2.3.4:80",
        " 10.0.0.2",
    ] {
        assert_eq!(parse_ip_literal(bad), None, "{bad:?}");
    }
    assert_eq!(
        IpLiteral.resolve("localhost", &mut NoStack, Instant(0)),
        Err(TransportError::Resolve)
    );
    assert_eq!(
        IpLiteral.resolve("127.0.0.1", &mut NoStack, Instant(0)),
        Ok(found(IpAddress::v4(127, 0, 0, 1)))
    );
}

/// An IPv4-only build has no IPv6 to reach an IPv6 host with: the literal is refused as a
/// name that does not resolve, and IPv4 literals still parse.
#[cfg(not(feature = "proto-ipv6"))]
#[test]
fn ipv4_only_build_refuses_ipv6_literals() {
    for v6 in ["::1", "fd00::2", "[fd00::2]", "::ffff:10.0.0.2"] {
        assert_eq!(parse_ip_literal(v6), None, "{v6:?}");
        assert_eq!(
            IpLiteral.resolve(v6, &mut NoStack, Instant(0)),
            Err(TransportError::Resolve),
            "{v6:?}"
        );
    }
    assert_eq!(
        parse_ip_literal("[10.0.0.2]"),
        Some(IpAddress::v4(10, 0, 0, 2))
    );
}

#[test]
fn static_table_first_then_literals() {
    let table = [
        ("collector", IpAddress::v4(10, 0, 0, 2)),
        #[cfg(feature = "proto-ipv6")]
        ("v6.collector", IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
    ];
    let mut r = StaticHosts(&table);
    assert_eq!(
        r.resolve("COLLECTOR", &mut NoStack, Instant(0)),
        Ok(found(IpAddress::v4(10, 0, 0, 2)))
    );
    #[cfg(feature = "proto-ipv6")]
    assert_eq!(
        r.resolve("v6.collector", &mut NoStack, Instant(0)),
        Ok(found(IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2)))
    );
    assert_eq!(
        r.resolve("10.9.8.7", &mut NoStack, Instant(0)),
        Ok(found(IpAddress::v4(10, 9, 8, 7)))
    );
    assert_eq!(
        r.resolve("other", &mut NoStack, Instant(0)),
        Err(TransportError::Resolve)
    );
}
