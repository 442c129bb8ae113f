//! The JPEG of the frame each result was computed on (issue 15: a caption shown beside a later
//! frame reads as a wrong caption). [`super::WebServer::publish`] encodes the frame a result
//! carries and keeps it here under the frame's sequence number; the page shows it with the
//! result through `GET /result/<seq>.jpg`, apart from the live stream.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// Result frames kept; older ones are forgotten (the page lists at most 50 results).
pub const KEPT: usize = 64;

/// The URL of the JPEG of frame `seq`.
pub fn url(seq: u64) -> String {
    format!("/result/{seq}.jpg")
}

/// The frame number a `/result/<seq>.jpg` path names.
pub fn parse_path(path: &str) -> Option<u64> {
    let digits = path.strip_prefix("/result/")?.strip_suffix(".jpg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The last [`KEPT`] result frames as JPEG, by sequence number.
#[derive(Debug, Default)]
pub struct ResultFrames {
    jpegs: Mutex<VecDeque<(u64, Arc<Vec<u8>>)>>,
}

impl ResultFrames {
    /// Keeps `jpeg` as frame `seq` (replacing an earlier copy), forgetting the oldest beyond
    /// [`KEPT`].
    pub fn keep(&self, seq: u64, jpeg: Vec<u8>) {
        let mut q = self.jpegs.lock().unwrap_or_else(PoisonError::into_inner);
        q.retain(|(s, _)| *s != seq);
        if q.len() >= KEPT {
            q.pop_front();
        }
        q.push_back((seq, Arc::new(jpeg)));
    }

    /// Whether frame `seq` is kept already (it need not be encoded again).
    pub fn has(&self, seq: u64) -> bool {
        self.get(seq).is_some()
    }

    /// The JPEG of frame `seq`, if still kept.
    pub fn get(&self, seq: u64) -> Option<Arc<Vec<u8>>> {
        self.jpegs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, j)| Arc::clone(j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_bounded_keeping() {
        assert_eq!(parse_path(&url(42)), Some(42));
        for bad in [
            "/result/.jpg",
            "/result/x.jpg",
            "/result/1.png",
            "/result/-1.jpg",
            "/r/1.jpg",
        ] {
            assert_eq!(parse_path(bad), None, "{bad}");
        }
        assert_eq!(parse_path("/result/99999999999999999999999.jpg"), None);
        let kept = ResultFrames::default();
        for seq in 0..(KEPT as u64 + 10) {
            kept.keep(seq, vec![seq as u8]);
        }
        assert!(kept.get(9).is_none());
        assert_eq!(kept.get(10).as_deref(), Some(&vec![10u8]));
        kept.keep(10, vec![7]);
        assert_eq!(kept.get(10).as_deref(), Some(&vec![7u8]));
        assert!(kept.has(KEPT as u64 + 9));
    }
}
