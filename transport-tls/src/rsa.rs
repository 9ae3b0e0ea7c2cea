//! RSA signature verification without a heap (RFC 8017): the public-key operation
//! `s^e mod n` in Montgomery arithmetic over fixed 4096-bit numbers (32-bit limbs, only the
//! limbs the modulus uses are worked on), then the PKCS#1 v1.5 (EMSA-PKCS1-v1_5) or PSS
//! (EMSA-PSS with MGF1) encoding check. All written here (the Montgomery arithmetic is
//! `crate::montgomery`, shared with the P-384 verifier) and checked against Project
//! Wycheproof's vectors, with one row of carry space instead of the double-width products
//! a general bignum library keeps on the stack.
//!
//! Keys of 2048 to 4096 bits with a public exponent that fits 32 bits. Every number here
//! is public (key, signature, message), so variable-time code is fine.

use sha2::digest::{Digest, FixedOutputReset};

use crate::keys::Hash;
use crate::montgomery::{from_be_bytes, less_than, write_be_bytes, Modulus};

/// The largest modulus, in bytes.
pub(crate) const MAX_MODULUS_LEN: usize = 512;
/// The smallest modulus accepted, in bits: shorter keys are breakable.
pub(crate) const MIN_MODULUS_BITS: usize = 2048;

/// Why an RSA key or signature was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum RsaError {
    /// The key is outside what this verifier handles (size, even modulus, exponent).
    UnsupportedKey,
    /// The signature does not verify.
    Invalid,
}

/// An RSA public key, copied out of a certificate.
#[derive(Clone, Debug)]
pub(crate) struct RsaKey {
    modulus: [u8; MAX_MODULUS_LEN],
    len: usize,
    exponent: u32,
}

impl RsaKey {
    /// A key from big-endian modulus and exponent bytes (leading zeros allowed).
    pub fn new(modulus: &[u8], exponent: &[u8]) -> Result<Self, RsaError> {
        let modulus = strip_zeros(modulus);
        let exponent = strip_zeros(exponent);
        let top = *modulus.first().ok_or(RsaError::UnsupportedKey)?;
        let bits = modulus.len() * 8 - top.leading_zeros() as usize;
        let odd = modulus.last().is_some_and(|b| b & 1 == 1);
        if bits < MIN_MODULUS_BITS || modulus.len() > MAX_MODULUS_LEN || !odd {
            return Err(RsaError::UnsupportedKey);
        }
        if exponent.len() > 4 {
            return Err(RsaError::UnsupportedKey);
        }
        let e = exponent.iter().fold(0u32, |e, b| (e << 8) | u32::from(*b));
        if e < 3 || e & 1 == 0 {
            return Err(RsaError::UnsupportedKey);
        }
        let mut key = RsaKey {
            modulus: [0; MAX_MODULUS_LEN],
            len: modulus.len(),
            exponent: e,
        };
        key.modulus[..modulus.len()].copy_from_slice(modulus);
        Ok(key)
    }

    fn modulus(&self) -> &[u8] {
        &self.modulus[..self.len]
    }

    fn bits(&self) -> usize {
        self.len * 8 - self.modulus[0].leading_zeros() as usize
    }

    /// RSAVP1: `signature^e mod n`, written big-endian into `out[..k]` (k = modulus length).
    fn public_operation<'o>(
        &self,
        signature: &[u8],
        out: &'o mut [u8; MAX_MODULUS_LEN],
    ) -> Result<&'o mut [u8], RsaError> {
        // RFC 8017 8.2.2: the signature has exactly the modulus's length.
        if signature.len() != self.len {
            return Err(RsaError::Invalid);
        }
        let modulus = Modulus::new(number(self.modulus()));
        let s = number(signature);
        if !less_than(&s, modulus.value()) {
            return Err(RsaError::Invalid);
        }
        let m = pow_mod(&s, self.exponent, &modulus);
        let out = &mut out[..self.len];
        write_be(&m, out);
        Ok(out)
    }

    /// RSASSA-PKCS1-v1_5 verification of `digest` (RFC 8017 8.2.2 with 9.2): the encoded
    /// message is rebuilt and compared whole, so no parsing of padding can go wrong.
    // Kept out of line (as are the PSS check and `pow_mod`), so that its kilobytes of
    // 4096-bit temporaries are on the stack only while an RSA signature is checked, not in
    // the frame of every certificate verification.
    #[inline(never)]
    pub fn verify_pkcs1v15(
        &self,
        hash: Hash,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), RsaError> {
        let mut em = [0u8; MAX_MODULUS_LEN];
        let em = self.public_operation(signature, &mut em)?;
        let prefix = digest_info_prefix(hash);
        let t_len = prefix.len() + digest.len();
        // 0x00 0x01, at least 8 bytes of 0xff, 0x00, DigestInfo.
        if digest.len() != hash.len() || em.len() < t_len + 11 {
            return Err(RsaError::Invalid);
        }
        let ps_end = em.len() - t_len - 1;
        let mut ok = em[0] == 0 && em[1] == 1 && em[ps_end] == 0;
        ok &= em[2..ps_end].iter().all(|b| *b == 0xff);
        ok &= &em[ps_end + 1..ps_end + 1 + prefix.len()] == prefix;
        ok &= &em[ps_end + 1 + prefix.len()..] == digest;
        if ok {
            Ok(())
        } else {
            Err(RsaError::Invalid)
        }
    }

    /// RSASSA-PSS verification of `digest` (RFC 8017 8.1.2 with 9.1.2), MGF1 over the same
    /// hash, with the given salt length (TLS 1.3 uses the hash length).
    #[inline(never)]
    pub fn verify_pss(
        &self,
        hash: Hash,
        digest: &[u8],
        signature: &[u8],
        salt_len: usize,
    ) -> Result<(), RsaError> {
        match hash {
            Hash::Sha256 => self.pss::<sha2::Sha256>(digest, signature, salt_len),
            Hash::Sha384 => self.pss::<sha2::Sha384>(digest, signature, salt_len),
            Hash::Sha512 => self.pss::<sha2::Sha512>(digest, signature, salt_len),
        }
    }

    fn pss<D: Digest + FixedOutputReset>(
        &self,
        digest: &[u8],
        signature: &[u8],
        salt_len: usize,
    ) -> Result<(), RsaError> {
        let h_len = <D as Digest>::output_size();
        let mut buffer = [0u8; MAX_MODULUS_LEN];
        let k_bytes = self.public_operation(signature, &mut buffer)?;
        // emBits = modBits - 1; when that is a multiple of 8 the encoded message is one
        // byte shorter than the modulus and the leading byte must be zero.
        let em_bits = self.bits() - 1;
        let em_len = em_bits.div_ceil(8);
        let (lead, em) = k_bytes.split_at_mut(k_bytes.len() - em_len);
        if lead.iter().any(|b| *b != 0) || digest.len() != h_len {
            return Err(RsaError::Invalid);
        }
        if em_len < h_len + salt_len + 2 || em.last() != Some(&0xbc) {
            return Err(RsaError::Invalid);
        }
        let db_len = em_len - h_len - 1;
        let (db, rest) = em.split_at_mut(db_len);
        let h = &rest[..h_len];
        let top_bits = 8 * em_len - em_bits;
        let top_mask = 0xffu8 >> top_bits;
        if db[0] & !top_mask != 0 {
            return Err(RsaError::Invalid);
        }
        // DB = maskedDB xor MGF1(H, db_len), in place.
        let mut hasher = D::new();
        for (counter, block) in db.chunks_mut(h_len).enumerate() {
            Digest::update(&mut hasher, h);
            Digest::update(&mut hasher, (counter as u32).to_be_bytes());
            let mask = hasher.finalize_reset();
            for (b, m) in block.iter_mut().zip(mask.iter()) {
                *b ^= m;
            }
        }
        db[0] &= top_mask;
        let padding_end = db_len - salt_len - 1;
        if db[..padding_end].iter().any(|b| *b != 0) || db[padding_end] != 0x01 {
            return Err(RsaError::Invalid);
        }
        let salt = &db[padding_end + 1..];
        Digest::update(&mut hasher, [0u8; 8]);
        Digest::update(&mut hasher, digest);
        Digest::update(&mut hasher, salt);
        if hasher.finalize_reset().as_slice() == h {
            Ok(())
        } else {
            Err(RsaError::Invalid)
        }
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The DER DigestInfo header that precedes a digest in PKCS#1 v1.5 (RFC 8017 9.2 note 1).
fn digest_info_prefix(hash: Hash) -> &'static [u8] {
    match hash {
        Hash::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        Hash::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        Hash::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// A number of up to 4096 bits: 32-bit limbs, least significant first.
type Number = [u32; LIMBS];
const LIMBS: usize = MAX_MODULUS_LEN / 4;

/// A big-endian byte string of at most 512 bytes as a number (longer ones are refused
/// before they get here: keys by `RsaKey::new`, signatures by their length).
fn number(bytes: &[u8]) -> Number {
    from_be_bytes(bytes).unwrap_or([0; LIMBS])
}

/// The low `out.len()` bytes of `n`, big-endian.
fn write_be(n: &Number, out: &mut [u8]) {
    write_be_bytes(n, out)
}

/// `base^exponent mod n` for `base < n`, by left-to-right square and multiply in
/// Montgomery form: seventeen products for e = 65537.
#[inline(never)]
fn pow_mod(base: &Number, exponent: u32, modulus: &Modulus<LIMBS>) -> Number {
    // R^2 mod n moves the base into Montgomery form. Without a long division: double
    // 2^(bits-1) (below n) up to 2R mod n, which is 2 in Montgomery form, then raise that
    // to the power log2(R) = 32 * limbs inside the Montgomery domain: R in Montgomery form
    // is R^2 mod n.
    let s = modulus.limbs();
    let bits = 32 * s - modulus.value()[s - 1].leading_zeros() as usize;
    let mut two = [0u32; LIMBS];
    two[(bits - 1) / 32] = 1 << ((bits - 1) % 32);
    for _ in bits - 1..=32 * s {
        two = modulus.add(&two, &two);
    }
    let r2 = modulus.power(&two, &[32 * s as u32]);
    let base = modulus.multiply(base, &r2);
    let result = modulus.power(&base, &[exponent]);
    // Out of Montgomery form: multiply by 1.
    let mut one = [0u32; LIMBS];
    one[0] = 1;
    modulus.multiply(&result, &one)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_mod_matches_small_numbers() {
        // 4^13 mod 497 = 445 (a textbook example).
        let n = Modulus::new(number(&[0x01, 0xf1]));
        assert_eq!(pow_mod(&number(&[4]), 13, &n), number(&[0x01, 0xbd]));
        // 2^65537 mod (2^89 - 1) = 2^(65537 mod 89) = 2^33.
        let mut m89 = [0xffu8; 12];
        m89[0] = 0x01;
        let r = pow_mod(&number(&[2]), 65537, &Modulus::new(number(&m89)));
        assert_eq!(r, number(&[0x02, 0, 0, 0, 0]));
        // A full-width odd modulus (2^4096 - 1), where R mod n is 1: 3^3 = 27.
        let full = Modulus::new(number(&[0xff; MAX_MODULUS_LEN]));
        assert_eq!(full.limbs(), LIMBS);
        assert_eq!(pow_mod(&number(&[3]), 3, &full), number(&[27]));
        // (n - 1)^3 = -1 mod n.
        let mut minus_one = [0xffu8; MAX_MODULUS_LEN];
        minus_one[MAX_MODULUS_LEN - 1] = 0xfe;
        let expected = number(&minus_one);
        assert_eq!(pow_mod(&expected, 3, &full), expected);
    }

    #[test]
    fn bytes_round_trip() {
        let mut bytes = [0u8; MAX_MODULUS_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        let mut out = [0u8; MAX_MODULUS_LEN];
        write_be(&number(&bytes), &mut out);
        assert_eq!(out, bytes);
        let mut short = [0u8; 3];
        write_be(&number(&[1, 2, 3]), &mut short);
        assert_eq!(short, [1, 2, 3]);
    }

    #[test]
    fn keys_outside_the_supported_range_are_refused() {
        let mut modulus = [0xffu8; 256];
        assert!(RsaKey::new(&modulus, &[1, 0, 1]).is_ok());
        assert!(RsaKey::new(&modulus[1..], &[1, 0, 1]).is_err(), "2040 bits");
        assert!(RsaKey::new(&[0xff; 513], &[1, 0, 1]).is_err(), "4104 bits");
        assert!(RsaKey::new(&modulus, &[1, 0, 0]).is_err(), "even exponent");
        assert!(RsaKey::new(&modulus, &[1]).is_err(), "e = 1");
        assert!(
            RsaKey::new(&modulus, &[1, 0, 0, 0, 1]).is_err(),
            "e over 32 bits"
        );
        modulus[255] = 0xfe;
        assert!(RsaKey::new(&modulus, &[1, 0, 1]).is_err(), "even modulus");
        assert!(RsaKey::new(&[], &[3]).is_err());
    }
}
