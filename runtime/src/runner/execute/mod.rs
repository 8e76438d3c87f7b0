//! Running one rendered migration ([`Job`]) with its history writes.
//!
//! A job is cut into units:
//! - PostgreSQL and SQLite, transactional migration, no op that must run outside a transaction:
//!   one unit, one transaction, history row included. A failure leaves nothing of it.
//! - Otherwise each op that must run outside a transaction (`CONCURRENTLY`) is a unit of its
//!   own; the others are grouped into transactions (each op alone for `transactional = false`).
//!   A `partial` history row is written first (in the commit that records the run's previous
//!   migration, when that one ran alone) and its progress is updated after every unit, inside the
//!   unit's transaction when it has one, so a rerun resumes after the last unit that completed.
//! - MySQL/MariaDB commit DDL implicitly: every op is a unit, each statement committing on its
//!   own, with progress after each statement of a multi-statement op. Rust data steps run in a
//!   transaction there too.
//!
//! A unit's statements travel to the server several to a round trip ([`Batch`]) when each is
//! known to be one statement that needs nothing run before or after it; outside a transaction
//! only on MySQL, where each of them commits on its own anyway (PostgreSQL would make one
//! implicit transaction of them).
//!
//! A statement that gives up waiting for a lock is retried with backoff: a transactional unit
//! from its start, a statement outside a transaction on its own; not inside a transaction the
//! caller opened ([`Enclosure::Transaction`]: a run's single transaction, or one shared by migrations),
//! which the failure aborts: a shared one then runs its migrations alone, with retries.

mod rust_step;
mod script;
mod unit;

use std::time::{Duration, Instant};

use super::backfill::checkpoint;
use super::error::{RunError, db_error};
use super::history::{self, NewRow};
use super::job::{Job, Part, Step};
use super::report::Event;
use super::session::Session;
use crate::db::{Connection, DbError};
use crate::dialect::facts;
use crate::graph::Direction;
use crate::op::{BoxError, Dialect};

pub(crate) use script::script;
pub use unit::run_rendered;
use unit::run_unit;

/// Consecutive steps that run together.
struct Unit {
    steps: std::ops::Range<usize>,
    in_transaction: bool,
}

fn units(job: &Job, dialect: Dialect) -> Vec<Unit> {
    let facts = facts(dialect);
    let mut units: Vec<Unit> = Vec::new();
    for (i, step) in job.steps.iter().enumerate() {
        let in_transaction =
            !step.outside_transaction() && (facts.transactional_ddl || step.only_data());
        let joins = in_transaction
            && job.transactional
            && facts.transactional_ddl
            && units.last().is_some_and(|u| u.in_transaction);
        match units.last_mut() {
            Some(unit) if joins => unit.steps.end = i + 1,
            _ => units.push(Unit {
                steps: i..i + 1,
                in_transaction,
            }),
        }
    }
    units
}

/// Whether a job runs as one transaction together with its history row (or has no ops).
pub(super) fn atomic(job: &Job, dialect: Dialect) -> bool {
    match units(job, dialect).as_slice() {
        [] => true,
        [unit] => unit.in_transaction,
        _ => false,
    }
}

/// Whether a job may run inside a transaction the caller opened: [`atomic`], or cut into units
/// only by backfills, which then run their batches in that transaction, without checkpoints.
pub(super) fn fits_callers_transaction(job: &Job, dialect: Dialect) -> bool {
    atomic(job, dialect)
        || (facts(dialect).transactional_ddl
            && job.transactional
            && job
                .steps
                .iter()
                .all(|step| step.outside_transaction_only_for_backfills()))
}

/// Whether a job records its start in a commit of its own before its first op: it has no
/// history row yet and does not run as one transaction together with it.
pub(super) fn records_start(job: &Job, dialect: Dialect) -> bool {
    // A migration without ops is atomic: its applied row is its one write.
    !atomic(job, dialect) && !job.has_row && job.direction == Direction::Up
}

/// Where a job stands while it runs.
struct Progress<'j> {
    started: Instant,
    /// Ops applied, as recorded in the history.
    ops_done: usize,
    /// A history row exists.
    has_row: bool,
    /// The next job of the run, whose start this job's last history write records too.
    then_start: Option<&'j Job>,
}

/// Why a unit failed.
struct UnitFailure {
    /// What the failing op did and kept ([`RunError::Failed`]'s `op_progress`).
    op_progress: Option<String>,
    step: usize,
    committed: Vec<String>,
    error: BoxError,
    retryable: bool,
}

/// Who opens a job's transactions and writes its history, besides the job itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Enclosure {
    /// Nobody: the job's own transactions and history writes, with retries.
    Own,
    /// A transaction the caller opened (the run's single one, or one shared by migrations):
    /// the job's history writes go into it, and there is no retry (a failed statement aborts
    /// the whole transaction).
    Transaction,
    /// A MySQL group ([`super::deferred`]), which records the history at its start and end:
    /// the job writes none, and a statement that timed out on a lock runs again.
    Group,
}

impl Enclosure {
    pub(super) fn in_callers_transaction(self) -> bool {
        self == Enclosure::Transaction
    }

    pub(super) fn writes_history(self) -> bool {
        self != Enclosure::Group
    }
}

/// Runs `job`. When `next` (the run's next job) records its start before its first op, the
/// start row is written in this job's last commit, one commit instead of two: then it returns
/// `true`, and `next` has a row.
pub(super) async fn run(
    s: &mut Session<'_>,
    job: &Job,
    next: Option<&Job>,
    position: usize,
    total: usize,
) -> Result<bool, RunError> {
    run_job(s, job, next, position, total, Enclosure::Own).await
}

/// Runs a job inside what `enclosure` (not [`Enclosure::Own`]) says: an [`atomic`] job in a
/// transaction the caller opened and commits or rolls back (its `MigrationFinished` event is
/// then the caller's, after the commit), or a job of a MySQL group. Returns how long it took;
/// on failure, `RunError::Failed` says how many of its ops are applied.
pub(super) async fn run_within(
    s: &mut Session<'_>,
    job: &Job,
    position: usize,
    total: usize,
    enclosure: Enclosure,
) -> Result<Duration, RunError> {
    let started = Instant::now();
    run_job(s, job, None, position, total, enclosure).await?;
    Ok(started.elapsed())
}

async fn run_job(
    s: &mut Session<'_>,
    job: &Job,
    next: Option<&Job>,
    position: usize,
    total: usize,
    enclosure: Enclosure,
) -> Result<bool, RunError> {
    let dialect = s.dialect();
    s.events.emit(Event::MigrationStarted {
        id: job.id.clone(),
        direction: job.direction,
        position,
        total,
        ops: job.ops_total,
        resume_from: match job.direction {
            Direction::Up => job.ops_done,
            Direction::Down => 0,
        },
    });
    let mut progress = Progress {
        started: Instant::now(),
        ops_done: job.ops_done,
        has_row: job.has_row,
        // A job with a backup records its start itself, after the backup.
        then_start: next.filter(|next| records_start(next, dialect) && next.backup.is_none()),
    };
    let units = units(job, dialect);
    if job.checkpointed && enclosure.writes_history() {
        checkpoint::create(s.conn, &checkpoint::table(s.history))
            .await
            .map_err(|e| db_error("creating the checkpoint table", e))?;
    }
    if records_start(job, dialect) && enclosure.writes_history() {
        // Record that the migration started before its first op commits on its own.
        let start_row = history::insert(dialect, s.history, &new_row(job, true, job.ops_done, 0));
        s.conn
            .execute(&start_row)
            .await
            .map_err(|e| db_error("recording the migration's start", e))?;
        progress.has_row = true;
    }
    if units.is_empty() && enclosure.writes_history() {
        finish(s, job, &mut progress, enclosure.in_callers_transaction())
            .await
            .map_err(|e| db_error("recording the migration", e))?;
    }
    let mut skip_statements = match job.direction {
        Direction::Up => job.statements_done,
        Direction::Down => 0,
    };
    for (u, unit) in units.iter().enumerate() {
        let last = u + 1 == units.len();
        let mut attempt = 0;
        loop {
            let result = run_unit(
                s,
                job,
                unit,
                last,
                &mut progress,
                skip_statements,
                enclosure,
            )
            .await;
            let Err(failure) = result else { break };
            if failure.retryable
                && !enclosure.in_callers_transaction()
                && wait_to_retry(s, &job.id, &mut attempt, failure.error.to_string()).await
            {
                skip_statements += failure.committed.len();
                continue;
            }
            let step = &job.steps[failure.step];
            return Err(RunError::Failed {
                id: job.id.clone(),
                location: job.location.clone(),
                direction: job.direction,
                index: step.first_op,
                ops: job.ops_total,
                op: step.description.clone(),
                ops_applied: progress.ops_done,
                statements_committed: failure.committed,
                op_progress: failure.op_progress,
                source: failure.error,
            });
        }
        skip_statements = 0;
    }
    if !enclosure.in_callers_transaction() {
        s.events.emit(Event::MigrationFinished {
            id: job.id.clone(),
            direction: job.direction,
            elapsed: progress.started.elapsed(),
        });
    }
    Ok(progress.then_start.is_some())
}

/// After a statement of `id` gave up waiting for a lock, `attempt` times before (from 0):
/// unless the run's retries are spent, says so in an event, waits (twice as long each time)
/// and returns `true`.
pub(super) async fn wait_to_retry(
    s: &mut Session<'_>,
    id: &str,
    attempt: &mut u32,
    error: String,
) -> bool {
    if *attempt >= s.retries {
        return false;
    }
    let wait = Duration::from_millis(500) * 2u32.pow(*attempt);
    *attempt += 1;
    s.events.emit(Event::Retrying {
        id: id.to_owned(),
        attempt: *attempt,
        wait,
        error,
    });
    tokio::time::sleep(wait).await;
    true
}

/// Records a job as done without running it (`stamp`).
pub(super) async fn stamp(s: &mut Session<'_>, job: &Job) -> Result<(), RunError> {
    if job.checkpointed {
        checkpoint::create(s.conn, &checkpoint::table(s.history))
            .await
            .map_err(|e| db_error("creating the checkpoint table", e))?;
    }
    let mut progress = Progress {
        started: Instant::now(),
        ops_done: job.ops_done,
        has_row: job.has_row,
        then_start: None,
    };
    finish(s, job, &mut progress, false)
        .await
        .map_err(|e| db_error("stamping the history", e))
}

pub(super) fn new_row(job: &Job, partial: bool, ops_done: usize, execution_ms: i64) -> NewRow<'_> {
    NewRow {
        id: &job.id,
        checksum: &job.record.checksum,
        partial,
        ops_done,
        ops_total: job.ops_total,
        execution_ms,
        seq: job.record.seq,
        parents: &job.record.parents,
        location: &job.location,
        down_sql: job.record.down_sql(),
    }
}

/// Where the history stands once a write commits.
struct Recorded {
    ops_done: usize,
    has_row: bool,
}

impl Recorded {
    /// Once the job is done: every op applied (up), or no row left (down).
    fn at_end(job: &Job) -> Recorded {
        match job.direction {
            Direction::Up => Recorded {
                ops_done: job.ops_total,
                has_row: true,
            },
            Direction::Down => Recorded {
                ops_done: 0,
                has_row: false,
            },
        }
    }

    fn apply(self, progress: &mut Progress<'_>) {
        progress.ops_done = self.ops_done;
        progress.has_row = self.has_row;
    }
}

/// The history writes that end a job, timed now: its applied row, or its removal; with the next
/// job's start row when `progress.then_start` asks for it, to commit together.
fn finish_writes(s: &Session<'_>, job: &Job, progress: &Progress<'_>) -> (Vec<String>, Recorded) {
    let dialect = s.dialect();
    let elapsed_ms = i64::try_from(progress.started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let mut writes = Vec::with_capacity(2);
    match job.direction {
        Direction::Up => {
            let row = new_row(job, false, job.ops_total, elapsed_ms);
            writes.push(if progress.has_row {
                history::complete(dialect, s.history, &row)
            } else {
                history::insert(dialect, s.history, &row)
            });
        }
        Direction::Down => writes.push(history::delete(dialect, s.history, &job.id)),
    }
    if job.checkpointed {
        // Checkpoints hold for one life of the migration: going down, none holds after; up,
        // those of an unfinished revert no longer do.
        let table = checkpoint::table(s.history);
        writes.push(match job.direction {
            Direction::Up => {
                checkpoint::delete_direction(dialect, &table, &job.id, Direction::Down)
            }
            Direction::Down => checkpoint::delete_migration(dialect, &table, &job.id),
        });
    }
    let recorded = Recorded::at_end(job);
    if let Some(next) = progress.then_start {
        let start_row = new_row(next, true, next.ops_done, 0);
        writes.push(history::insert(dialect, s.history, &start_row));
    }
    (writes, recorded)
}

/// Ends a job outside any transaction of its own: its history writes commit together (or go
/// into the run's transaction, when `enclosed`).
async fn finish(
    s: &mut Session<'_>,
    job: &Job,
    progress: &mut Progress<'_>,
    enclosed: bool,
) -> Result<(), DbError> {
    let (writes, recorded) = finish_writes(s, job, progress);
    commit_together(s.conn, &writes, enclosed).await?;
    recorded.apply(progress);
    Ok(())
}

/// Commits `writes` atomically, in one round trip; `enclosed`: inside a transaction already
/// open, which commits them.
pub(super) async fn commit_together(
    conn: &mut Connection,
    writes: &[String],
    enclosed: bool,
) -> Result<(), DbError> {
    if enclosed || writes.len() == 1 {
        let writes: Vec<&str> = writes.iter().map(String::as_str).collect();
        return conn
            .execute_batch(&writes, |_| {})
            .await
            .map_err(|(_, error)| error);
    }
    let mut batch: Vec<&str> = Vec::with_capacity(writes.len() + 2);
    batch.push(conn.begin_sql());
    batch.extend(writes.iter().map(String::as_str));
    batch.push("COMMIT");
    let sent = conn.execute_batch(&batch, |_| {}).await;
    if let Err((_, error)) = sent {
        let _ = conn.execute("ROLLBACK").await;
        return Err(error);
    }
    Ok(())
}

/// Ops applied once `step` is done.
pub(super) fn ops_done_after(job: &Job, step: &Step) -> usize {
    match job.direction {
        Direction::Up => step.op_index + 1,
        Direction::Down => step.op_index,
    }
}

/// SQLite ignores `PRAGMA foreign_keys` inside a transaction: a unit with a table rebuild needs
/// it off around the whole transaction, and a final check that no foreign key is left dangling.
pub(super) fn needs_foreign_keys_off(steps: &[Step], dialect: Dialect) -> bool {
    facts(dialect).foreign_keys_switch_outside_transaction
        && steps.iter().any(|s| {
            s.parts
                .iter()
                .any(|p| matches!(p, Part::Sql { op, .. } if op.foreign_keys_off))
        })
}

/// SQLite's `PRAGMA foreign_key_check`, after work done with foreign keys off: fails when a row
/// references a missing one.
pub(super) async fn check_foreign_keys(conn: &mut Connection) -> Result<(), DbError> {
    let sql = "PRAGMA foreign_key_check";
    let rows = conn.fetch_text(sql).await?;
    if rows.is_empty() {
        Ok(())
    } else {
        Err(DbError::Verification {
            what: "the foreign key check after a table rebuild".into(),
            sql: sql.into(),
            expected: "no rows".into(),
            found: DbError::describe_rows(&rows),
        })
    }
}

pub(super) fn op_finished(job: &Job, step: &Step, started: Instant) -> Event {
    Event::OpFinished {
        id: job.id.clone(),
        index: step.op_index,
        ops: job.ops_total,
        description: step.description.clone(),
        elapsed: started.elapsed(),
    }
}
