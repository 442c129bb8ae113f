//! `cargo fuzz run prompts`: see unival_tests::fuzz_targets::prompts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unival_tests::fuzz_targets::prompts::run(data));
