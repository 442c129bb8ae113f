//! The page's routes on hyper: whole answers, the bounded question body, and the two streams,
//! whose bodies are fed from the hub by a plain thread per viewer through a small bounded
//! channel (the thread ends when the viewer leaves or the run ends).

use super::hub::EventHub;
use super::result_frames::{self, ResultFrames};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use unival_runtime::live::{QuestionBox, Watch};

/// The page, served as is.
const PAGE: &str = include_str!("page.html");
/// Streams (MJPEG and events) open at once at most; more are refused with 503.
pub const MAX_STREAMS: usize = 32;
/// Longest request body: a question is a sentence; the task cuts longer text itself.
pub const MAX_BODY_BYTES: usize = 4 * 1024;
/// Time allowed for a request body to arrive once its head has.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// An SSE comment is sent after this long without events, so dead viewers are noticed.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Stream parts waiting to be written to one viewer; the feeding thread waits beyond it.
const STREAM_BACKLOG: usize = 4;

/// What the request handlers share.
pub struct Shared {
    pub hub: EventHub,
    pub jpegs: Watch<Vec<u8>>,
    pub result_frames: ResultFrames,
    pub questions: Arc<QuestionBox>,
    pub takes_questions: bool,
    pub info: String,
    pub streams: AtomicUsize,
    pub watchers: AtomicUsize,
    pub stop: AtomicBool,
}

/// A response body: whole, or streamed.
pub type Body = BoxBody<Bytes, Infallible>;

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}

/// Answers one request.
pub async fn route(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Body>, Infallible> {
    let get = req.method() == Method::GET;
    let path = req.uri().path().to_string();
    Ok(match path.as_str() {
        "/" | "/index.html" if get => respond(StatusCode::OK, "text/html; charset=utf-8", PAGE),
        "/info" if get => respond(StatusCode::OK, "application/json", shared.info.clone()),
        "/question" if req.method() == Method::POST => question(req, &shared).await,
        "/stream.mjpg" | "/events" if get => stream(&path, &shared),
        _ if get && result_frames::parse_path(&path).is_some() => {
            match result_frames::parse_path(&path).and_then(|seq| shared.result_frames.get(seq)) {
                Some(jpeg) => respond(StatusCode::OK, "image/jpeg", Vec::clone(&jpeg)),
                None => text(
                    StatusCode::NOT_FOUND,
                    "no such result frame (kept: the last 64)",
                ),
            }
        }
        "/" | "/index.html" | "/info" | "/question" | "/stream.mjpg" | "/events" => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    })
}

/// The question in a body: `{"question": "…"}`, or the whole body as text.
pub fn question_text(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => v
            .get("question")
            .and_then(|q| q.as_str())
            .unwrap_or("")
            .to_string(),
        Err(_) => body.to_string(),
    }
}

/// The body of a request, within [`MAX_BODY_BYTES`] (a declared length is checked before a
/// byte is read; a chunked body is counted as it arrives) and [`BODY_DEADLINE`].
async fn read_body(req: Request<Incoming>) -> Result<Bytes, Response<Body>> {
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large (at most 4096 bytes)",
        )
    };
    let declared = hyper::body::Body::size_hint(req.body()).lower();
    if declared > MAX_BODY_BYTES as u64 {
        return Err(too_large());
    }
    let limited = Limited::new(req.into_body(), MAX_BODY_BYTES);
    match tokio::time::timeout(BODY_DEADLINE, limited.collect()).await {
        Err(_) => Err(text(StatusCode::REQUEST_TIMEOUT, "request timed out")),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(text(StatusCode::BAD_REQUEST, "bad request body")),
    }
}

/// Sets the active question. Its length is bounded by the body limit ([`MAX_BODY_BYTES`]);
/// the task cuts it further exactly as it cuts any question (words, then source ids at
/// `max_source_positions − 2`, `unival_runtime::tasks`), so it is not cut twice here.
async fn question(req: Request<Incoming>, shared: &Shared) -> Response<Body> {
    let body = match read_body(req).await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    if !shared.takes_questions {
        return text(StatusCode::CONFLICT, "this loop takes no questions");
    }
    let Ok(body) = std::str::from_utf8(&body) else {
        return text(StatusCode::BAD_REQUEST, "the body is not UTF-8 text");
    };
    if shared.questions.ask(&question_text(body)) {
        text(StatusCode::NO_CONTENT, "")
    } else {
        text(StatusCode::BAD_REQUEST, "the question is empty")
    }
}

/// A streamed body: parts from a bounded channel, ending when its sender goes.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|part| part.map(|b| Ok(Frame::data(b))))
    }
}

/// Releases a stream slot when the feeding thread ends, however it ends.
struct StreamSlot(Arc<Shared>, bool);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if self.1 {
            self.0.watchers.fetch_sub(1, Ordering::Relaxed);
        }
        self.0.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `/stream.mjpg` or `/events`: a streamed response fed by a thread, or 503 beyond the cap.
fn stream(path: &str, shared: &Arc<Shared>) -> Response<Body> {
    if shared.streams.fetch_add(1, Ordering::Relaxed) >= MAX_STREAMS {
        shared.streams.fetch_sub(1, Ordering::Relaxed);
        return text(StatusCode::SERVICE_UNAVAILABLE, "too many viewers");
    }
    let mjpeg = path == "/stream.mjpg";
    if mjpeg {
        shared.watchers.fetch_add(1, Ordering::Relaxed);
    }
    let slot = StreamSlot(Arc::clone(shared), mjpeg);
    let (tx, rx) = mpsc::channel(STREAM_BACKLOG);
    let spawned = std::thread::Builder::new()
        .name("web-stream".into())
        .spawn(move || {
            let shared = Arc::clone(&slot.0);
            if mjpeg {
                feed_mjpeg(&tx, &shared);
            } else {
                feed_events(&tx, &shared);
            }
            drop(slot);
        });
    if spawned.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "cannot start a stream");
    }
    let content_type = if mjpeg {
        "multipart/x-mixed-replace; boundary=frame"
    } else {
        "text/event-stream"
    };
    let mut r = Response::new(ChannelBody(rx).boxed());
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// Sends one part, waiting while the viewer's backlog is full; false once the viewer is gone.
/// A viewer that stops reading is dropped by the connection's write timeout
/// ([`super::server::WRITE_TIMEOUT`]), which drops the receiver and so ends the wait.
fn send(tx: &mpsc::Sender<Bytes>, part: Vec<u8>) -> bool {
    tx.blocking_send(Bytes::from(part)).is_ok()
}

/// The newest frame as JPEG parts, skipping frames the viewer was too slow for.
fn feed_mjpeg(tx: &mpsc::Sender<Bytes>, shared: &Shared) {
    let mut seen = 0;
    while !shared.stop.load(Ordering::Relaxed) && !tx.is_closed() {
        let Some((jpeg, version)) = shared.jpegs.wait_newer(seen, Duration::from_millis(500))
        else {
            if shared.jpegs.is_closed() {
                return;
            }
            continue;
        };
        seen = version;
        let mut part = format!(
            "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
            jpeg.len()
        )
        .into_bytes();
        part.extend_from_slice(&jpeg);
        part.extend_from_slice(b"\r\n");
        if !send(tx, part) {
            return;
        }
    }
}

/// Results as Server-Sent Events, from this viewer's bounded queue.
fn feed_events(tx: &mpsc::Sender<Bytes>, shared: &Shared) {
    let queue = shared.hub.subscribe();
    let mut ok = send(tx, b"retry: 1000\n\n".to_vec());
    while ok && !queue.is_closed() {
        let part = match queue.pop(KEEPALIVE) {
            Some(e) => format!("data: {e}\n\n"),
            None => ": keepalive\n\n".to_string(),
        };
        ok = send(tx, part.into_bytes());
    }
    shared.hub.unsubscribe(&queue);
}
