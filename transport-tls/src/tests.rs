extern crate std;

use super::*;
use crate::handshake::Verifier;
use embedded_tls::blocking::{CertificateVerifyRef, TlsVerifier};
use embedded_tls::SignatureScheme;

struct Nothing;
impl ErrorType for Nothing {
    type Error = ErrorKind;
}
impl Read for Nothing {
    fn read(&mut self, _: &mut [u8]) -> Result<usize, ErrorKind> {
        Ok(0)
    }
}
impl Write for Nothing {
    fn write(&mut self, _: &[u8]) -> Result<usize, ErrorKind> {
        Err(ErrorKind::NotConnected)
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}
impl Connection for Nothing {
    fn set_deadline(&mut self, _: Instant) {}
    fn close(self, _: CloseMode) -> Result<(), TransportError> {
        Ok(())
    }
}

struct Counter(u64);
impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(self.next_u64() as u8);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}

/// RAM budget guard: the connection state (beside the caller's record buffers) and the
/// handshake's verifier state (on the stack of `connect`) stay within these bounds.
#[test]
fn state_fits_its_budget() {
    let stream = core::mem::size_of::<TlsStream<'static, Nothing>>();
    let provider = core::mem::size_of::<Provider<'static, Counter, NoClock>>();
    let pointer = core::mem::size_of::<usize>();
    std::eprintln!(
        "TlsStream {stream} bytes, handshake provider {provider} bytes ({pointer}-byte pointers)"
    );
    assert!(
        stream <= 1400,
        "TlsStream is {stream} bytes ({pointer}-byte pointers)"
    );
    // No chain copy any more: the leaf key (an RSA modulus at most) and a transcript hash.
    assert!(provider <= 704, "handshake provider is {provider} bytes");
}

#[test]
fn alerts_map_to_failures() {
    assert_eq!(
        alert_failure(116),
        TransportError::Tls(TlsFailure::ClientCertificateRequired)
    );
    assert_eq!(
        alert_failure(48),
        TransportError::Tls(TlsFailure::Alert(48))
    );
    assert_eq!(
        alert_failure(70),
        TransportError::Tls(TlsFailure::ProtocolVersion)
    );
    for code in [40, 71] {
        assert_eq!(
            alert_failure(code),
            TransportError::Tls(TlsFailure::NoCommonParameters)
        );
    }
    assert_eq!(
        alert_failure(47),
        TransportError::Tls(TlsFailure::Alert(47))
    );
}

/// The CertificateVerify check: the leaf's key over RFC 8446's message, the scheme
/// tied to the key, each refusal its own failure.
#[test]
fn handshake_signature_is_checked_against_the_leaf_key() {
    use p256::ecdsa::signature::Signer;
    let leaf = SigningKey::from_slice(&[7u8; 32]).expect("key");
    let other = SigningKey::from_slice(&[9u8; 32]).expect("key");
    let transcript = [0x5au8; 32];
    let mut message = std::vec![0x20u8; 64];
    message.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00");
    message.extend_from_slice(&transcript);
    let sign = |key: &SigningKey| -> std::vec::Vec<u8> {
        let signature: p256::ecdsa::Signature = key.sign(&message);
        signature.to_der().as_bytes().to_vec()
    };
    let shared = Shared::default();
    let check = |scheme: SignatureScheme, signature: &[u8]| {
        shared.verify_failure.set(None);
        let mut verifier: Verifier<'_, NoClock> = Verifier {
            anchors: TrustAnchors::Many(&[]),
            host: "collector.example",
            shared: &shared,
            leaf: Some(keys::Key::P256(*leaf.verifying_key())),
            transcript,
            clock: PhantomData,
        };
        let result = verifier.verify_signature(CertificateVerifyRef {
            signature_scheme: scheme,
            signature,
        });
        (result.is_ok(), shared.verify_failure.get())
    };
    let good = sign(&leaf);
    assert_eq!(
        check(SignatureScheme::EcdsaSecp256r1Sha256, &good),
        (true, None)
    );
    assert_eq!(
        check(SignatureScheme::EcdsaSecp256r1Sha256, &sign(&other)),
        (false, Some(TlsFailure::BadSignature))
    );
    assert_eq!(
        check(SignatureScheme::EcdsaSecp384r1Sha384, &good),
        (false, Some(TlsFailure::BadSignature)),
        "a P-384 scheme with a P-256 key"
    );
    assert_eq!(
        check(SignatureScheme::Ed25519, &good),
        (false, Some(TlsFailure::NoCommonParameters))
    );
    assert_eq!(
        check(SignatureScheme::RsaPkcs1Sha256, &good),
        (false, Some(TlsFailure::NoCommonParameters)),
        "PKCS#1 v1.5 is not a TLS 1.3 handshake signature"
    );
    assert_eq!(
        check(
            SignatureScheme::EcdsaSecp256r1Sha256,
            &good[..good.len() - 1]
        ),
        (false, Some(TlsFailure::BadSignature)),
        "truncated DER"
    );
}

#[test]
fn plain_http_is_refused() {
    struct Connector;
    impl Connect for Connector {
        type Connection<'c> = Nothing;
        fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<Nothing, TransportError> {
            Ok(Nothing)
        }
    }
    let mut read = [0u8; 64];
    let mut write = [0u8; 64];
    let mut tls: TlsConnector<'_, _, _> = TlsConnector::new(
        Connector,
        Counter(1),
        TlsOptions::new(&[]),
        &mut read,
        &mut write,
    );
    assert!(matches!(
        tls.connect(&Endpoint::DEFAULT, Instant(0)),
        Err(TransportError::UnsupportedScheme)
    ));
}

/// A stream that ends before the server says anything is a truncation, not end of
/// stream, and the connection beneath is released.
#[test]
fn handshake_over_a_closed_stream_is_truncated() {
    struct Connector;
    impl Connect for Connector {
        type Connection<'c> = Quiet;
        fn connect(&mut self, _: &Endpoint<'_>, _: Instant) -> Result<Quiet, TransportError> {
            Ok(Quiet)
        }
    }
    struct Quiet;
    impl ErrorType for Quiet {
        type Error = ErrorKind;
    }
    impl Read for Quiet {
        fn read(&mut self, _: &mut [u8]) -> Result<usize, ErrorKind> {
            Ok(0)
        }
    }
    impl Write for Quiet {
        fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }
    impl Connection for Quiet {
        fn set_deadline(&mut self, _: Instant) {}
        fn close(self, _: CloseMode) -> Result<(), TransportError> {
            Ok(())
        }
    }
    let mut read = [0u8; READ_BUFFER_LEN];
    let mut write = [0u8; 2048];
    let endpoint = Endpoint {
        scheme: Scheme::Https,
        host: "localhost",
        port: 443,
        path: "/v1/metrics",
    };
    let mut tls: TlsConnector<'_, _, _> = TlsConnector::new(
        Connector,
        Counter(1),
        TlsOptions::new(&[]),
        &mut read,
        &mut write,
    );
    assert!(matches!(
        tls.connect(&endpoint, Instant(0)),
        Err(TransportError::Tls(TlsFailure::Truncated))
    ));
    assert_eq!(
        tls.last_failure(),
        Some(TransportError::Tls(TlsFailure::Truncated))
    );
}
