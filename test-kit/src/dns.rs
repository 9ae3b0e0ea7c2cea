//! A scripted DNS server for the resolver tests: it answers queries from a small zone, or
//! misbehaves on purpose in the ways a real server (dnsmasq) never would.
//!
//! [`respond`] turns one query datagram into the answer to send (or none); the in-memory
//! tests run it over a smoltcp UDP socket, and [`UdpResponder`] runs it on a kernel UDP
//! socket (inside the TAP test's network namespace).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One name of the zone.
#[derive(Clone, Debug)]
pub struct ZoneEntry {
    /// The name, lowercase, no trailing dot.
    pub name: String,
    /// Its addresses (A for IPv4, AAAA for IPv6).
    pub addresses: Vec<IpAddr>,
    /// TTL of its records, in seconds.
    pub ttl: u32,
}

/// The names the server knows; other names are NXDOMAIN.
#[derive(Clone, Debug, Default)]
pub struct Zone(pub Vec<ZoneEntry>);

impl Zone {
    /// A zone with one name.
    pub fn one(name: &str, address: IpAddr, ttl: u32) -> Zone {
        Zone(vec![ZoneEntry {
            name: name.to_string(),
            addresses: vec![address],
            ttl,
        }])
    }

    fn find(&self, name: &str) -> Option<&ZoneEntry> {
        self.0.iter().find(|e| e.name.eq_ignore_ascii_case(name))
    }
}

/// How the server answers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DnsFault {
    /// Answer from the zone: the addresses of the asked type, NODATA if none, NXDOMAIN for
    /// a name not in it.
    None,
    /// Never answer.
    Silent,
    /// NXDOMAIN whatever the name.
    NxDomain,
    /// SERVFAIL.
    ServFail,
    /// REFUSED.
    Refused,
    /// The TC bit, no records.
    Truncated,
    /// The right answer cut in the middle of its first record.
    CutShort,
    /// The right answer with another id.
    WrongId,
    /// A well-formed answer to another name's question.
    WrongQuestion,
    /// The right header and question, and a record whose owner name is a compression
    /// pointer to itself.
    PointerLoop,
    /// The right answer, claiming 65535 answer records.
    HugeCount,
    /// A well-formed answer whose address records belong to another name.
    OtherNameRecords,
    /// The right answer with an A record of 5 bytes.
    BadAddressLength,
}

/// A decoded query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Its id.
    pub id: u16,
    /// Its flags (RD is 0x0100).
    pub flags: u16,
    /// The name asked for, in text form.
    pub name: String,
    /// The type asked for (1 A, 28 AAAA).
    pub qtype: u16,
    /// The class asked for (1 IN).
    pub qclass: u16,
    /// Where the question ends in the datagram.
    question_end: usize,
}

/// Decode a query the way a server would; `None` if it is not one (then no answer).
pub fn parse_query(datagram: &[u8]) -> Option<Query> {
    let id = u16::from_be_bytes(datagram.get(0..2)?.try_into().ok()?);
    let flags = u16::from_be_bytes(datagram.get(2..4)?.try_into().ok()?);
    let qdcount = u16::from_be_bytes(datagram.get(4..6)?.try_into().ok()?);
    if qdcount != 1 || flags & 0x8000 != 0 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*datagram.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8(datagram.get(at + 1..at + 1 + len)?.to_vec()).ok()?);
        at += 1 + len;
    }
    let qtype = u16::from_be_bytes(datagram.get(at..at + 2)?.try_into().ok()?);
    let qclass = u16::from_be_bytes(datagram.get(at + 2..at + 4)?.try_into().ok()?);
    Some(Query {
        id,
        flags,
        name: labels.join("."),
        qtype,
        qclass,
        question_end: at + 4,
    })
}

/// A recursive query for `name` of type `qtype` (1 = A, 28 = AAAA), class IN: what a stub
/// resolver sends, for probing a server.
///
/// ```
/// use otlp_embedded_test_kit::dns::{parse_query, query};
///
/// let q = parse_query(&query(7, "ready.test", 1)).unwrap();
/// assert_eq!((q.id, q.flags, q.name.as_str(), q.qtype, q.qclass), (7, 0x0100, "ready.test", 1, 1));
/// ```
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [id, 0x0100, 1, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&encode_name(name));
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

fn header(id: u16, rcode: u16, tc: bool, qd: u16, an: u16) -> Vec<u8> {
    let flags = 0x8180 | rcode | if tc { 0x0200 } else { 0 };
    let mut out = Vec::new();
    for v in [id, flags, qd, an, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// An address record for the name at offset 12 (a compression pointer to the question).
fn record(qtype: u16, ttl: u32, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC0, 0x0C];
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    out
}

fn address_bytes(address: &IpAddr) -> (u16, Vec<u8>) {
    match address {
        IpAddr::V4(a) => (1, a.octets().to_vec()),
        IpAddr::V6(a) => (28, a.octets().to_vec()),
    }
}

/// The answer to `datagram` from `zone`, misbehaving as `fault` says; `None` when the
/// server stays silent (or the datagram is not a query).
pub fn respond(datagram: &[u8], zone: &Zone, fault: DnsFault) -> Option<Vec<u8>> {
    let query = parse_query(datagram)?;
    let question = &datagram[12..query.question_end];
    let entry = zone.find(&query.name);
    let records: Vec<Vec<u8>> = entry
        .map(|e| {
            e.addresses
                .iter()
                .map(address_bytes)
                .filter(|(t, _)| *t == query.qtype)
                .map(|(t, data)| record(t, e.ttl, &data))
                .collect()
        })
        .unwrap_or_default();
    let ttl = entry.map_or(60, |e| e.ttl);
    let answer = |id: u16, rcode: u16, records: &[Vec<u8>]| {
        let mut out = header(id, rcode, false, 1, records.len() as u16);
        out.extend_from_slice(question);
        for r in records {
            out.extend_from_slice(r);
        }
        out
    };
    let rcode_only = |rcode: u16| answer(query.id, rcode, &[]);
    Some(match fault {
        DnsFault::Silent => return None,
        DnsFault::None if entry.is_none() => rcode_only(3),
        DnsFault::None => answer(query.id, 0, &records),
        DnsFault::NxDomain => rcode_only(3),
        DnsFault::ServFail => rcode_only(2),
        DnsFault::Refused => rcode_only(5),
        DnsFault::Truncated => {
            let mut out = header(query.id, 0, true, 1, 0);
            out.extend_from_slice(question);
            out
        }
        DnsFault::CutShort => {
            let mut out = answer(query.id, 0, &records);
            let cut = 12 + question.len() + 7;
            out.truncate(cut.min(out.len()));
            out
        }
        DnsFault::WrongId => answer(query.id.wrapping_add(1), 0, &records),
        DnsFault::WrongQuestion => {
            let mut out = header(query.id, 0, false, 1, 1);
            out.extend_from_slice(&encode_name("elsewhere.test"));
            out.extend_from_slice(&query.qtype.to_be_bytes());
            out.extend_from_slice(&1u16.to_be_bytes());
            out.extend_from_slice(&record(1, ttl, &[192, 0, 2, 66]));
            out
        }
        DnsFault::PointerLoop => {
            let mut out = header(query.id, 0, false, 1, 1);
            out.extend_from_slice(question);
            let here = out.len() as u16;
            out.extend_from_slice(&(0xC000 | here).to_be_bytes());
            out.extend_from_slice(&record(1, ttl, &[192, 0, 2, 1])[2..]);
            out
        }
        DnsFault::HugeCount => {
            let mut out = answer(query.id, 0, &records);
            out[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
            out
        }
        DnsFault::OtherNameRecords => {
            let mut out = header(query.id, 0, false, 1, 1);
            out.extend_from_slice(question);
            let mut other = encode_name("elsewhere.test");
            let r = record(query.qtype, ttl, &[192, 0, 2, 66]);
            other.extend_from_slice(&r[2..]);
            out.extend_from_slice(&other);
            out
        }
        DnsFault::BadAddressLength => answer(query.id, 0, &[record(1, ttl, &[192, 0, 2, 1, 9])]),
    })
}

/// What a [`UdpResponder`] saw: every query, in order.
#[derive(Clone, Debug, Default)]
pub struct ResponderLog {
    /// Queries received, with the fault they were answered with.
    pub queries: Vec<(Query, DnsFault)>,
}

/// [`respond`] on a kernel UDP socket, in its own thread, until dropped.
pub struct UdpResponder {
    /// The bound address.
    pub addr: SocketAddr,
    fault: Arc<Mutex<DnsFault>>,
    log: Arc<Mutex<ResponderLog>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpResponder {
    /// Bind `addr` and answer from `zone`.
    pub fn start(addr: SocketAddr, zone: Zone) -> std::io::Result<UdpResponder> {
        let socket = UdpSocket::bind(addr)?;
        // The stop flag is checked at least this often.
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        let addr = socket.local_addr()?;
        let fault = Arc::new(Mutex::new(DnsFault::None));
        let log = Arc::new(Mutex::new(ResponderLog::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (fault, log, stop) = (fault.clone(), log.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let fault = *fault.lock().unwrap();
                    if let Some(query) = parse_query(&buf[..n]) {
                        log.lock().unwrap().queries.push((query, fault));
                    }
                    if let Some(answer) = respond(&buf[..n], &zone, fault) {
                        let _ = socket.send_to(&answer, from);
                    }
                }
            })
        };
        Ok(UdpResponder {
            addr,
            fault,
            log,
            stop,
            thread: Some(thread),
        })
    }

    /// Answer the following queries with `fault`.
    pub fn set_fault(&self, fault: DnsFault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// A copy of what was seen so far.
    pub fn log(&self) -> ResponderLog {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for UdpResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
