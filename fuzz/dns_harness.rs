//! Fuzz harness of the firmware DNS answer parser (`otlp_embedded_smoltcp::dns::wire`),
//! shared by the cargo-fuzz target `dns_answer` and by the corpus replay test
//! (`transport-smoltcp/tests/dns_fuzz_corpus.rs`, which includes this file by path).
//!
//! Input: one control byte (which host is asked for, and A or AAAA), the query id (two
//! bytes, big-endian), then the answer datagram. Panics when an invariant breaks.
#![allow(dead_code)]

use otlp_embedded_smoltcp::dns::wire::{
    parse_answer, Answer, AnswerError, Mismatch, Question, RecordType, MAX_MESSAGE_LEN,
};
use smoltcp::wire::IpAddress;

/// Hosts the answers are checked against (the seeds use the first).
pub const HOSTS: [&str; 4] = ["collector.test", "a.b", "otlp.vendor.example.", "x"];

/// The question and the datagram an input stands for.
pub fn split(data: &[u8]) -> (Question<'static>, &[u8]) {
    let (control, id, message) = match data {
        [c, a, b, rest @ ..] => (*c, u16::from_be_bytes([*a, *b]), rest),
        _ => (0, 0, &[][..]),
    };
    let question = Question {
        id,
        host: HOSTS[usize::from(control & 3)],
        record_type: if control & 4 == 0 {
            RecordType::A
        } else {
            RecordType::Aaaa
        },
    };
    (question, message)
}

/// Parse the answer and check what must hold of any result.
pub fn dns_answer(data: &[u8]) -> Result<Answer, AnswerError> {
    let (question, message) = split(data);
    let result = parse_answer(message, &question);

    // Deterministic, and blind to the case of the asked name.
    assert_eq!(parse_answer(message, &question), result);
    let upper = question.host.to_ascii_uppercase();
    let shouted = Question {
        host: &upper,
        ..question
    };
    assert_eq!(parse_answer(message, &shouted), result);

    if let Ok(answer) = result {
        // Only a response to this query, without error or truncation, gives an address.
        assert!(message.len() >= 12 && message.len() <= MAX_MESSAGE_LEN);
        assert_eq!(u16::from_be_bytes([message[0], message[1]]), question.id);
        assert_eq!(message[2] & 0x80, 0x80, "QR set");
        assert_eq!(message[2] & 0x78, 0, "standard query");
        assert_eq!(message[2] & 0x02, 0, "not truncated");
        assert_eq!(message[3] & 0x0F, 0, "RCODE 0");
        match (question.record_type, answer.address) {
            (RecordType::A, IpAddress::Ipv4(_)) | (RecordType::Aaaa, IpAddress::Ipv6(_)) => {}
            (asked, got) => panic!("asked {asked:?}, got {got}"),
        }
        assert!(
            answer.ttl < 0x8000_0000,
            "TTLs with the top bit set count as 0"
        );
        // Bytes after the answer section (authority, additional) are not read.
        if message.len() < MAX_MESSAGE_LEN {
            let mut longer = message.to_vec();
            longer.push(0xFF);
            assert_eq!(parse_answer(&longer, &question), result);
        }
    }
    // Another id is never an answer.
    let other = Question {
        id: question.id.wrapping_add(1),
        ..question
    };
    if message.len() >= 12
        && message.len() <= MAX_MESSAGE_LEN
        && u16::from_be_bytes([message[0], message[1]]) != other.id
    {
        assert_eq!(
            parse_answer(message, &other),
            Err(AnswerError::Mismatch(Mismatch::Id))
        );
    }
    result
}
