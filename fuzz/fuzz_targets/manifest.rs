//! `cargo fuzz run manifest`: see unival_tests::fuzz_targets::manifest.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unival_tests::fuzz_targets::manifest::run(data));
