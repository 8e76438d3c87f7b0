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
use std::collections::BinaryHeap;

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
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
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

/// Index of a node; nodes are numbered in id order.
type Node = u32;

/// The DAG of migrations. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Graph {
    /// Sorted; the index is the node number.
    ids: Vec<Box<str>>,
    /// Per node, its dependencies, sorted.
    parents: Vec<Vec<Node>>,
    /// Per node, the nodes that depend on it, sorted.
    children: Vec<Vec<Node>>,
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
        let mut raw: Vec<(S, Vec<D::Item>)> = nodes
            .into_iter()
            .map(|(id, deps)| (id, deps.into_iter().collect()))
            .collect();
        for (id, _) in &raw {
            check_id(id.as_ref()).map_err(|reason| GraphError::InvalidId {
                id: id.as_ref().into(),
                reason,
            })?;
        }
        raw.sort_unstable_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        if let Some(pair) = raw.windows(2).find(|w| w[0].0.as_ref() == w[1].0.as_ref()) {
            return Err(GraphError::DuplicateId {
                id: pair[0].0.as_ref().into(),
            });
        }
        let n = raw.len();
        if u32::try_from(n).is_err() {
            return Err(GraphError::TooLarge { count: n });
        }
        let ids: Vec<Box<str>> = raw.iter().map(|(id, _)| Box::from(id.as_ref())).collect();
        let find = |id: &str| ids.binary_search_by(|probe| (**probe).cmp(id)).ok();

        let mut parents: Vec<Vec<Node>> = Vec::with_capacity(n);
        let mut children: Vec<Vec<Node>> = vec![Vec::new(); n];
        for (node, (id, deps)) in raw.iter().enumerate() {
            let id = id.as_ref();
            let mut own: Vec<Node> = Vec::with_capacity(deps.len());
            for dep in deps {
                let dep = dep.as_ref();
                let Some(parent) = find(dep) else {
                    return Err(GraphError::UnknownDependency {
                        id: id.into(),
                        dependency: dep.into(),
                    });
                };
                if parent == node {
                    return Err(GraphError::SelfDependency { id: id.into() });
                }
                own.push(parent as Node);
            }
            own.sort_unstable();
            if let Some(pair) = own.windows(2).find(|w| w[0] == w[1]) {
                return Err(GraphError::DuplicateDependency {
                    id: id.into(),
                    dependency: ids[pair[0] as usize].to_string(),
                });
            }
            for &parent in &own {
                children[parent as usize].push(node as Node);
            }
            parents.push(own);
        }
        // Children were pushed in increasing node order: already sorted.

        // Kahn's algorithm; the min-heap on node numbers breaks ties by id.
        let mut waiting: Vec<u32> = parents.iter().map(|p| p.len() as u32).collect();
        let mut ready: BinaryHeap<Reverse<Node>> = (0..n as Node)
            .filter(|&v| waiting[v as usize] == 0)
            .map(Reverse)
            .collect();
        let mut order: Vec<Node> = Vec::with_capacity(n);
        while let Some(Reverse(node)) = ready.pop() {
            order.push(node);
            for &child in &children[node as usize] {
                let w = &mut waiting[child as usize];
                *w -= 1;
                if *w == 0 {
                    ready.push(Reverse(child));
                }
            }
        }
        if order.len() < n {
            return Err(GraphError::Cycle {
                cycle: find_cycle(&ids, &parents, &waiting),
            });
        }
        let heads = (0..n as Node)
            .filter(|&v| children[v as usize].is_empty())
            .collect();
        let bases = (0..n as Node)
            .filter(|&v| parents[v as usize].is_empty())
            .collect();
        Ok(Graph {
            ids,
            parents,
            children,
            order,
            heads,
            bases,
        })
    }

    /// Number of migrations.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.node(id).is_some()
    }

    /// Every id, sorted.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.ids.iter().map(|id| &**id)
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
        self.node(id).map(|v| self.names(&self.parents[v as usize]))
    }

    /// The migrations that list `id` as a dependency, sorted; `None` if `id` is unknown.
    pub fn children(&self, id: &str) -> Option<Vec<&str>> {
        self.node(id)
            .map(|v| self.names(&self.children[v as usize]))
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
                applied[v as usize]
                    && !self.children[v as usize]
                        .iter()
                        .any(|&c| applied[c as usize])
            })
            .map(|v| self.id(v))
            .collect())
    }

    fn id(&self, node: Node) -> &str {
        &self.ids[node as usize]
    }

    fn names(&self, nodes: &[Node]) -> Vec<&str> {
        nodes.iter().map(|&v| self.id(v)).collect()
    }

    fn node(&self, id: &str) -> Option<Node> {
        self.ids
            .binary_search_by(|probe| (**probe).cmp(id))
            .ok()
            .map(|i| i as Node)
    }

    /// Marks `node` and all its ancestors in `seen`.
    fn mark_ancestors(&self, node: Node, seen: &mut [bool]) {
        if seen[node as usize] {
            return;
        }
        seen[node as usize] = true;
        let mut stack = vec![node];
        while let Some(v) = stack.pop() {
            for &p in &self.parents[v as usize] {
                if !seen[p as usize] {
                    seen[p as usize] = true;
                    stack.push(p);
                }
            }
        }
    }
}

/// A cycle among the nodes Kahn's algorithm could not order (`waiting > 0`). Each such node has
/// a parent that is also unordered, so walking parents must revisit a node.
fn find_cycle(ids: &[Box<str>], parents: &[Vec<Node>], waiting: &[u32]) -> Vec<String> {
    let stuck = |v: Node| waiting[v as usize] > 0;
    let start = (0..ids.len() as Node)
        .find(|&v| stuck(v))
        .expect("called only when some node is unordered");
    let mut path: Vec<Node> = vec![start];
    let mut index_in_path = vec![usize::MAX; ids.len()];
    index_in_path[start as usize] = 0;
    loop {
        let v = *path.last().expect("path starts non-empty");
        let next = parents[v as usize]
            .iter()
            .copied()
            .find(|&p| stuck(p))
            .expect("an unordered node has an unordered parent");
        if index_in_path[next as usize] != usize::MAX {
            let mut cycle: Vec<Node> = path[index_in_path[next as usize]..].to_vec();
            let smallest = (0..cycle.len())
                .min_by_key(|&i| cycle[i])
                .expect("a cycle is not empty");
            cycle.rotate_left(smallest);
            return cycle.iter().map(|&v| ids[v as usize].to_string()).collect();
        }
        index_in_path[next as usize] = path.len();
        path.push(next);
    }
}
