//! The schema model after what the history records, and each op's reverse SQL for the history
//! row.

use std::collections::{BTreeSet, HashMap};

use super::Planner;
use super::plan_op;
use crate::op::{Dialect, Op};
use crate::render::RenderedOp;
use crate::runner::error::ModelError;
use crate::runner::error::RunError;
use crate::runner::history::Row;
use crate::runner::stored::StoredUnit;
use crate::schema::{Inverse, Schema};

impl Planner<'_> {
    /// Replays the recorded (applied, or partly applied) migrations on an empty schema, in graph
    /// order, keeping each op's inverse. For the migrations in `render`, also renders the
    /// reverse SQL of each replayed op.
    pub(crate) fn replay(
        &self,
        rows: &[&Row],
        render: &BTreeSet<&str>,
    ) -> Result<Replay, RunError> {
        let dialect = self.dialect;
        let done: HashMap<&str, usize> = rows.iter().map(|r| (r.id.as_str(), r.ops_done)).collect();
        let mut replay = Replay::default();
        for id in self.graph.order() {
            let Some(&ops_done) = done.get(id) else {
                continue;
            };
            let entry = self.entry(id);
            let ops = entry.record_up(dialect).into_ops();
            let rendering = render.contains(id);
            let mut inverses = Vec::with_capacity(ops_done);
            let mut units = Vec::new();
            for op in ops.iter().take(ops_done) {
                if rendering {
                    let advanced = advance(&mut replay.schema, op, dialect, true)
                        .map_err(|source| self.model_error(entry, source))?;
                    units.extend(advanced.unit);
                    inverses.push(advanced.inverse);
                } else {
                    inverses.push(
                        replay
                            .schema
                            .apply_without_rollback(op)
                            .map_err(|e| self.model_error(entry, e.into()))?,
                    );
                }
            }
            replay.inverses.insert(id.to_owned(), inverses);
            if rendering {
                replay.prefix_units.insert(id.to_owned(), units);
            }
        }
        replay.existing = replay.schema.tables().map(|t| t.name.clone()).collect();
        Ok(replay)
    }
}

#[derive(Default)]
pub(crate) struct Replay {
    pub schema: Schema,
    /// Per migration, the inverse of each replayed op.
    pub inverses: HashMap<String, Vec<Inverse>>,
    /// Per migration asked for, the reverse SQL of each replayed op.
    pub prefix_units: HashMap<String, Vec<StoredUnit>>,
    /// The tables that existed before the run, under their names now: the ones with rows an
    /// op can lock out, which safe sequences are for. A table the run creates has none.
    pub existing: BTreeSet<String>,
}

impl Replay {
    /// Follows `op` in [`Replay::existing`].
    pub(crate) fn note_existing(&mut self, op: &Op) {
        match op {
            Op::RenameTable { from, to } if self.existing.remove(from) => {
                self.existing.insert(to.clone());
            }
            Op::DropTable { name } => {
                self.existing.remove(name);
            }
            // Its rows are the parent's now, or a table's of its own.
            Op::AttachPartition { partition, .. } => {
                self.existing.remove(&partition.name);
            }
            Op::DetachPartition { table, name, .. } if self.existing.contains(table) => {
                self.existing.insert(name.clone());
            }
            _ => {}
        }
    }
}

/// Applies `op` to the model; with `store`, also renders its reverse against the state right
/// after it, for the history row.
pub(crate) fn advance(
    schema: &mut Schema,
    op: &Op,
    dialect: Dialect,
    store: bool,
) -> Result<Advanced, ModelError> {
    let before = schema.clone();
    // The run stops on error and drops the model, so no rollback copy is needed.
    let inverse = schema.apply_without_rollback(op)?;
    let unit = store.then(|| match &inverse {
        // A one-op inverse leads from this state straight back to `before`: render it
        // between the two without another copy.
        Inverse::Ops(ops) if ops.len() == 1 => stored_unit(
            &ops[0],
            crate::render::render(&ops[0], schema, &before, dialect),
        ),
        Inverse::Ops(ops) => render_units(schema, ops, dialect),
        Inverse::Irreversible { reason } => StoredUnit::Irreversible(reason.clone()),
    });
    Ok(Advanced {
        before,
        inverse,
        unit,
    })
}

/// An op applied to the model.
pub(crate) struct Advanced {
    /// The model before the op.
    pub before: Schema,
    pub inverse: Inverse,
    /// Its reverse SQL, when asked for.
    pub unit: Option<StoredUnit>,
}

impl Advanced {
    /// The SQL of `op` (or of ops that end with it, when `op` stands for them), from the state
    /// before it to `after`.
    pub(crate) fn render(
        &self,
        op: &Op,
        after: &Schema,
        dialect: Dialect,
    ) -> Result<RenderedOp, ModelError> {
        Ok(crate::render::render(op, &self.before, after, dialect)?)
    }
}

fn stored_unit(op: &Op, rendered: Result<RenderedOp, crate::render::RenderError>) -> StoredUnit {
    match (op, rendered) {
        (Op::Rust(step), _) => StoredUnit::Rust(step.name.clone()),
        (_, Ok(mut sql)) => {
            sql.leftover = None;
            StoredUnit::Sql(vec![sql])
        }
        (_, Err(e)) => StoredUnit::Irreversible(e.to_string()),
    }
}

/// Renders `ops` on a copy of `schema`, as one stored unit.
pub(crate) fn render_units(schema: &Schema, ops: &[Op], dialect: Dialect) -> StoredUnit {
    let mut scratch = schema.clone();
    let mut rendered = Vec::with_capacity(ops.len());
    for op in ops {
        if let Op::Rust(step) = op {
            return StoredUnit::Rust(step.name.clone());
        }
        match plan_op(op, &mut scratch, dialect) {
            Ok((mut sql, _)) => {
                sql.leftover = None;
                rendered.push(sql);
            }
            Err(e) => return StoredUnit::Irreversible(e.to_string()),
        }
    }
    StoredUnit::Sql(rendered)
}
