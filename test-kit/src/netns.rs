//! A network namespace with a TAP device, for tests whose network stack (smoltcp on the
//! TAP device) meets the real Linux TCP stack without any frame leaving the machine, and
//! running a test's body inside it.
//!
//! [`Namespace::create`] makes `otlp-tap-<pid>-<tag>` holding `tap0` (kernel side
//! [`KERNEL_ADDR`]/24, up) and `lo` (up), and deletes it on drop, whatever happened. The
//! namespace has no other interface, so no frame leaves it. A body runs in it as a child
//! process: [`run_self_in`] starts this same executable again under `ip netns exec` with
//! [`CHILD_ENV`] set (the body checks [`in_child`]), waits for it within a limit, kills it
//! by its process id past the limit, and deletes the namespace. Everything the child starts
//! (nginx, dnsmasq) lives in the namespace; the child ends them itself, and the guard ends
//! by process id whatever a killed child left behind before it deletes the namespace.
//! [`run_in_namespace`] does all of it for one test of a test binary, with the SKIP rule.
//!
//! Needs root, `/dev/net/tun` and the `ip` tool (Debian: `iproute2`); [`prerequisites`]
//! says what is missing.
//!
//! Inside, [`tcp_sockets`] lists the kernel's TCP sockets on a port (`ss`) and
//! [`tcp_counters`] reads the namespace's TCP counters (`/proc/net/snmp`), so a test can see
//! what the kernel made of each connection: a FIN that arrived, a reset.

use std::net::Ipv4Addr;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::process::{find_program, go_on_or_skip};

/// Set in the child's environment: the body runs, not the namespace set-up.
pub const CHILD_ENV: &str = "OTLP_TAP_CHILD";
/// The kernel's address on `tap0`, in a /24, as text (an endpoint's host).
pub const KERNEL_ADDR: &str = "192.168.69.100";
/// The kernel's address on `tap0`.
pub const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 69, 100);
/// The TAP device's name inside the namespace.
pub const TAP: &str = "tap0";

/// In the parent: run test `test_name` of this test binary inside a new namespace tagged
/// `tag` (for at most `limit`), after checking that `programs` are installed, relay its
/// `tap: ` lines and fail unless it passed and printed `tap: done`; without the
/// prerequisites print one `SKIP:` line, or fail when `OTLP_REQUIRE_TAP=1`. In the child
/// (inside the namespace): run `body`.
pub fn run_in_namespace(
    test_name: &str,
    tag: &str,
    body: fn(),
    programs: &[&str],
    limit: Duration,
) {
    if in_child() {
        body();
        return;
    }
    let missing = programs.iter().find(|p| find_program(p).is_none());
    let ready = prerequisites()
        .and_then(|()| match missing {
            Some(program) => Err(format!("no `{program}` installed")),
            None => Ok(()),
        })
        .and_then(|()| Namespace::create(tag));
    let ns = match ready {
        Ok(ns) => ns,
        Err(why) => {
            go_on_or_skip(
                &format!("TAP test ({tag})"),
                Err(why),
                &["OTLP_REQUIRE_TAP"],
            );
            return;
        }
    };
    let args = ["--exact", test_name, "--nocapture", "--test-threads=1"];
    run_self_in(ns, &args, limit)
        .expect("namespace run")
        .relay_and_expect_done("tap: ");
}

/// Whether this process is the child that [`run_self_in`] started.
pub fn in_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Why a namespace with a TAP device cannot be made here, if it cannot.
pub fn prerequisites() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Err(format!("needs root (effective uid {euid})"));
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err("no /dev/net/tun".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("no `ip` tool (apt-get install -y iproute2)".into()),
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether a namespace called `name` exists.
pub fn namespace_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name))
        })
        .unwrap_or(false)
}

/// A network namespace with `tap0` up at [`KERNEL_ADDR`]/24 and `lo` up; deleted on drop.
#[derive(Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Make `otlp-tap-<pid>-<tag>` (tests that run at once use different tags).
    pub fn create(tag: &str) -> Result<Namespace, String> {
        let name = format!("otlp-tap-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on the guard deletes it, also when a step below fails.
        let ns = Namespace { name };
        let n = ns.name.as_str();
        ip(&["-n", n, "tuntap", "add", "dev", TAP, "mode", "tap"])?;
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{KERNEL_ADDR}/24"),
            "dev",
            TAP,
        ])?;
        ip(&["-n", n, "link", "set", TAP, "up"])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Namespace {
    /// The processes still running in the namespace (`ip netns pids`).
    fn pids(&self) -> Vec<u32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Only processes this test started can be in its namespace (a child killed at its
        // limit leaves its nginx or dnsmasq behind): end them, each by its id.
        for pid in self.pids() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = ip(&["-n", &self.name, "link", "del", TAP]);
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("could not delete namespace {}: {e}", self.name);
        }
    }
}

/// How the child that [`run_self_in`] ran ended.
#[derive(Debug)]
pub struct ChildOutput {
    /// Its exit status; `None` when it ran past the limit and was killed.
    pub status: Option<ExitStatus>,
    /// What it printed.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl ChildOutput {
    /// Whether it exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// For a test body run in the child: print its stdout lines that carry `tag` (from
    /// `tag` on, since the test harness prints `test NAME ... ` before a body's first
    /// line), and panic with all its output unless it exited 0 having printed `{tag}done`
    /// (a test filter that matches nothing exits 0 too).
    pub fn relay_and_expect_done(&self, tag: &str) {
        for line in self
            .stdout
            .lines()
            .filter_map(|l| l.find(tag).map(|i| &l[i..]))
        {
            println!("{line}");
        }
        let (stdout, stderr) = (&self.stdout, &self.stderr);
        match self.status {
            Some(s) if s.success() && stdout.contains(&format!("{tag}done")) => {}
            Some(s) => panic!("namespace run failed ({s}):\n{stdout}\n{stderr}"),
            None => panic!("namespace run exceeded its time limit:\n{stdout}\n{stderr}"),
        }
    }
}

/// Run this executable again inside `ns` with `args` and [`CHILD_ENV`] set, for at most
/// `limit` (killed by its process id after that), then delete the namespace. Fails when
/// the child cannot be started or the namespace outlives its guard; the child's own
/// outcome is in the [`ChildOutput`].
pub fn run_self_in(ns: Namespace, args: &[&str], limit: Duration) -> Result<ChildOutput, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this executable: {e}"))?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(&exe)
        .args(args)
        .env(CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run {} in {}: {e}", exe.display(), ns.name()))?;
    // The pipes are read on threads, so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take().map(read_on_thread);
    let stderr = child.stderr.take().map(read_on_thread);
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("waiting for the child: {e}"));
            }
        }
    };
    // A process the child left behind could hold a pipe open: wait for its end a little
    // only (the namespace's guard ends such processes).
    let collect = |reader: Option<mpsc::Receiver<String>>| {
        reader
            .and_then(|r| r.recv_timeout(Duration::from_secs(5)).ok())
            .unwrap_or_default()
    };
    let output = ChildOutput {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    };
    let name = ns.name.clone();
    drop(ns);
    if namespace_exists(&name) {
        return Err(format!("namespace {name} still exists after its guard"));
    }
    Ok(output)
}

fn read_on_thread(mut pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// One TCP socket of the kernel, as `ss -tan` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpSocketState {
    /// `ss`'s state name: `ESTAB`, `TIME-WAIT`, `FIN-WAIT-2`, `CLOSE-WAIT`, `LISTEN`, ...
    pub state: String,
    /// The local address and port.
    pub local: String,
    /// The peer's address and port.
    pub peer: String,
}

impl TcpSocketState {
    /// The peer's port.
    pub fn peer_port(&self) -> Option<u16> {
        self.peer.rsplit(':').next()?.parse().ok()
    }
}

/// The kernel's TCP sockets (of this namespace) whose local port is `port`, listeners
/// left out.
pub fn tcp_sockets(port: u16) -> Vec<TcpSocketState> {
    let out = Command::new("ss")
        .args(["-Htan", "state", "all", &format!("( sport = :{port} )")])
        .output()
        .expect("run ss (Debian: iproute2)");
    assert!(out.status.success(), "ss failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [state, _recv, _send, local, peer, ..] if *state != "LISTEN" => {
                    Some(TcpSocketState {
                        state: state.to_string(),
                        local: local.to_string(),
                        peer: peer.to_string(),
                    })
                }
                _ => None,
            }
        })
        .collect()
}

/// The namespace's TCP counters from `/proc/net/snmp`, by name (`PassiveOpens`,
/// `EstabResets`, `CurrEstab`, `InSegs`, ...).
pub fn tcp_counters() -> std::collections::BTreeMap<String, i64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").expect("read /proc/net/snmp");
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        panic!("no Tcp lines in /proc/net/snmp:\n{snmp}");
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .map(|(n, v)| (n.to_string(), v.parse().unwrap_or(i64::MIN)))
        .collect()
}
