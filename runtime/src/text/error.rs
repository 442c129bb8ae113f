//! Errors of the text module: what was wrong in which asset, with the line or token at fault.

use unival_manifest::vocab::VocabInfo;

/// Why the tokenizer could not be built or could not encode a text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// `encoder.json` is not a JSON object of token → id.
    #[error("encoder.json: not a JSON object of token -> id: {message}")]
    EncoderJson { message: String },
    /// An id in `encoder.json` is out of `0..vocab_size` or used twice.
    #[error("encoder.json: token {token:?} has id {id}, out of range or duplicated (vocab size {vocab_size})")]
    EncoderId {
        token: String,
        id: u32,
        vocab_size: usize,
    },
    /// A token in `encoder.json` contains a character outside GPT-2's byte-level alphabet.
    #[error("encoder.json: token {token:?} contains {ch:?}, which is not a byte-level character")]
    EncoderChar { token: String, ch: char },
    /// A line of `vocab.bpe` is not `left right`.
    #[error("vocab.bpe line {line}: expected two space-separated symbols, got {text:?}")]
    MergeLine { line: usize, text: String },
    /// The `tokenizers` crate rejected the model or failed on a text.
    #[error("GPT-2 BPE failed while {context}: {message}")]
    Bpe {
        context: &'static str,
        message: String,
    },
    /// A line of `dict.txt` is malformed or inconsistent with `encoder.json`.
    #[error("dict.txt line {line} ({text:?}): {reason}")]
    DictLine {
        line: usize,
        text: String,
        reason: &'static str,
    },
    /// A GPT-2 id of `dict.txt` is not in `encoder.json`.
    #[error("dict.txt lists GPT-2 id {id}, but encoder.json has only {vocab_size} tokens")]
    DictGpt2Id { id: usize, vocab_size: usize },
    /// A thread parsing one of the files died (a bug, not a data error).
    #[error("the thread parsing {file} panicked")]
    Worker { file: &'static str },
    /// The vocabulary layout does not fit `dict.txt` (e.g. a manifest from another dictionary).
    #[error(
        "vocabulary layout {vocab:?} does not match dict.txt with {dict_lines} lines \
         (expected specials 0..3, <mask> at 4 + lines, then codes, then bins)"
    )]
    VocabLayout { vocab: VocabInfo, dict_lines: usize },
}
