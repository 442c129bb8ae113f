//! How `unival live` prints: a terminal line per result (`[HH:MM:SS.mmm] 412 ms  a red circle`,
//! UTC), or one JSON object per line with `--json`, and the end-of-run summary.

use std::io::Write;
use unival_runtime::live::{LiveResult, ResultKind, Summary};

/// `HH:MM:SS.mmm` (UTC) of a Unix time in milliseconds.
pub fn clock(unix_ms: u64) -> String {
    let ms = unix_ms % 1000;
    let s = unix_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

/// The terminal line of a result.
pub fn text_line(r: &LiveResult) -> String {
    let at = clock(r.emitted_ms);
    match r.kind {
        ResultKind::Caption => format!("[{at}] {:.0} ms  {}", r.latency_ms, r.text),
        ResultKind::Answer => format!(
            "[{at}] {:.0} ms  {} -> {}",
            r.latency_ms,
            r.question.as_deref().unwrap_or(""),
            r.text
        ),
        ResultKind::Silence => format!("[{at}] {:.0} ms  (silence)", r.latency_ms),
        ResultKind::Status => format!("[{at}] {}", r.text),
        ResultKind::Error => format!("[{at}] error: {}", r.text),
    }
}

/// Where results go: stdout, as text or JSON lines. Status and error lines go to stderr in
/// text mode, and to stdout (with their `kind`) in JSON mode.
pub struct Printer {
    pub json: bool,
}

impl Printer {
    /// Prints one result.
    pub fn result(&self, r: &LiveResult) -> anyhow::Result<()> {
        if self.json {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string(r)?)?;
            out.flush()?;
        } else if matches!(r.kind, ResultKind::Status | ResultKind::Error) {
            eprintln!("{}", text_line(r));
        } else {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", text_line(r))?;
            out.flush()?;
        }
        Ok(())
    }

    /// Prints the summary: a final JSON line (`"kind": "summary"`) or a line on stderr.
    pub fn summary(&self, s: &Summary) -> anyhow::Result<()> {
        if self.json {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string(s)?)?;
            out.flush()?;
        } else {
            eprintln!("summary: {s}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unival_runtime::live::Stamp;

    #[test]
    fn clock_and_lines() {
        // 2024-01-02 03:04:05.006 UTC
        assert_eq!(clock(1_704_164_645_006), "03:04:05.006");
        let mut r = LiveResult::about(
            ResultKind::Caption,
            3,
            &Stamp::now(),
            "caption",
            "a red circle".into(),
        );
        r.emitted_ms = 1_704_164_645_006;
        r.latency_ms = 411.6;
        assert_eq!(text_line(&r), "[03:04:05.006] 412 ms  a red circle");
        r.kind = ResultKind::Answer;
        r.question = Some("what color?".into());
        r.text = "red".into();
        assert_eq!(text_line(&r), "[03:04:05.006] 412 ms  what color? -> red");
        r.kind = ResultKind::Status;
        r.text = "camera 0 resumed".into();
        assert_eq!(text_line(&r), "[03:04:05.006] camera 0 resumed");
    }
}
