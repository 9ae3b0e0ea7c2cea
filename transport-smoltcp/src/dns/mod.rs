//! Host names on firmware: a DNS stub resolver over one smoltcp UDP socket (feature `dns`).
//!
//! [`DnsResolver`] asks the configured DNS servers for the endpoint's host (A records, and
//! AAAA when the interface has a routable IPv6 address), waits for the answer within the
//! deadline it is given (the request's, so the export deadline bounds it), and keeps what
//! it learnt in a small fixed cache for as long as the answer's TTL says.
//!
//! ## Why not smoltcp's DNS socket
//!
//! smoltcp's `dns::Socket` reports neither the TTL of an answer nor why a query failed: it
//! says "failed" for a name that does not exist, a server failure and a garbled answer
//! alike, so a cache over it must guess a lifetime, and a device in the field cannot tell
//! a misconfigured name from a DNS outage. This resolver is written over a UDP socket
//! instead, for a small price in code (see Cost below): it honours TTLs,
//! and reports each failure distinctly ([`DnsError`], mapped onto core's
//! [`DnsFailure`]). Its answer parser
//! ([`wire::parse_answer`]) reads hostile input (compression loops, pointers out of range,
//! truncated records, wrong ids, answers for another name, huge counts) as error values and
//! is fuzzed (`fuzz/fuzz_targets/dns_answer.rs`).
//!
//! ## Behaviour
//!
//! - IP literals are returned as they are, with no query; a literal of a family the build
//!   lacks is [`DnsError::UnsupportedAddressFamily`], also without a query.
//! - A fresh cache entry is used without a query. Entries live for the answer's TTL (the
//!   least along a CNAME chain), at most [`MAX_TTL_SECS`]; a TTL of 0 is used once and not
//!   kept. `ENTRIES` slots, names of up to `NAME` bytes (longer names are resolved on every
//!   export); when full, the entry expiring first is replaced.
//! - One query at a time, from a fresh random id and source port (from the
//!   [`DeviceSeed`]), sent to the first server and then, each time no answer came,
//!   retransmitted to the next one after 1, 2, then every 4 s, until the deadline; at the
//!   deadline the query is cancelled (the socket is closed, so a late answer is dropped).
//! - An answer counts only if it comes from a server's port 53 and matches the query's id
//!   and question; others are discarded (a late answer, a forgery) and the query goes on.
//!   If only such answers came by the deadline, the error says so
//!   ([`DnsError::Unmatched`]).
//! - A dual-stack interface asks for A first, then AAAA if the name has no A record; an
//!   IPv6-only one asks for AAAA only. Link-local IPv6 addresses do not count. A build with
//!   one address family (`proto-ipv4` or `proto-ipv6` alone) asks only for its own.
//! - Messages are classic 512-byte DNS over UDP: no EDNS, no TCP fallback; a truncated
//!   answer is [`DnsError::Truncated`].
//! - Negative answers are not cached. A name that does not exist (NXDOMAIN) or has no
//!   address is not retried within the export (the answer was given on purpose, and
//!   asking the same server again seconds later only adds load), but the export keeps its
//!   data (the points are abandoned, not dropped): the next export asks again, so a zone
//!   that is being repaired, or an outage that answers NXDOMAIN, costs one export's delay.
//!   No answer, SERVFAIL, a malformed or an unmatched answer is retried within the export,
//!   like any transient transport failure.
//!
//! ## Cost
//!
//! The resolver keeps no message buffer: the query is written into the UDP socket's
//! transmit buffer and the answer parsed in place in its receive buffer. Give the socket
//! room for one 512-byte datagram each way (smoltcp drops a datagram that does not fit,
//! which then looks like no answer).
//!
//! Measured on `thumbv7em-none-eabihf` (Cortex-M4F, opt-level z, fat LTO) by
//! `scripts/footprint.sh` (firmware-dns, IPv4-only Ethernet): one `firmware::export_once`
//! to a host name through a `DnsResolver` takes 6,096 bytes more code than the same export
//! to an IP literal without the `dns` feature; 2,654 of them are smoltcp's UDP socket and
//! its interface paths, the rest this module (resolver, parser, cache).
//! `size_of::<DnsResolver>()` there: 216 bytes with the default cache (2 names of up to
//! 64 bytes), 104 for `<1, 32>`, 376 for `<4, 64>`: `ENTRIES * (NAME + 16)` bytes of
//! cache and 56 of state. With IPv6 built in, addresses take 16 bytes: `NAME + 32` per
//! entry and 80 of state, 272 bytes for the default. The UDP socket's buffers (two
//! 512-byte payloads and their packet metadata, 1,056 bytes of static RAM there) are the
//! caller's.
//!
//! ## Example
//!
//! The blocking form runs inside the connector: give the resolver to
//! [`firmware::Stack`](crate::firmware::Stack) (or [`Blocking::with_resolver`](crate::Blocking::with_resolver)).
//! The poll form is [`DnsResolver::poll`], called once per superloop pass.
//!
//! ```
//! use otlp_embedded::export::{ExportReport, ExporterConfig};
//! use otlp_embedded::proto::RequestHeader;
//! use otlp_embedded::registry::{Registry, Snapshot};
//! use otlp_embedded::time::{Clock, Instant};
//! use otlp_embedded::transport::{Endpoint, Scheme};
//! use otlp_embedded_smoltcp::dns::DnsResolver;
//! use otlp_embedded_smoltcp::firmware::{export_once, Stack};
//! use otlp_embedded_smoltcp::TcpClient;
//! use smoltcp::iface::{Interface, SocketSet};
//! use smoltcp::phy::Device;
//!
//! // At boot: one UDP socket for DNS next to the TCP one, both seeded from the device:
//! //   let seed = DeviceSeed::new(hardware_rng_u64);
//! //   let udp = sockets.add(udp::Socket::new(rx, tx)); // 1 packet of 512 bytes each way
//! //   let mut dns: DnsResolver = DnsResolver::new(udp, seed, &[dns_server_from_dhcp]);
//! //   let mut client: TcpClient = TcpClient::new(tcp, seed);
//! #[allow(clippy::too_many_arguments)]
//! fn export<D: Device, K: Clock>(
//!     client: &mut TcpClient,
//!     dns: &mut DnsResolver,
//!     iface: &mut Interface,
//!     device: &mut D,
//!     sockets: &mut SocketSet<'_>,
//!     clock: &K,
//!     metrics: &mut Registry<4, 16, 16, 2, 32>,
//!     snapshot: &mut Snapshot<4, 16, 16, 2, 32>,
//!     buffer: &mut [u8],
//!     header: RequestHeader<'_>,
//!     unix_now: u64,
//! ) -> ExportReport {
//!     let endpoint = Endpoint {
//!         scheme: Scheme::Http,
//!         host: "otlp.vendor.example",
//!         port: 4318,
//!         path: "/v1/metrics",
//!     };
//!     let stack = Stack {
//!         client, iface, device, sockets, clock,
//!         idle: |_now: Instant, _wake_by: Instant| { /* feed the watchdog, sleep */ },
//!         resolver: dns,
//!     };
//!     // A DNS failure ends up in report.last_error as
//!     // Exchange(Connect(Dns(DnsFailure::...))); dns.last_error() has the detail.
//!     export_once(stack, metrics, snapshot, buffer, ExporterConfig::new(endpoint, header), unix_now)
//! }
//! ```

mod cache;
pub mod wire;

use core::net::IpAddr;

use otlp_embedded::time::Instant;
use otlp_embedded::transport::{AddressFamily, DnsFailure, Resolve, TransportError};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::ports::{EPHEMERAL_FIRST, EPHEMERAL_LAST};
use crate::resolve::{ip_literal, StackAccess};
use crate::seed::{streams, DeviceSeed, SplitMix};
use cache::Cache;
use wire::{AnswerError, Malformed, Mismatch, NameError, Question, RecordType};

/// The DNS server port.
pub const DNS_PORT: u16 = 53;
/// Servers a resolver keeps; more given are ignored.
pub const MAX_SERVERS: usize = 2;
/// Wait for an answer before the first retransmission, in milliseconds.
pub const FIRST_RETRANSMIT_MS: u64 = 1_000;
/// Longest wait between retransmissions, in milliseconds.
pub const MAX_RETRANSMIT_MS: u64 = 4_000;
/// Longest time an answer is cached, in seconds, whatever its TTL (so that a collector
/// that moves is found within the hour even behind a generous TTL).
pub const MAX_TTL_SECS: u32 = 3_600;

/// Why a lookup gave no address, in detail. [`DnsError::failure`] maps it onto core's
/// [`DnsFailure`], which is what an export report carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DnsError {
    /// The host cannot be asked for.
    InvalidName(NameError),
    /// No server is configured ([`DnsResolver::set_servers`]).
    NoServer,
    /// No answer before the deadline.
    Timeout,
    /// Only answers that were not for the query came before the deadline (the last one's
    /// reason).
    Unmatched(Mismatch),
    /// NXDOMAIN.
    NameNotFound,
    /// The name has no address of the types asked for.
    NoAddress,
    /// SERVFAIL.
    ServerFailure,
    /// Another error RCODE.
    Refused(u8),
    /// The answer had the TC bit.
    Truncated,
    /// The answer breaks the message format.
    Malformed(Malformed),
    /// The interface has no source address or route for the server.
    Unaddressable,
    /// The UDP socket's transmit buffer cannot hold the query.
    BufferTooSmall,
    /// The host is an IP literal of a family this build lacks (`proto-ipv4`,
    /// `proto-ipv6`): no query is sent for it.
    UnsupportedAddressFamily(AddressFamily),
}

impl DnsError {
    /// The error as core's transport error: [`TransportError::Dns`], or an I/O error
    /// (`AddrNotAvailable`) or [`TransportError::Exhausted`] for the socket's own failures.
    pub fn failure(self) -> TransportError {
        let dns = match self {
            DnsError::InvalidName(_) => DnsFailure::InvalidName,
            DnsError::NoServer => DnsFailure::NoServer,
            DnsError::Timeout => DnsFailure::Timeout,
            DnsError::Unmatched(_) => DnsFailure::UnmatchedAnswers,
            DnsError::NameNotFound => DnsFailure::NameNotFound,
            DnsError::NoAddress => DnsFailure::NoAddress,
            DnsError::ServerFailure => DnsFailure::ServerFailure,
            DnsError::Refused(_) => DnsFailure::Refused,
            DnsError::Truncated => DnsFailure::Truncated,
            DnsError::Malformed(_) => DnsFailure::Malformed,
            DnsError::Unaddressable => {
                return TransportError::Io(embedded_io::ErrorKind::AddrNotAvailable)
            }
            DnsError::BufferTooSmall => return TransportError::Exhausted,
            DnsError::UnsupportedAddressFamily(family) => {
                return TransportError::UnsupportedAddressFamily(family)
            }
        };
        TransportError::Dns(dns)
    }
}

impl From<DnsError> for TransportError {
    fn from(e: DnsError) -> Self {
        e.failure()
    }
}

impl From<AnswerError> for DnsError {
    fn from(e: AnswerError) -> Self {
        match e {
            AnswerError::Mismatch(m) => DnsError::Unmatched(m),
            AnswerError::NameNotFound => DnsError::NameNotFound,
            AnswerError::NoAddress => DnsError::NoAddress,
            AnswerError::ServerFailure => DnsError::ServerFailure,
            AnswerError::Refused(code) => DnsError::Refused(code),
            AnswerError::Truncated => DnsError::Truncated,
            AnswerError::Malformed(m) => DnsError::Malformed(m),
        }
    }
}

impl core::fmt::Display for DnsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DnsError::InvalidName(e) => write!(f, "host is not a valid DNS name: {e:?}"),
            DnsError::Unmatched(m) => write!(f, "only unmatched answers arrived (last: {m:?})"),
            DnsError::Refused(code) => write!(f, "server refused the query (rcode {code})"),
            DnsError::Malformed(m) => write!(f, "malformed answer: {m:?}"),
            DnsError::Unaddressable => f.write_str("no source address or route to the server"),
            DnsError::BufferTooSmall => f.write_str("UDP transmit buffer too small for the query"),
            other => match other.failure() {
                TransportError::Dns(d) => core::fmt::Display::fmt(&d, f),
                t => core::fmt::Display::fmt(&t, f),
            },
        }
    }
}

impl core::error::Error for DnsError {}

/// The query in flight.
#[derive(Copy, Clone, Debug)]
struct Query {
    id: u16,
    record_type: RecordType,
    /// Ask for AAAA when the A answer has no address.
    aaaa_next: bool,
    sends: u8,
    next_send: Instant,
    deadline: Instant,
    /// Why the last discarded datagram was discarded.
    unmatched: Option<Mismatch>,
    /// FNV-1a of the host, to notice a poll for another host.
    host_hash: u32,
}

/// What one pass over the received datagrams decided.
enum Heard {
    Nothing,
    Address(IpAddress, u32),
    TryAaaa,
    Failed(DnsError),
}

/// A DNS stub resolver over one smoltcp UDP socket, with a cache of `ENTRIES` names of up
/// to `NAME` bytes. See the [module docs](self).
///
/// Keep it across exports (the cache lives in it). Every method that takes the socket set
/// panics (inside smoltcp) if the handle is not a UDP socket of that set: a wiring mistake.
#[derive(Clone, Debug)]
pub struct DnsResolver<const ENTRIES: usize = 2, const NAME: usize = 64> {
    handle: SocketHandle,
    servers: [Option<IpAddress>; MAX_SERVERS],
    random: SplitMix,
    cache: Cache<ENTRIES, NAME>,
    query: Option<Query>,
    last_error: Option<DnsError>,
}

impl<const ENTRIES: usize, const NAME: usize> DnsResolver<ENTRIES, NAME> {
    /// A resolver asking `servers` (the first [`MAX_SERVERS`]) over the UDP socket
    /// `handle`, with query ids and source ports drawn from the device `seed`.
    pub fn new(handle: SocketHandle, seed: DeviceSeed, servers: &[IpAddress]) -> Self {
        let mut resolver = DnsResolver {
            handle,
            servers: [None; MAX_SERVERS],
            random: seed.stream(streams::DNS),
            cache: Cache::new(),
            query: None,
            last_error: None,
        };
        resolver.set_servers(servers);
        resolver
    }

    /// Replace the servers (from DHCP, say). A query in flight goes on with the new ones.
    pub fn set_servers(&mut self, servers: &[IpAddress]) {
        self.servers = [None; MAX_SERVERS];
        for (slot, server) in self.servers.iter_mut().zip(servers) {
            *slot = Some(*server);
        }
    }

    /// The servers asked.
    pub fn servers(&self) -> impl Iterator<Item = IpAddress> + '_ {
        self.servers.iter().flatten().copied()
    }

    /// The cached address of `host`, if it has not expired at `now`.
    pub fn cached(&self, host: &str, now: Instant) -> Option<IpAddress> {
        self.cache.get(host, now)
    }

    /// Forget every cached answer.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// Why the last lookup failed (`None` after a success).
    pub fn last_error(&self) -> Option<DnsError> {
        self.last_error
    }

    /// Whether a query is in flight.
    pub fn is_querying(&self) -> bool {
        self.query.is_some()
    }

    /// When [`poll`](Self::poll) next has something to do on its own (retransmit or give
    /// up), if a query is in flight; an answer arriving is the other reason to poll.
    pub fn poll_at(&self) -> Option<Instant> {
        self.query.map(|q| q.next_send.min(q.deadline))
    }

    /// Drop the query in flight, if any, and close the socket (a late answer is dropped).
    pub fn cancel(&mut self, sockets: &mut SocketSet<'_>) {
        if self.query.take().is_some() {
            sockets.get_mut::<udp::Socket>(self.handle).close();
        }
    }

    /// The poll form: the address of `host`, or `WouldBlock` while the query waits.
    ///
    /// Call it after each interface poll with the same `host` until it stops blocking; the
    /// first call starts the query (unless `host` is an IP literal or cached), later ones
    /// read answers, retransmit, and give up at `deadline` (fixed by the first call). A
    /// call for another host cancels the query in flight and starts one for that host.
    pub fn poll(
        &mut self,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
        host: &str,
        now: Instant,
        deadline: Instant,
    ) -> nb::Result<IpAddress, DnsError> {
        let result = self.step(iface, sockets, host, now, deadline);
        match result {
            Ok(_) => self.last_error = None,
            Err(nb::Error::Other(e)) => {
                self.last_error = Some(e);
                self.cancel(sockets);
            }
            Err(nb::Error::WouldBlock) => {}
        }
        result
    }

    fn step(
        &mut self,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
        host: &str,
        now: Instant,
        deadline: Instant,
    ) -> nb::Result<IpAddress, DnsError> {
        let host_hash = fnv1a(host);
        if self.query.is_some_and(|q| q.host_hash != host_hash) {
            self.cancel(sockets);
        }
        let mut query = match self.query {
            Some(query) => query,
            None => {
                match ip_literal(host) {
                    Some(Ok(address)) => return Ok(address),
                    Some(Err(family)) => {
                        return Err(nb::Error::Other(DnsError::UnsupportedAddressFamily(family)))
                    }
                    None => {}
                }
                if let Some(address) = self.cache.get(host, now) {
                    return Ok(address);
                }
                let query = self.start(iface, sockets, host, host_hash, now, deadline)?;
                self.query = Some(query);
                query
            }
        };
        match self.listen(sockets, host, &mut query) {
            Heard::Nothing => {}
            Heard::Address(address, ttl) => {
                let ttl_ms = u64::from(ttl.min(MAX_TTL_SECS)) * 1000;
                self.cache.insert(host, address, now, ttl_ms);
                self.cancel(sockets);
                return Ok(address);
            }
            Heard::TryAaaa => {
                query.record_type = RecordType::Aaaa;
                query.aaaa_next = false;
                query.id = self.random.next_u16();
                query.sends = 0;
                query.next_send = now;
            }
            Heard::Failed(e) => return Err(nb::Error::Other(e)),
        }
        if now >= query.deadline {
            return Err(nb::Error::Other(
                query
                    .unmatched
                    .map_or(DnsError::Timeout, DnsError::Unmatched),
            ));
        }
        if now >= query.next_send {
            self.send(sockets, host, &mut query, now)?;
        }
        self.query = Some(query);
        Err(nb::Error::WouldBlock)
    }

    /// Check the host and the configuration, bind the socket to a fresh port.
    fn start(
        &mut self,
        iface: &Interface,
        sockets: &mut SocketSet<'_>,
        host: &str,
        host_hash: u32,
        now: Instant,
        deadline: Instant,
    ) -> Result<Query, DnsError> {
        wire::check_host(host).map_err(DnsError::InvalidName)?;
        if self.servers.iter().all(Option::is_none) {
            return Err(DnsError::NoServer);
        }
        let (v4, v6) = address_families(iface);
        let (record_type, aaaa_next) = match (v4, v6) {
            (false, true) => (RecordType::Aaaa, false),
            (_, v6) => (RecordType::A, v6),
        };
        let span = u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST) + 1;
        let port = EPHEMERAL_FIRST + (u32::from(self.random.next_u16()) % span) as u16;
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        socket.close();
        socket.bind(port).map_err(|_| DnsError::Unaddressable)?;
        Ok(Query {
            id: self.random.next_u16(),
            record_type,
            aaaa_next,
            sends: 0,
            next_send: now,
            deadline,
            unmatched: None,
            host_hash,
        })
    }

    /// Read every datagram received, up to the first that decides the query.
    fn listen(&mut self, sockets: &mut SocketSet<'_>, host: &str, query: &mut Query) -> Heard {
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        let question = Question {
            id: query.id,
            host,
            record_type: query.record_type,
        };
        while let Ok((payload, meta)) = socket.recv() {
            let from_server = meta.endpoint.port == DNS_PORT
                && self
                    .servers
                    .iter()
                    .flatten()
                    .any(|s| *s == meta.endpoint.addr);
            if !from_server {
                query.unmatched = Some(Mismatch::Source);
                continue;
            }
            match wire::parse_answer(payload, &question) {
                Ok(answer) => return Heard::Address(answer.address, answer.ttl),
                Err(AnswerError::Mismatch(m)) => query.unmatched = Some(m),
                Err(AnswerError::NoAddress) if query.aaaa_next => return Heard::TryAaaa,
                Err(e) => return Heard::Failed(e.into()),
            }
        }
        Heard::Nothing
    }

    /// Send (or resend) the query to the next server and schedule the next resend.
    fn send(
        &mut self,
        sockets: &mut SocketSet<'_>,
        host: &str,
        query: &mut Query,
        now: Instant,
    ) -> Result<(), DnsError> {
        let servers = self.servers.iter().flatten().count().max(1);
        let Some(server) = self
            .servers
            .iter()
            .flatten()
            .nth(usize::from(query.sends) % servers)
            .copied()
        else {
            return Err(DnsError::NoServer);
        };
        let question = Question {
            id: query.id,
            host,
            record_type: query.record_type,
        };
        let len = wire::check_host(host)
            .map(wire::query_len)
            .map_err(DnsError::InvalidName)?;
        let socket = sockets.get_mut::<udp::Socket>(self.handle);
        let capacity = socket.payload_send_capacity();
        let remote = IpEndpoint::new(server, DNS_PORT);
        let result = if socket.send_queue() != 0 {
            // The last datagram has not left yet (it waits for ARP, say): another copy
            // would only queue behind it.
            Err(udp::SendError::BufferFull)
        } else {
            socket.send(len, remote)
        };
        match result {
            Ok(buf) => {
                if let Err(e) = wire::write_query(buf, &question) {
                    // Not reached (the host was checked and the slot is the query's size);
                    // the socket is closed with the query, which drops the bad datagram.
                    return Err(DnsError::InvalidName(e));
                }
            }
            Err(udp::SendError::Unaddressable) => return Err(DnsError::Unaddressable),
            Err(udp::SendError::BufferFull) if capacity < len => {
                return Err(DnsError::BufferTooSmall)
            }
            // The previous datagram is still queued: try again at the next resend.
            Err(udp::SendError::BufferFull) => {}
        }
        query.sends = query.sends.saturating_add(1);
        let wait = (FIRST_RETRANSMIT_MS << (query.sends - 1).min(8)).min(MAX_RETRANSMIT_MS);
        query.next_send = now.add_millis(wait).min(query.deadline);
        Ok(())
    }
}

impl<S: StackAccess, const ENTRIES: usize, const NAME: usize> Resolve<S>
    for DnsResolver<ENTRIES, NAME>
{
    /// One address: the first answer that fits this build's address families.
    type Addresses = Option<IpAddr>;

    /// The blocking form: [`poll`](Self::poll) until it stops blocking, keeping the stack
    /// polled and calling the idle hook in between.
    fn resolve(
        &mut self,
        host: &str,
        stack: &mut S,
        deadline: Instant,
    ) -> Result<Option<IpAddr>, TransportError> {
        loop {
            let now = stack.poll();
            match stack.with_parts(|iface, sockets| self.poll(iface, sockets, host, now, deadline))
            {
                Ok(address) => return Ok(Some(address.into())),
                Err(nb::Error::Other(e)) => return Err(e.failure()),
                Err(nb::Error::WouldBlock) => {
                    let wake = self.poll_at().map_or(deadline, |at| at.min(deadline));
                    stack.idle_until(now, wake);
                }
            }
        }
    }
}

/// Whether the interface has an IPv4 address, and a routable (not link-local) IPv6 one.
/// A family this build lacks (`proto-ipv4`, `proto-ipv6`) has no variant to match, so it
/// stays `false` and is never asked for.
fn address_families(iface: &Interface) -> (bool, bool) {
    iface
        .ip_addrs()
        .iter()
        .fold((false, false), |found, cidr| match cidr.address() {
            #[cfg(feature = "proto-ipv4")]
            IpAddress::Ipv4(_) => (true, found.1),
            #[cfg(feature = "proto-ipv6")]
            IpAddress::Ipv6(a) => (found.0, found.1 || !a.is_unicast_link_local()),
        })
}

fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}
