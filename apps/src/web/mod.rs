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
//! Server: hyper 1.x (HTTP/1.1) on a small tokio runtime owned by the server ([`server`]); the
//! capture and model loops stay plain threads, and each stream is fed from the hub by a thread
//! of its own through a bounded channel ([`routes`]). hyper replaced `tiny_http`, which offered
//! no way to bound a request's head or to time out a slow client (issue 15), and then a
//! hand-written parser: hyper's parser is bounded, widely deployed and fuzzed upstream.
//! The limits, each answered as stated:
//!
//! - request head at most [`server::MAX_HEAD_BYTES`] (431, by hyper);
//! - request body at most [`routes::MAX_BODY_BYTES`] (413; a declared length is checked before
//!   a byte is read, a chunked body is counted as it arrives);
//! - the head within [`server::HEAD_DEADLINE`] (hyper closes the connection, without a 408),
//!   the body within [`routes::BODY_DEADLINE`] after it (408);
//! - [`server::MAX_CONNECTIONS`] connections at once (503 beyond), of which
//!   [`routes::MAX_STREAMS`] streams (503 beyond);
//! - a write stalled for [`server::WRITE_TIMEOUT`] ends its connection, its stream's thread and
//!   buffers with it.

mod hub;
mod result_frames;
mod routes;
mod server;

use anyhow::{anyhow, Context};
use hub::{encode_frames, encode_jpeg, EventHub};
use result_frames::ResultFrames;
use routes::Shared;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use unival_manifest::TaskKind;
use unival_runtime::live::{Frame, LiveResult, LiveRun, Watch};

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

/// A running web server; dropped or [`WebServer::stop`]ped, it ends its streams.
pub struct WebServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
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
        let (stop, stopped) = watch::channel(false);
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("web-server".into())
                .spawn(move || server::run(listener, shared, stopped))
                .context("starting the web server")?;
        }
        Ok(WebServer { shared, addr, stop })
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
        self.stop.send_replace(true);
        self.shared.hub.close();
        self.shared.jpegs.close();
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routes::question_text;

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
