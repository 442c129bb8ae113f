//! `unival live caption | vqa | video-caption | audio-caption`: a task run continuously on a
//! camera, a microphone or a file played in real time (ARCHITECTURE.md §5).
//!
//! Startup problems (model, source, address) fail with one line and exit code 1; once running,
//! the loop stops at `--duration`, `--max-results`, the end of a finite source or Ctrl-C, and
//! prints a summary (exit code 0).

use super::live_output::Printer;
use super::{answers, tasks};
use crate::cli::{FrameSourceArgs, LiveArgs, LiveCmd, LiveTask};
use crate::web::{self, WebServer};
use anyhow::{anyhow, Context};
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, Instant};
use unival_manifest::{Perception, TaskKind};
use unival_runtime::live::{
    open_audio_source, open_frame_source, start_audio, start_frames, AudioSource, AudioSpec,
    AudioTask, FrameOptions, FrameSource, FrameSpec, FrameTask, LiveRun, Opener, Tally, WindowSpan,
};

/// Least number of frames a `--window SECS` clip window holds.
const MIN_WINDOW_FRAMES: usize = 32;

/// Runs one `unival live` command. The source is opened first, so a bad source fails before
/// the model loads.
pub fn run(cmd: LiveCmd) -> anyhow::Result<ExitCode> {
    let live = match &cmd.task {
        LiveTask::Caption(a) => &a.live,
        LiveTask::Vqa(a) => &a.live,
        LiveTask::VideoCaption(a) => &a.live,
        LiveTask::AudioCaption(a) => &a.live,
    };
    let bind = live.serve.as_deref().map(web::parse_bind).transpose()?;
    match cmd.task {
        LiveTask::Caption(a) => {
            let (source, opener) = open_frames(&a.live, &a.frames)?;
            let p = tasks::open(&a.live.common, TaskKind::Caption)?;
            let run = start_frames(p, FrameTask::Caption, source, opener)?;
            drive(run, &a.live, bind)
        }
        LiveTask::Vqa(a) => {
            if a.question.as_deref().is_some_and(|q| q.trim().is_empty()) {
                return Err(anyhow!("--question is empty"));
            }
            let (source, opener) = open_frames(&a.live, &a.frames)?;
            let p = tasks::open(&a.live.common, TaskKind::Vqa)?;
            let answers = match &a.answers {
                Some(file) => Some(p.answer_trie(&answers::load(file)?)?),
                None => None,
            };
            let task = FrameTask::Vqa {
                every: a.every,
                answers,
            };
            let run = start_frames(p, task, source, opener)?;
            if let Some(q) = &a.question {
                run.questions().ask(q);
            }
            read_questions(&run);
            drive(run, &a.live, bind)
        }
        LiveTask::VideoCaption(a) => {
            let (source, opener) = open_frames(&a.live, &a.frames)?;
            let p = tasks::open(&a.live.common, TaskKind::VideoCaption)?;
            let clip = match p.task.perception {
                Perception::Video { num_frames, .. } => num_frames.max(1),
                _ => 1,
            };
            let (span, cap) = match a.window {
                // "2x the clip at the source rate": the last 2T frames, whatever the rate.
                None => (WindowSpan::Frames(2 * clip), 2 * clip),
                Some(s) => (WindowSpan::Seconds(s), (4 * clip).max(MIN_WINDOW_FRAMES)),
            };
            let run = start_frames(p, FrameTask::VideoCaption { span, cap }, source, opener)?;
            drive(run, &a.live, bind)
        }
        LiveTask::AudioCaption(a) => {
            let (source, opener) = open_audio(&a.live)?;
            let p = tasks::open(&a.live.common, TaskKind::AudioCaption)?;
            let rate = f64::from(p.audio.sample_rate.max(1));
            let task = AudioTask {
                window_s: p.audio.max_len as f64 / rate,
                hop_s: a.hop,
                silence_db: a.silence_db,
            };
            let run = start_audio(p, task, source, opener)?;
            drive(run, &a.live, bind)
        }
    }
}

/// An opened source and how to reopen it.
type Opened<S> = (S, Opener<S>);

/// Opens `opener`'s source once, naming `--source` in the error (whose message names the
/// device or path).
fn open_first<S>(opener: &mut Opener<S>) -> anyhow::Result<S> {
    (opener.open)().context("--source")
}

/// The frame source of `--source` (default camera 0), opened, and how to reopen it.
fn open_frames(
    live: &LiveArgs,
    frames: &FrameSourceArgs,
) -> anyhow::Result<Opened<Box<dyn FrameSource>>> {
    let text = live.source.as_deref().unwrap_or("camera:0");
    let mut opener = frame_opener(text, live, frames)?;
    Ok((open_first(&mut opener)?, opener))
}

/// The audio source of `--source` (default the default microphone), opened, and how to
/// reopen it.
fn open_audio(live: &LiveArgs) -> anyhow::Result<Opened<Box<dyn AudioSource>>> {
    let text = live.source.as_deref().unwrap_or("mic");
    let mut opener = audio_opener(text, live)?;
    Ok((open_first(&mut opener)?, opener))
}

/// How to open the frame source `text` names.
fn frame_opener(
    text: &str,
    live: &LiveArgs,
    frames: &FrameSourceArgs,
) -> anyhow::Result<Opener<Box<dyn FrameSource>>> {
    let spec: FrameSpec = text.parse()?;
    let name = match &spec {
        FrameSpec::Camera(n) => format!("camera {n}"),
        FrameSpec::Video(p) => format!("video {}", p.display()),
        FrameSpec::Images(p) => format!("images {}", p.display()),
    };
    let opts = FrameOptions {
        resolution: frames.resolution,
        fps: frames.fps,
        looped: live.looped,
    };
    Ok(Opener {
        name,
        open: Box::new(move || open_frame_source(&spec, &opts)),
    })
}

/// How to open the audio source `text` names.
fn audio_opener(text: &str, live: &LiveArgs) -> anyhow::Result<Opener<Box<dyn AudioSource>>> {
    let spec: AudioSpec = text.parse()?;
    let name = match &spec {
        AudioSpec::Microphone(None) => "microphone".to_string(),
        AudioSpec::Microphone(Some(n)) => format!("microphone {n}"),
        AudioSpec::File(p) => format!("file {}", p.display()),
    };
    let looped = live.looped;
    Ok(Opener {
        name,
        open: Box::new(move || open_audio_source(&spec, looped)),
    })
}

/// Questions typed on stdin, one per line, become the active question. The thread ends at
/// the end of stdin; the run goes on.
fn read_questions(run: &LiveRun) {
    let questions = run.questions();
    let spawned = std::thread::Builder::new()
        .name("live-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                questions.ask(&line);
            }
        });
    if let Err(e) = spawned {
        eprintln!("warning: cannot read questions from stdin: {e}");
    }
}

/// Prints results until a stop condition, then the summary.
fn drive(run: LiveRun, live: &LiveArgs, bind: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    let web = match bind {
        Some(bind) => {
            let server = WebServer::start(bind, &run)?;
            if !bind.ip().is_loopback() {
                eprintln!(
                    "warning: serving on {bind}: the page is reachable from other machines on \
                     the network"
                );
            }
            eprintln!("serving http://{}/", server.addr());
            Some(server)
        }
        None => None,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = Arc::clone(&interrupted);
        if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
            eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
        }
    }
    let printer = Printer {
        json: live.common.json,
    };
    let start = Instant::now();
    let deadline = live.duration.map(|d| start + Duration::from_secs_f64(d));
    let mut tally = Tally::new();
    loop {
        if interrupted.load(Ordering::Relaxed) {
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match run.results().recv_timeout(Duration::from_millis(50)) {
            Ok(r) => {
                tally.record(&r);
                if let Some(w) = &web {
                    w.publish(&r);
                }
                printer.result(&r)?;
                if live.max_results.is_some_and(|n| tally.results() >= n) {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let summary = tally.summary(run.dropped(), start.elapsed().as_secs_f64());
    if let Some(w) = web {
        w.stop();
    }
    run.finish(Duration::from_secs(2));
    printer.summary(&summary)?;
    Ok(ExitCode::SUCCESS)
}
