//! Host parsing: IP literals only, unless a table (or the caller's own resolver) is given.
//!
//! These run with the default features (IPv4 and IPv6); scripts/cross.sh also runs them in
//! an IPv4-only and an IPv6-only build, where a literal of the missing family is refused
//! with its own error.

#[cfg(feature = "proto-ipv4")]
use core::net::IpAddr;

use otlp_embedded::time::Instant;
use otlp_embedded::transport::TransportError;
use otlp_embedded_smoltcp::{parse_ip_literal, IpLiteral, Resolve, StackAccess, StaticHosts};
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::wire::IpAddress;

/// What a resolver of this crate answers for `address`: that one address.
#[cfg(feature = "proto-ipv4")]
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

#[cfg(feature = "proto-ipv4")]
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

/// An IPv4-only build has no IPv6 to reach an IPv6 host with: the literal is refused at
/// once with an error that says so and is not retried (it used to be a transient
/// `Resolve`, so an export retried it until its deadline), and IPv4 literals still parse.
#[cfg(not(feature = "proto-ipv6"))]
#[test]
fn ipv4_only_build_refuses_ipv6_literals() {
    use otlp_embedded::transport::AddressFamily;
    let unsupported = TransportError::UnsupportedAddressFamily(AddressFamily::Ipv6);
    for v6 in ["::1", "fd00::2", "[fd00::2]", "::ffff:10.0.0.2", "FD00::A"] {
        assert_eq!(parse_ip_literal(v6), None, "{v6:?}");
        assert_eq!(
            IpLiteral.resolve(v6, &mut NoStack, Instant(0)),
            Err(unsupported),
            "{v6:?}"
        );
        assert_eq!(
            StaticHosts(&[]).resolve(v6, &mut NoStack, Instant(0)),
            Err(unsupported),
            "{v6:?}"
        );
    }
    assert_not_retried_and_named(unsupported, "IPv6");
    // A host and port given as the host, or a name, is not taken for an IPv6 address.
    for other in ["collector.test:4318", "localhost", "[collector]"] {
        assert_eq!(
            IpLiteral.resolve(other, &mut NoStack, Instant(0)),
            Err(TransportError::Resolve),
            "{other:?}"
        );
    }
    assert_eq!(
        parse_ip_literal("[10.0.0.2]"),
        Some(IpAddress::v4(10, 0, 0, 2))
    );
}

/// The IPv6-only build's counterpart: an IPv4 literal is refused as such, at once.
#[cfg(not(feature = "proto-ipv4"))]
#[test]
fn ipv6_only_build_refuses_ipv4_literals() {
    use otlp_embedded::transport::AddressFamily;
    let unsupported = TransportError::UnsupportedAddressFamily(AddressFamily::Ipv4);
    for v4 in ["10.0.0.2", "127.0.0.1", "[192.168.1.1]"] {
        assert_eq!(parse_ip_literal(v4), None, "{v4:?}");
        assert_eq!(
            IpLiteral.resolve(v4, &mut NoStack, Instant(0)),
            Err(unsupported),
            "{v4:?}"
        );
        assert_eq!(
            StaticHosts(&[]).resolve(v4, &mut NoStack, Instant(0)),
            Err(unsupported),
            "{v4:?}"
        );
    }
    assert_not_retried_and_named(unsupported, "IPv4");
    assert_eq!(
        parse_ip_literal("fd00::2"),
        Some(IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 2))
    );
}

/// The exporter does not retry `error`, and its text names the address family.
#[cfg(not(all(feature = "proto-ipv4", feature = "proto-ipv6")))]
fn assert_not_retried_and_named(error: TransportError, family: &str) {
    use otlp_embedded::transport::ExchangeError;
    assert!(!ExchangeError::Connect(error).is_transient(), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("host is an {family} address, and this transport was built without {family}")
    );
}

#[cfg(feature = "proto-ipv4")]
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

/// A whole export in a one-family build to a literal of the other family: the export ends
/// at once (no wait, no retry, nothing sent) with the distinct error, and keeps its data;
/// the DNS resolver, given the same literal, sends no query for it.
#[cfg(not(all(feature = "proto-ipv4", feature = "proto-ipv6")))]
mod one_family_build {
    use core::cell::Cell;
    use core::net::IpAddr;
    use std::rc::Rc;

    use otlp_embedded::export::{
        ExportError, ExportErrorKind, ExportOutcome, ExportReport, ExporterConfig, RetryPolicy,
    };
    use otlp_embedded::proto::{RequestHeader, Resource, Scope, Temporality};
    use otlp_embedded::registry::{InstrumentDesc, Registry, SnapshotOf};
    use otlp_embedded::time::{Clock, Instant, Wait};
    use otlp_embedded::transport::{
        AddressFamily, Endpoint, ExchangeError, Resolve, Scheme, TransportError,
    };
    use otlp_embedded_smoltcp::firmware::{export_once, Stack};
    use otlp_embedded_smoltcp::{smol_instant, DeviceSeed, IpLiteral, SmolStack, TcpClient};
    use smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
    use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
    use smoltcp::socket::tcp;
    use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

    /// The build's own address, the other family's literal, and that family.
    #[cfg(feature = "proto-ipv4")]
    const OWN: (IpAddress, u8) = (IpAddress::v4(10, 0, 0, 1), 24);
    #[cfg(feature = "proto-ipv4")]
    const OTHER: (&str, AddressFamily) = ("fd00::2", AddressFamily::Ipv6);
    #[cfg(not(feature = "proto-ipv4"))]
    const OWN: (IpAddress, u8) = (IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 1), 64);
    #[cfg(not(feature = "proto-ipv4"))]
    const OTHER: (&str, AddressFamily) = ("10.0.0.2", AddressFamily::Ipv4);

    /// An Ethernet device that receives nothing and counts the frames sent to it.
    #[derive(Default)]
    struct Counting {
        sent: usize,
    }

    struct NoFrame;
    impl phy::RxToken for NoFrame {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&[])
        }
    }

    struct Sent<'a>(&'a mut usize);
    impl phy::TxToken for Sent<'_> {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            *self.0 += 1;
            f(&mut vec![0u8; len])
        }
    }

    impl Device for Counting {
        type RxToken<'a> = NoFrame;
        type TxToken<'a> = Sent<'a>;
        fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(NoFrame, Sent<'_>)> {
            None
        }
        fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Sent<'_>> {
            Some(Sent(&mut self.sent))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = 1514;
            caps
        }
    }

    /// A clock that only the idle hook ([`WaitHook`]) moves, so "it never waited" reads as
    /// "still at 0".
    #[derive(Clone, Default)]
    struct StepClock(Rc<Cell<u64>>);
    impl Clock for StepClock {
        fn now(&self) -> Instant {
            Instant(self.0.get())
        }
    }

    /// Moves the step clock to the end of each wait.
    struct WaitHook(StepClock);
    impl Wait for WaitHook {
        fn wait(&mut self, _now: Instant, until: Instant) {
            let ms = &self.0 .0;
            ms.set(until.0.max(ms.get() + 1));
        }
    }

    fn iface(device: &mut Counting) -> Interface {
        let mac = HardwareAddress::Ethernet(EthernetAddress([2, 0, 0, 0, 0, 1]));
        let mut iface = Interface::new(Config::new(mac), device, smol_instant(Instant(0)));
        iface.update_ip_addrs(|a| a.push(IpCidr::new(OWN.0, OWN.1)).unwrap());
        iface
    }

    type Metrics = Registry<2, 4, 4, 2, 16>;

    /// What one export to `OTHER` through `resolver` did: its report, the clock after it
    /// (only a wait moves it) and the frames sent.
    fn export_through<R>(resolver: R) -> (ExportReport, Instant, usize)
    where
        R: for<'a, 's> Resolve<SmolStack<'a, 's, Counting, &'a StepClock, WaitHook, 8>>,
    {
        let (host, _) = OTHER;
        let mut device = Counting::default();
        let mut iface = iface(&mut device);
        let mut storage = [SocketStorage::EMPTY; 1];
        let mut sockets = SocketSet::new(&mut storage[..]);
        let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
        let handle = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(&mut rx[..]),
            tcp::SocketBuffer::new(&mut tx[..]),
        ));
        let mut client: TcpClient = TcpClient::new(handle, DeviceSeed::new(7));
        let clock = StepClock::default();

        let mut metrics = Metrics::new(0);
        let count = metrics
            .declare(
                InstrumentDesc::counter_u64("boots")
                    .max_series(1)
                    .temporality(Temporality::Delta),
            )
            .unwrap();
        metrics.record(count, 3u64, &[]).unwrap();
        let mut snapshot = SnapshotOf::<Metrics>::new();
        let mut buffer = [0u8; 512];
        let header = RequestHeader::new(Resource::new(&[]), Scope::new("board"));
        let mut config = ExporterConfig::new(
            Endpoint::new(Scheme::Http, host, 4318, "/v1/metrics"),
            header,
        );
        config.export_timeout_ms = 5_000;
        config.retry = RetryPolicy::new().with_max_attempts(0);
        let stack = Stack {
            client: &mut client,
            iface: &mut iface,
            device: &mut device,
            sockets: &mut sockets,
            clock: &clock,
            idle: WaitHook(clock.clone()),
            resolver,
        };
        let report = export_once(stack, &mut metrics, &mut snapshot, &mut buffer, config, 1);
        (report, clock.now(), device.sent)
    }

    /// The export ended at once (no wait, no retry, nothing sent) with `error`, and kept
    /// its one point.
    fn assert_refused_at_once(
        (report, clock_after, frames): (ExportReport, Instant, usize),
        error: TransportError,
    ) {
        let refused = Some(ExportError {
            request: 0,
            kind: ExportErrorKind::Exchange(ExchangeError::Connect(error)),
        });
        assert_eq!(report.outcome, ExportOutcome::Failed, "{report:?}");
        assert_eq!(report.first_error, refused, "{report:?}");
        assert_eq!(report.last_error, refused, "{report:?}");
        assert_eq!(
            (report.retries, report.bytes_sent, report.points_abandoned),
            (0, 0, 1),
            "{report:?}"
        );
        assert_eq!(clock_after, Instant(0), "the export waited");
        assert_eq!(frames, 0, "frames sent");
    }

    #[test]
    fn export_to_the_other_family_ends_at_once_and_keeps_its_data() {
        let (_, family) = OTHER;
        assert_refused_at_once(
            export_through(IpLiteral),
            TransportError::UnsupportedAddressFamily(family),
        );
    }

    /// The caller's own resolver (core's `Resolve`) speaks `core::net::IpAddr`, which has
    /// both families whatever smoltcp was built with: when every address it finds is of
    /// the family this build lacks, the export is refused as for that literal, not as a
    /// name that did not resolve (which is retried until the deadline); finding nothing
    /// is still that.
    #[test]
    fn own_resolver_finding_only_the_other_family_is_refused_as_such() {
        /// Parses any literal with std's parser, both families, as the core docs' example.
        struct AnyLiteral;
        impl<S: ?Sized> Resolve<S> for AnyLiteral {
            type Addresses = Option<IpAddr>;
            fn resolve(
                &mut self,
                host: &str,
                _: &mut S,
                _: Instant,
            ) -> Result<Option<IpAddr>, TransportError> {
                host.parse().map(Some).map_err(|_| TransportError::Resolve)
            }
        }
        /// Finds nothing at all.
        struct Nothing;
        impl<S: ?Sized> Resolve<S> for Nothing {
            type Addresses = [IpAddr; 0];
            fn resolve(
                &mut self,
                _: &str,
                _: &mut S,
                _: Instant,
            ) -> Result<[IpAddr; 0], TransportError> {
                Ok([])
            }
        }

        let (_, family) = OTHER;
        assert_refused_at_once(
            export_through(AnyLiteral),
            TransportError::UnsupportedAddressFamily(family),
        );
        // Nothing found is still a host that did not resolve: transient, retried.
        let (report, _, frames) = export_through(Nothing);
        let unresolved = ExportErrorKind::Exchange(ExchangeError::Connect(TransportError::Resolve));
        assert_eq!(
            report.first_error.map(|e| e.kind),
            Some(unresolved),
            "{report:?}"
        );
        assert!(report.retries > 0, "{report:?}");
        assert_eq!((report.points_abandoned, frames), (1, 0), "{report:?}");
    }

    /// The superloop's resolvers (`PollResolve`, for `PollStack`) refuse the other
    /// family's literal as the blocking ones do: at once, with the error the exporter does
    /// not retry, not as an unresolved name retried until the export deadline.
    #[test]
    fn the_superloop_resolvers_refuse_the_other_family_as_such() {
        use otlp_embedded_smoltcp::{PollResolve, StaticHosts};

        let (host, family) = OTHER;
        let mut device = Counting::default();
        let iface = iface(&mut device);
        let mut storage = [SocketStorage::EMPTY; 1];
        let mut sockets = SocketSet::new(&mut storage[..]);
        let refused = Err(nb::Error::Other(TransportError::UnsupportedAddressFamily(
            family,
        )));
        let by_literal =
            IpLiteral.poll_resolve(&iface, &mut sockets, host, Instant(0), Instant(5_000));
        assert_eq!(by_literal, refused, "IpLiteral");
        let by_table =
            StaticHosts(&[]).poll_resolve(&iface, &mut sockets, host, Instant(0), Instant(5_000));
        assert_eq!(by_table, refused, "StaticHosts");
        // A name is still unknown to both, and the build's own family still parses.
        assert_eq!(
            IpLiteral.poll_resolve(&iface, &mut sockets, "collector", Instant(0), Instant(1)),
            Err(nb::Error::Other(TransportError::Resolve))
        );
        let own = OWN.0.to_string();
        assert_eq!(
            IpLiteral.poll_resolve(&iface, &mut sockets, &own, Instant(0), Instant(1)),
            Ok(OWN.0)
        );
    }

    #[cfg(feature = "dns")]
    #[test]
    fn the_resolver_sends_no_query_for_the_other_family() {
        use otlp_embedded_smoltcp::dns::{DnsError, DnsResolver};
        use smoltcp::socket::udp;

        let (host, family) = OTHER;
        let mut device = Counting::default();
        let iface = iface(&mut device);
        let mut storage = [SocketStorage::EMPTY; 1];
        let mut sockets = SocketSet::new(&mut storage[..]);
        let (mut rx_meta, mut tx_meta) = (
            [udp::PacketMetadata::EMPTY; 1],
            [udp::PacketMetadata::EMPTY; 1],
        );
        let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
        let udp = sockets.add(udp::Socket::new(
            udp::PacketBuffer::new(&mut rx_meta[..], &mut rx[..]),
            udp::PacketBuffer::new(&mut tx_meta[..], &mut tx[..]),
        ));
        let mut dns: DnsResolver = DnsResolver::new(udp, DeviceSeed::new(7), &[OWN.0]);
        let result = dns.poll(&iface, &mut sockets, host, Instant(0), Instant(5_000));
        assert_eq!(
            result,
            Err(nb::Error::Other(DnsError::UnsupportedAddressFamily(family)))
        );
        assert_eq!(
            DnsError::UnsupportedAddressFamily(family).failure(),
            TransportError::UnsupportedAddressFamily(family)
        );
        assert_eq!(
            dns.last_error(),
            Some(DnsError::UnsupportedAddressFamily(family))
        );
        assert_eq!(
            sockets.get::<udp::Socket>(udp).send_queue(),
            0,
            "query queued"
        );
        assert!(!sockets.get::<udp::Socket>(udp).is_open(), "socket bound");
    }
}
