//! X.509 v3 certificates (RFC 5280) as borrowed views: the signed bytes, the signature and
//! its algorithm, names, validity, the subject's key and the extensions that decide
//! whether a certificate may issue others or serve a host name. Nothing is copied.
//! Anything malformed, and any critical extension not understood here, is an error.

use crate::der::{self, Der, Malformed};

/// The signature algorithms a certificate may be signed with that this crate knows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SignatureAlgorithm {
    EcdsaSha256,
    EcdsaSha384,
    RsaPkcs1Sha256,
    RsaPkcs1Sha384,
    RsaPkcs1Sha512,
    /// Any other (RSASSA-PSS with parameters, Ed25519, SHA-1, ...).
    Unsupported,
}

/// A subject public key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum PublicKey<'a> {
    /// An uncompressed or compressed SEC1 point on P-256.
    P256(&'a [u8]),
    /// A SEC1 point on P-384.
    P384(&'a [u8]),
    /// An RSA key: modulus and public exponent, big-endian, without sign bytes.
    Rsa {
        modulus: &'a [u8],
        exponent: &'a [u8],
    },
    /// Any other key type or curve.
    Unsupported,
}

/// The basicConstraints extension.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct BasicConstraints {
    pub ca: bool,
    pub path_len: Option<u8>,
}

/// One parsed certificate.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Certificate<'a> {
    /// The whole DER encoding.
    pub der: &'a [u8],
    /// The TBSCertificate, the bytes the issuer signed.
    pub tbs: &'a [u8],
    pub signature_algorithm: SignatureAlgorithm,
    /// The signature value (the BIT STRING's bytes).
    pub signature: &'a [u8],
    /// The issuer and subject Names, whole encodings (compared byte for byte).
    pub issuer: &'a [u8],
    pub subject: &'a [u8],
    /// Validity, in unix seconds (a date before 1970 counts as 0).
    pub not_before: u64,
    pub not_after: u64,
    pub key: PublicKey<'a>,
    pub basic_constraints: Option<BasicConstraints>,
    /// The keyUsage bits, first byte then second, when the extension is present.
    pub key_usage: Option<[u8; 2]>,
    /// The extKeyUsage SEQUENCE OF OID content, when present.
    pub extended_key_usage: Option<&'a [u8]>,
    /// The subjectAltName GeneralNames content, when present.
    pub subject_alt_names: Option<&'a [u8]>,
}

// Object identifiers, as their DER content bytes.
const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// id-kp-serverAuth, 1.3.6.1.5.5.7.3.1.
pub(crate) const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// anyExtendedKeyUsage, 2.5.29.37.0.
pub(crate) const ANY_EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

/// The [3] EXPLICIT extensions wrapper and the context tags that precede it.
const EXTENSIONS: u8 = 0xa3;
const VERSION: u8 = 0xa0;
const ISSUER_UNIQUE_ID: u8 = 0x81;
const SUBJECT_UNIQUE_ID: u8 = 0x82;
/// dNSName [2] IMPLICIT IA5String inside GeneralNames.
const DNS_NAME: u8 = 0x82;

impl<'a> Certificate<'a> {
    /// Parse one DER certificate; nothing may follow it.
    pub fn parse(input: &'a [u8]) -> Result<Self, Malformed> {
        let mut outer = Der::new(input);
        let certificate = outer.expect(der::SEQUENCE)?;
        outer.finish()?;
        let mut parts = Der::new(certificate.content);
        let tbs = parts.expect(der::SEQUENCE)?;
        let outer_algorithm = parts.expect(der::SEQUENCE)?;
        let signature = der::whole_bytes(parts.content(der::BIT_STRING)?)?;
        parts.finish()?;

        let mut fields = Der::new(tbs.content);
        let version = match fields.optional(VERSION)? {
            Some(v) => {
                let mut v = Der::new(v.content);
                let number = v.content(der::INTEGER)?;
                v.finish()?;
                match number {
                    [0] => return Err(Malformed), // v1 is encoded by omission in DER
                    [1] | [2] => number[0],
                    _ => return Err(Malformed),
                }
            }
            None => 0,
        };
        fields.expect(der::INTEGER)?; // serial number
        let inner_algorithm = fields.expect(der::SEQUENCE)?;
        // RFC 5280 4.1.1.2: the outer algorithm must equal the signed one.
        if inner_algorithm.whole != outer_algorithm.whole {
            return Err(Malformed);
        }
        let issuer = fields.expect(der::SEQUENCE)?.whole;
        let (not_before, not_after) = validity(fields.content(der::SEQUENCE)?)?;
        let subject = fields.expect(der::SEQUENCE)?.whole;
        let key = public_key(fields.content(der::SEQUENCE)?)?;
        fields.optional(ISSUER_UNIQUE_ID)?;
        fields.optional(SUBJECT_UNIQUE_ID)?;
        let mut certificate = Certificate {
            der: input,
            tbs: tbs.whole,
            signature_algorithm: signature_algorithm(outer_algorithm.content)?,
            signature,
            issuer,
            subject,
            not_before,
            not_after,
            key,
            basic_constraints: None,
            key_usage: None,
            extended_key_usage: None,
            subject_alt_names: None,
        };
        if let Some(extensions) = fields.optional(EXTENSIONS)? {
            if version != 2 {
                return Err(Malformed);
            }
            let mut wrapper = Der::new(extensions.content);
            let list = wrapper.content(der::SEQUENCE)?;
            wrapper.finish()?;
            certificate.read_extensions(list)?;
        }
        fields.finish()?;
        Ok(certificate)
    }

    fn read_extensions(&mut self, list: &'a [u8]) -> Result<(), Malformed> {
        let mut list = Der::new(list);
        if list.is_empty() {
            return Err(Malformed); // SIZE (1..MAX)
        }
        while !list.is_empty() {
            let mut extension = Der::new(list.content(der::SEQUENCE)?);
            let id = extension.content(der::OID)?;
            let critical = match extension.optional(der::BOOLEAN)? {
                Some(b) => der::boolean(b.content)?,
                None => false,
            };
            let value = extension.content(der::OCTET_STRING)?;
            extension.finish()?;
            let duplicate = match id {
                BASIC_CONSTRAINTS => self
                    .basic_constraints
                    .replace(basic_constraints(value)?)
                    .is_some(),
                KEY_USAGE => self.key_usage.replace(key_usage(value)?).is_some(),
                EXTENDED_KEY_USAGE => {
                    let mut v = Der::new(value);
                    let oids = v.content(der::SEQUENCE)?;
                    v.finish()?;
                    self.extended_key_usage.replace(oids).is_some()
                }
                SUBJECT_ALT_NAME => {
                    let mut v = Der::new(value);
                    let names = v.content(der::SEQUENCE)?;
                    v.finish()?;
                    self.subject_alt_names.replace(names).is_some()
                }
                // A critical extension this crate cannot honour (name constraints, policy
                // constraints, ...) must make the certificate unusable (RFC 5280 4.2).
                _ if critical => return Err(Malformed),
                _ => false,
            };
            if duplicate {
                return Err(Malformed);
            }
        }
        Ok(())
    }

    /// The DNS names of the subjectAltName extension.
    pub fn dns_names(&self) -> DnsNames<'a> {
        DnsNames {
            names: Der::new(self.subject_alt_names.unwrap_or(&[])),
        }
    }

    /// The subject's last common name, when it is a string.
    pub fn common_name(&self) -> Result<Option<&'a [u8]>, Malformed> {
        let mut found = None;
        let mut name = Der::new(self.subject);
        let mut rdns = Der::new(name.content(der::SEQUENCE)?);
        while !rdns.is_empty() {
            let mut set = Der::new(rdns.content(der::SET)?);
            while !set.is_empty() {
                let mut attribute = Der::new(set.content(der::SEQUENCE)?);
                let id = attribute.content(der::OID)?;
                let value = attribute.any()?;
                attribute.finish()?;
                // UTF8String, PrintableString, IA5String.
                if id == COMMON_NAME && matches!(value.tag, 0x0c | 0x13 | 0x16) {
                    found = Some(value.content);
                }
            }
        }
        Ok(found)
    }

    /// Whether the extendedKeyUsage extension, if any, allows TLS server authentication.
    pub fn allows_server_auth(&self) -> Result<bool, Malformed> {
        let Some(oids) = self.extended_key_usage else {
            return Ok(true);
        };
        let mut oids = Der::new(oids);
        let mut allowed = false;
        while !oids.is_empty() {
            let oid = oids.content(der::OID)?;
            allowed |= oid == SERVER_AUTH || oid == ANY_EXTENDED_KEY_USAGE;
        }
        Ok(allowed)
    }
}

/// Iterates over the dNSName entries of a GeneralNames; a malformed entry ends it with an
/// error.
pub(crate) struct DnsNames<'a> {
    names: Der<'a>,
}

impl<'a> Iterator for DnsNames<'a> {
    type Item = Result<&'a [u8], Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.names.is_empty() {
            match self.names.any() {
                Ok(name) if name.tag == DNS_NAME => return Some(Ok(name.content)),
                Ok(_) => continue,
                Err(e) => {
                    self.names = Der::new(&[]);
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

fn signature_algorithm(identifier: &[u8]) -> Result<SignatureAlgorithm, Malformed> {
    let mut identifier = Der::new(identifier);
    let oid = identifier.content(der::OID)?;
    let algorithm = match oid {
        // ECDSA: no parameters at all (RFC 5758 3.2).
        ECDSA_SHA256 => SignatureAlgorithm::EcdsaSha256,
        ECDSA_SHA384 => SignatureAlgorithm::EcdsaSha384,
        RSA_SHA256 | RSA_SHA384 | RSA_SHA512 => {
            // PKCS#1 v1.5: NULL parameters (RFC 4055 5), tolerated absent as some do.
            if let Some(null) = identifier.optional(der::NULL)? {
                if !null.content.is_empty() {
                    return Err(Malformed);
                }
            }
            match oid {
                RSA_SHA256 => SignatureAlgorithm::RsaPkcs1Sha256,
                RSA_SHA384 => SignatureAlgorithm::RsaPkcs1Sha384,
                _ => SignatureAlgorithm::RsaPkcs1Sha512,
            }
        }
        _ => return Ok(SignatureAlgorithm::Unsupported),
    };
    identifier.finish()?;
    Ok(algorithm)
}

/// A whole DER SubjectPublicKeyInfo.
#[cfg(test)]
pub(crate) fn parse_public_key(spki: &[u8]) -> Result<PublicKey<'_>, Malformed> {
    let mut outer = Der::new(spki);
    let content = outer.content(der::SEQUENCE)?;
    outer.finish()?;
    public_key(content)
}

fn public_key(spki: &[u8]) -> Result<PublicKey<'_>, Malformed> {
    let mut spki = Der::new(spki);
    let mut algorithm = Der::new(spki.content(der::SEQUENCE)?);
    let key = der::whole_bytes(spki.content(der::BIT_STRING)?)?;
    spki.finish()?;
    let oid = algorithm.content(der::OID)?;
    match oid {
        EC_PUBLIC_KEY => {
            let curve = algorithm.content(der::OID)?;
            algorithm.finish()?;
            Ok(match curve {
                P256 => PublicKey::P256(key),
                P384 => PublicKey::P384(key),
                _ => PublicKey::Unsupported,
            })
        }
        RSA_ENCRYPTION => {
            algorithm.content(der::NULL)?;
            algorithm.finish()?;
            let mut outer = Der::new(key);
            let mut rsa = Der::new(outer.content(der::SEQUENCE)?);
            outer.finish()?;
            let modulus = der::unsigned(rsa.content(der::INTEGER)?)?;
            let exponent = der::unsigned(rsa.content(der::INTEGER)?)?;
            rsa.finish()?;
            Ok(PublicKey::Rsa { modulus, exponent })
        }
        _ => Ok(PublicKey::Unsupported),
    }
}

fn basic_constraints(value: &[u8]) -> Result<BasicConstraints, Malformed> {
    let mut outer = Der::new(value);
    let mut fields = Der::new(outer.content(der::SEQUENCE)?);
    outer.finish()?;
    let ca = match fields.optional(der::BOOLEAN)? {
        // DER leaves out a DEFAULT FALSE.
        Some(b) if der::boolean(b.content)? => true,
        Some(_) => return Err(Malformed),
        None => false,
    };
    let path_len = match fields.optional(der::INTEGER)? {
        Some(n) => match der::unsigned(n.content)? {
            [n] => Some(*n),
            _ => Some(u8::MAX), // larger than any chain this crate accepts
        },
        None => None,
    };
    fields.finish()?;
    Ok(BasicConstraints { ca, path_len })
}

fn key_usage(value: &[u8]) -> Result<[u8; 2], Malformed> {
    let mut outer = Der::new(value);
    let bits = outer.content(der::BIT_STRING)?;
    outer.finish()?;
    match bits {
        [unused, first] if *unused < 8 => Ok([*first, 0]),
        [unused, first, second] if *unused < 8 => Ok([*first, *second]),
        _ => Err(Malformed),
    }
}

fn validity(validity: &[u8]) -> Result<(u64, u64), Malformed> {
    let mut validity = Der::new(validity);
    let not_before = time(validity.any()?)?;
    let not_after = time(validity.any()?)?;
    validity.finish()?;
    Ok((not_before, not_after))
}

/// UTCTime (YYMMDDHHMMSSZ, years 1950 to 2049) or GeneralizedTime (YYYYMMDDHHMMSSZ), as
/// RFC 5280 4.1.2.5 allows them: UTC, seconds present, no fractions.
fn time(tlv: der::Tlv<'_>) -> Result<u64, Malformed> {
    let (year, rest) = match (tlv.tag, tlv.content) {
        (der::UTC_TIME, [y1, y2, rest @ ..]) if rest.len() == 11 => {
            let yy = two_digits(*y1, *y2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, rest)
        }
        (der::GENERALIZED_TIME, [y1, y2, y3, y4, rest @ ..]) if rest.len() == 11 => {
            (two_digits(*y1, *y2)? * 100 + two_digits(*y3, *y4)?, rest)
        }
        _ => return Err(Malformed),
    };
    let [m1, m2, d1, d2, h1, h2, n1, n2, s1, s2, b'Z'] = *rest else {
        return Err(Malformed);
    };
    let (month, day) = (two_digits(m1, m2)?, two_digits(d1, d2)?);
    let (hour, minute, second) = (
        two_digits(h1, h2)?,
        two_digits(n1, n2)?,
        two_digits(s1, s2)?,
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(Malformed),
    };
    if day == 0 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return Err(Malformed);
    }
    let days = days_since_epoch(year, month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Ok(u64::try_from(seconds).unwrap_or(0))
}

fn two_digits(a: u8, b: u8) -> Result<u32, Malformed> {
    if a.is_ascii_digit() && b.is_ascii_digit() {
        Ok(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
    } else {
        Err(Malformed)
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date: count whole 400-year eras
/// from 0000-03-01 (putting February last makes the leap day the era's last day).
fn days_since_epoch(year: u32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &[u8]) -> Result<u64, Malformed> {
        time(der::Tlv {
            tag: der::UTC_TIME,
            whole: text,
            content: text,
        })
    }

    fn generalized(text: &[u8]) -> Result<u64, Malformed> {
        time(der::Tlv {
            tag: der::GENERALIZED_TIME,
            whole: text,
            content: text,
        })
    }

    #[test]
    fn times_convert_to_unix_seconds() {
        assert_eq!(utc(b"700101000000Z"), Ok(0));
        assert_eq!(utc(b"000229120000Z"), Ok(951_825_600));
        assert_eq!(utc(b"491231235959Z"), Ok(2_524_607_999));
        assert_eq!(utc(b"500101000000Z"), Ok(0), "1950 clamps to 0");
        assert_eq!(generalized(b"20380119031408Z"), Ok(2_147_483_648));
        assert_eq!(generalized(b"99991231235959Z"), Ok(253_402_300_799));
        assert_eq!(generalized(b"21000301000000Z"), Ok(4_107_542_400));
        assert_eq!(utc(b"010229000000Z"), Err(Malformed), "2001 is not leap");
        assert_eq!(
            generalized(b"21000229000000Z"),
            Err(Malformed),
            "2100 is not leap"
        );
        assert_eq!(utc(b"2401010000Z"), Err(Malformed), "no seconds");
        assert_eq!(utc(b"240101000000+0100"), Err(Malformed));
        assert_eq!(utc(b"241301000000Z"), Err(Malformed));
        assert_eq!(utc(b"240101240000Z"), Err(Malformed));
        assert_eq!(generalized(b"20240101000000.5Z"), Err(Malformed));
    }
}
