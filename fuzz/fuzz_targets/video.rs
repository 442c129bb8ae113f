//! `cargo fuzz run video`: see unival_tests::fuzz_targets::video.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unival_tests::fuzz_targets::video::run(data));
