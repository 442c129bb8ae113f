//! The checkpoint reader on the real files written by the original PyTorch code
//! (`shared/oracle/dev/checkpoints/*.pt`, `shared/demo/demo_shapes.pt`).
//!
//! Expected values were read from the same files with Python's `zipfile` + `pickle` (a throwaway
//! unpickler that maps torch globals to tuples) and `struct` on the raw storage records.
//! The shared folder is `$UNIVAL_SHARED`, else the nearest ancestor's `shared/`; when it is
//! missing the tests print "SKIPPED" (and fail under `CI=true`).

use std::path::PathBuf;

use unival_export::checkpoint::{StorageType, WeightsSource};
use unival_export::{Checkpoint, ModelConfig, WeightsChoice};

fn shared() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("UNIVAL_SHARED") {
        return Some(PathBuf::from(p));
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|a| a.join("shared"))
        .find(|p| p.join("oracle").is_dir())
}

fn file(rel: &str) -> Option<PathBuf> {
    let p = shared().map(|s| s.join(rel)).filter(|p| p.is_file());
    if p.is_none() {
        eprintln!("SKIPPED: shared data file {rel} not found (set UNIVAL_SHARED)");
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "shared data missing under CI"
        );
    }
    p
}

fn f32_at(ckpt: &Checkpoint, key: &str, flat: usize) -> f32 {
    ckpt.weights.get(key).unwrap().to_f32().unwrap()[flat]
}

#[test]
fn micro_img_fp16() {
    let Some(path) = file("oracle/dev/checkpoints/micro_img_fp16.pt") else {
        return;
    };
    let ckpt = Checkpoint::open(&path, WeightsChoice::Auto).unwrap();
    assert!(ckpt.has_ema);
    assert_eq!(ckpt.weights_source, WeightsSource::Ema);
    assert_eq!(ckpt.weights.len(), 271);
    let model = Checkpoint::open(&path, WeightsChoice::Model).unwrap();
    assert_eq!(model.weights_source, WeightsSource::Model);
    assert_eq!(model.weights.len(), 271);

    // EMA differs from the raw weights in the decoder layers (68 tensors).
    let key = "decoder.layers.0.self_attn.c_attn";
    let ema = ckpt.weights.get(key).unwrap().to_f32().unwrap();
    let raw = model.weights.get(key).unwrap().to_f32().unwrap();
    assert_eq!(
        raw,
        vec![1.251_953_1, 1.045_898_4, 1.233_398_4, 1.038_085_9]
    );
    assert_eq!(ema[0], 1.290_039_1);
    let differing = ckpt
        .weights
        .iter()
        .filter(|(k, t)| {
            let m = model.weights.get(k).unwrap();
            t.dtype().is_float() && t.to_f32().unwrap() != m.to_f32().unwrap()
        })
        .count();
    assert_eq!(differing, 68);

    // fp16 storage; the three tied embeddings are one storage record.
    let emb = ckpt
        .weights
        .expect_shape("encoder.embed_tokens.weight", &[59457, 64])
        .unwrap();
    assert_eq!(emb.dtype(), StorageType::F16);
    for k in [
        "decoder.embed_tokens.weight",
        "decoder.output_projection.weight",
    ] {
        assert!(emb.shares_storage(ckpt.weights.get(k).unwrap()), "{k}");
    }
    assert_eq!(
        f32_at(&model, "encoder.layers.0.fc1.weight", 0),
        -0.003_862_381
    );
    let v = ckpt.weights.get("encoder.version").unwrap();
    assert_eq!(
        (v.dtype(), v.to_f32().unwrap()),
        (StorageType::F16, vec![3.0])
    );
    let nbt = ckpt
        .weights
        .get("encoder.embed_images.bn1.num_batches_tracked")
        .unwrap();
    assert_eq!((nbt.dtype(), nbt.shape()), (StorageType::I64, &[][..]));

    let bucket = ckpt
        .weights
        .expect_shape("encoder.token_rp_bucket", &[1024, 1024])
        .unwrap();
    assert_eq!(bucket.to_i64().unwrap()[1023], 0);
    let img = ckpt
        .weights
        .expect_shape("encoder.image_rp_bucket", &[257, 257])
        .unwrap();
    assert_eq!(img.to_i64().unwrap()[5 * 257 + 200], 105);

    let cfg = ModelConfig::from_checkpoint(&ckpt).unwrap();
    assert_eq!(
        (
            cfg.embed_dim,
            cfg.ffn_dim,
            cfg.encoder_layers,
            cfg.decoder_layers
        ),
        (64, 128, 2, 2)
    );
    assert_eq!((cfg.encoder_heads, cfg.image_bucket_size), (4, 16));
    assert_eq!(cfg.image_encoder_name, "timm_resnet");
    assert_eq!(cfg.video_encoder_name, None);
    assert_eq!(cfg.sample_patch_num, Some(784));
    assert!(cfg.no_scale_embedding && cfg.scale_attn && cfg.scale_fc && cfg.scale_heads);
    assert!(cfg.disable_entangle && !cfg.freeze_resnet && !cfg.qk_norm);
    assert_eq!(ckpt.task_cfg["_name"], "refcoco");
    assert_eq!(ckpt.task_cfg["patch_image_size"], 512);
    assert_eq!(ckpt.generation_cfg["beam"], 5);
    assert_eq!(ckpt.sha256().len(), 64);
}

#[test]
fn micro_av_fp16() {
    let Some(path) = file("oracle/dev/checkpoints/micro_av_fp16.pt") else {
        return;
    };
    let ckpt = Checkpoint::open(&path, WeightsChoice::Ema).unwrap();
    assert_eq!(ckpt.weights.len(), 415);
    // STFT kernels are fp32 and stored transposed (strides (1, 525312, 513)).
    let real = ckpt
        .weights
        .expect_shape(
            "encoder.embed_audios.spectrogram_extractor.stft.conv_real.weight",
            &[513, 1, 1024],
        )
        .unwrap();
    assert_eq!(real.dtype(), StorageType::F32);
    assert_eq!(real.strides(), &[1, 525_312, 513]);
    assert!(!real.is_contiguous());
    let vals = real.to_f32().unwrap();
    assert_eq!(vals[3 * 1024 + 100], -0.024_322_51);
    let ts = ckpt
        .weights
        .get("encoder.embed_audios.spectrogram_extractor.stft.conv_imag.weight")
        .unwrap();
    assert_eq!(ts.to_f32().unwrap()[512 * 1024 + 1023], 0.0);
    assert_eq!(
        f32_at(&ckpt, "encoder.layers.1.fc2.weight", 5 * 128 + 7),
        -0.357_421_88
    );
    assert_eq!(
        f32_at(&ckpt, "encoder.embed_tokens.weight", 59456 * 64 + 63),
        0.147_827_15
    );
    let img = ckpt
        .weights
        .expect_shape("encoder.image_rp_bucket", &[626, 626])
        .unwrap()
        .to_i64()
        .unwrap();
    assert_eq!((img[0], img[626 + 1], img[626 + 2]), (2403, 1200, 1199));

    let cfg = ModelConfig::from_checkpoint(&ckpt).unwrap();
    assert_eq!(cfg.image_bucket_size, 25);
    assert_eq!(cfg.video_encoder_name.as_deref(), Some("all_resnext101"));
    assert_eq!(cfg.audio_encoder_name.as_deref(), Some("pann_cnn6"));
    assert_eq!((cfg.mel_bins, cfg.hop_size), (64, 200));
    assert_eq!(ckpt.task_cfg["_name"], "audio_caption");
}

#[test]
fn demo_shapes_without_ema() {
    let Some(path) = file("demo/demo_shapes.pt") else {
        return;
    };
    let ckpt = Checkpoint::open(&path, WeightsChoice::Auto).unwrap();
    assert!(!ckpt.has_ema);
    assert_eq!(ckpt.weights_source, WeightsSource::Model);
    assert_eq!(ckpt.weights.len(), 245);
    let err = Checkpoint::open(&path, WeightsChoice::Ema).unwrap_err();
    assert!(err.to_string().contains("no extra_state['ema']"), "{err}");
    assert_eq!(
        f32_at(&ckpt, "encoder.layers.0.fc1.weight", 3 * 128 + 4),
        0.002_336_502
    );
    assert_eq!(
        f32_at(&ckpt, "decoder.embed_tokens.weight", 5 * 128),
        -0.047_821_045
    );
    let tok = ckpt
        .weights
        .get("encoder.token_rp_bucket")
        .unwrap()
        .to_i64()
        .unwrap();
    assert_eq!(tok[1023 * 1024], 510);
    let cfg = ModelConfig::from_checkpoint(&ckpt).unwrap();
    assert_eq!(
        (cfg.embed_dim, cfg.ffn_dim, cfg.image_bucket_size),
        (128, 256, 8)
    );
    assert_eq!(
        (cfg.image_encoder_name.as_str(), cfg.resnet_type.as_str()),
        ("resnet", "resnet50")
    );
    assert_eq!(ckpt.task_cfg["_name"], "caption");
    let err = ckpt
        .weights
        .expect_shape("encoder.image_proj.weight", &[128, 2048])
        .unwrap_err();
    assert!(err.to_string().contains("[128, 1024]"), "{err}");
    let err = ckpt
        .weights
        .require(["encoder.embed_videos.conv1.weight", "encoder.version", "x"])
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("demo_shapes.pt") && msg.contains("embed_videos.conv1.weight, x"),
        "{msg}"
    );
}

/// The bucket formulas (docs/model.md §2.7) reproduce every stored integer buffer of the real
/// files.
#[test]
fn bucket_formulas_match_stored_buffers() {
    use unival_export::synth::buckets;
    for (rel, b) in [
        ("oracle/dev/checkpoints/micro_img_fp16.pt", 16),
        ("oracle/dev/checkpoints/micro_av_fp16.pt", 25),
        ("demo/demo_shapes.pt", 8),
    ] {
        let Some(path) = file(rel) else {
            return;
        };
        let ck = Checkpoint::open(&path, WeightsChoice::Model).unwrap();
        let cfg = ModelConfig::from_checkpoint(&ck).unwrap();
        assert_eq!(cfg.image_bucket_size, b);
        let tok = buckets::token_bucket_table(cfg.token_bucket_size, cfg.max_source_positions);
        let img = buckets::image_bucket_table(b);
        for side in ["encoder", "decoder"] {
            let get = |k: &str| {
                ck.weights
                    .get(&format!("{side}.{k}"))
                    .unwrap()
                    .to_i64()
                    .unwrap()
            };
            assert!(get("token_rp_bucket") == tok, "{rel} {side} token buckets");
            assert!(get("image_rp_bucket") == img, "{rel} {side} image buckets");
        }
        let idx = ck
            .weights
            .get("decoder.image_position_idx")
            .unwrap()
            .to_i64()
            .unwrap();
        assert_eq!(
            idx,
            buckets::image_position_idx(b, cfg.code_image_size),
            "{rel}"
        );
    }
}
