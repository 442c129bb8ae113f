//! Capture and emit times: a monotonic instant for latency and a wall-clock time for reports.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// One moment, read from both clocks at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Monotonic; differences between stamps are latencies.
    pub at: Instant,
    /// Milliseconds since the Unix epoch, for logs and JSON.
    pub unix_ms: u64,
}

impl Stamp {
    /// Now.
    pub fn now() -> Stamp {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Stamp {
            at: Instant::now(),
            unix_ms,
        }
    }

    /// Milliseconds from `earlier` to `self` (0 when `earlier` is later).
    pub fn ms_since(&self, earlier: &Stamp) -> f64 {
        self.at.saturating_duration_since(earlier.at).as_secs_f64() * 1e3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_stamp_measures_positive_latency() {
        let a = Stamp::now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = Stamp::now();
        assert!(b.ms_since(&a) >= 5.0);
        assert_eq!(a.ms_since(&b), 0.0);
        assert!(b.unix_ms >= a.unix_ms);
    }
}
