//! A strict DER reader over borrowed bytes, enough for X.509 certificates: definite
//! lengths in their shortest form, single-byte tags, every length checked against what is
//! left. Malformed input is [`Malformed`], never a panic.

/// The input is not DER this reader accepts.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

pub(crate) const BOOLEAN: u8 = 0x01;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;
pub(crate) const UTC_TIME: u8 = 0x17;
pub(crate) const GENERALIZED_TIME: u8 = 0x18;
pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const SET: u8 = 0x31;

/// One element: its tag, its whole encoding and its content.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub whole: &'a [u8],
    pub content: &'a [u8],
}

/// Reads elements one after another from a slice.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Der { rest: input }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, Malformed> {
        let tag = *self.rest.first().ok_or(Malformed)?;
        // High tag numbers (low five bits all set) do not occur in certificates.
        if tag & 0x1f == 0x1f {
            return Err(Malformed);
        }
        let first = *self.rest.get(1).ok_or(Malformed)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let count = usize::from(first & 0x7f);
            // Indefinite length (0x80) is BER, not DER; over 3 length bytes is absurd here.
            if count == 0 || count > 3 {
                return Err(Malformed);
            }
            let mut len = 0usize;
            for i in 0..count {
                len = (len << 8) | usize::from(*self.rest.get(2 + i).ok_or(Malformed)?);
            }
            // DER: the shortest form, so no leading zero byte and no long form under 128.
            if len < 0x80 || len >> (8 * (count - 1)) == 0 {
                return Err(Malformed);
            }
            (len, 2 + count)
        };
        let end = header.checked_add(len).ok_or(Malformed)?;
        let whole = self.rest.get(..end).ok_or(Malformed)?;
        let content = whole.get(header..).ok_or(Malformed)?;
        self.rest = self.rest.get(end..).ok_or(Malformed)?;
        Ok(Tlv {
            tag,
            whole,
            content,
        })
    }

    /// The next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, Malformed> {
        let tlv = self.any()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(Malformed)
        }
    }

    /// The content of the next element, which must have `tag`.
    pub fn content(&mut self, tag: u8) -> Result<&'a [u8], Malformed> {
        Ok(self.expect(tag)?.content)
    }

    /// The next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, Malformed> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Nothing may follow.
    pub fn finish(&self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

/// The content of a BIT STRING with no unused bits (keys and signatures).
pub(crate) fn whole_bytes(bit_string: &[u8]) -> Result<&[u8], Malformed> {
    match bit_string.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(Malformed),
    }
}

/// A DER BOOLEAN's value.
pub(crate) fn boolean(content: &[u8]) -> Result<bool, Malformed> {
    match content {
        [0x00] => Ok(false),
        [0xff] => Ok(true),
        _ => Err(Malformed),
    }
}

/// The magnitude of a non-negative INTEGER, without the sign byte DER may put in front.
pub(crate) fn unsigned(content: &[u8]) -> Result<&[u8], Malformed> {
    match content {
        [] => Err(Malformed),
        [first, ..] if first & 0x80 != 0 => Err(Malformed),
        [0, next, ..] if next & 0x80 == 0 => Err(Malformed),
        [0, rest @ ..] if !rest.is_empty() => Ok(rest),
        all => Ok(all),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> Result<Tlv<'_>, Malformed> {
        Der::new(input).any()
    }

    #[test]
    fn lengths_are_checked_and_minimal() {
        assert_eq!(one(&[]), Err(Malformed));
        assert_eq!(one(&[0x30]), Err(Malformed));
        assert_eq!(one(&[0x30, 0x05, 1, 2]), Err(Malformed));
        assert_eq!(one(&[0x30, 0x80]), Err(Malformed), "indefinite length");
        assert_eq!(one(&[0x30, 0x84, 0, 0, 0, 1, 0]), Err(Malformed));
        assert_eq!(
            one(&[0x04, 0x81, 0x01, 0x09]),
            Err(Malformed),
            "long form < 128"
        );
        assert_eq!(one(&[0x1f, 0x01, 0x00]), Err(Malformed), "high tag number");
        let mut long = [0u8; 3 + 0x80];
        long[..3].copy_from_slice(&[0x04, 0x81, 0x80]);
        let tlv = one(&long).expect("long form");
        assert_eq!((tlv.tag, tlv.content.len(), tlv.whole.len()), (4, 128, 131));
        let mut padded = [0u8; 4 + 0x80];
        padded[..4].copy_from_slice(&[0x04, 0x82, 0x00, 0x80]);
        assert_eq!(one(&padded), Err(Malformed), "leading zero length byte");
        let mut der = Der::new(&[0x02, 0x01, 0x07, 0xff]);
        let tlv = der.expect(INTEGER).expect("integer");
        assert_eq!(
            (tlv.whole, tlv.content),
            (&[0x02, 0x01, 0x07][..], &[0x07][..])
        );
        assert_eq!(der.finish(), Err(Malformed));
    }

    #[test]
    fn integers_booleans_and_bit_strings() {
        assert_eq!(unsigned(&[0x00, 0x80]), Ok(&[0x80][..]));
        assert_eq!(unsigned(&[0x00]), Ok(&[0x00][..]));
        assert_eq!(unsigned(&[0x7f]), Ok(&[0x7f][..]));
        assert_eq!(unsigned(&[0x80]), Err(Malformed), "negative");
        assert_eq!(unsigned(&[0x00, 0x01]), Err(Malformed), "not minimal");
        assert_eq!(unsigned(&[]), Err(Malformed));
        assert_eq!(boolean(&[0xff]), Ok(true));
        assert_eq!(boolean(&[0x01]), Err(Malformed));
        assert_eq!(whole_bytes(&[0, 1, 2]), Ok(&[1, 2][..]));
        assert_eq!(whole_bytes(&[1, 2]), Err(Malformed));
        assert_eq!(whole_bytes(&[]), Err(Malformed));
    }
}
