//! Replays the x509_chain fuzz corpus (fuzz/corpus/x509_chain/) through the fuzz harness on
//! stable, so every seed and every input the fuzzer ever kept stays a regression test, and
//! checks that the seeds mean what their names say (this package builds otlp-embedded-tls
//! with `p384` and `rsa`, like the fuzz target).

#[path = "../../fuzz/chain_harness.rs"]
mod chain_harness;

use std::collections::BTreeMap;
use std::path::PathBuf;

use otlp_embedded::transport::TlsFailure;

fn corpus() -> BTreeMap<String, Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/x509_chain");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("seed"))
        })
        .collect()
}

#[test]
fn x509_chain_corpus() {
    let files = corpus();
    assert!(files.len() >= 15, "{} seeds", files.len());
    let outcome: BTreeMap<&str, Result<(), TlsFailure>> = files
        .iter()
        .map(|(name, data)| (name.as_str(), chain_harness::certificate_chain(data)))
        .collect();
    for (name, result) in &outcome {
        if name.ends_with("_ok") {
            assert_eq!(*result, Ok(()), "{name}");
        }
    }
    let expect = [
        ("wrong_host", Err(TlsFailure::HostNameMismatch)),
        ("wrong_root", Err(TlsFailure::UnknownIssuer)),
        // A leaf (CA:FALSE) cannot issue, even one whose name matches the issuer field.
        ("leaf_as_issuer", Err(TlsFailure::UnknownIssuer)),
        ("truncated_leaf", Err(TlsFailure::BadCertificate)),
        ("too_long", Err(TlsFailure::ChainTooLong)),
        ("empty", Err(TlsFailure::BadCertificate)),
    ];
    for (name, expected) in expect {
        assert_eq!(outcome[name], expected, "{name}");
    }
    assert!(outcome.values().filter(|r| r.is_ok()).count() >= 8);
}

/// Garbage of every short length and the seeds cut at every tenth byte: never a panic.
#[test]
fn cut_seeds_never_panic() {
    for (_, data) in corpus() {
        for end in (0..data.len()).step_by(10) {
            let _ = chain_harness::certificate_chain(&data[..end]);
        }
        let mut flipped = data.clone();
        for i in (1..flipped.len()).step_by(37) {
            flipped[i] ^= 0x55;
            let _ = chain_harness::certificate_chain(&flipped);
        }
    }
}

/// The same good chain against a broken anchor, and at dates outside its validity.
#[test]
fn anchors_and_dates_on_a_good_chain() {
    use otlp_embedded_tls::{verify_chain, TrustAnchors};
    let files = corpus();
    let (chain, anchor, _, host) = chain_harness::split(&files["p256_chain_ok"]);
    let junk: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x00];
    assert_eq!(
        verify_chain(&chain, TrustAnchors::One(anchor), host, None),
        Ok(())
    );
    assert_eq!(
        verify_chain(&chain, TrustAnchors::One(junk), host, None),
        Err(TlsFailure::InvalidTrustAnchor)
    );
    // A broken anchor is a configuration error even beside a good one.
    assert_eq!(
        verify_chain(&chain, TrustAnchors::Many(&[anchor, junk]), host, None),
        Err(TlsFailure::InvalidTrustAnchor)
    );
    assert_eq!(
        verify_chain(&chain, TrustAnchors::Many(&[]), host, None),
        Err(TlsFailure::UnknownIssuer)
    );
    // The seeds are valid for ten years from when they were made (2026).
    assert_eq!(
        verify_chain(&chain, TrustAnchors::One(anchor), host, Some(1_000_000_000)),
        Err(TlsFailure::Expired),
        "2001: not yet valid"
    );
    assert_eq!(
        verify_chain(&chain, TrustAnchors::One(anchor), host, Some(4_102_444_800)),
        Err(TlsFailure::Expired),
        "2100: expired"
    );
    assert_eq!(
        verify_chain(
            &chain,
            TrustAnchors::One(anchor),
            host,
            Some(chain_harness::NOW)
        ),
        Ok(())
    );
}
