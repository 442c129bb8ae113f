//! The split request API `unival compare` builds on: `Pipeline::encode` + `Pipeline::decode`
//! gives exactly what `Pipeline::run` gives; a decode must ask with the prompt it was encoded
//! for; and teacher forcing the best caption through `Model::teacher_force` reproduces the
//! search's own score (unnormalized: the sum of the tokens' log-probs) within 1e-3 nats.

use unival_manifest::Precision;
use unival_runtime::generate::SearchOverrides;
use unival_runtime::tasks::{Pipeline, Request, TaskError};
use unival_runtime::SessionOptions;
use unival_tests::{export_case, OracleDir};

/// Teacher-forced score against the search's, nats (f32 sums over ~20 steps, incremental
/// against full-sequence decoder runs).
const SCORE_TOLERANCE: f64 = 1e-3;

fn caption_pipeline(oracle: &OracleDir, dir: &std::path::Path) -> Pipeline {
    export_case(oracle, &oracle.case("caption"), dir, Precision::Fp32);
    let mut p = Pipeline::open(dir, &SessionOptions::default()).unwrap();
    p.override_search(&SearchOverrides {
        unnormalized: Some(true),
        ..SearchOverrides::default()
    })
    .unwrap();
    p
}

/// `log_softmax(row)[token]` in f64.
fn log_prob(row: &[f32], token: i64) -> f64 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
    let at = row[usize::try_from(token).unwrap()];
    f64::from(at - max) - sum.ln()
}

#[test]
fn encode_then_decode_equals_run_and_teacher_forcing_scores_the_caption() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut p = caption_pipeline(&oracle, tmp.path());
    let path = oracle.case("caption").file("img0.png");
    let whole = p.run(&path, &Request::Caption).unwrap();
    let input = p.encode(&path, &Request::Caption).unwrap();
    let split = p.decode("img0", &input, &Request::Caption).unwrap();
    assert_eq!(split.file, "img0");
    assert_eq!(split.text, whole.text);
    assert_eq!(split.beams, whole.beams);
    assert_eq!(
        input.source_tokens().len(),
        p.source_tokens(&Request::Caption).unwrap().len()
    );

    let tokens = &whole.tokens;
    let logits = p
        .model_mut()
        .teacher_force(input.encoded(), tokens)
        .unwrap();
    assert_eq!(logits.dim().0, 1);
    assert_eq!(logits.dim().1, tokens.len());
    let forced: f64 = logits
        .outer_iter()
        .next()
        .unwrap()
        .outer_iter()
        .zip(tokens)
        .map(|(row, &t)| log_prob(row.as_slice().unwrap(), t))
        .sum();
    let searched = whole.score.unwrap();
    eprintln!("teacher-forced score {forced}, search score {searched}");
    assert!(
        (forced - searched).abs() <= SCORE_TOLERANCE,
        "teacher-forced {forced} vs search {searched}"
    );
}

#[test]
fn decode_refuses_a_request_with_another_prompt() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut p = caption_pipeline(&oracle, tmp.path());
    let path = oracle.case("caption").file("img0.png");
    let input = p.encode(&path, &Request::Caption).unwrap();
    let vqa = Request::Vqa {
        question: "what is it?",
        answers: None,
    };
    let err = p.decode("img0", &input, &vqa).unwrap_err();
    assert!(
        matches!(err, TaskError::EncodedForAnotherRequest { .. }),
        "{err}"
    );
}
