//! Caption metrics identical to pycocoevalcap 1.2 (the `coco-caption` tool behind the paper's
//! numbers): every candidate and reference goes through the PTB tokenisation ([`ptb`]), then
//! BLEU-1…4 ([`bleu`]), METEOR 1.5 ([`meteor`], the original jar), ROUGE-L ([`rouge`]) and
//! CIDEr-D ([`cider`]) are computed over the whole set. SPICE is not computed: it needs the
//! Stanford CoreNLP 3.6 models, which pycocoevalcap downloads at run time and this project
//! cannot ship; [`CaptionScores::spice`] is always `None` and a note says so.

pub mod bleu;
pub mod cider;
pub mod meteor;
pub mod ptb;
pub mod rouge;

use crate::MetricsError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One candidate caption and its human references (untokenised, as written).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionItem {
    /// Item id (image id, file name, row number), for messages.
    pub id: String,
    /// The caption to score.
    pub candidate: String,
    /// Human captions (at least one).
    pub references: Vec<String>,
}

/// Whether and how METEOR is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeteorMode {
    /// Run the jar when Java and the jar are found; otherwise skip METEOR with a note.
    #[default]
    Auto,
    /// Run the jar; an error when it cannot be run.
    Required,
    /// Do not compute METEOR.
    Skip,
}

/// Options of [`score_captions`].
#[derive(Debug, Clone, Default)]
pub struct CaptionOptions {
    /// METEOR policy.
    pub meteor: MeteorMode,
    /// pycocoevalcap's `meteor-1.5.jar` (its `data/paraphrase-en.gz` beside it); `None`: look in
    /// `$UNIVAL_METEOR_JAR` only.
    pub meteor_jar: Option<PathBuf>,
    /// The `java` executable; `None`: `$JAVA`, else `java` on the `PATH`.
    pub java: Option<PathBuf>,
}

/// Corpus-level caption metrics, on pycocoevalcap's scale (fractions; CIDEr-D ×10 as it reports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptionScores {
    /// BLEU-1…4 ("closest" reference length, corpus level).
    pub bleu: [f64; 4],
    /// METEOR 1.5 (`None` when skipped: see `notes`).
    pub meteor: Option<f64>,
    /// ROUGE-L (β = 1.2), mean over items.
    pub rouge_l: f64,
    /// CIDEr-D (σ = 6, clipped, ×10), mean over items.
    pub cider_d: f64,
    /// SPICE: never computed here (see the module doc).
    pub spice: Option<f64>,
    /// Number of items scored.
    pub items: usize,
    /// How each metric was computed (METEOR's jar or why it was skipped, SPICE).
    pub notes: Vec<String>,
}

/// Tokenised item: PTB tokens joined by single spaces, as pycocoevalcap hands them to scorers.
#[derive(Debug, Clone)]
pub(crate) struct Tokenised {
    pub candidate: String,
    pub references: Vec<String>,
}

fn tokenise_items(items: &[CaptionItem]) -> Result<Vec<Tokenised>, MetricsError> {
    items
        .iter()
        .map(|item| {
            if item.references.is_empty() {
                return Err(MetricsError::Input(format!(
                    "item {:?} has no reference caption",
                    item.id
                )));
            }
            Ok(Tokenised {
                candidate: ptb::tokenize_caption(&item.candidate),
                references: item
                    .references
                    .iter()
                    .map(|r| ptb::tokenize_caption(r))
                    .collect(),
            })
        })
        .collect()
}

/// Scores `items` with pycocoevalcap's metrics (see the module doc). Errors on an empty set, an
/// item without references, or METEOR failing under [`MeteorMode::Required`].
pub fn score_captions(
    items: &[CaptionItem],
    options: &CaptionOptions,
) -> Result<CaptionScores, MetricsError> {
    if items.is_empty() {
        return Err(MetricsError::Input("no caption to score".into()));
    }
    let tokenised = tokenise_items(items)?;
    let mut notes = Vec::new();
    let meteor = meteor::score(&tokenised, options, &mut notes)?;
    notes.push(
        "SPICE: not computed (it needs Stanford CoreNLP models that cannot be shipped)".into(),
    );
    Ok(CaptionScores {
        bleu: bleu::corpus_bleu(&tokenised),
        meteor,
        rouge_l: rouge::mean_rouge_l(&tokenised),
        cider_d: cider::mean_cider_d(&tokenised),
        spice: None,
        items: items.len(),
        notes,
    })
}
