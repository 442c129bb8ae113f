//! The original's TSVs (`data/mm_data/*_dataset.py`; columns as `run_scripts/*/eval` read them)
//! and the simple `file<TAB>caption` TSV with a header (the demo's `captions.tsv`).
//!
//! | task | columns |
//! |---|---|
//! | caption, video/audio caption | uniq_id, image_id, captions (`&&`-joined), labels, media |
//! | VQA, video QA | uniq_id, image_id, question, `conf|!+answer&&…`, labels, media |
//! | RefCOCO | uniq_id, image_id, text, `x0,y0,x1,y1`, image |
//! | SNLI-VE | uniq_id, image_id, image, hypothesis, premise, label |
//!
//! `media` is a base64 image, or a file name under the media directory (videos, sounds).

use super::super::dataset::{Item, MediaRef, Target};
use super::Source;
use anyhow::{bail, Context};
use base64::Engine;
use unival_manifest::TaskKind;

/// Items of a TSV for `task`.
pub fn read(src: &Source, task: TaskKind) -> anyhow::Result<Vec<Item>> {
    let text = src.text()?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    if lines
        .clone()
        .next()
        .is_some_and(|(_, header)| is_file_caption_header(header))
    {
        lines.next();
        return file_captions(src, lines);
    }
    lines
        .map(|(n, line)| {
            let cols: Vec<&str> = line.split('\t').collect();
            row(src, task, &cols).with_context(|| format!("{} line {}", src.name(), n + 1))
        })
        .collect()
}

fn is_file_caption_header(line: &str) -> bool {
    let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
    cols.len() == 2 && cols[0] == "file" && cols[1] == "caption"
}

/// `file<TAB>caption` rows; several rows of one file are its several references.
fn file_captions<'a>(
    src: &Source,
    lines: impl Iterator<Item = (usize, &'a str)>,
) -> anyhow::Result<Vec<Item>> {
    let mut items: Vec<Item> = Vec::new();
    for (n, line) in lines {
        let Some((file, caption)) = line.split_once('\t') else {
            bail!("{} line {}: expected file<TAB>caption", src.name(), n + 1);
        };
        let (file, caption) = (file.trim(), caption.trim().to_string());
        match items.iter_mut().find(|i| i.id == file) {
            Some(Item {
                target: Target::Captions(refs),
                ..
            }) => refs.push(caption),
            _ => items.push(Item {
                id: file.to_string(),
                media: MediaRef::File(src.media(file)),
                text: None,
                target: Target::Captions(vec![caption]),
            }),
        }
    }
    Ok(items)
}

fn want(cols: &[&str], n: usize, what: &str) -> anyhow::Result<()> {
    if cols.len() < n {
        bail!(
            "{what}: expected {n} tab-separated columns, found {}",
            cols.len()
        );
    }
    Ok(())
}

/// One row of the original's TSV for `task`.
fn row(src: &Source, task: TaskKind, cols: &[&str]) -> anyhow::Result<Item> {
    let id = cols
        .first()
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let item = |media: &str, text: Option<&str>, target| -> anyhow::Result<Item> {
        Ok(Item {
            id: id.clone(),
            media: media_ref(src, media)?,
            text: text.map(|t| t.trim().to_string()),
            target,
        })
    };
    match task {
        TaskKind::Caption | TaskKind::VideoCaption | TaskKind::AudioCaption => {
            want(cols, 5, "caption TSV")?;
            let refs = cols[2].split("&&").map(|c| c.trim().to_string()).collect();
            item(cols[4], None, Target::Captions(refs))
        }
        TaskKind::Vqa | TaskKind::VideoQa => {
            want(cols, 6, "VQA TSV")?;
            item(cols[5], Some(cols[2]), weighted_answers(cols[3])?)
        }
        TaskKind::Refcoco => {
            want(cols, 5, "RefCOCO TSV")?;
            item(cols[4], Some(cols[2]), Target::Box(parse_box(cols[3])?))
        }
        TaskKind::SnliVe => {
            want(cols, 6, "SNLI-VE TSV")?;
            item(
                cols[2],
                Some(cols[3]),
                Target::Answer(entailment_answer(cols[5])?),
            )
        }
    }
}

/// `conf|!+answer&&conf|!+answer…`.
fn weighted_answers(field: &str) -> anyhow::Result<Target> {
    let mut out = Vec::new();
    for part in field.split("&&").filter(|p| !p.trim().is_empty()) {
        let Some((conf, answer)) = part.split_once("|!+") else {
            bail!("answer `{part}` is not conf|!+answer");
        };
        let conf: f64 = conf
            .trim()
            .parse()
            .with_context(|| format!("answer confidence `{conf}`"))?;
        out.push((conf, answer.trim().to_string()));
    }
    Ok(Target::WeightedAnswers(out))
}

/// `x0,y0,x1,y1`.
fn parse_box(field: &str) -> anyhow::Result<[f64; 4]> {
    let v: Vec<f64> = field
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("box `{field}` is not x0,y0,x1,y1"))?;
    match <[f64; 4]>::try_from(v) {
        Ok(b) if b.iter().all(|x| x.is_finite()) => Ok(b),
        _ => bail!("box `{field}` is not four finite numbers x0,y0,x1,y1"),
    }
}

/// SNLI-VE labels as the model's answers (`contradiction→no, entailment→yes, neutral→maybe`).
pub fn entailment_answer(label: &str) -> anyhow::Result<String> {
    Ok(match label.trim() {
        "contradiction" | "no" => "no",
        "entailment" | "yes" => "yes",
        "neutral" | "maybe" => "maybe",
        other => bail!("unknown SNLI-VE label `{other}`"),
    }
    .to_string())
}

/// A media column: a file name when it names an existing file under the media directory or
/// has a media extension, otherwise base64 image bytes.
fn media_ref(src: &Source, field: &str) -> anyhow::Result<MediaRef> {
    let field = field.trim();
    let path = src.media(field);
    if path.is_file() || looks_like_file_name(field) {
        return Ok(MediaRef::File(path));
    }
    // The original writes `base64.urlsafe_b64encode` and reads with `urlsafe_b64decode`; the
    // standard alphabet is accepted too.
    let engines = [
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(field).ok())
        .map(MediaRef::Inline)
        .context("the media column is neither a file name nor base64 data")
}

fn looks_like_file_name(s: &str) -> bool {
    s.len() < 256
        && s.rsplit_once('.').is_some_and(|(_, ext)| {
            (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_boxes_and_labels_parse() {
        let t = weighted_answers("1.0|!+two&&0.3|!+three").unwrap();
        assert_eq!(
            t,
            Target::WeightedAnswers(vec![(1.0, "two".into()), (0.3, "three".into())])
        );
        assert!(weighted_answers("two").is_err());
        assert_eq!(parse_box("1,2.5,3,4").unwrap(), [1.0, 2.5, 3.0, 4.0]);
        assert!(parse_box("1,2,3").is_err());
        assert!(parse_box("1,2,3,nan").is_err());
        assert_eq!(entailment_answer("neutral").unwrap(), "maybe");
        assert!(entailment_answer("perhaps").is_err());
        assert!(looks_like_file_name("video0.mp4"));
        assert!(!looks_like_file_name("iVBORw0KGgoAAAANSUhEUgAA"));
    }
}
