//! The tokenisation pycocoevalcap 1.2 applies before every metric: Stanford CoreNLP 3.4.1's
//! `PTBTokenizer -preserveLines -lowerCase`, then removal of its punctuation tokens.
//!
//! This is a re-implementation of the rules of the PTB lexer that captions meet, not of the
//! whole lexer: punctuation split from words (commas between digits and periods inside
//! numbers, acronyms such as `u.s.` and common abbreviations such as `mr.` stay attached),
//! brackets as `-lrb-`/`-rrb-`/`-lsb-`/… (they survive, because `-lowerCase` lowercases them
//! before pycocoevalcap compares them with its upper-case `-LRB-` list), clitics split
//! (`is n't`, `ca n't`, `dog 's`, `can not`, `gon na`), `$`, `%`, `*` and `&`-free symbols as
//! their own tokens, quotes and dashes normalised (then removed), hyphenated words and URLs
//! kept whole. No British-to-American rewriting (3.4.1 does none with these options). What it
//! does not reproduce (emoticons, SGML-like `<tags>`, `'n'`, `y'all`) is listed in the tests'
//! known differences; `metrics/testdata/ptb_expected.json` holds the jar's output it is
//! checked against.

/// Tokens pycocoevalcap removes after tokenisation (its `PUNCTUATIONS`; the bracket entries are
/// upper case and never match lower-cased output, so they are left out here).
const REMOVED: [&str; 13] = [
    "''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";",
];

/// Abbreviations whose final period stays attached (a subset of the lexer's lists).
const ABBREVIATIONS: [&str; 30] = [
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "sen", "rep", "gov", "lt", "col",
    "sgt", "capt", "mt", "vs", "etc", "inc", "ltd", "co", "corp", "jan", "feb", "aug", "sept",
    "oct", "nov", "dec",
];

/// Whole words the lexer splits in two.
const SPLIT_WORDS: [(&str, &str, &str); 7] = [
    ("cannot", "can", "not"),
    ("gonna", "gon", "na"),
    ("gotta", "got", "ta"),
    ("wanna", "wan", "na"),
    ("lemme", "lem", "me"),
    ("gimme", "gim", "me"),
    ("gotcha", "got", "cha"),
];

/// Clitics split from the end of a word (after the word's own letters).
const CLITICS: [&str; 7] = ["n't", "'s", "'re", "'ve", "'ll", "'m", "'d"];

/// Tokenises one caption as pycocoevalcap does: the PTB tokens, lower-cased, without its
/// punctuation tokens, joined by single spaces.
pub fn tokenize_caption(text: &str) -> String {
    let tokens = ptb_tokens(&text.replace('\n', " "));
    let kept: Vec<String> = tokens
        .into_iter()
        .filter(|t| !REMOVED.contains(&t.as_str()))
        .collect();
    kept.join(" ")
}

/// The lower-cased PTB tokens of one line (punctuation included).
pub fn ptb_tokens(line: &str) -> Vec<String> {
    let normalised = normalise_characters(&line.to_lowercase());
    let mut out = Vec::new();
    for chunk in normalised.split_whitespace() {
        split_chunk(chunk, &mut out);
    }
    join_mixed_fractions(out)
}

/// `2 1/2` is one token in the lexer, its space a no-break space.
fn join_mixed_fractions(tokens: Vec<String>) -> Vec<String> {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let fraction = |t: &str| {
        t.split_once('/')
            .is_some_and(|(a, b)| digits(a) && digits(b))
    };
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    for token in tokens {
        match out.last_mut() {
            Some(last) if digits(last) && fraction(&token) => {
                last.push('\u{a0}');
                last.push_str(&token);
            }
            _ => out.push(token),
        }
    }
    out
}

/// Unicode quotes, dashes and ellipses to the ASCII forms the lexer's rules see; the
/// directional quotes become marks the chunk splitter recognises.
fn normalise_characters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{2018}' => out.push_str(" ` "),
            '\u{2019}' => out.push('\''),
            '\u{201c}' => out.push_str(" `` "),
            '\u{201d}' => out.push_str(" '' "),
            '\u{2013}' | '\u{2014}' => out.push_str(" -- "),
            '\u{2026}' => out.push_str(" ... "),
            '\u{a0}' => out.push(' '),
            '\u{a3}' => out.push_str(" # "),
            '\u{20ac}' => out.push_str(" $ "),
            c => out.push(c),
        }
    }
    out
}

/// Splits one whitespace-free chunk into tokens, appending them to `out`.
fn split_chunk(chunk: &str, out: &mut Vec<String>) {
    let (leading, rest) = peel_leading(chunk);
    out.extend(leading);
    let (core, trailing) = peel_trailing(rest);
    split_core(core, out);
    out.extend(trailing.into_iter().rev());
}

/// Opening quotes, brackets and currency signs at the start of a chunk.
fn peel_leading(mut s: &str) -> (Vec<String>, &str) {
    let mut tokens = Vec::new();
    loop {
        let token = if s.starts_with("``") {
            Some(("``", 2))
        } else if s.starts_with("--") && s.len() > 2 {
            Some(("--", 2))
        } else {
            match s.chars().next() {
                Some('"') => Some(("``", 1)),
                Some('(') => Some(("-lrb-", 1)),
                Some('[') => Some(("-lsb-", 1)),
                Some('{') => Some(("-lcb-", 1)),
                Some('`') => Some(("`", 1)),
                Some('\'') if !starts_with_clitic_word(s) && s.len() > 1 => Some(("`", 1)),
                Some('$') if s.len() > 1 => Some(("$", 1)),
                // `#1` is a number sign; `#hashtag` stays one word.
                Some('#') if s[1..].starts_with(|c: char| c.is_ascii_digit()) => Some(("#", 1)),
                _ => None,
            }
        };
        let Some((tok, len)) = token else {
            break;
        };
        tokens.push(tok.to_string());
        s = &s[len..];
        if tok == "$" || tok == "#" {
            break; // what follows a currency sign is an amount, not more openers
        }
    }
    (tokens, s)
}

/// `'tis`, `'twas`, `'em`, a lone `'s` and other words that start with an apostrophe (rather
/// than an opening single quote).
fn starts_with_clitic_word(s: &str) -> bool {
    let word: String = s[1..].chars().take_while(|c| c.is_alphabetic()).collect();
    ["tis", "twas", "em", "n", "s", "re", "ll", "ve", "m", "d"].contains(&word.as_str())
}

/// Closing quotes, brackets and punctuation at the end of a chunk, innermost last.
fn peel_trailing(mut s: &str) -> (&str, Vec<String>) {
    let mut tokens = Vec::new();
    while !s.is_empty() {
        let Some((tok, len)) = trailing_token(s) else {
            break;
        };
        tokens.push(tok);
        s = &s[..s.len() - len];
    }
    (s, tokens)
}

/// The punctuation token ending `s`, and its byte length, if any.
fn trailing_token(s: &str) -> Option<(String, usize)> {
    let fixed = [
        ("...", "..."),
        ("''", "''"),
        ("\"", "''"),
        (")", "-rrb-"),
        ("]", "-rsb-"),
        ("}", "-rcb-"),
        (",", ","),
        (";", ";"),
        (":", ":"),
        ("%", "%"),
        ("--", "--"),
        ("/", "/"),
    ];
    for (suffix, tok) in fixed {
        let alone = s.len() == suffix.len();
        if s.ends_with(suffix) && !(alone && (suffix == "--" || suffix == "/")) {
            return Some((tok.to_string(), suffix.len()));
        }
    }
    let marks = s.len() - s.trim_end_matches(['?', '!']).len();
    if marks > 0 {
        return Some((s[s.len() - marks..].to_string(), marks));
    }
    if s.ends_with('\'') && s.len() > 1 && !s.ends_with("''") {
        return Some(("'".into(), 1));
    }
    if s.ends_with('.') && s.len() > 1 && !keeps_period(&s[..s.len() - 1]) {
        return Some((".".into(), 1));
    }
    None
}

/// Whether a word before a final period is an acronym (`u.s`, `a.m`) or a known abbreviation.
fn keeps_period(word: &str) -> bool {
    let acronym = word.contains('.')
        && word
            .split('.')
            .all(|part| part.chars().count() == 1 && part.chars().all(char::is_alphabetic));
    acronym || ABBREVIATIONS.contains(&word)
}

/// Splits the word left after peeling: clitics, fused words, asterisks, inner commas.
fn split_core(core: &str, out: &mut Vec<String>) {
    if core.is_empty() {
        return;
    }
    if let Some((at, len)) = inner_punctuation(core) {
        split_core(&core[..at], out);
        out.push(core[at..at + len].into());
        split_core(&core[at + len..], out);
        return;
    }
    if core.contains('*') && core != "*" {
        for (i, part) in core.split('*').enumerate() {
            if i > 0 {
                out.push("*".into());
            }
            split_core(part, out);
        }
        return;
    }
    if let Some(rest) = ["'tis", "'twas"].contains(&core).then(|| &core[2..]) {
        out.push("'t".into());
        out.push(rest.into());
        return;
    }
    if let Some((_, a, b)) = SPLIT_WORDS.iter().find(|(w, _, _)| *w == core) {
        out.push((*a).into());
        out.push((*b).into());
        return;
    }
    if let Some(clitic) = CLITICS
        .iter()
        .find(|c| core.len() > c.len() && core.ends_with(*c))
    {
        let stem = &core[..core.len() - clitic.len()];
        if stem.chars().last().is_some_and(char::is_alphanumeric) {
            out.push(stem.into());
            out.push((*clitic).into());
            return;
        }
    }
    out.push(core.into());
}

/// Punctuation inside a word that the lexer splits off, as `(byte offset, length)`: `...`, `--`,
/// `,` `;` `:` unless between two digits (`chirp,a` and `food:rice`, not `1,000` or `5:30`).
fn inner_punctuation(core: &str) -> Option<(usize, usize)> {
    for dots_or_dashes in ["...", "--"] {
        let len = dots_or_dashes.len();
        if let Some(at) = core
            .find(dots_or_dashes)
            .filter(|&at| at > 0 && at + len < core.len())
        {
            return Some((at, len));
        }
    }
    let bytes = core.as_bytes();
    (1..bytes.len().saturating_sub(1))
        .find(|&i| {
            matches!(bytes[i], b',' | b';' | b':')
                && !(bytes[i - 1].is_ascii_digit() && bytes[i + 1].is_ascii_digit())
        })
        .map(|i| (i, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_caption_rules() {
        assert_eq!(
            tokenize_caption("A man (wearing a hat) rides a bike."),
            "a man -lrb- wearing a hat -rrb- rides a bike"
        );
        assert_eq!(
            tokenize_caption("The dog isn't running; it's the man's."),
            "the dog is n't running it 's the man 's"
        );
        assert_eq!(
            tokenize_caption("We can't, cannot: gonna go!"),
            "we ca n't can not gon na go"
        );
        assert_eq!(
            tokenize_caption("It costs $1,000.50 & 5%."),
            "it costs $ 1,000.50 & 5 %"
        );
        assert_eq!(
            tokenize_caption("\"Hi\" from the U.S. team"),
            "hi from the u.s. team"
        );
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let odd = [
            "",
            " ",
            "'",
            "\"",
            "...",
            "--",
            "''",
            "$",
            "#",
            "é'",
            "a''",
            "'''",
            "(((",
            ".",
            "..",
            "?!",
            "/",
            "n't",
            "'s",
            "'tis",
            "ça’s",
            "—",
            "…",
            "£",
            "1,",
            ",1",
            "a--",
            "--a",
            "日本語。",
        ];
        for text in odd {
            let _ = tokenize_caption(text);
        }
        assert_eq!(tokenize_caption(""), "");
    }
}
