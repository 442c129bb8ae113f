//! The Perception Test's multiple-choice annotations (`mc_question_<split>.json`, a dict by
//! video id: `metadata{video_id, num_frames, frame_rate}`, `mc_question[{id, question,
//! options[3], answer_id, area, reasoning, tag}]`) and `cut_frame_mapping_<split>.json`
//! (video id → the frame the video is cut at, for questions whose answer the end would give
//! away).

use anyhow::{bail, Context};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Video extensions looked for beside the official `.mp4`.
const VIDEO_EXTENSIONS: [&str; 5] = ["mp4", "webm", "mkv", "avi", "mov"];

#[derive(Debug, Deserialize)]
struct VideoEntry {
    metadata: Metadata,
    #[serde(default)]
    mc_question: Vec<McQuestion>,
}

/// A video's metadata (the fields used here).
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub num_frames: Option<u64>,
    pub frame_rate: f64,
}

/// One multiple-choice question as annotated.
#[derive(Debug, Clone, Deserialize)]
pub struct McQuestion {
    /// The question's id within its video (a number in the released files).
    pub id: serde_json::Value,
    pub question: String,
    pub options: Vec<String>,
    /// The correct option; absent in the test split.
    #[serde(default)]
    pub answer_id: Option<usize>,
    #[serde(default)]
    pub area: String,
    #[serde(default)]
    pub reasoning: String,
    #[serde(default)]
    pub tag: Vec<String>,
}

/// One question to score, with its video.
#[derive(Debug, Clone)]
pub struct Question {
    pub video_id: String,
    pub video: PathBuf,
    /// Seconds of video the model may see (the cut), `None` for the whole video.
    pub end_s: Option<f64>,
    pub q: McQuestion,
}

impl Question {
    /// The record id: `<video id>/<question id>`.
    pub fn key(&self) -> String {
        let qid = match &self.q.id {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        format!("{}/{qid}", self.video_id)
    }
}

/// Every question of `annotations`, videos in id order, with the cuts of `cut_frames`.
pub fn load(
    annotations: &Path,
    videos: &Path,
    cut_frames: Option<&Path>,
) -> anyhow::Result<Vec<Question>> {
    let name = annotations.display();
    let text = std::fs::read_to_string(annotations)
        .with_context(|| format!("{name}: cannot read the annotations"))?;
    let entries: BTreeMap<String, VideoEntry> = serde_json::from_str(&text)
        .with_context(|| format!("{name}: not a Perception Test annotation dict"))?;
    let cuts = match cut_frames {
        Some(p) => read_cuts(p)?,
        None => BTreeMap::new(),
    };
    let mut out = Vec::new();
    for (video_id, entry) in entries {
        let end_s = cut_seconds(&video_id, &entry.metadata, cuts.get(&video_id).copied())
            .with_context(|| format!("{name}"))?;
        for q in entry.mc_question {
            if q.options.is_empty() {
                bail!("{name}: {video_id} question {} has no options", q.id);
            }
            if q.answer_id.is_some_and(|a| a >= q.options.len()) {
                bail!(
                    "{name}: {video_id} question {}: answer_id out of range",
                    q.id
                );
            }
            out.push(Question {
                video: video_file(videos, &video_id),
                video_id: video_id.clone(),
                end_s,
                q,
            });
        }
    }
    if out.is_empty() {
        bail!("{name}: no mc_question in the annotations");
    }
    Ok(out)
}

/// `cut_frame_mapping_<split>.json`: `{video_id: frame}`.
fn read_cuts(path: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the cut frames", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: expected {{video_id: frame index}}", path.display()))
}

/// The cut in seconds: the model sees frames `0..cut`, i.e. those before `(cut − ½)/fps`
/// (half a frame of margin against rounded timestamps).
fn cut_seconds(video_id: &str, meta: &Metadata, cut: Option<u64>) -> anyhow::Result<Option<f64>> {
    let Some(cut) = cut else { return Ok(None) };
    if !(meta.frame_rate.is_finite() && meta.frame_rate > 0.0) {
        bail!("{video_id}: frame_rate {} is not positive", meta.frame_rate);
    }
    if cut == 0 {
        bail!("{video_id}: a cut at frame 0 leaves no frame");
    }
    if meta.num_frames.is_some_and(|n| cut >= n) {
        return Ok(None);
    }
    Ok(Some((cut as f64 - 0.5) / meta.frame_rate))
}

/// `<videos>/<video_id>.<ext>` for the first extension that exists, else the `.mp4` name.
fn video_file(videos: &Path, video_id: &str) -> PathBuf {
    VIDEO_EXTENSIONS
        .iter()
        .map(|e| videos.join(format!("{video_id}.{e}")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| videos.join(format!("{video_id}.mp4")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_the_frames_before_the_cut() {
        let meta = Metadata {
            num_frames: Some(100),
            frame_rate: 25.0,
        };
        assert_eq!(cut_seconds("v", &meta, None).unwrap(), None);
        assert_eq!(cut_seconds("v", &meta, Some(50)).unwrap(), Some(1.98));
        assert_eq!(cut_seconds("v", &meta, Some(100)).unwrap(), None);
        assert!(cut_seconds("v", &meta, Some(0)).is_err());
    }
}
