//! Deferred progress on MySQL and MariaDB: consecutive migrations whose every step is one DDL
//! statement with an effect the schema model sees run as a group, up to [`MAX_JOBS`], whose
//! history is written twice: before its first statement, each of its rows as `unconfirmed`,
//! and after its last, each as applied (or removed, on the way down). One commit each.
//!
//! MySQL commits every DDL statement on its own, so a migration there cannot commit together
//! with its history row: recording progress op by op costs a commit per op on top of the DDL's
//! own, more than many DDL statements cost. Here the record of where a run stands is the live
//! schema itself:
//! - Every op of a group changes a table in a way that introspection sees, and leads to a
//!   state of the tables it touches that no earlier point of the group had: each point of the
//!   group is told apart from every other by the live schema alone ([`group_len`]).
//! - A failure is reported where it happened, and the history is brought to what is applied,
//!   in one commit, before the error returns.
//! - A run that was killed (or whose last write failed) leaves rows `unconfirmed`; their
//!   `ops_done` tells which way it went. The next run rebuilds the group's points as the run
//!   planned them (up: from the migrations applied before it, in the order of the rows; down:
//!   from every migration applied, reverted in the downgrade's order), introspects the tables
//!   the group touches, finds the one point they match ([`locate`]), records it, and goes on
//!   from there; `status` reports it the same way. When the tables match no point (changed by
//!   hand since), it stops and says which, and the point nearest to them.
//!
//! Not grouped: SQL written by hand and Rust steps (the model does not see their effects),
//! migrations marked `transactional = false` (a batched backfill), steps of several statements
//! (MySQL commits each), a migration resumed midway, unknown migrations reverted from stored
//! SQL, and tables that introspection may not read back as they are (a name with capitals, a
//! string default that MySQL reports without quotes ambiguously: [`CatalogTable::reads_back`]).

mod settle;

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Duration;

use super::error::{RunError, db_error};
use super::execute::{self, Enclosure};
use super::history;
use super::job::{Job, Part};
use super::session::Session;
use crate::graph::Direction;
use crate::introspect::CatalogTable;

/// At most this many migrations share the two history commits, and a killed run's next run
/// looks for the point where it stopped among their ops.
pub(super) const MAX_JOBS: usize = 50;

/// Whether a job may run in a group: known ops, each step one DDL statement, the whole
/// migration to apply or revert.
fn eligible(job: &Job) -> bool {
    let whole = match job.direction {
        Direction::Up => !job.has_row && job.ops_done == 0,
        Direction::Down => job.has_row && job.ops_done == job.ops_total && job.statements_done == 0,
    };
    let statements = |parts: &[Part]| -> Option<usize> {
        parts.iter().try_fold(0, |count, part| match part {
            Part::Sql {
                op,
                one_statement_each: true,
            } if !op.outside_transaction
                && !op.in_transaction
                && op.leftover.is_none()
                && op.statements.iter().all(|s| {
                    s.unless_exists.is_none() && !s.expect_no_rows && s.check.is_none()
                }) =>
            {
                Some(count + op.statements.len())
            }
            _ => None,
        })
    };
    whole
        // Its checkpoints are cleared at its end, which a group does not write.
        && !job.checkpointed
        && job.transactional
        && job.ops_total > 0
        // An op that changes nothing (an empty `down`) would be no point of the group.
        && job.footprint.trace.as_ref().is_some_and(|trace| !trace.is_empty())
        && job
            .steps
            .iter()
            .all(|step| statements(&step.parts).is_some_and(|n| n <= 1))
}

/// How many of `jobs`, from the first, run as one group; below 2, the first runs alone.
///
/// Each op must bring a table it touches to a state that table had at no earlier point of the
/// group: then the tables the group touches differ between any two points, and the live schema
/// tells which point a run reached.
pub(super) fn group_len(jobs: &[Job]) -> usize {
    let mut seen: HashMap<&str, Vec<&Option<CatalogTable>>> = HashMap::new();
    let mut len = 0;
    for job in jobs.iter().take(MAX_JOBS) {
        let Some(trace) = job.footprint.trace.as_ref().filter(|_| eligible(job)) else {
            break;
        };
        for op in trace {
            let new_point = op.changes.iter().any(|change| {
                seen.get(change.name.as_str())
                    .map_or(change.before != change.after, |values| {
                        !values.contains(&&change.after)
                    })
            });
            if !new_point {
                return len;
            }
            for change in &op.changes {
                seen.entry(&change.name)
                    .or_insert_with(|| vec![&change.before])
                    .push(&change.after);
            }
        }
        len += 1;
    }
    len
}

/// Runs `group`, recording its start and its end, or where it stopped.
pub(super) async fn run(
    s: &mut Session<'_>,
    group: &[Job],
    position: usize,
    total: usize,
) -> Result<(), RunError> {
    let dialect = s.dialect();
    let starts: Vec<String> = group
        .iter()
        .map(|job| match job.direction {
            Direction::Up => {
                history::insert_unconfirmed(dialect, s.history, &execute::new_row(job, true, 0, 0))
            }
            Direction::Down => history::unconfirm(dialect, s.history, &job.id),
        })
        .collect();
    execute::commit_together(s.conn, &starts, false)
        .await
        .map_err(|e| db_error("recording the start of the migrations", e))?;
    let mut took = Vec::with_capacity(group.len());
    for (index, job) in group.iter().enumerate() {
        match execute::run_within(s, job, position + index + 1, total, Enclosure::Group).await {
            Ok(elapsed) => took.push(elapsed),
            Err(error) => {
                // Where the run stopped is known here: record it, rather than leave the next
                // run to read it from the live schema. Should this write fail, that is what
                // the next run does.
                let ops_done = match &error {
                    RunError::Failed { ops_applied, .. } => *ops_applied,
                    _ => job.ops_done,
                };
                let writes = stopped_writes(s, group, &took, ops_done);
                let _ = execute::commit_together(s.conn, &writes, false).await;
                return Err(error);
            }
        }
    }
    let ends: Vec<String> = group
        .iter()
        .zip(&took)
        .map(|(job, elapsed)| applied_write(s, job, *elapsed))
        .collect();
    execute::commit_together(s.conn, &ends, false)
        .await
        .map_err(|e| db_error("recording the migrations", e))
}

/// A job run to its end: recorded as applied, or its row removed.
fn applied_write(s: &Session<'_>, job: &Job, elapsed: Duration) -> String {
    let dialect = s.dialect();
    match job.direction {
        Direction::Up => {
            let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
            let row = execute::new_row(job, false, job.ops_total, ms);
            history::complete(dialect, s.history, &row)
        }
        Direction::Down => history::delete(dialect, s.history, &job.id),
    }
}

/// The history of a group that stopped in its job `took.len()`, with `ops_done` of its ops
/// applied: the jobs before it done, the ones after it not started.
fn stopped_writes(
    s: &Session<'_>,
    group: &[Job],
    took: &[Duration],
    ops_done: usize,
) -> Vec<String> {
    let dialect = s.dialect();
    let stopped = took.len();
    group
        .iter()
        .enumerate()
        .map(|(index, job)| {
            match (index.cmp(&stopped), job.direction) {
                (Ordering::Less, _) => applied_write(s, job, took[index]),
                // As a migration run alone leaves it: started, even with no op applied.
                (Ordering::Equal, Direction::Up) => {
                    history::progress(dialect, s.history, &job.id, ops_done, 0)
                }
                (Ordering::Equal, Direction::Down) => {
                    history::settle(dialect, s.history, &job.id, ops_done, job.ops_total)
                }
                // Not started: as it was before the group.
                (Ordering::Greater, _) => {
                    history::settle(dialect, s.history, &job.id, job.ops_done, job.ops_total)
                }
            }
        })
        .collect()
}

pub(super) use settle::{locate, settle};
