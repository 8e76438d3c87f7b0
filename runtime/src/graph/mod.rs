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
//!   ready migration with the smallest id comes next (Kahn's algorithm, the ready migrations
//!   kept in a bitset that yields the smallest node first). Every machine therefore plans the
//!   same order.
//! - Plans never break the ancestor closure of the applied set: an upgrade applies a migration
//!   only after its dependencies, a downgrade reverts one only after everything applied that
//!   depends on it.
//!
//! A graph is built in exactly one way, [`Graph::new`], from `(id, dependencies)` pairs; the
//! registry ([`crate::registry::Registry::graph`]), the tests and the benchmark all go through it.
//! Building takes time linear in the size of the input (see `build.rs`); input already sorted by
//! id, as the registry's is, is recognized in one pass and not sorted again.

mod build;
mod error;
mod index;
mod plan;
mod ready;
mod sort;
mod target;

pub(crate) use sort::{prefix_key, sort_by_prefix_key};

pub use error::{GraphError, ParseTargetError, PlanError};
pub use plan::{Direction, Plan};
pub use target::{Anchor, Target};

// The id rule (`check_id`, `MAX_ID_LEN`, `RESERVED_IDS`) lives in `godwit-id`, which
// `#[migration]` also uses at compile time; re-exported here, its public home.
pub use godwit_id::{MAX_ID_LEN, RESERVED_IDS, check_id};

/// Index of a node; nodes are numbered in id order.
type Node = u32;

/// Id `v` of an arena: `arena[bounds[v]..bounds[v + 1]]`.
fn id_at<'a>(arena: &'a str, bounds: &[u32], v: usize) -> &'a str {
    &arena[bounds[v] as usize..bounds[v + 1] as usize]
}

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
        id_at(&self.arena, &self.bounds, node as usize)
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
