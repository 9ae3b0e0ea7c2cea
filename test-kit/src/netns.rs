//! A network namespace with a TAP device, for tests whose network stack meets the real Linux
//! TCP stack without any frame leaving the machine.
//!
//! [`run_in_namespace`] makes a namespace `otlp-tap-<pid>-<tag>` holding `tap0` (kernel side
//! [`KERNEL_ADDR`]/24, up) and `lo`, runs one test of the calling test binary again inside it
//! (`ip netns exec NS <binary> --exact <test>` with [`CHILD_ENV`] set), relays its `tap: `
//! lines, deletes the namespace whatever happens, and fails when the body failed or ran past
//! its limit. Inside the namespace the same call runs the body. The namespace has no
//! interface but `lo` and `tap0`, so nothing the body sends can reach another host.
//!
//! It needs root, `/dev/net/tun` and the `ip` tool (Debian: `iproute2`). Without them the
//! test prints one `SKIP:` line and passes, unless `OTLP_REQUIRE_TAP=1`, which makes a
//! missing prerequisite a failure (CI sets it).
//!
//! Inside, [`tcp_sockets`] lists the kernel's TCP sockets on a port (`ss`) and
//! [`tcp_counters`] reads the namespace's TCP counters (`/proc/net/snmp`), so a test can see
//! what the kernel made of each connection: a FIN that arrived, a reset.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process that runs the body inside the namespace.
pub const CHILD_ENV: &str = "OTLP_TAP_CHILD";
/// The kernel's address on `tap0`.
pub const KERNEL_ADDR: &str = "192.168.69.100";

/// In the parent: run test `test_name` of this binary inside a new namespace tagged `tag`
/// (at most `limit`), after checking that `programs` run too. In the child: run `body`.
pub fn run_in_namespace(
    test_name: &str,
    tag: &str,
    body: fn(),
    programs: &[&str],
    limit: Duration,
) {
    if std::env::var_os(CHILD_ENV).is_some() {
        body();
        return;
    }
    let required = std::env::var("OTLP_REQUIRE_TAP").is_ok_and(|v| v == "1");
    let ns = match prerequisites(programs).and_then(|()| Namespace::create(tag)) {
        Ok(ns) => ns,
        Err(why) => {
            assert!(!required, "OTLP_REQUIRE_TAP=1 but {why}");
            println!("SKIP: TAP test ({tag}): {why}");
            return;
        }
    };
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test body in the namespace");
    // Bounded wait; a child past its limit is killed (by its own id) and fails the test.
    let started = Instant::now();
    let finished = loop {
        if child.try_wait().expect("child status").is_some() {
            break true;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("child output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The harness prints "test NAME ... " before the body's first line: cut at the tag.
    for line in stdout
        .lines()
        .filter_map(|l| l.find("tap: ").map(|i| &l[i..]))
    {
        println!("{line}");
    }
    let name = ns.name.clone();
    drop(ns);
    assert!(
        !namespace_exists(&name),
        "namespace {name} still exists after the guard"
    );
    assert!(
        finished,
        "namespace run exceeded {limit:?}:\n{stdout}\n{stderr}"
    );
    assert!(
        output.status.success() && stdout.contains("tap: done"),
        "namespace run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

/// Why the test cannot run here, if it cannot.
fn prerequisites(programs: &[&str]) -> Result<(), String> {
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
    for program in ["ip"].iter().chain(programs) {
        let flag = if *program == "ip" { "-V" } else { "--version" };
        match Command::new(program).arg(flag).output() {
            Ok(o) if o.status.success() => {}
            _ => {
                return Err(format!(
                    "no `{program}` (Debian: apt-get install -y iproute2)"
                ))
            }
        }
    }
    Ok(())
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

fn namespace_exists(name: &str) -> bool {
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
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(tag: &str) -> Result<Namespace, String> {
        let name = format!("otlp-tap-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        // From here on the guard deletes it, also when a step below fails.
        let ns = Namespace { name };
        let n = ns.name.as_str();
        ip(&["-n", n, "tuntap", "add", "dev", "tap0", "mode", "tap"])?;
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{KERNEL_ADDR}/24"),
            "dev",
            "tap0",
        ])?;
        ip(&["-n", n, "link", "set", "tap0", "up"])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        Ok(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = ip(&["-n", &self.name, "link", "del", "tap0"]);
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("could not delete namespace {}: {e}", self.name);
        }
    }
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
