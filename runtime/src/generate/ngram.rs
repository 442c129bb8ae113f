//! No-repeat n-gram blocking (`fairseq/ngram_repeat_block.py:NGramRepeatBlock`, docs/model.md
//! §6.2).
//!
//! The row's n-grams are collected over its whole history **including the leading BOS and any
//! forced prefix**; at step `s` (when `s + 2 ≥ n`) every token that previously followed the last
//! `n − 1` tokens `history[s+2−n ..= s]` is banned. The original also scans the padded tail of
//! the token buffer; those n-grams end in PAD (already −inf) or never match, so scanning
//! `history[..=s]` is equivalent.

/// Bans tokens that would repeat an n-gram of size `n` (0 = off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRepeatNgram {
    /// n-gram size; 0 disables blocking.
    pub n: usize,
}

impl NoRepeatNgram {
    /// Sets banned tokens' log-probs to −inf. `history` is the row's tokens incl. BOS
    /// (`len = step + 1`).
    pub fn apply(&self, lprobs: &mut [f32], history: &[i64], step: usize) {
        let n = self.n;
        if n == 0 || step + 2 < n || history.len() != step + 1 {
            return;
        }
        let key = &history[step + 2 - n..=step];
        // Every window history[i .. i+n] lies inside the history (i + n − 1 ≤ step).
        for i in 0..(history.len() + 1).saturating_sub(n) {
            if &history[i..i + n - 1] == key {
                let banned = history[i + n - 1];
                if let Some(x) = usize::try_from(banned).ok().and_then(|t| lprobs.get_mut(t)) {
                    *x = f32::NEG_INFINITY;
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    const NINF: f32 = f32::NEG_INFINITY;

    fn banned(n: usize, history: &[i64]) -> Vec<usize> {
        let mut v = vec![0.0f32; 10];
        NoRepeatNgram { n }.apply(&mut v, history, history.len() - 1);
        (0..10).filter(|&i| v[i] == NINF).collect()
    }

    #[test]
    fn trigram_blocking_bans_what_followed_the_last_bigram() {
        // BOS 5 6 7 5 6 → (5,6) was followed by 7.
        assert_eq!(banned(3, &[0, 5, 6, 7, 5, 6]), vec![7]);
        // No earlier occurrence of (7, 5) followed by anything inside the history.
        assert_eq!(banned(3, &[0, 5, 6, 7, 5]), Vec::<usize>::new());
    }

    #[test]
    fn bos_takes_part_in_ngrams() {
        // n = 2: the last token is BOS-valued, and BOS was followed by 4 at the start.
        assert_eq!(banned(2, &[0, 4, 0]), vec![4]);
        // n = 3: key (0, 4) repeated later is banned from being followed by 5 again.
        assert_eq!(banned(3, &[0, 4, 5, 0, 4]), vec![5]);
    }

    #[test]
    fn too_short_histories_ban_nothing_and_unigrams_ban_everything_seen() {
        // step 0 with n = 3: 0 + 2 < 3.
        assert_eq!(banned(3, &[0]), Vec::<usize>::new());
        // step 1 with n = 3: key (0, 4) has no predecessor.
        assert_eq!(banned(3, &[0, 4]), Vec::<usize>::new());
        // n = 1 bans every token in the history, BOS included.
        assert_eq!(banned(1, &[0, 4, 6]), vec![0, 4, 6]);
        assert_eq!(banned(0, &[0, 4, 4]), Vec::<usize>::new());
    }
}
