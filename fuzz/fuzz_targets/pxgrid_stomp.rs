//! Fuzzes `netpulse::fuzz_targets::pxgrid_stomp`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::pxgrid_stomp(data));
