//! The firmware DNS resolver (`otlp_embedded_smoltcp::dns`) against a scripted server, in
//! memory and on a simulated clock: what goes on the wire, caching by TTL, retransmission
//! to each server until the deadline, discarded answers, every failure's error value, and
//! the A/AAAA choice. One smoltcp interface on a loopback device carries both the client's
//! UDP socket and the server's (port 53), so nothing leaves the process.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use otlp_embedded::time::Instant;
use otlp_embedded::transport::{DnsFailure, ExchangeError, TransportError};
use otlp_embedded_smoltcp::dns::wire::{Malformed, Mismatch, NameError};
use otlp_embedded_smoltcp::dns::{DnsError, DnsResolver, MAX_TTL_SECS};
use otlp_embedded_smoltcp::{smol_instant, DeviceSeed, Resolve, StackAccess};
use otlp_embedded_test_kit::dns::{parse_query, respond, DnsFault, Query, Zone, ZoneEntry};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Loopback, Medium};
use smoltcp::socket::udp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint};

const HOST: &str = "collector.test";
const SERVER: IpAddress = IpAddress::v4(10, 0, 0, 1);
const SECOND_SERVER: IpAddress = IpAddress::v4(10, 0, 0, 3);
const COLLECTOR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
const COLLECTOR_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9);
/// Idle calls (1 simulated ms each) after which a lookup counts as hung.
const IDLE_CAP: u64 = 200_000;

/// A query the server received: when, to which address, what.
#[derive(Clone, Debug)]
struct Seen {
    at: u64,
    to: IpAddress,
    from_port: u16,
    query: Query,
}

/// One interface (loopback device) holding the resolver's UDP socket and the server's.
struct Lab {
    iface: Interface,
    device: Loopback,
    sockets: SocketSet<'static>,
    client: SocketHandle,
    server: SocketHandle,
    /// A second server socket on another port, to answer from the wrong port.
    stray: SocketHandle,
    now: u64,
    zone: Zone,
    fault: DnsFault,
    /// Answer from port 5353 instead of 53.
    answer_from_stray: bool,
    /// Send the answer to a wrong id first, then the right one.
    wrong_then_right: bool,
    seen: Vec<Seen>,
    idles: u64,
    /// Latest `wake_by` the resolver asked the idle hook for.
    wake_requests: Vec<(u64, u64)>,
}

fn udp_socket(payload: usize) -> udp::Socket<'static> {
    udp::Socket::new(
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0u8; payload]),
        udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0u8; payload]),
    )
}

impl Lab {
    /// An interface with the IPv4 address `SERVER` (when `v4`) and the IPv6 address `v6`:
    /// the addresses the resolver sees, and the servers' addresses (the server socket
    /// listens on all of them).
    fn new(v4: bool, v6: Option<IpAddress>) -> Lab {
        let mut addrs = Vec::new();
        if v4 {
            addrs.push(IpCidr::new(SERVER, 24));
        }
        addrs.extend(v6.map(|a| IpCidr::new(a, 64)));
        Lab::with(&addrs, 1500)
    }

    fn with(addrs: &[IpCidr], client_payload: usize) -> Lab {
        let mut device = Loopback::new(Medium::Ip);
        let config = Config::new(HardwareAddress::Ip);
        let mut iface = Interface::new(config, &mut device, smol_instant(Instant(0)));
        iface.update_ip_addrs(|list| {
            for a in addrs {
                list.push(*a).unwrap();
            }
        });
        let mut sockets = SocketSet::new(Vec::new());
        let client = sockets.add(udp_socket(client_payload));
        let mut server = udp_socket(1500);
        server
            .bind(IpListenEndpoint {
                addr: None,
                port: 53,
            })
            .unwrap();
        let server = sockets.add(server);
        let mut stray = udp_socket(1500);
        stray.bind(5353).unwrap();
        let stray = sockets.add(stray);
        Lab {
            iface,
            device,
            sockets,
            client,
            server,
            stray,
            now: 0,
            zone: Zone::one(HOST, IpAddr::V4(COLLECTOR), 30),
            fault: DnsFault::None,
            answer_from_stray: false,
            wrong_then_right: false,
            seen: Vec::new(),
            idles: 0,
            wake_requests: Vec::new(),
        }
    }

    fn resolver(&self, servers: &[IpAddress]) -> DnsResolver {
        DnsResolver::new(self.client, DeviceSeed::new(0x5eed), servers)
    }

    /// Answer every query waiting at the server socket.
    fn serve(&mut self) {
        loop {
            let server = self.sockets.get_mut::<udp::Socket>(self.server);
            let Ok((datagram, meta)) = server.recv() else {
                return;
            };
            let datagram = datagram.to_vec();
            let query = parse_query(&datagram).expect("the resolver sends well-formed queries");
            self.seen.push(Seen {
                at: self.now,
                to: meta
                    .local_address
                    .expect("smoltcp reports the address asked"),
                from_port: meta.endpoint.port,
                query,
            });
            let mut replies = Vec::new();
            if self.wrong_then_right {
                replies.extend(respond(&datagram, &self.zone, DnsFault::WrongId));
            }
            replies.extend(respond(&datagram, &self.zone, self.fault));
            let reply_meta = udp::UdpMetadata {
                endpoint: meta.endpoint,
                local_address: meta.local_address,
                meta: Default::default(),
            };
            let from = if self.answer_from_stray {
                self.stray
            } else {
                self.server
            };
            for reply in replies {
                self.sockets
                    .get_mut::<udp::Socket>(from)
                    .send_slice(&reply, reply_meta)
                    .unwrap();
            }
        }
    }

    fn queries(&self) -> Vec<(String, u16)> {
        self.seen
            .iter()
            .map(|s| (s.query.name.clone(), s.query.qtype))
            .collect()
    }

    fn client_open(&self) -> bool {
        self.sockets.get::<udp::Socket>(self.client).is_open()
    }

    /// The blocking form with this lab as the stack; returns the result and when it came.
    fn resolve(
        &mut self,
        dns: &mut DnsResolver,
        host: &str,
        timeout_ms: u64,
    ) -> (Result<IpAddress, TransportError>, u64) {
        let deadline = Instant(self.now + timeout_ms);
        let result = dns
            .resolve(host, self, deadline)
            .map(|found| IpAddress::from(found.expect("an answer carries one address")));
        (result, self.now)
    }
}

impl StackAccess for Lab {
    /// Send what is queued, let the server answer, deliver the answers: a network whose
    /// round trip takes no time.
    fn poll(&mut self) -> Instant {
        let now = Instant(self.now);
        for _ in 0..2 {
            self.iface
                .poll(smol_instant(now), &mut self.device, &mut self.sockets);
        }
        self.serve();
        for _ in 0..2 {
            self.iface
                .poll(smol_instant(now), &mut self.device, &mut self.sockets);
        }
        now
    }

    /// Sleep like firmware: not at all when smoltcp or the resolver has work due now, else
    /// one tick (1 ms).
    fn idle_until(&mut self, now: Instant, wake_by: Instant) {
        self.idles += 1;
        assert!(self.idles < IDLE_CAP, "the lookup did not end");
        self.wake_requests.push((now.0, wake_by.0));
        let smoltcp_due = self
            .iface
            .poll_at(smol_instant(now), &self.sockets)
            .is_some_and(|at| at.total_millis() as u64 <= now.0);
        if wake_by > now && !smoltcp_due {
            self.now += 1;
        }
    }

    fn with_parts<T>(&mut self, f: impl FnOnce(&mut Interface, &mut SocketSet<'_>) -> T) -> T {
        f(&mut self.iface, &mut self.sockets)
    }
}

fn v4(a: Ipv4Addr) -> IpAddress {
    IpAddress::Ipv4(a)
}

#[test]
fn a_name_resolves_with_one_query_and_is_cached_for_its_ttl() {
    let mut lab = Lab::new(true, None);
    let mut dns = lab.resolver(&[SERVER]);
    lab.now = 1_000;
    let (result, at) = lab.resolve(&mut dns, HOST, 5_000);
    assert_eq!(result, Ok(v4(COLLECTOR)));
    assert!(at < 1_010, "answered at {at}");
    assert_eq!(lab.seen.len(), 1);
    let first = lab.seen[0].clone();
    assert_eq!(first.to, SERVER);
    assert_eq!(
        (
            first.query.name.as_str(),
            first.query.qtype,
            first.query.qclass
        ),
        (HOST, 1, 1)
    );
    assert_eq!(first.query.flags, 0x0100, "a standard recursive query");
    assert!((49152..=65535).contains(&first.from_port));
    assert!(!lab.client_open(), "the socket is closed once answered");
    assert_eq!(dns.cached(HOST, Instant(1_005)), Some(v4(COLLECTOR)));
    assert_eq!(dns.last_error(), None);

    // Within the TTL (30 s from the answer): no query, names compared ignoring case.
    lab.now = at + 29_999;
    assert_eq!(
        lab.resolve(&mut dns, "Collector.TEST", 5_000).0,
        Ok(v4(COLLECTOR))
    );
    assert_eq!(lab.seen.len(), 1);
    // At the TTL: asked again, with a fresh id and source port.
    lab.now = at + 30_000;
    assert_eq!(dns.cached(HOST, Instant(lab.now)), None);
    assert_eq!(lab.resolve(&mut dns, HOST, 5_000).0, Ok(v4(COLLECTOR)));
    assert_eq!(lab.seen.len(), 2);
    assert_ne!(lab.seen[1].query.id, first.query.id);
    assert_ne!(lab.seen[1].from_port, first.from_port);
}

#[test]
fn ttls_of_zero_are_not_kept_and_long_ones_are_capped() {
    let mut lab = Lab::new(true, None);
    lab.zone = Zone(vec![
        ZoneEntry {
            name: "zero.test".into(),
            addresses: vec![IpAddr::V4(COLLECTOR)],
            ttl: 0,
        },
        ZoneEntry {
            name: "long.test".into(),
            addresses: vec![IpAddr::V4(COLLECTOR)],
            ttl: 7 * 86_400,
        },
        ZoneEntry {
            name: "sign.test".into(),
            // RFC 2181: a TTL with the top bit set counts as 0.
            addresses: vec![IpAddr::V4(COLLECTOR)],
            ttl: 0x8000_0001,
        },
    ]);
    let mut dns = lab.resolver(&[SERVER]);
    for _ in 0..2 {
        assert_eq!(
            lab.resolve(&mut dns, "zero.test", 5_000).0,
            Ok(v4(COLLECTOR))
        );
        assert_eq!(
            lab.resolve(&mut dns, "sign.test", 5_000).0,
            Ok(v4(COLLECTOR))
        );
    }
    assert_eq!(lab.seen.len(), 4, "{:?}", lab.queries());
    assert_eq!(dns.cached("zero.test", Instant(lab.now)), None);

    let (_, at) = lab.resolve(&mut dns, "long.test", 5_000);
    let cap_ms = u64::from(MAX_TTL_SECS) * 1000;
    assert_eq!(
        dns.cached("long.test", Instant(at + cap_ms - 1)),
        Some(v4(COLLECTOR))
    );
    assert_eq!(dns.cached("long.test", Instant(at + cap_ms)), None);
}

#[test]
fn a_silent_server_gets_retransmissions_to_each_server_until_the_deadline() {
    let mut lab = Lab::with(
        &[IpCidr::new(SERVER, 24), IpCidr::new(SECOND_SERVER, 24)],
        1500,
    );
    lab.fault = DnsFault::Silent;
    let mut dns = lab.resolver(&[SERVER, SECOND_SERVER]);
    lab.now = 500;
    let (result, at) = lab.resolve(&mut dns, HOST, 10_000);
    assert_eq!(result, Err(TransportError::Dns(DnsFailure::Timeout)));
    assert_eq!(dns.last_error(), Some(DnsError::Timeout));
    assert_eq!(at, 10_500, "ends at the deadline, not later");
    let sends: Vec<(u64, IpAddress)> = lab.seen.iter().map(|s| (s.at, s.to)).collect();
    assert_eq!(
        sends,
        vec![
            (500, SERVER),
            (1_500, SECOND_SERVER),
            (3_500, SERVER),
            (7_500, SECOND_SERVER),
        ]
    );
    // One id and one source port for the whole query, so a late answer to any send counts.
    assert!(lab.seen.iter().all(|s| s.query.id == lab.seen[0].query.id));
    assert!(lab
        .seen
        .iter()
        .all(|s| s.from_port == lab.seen[0].from_port));
    // Cancelled at the deadline: the socket is closed, no query is left in flight.
    assert!(!lab.client_open());
    assert!(!dns.is_querying());
    assert!(lab.wake_requests.iter().all(|&(_, wake)| wake <= 10_500));
}

#[test]
fn answers_not_for_the_query_are_discarded_until_the_deadline() {
    for (fault, stray, why) in [
        (DnsFault::WrongId, false, Mismatch::Id),
        (DnsFault::WrongQuestion, false, Mismatch::Question),
        (DnsFault::None, true, Mismatch::Source),
    ] {
        let mut lab = Lab::new(true, None);
        lab.fault = fault;
        lab.answer_from_stray = stray;
        let mut dns = lab.resolver(&[SERVER]);
        let (result, at) = lab.resolve(&mut dns, HOST, 2_500);
        assert_eq!(
            result,
            Err(TransportError::Dns(DnsFailure::UnmatchedAnswers)),
            "{fault:?}"
        );
        assert_eq!(
            dns.last_error(),
            Some(DnsError::Unmatched(why)),
            "{fault:?}"
        );
        assert_eq!(at, 2_500, "{fault:?}");
        // Sent at 0 and resent at 1 s: the bad answers did not end the query.
        assert_eq!(lab.seen.len(), 2, "{fault:?}");
        assert_eq!(dns.cached(HOST, Instant(at)), None);
    }

    // A forged or late answer first, the real one after it: the real one counts.
    let mut lab = Lab::new(true, None);
    lab.wrong_then_right = true;
    let mut dns = lab.resolver(&[SERVER]);
    let (result, at) = lab.resolve(&mut dns, HOST, 2_500);
    assert_eq!(result, Ok(v4(COLLECTOR)));
    assert!(at < 10);
    assert_eq!(lab.seen.len(), 1);
}

#[test]
fn each_failing_answer_ends_the_query_with_its_own_error() {
    use DnsFailure as F;
    let cases = [
        (
            DnsFault::NxDomain,
            DnsError::NameNotFound,
            F::NameNotFound,
            false,
        ),
        (
            DnsFault::ServFail,
            DnsError::ServerFailure,
            F::ServerFailure,
            true,
        ),
        (DnsFault::Refused, DnsError::Refused(5), F::Refused, false),
        (
            DnsFault::Truncated,
            DnsError::Truncated,
            F::Truncated,
            false,
        ),
        (
            DnsFault::CutShort,
            DnsError::Malformed(Malformed::RecordOutsideMessage),
            F::Malformed,
            true,
        ),
        (
            DnsFault::PointerLoop,
            DnsError::Malformed(Malformed::PointerNotBackward),
            F::Malformed,
            true,
        ),
        (
            DnsFault::HugeCount,
            DnsError::Malformed(Malformed::RecordOutsideMessage),
            F::Malformed,
            true,
        ),
        (
            DnsFault::BadAddressLength,
            DnsError::Malformed(Malformed::AddressLength),
            F::Malformed,
            true,
        ),
        (
            DnsFault::OtherNameRecords,
            DnsError::NoAddress,
            F::NoAddress,
            false,
        ),
    ];
    for (fault, detail, failure, transient) in cases {
        let mut lab = Lab::new(true, None);
        lab.fault = fault;
        let mut dns = lab.resolver(&[SERVER]);
        let (result, at) = lab.resolve(&mut dns, HOST, 5_000);
        assert_eq!(result, Err(TransportError::Dns(failure)), "{fault:?}");
        assert_eq!(dns.last_error(), Some(detail), "{fault:?}");
        assert!(
            at < 10,
            "{fault:?}: the answer ends the query at once, not at {at}"
        );
        assert_eq!(lab.seen.len(), 1, "{fault:?}");
        assert!(!lab.client_open(), "{fault:?}");
        assert_eq!(dns.cached(HOST, Instant(at)), None, "{fault:?}");
        assert_eq!(
            ExchangeError::Connect(TransportError::Dns(failure)).is_transient(),
            transient,
            "{fault:?}"
        );
    }
    for (failure, transient) in [
        (F::Timeout, true),
        (F::UnmatchedAnswers, true),
        (F::InvalidName, false),
        (F::NoServer, false),
    ] {
        assert_eq!(
            ExchangeError::Connect(TransportError::Dns(failure)).is_transient(),
            transient,
            "{failure:?}"
        );
    }
}

#[test]
fn dual_stack_asks_for_aaaa_when_the_name_has_no_a_record() {
    let v6_only_zone = || Zone::one(HOST, IpAddr::V6(COLLECTOR_V6), 60);
    let routable_v6 = IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    let link_local = IpAddress::v6(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    // IPv4 and a routable IPv6 address: A, then AAAA.
    let mut lab = Lab::new(true, Some(routable_v6));
    lab.zone = v6_only_zone();
    let mut dns = lab.resolver(&[SERVER]);
    let (result, _) = lab.resolve(&mut dns, HOST, 5_000);
    assert_eq!(result, Ok(IpAddress::Ipv6(COLLECTOR_V6)));
    assert_eq!(lab.queries(), vec![(HOST.into(), 1), (HOST.into(), 28)]);
    assert_ne!(lab.seen[0].query.id, lab.seen[1].query.id);

    // A name with both: the A record, one query.
    let mut lab = Lab::new(true, Some(routable_v6));
    lab.zone = Zone(vec![ZoneEntry {
        name: HOST.into(),
        addresses: vec![IpAddr::V6(COLLECTOR_V6), IpAddr::V4(COLLECTOR)],
        ttl: 60,
    }]);
    let mut dns = lab.resolver(&[SERVER]);
    assert_eq!(lab.resolve(&mut dns, HOST, 5_000).0, Ok(v4(COLLECTOR)));
    assert_eq!(lab.queries(), vec![(HOST.into(), 1)]);

    // IPv4 with only a link-local IPv6 address: A only, so no address.
    let mut lab = Lab::new(true, Some(link_local));
    lab.zone = v6_only_zone();
    let mut dns = lab.resolver(&[SERVER]);
    let (result, _) = lab.resolve(&mut dns, HOST, 5_000);
    assert_eq!(result, Err(TransportError::Dns(DnsFailure::NoAddress)));
    assert_eq!(lab.queries(), vec![(HOST.into(), 1)]);

    // IPv6 only (the server is reached over IPv6): AAAA only.
    let mut lab = Lab::new(false, Some(routable_v6));
    lab.zone = v6_only_zone();
    let mut dns = lab.resolver(&[routable_v6]);
    let (result, _) = lab.resolve(&mut dns, HOST, 5_000);
    assert_eq!(result, Ok(IpAddress::Ipv6(COLLECTOR_V6)));
    assert_eq!(lab.queries(), vec![(HOST.into(), 28)]);
}

#[test]
fn bad_names_literals_and_missing_servers_send_nothing() {
    let mut lab = Lab::new(true, None);
    let mut dns = lab.resolver(&[SERVER]);
    let long_label = format!("{}.test", "a".repeat(64));
    let long_name = format!("{}.test", ["abcdefghi"; 25].join("."));
    assert!(long_name.len() > 253);
    for (host, why) in [
        ("", NameError::Empty),
        (".", NameError::Empty),
        ("a..test", NameError::EmptyLabel),
        (".test", NameError::EmptyLabel),
        ("bad name.test", NameError::BadCharacter),
        ("bad/name", NameError::BadCharacter),
        (long_label.as_str(), NameError::LabelTooLong),
        (long_name.as_str(), NameError::TooLong),
    ] {
        let (result, _) = lab.resolve(&mut dns, host, 5_000);
        assert_eq!(
            result,
            Err(TransportError::Dns(DnsFailure::InvalidName)),
            "{host:?}"
        );
        assert_eq!(
            dns.last_error(),
            Some(DnsError::InvalidName(why)),
            "{host:?}"
        );
    }
    // A trailing dot is the same name.
    assert_eq!(
        lab.resolve(&mut dns, "collector.test.", 5_000).0,
        Ok(v4(COLLECTOR))
    );
    assert_eq!(lab.seen.len(), 1);
    assert_eq!(lab.seen[0].query.name, HOST);

    let mut none = lab.resolver(&[]);
    assert_eq!(
        lab.resolve(&mut none, "other.test", 5_000).0,
        Err(TransportError::Dns(DnsFailure::NoServer))
    );
    // Literals need no server and send nothing.
    assert_eq!(
        lab.resolve(&mut none, "192.0.2.7", 5_000).0,
        Ok(IpAddress::v4(192, 0, 2, 7))
    );
    assert_eq!(
        lab.resolve(&mut none, "[fd00::7]", 5_000).0,
        Ok(IpAddress::v6(0xfd00, 0, 0, 0, 0, 0, 0, 7))
    );
    assert_eq!(lab.seen.len(), 1);
}

#[test]
fn a_transmit_buffer_too_small_for_the_query_is_exhaustion() {
    let mut lab = Lab::with(&[IpCidr::new(SERVER, 24)], 16);
    let mut dns = lab.resolver(&[SERVER]);
    let (result, _) = lab.resolve(&mut dns, HOST, 5_000);
    assert_eq!(result, Err(TransportError::Exhausted));
    assert_eq!(dns.last_error(), Some(DnsError::BufferTooSmall));
    assert!(lab.seen.is_empty());
}

#[test]
fn the_poll_form_runs_in_a_superloop_and_can_be_cancelled() {
    let mut lab = Lab::new(true, None);
    lab.zone.0.push(ZoneEntry {
        name: "other.test".into(),
        addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 10))],
        ttl: 60,
    });
    let mut dns = lab.resolver(&[SERVER]);
    let deadline = Instant(5_000);

    // Start a query, then cancel it before any answer was read.
    let first = dns.poll(&lab.iface, &mut lab.sockets, HOST, Instant(0), deadline);
    assert_eq!(first, Err(nb::Error::WouldBlock));
    assert!(dns.is_querying() && lab.client_open());
    assert_eq!(dns.poll_at(), Some(Instant(1_000)));
    dns.cancel(&mut lab.sockets);
    assert!(!dns.is_querying() && !lab.client_open());

    // A superloop: poll the interface (the lab serves), step the resolver, tick.
    let mut ticks = 0;
    let address = loop {
        let now = StackAccess::poll(&mut lab);
        match dns.poll(&lab.iface, &mut lab.sockets, HOST, now, deadline) {
            Ok(address) => break address,
            Err(nb::Error::WouldBlock) => lab.now += 1,
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
        ticks += 1;
        assert!(ticks < 100);
    };
    assert_eq!(address, v4(COLLECTOR));

    // Asking for another host while a query is in flight starts one for that host.
    lab.fault = DnsFault::Silent;
    let now = Instant(lab.now);
    dns.clear_cache();
    assert_eq!(
        dns.poll(&lab.iface, &mut lab.sockets, HOST, now, deadline),
        Err(nb::Error::WouldBlock)
    );
    lab.fault = DnsFault::None;
    let mut ticks = 0;
    let address = loop {
        let now = StackAccess::poll(&mut lab);
        match dns.poll(&lab.iface, &mut lab.sockets, "other.test", now, deadline) {
            Ok(address) => break address,
            Err(nb::Error::WouldBlock) => lab.now += 1,
            Err(nb::Error::Other(e)) => panic!("{e}"),
        }
        ticks += 1;
        assert!(ticks < 100);
    };
    assert_eq!(address, IpAddress::v4(10, 0, 0, 10));
    let names: Vec<String> = lab.seen.iter().map(|s| s.query.name.clone()).collect();
    assert_eq!(names, [HOST, HOST, "other.test"]);
    assert_eq!(
        dns.cached(HOST, Instant(lab.now)),
        None,
        "the cancelled query left nothing"
    );
}

#[test]
fn the_resolver_state_is_small() {
    // The cache (2 names of up to 64 bytes) and the query state; the socket buffers are
    // the caller's. A host figure (64-bit); the firmware one (216 bytes on thumbv7em,
    // IPv4-only) is in the footprint report (scripts/footprint.sh).
    let size = std::mem::size_of::<DnsResolver>();
    println!("size_of::<DnsResolver>() = {size} bytes (host)");
    assert!(size <= 320, "{size}");
    let _ = IpEndpoint::new(SERVER, 53);
}
