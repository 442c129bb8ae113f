//! Enumerates every state-dict entry (name, shape, how to initialise it) of a UnIVAL model from
//! its configuration (docs/model.md §3.1): the transformer from [`ModelConfig`] and its flags, the
//! image CNN (timm 4-stage or torchvision-style 3-stage ResNet) and the optional ResNeXt3D video
//! CNN from explicit width/depth specs. Registration order follows the spec's table.

use crate::config::ModelConfig;

/// How a synthetic tensor is filled.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// N(0, std²) (linear weights std = fan_in^-½, embeddings D^-½).
    Normal(f32),
    /// Conv weights, He-normal: N(0, 2/fan_in).
    HeNormal(usize),
    /// `center + N(0, noise²)`: LayerNorm/BN weights, `c_attn`.
    Around(f32, f32),
    /// BN running mean N(0, 0.1²).
    RunningMean,
    /// BN running variance U(0.5, 1.5).
    RunningVar,
    /// int64 zero scalar (`num_batches_tracked`).
    Counter,
    /// fp `[3.0]` (`version` buffers).
    Version,
    /// `token_rp_bucket` for (bucket size, max positions).
    TokenBuckets(usize, usize),
    /// `image_rp_bucket` for bucket size b.
    ImageBuckets(usize),
    /// `decoder.image_position_idx` for (b, code_image_size).
    ImagePositionIdx(usize, usize),
}

impl Init {
    /// Whether the entry is an int64 buffer.
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            Init::Counter
                | Init::TokenBuckets(..)
                | Init::ImageBuckets(_)
                | Init::ImagePositionIdx(..)
        )
    }

    /// Whether the entry is a learnable parameter (perturbed in EMA copies).
    pub fn is_parameter(&self) -> bool {
        matches!(self, Init::Normal(_) | Init::HeNormal(_) | Init::Around(..))
    }
}

/// One state-dict entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Full key, e.g. `encoder.layers.0.fc1.weight`.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Fill rule.
    pub init: Init,
}

/// Which image backbone layout `encoder.embed_images` has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageCnnKind {
    /// `timm_resnet`: 4 stages and an (unused) `fc` head.
    Timm,
    /// `resnet`: torchvision-style, 3 stages, no head (`models/unival/resnet.py`).
    ThreeStage,
}

/// Widths and depths of the image ResNet (bottleneck blocks).
#[derive(Clone, Debug, PartialEq)]
pub struct ResNetSpec {
    /// Layout.
    pub kind: ImageCnnKind,
    /// Stem output channels (64 in ResNet-101).
    pub stem: usize,
    /// Bottleneck widths per stage (`[64, 128, 256, 512]`).
    pub planes: Vec<usize>,
    /// Blocks per stage (`[3, 4, 23, 3]`).
    pub blocks: Vec<usize>,
    /// Output = planes · expansion (4).
    pub expansion: usize,
    /// Classes of the unused `fc` head (timm only).
    pub fc_classes: usize,
}

impl ResNetSpec {
    /// Channels of the last stage (the `image_proj` input).
    pub fn out_channels(&self) -> usize {
        self.planes.last().copied().unwrap_or(self.stem) * self.expansion
    }
}

/// Widths and depths of the ResNeXt3D video backbone.
#[derive(Clone, Debug, PartialEq)]
pub struct ResNeXt3dSpec {
    /// Stem output channels (64).
    pub stem: usize,
    /// Stage widths (`[128, 256, 512, 1024]`); mid = cardinality · (planes / 32).
    pub planes: Vec<usize>,
    /// Blocks per stage.
    pub blocks: Vec<usize>,
    /// Groups of the 3×3×3 convolution (32).
    pub cardinality: usize,
    /// Output = planes · expansion (2).
    pub expansion: usize,
}

impl ResNeXt3dSpec {
    /// Channels of the last stage (the `video_proj` input).
    pub fn out_channels(&self) -> usize {
        self.planes.last().copied().unwrap_or(self.stem) * self.expansion
    }
}

/// Everything that determines the key set.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchSpec {
    /// Transformer hyper-parameters and flags.
    pub model: ModelConfig,
    /// Vocabulary size (59457).
    pub vocab: usize,
    /// Image CNN.
    pub image: ResNetSpec,
    /// Video CNN, if any.
    pub video: Option<ResNeXt3dSpec>,
}

/// Collects entries under a prefix.
struct Keys {
    out: Vec<ParamSpec>,
}

impl Keys {
    fn add(&mut self, name: String, shape: &[usize], init: Init) {
        self.out.push(ParamSpec {
            name,
            shape: shape.to_vec(),
            init,
        });
    }

    fn linear(&mut self, p: &str, i: usize, o: usize) {
        self.add(
            format!("{p}.weight"),
            &[o, i],
            Init::Normal((i as f32).powf(-0.5)),
        );
        self.add(format!("{p}.bias"), &[o], Init::Normal(0.02));
    }

    fn ln(&mut self, p: &str, d: usize) {
        self.add(format!("{p}.weight"), &[d], Init::Around(1.0, 0.02));
        self.add(format!("{p}.bias"), &[d], Init::Normal(0.02));
    }

    /// BatchNorm; `gamma` is the centre of the weights (small for the last BN of a residual
    /// branch, so deep random nets keep O(1) activations).
    fn bn(&mut self, p: &str, c: usize, gamma: f32) {
        self.add(format!("{p}.weight"), &[c], Init::Around(gamma, 0.02));
        self.add(format!("{p}.bias"), &[c], Init::Normal(0.02));
        self.add(format!("{p}.running_mean"), &[c], Init::RunningMean);
        self.add(format!("{p}.running_var"), &[c], Init::RunningVar);
        self.add(format!("{p}.num_batches_tracked"), &[], Init::Counter);
    }

    fn conv(&mut self, p: &str, shape: &[usize]) {
        let fan_in = shape.iter().skip(1).product();
        self.add(format!("{p}.weight"), shape, Init::HeNormal(fan_in));
    }

    fn attention(&mut self, p: &str, d: usize, heads: usize, scale_heads: bool) {
        if scale_heads {
            self.add(format!("{p}.c_attn"), &[heads], Init::Around(1.0, 0.02));
        }
        for proj in ["k_proj", "v_proj", "q_proj", "out_proj"] {
            self.linear(&format!("{p}.{proj}"), d, d);
        }
    }
}

/// Every state-dict entry of the model described by `spec`, in registration order.
pub fn enumerate(spec: &ArchSpec) -> Vec<ParamSpec> {
    let m = &spec.model;
    let d = m.embed_dim;
    let mut k = Keys { out: Vec::new() };
    let emb_std = (d as f32).powf(-0.5);
    let pos_rows = m.image_pos_rows();

    k.add("encoder.version".into(), &[1], Init::Version);
    k.add(
        "encoder.embed_tokens.weight".into(),
        &[spec.vocab, d],
        Init::Normal(emb_std),
    );
    if m.layernorm_embedding {
        k.ln("encoder.layernorm_embedding", d);
    }
    if m.add_type_embedding {
        let rows = if m.add_mm_type_embedding { 4 } else { 2 };
        k.add(
            "encoder.type_embedding.weight".into(),
            &[rows, d],
            Init::Normal(emb_std),
        );
    }
    image_cnn(&mut k, "encoder.embed_images", &spec.image);
    k.linear("encoder.image_proj", spec.image.out_channels(), d);
    if m.layernorm_image_embedding {
        k.ln("encoder.layernorm_image_embedding", d);
    }
    if let Some(v) = &spec.video {
        video_cnn(&mut k, "encoder.embed_videos", v);
        k.add(
            "encoder.embed_video_positions.weight".into(),
            &[pos_rows, d],
            Init::Normal(emb_std),
        );
        k.linear("encoder.video_proj", v.out_channels(), d);
        if m.layernorm_video_embedding {
            k.ln("encoder.layernorm_video_embedding", d);
        }
    }
    if m.patch_layernorm_embedding {
        k.ln("encoder.patch_layernorm_embedding", d);
    }
    k.add(
        "encoder.embed_positions.weight".into(),
        &[m.max_source_positions + 2, d],
        Init::Normal(emb_std),
    );
    k.add(
        "encoder.embed_image_positions.weight".into(),
        &[pos_rows, d],
        Init::Normal(emb_std),
    );
    k.ln("encoder.pos_ln", d);
    k.ln("encoder.image_pos_ln", d);
    k.linear("encoder.pos_q_linear", d, d);
    k.linear("encoder.pos_k_linear", d, d);
    for i in 0..m.encoder_layers {
        let p = format!("encoder.layers.{i}");
        k.attention(&format!("{p}.self_attn"), d, m.encoder_heads, m.scale_heads);
        k.ln(&format!("{p}.self_attn_layer_norm"), d);
        k.linear(&format!("{p}.fc1"), d, m.ffn_dim);
        k.linear(&format!("{p}.fc2"), m.ffn_dim, d);
        if m.scale_attn {
            k.ln(&format!("{p}.attn_ln"), d);
        }
        if m.scale_fc {
            k.ln(&format!("{p}.ffn_layernorm"), m.ffn_dim);
        }
        if m.scale_resids {
            k.add(format!("{p}.w_resid"), &[d], Init::Around(1.0, 0.0));
        }
        k.ln(&format!("{p}.final_layer_norm"), d);
    }
    if m.encoder_normalize_before {
        k.ln("encoder.layer_norm", d);
    }
    rel_tables(&mut k, "encoder", m.encoder_layers, m.encoder_heads, m);
    k.add(
        "encoder.token_rp_bucket".into(),
        &[m.max_source_positions, m.max_source_positions],
        Init::TokenBuckets(m.token_bucket_size, m.max_source_positions),
    );
    k.add(
        "encoder.image_rp_bucket".into(),
        &[pos_rows, pos_rows],
        Init::ImageBuckets(m.image_bucket_size),
    );

    k.add("decoder.version".into(), &[1], Init::Version);
    k.add(
        "decoder.embed_tokens.weight".into(),
        &[spec.vocab, d],
        Init::Normal(emb_std),
    );
    if m.layernorm_embedding {
        k.ln("decoder.layernorm_embedding", d);
    }
    k.add(
        "decoder.embed_positions.weight".into(),
        &[m.max_target_positions + 2, d],
        Init::Normal(emb_std),
    );
    k.add(
        "decoder.embed_image_positions.weight".into(),
        &[pos_rows, d],
        Init::Normal(emb_std),
    );
    k.ln("decoder.pos_ln", d);
    k.ln("decoder.image_pos_ln", d);
    for lin in [
        "self_pos_q_linear",
        "self_pos_k_linear",
        "cross_pos_q_linear",
        "cross_pos_k_linear",
    ] {
        k.linear(&format!("decoder.{lin}"), d, d);
    }
    if m.code_layernorm_embedding {
        k.ln("decoder.code_layernorm_embedding", d);
    }
    for i in 0..m.decoder_layers {
        let p = format!("decoder.layers.{i}");
        k.attention(&format!("{p}.self_attn"), d, m.decoder_heads, m.scale_heads);
        if m.scale_attn {
            k.ln(&format!("{p}.self_attn_ln"), d);
            k.ln(&format!("{p}.cross_attn_ln"), d);
        }
        k.ln(&format!("{p}.self_attn_layer_norm"), d);
        k.attention(
            &format!("{p}.encoder_attn"),
            d,
            m.decoder_heads,
            m.scale_heads,
        );
        k.ln(&format!("{p}.encoder_attn_layer_norm"), d);
        if m.scale_fc {
            k.ln(&format!("{p}.ffn_layernorm"), m.ffn_dim);
        }
        k.linear(&format!("{p}.fc1"), d, m.ffn_dim);
        k.linear(&format!("{p}.fc2"), m.ffn_dim, d);
        if m.scale_resids {
            k.add(format!("{p}.w_resid"), &[d], Init::Around(1.0, 0.0));
        }
        k.ln(&format!("{p}.final_layer_norm"), d);
    }
    if m.decoder_normalize_before {
        k.ln("decoder.layer_norm", d);
    }
    k.add(
        "decoder.output_projection.weight".into(),
        &[spec.vocab, d],
        Init::Normal(emb_std),
    );
    rel_tables(&mut k, "decoder", m.decoder_layers, m.decoder_heads, m);
    k.add(
        "decoder.token_rp_bucket".into(),
        &[m.max_target_positions, m.max_target_positions],
        Init::TokenBuckets(m.token_bucket_size, m.max_target_positions),
    );
    k.add(
        "decoder.image_rp_bucket".into(),
        &[pos_rows, pos_rows],
        Init::ImageBuckets(m.image_bucket_size),
    );
    let idx_len = super::buckets::image_position_idx(m.image_bucket_size, m.code_image_size).len();
    k.add(
        "decoder.image_position_idx".into(),
        &[idx_len],
        Init::ImagePositionIdx(m.image_bucket_size, m.code_image_size),
    );
    k.out
}

fn rel_tables(k: &mut Keys, side: &str, layers: usize, heads: usize, m: &ModelConfig) {
    for i in 0..layers {
        k.add(
            format!("{side}.token_rel_pos_table_list.{i}.weight"),
            &[m.token_rel_rows(), heads],
            Init::Normal(0.1),
        );
    }
    for i in 0..layers {
        k.add(
            format!("{side}.image_rel_pos_table_list.{i}.weight"),
            &[m.image_rel_rows(), heads],
            Init::Normal(0.1),
        );
    }
}

/// Bottleneck ResNet (`timm_resnet.py` / `resnet.py`): stem, stages, optional `fc`.
fn image_cnn(k: &mut Keys, p: &str, r: &ResNetSpec) {
    k.conv(&format!("{p}.conv1"), &[r.stem, 3, 7, 7]);
    k.bn(&format!("{p}.bn1"), r.stem, 1.0);
    let mut inp = r.stem;
    for (s, (&planes, &blocks)) in r.planes.iter().zip(&r.blocks).enumerate() {
        let out = planes * r.expansion;
        for b in 0..blocks {
            let q = format!("{p}.layer{}.{b}", s + 1);
            let cin = if b == 0 { inp } else { out };
            k.conv(&format!("{q}.conv1"), &[planes, cin, 1, 1]);
            k.bn(&format!("{q}.bn1"), planes, 1.0);
            k.conv(&format!("{q}.conv2"), &[planes, planes, 3, 3]);
            k.bn(&format!("{q}.bn2"), planes, 1.0);
            k.conv(&format!("{q}.conv3"), &[out, planes, 1, 1]);
            k.bn(&format!("{q}.bn3"), out, 0.25);
            let stride = if s == 0 { 1 } else { 2 };
            if b == 0 && (stride != 1 || cin != out) {
                k.conv(&format!("{q}.downsample.0"), &[out, cin, 1, 1]);
                k.bn(&format!("{q}.downsample.1"), out, 1.0);
            }
        }
        inp = out;
    }
    if r.kind == ImageCnnKind::Timm {
        k.linear(&format!("{p}.fc"), inp, r.fc_classes);
    }
}

/// ResNeXt3D (`encoders/resnext3d.py`, shortcut B): 5-D convolutions, grouped 3×3×3.
fn video_cnn(k: &mut Keys, p: &str, v: &ResNeXt3dSpec) {
    k.conv(&format!("{p}.conv1"), &[v.stem, 3, 7, 7, 7]);
    k.bn(&format!("{p}.bn1"), v.stem, 1.0);
    let mut inp = v.stem;
    for (s, (&planes, &blocks)) in v.planes.iter().zip(&v.blocks).enumerate() {
        let mid = v.cardinality * (planes / 32).max(1);
        let out = planes * v.expansion;
        for b in 0..blocks {
            let q = format!("{p}.layer{}.{b}", s + 1);
            let cin = if b == 0 { inp } else { out };
            k.conv(&format!("{q}.conv1"), &[mid, cin, 1, 1, 1]);
            k.bn(&format!("{q}.bn1"), mid, 1.0);
            k.conv(&format!("{q}.conv2"), &[mid, mid / v.cardinality, 3, 3, 3]);
            k.bn(&format!("{q}.bn2"), mid, 1.0);
            k.conv(&format!("{q}.conv3"), &[out, mid, 1, 1, 1]);
            k.bn(&format!("{q}.bn3"), out, 0.25);
            let stride = if s == 0 { 1 } else { 2 };
            if b == 0 && (stride != 1 || cin != out) {
                k.conv(&format!("{q}.downsample.0"), &[out, cin, 1, 1, 1]);
                k.bn(&format!("{q}.downsample.1"), out, 1.0);
            }
        }
        inp = out;
    }
}
