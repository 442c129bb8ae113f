//! Task prompts: the vqa / refcoco / snli_ve builders on arbitrary text, then the encoder
//! truncation the task applies ([`unival_runtime::tasks::Pipeline::source_tokens`]'s rule:
//! `[BOS] + ids[..capacity] + [EOS]`).

use super::tokenizer::tokenizer;
use unival_runtime::text::{refcoco_prompt, snli_ve_prompt, vqa_prompt};

/// First byte: word limit (`max_src_length`); second: token capacity; the rest: the user's text.
pub fn run(data: &[u8]) {
    let (max_words, capacity, text) = match data {
        [w, c, rest @ ..] => (
            usize::from(*w),
            usize::from(*c),
            String::from_utf8_lossy(rest),
        ),
        _ => return,
    };
    let tok = tokenizer();
    let vocab = tok.vocab();
    for prompt in [
        vqa_prompt(&text, max_words),
        refcoco_prompt(&text, max_words),
        snli_ve_prompt(&text, max_words),
    ] {
        assert!(prompt.starts_with(' '), "a prompt starts with a space");
        // Words as the original splits them: on single spaces.
        let words = prompt.split(' ').filter(|w| !w.is_empty()).count();
        // The fixed words of the longest template plus the user's words.
        assert!(
            words <= max_words + 8,
            "{words} words past the limit {max_words}: {prompt:?}"
        );
        let Ok(ids) = tok.source_tokens_truncated(&prompt, capacity) else {
            continue;
        };
        assert!(
            ids.len() <= capacity + 2,
            "truncation kept {} ids",
            ids.len()
        );
        assert_eq!(ids.first(), Some(&vocab.bos));
        assert_eq!(ids.last(), Some(&vocab.eos));
    }
}
