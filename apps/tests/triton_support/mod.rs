//! A `tritonserver` (from the nvidia-pytriton wheel, `scripts/triton.sh fetch`) serving a
//! repository through the backend this workspace built, on free 127.0.0.1 ports, stopped when
//! dropped.

pub mod grpc;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `UNIVAL_TRITONSERVER`, else the server `scripts/triton.sh fetch` unpacked; `None` (with a
/// loud skip message, or a panic under `CI=true`) when there is none.
pub fn tritonserver() -> Option<PathBuf> {
    let from_env = std::env::var_os("UNIVAL_TRITONSERVER").map(PathBuf::from);
    let cached = std::fs::read_dir(root().join(".cache/triton"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("pytriton/tritonserver/bin/tritonserver"))
        .find(|p| p.is_file());
    if let Some(p) = from_env.filter(|p| p.is_file()).or(cached) {
        return Some(p);
    }
    let msg = "SKIPPED: no tritonserver; run scripts/triton.sh fetch (scripts/setup.sh does) or \
               set UNIVAL_TRITONSERVER";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    None
}

/// The backend library cargo built next to this test's `unival` binary.
fn backend_library() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_unival"));
    let dir = bin.parent().unwrap();
    [
        dir.join("libtriton_unival.so"),
        dir.join("deps/libtriton_unival.so"),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .expect("libtriton_unival.so not built (cargo build -p unival-triton)")
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server.
pub struct Server {
    child: Child,
    pub http: u16,
    pub grpc: u16,
    pub metrics: u16,
    pub log: PathBuf,
}

impl Server {
    /// Starts `server` on `repo` and waits until every model is ready.
    pub fn start(server: &Path, repo: &Path, scratch: &Path) -> Server {
        let backends = scratch.join("backends/unival");
        std::fs::create_dir_all(&backends).unwrap();
        std::fs::copy(backend_library(), backends.join("libtriton_unival.so")).unwrap();
        let (http, grpc, metrics) = (free_port(), free_port(), free_port());
        let log = scratch.join("tritonserver.log");
        let mut cmd = Command::new(server);
        cmd.arg(format!("--model-repository={}", repo.display()))
            .arg(format!(
                "--backend-directory={}",
                scratch.join("backends").display()
            ))
            .args(["--http-address=127.0.0.1", "--grpc-address=127.0.0.1"])
            .args(["--metrics-address=127.0.0.1", "--allow-metrics=true"])
            .arg(format!("--http-port={http}"))
            .arg(format!("--grpc-port={grpc}"))
            .arg(format!("--metrics-port={metrics}"))
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(
                std::fs::File::create(scratch.join("stderr.log")).unwrap(),
            ));
        if std::env::var_os("ORT_DYLIB_PATH").is_none() {
            if let Some(lib) = std::fs::read_dir(root().join(".cache/onnxruntime"))
                .into_iter()
                .flatten()
                .flatten()
                .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().contains("libonnxruntime.so."))
            {
                cmd.env("ORT_DYLIB_PATH", lib);
            }
        }
        let child = cmd.spawn().expect("starting tritonserver");
        let s = Server {
            child,
            http,
            grpc,
            metrics,
            log,
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            if self.alive() && ureq::get(&self.url("/v2/health/ready")).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        panic!("tritonserver not ready after 120 s:\n{}", self.logs());
    }

    /// Whether the server process is still running.
    pub fn alive(&self) -> bool {
        let mut ps = Command::new("kill");
        ps.args(["-0", &self.child.id().to_string()]);
        ps.status().map(|s| s.success()).unwrap_or(false)
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    /// The server's output so far.
    pub fn logs(&self) -> String {
        let mut s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let err = self.log.with_file_name("stderr.log");
        s.push_str(&std::fs::read_to_string(err).unwrap_or_default());
        s
    }

    /// Prometheus `name{model="MODEL",…} value`, summed over matching lines.
    pub fn metric(&self, name: &str, model: &str) -> f64 {
        let text = ureq::get(&format!("http://127.0.0.1:{}/metrics", self.metrics))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        let needle = format!("model=\"{model}\"");
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&needle))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
