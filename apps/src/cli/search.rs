//! The generation flags every model-running command shares, named as fairseq's
//! (`fairseq/dataclass/configs.py: GenerationConfig`). Each flag left out keeps the bundle's
//! value; the runtime's [`SearchOverrides::resolve`] merges them with the manifest, once.

use clap::Args;
use unival_runtime::generate::SearchOverrides;

/// Search settings a user may change (all optional).
#[derive(Debug, Clone, Args)]
pub struct SearchFlags {
    /// Beam width (default: the bundle's, 5 for most tasks, 1 for entailment).
    #[arg(long, value_name = "N")]
    pub beam: Option<usize>,
    /// Maximum output length is MAX_LEN_A · source length + MAX_LEN_B tokens (default: the
    /// bundle's, 0).
    #[arg(long, value_name = "A")]
    pub max_len_a: Option<f64>,
    /// See --max-len-a (default: the bundle's: 22 for image captions, 200 for VQA, 4 for
    /// grounding).
    #[arg(long, value_name = "B")]
    pub max_len_b: Option<usize>,
    /// End of sentence is not allowed before this many output tokens (default: the bundle's,
    /// 1; 4 for grounding).
    #[arg(long, value_name = "N")]
    pub min_len: Option<usize>,
    /// Never repeat an n-gram of this size; 0 turns blocking off (default: the bundle's, 3 for
    /// image captions).
    #[arg(long, value_name = "N")]
    pub no_repeat_ngram_size: Option<usize>,
    /// Rank by raw summed log-probs (fairseq --unnormalized; the default of image captioning).
    #[arg(long, conflicts_with = "normalized")]
    pub unnormalized: bool,
    /// Rank by length-normalised scores even if the task default is unnormalized.
    #[arg(long)]
    pub normalized: bool,
    /// Length penalty: normalised scores are divided by length^LENPEN (default: the bundle's,
    /// 1).
    #[arg(long, value_name = "LENPEN")]
    pub lenpen: Option<f64>,
    /// Divide the logits by this before the softmax; > 0 (default: the bundle's, 1).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
}

impl From<&SearchFlags> for SearchOverrides {
    fn from(f: &SearchFlags) -> Self {
        let unnormalized = match (f.unnormalized, f.normalized) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        SearchOverrides {
            beam: f.beam,
            max_len_a: f.max_len_a,
            max_len_b: f.max_len_b,
            min_len: f.min_len,
            no_repeat_ngram_size: f.no_repeat_ngram_size,
            unnormalized,
            lenpen: f.lenpen,
            temperature: f.temperature,
            nbest: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        search: SearchFlags,
    }

    fn overrides(args: &[&str]) -> SearchOverrides {
        let probe = Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        SearchOverrides::from(&probe.search)
    }

    #[test]
    fn flags_left_out_keep_the_bundle_values() {
        assert_eq!(overrides(&[]), SearchOverrides::default());
    }

    #[test]
    fn every_flag_reaches_its_override() {
        let o = overrides(&[
            "--beam",
            "3",
            "--max-len-a",
            "0.5",
            "--max-len-b",
            "9",
            "--min-len",
            "2",
            "--no-repeat-ngram-size",
            "0",
            "--lenpen",
            "0.7",
            "--temperature",
            "0.9",
            "--normalized",
        ]);
        let want = SearchOverrides {
            beam: Some(3),
            max_len_a: Some(0.5),
            max_len_b: Some(9),
            min_len: Some(2),
            no_repeat_ngram_size: Some(0),
            unnormalized: Some(false),
            lenpen: Some(0.7),
            temperature: Some(0.9),
            nbest: None,
        };
        assert_eq!(o, want);
        assert_eq!(overrides(&["--unnormalized"]).unnormalized, Some(true));
        assert!(Probe::try_parse_from(["probe", "--unnormalized", "--normalized"]).is_err());
    }
}
