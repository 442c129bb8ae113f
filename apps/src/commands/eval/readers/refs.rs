//! RefCOCO / RefCOCO+ / RefCOCOg in the REFER toolkit's layout: `refs(unc).p` (or
//! `refs(umd).p`, `refs(google).p`; a pickled list of refs with `file_name`, `ann_id`, `split`,
//! `sentences[{sent_id, sent}]`) read with the exporter's safe unpickler, and the `instances.json`
//! given with `--annotations`, whose `annotations[{id, bbox: [x, y, w, h]}]` hold the boxes.
//! Each sentence of a ref in `--split` is one item; its target is `[x, y, x + w, y + h]`.

use super::super::dataset::{Item, MediaRef, Target};
use super::Source;
use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use unival_export::checkpoint::read_pickle_json;

/// Items of `refs.p` in `split`, boxes from `instances`.
pub fn read(src: &Source, instances: Option<&Path>, split: &str) -> anyhow::Result<Vec<Item>> {
    let Some(instances) = instances else {
        bail!(
            "{}: a refs pickle needs the boxes: pass --annotations instances.json",
            src.name()
        );
    };
    let boxes = read_boxes(instances)?;
    let refs = read_pickle_json(&src.path).with_context(|| src.name())?;
    let Some(refs) = refs.as_array() else {
        bail!("{}: expected a list of refs", src.name());
    };
    let mut items = Vec::new();
    for r in refs.iter().filter(|r| r["split"].as_str() == Some(split)) {
        let (Some(file), Some(ann)) = (r["file_name"].as_str(), r["ann_id"].as_u64()) else {
            bail!("{}: a ref lacks file_name or ann_id", src.name());
        };
        let Some(target) = boxes.get(&ann) else {
            bail!(
                "{}: annotation {ann} is not in {}",
                src.name(),
                instances.display()
            );
        };
        for s in r["sentences"].as_array().into_iter().flatten() {
            let (Some(id), Some(sent)) = (s["sent_id"].as_u64(), s["sent"].as_str()) else {
                bail!("{}: a sentence lacks sent_id or sent", src.name());
            };
            items.push(Item {
                id: id.to_string(),
                media: MediaRef::File(src.media(&image_file(file))),
                text: Some(sent.to_string()),
                target: Target::Box(*target),
            });
        }
    }
    Ok(items)
}

/// `COCO_train2014_000000581857_16.jpg` (image file + `_<ann_id>`) → the image's file name.
fn image_file(ref_file: &str) -> String {
    match ref_file.rsplit_once('.') {
        Some((stem, ext)) => match stem.rsplit_once('_') {
            Some((image, ann)) if ann.chars().all(|c| c.is_ascii_digit()) => {
                format!("{image}.{ext}")
            }
            _ => ref_file.to_string(),
        },
        None => ref_file.to_string(),
    }
}

/// `annotations[{id, bbox: [x, y, w, h]}]` → id → `[x0, y0, x1, y1]`.
fn read_boxes(path: &Path) -> anyhow::Result<HashMap<u64, [f64; 4]>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the instances", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let mut boxes = HashMap::new();
    for a in v["annotations"].as_array().into_iter().flatten() {
        let b: Vec<f64> = a["bbox"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        if let (Some(id), [x, y, w, h]) = (a["id"].as_u64(), b.as_slice()) {
            boxes.insert(id, [*x, *y, x + w, y + h]);
        }
    }
    Ok(boxes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn refs_pickle_sentences_become_items_with_their_boxes() {
        let dir = tempfile::tempdir().unwrap();
        let instances = dir.path().join("instances.json");
        std::fs::write(
            &instances,
            r#"{"annotations":[{"id":7,"bbox":[10,20,30,40]},{"id":8,"bbox":[1,2,3,4]}]}"#,
        )
        .unwrap();
        let src = Source {
            path: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("src/commands/eval/readers/testdata/refs_tiny.p"),
            media_dir: PathBuf::from("train2014"),
        };
        let items = read(&src, Some(&instances), "val").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].id, "11");
        assert_eq!(items[0].text.as_deref(), Some("man on the left"));
        assert_eq!(items[0].target, Target::Box([10.0, 20.0, 40.0, 60.0]));
        assert!(matches!(&items[0].media,
            MediaRef::File(f) if f.ends_with("train2014/COCO_train2014_000000000042.jpg")));
        assert!(read(&src, None, "val").is_err());
        assert_eq!(image_file("x.jpg"), "x.jpg");
    }
}
