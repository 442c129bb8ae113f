//! `cargo fuzz run tokenizer`: see unival_tests::fuzz_targets::tokenizer.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unival_tests::fuzz_targets::tokenizer::run(data));
