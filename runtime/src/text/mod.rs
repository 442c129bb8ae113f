//! Text side of UnIVAL (docs/model.md §4, text parts of §5): the GPT-2 BPE + fairseq dictionary
//! tokenizer, the original normalisation functions and the task prompts.
//!
//! The three vocabulary files (`encoder.json`, `vocab.bpe`, `dict.txt` from the original
//! `utils/BPE/`) are embedded in the binary, so [`Tokenizer::new`] needs nothing on disk.
//!
//! ```
//! # fn main() -> Result<(), unival_runtime::text::TextError> {
//! use unival_runtime::text::{vqa_prompt, Tokenizer};
//! let tok = Tokenizer::new()?;
//! let src = tok.source_tokens(" what does the image describe?")?;
//! assert_eq!(src, [0, 99, 473, 5, 2274, 6190, 116, 2]);
//! let question = tok.source_tokens(&vqa_prompt("What color is the car", 80))?;
//! assert_eq!(question, [0, 99, 3195, 16, 5, 512, 116, 2]);
//! assert_eq!(tok.decode(&[3195, 2]), " color");
//! # Ok(()) }
//! ```

mod bpe;
mod dictionary;
mod error;
mod normalize;
mod prompt;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use unival_manifest::vocab::VocabInfo;

use bpe::Gpt2Bpe;
use dictionary::{Dictionary, Piece};

pub use error::TextError;
pub use normalize::{
    is_python_space, pre_caption, pre_question, python_strip, strip_caption_punctuation,
};
pub use prompt::{refcoco_prompt, snli_ve_prompt, vqa_prompt};

/// GPT-2 `encoder.json` (token → GPT-2 id), embedded.
const ENCODER_JSON: &str = include_str!("../../assets/gpt2-bpe/encoder.json");
/// GPT-2 `vocab.bpe` (merges), embedded.
const VOCAB_BPE: &str = include_str!("../../assets/gpt2-bpe/vocab.bpe");
/// fairseq `dict.txt` (GPT-2 ids in frequency order + `madeupword*`), embedded.
const DICT_TXT: &str = include_str!("../../assets/gpt2-bpe/dict.txt");

/// Number of `<code_k>` image-generation symbols of every released checkpoint (docs/model.md §4.2).
pub const STANDARD_NUM_CODES: i64 = 8192;
/// Number of `<bin_k>` location symbols of every released checkpoint (docs/model.md §4.2).
pub const STANDARD_NUM_BINS: i64 = 1000;

/// Text ↔ model ids, exactly as the original `encode_text` / `decode_fn` (docs/model.md §4.3,
/// §4.4).
///
/// Cloning is cheap (the tables are shared); the tokenizer is `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bpe: Gpt2Bpe,
    dict: Dictionary,
}

impl Tokenizer {
    /// The tokenizer of every released checkpoint: embedded files, 8192 codes, 1000 bins
    /// (59457 ids). Takes a few tens of milliseconds; build once and clone.
    pub fn new() -> Result<Self, TextError> {
        Self::with_vocab(&VocabInfo::standard(STANDARD_NUM_CODES, STANDARD_NUM_BINS))
    }

    /// The embedded files with the code/bin layout a bundle's manifest records. Fails with
    /// [`TextError::VocabLayout`] when that layout does not fit `dict.txt`.
    pub fn with_vocab(vocab: &VocabInfo) -> Result<Self, TextError> {
        Self::from_assets(ENCODER_JSON, VOCAB_BPE, DICT_TXT, vocab)
    }

    /// Builds from the text of the three files (for tests or a different dictionary).
    pub fn from_assets(
        encoder_json: &str,
        vocab_bpe: &str,
        dict_txt: &str,
        vocab: &VocabInfo,
    ) -> Result<Self, TextError> {
        // dict.txt does not depend on the BPE files: parse it on another core meanwhile.
        let (bpe, dict) = std::thread::scope(|s| {
            let dict = s.spawn(|| Dictionary::parse(dict_txt, vocab));
            let bpe = Gpt2Bpe::from_assets(encoder_json, vocab_bpe);
            (bpe, dict.join())
        });
        let bpe = bpe?;
        let mut dict = dict.map_err(|_| TextError::Worker { file: "dict.txt" })??;
        dict.check_gpt2_ids(bpe.vocab_size())?;
        Ok(Tokenizer {
            inner: Arc::new(Inner { bpe, dict }),
        })
    }

    /// Vocabulary facts (specials, `<mask>`, code and bin ranges, size).
    pub fn vocab(&self) -> &VocabInfo {
        self.inner.dict.vocab()
    }

    /// GPT-2 ids of `text` (what `GPT2BPE.encode` prints), before the dictionary.
    pub fn encode_gpt2(&self, text: &str) -> Result<Vec<u32>, TextError> {
        self.inner.bpe.encode(text)
    }

    /// Model ids of `text`, no BOS/EOS (`encode_text(text)`, docs/model.md §4.3). GPT-2 ids missing
    /// from `dict.txt` become `<unk>`. The text is used as given: normalise it first.
    pub fn encode(&self, text: &str) -> Result<Vec<i64>, TextError> {
        let gpt2 = self.inner.bpe.encode(text)?;
        Ok(gpt2
            .into_iter()
            .map(|g| self.inner.dict.model_id(g))
            .collect())
    }

    /// Model ids of whitespace-separated dictionary symbols (`encode_text(text, use_bpe=False)`,
    /// e.g. `"<bin_12> <bin_40>"` or `"13 262"`); unknown symbols become `<unk>`.
    pub fn encode_symbols(&self, text: &str) -> Vec<i64> {
        text.split(is_python_space)
            .filter(|s| !s.is_empty())
            .map(|s| self.inner.dict.symbol_to_id(s).unwrap_or(self.vocab().unk))
            .collect()
    }

    /// Encoder input for `text`: `[BOS] + encode(text) + [EOS]`, shape `[len + 2]`.
    pub fn source_tokens(&self, text: &str) -> Result<Vec<i64>, TextError> {
        self.source_tokens_truncated(text, usize::MAX)
    }

    /// `encode_text(text, length=length, append_bos=True, append_eos=True)` of the original
    /// (`data/ofa_dataset.py`): the BPE ids of `text` are cut to their first `length` *before*
    /// BOS and EOS are added, so the result is `[BOS] + encode(text)[..length] + [EOS]` and at
    /// most `length + 2` long. Word-level truncation (`pre_question`/`pre_caption`) is the
    /// prompt builders' job and happens before this.
    pub fn source_tokens_truncated(
        &self,
        text: &str,
        length: usize,
    ) -> Result<Vec<i64>, TextError> {
        let mut body = self.encode(text)?;
        body.truncate(length);
        let mut out = Vec::with_capacity(body.len() + 2);
        out.push(self.vocab().bos);
        out.extend(body);
        out.push(self.vocab().eos);
        Ok(out)
    }

    /// Text of generated ids (docs/model.md §4.4, `decode_fn`): BOS and EOS are dropped; symbols
    /// starting with `<` (`<unk>`, `<pad>`, `<mask>`, `<code_k>`, `<bin_k>`, out-of-range ids as
    /// `<unk>`) are kept literally with no separator; GPT-2 tokens are byte-decoded; the whole
    /// byte string is decoded as UTF-8 with invalid sequences replaced by U+FFFD (Python's
    /// `errors="replace"`); `madeupword*` ids produce nothing. No punctuation stripping here
    /// (see [`strip_caption_punctuation`]).
    pub fn decode(&self, ids: &[i64]) -> String {
        let vocab = self.vocab();
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            if id == vocab.bos || id == vocab.eos {
                continue;
            }
            match self.inner.dict.piece(id) {
                Piece::Gpt2(g) => {
                    if let Some(b) = self.inner.bpe.token_bytes(g) {
                        bytes.extend_from_slice(b);
                    }
                }
                Piece::Literal(s) => bytes.extend_from_slice(s.as_bytes()),
                Piece::Nothing => {}
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The dictionary symbol of a model id, as fairseq prints it: `<s>`, `<pad>`, `</s>`,
    /// `<unk>`, a GPT-2 id as decimal (`"13"` for id 4), `madeupword0000`, `<mask>`,
    /// `<code_k>`, `<bin_k>`; `<unk>` for ids outside `0..size`.
    pub fn id_to_symbol(&self, id: i64) -> Cow<'_, str> {
        self.inner.dict.symbol(id)
    }

    /// Model id of a dictionary symbol (inverse of [`Tokenizer::id_to_symbol`]), `None` when
    /// the symbol is not in the dictionary.
    pub fn symbol_to_id(&self, symbol: &str) -> Option<i64> {
        self.inner.dict.symbol_to_id(symbol)
    }

    /// Model id of `<bin_k>`, `None` when `k` is outside `0..num_bins` (docs/model.md §4.5).
    pub fn bin_id(&self, k: i64) -> Option<i64> {
        let v = self.vocab();
        (0..v.num_bins).contains(&k).then_some(v.bin_start + k)
    }

    /// `k` of a `<bin_k>` model id, `None` for any other id (docs/model.md §4.5).
    pub fn bin_index(&self, id: i64) -> Option<i64> {
        let v = self.vocab();
        (v.bin_start..v.bin_start + v.num_bins)
            .contains(&id)
            .then_some(id - v.bin_start)
    }

    /// Model id of `<code_k>`, `None` when `k` is outside `0..num_codes`.
    pub fn code_id(&self, k: i64) -> Option<i64> {
        let v = self.vocab();
        (0..v.num_codes).contains(&k).then_some(v.code_start + k)
    }
}
