//! ECDSA signature verification over P-384 without a heap, written here from the
//! standards (SEC 1 v2 4.1.4, FIPS 186-4 6.4 and D.1.2.4) in place of RustCrypto's `p384`
//! crate, whose unrolled 12-limb field code was 94 KB of a Cortex-M4F image; this one is
//! a few kilobytes (docs/TLS.md has the figures).
//!
//! - Field arithmetic mod p and scalar arithmetic mod n are `crate::montgomery`'s
//!   Montgomery multiplication over 32-bit limbs, the code the RSA verifier uses.
//! - Points are Jacobian (X, Y, Z), x = X/Z^2 and y = Y/Z^3, Z = 0 the point at infinity;
//!   the addition special-cases infinity, P + P (a doubling) and P + (-P).
//! - u1*G + u2*Q by Shamir's trick: one pass over the bits of both scalars with the table
//!   G, Q, G + Q.
//! - s^-1 mod n by Fermat, s^(n-2); the result's x is compared as X == r*Z^2 (or
//!   (r + n)*Z^2 when r + n < p) without inverting Z.
//!
//! Verification only: every input (key, signature, digest) is public, so the code is
//! variable-time and must never see a private key. Keys are uncompressed SEC1 points, on
//! the curve, coordinates below p; compressed points are refused as unsupported (X.509
//! keys and TLS 1.3 use the uncompressed form, RFC 5480 2.2 and RFC 8446 4.2.8.2, and
//! decompressing would add a square root for points no certificate carries). Signatures
//! are DER `Ecdsa-Sig-Value` (RFC 5480 2.2.3 / RFC 3279 2.2.3) with r and s in [1, n-1].

mod point;

use crate::der::{self, Der};
use crate::montgomery::{add_in_place, from_be_bytes, less_than, subtract_in_place, Modulus};

use point::Point;

/// Limbs of a field element or scalar: 12 for P-384.
const LIMBS: usize = 12;
/// A field element or scalar, 32-bit limbs, least significant first.
type Number = [u32; LIMBS];

/// Why a key or signature was refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum EcError {
    /// The key is a compressed point (0x02 or 0x03 prefix), which this verifier does not
    /// decompress.
    CompressedPoint,
    /// The key is not a SEC1 point of the curve's length (this includes the single zero
    /// byte that encodes the point at infinity).
    PointEncoding,
    /// A key coordinate is not below the field prime p.
    CoordinateOutOfRange,
    /// The key's coordinates do not satisfy the curve equation.
    NotOnCurve,
    /// The signature is not a DER `SEQUENCE { INTEGER r, INTEGER s }` with nothing after.
    SignatureEncoding,
    /// r or s is 0 or not below the group order n.
    ScalarOutOfRange,
    /// The signature does not verify: u1*G + u2*Q is infinity or its x mod n is not r.
    Mismatch,
}

/// A short Weierstrass curve y^2 = x^3 - 3x + b over GF(p) with a prime order n and
/// cofactor 1 (so a point on the curve other than infinity is in the group), every number
/// plain (not Montgomery form) except where the name says.
pub(crate) struct Curve {
    /// The field prime.
    p: Modulus<LIMBS>,
    /// The group order.
    n: Modulus<LIMBS>,
    /// R^2 mod p, R = 2^(32 * limbs): the Montgomery product with it moves a field element
    /// into Montgomery form.
    p_r2: Number,
    /// R^2 mod n, the same for scalars.
    n_r2: Number,
    /// The curve's b.
    b: Number,
    /// The base point G.
    gx: Number,
    gy: Number,
}

// Keys print their curve by size, not its constants.
impl core::fmt::Debug for Curve {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Curve({} bits)", 8 * self.len())
    }
}

/// Limbs from 32-bit words written most significant first, as FIPS 186-4 prints them.
const fn words(big_endian: [u32; LIMBS]) -> Number {
    let mut limbs = [0u32; LIMBS];
    let mut i = 0;
    while i < LIMBS {
        limbs[i] = big_endian[LIMBS - 1 - i];
        i += 1;
    }
    limbs
}

/// P-384 (secp384r1): FIPS 186-4 D.1.2.4, SEC 2 2.8.1. R^2 mod p and mod n come from
/// `vectors.py`, which also checks the parameters (G on the curve, n*G = infinity); the
/// unit tests compare every number here with it.
pub(crate) static P384: Curve = Curve {
    p: Modulus::new(words([
        0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
        0xfffffffe, 0xffffffff, 0x00000000, 0x00000000, 0xffffffff,
    ])),
    n: Modulus::new(words([
        0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xc7634d81,
        0xf4372ddf, 0x581a0db2, 0x48b0a77a, 0xecec196a, 0xccc52973,
    ])),
    p_r2: words([
        0x00000000, 0x00000000, 0x00000000, 0x00000001, 0x00000002, 0x00000000, 0xfffffffe,
        0x00000000, 0x00000002, 0x00000000, 0xfffffffe, 0x00000001,
    ]),
    n_r2: words([
        0x0c84ee01, 0x2b39bf21, 0x3fb05b7a, 0x28266895, 0xd40d4917, 0x4aab1cc5, 0xbc3e483a,
        0xfcb82947, 0xff3d81e5, 0xdf1aa419, 0x2d319b24, 0x19b409a9,
    ]),
    b: words([
        0xb3312fa7, 0xe23ee7e4, 0x988e056b, 0xe3f82d19, 0x181d9c6e, 0xfe814112, 0x0314088f,
        0x5013875a, 0xc656398d, 0x8a2ed19d, 0x2a85c8ed, 0xd3ec2aef,
    ]),
    gx: words([
        0xaa87ca22, 0xbe8b0537, 0x8eb1c71e, 0xf320ad74, 0x6e1d3b62, 0x8ba79b98, 0x59f741e0,
        0x82542a38, 0x5502f25d, 0xbf55296c, 0x3a545e38, 0x72760ab7,
    ]),
    gy: words([
        0x3617de4a, 0x96262c6f, 0x5d9e98bf, 0x9292dc29, 0xf8f41dbd, 0x289a147c, 0xe9da3113,
        0xb5f0b8c0, 0x0a60b1ce, 0x1d7e819d, 0x7a431d7c, 0x90ea0e5f,
    ]),
};

impl Curve {
    /// The length of a field element (and of a scalar) in bytes. The order's bit length is
    /// a multiple of 8 (384), which the digest truncation relies on (tested).
    fn len(&self) -> usize {
        4 * self.p.limbs()
    }

    /// A field element below p into Montgomery form.
    fn to_field(&self, x: &Number) -> Number {
        self.p.multiply(x, &self.p_r2)
    }

    /// The base point, Jacobian, Montgomery form.
    fn generator(&self) -> Point {
        Point::affine(self.to_field(&self.gx), self.to_field(&self.gy), self)
    }

    /// 1 in Montgomery form: R mod p, which is R - p because p's top bit is set (p > R/2;
    /// tested), computed without a multiplication as 0 - p on the limbs p uses.
    fn field_one(&self) -> Number {
        let mut one = [0u32; LIMBS];
        let s = self.p.limbs();
        subtract_in_place(&mut one[..s], &self.p.value()[..s]);
        one
    }

    /// A scalar from a DER INTEGER's content, in [1, n-1].
    fn scalar(&self, content: &[u8]) -> Result<Number, EcError> {
        let magnitude = der::unsigned(content).map_err(|_| EcError::SignatureEncoding)?;
        let value = from_be_bytes::<LIMBS>(magnitude).ok_or(EcError::ScalarOutOfRange)?;
        if value == [0; LIMBS] || !less_than(&value, self.n.value()) {
            return Err(EcError::ScalarOutOfRange);
        }
        Ok(value)
    }

    /// (r, s) from a DER `Ecdsa-Sig-Value`.
    fn signature(&self, der: &[u8]) -> Result<(Number, Number), EcError> {
        let encoding = |_| EcError::SignatureEncoding;
        let mut outer = Der::new(der);
        let mut sequence = Der::new(outer.content(der::SEQUENCE).map_err(encoding)?);
        outer.finish().map_err(encoding)?;
        let r = sequence.content(der::INTEGER).map_err(encoding)?;
        let s = sequence.content(der::INTEGER).map_err(encoding)?;
        sequence.finish().map_err(encoding)?;
        Ok((self.scalar(r)?, self.scalar(s)?))
    }

    /// (r, s) from the fixed-length form (IEEE P1363: two big-endian halves), which
    /// Wycheproof's P1363 sets use; TLS and X.509 use DER.
    #[cfg(test)]
    pub(crate) fn fixed_signature(&self, bytes: &[u8]) -> Result<(Number, Number), EcError> {
        if bytes.len() != 2 * self.len() {
            return Err(EcError::SignatureEncoding);
        }
        let (r, s) = bytes.split_at(self.len());
        let scalar = |half: &[u8]| match from_be_bytes::<LIMBS>(half) {
            Some(v) if v != [0; LIMBS] && less_than(&v, self.n.value()) => Ok(v),
            _ => Err(EcError::ScalarOutOfRange),
        };
        Ok((scalar(r)?, scalar(s)?))
    }

    /// The digest as a scalar (SEC 1 4.1.4 step 3 with 4.1.3 step 5): its leftmost bits,
    /// as many as n has, reduced mod n. n's bit length being a whole number of bytes, that
    /// is the first `len` bytes; a shorter digest is taken whole.
    fn digest_scalar(&self, digest: &[u8]) -> Number {
        let leftmost = digest.get(..self.len()).unwrap_or(digest);
        let mut e = from_be_bytes::<LIMBS>(leftmost).unwrap_or([0; LIMBS]);
        // e < 2^bits(n) < 2n: one subtraction reduces it.
        if !less_than(&e, self.n.value()) {
            subtract_in_place(&mut e, self.n.value());
        }
        e
    }
}

/// An ECDSA public key: a point on the curve other than infinity, affine, Montgomery form.
#[derive(Clone, Debug)]
pub(crate) struct VerifyingKey {
    curve: &'static Curve,
    x: Number,
    y: Number,
}

impl VerifyingKey {
    /// A key from its SEC1 encoding (an uncompressed point: 0x04, x, y).
    pub fn from_sec1(curve: &'static Curve, bytes: &[u8]) -> Result<Self, EcError> {
        let len = curve.len();
        let coordinates = match bytes.split_first() {
            Some((0x04, rest)) if rest.len() == 2 * len => rest,
            Some((0x02 | 0x03, rest)) if rest.len() == len => return Err(EcError::CompressedPoint),
            _ => return Err(EcError::PointEncoding),
        };
        let (x, y) = coordinates.split_at(len);
        let p = curve.p.value();
        let coordinate = |bytes: &[u8]| match from_be_bytes::<LIMBS>(bytes) {
            Some(value) if less_than(&value, p) => Ok(curve.to_field(&value)),
            _ => Err(EcError::CoordinateOutOfRange),
        };
        let (x, y) = (coordinate(x)?, coordinate(y)?);
        // y^2 = x^3 - 3x + b = (x^2 - 3) x + b.
        let f = &curve.p;
        let one = curve.field_one();
        let three = f.add(&f.add(&one, &one), &one);
        let x2_minus_3 = f.subtract(&f.multiply(&x, &x), &three);
        let rhs = f.add(&f.multiply(&x2_minus_3, &x), &curve.to_field(&curve.b));
        if f.multiply(&y, &y) != rhs {
            return Err(EcError::NotOnCurve);
        }
        Ok(VerifyingKey { curve, x, y })
    }

    /// Verify a DER signature over a message whose digest is `digest` (any length; SEC 1
    /// truncation applies).
    pub fn verify_prehash(&self, digest: &[u8], signature: &[u8]) -> Result<(), EcError> {
        let (r, s) = self.curve.signature(signature)?;
        self.verify_scalars(digest, &r, &s)
    }

    /// Verify (r, s), each already checked to be in [1, n-1] (SEC 1 4.1.4 steps 2 to 8).
    pub(crate) fn verify_scalars(
        &self,
        digest: &[u8],
        r: &Number,
        s: &Number,
    ) -> Result<(), EcError> {
        let curve = self.curve;
        let n = &curve.n;
        let e = curve.digest_scalar(digest);
        // w = s^-1 in Montgomery form: (sR)^(n-2) R^-(n-3) = s^(n-2) R = s^-1 R.
        let mut n_minus_2 = *n.value();
        let mut two = [0u32; LIMBS];
        two[0] = 2;
        subtract_in_place(&mut n_minus_2, &two);
        let w = n.power(&n.multiply(s, &curve.n_r2), &n_minus_2);
        // Multiplying a plain number by w (Montgomery) gives a plain product.
        let u1 = n.multiply(&e, &w);
        let u2 = n.multiply(r, &w);
        let key = Point::affine(self.x, self.y, curve);
        let sum = curve.double_scalar(&u1, &curve.generator(), &u2, &key);
        let Some(z) = sum.z() else {
            return Err(EcError::Mismatch);
        };
        // x = X / Z^2 is below p < 2n, so x mod n = r means x = r or x = r + n.
        let z2 = curve.p.multiply(z, z);
        if curve.p.multiply(&curve.to_field(r), &z2) == *sum.x() {
            return Ok(());
        }
        let mut r_plus_n = *r;
        let carried = add_in_place(&mut r_plus_n, n.value());
        if !carried
            && less_than(&r_plus_n, curve.p.value())
            && curve.p.multiply(&curve.to_field(&r_plus_n), &z2) == *sum.x()
        {
            return Ok(());
        }
        Err(EcError::Mismatch)
    }
}

#[cfg(test)]
#[rustfmt::skip]
#[allow(clippy::type_complexity)]
mod vectors;

#[cfg(test)]
mod tests;
