//! Replays the `dns_answer` fuzz corpus (fuzz/corpus/dns_answer/) through the fuzz harness
//! on stable, so every seed and every input the fuzzer ever saved stays a regression test,
//! and checks that the seeds mean what their names say.

#[path = "../../fuzz/dns_harness.rs"]
mod dns_harness;

use std::collections::BTreeMap;
use std::path::PathBuf;

use otlp_embedded_smoltcp::dns::wire::{AnswerError, Malformed, Mismatch};
use smoltcp::wire::IpAddress;

#[test]
fn dns_answer_corpus() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/dns_answer");
    let mut results = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        results.insert(name, dns_harness::dns_answer(&data));
    }
    assert!(results.len() >= 24, "{} seeds", results.len());
    let address = |name: &str| match results[name] {
        Ok(answer) => (answer.address, answer.ttl),
        Err(e) => panic!("{name}: {e:?}"),
    };
    let error = |name: &str| match results[name] {
        Err(e) => e,
        Ok(a) => panic!("{name}: {a:?}"),
    };
    let malformed = AnswerError::Malformed;
    assert_eq!(address("a"), (IpAddress::v4(10, 0, 0, 9), 300));
    assert_eq!(address("a_two"), (IpAddress::v4(10, 0, 0, 9), 300));
    assert_eq!(address("cname_chain"), (IpAddress::v4(192, 0, 2, 80), 30));
    assert_eq!(address("ttl_top_bit"), (IpAddress::v4(10, 0, 0, 9), 0));
    assert!(matches!(address("aaaa").0, IpAddress::Ipv6(_)));
    assert_eq!(error("cname_loop"), malformed(Malformed::CnameChainTooLong));
    assert_eq!(error("nxdomain"), AnswerError::NameNotFound);
    assert_eq!(error("nxdomain_bare"), AnswerError::NameNotFound);
    assert_eq!(error("servfail"), AnswerError::ServerFailure);
    assert_eq!(error("refused"), AnswerError::Refused(5));
    assert_eq!(error("truncated"), AnswerError::Truncated);
    assert_eq!(error("nodata"), AnswerError::NoAddress);
    assert_eq!(error("other_name"), AnswerError::NoAddress);
    assert_eq!(
        error("wrong_question"),
        AnswerError::Mismatch(Mismatch::Question)
    );
    assert_eq!(
        error("not_response"),
        AnswerError::Mismatch(Mismatch::NotResponse)
    );
    assert_eq!(
        error("pointer_self"),
        malformed(Malformed::PointerNotBackward)
    );
    assert_eq!(
        error("pointer_forward"),
        malformed(Malformed::PointerNotBackward)
    );
    assert_eq!(error("label_type_0x40"), malformed(Malformed::LabelType));
    assert_eq!(
        error("huge_count"),
        malformed(Malformed::RecordOutsideMessage)
    );
    assert_eq!(
        error("cut_record"),
        malformed(Malformed::RecordOutsideMessage)
    );
    assert_eq!(
        error("address_5_bytes"),
        malformed(Malformed::AddressLength)
    );
    assert_eq!(error("name_too_long"), malformed(Malformed::NameTooLong));
    assert_eq!(error("short_header"), malformed(Malformed::ShortHeader));
    assert_eq!(error("empty"), malformed(Malformed::ShortHeader));
}
