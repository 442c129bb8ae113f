//! Names of graph inputs and outputs. The exporter wires graphs with them and the runtime binds
//! tensors by them; neither side spells a name anywhere else.

/// Perception graph input: pixels `[batch, 3, height, width]` f32, normalised.
pub const PATCH_IMAGES: &str = "patch_images";
/// Perception graph input: video `[batch, 3, frames, height, width]` f32, normalised.
pub const PATCH_VIDEOS: &str = "patch_videos";
/// Perception graph input: log-mel `[batch, 1, frames, mel_bins]` f32.
pub const LOG_MEL: &str = "log_mel";
/// Perception output: raw CNN features before the projection, `[batch, channels, ...grid]`.
pub const BACKBONE_OUT: &str = "backbone_out";
/// Perception output: projected patch features `[batch, patches, dim]`.
pub const PATCH_EMBEDS: &str = "patch_embeds";
/// Perception output: the modality's absolute position rows `[batch, patches, dim]` (not LN-ed).
pub const PATCH_POS_EMBEDS: &str = "patch_pos_embeds";
/// Perception output: perception position ids `[patches]` i64 (`1 + r·b + c`).
pub const PATCH_POS_IDS: &str = "patch_pos_ids";

/// Encoder input: text ids `[batch, src_len]` i64, BOS … EOS, right-padded with PAD.
pub const SRC_TOKENS: &str = "src_tokens";
/// Encoder output: `[batch, seq, dim]` after the final LayerNorm (perception tokens first).
pub const ENCODER_OUT: &str = "encoder_out";
/// Encoder output / decoder input: `[batch, seq]` bool, true at padding.
pub const ENCODER_PADDING_MASK: &str = "encoder_padding_mask";
/// Encoder output: LN-ed position embeddings `[batch, seq, dim]` (for parity checks).
pub const POSITION_EMBEDDINGS: &str = "position_embeddings";
/// Encoder output / decoder input: `cross_pos_k_linear(position_embeddings)` split into heads,
/// `[batch, heads, seq, head_dim]`.
pub const CROSS_POS_K: &str = "cross_pos_k";

/// Decoder input: new token ids `[n, t]` i64.
pub const TOKENS: &str = "tokens";
/// Decoder input: number of tokens already in the self-attention cache, scalar i64.
pub const PAST_LEN: &str = "past_len";
/// Decoder input: beam order `[n]` i64. Every layer's `past_self_k/v` is gathered by it on
/// axis 0 before use, so row `i` of the step's cache is old row `beam_order[i]` (the search's
/// reorder, done where the cache lives instead of on the host); the identity `0..n` when rows
/// keep their order. Required since manifest format 2.
pub const BEAM_ORDER: &str = "beam_order";
/// Decoder input: the vocabulary rows to score, `[k]` i64 (sorted ids). Empty (`k = 0`) scores
/// every id (`logits [n, t, vocab]`); otherwise `logits [n, t, k]` holds the logits of exactly
/// these ids, and the graph computes only those rows of the output projection (constrained
/// steps: the answer trie, docs/model.md §6.3). Required since manifest format 2.
pub const VOCAB_ROWS: &str = "vocab_rows";
/// Decoder output: `[n, t, vocab_out]` pre-softmax logits, `vocab_out` = vocabulary size, or
/// `k` when [`VOCAB_ROWS`] names `k > 0` ids.
pub const LOGITS: &str = "logits";

/// Cross-attention keys of decoder layer `l`, `[batch, heads, seq, head_dim]`.
pub fn cross_k(l: usize) -> String {
    format!("cross_k_{l}")
}
/// Cross-attention values of decoder layer `l`, `[batch, heads, seq, head_dim]`.
pub fn cross_v(l: usize) -> String {
    format!("cross_v_{l}")
}
/// Self-attention key cache fed to decoder layer `l`, `[n, heads, past, head_dim]`.
pub fn past_self_k(l: usize) -> String {
    format!("past_self_k_{l}")
}
/// Self-attention value cache fed to decoder layer `l`, `[n, heads, past, head_dim]`.
pub fn past_self_v(l: usize) -> String {
    format!("past_self_v_{l}")
}
/// Updated key cache of layer `l`, `[n, heads, past + t, head_dim]`.
pub fn present_self_k(l: usize) -> String {
    format!("present_self_k_{l}")
}
/// Updated value cache of layer `l`, `[n, heads, past + t, head_dim]`.
pub fn present_self_v(l: usize) -> String {
    format!("present_self_v_{l}")
}

/// Graph names as they appear in `manifest.graphs`.
pub mod graph {
    pub const IMAGE_ENCODER: &str = "image_encoder";
    pub const VIDEO_ENCODER: &str = "video_encoder";
    pub const AUDIO_ENCODER: &str = "audio_encoder";
    pub const ENCODER: &str = "encoder";
    pub const DECODER: &str = "decoder";
}
