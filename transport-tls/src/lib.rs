//! TLS 1.3 for firmware: a [`Connect`] wrapper that runs `embedded-tls` over any other
//! stream-seam connection (the smoltcp transport, a modem socket, a test double), with no
//! heap and no `std`, verifying public-CA chains (ECDSA P-256; P-384 and RSA behind the
//! `p384` and `rsa` features) against one or more trust anchors.
//!
//! ```no_run
//! use otlp_embedded::time::Instant;
//! use otlp_embedded::transport::{Connect, Endpoint, Scheme};
//! use otlp_embedded_tls::{NoClock, TlsConnector, TlsOptions, TrustAnchors};
//!
//! /// A hosted collector behind a public CA: trust its RSA root and its ECDSA P-384 root
//! /// (with features `rsa` and `p384`), as DER. For a private CA, `TlsOptions::new(ca_der)`.
//! fn export<C: Connect, R: rand_core::RngCore + rand_core::CryptoRng>(
//!     tcp: C,
//!     rng: R,
//!     rsa_root_der: &[u8],
//!     ecdsa_root_der: &[u8],
//! ) {
//!     // The read buffer must hold a whole 16 KiB record: servers do not shrink them.
//!     let mut read_buffer = [0u8; otlp_embedded_tls::READ_BUFFER_LEN];
//!     let mut write_buffer = [0u8; 2048];
//!     let roots = [rsa_root_der, ecdsa_root_der];
//!     let options = TlsOptions::with_trust_anchors(TrustAnchors::Many(&roots));
//!     let mut tls: TlsConnector<'_, C, R, NoClock> =
//!         TlsConnector::new(tcp, rng, options, &mut read_buffer, &mut write_buffer);
//!     let endpoint = Endpoint { scheme: Scheme::Https, host: "collector.example", port: 443, path: "/v1/metrics" };
//!     // Hand `tls` to core's HTTP client; or open a connection by hand:
//!     let _ = tls.connect(&endpoint, Instant(10_000));
//! }
//! ```
//!
//! # What is verified
//!
//! The server's chain is checked by this crate's own verifier ([`verify_chain`] runs the
//! same checks outside a handshake), in place in the read buffer, without a heap:
//!
//! - It leads from the leaf to one of the **trust anchors** in [`TlsOptions`] (DER CA
//!   certificates: [`TlsOptions::new`] for one, [`TlsOptions::with_trust_anchors`] with
//!   [`TrustAnchors::Many`] for several), through at most [`MAX_CHAIN_CERTIFICATES`] (4)
//!   certificates as sent (the root may be among them, the order may be wrong). Every
//!   link's signature is checked, and every issuer on the path must be a CA
//!   (basicConstraints `cA`, path length respected, keyUsage `keyCertSign` when present).
//! - Signature algorithms, on certificates and on the handshake (CertificateVerify):
//!
//!   | Algorithm | Certificates | Handshake | Feature |
//!   |---|---|---|---|
//!   | ECDSA P-256 | with SHA-256 or SHA-384 | `ecdsa_secp256r1_sha256` | always |
//!   | ECDSA P-384 | with SHA-256 or SHA-384 | `ecdsa_secp384r1_sha384` | `p384` |
//!   | RSA 2048 to 4096 bits | PKCS#1 v1.5, SHA-256/384/512 | `rsa_pss_rsae_sha256/384/512` | `rsa` |
//!
//!   A chain or handshake signature that needs an algorithm this build lacks fails as
//!   [`TlsFailure::NoCommonParameters`], never as a bad signature. The P-384 and RSA
//!   verifiers are this crate's own, a few kilobytes of code each on a Cortex-M4F
//!   (docs/TLS.md has the figures); like every verifier they handle public values only,
//!   so they are variable-time. A P-384 key must be an uncompressed point.
//! - The leaf's names (subject alternative DNS names, or the common name when there are
//!   none) match the endpoint's host name, wildcards by RFC 6125; its extendedKeyUsage, if
//!   present, allows TLS server authentication.
//! - A certificate with a critical extension this crate does not understand (name
//!   constraints, policy constraints) is refused, as RFC 5280 requires.
//! - Validity dates of every certificate on the path, **only when a real [`TlsClock`] is
//!   supplied**. With [`NoClock`] (the default for boards without wall time) an expired or
//!   not-yet-valid certificate is accepted: the device has no idea what day it is.
//!
//! # What is not verified
//!
//! - Revocation (no CRL, no OCSP).
//! - IP address subject alternative names: connect by DNS name, or keep the address
//!   endpoint and set [`TlsOptions::with_server_name`].
//! - Certificates signed with RSASSA-PSS (the `id-RSASSA-PSS` algorithm identifier),
//!   Ed25519, P-521 or SHA-1, and RSA keys under 2048 or over 4096 bits: refused as
//!   [`TlsFailure::NoCommonParameters`].
//! - The ClientHello always offers ECDSA P-384 and Ed25519 signature schemes:
//!   `embedded-tls` 0.19 puts them in every ClientHello and has no way to take them out.
//!   RSA schemes are offered only with the `rsa` feature. A server that picks P-384 or
//!   Ed25519 when this build cannot verify them fails as
//!   [`TlsFailure::NoCommonParameters`].
//!
//! # Wire facts and memory
//!
//! TLS 1.3 only, cipher suite `TLS_AES_128_GCM_SHA256`, key exchange P-256. The read record
//! buffer must hold a full record ([`READ_BUFFER_LEN`], 16 KiB plus overhead), because
//! servers such as rustls ignore the maximum fragment length extension. The write buffer
//! can be small (each flush sends one record of at most its size minus
//! [`TLS_RECORD_OVERHEAD`]), but the larger of the two must hold the ClientHello and, with
//! mutual TLS, the client certificate.
//!
//! # Failures
//!
//! Certificate failures are reported distinctly through [`Connection::classify`]:
//! [`TlsFailure::UnknownIssuer`], [`TlsFailure::HostNameMismatch`], [`TlsFailure::Expired`],
//! [`TlsFailure::ChainTooLong`], [`TlsFailure::BadCertificate`] (does not decode),
//! [`TlsFailure::BadSignature`] (the handshake signature), [`TlsFailure::InvalidTrustAnchor`]
//! (an anchor given in [`TlsOptions`] does not decode). A server that will not speak TLS
//! 1.3 (`protocol_version` alert) is [`TlsFailure::ProtocolVersion`]; one that shares no
//! cipher suite, group or signature scheme (`handshake_failure`, `insufficient_security`)
//! is [`TlsFailure::NoCommonParameters`]. All of these are permanent: the exporter does not
//! retry them. Any other fatal alert from the server during the handshake is
//! [`TlsFailure::Alert`] with its code (retried), and `certificate_required` (116) is
//! [`TlsFailure::ClientCertificateRequired`].
//! In TLS 1.3 a server that rejects the client's (missing) certificate sends its alert
//! *after* the client considers the handshake done, on the first read. `embedded-tls` 0.19
//! drops the code of such post-handshake alerts; this crate sees that the server asked for
//! a certificate and that none was configured, and reports
//! [`TlsFailure::ClientCertificateRequired`]; any other post-handshake alert is
//! [`TlsFailure::Other`]. The last failure is kept in [`TlsConnector::last_failure`].
//!
//! A close_notify from the server reads as end of stream (`Ok(0)`); the TCP stream ending
//! without one is [`TlsFailure::Truncated`], so a cut-off response is never taken as
//! complete. `close(Graceful)` sends the client's close_notify, except once the server's
//! has arrived: `embedded-tls` 0.19 would then send it unencrypted, so the connection is
//! closed without it (the HTTP exchange is complete by then).
//!
//! # Limits of `embedded-tls` 0.19 to know about
//!
//! - A post-handshake KeyUpdate is not implemented: the read fails with
//!   [`TlsFailure::Other`] (tested against a rustls server that sends one), and the export
//!   is kept and retried. Any other post-handshake handshake message but NewSessionTicket
//!   (a second Certificate, Finished or the like, which no TLS 1.3 server sends) reaches a
//!   not-yet-implemented branch in the library that panics; only an authenticated server
//!   (one holding a certificate the device trusts) can send one.
//! - The server's Certificate message must arrive in one TLS record (the library decodes
//!   each handshake message from one record), so the chain must fit [`READ_BUFFER_LEN`]:
//!   about 16 KiB, where public chains of two to four certificates take 2 to 6 KiB.
//! - No session resumption: every connection is a full handshake (one ECDH and two or more
//!   signature verifications).
#![no_std]
#![forbid(unsafe_code)]
// docs.rs (nightly, `--cfg docsrs`) marks each feature-gated item with its feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod chain;
mod der;
#[cfg(feature = "p384")]
mod ecdsa;
mod handshake;
mod keys;
#[cfg(any(feature = "rsa", feature = "p384"))]
mod montgomery;
#[cfg(feature = "rsa")]
mod rsa;
#[cfg(test)]
mod wycheproof;
mod x509;

use core::cell::Cell;
use core::marker::PhantomData;

use embedded_io::{ErrorKind, ErrorType, Read, Write};
use embedded_tls::blocking::{Aes128GcmSha256, TlsConnection, TlsContext, TlsError};
use otlp_embedded::time::Instant;
use otlp_embedded::transport::{
    CloseMode, Connect, Connection, Endpoint, Scheme, TlsFailure, TransportError,
};
use rand_core::{CryptoRng, RngCore};

use handshake::{client_config, Provider, Verifier};

pub use chain::{verify_chain, TrustAnchors, MAX_CHAIN_CERTIFICATES};
pub use embedded_tls::blocking::{NoClock, TlsClock, TLS_RECORD_OVERHEAD};
pub use p256::ecdsa::SigningKey;

/// The read record buffer length that holds any record a server may send: 2^14 bytes of
/// plaintext plus 256 bytes of TLS 1.3 expansion plus the 5-byte header.
pub const READ_BUFFER_LEN: usize = 16384 + 256 + 5;

/// The cipher suite this crate offers: AES-128-GCM with SHA-256, which every TLS 1.3 server
/// must support.
type Suite = Aes128GcmSha256;

/// A client certificate (DER) and its P-256 private key, for mutual TLS.
#[derive(Clone, Debug)]
pub struct ClientIdentity<'a> {
    /// The client certificate, DER encoded.
    pub certificate_der: &'a [u8],
    /// Its private key. Build it with `SigningKey::from_slice` (the 32-byte scalar) or,
    /// with p256's `pkcs8` feature, `SigningKey::from_pkcs8_der`.
    pub key: SigningKey,
}

/// What the TLS connector trusts and presents.
#[derive(Clone, Debug)]
pub struct TlsOptions<'a> {
    /// The trusted CA certificates, DER encoded.
    pub trust_anchors: TrustAnchors<'a>,
    /// A client certificate for servers that require one.
    pub identity: Option<ClientIdentity<'a>>,
    /// Name to verify instead of the endpoint's host (for an endpoint given by address).
    pub server_name: Option<&'a str>,
}

impl<'a> TlsOptions<'a> {
    /// Trust the one CA certificate `ca_der`, present no client certificate, verify the
    /// endpoint's host name.
    pub fn new(ca_der: &'a [u8]) -> Self {
        Self::with_trust_anchors(TrustAnchors::One(ca_der))
    }

    /// Trust each of `anchors` (DER CA certificates, for example a public root and its
    /// successor, or a private CA beside them).
    pub fn with_trust_anchors(anchors: TrustAnchors<'a>) -> Self {
        TlsOptions {
            trust_anchors: anchors,
            identity: None,
            server_name: None,
        }
    }

    /// Present `identity` when the server asks for a client certificate.
    pub fn with_identity(mut self, identity: ClientIdentity<'a>) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Verify the certificate against `name` instead of the endpoint's host.
    pub fn with_server_name(mut self, name: &'a str) -> Self {
        self.server_name = Some(name);
        self
    }
}

/// An error from a TLS connection: the transport failure it amounts to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Error(pub TransportError);

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

impl core::error::Error for Error {}

impl embedded_io::Error for Error {
    fn kind(&self) -> ErrorKind {
        match self.0 {
            TransportError::Io(kind) => kind,
            TransportError::Tls(TlsFailure::Truncated) => ErrorKind::ConnectionReset,
            TransportError::ConnectTimeout => ErrorKind::TimedOut,
            _ => ErrorKind::Other,
        }
    }
}

/// State shared between the connector, the stream beneath the TLS library and the
/// connection: the library owns the stream, so deadlines and observations pass through
/// cells rather than through it.
#[derive(Default)]
struct Shared {
    /// A deadline not yet handed to the stream beneath.
    deadline: Cell<Option<Instant>>,
    /// The stream beneath returned end of stream.
    eof: Cell<bool>,
    /// How the stream beneath classified its last error.
    inner_error: Cell<Option<TransportError>>,
    /// Writes are dropped (an aborted connection must not send close_notify).
    discard_writes: Cell<bool>,
    /// A graceful close is under way: flushes beneath are skipped, because the close
    /// beneath waits for every written byte anyway, FIN included.
    closing: Cell<bool>,
    /// The server sent a CertificateRequest.
    certificate_requested: Cell<bool>,
    /// A certificate failure the verifier worked out.
    verify_failure: Cell<Option<TlsFailure>>,
    /// The last failure any connection reported.
    last_failure: Cell<Option<TransportError>>,
}

impl Shared {
    fn reset(&self) {
        self.deadline.set(None);
        self.eof.set(false);
        self.inner_error.set(None);
        self.discard_writes.set(false);
        self.closing.set(false);
        self.certificate_requested.set(false);
        self.verify_failure.set(None);
    }

    /// What a library error amounts to, given what the cells saw.
    fn map(&self, error: TlsError, have_identity: bool) -> TransportError {
        let mapped = match error {
            TlsError::Io(kind) => self.inner_error.get().unwrap_or(TransportError::Io(kind)),
            // The library says IoError when the stream beneath ended mid-record.
            TlsError::IoError if self.eof.get() => TransportError::Tls(TlsFailure::Truncated),
            TlsError::HandshakeAborted(_, description) => alert_failure(description as u8),
            // The ServerHello named a cipher suite the client did not offer, or carried no
            // key share for the one group the client offers (P-256).
            TlsError::InvalidCipherSuite | TlsError::InvalidKeyShare => {
                TransportError::Tls(TlsFailure::NoCommonParameters)
            }
            // A CertificateVerify with a signature scheme the library does not even name.
            TlsError::InvalidSignatureScheme => TransportError::Tls(
                self.verify_failure
                    .get()
                    .unwrap_or(TlsFailure::NoCommonParameters),
            ),
            // Post-handshake alerts arrive as InternalError without their code.
            TlsError::InternalError if self.certificate_requested.get() && !have_identity => {
                TransportError::Tls(TlsFailure::ClientCertificateRequired)
            }
            TlsError::InvalidCertificate | TlsError::InvalidSignature | TlsError::DecodeError => {
                TransportError::Tls(self.verify_failure.get().unwrap_or(TlsFailure::Other))
            }
            _ => TransportError::Tls(self.verify_failure.get().unwrap_or(TlsFailure::Other)),
        };
        self.last_failure.set(Some(mapped));
        mapped
    }
}

/// What a fatal alert from the server says. `protocol_version` and the two "nothing in
/// common" alerts get their own permanent failures: the next attempt would be refused the
/// same way. `illegal_parameter` (47) stays a plain alert: servers send it for many faults
/// in a message, not only for missing common ground.
fn alert_failure(code: u8) -> TransportError {
    TransportError::Tls(match code {
        116 => TlsFailure::ClientCertificateRequired,
        70 => TlsFailure::ProtocolVersion,
        40 | 71 => TlsFailure::NoCommonParameters,
        code => TlsFailure::Alert(code),
    })
}

/// The stream beneath, as the TLS library sees it: deadlines are applied and end of
/// stream and errors are noted on the way through.
pub struct Beneath<'s, S> {
    inner: S,
    shared: &'s Shared,
}

impl<S: Connection> Beneath<'_, S> {
    fn apply_deadline(&mut self) {
        if let Some(deadline) = self.shared.deadline.take() {
            self.inner.set_deadline(deadline);
        }
    }

    fn note<T>(&self, result: Result<T, S::Error>) -> Result<T, S::Error> {
        if let Err(e) = &result {
            self.shared.inner_error.set(Some(self.inner.classify(e)));
        }
        result
    }
}

impl<S: Connection> ErrorType for Beneath<'_, S> {
    type Error = S::Error;
}

impl<S: Connection> Read for Beneath<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, S::Error> {
        self.apply_deadline();
        let result = self.inner.read(buf);
        if let Ok(0) = result {
            if !buf.is_empty() {
                self.shared.eof.set(true);
            }
        }
        self.note(result)
    }
}

impl<S: Connection> Write for Beneath<'_, S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, S::Error> {
        if self.shared.discard_writes.get() {
            return Ok(buf.len());
        }
        self.apply_deadline();
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn flush(&mut self) -> Result<(), S::Error> {
        if self.shared.discard_writes.get() || self.shared.closing.get() {
            return Ok(());
        }
        self.apply_deadline();
        let result = self.inner.flush();
        self.note(result)
    }
}

/// Opens TLS 1.3 connections over the connections of `C`.
///
/// `R` supplies the handshake's randomness (a hardware RNG or a seeded CSPRNG). `K` is the
/// wall clock for certificate validity: [`NoClock`] skips the date check (see the crate
/// docs); a type implementing [`TlsClock`] that returns unix seconds enables it.
pub struct TlsConnector<'b, C, R, K = NoClock> {
    inner: C,
    rng: R,
    options: TlsOptions<'b>,
    read_buffer: &'b mut [u8],
    write_buffer: &'b mut [u8],
    shared: Shared,
    clock: PhantomData<K>,
}

impl<'b, C, R, K> TlsConnector<'b, C, R, K>
where
    C: Connect,
    R: RngCore + CryptoRng,
    K: TlsClock,
{
    /// A connector over `inner`, with the caller's record buffers. `read_buffer` should be
    /// [`READ_BUFFER_LEN`] bytes; `write_buffer` at least 1 KiB (more with mutual TLS).
    pub fn new(
        inner: C,
        rng: R,
        options: TlsOptions<'b>,
        read_buffer: &'b mut [u8],
        write_buffer: &'b mut [u8],
    ) -> Self {
        TlsConnector {
            inner,
            rng,
            options,
            read_buffer,
            write_buffer,
            shared: Shared::default(),
            clock: PhantomData,
        }
    }

    /// The last failure a connection of this connector reported, kept for diagnostics.
    pub fn last_failure(&self) -> Option<TransportError> {
        self.shared.last_failure.get()
    }

    /// The connector beneath.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }
}

impl<'b, C, R, K> Connect for TlsConnector<'b, C, R, K>
where
    C: Connect,
    R: RngCore + CryptoRng,
    K: TlsClock,
{
    type Connection<'c>
        = TlsStream<'c, C::Connection<'c>>
    where
        Self: 'c;

    fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: Instant,
    ) -> Result<Self::Connection<'_>, TransportError> {
        if endpoint.scheme != Scheme::Https {
            return Err(TransportError::UnsupportedScheme);
        }
        self.shared.reset();
        // The connector beneath opens plain TCP: `https` is this layer's business, and
        // plain-stream connectors (smoltcp, std TCP) refuse an `https` endpoint.
        let plain = Endpoint {
            scheme: Scheme::Http,
            ..*endpoint
        };
        let mut stream = self.inner.connect(&plain, deadline)?;
        stream.set_deadline(deadline);
        let have_identity = self.options.identity.is_some();
        let server_name = self.options.server_name.unwrap_or(endpoint.host);
        let mut tls = TlsConnection::new(
            Beneath {
                inner: stream,
                shared: &self.shared,
            },
            &mut *self.read_buffer,
            &mut *self.write_buffer,
        );
        let config = client_config(server_name);
        let provider = Provider::<R, K> {
            rng: &mut self.rng,
            verifier: Verifier {
                anchors: self.options.trust_anchors,
                host: server_name,
                shared: &self.shared,
                leaf: None,
                transcript: [0; 32],
                clock: PhantomData,
            },
            identity: self.options.identity.as_ref(),
            shared: &self.shared,
        };
        match tls.open(TlsContext::new(&config, provider)) {
            Ok(()) => Ok(TlsStream {
                tls: Some(tls),
                shared: &self.shared,
                have_identity,
                peer_closed: false,
                unflushed: false,
                failed: None,
            }),
            Err(error) => {
                let mapped = self.shared.map(error, have_identity);
                // Take the stream back without sending anything, and abort it.
                self.shared.discard_writes.set(true);
                let beneath = match tls.close() {
                    Ok(beneath) | Err((beneath, _)) => beneath,
                };
                let _ = beneath.inner.close(CloseMode::Abort);
                Err(mapped)
            }
        }
    }
}

/// An open TLS 1.3 connection over a connection of the stream beneath.
pub struct TlsStream<'c, S: Connection + 'c> {
    tls: Option<TlsConnection<'c, Beneath<'c, S>, Suite>>,
    shared: &'c Shared,
    have_identity: bool,
    peer_closed: bool,
    unflushed: bool,
    failed: Option<TransportError>,
}

impl<'c, S: Connection + 'c> TlsStream<'c, S> {
    fn fail(&mut self, error: TlsError) -> Error {
        let mapped = self.shared.map(error, self.have_identity);
        self.failed = Some(mapped);
        Error(mapped)
    }

    fn flush_records(&mut self) -> Result<(), Error> {
        if let Some(failed) = self.failed {
            return Err(Error(failed));
        }
        let Some(tls) = self.tls.as_mut() else {
            return Err(Error(TransportError::Tls(TlsFailure::Other)));
        };
        match tls.flush() {
            Ok(()) => {
                self.unflushed = false;
                Ok(())
            }
            Err(e) => {
                let error = self.explain_write_failure(e);
                Err(self.fail(error))
            }
        }
    }

    /// A server that refuses the handshake after the client's last flight (TLS 1.3 client
    /// authentication) sends an alert and closes, so the request write can fail before the
    /// alert is read. Read once to find it; otherwise keep the write error.
    fn explain_write_failure(&mut self, error: TlsError) -> TlsError {
        if !matches!(error, TlsError::Io(_)) {
            return error;
        }
        let Some(tls) = self.tls.as_mut() else {
            return error;
        };
        let mut scratch = [0u8; 16];
        match tls.read(&mut scratch) {
            Err(alert @ (TlsError::InternalError | TlsError::HandshakeAborted(..))) => alert,
            _ => error,
        }
    }
}

impl<'c, S: Connection + 'c> ErrorType for TlsStream<'c, S> {
    type Error = Error;
}

impl<'c, S: Connection + 'c> Read for TlsStream<'c, S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.peer_closed || buf.is_empty() {
            return Ok(0);
        }
        // A request still sitting in the record buffer would never get an answer.
        if self.unflushed {
            self.flush_records()?;
        }
        if let Some(failed) = self.failed {
            return Err(Error(failed));
        }
        let Some(tls) = self.tls.as_mut() else {
            return Err(Error(TransportError::Tls(TlsFailure::Other)));
        };
        match tls.read(buf) {
            Ok(n) => Ok(n),
            Err(TlsError::ConnectionClosed) => {
                self.peer_closed = true;
                Ok(0)
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}

impl<'c, S: Connection + 'c> Write for TlsStream<'c, S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        if let Some(failed) = self.failed {
            return Err(Error(failed));
        }
        let Some(tls) = self.tls.as_mut() else {
            return Err(Error(TransportError::Tls(TlsFailure::Other)));
        };
        match tls.write(buf) {
            Ok(n) => {
                self.unflushed = true;
                Ok(n)
            }
            Err(e) => {
                let error = self.explain_write_failure(e);
                Err(self.fail(error))
            }
        }
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.flush_records()
    }
}

impl<'c, S: Connection + 'c> Connection for TlsStream<'c, S> {
    fn set_deadline(&mut self, deadline: Instant) {
        self.shared.deadline.set(Some(deadline));
    }

    fn close(mut self, mode: CloseMode) -> Result<(), TransportError> {
        let Some(tls) = self.tls.take() else {
            return Err(TransportError::Tls(TlsFailure::Other));
        };
        // After a failure, or once the peer has closed (the library would then send its
        // close_notify in plaintext), and on abort: send nothing more.
        let quiet = mode == CloseMode::Abort || self.failed.is_some() || self.peer_closed;
        self.shared.discard_writes.set(quiet);
        // Do not wait for the close_notify to be acknowledged before closing beneath: it
        // then leaves with our FIN, which the server acknowledges at once. A server that
        // closes its socket on reading close_notify (Linux then holds the connection in
        // TIME-WAIT) may never send a delayed acknowledgement for it, and a flush that
        // waits for one waits for a retransmission (a second with smoltcp).
        self.shared.closing.set(true);
        let (beneath, tls_result) = match tls.close() {
            Ok(beneath) => (beneath, Ok(())),
            Err((beneath, e)) => {
                let mapped = self.shared.map(e, self.have_identity);
                (beneath, Err(mapped))
            }
        };
        let mode = if tls_result.is_err() {
            CloseMode::Abort
        } else {
            mode
        };
        let mut inner = beneath.inner;
        if let Some(deadline) = self.shared.deadline.take() {
            inner.set_deadline(deadline);
        }
        let closed = inner.close(mode);
        tls_result.and(closed)
    }

    fn classify(&self, error: &Error) -> TransportError {
        error.0
    }
}

// The README's example runs as a doctest, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod tests;
