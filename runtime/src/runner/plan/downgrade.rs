//! The jobs of a downgrade: from the model's inverses, or from the reverse SQL stored in the
//! history (a migration this binary does not know, or whose ops changed).

use std::collections::{BTreeSet, HashMap};

use super::absorb::{Safe, left_to_table_drop, render_op};
use super::replay::{Replay, advance};
use super::{Planner, part};
use crate::graph::{Direction, Target};
use crate::runner::checksum::checksum;
use crate::runner::error::RunError;
use crate::runner::footprint::{Footprint, note_op};
use crate::runner::history::Row;
use crate::runner::job::{Job, Part, Record, Step};
use crate::runner::stored::{StoredDown, StoredUnit};
use crate::schema::{Inverse, Schema};

impl Planner<'_> {
    /// What a downgrade to `targets` reverts: unknown migrations (newest first), then known
    /// ones in reverse plan order.
    pub(crate) fn downgrade_plan<'r>(
        &self,
        rows: &'r [Row],
        targets: &[Target],
    ) -> Result<(Vec<&'r Row>, Vec<String>), RunError> {
        // Unknown migrations are newer than anything this binary knows: a downgrade reverts
        // them first, newest first, unless every head is kept.
        let mut unknown: Vec<&Row> = rows
            .iter()
            .filter(|r| !self.graph.contains(&r.id))
            .collect();
        unknown.sort_by_key(|r| std::cmp::Reverse(r.seq));
        let known: Vec<&Row> = rows.iter().filter(|r| self.graph.contains(&r.id)).collect();
        let applied: Vec<&str> = known.iter().map(|r| r.id.as_str()).collect();
        let (unknown, plan): (Vec<&Row>, Vec<String>) = match targets {
            [Target::Back(n)] if *n <= unknown.len() => (unknown[..*n].to_vec(), Vec::new()),
            [Target::Back(n)] => {
                let rest = Target::Back(n - unknown.len());
                let plan = self.graph.downgrade_plan(&applied, &[rest])?;
                (unknown, plan.ids().iter().map(|s| s.to_string()).collect())
            }
            _ if targets.contains(&Target::Heads) => (Vec::new(), Vec::new()),
            _ => {
                let plan = self.graph.downgrade_plan(&applied, targets)?;
                (unknown, plan.ids().iter().map(|s| s.to_string()).collect())
            }
        };
        Ok((unknown, plan))
    }

    /// Every migration a downgrade to `targets` reverts, rendered.
    pub(crate) fn downgrade_jobs(
        &self,
        rows: &[Row],
        targets: &[Target],
    ) -> Result<Vec<Job>, RunError> {
        let (unknown, plan) = self.downgrade_plan(rows, targets)?;
        let known: Vec<&Row> = rows.iter().filter(|r| self.graph.contains(&r.id)).collect();
        if unknown.is_empty() && plan.is_empty() {
            return Ok(Vec::new());
        }
        let rows_by_id: HashMap<&str, &Row> = known.iter().map(|r| (r.id.as_str(), *r)).collect();
        let mut replay = self.replay(&known, &BTreeSet::new())?;
        let mut jobs = Vec::with_capacity(unknown.len() + plan.len());
        for row in unknown {
            // Unknown here: whether it was transactional. Its stored SQL keeps which ops must
            // run outside a transaction.
            jobs.push(self.stored_job(row, row.location.clone(), true)?);
        }
        for id in &plan {
            jobs.push(self.revert_job(rows_by_id[id.as_str()], &mut replay)?);
        }
        Ok(jobs)
    }

    /// Reverting the known migration `row` records, from `replay`'s schema, which it advances.
    pub(crate) fn revert_job(&self, row: &Row, replay: &mut Replay) -> Result<Job, RunError> {
        let dialect = self.dialect;
        let id = &row.id;
        let entry = self.entry(id);
        let inverses = replay.inverses.remove(id.as_str()).unwrap_or_default();
        let changed =
            !row.partial && checksum(entry) != row.checksum && !self.accept_changed.contains(id);
        if changed {
            // Revert what was applied, as recorded, not what the code says now; the model
            // follows the code's inverse as far as it can.
            for inverse in inverses.iter().rev() {
                if let Inverse::Ops(ops) = inverse {
                    for op in ops {
                        let _ = replay.schema.apply(op);
                    }
                }
            }
            let location = entry.location().to_string();
            return self.stored_job(row, location, entry.is_transactional());
        }
        let location = entry.location().to_string();
        let mut footprint = Footprint::new(self.dialect);
        // Safe sequences on the tables the run found (all of them, going down).
        let existing = replay.existing.clone();
        let safe = self.safe_for(entry).map(|server| Safe {
            server,
            existing: &existing,
        });
        let render = |op: &crate::op::Op, before: &Schema, after: &Schema| {
            render_op(op, (before, after), dialect, safe.as_ref())
                .map_err(|source| self.model_error(entry, source))
        };
        let steps = match entry.record_down(dialect) {
            Some(down) => {
                if row.partial {
                    return Err(RunError::CannotRevert {
                        id: id.clone(),
                        location,
                        reason: format!(
                            "it stopped after op {} of {}, and its explicit `down` reverts \
                             the whole migration; run `up` to finish it first",
                            row.ops_done, row.ops_total
                        ),
                    });
                }
                let mut parts = Vec::new();
                let last = down.ops().len().saturating_sub(1);
                for (position, op) in down.ops().iter().enumerate() {
                    let advanced = advance(&mut replay.schema, op, dialect, false)
                        .map_err(|source| self.model_error(entry, source))?;
                    let rendered = render(op, &advanced.before, &replay.schema)?;
                    // An explicit `down` reverts the whole migration at its end.
                    let ops_done = if position == last { 0 } else { row.ops_done };
                    note_op(
                        &mut footprint,
                        op,
                        (&advanced.before, &replay.schema),
                        dialect,
                        ops_done,
                    );
                    parts.push(part(op, rendered));
                }
                vec![Step::one(0, "down".into(), parts)]
            }
            None => {
                if row.statements_done > 0 {
                    return Err(half_done(row, location));
                }
                let ops = entry.record_up(dialect).into_ops();
                let revert_ops = |index: usize| match &inverses[index] {
                    Inverse::Ops(ops) => ops.as_slice(),
                    Inverse::Irreversible { .. } => &[],
                };
                let mut steps = Vec::new();
                // Reverts left to the drop of their table, which runs them as its own step.
                let mut left: Vec<String> = Vec::new();
                for index in (0..row.ops_done.min(inverses.len())).rev() {
                    let inverse_ops = match &inverses[index] {
                        Inverse::Ops(ops) => ops,
                        Inverse::Irreversible { reason } => {
                            return Err(RunError::Irreversible {
                                id: id.clone(),
                                location,
                                index: index + 1,
                                op: ops[index].describe(),
                                reason: reason.clone(),
                            });
                        }
                    };
                    let left_to_drop =
                        left_to_table_drop(inverse_ops, (0..index).rev().map(revert_ops));
                    let mut parts = Vec::new();
                    for op in inverse_ops {
                        let advanced = advance(&mut replay.schema, op, dialect, false)
                            .map_err(|source| self.model_error(entry, source))?;
                        note_op(
                            &mut footprint,
                            op,
                            (&advanced.before, &replay.schema),
                            dialect,
                            index,
                        );
                        if !left_to_drop {
                            let rendered = render(op, &advanced.before, &replay.schema)?;
                            parts.push(part(op, rendered));
                        }
                    }
                    left.push(ops[index].describe());
                    if left_to_drop {
                        continue;
                    }
                    let description = format!("revert {}", left.join(" and "));
                    steps.push(Step::one(index, description, parts));
                    left.clear();
                }
                steps
            }
        };
        let mut job = down_job(row, location, entry.is_transactional(), steps);
        job.footprint = footprint;
        job.checkpointed |= entry
            .record_up(dialect)
            .ops()
            .iter()
            .any(|op| op.batched_table().is_some());
        Ok(job)
    }

    /// A downgrade that runs the reverse SQL stored in the history row.
    pub(crate) fn stored_job(
        &self,
        row: &Row,
        location: String,
        transactional: bool,
    ) -> Result<Job, RunError> {
        let down = StoredDown::decode(&row.down_sql)
            .map_err(|e| RunError::History(format!("row `{}`: reverse SQL: {e}", row.id)))?;
        let cannot = |reason: String| RunError::CannotRevert {
            id: row.id.clone(),
            location: location.clone(),
            reason,
        };
        if row.statements_done > 0 {
            return Err(half_done(row, location.clone()));
        }
        let units: Vec<(usize, &StoredUnit)> = if down.explicit {
            if row.partial {
                return Err(cannot(format!(
                    "it stopped after op {} of {}, and its explicit `down` reverts the whole \
                     migration; finish it with the binary that knows it first",
                    row.ops_done, row.ops_total
                )));
            }
            down.units.iter().map(|u| (0, u)).collect()
        } else {
            (0..row.ops_done.min(down.units.len()))
                .rev()
                .map(|i| (i, &down.units[i]))
                .collect()
        };
        let mut steps = Vec::with_capacity(units.len());
        for (index, unit) in units {
            match unit {
                StoredUnit::Sql(ops) => steps.push(Step::one(
                    index,
                    format!("stored reverse of op {}", index + 1),
                    ops.iter()
                        .map(|op| Part::Sql {
                            op: op.clone(),
                            one_statement_each: false,
                        })
                        .collect(),
                )),
                StoredUnit::Irreversible(reason) => {
                    return Err(RunError::Irreversible {
                        id: row.id.clone(),
                        location,
                        index: index + 1,
                        op: format!("op {}", index + 1),
                        reason: reason.clone(),
                    });
                }
                StoredUnit::Rust(name) => {
                    return Err(cannot(format!(
                        "op {} is the Rust step `{name}`, which only a binary that has this \
                         migration can revert",
                        index + 1
                    )));
                }
            }
        }
        Ok(down_job(row, location, transactional, steps))
    }
}

/// Reverting the migration `row` records, with these steps.
pub(crate) fn down_job(row: &Row, location: String, transactional: bool, steps: Vec<Step>) -> Job {
    Job {
        id: row.id.clone(),
        location,
        direction: Direction::Down,
        transactional,
        steps,
        ops_total: row.ops_total,
        ops_done: row.ops_done,
        statements_done: 0,
        has_row: true,
        resumed: false,
        record: Record {
            checksum: row.checksum.clone(),
            seq: row.seq,
            ..Record::default()
        },
        footprint: Footprint::default(),
        checkpointed: false,
        backup: None,
    }
    .with_checkpoints_of_its_steps()
}

fn half_done(row: &Row, location: String) -> RunError {
    RunError::CannotRevert {
        id: row.id.clone(),
        location,
        reason: format!(
            "op {} stopped halfway ({} of its statements committed); run `up` to finish it first",
            row.ops_done + 1,
            row.statements_done
        ),
    }
}
