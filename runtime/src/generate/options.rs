//! Search settings, named as fairseq's generation flags (`fairseq/dataclass/configs.py:
//! GenerationConfig`, docs/model.md §5 "Defaults"), built from the bundle's task defaults and
//! validated into typed errors instead of fairseq's asserts.

use super::{GenerateError, Result};
use unival_manifest::vocab::{self, VocabInfo};
use unival_manifest::GenerationDefaults;

/// Special ids the search needs. They come from the bundle's vocabulary
/// ([`VocabInfo`]), never from literals in the search code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Decoding starts from it; also the root of every trie path.
    pub bos: i64,
    /// Never generated (its log-prob is forced to −inf); pads option-scoring batches.
    pub pad: i64,
    /// Ends a hypothesis.
    pub eos: i64,
    /// Receives `unk_penalty`.
    pub unk: i64,
}

impl Default for SpecialTokens {
    /// The fairseq dictionary layout every UnIVAL checkpoint uses (docs/model.md §4.2).
    fn default() -> Self {
        SpecialTokens {
            bos: vocab::BOS,
            pad: vocab::PAD,
            eos: vocab::EOS,
            unk: vocab::UNK,
        }
    }
}

impl From<&VocabInfo> for SpecialTokens {
    fn from(v: &VocabInfo) -> Self {
        SpecialTokens {
            bos: v.bos,
            pad: v.pad,
            eos: v.eos,
            unk: v.unk,
        }
    }
}

/// fairseq `SequenceGenerator` settings for one search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Beam width (`--beam`).
    pub beam: usize,
    /// `max_len = int(max_len_a · src_len + max_len_b)` (`--max-len-a`).
    pub max_len_a: f64,
    /// See `max_len_a` (`--max-len-b`).
    pub max_len_b: usize,
    /// EOS is forbidden before this step unless a prefix is being forced (`--min-len`).
    pub min_len: usize,
    /// Ban repeated n-grams of this size, 0 = off (`--no-repeat-ngram-size`).
    pub no_repeat_ngram_size: usize,
    /// Raw summed log-probs instead of dividing by `len^lenpen` (`--unnormalized`).
    pub unnormalized: bool,
    /// Length penalty exponent for normalized scores (`--lenpen`).
    pub lenpen: f64,
    /// Logits are divided by it before masking (`--temperature`, > 0).
    pub temperature: f64,
    /// Subtracted from UNK's log-prob (`--unkpen`).
    pub unk_penalty: f64,
    /// How many hypotheses to return (`--nbest`, ≤ beam).
    pub nbest: usize,
    /// Special ids of the vocabulary.
    pub specials: SpecialTokens,
}

impl Default for SearchOptions {
    /// fairseq's `GenerationConfig` defaults (docs/model.md §5): beam 5, max_len_b 200, min_len 1,
    /// normalized, lenpen 1, temperature 1, no n-gram blocking, no unk penalty, nbest 1.
    fn default() -> Self {
        SearchOptions {
            beam: 5,
            max_len_a: 0.0,
            max_len_b: 200,
            min_len: 1,
            no_repeat_ngram_size: 0,
            unnormalized: false,
            lenpen: 1.0,
            temperature: 1.0,
            unk_penalty: 0.0,
            nbest: 1,
            specials: SpecialTokens::default(),
        }
    }
}

/// The caller's changes to a bundle's generation settings: every field `None` keeps the
/// bundle's value. The CLI's generation flags fill it (named as fairseq's); [`Self::resolve`]
/// is the one place they meet the manifest's [`GenerationDefaults`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchOverrides {
    /// `--beam`.
    pub beam: Option<usize>,
    /// `--max-len-a`.
    pub max_len_a: Option<f64>,
    /// `--max-len-b`.
    pub max_len_b: Option<usize>,
    /// `--min-len`.
    pub min_len: Option<usize>,
    /// `--no-repeat-ngram-size`.
    pub no_repeat_ngram_size: Option<usize>,
    /// `Some(true)`: `--unnormalized`; `Some(false)`: `--normalized`.
    pub unnormalized: Option<bool>,
    /// `--lenpen`.
    pub lenpen: Option<f64>,
    /// `--temperature`.
    pub temperature: Option<f64>,
    /// `--nbest`; `None` returns every finished hypothesis (`nbest = beam`).
    pub nbest: Option<usize>,
}

impl SearchOverrides {
    /// The search settings: each override, else the bundle's default; `unk_penalty` 0 and
    /// `specials` as given; validated, so a bad flag fails here with a typed error.
    pub fn resolve(
        &self,
        defaults: &GenerationDefaults,
        specials: SpecialTokens,
    ) -> Result<SearchOptions> {
        let beam = self.beam.unwrap_or(defaults.beam);
        let opts = SearchOptions {
            beam,
            max_len_a: self.max_len_a.unwrap_or(defaults.max_len_a),
            max_len_b: self.max_len_b.unwrap_or(defaults.max_len_b),
            min_len: self.min_len.unwrap_or(defaults.min_len),
            no_repeat_ngram_size: self
                .no_repeat_ngram_size
                .unwrap_or(defaults.no_repeat_ngram_size),
            unnormalized: self.unnormalized.unwrap_or(defaults.unnormalized),
            lenpen: self.lenpen.unwrap_or(defaults.lenpen),
            temperature: self.temperature.unwrap_or(defaults.temperature),
            unk_penalty: 0.0,
            nbest: self.nbest.unwrap_or(beam),
            specials,
        };
        opts.validate()?;
        Ok(opts)
    }
}

impl SearchOptions {
    /// Options from a bundle's task defaults (unk penalty 0, nbest 1, standard specials),
    /// validated: fairseq's own `--nbest` default, for callers that want the best only.
    pub fn from_defaults(g: &GenerationDefaults) -> Result<Self> {
        SearchOverrides {
            nbest: Some(1),
            ..SearchOverrides::default()
        }
        .resolve(g, SpecialTokens::default())
    }

    /// Checks every field; the search calls it too, so hand-built options are safe.
    pub fn validate(&self) -> Result<()> {
        fn bad(option: &'static str, value: impl ToString, reason: &'static str) -> GenerateError {
            GenerateError::InvalidOption {
                option,
                value: value.to_string(),
                reason,
            }
        }
        if self.beam == 0 {
            return Err(bad("beam", self.beam, "must be at least 1"));
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(bad(
                "temperature",
                self.temperature,
                "must be finite and > 0",
            ));
        }
        if !(self.max_len_a.is_finite() && self.max_len_a >= 0.0) {
            return Err(bad("max_len_a", self.max_len_a, "must be finite and ≥ 0"));
        }
        if !self.lenpen.is_finite() {
            return Err(bad("lenpen", self.lenpen, "must be finite"));
        }
        if !self.unk_penalty.is_finite() {
            return Err(bad("unk_penalty", self.unk_penalty, "must be finite"));
        }
        if self.nbest == 0 || self.nbest > self.beam {
            return Err(bad("nbest", self.nbest, "must be between 1 and beam"));
        }
        let s = self.specials;
        let ids = [s.bos, s.pad, s.eos, s.unk];
        if ids.iter().any(|&t| t < 0) {
            return Err(bad("specials", format!("{s:?}"), "ids must be ≥ 0"));
        }
        if s.pad == s.eos || s.pad == s.unk || s.eos == s.unk {
            return Err(bad(
                "specials",
                format!("{s:?}"),
                "pad, eos, unk must differ",
            ));
        }
        Ok(())
    }

    /// `int(max_len_a · src_len + max_len_b)` with `src_len` the padded source text length, no
    /// clamp (docs/model.md §6.1); fails when `min_len` exceeds it, as fairseq's assert does.
    pub fn max_len(&self, src_len: usize) -> Result<usize> {
        // Python's int() truncates toward zero; the operand is ≥ 0.
        let max_len = (self.max_len_a * src_len as f64 + self.max_len_b as f64).trunc() as usize;
        if self.min_len > max_len {
            return Err(GenerateError::MinLenAboveMaxLen {
                min_len: self.min_len,
                max_len,
            });
        }
        Ok(max_len)
    }

    /// The normalisation divisor of a finished hypothesis with `len` output tokens (incl. EOS),
    /// `len^lenpen` as torch divides an f32 tensor by a Python float; `None` when unnormalized.
    pub(crate) fn length_divisor(&self, len: usize) -> Option<f32> {
        (!self.unnormalized).then(|| (len as f64).powf(self.lenpen) as f32)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use unival_manifest::TaskKind;

    #[test]
    fn task_defaults_convert_and_validate() {
        let r = SearchOptions::from_defaults(&TaskKind::Refcoco.defaults().generation).unwrap();
        assert_eq!(
            (r.beam, r.min_len, r.max_len_b, r.unnormalized),
            (5, 4, 4, false)
        );
        assert_eq!(r.max_len(18).unwrap(), 4);
        let c = SearchOptions::from_defaults(&TaskKind::Caption.defaults().generation).unwrap();
        assert!(c.unnormalized);
        assert_eq!(c.no_repeat_ngram_size, 3);
    }

    #[test]
    fn overrides_replace_only_what_they_name() {
        let defaults = TaskKind::Caption.defaults().generation;
        let specials = SpecialTokens {
            bos: 7,
            ..SpecialTokens::default()
        };
        let none = SearchOverrides::default()
            .resolve(&defaults, specials)
            .unwrap();
        assert_eq!(
            (none.beam, none.max_len_b, none.no_repeat_ngram_size),
            (5, 22, 3)
        );
        assert!(none.unnormalized);
        assert_eq!(none.nbest, 5, "every beam unless --nbest limits it");
        assert_eq!(none.specials.bos, 7);
        let some = SearchOverrides {
            beam: Some(3),
            max_len_a: Some(0.5),
            max_len_b: Some(9),
            min_len: Some(2),
            no_repeat_ngram_size: Some(0),
            unnormalized: Some(false),
            lenpen: Some(0.7),
            temperature: Some(0.9),
            nbest: Some(2),
        }
        .resolve(&defaults, specials)
        .unwrap();
        let want = SearchOptions {
            beam: 3,
            max_len_a: 0.5,
            max_len_b: 9,
            min_len: 2,
            no_repeat_ngram_size: 0,
            unnormalized: false,
            lenpen: 0.7,
            temperature: 0.9,
            unk_penalty: 0.0,
            nbest: 2,
            specials,
        };
        assert_eq!(some, want);
    }

    #[test]
    fn bad_overrides_fail_at_resolution() {
        let defaults = TaskKind::Caption.defaults().generation;
        let resolve = |o: SearchOverrides| o.resolve(&defaults, SpecialTokens::default());
        let err = resolve(SearchOverrides {
            nbest: Some(6),
            ..Default::default()
        });
        assert!(matches!(
            err,
            Err(GenerateError::InvalidOption {
                option: "nbest",
                ..
            })
        ));
        let err = resolve(SearchOverrides {
            beam: Some(0),
            ..Default::default()
        });
        assert!(matches!(
            err,
            Err(GenerateError::InvalidOption { option: "beam", .. })
        ));
    }

    #[test]
    fn invalid_values_give_typed_errors() {
        let cases: Vec<(SearchOptions, &str)> = vec![
            (
                SearchOptions {
                    beam: 0,
                    ..Default::default()
                },
                "beam",
            ),
            (
                SearchOptions {
                    temperature: 0.0,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                SearchOptions {
                    temperature: f64::NAN,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                SearchOptions {
                    max_len_a: -1.0,
                    ..Default::default()
                },
                "max_len_a",
            ),
            (
                SearchOptions {
                    nbest: 6,
                    ..Default::default()
                },
                "nbest",
            ),
            (
                SearchOptions {
                    lenpen: f64::INFINITY,
                    ..Default::default()
                },
                "lenpen",
            ),
        ];
        for (opts, name) in cases {
            match opts.validate() {
                Err(GenerateError::InvalidOption { option, .. }) => assert_eq!(option, name),
                other => panic!("{name}: expected InvalidOption, got {other:?}"),
            }
        }
    }

    #[test]
    fn max_len_truncates_and_checks_min_len() {
        let o = SearchOptions {
            max_len_a: 1.5,
            max_len_b: 2,
            ..Default::default()
        };
        assert_eq!(o.max_len(3).unwrap(), 6); // int(4.5 + 2)
        let o = SearchOptions {
            min_len: 5,
            max_len_b: 4,
            ..Default::default()
        };
        assert!(matches!(
            o.max_len(10),
            Err(GenerateError::MinLenAboveMaxLen { .. })
        ));
    }

    #[test]
    fn length_divisor_follows_lenpen() {
        let o = SearchOptions {
            lenpen: 2.0,
            ..Default::default()
        };
        assert_eq!(o.length_divisor(3), Some(9.0));
        let o = SearchOptions {
            unnormalized: true,
            ..Default::default()
        };
        assert_eq!(o.length_divisor(3), None);
    }
}
