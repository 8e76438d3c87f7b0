//! Building a [`Graph`], in time linear in the number of migrations and dependencies: ids are
//! radix sorted (or found already sorted, as a registry hands them over), dependencies are
//! resolved through a hash index, and Kahn's algorithm takes the smallest ready node from a
//! bitset. Only ids that share their first 8 bytes are compared as strings when sorting.

use super::index::{IdIndex, NO_NODE};
use super::ready::ReadySet;
use super::sort::{prefix_key, sort_by_prefix_key};
use super::{Graph, GraphError, Node, check_id, id_at};

/// What `Graph::new` reserves per id for the arena before it knows the lengths; the arena grows
/// if the ids are longer.
const TYPICAL_ID_LEN: usize = 16;

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
        // One pass over the input reads each id once: to check it, key it and copy it into
        // `arena`, in input order. The dependencies of input node `i` are
        // `deps[dep_ends[i - 1]..dep_ends[i]]`.
        let nodes = nodes.into_iter();
        let hint = nodes.size_hint().0;
        let mut arena = String::with_capacity(hint * TYPICAL_ID_LEN);
        let mut bounds: Vec<u32> = Vec::with_capacity(hint + 1);
        bounds.push(0);
        let mut by_id: Vec<(u64, u32)> = Vec::with_capacity(hint);
        let mut deps: Vec<D::Item> = Vec::with_capacity(hint * 2);
        let mut dep_ends: Vec<u32> = Vec::with_capacity(hint);
        let mut first_invalid = None;
        for (id, node_deps) in nodes {
            let id = id.as_ref();
            if first_invalid.is_none() {
                first_invalid = check_id(id).err().map(|reason| GraphError::InvalidId {
                    id: id.into(),
                    reason,
                });
            }
            // Truncation past `u32::MAX` is caught by the size check below, before any use.
            by_id.push((prefix_key(id), by_id.len() as u32));
            arena.push_str(id);
            bounds.push(arena.len() as u32);
            deps.extend(node_deps);
            dep_ends.push(deps.len() as u32);
        }
        let n = by_id.len();
        if u32::try_from(n).is_err()
            || u32::try_from(deps.len()).is_err()
            || u32::try_from(arena.len()).is_err()
        {
            return Err(GraphError::TooLarge { count: n });
        }
        if let Some(invalid) = first_invalid {
            return Err(invalid);
        }

        // Node numbers are positions in id order: node `v` is input node `by_id[v].1`.
        let input_id = |i: u32| id_at(&arena, &bounds, i as usize);
        let input_was_sorted = sort_by_prefix_key(&mut by_id, |a, b| input_id(a).cmp(input_id(b)));
        if let Some(pair) = by_id
            .windows(2)
            .find(|w| w[0].0 == w[1].0 && input_id(w[0].1) == input_id(w[1].1))
        {
            return Err(GraphError::DuplicateId {
                id: input_id(pair[0].1).into(),
            });
        }
        let (arena, bounds) = if input_was_sorted {
            (arena, bounds)
        } else {
            in_id_order(&arena, &bounds, &by_id)
        };

        let (parent_offsets, parent_list) =
            resolve_parents(&arena, &bounds, &by_id, &deps, &dep_ends)?;
        // Freed before the remaining buffers are allocated, so that those reuse warm memory.
        drop((by_id, deps, dep_ends));
        let (child_offsets, child_list) = children(&parent_offsets, &parent_list);
        let mut graph = Graph {
            arena,
            bounds,
            parent_offsets,
            parent_list,
            child_offsets,
            child_list,
            order: Vec::new(),
            heads: Vec::new(),
            bases: Vec::new(),
        };
        let waiting = graph.order_topologically();
        if graph.order.len() < n {
            return Err(GraphError::Cycle {
                cycle: graph.find_cycle(&waiting),
            });
        }
        graph.heads = (0..n as Node)
            .filter(|&v| graph.children_of(v).is_empty())
            .collect();
        graph.bases = (0..n as Node)
            .filter(|&v| graph.parents_of(v).is_empty())
            .collect();
        Ok(graph)
    }

    /// Fills `order` with Kahn's algorithm, taking the smallest ready node first (which breaks
    /// ties by id), and returns how many parents each node still waits for: nodes on or behind
    /// a cycle never become ready.
    fn order_topologically(&mut self) -> Vec<u32> {
        let n = self.len();
        let mut waiting: Vec<u32> = (0..n as Node)
            .map(|v| self.parents_of(v).len() as u32)
            .collect();
        let mut ready = ReadySet::new(n);
        for v in (0..n).filter(|&v| waiting[v] == 0) {
            ready.insert(v as Node);
        }
        let mut order: Vec<Node> = Vec::with_capacity(n);
        while let Some(node) = ready.pop_min() {
            order.push(node);
            for &child in self.children_of(node) {
                let w = &mut waiting[child as usize];
                *w -= 1;
                if *w == 0 {
                    ready.insert(child);
                }
            }
        }
        self.order = order;
        waiting
    }

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

/// The arena and bounds of ids given in input order, rebuilt in node order (`by_id[v].1` is
/// the input index of node `v`).
fn in_id_order(arena: &str, bounds: &[u32], by_id: &[(u64, u32)]) -> (String, Vec<u32>) {
    let mut sorted = String::with_capacity(arena.len());
    let mut sorted_bounds = Vec::with_capacity(bounds.len());
    sorted_bounds.push(0);
    for &(_, i) in by_id {
        sorted.push_str(id_at(arena, bounds, i as usize));
        sorted_bounds.push(sorted.len() as u32);
    }
    (sorted, sorted_bounds)
}

/// The dependencies of every node as sorted rows of node numbers (`offsets[v]..offsets[v + 1]`
/// indexes the row of node `v` in the list). Errors name the first node in id order with an
/// unknown dependency, itself as a dependency, or a dependency listed twice.
fn resolve_parents<T: AsRef<str>>(
    arena: &str,
    bounds: &[u32],
    by_id: &[(u64, u32)],
    deps: &[T],
    dep_ends: &[u32],
) -> Result<(Vec<u32>, Vec<Node>), GraphError> {
    let name = |v: usize| id_at(arena, bounds, v);
    let deps_of = |i: u32| {
        let i = i as usize;
        let first = if i == 0 { 0 } else { dep_ends[i - 1] as usize };
        &deps[first..dep_ends[i] as usize]
    };
    let index = IdIndex::new(arena, bounds);
    // Two passes, so that the cache misses of many lookups overlap: the first only hashes and
    // probes (`likely`), the second compares each guess with the id it stands for. In one loop
    // every lookup would wait behind the comparisons of the previous one.
    let mut list: Vec<Node> = Vec::with_capacity(deps.len());
    for &(_, i) in by_id {
        list.extend(deps_of(i).iter().map(|dep| index.likely(dep.as_ref())));
    }
    let mut offsets: Vec<u32> = Vec::with_capacity(by_id.len() + 1);
    offsets.push(0);
    for (node, &(_, i)) in by_id.iter().enumerate() {
        let row_start = *offsets.last().expect("starts with 0") as usize;
        let row = &mut list[row_start..row_start + deps_of(i).len()];
        for (parent, dep) in row.iter_mut().zip(deps_of(i)) {
            let dep = dep.as_ref();
            if *parent == NO_NODE || name(*parent as usize) != dep {
                let Some(found) = index.get(dep) else {
                    return Err(GraphError::UnknownDependency {
                        id: name(node).into(),
                        dependency: dep.into(),
                    });
                };
                *parent = found;
            }
            if *parent as usize == node {
                return Err(GraphError::SelfDependency {
                    id: name(node).into(),
                });
            }
        }
        row.sort_unstable();
        if let Some(pair) = row.windows(2).find(|w| w[0] == w[1]) {
            return Err(GraphError::DuplicateDependency {
                id: name(node).into(),
                dependency: name(pair[0] as usize).into(),
            });
        }
        offsets.push((row_start + row.len()) as u32);
    }
    Ok((offsets, list))
}

/// The children of every node, in rows like the parents': counted, then filled in node order,
/// which keeps every row sorted.
fn children(parent_offsets: &[u32], parent_list: &[Node]) -> (Vec<u32>, Vec<Node>) {
    let n = parent_offsets.len() - 1;
    let mut offsets = vec![0u32; n + 1];
    for &p in parent_list {
        offsets[p as usize + 1] += 1;
    }
    for v in 0..n {
        offsets[v + 1] += offsets[v];
    }
    // `offsets[p]` serves as the write cursor of row `p` ...
    let mut list: Vec<Node> = vec![0; parent_list.len()];
    for v in 0..n {
        for &p in &parent_list[parent_offsets[v] as usize..parent_offsets[v + 1] as usize] {
            list[offsets[p as usize] as usize] = v as Node;
            offsets[p as usize] += 1;
        }
    }
    // ... and ends at the end of row `p`, which is where row `p + 1` starts.
    offsets.copy_within(0..n, 1);
    offsets[0] = 0;
    (offsets, list)
}
