//! Which frames of a video become the model's `T` frames: the original's `get_frame_indices`
//! (`data/video_utils.py`, docs/model.md §5.5) plus a time-segment selection.
//!
//! The video (or segment) of `vlen` frames is cut into `n = min(num_frames, vlen)` segments with
//! boundaries `b = linspace(0, vlen, n + 1).astype(int)` (NumPy: `b_i = trunc(i · (vlen / n))` in
//! f64, last boundary exactly `vlen`). Per segment:
//!
//! * [`Sampling::Middle`] takes `(b_i + b_{i+1} − 1) // 2` — deterministic, the recommended port;
//! * [`Sampling::Rand`] takes a uniform pick in `b_i ..= b_{i+1} − 2` (Python's
//!   `random.choice(range(b_i, b_{i+1} − 1))`: the last frame of a segment is never chosen); if
//!   any such range is empty (a one-frame segment) it falls back to `n` distinct frames drawn from
//!   a random permutation of all frames, sorted. The generator is ChaCha8 seeded with the given
//!   seed — **not** Python's Mersenne Twister, so the picks differ from the original's for the
//!   same seed; use [`Sampling::Indices`] to reproduce a recorded run.
//! * [`Sampling::Indices`] uses the given frame indices as they are.
//!
//! If fewer than `num_frames` indices result (`vlen < num_frames`, or fewer explicit indices), the
//! list is padded by repeating its last entry, as the original does.

use super::error::VideoError;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// How the frames of a video are picked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Sampling {
    /// The middle frame of each segment (deterministic). Default.
    #[default]
    Middle,
    /// A seeded random frame of each segment, like the original's default `sample_type=rand`
    /// (ChaCha8, not Python's RNG: same distribution, different picks).
    Rand {
        /// Seed of the ChaCha8 generator.
        seed: u64,
    },
    /// Exactly these frame indices of the whole video (0-based, presentation order), e.g. the
    /// `video_frame_indices` an earlier run recorded. At most `num_frames` of them; fewer are
    /// padded with the last one.
    Indices(Vec<usize>),
}

/// Segment boundaries `linspace(0, vlen, n + 1).astype(int)` (`n + 1` values, first 0, last
/// `vlen`).
///
/// `n` must be ≥ 1. Evaluated like NumPy: `i · (vlen / n)` in f64, truncated.
pub fn segment_bounds(vlen: usize, n: usize) -> Vec<usize> {
    let step = vlen as f64 / n as f64;
    (0..=n)
        .map(|i| {
            if i == n {
                vlen
            } else {
                (i as f64 * step) as usize
            }
        })
        .collect()
}

/// Frame indices (into a clip of `vlen` frames) for `num_frames` model frames.
///
/// Returns exactly `num_frames` indices, each `< vlen`. Fails with
/// [`VideoError::InvalidOptions`] for `num_frames == 0`, an empty or too long explicit list, and
/// with [`VideoError::IndexOutOfRange`] (naming `file`) for an explicit index `>= vlen`, and with
/// [`VideoError::NoFrames`] for `vlen == 0`.
pub fn frame_indices(
    num_frames: usize,
    vlen: usize,
    sampling: &Sampling,
    file: &Path,
) -> Result<Vec<usize>, VideoError> {
    if num_frames == 0 {
        return Err(VideoError::InvalidOptions {
            detail: "num_frames must be at least 1".into(),
        });
    }
    if vlen == 0 {
        return Err(VideoError::NoFrames {
            file: file.to_path_buf(),
        });
    }
    let mut picked = match sampling {
        Sampling::Middle => {
            let b = segment_bounds(vlen, num_frames.min(vlen));
            b.windows(2).map(|w| (w[0] + w[1] - 1) / 2).collect()
        }
        Sampling::Rand { seed } => rand_indices(num_frames.min(vlen), vlen, *seed),
        Sampling::Indices(list) => {
            if list.is_empty() || list.len() > num_frames {
                return Err(VideoError::InvalidOptions {
                    detail: format!(
                        "{} explicit frame indices given; expected 1 to num_frames = {num_frames}",
                        list.len()
                    ),
                });
            }
            if let Some(&index) = list.iter().find(|&&i| i >= vlen) {
                return Err(VideoError::IndexOutOfRange {
                    file: file.to_path_buf(),
                    index,
                    total_frames: vlen,
                });
            }
            list.clone()
        }
    };
    pad_with_last(&mut picked, num_frames);
    Ok(picked)
}

/// The original's `rand` branch for `n` segments of a `vlen`-frame clip (`1 <= n <= vlen`).
fn rand_indices(n: usize, vlen: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let b = segment_bounds(vlen, n);
    // `range(b_i, b_{i+1} − 1)` is empty as soon as a segment holds a single frame.
    if b.windows(2).all(|w| w[1] >= w[0] + 2) {
        return b
            .windows(2)
            .map(|w| rng.gen_range(w[0]..w[1] - 1))
            .collect();
    }
    let mut all: Vec<usize> = (0..vlen).collect();
    all.shuffle(&mut rng);
    all.truncate(n);
    all.sort_unstable();
    all
}

/// Repeats the last index until `list.len() == num_frames` (no-op for an empty list).
fn pad_with_last(list: &mut Vec<usize>, num_frames: usize) {
    if let Some(&last) = list.last() {
        list.resize(num_frames.max(list.len()), last);
    }
}

/// Frames `[first, last)` (presentation order) whose timestamps `times` (seconds from the start
/// of the stream, non-decreasing) lie in `[start, end)`. `None` bounds are open.
///
/// Fails with [`VideoError::InvalidOptions`] for negative, non-finite or reversed bounds and with
/// [`VideoError::EmptySegment`] when no frame falls inside.
pub fn segment_range(
    times: &[f64],
    start: Option<f64>,
    end: Option<f64>,
    duration: f64,
    file: &Path,
) -> Result<std::ops::Range<usize>, VideoError> {
    for (name, v) in [("start", start), ("end", end)] {
        if let Some(v) = v {
            if !v.is_finite() || v < 0.0 {
                return Err(VideoError::InvalidOptions {
                    detail: format!("{name} = {v} s must be a finite, non-negative time"),
                });
            }
        }
    }
    if let (Some(s), Some(e)) = (start, end) {
        if e <= s {
            return Err(VideoError::InvalidOptions {
                detail: format!("end = {e} s must be after start = {s} s"),
            });
        }
    }
    let first = start.map_or(0, |s| times.partition_point(|&t| t < s));
    let last = end.map_or(times.len(), |e| times.partition_point(|&t| t < e));
    if first >= last {
        return Err(VideoError::EmptySegment {
            file: file.to_path_buf(),
            start,
            end,
            total_frames: times.len(),
            duration,
        });
    }
    Ok(first..last)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn idx(num_frames: usize, vlen: usize, s: &Sampling) -> Vec<usize> {
        frame_indices(num_frames, vlen, s, Path::new("v.mp4")).unwrap()
    }

    #[test]
    fn bounds_truncate_like_numpy_linspace() {
        // np.linspace(0, 24, 5).astype(int), np.linspace(0, 10, 4).astype(int),
        // np.linspace(0, 100, 17).astype(int)
        assert_eq!(segment_bounds(24, 4), [0, 6, 12, 18, 24]);
        assert_eq!(segment_bounds(10, 3), [0, 3, 6, 10]);
        assert_eq!(
            segment_bounds(100, 16),
            [0, 6, 12, 18, 25, 31, 37, 43, 50, 56, 62, 68, 75, 81, 87, 93, 100]
        );
        assert_eq!(segment_bounds(5, 5), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn middle_picks_segment_centres() {
        // (b_i + b_{i+1} − 1) // 2 over [0, 6, 12, 18, 24].
        assert_eq!(idx(4, 24, &Sampling::Middle), [2, 8, 14, 20]);
        // [0, 3, 6, 10] → 1, 4, 7.
        assert_eq!(idx(3, 10, &Sampling::Middle), [1, 4, 7]);
        // 16 frames of 100: boundaries above.
        assert_eq!(
            idx(16, 100, &Sampling::Middle),
            [2, 8, 14, 21, 27, 33, 39, 46, 52, 58, 64, 71, 77, 83, 89, 96]
        );
    }

    #[test]
    fn short_video_repeats_the_last_index() {
        // vlen 3 < 8: n = 3, boundaries [0, 1, 2, 3], middles 0, 1, 2, then 2 repeated.
        assert_eq!(idx(8, 3, &Sampling::Middle), [0, 1, 2, 2, 2, 2, 2, 2]);
        assert_eq!(idx(4, 1, &Sampling::Middle), [0, 0, 0, 0]);
        // rand on one-frame segments falls back to a sorted permutation of all frames.
        assert_eq!(idx(5, 3, &Sampling::Rand { seed: 9 }), [0, 1, 2, 2, 2]);
    }

    #[test]
    fn rand_stays_inside_each_segment_but_never_its_last_frame_and_is_seeded() {
        // Boundaries [0, 6, 12, 18, 24]: picks in 0..=4, 6..=10, 12..=16, 18..=22.
        let mut seen_varied = false;
        for seed in 0..200 {
            let got = idx(4, 24, &Sampling::Rand { seed });
            for (i, &f) in got.iter().enumerate() {
                assert!((6 * i..=6 * i + 4).contains(&f), "seed {seed}: {got:?}");
            }
            assert_eq!(got, idx(4, 24, &Sampling::Rand { seed }));
            seen_varied |= got != idx(4, 24, &Sampling::Rand { seed: seed + 1 });
        }
        assert!(seen_varied);
    }

    #[test]
    fn rand_fallback_when_a_segment_has_one_frame() {
        // vlen 6, 4 segments: [0, 1, 3, 4, 6] has one-frame segments → 4 distinct sorted frames.
        for seed in 0..50 {
            let got = idx(4, 6, &Sampling::Rand { seed });
            assert_eq!(got.len(), 4);
            assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
            assert!(got.iter().all(|&f| f < 6));
        }
    }

    #[test]
    fn explicit_indices_are_checked_and_padded() {
        let s = Sampling::Indices(vec![1, 10, 12, 20]);
        assert_eq!(idx(4, 24, &s), [1, 10, 12, 20]);
        assert_eq!(idx(4, 24, &Sampling::Indices(vec![5, 3])), [5, 3, 3, 3]);
        let file = Path::new("v.mp4");
        assert!(matches!(
            frame_indices(4, 20, &s, file),
            Err(VideoError::IndexOutOfRange {
                index: 20,
                total_frames: 20,
                ..
            })
        ));
        assert!(matches!(
            frame_indices(3, 24, &s, file),
            Err(VideoError::InvalidOptions { .. })
        ));
        assert!(matches!(
            frame_indices(3, 24, &Sampling::Indices(vec![]), file),
            Err(VideoError::InvalidOptions { .. })
        ));
        assert!(matches!(
            frame_indices(0, 24, &Sampling::Middle, file),
            Err(VideoError::InvalidOptions { .. })
        ));
        assert!(matches!(
            frame_indices(4, 0, &Sampling::Middle, file),
            Err(VideoError::NoFrames { .. })
        ));
    }

    #[test]
    fn segments_select_frames_by_timestamp() {
        let times: Vec<f64> = (0..24).map(|i| f64::from(i) / 8.0).collect();
        let f = Path::new("v.mp4");
        assert_eq!(segment_range(&times, None, None, 3.0, f).unwrap(), 0..24);
        assert_eq!(
            segment_range(&times, Some(1.0), None, 3.0, f).unwrap(),
            8..24
        );
        assert_eq!(
            segment_range(&times, Some(0.5), Some(1.5), 3.0, f).unwrap(),
            4..12
        );
        assert_eq!(
            segment_range(&times, None, Some(0.1), 3.0, f).unwrap(),
            0..1
        );
        assert!(matches!(
            segment_range(&times, Some(5.0), None, 3.0, f),
            Err(VideoError::EmptySegment { .. })
        ));
        assert!(matches!(
            segment_range(&times, Some(2.0), Some(1.0), 3.0, f),
            Err(VideoError::InvalidOptions { .. })
        ));
        assert!(matches!(
            segment_range(&times, Some(f64::NAN), None, 3.0, f),
            Err(VideoError::InvalidOptions { .. })
        ));
    }
}
