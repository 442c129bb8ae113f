//! `cargo fuzz run audio`: see unival_tests::fuzz_targets::audio.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unival_tests::fuzz_targets::audio::run(data));
