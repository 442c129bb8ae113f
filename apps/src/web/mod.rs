//! The live web page (`unival live … --serve ADDR`): one process, several viewers, a phone's
//! browser included. Routes:
//!
//! - `GET /`            the page (`page.html`, embedded in the binary);
//! - `GET /info`        `{"task", "source", "questions"}` for the page's title and question box;
//! - `GET /stream.mjpg` the newest frame as a `multipart/x-mixed-replace` JPEG stream;
//! - `GET /events`      results as Server-Sent Events (one JSON [`LiveResult`] per event);
//! - `POST /question`   `{"question": "…"}` (or plain text) sets the active question (vqa).
//!
//! Server: `tiny_http`, synchronous, one thread per request; streams write to the socket
//! directly and flush each part, and everything a slow viewer could pile up is bounded
//! ([`hub`]). Chosen over `axum` because the loops are plain threads already: a handful of
//! long-lived streams fit thread-per-viewer, and it avoids pulling tokio and hyper into the
//! binary of an edge device.

mod hub;

use anyhow::{anyhow, Context};
use hub::{encode_frames, EventHub};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};
use unival_manifest::TaskKind;
use unival_runtime::live::{Frame, LiveResult, LiveRun, QuestionBox, Watch};

/// The page, served as is.
const PAGE: &str = include_str!("page.html");
/// Streams (MJPEG and events) open at once at most; more are refused with 503.
pub const MAX_STREAMS: usize = 32;
/// Longest question body read.
const MAX_QUESTION_BYTES: u64 = 4096;
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
        let server =
            Server::http(bind).map_err(|e| anyhow!("--serve {bind}: cannot listen: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow!("--serve {bind}: not an IP address"))?;
        let info = serde_json::json!({
            "task": run.task().name(),
            "source": run.describe(),
            "questions": run.task() == TaskKind::Vqa,
        })
        .to_string();
        let shared = Arc::new(Shared {
            hub: EventHub::default(),
            jpegs: Watch::new(),
            questions: run.questions(),
            takes_questions: run.task() == TaskKind::Vqa,
            info,
            streams: AtomicUsize::new(0),
            watchers: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let frames: Arc<Watch<Frame>> = run.frames();
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("web-jpeg".into())
                .spawn(move || encode_frames(&frames, &shared.jpegs, &shared.watchers))
                .context("starting the JPEG encoder")?;
        }
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("web-accept".into())
                .spawn(move || accept(&server, &shared))
                .context("starting the web server")?;
        }
        Ok(WebServer { shared, addr })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a result to every viewer.
    pub fn publish(&self, r: &LiveResult) {
        if let Ok(json) = serde_json::to_string(r) {
            self.shared.hub.publish(&json);
        }
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

/// Accepts requests until stopped, one thread each.
fn accept(server: &Server, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let req = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("warning: web server: {e}");
                continue;
            }
        };
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("web-request".into())
            .spawn(move || handle(req, &shared));
        if let Err(e) = spawned {
            eprintln!("warning: web server: cannot start a request thread: {e}");
        }
    }
}

fn respond_text(req: Request, status: u16, content_type: &str, body: &str) {
    let mut resp = Response::from_string(body).with_status_code(status);
    for (name, value) in [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
    ] {
        // ASCII names and values always make a header.
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            resp.add_header(h);
        }
    }
    let _ = req.respond(resp);
}

fn handle(req: Request, shared: &Shared) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    match (req.method(), path.as_str()) {
        (Method::Get, "/") | (Method::Get, "/index.html") => {
            respond_text(req, 200, "text/html; charset=utf-8", PAGE)
        }
        (Method::Get, "/info") => respond_text(req, 200, "application/json", &shared.info),
        (Method::Post, "/question") => question(req, shared),
        (Method::Get, "/stream.mjpg") | (Method::Get, "/events") => {
            if shared.streams.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
                respond_text(req, 503, "text/plain", "too many viewers");
            } else if path == "/events" {
                events(req, shared);
            } else {
                shared.watchers.fetch_add(1, Ordering::Relaxed);
                mjpeg(req, shared);
                shared.watchers.fetch_sub(1, Ordering::Relaxed);
            }
            shared.streams.fetch_sub(1, Ordering::Relaxed);
        }
        _ => respond_text(req, 404, "text/plain", "not found"),
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

fn question(mut req: Request, shared: &Shared) {
    if !shared.takes_questions {
        return respond_text(req, 409, "text/plain", "this loop takes no questions");
    }
    let mut body = String::new();
    if req
        .as_reader()
        .take(MAX_QUESTION_BYTES)
        .read_to_string(&mut body)
        .is_err()
    {
        return respond_text(req, 400, "text/plain", "the body is not UTF-8 text");
    }
    let q = question_text(&body);
    if shared.questions.ask(&q) {
        respond_text(req, 204, "text/plain", "")
    } else {
        respond_text(req, 400, "text/plain", "the question is empty")
    }
}

/// Writes a streaming response's head; the body follows until the viewer leaves.
fn stream_head(w: &mut dyn Write, content_type: &str) -> std::io::Result<()> {
    write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-store\r\n\
         Connection: close\r\nX-Accel-Buffering: no\r\n\r\n"
    )?;
    w.flush()
}

/// The newest frame as JPEG parts, skipping frames the viewer was too slow for.
fn mjpeg(req: Request, shared: &Shared) {
    let mut w = req.into_writer();
    if stream_head(&mut *w, "multipart/x-mixed-replace; boundary=frame").is_err() {
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
fn events(req: Request, shared: &Shared) {
    let mut w = req.into_writer();
    if stream_head(&mut *w, "text/event-stream").is_err() {
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
