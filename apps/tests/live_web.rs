//! THE must-show browser test of the live page: headless Chromium, driven through chromedriver's
//! WebDriver HTTP API, loads the page of `unival live … --serve`, shows a frame (the MJPEG
//! `<img>` has a natural width), receives at least two captions, and a question typed into the
//! box and submitted (live vqa) gets an answer on the page.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/setup.sh installs them); skipped
//! loudly without them, and failed under `CI=true`.

mod common;
mod live_support;

use common::tiny_caption_bundle;
use live_support::{slideshow, tiny_vqa_bundle, Live, FAST};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key WebDriver puts element references under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Flags Chromium needs here: no sandbox (root in a container), no GPU, and nothing that
/// reaches for the network (without them it hangs on this closed network).
const CHROME_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` with a loud SKIPPED line (a failure under `CI=true`).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chrome = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    if let (Some(c), Some(d)) = (chrome, driver) {
        return Some((c, d));
    }
    let msg = "SKIPPED: chromium / chromedriver not installed (scripts/setup.sh installs them)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    None
}

/// A chromedriver process and one browser session.
struct Driver {
    child: Child,
    base: String,
    session: String,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// POST/GET/DELETE with a JSON body; the response's `value`.
fn call(method: &str, url: &str, body: Option<Value>) -> Value {
    let req = ureq::request(method, url).timeout(Duration::from_secs(60));
    let resp = match body {
        Some(b) => req
            .set("Content-Type", "application/json")
            .send_string(&b.to_string()),
        None => req.call(),
    };
    let text = match resp {
        Ok(r) => r.into_string().unwrap(),
        Err(ureq::Error::Status(code, r)) => {
            panic!("{method} {url}: HTTP {code}: {}", r.into_string().unwrap())
        }
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    v["value"].clone()
}

impl Driver {
    fn start(chrome: &Path, chromedriver: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = CHROME_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push("--window-size=390,844".into()); // a phone's screen
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome.to_str().unwrap(), "args": args},
        }}});
        let session = call("POST", &format!("{base}/session"), Some(caps));
        let session = session["sessionId"].as_str().unwrap().to_string();
        Driver {
            child,
            base,
            session,
            _profile: profile,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn open(&self, page: &str) {
        call("POST", &self.url("/url"), Some(json!({ "url": page })));
    }

    /// Runs `script` (a function body) in the page.
    fn js(&self, script: &str) -> Value {
        call(
            "POST",
            &self.url("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Polls `script` until it returns a truthy value; that value.
    fn wait_js(&self, script: &str, what: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script);
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let body = self.js("return document.body.innerText");
                panic!("{what}: not within {timeout:?}; the page says:\n{body}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn element(&self, css: &str) -> String {
        let v = call(
            "POST",
            &self.url("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().unwrap().to_string()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        call(
            "POST",
            &self.url(&format!("/element/{e}/value")),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let e = self.element(css);
        call(
            "POST",
            &self.url(&format!("/element/{e}/click")),
            Some(json!({})),
        );
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `unival live TASK --serve 127.0.0.1:0 …`; the process and the page's address.
fn serve(task: &str, model: &Path, source: &str, extra: &[&str]) -> (Live, String) {
    let mut args = vec![
        "live",
        task,
        "--model",
        model.to_str().unwrap(),
        "--source",
        source,
        "--loop",
        "--fps",
        "10",
        "--duration",
        "300",
        "--serve",
        "127.0.0.1:0",
    ];
    args.extend(extra);
    let mut live = Live::spawn(&args);
    let line = live.wait_stderr(Duration::from_secs(120), "serving http://");
    let url = line.trim_start_matches("serving ").trim().to_string();
    (live, url)
}

#[test]
fn live_page_in_headless_chromium() {
    let Some((chrome, chromedriver)) = browser() else {
        return;
    };
    let slides = slideshow();
    let source = format!("images:{}", slides.path().display());
    let driver = Driver::start(&chrome, &chromedriver);
    let minute = Duration::from_secs(60);

    // Captioning: the frame shows and captions stream in.
    let (mut live, url) = serve("caption", tiny_caption_bundle(), &source, &FAST);
    driver.open(&url);
    let width = driver.wait_js(
        "return document.getElementById('frame').naturalWidth",
        "a frame",
        minute,
    );
    assert_eq!(width, 96, "the frame is the slideshow's 96x64 picture");
    let n = driver.wait_js(
        "const n = document.querySelectorAll('#results li.caption').length; \
         return n >= 2 ? n : 0",
        "two captions",
        minute,
    );
    assert!(n.as_u64().unwrap() >= 2);
    let first = driver.js("return document.querySelector('#results li.caption').innerText");
    assert!(
        first.as_str().unwrap().contains(" ms"),
        "latency shown: {first}"
    );
    let title = driver.js("return document.getElementById('title').innerText");
    assert_eq!(title, "unival live caption");
    let hidden = driver.js("return document.getElementById('ask').hidden");
    assert_eq!(hidden, true, "no question box when captioning");
    live.kill();

    // VQA: a question typed into the box is answered on the page.
    let (mut live, url) = serve("vqa", tiny_vqa_bundle(), &source, &["--beam", "1"]);
    driver.open(&url);
    driver.wait_js(
        "return !document.getElementById('ask').hidden",
        "the question box",
        minute,
    );
    driver.wait_js(
        "return document.getElementById('frame').naturalWidth",
        "a frame (vqa)",
        minute,
    );
    driver.type_into("#question", "what color is the picture?");
    driver.click("#send");
    let answer = driver.wait_js(
        "const a = document.querySelector('#results li.answer'); return a ? a.innerText : ''",
        "an answer",
        Duration::from_secs(120),
    );
    let answer = answer.as_str().unwrap();
    assert!(answer.contains("what color is the picture? →"), "{answer}");
    assert!(answer.contains(" ms"), "{answer}");
    live.kill();
}
