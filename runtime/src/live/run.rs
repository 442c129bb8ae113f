//! Starting a live run (ARCHITECTURE.md §5): one capture thread per source feeding a newest-wins
//! hand-over, one inference thread calling [`crate::tasks::Pipeline::run_media`], and results
//! on a bounded channel. Everything between the threads is bounded, so a slow model costs dropped
//! frames, never memory or latency.
//!
//! ```text
//! source ──capture thread──▶ Latest<frame> / FrameWindow / AudioWindow ──inference──▶ results
//!                     └────▶ Watch<frame> (web page)          QuestionBox (stdin, web) ──┘
//! ```

use super::capture::{run_capture, CaptureCtx, CaptureEnd};
use super::latest::{Latest, Watch};
use super::loops::{self, LoopCtx};
use super::task::{AudioTask, Counters, FrameTask, Infer, QuestionBox};
use super::window::{AudioWindow, FrameWindow};
use super::{AudioSource, Frame, FrameSource, LiveError, LiveResult, ResultKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use unival_manifest::TaskKind;

/// Results (and status lines) waiting for the consumer at most; the inference thread waits
/// when the consumer falls this far behind.
pub const RESULT_BUFFER: usize = 64;

/// How to (re)open a source, and its name in status lines ("camera 0", "microphone").
pub struct Opener<S> {
    pub name: String,
    pub open: Box<dyn FnMut() -> Result<S, LiveError> + Send>,
}

/// A running live loop. Read [`LiveRun::results`] until it disconnects (the source ended) or
/// call [`LiveRun::stop`]; then [`LiveRun::finish`].
pub struct LiveRun {
    results: Receiver<LiveResult>,
    stop: Arc<AtomicBool>,
    questions: Arc<QuestionBox>,
    frames: Arc<Watch<Frame>>,
    counters: Arc<Counters>,
    keep_frames: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    describe: String,
    task: TaskKind,
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

    /// From now on, each result computed on a frame carries that frame
    /// ([`LiveResult::frame`]), for a viewer that shows the two together. Off by default: a
    /// result waiting in the channel then holds a whole frame.
    pub fn keep_result_frames(&self) {
        self.keep_frames.store(true, Ordering::Relaxed);
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
    keep_frames: Arc<AtomicBool>,
    frames: Arc<Watch<Frame>>,
}

fn parts() -> Parts {
    let (tx, rx) = sync_channel(RESULT_BUFFER);
    Parts {
        tx,
        rx,
        stop: Arc::new(AtomicBool::new(false)),
        counters: Arc::new(Counters::default()),
        keep_frames: Arc::new(AtomicBool::new(false)),
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
        keep_frames: Arc::clone(&p.keep_frames),
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
        keep_frames: p.keep_frames,
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
        keep_frames: Arc::clone(&p.keep_frames),
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
        keep_frames: p.keep_frames,
        threads,
        describe,
        task: kind,
    })
}
