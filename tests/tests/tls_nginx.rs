//! Public-CA-shaped certificate chains served by a real TLS server: nginx (OpenSSL, from
//! the Debian packages) on 127.0.0.1 terminating TLS in front of the OTLP sink, for both
//! clients — rustls (otlp-embedded-std, feature `tls`) and the no-heap firmware client
//! (otlp-embedded-tls with features `p384` and `rsa`).
//!
//! The PKI is made at run time with the openssl command line (RSA-4096 key generation is
//! slow in a debug build of a Rust library; OpenSSL's is not): RSA-4096 root -> RSA-2048
//! intermediate -> P-256 or RSA-2048 leaf, and P-384 root -> P-384 intermediate -> P-256
//! or P-384 leaf, plus an expired leaf and a five-certificate chain (the test kit's
//! `openssl_pki`). Key material lives only in memory and in per-test temporary directories
//! that the tests remove.
//!
//! Each nginx (the test kit's `nginx`) runs in the foreground as one process
//! (`master_process off`), with its own configuration, pid file, error log and temporary
//! paths in a temporary directory; the test starts it, waits for its port and kills it by
//! PID.
//!
//! Every delivery is decoded by the sink and compared exactly; every refusal is the exact
//! error the exporter reports, after exactly one connection attempt, with nothing
//! delivered. A certificate that does not decode cannot be loaded into nginx (OpenSSL
//! parses it), so that case is served by the sink's own rustls server.
//!
//! Without nginx or openssl the tests print one `SKIP:` line each and pass, unless
//! `OTLP_REQUIRE_NGINX=1`, which makes their absence a failure (CI sets it).

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use otlp_embedded::export::{
    ExportError, ExportErrorKind, ExportOutcome, ExportReport, Exporter, ExporterConfig,
    RetryPolicy,
};
use otlp_embedded::http::HttpClient;
use otlp_embedded::proto::{AttributeValue, KeyValue, RequestHeader, Resource, Scope, Temporality};
use otlp_embedded::registry::{InstrumentDesc, Registry, Snapshot};
use otlp_embedded::transport::{
    Connect, Endpoint, ExchangeError, Scheme, TlsFailure, TransportError,
};
use otlp_embedded_std::{StdClock, TcpConnector};
use otlp_embedded_test_kit::nginx::{Nginx, Serve};
use otlp_embedded_test_kit::openssl_pki::{Cert, Issued, OpensslPki, PublicChains};
use otlp_embedded_test_kit::process::{go_on_or_skip, require_programs, TempDir};
use otlp_embedded_test_kit::sink::{Sink, SinkOptions, SinkTls};
use rustls::pki_types::pem::PemObject;

type Reg = Registry<4, 32, 34, 8, 256>;
type Snap = Snapshot<4, 32, 34, 8, 256>;

/// The name every leaf is issued for (and 127.0.0.1, for rustls, which matches IP names).
const HOST: &str = "collector.test";
const POINTS: usize = 3;

// ---------------------------------------------------------------------------------------
// Prerequisites

/// Whether nginx and openssl are there; without them, one SKIP line, or a failure when
/// `OTLP_REQUIRE_NGINX=1`.
fn prerequisites(test: &str) -> bool {
    go_on_or_skip(
        &format!("nginx TLS test ({test})"),
        require_programs(&[("nginx", "nginx-light"), ("openssl", "openssl")]),
        &["OTLP_REQUIRE_NGINX"],
    )
}

// ---------------------------------------------------------------------------------------
// The PKI, made once per test binary with the openssl command line

struct Pki {
    rsa_root: Issued,
    rsa_int: Issued,
    ec_root: Issued,
    ec_int: Issued,
    /// P-256 leaf under the RSA intermediate (certificate signature RSA PKCS#1 v1.5).
    p256_under_rsa: Issued,
    /// RSA-2048 leaf under the RSA intermediate (handshake signature RSA-PSS).
    rsa_leaf: Issued,
    /// P-256 leaf under the P-384 intermediate (ecdsa-with-SHA384).
    p256_under_ec: Issued,
    /// P-384 leaf under the P-384 intermediate (handshake ecdsa_secp384r1_sha384).
    p384_leaf: Issued,
    /// P-256 leaf under the RSA intermediate, valid in 2020 only.
    expired: Issued,
    /// Three more P-256 intermediates below the P-384 one, and a leaf below them.
    deep_ints: Vec<Issued>,
    deep_leaf: Issued,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        // The maker's directory (keys included) goes when it does, at the end of this.
        let maker = OpensslPki::new(&[HOST, "127.0.0.1"]);
        let PublicChains {
            rsa_root,
            rsa_intermediate: rsa_int,
            rsa_chain_leaf: p256_under_rsa,
            ec_root,
            ec_intermediate: ec_int,
            ec_chain_leaf: p256_under_ec,
        } = PublicChains::issue(&maker);
        let rsa_leaf = maker.leaf("leaf-b", "rsa:2048", &rsa_int, "sha256");
        let p384_leaf = maker.leaf("leaf-d", "ec:P-384", &ec_int, "sha384");
        let expired = maker.expired_leaf("leaf-old", &rsa_int);
        let mut deep_ints: Vec<Issued> = Vec::new();
        for i in 1..=3 {
            let parent = deep_ints.last().unwrap_or(&ec_int);
            let int = maker.intermediate(&format!("deep-int-{i}"), "ec:P-256", parent, "sha256");
            deep_ints.push(int);
        }
        let deep_leaf = maker.leaf("deep-leaf", "ec:P-256", &deep_ints[2], "sha256");
        Pki {
            rsa_root,
            rsa_int,
            ec_root,
            ec_int,
            p256_under_rsa,
            rsa_leaf,
            p256_under_ec,
            p384_leaf,
            expired,
            deep_ints,
            deep_leaf,
        }
    })
}

// ---------------------------------------------------------------------------------------
// Exports

const RESOURCE: [KeyValue<'static>; 1] = [KeyValue::new(
    "service.name",
    AttributeValue::Str("tls-nginx-test"),
)];

fn header() -> RequestHeader<'static> {
    RequestHeader::new(
        Resource::new(&RESOURCE),
        Scope::new("tls-nginx").with_version("1"),
    )
}

/// `client`'s route=a: 3 + 4, route=b: 5 (delta counter) and a gauge at -12.
fn recorded(client: &'static str) -> Reg {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut registry = Reg::new(nanos);
    let requests = registry
        .declare(
            InstrumentDesc::counter_u64("tls.nginx.requests")
                .attributes(&["client", "route"])
                .temporality(Temporality::Delta),
        )
        .expect("declare counter");
    let a = [
        KeyValue::new("client", AttributeValue::Str(client)),
        KeyValue::new("route", AttributeValue::Str("a")),
    ];
    let b = [
        KeyValue::new("client", AttributeValue::Str(client)),
        KeyValue::new("route", AttributeValue::Str("b")),
    ];
    registry.record(requests, 3u64, &a).expect("record");
    registry.record(requests, 4u64, &a).expect("record");
    registry.record(requests, 5u64, &b).expect("record");
    let gauge = registry
        .declare(InstrumentDesc::gauge_i64("tls.nginx.temperature").attributes(&["client"]))
        .expect("declare gauge");
    let c = [KeyValue::new("client", AttributeValue::Str(client))];
    registry.record(gauge, -12i64, &c).expect("record");
    registry
}

/// The sink acknowledged exactly what [`recorded`] holds for `client`, once.
fn assert_totals(sink: &Sink, client: &str) {
    let a = sink
        .total("tls.nginx.requests", &[("client", client), ("route", "a")])
        .expect("route a");
    assert_eq!((a.points, a.value_sum), (1, 7.0), "{client}");
    let b = sink
        .total("tls.nginx.requests", &[("client", client), ("route", "b")])
        .expect("route b");
    assert_eq!((b.points, b.value_sum), (1, 5.0), "{client}");
    let g = sink
        .total("tls.nginx.temperature", &[("client", client)])
        .expect("temperature");
    assert_eq!((g.points, g.last_value), (1, -12.0), "{client}");
}

/// A connector that counts the connections it opens.
struct Counting<C> {
    inner: C,
    opened: Arc<AtomicUsize>,
}

impl<C: Connect> Connect for Counting<C> {
    type Connection<'c>
        = C::Connection<'c>
    where
        Self: 'c;

    fn connect(
        &mut self,
        endpoint: &Endpoint<'_>,
        deadline: otlp_embedded::time::Instant,
    ) -> Result<Self::Connection<'_>, TransportError> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        self.inner.connect(endpoint, deadline)
    }
}

fn counting_tcp() -> (Counting<TcpConnector>, Arc<AtomicUsize>) {
    let opened = Arc::new(AtomicUsize::new(0));
    (
        Counting {
            inner: TcpConnector::new(StdClock::new()),
            opened: Arc::clone(&opened),
        },
        opened,
    )
}

/// One export of `registry` through `connector` to `https://host:port/v1/metrics`, short
/// retry delays, a 15 s export deadline.
fn export<C: Connect>(connector: C, host: &str, port: u16, registry: &mut Reg) -> ExportReport {
    export_then(connector, host, port, registry, |_| ()).0
}

/// As [`export`], then `after` looks at the connector.
fn export_then<C: Connect, T>(
    connector: C,
    host: &str,
    port: u16,
    registry: &mut Reg,
    after: impl FnOnce(&C) -> T,
) -> (ExportReport, T) {
    let clock = StdClock::new();
    let endpoint = Endpoint {
        scheme: Scheme::Https,
        host,
        port,
        path: "/v1/metrics",
    };
    let mut config = ExporterConfig::new(endpoint, header());
    config.export_timeout_ms = 15_000;
    config.request_timeout_ms = 5_000;
    config.retry = RetryPolicy::new()
        .with_initial_backoff_ms(20)
        .with_max_delay_ms(100)
        .with_max_attempts(0);
    let client: HttpClient<C, StdClock> = HttpClient::new(connector, clock);
    let mut exporter = Exporter::new(config, client);
    let mut snapshot = Box::new(Snap::new());
    let mut buffer = vec![0u8; 4096];
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let report = exporter.export(
        registry,
        &mut *snapshot,
        &mut buffer,
        &clock,
        nanos,
        otlp_embedded_std::Sleep,
    );
    let seen = after(exporter.exchange().connector());
    (report, seen)
}

fn assert_delivered(report: &ExportReport, opened: &AtomicUsize) {
    assert_eq!(report.outcome, ExportOutcome::Success, "{report:?}");
    assert_eq!(report.points_collected, POINTS);
    assert_eq!(report.points_sent, POINTS);
    assert_eq!((report.requests, report.requests_delivered), (1, 1));
    assert_eq!(report.retries, 0);
    assert_eq!(opened.load(Ordering::SeqCst), 1, "one connection");
}

/// Refused on the one and only attempt with `failure` at connect; nothing delivered.
fn assert_refused(sink: &Sink, report: &ExportReport, opened: &AtomicUsize, failure: TlsFailure) {
    let error = ExchangeError::Connect(TransportError::Tls(failure));
    let expected = Some(ExportError {
        request: 0,
        kind: ExportErrorKind::Exchange(error),
    });
    assert!(!error.is_transient(), "{error:?}");
    assert_eq!(report.outcome, ExportOutcome::Failed, "{report:?}");
    assert_eq!(report.first_error, expected, "{report:?}");
    assert_eq!(report.last_error, expected, "{report:?}");
    assert_eq!(report.retries, 0, "retried: {report:?}");
    assert_eq!(report.requests, 1);
    assert_eq!(report.points_sent, 0);
    assert_eq!(report.points_abandoned, POINTS);
    assert_eq!(opened.load(Ordering::SeqCst), 1, "attempts");
    assert_eq!(sink.stats().requests_received, 0, "something was delivered");
    assert!(sink.requests().is_empty());
}

mod rustls_client {
    use super::*;
    use otlp_embedded_std::tls::{TlsConnector, TlsOptions};

    /// A rustls connector trusting exactly `roots`, counting its connections.
    pub fn connector(roots: &[&Cert]) -> (TlsConnector<Counting<TcpConnector>>, Arc<AtomicUsize>) {
        let dir = TempDir::new("rustls-ca");
        let path = dir.path().join("ca.pem");
        let mut file = std::fs::File::create(&path).expect("ca file");
        for root in roots {
            file.write_all(root.pem.as_bytes()).expect("ca pem");
        }
        let options = TlsOptions {
            ca_certificate: Some(path),
            client_certificate: None,
            client_key: None,
        };
        let config = options.client_config().expect("client config");
        let (tcp, opened) = counting_tcp();
        (TlsConnector::new(tcp, config), opened)
    }

    /// Export as `client` over rustls to 127.0.0.1 (matched against the leaf's IP name).
    pub fn export_to(
        nginx_port: u16,
        host: &str,
        roots: &[&Cert],
        client: &'static str,
    ) -> (ExportReport, Arc<AtomicUsize>) {
        let (connector, opened) = connector(roots);
        let mut registry = recorded(client);
        (export(connector, host, nginx_port, &mut registry), opened)
    }
}

mod firmware_client {
    use super::*;
    use otlp_embedded_test_kit::tls_clock::WallClock;
    use otlp_embedded_tls::{TlsConnector, TlsOptions, TrustAnchors, READ_BUFFER_LEN};
    use rand_core::OsRng;

    /// Export as `client` through the firmware client to 127.0.0.1, verifying the chain
    /// for `name` against `roots`. Returns the report, the connection count and the
    /// connector's last failure.
    pub fn export_to(
        nginx_port: u16,
        name: &str,
        roots: &[&[u8]],
        client: &'static str,
    ) -> (ExportReport, Arc<AtomicUsize>, Option<TransportError>) {
        let mut read = vec![0u8; READ_BUFFER_LEN];
        let mut write = vec![0u8; 4096];
        let (tcp, opened) = counting_tcp();
        let options =
            TlsOptions::with_trust_anchors(TrustAnchors::Many(roots)).with_server_name(name);
        let tls: TlsConnector<'_, _, OsRng, WallClock> =
            TlsConnector::new(tcp, OsRng, options, &mut read, &mut write);
        let mut registry = recorded(client);
        let (report, failure) = export_then(tls, "127.0.0.1", nginx_port, &mut registry, |tls| {
            tls.last_failure()
        });
        (report, opened, failure)
    }
}

// ---------------------------------------------------------------------------------------
// The tests

/// nginx serving `leaf` with `intermediates` (TLS 1.3 only).
fn serve<'a>(leaf: &'a Issued, intermediates: &[&'a Issued]) -> Serve<'a> {
    Serve::tls13(leaf, intermediates)
}

/// A fresh sink and nginx on 127.0.0.1 serving as `serve` says in front of it.
fn start(serve: &Serve<'_>) -> (Sink, Nginx) {
    let sink = Sink::start().expect("sink");
    let listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let nginx = Nginx::start(serve, listen, sink.addr());
    (sink, nginx)
}

/// Both clients deliver through nginx serving `serve`: rustls trusting `rustls_root`, the
/// firmware client trusting both roots (two trust anchors, the right one second).
fn both_deliver(serve: &Serve<'_>, rustls_root: &Cert) {
    let pki = pki();
    let (sink, nginx) = start(serve);
    let (report, opened) =
        rustls_client::export_to(nginx.port(), "127.0.0.1", &[rustls_root], "rustls");
    assert_delivered(&report, &opened);
    assert_totals(&sink, "rustls");
    let anchors: [&[u8]; 2] = if rustls_root.der == pki.rsa_root.cert.der {
        [&pki.ec_root.cert.der, &pki.rsa_root.cert.der]
    } else {
        [&pki.rsa_root.cert.der, &pki.ec_root.cert.der]
    };
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port(), HOST, &anchors, "firmware");
    assert_delivered(&report, &opened);
    assert_eq!(failure, None, "{}", nginx.error_log());
    assert_totals(&sink, "firmware");
    assert_eq!(sink.stats().requests_received, 2);
    assert_eq!(sink.totals().len(), 6, "{:?}", sink.totals());
}

#[test]
fn rsa_4096_root_rsa_2048_intermediate_p256_leaf() {
    if !prerequisites("rsa root, p256 leaf") {
        return;
    }
    let pki = pki();
    both_deliver(
        &serve(&pki.p256_under_rsa, &[&pki.rsa_int]),
        &pki.rsa_root.cert,
    );
}

/// An RSA leaf: TLS 1.3 servers sign the handshake with RSA-PSS (rsa_pss_rsae_sha256 by
/// OpenSSL's preference, then rsa_pss_rsae_sha384 when that is all nginx may use).
#[test]
fn rsa_4096_root_rsa_2048_intermediate_rsa_leaf_signs_with_pss() {
    if !prerequisites("rsa leaf, pss") {
        return;
    }
    let pki = pki();
    both_deliver(&serve(&pki.rsa_leaf, &[&pki.rsa_int]), &pki.rsa_root.cert);
    let mut sha384 = serve(&pki.rsa_leaf, &[&pki.rsa_int]);
    sha384.extra = "ssl_conf_command SignatureAlgorithms rsa_pss_rsae_sha384;";
    both_deliver(&sha384, &pki.rsa_root.cert);
}

#[test]
fn p384_root_p384_intermediate_p256_leaf() {
    if !prerequisites("p384 root, p256 leaf") {
        return;
    }
    let pki = pki();
    both_deliver(
        &serve(&pki.p256_under_ec, &[&pki.ec_int]),
        &pki.ec_root.cert,
    );
}

/// A P-384 leaf signs the handshake with ecdsa_secp384r1_sha384; the root travels in the
/// chain too, as some servers send it.
#[test]
fn p384_leaf_signs_with_p384_and_root_in_chain() {
    if !prerequisites("p384 leaf") {
        return;
    }
    let pki = pki();
    both_deliver(
        &serve(&pki.p384_leaf, &[&pki.ec_int, &pki.ec_root]),
        &pki.ec_root.cert,
    );
}

#[test]
fn wrong_host_name_is_refused_once() {
    if !prerequisites("wrong host") {
        return;
    }
    let pki = pki();
    let (sink, nginx) = start(&serve(&pki.p256_under_rsa, &[&pki.rsa_int]));
    // rustls by name: `localhost` resolves to 127.0.0.1 and is not in the certificate.
    let (report, opened) =
        rustls_client::export_to(nginx.port(), "localhost", &[&pki.rsa_root.cert], "rustls");
    assert_refused(&sink, &report, &opened, TlsFailure::HostNameMismatch);
    let (report, opened, failure) = firmware_client::export_to(
        nginx.port(),
        "other.test",
        &[&pki.rsa_root.cert.der],
        "firmware",
    );
    assert_refused(&sink, &report, &opened, TlsFailure::HostNameMismatch);
    assert_eq!(
        failure,
        Some(TransportError::Tls(TlsFailure::HostNameMismatch))
    );
}

#[test]
fn expired_leaf_is_refused_once() {
    if !prerequisites("expired leaf") {
        return;
    }
    let pki = pki();
    let (sink, nginx) = start(&serve(&pki.expired, &[&pki.rsa_int]));
    let (report, opened) =
        rustls_client::export_to(nginx.port(), "127.0.0.1", &[&pki.rsa_root.cert], "rustls");
    assert_refused(&sink, &report, &opened, TlsFailure::Expired);
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port(), HOST, &[&pki.rsa_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::Expired);
    assert_eq!(failure, Some(TransportError::Tls(TlsFailure::Expired)));
}

#[test]
fn unknown_root_is_refused_once() {
    if !prerequisites("unknown root") {
        return;
    }
    let pki = pki();
    let (sink, nginx) = start(&serve(&pki.p256_under_rsa, &[&pki.rsa_int]));
    let (report, opened) =
        rustls_client::export_to(nginx.port(), "127.0.0.1", &[&pki.ec_root.cert], "rustls");
    assert_refused(&sink, &report, &opened, TlsFailure::UnknownIssuer);
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port(), HOST, &[&pki.ec_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::UnknownIssuer);
    assert_eq!(
        failure,
        Some(TransportError::Tls(TlsFailure::UnknownIssuer))
    );
}

/// Five certificates: over the firmware client's four; rustls has no such limit.
#[test]
fn chain_of_five_is_too_long_for_the_firmware_client() {
    if !prerequisites("long chain") {
        return;
    }
    let pki = pki();
    let mut intermediates: Vec<&Issued> = pki.deep_ints.iter().rev().collect();
    intermediates.push(&pki.ec_int);
    let served = serve(&pki.deep_leaf, &intermediates);
    assert_eq!(served.chain.len(), 5);
    let (sink, nginx) = start(&served);
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port(), HOST, &[&pki.ec_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::ChainTooLong);
    assert_eq!(failure, Some(TransportError::Tls(TlsFailure::ChainTooLong)));
    let (report, opened) =
        rustls_client::export_to(nginx.port(), "127.0.0.1", &[&pki.ec_root.cert], "rustls");
    assert_delivered(&report, &opened);
    assert_totals(&sink, "rustls");
}

/// nginx limited to TLS 1.2 answers the firmware client's TLS 1.3-only ClientHello with a
/// protocol_version alert: a failure of its own, not retried. rustls speaks TLS 1.2.
#[test]
fn tls12_only_server_is_a_protocol_version_failure() {
    if !prerequisites("tls 1.2 only") {
        return;
    }
    let pki = pki();
    let mut served = serve(&pki.p256_under_rsa, &[&pki.rsa_int]);
    served.protocols = "TLSv1.2";
    let (sink, nginx) = start(&served);
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port(), HOST, &[&pki.rsa_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::ProtocolVersion);
    assert_eq!(
        failure,
        Some(TransportError::Tls(TlsFailure::ProtocolVersion))
    );
    // nginx's own log wording (and when it flushes it) varies with OpenSSL and load: the
    // client's error above is the evidence, and rustls below shows the server speaks TLS 1.2.
    let (report, opened) =
        rustls_client::export_to(nginx.port(), "127.0.0.1", &[&pki.rsa_root.cert], "rustls");
    assert_delivered(&report, &opened);
    assert_totals(&sink, "rustls");
}

/// nginx offering only TLS_AES_256_GCM_SHA384 shares no cipher suite with the firmware
/// client (TLS_AES_128_GCM_SHA256 only): its handshake_failure alert is NoCommonParameters.
#[test]
fn no_common_cipher_suite_is_refused_once() {
    if !prerequisites("no common cipher suite") {
        return;
    }
    let pki = pki();
    let mut served = serve(&pki.p256_under_rsa, &[&pki.rsa_int]);
    served.extra = "ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;";
    let (sink, nginx) = start(&served);
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port(), HOST, &[&pki.rsa_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::NoCommonParameters);
    assert_eq!(
        failure,
        Some(TransportError::Tls(TlsFailure::NoCommonParameters))
    );
    let (report, opened) =
        rustls_client::export_to(nginx.port(), "127.0.0.1", &[&pki.rsa_root.cert], "rustls");
    assert_delivered(&report, &opened);
    assert_totals(&sink, "rustls");
}

/// An intermediate cut short by 40 bytes. OpenSSL will not load it, so the sink's rustls
/// server (which sends its chain unparsed) serves it.
#[test]
fn truncated_certificate_is_refused_once() {
    if !prerequisites("truncated certificate") {
        return;
    }
    use rustls::pki_types::PrivateKeyDer;
    let pki = pki();
    let leaf = &pki.p256_under_rsa;
    let int = &pki.rsa_int.cert.der;
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("leaf key");
    let tls = SinkTls::from_der(
        vec![leaf.cert.der.clone(), int[..int.len() - 40].to_vec()],
        key.secret_der().to_vec(),
    );
    let sink = Sink::start_with(SinkOptions {
        tls: Some(tls),
        ..SinkOptions::default()
    })
    .expect("TLS sink");
    let port = sink.addr().port();
    let (report, opened, failure) =
        firmware_client::export_to(port, HOST, &[&pki.rsa_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::BadCertificate);
    assert_eq!(
        failure,
        Some(TransportError::Tls(TlsFailure::BadCertificate))
    );
    let (report, opened) =
        rustls_client::export_to(port, "127.0.0.1", &[&pki.rsa_root.cert], "rustls");
    assert_refused(&sink, &report, &opened, TlsFailure::BadCertificate);
    assert!(
        sink.wait_for(Duration::from_secs(5), |s| s.connections_closed == 2),
        "{:?}",
        sink.stats()
    );
    assert_eq!(sink.tls_stats().handshakes, 0);
}
