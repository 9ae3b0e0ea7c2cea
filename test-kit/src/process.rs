//! The programs tests start (nginx, dnsmasq, openssl, ip): finding them, saying which
//! Debian package brings a missing one, deciding between SKIP and failure, and the
//! scratch directories they work in.
//!
//! ```
//! use otlp_embedded_test_kit::process::{find_program, TempDir};
//!
//! assert!(find_program("sh").is_some());
//! let dir = TempDir::new("doc");
//! std::fs::write(dir.path().join("x"), b"1").unwrap();
//! let path = dir.path().to_path_buf();
//! drop(dir); // removed with its contents
//! assert!(!path.exists());
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `name` in `PATH`, or in `/usr/sbin` and `/sbin` (where Debian puts nginx, dnsmasq and
/// ip, and which a non-login root shell may not have in its `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// `Ok` when every `(program, Debian package)` is installed, else which are missing and
/// how to install them.
pub fn require_programs(programs: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&(&str, &str)> = programs
        .iter()
        .filter(|(program, _)| find_program(program).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|(program, _)| *program).collect();
    let packages: Vec<&str> = missing.iter().map(|(_, package)| *package).collect();
    Err(format!(
        "{} not installed (Debian: apt-get install -y {})",
        names.join(", "),
        packages.join(" ")
    ))
}

/// Whether the environment variable `var` is `1` (`OTLP_REQUIRE_TAP`,
/// `OTLP_REQUIRE_NGINX`: CI's way of saying a test must run, not SKIP).
pub fn env_is_one(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// The SKIP rule of the tests that need the machine's help: when `why` says what is
/// missing, fail if any of `required_by` is set to `1`, else print one `SKIP: what: why`
/// line. Returns whether the test may go on.
pub fn go_on_or_skip(what: &str, why: Result<(), String>, required_by: &[&str]) -> bool {
    let Err(why) = why else { return true };
    if let Some(var) = required_by.iter().find(|var| env_is_one(var)) {
        panic!("{var}=1 but {why}");
    }
    println!("SKIP: {what}: {why}");
    false
}

/// A scratch directory under the system's temporary directory, unique to this process
/// and call, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Create `otlp-<pid>-<tag>-<n>`, emptied if it was left over.
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "otlp-{}-{tag}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        TempDir(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
