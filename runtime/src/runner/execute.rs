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
//! caller opened ([`run_enclosed`]: a run's single transaction, or one shared by migrations),
//! which the failure aborts: a shared one then runs its migrations alone, with retries.

use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::error::{RunError, db_error};
use super::history::{self, NewRow};
use super::job::{Job, Part, Step};
use super::report::Event;
use super::session::Session;
use crate::db::{Connection, DbError};
use crate::dialect::facts;
use crate::graph::Direction;
use crate::op::{BoxError, Dialect, StepFn, StepFuture};
use crate::render::{Leftover, RenderedOp, Statement};

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
            !step.outside_transaction() && (facts.transactional_ddl || step.only_rust());
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
    step: usize,
    committed: Vec<String>,
    error: BoxError,
    retryable: bool,
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
    run_job(s, job, next, position, total, false).await
}

/// Runs an [`atomic`] job inside a transaction the caller opened (the run's single one, or one
/// that migrations share) and commits or rolls back: no transaction of its own, no retry (a failed statement aborts the whole transaction).
/// Returns how long it took; its `MigrationFinished` event is the caller's, after the commit.
pub(super) async fn run_enclosed(
    s: &mut Session<'_>,
    job: &Job,
    position: usize,
    total: usize,
) -> Result<Duration, RunError> {
    let started = Instant::now();
    run_job(s, job, None, position, total, true).await?;
    Ok(started.elapsed())
}

async fn run_job(
    s: &mut Session<'_>,
    job: &Job,
    next: Option<&Job>,
    position: usize,
    total: usize,
    enclosed: bool,
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
        then_start: next.filter(|next| records_start(next, dialect)),
    };
    let units = units(job, dialect);
    if records_start(job, dialect) {
        // Record that the migration started before its first op commits on its own.
        let start_row = history::insert(dialect, s.history, &new_row(job, true, job.ops_done, 0));
        s.conn
            .execute(&start_row)
            .await
            .map_err(|e| db_error("recording the migration's start", e))?;
        progress.has_row = true;
    }
    if units.is_empty() {
        finish(s, job, &mut progress, enclosed)
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
            let result =
                run_unit(s, job, unit, last, &mut progress, skip_statements, enclosed).await;
            let Err(failure) = result else { break };
            if failure.retryable
                && !enclosed
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
                source: failure.error,
            });
        }
        skip_statements = 0;
    }
    if !enclosed {
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
        down: &job.record.down,
    }
}

/// Where the history stands once a write commits.
struct Recorded {
    ops_done: usize,
    has_row: bool,
}

impl Recorded {
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
    let recorded = match job.direction {
        Direction::Up => {
            let row = new_row(job, false, job.ops_total, elapsed_ms);
            writes.push(if progress.has_row {
                history::complete(dialect, s.history, &row)
            } else {
                history::insert(dialect, s.history, &row)
            });
            Recorded {
                ops_done: job.ops_total,
                has_row: true,
            }
        }
        Direction::Down => {
            writes.push(history::delete(dialect, s.history, &job.id));
            Recorded {
                ops_done: 0,
                has_row: false,
            }
        }
    };
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
    if conn.fetch_text(sql).await?.is_empty() {
        Ok(())
    } else {
        Err(DbError::Verification { sql: sql.into() })
    }
}

/// Whether a statement may share a round trip with others: one statement known to be exactly
/// one, with no query to run first or check after, that may run in a transaction block.
fn sendable_together(statement: &Statement, op: &RenderedOp, one_statement_each: bool) -> bool {
    one_statement_each
        && !op.outside_transaction
        && statement.unless_exists.is_none()
        && !statement.expect_no_rows
}

/// Statements waiting to be sent together, and what their completion means.
struct Batch<'j> {
    items: Vec<Item<'j>>,
    /// The last item waiting belongs to the step being built.
    holds_current_step: bool,
    /// Outside a transaction: the unit's statements that have committed, in order.
    committed: Vec<String>,
    track_committed: bool,
    /// Send each item in a round trip of its own: outside a transaction, but on MySQL.
    one_at_a_time: bool,
    /// When the step now running started: when the one before it finished.
    step_started: Instant,
}

struct Item<'j> {
    sql: Cow<'j, str>,
    /// The step a failure of this item is reported against.
    step: usize,
    /// One of the step's own statements (not transaction control or a history write).
    op_statement: bool,
    /// The step is done once this item completes.
    finishes_step: bool,
}

impl<'j> Batch<'j> {
    fn new(in_transaction: bool, dialect: Dialect) -> Self {
        Batch {
            items: Vec::new(),
            holds_current_step: false,
            committed: Vec::new(),
            track_committed: !in_transaction,
            one_at_a_time: !in_transaction && !facts(dialect).commits_each_statement,
            step_started: Instant::now(),
        }
    }

    fn push(&mut self, sql: impl Into<Cow<'j, str>>, step: usize, op_statement: bool) {
        self.items.push(Item {
            sql: sql.into(),
            step,
            op_statement,
            finishes_step: false,
        });
        self.holds_current_step = true;
    }

    fn fail(&mut self, step: usize, error: DbError) -> UnitFailure {
        UnitFailure {
            step,
            committed: std::mem::take(&mut self.committed),
            retryable: error.is_lock_timeout(),
            error: Box::new(error),
        }
    }

    /// A statement that ran on its own, outside the batch.
    fn ran_alone(&mut self, sql: &str) {
        if self.track_committed {
            self.committed.push(sql.to_owned());
        }
    }

    /// Sends what waits, in one round trip (one per item when `one_at_a_time`).
    async fn send(&mut self, s: &mut Session<'_>, job: &Job) -> Result<(), UnitFailure> {
        self.holds_current_step = false;
        let chunk = match self.one_at_a_time {
            true => 1,
            false => self.items.len().max(1),
        };
        let mut failure = None;
        for (start, items) in self.items.chunks(chunk).enumerate() {
            let start = start * chunk;
            let sql: Vec<&str> = items.iter().map(|item| item.sql.as_ref()).collect();
            let committed = &mut self.committed;
            let step_started = &mut self.step_started;
            let track_committed = self.track_committed;
            let events = &mut *s.events;
            let sent = s
                .conn
                .execute_batch(&sql, |i| {
                    let item = &items[i];
                    if item.op_statement && track_committed {
                        committed.push(item.sql.to_string());
                    }
                    if item.finishes_step {
                        let step = &job.steps[item.step];
                        events.emit(op_finished(job, step, *step_started));
                        *step_started = Instant::now();
                    }
                })
                .await;
            if let Err((i, error)) = sent {
                failure = Some((self.items[start + i].step, error));
                break;
            }
        }
        self.items.clear();
        match failure {
            Some((step, error)) => Err(self.fail(step, error)),
            None => Ok(()),
        }
    }

    /// Marks `step` done: with its last statement waiting, once that completes; now otherwise.
    async fn end_step(
        &mut self,
        s: &mut Session<'_>,
        job: &Job,
        step: usize,
    ) -> Result<(), UnitFailure> {
        if self.holds_current_step
            && let Some(last) = self.items.last_mut()
        {
            last.finishes_step = true;
            self.holds_current_step = false;
            return Ok(());
        }
        self.send(s, job).await?;
        s.events
            .emit(op_finished(job, &job.steps[step], self.step_started));
        self.step_started = Instant::now();
        Ok(())
    }
}

/// Runs one unit: its statements, several to a round trip where they can be, then the history
/// writes that close it, in the unit's transaction when it has one. Progress writes and a
/// downgrade's removal of the row ride with the statements; an upgrade's applied row follows
/// them, timed once they are done.
async fn run_unit(
    s: &mut Session<'_>,
    job: &Job,
    unit: &Unit,
    last: bool,
    progress: &mut Progress<'_>,
    skip_statements: usize,
    enclosed: bool,
) -> Result<(), UnitFailure> {
    let dialect = s.dialect();
    let first = unit.steps.start;
    let last_step = unit.steps.end - 1;
    let in_transaction = unit.in_transaction;
    // Enclosed in the run's transaction, the run turns foreign keys off and checks them.
    let foreign_keys_off = in_transaction
        && !enclosed
        && needs_foreign_keys_off(&job.steps[unit.steps.clone()], dialect);
    let mut batch = Batch::new(in_transaction, dialect);
    if foreign_keys_off {
        s.conn
            .execute("PRAGMA foreign_keys = OFF")
            .await
            .map_err(|e| batch.fail(first, e))?;
    }
    let result = async {
        if in_transaction && !enclosed {
            batch.push(s.conn.begin_sql(), first, false);
        }
        let mut skip = skip_statements;
        for at in unit.steps.clone() {
            let step = &job.steps[at];
            batch.holds_current_step = false;
            // MySQL commits each statement of a multi-statement op on its own: progress is
            // recorded after each, so that a rerun continues after the last one.
            let progress_each = !in_transaction
                && job.direction == Direction::Up
                && facts(dialect).commits_each_statement
                && step
                    .parts
                    .iter()
                    .map(|p| match p {
                        Part::Sql { op, .. } => op.statements.len(),
                        Part::Rust(..) => 1,
                    })
                    .sum::<usize>()
                    > 1;
            let mut statements_done = skip_statements;
            for part in &step.parts {
                match part {
                    Part::Sql {
                        op,
                        one_statement_each,
                    } => {
                        if let Some(leftover) = &op.leftover {
                            batch.send(s, job).await?;
                            remove_leftover(s, job, leftover)
                                .await
                                .map_err(|e| batch.fail(at, e))?;
                        }
                        for statement in &op.statements {
                            if skip > 0 {
                                skip -= 1;
                                continue;
                            }
                            if sendable_together(statement, op, *one_statement_each) {
                                batch.push(statement.sql.as_str(), at, true);
                            } else {
                                batch.send(s, job).await?;
                                s.conn
                                    .run_statement(statement)
                                    .await
                                    .map_err(|e| batch.fail(at, e))?;
                                batch.ran_alone(&statement.sql);
                            }
                            statements_done += 1;
                            if progress_each {
                                let sql = history::progress(
                                    dialect,
                                    s.history,
                                    &job.id,
                                    step.first_op,
                                    statements_done,
                                );
                                batch.push(sql, at, false);
                            }
                        }
                    }
                    Part::Rust(_, f) => {
                        batch.send(s, job).await?;
                        call_step(f.as_ref(), s.conn).await.map_err(|error| {
                            UnitFailure {
                                step: at,
                                committed: std::mem::take(&mut batch.committed),
                                // Outside a transaction the step's own writes have committed
                                // as it went: running it again is not safe.
                                retryable: in_transaction
                                    && error
                                        .downcast_ref::<DbError>()
                                        .is_some_and(DbError::is_lock_timeout),
                                error,
                            }
                        })?;
                    }
                }
            }
            batch.end_step(s, job, at).await?;
        }
        if foreign_keys_off {
            batch.send(s, job).await?;
            check_foreign_keys(s.conn)
                .await
                .map_err(|e| batch.fail(last_step, e))?;
        }
        let recorded = if last {
            // An applied row records the job's duration, statements included: send them
            // before timing it. A downgrade's removal of the row records none.
            if job.direction == Direction::Up {
                batch.send(s, job).await?;
            }
            let (writes, recorded) = finish_writes(s, job, progress);
            if in_transaction || writes.len() == 1 {
                for write in writes {
                    batch.push(write, last_step, false);
                }
            } else {
                // Only an upgrade writes two rows, and its statements have gone already.
                commit_together(s.conn, &writes, false)
                    .await
                    .map_err(|e| batch.fail(last_step, e))?;
            }
            recorded
        } else {
            let ops_done = ops_done_after(job, &job.steps[last_step]);
            let sql = history::progress(dialect, s.history, &job.id, ops_done, 0);
            batch.push(sql, last_step, false);
            Recorded {
                ops_done,
                has_row: progress.has_row,
            }
        };
        if in_transaction && !enclosed {
            batch.push("COMMIT", last_step, false);
        }
        batch.send(s, job).await?;
        recorded.apply(progress);
        Ok(())
    }
    .await;
    if result.is_err() && in_transaction && !enclosed {
        let _ = s.conn.execute("ROLLBACK").await;
    }
    if foreign_keys_off {
        let restored = s.conn.execute("PRAGMA foreign_keys = ON").await;
        if let (Ok(()), Err(e)) = (&result, restored) {
            return Err(batch.fail(last_step, e));
        }
    }
    result
}

/// Drops what a failed earlier attempt at an op left behind (an INVALID index), if it is there.
async fn remove_leftover(
    s: &mut Session<'_>,
    job: &Job,
    leftover: &Leftover,
) -> Result<(), DbError> {
    if s.conn.fetch_text(&leftover.probe).await?.is_empty() {
        return Ok(());
    }
    s.conn.execute(&leftover.remove).await?;
    s.events.emit(Event::LeftoverRemoved {
        id: job.id.clone(),
        sql: leftover.remove.clone(),
    });
    Ok(())
}

/// The job as a script: what `run` would execute, with its transaction boundaries and history
/// writes as comments, for offline review.
/// `next` as in [`run`].
pub(super) fn script(job: &Job, next: Option<&Job>, dialect: Dialect) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut history = match job.direction {
        Direction::Up => format!("-- history: record `{}` as applied", job.id),
        Direction::Down => format!("-- history: remove `{}`", job.id),
    };
    if let Some(next) = next.filter(|next| records_start(next, dialect)) {
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
                            let _ = writeln!(
                                out,
                                "-- first, if this returns rows: {}\n--   {};",
                                leftover.probe, leftover.remove
                            );
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

pub(super) fn op_finished(job: &Job, step: &Step, started: Instant) -> Event {
    Event::OpFinished {
        id: job.id.clone(),
        index: step.op_index,
        ops: job.ops_total,
        description: step.description.clone(),
        elapsed: started.elapsed(),
    }
}

/// Calls a Rust data step; a panic in it becomes an error, so the transaction rolls back and
/// the lock is released like after any other failure.
async fn call_step(f: &StepFn, conn: &mut Connection) -> Result<(), BoxError> {
    let future = std::panic::catch_unwind(AssertUnwindSafe(move || {
        let conn = conn;
        f(conn)
    }))
    .map_err(panic_error)?;
    CatchUnwind(future).await
}

struct CatchUnwind<'c>(StepFuture<'c>);

impl Future for CatchUnwind<'_> {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(panic_error(payload))),
        }
    }
}

fn panic_error(payload: Box<dyn std::any::Any + Send>) -> BoxError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".into());
    format!("the Rust step panicked: {message}").into()
}
