//! The migration graph: a DAG over every registered migration.
//!
//! A migration's parents are its `after = [...]` dependencies. The graph may have several bases
//! (no parents), branch points (several children), merge points (several parents) and several
//! heads (no children).
//!
//! Invariants:
//! - Nodes are numbered in id order (byte order), so every tie is broken by id and nothing
//!   depends on the registration order that `inventory` happens to give.
//! - [`Graph::order`] is the lexicographically smallest topological order: at each step the
//!   ready migration with the smallest id comes next (Kahn's algorithm with a min-heap). Every
//!   machine therefore plans the same order.
//! - Plans never break the ancestor closure of the applied set: an upgrade applies a migration
//!   only after its dependencies, a downgrade reverts one only after everything applied that
//!   depends on it.
//!
//! A graph is built in exactly one way, [`Graph::new`], from `(id, dependencies)` pairs; the
//! registry ([`crate::registry::Registry::graph`]), the tests and the benchmark all go through it.

mod error;
mod plan;
mod target;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

pub use error::{GraphError, ParseTargetError, PlanError};
pub use plan::{Direction, Plan};
pub use target::{Anchor, Target};

/// Ids that are target keywords and cannot name a migration. Same list as the macro's.
pub const RESERVED_IDS: &[&str] = &["head", "heads", "base"];

/// Longest migration id, in bytes. Same limit as the macro's.
pub const MAX_ID_LEN: usize = 128;

/// Checks a migration id: non-empty, at most [`MAX_ID_LEN`] bytes, only letters, digits, `_` and
/// `.` (so that `id+N`, `id-N` and `+N` stay unambiguous), and not one of [`RESERVED_IDS`].
/// `#[migration]` applies the same rule at compile time.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("an id cannot be empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "`{id}` is {} bytes long; the limit is {MAX_ID_LEN}",
            id.len()
        ));
    }
    // A table, not a chain of comparisons: random ids make those branches unpredictable.
    const PLAIN: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
            b += 1;
        }
        table
    };
    let plain = id.bytes().fold(true, |ok, b| ok & PLAIN[b as usize]);
    if let Some(bad) = (!plain)
        .then(|| {
            id.chars()
                .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        })
        .flatten()
    {
        return Err(format!(
            "`{id}` contains `{bad}`; use letters, digits, `_` and `.`"
        ));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(format!("`{id}` is reserved for the target `{id}`"));
    }
    Ok(())
}

/// The first 8 bytes of `id`, big-endian, zero-padded: ordering these keys agrees with ordering
/// the ids (ids contain no NUL), and ties are broken by comparing the ids themselves.
pub(crate) fn prefix_key(id: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let len = id.len().min(8);
    bytes[..len].copy_from_slice(&id.as_bytes()[..len]);
    u64::from_be_bytes(bytes)
}

/// A fast non-cryptographic hasher for ids while building the graph (ids come from the
/// program, not from an adversary). Multiply-rotate over 8-byte words, as in rustc's FxHasher.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0 ^ u64::from_le_bytes(word))
                .wrapping_mul(K)
                .rotate_left(26);
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.0 = (self.0 ^ u64::from_le_bytes(last) ^ bytes.len() as u64)
            .wrapping_mul(K)
            .rotate_left(26);
    }

    fn write_u8(&mut self, byte: u8) {
        self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0xf135_7aea_2e62_a9c5);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Index of a node; nodes are numbered in id order.
type Node = u32;

/// The DAG of migrations. See the [module documentation](self).
///
/// Storage is flat for speed at 10,000+ migrations: the ids live in one sorted arena, and the
/// edges in compressed rows (`offsets[v]..offsets[v + 1]` indexes the edge list of node `v`).
#[derive(Debug, Clone)]
pub struct Graph {
    /// Every id, concatenated in id order.
    arena: String,
    /// Node `v`'s id is `arena[bounds[v]..bounds[v + 1]]`.
    bounds: Vec<u32>,
    /// Dependencies of each node, sorted, in compressed rows.
    parent_offsets: Vec<u32>,
    parent_list: Vec<Node>,
    /// Dependents of each node, sorted, in compressed rows.
    child_offsets: Vec<u32>,
    child_list: Vec<Node>,
    /// Every node, in topological order with ties broken by id.
    order: Vec<Node>,
    heads: Vec<Node>,
    bases: Vec<Node>,
}

impl Graph {
    /// Builds the graph from `(id, dependencies)` pairs, in any order.
    ///
    /// ```
    /// use godwit::graph::Graph;
    /// let graph = Graph::new([("b", vec!["a"]), ("a", vec![]), ("c", vec!["a"])])?;
    /// assert_eq!(graph.order().collect::<Vec<_>>(), ["a", "b", "c"]);
    /// assert_eq!(graph.heads(), ["b", "c"]);
    /// # Ok::<(), godwit::graph::GraphError>(())
    /// ```
    pub fn new<I, S, D>(nodes: I) -> Result<Graph, GraphError>
    where
        I: IntoIterator<Item = (S, D)>,
        S: AsRef<str>,
        D: IntoIterator,
        D::Item: AsRef<str>,
    {
        // The input, flat: the dependencies of input node `i` are
        // `deps[dep_ends[i - 1]..dep_ends[i]]`.
        let nodes = nodes.into_iter();
        let hint = nodes.size_hint().0;
        let mut names: Vec<S> = Vec::with_capacity(hint);
        let mut deps: Vec<D::Item> = Vec::with_capacity(hint * 2);
        let mut dep_ends: Vec<usize> = Vec::with_capacity(hint);
        for (id, node_deps) in nodes {
            names.push(id);
            deps.extend(node_deps);
            dep_ends.push(deps.len());
        }
        let n = names.len();
        let arena_len: usize = names.iter().map(|id| id.as_ref().len()).sum();
        if u32::try_from(n).is_err()
            || u32::try_from(deps.len()).is_err()
            || u32::try_from(arena_len).is_err()
        {
            return Err(GraphError::TooLarge { count: n });
        }
        for id in &names {
            let id = id.as_ref();
            check_id(id).map_err(|reason| GraphError::InvalidId {
                id: id.into(),
                reason,
            })?;
        }

        // Node numbers are positions in id order. Sorting and lookups compare 8-byte prefixes
        // first (see `prefix_key`), so most comparisons touch no string.
        let mut input_of: Vec<(u64, u32)> = names
            .iter()
            .enumerate()
            .map(|(i, id)| (prefix_key(id.as_ref()), i as u32))
            .collect();
        input_of.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                names[a.1 as usize]
                    .as_ref()
                    .cmp(names[b.1 as usize].as_ref())
            })
        });
        if let Some(pair) = input_of.windows(2).find(|w| {
            w[0].0 == w[1].0 && names[w[0].1 as usize].as_ref() == names[w[1].1 as usize].as_ref()
        }) {
            return Err(GraphError::DuplicateId {
                id: names[pair[0].1 as usize].as_ref().into(),
            });
        }
        let mut arena = String::with_capacity(arena_len);
        let mut bounds: Vec<u32> = Vec::with_capacity(n + 1);
        bounds.push(0);
        for &(_, i) in &input_of {
            arena.push_str(names[i as usize].as_ref());
            bounds.push(arena.len() as u32);
        }
        let name = |v: usize| &arena[bounds[v] as usize..bounds[v + 1] as usize];
        // Dependencies are resolved through a hash map: a binary search per dependency costs
        // a cache miss per probe once the graph outgrows the cache.
        let mut index: HashMap<&str, Node, BuildHasherDefault<IdHasher>> =
            HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default());
        for (node, &(_, i)) in input_of.iter().enumerate() {
            index.insert(names[i as usize].as_ref(), node as Node);
        }
        let find = |id: &str| index.get(id).copied();

        let mut parent_offsets: Vec<u32> = Vec::with_capacity(n + 1);
        let mut parent_list: Vec<Node> = Vec::with_capacity(deps.len());
        parent_offsets.push(0);
        for (node, &(_, i)) in input_of.iter().enumerate() {
            let i = i as usize;
            let first = if i == 0 { 0 } else { dep_ends[i - 1] };
            let row_start = parent_list.len();
            for dep in &deps[first..dep_ends[i]] {
                let dep = dep.as_ref();
                let Some(parent) = find(dep) else {
                    return Err(GraphError::UnknownDependency {
                        id: name(node).into(),
                        dependency: dep.into(),
                    });
                };
                if parent as usize == node {
                    return Err(GraphError::SelfDependency {
                        id: name(node).into(),
                    });
                }
                parent_list.push(parent);
            }
            let row = &mut parent_list[row_start..];
            row.sort_unstable();
            if let Some(pair) = row.windows(2).find(|w| w[0] == w[1]) {
                return Err(GraphError::DuplicateDependency {
                    id: name(node).into(),
                    dependency: name(pair[0] as usize).into(),
                });
            }
            parent_offsets.push(parent_list.len() as u32);
        }

        // Children by counting; filling in node order keeps every row sorted.
        let mut child_offsets = vec![0u32; n + 1];
        for &p in &parent_list {
            child_offsets[p as usize + 1] += 1;
        }
        for v in 0..n {
            child_offsets[v + 1] += child_offsets[v];
        }
        let mut fill: Vec<u32> = child_offsets[..n].to_vec();
        let mut child_list: Vec<Node> = vec![0; parent_list.len()];
        for v in 0..n {
            for &p in &parent_list[parent_offsets[v] as usize..parent_offsets[v + 1] as usize] {
                child_list[fill[p as usize] as usize] = v as Node;
                fill[p as usize] += 1;
            }
        }

        // Kahn's algorithm; the min-heap on node numbers breaks ties by id.
        let mut waiting: Vec<u32> = (0..n)
            .map(|v| parent_offsets[v + 1] - parent_offsets[v])
            .collect();
        let mut ready: BinaryHeap<Reverse<Node>> = (0..n as Node)
            .filter(|&v| waiting[v as usize] == 0)
            .map(Reverse)
            .collect();
        let mut order: Vec<Node> = Vec::with_capacity(n);
        while let Some(Reverse(node)) = ready.pop() {
            order.push(node);
            let v = node as usize;
            for &child in &child_list[child_offsets[v] as usize..child_offsets[v + 1] as usize] {
                let w = &mut waiting[child as usize];
                *w -= 1;
                if *w == 0 {
                    ready.push(Reverse(child));
                }
            }
        }
        let heads = (0..n as Node)
            .filter(|&v| child_offsets[v as usize] == child_offsets[v as usize + 1])
            .collect();
        let bases = (0..n as Node)
            .filter(|&v| parent_offsets[v as usize] == parent_offsets[v as usize + 1])
            .collect();
        let graph = Graph {
            arena,
            bounds,
            parent_offsets,
            parent_list,
            child_offsets,
            child_list,
            order,
            heads,
            bases,
        };
        if graph.order.len() < n {
            return Err(GraphError::Cycle {
                cycle: graph.find_cycle(&waiting),
            });
        }
        Ok(graph)
    }

    /// Number of migrations.
    pub fn len(&self) -> usize {
        self.bounds.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, id: &str) -> bool {
        self.node(id).is_some()
    }

    /// Every id, sorted.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len() as Node).map(|v| self.id(v))
    }

    /// Every id in plan order: topological, ties broken by id.
    pub fn order(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.order.iter().map(|&v| self.id(v))
    }

    /// Migrations nothing depends on, sorted by id.
    pub fn heads(&self) -> Vec<&str> {
        self.names(&self.heads)
    }

    /// Migrations without dependencies, sorted by id.
    pub fn bases(&self) -> Vec<&str> {
        self.names(&self.bases)
    }

    /// The dependencies of `id`, sorted; `None` if `id` is unknown.
    pub fn parents(&self, id: &str) -> Option<Vec<&str>> {
        self.node(id).map(|v| self.names(self.parents_of(v)))
    }

    /// The migrations that list `id` as a dependency, sorted; `None` if `id` is unknown.
    pub fn children(&self, id: &str) -> Option<Vec<&str>> {
        self.node(id).map(|v| self.names(self.children_of(v)))
    }

    /// Whether `ancestor` must run before `id` (directly or through other migrations). A
    /// migration is not its own ancestor. `false` if either id is unknown.
    pub fn is_ancestor(&self, ancestor: &str, id: &str) -> bool {
        match (self.node(ancestor), self.node(id)) {
            (Some(a), Some(v)) if a != v => {
                let mut seen = vec![false; self.len()];
                self.mark_ancestors(v, &mut seen);
                seen[a as usize]
            }
            _ => false,
        }
    }

    /// The heads of an applied set: applied migrations none of whose children is applied, in
    /// id order. Unknown ids are an error.
    pub fn heads_of<A>(&self, applied: A) -> Result<Vec<&str>, PlanError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let applied = self.applied_set(applied)?;
        Ok((0..self.len() as Node)
            .filter(|&v| {
                applied[v as usize] && !self.children_of(v).iter().any(|&c| applied[c as usize])
            })
            .map(|v| self.id(v))
            .collect())
    }

    fn id(&self, node: Node) -> &str {
        let v = node as usize;
        &self.arena[self.bounds[v] as usize..self.bounds[v + 1] as usize]
    }

    fn parents_of(&self, node: Node) -> &[Node] {
        let v = node as usize;
        &self.parent_list[self.parent_offsets[v] as usize..self.parent_offsets[v + 1] as usize]
    }

    fn children_of(&self, node: Node) -> &[Node] {
        let v = node as usize;
        &self.child_list[self.child_offsets[v] as usize..self.child_offsets[v + 1] as usize]
    }

    /// The first node whose id is not less than `id`.
    fn lower_bound(&self, id: &str) -> usize {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.id(mid as Node) < id {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn names(&self, nodes: &[Node]) -> Vec<&str> {
        nodes.iter().map(|&v| self.id(v)).collect()
    }

    fn node(&self, id: &str) -> Option<Node> {
        let at = self.lower_bound(id);
        (at < self.len() && self.id(at as Node) == id).then_some(at as Node)
    }

    /// Marks `node` and all its ancestors in `seen`.
    fn mark_ancestors(&self, node: Node, seen: &mut [bool]) {
        if seen[node as usize] {
            return;
        }
        seen[node as usize] = true;
        let mut stack = vec![node];
        while let Some(v) = stack.pop() {
            for &p in self.parents_of(v) {
                if !seen[p as usize] {
                    seen[p as usize] = true;
                    stack.push(p);
                }
            }
        }
    }
}

impl Graph {
    /// A cycle among the nodes Kahn's algorithm could not order (`waiting > 0`). Each such node
    /// has a parent that is also unordered, so walking parents must revisit a node.
    fn find_cycle(&self, waiting: &[u32]) -> Vec<String> {
        let stuck = |v: Node| waiting[v as usize] > 0;
        let Some(start) = (0..self.len() as Node).find(|&v| stuck(v)) else {
            return Vec::new();
        };
        let mut path: Vec<Node> = vec![start];
        let mut index_in_path = vec![usize::MAX; self.len()];
        index_in_path[start as usize] = 0;
        while let Some(&v) = path.last() {
            let Some(next) = self.parents_of(v).iter().copied().find(|&p| stuck(p)) else {
                break;
            };
            if index_in_path[next as usize] != usize::MAX {
                let mut cycle: Vec<Node> = path[index_in_path[next as usize]..].to_vec();
                if let Some(smallest) = (0..cycle.len()).min_by_key(|&i| cycle[i]) {
                    cycle.rotate_left(smallest);
                }
                return cycle.iter().map(|&v| self.id(v).to_string()).collect();
            }
            index_in_path[next as usize] = path.len();
            path.push(next);
        }
        // Unreachable for a stuck node set; name what could not be ordered rather than panic.
        (0..self.len() as Node)
            .filter(|&v| stuck(v))
            .map(|v| self.id(v).to_string())
            .collect()
    }
}
