//! Public keys and the signatures made with them: ECDSA over P-256 (always, RustCrypto's
//! `p256`) and P-384 (feature `p384`, `crate::ecdsa`), RSA PKCS#1 v1.5 and PSS (feature
//! `rsa`, `crate::rsa`). A key is copied out of its
//! certificate so that the handshake signature can be checked after the certificate's
//! bytes are gone from the record buffer.

use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::x509::{PublicKey, SignatureAlgorithm};

/// A hash function of a signature scheme.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// The digest length in bytes.
    pub fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The digest of `message`, in the first [`Hash::len`] bytes.
    pub fn digest(self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        match self {
            Hash::Sha256 => out[..32].copy_from_slice(&Sha256::digest(message)),
            Hash::Sha384 => out[..48].copy_from_slice(&Sha384::digest(message)),
            Hash::Sha512 => out.copy_from_slice(&Sha512::digest(message)),
        }
        out
    }
}

/// How a signature is made.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// ECDSA, DER-encoded (r, s), over the key's curve.
    Ecdsa(Hash),
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(Hash),
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash.
    RsaPss(Hash),
}

impl Scheme {
    /// The scheme of a certificate signature.
    pub fn of_certificate(algorithm: SignatureAlgorithm) -> Option<Scheme> {
        Some(match algorithm {
            SignatureAlgorithm::EcdsaSha256 => Scheme::Ecdsa(Hash::Sha256),
            SignatureAlgorithm::EcdsaSha384 => Scheme::Ecdsa(Hash::Sha384),
            SignatureAlgorithm::RsaPkcs1Sha256 => Scheme::RsaPkcs1(Hash::Sha256),
            SignatureAlgorithm::RsaPkcs1Sha384 => Scheme::RsaPkcs1(Hash::Sha384),
            SignatureAlgorithm::RsaPkcs1Sha512 => Scheme::RsaPkcs1(Hash::Sha512),
            SignatureAlgorithm::Unsupported => return None,
        })
    }
}

/// Why a signature was not accepted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum SignatureError {
    /// The key type, curve, size or scheme is not one this build verifies.
    Unsupported,
    /// The signature (or the key's encoding) is wrong.
    Invalid,
}

/// A verifying key, owned. No heap, so an RSA key holds its 512-byte modulus inline: one
/// `Key` lives in the handshake state, for the CertificateVerify.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Key {
    P256(p256::ecdsa::VerifyingKey),
    #[cfg(feature = "p384")]
    P384(crate::ecdsa::VerifyingKey),
    #[cfg(feature = "rsa")]
    Rsa(crate::rsa::RsaKey),
}

impl Key {
    /// The key of a certificate, if this build can verify with it.
    pub fn from_public_key(key: &PublicKey<'_>) -> Result<Key, SignatureError> {
        match *key {
            PublicKey::P256(point) => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(Key::P256)
                .map_err(|_| SignatureError::Invalid),
            #[cfg(feature = "p384")]
            PublicKey::P384(point) => {
                crate::ecdsa::VerifyingKey::from_sec1(&crate::ecdsa::P384, point)
                    .map(Key::P384)
                    .map_err(|e| match e {
                        // A valid encoding this verifier does not take.
                        crate::ecdsa::EcError::CompressedPoint => SignatureError::Unsupported,
                        _ => SignatureError::Invalid,
                    })
            }
            #[cfg(feature = "rsa")]
            PublicKey::Rsa { modulus, exponent } => crate::rsa::RsaKey::new(modulus, exponent)
                .map(Key::Rsa)
                .map_err(|_| SignatureError::Unsupported),
            _ => Err(SignatureError::Unsupported),
        }
    }

    /// Check `signature` over `message`.
    pub fn verify(
        &self,
        scheme: Scheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        let hash = match scheme {
            Scheme::Ecdsa(h) | Scheme::RsaPkcs1(h) | Scheme::RsaPss(h) => h,
        };
        let digest = hash.digest(message);
        self.verify_digest(scheme, &digest[..hash.len()], signature)
    }

    /// Check `signature` over a message whose digest (by the scheme's hash) is `digest`.
    pub fn verify_digest(
        &self,
        scheme: Scheme,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError> {
        use signature::hazmat::PrehashVerifier;
        let invalid = |_| SignatureError::Invalid;
        match (self, scheme) {
            (Key::P256(key), Scheme::Ecdsa(_)) => {
                let signature = p256::ecdsa::Signature::from_der(signature).map_err(invalid)?;
                key.verify_prehash(digest, &signature).map_err(invalid)
            }
            #[cfg(feature = "p384")]
            (Key::P384(key), Scheme::Ecdsa(_)) => key
                .verify_prehash(digest, signature)
                .map_err(|_| SignatureError::Invalid),
            #[cfg(feature = "rsa")]
            (Key::Rsa(key), Scheme::RsaPkcs1(hash)) => key
                .verify_pkcs1v15(hash, digest, signature)
                .map_err(|_| SignatureError::Invalid),
            #[cfg(feature = "rsa")]
            (Key::Rsa(key), Scheme::RsaPss(hash)) => key
                .verify_pss(hash, digest, signature, hash.len())
                .map_err(|_| SignatureError::Invalid),
            // A signature scheme that does not fit the key: made with another key.
            _ => Err(SignatureError::Invalid),
        }
    }
}
