//! Logits processors of fairseq's generation loop (docs/model.md §6.1, §6.4), each a small type
//! working on one row `[vocab]` of f32 values, plus the fp32 log-softmax they feed.
//!
//! Order per step (see `processors`): [`Temperature`] on logits → trie mask + [`log_softmax`] →
//! prefix forcing or [`MinLength`] → [`SpecialTokenMask`] → [`ForceEos`] → no-repeat n-gram.

use super::options::SpecialTokens;

/// `exp(x)` for `x ≤ 0` in f32 (Cephes `expf`: range reduction by ln 2 with round-to-nearest,
/// degree-6 polynomial, ≤ 2 ulp on `[-87, 0]`), written with integer bit tricks and selects
/// only, so loops over it vectorise on plain SSE2. Returns 0 below −87 and for NaN:
/// `e^-87 ≈ 1.6e-38` is far below the f32 resolution of any softmax sum (which is ≥ 1).
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let xc = if x > -87.0 { x } else { -87.0 };
    let k = xc * LOG2E + MAGIC;
    let n = k - MAGIC;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5; // Cephes: 5.0000001201e-1, which is 0.5 in f32
    let y = p * (r * r) + r + 1.0;
    // n ∈ [−126, 0], so 2^n is a normal f32 built from its exponent bits.
    let ni = k.to_bits().wrapping_sub(MAGIC.to_bits());
    let pow2 = f32::from_bits(ni.wrapping_add(127) << 23);
    if x > -87.0 {
        y * pow2
    } else {
        0.0
    }
}

const LANES: usize = 16;

/// Maximum of a slice, ignoring NaN (NaN is detected on the output, see [`log_softmax`]).
fn max_of(v: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let chunks = v.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            m[j] = if c[j] > m[j] { c[j] } else { m[j] };
        }
    }
    rem.iter()
        .chain(m.iter())
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a })
}

/// `Σ exp(x − max)` in f32 over sixteen lanes (torch also sums f32 lanes), lanes combined in
/// f64.
fn sum_exp(v: &[f32], max: f32) -> f64 {
    let mut acc = [0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let rem = chunks.remainder();
    for c in chunks {
        for j in 0..LANES {
            acc[j] += exp_nonpositive(c[j] - max);
        }
    }
    let lanes: f64 = acc.iter().map(|&a| a as f64).sum();
    lanes
        + rem
            .iter()
            .map(|&x| exp_nonpositive(x - max) as f64)
            .sum::<f64>()
}

/// In-place log-softmax in f32, torch's formula `(x − max) − ln Σ exp(x − max)`.
///
/// A slice whose maximum is not finite (all −inf after masking, or +inf) or that holds a NaN
/// becomes all −inf: torch produces NaN there, and the generator turns NaN into −inf before
/// anything reads it.
pub fn log_softmax(v: &mut [f32]) {
    let max = max_of(v);
    if !max.is_finite() {
        v.fill(f32::NEG_INFINITY);
        return;
    }
    let lse = sum_exp(v, max).ln() as f32;
    // Outputs are ≤ 0 or −inf, so their running sum is NaN exactly when an input was NaN.
    let mut check = [0f32; LANES];
    let mut chunks = v.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for j in 0..LANES {
            c[j] = (c[j] - max) - lse;
            check[j] += c[j];
        }
    }
    let mut nan = check.iter().any(|c| c.is_nan());
    for x in chunks.into_remainder() {
        *x = (*x - max) - lse;
        nan |= x.is_nan();
    }
    if nan {
        v.fill(f32::NEG_INFINITY);
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
/// docs/model.md §6.4). A temperature of 1 is skipped (division by 1 is exact).
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
        nan_to_neg_inf(lprobs);
        self.apply_ids(lprobs);
    }

    /// The PAD and UNK part only. The search uses this: [`log_softmax`] never emits NaN (a row
    /// with a NaN becomes all −inf) and no later processor creates one, so fairseq's
    /// NaN → −inf pass would be a full-vocabulary no-op there.
    pub fn apply_ids(&self, lprobs: &mut [f32]) {
        lprobs[self.pad as usize] = f32::NEG_INFINITY;
        lprobs[self.unk as usize] -= self.unk_penalty;
    }
}

/// fairseq's `lprobs[lprobs != lprobs] = -inf`.
pub fn nan_to_neg_inf(lprobs: &mut [f32]) {
    for x in lprobs.iter_mut() {
        if x.is_nan() {
            *x = f32::NEG_INFINITY;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
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
        // NaN inside the vectorised lanes and in the remainder.
        for at in [5, 37] {
            let mut v: Vec<f32> = (0..40).map(|i| i as f32 * 0.1).collect();
            v[at] = f32::NAN;
            log_softmax(&mut v);
            assert!(v.iter().all(|&x| x == f32::NEG_INFINITY), "NaN at {at}");
        }
        let mut v = vec![0.0, f32::INFINITY, 1.0];
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
