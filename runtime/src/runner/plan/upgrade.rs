//! The jobs of an upgrade.

use std::collections::{BTreeSet, HashMap};

use super::absorb::{group_steps, parts_created_with_table};
use super::replay::{advance, render_units};
use super::{Planner, note_op};
use crate::graph::{Direction, Target};
use crate::runner::checksum::checksum;
use crate::runner::error::RunError;
use crate::runner::history::Row;
use crate::runner::job::{Job, Record};
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
        let dialect = self.dialect;
        let planned: BTreeSet<&str> = plan.iter().map(String::as_str).collect();
        let mut replay = self.replay(&known, &planned)?;
        let mut seq = rows.iter().map(|r| r.seq).max().unwrap_or(0);
        let mut jobs = Vec::with_capacity(plan.len());
        for id in &plan {
            let entry = self.entry(id);
            let row = rows_by_id.get(id.as_str());
            let ops = entry.record_up(dialect).into_ops();
            let done = row.map_or(0, |r| r.ops_done.min(ops.len()));
            let mut stored_units = replay.prefix_units.remove(id.as_str()).unwrap_or_default();
            let mut steps = Vec::with_capacity(ops.len() - done);
            let mut footprint = self.footprint();
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
                steps.extend(
                    group_steps(index, group, &advanced, &replay.schema, dialect)
                        .map_err(|source| self.model_error(entry, source))?,
                );
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
                }
                index += group.len();
            }
            let down = match entry.record_down(dialect) {
                Some(down) => StoredDown {
                    explicit: true,
                    units: vec![render_units(&replay.schema, down.ops(), dialect)],
                },
                None => StoredDown {
                    explicit: false,
                    units: stored_units,
                },
            };
            seq += 1;
            jobs.push(Job {
                id: id.clone(),
                location: entry.location().to_string(),
                direction: Direction::Up,
                transactional: entry.is_transactional(),
                steps,
                ops_total: ops.len(),
                ops_done: done,
                statements_done: row.map_or(0, |r| r.statements_done),
                has_row: row.is_some(),
                record: Record {
                    checksum: checksum(entry),
                    parents: entry.after().iter().map(|p| p.to_string()).collect(),
                    down,
                    seq: row.map_or(seq, |r| r.seq),
                },
                footprint,
            });
        }
        Ok(jobs)
    }
}
