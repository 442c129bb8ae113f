//! Resumable HTTP(S) download into `<file>.part`: a `.part` left by an interrupted run is
//! continued with an HTTP `Range` request (a server that ignores ranges restarts the file).

use indicatif::{ProgressBar, ProgressStyle};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Why a download stopped.
#[derive(Debug)]
pub enum Failure {
    /// The server could not be reached or the connection broke: retrying (later, or on a
    /// machine with internet access) may work, and a partial file is kept for resuming.
    Network(String),
    /// Anything else (HTTP error status, local I/O).
    Other(anyhow::Error),
}

impl Failure {
    fn other(msg: String) -> Failure {
        Failure::Other(anyhow::anyhow!(msg))
    }
}

/// Bytes already in `part`, 0 when it does not exist.
fn have_bytes(part: &Path) -> u64 {
    std::fs::metadata(part).map(|m| m.len()).unwrap_or(0)
}

/// `Content-Range: bytes START-END/TOTAL` → `(START, TOTAL)` (TOTAL `None` for `*`).
fn content_range(value: &str) -> Option<(Option<u64>, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim();
    let (range, total) = rest.split_once('/')?;
    let start = range
        .split_once('-')
        .and_then(|(s, _)| s.trim().parse().ok());
    Some((start, total.trim().parse().ok()))
}

/// Downloads `url` into `part`, continuing what is there. `size` (from the catalogue) lets a
/// complete `.part` be recognised without a request.
pub fn fetch(url: &str, part: &Path, size: Option<u64>) -> Result<(), Failure> {
    let have = have_bytes(part);
    if have > 0 && size == Some(have) {
        return Ok(());
    }
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(20))
        .timeout_read(Duration::from_secs(60))
        .build();
    let mut request = agent.get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(416, r)) if have > 0 => {
            // Nothing left to send: complete if the server's total is what we hold.
            let total = r
                .header("Content-Range")
                .and_then(content_range)
                .and_then(|c| c.1);
            if total == Some(have) {
                return Ok(());
            }
            let _ = std::fs::remove_file(part);
            return Err(Failure::other(format!(
                "{url}: the server refused to continue {} ({have} bytes held); it was removed: \
                 run the command again to download from the start",
                part.display()
            )));
        }
        Err(ureq::Error::Status(code, r)) => {
            return Err(Failure::other(format!(
                "{url}: HTTP {code} {}",
                r.status_text()
            )))
        }
        Err(ureq::Error::Transport(t)) => {
            // The transport's own text repeats the URL: kind and cause are enough.
            let cause = std::error::Error::source(&t)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            return Err(Failure::Network(format!(
                "cannot reach {url}: {}{cause}",
                t.kind()
            )));
        }
    };
    let resume = response.status() == 206;
    if resume {
        let start = response
            .header("Content-Range")
            .and_then(content_range)
            .and_then(|c| c.0);
        if start != Some(have) {
            return Err(Failure::other(format!(
                "{url}: asked for bytes {have}- but the server sent a range starting at {start:?}"
            )));
        }
    }
    let offset = if resume { have } else { 0 };
    let length: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.parse().ok());
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resume)
        .truncate(!resume)
        .open(part)
        .map_err(|e| Failure::other(format!("{}: cannot write: {e}", part.display())))?;
    let total = length.map(|l| l + offset).or(size);
    copy_body(response.into_reader(), file, part, offset, total, url)
}

/// Streams the body into `file` with a progress bar.
fn copy_body(
    mut body: impl Read,
    mut file: File,
    part: &Path,
    offset: u64,
    total: Option<u64>,
    url: &str,
) -> Result<(), Failure> {
    let bar = ProgressBar::new(total.unwrap_or(0));
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar.set_position(offset);
    let mut buf = vec![0u8; 1 << 16];
    let mut got = offset;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                bar.abandon();
                let _ = file.flush();
                return Err(Failure::Network(format!(
                    "download of {url} interrupted after {got} bytes ({e}); {} keeps them: run \
                     the same command again to resume",
                    part.display()
                )));
            }
        };
        file.write_all(&buf[..n])
            .map_err(|e| Failure::other(format!("{}: cannot write: {e}", part.display())))?;
        got += n as u64;
        bar.set_position(got);
    }
    bar.finish_and_clear();
    file.flush()
        .map_err(|e| Failure::other(format!("{}: cannot write: {e}", part.display())))?;
    if let Some(t) = total.filter(|&t| t != got) {
        return Err(Failure::Network(format!(
            "download of {url} ended after {got} of {t} bytes; {} keeps them: run the same \
             command again to resume",
            part.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn content_range_is_parsed() {
        assert_eq!(
            content_range("bytes 10-99/100"),
            Some((Some(10), Some(100)))
        );
        assert_eq!(content_range("bytes */100"), Some((None, Some(100))));
        assert_eq!(content_range("items 1-2/3"), None);
    }
}
