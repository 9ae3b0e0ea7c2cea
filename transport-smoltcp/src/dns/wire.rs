//! DNS messages on the wire (RFC 1035 section 4): writing a query, reading its answer.
//!
//! Both work on borrowed bytes and keep nothing: [`write_query`] writes into the caller's
//! buffer (the UDP socket's transmit slot), [`parse_answer`] reads the received datagram in
//! place. Every malformed input is an error value, never a panic or an out-of-bounds read,
//! and every loop is bounded by the message length:
//!
//! - a name's compression pointer must point before the part of the name being read, so a
//!   chain of pointers moves strictly backwards and ends (loops and forward references are
//!   [`Malformed::PointerNotBackward`]); a pointer past the end is
//!   [`Malformed::NameOutsideMessage`];
//! - a name is at most 255 bytes expanded ([`Malformed::NameTooLong`]);
//! - the record counts of the header are believed only as far as the message carries
//!   records ([`Malformed::RecordOutsideMessage`]), and messages over [`MAX_MESSAGE_LEN`]
//!   are refused, so a hostile count or size costs at most one pass over 1232 bytes;
//! - CNAME chains are followed for at most [`MAX_CNAME_HOPS`] links.
//!
//! An answer is accepted only if it carries the query's id, is a response to a standard
//! query and repeats the query's question (name compared ignoring ASCII case, type and
//! class); anything else is a [`Mismatch`], which the resolver discards (it may be a late
//! answer to an earlier query, or a forgery) while it waits for the right one.

use smoltcp::wire::IpAddress;

/// Length of the fixed message header.
pub const HEADER_LEN: usize = 12;
/// Longest encoded name, root label included (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest host name in text form, without a trailing dot.
pub const MAX_HOST_LEN: usize = 253;
/// Longest message accepted: the largest DNS payload that crosses the Internet without IP
/// fragmentation (DNS Flag Day 2020). A server sends at most 512 bytes over UDP to a query
/// without EDNS, like ours, so this leaves room for servers that send a little more.
pub const MAX_MESSAGE_LEN: usize = 1232;
/// CNAME links followed from the queried name to the address record.
pub const MAX_CNAME_HOPS: usize = 8;
/// Bytes [`write_query`] needs for a name of `host_len` bytes (no trailing dot).
pub const fn query_len(host_len: usize) -> usize {
    HEADER_LEN + host_len + 2 + 4
}

const CLASS_IN: u16 = 1;
const TYPE_CNAME: u16 = 5;
const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const OPCODE_MASK: u16 = 0x7800;

/// The address record types asked for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecordType {
    /// An IPv4 address.
    A,
    /// An IPv6 address.
    Aaaa,
}

impl RecordType {
    /// The type code on the wire.
    pub const fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Aaaa => 28,
        }
    }

    const fn rdata_len(self) -> usize {
        match self {
            RecordType::A => 4,
            RecordType::Aaaa => 16,
        }
    }
}

/// Why a host cannot be put in a query.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NameError {
    /// The host is empty (or only a dot).
    Empty,
    /// The host is longer than [`MAX_HOST_LEN`] bytes.
    TooLong,
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label is longer than 63 bytes.
    LabelTooLong,
    /// A byte other than an ASCII letter, digit, `-` or `_` (an IDN must be given in its
    /// `xn--` form).
    BadCharacter,
    /// The buffer is shorter than [`query_len`] says.
    BufferTooSmall,
}

/// The query an answer must match.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Question<'h> {
    /// The query's id.
    pub id: u16,
    /// The name asked for, in text form (a trailing dot is allowed).
    pub host: &'h str,
    /// The record type asked for.
    pub record_type: RecordType,
}

/// An address from an answer, with how long it may be kept.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Answer {
    /// The first address record of the asked type for the name (or the end of its CNAME
    /// chain).
    pub address: IpAddress,
    /// Seconds the answer may be cached: the least TTL along the chain. TTLs with the top
    /// bit set count as 0 (RFC 2181 section 8).
    pub ttl: u32,
}

/// Why a datagram is not an answer to the query, so that it is discarded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mismatch {
    /// Another query's id.
    Id,
    /// Not a response (QR clear) or not to a standard query (opcode not 0).
    NotResponse,
    /// The question section is not the query's question.
    Question,
    /// It came from an address or port that the query was not sent to.
    Source,
}

/// How a message breaks the DNS message format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Malformed {
    /// Shorter than the 12-byte header.
    ShortHeader,
    /// Longer than [`MAX_MESSAGE_LEN`].
    TooLong,
    /// A question count other than 1 in a successful answer.
    QuestionCount,
    /// A name runs past the end of the message (or a pointer points past it).
    NameOutsideMessage,
    /// A label type other than a length or a pointer (0x40 and 0x80 prefixes).
    LabelType,
    /// A compression pointer that does not point before the name part being read.
    PointerNotBackward,
    /// A name longer than 255 bytes expanded.
    NameTooLong,
    /// A question or record runs past the end of the message (a header count larger than
    /// the records carried, or a record data length past the end).
    RecordOutsideMessage,
    /// An A or AAAA record whose data is not 4 or 16 bytes.
    AddressLength,
    /// A CNAME whose name does not end inside its record data.
    CnameData,
    /// More than [`MAX_CNAME_HOPS`] CNAME links from the queried name.
    CnameChainTooLong,
}

/// Why an answer gives no address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnswerError {
    /// Not an answer to this query: discard it and keep waiting.
    Mismatch(Mismatch),
    /// The name does not exist (RCODE 3, NXDOMAIN).
    NameNotFound,
    /// The name exists but has no record of the asked type (NODATA), or the records are
    /// for other names, or this build lacks the asked type's address family.
    NoAddress,
    /// RCODE 2, SERVFAIL.
    ServerFailure,
    /// Another non-zero RCODE (FORMERR 1, NOTIMP 4, REFUSED 5, ...).
    Refused(u8),
    /// The TC bit: the answer did not fit.
    Truncated,
    /// The message breaks the format.
    Malformed(Malformed),
}

impl From<Malformed> for AnswerError {
    fn from(m: Malformed) -> Self {
        AnswerError::Malformed(m)
    }
}

/// `host`'s bytes without one trailing dot.
pub(crate) fn bare_host(host: &str) -> &[u8] {
    match host.as_bytes().split_last() {
        Some((b'.', rest)) => rest,
        _ => host.as_bytes(),
    }
}

/// The labels of a host name in text form.
fn host_labels(bare: &[u8]) -> impl Iterator<Item = &[u8]> {
    bare.split(|&b| b == b'.')
}

/// Check that `host` can be asked for; returns its length without a trailing dot.
pub fn check_host(host: &str) -> Result<usize, NameError> {
    let bare = bare_host(host);
    if bare.is_empty() {
        return Err(NameError::Empty);
    }
    if bare.len() > MAX_HOST_LEN {
        return Err(NameError::TooLong);
    }
    for label in host_labels(bare) {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(NameError::LabelTooLong);
        }
        if !label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(NameError::BadCharacter);
        }
    }
    Ok(bare.len())
}

/// Write a recursive query for `question` into `buf`; returns its length.
pub fn write_query(buf: &mut [u8], question: &Question<'_>) -> Result<usize, NameError> {
    let host_len = check_host(question.host)?;
    let len = query_len(host_len);
    let Some(out) = buf.get_mut(..len) else {
        return Err(NameError::BufferTooSmall);
    };
    // The header, the name's labels (each 1..=63 bytes, checked above) and the root, the
    // type and the class: exactly `len` bytes.
    let [id, flags, counts] = [
        question.id.to_be_bytes(),
        FLAG_RD.to_be_bytes(),
        1u16.to_be_bytes(),
    ];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(dest) = out.get_mut(at..at + bytes.len()) {
            dest.copy_from_slice(bytes);
        }
        at += bytes.len();
    };
    put(&id);
    put(&flags);
    put(&counts);
    put(&[0; 6]);
    for label in host_labels(bare_host(question.host)) {
        put(&[label.len() as u8]);
        put(label);
    }
    put(&[0]);
    put(&question.record_type.code().to_be_bytes());
    put(&CLASS_IN.to_be_bytes());
    Ok(len)
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    let bytes = msg.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn u32_at(msg: &[u8], at: usize) -> Option<u32> {
    let bytes = msg.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The labels of a name in a message, compression pointers followed.
struct Labels<'m> {
    msg: &'m [u8],
    at: usize,
    /// Pointers must point below this: the start of the name part being read.
    floor: usize,
    /// Expanded length so far, root byte included.
    len: usize,
    /// Where the name ends in place (after its first pointer or its root label).
    end: Option<usize>,
    done: bool,
}

impl<'m> Labels<'m> {
    fn new(msg: &'m [u8], at: usize) -> Self {
        Labels {
            msg,
            at,
            floor: at,
            len: 1,
            end: None,
            done: false,
        }
    }

    /// The next label, `None` after the root label.
    fn next_label(&mut self) -> Result<Option<&'m [u8]>, Malformed> {
        if self.done {
            return Ok(None);
        }
        loop {
            let &len = self.msg.get(self.at).ok_or(Malformed::NameOutsideMessage)?;
            match len & 0xC0 {
                0x00 if len == 0 => {
                    self.done = true;
                    if self.end.is_none() {
                        self.end = Some(self.at + 1);
                    }
                    return Ok(None);
                }
                0x00 => {
                    let start = self.at + 1;
                    let label = self
                        .msg
                        .get(start..start + usize::from(len))
                        .ok_or(Malformed::NameOutsideMessage)?;
                    self.len += 1 + usize::from(len);
                    if self.len > MAX_NAME_LEN {
                        return Err(Malformed::NameTooLong);
                    }
                    self.at = start + usize::from(len);
                    return Ok(Some(label));
                }
                0xC0 => {
                    let low = *self
                        .msg
                        .get(self.at + 1)
                        .ok_or(Malformed::NameOutsideMessage)?;
                    let target = usize::from(len & 0x3F) << 8 | usize::from(low);
                    if self.end.is_none() {
                        self.end = Some(self.at + 2);
                    }
                    if target >= self.floor {
                        return Err(Malformed::PointerNotBackward);
                    }
                    self.floor = target;
                    self.at = target;
                }
                _ => return Err(Malformed::LabelType),
            }
        }
    }

    /// Read to the end of the name; returns where it ends in place.
    fn skip(mut self) -> Result<usize, Malformed> {
        while self.next_label()?.is_some() {}
        self.end.ok_or(Malformed::NameOutsideMessage)
    }
}

/// Whether the name at `at` is `host` (ASCII case ignored, trailing dot optional).
fn name_is_host(msg: &[u8], at: usize, host: &str) -> Result<bool, Malformed> {
    let mut labels = Labels::new(msg, at);
    let mut same = true;
    for want in host_labels(bare_host(host)) {
        match labels.next_label()? {
            Some(got) if same => same = got.eq_ignore_ascii_case(want),
            Some(_) => {}
            None => return Ok(false),
        }
    }
    // Equal only if the name ends here too.
    Ok(same && labels.next_label()?.is_none())
}

/// Whether the names at `a` and `b` are the same (ASCII case ignored).
fn same_name(msg: &[u8], a: usize, b: usize) -> Result<bool, Malformed> {
    let (mut x, mut y) = (Labels::new(msg, a), Labels::new(msg, b));
    loop {
        match (x.next_label()?, y.next_label()?) {
            (None, None) => return Ok(true),
            (Some(l), Some(r)) if l.eq_ignore_ascii_case(r) => {}
            _ => return Ok(false),
        }
    }
}

/// One resource record, located in the message.
#[derive(Copy, Clone)]
struct Record {
    owner: usize,
    rtype: u16,
    class: u16,
    ttl: u32,
    data: usize,
    data_len: usize,
}

/// Read the record at `at`; returns it and where the next one starts.
fn record_at(msg: &[u8], at: usize) -> Result<(Record, usize), Malformed> {
    if at >= msg.len() {
        // The header promised more records than the message holds.
        return Err(Malformed::RecordOutsideMessage);
    }
    let fixed = Labels::new(msg, at).skip()?;
    let field = |offset: usize| u16_at(msg, fixed + offset).ok_or(Malformed::RecordOutsideMessage);
    let rtype = field(0)?;
    let class = field(2)?;
    let ttl = u32_at(msg, fixed + 4).ok_or(Malformed::RecordOutsideMessage)?;
    let data_len = usize::from(field(8)?);
    let data = fixed + 10;
    let next = data + data_len;
    if next > msg.len() {
        return Err(Malformed::RecordOutsideMessage);
    }
    // RFC 2181 section 8: a TTL with the top bit set is treated as zero.
    let ttl = if ttl & 0x8000_0000 != 0 { 0 } else { ttl };
    Ok((
        Record {
            owner: at,
            rtype,
            class,
            ttl,
            data,
            data_len,
        },
        next,
    ))
}

/// Read the answer `msg` to `question`.
pub fn parse_answer(msg: &[u8], question: &Question<'_>) -> Result<Answer, AnswerError> {
    if msg.len() < HEADER_LEN {
        return Err(Malformed::ShortHeader.into());
    }
    if msg.len() > MAX_MESSAGE_LEN {
        return Err(Malformed::TooLong.into());
    }
    let field = |at: usize| u16_at(msg, at).unwrap_or(0);
    if field(0) != question.id {
        return Err(AnswerError::Mismatch(Mismatch::Id));
    }
    let flags = field(2);
    if flags & FLAG_QR == 0 || flags & OPCODE_MASK != 0 {
        return Err(AnswerError::Mismatch(Mismatch::NotResponse));
    }
    let rcode = (flags & 0x000F) as u8;
    let (questions, answers) = (field(4), field(6));
    // Servers may leave the question out of an error answer; a success must repeat it.
    let mut at = HEADER_LEN;
    match questions {
        0 if rcode != 0 => {}
        1 => {
            let name_end = Labels::new(msg, at).skip()?;
            let qtype = u16_at(msg, name_end).ok_or(Malformed::RecordOutsideMessage)?;
            let qclass = u16_at(msg, name_end + 2).ok_or(Malformed::RecordOutsideMessage)?;
            if !name_is_host(msg, at, question.host)?
                || qtype != question.record_type.code()
                || qclass != CLASS_IN
            {
                return Err(AnswerError::Mismatch(Mismatch::Question));
            }
            at = name_end + 4;
        }
        _ => return Err(Malformed::QuestionCount.into()),
    }
    if flags & FLAG_TC != 0 {
        return Err(AnswerError::Truncated);
    }
    match rcode {
        0 => {}
        2 => return Err(AnswerError::ServerFailure),
        3 => return Err(AnswerError::NameNotFound),
        other => return Err(AnswerError::Refused(other)),
    }
    // Walk the whole answer section once: every record must be well formed.
    let first = at;
    for _ in 0..answers {
        let (record, next) = record_at(msg, at)?;
        if record.class == CLASS_IN {
            if record.rtype == question.record_type.code()
                && record.data_len != question.record_type.rdata_len()
            {
                return Err(Malformed::AddressLength.into());
            }
            if record.rtype == TYPE_CNAME
                && Labels::new(msg, record.data).skip()? > record.data + record.data_len
            {
                return Err(Malformed::CnameData.into());
            }
        }
        at = next;
    }
    find_address(msg, first, answers, question)
}

/// Follow the queried name through CNAME records to an address record of the asked type.
fn find_address(
    msg: &[u8],
    first: usize,
    answers: u16,
    question: &Question<'_>,
) -> Result<Answer, AnswerError> {
    // The name being looked for: the question's (at HEADER_LEN) or a CNAME's target.
    let mut target = HEADER_LEN;
    let mut ttl = u32::MAX;
    for _hop in 0..=MAX_CNAME_HOPS {
        let mut alias = None;
        let mut at = first;
        for _ in 0..answers {
            let (record, next) = record_at(msg, at)?;
            at = next;
            if record.class != CLASS_IN || !same_name(msg, record.owner, target)? {
                continue;
            }
            if record.rtype == question.record_type.code() {
                let data = msg
                    .get(record.data..record.data + record.data_len)
                    .ok_or(Malformed::RecordOutsideMessage)?;
                // The walk above checked the length, so `None` means this build lacks the
                // asked family (`proto-ipv4`, `proto-ipv6`).
                let address =
                    address_from(question.record_type, data).ok_or(AnswerError::NoAddress)?;
                return Ok(Answer {
                    address,
                    ttl: ttl.min(record.ttl),
                });
            }
            if record.rtype == TYPE_CNAME && alias.is_none() {
                alias = Some((record.data, record.ttl));
            }
        }
        let Some((next_target, link_ttl)) = alias else {
            return Err(AnswerError::NoAddress);
        };
        target = next_target;
        ttl = ttl.min(link_ttl);
    }
    Err(Malformed::CnameChainTooLong.into())
}

/// The address an A or AAAA record's data holds, or `None` when its length is wrong or its
/// family is not built (`proto-ipv4`, `proto-ipv6`).
fn address_from(record_type: RecordType, data: &[u8]) -> Option<IpAddress> {
    match record_type {
        #[cfg(feature = "proto-ipv4")]
        RecordType::A => {
            let octets: [u8; 4] = data.try_into().ok()?;
            Some(IpAddress::Ipv4(octets.into()))
        }
        #[cfg(feature = "proto-ipv6")]
        RecordType::Aaaa => {
            let octets: [u8; 16] = data.try_into().ok()?;
            Some(IpAddress::Ipv6(octets.into()))
        }
        // Only reachable in a single-family build.
        #[allow(unreachable_patterns)]
        _ => None,
    }
}
