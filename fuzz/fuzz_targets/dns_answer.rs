#![no_main]

#[path = "../dns_harness.rs"]
mod dns_harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = dns_harness::dns_answer(data);
});
