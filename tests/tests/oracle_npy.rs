//! The `.npy` reader on the real oracle files: every array of every case parses, shapes agree
//! with `meta.json`, and values agree with each other (lengths vs padding, prefix tokens).

use unival_tests::npy;
use unival_tests::OracleDir;

fn shape_of(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

#[test]
fn every_oracle_array_reads_with_the_shape_meta_json_gives() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    let cases = oracle.cases();
    assert!(cases.len() >= 7, "{cases:?}");
    let mut checked = 0;
    for name in &cases {
        let case = oracle.case(name);
        let meta = case.meta().unwrap();
        // Every array parses with the reader its element type calls for.
        for entry in std::fs::read_dir(case.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("npy") {
                continue;
            }
            let header = npy::read_header(&path).unwrap();
            let shape = match header.descr.as_str() {
                "<f4" => {
                    let a = npy::read_f32(&path).unwrap();
                    assert!(a.iter().all(|x| x.is_finite()), "{}", path.display());
                    a.shape().to_vec()
                }
                "<i8" => npy::read_i64(&path).unwrap().shape().to_vec(),
                "|b1" => npy::read_bool(&path).unwrap().shape().to_vec(),
                other => panic!("{}: unexpected dtype {other}", path.display()),
            };
            assert_eq!(shape, header.shape, "{}", path.display());
            checked += 1;
        }
        // Inputs recorded in meta.json.
        for (input, dims) in meta["input_shapes"].as_object().unwrap() {
            if !case.has(input) {
                continue;
            }
            let header = npy::read_header(&case.npy_path(input)).unwrap();
            assert_eq!(header.shape, shape_of(dims), "{name}/{input}");
        }
        // CNN outputs: backbone_shapes.embed_x ↔ backbone_embed_x_out.npy.
        for (stem, dims) in meta["backbone_shapes"].as_object().unwrap() {
            let a = case.f32(&format!("backbone_{stem}_out")).unwrap();
            assert_eq!(a.shape(), shape_of(dims).as_slice(), "{name}/{stem}");
        }
        // Decoder reference: `(B, 2, vocab)` logits on the recorded prefix.
        let vocab = meta["vocab"]["size"].as_u64().unwrap() as usize;
        let prefix = case.i64("decoder_prefix_tokens").unwrap();
        let want: Vec<i64> = meta["decoder_prefix"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|t| t.as_i64().unwrap()))
            .collect();
        assert_eq!(prefix.iter().copied().collect::<Vec<_>>(), want, "{name}");
        let batch = prefix.shape()[0];
        if case.has("decoder_logits") {
            let logits = case.f32("decoder_logits").unwrap();
            assert_eq!(logits.shape(), [batch, 2, vocab], "{name}");
        }
        // src_lengths counts the non-PAD ids of src_tokens, and the encoder padding mask has
        // exactly the text padding set (perception tokens are never padding here).
        let tokens = case.i64("src_tokens").unwrap();
        let lengths = case.i64("src_lengths").unwrap();
        let mut text_pad = 0usize;
        for (b, row) in tokens.outer_iter().enumerate() {
            let real = row
                .iter()
                .filter(|&&t| t != unival_manifest::vocab::PAD)
                .count();
            assert_eq!(real as i64, lengths[[b]], "{name} row {b}");
            text_pad += row.len() - real;
        }
        let mask = case.bool("encoder_padding_mask").unwrap();
        let enc = case.f32("encoder_out").unwrap();
        assert_eq!(mask.shape(), &enc.shape()[..2], "{name}");
        assert_eq!(mask.iter().filter(|&&m| m).count(), text_pad, "{name}");
    }
    assert!(checked > 90, "only {checked} arrays checked");
}
