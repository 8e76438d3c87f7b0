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
mod verify;

use std::collections::BTreeSet;

use super::checksum::checksum;
use super::deferred;
use super::error::RunError;
use super::history::Row;
use super::job::{Footprint, Part};
use super::shared;
use crate::dialect::{Dialect, facts};
use crate::graph::Graph;
use crate::op::Op;
use crate::registry::{MigrationEntry, Registry};
use crate::render::{RenderError, RenderedOp, render};
use crate::schema::Schema;
use crate::schema::{Inverse, SchemaError};

pub(crate) use offline::offline_verify;
pub use offline::{ScriptedMigration, offline_migration, offline_plan};
pub(crate) use verify::Finding;

/// Why an op could not be planned: the schema model refuses it (it does not fit the state
/// before it), or the dialect cannot render it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

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
    pub accept_changed: &'a BTreeSet<String>,
    pub allow_unknown: bool,
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

    pub(crate) fn model_error(&self, entry: &MigrationEntry, source: ModelError) -> RunError {
        RunError::Model {
            id: entry.id().to_owned(),
            location: entry.location().to_string(),
            dialect: self.dialect,
            source: Box::new(source),
        }
    }

    /// An empty footprint of the kind this dialect's scheduler asks for.
    fn footprint(&self) -> Footprint {
        Footprint {
            touches: shared::may_share_on(self.dialect).then(Vec::new),
            trace: facts(self.dialect).defers_progress.then(Vec::new),
        }
    }
}

/// Adds what `op` does to a job's tables: the locks it takes ([`shared`]) and, on MySQL, the
/// states it leaves them in ([`deferred`]), with `ops_done`, the job's ops applied after it.
/// A footprint becomes unknown once one op's is.
pub(crate) fn note_op(
    footprint: &mut Footprint,
    op: &Op,
    (before, after): (&Schema, &Schema),
    dialect: Dialect,
    ops_done: usize,
) {
    if let Some(all) = &mut footprint.touches {
        match shared::touches(op, before, after) {
            Some(more) => all.extend(more),
            None => footprint.touches = None,
        }
    }
    deferred::add_trace(&mut footprint.trace, op, (before, after), dialect, ops_done);
}

pub(crate) fn part(op: &Op, rendered: RenderedOp) -> Part {
    match op {
        Op::Rust(step) => Part::Rust(step.name.clone(), step.run.clone()),
        _ => Part::Sql {
            op: rendered,
            one_statement_each: !matches!(op, Op::RawSql(_)),
        },
    }
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}
