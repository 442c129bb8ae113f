//! Answer normalisation of the official VQAv2 evaluation (`vqaEval.py`, GT-Vision-Lab/VQA,
//! Python 3 version): `process_punctuation` and `process_digit_article`, with its quirks kept:
//! - a punctuation mark is deleted (not replaced by a space) when it touches a space anywhere in
//!   the answer or the answer contains `digit,digit`;
//! - the period rule `(?!<=\d)(\.)(?!\d)` is a look-ahead typo, so every `.` not followed by a
//!   digit is removed, and `re.UNICODE` passed as `count` caps that at 32 removals;
//! - contraction keys written with capitals (`Im`, `Ive`) never match lowercased words.
//!
//! Python's `\d` also matches non-ASCII decimal digits; here only ASCII digits count.

const PUNCTUATION: [char; 21] = [
    ';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',',
    '?', '!',
];

/// `re.sub` `count` argument the original passes by mistake (`re.UNICODE` == 32).
const PERIOD_REMOVAL_LIMIT: usize = 32;

const NUMBER_WORDS: [(&str, &str); 12] = [
    ("none", "0"),
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
];

const ARTICLES: [&str; 3] = ["a", "an", "the"];

/// The official contraction table (missing apostrophes restored), as data.
#[rustfmt::skip]
const CONTRACTIONS: &[(&str, &str)] = &[
    ("aint", "ain't"), ("arent", "aren't"), ("cant", "can't"), ("couldve", "could've"),
    ("couldnt", "couldn't"), ("couldn'tve", "couldn't've"), ("couldnt've", "couldn't've"),
    ("didnt", "didn't"), ("doesnt", "doesn't"), ("dont", "don't"), ("hadnt", "hadn't"),
    ("hadnt've", "hadn't've"), ("hadn'tve", "hadn't've"), ("hasnt", "hasn't"),
    ("havent", "haven't"), ("hed", "he'd"), ("hed've", "he'd've"), ("he'dve", "he'd've"),
    ("hes", "he's"), ("howd", "how'd"), ("howll", "how'll"), ("hows", "how's"),
    ("Id've", "I'd've"), ("I'dve", "I'd've"), ("Im", "I'm"), ("Ive", "I've"), ("isnt", "isn't"),
    ("itd", "it'd"), ("itd've", "it'd've"), ("it'dve", "it'd've"), ("itll", "it'll"),
    ("let's", "let's"), ("maam", "ma'am"), ("mightnt", "mightn't"), ("mightnt've", "mightn't've"),
    ("mightn'tve", "mightn't've"), ("mightve", "might've"), ("mustnt", "mustn't"),
    ("mustve", "must've"), ("neednt", "needn't"), ("notve", "not've"), ("oclock", "o'clock"),
    ("oughtnt", "oughtn't"), ("ow's'at", "'ow's'at"), ("'ows'at", "'ow's'at"),
    ("'ow'sat", "'ow's'at"), ("shant", "shan't"), ("shed've", "she'd've"), ("she'dve", "she'd've"),
    ("she's", "she's"), ("shouldve", "should've"), ("shouldnt", "shouldn't"),
    ("shouldnt've", "shouldn't've"), ("shouldn'tve", "shouldn't've"), ("somebody'd", "somebodyd"),
    ("somebodyd've", "somebody'd've"), ("somebody'dve", "somebody'd've"),
    ("somebodyll", "somebody'll"), ("somebodys", "somebody's"), ("someoned", "someone'd"),
    ("someoned've", "someone'd've"), ("someone'dve", "someone'd've"), ("someonell", "someone'll"),
    ("someones", "someone's"), ("somethingd", "something'd"), ("somethingd've", "something'd've"),
    ("something'dve", "something'd've"), ("somethingll", "something'll"), ("thats", "that's"),
    ("thered", "there'd"), ("thered've", "there'd've"), ("there'dve", "there'd've"),
    ("therere", "there're"), ("theres", "there's"), ("theyd", "they'd"), ("theyd've", "they'd've"),
    ("they'dve", "they'd've"), ("theyll", "they'll"), ("theyre", "they're"), ("theyve", "they've"),
    ("twas", "'twas"), ("wasnt", "wasn't"), ("wed've", "we'd've"), ("we'dve", "we'd've"),
    ("weve", "we've"), ("werent", "weren't"), ("whatll", "what'll"), ("whatre", "what're"),
    ("whats", "what's"), ("whatve", "what've"), ("whens", "when's"), ("whered", "where'd"),
    ("wheres", "where's"), ("whereve", "where've"), ("whod", "who'd"), ("whod've", "who'd've"),
    ("who'dve", "who'd've"), ("wholl", "who'll"), ("whos", "who's"), ("whove", "who've"),
    ("whyll", "why'll"), ("whyre", "why're"), ("whys", "why's"), ("wont", "won't"),
    ("wouldve", "would've"), ("wouldnt", "wouldn't"), ("wouldnt've", "wouldn't've"),
    ("wouldn'tve", "wouldn't've"), ("yall", "y'all"), ("yall'll", "y'all'll"),
    ("y'allll", "y'all'll"), ("yall'd've", "y'all'd've"), ("y'alld've", "y'all'd've"),
    ("y'all'dve", "y'all'd've"), ("youd", "you'd"), ("youd've", "you'd've"),
    ("you'dve", "you'd've"), ("youll", "you'll"), ("youre", "you're"), ("youve", "you've"),
];

/// Whether `text` contains `digit , digit` (the original's `commaStrip` search).
fn has_digit_comma_digit(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == ',' && w[2].is_ascii_digit())
}

/// Removes up to 32 periods that are not followed by a digit.
fn strip_periods(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    for (i, &c) in chars.iter().enumerate() {
        let next_is_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c == '.' && !next_is_digit && removed < PERIOD_REMOVAL_LIMIT {
            removed += 1;
            continue;
        }
        out.push(c);
    }
    out
}

/// The original's `processPunctuation`.
pub fn process_punctuation(text: &str) -> String {
    let comma_digits = has_digit_comma_digit(text);
    let mut out = text.to_string();
    for p in PUNCTUATION {
        let touches_space = text.contains(&format!("{p} ")) || text.contains(&format!(" {p}"));
        let replacement = if touches_space || comma_digits {
            ""
        } else {
            " "
        };
        out = out.replace(p, replacement);
    }
    strip_periods(&out)
}

/// The original's `processDigitArticle`: lowercase, number words to digits, articles dropped,
/// contractions restored, words joined by single spaces.
pub fn process_digit_article(text: &str) -> String {
    let lowered = text.to_lowercase();
    let words: Vec<&str> = lowered
        .split_whitespace()
        .map(|w| lookup(&NUMBER_WORDS, w).unwrap_or(w))
        .filter(|w| !ARTICLES.contains(w))
        .map(|w| lookup(CONTRACTIONS, w).unwrap_or(w))
        .collect();
    words.join(" ")
}

fn lookup<'a>(table: &[(&'a str, &'a str)], word: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == word).map(|(_, v)| *v)
}

/// A prediction as the official evaluation prepares it: newlines and tabs to spaces, trimmed,
/// punctuation processed, then digits, articles and contractions.
pub fn normalize_prediction(answer: &str) -> String {
    let flat = answer.replace(['\n', '\t'], " ");
    process_digit_article(&process_punctuation(flat.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_rules() {
        assert_eq!(process_punctuation("black-and-white"), "black and white");
        assert_eq!(process_punctuation("yes, it is"), "yes it is");
        assert_eq!(process_punctuation("1,000"), "1000");
        assert_eq!(process_punctuation("3.5"), "3.5");
        assert_eq!(process_punctuation("dr. who."), "dr who");
        assert_eq!(process_punctuation("(left)"), " left ");
    }

    #[test]
    fn period_removal_stops_after_32() {
        let dots = ".".repeat(40);
        assert_eq!(process_punctuation(&dots), ".".repeat(8));
    }

    #[test]
    fn digits_articles_contractions() {
        assert_eq!(process_digit_article("Two Dogs"), "2 dogs");
        assert_eq!(process_digit_article("a the an cat"), "cat");
        assert_eq!(process_digit_article("dont know"), "don't know");
        assert_eq!(process_digit_article("Im here"), "im here"); // capital key never matches
        assert_eq!(normalize_prediction("  None.\n"), "0");
    }
}
