//! Fuzz harness for the firmware TLS client's certificate parsing and chain verification
//! (otlp-embedded-tls's `verify_chain`, the code the handshake runs on the server's
//! certificates), shared by the cargo-fuzz target `x509_chain` and the corpus replay test
//! (`transport-tls/tests/x509_fuzz_corpus.rs`, which includes this file by path).
//!
//! Input: one control byte, then certificates, each a big-endian u16 length and that many
//! bytes (a length past the end takes what is left). The last one is the trust anchor, the
//! others the chain as a server sends it. Control bit 0: check dates at a fixed time
//! (2030-03-17); bit 1: verify for `a.vendor.example` instead of `collector.test`.
//!
//! Panics when an invariant breaks; that is what the fuzzer looks for.
#![allow(dead_code)]

use otlp_embedded::transport::TlsFailure;
use otlp_embedded_tls::{verify_chain, TrustAnchors, MAX_CHAIN_CERTIFICATES};

/// A fixed "now" for the date checks, 2030-03-17.
pub const NOW: u64 = 1_900_000_000;

/// Splits the input into the chain, the anchor and the settings.
pub fn split(data: &[u8]) -> (Vec<&[u8]>, &[u8], Option<u64>, &'static str) {
    let (control, mut rest) = match data.split_first() {
        Some((c, rest)) => (*c, rest),
        None => (0, &[][..]),
    };
    let mut parts = Vec::new();
    while rest.len() >= 2 && parts.len() < 8 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        parts.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
    }
    let anchor = parts.pop().unwrap_or(&[]);
    let now = (control & 1 == 1).then_some(NOW);
    let host = if control & 2 == 0 {
        "collector.test"
    } else {
        "a.vendor.example"
    };
    (parts, anchor, now, host)
}

/// Verify the chain every way the API allows: the answers agree, respect the limits, and
/// nothing panics. Returns the answer.
pub fn certificate_chain(data: &[u8]) -> Result<(), TlsFailure> {
    let (chain, anchor, now, host) = split(data);
    let result = verify_chain(&chain, TrustAnchors::One(anchor), host, now);
    assert_eq!(
        result,
        verify_chain(&chain, TrustAnchors::Many(&[anchor]), host, now),
        "one anchor or a list of one"
    );
    if chain.len() > MAX_CHAIN_CERTIFICATES {
        assert_eq!(result, Err(TlsFailure::ChainTooLong));
    }
    if chain.is_empty() {
        assert_eq!(result, Err(TlsFailure::BadCertificate));
    }
    if result.is_ok() {
        // Without the date check a chain can only get better.
        assert_eq!(
            verify_chain(&chain, TrustAnchors::One(anchor), host, None),
            Ok(())
        );
    }
    // Each certificate on its own, trusted as itself, reaches the name and date code.
    for part in chain.iter().chain(Some(&anchor)) {
        let alone = verify_chain(&[part], TrustAnchors::One(part), host, now);
        assert!(
            !matches!(
                alone,
                Err(TlsFailure::UnknownIssuer | TlsFailure::ChainTooLong)
            ),
            "a certificate is its own anchor: {alone:?}"
        );
    }
    result
}
