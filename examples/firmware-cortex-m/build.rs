//! Puts the memory layout of the QEMU machine that runs this target where cortex-m-rt's
//! `link.x` looks for `memory.x`: Cortex-M4F on mps2-an386, Cortex-M3 on lm3s6965evb,
//! Cortex-M0 on microbit.
use std::{env, fs, path::PathBuf};

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let machine = if target.starts_with("thumbv7em") {
        "mps2-an386"
    } else if target.starts_with("thumbv7m") {
        "lm3s6965evb"
    } else if target.starts_with("thumbv6m") {
        "microbit"
    } else {
        // A host `cargo check` needs no layout; a link for any other target fails loudly.
        return;
    };
    let source = PathBuf::from("memory").join(format!("{machine}.x"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy(&source, out.join("memory.x")).expect("memory layout copied");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={}", source.display());
    println!("cargo:rerun-if-changed=build.rs");
}
