//! Starting a live run (ARCHITECTURE.md §5): one capture thread per source feeding a newest-wins
//! hand-over, one inference thread calling [`Pipeline::run_media`], and results on a bounded
//! channel. Everything between the threads is bounded, so a slow model costs dropped frames,
//! never memory or latency.
//!
//! ```text
//! source ──capture thread──▶ Latest<frame> / FrameWindow / AudioWindow ──inference──▶ results
//!                     └────▶ Watch<frame> (web page)          QuestionBox (stdin, web) ──┘
//! ```

use super::capture::{run_capture, CaptureCtx, CaptureEnd};
use super::latest::{Latest, Watch};
use super::loops::{self, LoopCtx};
use super::window::{AudioWindow, FrameWindow, WindowSpan};
use super::{AudioSource, Frame, FrameSource, LiveError, LiveResult, ResultKind};
use crate::generate::Trie;
use crate::tasks::{Media, Pipeline, Request, TaskError, TaskOutput};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use unival_manifest::TaskKind;

/// Results (and status lines) waiting for the consumer at most; the inference thread waits
/// when the consumer falls this far behind.
pub const RESULT_BUFFER: usize = 64;

/// Anything that answers a request about in-memory media: the [`Pipeline`], or a stand-in in
/// tests.
pub trait Infer: Send {
    /// Runs `request` on `media`; `label` names the input in errors.
    fn infer(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<TaskOutput, TaskError>;
}

impl Infer for Pipeline {
    fn infer(
        &mut self,
        label: &str,
        media: &Media,
        request: &Request,
    ) -> Result<TaskOutput, TaskError> {
        self.run_media(label, media, request)
    }
}

/// What a frame loop does with the frames.
#[derive(Debug, Clone)]
pub enum FrameTask {
    /// Caption the newest frame, again and again.
    Caption,
    /// Answer the active question about the newest frame: once per question, or on every new
    /// frame with `every`; `answers` constrains the answer to a list.
    Vqa { every: bool, answers: Option<Trie> },
    /// Caption a rolling window of recent frames as a clip, holding at most `cap` frames.
    VideoCaption { span: WindowSpan, cap: usize },
}

impl FrameTask {
    /// The task the results are about.
    pub fn kind(&self) -> TaskKind {
        match self {
            FrameTask::Caption => TaskKind::Caption,
            FrameTask::Vqa { .. } => TaskKind::Vqa,
            FrameTask::VideoCaption { .. } => TaskKind::VideoCaption,
        }
    }
}

/// How an audio loop windows the sound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioTask {
    /// Window length, seconds (the model's input length).
    pub window_s: f64,
    /// A window is captioned every `hop_s` seconds of new sound.
    pub hop_s: f64,
    /// Windows whose RMS level is below this (dBFS) are reported as silence, not captioned.
    pub silence_db: f64,
}

/// How to (re)open a source, and its name in status lines ("camera 0", "microphone").
pub struct Opener<S> {
    pub name: String,
    pub open: Box<dyn FnMut() -> Result<S, LiveError> + Send>,
}

/// The active question of a VQA loop, set from stdin or the web page. Each new question gets a
/// new id, so the loop can tell "answered" from "asked again".
#[derive(Debug, Default)]
pub struct QuestionBox {
    current: Mutex<Option<(u64, String)>>,
}

impl QuestionBox {
    /// Makes `question` the active one; blank text is ignored (returns false).
    pub fn ask(&self, question: &str) -> bool {
        let q = question.trim();
        if q.is_empty() {
            return false;
        }
        let mut cur = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let id = cur.as_ref().map_or(1, |(id, _)| id + 1);
        *cur = Some((id, q.to_string()));
        true
    }

    /// The active question and its id.
    pub fn current(&self) -> Option<(u64, String)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A running live loop. Read [`LiveRun::results`] until it disconnects (the source ended) or
/// call [`LiveRun::stop`]; then [`LiveRun::finish`].
pub struct LiveRun {
    results: Receiver<LiveResult>,
    stop: Arc<AtomicBool>,
    questions: Arc<QuestionBox>,
    frames: Arc<Watch<Frame>>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
    describe: String,
    task: TaskKind,
}

/// Counts shared by the threads of a run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Items captured.
    pub captured: AtomicU64,
    /// Items the model never saw.
    pub dropped: AtomicU64,
}

impl LiveRun {
    /// Results and status lines, in emission order.
    pub fn results(&self) -> &Receiver<LiveResult> {
        &self.results
    }

    /// Asks every thread to end (the inference in progress completes first).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The flag [`LiveRun::stop`] raises, for a Ctrl-C handler.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Where questions go (VQA).
    pub fn questions(&self) -> Arc<QuestionBox> {
        Arc::clone(&self.questions)
    }

    /// The newest captured frame, for viewers (empty for audio).
    pub fn frames(&self) -> Arc<Watch<Frame>> {
        Arc::clone(&self.frames)
    }

    /// Items captured so far.
    pub fn captured(&self) -> u64 {
        self.counters.captured.load(Ordering::Relaxed)
    }

    /// Frames (or audio hops) the model never saw so far.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// The source as it described itself when opened.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The task the results are about.
    pub fn task(&self) -> TaskKind {
        self.task
    }

    /// Stops the run and waits up to `grace` for its threads (a source blocked in a device
    /// read is left behind; it holds nothing the caller needs).
    pub fn finish(self, grace: Duration) {
        self.stop();
        self.frames.close();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && !self.threads.iter().all(JoinHandle::is_finished) {
            // Keep the inference thread from blocking on a full channel while it winds down.
            while self.results.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(10));
        }
        for t in self.threads {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Shared parts every run builds.
struct Parts {
    tx: SyncSender<LiveResult>,
    rx: Receiver<LiveResult>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    frames: Arc<Watch<Frame>>,
}

fn parts() -> Parts {
    let (tx, rx) = sync_channel(RESULT_BUFFER);
    Parts {
        tx,
        rx,
        stop: Arc::new(AtomicBool::new(false)),
        counters: Arc::new(Counters::default()),
        frames: Arc::new(Watch::new()),
    }
}

/// Spawns a named thread; a failure to spawn is reported as a source error.
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, LiveError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| LiveError::Io {
            path: format!("<thread {name}>").into(),
            source: e,
        })
}

/// Runs a capture loop on this thread, sending status and item errors as results, then marks
/// the input closed with `close`.
#[allow(clippy::too_many_arguments)]
fn capture_thread<S, T>(
    source: S,
    mut opener: Opener<S>,
    next: impl FnMut(&mut S) -> Result<Option<T>, LiveError>,
    deliver: impl FnMut(T),
    tx: &SyncSender<LiveResult>,
    stop: &AtomicBool,
    task: &str,
    close: impl FnOnce(),
) {
    let name = opener.name.clone();
    let mut status = |text: String| {
        let _ = tx.send(LiveResult::status(task, text));
    };
    let mut item_error = |e: LiveError| {
        let now = super::Stamp::now();
        let r = LiveResult::about(ResultKind::Error, 0, &now, task, format!("skipped: {e}"));
        let _ = tx.send(r);
    };
    let end = run_capture(
        source,
        &mut *opener.open,
        next,
        deliver,
        CaptureCtx {
            name: name.clone(),
            status: &mut status,
            item_error: &mut item_error,
            stop,
        },
    );
    match end {
        CaptureEnd::Stopped => {}
        CaptureEnd::Finished => status(format!("{name} ended")),
        CaptureEnd::Failed(e) => {
            let now = super::Stamp::now();
            let _ = tx.send(LiveResult::about(
                ResultKind::Error,
                0,
                &now,
                task,
                format!("{name} failed: {e}"),
            ));
        }
    }
    close();
}

/// Starts capture and inference threads running `task` with `model` on `source`, which the
/// caller opened with `opener` (so that a source that cannot open is a startup error, before
/// the model loads); `opener` reopens it when it is lost.
pub fn start_frames(
    model: impl Infer + 'static,
    task: FrameTask,
    source: Box<dyn FrameSource>,
    opener: Opener<Box<dyn FrameSource>>,
) -> Result<LiveRun, LiveError> {
    let describe = source.describe();
    let kind = task.kind();
    let p = parts();
    let _ = p.tx.send(LiveResult::status(
        kind.name(),
        format!("reading {describe}"),
    ));
    let (questions, mut threads) = (Arc::new(QuestionBox::default()), Vec::new());
    let ctx = LoopCtx {
        tx: p.tx.clone(),
        stop: Arc::clone(&p.stop),
        counters: Arc::clone(&p.counters),
        task: kind,
    };
    // Frames go to a newest-wins slot (caption, vqa) or a rolling window (video).
    let slot: Arc<Latest<Arc<Frame>>> = Arc::new(Latest::new());
    // Wakes the video loop when a frame joins its window.
    let wake: Arc<Latest<()>> = Arc::new(Latest::new());
    let window = match &task {
        FrameTask::VideoCaption { span, cap } => {
            Some(Arc::new(Mutex::new(FrameWindow::new(*span, *cap))))
        }
        _ => None,
    };
    {
        let (tx, stop, counters, frames) = (
            p.tx.clone(),
            Arc::clone(&p.stop),
            Arc::clone(&p.counters),
            Arc::clone(&p.frames),
        );
        let (slot, window, wake) = (Arc::clone(&slot), window.clone(), Arc::clone(&wake));
        threads.push(spawn("live-capture", move || {
            let deliver = |frame: Frame| {
                counters.captured.fetch_add(1, Ordering::Relaxed);
                let frame = Arc::new(frame);
                frames.publish(Arc::clone(&frame));
                match &window {
                    Some(w) => {
                        let mut w = w.lock().unwrap_or_else(PoisonError::into_inner);
                        let before = w.dropped();
                        w.push(frame);
                        let lost = w.dropped() - before;
                        drop(w);
                        counters.dropped.fetch_add(lost, Ordering::Relaxed);
                        wake.put(());
                    }
                    None => {
                        if slot.put(frame) {
                            counters.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            };
            capture_thread(
                source,
                opener,
                |s: &mut Box<dyn FrameSource>| s.next_frame(),
                deliver,
                &tx,
                &stop,
                kind.name(),
                || {
                    slot.close();
                    wake.close();
                },
            );
        })?);
    }
    {
        let questions = Arc::clone(&questions);
        threads.push(spawn("live-inference", move || {
            let mut model = model;
            match task {
                FrameTask::Caption => loops::caption(&mut model, &slot, &ctx),
                FrameTask::Vqa { every, answers } => {
                    loops::vqa(&mut model, &slot, &questions, every, answers.as_ref(), &ctx)
                }
                FrameTask::VideoCaption { .. } => {
                    if let Some(w) = window {
                        loops::video(&mut model, &wake, &w, &ctx)
                    }
                }
            }
            ctx.stop.store(true, Ordering::Relaxed);
        })?);
    }
    Ok(LiveRun {
        results: p.rx,
        stop: p.stop,
        questions,
        frames: p.frames,
        counters: p.counters,
        threads,
        describe,
        task: kind,
    })
}

/// Starts capture and inference threads captioning rolling windows of `source` (opened by the
/// caller with `opener`, which reopens it when it is lost) with `model`.
pub fn start_audio(
    model: impl Infer + 'static,
    task: AudioTask,
    source: Box<dyn AudioSource>,
    opener: Opener<Box<dyn AudioSource>>,
) -> Result<LiveRun, LiveError> {
    for (what, v) in [("--hop", task.hop_s), ("the window", task.window_s)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(LiveError::BadSpec {
                spec: format!("{what} {v}"),
                reason: "must be a positive number of seconds".into(),
            });
        }
    }
    let describe = source.describe();
    let rate = source.sample_rate();
    let kind = TaskKind::AudioCaption;
    let p = parts();
    let _ = p.tx.send(LiveResult::status(
        kind.name(),
        format!("reading {describe}"),
    ));
    let window_len = (task.window_s * f64::from(rate)).round() as usize;
    let window = Arc::new(Mutex::new(AudioWindow::new(window_len)));
    let wake: Arc<Latest<()>> = Arc::new(Latest::new());
    let mut threads = Vec::new();
    {
        let (tx, stop, counters) = (p.tx.clone(), Arc::clone(&p.stop), Arc::clone(&p.counters));
        let (window, wake) = (Arc::clone(&window), Arc::clone(&wake));
        threads.push(spawn("live-capture", move || {
            let deliver = |chunk: super::AudioChunk| {
                counters.captured.fetch_add(1, Ordering::Relaxed);
                window
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(&chunk);
                wake.put(());
            };
            capture_thread(
                source,
                opener,
                |s: &mut Box<dyn AudioSource>| s.next_chunk(),
                deliver,
                &tx,
                &stop,
                kind.name(),
                || wake.close(),
            );
        })?);
    }
    let ctx = LoopCtx {
        tx: p.tx.clone(),
        stop: Arc::clone(&p.stop),
        counters: Arc::clone(&p.counters),
        task: kind,
    };
    threads.push(spawn("live-inference", move || {
        let mut model = model;
        loops::audio(&mut model, &wake, &window, rate, &task, &ctx);
        ctx.stop.store(true, Ordering::Relaxed);
    })?);
    Ok(LiveRun {
        results: p.rx,
        stop: p.stop,
        questions: Arc::new(QuestionBox::default()),
        frames: p.frames,
        counters: p.counters,
        threads,
        describe,
        task: kind,
    })
}
