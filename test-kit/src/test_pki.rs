//! A throwaway test PKI made at run time with rcgen (ECDSA P-256, which both the rustls
//! client and the no-heap firmware client accept): a CA, an unrelated CA, a server
//! certificate for `localhost` and `127.0.0.1`, an expired one for the same names, and a
//! client certificate for mutual TLS.
//!
//! ```
//! use otlp_embedded_test_kit::sink::{Sink, SinkOptions};
//! use otlp_embedded_test_kit::test_pki::TestPki;
//!
//! let pki = TestPki::generate();
//! let sink = Sink::start_with(SinkOptions {
//!     tls: Some(pki.sink_tls()),
//!     ..SinkOptions::default()
//! })
//! .unwrap();
//! assert!(sink.endpoint_url().starts_with("https://127.0.0.1:"));
//! // Clients trust `pki.ca.cert_pem` (or `pki.ca.cert_der`).
//! ```

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    PKCS_ECDSA_P256_SHA256,
};

use crate::sink::SinkTls;

/// Not-after of [`TestPki::server`] and [`TestPki::client`], in unix seconds
/// (2099-01-01T00:00:00Z).
pub const SERVER_NOT_AFTER_UNIX: u64 = 4_070_908_800;

/// Not-after of [`TestPki::expired`], in unix seconds (2020-01-01T00:00:00Z).
pub const EXPIRED_NOT_AFTER_UNIX: u64 = 1_577_836_800;

/// A certificate with its PKCS#8 private key, in DER and PEM.
#[derive(Clone, Debug)]
pub struct Identity {
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
    /// Certificate, PEM.
    pub cert_pem: String,
    /// PKCS#8 private key, DER.
    pub key_der: Vec<u8>,
    /// PKCS#8 private key, PEM.
    pub key_pem: String,
}

/// A test PKI: a trusted CA, an unrelated CA, and the certificates servers and clients use.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The CA that signed every certificate below.
    pub ca: Identity,
    /// A CA that signed nothing here: trusting only it must fail.
    pub other_ca: Identity,
    /// Server certificate for `localhost` and `127.0.0.1` (or the names given to
    /// [`TestPki::generate_for`]), valid 2020 to 2099.
    pub server: Identity,
    /// Server certificate for the same names, valid only from 2000 to 2020.
    pub expired: Identity,
    /// Server certificate for `collector.invalid` only (not `localhost`, not
    /// `127.0.0.1`), valid 2020 to 2099: a host-name mismatch for a client on loopback.
    pub wrong_name: Identity,
    /// Client certificate (extended key usage clientAuth), valid 2020 to 2099.
    pub client: Identity,
}

fn identity(cert: &rcgen::Certificate, key: &KeyPair) -> Identity {
    Identity {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_der: key.serialize_der(),
        key_pem: key.serialize_pem(),
    }
}

// rcgen fails only on invalid parameters, which are fixed here: a failure is a bug in this
// module, so it panics (this is test tooling).
fn make_ca(name: &str) -> (CertificateParams, KeyPair, Identity) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).expect("self-signed CA");
    let id = identity(&cert, &key);
    (params, key, id)
}

fn make_leaf(
    issuer: &Issuer<'_, &KeyPair>,
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    years: (i32, i32),
) -> Identity {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    // rcgen makes "127.0.0.1" an IP address name and "localhost" a DNS name.
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("leaf params");
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().copied().unwrap_or("client"),
    );
    params.extended_key_usages = vec![purpose];
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let cert = params.signed_by(&key, issuer).expect("signed leaf");
    identity(&cert, &key)
}

impl TestPki {
    /// Generate a fresh PKI (a few milliseconds).
    ///
    /// # Panics
    ///
    /// Only if rcgen refuses this module's fixed parameters (a bug here).
    pub fn generate() -> Self {
        Self::generate_for(&["localhost", "127.0.0.1"])
    }

    /// Like [`TestPki::generate`], but [`TestPki::server`] and [`TestPki::expired`] are
    /// for `names` instead of `localhost` and `127.0.0.1`: a sink on another address (a
    /// network namespace's) with a DNS name a client can check. A name that parses as an
    /// IP address becomes an IP address name, any other a DNS name.
    ///
    /// # Panics
    ///
    /// If rcgen refuses a name (not a valid DNS name or IP address).
    pub fn generate_for(names: &[&str]) -> Self {
        let (ca_params, ca_key, ca) = make_ca("otlp-embedded test CA");
        let (_, _, other_ca) = make_ca("otlp-embedded unrelated CA");
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        TestPki {
            server: make_leaf(
                &issuer,
                names,
                ExtendedKeyUsagePurpose::ServerAuth,
                (2020, 2099),
            ),
            expired: make_leaf(
                &issuer,
                names,
                ExtendedKeyUsagePurpose::ServerAuth,
                (2000, 2020),
            ),
            wrong_name: make_leaf(
                &issuer,
                &["collector.invalid"],
                ExtendedKeyUsagePurpose::ServerAuth,
                (2020, 2099),
            ),
            client: make_leaf(
                &issuer,
                &["otlp-client"],
                ExtendedKeyUsagePurpose::ClientAuth,
                (2020, 2099),
            ),
            ca,
            other_ca,
        }
    }

    /// The sink presents [`TestPki::server`].
    pub fn sink_tls(&self) -> SinkTls {
        SinkTls::from_der(
            vec![self.server.cert_der.clone()],
            self.server.key_der.clone(),
        )
    }

    /// The sink presents [`TestPki::expired`].
    pub fn sink_tls_expired(&self) -> SinkTls {
        SinkTls::from_der(
            vec![self.expired.cert_der.clone()],
            self.expired.key_der.clone(),
        )
    }

    /// The sink presents [`TestPki::wrong_name`].
    pub fn sink_tls_wrong_name(&self) -> SinkTls {
        SinkTls::from_der(
            vec![self.wrong_name.cert_der.clone()],
            self.wrong_name.key_der.clone(),
        )
    }

    /// The sink presents [`TestPki::server`] and requires a client certificate from
    /// [`TestPki::ca`].
    pub fn sink_tls_mutual(&self) -> SinkTls {
        self.sink_tls()
            .require_client_cert(self.ca.cert_der.clone())
    }
}
