//! JSON datasets: COCO caption annotations, the Karpathy split, MSRVTT (`videos` +
//! `sentences`), VQAv2 questions + annotations, MSRVTT-QA / MSVD-QA and the SNLI-VE JSONL.

use super::super::args::DatasetArgs;
use super::super::dataset::{Item, MediaRef, Target};
use super::tsv::entailment_answer;
use super::Source;
use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::HashMap;
use unival_manifest::TaskKind;

/// Items of a JSON / JSONL dataset for `task`.
pub fn read(src: &Source, task: TaskKind, args: &DatasetArgs) -> anyhow::Result<Vec<Item>> {
    if task == TaskKind::SnliVe {
        return snli_ve_jsonl(src);
    }
    let v = src.json()?;
    let name = src.name();
    match task {
        TaskKind::Caption
            if v["images"]
                .get(0)
                .is_some_and(|i| i.get("sentences").is_some()) =>
        {
            karpathy(src, &v, &args.split)
        }
        TaskKind::Caption => coco_captions(src, &v),
        TaskKind::VideoCaption => msrvtt(src, &v, &args.split),
        TaskKind::Vqa => vqa_v2(src, &v, args.annotations.as_deref()),
        TaskKind::VideoQa => msrvtt_qa(src, &v),
        other => bail!("{name}: no JSON reader for task `{other}`"),
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn need<'a>(v: &'a Value, key: &str, src: &Source) -> anyhow::Result<&'a Vec<Value>> {
    v[key]
        .as_array()
        .with_context(|| format!("{}: no `{key}` array", src.name()))
}

/// COCO caption annotations: `images[{id, file_name}]`, `annotations[{image_id, caption}]`.
fn coco_captions(src: &Source, v: &Value) -> anyhow::Result<Vec<Item>> {
    let mut refs: HashMap<String, Vec<String>> = HashMap::new();
    for a in need(v, "annotations", src)? {
        if let (Some(id), Some(c)) = (text_of(&a["image_id"]), a["caption"].as_str()) {
            refs.entry(id).or_default().push(c.trim().to_string());
        }
    }
    need(v, "images", src)?
        .iter()
        .map(|img| {
            let (Some(id), Some(file)) = (text_of(&img["id"]), img["file_name"].as_str()) else {
                bail!("{}: an image lacks `id` or `file_name`", src.name());
            };
            Ok(Item {
                target: Target::Captions(refs.remove(&id).unwrap_or_default()),
                id,
                media: MediaRef::File(src.media(file)),
                text: None,
            })
        })
        .collect()
}

/// Karpathy split: `images[{filepath, filename, split, sentences[{raw}], cocoid|imgid}]`.
fn karpathy(src: &Source, v: &Value, split: &str) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    for img in need(v, "images", src)? {
        if img["split"].as_str() != Some(split) {
            continue;
        }
        let Some(file) = img["filename"].as_str() else {
            bail!("{}: an image lacks `filename`", src.name());
        };
        let rel = match img["filepath"].as_str() {
            Some(dir) => format!("{dir}/{file}"),
            None => file.to_string(),
        };
        let refs = img["sentences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["raw"].as_str().map(|r| r.trim().to_string()))
            .collect();
        let id = text_of(&img["cocoid"])
            .or_else(|| text_of(&img["imgid"]))
            .unwrap_or_else(|| file.to_string());
        items.push(Item {
            id,
            media: MediaRef::File(src.media(&rel)),
            text: None,
            target: Target::Captions(refs),
        });
    }
    Ok(items)
}

/// MSRVTT: `videos[{video_id, split}]`, `sentences[{video_id, caption}]`; videos
/// `<video_id>.mp4`. Only `split` when the file has splits.
fn msrvtt(src: &Source, v: &Value, split: &str) -> anyhow::Result<Vec<Item>> {
    let mut refs: HashMap<String, Vec<String>> = HashMap::new();
    for s in need(v, "sentences", src)? {
        if let (Some(id), Some(c)) = (text_of(&s["video_id"]), s["caption"].as_str()) {
            refs.entry(id).or_default().push(c.trim().to_string());
        }
    }
    let videos = need(v, "videos", src)?;
    let has_split = videos.iter().any(|x| x["split"].as_str() == Some(split));
    Ok(videos
        .iter()
        .filter(|x| !has_split || x["split"].as_str() == Some(split))
        .filter_map(|x| text_of(&x["video_id"]))
        .map(|id| Item {
            media: MediaRef::File(src.media(&format!("{id}.mp4"))),
            target: Target::Captions(refs.remove(&id).unwrap_or_default()),
            id,
            text: None,
        })
        .collect())
}

/// VQAv2: `questions[{question_id, image_id, question}]` (+ `data_subtype`, e.g. val2014,
/// naming the images `COCO_val2014_<12-digit id>.jpg`) and the annotations
/// `annotations[{question_id, answer_type, answers[{answer}]}]` (test sets have none).
fn vqa_v2(
    src: &Source,
    v: &Value,
    annotations: Option<&std::path::Path>,
) -> anyhow::Result<Vec<Item>> {
    let mut truth: HashMap<String, (Vec<String>, Option<String>)> = HashMap::new();
    if let Some(path) = annotations {
        let ann = Source {
            path: path.to_path_buf(),
            media_dir: src.media_dir.clone(),
        };
        for a in need(&ann.json()?, "annotations", &ann)? {
            let Some(qid) = text_of(&a["question_id"]) else {
                continue;
            };
            let answers = a["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["answer"].as_str().map(str::to_string))
                .collect();
            truth.insert(
                qid,
                (answers, a["answer_type"].as_str().map(str::to_string)),
            );
        }
    }
    let subtype = v["data_subtype"].as_str();
    need(v, "questions", src)?
        .iter()
        .map(|q| {
            let (Some(qid), Some(image), Some(question)) = (
                text_of(&q["question_id"]),
                q["image_id"].as_u64(),
                q["question"].as_str(),
            ) else {
                bail!(
                    "{}: a question lacks question_id, image_id or question",
                    src.name()
                );
            };
            let file = match subtype {
                Some(s) => format!("COCO_{s}_{image:012}.jpg"),
                None => format!("{image:012}.jpg"),
            };
            let (answers, answer_type) = truth.remove(&qid).unwrap_or_default();
            Ok(Item {
                id: qid,
                media: MediaRef::File(src.media(&file)),
                text: Some(question.to_string()),
                target: Target::HumanAnswers {
                    answers,
                    answer_type,
                },
            })
        })
        .collect()
}

/// MSRVTT-QA / MSVD-QA: `[{id, video_id, question, answer}]`; a numeric video id `N` is the
/// file `videoN.mp4` (MSRVTT's naming), any other `<video_id>.mp4`.
fn msrvtt_qa(src: &Source, v: &Value) -> anyhow::Result<Vec<Item>> {
    let Some(list) = v.as_array() else {
        bail!(
            "{}: expected a list of {{id, video_id, question, answer}}",
            src.name()
        );
    };
    list.iter()
        .enumerate()
        .map(|(n, q)| {
            let (Some(video), Some(question), Some(answer)) = (
                text_of(&q["video_id"]),
                q["question"].as_str(),
                q["answer"].as_str(),
            ) else {
                bail!(
                    "{}: entry {n} lacks video_id, question or answer",
                    src.name()
                );
            };
            let file = if video.chars().all(|c| c.is_ascii_digit()) {
                format!("video{video}.mp4")
            } else {
                format!("{video}.mp4")
            };
            Ok(Item {
                id: text_of(&q["id"]).unwrap_or_else(|| n.to_string()),
                media: MediaRef::File(src.media(&file)),
                text: Some(question.to_string()),
                target: Target::Answer(answer.trim().to_string()),
            })
        })
        .collect()
}

/// SNLI-VE JSONL: one `{pairID, Flickr30K_ID, sentence2, gold_label}` per line; images
/// `<Flickr30K_ID>.jpg`.
fn snli_ve_jsonl(src: &Source) -> anyhow::Result<Vec<Item>> {
    src.text()?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let at = || format!("{} line {}", src.name(), n + 1);
            let v: Value = serde_json::from_str(line).with_context(at)?;
            let (Some(image), Some(hypothesis), Some(label)) = (
                text_of(&v["Flickr30K_ID"]),
                v["sentence2"].as_str(),
                v["gold_label"].as_str(),
            ) else {
                bail!("{}: lacks Flickr30K_ID, sentence2 or gold_label", at());
            };
            Ok(Item {
                id: text_of(&v["pairID"]).unwrap_or_else(|| n.to_string()),
                media: MediaRef::File(src.media(&format!("{image}.jpg"))),
                text: Some(hypothesis.to_string()),
                target: Target::Answer(entailment_answer(label).with_context(at)?),
            })
        })
        .collect()
}
