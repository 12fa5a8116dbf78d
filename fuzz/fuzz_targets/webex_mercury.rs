//! Fuzzes `netpulse::fuzz_targets::webex_mercury`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::webex_mercury(data));
