//! `unival remote TASK --server URL FILE…`: runs an archive through a Triton server serving
//! the `unival` backend (KServe v2 over HTTP, files as binary tensors), N requests in flight,
//! one result line per file as the local commands print them; `--resume` skips the files a
//! previous run's `--out` already holds, so an interrupted archive job picks up where it
//! stopped.

mod kserve;

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use kserve::{result_json, InferRequest, HEADER_LENGTH};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use triton_unival::interface::{media_input, text_input};
use unival_manifest::TaskKind;

#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The task (the model serving it is named by --model-name).
    #[arg(value_enum)]
    pub task: RemoteTask,
    /// Server base URL, e.g. http://127.0.0.1:8000.
    #[arg(long)]
    pub server: String,
    /// Files to send (images, videos or sounds, as the task takes).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Model name on the server (default: the task's bundle name, e.g. `refcoco` for ground).
    #[arg(long)]
    pub model_name: Option<String>,
    /// The question (vqa, video-qa).
    #[arg(short, long)]
    pub question: Option<String>,
    /// The region text (ground).
    #[arg(long)]
    pub text: Option<String>,
    /// The hypothesis (entail).
    #[arg(long)]
    pub hypothesis: Option<String>,
    /// A request parameter KEY=VALUE (beam, max_len_b, nbest, start, end, …); repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Requests in flight.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,
    /// One JSON object per file (the local commands' `--json`).
    #[arg(long)]
    pub json: bool,
    /// Also append each result line to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the files whose results --out already holds.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Receive outputs as JSON instead of binary tensors.
    #[arg(long)]
    pub json_outputs: bool,
    /// Seconds to wait for one reply.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// Tasks, named as the local commands.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RemoteTask {
    Caption,
    Vqa,
    Ground,
    Entail,
    VideoCaption,
    VideoQa,
    AudioCaption,
}

impl RemoteTask {
    fn kind(self) -> TaskKind {
        match self {
            RemoteTask::Caption => TaskKind::Caption,
            RemoteTask::Vqa => TaskKind::Vqa,
            RemoteTask::Ground => TaskKind::Refcoco,
            RemoteTask::Entail => TaskKind::SnliVe,
            RemoteTask::VideoCaption => TaskKind::VideoCaption,
            RemoteTask::VideoQa => TaskKind::VideoQa,
            RemoteTask::AudioCaption => TaskKind::AudioCaption,
        }
    }
}

/// `KEY=VALUE` → a JSON parameter (number, boolean, or string).
fn parse_param(kv: &str) -> anyhow::Result<(String, Value)> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| anyhow!("--param {kv}: expected KEY=VALUE"))?;
    let value = if let Ok(n) = v.parse::<i64>() {
        Value::from(n)
    } else if let Ok(x) = v.parse::<f64>() {
        Value::from(x)
    } else if let Ok(b) = v.parse::<bool>() {
        Value::from(b)
    } else {
        Value::from(v)
    };
    Ok((k.to_string(), value))
}

/// The files a previous `--out` holds results for.
fn done_files(out: &Path) -> anyhow::Result<HashSet<String>> {
    let text = match std::fs::read_to_string(out) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", out.display())),
    };
    Ok(text
        .lines()
        .filter_map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) => v["file"].as_str().map(str::to_string),
            Err(_) => l.split('\t').next().map(str::to_string),
        })
        .collect())
}

/// Everything a worker needs to send one file.
struct Job {
    url: String,
    media: &'static str,
    text: Option<(&'static str, String)>,
    params: Map<String, Value>,
    binary_outputs: bool,
    agent: ureq::Agent,
}

impl Job {
    /// Sends `file`; its result line (JSON object with `file` set to the local path).
    fn send(&self, file: &Path) -> anyhow::Result<Value> {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let id = file.display().to_string();
        let req = InferRequest {
            id: &id,
            media: (self.media, &bytes),
            text: self.text.as_ref().map(|(n, t)| (*n, t.as_str())),
            parameters: &self.params,
            binary_outputs: self.binary_outputs,
        };
        let (body, header_len) = req.encode()?;
        let reply = self
            .agent
            .post(&self.url)
            .set(HEADER_LENGTH, &header_len.to_string())
            .set("Content-Type", "application/octet-stream")
            .send_bytes(&body);
        let reply = match reply {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => bail!("{}: {e}", self.url),
        };
        let header_len = reply
            .header(HEADER_LENGTH)
            .and_then(|v| v.parse::<usize>().ok());
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut reply.into_reader(), &mut raw)?;
        let mut result: Value = serde_json::from_str(&result_json(&raw, header_len)?)?;
        result["file"] = Value::from(id);
        Ok(result)
    }
}

/// Runs the archive; exit code 1 if any file failed.
pub fn run(a: RemoteArgs) -> anyhow::Result<ExitCode> {
    let task = a.task.kind();
    let text = match text_input(task) {
        None => None,
        Some(name) => {
            let given = a
                .question
                .clone()
                .or(a.text.clone())
                .or(a.hypothesis.clone());
            let t = given.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                anyhow!(
                    "{} needs its text: --question, --text or --hypothesis",
                    task.name()
                )
            })?;
            Some((name, t))
        }
    };
    let model = a
        .model_name
        .clone()
        .unwrap_or_else(|| task.name().to_string());
    let params = a
        .params
        .iter()
        .map(|p| parse_param(p))
        .collect::<anyhow::Result<_>>()?;
    let skip = match (&a.out, a.resume) {
        (Some(out), true) => done_files(out)?,
        _ => HashSet::new(),
    };
    let files: Vec<&PathBuf> = a
        .files
        .iter()
        .filter(|f| !skip.contains(&f.display().to_string()))
        .collect();
    if files.len() < a.files.len() {
        eprintln!(
            "resuming: {} of {} files already done",
            a.files.len() - files.len(),
            a.files.len()
        );
    }
    let job = Job {
        url: format!("{}/v2/models/{model}/infer", a.server.trim_end_matches('/')),
        media: media_input(task),
        text,
        params,
        binary_outputs: !a.json_outputs,
        agent: ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(a.timeout))
            .build(),
    };
    let mut out_file = match &a.out {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening {}", p.display()))?,
        ),
        None => None,
    };
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let failed = std::thread::scope(|scope| -> anyhow::Result<usize> {
        for _ in 0..(a.concurrency as usize).min(files.len().max(1)) {
            let (tx, job, files, next) = (tx.clone(), &job, &files, &next);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                if tx.send((file, job.send(file))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut failed = 0;
        let stdout = std::io::stdout();
        for (file, result) in rx {
            match result {
                Ok(v) => {
                    let line = if a.json {
                        serde_json::to_string(&v)?
                    } else {
                        format!("{}\t{}", file.display(), v["text"].as_str().unwrap_or(""))
                    };
                    writeln!(stdout.lock(), "{line}")?;
                    if let Some(f) = out_file.as_mut() {
                        writeln!(f, "{}", serde_json::to_string(&v)?)?;
                    }
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("error: {}: {e:#}", file.display());
                }
            }
        }
        Ok(failed)
    })?;
    if failed > 0 {
        eprintln!("{failed} of {} inputs failed", files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
