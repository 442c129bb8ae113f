//! Rolling windows: the recent frames a video loop captions as a clip, and the recent samples
//! an audio loop captions as a sound. Both are bounded whatever the source's rate and however
//! slow the model, and count what the model never got to see.

use super::{AudioChunk, Frame, Stamp};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How far back a frame window reaches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowSpan {
    /// The last N frames, at whatever rate they come (the default: twice the model's clip,
    /// i.e. "2× the clip at the source rate").
    Frames(usize),
    /// The frames captured in the last so many seconds (`--window`), thinned evenly to the
    /// window's capacity.
    Seconds(f64),
}

#[derive(Debug)]
struct Kept {
    frame: Arc<Frame>,
    /// Whether some snapshot handed it to the model.
    used: bool,
}

/// The recent frames of a stream, oldest first, at most `cap` of them.
#[derive(Debug)]
pub struct FrameWindow {
    kept: VecDeque<Kept>,
    span: WindowSpan,
    cap: usize,
    /// Frames that left the window (or were thinned out) before any snapshot took them.
    dropped: u64,
    /// Frames pushed since the last snapshot.
    fresh: u64,
}

impl FrameWindow {
    /// A window spanning `span`, holding at most `cap` frames (at least 1). A
    /// [`WindowSpan::Frames`] span larger than `cap` is cut to `cap`.
    pub fn new(span: WindowSpan, cap: usize) -> FrameWindow {
        let cap = match span {
            WindowSpan::Frames(n) => n.min(cap),
            WindowSpan::Seconds(_) => cap,
        }
        .max(1);
        FrameWindow {
            kept: VecDeque::with_capacity(cap + 1),
            span,
            cap,
            dropped: 0,
            fresh: 0,
        }
    }

    /// Smallest spacing kept between frames of a seconds window, so that `cap` frames cover it.
    fn min_gap(&self) -> Option<Duration> {
        match self.span {
            WindowSpan::Seconds(s) if s.is_finite() && s > 0.0 => {
                Some(Duration::from_secs_f64(s / self.cap as f64))
            }
            _ => None,
        }
    }

    fn forget(&mut self, k: Kept) {
        if !k.used {
            self.dropped += 1;
        }
    }

    /// Adds the newest frame. In a seconds window it replaces the newest kept frame when that
    /// one lies less than `span / cap` after its predecessor (so the newest frame is always
    /// present and the others stay evenly spaced); frames older than the span, or beyond the
    /// capacity, leave from the front.
    pub fn push(&mut self, frame: Arc<Frame>) {
        self.fresh += 1;
        let at = frame.captured.at;
        if let (Some(gap), n) = (self.min_gap(), self.kept.len()) {
            // The newest kept frame is provisional until it lies a full gap after the one
            // before it.
            let last = self.kept.back().map(|k| k.frame.captured.at);
            let spacing = last.map(|l| {
                l.saturating_duration_since(self.kept[n.saturating_sub(2)].frame.captured.at)
            });
            if n >= 2 && spacing.is_some_and(|d| d < gap) {
                if let Some(last) = self.kept.pop_back() {
                    self.forget(last);
                }
            }
        }
        self.kept.push_back(Kept { frame, used: false });
        if let WindowSpan::Seconds(s) = self.span {
            let span = Duration::from_secs_f64(if s.is_finite() && s > 0.0 { s } else { 0.0 });
            while self.kept.len() > 1
                && self
                    .kept
                    .front()
                    .is_some_and(|k| at.saturating_duration_since(k.frame.captured.at) > span)
            {
                if let Some(k) = self.kept.pop_front() {
                    self.forget(k);
                }
            }
        }
        while self.kept.len() > self.cap {
            if let Some(k) = self.kept.pop_front() {
                self.forget(k);
            }
        }
    }

    /// The frames now in the window, oldest first, marked as seen by the model.
    pub fn snapshot(&mut self) -> Vec<Arc<Frame>> {
        self.fresh = 0;
        self.kept
            .iter_mut()
            .map(|k| {
                k.used = true;
                Arc::clone(&k.frame)
            })
            .collect()
    }

    /// Frames pushed since the last snapshot.
    pub fn fresh(&self) -> u64 {
        self.fresh
    }

    /// Frames now held.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// Frames the model never saw.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// The last `len` mono samples of an audio stream at its own rate.
#[derive(Debug)]
pub struct AudioWindow {
    samples: VecDeque<f32>,
    len: usize,
    /// Samples pushed since the last snapshot.
    fresh: usize,
    captured: Option<Stamp>,
    chunks: u64,
}

impl AudioWindow {
    /// A window of `len` samples (at least 1).
    pub fn new(len: usize) -> AudioWindow {
        let len = len.max(1);
        AudioWindow {
            samples: VecDeque::with_capacity(len),
            len,
            fresh: 0,
            captured: None,
            chunks: 0,
        }
    }

    /// Appends a chunk, forgetting the oldest samples beyond the window's length.
    pub fn push(&mut self, chunk: &AudioChunk) {
        let tail = chunk
            .samples
            .get(chunk.samples.len().saturating_sub(self.len)..)
            .unwrap_or(&[]);
        self.samples.extend(tail.iter().copied());
        let extra = self.samples.len().saturating_sub(self.len);
        self.samples.drain(..extra);
        self.fresh = self.fresh.saturating_add(chunk.samples.len());
        self.captured = Some(chunk.captured);
        self.chunks += 1;
    }

    /// Samples pushed since the last snapshot.
    pub fn fresh(&self) -> usize {
        self.fresh
    }

    /// The window's samples (fewer than its length until it has filled), the capture time of
    /// the newest, and the number of the last chunk; resets [`AudioWindow::fresh`]. `None`
    /// before any chunk.
    pub fn snapshot(&mut self) -> Option<(Vec<f32>, Stamp, u64)> {
        let captured = self.captured?;
        self.fresh = 0;
        Some((
            self.samples.iter().copied().collect(),
            captured,
            self.chunks,
        ))
    }
}

/// Root-mean-square level in dBFS (0 dB is a full-scale square wave; silence is −∞).
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let power = samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len() as f64;
    10.0 * power.log10()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(seq: u64, at: Instant) -> Arc<Frame> {
        Arc::new(Frame {
            image: image::RgbImage::new(2, 2),
            captured: Stamp { at, unix_ms: 0 },
            seq,
        })
    }

    fn seqs(w: &mut FrameWindow) -> Vec<u64> {
        w.snapshot().iter().map(|f| f.seq).collect()
    }

    #[test]
    fn frame_count_window_keeps_the_last_n() {
        let t0 = Instant::now();
        let mut w = FrameWindow::new(WindowSpan::Frames(4), 64);
        for i in 0..3 {
            w.push(frame(i, t0 + Duration::from_millis(i * 10)));
        }
        assert_eq!(seqs(&mut w), vec![0, 1, 2]);
        for i in 3..10 {
            w.push(frame(i, t0 + Duration::from_millis(i * 10)));
        }
        assert_eq!(w.fresh(), 7);
        assert_eq!(seqs(&mut w), vec![6, 7, 8, 9]);
        // 3, 4, 5 left unseen.
        assert_eq!(w.dropped(), 3);
        assert_eq!(w.fresh(), 0);
    }

    #[test]
    fn seconds_window_is_bounded_evenly_thinned_and_ends_at_the_newest() {
        // 2 s at 100 fps would be 200 frames; the capacity is 10 (one per 200 ms).
        let t0 = Instant::now();
        let mut w = FrameWindow::new(WindowSpan::Seconds(2.0), 10);
        for i in 0..500u64 {
            w.push(frame(i, t0 + Duration::from_millis(i * 10)));
            assert!(w.len() <= 10);
        }
        let kept = w.snapshot();
        assert_eq!(kept.last().unwrap().seq, 499);
        let times: Vec<u64> = kept.iter().map(|f| f.seq * 10).collect();
        assert!(4990 - times[0] <= 2000, "{times:?}");
        for pair in times.windows(2).take(times.len() - 2) {
            let gap = pair[1] - pair[0];
            assert!((200..=210).contains(&gap), "uneven: {times:?}");
        }
        assert_eq!(w.dropped(), 500 - 10);
    }

    #[test]
    fn audio_window_keeps_the_newest_samples() {
        let mut w = AudioWindow::new(5);
        assert!(w.snapshot().is_none());
        let chunk = |v: &[f32]| AudioChunk {
            samples: v.to_vec(),
            captured: Stamp::now(),
        };
        w.push(&chunk(&[1.0, 2.0, 3.0]));
        assert_eq!(w.fresh(), 3);
        w.push(&chunk(&[4.0, 5.0, 6.0, 7.0]));
        assert_eq!(w.fresh(), 7);
        let (s, _, n) = w.snapshot().unwrap();
        assert_eq!((s, n), (vec![3.0, 4.0, 5.0, 6.0, 7.0], 2));
        assert_eq!(w.fresh(), 0);
        w.push(&chunk(&(0..12).map(|i| i as f32).collect::<Vec<_>>()));
        assert_eq!(w.snapshot().unwrap().0, vec![7.0, 8.0, 9.0, 10.0, 11.0]);
    }

    #[test]
    fn silence_detection_levels() {
        assert_eq!(rms_dbfs(&[]), f64::NEG_INFINITY);
        assert_eq!(rms_dbfs(&[0.0; 100]), f64::NEG_INFINITY);
        assert!((rms_dbfs(&[1.0, -1.0]) - 0.0).abs() < 1e-9);
        // A full-scale sine is −3 dBFS; at 0.001 amplitude it is −63 dBFS: below −50.
        let sine = |a: f32| -> Vec<f32> {
            (0..4800)
                .map(|i| a * (i as f32 * 440.0 * std::f32::consts::TAU / 48000.0).sin())
                .collect()
        };
        assert!((rms_dbfs(&sine(1.0)) + 3.01).abs() < 0.05);
        assert!((rms_dbfs(&sine(0.001)) + 63.01).abs() < 0.05);
        assert!(rms_dbfs(&sine(0.001)) < -50.0 && rms_dbfs(&sine(0.1)) > -50.0);
    }
}
