//! What the live tests share: a slideshow folder standing in for a camera, the tiny VQA bundle,
//! and a running `unival live` process whose stdout and stderr lines are read as they come.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Generation flags that keep the tiny random model's outputs short (and so its latency in
/// the hundreds of milliseconds on a loaded machine).
pub const FAST: [&str; 4] = ["--beam", "1", "--max-len-b", "4"];

/// A folder of six 96x64 pictures of different colours (removed when dropped).
pub fn slideshow() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("live_slides")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    for i in 0..6u8 {
        let img = image::RgbImage::from_fn(96, 64, |x, y| {
            image::Rgb([i * 40, (x * 2) as u8, (y * 3) as u8 ^ (i * 17)])
        });
        img.save(dir.path().join(format!("slide{i}.png"))).unwrap();
    }
    dir
}

/// A 4 s, 10 fps, 160x120 H.264 clip of moving test patterns in `dir` (made with the `ffmpeg`
/// CLI that scripts/setup.sh installs).
pub fn video_clip(dir: &Path) -> PathBuf {
    let out = dir.join("clip.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10:duration=4")
        .args(["-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .expect("running ffmpeg (scripts/setup.sh installs it)");
    assert!(status.success(), "ffmpeg failed making {}", out.display());
    out
}

/// The tiny checkpoint exported for VQA, once per test process.
pub fn tiny_vqa_bundle() -> &'static Path {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    CELL.get_or_init(|| {
        // Emptied on first use in each test process, so one copy at most is left behind.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live_fixtures");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("vqa_bundle");
        crate::common::export(crate::common::tiny_fp32(), "vqa", &out, &[]).ok();
        out
    })
}

/// A `unival live …` process being read line by line.
pub struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stderr line read so far.
    pub stderr_seen: Vec<String>,
}

fn reader(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Live {
    /// Starts `unival ARGS…` with piped stdin, stdout and stderr.
    pub fn spawn(args: &[&str]) -> Live {
        Live::spawn_with_env(args, &[])
    }

    /// [`Live::spawn`] with extra environment variables (e.g. ALSA's configuration).
    pub fn spawn_with_env(args: &[&str], env: &[(String, std::ffi::OsString)]) -> Live {
        let mut child = Command::new(env!("CARGO_BIN_EXE_unival"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = reader(child.stdout.take().unwrap());
        let stderr = reader(child.stderr.take().unwrap());
        Live {
            child,
            stdin,
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        }
    }

    /// Types `line` on the process's stdin.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next stdout line parsed as JSON, waiting until `deadline`; `None` at the end of
    /// the output or on timeout.
    pub fn next_json(&mut self, deadline: Instant) -> Option<serde_json::Value> {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.stdout.recv_timeout(wait) {
            Ok(line) => Some(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")),
            ),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Reads stdout JSON lines until one satisfies `pred` (returned), failing at `timeout`.
    pub fn wait_json(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + timeout;
        while let Some(v) = self.next_json(deadline) {
            if pred(&v) {
                return v;
            }
        }
        self.kill();
        panic!(
            "no {what} within {timeout:?}; stderr:\n{}",
            self.stderr_text()
        );
    }

    /// Reads stderr until a line contains `needle` (returned), failing at `timeout`.
    pub fn wait_stderr(&mut self, timeout: Duration, needle: &str) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(wait) {
                Ok(line) => {
                    self.stderr_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    self.kill();
                    panic!("no `{needle}` on stderr:\n{}", self.stderr_text());
                }
            }
        }
    }

    /// Every stderr line read so far, and whatever else is there now.
    pub fn stderr_text(&mut self) -> String {
        while let Ok(line) = self.stderr.try_recv() {
            self.stderr_seen.push(line);
        }
        self.stderr_seen.join("\n")
    }

    /// Waits for the process to exit by itself within `timeout`; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!("unival live did not stop within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGINT, as Ctrl-C does.
    pub fn interrupt(&self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(ok.success(), "kill -INT {pid}");
    }

    /// Kills the process (test clean-up).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The median of `values` (sorted copy; mean of the middle two).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    assert!(n > 0, "median of nothing");
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `--json` output lines as values.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}
