//! GPT-2 byte-level BPE (docs/model.md §4.1, §4.3): text ↔ GPT-2 token ids.
//!
//! Encoding goes through the `tokenizers` crate: a BPE model built from `encoder.json` and
//! `vocab.bpe`, the ByteLevel pre-tokenizer with GPT-2's regex and no prefix space (the original
//! `gpt2_bpe_utils.py:Encoder.encode`). Decoding uses a byte table built once from the same
//! vocabulary with GPT-2's byte↔unicode map, so that literal symbols (`<bin_5>`, `<unk>`) can be
//! spliced into the byte stream before the single lossy UTF-8 decode, as `Encoder.decode` does.
//! A test checks the table against `tokenizers`' ByteLevel decoder for every token.

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{Model, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

use super::TextError;

/// First line of GPT-2's `vocab.bpe`.
const MERGES_HEADER: &str = "#version:";

/// The GPT-2 BPE: encoder for text, byte table for decoding.
#[derive(Debug)]
pub(crate) struct Gpt2Bpe {
    model: BPE,
    pre_tokenizer: ByteLevel,
    /// Bytes of every token, concatenated; token `i` is `bytes[offsets[i]..offsets[i + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl Gpt2Bpe {
    /// Builds the BPE from the text of `encoder.json` (token → id) and `vocab.bpe` (merges).
    ///
    /// Fails when either file is malformed or the ids are not exactly `0..n`.
    pub(crate) fn from_assets(encoder_json: &str, merges_txt: &str) -> Result<Self, TextError> {
        // The two files are independent: parse the merges on a second core meanwhile.
        let (vocab, merges) = std::thread::scope(|s| {
            let merges = s.spawn(|| parse_merges(merges_txt));
            let vocab = parse_vocab(encoder_json);
            (vocab, merges.join())
        });
        let (vocab, bytes, offsets) = vocab?;
        let merges = merges.map_err(|_| TextError::Worker { file: "vocab.bpe" })??;
        let model = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| TextError::Bpe {
                context: "building the BPE model",
                message: e.to_string(),
            })?;
        // GPT-2: no prefix space, offsets untouched, the GPT-2 pre-tokenisation regex.
        let pre_tokenizer = ByteLevel::new(false, false, true);
        Ok(Gpt2Bpe {
            model,
            pre_tokenizer,
            bytes,
            offsets,
        })
    }

    /// Number of GPT-2 tokens (50257 for the standard files).
    pub(crate) fn vocab_size(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// GPT-2 ids of `text`, in order (the `Encoder.encode` output), no specials added.
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let bpe_err = |context: &'static str| {
            move |e: tokenizers::Error| TextError::Bpe {
                context,
                message: e.to_string(),
            }
        };
        let mut pre = PreTokenizedString::from(text);
        self.pre_tokenizer
            .pre_tokenize(&mut pre)
            .map_err(bpe_err("pre-tokenizing"))?;
        pre.tokenize(|normalized| self.model.tokenize(normalized.get()))
            .map_err(bpe_err("applying the merges"))?;
        Ok(pre
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .flat_map(|(_, _, tokens)| tokens.iter().flat_map(|toks| toks.iter().map(|t| t.id)))
            .collect())
    }

    /// Raw bytes of GPT-2 token `id`, or `None` when `id` is out of range.
    pub(crate) fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let i = usize::try_from(id).ok()?;
        let start = *self.offsets.get(i)?;
        let end = *self.offsets.get(i + 1)?;
        self.bytes.get(start..end)
    }
}

/// Whether GPT-2's byte-level alphabet writes byte `b` as the Latin-1 character of the same code:
/// the printable ones, `!`..`~`, `¡`..`¬`, `®`..`ÿ`.
const fn is_printable_byte(b: usize) -> bool {
    (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE
}

/// Number of byte-level characters: U+0000..U+0143 covers the 188 printable bytes and the 68
/// others, which are written as U+0100 + n in increasing byte order.
const CHAR_TABLE_LEN: usize = 0x144;

/// GPT-2's `bytes_to_unicode` inverse as a table: `CHAR_TO_BYTE[c]` is the byte character `c`
/// stands for, or -1 when `c` is not in the alphabet.
const CHAR_TO_BYTE: [i16; CHAR_TABLE_LEN] = {
    let mut table = [-1i16; CHAR_TABLE_LEN];
    let mut next = 0x100;
    let mut b = 0;
    while b < 256 {
        if is_printable_byte(b) {
            table[b] = b as i16;
        } else {
            table[next] = b as i16;
            next += 1;
        }
        b += 1;
    }
    table
};

/// The byte a byte-level character stands for, `None` outside the 256-character alphabet.
fn char_to_byte(c: char) -> Option<u8> {
    let i = usize::try_from(u32::from(c)).ok()?;
    CHAR_TO_BYTE.get(i).and_then(|&b| u8::try_from(b).ok())
}

/// Parses `encoder.json` and builds the byte table from it.
fn parse_vocab(encoder_json: &str) -> Result<(Vocab, Vec<u8>, Vec<usize>), TextError> {
    let vocab: Vocab = serde_json::from_str(encoder_json).map_err(|e| TextError::EncoderJson {
        message: e.to_string(),
    })?;
    let (bytes, offsets) = byte_table(&vocab)?;
    Ok((vocab, bytes, offsets))
}

/// Flattened bytes of every token, indexed by id; checks the ids are exactly `0..vocab.len()`.
fn byte_table(vocab: &Vocab) -> Result<(Vec<u8>, Vec<usize>), TextError> {
    let n = vocab.len();
    let mut by_id: Vec<Option<&str>> = vec![None; n];
    for (token, &id) in vocab {
        let slot = usize::try_from(id)
            .ok()
            .and_then(|i| by_id.get_mut(i))
            .ok_or_else(|| TextError::EncoderId {
                token: token.clone(),
                id,
                vocab_size: n,
            })?;
        if slot.is_some() {
            return Err(TextError::EncoderId {
                token: token.clone(),
                id,
                vocab_size: n,
            });
        }
        *slot = Some(token);
    }
    let mut bytes = Vec::with_capacity(n * 4);
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    // Every slot is filled: n distinct ids all below n.
    for token in by_id.into_iter().flatten() {
        for c in token.chars() {
            let b = char_to_byte(c).ok_or_else(|| TextError::EncoderChar {
                token: token.to_owned(),
                ch: c,
            })?;
            bytes.push(b);
        }
        offsets.push(bytes.len());
    }
    Ok((bytes, offsets))
}

/// Parses `vocab.bpe`: an optional `#version: …` header, then one `left right` merge per line.
fn parse_merges(text: &str) -> Result<Vec<(String, String)>, TextError> {
    let mut merges = Vec::with_capacity(50_000);
    for (index, line) in text.lines().enumerate() {
        if (index == 0 && line.starts_with(MERGES_HEADER)) || line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => {
                merges.push((a.to_owned(), b.to_owned()));
            }
            _ => {
                return Err(TextError::MergeLine {
                    line: index + 1,
                    text: line.to_owned(),
                })
            }
        }
    }
    Ok(merges)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (COMMON.md)
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_a_bijection_over_256_characters() {
        let mut seen = [false; 256];
        let mut count = 0;
        for code in 0u32..0x200 {
            if let Some(b) = char::from_u32(code).and_then(char_to_byte) {
                assert!(!seen[usize::from(b)], "byte {b} mapped twice");
                seen[usize::from(b)] = true;
                count += 1;
            }
        }
        assert_eq!(count, 256);
        // Known points of GPT-2's map: space is U+0120 ('Ġ'), newline U+010A ('Ċ').
        assert_eq!(char_to_byte('\u{120}'), Some(b' '));
        assert_eq!(char_to_byte('\u{10A}'), Some(b'\n'));
        assert_eq!(char_to_byte('A'), Some(b'A'));
        assert_eq!(char_to_byte('\u{AD}'), None);
    }

    #[test]
    fn merges_parser_rejects_malformed_lines_with_their_number() {
        let ok = parse_merges("#version: 0.2\nĠ t\nh e\n").unwrap();
        assert_eq!(ok, vec![("Ġ".into(), "t".into()), ("h".into(), "e".into())]);
        match parse_merges("#version: 0.2\na b\nabc\n") {
            Err(TextError::MergeLine { line, text }) => {
                assert_eq!(line, 3);
                assert_eq!(text, "abc");
            }
            other => panic!("expected MergeLine, got {other:?}"),
        }
        assert!(matches!(
            parse_merges("a b c"),
            Err(TextError::MergeLine { line: 1, .. })
        ));
    }

    #[test]
    fn encoder_with_gap_in_ids_is_rejected() {
        let err = Gpt2Bpe::from_assets(r#"{"a": 0, "b": 2}"#, "#version: 0.2\n").unwrap_err();
        assert!(matches!(err, TextError::EncoderId { id: 2, .. }), "{err:?}");
        let err = Gpt2Bpe::from_assets("[1, 2]", "").unwrap_err();
        assert!(matches!(err, TextError::EncoderJson { .. }), "{err:?}");
    }
}
