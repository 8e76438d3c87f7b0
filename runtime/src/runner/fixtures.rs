//! What the runner's unit tests share: migrations built in place, and a planner over them.

use super::plan::Planner;
use crate::graph::Graph;
use crate::migration::Migration;
use crate::op::Dialect;
use crate::registry::{Location, MigrationEntry, Registry};

pub(crate) fn entry(
    id: &'static str,
    after: &'static [&'static str],
    up: fn(&mut Migration),
) -> MigrationEntry {
    MigrationEntry::new(
        id,
        after,
        up,
        Location::new(module_path!(), file!(), line!()),
    )
}

/// A registry of test migrations and its graph: what a [`Planner`] borrows.
pub(crate) struct Fixture {
    registry: Registry,
    graph: Graph,
}

impl Fixture {
    pub fn new(entries: Vec<MigrationEntry>) -> Fixture {
        let registry = Registry::from_entries(entries).expect("distinct ids");
        let graph = registry.graph().expect("a valid graph");
        Fixture { registry, graph }
    }

    pub fn planner(&self, dialect: Dialect) -> Planner<'_> {
        Planner::offline(&self.registry, &self.graph, dialect)
    }
}
