//! Per-input constraints: a forced prefix and an answer trie (docs/model.md §5.2, §6.3;
//! `SequenceGenerator._prefix_tokens`, `EnsembleModel.forward_decoder`).

use super::options::SpecialTokens;
use super::trie::Trie;
use super::{GenerateError, Result};

/// What a search must respect for one input sentence.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// Tokens forced at steps `0..prefix.len()` (VQA: `BPE(" " + question)`), without BOS.
    pub prefix: Vec<i64>,
    /// Answer trie; masks the logits of every row past the prefix.
    pub trie: Option<Trie>,
    /// Force the prefix with −inf for every other id even without a trie. fairseq's trie-less
    /// filler (`min − 1`) lets tied junk candidates, EOS included, be finalized; open-ended
    /// question answering (no answer list) uses this deliberate deviation instead, which is
    /// exactly the trie path's forcing.
    pub strict_prefix: bool,
}

impl Constraints {
    /// No prefix, no trie (captioning, grounding).
    pub fn none() -> Self {
        Constraints::default()
    }

    /// Checks prefix and trie ids against the vocabulary. PAD and EOS inside a prefix are
    /// rejected: in fairseq PAD means "no forcing here" (batch padding) and EOS triggers beam-0
    /// replication, neither of which a one-sentence prefix needs.
    pub(crate) fn validate(&self, vocab: usize, specials: &SpecialTokens) -> Result<()> {
        for (position, &token) in self.prefix.iter().enumerate() {
            check_token("prefix", token, vocab)?;
            let kind = if token == specials.pad {
                "PAD"
            } else if token == specials.eos {
                "EOS"
            } else {
                continue;
            };
            return Err(GenerateError::UnsupportedPrefixToken {
                position,
                token,
                kind,
            });
        }
        if let Some((min, max)) = self.trie.as_ref().and_then(Trie::token_range) {
            check_token("trie", min, vocab)?;
            check_token("trie", max, vocab)?;
        }
        Ok(())
    }

    /// Tokens a row may take next under the trie, or `None` when the row is unconstrained (no
    /// trie, or still inside the prefix). `history` is the row incl. BOS (`len = step + 1`);
    /// the trie key is `[BOS] + history[prefix_len + 1 ..]` (BOS plus the answer so far).
    pub(crate) fn allowed_for_row<'a>(
        &'a self,
        history: &[i64],
        bos: i64,
        key: &mut Vec<i64>,
    ) -> Option<&'a [i64]> {
        let trie = self.trie.as_ref()?;
        let p = self.prefix.len();
        if history.len() <= p {
            return None;
        }
        key.clear();
        key.push(bos);
        key.extend_from_slice(&history[p + 1..]);
        Some(trie.allowed_next(key))
    }
}

/// Fails unless `0 ≤ token < vocab`.
pub(crate) fn check_token(what: &'static str, token: i64, vocab: usize) -> Result<()> {
    if token < 0 || token as u64 >= vocab as u64 {
        return Err(GenerateError::TokenOutOfRange { what, token, vocab });
    }
    Ok(())
}

/// How prefix forcing fills the non-prefix ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixFiller {
    /// With a trie: −inf.
    NegInf,
    /// Without a trie: `min(prefix log-probs over all rows) − 1` (OFA's variant). Every other
    /// id then ties at that finite value, so which of them fill the remaining candidate slots
    /// depends on top-k tie order — including EOS, which fairseq would finalize. UnIVAL never
    /// forces a prefix without a trie (§0.1 item 2), so this path only matters for custom use.
    MinMinusOne,
}

/// Forces the prefix token at one step over all rows (`_prefix_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixForcing {
    /// The token forced at this step.
    pub token: i64,
    /// Value given to the other ids.
    pub filler: PrefixFiller,
}

impl PrefixForcing {
    /// `lprobs` is `[rows × vocab]` flattened. The prefix token keeps its full-vocabulary
    /// log-prob, so the question's likelihood is part of the score.
    pub fn apply(&self, lprobs: &mut [f32], vocab: usize) {
        let t = self.token as usize;
        let filler = match self.filler {
            PrefixFiller::NegInf => f32::NEG_INFINITY,
            PrefixFiller::MinMinusOne => {
                let min = lprobs
                    .chunks_exact(vocab)
                    .map(|r| r[t])
                    .fold(
                        f32::INFINITY,
                        |a, b| if b < a || b.is_nan() { b } else { a },
                    );
                min - 1.0
            }
        };
        for row in lprobs.chunks_exact_mut(vocab) {
            let keep = row[t];
            row.fill(filler);
            row[t] = keep;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const NINF: f32 = f32::NEG_INFINITY;

    #[test]
    fn prefix_forcing_with_trie_keeps_only_the_prefix_token() {
        let mut lp = vec![-1.0, -2.0, -3.0, -0.5, -4.0, -5.0];
        PrefixForcing {
            token: 1,
            filler: PrefixFiller::NegInf,
        }
        .apply(&mut lp, 3);
        assert_eq!(lp, vec![NINF, -2.0, NINF, NINF, -4.0, NINF]);
    }

    #[test]
    fn prefix_forcing_without_trie_fills_min_minus_one_over_all_rows() {
        let mut lp = vec![-1.0, -2.0, -3.0, -0.5, -4.0, -5.0];
        PrefixForcing {
            token: 1,
            filler: PrefixFiller::MinMinusOne,
        }
        .apply(&mut lp, 3);
        // min over rows of the prefix log-probs = -4, filler -5.
        assert_eq!(lp, vec![-5.0, -2.0, -5.0, -5.0, -4.0, -5.0]);
    }

    #[test]
    fn rows_inside_the_prefix_are_unconstrained_and_keys_skip_the_prefix() {
        let mut trie = Trie::new(2);
        trie.insert(&[0, 7, 2]);
        trie.insert(&[0, 7, 8, 2]);
        let c = Constraints {
            strict_prefix: false,
            prefix: vec![40, 41],
            trie: Some(trie),
        };
        let mut key = Vec::new();
        assert_eq!(c.allowed_for_row(&[0, 40], 0, &mut key), None);
        assert_eq!(c.allowed_for_row(&[0, 40, 41], 0, &mut key), Some(&[7][..]));
        assert_eq!(
            c.allowed_for_row(&[0, 40, 41, 7], 0, &mut key),
            Some(&[2, 8][..])
        );
        assert_eq!(
            c.allowed_for_row(&[0, 40, 41, 9], 0, &mut key),
            Some(&[2][..])
        );
        assert_eq!(
            Constraints::none().allowed_for_row(&[0, 5], 0, &mut key),
            None
        );
    }

    #[test]
    fn validation_rejects_bad_prefix_and_trie_ids() {
        let s = SpecialTokens::default();
        let c = Constraints {
            strict_prefix: false,
            prefix: vec![5, 2],
            trie: None,
        };
        assert!(matches!(
            c.validate(10, &s),
            Err(GenerateError::UnsupportedPrefixToken { position: 1, .. })
        ));
        let c = Constraints {
            strict_prefix: false,
            prefix: vec![10],
            trie: None,
        };
        assert!(matches!(
            c.validate(10, &s),
            Err(GenerateError::TokenOutOfRange { .. })
        ));
        let mut trie = Trie::new(2);
        trie.insert(&[0, 12, 2]);
        let c = Constraints {
            strict_prefix: false,
            prefix: vec![],
            trie: Some(trie),
        };
        assert!(matches!(
            c.validate(10, &s),
            Err(GenerateError::TokenOutOfRange { token: 12, .. })
        ));
        assert!(c.validate(13, &s).is_ok());
    }
}
