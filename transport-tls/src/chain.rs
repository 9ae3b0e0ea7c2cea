//! Server certificate chain verification: from the leaf up to one of the trust anchors,
//! every link's signature checked, issuers allowed to issue, dates checked when the time
//! is known, and the leaf's names matched against the host name.

use otlp_embedded::transport::TlsFailure;

use crate::keys::{Key, Scheme, SignatureError};
use crate::x509::Certificate;

/// The most certificates a server may send in its chain (leaf, intermediates and maybe the
/// root). Public CAs send two or three.
pub const MAX_CHAIN_CERTIFICATES: usize = 4;

/// keyUsage keyCertSign, bit 5 of the first byte.
const KEY_CERT_SIGN: u8 = 0x04;

/// The CA certificates (DER) a TLS client trusts.
#[derive(Copy, Clone, Debug)]
pub enum TrustAnchors<'a> {
    /// One CA certificate.
    One(&'a [u8]),
    /// Several, tried in turn (a private CA beside public roots, or the old and new root
    /// during a rollover).
    Many(&'a [&'a [u8]]),
}

impl<'a> TrustAnchors<'a> {
    /// The anchors, DER.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let (one, many): (Option<&'a [u8]>, &'a [&'a [u8]]) = match *self {
            TrustAnchors::One(der) => (Some(der), &[]),
            TrustAnchors::Many(list) => (None, list),
        };
        one.into_iter().chain(many.iter().copied())
    }
}

/// Verify a server's certificate chain the way the TLS handshake does, for checks
/// outside one (a provisioning test, a fuzzer): `chain` as the server sends it, leaf
/// first; `now` in unix seconds, or `None` to skip the dates.
///
/// The failures are those a connection reports: [`TlsFailure::ChainTooLong`] over
/// [`MAX_CHAIN_CERTIFICATES`], [`TlsFailure::BadCertificate`] for a certificate that does not
/// decode (or whose leaf may not serve TLS), [`TlsFailure::InvalidTrustAnchor`],
/// [`TlsFailure::NoCommonParameters`] for a signature algorithm or key this build does not
/// verify, [`TlsFailure::UnknownIssuer`], [`TlsFailure::Expired`] and
/// [`TlsFailure::HostNameMismatch`], checked in that order.
pub fn verify_chain(
    chain: &[&[u8]],
    trust_anchors: TrustAnchors<'_>,
    server_name: &str,
    now: Option<u64>,
) -> Result<(), TlsFailure> {
    verify(chain, trust_anchors, server_name, now).map(|_| ())
}

/// As [`verify_chain`], keeping the leaf's key for the handshake signature.
pub(crate) fn verify(
    chain: &[&[u8]],
    anchors: TrustAnchors<'_>,
    host: &str,
    now: Option<u64>,
) -> Result<Key, TlsFailure> {
    if chain.len() > MAX_CHAIN_CERTIFICATES {
        return Err(TlsFailure::ChainTooLong);
    }
    let mut parsed: [Option<Certificate<'_>>; MAX_CHAIN_CERTIFICATES] =
        [None; MAX_CHAIN_CERTIFICATES];
    for (slot, der) in parsed.iter_mut().zip(chain) {
        *slot = Some(Certificate::parse(der).map_err(|_| TlsFailure::BadCertificate)?);
    }
    let Some(leaf) = parsed[0] else {
        return Err(TlsFailure::BadCertificate);
    };
    for anchor in anchors.iter() {
        Certificate::parse(anchor).map_err(|_| TlsFailure::InvalidTrustAnchor)?;
    }

    // Build the path up from the leaf. With at most four certificates, trying every
    // unused one as the next issuer costs nothing and tolerates servers that send them
    // out of order.
    let mut path = [0usize; MAX_CHAIN_CERTIFICATES];
    let mut path_len = 1;
    let mut unsupported = false;
    loop {
        let Some(current) = parsed[path[path_len - 1]] else {
            return Err(TlsFailure::BadCertificate);
        };
        if anchored(&current, anchors, &mut unsupported) {
            break;
        }
        let mut next = None;
        for (i, candidate) in parsed.iter().enumerate() {
            let Some(candidate) = candidate else { continue };
            if path[..path_len].contains(&i) || candidate.subject != current.issuer {
                continue;
            }
            match signed_by(&current, candidate) {
                Ok(()) => {
                    next = Some((i, candidate));
                    break;
                }
                Err(SignatureError::Unsupported) => unsupported = true,
                Err(SignatureError::Invalid) => {}
            }
        }
        let Some((i, issuer)) = next else {
            return Err(if unsupported {
                TlsFailure::NoCommonParameters
            } else {
                TlsFailure::UnknownIssuer
            });
        };
        // An issuer must be a CA allowed to sign certificates, with room below it for
        // the intermediates already on the path (path_len - 1 of them).
        let allowed = match issuer.basic_constraints {
            Some(constraints) => {
                constraints.ca
                    && constraints
                        .path_len
                        .is_none_or(|limit| path_len - 1 <= usize::from(limit))
            }
            None => false,
        } && issuer
            .key_usage
            .is_none_or(|bits| bits[0] & KEY_CERT_SIGN != 0);
        if !allowed {
            return Err(TlsFailure::UnknownIssuer);
        }
        path[path_len] = i;
        path_len += 1;
    }

    if let Some(now) = now {
        for i in &path[..path_len] {
            if let Some(certificate) = parsed[*i] {
                if now < certificate.not_before || now > certificate.not_after {
                    return Err(TlsFailure::Expired);
                }
            }
        }
    }
    if !leaf
        .allows_server_auth()
        .map_err(|_| TlsFailure::BadCertificate)?
    {
        return Err(TlsFailure::BadCertificate);
    }
    if !names_match(&leaf, host).map_err(|_| TlsFailure::BadCertificate)? {
        return Err(TlsFailure::HostNameMismatch);
    }
    Key::from_public_key(&leaf.key).map_err(|e| match e {
        SignatureError::Unsupported => TlsFailure::NoCommonParameters,
        SignatureError::Invalid => TlsFailure::BadCertificate,
    })
}

/// Whether `certificate` is a trust anchor or was signed by one.
fn anchored(
    certificate: &Certificate<'_>,
    anchors: TrustAnchors<'_>,
    unsupported: &mut bool,
) -> bool {
    for der in anchors.iter() {
        if der == certificate.der {
            return true;
        }
        let Ok(anchor) = Certificate::parse(der) else {
            continue;
        };
        if anchor.subject != certificate.issuer {
            continue;
        }
        match signed_by(certificate, &anchor) {
            Ok(()) => return true,
            Err(SignatureError::Unsupported) => *unsupported = true,
            Err(SignatureError::Invalid) => {}
        }
    }
    false
}

/// Whether `issuer`'s key made `certificate`'s signature.
fn signed_by(
    certificate: &Certificate<'_>,
    issuer: &Certificate<'_>,
) -> Result<(), SignatureError> {
    let scheme = Scheme::of_certificate(certificate.signature_algorithm)
        .ok_or(SignatureError::Unsupported)?;
    let key = Key::from_public_key(&issuer.key)?;
    key.verify(scheme, certificate.tbs, certificate.signature)
}

/// The leaf's names against the host: the subjectAltName DNS names when the extension is
/// there, else the subject's common name (RFC 6125 6.4.4).
fn names_match(leaf: &Certificate<'_>, host: &str) -> Result<bool, crate::der::Malformed> {
    let host = host.as_bytes();
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty()
        || !host
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
    {
        return Ok(false);
    }
    if leaf.subject_alt_names.is_some() {
        for name in leaf.dns_names() {
            if name_matches(name?, host) {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    Ok(leaf
        .common_name()?
        .is_some_and(|name| name_matches(name, host)))
}

/// One reference name against the host, ASCII case-insensitively. A wildcard is allowed
/// only as the whole left-most label of a name with at least three labels, and stands for
/// exactly one label (RFC 6125 6.4.3, as browsers apply it).
pub(crate) fn name_matches(pattern: &[u8], host: &[u8]) -> bool {
    let pattern = pattern.strip_suffix(b".").unwrap_or(pattern);
    let valid = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.' || *b == b'*';
    if pattern.is_empty() || !pattern.iter().all(valid) {
        return false;
    }
    let Some(suffix) = pattern.strip_prefix(b"*.") else {
        return !pattern.contains(&b'*') && pattern.eq_ignore_ascii_case(host);
    };
    if suffix.contains(&b'*') || suffix.iter().filter(|b| **b == b'.').count() < 1 {
        return false;
    }
    match host.iter().position(|b| *b == b'.') {
        Some(dot) if dot > 0 => host[dot + 1..].eq_ignore_ascii_case(suffix),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_rfc_6125_says() {
        let yes: &[(&[u8], &[u8])] = &[
            (b"collector.example", b"collector.example"),
            (b"Collector.EXAMPLE", b"collector.example"),
            (b"collector.example.", b"collector.example"),
            (b"*.vendor.example", b"otlp.vendor.example"),
            (b"*.vendor.example", b"OTLP.Vendor.Example"),
        ];
        for (pattern, host) in yes {
            assert!(name_matches(pattern, host), "{pattern:?} {host:?}");
        }
        let no: &[(&[u8], &[u8])] = &[
            (b"collector.example", b"collector.example.org"),
            (b"collector.example", b"ollector.example"),
            (b"*.vendor.example", b"vendor.example"),
            (b"*.vendor.example", b"a.b.vendor.example"),
            (b"*.vendor.example", b".vendor.example"),
            (b"*.example", b"vendor.example"),
            (b"otlp.*.example", b"otlp.vendor.example"),
            (b"otlp*.vendor.example", b"otlp1.vendor.example"),
            (b"*.*.example", b"a.b.example"),
            (b"**.vendor.example", b"a.vendor.example"),
            (b"", b""),
            (b"bad name.example", b"bad name.example"),
        ];
        for (pattern, host) in no {
            assert!(!name_matches(pattern, host), "{pattern:?} {host:?}");
        }
    }

    #[test]
    fn anchors_iterate_in_order() {
        let a: &[u8] = b"a";
        let b: &[u8] = b"b";
        let list = [a, b];
        assert_eq!(
            TrustAnchors::One(a).iter().collect::<heapless_like::Vec>(),
            [a]
        );
        assert_eq!(
            TrustAnchors::Many(&list)
                .iter()
                .collect::<heapless_like::Vec>(),
            [a, b]
        );
        assert_eq!(
            TrustAnchors::Many(&[]).iter().count(),
            0,
            "no anchors: nothing is trusted"
        );
    }

    mod heapless_like {
        extern crate std;
        pub type Vec<'a> = std::vec::Vec<&'a [u8]>;
    }

    #[test]
    fn garbage_and_long_chains_are_refused_before_any_signature() {
        let junk: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x00];
        assert_eq!(
            verify_chain(&[junk; 5], TrustAnchors::One(junk), "a.example", None),
            Err(TlsFailure::ChainTooLong)
        );
        assert_eq!(
            verify_chain(&[junk], TrustAnchors::One(junk), "a.example", None),
            Err(TlsFailure::BadCertificate)
        );
        assert_eq!(
            verify_chain(&[], TrustAnchors::One(junk), "a.example", None),
            Err(TlsFailure::BadCertificate)
        );
    }
}
