//! Fuzzes `netpulse::fuzz_targets::webex_markdown`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::webex_markdown(data));
