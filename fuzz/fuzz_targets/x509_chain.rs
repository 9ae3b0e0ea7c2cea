#![no_main]

#[path = "../chain_harness.rs"]
mod chain_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = chain_harness::certificate_chain(data);
});
