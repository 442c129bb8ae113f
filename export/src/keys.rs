//! Checkpoint keys the exporter deliberately does not turn into graph weights, with the reason.
//! Export fails on any other key it did not consume (STYLE.md rule 5), so a checkpoint with
//! parts this exporter does not understand is never silently half-exported.

/// `(key pattern, reason)`. A pattern ending in `.` or `_` matches every key with that prefix;
/// otherwise the key must match exactly.
pub const IGNORED: &[(&str, &str)] = &[
    ("encoder.version", "fairseq version buffer"),
    ("decoder.version", "fairseq version buffer"),
    (
        "encoder.token_rp_bucket",
        "recomputed from the bucket formula (spec §2.7)",
    ),
    (
        "encoder.image_rp_bucket",
        "recomputed from the bucket formula (spec §2.7)",
    ),
    (
        "decoder.token_rp_bucket",
        "recomputed from the bucket formula (spec §2.7)",
    ),
    (
        "decoder.image_rp_bucket",
        "image generation only (spec §2.7)",
    ),
    (
        "decoder.image_position_idx",
        "image generation only (spec §2.7)",
    ),
    (
        "decoder.code_layernorm_embedding.",
        "image generation only (spec §2.7)",
    ),
    (
        "decoder.embed_image_positions.",
        "image generation only (spec §2.7)",
    ),
    ("decoder.image_pos_ln.", "image generation only (spec §2.7)"),
    (
        "decoder.image_rel_pos_table_list.",
        "image generation only (spec §2.7)",
    ),
    ("decoder.output_projection.", "tied to the token embedding"),
    (
        "encoder.embed_images.fc.",
        "timm classifier head, unused (spec §2.2)",
    ),
    (
        "encoder.embed_images.global_pool.",
        "timm classifier head, unused (spec §2.2)",
    ),
    (
        "encoder.embed_videos.",
        "video backbone: not part of an image-task bundle",
    ),
    (
        "encoder.embed_video_positions.",
        "video backbone: not part of an image-task bundle",
    ),
    (
        "encoder.video_proj.",
        "video backbone: not part of an image-task bundle",
    ),
    (
        "encoder.layernorm_video_embedding.",
        "video backbone: not part of an image-task bundle",
    ),
    (
        "encoder.embed_audios.",
        "audio backbone: not part of an image-task bundle",
    ),
    (
        "encoder.embed_audio_positions.",
        "audio backbone: not part of an image-task bundle",
    ),
    (
        "encoder.audio_proj.",
        "audio backbone: not part of an image-task bundle",
    ),
    (
        "encoder.layernorm_audio_embedding.",
        "audio backbone: not part of an image-task bundle",
    ),
];

/// Whether `key` is deliberately left out of the graphs.
pub fn is_ignored(key: &str) -> bool {
    IGNORED.iter().any(|(pattern, _)| {
        if pattern.ends_with('.') || pattern.ends_with('_') {
            key.starts_with(pattern)
        } else {
            key == *pattern
        }
    }) || key.ends_with(".num_batches_tracked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_exact_patterns() {
        assert!(is_ignored("encoder.embed_videos.layer1.0.conv1.weight"));
        assert!(is_ignored("encoder.version"));
        assert!(!is_ignored("encoder.version2"));
        assert!(!is_ignored("decoder.layers.0.fc1.weight"));
        assert!(is_ignored("encoder.embed_images.bn1.num_batches_tracked"));
    }
}
