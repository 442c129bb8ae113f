//! The live web page (`unival live … --serve ADDR`): one process, several viewers, a phone's
//! browser included. Routes:
//!
//! - `GET /`               the page (`page.html`, embedded in the binary);
//! - `GET /info`           `{"task", "source", "questions"}` for the page's title and question box;
//! - `GET /stream.mjpg`    the newest frame as a `multipart/x-mixed-replace` JPEG stream;
//! - `GET /events`         results as Server-Sent Events (one JSON [`LiveResult`] per event, with
//!   `"frame": "/result/<seq>.jpg"` when the result was computed on a frame);
//! - `GET /result/<seq>.jpg` the frame a result was computed on ([`result_frames`]);
//! - `POST /question`      `{"question": "…"}` (or plain text) sets the active question (vqa).
//!
//! Server: our own small HTTP/1.1 over `std::net` ([`http`], [`conn`]), one thread per
//! connection, one request per connection. It replaced `tiny_http` (issue 15), which offers no
//! way to bound a request's head or to time out a client that sends its request one byte a
//! second: here every size and every wait is bounded ([`http`], [`conn`]), and a handful of
//! long-lived streams still fit thread-per-viewer. `axum`/`hyper` would bound these too, but
//! would pull tokio into the binary of an edge device whose loops are plain threads.

mod conn;
pub mod http;
mod hub;
mod result_frames;

use anyhow::{anyhow, Context};
use hub::{encode_frames, encode_jpeg, EventHub};
use result_frames::ResultFrames;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use unival_manifest::TaskKind;
use unival_runtime::live::{Frame, LiveResult, LiveRun, QuestionBox, Watch};

/// The page, served as is.
const PAGE: &str = include_str!("page.html");
/// Streams (MJPEG and events) open at once at most; more are refused with 503.
pub const MAX_STREAMS: usize = 32;
/// An SSE comment is sent after this long without events, so dead viewers are noticed.
const KEEPALIVE: Duration = Duration::from_secs(10);

/// `--serve` text to an address: a bare port binds 127.0.0.1; anything else is `HOST:PORT`.
pub fn parse_bind(text: &str) -> anyhow::Result<SocketAddr> {
    let t = text.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    let bad = || anyhow!("--serve {text}: expected a port (8080) or HOST:PORT (0.0.0.0:8080)");
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // A host name with a port (localhost:8080): its first address.
    t.to_socket_addrs()
        .map_err(|_| bad())?
        .next()
        .ok_or_else(bad)
}

/// What the request handlers share.
struct Shared {
    hub: EventHub,
    jpegs: Watch<Vec<u8>>,
    result_frames: ResultFrames,
    questions: Arc<QuestionBox>,
    takes_questions: bool,
    info: String,
    streams: AtomicUsize,
    watchers: AtomicUsize,
    stop: AtomicBool,
}

/// A running web server; dropped or [`WebServer::stop`]ped, it ends its streams.
pub struct WebServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl WebServer {
    /// Binds `bind` and serves the page of `run` from background threads.
    pub fn start(bind: SocketAddr, run: &LiveRun) -> anyhow::Result<WebServer> {
        let listener =
            TcpListener::bind(bind).map_err(|e| anyhow!("--serve {bind}: cannot listen: {e}"))?;
        let addr = listener
            .local_addr()
            .with_context(|| format!("--serve {bind}: no local address"))?;
        let info = serde_json::json!({
            "task": run.task().name(),
            "source": run.describe(),
            "questions": run.task() == TaskKind::Vqa,
        })
        .to_string();
        let shared = Arc::new(Shared {
            hub: EventHub::default(),
            jpegs: Watch::new(),
            result_frames: ResultFrames::default(),
            questions: run.questions(),
            takes_questions: run.task() == TaskKind::Vqa,
            info,
            streams: AtomicUsize::new(0),
            watchers: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let frames: Arc<Watch<Frame>> = run.frames();
        run.keep_result_frames();
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("web-jpeg".into())
                .spawn(move || encode_frames(&frames, &shared.jpegs, &shared.watchers))
                .context("starting the JPEG encoder")?;
        }
        {
            let shared = Arc::clone(&shared);
            let handler = Arc::clone(&shared);
            let handle: Arc<dyn Fn(http::Request, TcpStream) + Send + Sync> =
                Arc::new(move |req, stream| route(&req, stream, &handler));
            std::thread::Builder::new()
                .name("web-accept".into())
                .spawn(move || conn::serve(listener, &shared.stop, handle))
                .context("starting the web server")?;
        }
        Ok(WebServer { shared, addr })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a result to every viewer; the frame it was computed on, if any, is kept as JPEG
    /// and named in the event (`"frame": "/result/<seq>.jpg"`).
    pub fn publish(&self, r: &LiveResult) {
        let Ok(mut event) = serde_json::to_value(r) else {
            return;
        };
        if let Some(frame) = &r.frame {
            let kept = &self.shared.result_frames;
            if !kept.has(frame.seq) {
                match encode_jpeg(frame) {
                    Ok(jpeg) => kept.keep(frame.seq, jpeg),
                    Err(e) => eprintln!("warning: cannot encode frame {} as JPEG: {e}", frame.seq),
                }
            }
            if kept.has(frame.seq) {
                event["frame"] = serde_json::Value::from(result_frames::url(frame.seq));
            }
        }
        self.shared.hub.publish(&event.to_string());
    }

    /// Ends the streams and stops accepting.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.hub.close();
        self.shared.jpegs.close();
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn route(req: &http::Request, stream: TcpStream, shared: &Shared) {
    let get = req.method == "GET";
    let path = req.path.as_str();
    match path {
        "/" | "/index.html" if get => {
            conn::respond(stream, 200, "text/html; charset=utf-8", PAGE.as_bytes())
        }
        "/info" if get => conn::respond(stream, 200, "application/json", shared.info.as_bytes()),
        "/question" if req.method == "POST" => question(req, stream, shared),
        "/stream.mjpg" | "/events" if get => {
            if shared.streams.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
                conn::respond(stream, 503, "text/plain", b"too many viewers");
            } else if path == "/events" {
                events(stream, shared);
            } else {
                shared.watchers.fetch_add(1, Ordering::Relaxed);
                mjpeg(stream, shared);
                shared.watchers.fetch_sub(1, Ordering::Relaxed);
            }
            shared.streams.fetch_sub(1, Ordering::Relaxed);
        }
        _ if get && result_frames::parse_path(path).is_some() => {
            match result_frames::parse_path(path).and_then(|seq| shared.result_frames.get(seq)) {
                Some(jpeg) => conn::respond(stream, 200, "image/jpeg", &jpeg),
                None => conn::respond(
                    stream,
                    404,
                    "text/plain",
                    b"no such result frame (kept: the last 64)",
                ),
            }
        }
        "/" | "/index.html" | "/info" | "/question" | "/stream.mjpg" | "/events" => {
            conn::respond(stream, 405, "text/plain", b"method not allowed")
        }
        _ => conn::respond(stream, 404, "text/plain", b"not found"),
    }
}

/// The question in a body: `{"question": "…"}`, or the whole body as text.
fn question_text(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => v
            .get("question")
            .and_then(|q| q.as_str())
            .unwrap_or("")
            .to_string(),
        Err(_) => body.to_string(),
    }
}

/// Sets the active question. Its length is bounded by the body limit ([`http::MAX_BODY_BYTES`]);
/// the task cuts it further exactly as it cuts any question (words, then source ids at
/// `max_source_positions − 2`, `unival_runtime::tasks`), so it is not cut twice here.
fn question(req: &http::Request, stream: TcpStream, shared: &Shared) {
    if !shared.takes_questions {
        return conn::respond(stream, 409, "text/plain", b"this loop takes no questions");
    }
    let Ok(body) = std::str::from_utf8(&req.body) else {
        return conn::respond(stream, 400, "text/plain", b"the body is not UTF-8 text");
    };
    if shared.questions.ask(&question_text(body)) {
        conn::respond(stream, 204, "text/plain", b"")
    } else {
        conn::respond(stream, 400, "text/plain", b"the question is empty")
    }
}

/// The newest frame as JPEG parts, skipping frames the viewer was too slow for.
fn mjpeg(mut w: TcpStream, shared: &Shared) {
    if http::write_stream_head(&mut w, "multipart/x-mixed-replace; boundary=frame").is_err() {
        return;
    }
    let mut seen = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let Some((jpeg, version)) = shared.jpegs.wait_newer(seen, Duration::from_millis(500))
        else {
            if shared.jpegs.is_closed() {
                return;
            }
            continue;
        };
        seen = version;
        let part = write!(
            w,
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        )
        .and_then(|()| w.write_all(&jpeg))
        .and_then(|()| w.write_all(b"\r\n"))
        .and_then(|()| w.flush());
        if part.is_err() {
            return;
        }
    }
}

/// Results as Server-Sent Events, from this viewer's bounded queue.
fn events(mut w: TcpStream, shared: &Shared) {
    if http::write_stream_head(&mut w, "text/event-stream").is_err() {
        return;
    }
    let queue = shared.hub.subscribe();
    let mut ok = write!(w, "retry: 1000\n\n")
        .and_then(|()| w.flush())
        .is_ok();
    while ok && !queue.is_closed() {
        let sent = match queue.pop(KEEPALIVE) {
            Some(e) => write!(w, "data: {e}\n\n"),
            None => write!(w, ": keepalive\n\n"),
        };
        ok = sent.and_then(|()| w.flush()).is_ok();
    }
    shared.hub.unsubscribe(&queue);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses() {
        assert_eq!(parse_bind("8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(
            parse_bind("0.0.0.0:9000").unwrap().to_string(),
            "0.0.0.0:9000"
        );
        assert_eq!(parse_bind("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(parse_bind("localhost:8080").unwrap().ip().is_loopback());
        let err = parse_bind("localhost").unwrap_err().to_string();
        assert!(
            err.starts_with("--serve localhost: expected a port"),
            "{err}"
        );
    }

    #[test]
    fn question_bodies() {
        assert_eq!(
            question_text(r#"{"question": "what color?"}"#),
            "what color?"
        );
        assert_eq!(question_text("is it red?"), "is it red?");
        assert_eq!(question_text(r#"{"q": 1}"#), "");
    }
}
