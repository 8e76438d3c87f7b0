//! Planning: from the history rows and the registry to the jobs a run executes, rendered,
//! without a connection. The runner and the offline SQL (`offline_plan`, `check`) share it.
//!
//! - [`upgrade`]: the jobs of an upgrade (resuming a partial migration);
//! - [`downgrade`]: the jobs of a downgrade, from the model's inverses or the reverse SQL stored
//!   in the history;
//! - [`replay`]: the schema model after what the history records, and each op's reverse SQL;
//! - [`absorb`]: what a table's create or drop takes in (the parts added right after it, the
//!   changes reverted right before it);
//! - [`offline`]: plans without a database;
//! - [`verify`]: the proof `check` gives, that every migration applies and reverts.

mod absorb;
mod downgrade;
mod offline;
mod replay;
mod upgrade;
// `check`'s proof: the CLI's.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
mod verify;

use std::collections::BTreeSet;

use super::checksum::checksum;
use super::error::{ModelError, RunError};
use super::history::Row;
use super::job::Part;
use crate::dialect::{Dialect, Server};
use crate::graph::Graph;
use crate::op::Op;
use crate::registry::{MigrationEntry, Registry};
use crate::render::{RenderedOp, render};
use crate::schema::Inverse;
use crate::schema::Schema;

#[cfg(feature = "cli")]
pub(crate) use offline::offline_verify;
pub use offline::{PlanFor, ScriptedMigration, offline_migration, offline_plan};
#[cfg(feature = "cli")]
pub(crate) use verify::Finding;

/// Validates and applies `op` to `schema`, and returns its SQL and its inverse. On error the
/// schema is unchanged.
pub fn plan_op(
    op: &Op,
    schema: &mut Schema,
    dialect: Dialect,
) -> Result<(RenderedOp, Inverse), ModelError> {
    let mut after = schema.clone();
    let inverse = after.apply_without_rollback(op)?;
    let rendered = render(op, schema, &after, dialect)?;
    *schema = after;
    Ok((rendered, inverse))
}

/// Everything planning needs, and no connection: the runner and the offline SQL share it.
pub(crate) struct Planner<'a> {
    pub registry: &'a Registry,
    pub graph: &'a Graph,
    pub dialect: Dialect,
    /// The server the SQL is for: what its safe sequences may use.
    pub server: Server,
    /// Every migration runs its ops as their safe sequences, not only those marked `safe`.
    pub safe: bool,
    /// Every migration is backed up before it runs, not only those marked `backup`.
    pub backup_all: bool,
    /// The run is one transaction, which a safe sequence would leave: none is used.
    pub one_transaction: bool,
    pub accept_changed: &'a BTreeSet<String>,
    pub allow_unknown: bool,
}

/// No migration's change is accepted: what planning without a database assumes.
static NONE_ACCEPTED: BTreeSet<String> = BTreeSet::new();

impl<'a> Planner<'a> {
    /// A planner for work without a database: no change accepted, no unknown migration.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn offline(registry: &'a Registry, graph: &'a Graph, dialect: Dialect) -> Self {
        Planner::offline_for(registry, graph, dialect.into())
    }

    /// A planner without a database, for `plan_for`'s server.
    pub(crate) fn offline_for(
        registry: &'a Registry,
        graph: &'a Graph,
        plan_for: offline::PlanFor,
    ) -> Self {
        Planner {
            registry,
            graph,
            dialect: plan_for.server.dialect(),
            server: plan_for.server,
            safe: plan_for.safe,
            backup_all: false,
            one_transaction: false,
            accept_changed: &NONE_ACCEPTED,
            allow_unknown: false,
        }
    }
}

impl Planner<'_> {
    pub(crate) fn entry(&self, id: &str) -> &MigrationEntry {
        self.registry
            .get(id)
            .expect("the graph and the registry hold the same ids")
    }

    /// History rows recording `ids` as applied, in that order, without reverse SQL.
    pub(crate) fn applied_rows<'i>(&self, ids: impl IntoIterator<Item = &'i str>) -> Vec<Row> {
        ids.into_iter()
            .enumerate()
            .map(|(seq, id)| {
                let entry = self.entry(id);
                let ops = entry.record_up(self.dialect).ops().len();
                Row {
                    id: id.to_owned(),
                    checksum: checksum(entry),
                    partial: false,
                    unconfirmed: None,
                    ops_done: ops,
                    ops_total: ops,
                    statements_done: 0,
                    applied_at: String::new(),
                    execution_ms: 0,
                    seq: seq as i64,
                    parents: Vec::new(),
                    location: String::new(),
                    down_sql: String::new(),
                }
            })
            .collect()
    }

    /// Stops on applied migrations whose checksum changed, unless accepted.
    pub(crate) fn check_changed(&self, rows: &[Row]) -> Result<(), RunError> {
        let changed: Vec<String> = rows
            .iter()
            .filter(|r| !self.accept_changed.contains(&r.id))
            .filter_map(|r| {
                let entry = self.registry.get(&r.id)?;
                let current = checksum(entry);
                (current != r.checksum).then(|| {
                    format!(
                        "`{}` ({}{}) recorded {} now {}",
                        r.id,
                        entry.location(),
                        if r.partial {
                            format!(", stopped after op {} of {}", r.ops_done, r.ops_total)
                        } else {
                            String::new()
                        },
                        short(&r.checksum),
                        short(&current)
                    )
                })
            })
            .collect();
        if changed.is_empty() {
            Ok(())
        } else {
            Err(RunError::Changed(changed))
        }
    }

    /// The server to rewrite `entry`'s ops into their safe sequences for, when they are.
    pub(crate) fn safe_for(&self, entry: &MigrationEntry) -> Option<Server> {
        ((self.safe || entry.is_safe()) && !self.one_transaction).then_some(self.server)
    }

    pub(crate) fn model_error(&self, entry: &MigrationEntry, source: ModelError) -> RunError {
        RunError::Model {
            id: entry.id().to_owned(),
            location: entry.location().to_string(),
            dialect: self.dialect,
            source: Box::new(source),
        }
    }
}

pub(crate) fn part(op: &Op, rendered: RenderedOp) -> Part {
    match op {
        Op::Rust(step) => Part::Rust(step.name.clone(), step.run.clone()),
        _ => Part::Sql {
            op: rendered,
            one_statement_each: !matches!(op, Op::RawSql(_) | Op::Savepoint(_)),
        },
    }
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}
