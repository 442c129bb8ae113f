//! The fairseq dictionary (docs/model.md §4.2): GPT-2 ids ↔ model ids, and every symbol ↔ model id.
//!
//! Layout (`fairseq/data/dictionary.py:Dictionary`, `tasks/ofa_task.py:OFATask.setup_task`):
//! the four specials `<s> <pad> </s> <unk>`, then `dict.txt` line k at id `DICT_OFFSET + k`
//! (symbols are GPT-2 ids as decimal strings, then `madeupword0000..0002`), then `<mask>`,
//! `<code_0..>` and `<bin_0..>`. Where each range starts comes from
//! [`unival_manifest::vocab::VocabInfo`]; this module only checks `dict.txt` agrees with it.

use std::borrow::Cow;
use std::collections::HashMap;

use unival_manifest::vocab::{VocabInfo, BOS, DICT_OFFSET, EOS, PAD, UNK};

use super::TextError;

/// One `dict.txt` symbol: a GPT-2 id (the normal case) or anything else (`madeupword0000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DictSymbol {
    Gpt2(u32),
    Other(String),
}

/// How a model id decodes (docs/model.md §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// A GPT-2 token: its bytes go through the byte-level decoder.
    Gpt2(u32),
    /// A symbol starting with `<` (`<unk>`, `<pad>`, `<mask>`, `<code_k>`, `<bin_k>`): kept
    /// literally.
    Literal(Cow<'a, str>),
    /// Any other symbol (`madeupword*`); the original would raise, we emit nothing.
    Nothing,
}

/// The model vocabulary: `dict.txt` plus the specials, codes and bins of a [`VocabInfo`].
#[derive(Debug, Clone)]
pub(crate) struct Dictionary {
    vocab: VocabInfo,
    /// `dict.txt` symbols; line k is model id `DICT_OFFSET + k`.
    lines: Vec<DictSymbol>,
    /// Model id of each GPT-2 id, `vocab.unk` for ids absent from `dict.txt`.
    gpt2_to_model: Vec<i64>,
    /// Model ids of the non-numeric `dict.txt` symbols.
    others: HashMap<String, i64>,
}

/// Symbols of the four fairseq specials, in id order (`Dictionary.__init__`).
const BOS_WORD: &str = "<s>";
const PAD_WORD: &str = "<pad>";
const EOS_WORD: &str = "</s>";
const UNK_WORD: &str = "<unk>";
const MASK_WORD: &str = "<mask>";
/// Bound on GPT-2 ids accepted from `dict.txt` before they are checked against `encoder.json`,
/// so a corrupt line cannot make the lookup table huge.
const MAX_GPT2_ID: usize = 1 << 24;

impl Dictionary {
    /// Parses `dict.txt` (`"<symbol> <count>"` per line) against `vocab`. Fails on malformed
    /// lines, duplicates, or a line count that does not put `<mask>` where `vocab` says.
    /// Whether the GPT-2 ids exist is checked by [`Dictionary::check_gpt2_ids`].
    pub(crate) fn parse(dict_txt: &str, vocab: &VocabInfo) -> Result<Self, TextError> {
        // 50257 GPT-2 ids + 3 made-up words in the standard file.
        let mut lines = Vec::with_capacity(50_260);
        let mut gpt2_to_model = Vec::with_capacity(50_257);
        let mut others = HashMap::new();
        for (index, line) in dict_txt.lines().enumerate() {
            let bad = |reason: &'static str| TextError::DictLine {
                line: index + 1,
                text: line.to_owned(),
                reason,
            };
            let (symbol, count) = line.rsplit_once(' ').ok_or_else(|| bad("no count"))?;
            if symbol.is_empty() || count.parse::<u64>().is_err() {
                return Err(bad("expected '<symbol> <count>'"));
            }
            let id = DICT_OFFSET + i64::try_from(index).map_err(|_| bad("too many lines"))?;
            match parse_index(symbol) {
                Some(gpt2) => {
                    let g = usize::try_from(gpt2)
                        .ok()
                        .filter(|&g| g < MAX_GPT2_ID)
                        .ok_or_else(|| bad("GPT-2 id unreasonably large"))?;
                    if g >= gpt2_to_model.len() {
                        gpt2_to_model.resize(g + 1, vocab.unk);
                    }
                    let slot = gpt2_to_model
                        .get_mut(g)
                        .ok_or_else(|| bad("GPT-2 id out of range"))?;
                    if *slot != vocab.unk {
                        return Err(bad("GPT-2 id listed twice"));
                    }
                    *slot = id;
                    lines.push(DictSymbol::Gpt2(
                        u32::try_from(gpt2).map_err(|_| bad("GPT-2 id out of range"))?,
                    ));
                }
                None => {
                    if others.insert(symbol.to_owned(), id).is_some() {
                        return Err(bad("symbol listed twice"));
                    }
                    lines.push(DictSymbol::Other(symbol.to_owned()));
                }
            }
        }
        let expected_mask = DICT_OFFSET + i64::try_from(lines.len()).unwrap_or(i64::MAX);
        // fairseq's specials always take the first ids, in this order.
        let layout_ok = (vocab.bos, vocab.pad, vocab.eos, vocab.unk) == (BOS, PAD, EOS, UNK)
            && vocab.mask == expected_mask
            && vocab.code_start == vocab.mask + 1
            && vocab.bin_start == vocab.code_start + vocab.num_codes
            && vocab.size == vocab.bin_start + vocab.num_bins
            && vocab.num_codes >= 0
            && vocab.num_bins >= 0;
        if !layout_ok {
            return Err(TextError::VocabLayout {
                vocab: vocab.clone(),
                dict_lines: lines.len(),
            });
        }
        Ok(Dictionary {
            vocab: vocab.clone(),
            lines,
            gpt2_to_model,
            others,
        })
    }

    /// Checks every GPT-2 id of `dict.txt` is below `gpt2_vocab_size` (the `encoder.json` size).
    pub(crate) fn check_gpt2_ids(&mut self, gpt2_vocab_size: usize) -> Result<(), TextError> {
        if let Some(id) = (gpt2_vocab_size..self.gpt2_to_model.len()).find(|&g| {
            self.gpt2_to_model
                .get(g)
                .is_some_and(|&m| m != self.vocab.unk)
        }) {
            return Err(TextError::DictGpt2Id {
                id,
                vocab_size: gpt2_vocab_size,
            });
        }
        self.gpt2_to_model.resize(gpt2_vocab_size, self.vocab.unk);
        Ok(())
    }

    /// The vocabulary facts this dictionary was checked against.
    pub(crate) fn vocab(&self) -> &VocabInfo {
        &self.vocab
    }

    /// Model id of a GPT-2 id; `unk` when `dict.txt` lacks it (`encode_line`, docs/model.md §4.3).
    pub(crate) fn model_id(&self, gpt2: u32) -> i64 {
        usize::try_from(gpt2)
            .ok()
            .and_then(|g| self.gpt2_to_model.get(g))
            .copied()
            .unwrap_or(self.vocab.unk)
    }

    /// Model id of a symbol as written in the dictionary, `None` when it is not one.
    pub(crate) fn symbol_to_id(&self, symbol: &str) -> Option<i64> {
        let v = &self.vocab;
        match symbol {
            BOS_WORD => return Some(v.bos),
            PAD_WORD => return Some(v.pad),
            EOS_WORD => return Some(v.eos),
            UNK_WORD => return Some(v.unk),
            MASK_WORD => return Some(v.mask),
            _ => {}
        }
        if let Some(k) = bracketed_index(symbol, "code") {
            return (k < v.num_codes).then_some(v.code_start + k);
        }
        if let Some(k) = bracketed_index(symbol, "bin") {
            return (k < v.num_bins).then_some(v.bin_start + k);
        }
        if let Some(g) = parse_index(symbol) {
            let id = usize::try_from(g)
                .ok()
                .and_then(|g| self.gpt2_to_model.get(g))
                .copied()?;
            return (id != v.unk).then_some(id);
        }
        self.others.get(symbol).copied()
    }

    /// The symbol fairseq prints for `id` (`Dictionary.__getitem__`): out-of-range ids give
    /// `<unk>`.
    pub(crate) fn symbol(&self, id: i64) -> Cow<'_, str> {
        match self.line(id) {
            Some(DictSymbol::Gpt2(g)) => Cow::Owned(g.to_string()),
            Some(DictSymbol::Other(s)) => Cow::Borrowed(s.as_str()),
            None => self.special_symbol(id),
        }
    }

    /// How `id` decodes (docs/model.md §4.4).
    pub(crate) fn piece(&self, id: i64) -> Piece<'_> {
        match self.line(id) {
            Some(DictSymbol::Gpt2(g)) => Piece::Gpt2(*g),
            Some(DictSymbol::Other(s)) if s.starts_with('<') => Piece::Literal(Cow::Borrowed(s)),
            Some(DictSymbol::Other(_)) => Piece::Nothing,
            None => Piece::Literal(self.special_symbol(id)),
        }
    }

    /// The `dict.txt` entry behind `id`, if `id` is in that range.
    fn line(&self, id: i64) -> Option<&DictSymbol> {
        let k = usize::try_from(id.checked_sub(DICT_OFFSET)?).ok()?;
        self.lines.get(k)
    }

    /// Symbol of an id outside the `dict.txt` range.
    fn special_symbol(&self, id: i64) -> Cow<'static, str> {
        let v = &self.vocab;
        if id == v.bos {
            Cow::Borrowed(BOS_WORD)
        } else if id == v.pad {
            Cow::Borrowed(PAD_WORD)
        } else if id == v.eos {
            Cow::Borrowed(EOS_WORD)
        } else if id == v.mask {
            Cow::Borrowed(MASK_WORD)
        } else if (v.code_start..v.code_start + v.num_codes).contains(&id) {
            Cow::Owned(format!("<code_{}>", id - v.code_start))
        } else if (v.bin_start..v.bin_start + v.num_bins).contains(&id) {
            Cow::Owned(format!("<bin_{}>", id - v.bin_start))
        } else {
            Cow::Borrowed(UNK_WORD)
        }
    }
}

/// A non-negative decimal written the way Python's `str(int)` writes it (no sign, no leading
/// zeros), so `"13"` matches the `dict.txt` symbol but `"013"` and `"+13"` do not.
fn parse_index(s: &str) -> Option<i64> {
    let canonical = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s.len() == 1 || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// `k` of `<{kind}_{k}>` with `k` canonical decimal.
fn bracketed_index(symbol: &str, kind: &str) -> Option<i64> {
    symbol
        .strip_prefix('<')?
        .strip_suffix('>')?
        .strip_prefix(kind)?
        .strip_prefix('_')
        .and_then(parse_index)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (COMMON.md)
mod tests {
    use super::*;

    fn tiny() -> Dictionary {
        // Three GPT-2 ids in frequency order, one made-up word; 2 codes, 3 bins.
        let mut v = VocabInfo::standard(2, 3);
        v.mask = DICT_OFFSET + 4;
        v.code_start = v.mask + 1;
        v.bin_start = v.code_start + 2;
        v.size = v.bin_start + 3;
        let mut d = Dictionary::parse("13 100\n262 90\n0 5\nmadeupword0000 0\n", &v).unwrap();
        d.check_gpt2_ids(300).unwrap();
        d
    }

    #[test]
    fn ids_follow_fairseq_layout() {
        let d = tiny();
        assert_eq!(d.model_id(13), 4);
        assert_eq!(d.model_id(262), 5);
        assert_eq!(d.model_id(0), 6);
        assert_eq!(d.model_id(1), 3, "GPT-2 id missing from dict.txt is <unk>");
        assert_eq!(d.model_id(1000), 3, "GPT-2 id beyond the table is <unk>");
        assert_eq!(d.symbol_to_id("madeupword0000"), Some(7));
        assert_eq!(d.symbol_to_id("<mask>"), Some(8));
        assert_eq!(d.symbol_to_id("<code_1>"), Some(10));
        assert_eq!(d.symbol_to_id("<code_2>"), None);
        assert_eq!(d.symbol_to_id("<bin_0>"), Some(11));
        assert_eq!(d.symbol_to_id("<bin_2>"), Some(13));
        assert_eq!(d.symbol_to_id("<bin_02>"), None);
        assert_eq!(d.symbol_to_id("262"), Some(5));
        assert_eq!(d.symbol_to_id("0262"), None);
        assert_eq!(d.symbol_to_id("+262"), None);
        assert_eq!(d.symbol_to_id("1"), None);
        assert_eq!(d.symbol_to_id("</s>"), Some(2));
    }

    #[test]
    fn symbols_round_trip_and_out_of_range_is_unk() {
        let d = tiny();
        for id in 0..d.vocab().size {
            let s = d.symbol(id);
            if id == 3 {
                assert_eq!(s, "<unk>");
            }
            assert_eq!(d.symbol_to_id(&s), Some(id), "symbol {s}");
        }
        assert_eq!(d.symbol(d.vocab().size), "<unk>");
        assert_eq!(d.symbol(-1), "<unk>");
        assert_eq!(d.piece(7), Piece::Nothing);
        assert_eq!(d.piece(5), Piece::Gpt2(262));
        assert_eq!(d.piece(3), Piece::Literal("<unk>".into()));
        assert_eq!(d.piece(12), Piece::Literal("<bin_1>".into()));
    }

    #[test]
    fn malformed_dict_lines_and_layout_mismatch_are_reported() {
        let v = VocabInfo::standard(2, 3);
        let line_err = |text: &str| match Dictionary::parse(text, &v) {
            Err(TextError::DictLine { line, .. }) => line,
            other => panic!("expected DictLine for {text:?}, got {other:?}"),
        };
        assert_eq!(line_err("13 1\n13 1\n"), 2, "duplicate GPT-2 id");
        assert_eq!(line_err("a 1\nb 1\na 1\n"), 3, "duplicate symbol");
        assert_eq!(line_err("13\n"), 1, "no count");
        assert_eq!(line_err("25 x\n"), 1, "count not a number");
        assert_eq!(line_err("99999999999 1\n"), 1, "absurd GPT-2 id");
        let err = tiny().check_gpt2_ids(100).unwrap_err();
        assert!(
            matches!(
                err,
                TextError::DictGpt2Id {
                    id: 262,
                    vocab_size: 100
                }
            ),
            "{err:?}"
        );
        let err = Dictionary::parse("13 1\n", &v).unwrap_err();
        assert!(
            matches!(err, TextError::VocabLayout { dict_lines: 1, .. }),
            "{err:?}"
        );
    }
}
