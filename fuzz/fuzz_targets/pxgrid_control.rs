//! Fuzzes `netpulse::fuzz_targets::pxgrid_control`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netpulse::fuzz_targets::pxgrid_control(data));
