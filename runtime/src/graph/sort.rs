//! Sorting ids in linear time, shared by the registry and the graph.
//!
//! Both sort `(prefix key, index)` pairs rather than the ids themselves: the key holds an id's
//! first 8 bytes, so nearly every decision reads no string. A comparison sort would cost
//! `n log n`; here input that is already sorted (a registry's entries handed to the graph) is
//! recognized in one pass, anything else is radix sorted on the keys, and only ids that share
//! their first 8 bytes are compared as strings.

use std::cmp::Ordering;

/// The first 8 bytes of `id`, big-endian, zero-padded. A smaller key means a smaller id, so
/// sorting by key sorts by id except among ids that share a key; those are compared whole.
pub(crate) fn prefix_key(id: &str) -> u64 {
    let bytes = id.as_bytes();
    if let Some(first) = bytes.first_chunk::<8>() {
        return u64::from_be_bytes(*first);
    }
    // Shorter ids byte by byte: copying a slice of variable length calls `memcpy`, which would
    // cost more than the rest of the key.
    let mut key = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        key |= u64::from(b) << (56 - 8 * i);
    }
    key
}

/// Sorts `(prefix key, index)` pairs by key, then every run of equal keys by `tie`, which is
/// given the two indices. With keys from [`prefix_key`] and a `tie` that compares the ids, this
/// sorts by id. Returns whether the pairs were already in order (and so are untouched).
pub(crate) fn sort_by_prefix_key(
    pairs: &mut [(u64, u32)],
    mut tie: impl FnMut(u32, u32) -> Ordering,
) -> bool {
    let already_sorted = pairs
        .windows(2)
        .all(|w| w[0].0 < w[1].0 || (w[0].0 == w[1].0 && tie(w[0].1, w[1].1).is_le()));
    if already_sorted {
        return true;
    }
    radix_sort_by_key(pairs);
    let mut start = 0;
    while start < pairs.len() {
        let key = pairs[start].0;
        let end = start + pairs[start..].iter().take_while(|p| p.0 == key).count();
        if end - start > 1 {
            pairs[start..end].sort_unstable_by(|a, b| tie(a.1, b.1));
        }
        start = end;
    }
    false
}

/// Buckets this small are finished with a comparison sort: a 256-way pass would cost more.
const SMALL_BUCKET: usize = 64;

/// A most-significant-digit radix sort on the keys. Each round splits on the first byte where
/// the keys of a bucket differ (bytes shared by all of them, such as a leading `m`, cost
/// nothing), and a bucket stops splitting once it is small, so 10,000 random ids take about
/// two passes over the data rather than one per key byte.
fn radix_sort_by_key(pairs: &mut [(u64, u32)]) {
    let mut scratch = vec![(0u64, 0u32); pairs.len()];
    split_by_first_differing_byte(pairs, &mut scratch);
}

fn split_by_first_differing_byte(pairs: &mut [(u64, u32)], scratch: &mut [(u64, u32)]) {
    if pairs.len() <= SMALL_BUCKET {
        pairs.sort_unstable_by_key(|p| p.0);
        return;
    }
    let first = pairs[0].0;
    let differing_bits = pairs.iter().fold(0, |bits, p| bits | (p.0 ^ first));
    if differing_bits == 0 {
        // Equal keys: the caller orders them by id.
        return;
    }
    // The most significant byte in which some keys differ.
    let shift = (63 - differing_bits.leading_zeros()) / 8 * 8;
    let digit = |key: u64| usize::from((key >> shift) as u8);
    let mut counts = [0usize; 256];
    for p in pairs.iter() {
        counts[digit(p.0)] += 1;
    }
    let mut next = [0usize; 256];
    let mut total = 0;
    for (slot, &count) in next.iter_mut().zip(&counts) {
        *slot = total;
        total += count;
    }
    for &p in pairs.iter() {
        let slot = &mut next[digit(p.0)];
        scratch[*slot] = p;
        *slot += 1;
    }
    pairs.copy_from_slice(scratch);
    let mut start = 0;
    for count in counts {
        let end = start + count;
        if count > 1 {
            split_by_first_differing_byte(&mut pairs[start..end], &mut scratch[start..end]);
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(ids: &[&str]) -> Vec<String> {
        let mut pairs: Vec<(u64, u32)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (prefix_key(id), i as u32))
            .collect();
        sort_by_prefix_key(&mut pairs, |a, b| ids[a as usize].cmp(ids[b as usize]));
        pairs.iter().map(|&(_, i)| ids[i as usize].into()).collect()
    }

    #[test]
    fn sorts_like_a_comparison_sort() {
        let mut state = 0x5eed_u64;
        let mut ids: Vec<String> = (0..2000)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Shared prefixes, prefixes of each other, lengths around the 8-byte key.
                let n = state >> 40;
                match i % 4 {
                    0 => format!("m{:x}", n),
                    1 => format!("migration_{}", n % 500),
                    2 => format!("{}", n % 100_000),
                    _ => "m".repeat((n % 12) as usize + 1),
                }
            })
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let got = sorted(&refs);
        ids.sort();
        assert_eq!(got, ids);
        let again: Vec<&str> = got.iter().map(String::as_str).collect();
        assert_eq!(sorted(&again), got);
        assert!(sorted(&[]).is_empty());
        assert_eq!(sorted(&["b", "a"]), ["a", "b"]);
    }
}
