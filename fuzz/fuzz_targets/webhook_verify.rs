//! Fuzzes `netpulse::fuzz_targets::webhook_verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::webhook_verify(data));
