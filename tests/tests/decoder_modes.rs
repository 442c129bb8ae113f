//! Issue 6 items 2 and 4: the decoder's step modes — in-graph reorder (`beam_order`) with plain
//! runs, and in-graph reorder through an I/O binding with the cache in the provider's memory —
//! give bit-identical logits at every step and the same beams, on the oracle caption checkpoint
//! exported as the tiny synthetic bundle.

use ndarray::Array2;
use unival_manifest::{vocab, Precision};
use unival_runtime::generate::{beam_search, Constraints, Hypothesis, Scorer, SearchOptions};
use unival_runtime::model::{Model, PerceptionInput, StepMode};
use unival_runtime::{RuntimeError, SessionOptions};
use unival_tests::{export_case, OracleDir};

/// Records every step's logits and every reorder of the scorer it wraps.
struct Recorder<'s, S> {
    inner: &'s mut S,
    logits: Vec<Array2<f32>>,
    reorders: Vec<Vec<usize>>,
}

impl<S: Scorer<Error = RuntimeError>> Scorer for Recorder<'_, S> {
    type Error = RuntimeError;
    fn next_logits(&mut self, step: usize, last: &[i64]) -> Result<Array2<f32>, RuntimeError> {
        let l = self.inner.next_logits(step, last)?;
        self.logits.push(l.clone());
        Ok(l)
    }
    fn reorder(&mut self, indices: &[usize]) -> Result<(), RuntimeError> {
        self.reorders.push(indices.to_vec());
        self.inner.reorder(indices)
    }
}

struct Run {
    beams: Vec<Hypothesis>,
    logits: Vec<Array2<f32>>,
    reorders: Vec<Vec<usize>>,
}

fn decode(model: &mut Model, enc: &unival_runtime::model::Encoded, mode: StepMode) -> Run {
    let opts = SearchOptions {
        beam: 5,
        max_len_a: 0.0,
        max_len_b: 12,
        min_len: 12,
        nbest: 5,
        ..SearchOptions::default()
    };
    let mut dec = model.decoder(enc);
    assert_eq!(dec.mode(), StepMode::Bound, "new bundles bind by default");
    dec.set_mode(mode).unwrap();
    let mut rec = Recorder {
        inner: &mut dec,
        logits: Vec::new(),
        reorders: Vec::new(),
    };
    let beams = beam_search(&mut rec, &opts, &Constraints::none(), enc.src_len).unwrap();
    Run {
        beams,
        logits: rec.logits,
        reorders: rec.reorders,
    }
}

#[test]
fn every_step_mode_gives_the_same_logits_and_beams() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let case = oracle.case("caption");
    let dir = tempfile::tempdir().unwrap();
    export_case(&oracle, &case, dir.path(), Precision::Fp32);
    let opts = SessionOptions {
        intra_threads: Some(1),
        ..SessionOptions::default()
    };
    let mut model = Model::open(dir.path(), &opts).unwrap();
    let pixels = case.f32("patch_images").unwrap();
    let pixels = pixels.into_dimensionality::<ndarray::Ix4>().unwrap();
    let src: Vec<i64> = case.i64("src_tokens").unwrap().iter().copied().collect();
    let enc = model
        .encode_input(PerceptionInput::Image(pixels.view()), &src)
        .unwrap();

    let bound = decode(&mut model, &enc, StepMode::Bound);
    assert_eq!(bound.logits.len(), 13, "forced to 12 tokens plus EOS");
    assert!(
        bound
            .reorders
            .iter()
            .skip(1)
            .any(|o| o.iter().enumerate().any(|(i, &j)| i != j)),
        "the search must actually reorder for this test to mean anything"
    );
    assert!(bound
        .beams
        .iter()
        .all(|h| h.tokens.last() == Some(&vocab::EOS)));
    for mode in [StepMode::GraphReorder] {
        let other = decode(&mut model, &enc, mode);
        assert_eq!(other.reorders, bound.reorders, "{mode:?}");
        for (step, (a, b)) in other.logits.iter().zip(&bound.logits).enumerate() {
            assert_eq!(a, b, "{mode:?}: logits differ at step {step}");
        }
        assert_eq!(other.logits.len(), bound.logits.len(), "{mode:?}");
        let tokens = |r: &Run| r.beams.iter().map(|h| h.tokens.clone()).collect::<Vec<_>>();
        assert_eq!(tokens(&other), tokens(&bound), "{mode:?}");
    }
}

#[test]
fn the_mode_is_fixed_once_decoding_started() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let case = oracle.case("caption");
    let dir = tempfile::tempdir().unwrap();
    export_case(&oracle, &case, dir.path(), Precision::Fp32);
    let mut model = Model::open(dir.path(), &SessionOptions::default()).unwrap();
    let pixels = case.f32("patch_images").unwrap();
    let pixels = pixels.into_dimensionality::<ndarray::Ix4>().unwrap();
    let src: Vec<i64> = case.i64("src_tokens").unwrap().iter().copied().collect();
    let enc = model
        .encode_input(PerceptionInput::Image(pixels.view()), &src)
        .unwrap();
    let mut dec = model.decoder(&enc);
    let logits = dec.next_logits(0, &[vocab::BOS]).unwrap();
    assert_eq!(logits.nrows(), 1);
    let err = dec.set_mode(StepMode::GraphReorder).unwrap_err();
    assert!(
        err.to_string().contains("fixed once decoding started"),
        "{err}"
    );
}
