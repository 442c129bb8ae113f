//! Issue 14 item 1: the batched runtime gives every input the answer it gets alone. The tiny
//! synthetic checkpoint, exported for captioning, answers a batch of pictures mixing captions,
//! open questions of different lengths and questions constrained to an answer list (inputs
//! finishing at different steps, sources padded to the longest), through
//! [`Pipeline::run_media_batch`] and [`Pipeline::run_batch`]; each result must equal
//! [`Pipeline::run_media`] / [`Pipeline::run`] on that input alone: tokens exact, scores within
//! 1e-5 relative (the batched graphs sum in another order), and a bad input fails only itself.

use std::path::{Path, PathBuf};
use unival_export::bundle::{export, ExportOptions};
use unival_export::{synth, WeightsChoice};
use unival_manifest::{Precision, TaskKind};
use unival_runtime::tasks::{Media, Pipeline, Request, TaskError, TaskOutput};
use unival_runtime::vision::RgbImage;
use unival_runtime::SessionOptions;

/// The tiny synthetic checkpoint exported for captioning at 64×64 into `dir`.
fn tiny_caption_bundle(dir: &Path) -> PathBuf {
    let ckpt = dir.join("tiny.pt");
    synth::write(&synth::SynthOptions::default(), &ckpt).unwrap();
    let out = dir.join("caption");
    export(
        &ExportOptions {
            checkpoint: ckpt,
            out_dir: out.clone(),
            task: Some(TaskKind::Caption),
            precision: Precision::Fp32,
            weights: WeightsChoice::Model,
            image_size: Some(64),
            num_frames: None,
            frame_size: None,
            external_data: false,
            quantize_convs: None,
        },
        &mut |_| {},
    )
    .unwrap();
    out
}

/// A picture of gradients and a square, different for every `seed`.
fn picture(seed: u32, width: u32, height: u32) -> RgbImage {
    let mut raw = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let inside = (x / 7 + seed).is_multiple_of(3) && (y / 5 + seed) % 2 == 1;
            let r = (x * 255 / width + seed * 40) % 256;
            let g = (y * 255 / height + seed * 70) % 256;
            let b = if inside { 255 } else { (seed * 90) % 256 };
            raw.extend([r as u8, g as u8, b as u8]);
        }
    }
    RgbImage::from_raw(width, height, raw).unwrap()
}

fn open(bundle: &Path) -> Pipeline {
    let opts = SessionOptions {
        intra_threads: Some(1),
        ..SessionOptions::default()
    };
    let mut p = Pipeline::open(bundle, &opts).unwrap();
    p.search.nbest = 3;
    p
}

/// The batch really ran as one: every answer carries the same perception and decoder step
/// times (the batch's), which answers computed one at a time never share.
fn assert_one_pass(results: &[Result<TaskOutput, TaskError>]) {
    let ok: Vec<&TaskOutput> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert!(ok.len() > 1);
    for o in &ok {
        assert_eq!(
            o.timings_ms.perception, ok[0].timings_ms.perception,
            "{}",
            o.file
        );
        assert_eq!(
            o.timings_ms.decoder_steps, ok[0].timings_ms.decoder_steps,
            "{}",
            o.file
        );
    }
}

/// Same tokens, texts and box; scores within 1e-5 relative.
fn assert_same(batched: &TaskOutput, alone: &TaskOutput, what: &str) {
    assert_eq!(batched.file, alone.file, "{what}");
    assert_eq!(batched.tokens, alone.tokens, "{what}");
    assert_eq!(batched.text, alone.text, "{what}");
    assert_eq!(batched.bbox, alone.bbox, "{what}");
    assert_eq!(batched.beams.len(), alone.beams.len(), "{what}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 * b.abs().max(1e-6);
    for (b, a) in batched.beams.iter().zip(&alone.beams) {
        assert_eq!(b.tokens, a.tokens, "{what}");
        assert!(
            close(f64::from(b.score), f64::from(a.score)),
            "{what}: {} vs {}",
            b.score,
            a.score
        );
    }
    let (b, a) = (batched.score.unwrap(), alone.score.unwrap());
    assert!(close(b, a), "{what}: score {b} vs {a}");
}

#[test]
fn a_mixed_batch_answers_each_input_as_it_is_answered_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tiny_caption_bundle(tmp.path());
    let mut pipeline = open(&bundle);
    let answers: Vec<String> = ["red", "a blue square", "two", "green field"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let trie = pipeline.answer_trie(&answers).unwrap();
    let requests = [
        Request::Caption,
        Request::Vqa {
            question: "what colour is the square in the middle of this picture?",
            answers: None,
        },
        Request::Vqa {
            question: "what?",
            answers: Some(&trie),
        },
        Request::Caption,
        Request::Vqa {
            question: "how many squares are there?",
            answers: Some(&trie),
        },
        Request::Vqa {
            question: "",
            answers: None,
        },
        Request::Vqa {
            question: "is it dark?",
            answers: None,
        },
    ];
    let media: Vec<Media> = (0..requests.len() as u32)
        .map(|i| Media::Image(picture(i, 40 + 9 * i, 30 + 5 * i)))
        .collect();
    let labels: Vec<String> = (0..media.len()).map(|i| format!("frame{i}")).collect();
    let items: Vec<(&str, &Media, Request)> = labels
        .iter()
        .zip(&media)
        .zip(requests)
        .map(|((l, m), r)| (l.as_str(), m, r))
        .collect();
    let batched = pipeline.run_media_batch(&items);
    assert_eq!(batched.len(), items.len());
    assert_one_pass(&batched);
    let mut lengths = Vec::new();
    for ((label, media, request), got) in items.iter().zip(&batched) {
        let alone = pipeline.run_media(label, media, request);
        match (got, alone) {
            (Ok(got), Ok(alone)) => {
                assert_same(got, &alone, label);
                lengths.push(got.tokens.len());
            }
            (Err(got), Err(alone)) => assert_eq!(got.to_string(), alone.to_string()),
            (got, alone) => panic!("{label}: batched {got:?}, alone {alone:?}"),
        }
    }
    assert!(matches!(batched[5], Err(TaskError::EmptyText { .. })));
    lengths.sort_unstable();
    lengths.dedup();
    assert!(
        lengths.len() > 1,
        "every input finished at the same step: {lengths:?}"
    );
}

#[test]
fn a_batch_of_files_equals_one_file_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tiny_caption_bundle(tmp.path());
    let mut pipeline = open(&bundle);
    let mut files = Vec::new();
    for i in 0..4u32 {
        let f = tmp.path().join(format!("p{i}.png"));
        picture(i + 10, 50, 40 + 3 * i).save(&f).unwrap();
        files.push(f);
    }
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"not a png").unwrap();
    files.insert(2, broken);
    let items: Vec<(&Path, Request)> = files
        .iter()
        .map(|f| (f.as_path(), Request::Caption))
        .collect();
    let batched = pipeline.run_batch(&items);
    assert_one_pass(&batched);
    for ((file, request), got) in items.iter().zip(&batched) {
        let alone = pipeline.run(file, request);
        match (got, alone) {
            (Ok(got), Ok(alone)) => assert_same(got, &alone, &file.display().to_string()),
            (Err(got), Err(alone)) => assert_eq!(got.to_string(), alone.to_string()),
            (got, alone) => panic!("{}: batched {got:?}, alone {alone:?}", file.display()),
        }
    }
    assert!(batched[2].is_err() && batched.iter().filter(|r| r.is_ok()).count() == 4);
}
