//! The ready set of Kahn's algorithm: node numbers, smallest first.

use super::Node;

/// A set of node numbers that gives back its smallest member first, in the place of a binary
/// heap. It is a bitset (one bit per node) under summary levels in which a bit says "some bit
/// in the matching word below is set". Inserting and taking the smallest touch one word per
/// level, and there are `log64 n` levels (3 for 262,144 nodes), where a heap costs `log2 n`
/// scattered moves.
pub(super) struct ReadySet {
    /// `levels[0]` has a bit per node; each further level has a bit per word of the one below;
    /// the last level is a single word.
    levels: Vec<Vec<u64>>,
}

impl ReadySet {
    /// An empty set for nodes `0..len`.
    pub(super) fn new(len: usize) -> ReadySet {
        let mut levels = Vec::new();
        let mut bits = len;
        loop {
            let words = bits.div_ceil(64).max(1);
            levels.push(vec![0u64; words]);
            if words == 1 {
                return ReadySet { levels };
            }
            bits = words;
        }
    }

    pub(super) fn insert(&mut self, node: Node) {
        let mut bit = node as usize;
        for level in &mut self.levels {
            let word = &mut level[bit / 64];
            let was_empty = *word == 0;
            *word |= 1 << (bit % 64);
            if !was_empty {
                // The levels above already know this word is not empty.
                break;
            }
            bit /= 64;
        }
    }

    /// Removes and returns the smallest node, if any.
    pub(super) fn pop_min(&mut self) -> Option<Node> {
        let top = self.levels.last()?;
        if top[0] == 0 {
            return None;
        }
        let mut bit = 0usize;
        for level in self.levels.iter().rev() {
            bit = bit * 64 + level[bit].trailing_zeros() as usize;
        }
        let node = bit as Node;
        for level in &mut self.levels {
            let word = &mut level[bit / 64];
            *word &= !(1 << (bit % 64));
            if *word != 0 {
                break;
            }
            bit /= 64;
        }
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_increasing_order_across_levels() {
        for len in [0usize, 1, 63, 64, 65, 4096, 4097, 300_000] {
            let mut set = ReadySet::new(len);
            let members: Vec<Node> = (0..len as Node).rev().step_by(7).collect();
            for &v in &members {
                set.insert(v);
            }
            let mut popped = Vec::new();
            while let Some(v) = set.pop_min() {
                popped.push(v);
            }
            let mut expected = members;
            expected.sort_unstable();
            assert_eq!(popped, expected, "len {len}");
        }
    }

    #[test]
    fn interleaves_like_a_min_heap() {
        let mut set = ReadySet::new(10_000);
        let mut heap = std::collections::BTreeSet::new();
        let mut state = 7u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((state >> 33) % 10_000) as Node;
            if state.is_multiple_of(3) {
                assert_eq!(set.pop_min(), heap.pop_first());
            } else if heap.insert(v) {
                set.insert(v);
            }
        }
        while let Some(v) = heap.pop_first() {
            assert_eq!(set.pop_min(), Some(v));
        }
        assert_eq!(set.pop_min(), None);
    }
}
