//! Many random small searches (vocab ≤ 8, short max_len): the search must equal the naive
//! reference bit for bit, and greedy must equal beam 1.

use super::reference::{reference_beam_search, RefInput};
use super::{hashed_logits, FakeScorer};
use crate::generate::{beam_search, greedy, Constraints, SearchOptions, Trie};

/// Small xorshift generator for test settings.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

pub(super) struct Case {
    pub(super) opts: SearchOptions,
    pub(super) vocab: usize,
    pub(super) prefix: Vec<i64>,
    pub(super) answers: Option<Vec<Vec<i64>>>,
    pub(super) src_len: usize,
}

pub(super) fn random_case(rng: &mut Rng) -> Case {
    let vocab = 6 + rng.below(3) as usize; // 6..=8
    let beam = 1 + rng.below(((vocab - 1) / 2) as u64) as usize; // 2·beam + 1 ≤ vocab
    let max_len_b = 1 + rng.below(6) as usize;
    let opts = SearchOptions {
        beam,
        max_len_a: rng.pick(&[0.0, 0.5]),
        max_len_b,
        min_len: rng.below(max_len_b as u64 + 1) as usize,
        no_repeat_ngram_size: rng.pick(&[0, 0, 1, 2, 3]),
        unnormalized: rng.below(2) == 0,
        lenpen: rng.pick(&[0.5, 1.0, 2.0]),
        temperature: rng.pick(&[0.7, 1.0, 1.3]),
        unk_penalty: rng.pick(&[0.0, 0.5]),
        nbest: 1 + rng.below(beam as u64) as usize,
        ..SearchOptions::default()
    };
    // Prefix ids avoid PAD (1) and EOS (2); BOS-valued and UNK ids are allowed.
    let content: Vec<i64> = (0..vocab as i64).filter(|&t| t != 1 && t != 2).collect();
    let prefix: Vec<i64> = (0..rng.below(3)).map(|_| rng.pick(&content)).collect();
    let answers = (rng.below(3) != 0).then(|| {
        (0..1 + rng.below(3))
            .map(|_| {
                let mut p = vec![0];
                p.extend((0..1 + rng.below(3)).map(|_| rng.pick(&content[1..])));
                p.push(2);
                p
            })
            .collect()
    });
    Case {
        opts,
        vocab,
        prefix,
        answers,
        src_len: rng.below(4) as usize,
    }
}

pub(super) fn constraints(case: &Case) -> Constraints {
    let trie = case.answers.as_ref().map(|paths| {
        let mut t = Trie::new(2);
        paths.iter().for_each(|p| t.insert(p));
        t
    });
    Constraints {
        strict_prefix: false,
        prefix: case.prefix.clone(),
        trie,
    }
}

#[test]
fn beam_search_equals_the_naive_reference_on_random_cases() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut nonempty = 0;
    for seed in 0..3000u64 {
        let case = random_case(&mut rng);
        let max_len = case.opts.max_len(case.src_len).unwrap();
        let f = hashed_logits(seed, case.vocab);
        let mut scorer = FakeScorer::new(hashed_logits(seed, case.vocab));
        let got = beam_search(&mut scorer, &case.opts, &constraints(&case), case.src_len).unwrap();
        let want = reference_beam_search(&RefInput {
            opts: &case.opts,
            prefix: &case.prefix,
            answers: case.answers.as_deref(),
            max_len,
            logits: &f,
        });
        assert_eq!(
            got, want,
            "seed {seed}: opts {:?} prefix {:?} answers {:?}",
            case.opts, case.prefix, case.answers
        );
        nonempty += usize::from(!got.is_empty());
        // Step 0 scored one row, later steps `beam` rows.
        assert_eq!(scorer.row_counts[0], 1);
        assert!(scorer.row_counts[1..].iter().all(|&r| r == case.opts.beam));
    }
    assert!(
        nonempty > 1800,
        "too many empty results ({nonempty} non-empty)"
    );
}

#[test]
fn greedy_equals_beam_one() {
    let mut rng = Rng(0xFACE_0000_0000_0042);
    for seed in 0..1500u64 {
        let mut case = random_case(&mut rng);
        case.opts.beam = 1;
        case.opts.nbest = 1;
        let c = constraints(&case);
        let mut a = FakeScorer::new(hashed_logits(seed, case.vocab));
        let beam = beam_search(&mut a, &case.opts, &c, case.src_len).unwrap();
        let mut b = FakeScorer::new(hashed_logits(seed, case.vocab));
        let g = greedy(&mut b, &case.opts, &c, case.src_len).unwrap();
        assert_eq!(beam.first(), g.as_ref(), "seed {seed}: {:?}", case.opts);
        assert!(b.reorders.is_empty(), "greedy never reorders");
    }
}
