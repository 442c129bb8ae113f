//! `cargo fuzz run web` with UNIVAL_FUZZ_WEB=HOST:PORT naming a running `unival live … --serve`
//! (scripts/fuzz.sh starts one): see unival_tests::fuzz_targets::web.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use unival_tests::fuzz_targets::web;

fn addr() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(web::addr_from_env)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| web::run(addr(), data));
