//! Runs `otlp_embedded_tls::verify_chain` on real chains (the x509_chain fuzz seeds, made by
//! the openssl command line) on a Cortex-M4F under QEMU, and prints for each the result
//! and the stack it used, measured by painting the stack below the caller and finding the
//! lowest word written. Code size is measured from the image by scripts/tls-verify-size.sh.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use otlp_embedded::transport::TlsFailure;
use otlp_embedded_tls::{verify_chain, TrustAnchors, MAX_CHAIN_CERTIFICATES};

/// (name, seed): a control byte, then u16-length-prefixed certificates, the last one the
/// trust anchor (fuzz/chain_harness.rs describes the layout).
const CHAINS: &[(&str, &[u8])] = &[
    ("p256", include_bytes!("../../../fuzz/corpus/x509_chain/p256_chain_ok")),
    ("p384", include_bytes!("../../../fuzz/corpus/x509_chain/p384_chain_ok")),
    ("rsa2048", include_bytes!("../../../fuzz/corpus/x509_chain/rsa_chain_ok")),
    ("rsa4096", include_bytes!("../../../fuzz/corpus/x509_chain/rsa4096_root_ok")),
];

const PAINT: u32 = 0xdead_beef;
/// Left unpainted below the stack pointer: the frame of `measure` itself.
const MARGIN: usize = 256;

extern "C" {
    /// Lowest address the main stack may grow to (cortex-m-rt's link.x).
    static _stack_end: u32;
}

/// Stack bytes `f` used, beyond the caller's frame.
#[inline(never)]
fn measure(f: impl FnOnce() -> Result<(), TlsFailure>) -> (Result<(), TlsFailure>, usize) {
    let sp = cortex_m::register::msp::read() as usize - MARGIN;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let mut p = bottom;
    while p < sp {
        // SAFETY: [bottom, sp) is free stack RAM below every live frame.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
    let result = f();
    let mut low = bottom;
    // SAFETY: as above; reading words of our own stack.
    while low < sp && unsafe { core::ptr::read_volatile(low as *const u32) } == PAINT {
        low += 4;
    }
    (result, sp + MARGIN - low)
}

fn split(seed: &[u8]) -> ([&[u8]; MAX_CHAIN_CERTIFICATES], usize, &[u8]) {
    let mut parts: [&[u8]; MAX_CHAIN_CERTIFICATES + 1] = [&[]; MAX_CHAIN_CERTIFICATES + 1];
    let mut n = 0;
    let mut rest = seed.get(1..).unwrap_or(&[]);
    while rest.len() >= 2 && n < parts.len() {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        parts[n] = &rest[2..2 + len];
        rest = &rest[2 + len..];
        n += 1;
    }
    let mut chain: [&[u8]; MAX_CHAIN_CERTIFICATES] = [&[]; MAX_CHAIN_CERTIFICATES];
    chain[..n - 1].copy_from_slice(&parts[..n - 1]);
    (chain, n - 1, parts[n - 1])
}

#[entry]
fn main() -> ! {
    let mut ok = true;
    for (name, seed) in CHAINS {
        // Keep the data opaque to the optimizer: it must not fold the verification away.
        let seed = core::hint::black_box(*seed);
        let (chain, len, anchor) = split(seed);
        let (result, stack) = measure(|| {
            verify_chain(&chain[..len], TrustAnchors::One(anchor), "collector.test", None)
        });
        let expected = match *name {
            "p384" if !cfg!(feature = "p384") => Err(TlsFailure::NoCommonParameters),
            "rsa2048" | "rsa4096" if !cfg!(feature = "rsa") => Err(TlsFailure::NoCommonParameters),
            _ => Ok(()),
        };
        ok &= result == expected;
        hprintln!("verify {} {:?} stack {}", name, result, stack);
    }
    debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
