//! Connections: accepting them, capping how many are open, and bounding how long each may take
//! (issue 15: one client must not be able to hold the server).
//!
//! - At most [`MAX_CONNECTIONS`] connections are served at once (each has a thread); one more
//!   is answered 503 at once by the accepting thread and closed.
//! - A request must arrive whole within [`REQUEST_DEADLINE`] of the connection opening: reads
//!   go through [`DeadlineReader`], whose socket timeout is the time left, so a client sending
//!   one byte a second (slowloris) or nothing at all is answered 408 and dropped.
//! - Every write has [`WRITE_TIMEOUT`]: a viewer that stops reading its stream is dropped
//!   instead of holding its thread.

use super::http::{self, HttpError, Request};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections served at once, streams included (of which at most `MAX_STREAMS`).
pub const MAX_CONNECTIONS: usize = 64;
/// Time from accepting a connection to having read its whole request.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Longest a single write may block (a viewer that stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the accepting thread looks at the stop flag when nobody connects.
const ACCEPT_POLL: Duration = Duration::from_millis(25);
/// After an error answer, how long unread request bytes are drained so the client sees the
/// answer rather than a connection reset.
const LINGER: Duration = Duration::from_millis(500);
/// The same for a 503 sent by the accepting thread, which must get back to accepting.
const LINGER_REFUSED: Duration = Duration::from_millis(50);

/// Reads from a socket until a fixed deadline: each read waits at most for the time left.
pub struct DeadlineReader {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Releases a connection slot when the connection's thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Answers `status` with `text`, then closes politely: the client may still be sending (a big
/// body, huge headers), and closing with unread bytes would reset the connection before it
/// read the answer.
fn refuse(mut stream: TcpStream, status: u16, text: &str, linger: Duration) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    if http::write_response(
        &mut stream,
        status,
        "text/plain; charset=utf-8",
        text.as_bytes(),
    )
    .is_err()
    {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut drain = DeadlineReader {
        stream,
        deadline: Instant::now() + linger,
    };
    let mut sink = [0u8; 4096];
    let mut left: usize = 1 << 20;
    while left > 0 {
        match drain.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Accepts connections on `listener` until `stop` is raised; each request read within the
/// limits is passed, with its socket, to `handle` on the connection's own thread.
pub fn serve(
    listener: TcpListener,
    stop: &AtomicBool,
    handle: Arc<dyn Fn(Request, TcpStream) + Send + Sync>,
) {
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("warning: web server: {e}");
        return;
    }
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
            Err(e) => {
                // Out of descriptors and the like: wait, do not spin.
                eprintln!("warning: web server: {e}");
                std::thread::sleep(ACCEPT_POLL);
                continue;
            }
        };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        if open.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::Relaxed);
            refuse(
                stream,
                503,
                "too many connections, try again later",
                LINGER_REFUSED,
            );
            continue;
        }
        let slot = Slot(Arc::clone(&open));
        let handle = Arc::clone(&handle);
        let spawned = std::thread::Builder::new()
            .name("web-conn".into())
            .spawn(move || {
                let _slot = slot;
                connection(stream, &*handle);
            });
        if let Err(e) = spawned {
            eprintln!("warning: web server: cannot start a connection thread: {e}");
        }
    }
}

/// Reads one request within the deadline and hands it on, or answers the error.
fn connection(stream: TcpStream, handle: &(dyn Fn(Request, TcpStream) + Send + Sync)) {
    let _ = stream.set_nodelay(true);
    if stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(DeadlineReader {
        stream: read_half,
        deadline: Instant::now() + REQUEST_DEADLINE,
    });
    match http::read_request(&mut reader) {
        Ok(req) => handle(req, stream),
        Err(HttpError::Closed) => {}
        Err(e) => {
            let (status, text) = e.status();
            refuse(stream, status, &text, LINGER);
        }
    }
}

/// Writes a complete response on `stream`, ignoring a client that already left.
pub fn respond(mut stream: TcpStream, status: u16, content_type: &str, body: &[u8]) {
    let _ = http::write_response(&mut stream, status, content_type, body);
    let _ = stream.flush();
}
