//! Fuzzes `netpulse::fuzz_targets::dme`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::dme(data));
