//! The live web server (`unival live … --serve`) over TCP: arbitrary bytes sent as a request
//! must be answered or the connection closed, and the server must still serve `GET /info`
//! afterwards. The server is a separate process (scripts/fuzz.sh starts one and names it in
//! [`ADDR_ENV`]; apps/tests/fuzz_web_corpus.rs starts its own), so a crash shows as a dead
//! server rather than taking the fuzzer down with it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Environment variable holding the server's `HOST:PORT` for the `web` fuzz binary.
pub const ADDR_ENV: &str = "UNIVAL_FUZZ_WEB";
/// How long one exchange may read the answer (streams never end; they are cut here).
const READ_FOR: Duration = Duration::from_millis(400);
/// How long the server has to answer the health check after an input.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Most answer bytes kept from one exchange.
const MAX_ANSWER: usize = 1 << 16;

/// What the server did with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It sent bytes starting with an HTTP status line (kept, at most [`MAX_ANSWER`]).
    Answered(Vec<u8>),
    /// It closed the connection without a byte.
    Closed,
    /// Nothing came back within the read window (a partial request it is still waiting on).
    Waiting,
}

/// Sends `data` on a fresh connection to `addr` and reads what comes back for a short while.
/// Panics when the server cannot be reached or answers without an HTTP status line.
pub fn exchange(addr: SocketAddr, data: &[u8]) -> Outcome {
    let mut stream = TcpStream::connect_timeout(&addr, HEALTH_TIMEOUT)
        .unwrap_or_else(|e| panic!("the web server at {addr} is unreachable: {e}"));
    stream
        .set_read_timeout(Some(READ_FOR))
        .expect("setting a read timeout");
    // The server may close before reading everything (a refused body): not an error here.
    let _ = stream.write_all(data);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while answer.len() < MAX_ANSWER && start.elapsed() < READ_FOR {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            // Timed out (still waiting), or reset by the server (it closed).
            Err(_) => break,
        }
    }
    if answer.is_empty() {
        return if start.elapsed() >= READ_FOR {
            Outcome::Waiting
        } else {
            Outcome::Closed
        };
    }
    // A status line (tiny_http echoes the request's version, e.g. `HTTP/2.0 400` to a mangled
    // HTTP/2 preface: odd but harmless).
    assert!(
        answer.starts_with(b"HTTP/"),
        "the server answered with something that is not HTTP: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    Outcome::Answered(answer)
}

/// Panics unless `GET /info` on a fresh connection is answered `200` with JSON.
pub fn assert_alive(addr: SocketAddr) {
    let mut stream = TcpStream::connect_timeout(&addr, HEALTH_TIMEOUT)
        .unwrap_or_else(|e| panic!("the web server at {addr} died: {e}"));
    stream
        .set_read_timeout(Some(HEALTH_TIMEOUT))
        .expect("setting a read timeout");
    stream
        .write_all(b"GET /info HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n")
        .unwrap_or_else(|e| panic!("the web server at {addr} stopped reading: {e}"));
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.contains("\"task\""),
        "the web server at {addr} no longer answers GET /info: {:?}",
        &text[..text.len().min(200)]
    );
}

/// One fuzz input: [`exchange`], then [`assert_alive`].
pub fn run(addr: SocketAddr, data: &[u8]) {
    exchange(addr, data);
    assert_alive(addr);
}

/// The server named by [`ADDR_ENV`]; panics with what to do when it is not set.
pub fn addr_from_env() -> SocketAddr {
    let text = std::env::var(ADDR_ENV).unwrap_or_else(|_| {
        panic!("{ADDR_ENV} must name a running `unival live … --serve` (scripts/fuzz.sh sets it)")
    });
    text.parse()
        .unwrap_or_else(|e| panic!("{ADDR_ENV}={text}: not HOST:PORT: {e}"))
}
