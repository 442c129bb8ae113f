//! The tokenizer on arbitrary text, and decoding arbitrary ids.

use std::sync::OnceLock;
use unival_runtime::text::{pre_caption, pre_question, Tokenizer};

/// The embedded tokenizer, built once per process (it takes tens of milliseconds).
pub(super) fn tokenizer() -> &'static Tokenizer {
    static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| Tokenizer::new().expect("the embedded tokenizer"))
}

/// Encodes `data` (as UTF-8, invalid bytes replaced) and decodes its bytes read as ids. Every id
/// must be in the vocabulary, decoding the encoding of plain text must give it back, and
/// decoding any ids must not fail.
pub fn run(data: &[u8]) {
    let tok = tokenizer();
    let text = String::from_utf8_lossy(data);
    let size = tok.vocab().size;
    if let Ok(ids) = tok.encode(&text) {
        assert!(
            ids.iter().all(|&id| (0..size).contains(&id)),
            "id out of the vocabulary"
        );
        if !ids.contains(&tok.vocab().unk) {
            assert_eq!(tok.decode(&ids), text, "decode(encode(text)) != text");
        }
    }
    let symbols = tok.encode_symbols(&text);
    assert!(symbols.iter().all(|&id| (0..size).contains(&id)));
    let ids: Vec<i64> = data
        .chunks(2)
        .map(|c| i64::from(i16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .collect();
    let _ = tok.decode(&ids);
    let _ = pre_caption(&text, 80);
    let _ = pre_question(&text, 80);
}
