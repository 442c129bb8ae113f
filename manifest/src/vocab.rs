//! Vocabulary facts of every UnIVAL checkpoint (docs/model.md §4.2): fairseq specials, then GPT-2
//! BPE symbols in `dict.txt` order, `<mask>`, 8192 image codes and 1000 location bins.

use serde::{Deserialize, Serialize};

/// Beginning of sentence; decoding starts from it.
pub const BOS: i64 = 0;
/// Padding; never generated.
pub const PAD: i64 = 1;
/// End of sentence.
pub const EOS: i64 = 2;
/// Unknown symbol.
pub const UNK: i64 = 3;
/// Offset of `dict.txt` line 0 in model ids.
pub const DICT_OFFSET: i64 = 4;

/// Ids of the special and appended symbols, recorded in the manifest so the runtime never
/// hard-codes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VocabInfo {
    pub size: i64,
    pub bos: i64,
    pub pad: i64,
    pub eos: i64,
    pub unk: i64,
    pub mask: i64,
    /// Id of `<code_0>`.
    pub code_start: i64,
    pub num_codes: i64,
    /// Id of `<bin_0>`.
    pub bin_start: i64,
    pub num_bins: i64,
}

impl VocabInfo {
    /// The layout every released checkpoint uses: 50260 `dict.txt` lines, then `<mask>`,
    /// `code_dict_size` codes and `num_bins` bins.
    pub fn standard(num_codes: i64, num_bins: i64) -> Self {
        let mask = DICT_OFFSET + 50260;
        VocabInfo {
            size: mask + 1 + num_codes + num_bins,
            bos: BOS,
            pad: PAD,
            eos: EOS,
            unk: UNK,
            mask,
            code_start: mask + 1,
            num_codes,
            bin_start: mask + 1 + num_codes,
            num_bins,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_layout_matches_spec_numbers() {
        let v = VocabInfo::standard(8192, 1000);
        assert_eq!(v.size, 59457);
        assert_eq!(v.mask, 50264);
        assert_eq!(v.code_start, 50265);
        assert_eq!(v.bin_start, 58457);
        assert_eq!(v.bin_start + v.num_bins - 1, 59456);
    }
}
