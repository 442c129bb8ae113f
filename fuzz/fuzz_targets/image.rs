//! `cargo fuzz run image`: see unival_tests::fuzz_targets::image.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| unival_tests::fuzz_targets::image::run(data));
