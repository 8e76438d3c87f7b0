//! Finding a node by id while the graph is built, to resolve dependencies.

use super::Node;

/// Every node by its id: open addressing with linear probing over a power-of-two table kept at
/// most half full. Each 8-byte slot holds a node number and 32 bits of its id's hash, so a probe
/// reads an id only when the tag matches. The table is a third of a `HashMap<&str, Node>` (24
/// bytes a slot), and [`IdIndex::likely`] lets a caller probe for many ids before comparing any,
/// so that the cache misses of different lookups overlap.
pub(super) struct IdIndex<'g> {
    /// The graph's ids in node order: node `v` is `arena[bounds[v]..bounds[v + 1]]`.
    arena: &'g [u8],
    bounds: &'g [u32],
    /// `tag << 32 | node`, or [`EMPTY`].
    slots: Vec<u64>,
    /// `64 - log2(slots.len())`: the top bits of a hash pick the first slot.
    shift: u32,
}

/// No node is numbered `u32::MAX`: a graph holds fewer nodes.
pub(super) const NO_NODE: Node = Node::MAX;

/// A free slot; its node half is [`NO_NODE`].
const EMPTY: u64 = u64::MAX;

impl<'g> IdIndex<'g> {
    /// Indexes every node of `arena`/`bounds`, whose ids are unique.
    pub(super) fn new(arena: &'g str, bounds: &'g [u32]) -> IdIndex<'g> {
        let len = bounds.len() - 1;
        // At least one slot stays empty, which ends every probe.
        let capacity = (2 * len).next_power_of_two().max(2);
        let mut index = IdIndex {
            arena: arena.as_bytes(),
            bounds,
            slots: vec![EMPTY; capacity],
            shift: 64 - capacity.trailing_zeros(),
        };
        let mask = capacity - 1;
        for node in 0..len as Node {
            let hash = hash_id(index.id(node));
            let mut at = index.first_slot(hash);
            while index.slots[at] != EMPTY {
                at = (at + 1) & mask;
            }
            index.slots[at] = (hash << 32) | u64::from(node);
        }
        index
    }

    /// The node `id` most likely names, without reading any id: the first one whose hash tag
    /// matches, or [`NO_NODE`]. Confirm it by comparing ids, and fall back to [`IdIndex::get`].
    pub(super) fn likely(&self, id: &str) -> Node {
        let hash = hash_id(id.as_bytes());
        let tag = hash as u32;
        let mask = self.slots.len() - 1;
        let mut at = self.first_slot(hash);
        loop {
            let slot = self.slots[at];
            if slot == EMPTY || (slot >> 32) as u32 == tag {
                return slot as Node;
            }
            at = (at + 1) & mask;
        }
    }

    /// The node named `id`, if any.
    pub(super) fn get(&self, id: &str) -> Option<Node> {
        let hash = hash_id(id.as_bytes());
        let tag = hash as u32;
        let mask = self.slots.len() - 1;
        let mut at = self.first_slot(hash);
        loop {
            let slot = self.slots[at];
            if slot == EMPTY {
                return None;
            }
            let node = slot as Node;
            if (slot >> 32) as u32 == tag && self.id(node) == id.as_bytes() {
                return Some(node);
            }
            at = (at + 1) & mask;
        }
    }

    fn first_slot(&self, hash: u64) -> usize {
        (hash >> self.shift) as usize
    }

    fn id(&self, node: Node) -> &'g [u8] {
        let v = node as usize;
        &self.arena[self.bounds[v] as usize..self.bounds[v + 1] as usize]
    }
}

/// A fast non-cryptographic hash of an id (ids come from the program, not from an adversary):
/// multiply-rotate over 8-byte words as in rustc's FxHasher, the high half of the result then
/// folded into the low half, which becomes the tag while the high bits pick the slot. The tail
/// is read as the last 8 (or 4) bytes, overlapping what came before, rather than copied into a
/// zeroed word: a copy of variable length is a `memcpy` call, which would dominate a lookup.
fn hash_id(bytes: &[u8]) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let len = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let mix = |hash: u64, word: u64| (hash.rotate_left(26) ^ word).wrapping_mul(K);
    let mut hash = len as u64;
    if len >= 8 {
        let mut at = 0;
        while at + 8 < len {
            hash = mix(hash, word(at));
            at += 8;
        }
        hash = mix(hash, word(len - 8));
    } else if len >= 4 {
        hash = mix(hash, u64::from(half(0)) << 32 | u64::from(half(len - 4)));
    } else if len > 0 {
        let (first, middle, last) = (bytes[0], bytes[len / 2], bytes[len - 1]);
        hash = mix(
            hash,
            u64::from_le_bytes([first, middle, last, 0, 0, 0, 0, 0]),
        );
    }
    hash ^ (hash >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_id_and_nothing_else() {
        for len in [0usize, 1, 2, 3, 1000] {
            let ids: Vec<String> = (0..len).map(|i| format!("id{i:05}")).collect();
            let arena: String = ids.concat();
            let mut bounds = vec![0u32];
            for id in &ids {
                bounds.push(bounds.last().unwrap() + id.len() as u32);
            }
            let index = IdIndex::new(&arena, &bounds);
            for (node, id) in ids.iter().enumerate() {
                assert_eq!(index.get(id), Some(node as Node));
                assert_eq!(index.likely(id), node as Node);
            }
            for missing in ["", "id", "id000000", "id0000", "x"] {
                assert_eq!(index.get(missing), None, "{missing}");
                let likely = index.likely(missing);
                assert!(likely == NO_NODE || ids[likely as usize] != missing);
            }
        }
    }
}
