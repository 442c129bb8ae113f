//! Encoder prompts of each task (docs/model.md §5), as text before BPE. Every prompt starts with a
//! space because GPT-2 BPE is space-sensitive.
//!
//! The caption prompts are fixed strings carried by the task defaults
//! ([`unival_manifest::TaskConfig::prompt`]); the builders here cover the tasks whose text comes
//! from the user and normalise it exactly as the original datasets do.

use super::normalize::{pre_caption, pre_question};

/// VQA / video QA (docs/model.md §5.2, `vqa_gen_dataset.py`): `" " + pre_question(q)`, with `?`
/// appended when the normalised question does not already end with one.
pub fn vqa_prompt(question: &str, max_words: usize) -> String {
    let q = pre_question(question, max_words);
    if q.ends_with('?') {
        format!(" {q}")
    } else {
        format!(" {q}?")
    }
}

/// Visual grounding (docs/model.md §5.3, `refcoco_dataset.py`):
/// `' which region does the text " {pre_caption(expr)} " describe?'`.
pub fn refcoco_prompt(expression: &str, max_words: usize) -> String {
    format!(
        " which region does the text \" {} \" describe?",
        pre_caption(expression, max_words)
    )
}

/// Visual entailment (docs/model.md §5.4, `snli_ve_dataset.py`, premise not used):
/// `' does the image describe " {pre_caption(h)} "?'`.
pub fn snli_ve_prompt(hypothesis: &str, max_words: usize) -> String {
    format!(
        " does the image describe \" {} \"?",
        pre_caption(hypothesis, max_words)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (COMMON.md)
mod tests {
    use super::*;

    #[test]
    fn prompts_match_the_spec_strings() {
        assert_eq!(
            vqa_prompt("What color is the car", 80),
            " what color is the car?"
        );
        assert_eq!(
            vqa_prompt("What color is the car?", 80),
            " what color is the car?"
        );
        assert_eq!(vqa_prompt("", 80), " ?");
        assert_eq!(
            refcoco_prompt("A MAN", 80),
            " which region does the text \" a man \" describe?"
        );
        assert_eq!(
            snli_ve_prompt("Two dogs play.", 80),
            " does the image describe \" two dogs play. \"?"
        );
    }
}
