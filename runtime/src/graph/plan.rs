//! Target resolution and upgrade/downgrade plans.
//!
//! - Upgrade to targets: every migration that is a target or an ancestor of one and is not yet
//!   applied, in plan order ([`Graph::order`]).
//! - Downgrade to targets: every applied migration that is neither a target nor an ancestor of
//!   one, in reverse plan order. Several targets keep several branches: downgrading branch A to
//!   `a1` while branch B stays at its head `b2` is a downgrade to `[a1, b2]`.
//! - `+N`: the first `N` pending migrations in plan order; `-N`: the last `N` applied ones, in
//!   reverse plan order. Both keep the applied set closed under ancestors, and must be the only
//!   target.

use super::{Anchor, Graph, Node, PlanError, Target};

/// Whether a plan applies or reverts migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Up,
    Down,
}

/// The migrations to run, in the order to run them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'g> {
    direction: Direction,
    steps: Vec<&'g str>,
}

impl<'g> Plan<'g> {
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The ids to apply (upgrade) or revert (downgrade), in order.
    pub fn ids(&self) -> &[&'g str] {
        &self.steps
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl<'a, 'g> IntoIterator for &'a Plan<'g> {
    type Item = &'g str;
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, &'g str>>;

    fn into_iter(self) -> Self::IntoIter {
        self.steps.iter().copied()
    }
}

impl Graph {
    /// The plan that brings the database from `applied` up to `targets`.
    ///
    /// ```
    /// use godwit::graph::{Graph, Target};
    /// let graph = Graph::new([("a", vec![]), ("b", vec!["a"]), ("c", vec!["a"])])?;
    /// let plan = graph.upgrade_plan(["a"], &["b".parse()?])?;
    /// assert_eq!(plan.ids(), ["b"]);
    /// let plan = graph.upgrade_plan(["a"], &[Target::Heads])?;
    /// assert_eq!(plan.ids(), ["b", "c"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn upgrade_plan<A>(&self, applied: A, targets: &[Target]) -> Result<Plan<'_>, PlanError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let applied = self.applied_set(applied)?;
        check_targets(targets)?;
        let mut wanted = vec![false; self.len()];
        for target in targets {
            match target {
                Target::Heads => wanted.fill(true),
                Target::Back(_) => {
                    return Err(PlanError::WrongDirection {
                        target: target.to_string(),
                        direction: Direction::Up,
                    });
                }
                &Target::Forward(steps) => {
                    let pending: Vec<&str> = self
                        .order
                        .iter()
                        .filter(|&&v| !applied[v as usize])
                        .map(|&v| self.id(v))
                        .collect();
                    if pending.len() < steps {
                        return Err(PlanError::NotEnoughPending {
                            steps,
                            pending: pending.len(),
                        });
                    }
                    return Ok(Plan {
                        direction: Direction::Up,
                        steps: pending[..steps].to_vec(),
                    });
                }
                Target::Point { anchor, offset } => {
                    if let Some(v) = self.resolve_point(target, anchor, *offset)? {
                        self.mark_ancestors(v, &mut wanted);
                    }
                }
            }
        }
        Ok(Plan {
            direction: Direction::Up,
            steps: self
                .order
                .iter()
                .filter(|&&v| wanted[v as usize] && !applied[v as usize])
                .map(|&v| self.id(v))
                .collect(),
        })
    }

    /// The plan that brings the database from `applied` down to `targets`.
    ///
    /// ```
    /// use godwit::graph::{Graph, Target};
    /// let graph = Graph::new([("a", vec![]), ("b", vec!["a"]), ("c", vec!["b"]), ("x", vec!["a"])])?;
    /// // Revert branch `b..c` but keep branch `x`: downgrade to both `a` and `x`.
    /// let plan = graph.downgrade_plan(["a", "b", "c", "x"], &["a".parse()?, "x".parse()?])?;
    /// assert_eq!(plan.ids(), ["c", "b"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn downgrade_plan<A>(&self, applied: A, targets: &[Target]) -> Result<Plan<'_>, PlanError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let applied = self.applied_set(applied)?;
        check_targets(targets)?;
        let mut kept = vec![false; self.len()];
        for target in targets {
            match target {
                Target::Heads => kept.fill(true),
                Target::Forward(_) => {
                    return Err(PlanError::WrongDirection {
                        target: target.to_string(),
                        direction: Direction::Down,
                    });
                }
                &Target::Back(steps) => {
                    let reverted: Vec<&str> = self
                        .order
                        .iter()
                        .rev()
                        .filter(|&&v| applied[v as usize])
                        .map(|&v| self.id(v))
                        .take(steps)
                        .collect();
                    if reverted.len() < steps {
                        return Err(PlanError::NotEnoughApplied {
                            steps,
                            applied: reverted.len(),
                        });
                    }
                    return Ok(Plan {
                        direction: Direction::Down,
                        steps: reverted,
                    });
                }
                Target::Point { anchor, offset } => {
                    if let Some(v) = self.resolve_point(target, anchor, *offset)? {
                        if !applied[v as usize] {
                            return Err(PlanError::TargetNotApplied {
                                id: self.id(v).into(),
                            });
                        }
                        self.mark_ancestors(v, &mut kept);
                    }
                }
            }
        }
        Ok(Plan {
            direction: Direction::Down,
            steps: self
                .order
                .iter()
                .rev()
                .filter(|&&v| applied[v as usize] && !kept[v as usize])
                .map(|&v| self.id(v))
                .collect(),
        })
    }

    /// The migrations a target names: every head for `heads`, one migration for a point, none for
    /// `base`. `+N` and `-N` depend on what is applied: use them in a plan.
    pub fn resolve(&self, target: &Target) -> Result<Vec<&str>, PlanError> {
        match target {
            Target::Heads => Ok(self.heads()),
            Target::Forward(_) | Target::Back(_) => Err(PlanError::RelativeNeedsPlan {
                target: target.to_string(),
            }),
            Target::Point { anchor, offset } => Ok(self
                .resolve_point(target, anchor, *offset)?
                .map(|v| self.id(v))
                .into_iter()
                .collect()),
        }
    }

    /// `applied` as a membership vector; unknown ids are an error.
    pub(super) fn applied_set<A>(&self, applied: A) -> Result<Vec<bool>, PlanError>
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
    {
        let mut set = vec![false; self.len()];
        let mut unknown: Vec<String> = Vec::new();
        for id in applied {
            match self.node(id.as_ref()) {
                Some(v) => set[v as usize] = true,
                None => unknown.push(id.as_ref().into()),
            }
        }
        if unknown.is_empty() {
            Ok(set)
        } else {
            unknown.sort();
            unknown.dedup();
            Err(PlanError::UnknownApplied { ids: unknown })
        }
    }

    /// A point target as a node, `None` meaning base.
    fn resolve_point(
        &self,
        target: &Target,
        anchor: &Anchor,
        offset: isize,
    ) -> Result<Option<Node>, PlanError> {
        let mut at = match anchor {
            Anchor::Base => None,
            Anchor::Head => match self.heads.as_slice() {
                [] => None,
                [only] => Some(*only),
                many => {
                    return Err(PlanError::MultipleHeads {
                        heads: self.names(many).iter().map(|s| s.to_string()).collect(),
                    });
                }
            },
            Anchor::Id(prefix) => Some(self.lookup(prefix)?),
        };
        let ambiguous =
            |at: Option<Node>, direction, candidates: &[Node]| PlanError::AmbiguousStep {
                target: target.to_string(),
                at: at.map(|v| self.id(v).to_string()),
                direction,
                candidates: self
                    .names(candidates)
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            };
        let out_of_range = |at: Option<Node>, direction| PlanError::OutOfRange {
            target: target.to_string(),
            reached: at.map(|v| self.id(v).to_string()),
            direction,
        };
        for _ in 0..offset.unsigned_abs() {
            at = if offset > 0 {
                let next: &[Node] = match at {
                    None => &self.bases,
                    Some(v) => self.children_of(v),
                };
                match next {
                    [] => return Err(out_of_range(at, Direction::Up)),
                    [only] => Some(*only),
                    many => return Err(ambiguous(at, Direction::Up, many)),
                }
            } else {
                let Some(v) = at else {
                    return Err(out_of_range(at, Direction::Down));
                };
                match self.parents_of(v) {
                    [] => None,
                    [only] => Some(*only),
                    many => return Err(ambiguous(at, Direction::Down, many)),
                }
            };
        }
        Ok(at)
    }

    /// An exact id, else the only id starting with `prefix`.
    fn lookup(&self, prefix: &str) -> Result<Node, PlanError> {
        if let Some(v) = self.node(prefix) {
            return Ok(v);
        }
        let start = self.lower_bound(prefix);
        let matches: Vec<Node> = (start as Node..self.len() as Node)
            .take_while(|&v| self.id(v).starts_with(prefix))
            .collect();
        match matches.as_slice() {
            [only] => Ok(*only),
            [] => Err(PlanError::UnknownTarget {
                target: prefix.into(),
                suggestion: self.closest(prefix),
            }),
            many => Err(PlanError::AmbiguousPrefix {
                prefix: prefix.into(),
                candidates: self.names(many).iter().map(|s| s.to_string()).collect(),
            }),
        }
    }

    /// The id closest to `wanted` by edit distance, if it is close enough to be a typo.
    fn closest(&self, wanted: &str) -> Option<String> {
        let limit = (wanted.chars().count() / 3).max(1);
        self.ids()
            .map(|id| (edit_distance(wanted, id), id))
            .filter(|(d, _)| *d <= limit)
            .min_by_key(|(d, _)| *d)
            .map(|(_, id)| id.to_string())
    }
}

/// Relative targets stand alone; an empty target list is a mistake.
fn check_targets(targets: &[Target]) -> Result<(), PlanError> {
    if targets.is_empty() {
        return Err(PlanError::NoTarget);
    }
    if let Some(relative) = targets
        .iter()
        .find(|t| matches!(t, Target::Forward(_) | Target::Back(_)))
        .filter(|_| targets.len() > 1)
    {
        return Err(PlanError::RelativeWithOthers {
            target: relative.to_string(),
        });
    }
    Ok(())
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("create_users", "create_users"), 0);
        assert_eq!(edit_distance("create_user", "create_users"), 1);
        assert_eq!(edit_distance("craete_users", "create_users"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
