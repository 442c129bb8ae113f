//! Logits processors of fairseq's generation loop (spec §6.1, §6.4), each a small type working on
//! one row `[vocab]` of f32 values, plus the fp32 log-softmax they feed.
//!
//! Order per step (see `pipeline`): [`Temperature`] on logits → trie mask + [`log_softmax`] →
//! prefix forcing or [`MinLength`] → [`SpecialTokenMask`] → [`ForceEos`] → no-repeat n-gram.

use super::options::SpecialTokens;

/// `exp(x)` for `x ≤ 0` in f32 (Cephes `expf`: range reduction by ln 2 and a degree-6
/// polynomial, ≤ 2 ulp on `[-87, 0]`), branch-free so the summation loop vectorises.
/// Returns 0 below −87: `e^-87 ≈ 1.6e-38` is far below the f32 resolution of any softmax sum
/// (which is ≥ 1), so torch's sum is unchanged by such terms too.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = if x > -87.0 { x } else { -87.0 };
    let t = xc * LOG2E + 0.5;
    let ti = t as i32;
    let fi = ti as f32;
    let n = if fi > t { fi - 1.0 } else { fi }; // floor(t)
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * (r * r) + r + 1.0;
    let pow2 = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x > -87.0 {
        y * pow2
    } else {
        0.0
    }
}

/// Maximum of a slice and whether it holds a NaN (torch's max propagates NaN).
fn max_and_nan(v: &[f32]) -> (f32, bool) {
    let mut m = [f32::NEG_INFINITY; 8];
    let mut nan = [false; 8];
    let chunks = v.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            m[j] = if c[j] > m[j] { c[j] } else { m[j] };
            nan[j] |= c[j].is_nan();
        }
    }
    let mut max = m
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    let mut any_nan = nan.iter().any(|&b| b);
    for &x in rem {
        max = if x > max { x } else { max };
        any_nan |= x.is_nan();
    }
    (max, any_nan)
}

/// `Σ exp(x − max)` accumulated in f64 over eight lanes.
fn sum_exp(v: &[f32], max: f32) -> f64 {
    let mut acc = [0f64; 8];
    let chunks = v.chunks_exact(8);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..8 {
            acc[j] += exp_nonpositive(c[j] - max) as f64;
        }
    }
    let mut s: f64 = acc.iter().sum();
    for &x in rem {
        s += exp_nonpositive(x - max) as f64;
    }
    s
}

/// In-place log-softmax in f32, torch's formula `(x − max) − ln Σ exp(x − max)`.
///
/// A slice whose maximum is not finite (all −inf after masking, a NaN, or +inf) becomes all −inf:
/// torch produces NaN there, and the generator turns NaN into −inf before anything reads it.
pub fn log_softmax(v: &mut [f32]) {
    let (max, nan) = max_and_nan(v);
    if nan || !max.is_finite() {
        v.fill(f32::NEG_INFINITY);
        return;
    }
    let lse = sum_exp(v, max).ln() as f32;
    for x in v.iter_mut() {
        *x = (*x - max) - lse;
    }
}

/// Log-softmax over the `allowed` ids of `row` only; every other entry becomes −inf. Equals
/// setting the other logits to −inf and taking the full log-softmax (what the original does
/// for trie constraints), at the cost of the allowed entries only. `allowed` must be sorted,
/// unique and `< row.len()` (trie children are).
pub fn restricted_log_softmax(row: &mut [f32], allowed: &[i64], scratch: &mut Vec<f32>) {
    scratch.clear();
    scratch.extend(allowed.iter().map(|&t| row[t as usize]));
    log_softmax(scratch);
    row.fill(f32::NEG_INFINITY);
    for (&t, &v) in allowed.iter().zip(scratch.iter()) {
        row[t as usize] = v;
    }
}

/// Divides logits by the temperature before any masking (`forward_decoder`: `div_(temperature)`,
/// spec §6.4). A temperature of 1 is skipped (division by 1 is exact).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature(pub f32);

impl Temperature {
    /// Applies to one row of logits.
    pub fn apply(&self, logits: &mut [f32]) {
        if self.0 != 1.0 {
            for x in logits.iter_mut() {
                *x /= self.0;
            }
        }
    }
}

/// Forbids EOS while `step < min_len` (fairseq: only when no prefix is being forced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinLength {
    /// EOS id.
    pub eos: i64,
}

impl MinLength {
    /// Sets EOS's log-prob to −inf.
    pub fn apply(&self, lprobs: &mut [f32]) {
        lprobs[self.eos as usize] = f32::NEG_INFINITY;
    }
}

/// At `step ≥ max_len` only EOS may follow (fairseq's max-length constraint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForceEos {
    /// EOS id.
    pub eos: i64,
}

impl ForceEos {
    /// Sets every log-prob except EOS's to −inf.
    pub fn apply(&self, lprobs: &mut [f32]) {
        let eos = self.eos as usize;
        let keep = lprobs[eos];
        lprobs.fill(f32::NEG_INFINITY);
        lprobs[eos] = keep;
    }
}

/// NaN → −inf, PAD → −inf (never generated), UNK −= `unk_penalty`, applied to every row at
/// every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpecialTokenMask {
    /// PAD id.
    pub pad: i64,
    /// UNK id.
    pub unk: i64,
    /// Subtracted from UNK's log-prob (f32, as torch subtracts a Python float from f32).
    pub unk_penalty: f32,
}

impl SpecialTokenMask {
    /// The mask for these specials and penalty.
    pub fn new(specials: &SpecialTokens, unk_penalty: f64) -> Self {
        SpecialTokenMask {
            pad: specials.pad,
            unk: specials.unk,
            unk_penalty: unk_penalty as f32,
        }
    }

    /// Applies to one row of log-probs.
    pub fn apply(&self, lprobs: &mut [f32]) {
        for x in lprobs.iter_mut() {
            if x.is_nan() {
                *x = f32::NEG_INFINITY;
            }
        }
        lprobs[self.pad as usize] = f32::NEG_INFINITY;
        lprobs[self.unk as usize] -= self.unk_penalty;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_log_softmax(v: &[f32]) -> Vec<f32> {
        let max = v.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64));
        let lse = v.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
        v.iter().map(|&x| (x as f64 - max - lse) as f32).collect()
    }

    #[test]
    fn fast_exp_is_accurate_on_its_domain() {
        let mut worst = 0f64;
        let mut x = -86.99f32;
        while x <= 0.0 {
            let got = exp_nonpositive(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn log_softmax_matches_f64_reference() {
        let mut v: Vec<f32> = (0..1001)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.731)
            .collect();
        let want = reference_log_softmax(&v);
        log_softmax(&mut v);
        for (a, b) in v.iter().zip(&want) {
            assert!((a - b).abs() <= 2e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let mut w = vec![1.0, 2.0, 3.0];
        log_softmax(&mut w);
        assert!((w[2] - (-0.407_605_96)).abs() < 1e-6);
    }

    #[test]
    fn log_softmax_of_fully_masked_or_nan_rows_is_all_neg_inf() {
        let mut v = vec![f32::NEG_INFINITY; 4];
        log_softmax(&mut v);
        assert!(v.iter().all(|&x| x == f32::NEG_INFINITY));
        let mut v = vec![0.0, f32::NAN, 1.0];
        log_softmax(&mut v);
        assert!(v.iter().all(|&x| x == f32::NEG_INFINITY));
    }

    #[test]
    fn restricted_log_softmax_renormalises_over_allowed_ids() {
        let mut row = vec![5.0, 1.0, 2.0, 9.0, 2.0];
        let mut scratch = Vec::new();
        restricted_log_softmax(&mut row, &[1, 2, 4], &mut scratch);
        let want = reference_log_softmax(&[1.0, 2.0, 2.0]);
        assert_eq!(row[0], f32::NEG_INFINITY);
        assert_eq!(row[3], f32::NEG_INFINITY);
        for (got, want) in [row[1], row[2], row[4]].iter().zip(&want) {
            assert!((got - want).abs() < 1e-6);
        }
        // Equivalent to masking logits with −inf and a full log-softmax.
        let mut masked = vec![f32::NEG_INFINITY, 1.0, 2.0, f32::NEG_INFINITY, 2.0];
        log_softmax(&mut masked);
        assert_eq!(masked, row);
    }

    #[test]
    fn temperature_divides_logits() {
        let mut v = vec![2.0, -4.0];
        Temperature(2.0).apply(&mut v);
        assert_eq!(v, vec![1.0, -2.0]);
        Temperature(1.0).apply(&mut v);
        assert_eq!(v, vec![1.0, -2.0]);
    }

    #[test]
    fn length_processors_mask_the_right_ids() {
        let mut v = vec![-1.0, -2.0, -3.0, -4.0];
        MinLength { eos: 2 }.apply(&mut v);
        assert_eq!(v, vec![-1.0, -2.0, f32::NEG_INFINITY, -4.0]);
        let mut v = vec![-1.0, -2.0, -3.0, -4.0];
        ForceEos { eos: 2 }.apply(&mut v);
        let ninf = f32::NEG_INFINITY;
        assert_eq!(v, vec![ninf, ninf, -3.0, ninf]);
    }

    #[test]
    fn special_token_mask_handles_nan_pad_and_unk() {
        let m = SpecialTokenMask::new(&SpecialTokens::default(), 0.5);
        let mut v = vec![-1.0, -2.0, f32::NAN, -3.0, -4.0];
        m.apply(&mut v);
        let ninf = f32::NEG_INFINITY;
        assert_eq!(v, vec![-1.0, ninf, ninf, -3.5, -4.0]);
    }
}
