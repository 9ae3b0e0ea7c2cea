//! Public-CA-shaped certificate chains served by a real TLS server: nginx (OpenSSL, from
//! the Debian packages) on 127.0.0.1 terminating TLS in front of the OTLP sink, for both
//! clients — rustls (otlp-embedded-std, feature `tls`) and the no-heap firmware client
//! (otlp-embedded-tls with features `p384` and `rsa`).
//!
//! The PKI is made at run time with the openssl command line (RSA-4096 key generation is
//! slow in a debug build of a Rust library; OpenSSL's is not): RSA-4096 root -> RSA-2048
//! intermediate -> P-256 or RSA-2048 leaf, and P-384 root -> P-384 intermediate -> P-256
//! or P-384 leaf, plus an expired leaf and a five-certificate chain. Key material lives
//! only in memory and in per-test temporary directories that the tests remove.
//!
//! Each nginx runs in the foreground as one process (`master_process off`), with its own
//! configuration, pid file, error log and temporary paths in a temporary directory; the
//! test starts it, waits for its port and kills it by PID.
//!
//! Every delivery is decoded by the sink and compared exactly; every refusal is the exact
//! error the exporter reports, after exactly one connection attempt, with nothing
//! delivered. A certificate that does not decode cannot be loaded into nginx (OpenSSL
//! parses it), so that case is served by the sink's own rustls server.
//!
//! Without nginx or openssl the tests print one `SKIP:` line each and pass, unless
//! `OTLP_REQUIRE_NGINX=1`, which makes their absence a failure (CI sets it).

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
use otlp_embedded_test_kit::sink::{Sink, SinkOptions, SinkTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

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
    let required = std::env::var("OTLP_REQUIRE_NGINX").is_ok_and(|v| v == "1");
    let missing: Vec<&str> = [(nginx_binary(), "nginx"), (which("openssl"), "openssl")]
        .into_iter()
        .filter(|(path, _)| path.is_none())
        .map(|(_, name)| name)
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !required,
        "OTLP_REQUIRE_NGINX=1 but {missing:?} not installed (Debian: apt-get install -y nginx-light openssl)"
    );
    println!("SKIP: nginx TLS test ({test}): {missing:?} not installed");
    false
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn nginx_binary() -> Option<PathBuf> {
    which("nginx")
}

// ---------------------------------------------------------------------------------------
// The PKI, made once per test binary with the openssl command line

/// A certificate in both encodings.
#[derive(Clone)]
struct Cert {
    pem: String,
    der: Vec<u8>,
}

/// A certificate and its private key (PEM).
#[derive(Clone)]
struct Issued {
    cert: Cert,
    key_pem: String,
}

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
        let dir = TempDir::new("pki");
        let maker = PkiMaker { dir: dir.path() };
        let rsa_root = maker.root("rsa-root", "rsa:4096", "otlp test RSA root", "sha256");
        let ec_root = maker.root("ec-root", "ec:P-384", "otlp test P-384 root", "sha384");
        let rsa_int = maker.issue("rsa-int", "rsa:2048", "rsa-root", INTERMEDIATE, "sha256");
        let ec_int = maker.issue("ec-int", "ec:P-384", "ec-root", INTERMEDIATE, "sha384");
        let p256_under_rsa = maker.issue("leaf-a", "ec:P-256", "rsa-int", LEAF, "sha256");
        let rsa_leaf = maker.issue("leaf-b", "rsa:2048", "rsa-int", LEAF, "sha256");
        let p256_under_ec = maker.issue("leaf-c", "ec:P-256", "ec-int", LEAF, "sha384");
        let p384_leaf = maker.issue("leaf-d", "ec:P-384", "ec-int", LEAF, "sha384");
        let expired = maker.expired("leaf-old", "rsa-int");
        let mut deep_ints = Vec::new();
        let mut parent = "ec-int".to_string();
        for i in 1..=3 {
            let name = format!("deep-int-{i}");
            deep_ints.push(maker.issue(&name, "ec:P-256", &parent, INTERMEDIATE, "sha256"));
            parent = name;
        }
        let deep_leaf = maker.issue("deep-leaf", "ec:P-256", &parent, LEAF, "sha256");
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

const INTERMEDIATE: &str =
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const LEAF: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
    extendedKeyUsage=serverAuth\nsubjectAltName=DNS:collector.test,IP:127.0.0.1\n";

struct PkiMaker<'d> {
    dir: &'d Path,
}

impl PkiMaker<'_> {
    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn key(&self, name: &str, spec: &str) {
        let key = format!("{name}.key");
        match spec.split_once(':') {
            Some(("rsa", bits)) => self.openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                &format!("rsa_keygen_bits:{bits}"),
                "-out",
                &key,
            ]),
            Some(("ec", curve)) => self.openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
                "-out",
                &key,
            ]),
            _ => panic!("key spec {spec}"),
        }
    }

    fn read(&self, name: &str) -> Issued {
        let pem = std::fs::read_to_string(self.dir.join(format!("{name}.pem"))).expect("cert");
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .expect("PEM certificate")
            .to_vec();
        let key_pem = std::fs::read_to_string(self.dir.join(format!("{name}.key"))).expect("key");
        Issued {
            cert: Cert { pem, der },
            key_pem,
        }
    }

    fn root(&self, name: &str, spec: &str, cn: &str, digest: &str) -> Issued {
        self.key(name, spec);
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "3650",
            &format!("-{digest}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &format!("{name}.pem"),
        ]);
        self.read(name)
    }

    fn issue(&self, name: &str, spec: &str, issuer: &str, ext: &str, digest: &str) -> Issued {
        self.key(name, spec);
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN=otlp test {name}"),
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::write(self.dir.join(format!("{name}.ext")), ext).expect("ext file");
        let serial = format!(
            "0x{:x}",
            unix_seconds() ^ name.len() as u64 ^ ((name.as_bytes()[0] as u64) << 40)
        );
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{issuer}.pem"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-set_serial",
            &serial,
            "-days",
            "365",
            &format!("-{digest}"),
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
        self.read(name)
    }

    /// A leaf valid from 2020-01-01 to 2021-01-01: `openssl ca` sets both dates.
    fn expired(&self, name: &str, issuer: &str) -> Issued {
        self.key(name, "ec:P-256");
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN=otlp test {name}"),
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::write(self.dir.join(format!("{name}.ext")), LEAF).expect("ext file");
        std::fs::create_dir_all(self.dir.join("issued")).expect("ca dir");
        std::fs::write(self.dir.join("index.txt"), "").expect("ca index");
        std::fs::write(self.dir.join("serial"), "1000\n").expect("ca serial");
        let config = "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n\
            new_certs_dir = issued\nserial = serial\ndefault_md = sha256\npolicy = any\n\
            unique_subject = no\n[any]\ncommonName = supplied\n";
        std::fs::write(self.dir.join("ca.cnf"), config).expect("ca config");
        self.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            &format!("{issuer}.pem"),
            "-keyfile",
            &format!("{issuer}.key"),
            "-in",
            &format!("{name}.csr"),
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
        self.read(name)
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "otlp-nginx-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------
// nginx

/// How one nginx serves.
struct Serve<'a> {
    /// The certificates it sends, leaf first.
    chain: Vec<&'a Cert>,
    key_pem: &'a str,
    /// `ssl_protocols`.
    protocols: &'a str,
    /// Extra `server` directives.
    extra: &'a str,
}

/// An nginx in the foreground, one process, killed by PID on drop.
struct Nginx {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Nginx {
    fn start(serve: &Serve<'_>, upstream: u16) -> Nginx {
        let dir = TempDir::new("nginx");
        let chain: String = serve.chain.iter().map(|c| c.pem.as_str()).collect();
        std::fs::write(dir.path().join("chain.pem"), chain).expect("chain");
        std::fs::write(dir.path().join("key.pem"), serve.key_pem).expect("key");
        let mut last_error = String::new();
        // A port picked by binding to 0 may be taken again before nginx binds it: retry.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let d = dir.path().display();
            let config = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n\
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 server {{\n    listen 127.0.0.1:{port} ssl;\n\
                 ssl_certificate {d}/chain.pem;\n    ssl_certificate_key {d}/key.pem;\n\
                 ssl_protocols {protocols};\n    {extra}\n\
                 location / {{ proxy_pass http://127.0.0.1:{upstream}; }}\n  }}\n}}\n",
                protocols = serve.protocols,
                extra = serve.extra,
            );
            std::fs::write(dir.path().join("nginx.conf"), config).expect("config");
            let mut child = Command::new(nginx_binary().expect("nginx"))
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(dir.path().join("nginx.conf"))
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn nginx");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "nginx exited with {status}: {}",
                        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
                    );
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Nginx { child, port, dir };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("nginx did not listen on {port} within 10 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("{last_error}");
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    use otlp_embedded_tls::{TlsClock, TlsConnector, TlsOptions, TrustAnchors, READ_BUFFER_LEN};
    use rand_core::OsRng;

    /// The machine's wall clock, as a board with a real-time clock would supply it.
    pub struct WallClock;
    impl TlsClock for WallClock {
        fn now() -> Option<u64> {
            Some(unix_seconds())
        }
    }

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

/// nginx serving `leaf` with `intermediates` (TLS 1.3 only), in front of a fresh sink.
fn serve<'a>(leaf: &'a Issued, intermediates: &[&'a Issued]) -> Serve<'a> {
    Serve {
        chain: std::iter::once(&leaf.cert)
            .chain(intermediates.iter().map(|i| &i.cert))
            .collect(),
        key_pem: &leaf.key_pem,
        protocols: "TLSv1.3",
        extra: "",
    }
}

fn start(serve: &Serve<'_>) -> (Sink, Nginx) {
    let sink = Sink::start().expect("sink");
    let nginx = Nginx::start(serve, sink.addr().port());
    (sink, nginx)
}

/// Both clients deliver through nginx serving `serve`: rustls trusting `rustls_root`, the
/// firmware client trusting both roots (two trust anchors, the right one second).
fn both_deliver(serve: &Serve<'_>, rustls_root: &Cert) {
    let pki = pki();
    let (sink, nginx) = start(serve);
    let (report, opened) =
        rustls_client::export_to(nginx.port, "127.0.0.1", &[rustls_root], "rustls");
    assert_delivered(&report, &opened);
    assert_totals(&sink, "rustls");
    let anchors: [&[u8]; 2] = if rustls_root.der == pki.rsa_root.cert.der {
        [&pki.ec_root.cert.der, &pki.rsa_root.cert.der]
    } else {
        [&pki.rsa_root.cert.der, &pki.ec_root.cert.der]
    };
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port, HOST, &anchors, "firmware");
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
        rustls_client::export_to(nginx.port, "localhost", &[&pki.rsa_root.cert], "rustls");
    assert_refused(&sink, &report, &opened, TlsFailure::HostNameMismatch);
    let (report, opened, failure) = firmware_client::export_to(
        nginx.port,
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
        rustls_client::export_to(nginx.port, "127.0.0.1", &[&pki.rsa_root.cert], "rustls");
    assert_refused(&sink, &report, &opened, TlsFailure::Expired);
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port, HOST, &[&pki.rsa_root.cert.der], "firmware");
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
        rustls_client::export_to(nginx.port, "127.0.0.1", &[&pki.ec_root.cert], "rustls");
    assert_refused(&sink, &report, &opened, TlsFailure::UnknownIssuer);
    let (report, opened, failure) =
        firmware_client::export_to(nginx.port, HOST, &[&pki.ec_root.cert.der], "firmware");
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
        firmware_client::export_to(nginx.port, HOST, &[&pki.ec_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::ChainTooLong);
    assert_eq!(failure, Some(TransportError::Tls(TlsFailure::ChainTooLong)));
    let (report, opened) =
        rustls_client::export_to(nginx.port, "127.0.0.1", &[&pki.ec_root.cert], "rustls");
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
        firmware_client::export_to(nginx.port, HOST, &[&pki.rsa_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::ProtocolVersion);
    assert_eq!(
        failure,
        Some(TransportError::Tls(TlsFailure::ProtocolVersion))
    );
    // nginx's own log wording (and when it flushes it) varies with OpenSSL and load: the
    // client's error above is the evidence, and rustls below shows the server speaks TLS 1.2.
    let (report, opened) =
        rustls_client::export_to(nginx.port, "127.0.0.1", &[&pki.rsa_root.cert], "rustls");
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
        firmware_client::export_to(nginx.port, HOST, &[&pki.rsa_root.cert.der], "firmware");
    assert_refused(&sink, &report, &opened, TlsFailure::NoCommonParameters);
    assert_eq!(
        failure,
        Some(TransportError::Tls(TlsFailure::NoCommonParameters))
    );
    let (report, opened) =
        rustls_client::export_to(nginx.port, "127.0.0.1", &[&pki.rsa_root.cert], "rustls");
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
