//! A real TLS server for the tests: `nginx` (Debian: `nginx-light`, OpenSSL) terminating
//! TLS in front of an upstream HTTP server (the [`Sink`](crate::Sink)), the way a hosted
//! collector's load balancer does.
//!
//! Each [`Nginx`] is one process in the foreground (`daemon off`, `master_process off`)
//! with its own configuration, pid file, logs and temporary paths in a [`TempDir`], no
//! system configuration; the test starts it, waits until its port accepts, and it is killed
//! by its process id on drop. Certificates and keys come as PEM
//! ([`openssl_pki`](crate::openssl_pki) makes public-CA-shaped ones).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::openssl_pki::{Cert, Issued};
use crate::process::{find_program, TempDir};

/// How one nginx serves.
#[derive(Clone, Debug)]
pub struct Serve<'a> {
    /// The certificates it sends, leaf first.
    pub chain: Vec<&'a Cert>,
    /// The leaf's private key, PEM.
    pub key_pem: &'a str,
    /// `ssl_protocols`, such as `TLSv1.3`.
    pub protocols: &'a str,
    /// Extra `server` directives (`ssl_conf_command ...;`).
    pub extra: &'a str,
}

impl<'a> Serve<'a> {
    /// `leaf` then `intermediates` as the chain, `leaf`'s key, TLS 1.3 only, nothing else.
    pub fn tls13(leaf: &'a Issued, intermediates: &[&'a Issued]) -> Serve<'a> {
        Serve {
            chain: std::iter::once(&leaf.cert)
                .chain(intermediates.iter().map(|i| &i.cert))
                .collect(),
            key_pem: &leaf.key_pem,
            protocols: "TLSv1.3",
            extra: "",
        }
    }
}

/// An nginx in the foreground, one process, killed by its id on drop.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl Nginx {
    /// Serve TLS as `serve` says on `listen` (port 0: a free port of its address) and pass
    /// every request to `upstream` over plain HTTP; wait (at most 10 s) until it accepts.
    /// Panics when it cannot be started (test tooling).
    pub fn start(serve: &Serve<'_>, listen: SocketAddr, upstream: SocketAddr) -> Nginx {
        let dir = TempDir::new("nginx");
        let chain: String = serve.chain.iter().map(|c| c.pem.as_str()).collect();
        std::fs::write(dir.path().join("chain.pem"), chain).expect("chain");
        std::fs::write(dir.path().join("key.pem"), serve.key_pem).expect("key");
        let mut last_error = String::new();
        // A port picked by binding to 0 may be taken again before nginx binds it: retry.
        let attempts = if listen.port() == 0 { 3 } else { 1 };
        for _ in 0..attempts {
            let addr = if listen.port() == 0 {
                TcpListener::bind((listen.ip(), 0))
                    .and_then(|l| l.local_addr())
                    .expect("free port")
            } else {
                listen
            };
            let d = dir.path().display();
            let config = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
                 http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n\
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                 server {{\n    listen {listen} ssl;\n\
                 ssl_certificate {d}/chain.pem;\n    ssl_certificate_key {d}/key.pem;\n\
                 ssl_protocols {protocols};\n    {extra}\n\
                 location / {{ proxy_pass http://{upstream}; }}\n  }}\n}}\n",
                listen = addr,
                protocols = serve.protocols,
                extra = serve.extra,
            );
            std::fs::write(dir.path().join("nginx.conf"), config).expect("config");
            let mut child = Command::new(find_program("nginx").expect("nginx installed"))
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
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Nginx { child, addr, dir };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("nginx did not listen on {addr} within 10 s");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("{last_error}");
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its error log (handshake failures are logged at `info`).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// The requests it passed on, one access-log line each.
    pub fn access_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
