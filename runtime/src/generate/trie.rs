//! Answer-constraint trie (UnIVAL `utils/trie.py:Trie`, docs/model.md §5.2, §6.3).
//!
//! Paths are `[BOS] + BPE(" " + answer) + [EOS]`. [`Trie::allowed_next`] mirrors
//! `get_next_layer`: the children of the node reached by a path, or `[EOS]` when the path leaves
//! the trie. Children are kept sorted, so the answer is deterministic (the original returns dict
//! insertion order; the order never matters because it only builds a mask).

/// One node: its children as `(token, node index)` sorted by token.
#[derive(Debug, Clone, Default)]
struct Node {
    tokens: Vec<i64>,
    children: Vec<usize>,
}

/// A prefix tree over token sequences.
#[derive(Debug, Clone)]
pub struct Trie {
    nodes: Vec<Node>,
    eos: [i64; 1],
    max_token: Option<i64>,
}

impl Trie {
    /// An empty trie; `eos` is what [`Trie::allowed_next`] answers for paths not in the trie.
    pub fn new(eos: i64) -> Self {
        Trie {
            nodes: vec![Node::default()],
            eos: [eos],
            max_token: None,
        }
    }

    /// Adds one path (typically `[0] + BPE(" " + answer) + [2]`).
    pub fn insert(&mut self, path: &[i64]) {
        let mut cur = 0;
        for &t in path {
            self.max_token = Some(self.max_token.map_or(t, |m| m.max(t)));
            let node = &self.nodes[cur];
            cur = match node.tokens.binary_search(&t) {
                Ok(i) => node.children[i],
                Err(i) => {
                    let new = self.nodes.len();
                    self.nodes.push(Node::default());
                    let node = &mut self.nodes[cur];
                    node.tokens.insert(i, t);
                    node.children.insert(i, new);
                    new
                }
            };
        }
    }

    /// Tokens allowed after `path` (sorted): the children of its node, `[]` at a leaf, `[EOS]`
    /// when `path` is not in the trie.
    pub fn allowed_next(&self, path: &[i64]) -> &[i64] {
        let mut cur = 0;
        for t in path {
            let node = &self.nodes[cur];
            match node.tokens.binary_search(t) {
                Ok(i) => cur = node.children[i],
                Err(_) => return &self.eos,
            }
        }
        &self.nodes[cur].tokens
    }

    /// The largest and smallest token ids stored, for range checks against the vocabulary.
    pub(crate) fn token_range(&self) -> Option<(i64, i64)> {
        let min = self
            .nodes
            .iter()
            .flat_map(|n| n.tokens.first())
            .min()
            .copied();
        self.max_token.zip(min).map(|(max, min)| (min, max))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn answers() -> Trie {
        // " a ball" = [10, 1011], " ball" = [1011], " a white ball" = [10, 1104, 1011].
        let mut t = Trie::new(2);
        for a in [&[10, 1011][..], &[1011], &[10, 1104, 1011]] {
            let mut p = vec![0];
            p.extend_from_slice(a);
            p.push(2);
            t.insert(&p);
        }
        t
    }

    #[test]
    fn next_layer_follows_paths() {
        let t = answers();
        assert_eq!(t.allowed_next(&[]), &[0]);
        assert_eq!(t.allowed_next(&[0]), &[10, 1011]);
        assert_eq!(t.allowed_next(&[0, 10]), &[1011, 1104]);
        assert_eq!(t.allowed_next(&[0, 10, 1011]), &[2]);
        assert_eq!(t.allowed_next(&[0, 10, 1104, 1011]), &[2]);
        // A leaf (after EOS) has no children.
        assert!(t.allowed_next(&[0, 1011, 2]).is_empty());
    }

    #[test]
    fn unknown_paths_allow_only_eos() {
        let t = answers();
        assert_eq!(t.allowed_next(&[0, 999]), &[2]);
        assert_eq!(t.allowed_next(&[5]), &[2]);
    }

    #[test]
    fn eos_and_continuation_both_allowed_when_a_longer_answer_shares_the_prefix() {
        let mut t = Trie::new(2);
        t.insert(&[0, 7, 2]);
        t.insert(&[0, 7, 8, 2]);
        assert_eq!(t.allowed_next(&[0, 7]), &[2, 8]);
        assert_eq!(t.token_range(), Some((0, 8)));
        assert_eq!(Trie::new(2).token_range(), None);
    }
}
