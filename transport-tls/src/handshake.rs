//! What the handshake asks of this crate: the caller's RNG and client identity
//! ([`Provider`]), the ClientHello's parameters, and the certificate and signature checks
//! ([`Verifier`]) that run this crate's own chain verifier.

use core::marker::PhantomData;

use embedded_tls::blocking::{
    Certificate, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider,
    TlsClock, TlsConfig, TlsError, TlsVerifier,
};
use embedded_tls::SignatureScheme;
use otlp_embedded::transport::TlsFailure;
use rand_core::{CryptoRng, RngCore};
use sha2::Digest;

use crate::{chain, keys, ClientIdentity, Shared, Suite, TrustAnchors, MAX_CHAIN_CERTIFICATES};

/// The handshake's view of the caller's RNG, trust anchor and client identity.
pub(crate) struct Provider<'p, R, K: TlsClock> {
    pub(crate) rng: &'p mut R,
    pub(crate) verifier: Verifier<'p, K>,
    pub(crate) identity: Option<&'p ClientIdentity<'p>>,
    pub(crate) shared: &'p Shared,
}

impl<R: RngCore + CryptoRng, K: TlsClock> CryptoProvider for Provider<'_, R, K> {
    type CipherSuite = Suite;
    type Signature = p256::ecdsa::DerSignature;

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Suite>, TlsError> {
        Ok(&mut self.verifier)
    }

    fn signer(
        &mut self,
    ) -> Result<
        (
            impl signature::SignerMut<Self::Signature>,
            embedded_tls::SignatureScheme,
        ),
        TlsError,
    > {
        match self.identity {
            Some(identity) => Ok((
                identity.key.clone(),
                embedded_tls::SignatureScheme::EcdsaSecp256r1Sha256,
            )),
            None => Err(TlsError::InvalidPrivateKey),
        }
    }

    fn client_cert(&mut self) -> Option<Certificate<impl AsRef<[u8]>>> {
        // Called only when the server sent a CertificateRequest.
        self.shared.certificate_requested.set(true);
        self.identity
            .map(|identity| Certificate::X509(identity.certificate_der))
    }
}

/// The ClientHello's parameters. embedded-tls 0.19 always offers the ECDSA P-256, P-384
/// and Ed25519 signature schemes and has no way to take one away; RSA (PKCS#1 v1.5 for
/// certificates, PSS for the handshake, SHA-256/384/512) is offered only when this crate
/// can verify it.
pub(crate) fn client_config(server_name: &str) -> TlsConfig<'_> {
    let config = TlsConfig::new().with_server_name(server_name);
    #[cfg(feature = "rsa")]
    let config = config.enable_rsa_signatures();
    config
}

/// The server's certificates and handshake signature, checked by this crate's verifier
/// ([`verify_chain`](crate::verify_chain)) against the trust anchors, the host name and the clock `K`.
pub(crate) struct Verifier<'p, K: TlsClock> {
    pub(crate) anchors: TrustAnchors<'p>,
    pub(crate) host: &'p str,
    pub(crate) shared: &'p Shared,
    /// The leaf's key, for the CertificateVerify that follows the Certificate.
    pub(crate) leaf: Option<keys::Key>,
    /// The transcript hash through the Certificate message.
    pub(crate) transcript: [u8; 32],
    pub(crate) clock: PhantomData<K>,
}

impl<K: TlsClock> Verifier<'_, K> {
    fn refuse(&self, failure: TlsFailure, error: TlsError) -> Result<(), TlsError> {
        self.shared.verify_failure.set(Some(failure));
        Err(error)
    }
}

impl<K: TlsClock> TlsVerifier<Suite> for Verifier<'_, K> {
    fn set_hostname_verification(&mut self, _hostname: &str) -> Result<(), TlsError> {
        // The library passes the configured server name, which `host` already holds.
        Ok(())
    }

    fn verify_certificate(
        &mut self,
        transcript: &<Suite as embedded_tls::blocking::TlsCipherSuite>::Hash,
        certificate: CertificateRef<'_>,
    ) -> Result<(), TlsError> {
        let entries = &certificate.entries;
        if entries.len() > MAX_CHAIN_CERTIFICATES {
            return self.refuse(TlsFailure::ChainTooLong, TlsError::InvalidCertificate);
        }
        let mut chain: [&[u8]; MAX_CHAIN_CERTIFICATES] = [&[]; MAX_CHAIN_CERTIFICATES];
        for (slot, entry) in chain.iter_mut().zip(entries.iter()) {
            match entry {
                CertificateEntryRef::X509(der) => *slot = der,
                CertificateEntryRef::RawPublicKey(_) => {
                    return self.refuse(TlsFailure::BadCertificate, TlsError::InvalidCertificate)
                }
            }
        }
        let chain = &chain[..entries.len()];
        match chain::verify(chain, self.anchors, self.host, K::now()) {
            Ok(key) => {
                self.leaf = Some(key);
                self.transcript = transcript.clone().finalize().into();
                Ok(())
            }
            Err(failure) => self.refuse(failure, TlsError::InvalidCertificate),
        }
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef<'_>) -> Result<(), TlsError> {
        use crate::keys::{Hash, Key, Scheme};
        let Some(key) = self.leaf.take() else {
            return self.refuse(TlsFailure::Other, TlsError::InvalidSignature);
        };
        // TLS 1.3 ties each ECDSA scheme to its curve, and allows only PSS for RSA keys.
        let scheme = match (verify.signature_scheme, &key) {
            (SignatureScheme::EcdsaSecp256r1Sha256, Key::P256(_)) => Scheme::Ecdsa(Hash::Sha256),
            #[cfg(feature = "p384")]
            (SignatureScheme::EcdsaSecp384r1Sha384, Key::P384(_)) => Scheme::Ecdsa(Hash::Sha384),
            (SignatureScheme::RsaPssRsaeSha256, _) => Scheme::RsaPss(Hash::Sha256),
            (SignatureScheme::RsaPssRsaeSha384, _) => Scheme::RsaPss(Hash::Sha384),
            (SignatureScheme::RsaPssRsaeSha512, _) => Scheme::RsaPss(Hash::Sha512),
            // An ECDSA scheme for another key type (unreachable for P-256 when P-256 is the
            // only key type built in).
            #[allow(unreachable_patterns)]
            (SignatureScheme::EcdsaSecp256r1Sha256 | SignatureScheme::EcdsaSecp384r1Sha384, _) => {
                return self.refuse(TlsFailure::BadSignature, TlsError::InvalidSignature)
            }
            _ => return self.refuse(TlsFailure::NoCommonParameters, TlsError::InvalidSignature),
        };
        // RFC 8446 4.4.3: 64 spaces, the context string, a zero byte, the transcript hash.
        const CONTEXT: &[u8] = b"TLS 1.3, server CertificateVerify\x00";
        let mut message = [0x20u8; 64 + CONTEXT.len() + 32];
        message[64..64 + CONTEXT.len()].copy_from_slice(CONTEXT);
        message[64 + CONTEXT.len()..].copy_from_slice(&self.transcript);
        match key.verify(scheme, &message, verify.signature) {
            Ok(()) => Ok(()),
            Err(keys::SignatureError::Unsupported) => {
                self.refuse(TlsFailure::NoCommonParameters, TlsError::InvalidSignature)
            }
            Err(keys::SignatureError::Invalid) => {
                self.refuse(TlsFailure::BadSignature, TlsError::InvalidSignature)
            }
        }
    }
}
