//! The numbers of a parity report (`unival compare`): relative error ‖a − b‖ / ‖a‖ of two
//! tensors, and per-step comparisons of two bundles' logits under teacher forcing
//! (KL(softmax a ‖ softmax b), top-1 agreement), accumulated in f64.

use serde::Serialize;

/// Sums for ‖a − b‖ / ‖a‖ over any number of slices (pooled, not averaged per slice).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RelError {
    sq_diff: f64,
    sq_ref: f64,
}

impl RelError {
    /// Adds `reference` and `other` (same length; extra elements of the longer are ignored).
    pub fn add(&mut self, reference: &[f32], other: &[f32]) {
        for (a, b) in reference.iter().zip(other) {
            let (a, b) = (f64::from(*a), f64::from(*b));
            self.sq_diff += (a - b) * (a - b);
            self.sq_ref += a * a;
        }
    }

    /// ‖a − b‖ / ‖a‖; 0 when both are zero, infinite when only the reference is.
    pub fn value(&self) -> f64 {
        if self.sq_diff == 0.0 {
            0.0
        } else {
            (self.sq_diff / self.sq_ref).sqrt()
        }
    }

    /// Pools another accumulator into this one.
    pub fn merge(&mut self, other: &RelError) {
        self.sq_diff += other.sq_diff;
        self.sq_ref += other.sq_ref;
    }
}

/// Per-step logit comparisons of one or many sequences.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogitStats {
    pub rel: RelError,
    kl_sum: f64,
    kl_max: f64,
    top1_agree: usize,
    steps: usize,
}

/// The summary of a [`LogitStats`], as the report prints it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LogitSummary {
    pub steps: usize,
    /// ‖Δ logits‖ / ‖logits of A‖ over all steps.
    pub logit_rel_error: f64,
    /// KL(softmax A ‖ softmax B) in nats: mean and max over steps.
    pub kl_mean: f64,
    pub kl_max: f64,
    /// Fraction of steps whose argmax agrees.
    pub top1_agreement: f64,
}

impl LogitStats {
    /// Adds one step: `a` and `b` are the `[vocab]` logits of bundles A and B.
    pub fn add_step(&mut self, a: &[f32], b: &[f32]) {
        self.rel.add(a, b);
        let kl = kl_softmax(a, b);
        self.kl_sum += kl;
        self.kl_max = self.kl_max.max(kl);
        if argmax(a) == argmax(b) {
            self.top1_agree += 1;
        }
        self.steps += 1;
    }

    /// Pools another accumulator into this one.
    pub fn merge(&mut self, other: &LogitStats) {
        self.rel.merge(&other.rel);
        self.kl_sum += other.kl_sum;
        self.kl_max = self.kl_max.max(other.kl_max);
        self.top1_agree += other.top1_agree;
        self.steps += other.steps;
    }

    /// The figures so far (zeros for no steps).
    pub fn summary(&self) -> LogitSummary {
        let per_step = |x: f64| {
            if self.steps == 0 {
                0.0
            } else {
                x / self.steps as f64
            }
        };
        LogitSummary {
            steps: self.steps,
            logit_rel_error: self.rel.value(),
            kl_mean: per_step(self.kl_sum),
            kl_max: self.kl_max,
            top1_agreement: per_step(self.top1_agree as f64),
        }
    }
}

/// Log-softmax of `x` in f64 (max-shifted).
fn log_softmax(x: &[f32]) -> Vec<f64> {
    let m = x
        .iter()
        .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
    let lse = x
        .iter()
        .map(|&v| (f64::from(v) - m).exp())
        .sum::<f64>()
        .ln()
        + m;
    x.iter().map(|&v| f64::from(v) - lse).collect()
}

/// KL(softmax a ‖ softmax b) = Σ p_a (log p_a − log p_b), in nats.
pub fn kl_softmax(a: &[f32], b: &[f32]) -> f64 {
    let (la, lb) = (log_softmax(a), log_softmax(b));
    la.iter()
        .zip(&lb)
        .map(|(x, y)| {
            let p = x.exp();
            if p == 0.0 {
                0.0
            } else {
                p * (x - y)
            }
        })
        .sum::<f64>()
        .max(0.0)
}

/// Index of the largest value (first on ties; NaN never wins).
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] || x[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_pools_squares() {
        let mut r = RelError::default();
        r.add(&[3.0, 4.0], &[3.0, 4.5]);
        assert!((r.value() - 0.1).abs() < 1e-12);
        let mut other = RelError::default();
        other.add(&[0.0, 0.0], &[0.0, 0.5]);
        r.merge(&other);
        // sqrt((0.25 + 0.25) / 25)
        assert!((r.value() - (0.5f64 / 25.0).sqrt()).abs() < 1e-12);
        assert_eq!(RelError::default().value(), 0.0);
    }

    #[test]
    fn kl_of_known_distributions() {
        // softmax([0, ln 3]) = [1/4, 3/4]; softmax([0, 0]) = [1/2, 1/2].
        let a = [0.0, 3f32.ln()];
        let b = [0.0, 0.0];
        let expected = 0.25 * (0.5f64).ln() + 0.75 * (1.5f64).ln();
        assert!((kl_softmax(&a, &b) - expected).abs() < 1e-6);
        // Shifting logits changes nothing.
        assert!(kl_softmax(&[1.0, 2.0, 3.0], &[11.0, 12.0, 13.0]) < 1e-12);
    }

    #[test]
    fn step_stats_count_agreement_and_extremes() {
        let mut s = LogitStats::default();
        s.add_step(&[1.0, 5.0, 2.0], &[1.0, 5.0, 2.0]);
        s.add_step(&[1.0, 5.0, 2.0], &[6.0, 5.0, 2.0]);
        let sum = s.summary();
        assert_eq!(sum.steps, 2);
        assert_eq!(sum.top1_agreement, 0.5);
        assert!(sum.kl_max > 0.5 && (sum.kl_mean - sum.kl_max / 2.0).abs() < 1e-12);
        assert!((sum.logit_rel_error - (25.0f64 / 60.0).sqrt()).abs() < 1e-12);
        assert_eq!(argmax(&[f32::NAN, 1.0, 3.0, 3.0]), 2);
    }
}
