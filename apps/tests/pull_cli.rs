//! `unival pull` against a local HTTP server on 127.0.0.1 serving a tiny synthetic checkpoint:
//! a full download is verified (or its sha256 recorded) and exported; a transfer cut mid-way
//! exits 3 and the next run resumes it with a `Range` request; a sha256 mismatch is refused and
//! leaves no file; an unreachable server exits 3 with one clear line.

mod common;

use common::{scratch, unival, Run};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use unival_export::synth::{self, SynthOptions};

/// A one-file HTTP/1.1 server honouring `Range: bytes=N-`; it can cut its first response.
struct Server {
    port: u16,
    /// The `Range` header of each request ("" when absent).
    ranges: Arc<Mutex<Vec<String>>>,
}

fn serve(body: Vec<u8>, cut_first_after: Option<usize>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&ranges);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let first = seen.lock().unwrap().is_empty();
            let cut = if first { cut_first_after } else { None };
            respond(stream, &body, cut, &seen);
        }
    });
    Server { port, ranges }
}

fn respond(mut stream: TcpStream, body: &[u8], cut: Option<usize>, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut range = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range:") {
            range = v.trim().to_string();
        }
        line.clear();
    }
    seen.lock().unwrap().push(range.clone());
    let start: usize = range
        .strip_prefix("bytes=")
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
            body.len() - start,
            body.len() - 1,
            body.len()
        )
    } else {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
    };
    let _ = stream.write_all(head.as_bytes());
    let end = cut.map_or(body.len(), |c| start + c);
    let _ = stream.write_all(&body[start..end]);
    let _ = stream.flush();
    // Dropping the stream closes the connection (mid-body when cut).
}

/// A tiny caption checkpoint, its bytes and sha256.
fn tiny(dir: &Path) -> (Vec<u8>, String) {
    let path = dir.join("tiny.pt");
    synth::write(&SynthOptions::default(), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    (bytes, sha)
}

/// Writes a catalogue with one entry `name` served by `port`.
fn catalogue(dir: &Path, name: &str, port: u16, sha: Option<&str>, size: usize) -> PathBuf {
    let path = dir.join("catalogue.json");
    let doc = serde_json::json!({"models": [{
        "name": name, "task": "caption", "url": format!("http://127.0.0.1:{port}/"),
        "download": format!("http://127.0.0.1:{port}/tiny.pt"), "sha256": sha, "size": size,
    }]});
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn pull(dir: &Path, name: &str, catalogue: &Path) -> Run {
    let (ckpts, out) = (dir.join("checkpoints"), dir.join("bundle"));
    unival([
        "pull".as_ref(),
        name.as_ref(),
        "--catalogue".as_ref(),
        catalogue.as_os_str(),
        "--checkpoints".as_ref(),
        ckpts.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

fn one_line(run: &Run) -> &str {
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    lines[0]
}

#[test]
fn a_full_download_is_verified_recorded_and_exported() {
    let dir = scratch();
    let (bytes, sha) = tiny(dir.path());
    let server = serve(bytes.clone(), None);
    let cat = catalogue(dir.path(), "tiny", server.port, Some(&sha), bytes.len());
    let run = pull(dir.path(), "tiny", &cat).ok();
    assert!(
        run.stderr.contains(&format!("sha256 {sha} verified")),
        "{}",
        run.stderr
    );
    let file = dir.path().join("checkpoints/tiny.pt");
    assert!(std::fs::read(&file).unwrap() == bytes);
    let record = std::fs::read_to_string(dir.path().join("checkpoints/tiny.pt.sha256")).unwrap();
    assert_eq!(record, format!("{sha}  tiny.pt\n"));
    assert!(dir.path().join("bundle/manifest.json").exists());
    assert!(!dir.path().join("checkpoints/tiny.pt.part").exists());
    // A second pull finds the verified file and downloads nothing.
    let again = pull(dir.path(), "tiny", &cat).ok();
    assert!(
        again.stderr.contains("already downloaded"),
        "{}",
        again.stderr
    );
    assert_eq!(server.ranges.lock().unwrap().len(), 1);

    // Without a sha256 in the catalogue, the computed one is printed and recorded.
    let other = scratch();
    let cat = catalogue(other.path(), "tiny", server.port, None, bytes.len());
    let run = pull(other.path(), "tiny", &cat).ok();
    assert!(
        run.stderr
            .contains(&format!("sha256 {sha} (the catalogue has none")),
        "{}",
        run.stderr
    );
    let record = std::fs::read_to_string(other.path().join("checkpoints/tiny.pt.sha256")).unwrap();
    assert_eq!(record, format!("{sha}  tiny.pt\n"));
}

#[test]
fn a_cut_connection_exits_3_and_the_next_run_resumes() {
    let dir = scratch();
    let (bytes, sha) = tiny(dir.path());
    let cut = bytes.len() / 3;
    let server = serve(bytes.clone(), Some(cut));
    let cat = catalogue(dir.path(), "tiny", server.port, Some(&sha), bytes.len());
    let run = pull(dir.path(), "tiny", &cat);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let line = one_line(&run);
    assert!(
        line.contains("run the same command again to resume"),
        "{line}"
    );
    let part = dir.path().join("checkpoints/tiny.pt.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), cut as u64);
    assert!(!dir.path().join("checkpoints/tiny.pt").exists());

    pull(dir.path(), "tiny", &cat).ok();
    assert_eq!(
        *server.ranges.lock().unwrap(),
        vec![String::new(), format!("bytes={cut}-")]
    );
    assert!(std::fs::read(dir.path().join("checkpoints/tiny.pt")).unwrap() == bytes);
    assert!(!part.exists());
    assert!(dir.path().join("bundle/manifest.json").exists());
}

#[test]
fn a_sha256_mismatch_is_refused_and_leaves_no_file() {
    let dir = scratch();
    let (bytes, _) = tiny(dir.path());
    let server = serve(bytes.clone(), None);
    let wrong = "0".repeat(64);
    let cat = catalogue(dir.path(), "tiny", server.port, Some(&wrong), bytes.len());
    let run = pull(dir.path(), "tiny", &cat);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let line = one_line(&run);
    assert!(
        line.contains("sha256 mismatch") && line.contains(&wrong),
        "{line}"
    );
    assert!(!dir.path().join("checkpoints/tiny.pt").exists());
    assert!(!dir.path().join("checkpoints/tiny.pt.part").exists());
    assert!(!dir.path().join("bundle").exists());
}

#[test]
fn an_unreachable_server_exits_3_with_one_line() {
    let dir = scratch();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cat = catalogue(dir.path(), "tiny", port, None, 1000);
    let run = pull(dir.path(), "tiny", &cat);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let line = one_line(&run);
    assert!(
        line.contains(&format!("cannot reach http://127.0.0.1:{port}/tiny.pt")),
        "{line}"
    );
    let unknown = pull(dir.path(), "nope", &cat);
    assert_eq!(unknown.code, 1);
    assert!(one_line(&unknown).contains("no model named 'nope' (known: tiny)"));
}
