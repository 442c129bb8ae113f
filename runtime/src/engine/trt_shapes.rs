//! TensorRT optimisation profiles (issue 6 item 4, "shape profiles per modality").
//!
//! TensorRT compiles an engine for a range of input shapes. Without explicit ranges ONNX
//! Runtime builds one for the first shapes it sees and rebuilds whenever a later run falls
//! outside them, which a decoder (its cache grows every step) would do at every step. The
//! ranges here come from the bundle's manifest, one definition per symbolic dimension the
//! exporter uses, and give each graph one profile covering every run the runtime makes.

use std::collections::BTreeMap;
use unival_manifest::{Dim, GraphSpec, Manifest, Perception};

/// Smallest, typical and largest size of one symbolic dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimRange {
    pub min: i64,
    pub opt: i64,
    pub max: i64,
}

impl DimRange {
    fn new(min: i64, opt: i64, max: i64) -> DimRange {
        DimRange {
            min,
            opt: opt.clamp(min, max),
            max,
        }
    }
}

/// Rows the decoder is run with at most: beams, or candidates scored in one batch.
pub const MAX_DECODER_ROWS: i64 = 256;
/// Largest image side the runtime resizes to (refcoco uses 512; the largest in the spec).
pub const MAX_IMAGE_SIDE: i64 = 1024;

/// Ranges of every symbolic dimension of the bundle's graphs, from its manifest.
pub fn dim_ranges(m: &Manifest) -> BTreeMap<String, DimRange> {
    let t = &m.task;
    let side = t.perception.side().unwrap_or(0).max(32) as i64;
    let stride = 32; // the ResNet's output stride (docs/model.md §2.2): patches per side = side / 32.
    let patches_opt = (side / stride).pow(2);
    let patches_max = (MAX_IMAGE_SIDE / stride).pow(2).max(patches_opt);
    let src_max = m.model.max_source_positions as i64;
    let tgt_max = m.model.max_target_positions as i64;
    let src_opt = (t.max_src_length as i64).clamp(1, src_max);
    let beam = t.generation.beam.max(1) as i64;
    let rows = DimRange::new(1, beam, MAX_DECODER_ROWS.max(beam));
    let one = DimRange::new(1, 1, 1);
    let mut r = BTreeMap::new();
    let mut put = |name: &str, range: DimRange| {
        r.insert(name.to_string(), range);
    };
    put("batch", one);
    put("enc_batch", one);
    put("height", DimRange::new(stride, side, MAX_IMAGE_SIDE));
    put("width", DimRange::new(stride, side, MAX_IMAGE_SIDE));
    put("patches", DimRange::new(1, patches_opt, patches_max));
    put("src_len", DimRange::new(1, src_opt, src_max));
    put(
        "seq",
        DimRange::new(1, patches_opt + src_opt, patches_max + src_max),
    );
    put("n", rows);
    put("past_n", rows);
    put("t", DimRange::new(1, 1, tgt_max));
    put("past", DimRange::new(0, tgt_max / 32, tgt_max));
    // `frames`: log-mel frames of an audio bundle (centred STFT: samples / hop + 1), or the
    // clip length of a video bundle.
    let n = match (&m.model.audio, t.perception) {
        (Some(front), Perception::Audio { max_audio_len, .. }) => {
            (max_audio_len / front.hop_size.max(1)) as i64 + 1
        }
        (_, Perception::Video { num_frames, .. }) => num_frames.max(1) as i64,
        _ => 1,
    };
    let frames = DimRange::new(1, n, n);
    put("frames", frames);
    put("vocab_rows", DimRange::new(0, 0, m.vocab.size));
    r
}

/// The `trt_profile_{min,opt,max}_shapes` strings (`name:d0xd1,…`) for `spec`'s inputs with
/// symbolic dimensions; `None` when it has none, or when a symbol has no range (TensorRT then
/// falls back to its own per-shape engines rather than being given a wrong profile).
pub fn profile_shapes(
    spec: &GraphSpec,
    ranges: &BTreeMap<String, DimRange>,
) -> Option<[String; 3]> {
    let mut out: [Vec<String>; 3] = Default::default();
    for input in &spec.inputs {
        if !input.dims.iter().any(|d| matches!(d, Dim::Symbol(_))) {
            continue;
        }
        let mut dims: [Vec<String>; 3] = Default::default();
        for d in &input.dims {
            let (lo, mid, hi) = match d {
                Dim::Fixed(n) => (*n, *n, *n),
                Dim::Symbol(s) => {
                    let r = ranges.get(s)?;
                    (r.min, r.opt, r.max)
                }
            };
            for (list, v) in dims.iter_mut().zip([lo, mid, hi]) {
                list.push(v.to_string());
            }
        }
        for (o, d) in out.iter_mut().zip(dims) {
            o.push(format!("{}:{}", input.name, d.join("x")));
        }
    }
    if out[0].is_empty() {
        return None;
    }
    Some(out.map(|v| v.join(",")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use unival_manifest::{DType, TensorSpec};

    fn spec(inputs: Vec<(&str, Vec<Dim>)>) -> GraphSpec {
        GraphSpec {
            file: "g.onnx".into(),
            external_data: None,
            inputs: inputs
                .into_iter()
                .map(|(name, dims)| TensorSpec {
                    name: name.into(),
                    dtype: DType::F32,
                    dims,
                })
                .collect(),
            outputs: Vec::new(),
        }
    }

    fn sym(s: &str) -> Dim {
        Dim::Symbol(s.into())
    }

    #[test]
    fn profiles_list_every_symbolic_input_in_trt_syntax() {
        let mut ranges = BTreeMap::new();
        ranges.insert("n".to_string(), DimRange::new(1, 5, 256));
        ranges.insert("past".to_string(), DimRange::new(0, 32, 1024));
        let g = spec(vec![
            ("past_len", vec![]),
            ("tokens", vec![sym("n"), Dim::Fixed(1)]),
            (
                "cache",
                vec![sym("n"), Dim::Fixed(12), sym("past"), Dim::Fixed(64)],
            ),
        ]);
        let [min, opt, max] = profile_shapes(&g, &ranges).unwrap();
        assert_eq!(min, "tokens:1x1,cache:1x12x0x64");
        assert_eq!(opt, "tokens:5x1,cache:5x12x32x64");
        assert_eq!(max, "tokens:256x1,cache:256x12x1024x64");
    }

    #[test]
    fn unknown_symbols_or_static_graphs_give_no_profile() {
        let ranges = BTreeMap::new();
        let g = spec(vec![("x", vec![sym("mystery")])]);
        assert_eq!(profile_shapes(&g, &ranges), None);
        let g = spec(vec![("x", vec![Dim::Fixed(3)])]);
        assert_eq!(profile_shapes(&g, &ranges), None);
    }
}
