//! Jacobian point arithmetic on y^2 = x^3 - 3x + b, coordinates in Montgomery form, and
//! the double-scalar multiplication u1*G + u2*Q of ECDSA verification.
//!
//! Formulas (Jacobian, a = -3; see the Explicit-Formulas Database's "dbl-2001-b" and the
//! textbook addition, Hankerson-Menezes-Vanstone 3.2.2): doubling costs 3 multiplications
//! and 5 squarings, addition 12 multiplications and 4 squarings (8 and 3 when the second
//! point has Z = 1, as G and the key have). The addition is not
//! complete, so it handles its exceptions itself: either input at infinity, P + P (H = 0,
//! R = 0: a doubling) and P + (-P) (H = 0, R != 0: infinity).

use super::{Curve, Number, LIMBS};
use crate::montgomery::{bit_of, top_bit};

/// A point (X, Y, Z) with x = X/Z^2, y = Y/Z^3; Z = 0 is the point at infinity.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Point {
    x: Number,
    y: Number,
    z: Number,
}

impl Point {
    /// The point at infinity.
    pub const INFINITY: Point = Point {
        x: [0; LIMBS],
        y: [0; LIMBS],
        z: [0; LIMBS],
    };

    /// The point (x, y), Montgomery form, with Z = 1.
    pub fn affine(x: Number, y: Number, curve: &Curve) -> Point {
        Point {
            x,
            y,
            z: curve.field_one(),
        }
    }

    pub fn is_infinity(&self) -> bool {
        self.z == [0; LIMBS]
    }

    /// X.
    pub fn x(&self) -> &Number {
        &self.x
    }

    /// Y.
    #[cfg(test)]
    pub fn y(&self) -> &Number {
        &self.y
    }

    /// Z, unless this is the point at infinity.
    pub fn z(&self) -> Option<&Number> {
        (!self.is_infinity()).then_some(&self.z)
    }
}

impl Curve {
    fn mul(&self, a: &Number, b: &Number) -> Number {
        self.p.multiply(a, b)
    }

    fn add_f(&self, a: &Number, b: &Number) -> Number {
        self.p.add(a, b)
    }

    fn sub_f(&self, a: &Number, b: &Number) -> Number {
        self.p.subtract(a, b)
    }

    /// 2P.
    pub(super) fn double(&self, point: &Point) -> Point {
        if point.is_infinity() {
            return *point;
        }
        let Point { x, y, z } = point;
        let delta = self.mul(z, z);
        let gamma = self.mul(y, y);
        let beta = self.mul(x, &gamma);
        // alpha = 3 (x - delta)(x + delta): a = -3 makes 3x^2 + a z^4 factor.
        let t = self.mul(&self.sub_f(x, &delta), &self.add_f(x, &delta));
        let alpha = self.add_f(&self.add_f(&t, &t), &t);
        let beta2 = self.add_f(&beta, &beta);
        let beta4 = self.add_f(&beta2, &beta2);
        let beta8 = self.add_f(&beta4, &beta4);
        let x3 = self.sub_f(&self.mul(&alpha, &alpha), &beta8);
        // z3 = (y + z)^2 - gamma - delta = 2yz.
        let y_plus_z = self.add_f(y, z);
        let z3 = self.sub_f(&self.sub_f(&self.mul(&y_plus_z, &y_plus_z), &gamma), &delta);
        // y3 = alpha (4 beta - x3) - 8 gamma^2.
        let gamma2 = self.mul(&gamma, &gamma);
        let gamma2_2 = self.add_f(&gamma2, &gamma2);
        let gamma2_4 = self.add_f(&gamma2_2, &gamma2_2);
        let gamma2_8 = self.add_f(&gamma2_4, &gamma2_4);
        let y3 = self.sub_f(&self.mul(&alpha, &self.sub_f(&beta4, &x3)), &gamma2_8);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// P + Q.
    pub(super) fn add(&self, p: &Point, q: &Point) -> Point {
        if p.is_infinity() {
            return *q;
        }
        if q.is_infinity() {
            return *p;
        }
        let z1z1 = self.mul(&p.z, &p.z);
        // Both points over the common denominator: u = x, s = y scaled. When Q has Z = 1
        // (G and the key in the double-scalar table) its scaling of P is the identity:
        // four multiplications and a squaring fewer.
        let q_affine = q.z == self.field_one();
        let (u1, s1) = if q_affine {
            (p.x, p.y)
        } else {
            let z2z2 = self.mul(&q.z, &q.z);
            (
                self.mul(&p.x, &z2z2),
                self.mul(&p.y, &self.mul(&q.z, &z2z2)),
            )
        };
        let u2 = self.mul(&q.x, &z1z1);
        let s2 = self.mul(&q.y, &self.mul(&p.z, &z1z1));
        let h = self.sub_f(&u2, &u1);
        let r = self.sub_f(&s2, &s1);
        if h == [0; LIMBS] {
            // Same x: the same point (a doubling) or its negative (the sum is infinity).
            return if r == [0; LIMBS] {
                self.double(p)
            } else {
                Point::INFINITY
            };
        }
        let hh = self.mul(&h, &h);
        let hhh = self.mul(&h, &hh);
        let v = self.mul(&u1, &hh);
        // x3 = r^2 - h^3 - 2 v; y3 = r (v - x3) - s1 h^3; z3 = z1 z2 h.
        let x3 = self.sub_f(&self.sub_f(&self.mul(&r, &r), &hhh), &self.add_f(&v, &v));
        let y3 = self.sub_f(&self.mul(&r, &self.sub_f(&v, &x3)), &self.mul(&s1, &hhh));
        let z1z2 = if q_affine { p.z } else { self.mul(&p.z, &q.z) };
        let z3 = self.mul(&z1z2, &h);
        Point {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// u1*G + u2*Q for plain scalars u1, u2 (Shamir's trick: one doubling per bit of the
    /// longer scalar, and an addition of G, Q or G + Q where either has a one bit).
    // Out of line: its table of three points is on the stack only during the product.
    #[inline(never)]
    pub(super) fn double_scalar(&self, u1: &Number, g: &Point, u2: &Number, q: &Point) -> Point {
        let table = [*g, *q, self.add(g, q)];
        let top = match (top_bit(u1), top_bit(u2)) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return Point::INFINITY,
        };
        let mut acc = Point::INFINITY;
        for bit in (0..=top).rev() {
            acc = self.double(&acc);
            let index = usize::from(bit_of(u1, bit)) | usize::from(bit_of(u2, bit)) << 1;
            if let Some(addend) = index.checked_sub(1).and_then(|i| table.get(i)) {
                acc = self.add(&acc, addend);
            }
        }
        acc
    }
}
