//! Issue 6, "constrained steps computing only the allowed rows of the output projection": on
//! the oracle's VQA checkpoint (fp32 export), a row-restricted decoder step gives the full
//! step's logits at every allowed id and −inf elsewhere, and a VQA answer-trie beam search
//! gives the same hypotheses through the restricted path as through the full one (and the
//! oracle's answer).

use ndarray::{Array2, Ix4};
use unival_manifest::Precision;
use unival_runtime::generate::{beam_search, Constraints, Hypothesis, Scorer, SearchOptions, Trie};
use unival_runtime::model::{Encoded, Model, PerceptionInput, StepMode};
use unival_runtime::SessionOptions;
use unival_tests::{export_case, OracleCase, OracleDir};

/// Hides a scorer's restricted step, so the search takes the full-logits default.
struct FullOnly<'s, S>(&'s mut S);

impl<S: Scorer> Scorer for FullOnly<'_, S> {
    type Error = S::Error;
    fn next_logits(&mut self, step: usize, last: &[i64]) -> Result<Array2<f32>, S::Error> {
        self.0.next_logits(step, last)
    }
    fn reorder(&mut self, indices: &[usize]) -> Result<(), S::Error> {
        self.0.reorder(indices)
    }
}

/// Counts the restricted steps a search asks for.
struct Counting<'s, S>(&'s mut S, usize);

impl<S: Scorer> Scorer for Counting<'_, S> {
    type Error = S::Error;
    fn next_logits(&mut self, step: usize, last: &[i64]) -> Result<Array2<f32>, S::Error> {
        self.0.next_logits(step, last)
    }
    fn next_logits_restricted(
        &mut self,
        step: usize,
        last: &[i64],
        allowed: &[&[i64]],
    ) -> Result<Array2<f32>, S::Error> {
        self.1 += 1;
        self.0.next_logits_restricted(step, last, allowed)
    }
    fn reorder(&mut self, indices: &[usize]) -> Result<(), S::Error> {
        self.0.reorder(indices)
    }
}

/// The exported VQA bundle, opened, with the oracle's input encoded.
fn setup(oracle: &OracleDir, case: &OracleCase, dir: &std::path::Path) -> (Model, Encoded) {
    let m = export_case(oracle, case, dir, Precision::Fp32);
    assert!(
        m.graphs["decoder"]
            .inputs
            .iter()
            .any(|s| s.name == unival_manifest::io::VOCAB_ROWS),
        "the decoder graph has no `vocab_rows` input"
    );
    let mut model = Model::open(dir, &SessionOptions::default()).unwrap();
    let pixels = case
        .f32("patch_images")
        .unwrap()
        .into_dimensionality::<Ix4>()
        .unwrap();
    let src: Vec<i64> = case.i64("src_tokens").unwrap().iter().copied().collect();
    let enc = model
        .encode_input(PerceptionInput::Image(pixels.view()), &src)
        .unwrap();
    (model, enc)
}

fn ids(v: &serde_json::Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect()
}

#[test]
fn restricted_steps_equal_the_full_logits_at_the_allowed_ids() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let case = oracle.case("vqa");
    let meta = case.meta().unwrap();
    let prefix = ids(&meta["inference_step_kwargs"]["prefix_tokens"][0]);
    let tmp = tempfile::tempdir().unwrap();
    let (mut model, enc) = setup(&oracle, &case, tmp.path());
    let vocab = model.manifest().vocab.size as usize;

    // Two rows after the forced prefix, each with its own allowed set.
    let last = [10i64, 1275];
    let allowed: [&[i64]; 2] = [&[1275, 2440], &[2, 8]];
    let run = |model: &mut Model, restricted: bool, mode: StepMode| {
        let mut dec = model.decoder(&enc);
        dec.set_mode(mode).unwrap();
        let mut token = 0;
        for (step, &next) in prefix.iter().enumerate() {
            dec.next_logits(step, &[token]).unwrap();
            token = next;
        }
        dec.next_logits(prefix.len(), &[token]).unwrap();
        dec.reorder(&[0, 0]).unwrap();
        let step = prefix.len() + 1;
        if restricted {
            dec.next_logits_restricted(step, &last, &allowed).unwrap()
        } else {
            dec.next_logits(step, &last).unwrap()
        }
    };
    let full = run(&mut model, false, StepMode::Bound);
    assert_eq!(full.dim(), (2, vocab));
    let union = [2i64, 8, 1275, 2440];
    let scale = full.iter().fold(0f32, |m, v| m.max(v.abs()));
    // Every step mode feeds `vocab_rows` (plain runs and the I/O binding alike).
    for mode in [StepMode::Bound, StepMode::GraphReorder] {
        let part = run(&mut model, true, mode);
        assert_eq!(part.dim(), (2, vocab));
        for r in 0..2 {
            for id in 0..vocab {
                let (f, p) = (full[[r, id]], part[[r, id]]);
                if union.contains(&(id as i64)) {
                    let err = (f - p).abs() / scale;
                    assert!(
                        err <= 1e-6,
                        "{mode:?} row {r} id {id}: full {f} restricted {p}"
                    );
                } else {
                    // Only the asked-for rows were computed: the graph took the restricted
                    // branch.
                    assert_eq!(p, f32::NEG_INFINITY, "{mode:?} row {r} id {id}");
                }
            }
        }
    }
}

#[test]
fn a_vqa_trie_decode_answers_the_same_through_the_restricted_path() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let case = oracle.case("vqa");
    let meta = case.meta().unwrap();
    let prefix = ids(&meta["inference_step_kwargs"]["prefix_tokens"][0]);
    let mut trie = Trie::new(2);
    for answer in meta["answer_token_ids"].as_object().unwrap().values() {
        let mut path = vec![0];
        path.extend(ids(answer));
        path.push(2);
        trie.insert(&path);
    }
    let constraints = Constraints {
        prefix,
        trie: Some(trie),
        strict_prefix: false,
    };
    let g = &meta["generation"];
    let opts = SearchOptions {
        beam: g["beam"].as_u64().unwrap() as usize,
        max_len_a: g["max_len_a"].as_f64().unwrap(),
        max_len_b: g["max_len_b"].as_u64().unwrap() as usize,
        unnormalized: g["unnormalized"].as_bool().unwrap(),
        ..SearchOptions::default()
    };
    let tmp = tempfile::tempdir().unwrap();
    let (mut model, enc) = setup(&oracle, &case, tmp.path());
    let search = |model: &mut Model, restricted: bool| -> (Vec<Hypothesis>, usize) {
        let mut dec = model.decoder(&enc);
        if restricted {
            let mut counted = Counting(&mut dec, 0);
            let hyps = beam_search(&mut counted, &opts, &constraints, enc.src_len).unwrap();
            (hyps, counted.1)
        } else {
            let hyps = beam_search(&mut FullOnly(&mut dec), &opts, &constraints, enc.src_len);
            (hyps.unwrap(), 0)
        }
    };
    let (full, _) = search(&mut model, false);
    let (part, restricted_steps) = search(&mut model, true);
    assert!(restricted_steps > 0, "the trie steps never asked for rows");
    assert_eq!(full.len(), part.len());
    for (f, p) in full.iter().zip(&part) {
        assert_eq!(f.tokens, p.tokens);
        let tol = 1e-5 * f.score.abs().max(1.0);
        assert!(
            (f.score - p.score).abs() <= tol,
            "{} vs {}",
            f.score,
            p.score
        );
    }
    // And the answer is the oracle's: prefix, the answer's tokens, EOS.
    let answer = meta["eval_step_results"][0]["answer"].as_str().unwrap();
    let mut expected = constraints.prefix.clone();
    expected.extend(ids(&meta["answer_token_ids"][answer]));
    expected.push(2);
    assert_eq!(part[0].tokens, expected, "answer `{answer}`");
}
