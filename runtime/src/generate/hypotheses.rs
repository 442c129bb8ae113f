//! Finished hypotheses (`SequenceGenerator.finalize_hypos`, docs/model.md §6.1 "Finalize").

/// One finished output sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Output tokens without BOS, ending with EOS, forced prefix included.
    pub tokens: Vec<i64>,
    /// Cumulative log-prob including EOS (f32), divided by `len^lenpen` when normalized
    /// (`len = tokens.len()`).
    pub score: f32,
    /// Per-token log-probs, `len = tokens.len()`: differences of consecutive f32 cumulative
    /// scores, as fairseq computes them (their f32 running sum is the unnormalized score).
    pub positional_scores: Vec<f32>,
}

/// The finished hypotheses of one sentence; full at `beam` entries.
#[derive(Debug, Clone)]
pub struct BeamHypotheses {
    beam: usize,
    done: Vec<Hypothesis>,
}

impl BeamHypotheses {
    /// Empty, with room for `beam` hypotheses.
    pub fn new(beam: usize) -> Self {
        BeamHypotheses {
            beam,
            done: Vec::with_capacity(beam),
        }
    }

    /// Number finished so far.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether none finished yet.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// fairseq's stop rule: `beam` hypotheses have ended (live beams that might still score
    /// higher are not considered).
    pub fn is_full(&self) -> bool {
        self.done.len() >= self.beam
    }

    /// Finalizes a row that takes EOS at step `cum_scores.len()`.
    ///
    /// `output` is the row's history without BOS (`len = step`), `cum_scores` its cumulative
    /// scores (`len = step`), `eos_score` the cumulative score including EOS, `divisor` the
    /// length normalisation (`None` = unnormalized). Ignored once full, like fairseq.
    pub fn add(
        &mut self,
        output: &[i64],
        eos: i64,
        cum_scores: &[f32],
        eos_score: f32,
        divisor: Option<f32>,
    ) {
        if self.is_full() {
            return;
        }
        let mut tokens = Vec::with_capacity(output.len() + 1);
        tokens.extend_from_slice(output);
        tokens.push(eos);
        let mut positional_scores = Vec::with_capacity(cum_scores.len() + 1);
        let mut prev = 0f32;
        for (i, &c) in cum_scores
            .iter()
            .chain(std::iter::once(&eos_score))
            .enumerate()
        {
            positional_scores.push(if i == 0 { c } else { c - prev });
            prev = c;
        }
        let score = divisor.map_or(eos_score, |d| eos_score / d);
        self.done.push(Hypothesis {
            tokens,
            score,
            positional_scores,
        });
    }

    /// The best `nbest`, by score descending (stable: ties keep finalization order).
    pub fn into_sorted(mut self, nbest: usize) -> Vec<Hypothesis> {
        self.done.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.done.truncate(nbest);
        self.done
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    /// Best RefCOCO hypothesis of the oracle (`shared/oracle/dev/refcoco/meta.json`,
    /// normalized, lenpen 1): positional scores and score as the original printed them.
    /// (f64 literals: the printed values are exact f32 values.)
    const REFCOCO_POSITIONAL: [f64; 5] = [
        -5.682_379_245_758_057,
        0.0,
        -0.000_203_132_629_394_531_25,
        0.0,
        -379.529_541_015_625,
    ];
    const REFCOCO_SCORE: f64 = -77.042_427_062_988_28;

    #[test]
    fn finalize_reproduces_the_oracle_conventions() {
        let mut cum = Vec::new();
        let mut acc = 0f32;
        let positional: Vec<f32> = REFCOCO_POSITIONAL.iter().map(|&p| p as f32).collect();
        for &p in &positional {
            acc += p;
            cum.push(acc);
        }
        let mut h = BeamHypotheses::new(5);
        let (eos_score, prefix) = cum.split_last().unwrap();
        h.add(
            &[59426, 59282, 59008, 59008],
            2,
            prefix,
            *eos_score,
            Some(5.0),
        );
        let best = &h.into_sorted(1)[0];
        assert_eq!(best.tokens, vec![59426, 59282, 59008, 59008, 2]);
        assert_eq!(best.score, REFCOCO_SCORE as f32);
        assert_eq!(best.positional_scores, positional);
    }

    #[test]
    fn full_sets_ignore_more_and_sorting_is_descending() {
        let mut h = BeamHypotheses::new(2);
        h.add(&[7], 2, &[-1.0], -3.0, None);
        h.add(&[8], 2, &[-0.5], -1.0, None);
        assert!(h.is_full());
        h.add(&[9], 2, &[-0.1], -0.2, None);
        assert_eq!(h.len(), 2);
        let sorted = h.into_sorted(2);
        assert_eq!(sorted[0].tokens, vec![8, 2]);
        assert_eq!(sorted[0].positional_scores, vec![-0.5, -0.5]);
        assert_eq!(sorted[1].score, -3.0);
    }
}
