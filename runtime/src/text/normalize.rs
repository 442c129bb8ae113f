//! Text normalisation of the original data pipeline (docs/model.md §4.3, §5) and caption clean-up
//! (§4.4).
//!
//! `pre_caption` / `pre_question` follow `data/ofa_dataset.py` step for step, in this order:
//! `lower()`; `lstrip(",.!?*#:;~")`; `-` and `/` → space (`pre_caption` then `<person>` →
//! `person`); `re.sub(r"\s{2,}", " ")`; `rstrip("\n")`; `strip(" ")`; split on single spaces
//! and keep the first `max_words`. Consequences kept on purpose: a *single* tab or newline is not
//! turned into a space, only runs of two or more whitespace characters are; only spaces (and one
//! final newline) are stripped at the ends; trailing punctuation stays.
//!
//! "Whitespace" is Python's `str.isspace` (what `re`'s `\s` matches on `str`), which is Unicode
//! White_Space plus the four information separators U+001C..U+001F.

/// Characters `pre_caption` / `pre_question` strip from the start of the text.
const LEADING_STRIP: &[char] = &[',', '.', '!', '?', '*', '#', ':', ';', '~'];

/// Python's `str.isspace` (Unicode White_Space plus U+001C..U+001F).
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// `pre_caption(caption, max_words)` of the original (refcoco expressions, SNLI-VE hypotheses,
/// caption targets): see the module doc for the exact steps.
pub fn pre_caption(text: &str, max_words: usize) -> String {
    normalize(text, max_words, true)
}

/// `pre_question(question, max_ques_words)` of the original (VQA questions): `pre_caption`
/// without the `<person>` rewrite.
pub fn pre_question(text: &str, max_words: usize) -> String {
    normalize(text, max_words, false)
}

/// Removes every ASCII punctuation character (Python's `string.punctuation`) and strips
/// surrounding whitespace: the caption post-processing of `utils/eval_utils.py:eval_caption`.
pub fn strip_caption_punctuation(text: &str) -> String {
    let kept: String = text.chars().filter(|c| !c.is_ascii_punctuation()).collect();
    python_strip(&kept).to_owned()
}

/// The shared body of `pre_caption` and `pre_question`.
fn normalize(text: &str, max_words: usize, person: bool) -> String {
    let lowered = text.to_lowercase();
    let mut s = lowered
        .trim_start_matches(LEADING_STRIP)
        .replace(['-', '/'], " ");
    if person {
        s = s.replace("<person>", "person");
    }
    let collapsed = collapse_space_runs(&s);
    let trimmed = collapsed.trim_end_matches('\n').trim_matches(' ');
    // Python: `split(' ')` keeps empty words, and `' '.join` of the head restores the spacing.
    let mut words = trimmed.split(' ');
    let head: Vec<&str> = words.by_ref().take(max_words).collect();
    if words.next().is_none() {
        trimmed.to_owned()
    } else {
        head.join(" ")
    }
}

/// `re.sub(r"\s{2,}", " ", s)`: runs of two or more whitespace characters become one space;
/// a lone whitespace character is kept as it is.
fn collapse_space_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run: Option<(char, usize)> = None;
    let flush = |out: &mut String, run: Option<(char, usize)>| match run {
        Some((c, 1)) => out.push(c),
        Some(_) => out.push(' '),
        None => {}
    };
    for c in s.chars() {
        if is_python_space(c) {
            run = Some(match run {
                Some((first, n)) => (first, n + 1),
                None => (c, 1),
            });
        } else {
            flush(&mut out, run.take());
            out.push(c);
        }
    }
    flush(&mut out, run);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (COMMON.md)
mod tests {
    use super::*;

    #[test]
    fn python_space_set_matches_str_isspace() {
        // The full list of `c.isspace()` code points (Python 3.11), generated with
        // `[hex(c) for c in range(0x110000) if chr(c).isspace()]`.
        let expected: [u32; 29] = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ];
        let got: Vec<u32> = (0..0x11_0000u32)
            .filter(|&c| char::from_u32(c).is_some_and(is_python_space))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn pre_caption_follows_the_original_steps() {
        assert_eq!(
            pre_caption("  A Man riding a Horse. ", 80),
            "a man riding a horse."
        );
        assert_eq!(pre_caption(",.!?*#:;~Leading", 80), "leading");
        assert_eq!(
            pre_caption(". . leading", 80),
            ". leading",
            "only the very start"
        );
        assert_eq!(pre_caption("x-ray/scan", 80), "x ray scan");
        assert_eq!(pre_caption("A <PERSON> waves", 80), "a person waves");
        assert_eq!(pre_question("A <PERSON> waves", 80), "a <person> waves");
        assert_eq!(pre_caption("trailing?!", 80), "trailing?!");
        assert_eq!(pre_caption("a \t\n b", 80), "a b");
        // A single tab survives; only runs of two or more are collapsed.
        assert_eq!(pre_caption("a\tb", 80), "a\tb");
        assert_eq!(pre_caption("\tab\n", 80), "\tab");
        assert_eq!(pre_caption("ab\n\n", 80), "ab");
        assert_eq!(pre_caption("a\u{1c}\u{a0}b", 80), "a b");
        assert_eq!(pre_caption("ΟΔΟΣ Σ", 80), "οδος σ");
    }

    #[test]
    fn pre_functions_edge_cases() {
        assert_eq!(pre_caption("", 80), "");
        assert_eq!(pre_question("?!.,", 80), "");
        assert_eq!(pre_question("- / -", 80), "");
        assert_eq!(pre_question("what?", 0), "");
        let long: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let out = pre_question(&long.join(" "), 80);
        assert_eq!(out.split(' ').count(), 80);
        assert!(out.ends_with(" w79"));
        let exact: String = long[..80].join(" ");
        assert_eq!(pre_question(&exact, 80), exact);
        // Words are counted on single spaces after collapsing, tabs do not split words.
        assert_eq!(pre_question("a\tb c", 2), "a\tb c");
        assert_eq!(pre_question("a\tb c d", 2), "a\tb c");
    }

    #[test]
    fn caption_punctuation_is_removed_and_whitespace_stripped() {
        assert_eq!(
            strip_caption_punctuation(" a man's <bin_5> hat, (red)!\n"),
            "a mans bin5 hat red"
        );
        assert_eq!(strip_caption_punctuation("!!!"), "");
        assert_eq!(strip_caption_punctuation("café — ok"), "café — ok");
    }
}
