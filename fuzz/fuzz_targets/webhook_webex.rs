//! Fuzzes `netpulse::fuzz_targets::webhook_webex`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::webhook_webex(data));
