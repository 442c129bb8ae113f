//! `--limit N` and `--shard I/N`: which items of a dataset one run evaluates. The limit cuts
//! the dataset first, then shards deal what is left round-robin, so the shards of a limited run
//! together cover exactly the unsharded run's items.

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` with `0 ≤ I < N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard I/N with 0 ≤ I < N, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = match (i.trim().parse::<usize>(), n.trim().parse::<usize>()) {
            (Ok(i), Ok(n)) if i < n => (i, n),
            _ => return Err(bad()),
        };
        Ok(Shard { index, count })
    }

    /// Whether the item at dataset position `position` belongs to this shard.
    pub fn contains(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

/// Dataset positions a run evaluates: the first `limit` (all when `None`), those of `shard`.
pub fn selected(total: usize, limit: Option<usize>, shard: Option<Shard>) -> Vec<usize> {
    let end = limit.map_or(total, |l| l.min(total));
    (0..end)
        .filter(|&p| shard.is_none_or(|s| s.contains(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_limited_dataset() {
        let all = selected(10, Some(7), None);
        assert_eq!(all, (0..7).collect::<Vec<_>>());
        let mut union: Vec<usize> = (0..3)
            .flat_map(|i| selected(10, Some(7), Some(Shard { index: i, count: 3 })))
            .collect();
        union.sort_unstable();
        assert_eq!(union, all);
        assert_eq!(
            selected(3, None, Some(Shard::parse("1/2").unwrap())),
            vec![1]
        );
    }

    #[test]
    fn bad_shards_are_refused() {
        for s in ["2/2", "1", "a/b", "0/0", "-1/3"] {
            assert!(Shard::parse(s).is_err(), "{s}");
        }
        assert_eq!(
            Shard::parse(" 3 / 4 ").unwrap(),
            Shard { index: 3, count: 4 }
        );
    }
}
