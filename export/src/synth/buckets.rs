//! The integer buffers of the model, computed from the spec's formulas (§2.7, §0.1 item 5):
//! `token_rp_bucket`, `image_rp_bucket`, `image_position_idx`. The real checkpoints store these
//! tables; the oracle test checks these functions against them entry by entry.

/// Text relative-position bucket of `rel = query − key` (`make_token_bucket_position`):
/// `rel + bucket − 1` when `|rel| ≤ bucket/2`, else a log bucket computed in f32 like PyTorch.
pub fn token_bucket(rel: i64, bucket_size: usize, max_position: usize) -> i64 {
    let mid = (bucket_size / 2) as i64;
    let b = bucket_size as i64 - 1;
    if rel.abs() <= mid {
        return rel + b;
    }
    let abs = rel.abs() as f32;
    let denom = (((max_position as f64) - 1.0) / mid as f64).ln() as f32;
    let log_pos = ((abs / mid as f32).ln() / denom * (mid - 1) as f32).ceil() as i64 + mid;
    rel.signum() * log_pos + b
}

/// `token_rp_bucket`: `[max_position, max_position]`, row = query, column = key, row-major.
pub fn token_bucket_table(bucket_size: usize, max_position: usize) -> Vec<i64> {
    let n = max_position as i64;
    (0..n)
        .flat_map(|i| (0..n).map(move |j| token_bucket(i - j, bucket_size, max_position)))
        .collect()
}

/// Perception relative bucket between position ids `p` and `q` (id 0 = the unused CLS slot):
/// `(hp−hq+b−1)·(2b−1) + (wp−wq+b−1)`; specials nrd−3 (row 0), nrd−2 (column 0), nrd−1 (0,0).
pub fn image_bucket(p: usize, q: usize, b: usize) -> i64 {
    let side = 2 * b as i64 - 1;
    let nrd = side * side + 3;
    match (p, q) {
        (0, 0) => nrd - 1,
        (0, _) => nrd - 3,
        (_, 0) => nrd - 2,
        _ => {
            let (hp, wp) = (((p - 1) / b) as i64, ((p - 1) % b) as i64);
            let (hq, wq) = (((q - 1) / b) as i64, ((q - 1) % b) as i64);
            (hp - hq + b as i64 - 1) * side + (wp - wq + b as i64 - 1)
        }
    }
}

/// `image_rp_bucket`: `[b²+1, b²+1]` row-major.
pub fn image_bucket_table(b: usize) -> Vec<i64> {
    let n = b * b + 1;
    (0..n)
        .flat_map(|p| (0..n).map(move |q| image_bucket(p, q, b)))
        .collect()
}

/// `decoder.image_position_idx`: `0`, then `1 + r·b + c` over the code window
/// (`code_image_size / 8` squared), padded with 1024 to 1026 entries as the released files are.
pub fn image_position_idx(b: usize, code_image_size: usize) -> Vec<i64> {
    let w = code_image_size / 8;
    let mut v = vec![0i64];
    for r in 0..w {
        for c in 0..w {
            v.push((1 + r * b + c) as i64);
        }
    }
    let len = v.len().max(1026);
    v.resize(len, 1024);
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn token_buckets_match_spec_values() {
        let t = |r| token_bucket(r, 256, 1024);
        assert_eq!(
            [t(0), t(1), t(-1), t(5), t(127), t(128), t(-128)],
            [255, 256, 254, 260, 382, 383, 127]
        );
        assert_eq!(
            [t(129), t(200), t(500), t(1023), t(-1023)],
            [384, 411, 467, 510, 0]
        );
    }

    #[test]
    fn image_buckets_match_spec_values() {
        let i = |p, q| image_bucket(p, q, 42);
        assert_eq!(
            [i(1, 1), i(1, 2), i(2, 1), i(1, 43), i(43, 1)],
            [3444, 3443, 3445, 3361, 3527]
        );
        assert_eq!(
            [i(603, 1), i(1, 603), i(0, 5), i(5, 0), i(0, 0)],
            [4620, 2268, 6889, 6890, 6891]
        );
        assert_eq!(image_bucket_table(3).len(), 100);
    }

    #[test]
    fn position_idx_layout() {
        let v = image_position_idx(16, 128);
        assert_eq!(v.len(), 1026);
        assert_eq!(&v[..3], &[0, 1, 2]);
        assert_eq!(v[17], 17);
        assert_eq!(v[256], 1 + 15 * 16 + 15);
        assert_eq!(v[257], 1024);
        let v = image_position_idx(8, 128);
        assert_eq!(v[17], 9);
    }
}
