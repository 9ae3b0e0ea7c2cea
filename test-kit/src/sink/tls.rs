//! The sink's TLS mode (feature `tls`): its identity ([`SinkTls`]), the rustls handshake
//! of each connection, and the counters kept about it ([`TlsStats`]).

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use super::connection::is_timeout;
use super::Shared;

/// One connection's TLS session over its TCP stream.
pub(super) struct TlsStream {
    pub(super) stream: rustls::StreamOwned<rustls::ServerConnection, TcpStream>,
    /// The client's close_notify was read (counted once).
    pub(super) close_notify_seen: bool,
    /// Where the close_notify counters go.
    pub(super) shared: Arc<Shared>,
}

/// The server side of the handshake on `tcp`, bounded by the request timeout. `None` when
/// it failed (counted, with rustls's reason) or the sink is stopping.
pub(super) fn tls_handshake(
    mut tcp: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    shared: &Arc<Shared>,
) -> Option<TlsStream> {
    let fail = |reason: String| {
        let mut st = shared.lock();
        st.tls.handshake_failures += 1;
        st.tls.handshake_errors.push(reason);
        drop(st);
        shared.changed.notify_all();
        None
    };
    let mut conn = match rustls::ServerConnection::new(Arc::clone(config)) {
        Ok(conn) => conn,
        Err(e) => return fail(e.to_string()),
    };
    let started = Instant::now();
    // complete_io returns the reads that time out every POLL; bounded by the request
    // timeout and shutdown. On a handshake error rustls has already sent its alert.
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {
                if shared.stopping() {
                    return None;
                }
                if started.elapsed() >= shared.options.request_timeout {
                    return fail("handshake timed out".into());
                }
            }
            Err(e) => return fail(e.to_string()),
        }
    }
    shared.lock().tls.handshakes += 1;
    shared.changed.notify_all();
    Some(TlsStream {
        stream: rustls::StreamOwned::new(conn, tcp),
        close_notify_seen: false,
        shared: Arc::clone(shared),
    })
}

/// TLS counters of a sink in TLS mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes that failed (the connection was then closed).
    pub handshake_failures: u64,
    /// Why each failed handshake failed, as rustls says it (such as `received fatal alert:
    /// UnknownCA` or `peer sent no certificates`), in order.
    pub handshake_errors: Vec<String>,
    /// Connections on which the client's close_notify arrived.
    pub close_notify_received: u64,
    /// Connections the sink closed with its own close_notify.
    pub close_notify_sent: u64,
}

/// The sink's TLS identity (feature `tls`): certificate chain and private key, and
/// the CA certificates that client certificates must chain to, if any are required.
#[derive(Clone)]
pub struct SinkTls {
    /// Certificate chain, leaf first, DER.
    pub cert_chain_der: Vec<Vec<u8>>,
    /// Private key of the leaf, DER (PKCS#8, SEC1 or PKCS#1).
    pub key_der: Vec<u8>,
    /// When not empty, clients must present a certificate issued by one of these (DER):
    /// mutual TLS.
    pub client_ca_der: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SinkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkTls")
            .field("certificates", &self.cert_chain_der.len())
            .field("key", &"<hidden>")
            .field("client_cas", &self.client_ca_der.len())
            .finish()
    }
}

impl SinkTls {
    /// A server identity from DER certificate chain (leaf first) and DER private key.
    pub fn from_der(cert_chain_der: Vec<Vec<u8>>, key_der: Vec<u8>) -> SinkTls {
        SinkTls {
            cert_chain_der,
            key_der,
            client_ca_der: Vec::new(),
        }
    }

    /// A server identity from PEM text: every certificate in `chain_pem` (leaf first) and
    /// the first private key in `key_pem`.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> io::Result<SinkTls> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("certificate PEM does not parse"))?;
        if chain.is_empty() {
            return Err(invalid("no certificate in the PEM text"));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| invalid("no private key in the PEM text"))?;
        Ok(SinkTls::from_der(chain, key.secret_der().to_vec()))
    }

    /// Require client certificates issued by `ca_der` (DER); may be called again to trust
    /// several CAs.
    pub fn require_client_cert(mut self, ca_der: Vec<u8>) -> SinkTls {
        self.client_ca_der.push(ca_der);
        self
    }

    /// The rustls server configuration (ring provider, TLS 1.2 and 1.3).
    pub fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?;
        let builder = if self.client_ca_der.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for ca in &self.client_ca_der {
                roots
                    .add(CertificateDer::from(ca.clone()))
                    .map_err(|e| invalid(format!("client CA refused: {e}")))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| invalid(format!("client verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        };
        let chain = self
            .cert_chain_der
            .iter()
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        let key = PrivateKeyDer::try_from(self.key_der.clone())
            .map_err(|e| invalid(format!("private key: {e}")))?;
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid(format!("certificate and key refused: {e}")))?;
        Ok(Arc::new(config))
    }
}
