//! One step's logits → log-probs, in fairseq's order (docs/model.md §6.1,
//! `SequenceGenerator._generate` and `EnsembleModel.forward_decoder`), shared by beam search and
//! greedy decoding.

use super::constraints::{check_token, Constraints, PrefixFiller, PrefixForcing};
use super::logits::{
    log_softmax, restricted_log_softmax, ForceEos, MinLength, SpecialTokenMask, Temperature,
};
use super::ngram::NoRepeatNgram;
use super::options::SearchOptions;
use super::{GenerateError, Result};
use ndarray::Array2;

/// The processors of one search, configured once.
pub(crate) struct LogitProcessors<'a> {
    constraints: &'a Constraints,
    vocab: usize,
    max_len: usize,
    min_len: usize,
    bos: i64,
    temperature: Temperature,
    min_length: MinLength,
    force_eos: ForceEos,
    specials: SpecialTokenMask,
    ngram: NoRepeatNgram,
    filler: PrefixFiller,
    key: Vec<i64>,
    scratch: Vec<f32>,
}

impl<'a> LogitProcessors<'a> {
    /// Validates the specials, prefix and trie against `vocab` (known from the first logits).
    pub(crate) fn new(
        opts: &SearchOptions,
        constraints: &'a Constraints,
        vocab: usize,
        max_len: usize,
    ) -> Result<Self> {
        let s = opts.specials;
        for t in [s.bos, s.pad, s.eos, s.unk] {
            check_token("special token", t, vocab)?;
        }
        constraints.validate(vocab, &s)?;
        Ok(LogitProcessors {
            constraints,
            vocab,
            max_len,
            min_len: opts.min_len,
            bos: s.bos,
            temperature: Temperature(opts.temperature as f32),
            min_length: MinLength { eos: s.eos },
            force_eos: ForceEos { eos: s.eos },
            specials: SpecialTokenMask::new(&s, opts.unk_penalty),
            ngram: NoRepeatNgram {
                n: opts.no_repeat_ngram_size,
            },
            filler: if constraints.trie.is_some() || constraints.strict_prefix {
                PrefixFiller::NegInf
            } else {
                PrefixFiller::MinMinusOne
            },
            key: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Turns `[rows × vocab]` logits (flattened, in place) into the log-probs fairseq's
    /// `search.step` sees at `step`. `histories[r]` is row `r` incl. BOS (`len = step + 1`).
    pub(crate) fn apply(&mut self, step: usize, lprobs: &mut [f32], histories: &[Vec<i64>]) {
        let v = self.vocab;
        for (row, history) in lprobs.chunks_exact_mut(v).zip(histories) {
            self.temperature.apply(row);
            match self
                .constraints
                .allowed_for_row(history, self.bos, &mut self.key)
            {
                Some(allowed) => restricted_log_softmax(row, allowed, &mut self.scratch),
                None => log_softmax(row),
            }
        }
        let prefix = &self.constraints.prefix;
        if step < prefix.len() && step < self.max_len {
            PrefixForcing {
                token: prefix[step],
                filler: self.filler,
            }
            .apply(lprobs, v);
        } else if step < self.min_len {
            lprobs
                .chunks_exact_mut(v)
                .for_each(|r| self.min_length.apply(r));
        }
        for (row, history) in lprobs.chunks_exact_mut(v).zip(histories) {
            self.specials.apply_ids(row);
            if step >= self.max_len {
                self.force_eos.apply(row);
            }
            self.ngram.apply(row, history, step);
        }
    }
}

/// Flattens scorer logits `[rows, vocab]` into a row-major `Vec`, checking the shape.
pub(crate) fn flatten_logits(
    logits: Array2<f32>,
    step: usize,
    rows: usize,
    vocab: Option<usize>,
) -> Result<(Vec<f32>, usize)> {
    let (r, v) = logits.dim();
    if r != rows || vocab.is_some_and(|want| want != v) || v == 0 {
        return Err(GenerateError::LogitsShape {
            step,
            expected: (rows, vocab.unwrap_or(v)),
            actual: (r, v),
        });
    }
    let flat = if logits.is_standard_layout() {
        let (mut raw, offset) = logits.into_raw_vec_and_offset();
        let start = offset.unwrap_or(0);
        if start != 0 || raw.len() != r * v {
            raw = match raw.get(start..start + r * v) {
                Some(s) => s.to_vec(),
                None => {
                    return Err(GenerateError::LogitsShape {
                        step,
                        expected: (rows, v),
                        actual: (r, v),
                    })
                }
            };
        }
        raw
    } else {
        logits.iter().copied().collect()
    };
    Ok((flat, v))
}
