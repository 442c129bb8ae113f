//! Synthetic checkpoints: key table against the spec's shape table, and write → read round trips.

use super::*;
use crate::checkpoint::{Checkpoint, WeightsChoice, WeightsSource};
use half::f16;

fn shared_file(rel: &str) -> Option<PathBuf> {
    let from_env = std::env::var_os("UNIVAL_SHARED").map(PathBuf::from);
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let found = from_env
        .into_iter()
        .chain(here.ancestors().map(|a| a.join("shared")))
        .map(|s| s.join(rel))
        .find(|p| p.is_file());
    if found.is_none() {
        eprintln!("SKIPPED: {rel} not found (set UNIVAL_SHARED)");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "shared data missing under CI"
        );
    }
    found
}

#[test]
fn base_preset_matches_the_spec_shape_table() {
    let Some(path) = shared_file("spec/state_dict_shapes.json") else {
        return;
    };
    let table: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let expected: HashMap<String, Vec<usize>> = table
        .into_iter()
        .filter(|(k, _)| !k.contains("embed_audio") && !k.contains("audio_proj"))
        .map(|(k, v)| (k, serde_json::from_value(v).unwrap()))
        .collect();
    let opts = SynthOptions {
        preset: Preset::Base,
        ..SynthOptions::default()
    };
    let specs = arch::enumerate(&arch_spec(&opts).unwrap());
    let got: HashMap<String, Vec<usize>> = specs
        .iter()
        .map(|s| (s.name.clone(), s.shape.clone()))
        .collect();
    assert_eq!(got.len(), specs.len(), "duplicate keys");
    let missing: Vec<_> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?} extra {extra:?}"
    );
    for (k, shape) in &expected {
        assert_eq!(&got[k], shape, "{k}");
    }
    // Spec §9: image+video model = 250,489,072 parameters (tied embedding once, no buffers).
    let params: u64 = specs
        .iter()
        .filter(|s| s.init.is_parameter() && !TIED[1..].contains(&s.name.as_str()))
        .map(|s| s.shape.iter().product::<usize>() as u64)
        .sum();
    assert_eq!(params, 250_489_072);
}

fn expected_values(name: &str, opts: &SynthOptions, ema: bool, dtype: StorageType) -> Vec<f32> {
    let specs = arch::enumerate(&arch_spec(opts).unwrap());
    let spec = specs.iter().find(|s| s.name == name).unwrap();
    let rng_name = if TIED.contains(&name) { TIED[0] } else { name };
    let mut out = Vec::new();
    fill::write_values(spec, rng_name, opts.seed, ema, StorageType::F32, &mut out).unwrap();
    out.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .map(|v| {
            if dtype == StorageType::F16 {
                f16::from_f32(v).to_f32()
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn tiny_f32_copies_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.pt");
    let opts = SynthOptions {
        seed: 11,
        ..SynthOptions::default()
    };
    let report = write(&opts, &path).unwrap();
    let ck = Checkpoint::open(&path, WeightsChoice::Auto).unwrap();
    assert!(!ck.has_ema);
    assert_eq!(ck.weights_source, WeightsSource::Model);
    let specs = arch::enumerate(&arch_spec(&opts).unwrap());
    assert_eq!(ck.weights.len(), specs.len());
    assert_eq!(report.tensors, specs.len());
    for s in &specs {
        let t = ck.weights.expect_shape(&s.name, &s.shape).unwrap();
        let want = if s.init.is_integer() {
            StorageType::I64
        } else {
            StorageType::F32
        };
        assert_eq!(t.dtype(), want, "{}", s.name);
    }
    // Copies: three records with identical values.
    let e = ck.weights.get(TIED[0]).unwrap();
    let o = ck.weights.get(TIED[2]).unwrap();
    assert!(!e.shares_storage(o));
    assert_eq!(e.to_f32().unwrap(), o.to_f32().unwrap());
    for name in [
        "encoder.layers.1.fc1.weight",
        "encoder.embed_images.layer2.0.bn3.running_var",
        TIED[1],
    ] {
        assert_eq!(
            ck.weights.get(name).unwrap().to_f32().unwrap(),
            expected_values(name, &opts, false, StorageType::F32),
            "{name}"
        );
    }
    let tok = ck
        .weights
        .get("decoder.token_rp_bucket")
        .unwrap()
        .to_i64()
        .unwrap();
    assert_eq!(tok, buckets::token_bucket_table(256, 256));
    let cfg = ModelConfig::from_checkpoint(&ck).unwrap();
    assert_eq!(cfg, report.config);
    assert_eq!(
        (cfg.embed_dim, cfg.encoder_layers, cfg.image_bucket_size),
        (32, 2, 16)
    );
    assert_eq!(ck.task_cfg["_name"], "caption");
    assert_eq!(ck.generation_cfg["beam"], 5);
    // Same seed, same bytes.
    let again = dir.path().join("again.pt");
    write(&opts, &again).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn tiny_f16_shared_with_ema_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny16.pt");
    let opts = SynthOptions {
        seed: 3,
        dtype: StoreDType::F16,
        tied: TiedLayout::SharedStorage,
        with_ema: true,
        task: "vqa_gen".into(),
        image_encoder: "resnet".into(),
        ..SynthOptions::default()
    };
    let report = write(&opts, &path).unwrap();
    assert!(report.bytes < 12 << 20, "{} bytes", report.bytes);
    let ema = Checkpoint::open(&path, WeightsChoice::Auto).unwrap();
    let model = Checkpoint::open(&path, WeightsChoice::Model).unwrap();
    assert!(ema.has_ema);
    assert_eq!(ema.weights_source, WeightsSource::Ema);
    assert_eq!(ema.task_cfg["_name"], "vqa_gen");
    assert!(!ema
        .weights
        .contains("encoder.embed_images.layer4.0.conv1.weight"));
    assert!(!ema.weights.contains("encoder.embed_images.fc.weight"));
    ema.weights
        .expect_shape("encoder.image_proj.weight", &[32, 128])
        .unwrap();
    for sd in [&ema.weights, &model.weights] {
        let e = sd.get(TIED[0]).unwrap();
        assert_eq!(e.dtype(), StorageType::F16);
        assert!(TIED[1..]
            .iter()
            .all(|n| e.shares_storage(sd.get(n).unwrap())));
    }
    let name = "decoder.layers.0.encoder_attn.c_attn";
    assert_eq!(
        model.weights.get(name).unwrap().to_f32().unwrap(),
        expected_values(name, &opts, false, StorageType::F16)
    );
    assert_eq!(
        ema.weights.get(name).unwrap().to_f32().unwrap(),
        expected_values(name, &opts, true, StorageType::F16)
    );
    assert_ne!(
        ema.weights.get(name).unwrap().to_f32().unwrap(),
        model.weights.get(name).unwrap().to_f32().unwrap()
    );
    // Buffers are shared between model and EMA, like in the released files.
    let b = "encoder.image_rp_bucket";
    let key = |c: &Checkpoint| c.weights.get(b).unwrap().storage().key().to_string();
    assert_eq!(key(&ema), key(&model));
    let p = "encoder.layers.0.fc1.weight";
    assert_ne!(
        ema.weights.get(p).unwrap().storage().key(),
        model.weights.get(p).unwrap().storage().key()
    );
    let v = ema.weights.get("decoder.version").unwrap();
    assert_eq!(
        (v.dtype(), v.to_f32().unwrap()),
        (StorageType::F16, vec![3.0])
    );
    assert_eq!(
        ModelConfig::from_checkpoint(&ema)
            .unwrap()
            .image_encoder_name,
        "resnet"
    );
}

#[test]
fn bad_image_encoder_is_a_typed_error() {
    let opts = SynthOptions {
        image_encoder: "vit".into(),
        ..SynthOptions::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let err = write(&opts, &dir.path().join("x.pt")).unwrap_err();
    assert!(err.to_string().contains("image_encoder"), "{err}");
}

/// The full 250M preset in the fp32 "three copies" layout: 1.44 GB, about 13 s in the test
/// profile (under the 20 s bar for an ordinary test); prints the write time and size.
#[test]
fn base_preset_writes_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("base.pt");
    let opts = SynthOptions {
        preset: Preset::Base,
        with_ema: false,
        ..SynthOptions::default()
    };
    let r = write(&opts, &path).unwrap();
    eprintln!(
        "base preset: {} bytes in {:.1} s ({} tensors)",
        r.bytes, r.seconds, r.tensors
    );
    let t0 = Instant::now();
    let ck = Checkpoint::open(&path, WeightsChoice::Auto).unwrap();
    eprintln!("open: {:.2} s", t0.elapsed().as_secs_f64());
    assert_eq!(ck.weights.len(), r.tensors);
    assert_eq!(r.parameters, 250_489_072);
    ck.weights
        .expect_shape(
            "encoder.embed_videos.layer3.22.conv2.weight",
            &[512, 16, 3, 3, 3],
        )
        .unwrap();
}
