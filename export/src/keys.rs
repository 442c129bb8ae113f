//! Checkpoint keys the exporter deliberately does not turn into graph weights, with the reason.
//! Export fails on any other key it did not consume (ARCHITECTURE.md §6.3), so a checkpoint with
//! parts this exporter does not understand is never silently half-exported.

use unival_manifest::task::Modality;

/// Reason shared by the image-generation-only decoder parts.
const IMAGE_GEN: &str = "image generation only (docs/model.md §2.7)";
/// Reason shared by the bucket buffers.
const RECOMPUTED: &str = "recomputed from the bucket formula (docs/model.md §2.7)";

/// `(key pattern, reason)`. A pattern ending in `.` matches every key with that prefix;
/// otherwise the key must match exactly.
pub const IGNORED: &[(&str, &str)] = &[
    ("encoder.version", "fairseq version buffer"),
    ("decoder.version", "fairseq version buffer"),
    ("encoder.token_rp_bucket", RECOMPUTED),
    ("encoder.image_rp_bucket", RECOMPUTED),
    ("decoder.token_rp_bucket", RECOMPUTED),
    ("decoder.image_rp_bucket", IMAGE_GEN),
    ("decoder.image_position_idx", IMAGE_GEN),
    ("decoder.code_layernorm_embedding.", IMAGE_GEN),
    ("decoder.embed_image_positions.", IMAGE_GEN),
    ("decoder.image_pos_ln.", IMAGE_GEN),
    ("decoder.image_rel_pos_table_list.", IMAGE_GEN),
    ("decoder.output_projection.", "tied to the token embedding"),
    (
        "encoder.embed_images.fc.",
        "timm classifier head, unused (docs/model.md §2.2)",
    ),
    (
        "encoder.embed_images.global_pool.",
        "timm classifier head, unused (docs/model.md §2.2)",
    ),
    (
        "encoder.embed_audios.logmel_extractor.",
        "mel filterbank: rebuilt with librosa's formula, as the original does on load",
    ),
];

/// Key prefixes of each perception branch: left out of a bundle that does not serve that
/// modality (a captioning bundle has no use for the video backbone a checkpoint carries).
pub const MODALITY_KEYS: &[(Modality, &[&str])] = &[
    (
        Modality::Image,
        &[
            "encoder.embed_images.",
            "encoder.image_proj.",
            "encoder.embed_image_positions.",
            "encoder.layernorm_image_embedding.",
        ],
    ),
    (
        Modality::Video,
        &[
            "encoder.embed_videos.",
            "encoder.video_proj.",
            "encoder.embed_video_positions.",
            "encoder.layernorm_video_embedding.",
        ],
    ),
    (
        Modality::Audio,
        &[
            "encoder.embed_audios.",
            "encoder.audio_proj.",
            "encoder.embed_audio_positions.",
            "encoder.layernorm_audio_embedding.",
        ],
    ),
];

/// Whether `key` is deliberately left out of a bundle serving the `exported` modalities.
pub fn is_ignored_for(key: &str, exported: &[Modality]) -> bool {
    let other_branch = MODALITY_KEYS
        .iter()
        .any(|(m, prefixes)| !exported.contains(m) && prefixes.iter().any(|p| key.starts_with(p)));
    other_branch || is_ignored(key)
}

/// Whether `key` is deliberately left out of every bundle.
pub fn is_ignored(key: &str) -> bool {
    IGNORED.iter().any(|(pattern, _)| {
        if pattern.ends_with('.') {
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
        assert!(is_ignored("encoder.version"));
        assert!(!is_ignored("encoder.version2"));
        assert!(!is_ignored("decoder.layers.0.fc1.weight"));
        assert!(is_ignored("encoder.embed_images.bn1.num_batches_tracked"));
    }

    #[test]
    fn other_modalities_are_ignored_only_when_not_exported() {
        let key = "encoder.embed_videos.layer1.0.conv1.weight";
        assert!(is_ignored_for(key, &[Modality::Image]));
        assert!(!is_ignored_for(key, &[Modality::Video]));
        assert!(!is_ignored(key));
    }
}
