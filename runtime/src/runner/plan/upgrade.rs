//! The jobs of an upgrade.

use std::collections::{BTreeSet, HashMap};

use super::Planner;
use super::absorb::{Safe, group_steps, parts_created_with_table};
use super::replay::{Replay, advance, render_units};
use crate::graph::{Direction, Target};
use crate::registry::BackupScope;
use crate::runner::checksum::checksum;
use crate::runner::error::RunError;
use crate::runner::footprint::{Footprint, Touch, note_op};
use crate::runner::history::Row;
use crate::runner::job::{BackupPlan, Job, Record};
use crate::runner::stored::StoredDown;

impl Planner<'_> {
    /// Every migration an upgrade to `targets` runs, rendered.
    pub(crate) fn upgrade_jobs(
        &self,
        rows: &[Row],
        targets: &[Target],
    ) -> Result<Vec<Job>, RunError> {
        let unknown: Vec<String> = rows
            .iter()
            .filter(|r| !self.graph.contains(&r.id))
            .map(|r| r.id.clone())
            .collect();
        if !unknown.is_empty() && !self.allow_unknown {
            return Err(RunError::Unknown(unknown));
        }
        self.check_changed(rows)?;
        let known: Vec<&Row> = rows.iter().filter(|r| self.graph.contains(&r.id)).collect();
        let applied: Vec<&str> = known
            .iter()
            .filter(|r| !r.partial)
            .map(|r| r.id.as_str())
            .collect();
        let plan: Vec<String> = self
            .graph
            .upgrade_plan(&applied, targets)?
            .ids()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        let rows_by_id: HashMap<&str, &Row> = known.iter().map(|r| (r.id.as_str(), *r)).collect();
        let planned: BTreeSet<&str> = plan.iter().map(String::as_str).collect();
        let mut replay = self.replay(&known, &planned)?;
        let mut seq = rows.iter().map(|r| r.seq).max().unwrap_or(0);
        let mut jobs = Vec::with_capacity(plan.len());
        for id in &plan {
            let row = rows_by_id.get(id.as_str()).copied();
            seq += 1;
            jobs.push(self.upgrade_job(id, row, &mut replay, row.map_or(seq, |r| r.seq))?);
        }
        Ok(jobs)
    }

    /// Applying migration `id` (resuming after what `row` records), from `replay`'s schema,
    /// which it advances, and whose inverses it adds to. `seq`: its place in the history.
    pub(crate) fn upgrade_job(
        &self,
        id: &str,
        row: Option<&Row>,
        replay: &mut Replay,
        seq: i64,
    ) -> Result<Job, RunError> {
        let dialect = self.dialect;
        let entry = self.entry(id);
        let ops = entry.record_up(dialect).into_ops();
        let done = row.map_or(0, |r| r.ops_done.min(ops.len()));
        let mut stored_units = replay.prefix_units.remove(id).unwrap_or_default();
        let mut steps = Vec::with_capacity(ops.len() - done);
        let mut footprint = Footprint::new(self.dialect);
        let mut inverses = Vec::with_capacity(ops.len() - done);
        // The tables it starts with that its ops change or drop; `None`: not known (SQL by
        // hand).
        let mut changed_tables: Option<Vec<String>> = Some(Vec::new());
        let at_start = replay.schema.clone();
        let mut index = done;
        while index < ops.len() {
            let group = &ops[index..=index + parts_created_with_table(&ops[index..])];
            let mut advanced = Vec::with_capacity(group.len());
            for op in group {
                let mut applied = advance(&mut replay.schema, op, dialect, true)
                    .map_err(|source| self.model_error(entry, source))?;
                stored_units.extend(applied.unit.take());
                advanced.push(applied);
            }
            let safe = self.safe_for(entry).map(|server| Safe {
                server,
                existing: &replay.existing,
            });
            steps.extend(
                group_steps(index, group, &advanced, &replay.schema, dialect, safe)
                    .map_err(|source| self.model_error(entry, source))?,
            );
            for op in group {
                replay.note_existing(op);
            }
            for (offset, op) in group.iter().enumerate() {
                let after = advanced
                    .get(offset + 1)
                    .map_or(&replay.schema, |next| &next.before);
                note_op(
                    &mut footprint,
                    op,
                    (&advanced[offset].before, after),
                    dialect,
                    index + offset + 1,
                );
                note_changed_tables(
                    &mut changed_tables,
                    op,
                    (&advanced[offset].before, after),
                    &at_start,
                );
            }
            inverses.extend(advanced.into_iter().map(|applied| applied.inverse));
            index += group.len();
        }
        let explicit_down = entry.record_down(dialect);
        // Checkpoints, up or down, of a backfill this migration runs either way.
        let checkpointed = ops.iter().any(has_backfill)
            || explicit_down
                .as_ref()
                .is_some_and(|down| down.ops().iter().any(has_backfill))
            || inverses.iter().any(|inverse| {
                matches!(inverse, crate::schema::Inverse::Ops(ops) if ops.iter().any(has_backfill))
            });
        replay
            .inverses
            .entry(id.to_owned())
            .or_default()
            .extend(inverses);
        let down = match explicit_down {
            Some(down) => StoredDown {
                explicit: true,
                units: vec![render_units(&replay.schema, down.ops(), dialect)],
            },
            None => StoredDown {
                explicit: false,
                units: stored_units,
            },
        };
        let backup = match (entry.backup(), self.backup_all) {
            // Resumed: its backup was taken before its first attempt.
            _ if row.is_some() => None,
            (Some(BackupScope::Tables), _) => Some(BackupPlan {
                tables: changed_tables,
            }),
            (Some(BackupScope::Database), _) | (None, true) => Some(BackupPlan { tables: None }),
            (None, false) => None,
        };
        Ok(Job {
            backup,
            id: id.to_owned(),
            location: entry.location().to_string(),
            direction: Direction::Up,
            transactional: entry.is_transactional(),
            steps,
            ops_total: ops.len(),
            ops_done: done,
            statements_done: row.map_or(0, |r| r.statements_done),
            has_row: row.is_some(),
            resumed: row.is_some(),
            record: Record {
                checksum: checksum(entry),
                parents: entry.after().iter().map(|p| p.to_string()).collect(),
                down,
                down_text: Default::default(),
                seq,
            },
            footprint,
            checkpointed,
        })
    }
}

/// Adds the tables `op` changes or drops that the migration started with (what a backup of the
/// tables a migration changes holds); unknown once one op's are.
fn note_changed_tables(
    tables: &mut Option<Vec<String>>,
    op: &crate::op::Op,
    (before, after): (&crate::schema::Schema, &crate::schema::Schema),
    at_start: &crate::schema::Schema,
) {
    let Some(all) = tables else { return };
    let Some(touches) = crate::runner::footprint::touches(op, before, after) else {
        *tables = None;
        return;
    };
    for touch in touches {
        let name = match touch {
            Touch::Locks(name) | Touch::Drops(name) => name,
            Touch::Renames { from, .. } => from,
            Touch::Creates(_) => continue,
        };
        if at_start.table(&name).is_some() && !all.contains(&name) {
            all.push(name);
        }
    }
}

fn has_backfill(op: &crate::op::Op) -> bool {
    op.batched_table().is_some()
}
