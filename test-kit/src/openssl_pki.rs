//! Public-CA-shaped certificate chains made at run time with the `openssl` command line
//! (Debian: `openssl`), for servers such as [`nginx`](crate::nginx).
//!
//! RSA-4096 key generation is slow in a debug build of a Rust library; OpenSSL's is not,
//! so these chains come from the command line rather than rcgen. Keys and certificates
//! live in memory and in a [`TempDir`] removed on drop of the [`OpensslPki`]; nothing is
//! checked in.
//!
//! [`PublicChains`] are the two shapes hosted collectors present today: an RSA-4096 root
//! -> RSA-2048 intermediate -> P-256 leaf, and a P-384 root -> P-384 intermediate ->
//! P-256 leaf (the shape of ISRG Root X2 and its E-series intermediates). Other shapes
//! (RSA or P-384 leaves, expired leaves, deep chains) come from [`OpensslPki`]'s methods.

use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::process::TempDir;

/// A certificate in both encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cert {
    /// PEM.
    pub pem: String,
    /// DER.
    pub der: Vec<u8>,
}

/// A certificate and its private key.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The name it was made under (its files' stem; the issuer argument of later calls).
    pub name: String,
    /// The certificate.
    pub cert: Cert,
    /// Its private key, PEM (PKCS#8).
    pub key_pem: String,
}

const INTERMEDIATE: &str =
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
const LEAF: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
    extendedKeyUsage=serverAuth\n";

/// Makes keys and certificates with `openssl` in a scratch directory. Every method
/// panics when openssl fails (test tooling).
#[derive(Debug)]
pub struct OpensslPki {
    dir: TempDir,
    /// The leaves' `subjectAltName` extension line.
    leaf_names: String,
}

impl OpensslPki {
    /// A PKI whose leaves are issued for `names` (DNS names, or IP addresses).
    pub fn new(names: &[&str]) -> OpensslPki {
        let alt: Vec<String> = names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect();
        OpensslPki {
            dir: TempDir::new("pki"),
            leaf_names: format!("subjectAltName={}\n", alt.join(",")),
        }
    }

    /// A self-signed CA: `key` is `rsa:<bits>` or `ec:<curve>` (`ec:P-384`), `digest`
    /// `sha256` or `sha384`; valid ten years from now.
    pub fn root(&self, name: &str, key: &str, common_name: &str, digest: &str) -> Issued {
        self.key(name, key);
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={common_name}"),
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

    /// A CA certificate signed by `issuer` with `digest`, valid a year from now.
    pub fn intermediate(&self, name: &str, key: &str, issuer: &Issued, digest: &str) -> Issued {
        self.issue(name, key, issuer, INTERMEDIATE, digest)
    }

    /// A TLS server certificate for this PKI's names (extendedKeyUsage serverAuth),
    /// signed by `issuer` with `digest`, valid a year from now.
    pub fn leaf(&self, name: &str, key: &str, issuer: &Issued, digest: &str) -> Issued {
        let ext = format!("{LEAF}{}", self.leaf_names);
        self.issue(name, key, issuer, &ext, digest)
    }

    /// A P-256 server certificate for this PKI's names, signed by `issuer` with SHA-256,
    /// valid from 2020-01-01 to 2021-01-01 only.
    pub fn expired_leaf(&self, name: &str, issuer: &Issued) -> Issued {
        self.key(name, "ec:P-256");
        self.request(name);
        std::fs::write(
            self.dir.path().join(format!("{name}.ext")),
            format!("{LEAF}{}", self.leaf_names),
        )
        .expect("ext file");
        // `openssl ca` is the one that sets both dates.
        std::fs::create_dir_all(self.dir.path().join("issued")).expect("ca dir");
        std::fs::write(self.dir.path().join("index.txt"), "").expect("ca index");
        std::fs::write(self.dir.path().join("serial"), "1000\n").expect("ca serial");
        let config = "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n\
            new_certs_dir = issued\nserial = serial\ndefault_md = sha256\npolicy = any\n\
            unique_subject = no\n[any]\ncommonName = supplied\n";
        std::fs::write(self.dir.path().join("ca.cnf"), config).expect("ca config");
        self.openssl(&[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            &format!("{}.pem", issuer.name),
            "-keyfile",
            &format!("{}.key", issuer.name),
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

    fn issue(&self, name: &str, key: &str, issuer: &Issued, ext: &str, digest: &str) -> Issued {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        self.key(name, key);
        self.request(name);
        std::fs::write(self.dir.path().join(format!("{name}.ext")), ext).expect("ext file");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let serial = format!("0x{:x}{:04x}", now, SERIAL.fetch_add(1, Ordering::Relaxed));
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{}.pem", issuer.name),
            "-CAkey",
            &format!("{}.key", issuer.name),
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

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
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
        let (algorithm, option) = match spec.split_once(':') {
            Some(("rsa", bits)) => ("RSA", format!("rsa_keygen_bits:{bits}")),
            Some(("ec", curve)) => ("EC", format!("ec_paramgen_curve:{curve}")),
            _ => panic!("key spec {spec}: rsa:<bits> or ec:<curve>"),
        };
        let out = format!("{name}.key");
        self.openssl(&[
            "genpkey",
            "-algorithm",
            algorithm,
            "-pkeyopt",
            &option,
            "-out",
            &out,
        ]);
    }

    fn request(&self, name: &str) {
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
    }

    fn read(&self, name: &str) -> Issued {
        self.openssl(&[
            "x509",
            "-in",
            &format!("{name}.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.der"),
        ]);
        let file = |ext: &str| self.dir.path().join(format!("{name}.{ext}"));
        Issued {
            name: name.to_string(),
            cert: Cert {
                pem: std::fs::read_to_string(file("pem")).expect("certificate"),
                der: std::fs::read(file("der")).expect("certificate, DER"),
            },
            key_pem: std::fs::read_to_string(file("key")).expect("key"),
        }
    }
}

/// The two chain shapes hosted collectors present, issued by one [`OpensslPki`].
#[derive(Clone, Debug)]
pub struct PublicChains {
    /// RSA-4096 root, self-signed with SHA-256.
    pub rsa_root: Issued,
    /// RSA-2048 intermediate under it (PKCS#1 v1.5, SHA-256).
    pub rsa_intermediate: Issued,
    /// P-256 leaf under the RSA intermediate (PKCS#1 v1.5, SHA-256).
    pub rsa_chain_leaf: Issued,
    /// P-384 root, self-signed with ecdsa-with-SHA384 (ISRG Root X2's shape).
    pub ec_root: Issued,
    /// P-384 intermediate under it (an E-series intermediate's shape).
    pub ec_intermediate: Issued,
    /// P-256 leaf under the P-384 intermediate (ecdsa-with-SHA384).
    pub ec_chain_leaf: Issued,
}

impl PublicChains {
    /// Issue both chains with `pki` (its leaves carry its names).
    pub fn issue(pki: &OpensslPki) -> PublicChains {
        let rsa_root = pki.root("rsa-root", "rsa:4096", "otlp test RSA root", "sha256");
        let ec_root = pki.root("ec-root", "ec:P-384", "otlp test P-384 root", "sha384");
        let rsa_intermediate = pki.intermediate("rsa-int", "rsa:2048", &rsa_root, "sha256");
        let ec_intermediate = pki.intermediate("ec-int", "ec:P-384", &ec_root, "sha384");
        let rsa_chain_leaf = pki.leaf("leaf-a", "ec:P-256", &rsa_intermediate, "sha256");
        let ec_chain_leaf = pki.leaf("leaf-c", "ec:P-256", &ec_intermediate, "sha384");
        PublicChains {
            rsa_root,
            rsa_intermediate,
            rsa_chain_leaf,
            ec_root,
            ec_intermediate,
            ec_chain_leaf,
        }
    }
}
