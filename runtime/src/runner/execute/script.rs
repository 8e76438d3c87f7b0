//! A job as a script, for offline review.

use super::{needs_foreign_keys_off, records_start, units};
use crate::dialect::facts;
use crate::graph::Direction;
use crate::op::Dialect;
use crate::runner::job::{Job, Part};

/// The job as a script: what `run` would execute, with its transaction boundaries and history
/// writes as comments, for offline review.
/// `next` as in [`super::run`].
pub(crate) fn script(job: &Job, next: Option<&Job>, dialect: Dialect) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut history = match job.direction {
        Direction::Up => format!("-- history: record `{}` as applied", job.id),
        Direction::Down => format!("-- history: remove `{}`", job.id),
    };
    if let Some(next) = next.filter(|next| records_start(next, dialect) && next.backup.is_none()) {
        let _ = write!(history, ", and `{}` as started, in one commit", next.id);
    }
    let units = units(job, dialect);
    if records_start(job, dialect) {
        let _ = writeln!(out, "-- history: record `{}` as started", job.id);
    }
    for (u, unit) in units.iter().enumerate() {
        let steps = &job.steps[unit.steps.clone()];
        let foreign_keys_off = needs_foreign_keys_off(steps, dialect);
        if foreign_keys_off {
            let _ = writeln!(out, "PRAGMA foreign_keys = OFF;");
        }
        if unit.in_transaction {
            let _ = writeln!(out, "{};", facts(dialect).begin);
        } else if !facts(dialect).commits_each_statement {
            let _ = writeln!(out, "-- outside a transaction:");
        }
        for step in steps {
            let _ = writeln!(out, "-- {}", step.description);
            for part in &step.parts {
                match part {
                    Part::Sql { op, .. } => {
                        if let Some(leftover) = &op.leftover {
                            let _ =
                                writeln!(out, "-- first, if this returns rows: {}", leftover.probe);
                            for remove in &leftover.remove {
                                let _ = writeln!(out, "--   {remove};");
                            }
                        }
                        out.push_str(&op.to_sql());
                    }
                    Part::Rust(name, _) => {
                        let _ = writeln!(out, "-- Rust step `{name}` runs here");
                    }
                }
            }
        }
        if foreign_keys_off && unit.in_transaction {
            let _ = writeln!(out, "-- must return no rows:\nPRAGMA foreign_key_check;");
        }
        if u + 1 == units.len() {
            let _ = writeln!(out, "{history}");
        } else {
            let _ = writeln!(out, "-- history: progress of `{}`", job.id);
        }
        if unit.in_transaction {
            let _ = writeln!(out, "COMMIT;");
        }
        if foreign_keys_off {
            let _ = writeln!(out, "PRAGMA foreign_keys = ON;");
        }
    }
    if units.is_empty() {
        let _ = writeln!(out, "{history}");
    }
    out
}
