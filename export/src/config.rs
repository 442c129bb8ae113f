//! The typed model configuration read from `cfg['model']` (docs/model.md §1.1–1.2).
//!
//! fairseq declares model flags with `argparse.SUPPRESS`, so a `store_true` flag that was not
//! passed is *absent* from the saved namespace and the `getattr(args, name, default)` of the
//! architecture function supplies the value. [`ModelConfig::from_args`] applies those defaults:
//! `unival_base_architecture` for the sizes when the arch is `unival_base`, and
//! `unival_large_architecture` for everything else (e.g. absent `no_scale_embedding` ⇒ `true`,
//! absent `scale_attn` ⇒ `false`). Values may be Python bools, ints, floats, strings or `None`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::checkpoint::{Checkpoint, CheckpointError};

/// Architecture hyper-parameters of a UnIVAL/OFA model, as the exporter needs them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// `_name`/`arch` of the namespace (`unival_base`), if recorded.
    pub arch: Option<String>,
    /// Model width D (`encoder_embed_dim`; the decoder must match: embeddings are shared).
    pub embed_dim: usize,
    /// FFN width (`encoder_ffn_embed_dim`; the decoder must match).
    pub ffn_dim: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Encoder attention heads.
    pub encoder_heads: usize,
    /// Decoder attention heads.
    pub decoder_heads: usize,
    /// Pre-LN encoder layers.
    pub encoder_normalize_before: bool,
    /// Pre-LN decoder layers.
    pub decoder_normalize_before: bool,
    /// LayerNorm on text embeddings (encoder and decoder).
    pub layernorm_embedding: bool,
    /// LayerNorm on perception embeddings.
    pub patch_layernorm_embedding: bool,
    /// Decoder LayerNorm for image codes (image generation only).
    pub code_layernorm_embedding: bool,
    /// Embedding scale 1.0 instead of √D.
    pub no_scale_embedding: bool,
    /// Type embedding (text row 0, perception row 1).
    pub add_type_embedding: bool,
    /// Per-modality type embedding rows (4-row table).
    pub add_mm_type_embedding: bool,
    /// Add absolute positions into the residual stream.
    pub entangle_position_embedding: bool,
    /// Disable the decoder's raw position addition (docs/model.md §2.10).
    pub disable_entangle: bool,
    /// NormFormer LN after attention (`attn_ln`, `self_attn_ln`, `cross_attn_ln`).
    pub scale_attn: bool,
    /// NormFormer LN inside the FFN (`ffn_layernorm`).
    pub scale_fc: bool,
    /// Per-head output scale `c_attn`.
    pub scale_heads: bool,
    /// Residual scale `w_resid`.
    pub scale_resids: bool,
    /// Query/key LayerNorm.
    pub qk_norm: bool,
    /// Attention temperature factor: scale = (D/H · factor)^-½.
    pub attn_scale_factor: f64,
    /// Text relative-position buckets (table rows 2·b − 1).
    pub token_bucket_size: usize,
    /// Perception grid side b: ids 1 + r·b + c, tables b²+1 and (2b−1)²+3 rows.
    pub image_bucket_size: usize,
    /// Image-generation code image size (decoder code window = size / 8).
    pub code_image_size: usize,
    /// Encoder positions (tables have this + 2 rows).
    pub max_source_positions: usize,
    /// Decoder positions (tables have this + 2 rows).
    pub max_target_positions: usize,
    /// `timm_resnet` (4 stages) or `resnet` (3-stage torchvision style).
    pub image_encoder_name: String,
    /// `resnet101`, ... (depth is read from the keys; this is only the recorded name).
    pub resnet_type: String,
    /// `all_resnext101` when a video encoder exists.
    pub video_encoder_name: Option<String>,
    /// `pann_cnn14` / `pann_cnn6` when an audio encoder exists.
    pub audio_encoder_name: Option<String>,
    /// Mel bins of the audio front-end.
    pub mel_bins: usize,
    /// STFT hop of the audio front-end, in samples.
    pub hop_size: usize,
    /// FrozenBatchNorm in the image CNN (same numbers at inference).
    pub freeze_resnet: bool,
    /// FrozenBatchNorm in the video CNN.
    pub freeze_resnet_video: bool,
    /// SyncBN helper with eps 1e-3 (never set in released models).
    pub sync_bn: bool,
    /// LayerNorm after `image_proj`.
    pub layernorm_image_embedding: bool,
    /// LayerNorm after `video_proj`.
    pub layernorm_video_embedding: bool,
    /// LayerNorm after `audio_proj`.
    pub layernorm_audio_embedding: bool,
    /// Random patch sampling threshold (a port warns instead of sampling).
    pub sample_patch_num: Option<usize>,
    /// Video patch sampling threshold.
    pub sample_video_patch_num: Option<usize>,
    /// Audio patch sampling threshold.
    pub sample_audio_patch_num: Option<usize>,
    /// CLS token in front of perception tokens.
    pub with_cls: bool,
    /// Bilinear position-table interpolation.
    pub interpolate_position: bool,
    /// Image size the position table was made for when interpolating.
    pub orig_patch_image_size: usize,
    /// FFN activation (`gelu`).
    pub activation_fn: String,
}

impl ModelConfig {
    /// Reads `cfg['model']` (as a JSON map), applying the architecture defaults for absent fields.
    pub fn from_args(args: &Map<String, Value>) -> Result<ModelConfig, CheckpointError> {
        Self::from_args_in(args, Path::new("cfg['model']"))
    }

    /// [`ModelConfig::from_args`] on a checkpoint's `model_args`, with the file in errors.
    pub fn from_checkpoint(ckpt: &Checkpoint) -> Result<ModelConfig, CheckpointError> {
        Self::from_args_in(&ckpt.model_args, &ckpt.path)
    }

    /// Head width D/H of the encoder.
    pub fn head_dim(&self) -> usize {
        self.embed_dim / self.encoder_heads.max(1)
    }

    /// Attention scaling (D/H · attn_scale_factor)^-½ (0.0883883 for the base model).
    pub fn attention_scale(&self) -> f64 {
        (self.embed_dim as f64 / self.encoder_heads.max(1) as f64 * self.attn_scale_factor)
            .powf(-0.5)
    }

    /// Rows of the text relative-position tables: 2·token_bucket_size − 1.
    pub fn token_rel_rows(&self) -> usize {
        2 * self.token_bucket_size - 1
    }

    /// Rows of the perception relative-position tables: (2b − 1)² + 3.
    pub fn image_rel_rows(&self) -> usize {
        let s = 2 * self.image_bucket_size - 1;
        s * s + 3
    }

    /// Rows of the perception absolute-position tables: b² + 1.
    pub fn image_pos_rows(&self) -> usize {
        self.image_bucket_size * self.image_bucket_size + 1
    }

    fn from_args_in(
        args: &Map<String, Value>,
        file: &Path,
    ) -> Result<ModelConfig, CheckpointError> {
        let r = Reader { args, file };
        let arch = r.opt_string("arch")?.or(r.opt_string("_name")?);
        let base = arch.as_deref() == Some("unival_base");
        let (d, f, l, h) = if base {
            (768, 3072, 6, 12)
        } else {
            (1024, 4096, 12, 16)
        };
        let embed_dim = r.usize("encoder_embed_dim", d)?;
        let ffn_dim = r.usize("encoder_ffn_embed_dim", f)?;
        r.same("decoder_embed_dim", embed_dim)?;
        r.same("decoder_ffn_embed_dim", ffn_dim)?;
        let encoder_heads = r.usize("encoder_attention_heads", h)?;
        let decoder_heads = r.usize("decoder_attention_heads", h)?;
        for (name, heads) in [
            ("encoder_attention_heads", encoder_heads),
            ("decoder_attention_heads", decoder_heads),
        ] {
            if heads == 0 || embed_dim % heads != 0 {
                return Err(r.bad(name, &format!("a divisor of embed dim {embed_dim}")));
            }
        }
        let token_bucket_size = r.usize("token_bucket_size", 256)?;
        let image_bucket_size = r.usize("image_bucket_size", 42)?;
        if token_bucket_size == 0 {
            return Err(r.bad("token_bucket_size", "a positive integer"));
        }
        if image_bucket_size == 0 {
            return Err(r.bad("image_bucket_size", "a positive integer"));
        }
        Ok(ModelConfig {
            arch,
            embed_dim,
            ffn_dim,
            encoder_layers: r.usize("encoder_layers", l)?,
            decoder_layers: r.usize("decoder_layers", l)?,
            encoder_heads,
            decoder_heads,
            encoder_normalize_before: r.bool("encoder_normalize_before", true)?,
            decoder_normalize_before: r.bool("decoder_normalize_before", true)?,
            layernorm_embedding: r.bool("layernorm_embedding", true)?,
            patch_layernorm_embedding: r.bool("patch_layernorm_embedding", true)?,
            code_layernorm_embedding: r.bool("code_layernorm_embedding", true)?,
            no_scale_embedding: r.bool("no_scale_embedding", true)?,
            add_type_embedding: r.bool("add_type_embedding", true)?,
            add_mm_type_embedding: r.bool("add_mm_type_embedding", false)?,
            entangle_position_embedding: r.bool("entangle_position_embedding", false)?,
            disable_entangle: r.bool("disable_entangle", false)?,
            scale_attn: r.bool("scale_attn", false)?,
            scale_fc: r.bool("scale_fc", false)?,
            scale_heads: r.bool("scale_heads", false)?,
            scale_resids: r.bool("scale_resids", false)?,
            qk_norm: r.bool("qk_norm", false)?,
            attn_scale_factor: r.f64("attn_scale_factor", 2.0)?,
            token_bucket_size,
            image_bucket_size,
            code_image_size: r.usize("code_image_size", 128)?,
            max_source_positions: r.usize("max_source_positions", 1024)?,
            max_target_positions: r.usize("max_target_positions", 1024)?,
            image_encoder_name: r
                .opt_string("image_encoder_name")?
                .unwrap_or_else(|| "resnet".into()),
            resnet_type: r
                .opt_string("resnet_type")?
                .unwrap_or_else(|| if base { "resnet101" } else { "resnet152" }.into()),
            video_encoder_name: r.opt_string("video_encoder_name")?,
            audio_encoder_name: r.opt_string("audio_encoder_name")?,
            mel_bins: r.usize("mel_bins", 64)?,
            hop_size: r.usize("hop_size", 480)?,
            freeze_resnet: r.bool("freeze_resnet", false)?,
            freeze_resnet_video: r.bool("freeze_resnet_video", false)?,
            sync_bn: r.bool("sync_bn", false)?,
            layernorm_image_embedding: r.bool("layernorm_image_embedding", false)?,
            layernorm_video_embedding: r.bool("layernorm_video_embedding", false)?,
            layernorm_audio_embedding: r.bool("layernorm_audio_embedding", false)?,
            sample_patch_num: r.opt_usize("sample_patch_num")?,
            sample_video_patch_num: r.opt_usize("sample_video_patch_num")?,
            sample_audio_patch_num: r.opt_usize("sample_audio_patch_num")?,
            with_cls: r.bool("with_cls", false)?,
            interpolate_position: r.bool("interpolate_position", false)?,
            orig_patch_image_size: r.usize("orig_patch_image_size", 256)?,
            activation_fn: r
                .opt_string("activation_fn")?
                .unwrap_or_else(|| "gelu".into()),
        })
    }
}

/// Typed field access with Python-value leniency and errors naming the field.
struct Reader<'a> {
    args: &'a Map<String, Value>,
    file: &'a Path,
}

impl Reader<'_> {
    fn bad(&self, field: &str, expected: &str) -> CheckpointError {
        CheckpointError::BadConfig {
            file: PathBuf::from(self.file),
            field: field.to_string(),
            expected: expected.to_string(),
            found: self
                .args
                .get(field)
                .map_or("<absent>".into(), Value::to_string),
        }
    }

    /// The field, or `None` when absent or Python `None`.
    fn get(&self, field: &str) -> Option<&Value> {
        self.args.get(field).filter(|v| !v.is_null())
    }

    fn bool(&self, field: &str, default: bool) -> Result<bool, CheckpointError> {
        match self.get(field) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(self.bad(field, "a boolean")),
        }
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>, CheckpointError> {
        let Some(v) = self.get(field) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        n.and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| self.bad(field, "a non-negative integer"))
    }

    fn usize(&self, field: &str, default: usize) -> Result<usize, CheckpointError> {
        Ok(self.opt_usize(field)?.unwrap_or(default))
    }

    fn same(&self, field: &str, expected: usize) -> Result<(), CheckpointError> {
        match self.opt_usize(field)? {
            Some(v) if v != expected => Err(self.bad(
                field,
                &format!("{expected} (the encoder's value; embeddings are shared)"),
            )),
            _ => Ok(()),
        }
    }

    fn f64(&self, field: &str, default: f64) -> Result<f64, CheckpointError> {
        match self.get(field) {
            None => Ok(default),
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| self.bad(field, "a number")),
            Some(Value::String(s)) => s.trim().parse().map_err(|_| self.bad(field, "a number")),
            Some(_) => Err(self.bad(field, "a number")),
        }
    }

    fn opt_string(&self, field: &str) -> Result<Option<String>, CheckpointError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.bad(field, "a string or None")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn absent_flags_take_architecture_defaults() {
        let c = ModelConfig::from_args(&map(json!({"arch": "unival_base"}))).unwrap();
        assert_eq!(
            (c.embed_dim, c.ffn_dim, c.encoder_layers, c.encoder_heads),
            (768, 3072, 6, 12)
        );
        assert!(c.no_scale_embedding && c.layernorm_embedding && c.add_type_embedding);
        assert!(!c.scale_attn && !c.disable_entangle && !c.qk_norm);
        assert_eq!(c.attn_scale_factor, 2.0);
        assert_eq!((c.token_bucket_size, c.image_bucket_size), (256, 42));
        assert_eq!(
            (c.max_source_positions, c.max_target_positions),
            (1024, 1024)
        );
        assert_eq!(c.resnet_type, "resnet101");
        assert_eq!(c.image_encoder_name, "resnet");
        assert_eq!(c.video_encoder_name, None);
        assert!((c.attention_scale() - 0.088_388_347_648).abs() < 1e-12);
        assert_eq!(
            (c.token_rel_rows(), c.image_rel_rows(), c.image_pos_rows()),
            (511, 6892, 1765)
        );
        let large = ModelConfig::from_args(&Map::new()).unwrap();
        assert_eq!(
            (
                large.embed_dim,
                large.encoder_layers,
                large.resnet_type.as_str()
            ),
            (1024, 12, "resnet152")
        );
    }

    #[test]
    fn python_values_are_accepted_leniently() {
        let c = ModelConfig::from_args(&map(json!({
            "encoder_embed_dim": 64, "decoder_embed_dim": 64, "encoder_attention_heads": 4,
            "decoder_attention_heads": 4, "scale_attn": 1, "scale_fc": "True",
            "attn_scale_factor": 2, "sample_patch_num": null, "image_bucket_size": 16.0,
            "video_encoder_name": "all_resnext101", "audio_encoder_name": null,
        })))
        .unwrap();
        assert!(c.scale_attn && c.scale_fc);
        assert_eq!(c.sample_patch_num, None);
        assert_eq!(c.image_bucket_size, 16);
        assert_eq!(c.video_encoder_name.as_deref(), Some("all_resnext101"));
        assert_eq!(c.audio_encoder_name, None);
        assert_eq!(c.head_dim(), 16);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = ModelConfig::from_args(&map(json!({"scale_attn": "maybe"}))).unwrap_err();
        assert!(e.to_string().contains("scale_attn"), "{e}");
        let e = ModelConfig::from_args(&map(json!({"encoder_layers": -1}))).unwrap_err();
        assert!(e.to_string().contains("encoder_layers"), "{e}");
        let e = ModelConfig::from_args(&map(
            json!({"encoder_embed_dim": 64, "decoder_embed_dim": 32}),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("decoder_embed_dim"), "{e}");
        let e = ModelConfig::from_args(&map(json!({"encoder_embed_dim": 64, "encoder_attention_heads": 5, "decoder_attention_heads": 4})))
            .unwrap_err();
        assert!(e.to_string().contains("encoder_attention_heads"), "{e}");
    }

    #[test]
    fn serializes_for_the_manifest() {
        let c = ModelConfig::from_args(&map(json!({"arch": "unival_base"}))).unwrap();
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["embed_dim"], 768);
        let back: ModelConfig = serde_json::from_value(j).unwrap();
        assert_eq!(back, c);
    }
}
