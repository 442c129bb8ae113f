//! Each dataset format read from a small file in its layout.

use super::super::args::{EvalCmd, EvalTask};
use super::super::dataset::{Item, MediaRef, Target};
use super::load;
use crate::cli::{Cli, Command};
use clap::Parser;
use std::path::Path;
use unival_manifest::TaskKind;

/// Parses `unival eval SUB --data DATA EXTRA… --out x.jsonl` and loads the dataset.
fn read(sub: &str, task: TaskKind, data: &Path, extra: &[&str]) -> anyhow::Result<Vec<Item>> {
    let mut argv = vec!["unival", "eval", sub, "--data", data.to_str().unwrap()];
    argv.extend_from_slice(extra);
    argv.extend_from_slice(&["--out", "x.jsonl"]);
    let Command::Eval(EvalCmd { task: t }) = Cli::try_parse_from(argv).unwrap().command else {
        panic!("not eval")
    };
    let args = match t {
        EvalTask::Caption(a)
        | EvalTask::Vqa(a)
        | EvalTask::VideoCaption(a)
        | EvalTask::VideoQa(a)
        | EvalTask::AudioCaption(a)
        | EvalTask::SnliVe(a)
        | EvalTask::Refcoco(a) => a,
        _ => panic!("not a dataset task"),
    };
    load(task, &args)
}

fn file(item: &Item) -> String {
    match &item.media {
        MediaRef::File(p) => p.file_name().unwrap().to_string_lossy().into_owned(),
        MediaRef::Inline(_) => "inline".into(),
    }
}

#[test]
fn json_formats() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let karpathy = p(
        "dataset_coco.json",
        r#"{"images":[{"filepath":"val2014","filename":"a.jpg","split":"test","cocoid":7,
            "sentences":[{"raw":"A dog."},{"raw":"a dog"}]},
           {"filepath":"train2014","filename":"b.jpg","split":"train","cocoid":8,"sentences":[]}]}"#,
    );
    let items = read("caption", TaskKind::Caption, &karpathy, &[]).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].id, "7");
    assert_eq!(
        items[0].target,
        Target::Captions(vec!["A dog.".into(), "a dog".into()])
    );
    assert!(matches!(&items[0].media, MediaRef::File(f) if f.ends_with("val2014/a.jpg")));

    let questions = p(
        "q.json",
        r#"{"data_subtype":"val2014","questions":[{"question_id":11,"image_id":42,"question":"What?"}]}"#,
    );
    let annotations = p(
        "a.json",
        r#"{"annotations":[{"question_id":11,"answer_type":"other","answers":[{"answer":"x"},{"answer":"y"}]}]}"#,
    );
    let ann = annotations.to_str().unwrap();
    let items = read("vqa", TaskKind::Vqa, &questions, &["--annotations", ann]).unwrap();
    assert_eq!(file(&items[0]), "COCO_val2014_000000000042.jpg");
    assert_eq!(
        items[0].target,
        Target::HumanAnswers {
            answers: vec!["x".into(), "y".into()],
            answer_type: Some("other".into())
        }
    );

    let msrvtt = p(
        "test_videodatainfo.json",
        r#"{"videos":[{"video_id":"video7010","split":"test"},{"video_id":"video1","split":"train"}],
            "sentences":[{"video_id":"video7010","caption":"a man sings"}]}"#,
    );
    let items = read("video-caption", TaskKind::VideoCaption, &msrvtt, &[]).unwrap();
    assert_eq!((items.len(), file(&items[0])), (1, "video7010.mp4".into()));

    let qa = p(
        "test_qa.json",
        r#"[{"id":3,"video_id":7010,"question":"who sings?","answer":"man"}]"#,
    );
    let items = read("video-qa", TaskKind::VideoQa, &qa, &[]).unwrap();
    assert_eq!(file(&items[0]), "video7010.mp4");
    assert_eq!(items[0].target, Target::Answer("man".into()));

    let snli = p(
        "snli_ve_test.jsonl",
        "{\"pairID\":\"p1\",\"Flickr30K_ID\":\"123\",\"sentence2\":\"a dog\",\"gold_label\":\"neutral\"}\n",
    );
    let items = read("snli-ve", TaskKind::SnliVe, &snli, &[]).unwrap();
    assert_eq!(
        (items[0].id.as_str(), file(&items[0])),
        ("p1", "123.jpg".into())
    );
    assert_eq!(items[0].target, Target::Answer("maybe".into()));
}

#[test]
fn csv_formats_and_duplicate_ids() {
    let dir = tempfile::tempdir().unwrap();
    let clotho = dir.path().join("clotho_captions_evaluation.csv");
    std::fs::write(
        &clotho,
        "file_name,caption_1,caption_2\nrain.wav,\"rain falls, softly\",water drips\n",
    )
    .unwrap();
    let items = read("audio-caption", TaskKind::AudioCaption, &clotho, &[]).unwrap();
    assert_eq!(
        items[0].target,
        Target::Captions(vec!["rain falls, softly".into(), "water drips".into()])
    );
    let audiocaps = dir.path().join("test.csv");
    std::fs::write(
        &audiocaps,
        "audiocap_id,youtube_id,start_time,caption\n1,abc,30,a dog barks\n2,abc,30,barking\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("Yabc.flac"), b"").unwrap();
    let items = read("audio-caption", TaskKind::AudioCaption, &audiocaps, &[]).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(file(&items[0]), "Yabc.flac");
    assert_eq!(
        items[0].target,
        Target::Captions(vec!["a dog barks".into(), "barking".into()])
    );

    let tsv = dir.path().join("dup.tsv");
    std::fs::write(&tsv, "1\t1\ta\t\tx.png\n1\t2\tb\t\ty.png\n").unwrap();
    let err = read("caption", TaskKind::Caption, &tsv, &[]).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
}
