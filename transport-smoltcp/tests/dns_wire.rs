//! The DNS wire code on hand-made messages: the query's exact bytes, answers that follow
//! compression and CNAME chains, and every way an answer can be malformed or hostile,
//! each with its own error and none with a panic.
//!
//! These run with the default features (IPv4 and IPv6); scripts/cross.sh also runs them in
//! an IPv4-only build, where an AAAA answer gives no address.

use otlp_embedded_smoltcp::dns::wire::{
    check_host, parse_answer, query_len, write_query, Answer, AnswerError, Malformed, Mismatch,
    NameError, Question, RecordType, MAX_MESSAGE_LEN,
};
use smoltcp::wire::IpAddress;

const ID: u16 = 0xBEEF;

fn q(host: &str) -> Question<'_> {
    Question {
        id: ID,
        host,
        record_type: RecordType::A,
    }
}

fn name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// A message under construction: header fields, then sections as raw bytes.
struct Msg {
    bytes: Vec<u8>,
}

impl Msg {
    /// Header with id, flags, counts; then the question `host`/`qtype`.
    fn answer(flags: u16, host: &str, qtype: u16, ancount: u16) -> Msg {
        let mut bytes = Vec::new();
        for v in [ID, flags, 1, ancount, 0, 0] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        bytes.extend_from_slice(&name(host));
        bytes.extend_from_slice(&qtype.to_be_bytes());
        bytes.extend_from_slice(&1u16.to_be_bytes());
        Msg { bytes }
    }

    fn ok(host: &str, ancount: u16) -> Msg {
        Msg::answer(0x8180, host, 1, ancount)
    }

    fn at(&self) -> u16 {
        self.bytes.len() as u16
    }

    /// A record: owner (raw name bytes), type, class IN, ttl, data.
    fn record(mut self, owner: &[u8], rtype: u16, ttl: u32, data: &[u8]) -> Msg {
        self.bytes.extend_from_slice(owner);
        self.bytes.extend_from_slice(&rtype.to_be_bytes());
        self.bytes.extend_from_slice(&1u16.to_be_bytes());
        self.bytes.extend_from_slice(&ttl.to_be_bytes());
        self.bytes
            .extend_from_slice(&(data.len() as u16).to_be_bytes());
        self.bytes.extend_from_slice(data);
        self
    }
}

fn ptr(at: u16) -> [u8; 2] {
    (0xC000 | at).to_be_bytes()
}

fn a(ip: [u8; 4], ttl: u32) -> Answer {
    Answer {
        address: IpAddress::v4(ip[0], ip[1], ip[2], ip[3]),
        ttl,
    }
}

#[test]
fn the_query_is_a_recursive_standard_query_for_one_name() {
    let mut buf = [0xAAu8; 64];
    let question = Question {
        id: 0x1234,
        host: "otlp.Vendor.example.",
        record_type: RecordType::Aaaa,
    };
    let len = write_query(&mut buf, &question).unwrap();
    assert_eq!(len, query_len("otlp.Vendor.example".len()));
    let mut expected = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(b"\x04otlp\x06Vendor\x07example\x00");
    expected.extend_from_slice(&[0, 28, 0, 1]);
    assert_eq!(&buf[..len], &expected[..]);
    // The buffer beyond the query is untouched, and a short one is refused.
    assert!(buf[len..].iter().all(|&b| b == 0xAA));
    assert_eq!(
        write_query(&mut buf[..len - 1], &question),
        Err(NameError::BufferTooSmall)
    );
}

#[test]
fn host_names_are_checked() {
    assert_eq!(check_host("a.b-c_d.e9"), Ok(10));
    assert_eq!(check_host("trailing.dot."), Ok(12));
    let label63 = "x".repeat(63);
    assert_eq!(check_host(&label63), Ok(63));
    let name253 = [label63.as_str(); 4].join(".")[..253].to_string();
    assert_eq!(check_host(&name253), Ok(253));
    for (host, err) in [
        ("", NameError::Empty),
        (".", NameError::Empty),
        ("a..b", NameError::EmptyLabel),
        (".a", NameError::EmptyLabel),
        ("a b", NameError::BadCharacter),
        ("a\0b", NameError::BadCharacter),
        ("bücher.example", NameError::BadCharacter),
    ] {
        assert_eq!(check_host(host), Err(err), "{host:?}");
    }
    assert_eq!(check_host(&"x".repeat(64)), Err(NameError::LabelTooLong));
    assert_eq!(check_host(&format!("{name253}x")), Err(NameError::TooLong));
}

#[test]
fn an_answer_gives_the_first_address_of_the_name() {
    let m = Msg::ok("collector.test", 2)
        .record(&ptr(12), 1, 300, &[10, 0, 0, 9])
        .record(&ptr(12), 1, 60, &[10, 0, 0, 10]);
    assert_eq!(
        parse_answer(&m.bytes, &q("collector.test")),
        Ok(a([10, 0, 0, 9], 300))
    );
    // Names compare ignoring ASCII case, and a trailing dot is the same name.
    assert_eq!(
        parse_answer(&m.bytes, &q("COLLECTOR.Test.")),
        Ok(a([10, 0, 0, 9], 300))
    );
    // An owner written out in full (no compression) is the same name.
    let m = Msg::ok("collector.test", 1).record(&name("Collector.TEST"), 1, 5, &[1, 2, 3, 4]);
    assert_eq!(
        parse_answer(&m.bytes, &q("collector.test")),
        Ok(a([1, 2, 3, 4], 5))
    );
    // AAAA.
    let mut m = Msg::answer(0x8180, "v6.test", 28, 1);
    let data: Vec<u8> = (1..=16).collect();
    m = m.record(&ptr(12), 28, 9, &data);
    let question = Question {
        id: ID,
        host: "v6.test",
        record_type: RecordType::Aaaa,
    };
    #[cfg(feature = "proto-ipv6")]
    {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&data);
        assert_eq!(
            parse_answer(&m.bytes, &question),
            Ok(Answer {
                address: IpAddress::Ipv6(octets.into()),
                ttl: 9
            })
        );
    }
    // An IPv4-only build (scripts/cross.sh runs these tests so) has no IPv6 address to
    // give: a well-formed AAAA answer is one without a usable address.
    #[cfg(not(feature = "proto-ipv6"))]
    assert_eq!(
        parse_answer(&m.bytes, &question),
        Err(AnswerError::NoAddress)
    );
}

#[test]
fn cname_chains_are_followed_in_any_order_with_the_least_ttl() {
    // collector.test CNAME edge.cdn.test (ttl 120); edge.cdn.test CNAME pop.cdn.test (ttl
    // 600, the target compressed against the previous name); pop.cdn.test A (ttl 30).
    let m = Msg::ok("collector.test", 3);
    let first_target = m.at() + 12;
    let m = m.record(&ptr(12), 5, 120, &name("edge.cdn.test"));
    // "pop" + pointer to "cdn.test" inside the first target (after "\x04edge").
    let cdn = first_target + 5;
    let mut pop = vec![3, b'p', b'o', b'p'];
    pop.extend_from_slice(&ptr(cdn));
    let second_target = m.at() + 2 + 10;
    let m = m.record(&ptr(first_target), 5, 600, &pop);
    let m = m.record(&ptr(second_target), 1, 30, &[192, 0, 2, 80]);
    assert_eq!(
        parse_answer(&m.bytes, &q("collector.test")),
        Ok(a([192, 0, 2, 80], 30))
    );

    // The same records, address first: still found.
    let m2 = Msg::ok("c.test", 2);
    let target = m2.at();
    // A record owned by "x.test" written in full, then the CNAME pointing at it.
    let m2 =
        m2.record(&name("x.test"), 1, 50, &[192, 0, 2, 81])
            .record(&ptr(12), 5, 40, &ptr(target));
    assert_eq!(
        parse_answer(&m2.bytes, &q("c.test")),
        Ok(a([192, 0, 2, 81], 40))
    );
}

#[test]
fn cname_loops_and_long_chains_end() {
    // a.test CNAME b.test, b.test CNAME a.test.
    let m = Msg::ok("a.test", 2);
    let b_at = m.at() + 12;
    let m = m
        .record(&ptr(12), 5, 60, &name("b.test"))
        .record(&ptr(b_at), 5, 60, &ptr(12));
    assert_eq!(
        parse_answer(&m.bytes, &q("a.test")),
        Err(AnswerError::Malformed(Malformed::CnameChainTooLong))
    );
    // A chain of 9 links (one more than followed).
    let mut m = Msg::ok("n0.test", 10);
    let mut owner_at = 12u16;
    for i in 1..=9 {
        let target_at = m.at() + 12;
        m = m.record(&ptr(owner_at), 5, 60, &name(&format!("n{i}.test")));
        owner_at = target_at;
    }
    m = m.record(&ptr(owner_at), 1, 60, &[192, 0, 2, 9]);
    assert_eq!(
        parse_answer(&m.bytes, &q("n0.test")),
        Err(AnswerError::Malformed(Malformed::CnameChainTooLong))
    );
    // Eight links are followed.
    let mut m = Msg::ok("n0.test", 9);
    let mut owner_at = 12u16;
    for i in 1..=8 {
        let target_at = m.at() + 12;
        m = m.record(&ptr(owner_at), 5, 60, &name(&format!("n{i}.test")));
        owner_at = target_at;
    }
    m = m.record(&ptr(owner_at), 1, 60, &[192, 0, 2, 9]);
    assert_eq!(
        parse_answer(&m.bytes, &q("n0.test")),
        Ok(a([192, 0, 2, 9], 60))
    );
}

#[test]
fn answers_for_other_names_or_types_are_no_address() {
    let m = Msg::ok("collector.test", 3)
        .record(&name("other.test"), 1, 60, &[192, 0, 2, 1])
        .record(&ptr(12), 28, 60, &[0; 16])
        .record(&ptr(12), 16, 60, b"\x05hello");
    assert_eq!(
        parse_answer(&m.bytes, &q("collector.test")),
        Err(AnswerError::NoAddress)
    );
    // A name that is a prefix or an extension of the asked one is another name.
    for other in ["collector", "collector.test.x", "x.collector.test"] {
        let m = Msg::ok("collector.test", 1).record(&name(other), 1, 60, &[192, 0, 2, 1]);
        assert_eq!(
            parse_answer(&m.bytes, &q("collector.test")),
            Err(AnswerError::NoAddress),
            "{other}"
        );
    }
    // NODATA: no records at all.
    assert_eq!(
        parse_answer(&Msg::ok("collector.test", 0).bytes, &q("collector.test")),
        Err(AnswerError::NoAddress)
    );
}

#[test]
fn answers_to_another_query_are_mismatches() {
    let good = Msg::ok("collector.test", 1).record(&ptr(12), 1, 60, &[10, 0, 0, 9]);
    let mut wrong_id = good.bytes.clone();
    wrong_id[1] ^= 1;
    assert_eq!(
        parse_answer(&wrong_id, &q("collector.test")),
        Err(AnswerError::Mismatch(Mismatch::Id))
    );
    let mut query = good.bytes.clone();
    query[2] &= 0x7F; // QR clear: a query, not a response
    assert_eq!(
        parse_answer(&query, &q("collector.test")),
        Err(AnswerError::Mismatch(Mismatch::NotResponse))
    );
    let mut notify = good.bytes.clone();
    notify[2] |= 4 << 3; // opcode NOTIFY
    assert_eq!(
        parse_answer(&notify, &q("collector.test")),
        Err(AnswerError::Mismatch(Mismatch::NotResponse))
    );
    assert_eq!(
        parse_answer(&good.bytes, &q("collector.tes")),
        Err(AnswerError::Mismatch(Mismatch::Question))
    );
    assert_eq!(
        parse_answer(&good.bytes, &q("collector.test.x")),
        Err(AnswerError::Mismatch(Mismatch::Question))
    );
    let aaaa = Question {
        id: ID,
        host: "collector.test",
        record_type: RecordType::Aaaa,
    };
    assert_eq!(
        parse_answer(&good.bytes, &aaaa),
        Err(AnswerError::Mismatch(Mismatch::Question))
    );
    let mut chaos = good.bytes.clone();
    let class_at = 12 + name("collector.test").len() + 3;
    chaos[class_at] = 3; // class CH
    assert_eq!(
        parse_answer(&chaos, &q("collector.test")),
        Err(AnswerError::Mismatch(Mismatch::Question))
    );
}

#[test]
fn rcodes_and_the_truncation_bit() {
    let host = "collector.test";
    for (rcode, err) in [
        (1, AnswerError::Refused(1)),
        (2, AnswerError::ServerFailure),
        (3, AnswerError::NameNotFound),
        (4, AnswerError::Refused(4)),
        (5, AnswerError::Refused(5)),
    ] {
        let m = Msg::answer(0x8180 | rcode, host, 1, 0);
        assert_eq!(parse_answer(&m.bytes, &q(host)), Err(err), "rcode {rcode}");
        // Error answers may leave the question out.
        let mut bare = m.bytes[..12].to_vec();
        bare[5] = 0;
        assert_eq!(
            parse_answer(&bare, &q(host)),
            Err(err),
            "rcode {rcode} bare"
        );
    }
    // A success must repeat the question; two questions are not an answer to ours.
    let mut bare = Msg::ok(host, 0).bytes[..12].to_vec();
    bare[5] = 0;
    assert_eq!(
        parse_answer(&bare, &q(host)),
        Err(AnswerError::Malformed(Malformed::QuestionCount))
    );
    let mut two = Msg::ok(host, 0).bytes;
    two[5] = 2;
    assert_eq!(
        parse_answer(&two, &q(host)),
        Err(AnswerError::Malformed(Malformed::QuestionCount))
    );
    // TC, even with a record: not used.
    let m = Msg::answer(0x8380, host, 1, 1).record(&ptr(12), 1, 60, &[10, 0, 0, 9]);
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        Err(AnswerError::Truncated)
    );
}

#[test]
fn hostile_names_are_malformed() {
    let host = "collector.test";
    let err = |e| Err(AnswerError::Malformed(e));
    // A pointer to itself, to a later byte, and past the end.
    let m = Msg::ok(host, 1);
    let here = m.at();
    let m = m.record(&ptr(here), 1, 60, &[1, 2, 3, 4]);
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        err(Malformed::PointerNotBackward)
    );
    let m = Msg::ok(host, 1);
    let later = m.at() + 20;
    let m = m.record(&ptr(later), 1, 60, &[1, 2, 3, 4]);
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        err(Malformed::PointerNotBackward)
    );
    let m = Msg::ok(host, 1).record(&ptr(0x3FFF), 1, 60, &[1, 2, 3, 4]);
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        err(Malformed::PointerNotBackward)
    );
    // Two names pointing at each other: the second pointer does not go further back.
    let m = Msg::ok(host, 2);
    let first = m.at();
    let mut looped = vec![1, b'a'];
    looped.extend_from_slice(&ptr(first + 16));
    let m = m
        .record(&looped, 1, 60, &[1, 2, 3, 4])
        .record(&ptr(first), 1, 60, &[1, 2, 3, 4]);
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        err(Malformed::PointerNotBackward)
    );
    // Reserved label types 0x40 and 0x80.
    for kind in [0x40u8, 0x80] {
        let m = Msg::ok(host, 1).record(&[kind | 1, b'x', 0], 1, 60, &[1, 2, 3, 4]);
        assert_eq!(parse_answer(&m.bytes, &q(host)), err(Malformed::LabelType));
    }
    // A name of more than 255 bytes, made of pointers to ever earlier 63-byte labels.
    let mut m = Msg::ok(host, 5);
    let mut prev: Option<u16> = None;
    for _ in 0..5 {
        let at = m.at();
        let mut owner = vec![63];
        owner.extend_from_slice(&[b'z'; 63]);
        match prev {
            Some(p) => owner.extend_from_slice(&ptr(p)),
            None => owner.push(0),
        }
        m = m.record(&owner, 16, 60, b"");
        prev = Some(at);
    }
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        err(Malformed::NameTooLong)
    );
    // A label running past the end.
    let mut cut = Msg::ok(host, 1).bytes;
    cut.extend_from_slice(&[20, b'a', b'b']);
    assert_eq!(
        parse_answer(&cut, &q(host)),
        err(Malformed::NameOutsideMessage)
    );
}

#[test]
fn hostile_counts_lengths_and_sizes_are_malformed() {
    let host = "collector.test";
    let err = |e| Err(AnswerError::Malformed(e));
    assert_eq!(
        parse_answer(&[0xBE, 0xEF, 0x81], &q(host)),
        err(Malformed::ShortHeader)
    );
    // 65535 answers claimed, one carried.
    let mut m = Msg::ok(host, 1)
        .record(&ptr(12), 1, 60, &[10, 0, 0, 9])
        .bytes;
    m[6..8].copy_from_slice(&u16::MAX.to_be_bytes());
    assert_eq!(
        parse_answer(&m, &q(host)),
        err(Malformed::RecordOutsideMessage)
    );
    // Data length past the end.
    let mut m = Msg::ok(host, 1)
        .record(&ptr(12), 1, 60, &[10, 0, 0, 9])
        .bytes;
    let len_at = m.len() - 6;
    m[len_at..len_at + 2].copy_from_slice(&400u16.to_be_bytes());
    assert_eq!(
        parse_answer(&m, &q(host)),
        err(Malformed::RecordOutsideMessage)
    );
    // Address of the wrong size.
    let m = Msg::ok(host, 1).record(&ptr(12), 1, 60, &[10, 0, 0, 9, 9]);
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        err(Malformed::AddressLength)
    );
    // A CNAME whose name runs past its data.
    let m = Msg::ok(host, 1).record(&ptr(12), 5, 60, &[3, b'a', b'b']);
    assert_eq!(
        parse_answer(&m.bytes, &q(host)),
        err(Malformed::NameOutsideMessage)
    );
    let mut data = name("x.test");
    data.truncate(3);
    let m = Msg::ok(host, 2)
        .record(&ptr(12), 5, 60, &data)
        .record(&ptr(12), 1, 60, &[10, 0, 0, 9]);
    assert_eq!(parse_answer(&m.bytes, &q(host)), err(Malformed::CnameData));
    // A valid first answer does not excuse a broken record after it.
    let mut m = Msg::ok(host, 2)
        .record(&ptr(12), 1, 60, &[10, 0, 0, 9])
        .bytes;
    m.extend_from_slice(&[0xC0]);
    assert_eq!(
        parse_answer(&m, &q(host)),
        err(Malformed::NameOutsideMessage)
    );
    // Oversize messages are refused before anything is read.
    let mut big = Msg::ok(host, 1)
        .record(&ptr(12), 1, 60, &[10, 0, 0, 9])
        .bytes;
    big.resize(MAX_MESSAGE_LEN + 1, 0);
    assert_eq!(parse_answer(&big, &q(host)), err(Malformed::TooLong));
    big.truncate(MAX_MESSAGE_LEN);
    assert_eq!(parse_answer(&big, &q(host)), Ok(a([10, 0, 0, 9], 60)));
}

#[test]
fn every_prefix_and_every_single_byte_change_is_an_error_or_an_answer() {
    // Not a proof (the fuzz target is), but every cut and every one-byte corruption of a
    // CNAME + A answer must come back as a value.
    let m = Msg::ok("collector.test", 2);
    let target = m.at() + 12;
    let good = m
        .record(&ptr(12), 5, 120, &name("edge.test"))
        .record(&ptr(target), 1, 30, &[192, 0, 2, 80])
        .bytes;
    let question = q("collector.test");
    assert_eq!(parse_answer(&good, &question), Ok(a([192, 0, 2, 80], 30)));
    for n in 0..good.len() {
        assert!(parse_answer(&good[..n], &question).is_err(), "prefix {n}");
    }
    let mut corrupt = good.clone();
    let mut answers = 0;
    for i in 0..good.len() {
        for v in [0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xC0 | 12, 0xFF] {
            corrupt[i] = v;
            answers += u32::from(parse_answer(&corrupt, &question).is_ok());
        }
        corrupt[i] = good[i];
    }
    // Changes to TTLs, addresses and unused bits still give an answer; most do not.
    assert!(answers > 0 && answers < (good.len() * 8) as u32);
}
