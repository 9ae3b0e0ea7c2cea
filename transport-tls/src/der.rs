//! Just enough DER to ask "did this CA sign this certificate?" when a handshake fails, so
//! that an unknown issuer is told apart from a wrong name or an expired certificate.
//! Every length is checked; malformed input gives `None`, never a panic.

/// One TLV: (tag, whole encoding, content, rest).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 3 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..count {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + count)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    let content = whole.get(header..)?;
    let rest = input.get(end..)?;
    Some((tag, whole, content, rest))
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8], &[u8])> {
    let (t, whole, content, rest) = tlv(input)?;
    (t == tag).then_some((whole, content, rest))
}

const SEQUENCE: u8 = 0x30;
const BIT_STRING: u8 = 0x03;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
/// ecdsa-with-SHA256, 1.2.840.10045.4.3.2.
const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];

/// The content of a BIT STRING with no unused bits.
fn bits(content: &[u8]) -> Option<&[u8]> {
    match content.split_first()? {
        (0, bits) => Some(bits),
        _ => None,
    }
}

/// The subject public key (SEC1 point) of a certificate.
fn public_key(certificate: &[u8]) -> Option<&[u8]> {
    let (_, cert, _) = expect(certificate, SEQUENCE)?;
    let (_, tbs, _) = expect(cert, SEQUENCE)?;
    let mut rest = tbs;
    // Optional [0] EXPLICIT version.
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.3;
    }
    let (_, _, rest) = expect(rest, INTEGER)?; // serial
    let (_, _, rest) = expect(rest, SEQUENCE)?; // signature algorithm
    let (_, _, rest) = expect(rest, SEQUENCE)?; // issuer
    let (_, _, rest) = expect(rest, SEQUENCE)?; // validity
    let (_, _, rest) = expect(rest, SEQUENCE)?; // subject
    let (_, spki, _) = expect(rest, SEQUENCE)?;
    let (_, _, spki) = expect(spki, SEQUENCE)?; // algorithm
    let (_, key, _) = expect(spki, BIT_STRING)?;
    bits(key)
}

/// Whether `issuer`'s key made the ECDSA P-256 SHA-256 signature on `subject`. `None` when
/// either does not parse or uses another algorithm.
pub(crate) fn issued_by(subject: &[u8], issuer: &[u8]) -> Option<bool> {
    use p256::ecdsa::signature::Verifier as _;
    let (_, cert, _) = expect(subject, SEQUENCE)?;
    let (tbs, _, rest) = expect(cert, SEQUENCE)?;
    let (_, algorithm, rest) = expect(rest, SEQUENCE)?;
    let (_, oid, _) = expect(algorithm, OID)?;
    if oid != ECDSA_SHA256 {
        return None;
    }
    let (_, signature, _) = expect(rest, BIT_STRING)?;
    let signature = p256::ecdsa::Signature::from_der(bits(signature)?).ok()?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key(issuer)?).ok()?;
    Some(key.verify(tbs, &signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lengths_are_refused() {
        assert_eq!(tlv(&[]), None);
        assert_eq!(tlv(&[0x30]), None);
        assert_eq!(tlv(&[0x30, 0x05, 1, 2]), None);
        assert_eq!(tlv(&[0x30, 0x80]), None);
        assert_eq!(tlv(&[0x30, 0x84, 0, 0, 0, 1, 0]), None);
        assert_eq!(
            tlv(&[0x02, 0x01, 0x07, 0xff]),
            Some((0x02, &[0x02, 0x01, 0x07][..], &[0x07][..], &[0xff][..]))
        );
        assert_eq!(
            tlv(&[0x04, 0x81, 0x01, 0x09]),
            Some((0x04, &[0x04, 0x81, 0x01, 0x09][..], &[0x09][..], &[][..]))
        );
        assert_eq!(issued_by(&[0x30, 0x00], &[0x30, 0x00]), None);
    }
}
