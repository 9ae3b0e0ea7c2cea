//! Runs `otlp_embedded_tls::verify_chain` on real chains (the x509_chain fuzz seeds, made by
//! the openssl command line) on a Cortex-M4F under QEMU, and prints for each the result,
//! the stack it used, measured by painting the stack below the caller and finding the
//! lowest word written, and the SysTick ticks it took. Run with `-icount shift=0` (one
//! nanosecond of virtual time per instruction), ticks count instructions: the image first
//! times a loop of a known instruction count so that the script can convert. Code size is
//! measured from the image by scripts/tls-verify-size.sh.
//! With the `handshake` feature the image also links a whole TLS client (`handshake.rs`).
#![no_std]
#![no_main]
// The measuring code (gauge.rs) and the handshake's runtime support (runtime.rs) hold the
// image's `unsafe`; the rest may not have any. `deny`, not `forbid`, so those two can
// allow it.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod gauge;
#[cfg(feature = "handshake")]
mod handshake;
#[cfg(feature = "handshake")]
#[allow(unsafe_code)]
mod runtime;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use gauge::{calibrate, measure, TICKS_MAX};
use otlp_embedded::transport::TlsFailure;
use otlp_embedded_tls::{verify_chain, TrustAnchors, MAX_CHAIN_CERTIFICATES};

/// (name, seed): a control byte, then u16-length-prefixed certificates, the last one the
/// trust anchor (fuzz/chain_harness.rs describes the layout).
const CHAINS: &[(&str, &[u8])] = &[
    (
        "p256",
        include_bytes!("../../../fuzz/corpus/x509_chain/p256_chain_ok"),
    ),
    (
        "p384",
        include_bytes!("../../../fuzz/corpus/x509_chain/p384_chain_ok"),
    ),
    (
        "rsa2048",
        include_bytes!("../../../fuzz/corpus/x509_chain/rsa_chain_ok"),
    ),
    (
        "rsa4096",
        include_bytes!("../../../fuzz/corpus/x509_chain/rsa4096_root_ok"),
    ),
];

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
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        debug::exit(debug::EXIT_FAILURE);
        loop {}
    };
    let mut syst = peripherals.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(TICKS_MAX);
    const LOOP: u32 = 1_000_000;
    hprintln!(
        "calibration {} instructions ticks {:?}",
        2 * LOOP,
        calibrate(&mut syst, LOOP)
    );
    for (name, seed) in CHAINS {
        // Keep the data opaque to the optimizer: it must not fold the verification away.
        let seed = core::hint::black_box(*seed);
        let (chain, len, anchor) = split(seed);
        let (result, stack, ticks) = measure(&mut syst, || {
            verify_chain(
                &chain[..len],
                TrustAnchors::One(anchor),
                "collector.test",
                None,
            )
        });
        let expected = match *name {
            "p384" if !cfg!(feature = "p384") => Err(TlsFailure::NoCommonParameters),
            "rsa2048" | "rsa4096" if !cfg!(feature = "rsa") => Err(TlsFailure::NoCommonParameters),
            _ => Ok(()),
        };
        ok &= result == expected;
        hprintln!(
            "verify {} {:?} ticks {:?} stack {}",
            name,
            result,
            ticks,
            stack
        );
    }
    #[cfg(feature = "handshake")]
    {
        let handshake_ok = handshake::fails_cleanly(split(CHAINS[0].1).2);
        ok &= handshake_ok;
        hprintln!(
            "handshake over a dead stream failed cleanly: {}",
            handshake_ok
        );
    }
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}
