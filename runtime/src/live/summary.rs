//! The end-of-run summary: how many results, how fast, how late, how many frames were dropped.

use super::{LiveResult, ResultKind};
use serde::Serialize;

/// Running tally of a live run's results.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    latencies: Vec<f64>,
    silences: u64,
    errors: u64,
}

/// Figures of a finished run; serialised as the final `--json` line (`"kind": "summary"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Always `"summary"`.
    pub kind: &'static str,
    /// Captions and answers emitted.
    pub results: u64,
    /// Audio windows skipped as silent.
    pub silences: u64,
    /// Items that failed.
    pub errors: u64,
    /// Median capture → emit latency of the results, ms (`null` without results).
    pub median_latency_ms: Option<f64>,
    /// 95th percentile (nearest rank) of the same, ms.
    pub p95_latency_ms: Option<f64>,
    /// Frames captured (or audio hops due) that the model never saw.
    pub frames_dropped: u64,
    /// Results per second of run time.
    pub results_per_second: f64,
    /// Run time, seconds.
    pub elapsed_s: f64,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Counts `r`: model outputs add their latency; status lines count nothing.
    pub fn record(&mut self, r: &LiveResult) {
        match r.kind {
            ResultKind::Caption | ResultKind::Answer => self.latencies.push(r.latency_ms),
            ResultKind::Silence => self.silences += 1,
            ResultKind::Error => self.errors += 1,
            ResultKind::Status => {}
        }
    }

    /// Captions and answers counted so far.
    pub fn results(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// The summary after `elapsed_s` seconds with `dropped` frames dropped.
    pub fn summary(&self, dropped: u64, elapsed_s: f64) -> Summary {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let results = self.results();
        Summary {
            kind: "summary",
            results,
            silences: self.silences,
            errors: self.errors,
            median_latency_ms: median(&sorted),
            p95_latency_ms: percentile(&sorted, 95.0),
            frames_dropped: dropped,
            results_per_second: if elapsed_s > 0.0 {
                results as f64 / elapsed_s
            } else {
                0.0
            },
            elapsed_s,
        }
    }
}

/// Median of sorted values (mean of the middle two for an even count); `None` when empty.
pub fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The nearest-rank `p`th percentile of sorted values (`p` in (0, 100]); `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

impl std::fmt::Display for Summary {
    /// The terminal form: `12 results in 10.0 s (1.20/s), latency median 412 ms, p95 530 ms,
    /// 88 frames dropped`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} results in {:.1} s ({:.2}/s)",
            self.results, self.elapsed_s, self.results_per_second
        )?;
        if let (Some(m), Some(p)) = (self.median_latency_ms, self.p95_latency_ms) {
            write!(f, ", latency median {m:.0} ms, p95 {p:.0} ms")?;
        }
        write!(f, ", {} frames dropped", self.frames_dropped)?;
        if self.silences > 0 {
            write!(f, ", {} silent windows", self.silences)?;
        }
        if self.errors > 0 {
            write!(f, ", {} errors", self.errors)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::live::Stamp;

    fn result(kind: ResultKind, latency: f64) -> LiveResult {
        let mut r = LiveResult::about(kind, 1, &Stamp::now(), "caption", "x".into());
        r.latency_ms = latency;
        r
    }

    #[test]
    fn median_and_nearest_rank_percentile() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[1.0, 2.0, 10.0, 20.0]), Some(6.0));
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&v, 100.0), Some(20.0));
        assert_eq!(percentile(&[5.0], 95.0), Some(5.0));
        assert_eq!(percentile(&[], 95.0), None);
    }

    #[test]
    fn summary_counts_each_kind_and_rates() {
        let mut t = Tally::new();
        for l in [400.0, 100.0, 300.0, 200.0] {
            t.record(&result(ResultKind::Caption, l));
        }
        t.record(&result(ResultKind::Silence, 1.0));
        t.record(&result(ResultKind::Error, 0.0));
        t.record(&result(ResultKind::Status, 0.0));
        let s = t.summary(9, 2.0);
        assert_eq!((s.results, s.silences, s.errors), (4, 1, 1));
        assert_eq!(s.median_latency_ms, Some(250.0));
        assert_eq!(s.p95_latency_ms, Some(400.0));
        assert_eq!(s.results_per_second, 2.0);
        let text = s.to_string();
        assert!(
            text.starts_with(
                "4 results in 2.0 s (2.00/s), latency median 250 ms, p95 400 ms, 9 frames dropped"
            ),
            "{text}"
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "summary");
        assert_eq!(v["frames_dropped"], 9);
        let empty = Tally::new().summary(0, 0.0);
        assert_eq!(
            (empty.median_latency_ms, empty.results_per_second),
            (None, 0.0)
        );
    }
}
