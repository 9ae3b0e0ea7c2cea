//! A real DNS server for the tests: `dnsmasq` (Debian: `dnsmasq-base`, the binary only),
//! started with its own flags and no system configuration, ended by its process id.
//!
//! It listens on one address, port 53, answers only from the records it is given on the
//! command line (no hosts file, no upstream servers) and logs every query, so a test can
//! count what a resolver asked. Port 53 needs root: the tests run it in a network
//! namespace of their own ([`netns`](crate::netns)).

use std::net::{IpAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{find_program, TempDir};

/// dnsmasq in the foreground, one process, killed by its id on drop.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    dir: TempDir,
    listen: IpAddr,
}

impl Dnsmasq {
    /// Start dnsmasq on `listen`:53 only, without the system's configuration, hosts file or
    /// upstream servers, with `records` as extra flags (`--address=/name/addr`,
    /// `--local=/test/`, `--local-ttl=60`, ...), and wait (at most 5 s) until it answers.
    /// Panics when it cannot be started or does not answer (test tooling).
    pub fn start(listen: IpAddr, records: &[String]) -> Dnsmasq {
        let dir = TempDir::new("dnsmasq");
        let log = std::fs::File::create(dir.path().join("dnsmasq.log")).expect("dnsmasq log");
        let child = Command::new(find_program("dnsmasq").expect("dnsmasq installed"))
            .args([
                "--keep-in-foreground".to_string(),
                "--conf-file=/dev/null".into(),
                "--no-resolv".into(),
                "--no-hosts".into(),
                "--no-poll".into(),
                "--bind-interfaces".into(),
                format!("--listen-address={listen}"),
                "--port=53".into(),
                format!("--pid-file={}", dir.path().join("dnsmasq.pid").display()),
                "--log-facility=-".into(),
                "--log-queries".into(),
            ])
            .args(records)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dnsmasq");
        let dnsmasq = Dnsmasq { child, dir, listen };
        dnsmasq.wait_until_answering();
        dnsmasq
    }

    /// Ask for `ready.test` until an answer comes.
    fn wait_until_answering(&self) {
        let socket = UdpSocket::bind((self.listen, 0)).expect("probe socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("probe timeout");
        let query = crate::dns::query(7, "ready.test", 1);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            let _ = socket.send_to(&query, (self.listen, 53));
            let mut answer = [0u8; 512];
            if socket.recv_from(&mut answer).is_ok() {
                return;
            }
        }
        panic!("dnsmasq did not answer within 5 s:\n{}", self.log());
    }

    /// Its log: one line per query and per answer.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dnsmasq.log")).unwrap_or_default()
    }

    /// A-record queries for `name` that came from `from`.
    pub fn queries(&self, name: &str, from: IpAddr) -> usize {
        let line = format!("query[A] {name} from {from}");
        self.log().lines().filter(|l| l.contains(&line)).count()
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        // The child is dnsmasq itself (it does not fork in the foreground): kill it by its id.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
