//! The arithmetic against numbers computed independently by `vectors.py` (plain Python
//! integers), and the encodings' edge cases. The verifier as a whole is checked against
//! Project Wycheproof's vectors in `crate::wycheproof`.

extern crate std;

use std::vec::Vec;

use super::point::Point;
use super::vectors;
use super::*;
use crate::montgomery::{top_bit, write_be_bytes};

fn number(hex: &str) -> Number {
    assert_eq!(hex.len(), 96, "{hex}");
    let bytes: Vec<u8> = (0..48)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    from_be_bytes(&bytes).expect("48 bytes fit")
}

fn bytes(x: &Number) -> [u8; 48] {
    let mut out = [0u8; 48];
    write_be_bytes(x, &mut out);
    out
}

fn one() -> Number {
    let mut one = [0u32; LIMBS];
    one[0] = 1;
    one
}

/// Out of Montgomery form.
fn plain(curve: &Curve, x: &Number) -> Number {
    curve.p.multiply(x, &one())
}

/// x^-1 mod p by Fermat, both plain.
fn field_inverse(curve: &Curve, x: &Number) -> Number {
    let mut p_minus_2 = *curve.p.value();
    p_minus_2[0] -= 2;
    plain(curve, &curve.p.power(&curve.to_field(x), &p_minus_2))
}

/// A Jacobian point as plain affine coordinates, or None for infinity.
fn affine(curve: &Curve, point: &Point) -> Option<(Number, Number)> {
    let z = plain(curve, point.z()?);
    let z_inv = curve.to_field(&field_inverse(curve, &z));
    let z_inv2 = curve.p.multiply(&z_inv, &z_inv);
    let z_inv3 = curve.p.multiply(&z_inv2, &z_inv);
    let x = plain(curve, &curve.p.multiply(point.x(), &z_inv2));
    let y = plain(curve, &curve.p.multiply(point.y(), &z_inv3));
    Some((x, y))
}

fn expected_point(x: &str, y: &str) -> Option<(Number, Number)> {
    Some((number(x), number(y)))
}

fn key_point(curve: &'static Curve, x: &Number, y: &Number) -> Point {
    Point::affine(curve.to_field(x), curve.to_field(y), curve)
}

#[test]
fn parameters_match_the_script() {
    let c = &P384;
    assert_eq!(c.p.value(), &number(vectors::P));
    assert_eq!(c.n.value(), &number(vectors::N));
    assert_eq!(c.b, number(vectors::B));
    assert_eq!(c.gx, number(vectors::GX));
    assert_eq!(c.gy, number(vectors::GY));
    assert_eq!(c.p_r2, number(vectors::P_R2));
    assert_eq!(c.n_r2, number(vectors::N_R2));
    assert_eq!((c.p.limbs(), c.n.limbs(), c.len()), (12, 12, 48));
    // The digest truncation takes whole bytes: n's bit length must be 8 * len.
    assert_eq!(top_bit(c.n.value()), Some(8 * c.len() - 1));
    // p's top bit is set, so R mod p = R - p, which `field_one` relies on; it must be
    // R^2 * R^-1, the Montgomery form of 1.
    assert_eq!(top_bit(c.p.value()), Some(8 * c.len() - 1));
    assert_eq!(c.field_one(), c.to_field(&one()));
}

#[test]
fn field_arithmetic_matches_the_script() {
    let c = &P384;
    for (a, b, product, sum, difference, inverse) in vectors::FIELD {
        let (a, b) = (number(a), number(b));
        let (am, bm) = (c.to_field(&a), c.to_field(&b));
        assert_eq!(plain(c, &c.p.multiply(&am, &bm)), number(product));
        assert_eq!(plain(c, &c.p.add(&am, &bm)), number(sum));
        assert_eq!(plain(c, &c.p.subtract(&am, &bm)), number(difference));
        // Additions and subtractions are the same in or out of Montgomery form.
        assert_eq!(c.p.add(&a, &b), number(sum));
        assert_eq!(c.p.subtract(&a, &b), number(difference));
        if a != [0; LIMBS] {
            assert_eq!(field_inverse(c, &a), number(inverse));
        }
    }
}

#[test]
fn scalar_inverses_match_the_script() {
    let c = &P384;
    let mut n_minus_2 = *c.n.value();
    n_minus_2[0] -= 2;
    for (s, inverse) in vectors::SCALAR_INVERSES {
        let w = c.n.power(&c.n.multiply(&number(s), &c.n_r2), &n_minus_2);
        // Out of Montgomery form: the plain inverse.
        assert_eq!(c.n.multiply(&w, &one()), number(inverse), "{s}");
    }
}

#[test]
fn multiples_of_the_generator_match_the_script() {
    let c = &P384;
    let g = c.generator();
    let zero = [0u32; LIMBS];
    for (k, x, y) in vectors::MULTIPLES {
        let k = number(k);
        let expected = expected_point(x, y);
        // k*G through either half of the double-scalar product.
        assert_eq!(affine(c, &c.double_scalar(&k, &g, &zero, &g)), expected);
        assert_eq!(affine(c, &c.double_scalar(&zero, &g, &k, &g)), expected);
    }
    // 2G, 3G, 4G by single additions and doublings.
    let two = c.double(&g);
    let three = c.add(&two, &g);
    assert_eq!(
        affine(c, &c.add(&g, &g)),
        affine(c, &two),
        "G + G is a doubling"
    );
    assert_eq!(affine(c, &c.add(&three, &g)), affine(c, &c.double(&two)));
    let [_, (_, x2, y2), (_, x3, y3), ..] = vectors::MULTIPLES else {
        panic!("the script writes 1, 2, 3 first");
    };
    assert_eq!(affine(c, &two), expected_point(x2, y2));
    assert_eq!(affine(c, &three), expected_point(x3, y3));
}

#[test]
fn the_point_at_infinity_and_negatives() {
    let c = &P384;
    let g = c.generator();
    let inf = Point::INFINITY;
    assert_eq!(c.add(&inf, &g), g);
    assert_eq!(c.add(&g, &inf), g);
    assert!(c.double(&inf).is_infinity());
    assert!(c.add(&inf, &inf).is_infinity());
    // -G = (x, p - y).
    let minus_g = key_point(c, &c.gx, &c.p.subtract(&[0; LIMBS], &c.gy));
    assert!(c.add(&g, &minus_g).is_infinity());
    // The same with a Z other than 1: 2G + (-2G).
    let two = c.double(&g);
    let minus_two = c.double(&minus_g);
    assert!(c.add(&two, &minus_two).is_infinity());
    assert_eq!(
        affine(c, &c.add(&two, &c.add(&g, &g))),
        affine(c, &c.double(&two))
    );
    // n*G is infinity; (n-1)*G + G too.
    let n = *c.n.value();
    assert!(c.double_scalar(&n, &g, &[0; LIMBS], &g).is_infinity());
    let zero = [0u32; LIMBS];
    assert!(c.double_scalar(&zero, &g, &zero, &g).is_infinity());
}

#[test]
fn double_scalar_products_match_the_script() {
    let c = &P384;
    let g = c.generator();
    let zero = [0u32; LIMBS];
    for (u1, u2, q, expected) in vectors::SHAMIR {
        let q = c.double_scalar(&number(q), &g, &zero, &g);
        let (qx, qy) = affine(c, &q).expect("q*G is not infinity");
        let q = key_point(c, &qx, &qy);
        let sum = c.double_scalar(&number(u1), &g, &number(u2), &q);
        let expected = expected.map(|(x, y)| (number(x), number(y)));
        assert_eq!(affine(c, &sum), expected, "u1 {u1} u2 {u2}");
    }
}

fn sec1(x: &Number, y: &Number) -> [u8; 97] {
    let mut out = [0u8; 97];
    out[0] = 4;
    out[1..49].copy_from_slice(&bytes(x));
    out[49..].copy_from_slice(&bytes(y));
    out
}

#[test]
fn keys_are_decoded_strictly() {
    let c = &P384;
    let good = sec1(&c.gx, &c.gy);
    let key = VerifyingKey::from_sec1(c, &good).expect("G is a valid key");
    assert_eq!((plain(c, &key.x), plain(c, &key.y)), (c.gx, c.gy));
    let mut compressed = [0u8; 49];
    compressed[0] = 2 | (c.gy[0] & 1) as u8;
    compressed[1..].copy_from_slice(&bytes(&c.gx));
    assert_eq!(
        VerifyingKey::from_sec1(c, &compressed).err(),
        Some(EcError::CompressedPoint)
    );
    for bad in [&[0u8][..], &[], &good[..96], &[4; 98]] {
        assert_eq!(
            VerifyingKey::from_sec1(c, bad).err(),
            Some(EcError::PointEncoding)
        );
    }
    let mut hybrid = good;
    hybrid[0] = 6;
    assert_eq!(
        VerifyingKey::from_sec1(c, &hybrid).err(),
        Some(EcError::PointEncoding)
    );
    // Coordinates equal to p or above it are refused, not reduced (every value above p
    // is in range of 48 bytes only for p <= x < 2^384, about 2^128 of them).
    let p = *c.p.value();
    let all_ones = [u32::MAX; LIMBS];
    for (x, y) in [(p, c.gy), (c.gx, p), (all_ones, c.gy), (c.gx, all_ones)] {
        assert_eq!(
            VerifyingKey::from_sec1(c, &sec1(&x, &y)).err(),
            Some(EcError::CoordinateOutOfRange)
        );
    }
    let mut off = c.gy;
    off[0] ^= 1;
    assert_eq!(
        VerifyingKey::from_sec1(c, &sec1(&c.gx, &off)).err(),
        Some(EcError::NotOnCurve)
    );
    assert_eq!(
        VerifyingKey::from_sec1(c, &sec1(&[0; LIMBS], &[0; LIMBS])).err(),
        Some(EcError::NotOnCurve),
        "(0, 0) is not on the curve: infinity has no affine encoding"
    );
}

/// DER INTEGER content of a number: minimal, with a zero byte when the top bit is set.
fn integer(x: &Number) -> Vec<u8> {
    let raw = bytes(x);
    let first = raw.iter().position(|b| *b != 0).unwrap_or(47);
    let mut out = Vec::new();
    if raw[first] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&raw[first..]);
    out
}

fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut body = std::vec![0x02, r.len() as u8];
    body.extend_from_slice(r);
    body.extend_from_slice(&[0x02, s.len() as u8]);
    body.extend_from_slice(s);
    let mut out = std::vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

#[test]
fn signatures_are_decoded_strictly() {
    let c = &P384;
    let n = *c.n.value();
    let mut n_minus_1 = n;
    n_minus_1[0] -= 1;
    let one_int = integer(&one());
    let top = integer(&n_minus_1);
    assert_eq!(top.len(), 49, "n - 1 has its top bit set: a sign byte");
    assert_eq!(
        c.signature(&der_signature(&one_int, &top)),
        Ok((one(), n_minus_1))
    );
    let range = Err(EcError::ScalarOutOfRange);
    let encoding = Err(EcError::SignatureEncoding);
    assert_eq!(c.signature(&der_signature(&[0], &one_int)), range, "r = 0");
    assert_eq!(c.signature(&der_signature(&one_int, &[0])), range, "s = 0");
    assert_eq!(
        c.signature(&der_signature(&integer(&n), &one_int)),
        range,
        "r = n"
    );
    assert_eq!(
        c.signature(&der_signature(&one_int, &integer(&n))),
        range,
        "s = n"
    );
    let mut too_long = std::vec![1];
    too_long.extend_from_slice(&[0; 48]);
    assert_eq!(
        c.signature(&der_signature(&one_int, &too_long)),
        range,
        "s = 2^384"
    );
    assert_eq!(
        c.signature(&der_signature(&[0xff], &one_int)),
        encoding,
        "negative"
    );
    assert_eq!(
        c.signature(&der_signature(&[0, 1], &one_int)),
        encoding,
        "not minimal"
    );
    assert_eq!(
        c.signature(&der_signature(&[], &one_int)),
        encoding,
        "empty integer"
    );
    let mut trailing = der_signature(&one_int, &one_int);
    trailing.push(0);
    assert_eq!(c.signature(&trailing), encoding, "bytes after the sequence");
    let mut three = der_signature(&one_int, &one_int);
    three[1] += 3;
    three.extend_from_slice(&[2, 1, 1]);
    assert_eq!(c.signature(&three), encoding, "a third integer");
    assert_eq!(
        c.signature(&[0x30, 0x03, 0x02, 0x01, 0x01]),
        encoding,
        "one integer"
    );
    assert_eq!(c.signature(&[]), encoding);
    assert_eq!(
        c.signature(&[0x31, 0x06, 2, 1, 1, 2, 1, 1]),
        encoding,
        "a SET"
    );
}

#[test]
fn digests_are_truncated_to_the_order_length() {
    let c = &P384;
    // 64 bytes (SHA-512): only the leftmost 48 count.
    let mut digest = [0u8; 64];
    digest[47] = 7;
    digest[63] = 0xff;
    let mut seven = [0u32; LIMBS];
    seven[0] = 7;
    assert_eq!(c.digest_scalar(&digest), seven);
    // 32 bytes (SHA-256): the whole digest, as a smaller number.
    let mut short = [0u8; 32];
    short[0] = 1;
    let mut two_to_248 = [0u32; LIMBS];
    two_to_248[7] = 1 << 24;
    assert_eq!(c.digest_scalar(&short), two_to_248);
    // All ones (above n): reduced by one subtraction.
    let ones = [0xffu8; 48];
    let mut expected = [u32::MAX; LIMBS];
    subtract_in_place(&mut expected, c.n.value());
    assert_eq!(c.digest_scalar(&ones), expected);
}

#[test]
fn a_signature_made_by_hand_verifies() {
    // d = 2, k = 3: Q = 2G, r = x(3G) mod n, s = k^-1 (e + r d) mod n, all from the script's
    // numbers and this module's scalar arithmetic; then one bit of each input flipped.
    let c = &P384;
    let [_, (_, qx, qy), (_, x3, _), ..] = vectors::MULTIPLES else {
        panic!("the script writes 1, 2, 3 first");
    };
    let mut key_bytes = sec1(&number(qx), &number(qy));
    let key = VerifyingKey::from_sec1(c, &key_bytes).expect("2G");
    let r = number(x3);
    assert!(less_than(&r, c.n.value()));
    let digest = [0x5au8; 48];
    let e = c.digest_scalar(&digest);
    let n = &c.n;
    let to = |x: &Number| n.multiply(x, &c.n_r2);
    let mut two = [0u32; LIMBS];
    two[0] = 2;
    let mut three = [0u32; LIMBS];
    three[0] = 3;
    let rd = n.multiply(&to(&r), &two);
    let e_plus_rd = n.add(&e, &rd);
    let mut n_minus_2 = *n.value();
    n_minus_2[0] -= 2;
    let k_inv = n.power(&to(&three), &n_minus_2);
    let s = n.multiply(&e_plus_rd, &k_inv);
    assert_eq!(key.verify_scalars(&digest, &r, &s), Ok(()));
    let signature = der_signature(&integer(&r), &integer(&s));
    assert_eq!(key.verify_prehash(&digest, &signature), Ok(()));
    let mut other = digest;
    other[0] ^= 1;
    assert_eq!(
        key.verify_prehash(&other, &signature),
        Err(EcError::Mismatch)
    );
    let mut s_other = s;
    s_other[3] ^= 1;
    assert_eq!(
        key.verify_scalars(&digest, &r, &s_other),
        Err(EcError::Mismatch)
    );
    // The key 3G instead of 2G.
    let [_, _, (_, x3, y3), ..] = vectors::MULTIPLES else {
        unreachable!()
    };
    key_bytes = sec1(&number(x3), &number(y3));
    let wrong = VerifyingKey::from_sec1(c, &key_bytes).expect("3G");
    assert_eq!(
        wrong.verify_prehash(&digest, &signature),
        Err(EcError::Mismatch)
    );
}
