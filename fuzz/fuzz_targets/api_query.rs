//! Fuzzes `netpulse::fuzz_targets::api_query`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::api_query(data));
