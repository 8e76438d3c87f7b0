//! Running one rendered migration ([`Job`]) with its history writes.
//!
//! A job is cut into units:
//! - PostgreSQL and SQLite, transactional migration, no op that must run outside a transaction:
//!   one unit, one transaction, history row included. A failure leaves nothing of it.
//! - Otherwise each op that must run outside a transaction (`CONCURRENTLY`) is a unit of its
//!   own; the others are grouped into transactions (each op alone for `transactional = false`).
//!   A `partial` history row is written first (in the commit that records the run's previous
//!   migration, when there is one) and its progress is updated after every unit, inside the
//!   unit's transaction when it has one, so a rerun resumes after the last unit that completed.
//! - MySQL/MariaDB commit DDL implicitly: every op is a unit, run statement by statement, with
//!   progress after each statement of a multi-statement op. Rust data steps run in a
//!   transaction there too.
//!
//! A statement that gives up waiting for a lock is retried with backoff: a transactional unit
//! from its start, a statement outside a transaction on its own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::history::{self, NewRow};
use super::{Event, Job, Migrator, Part, RunError, Step};
use crate::db::{Connection, DbError};
use crate::graph::Direction;
use crate::op::{BoxError, Dialect, StepFn, StepFuture};

/// Consecutive steps that run together.
struct Unit {
    steps: std::ops::Range<usize>,
    in_transaction: bool,
}

fn units(job: &Job, dialect: Dialect) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    for (i, step) in job.steps.iter().enumerate() {
        let in_transaction =
            !step.outside_transaction() && (dialect != Dialect::Mysql || step.only_rust());
        let joins = in_transaction
            && job.transactional
            && dialect != Dialect::Mysql
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

/// Whether a job records its start in a commit of its own before its first op: it has no
/// history row yet and does not run as one transaction together with it.
pub(super) fn records_start(job: &Job, dialect: Dialect) -> bool {
    let units = units(job, dialect);
    let atomic = units.len() == 1 && units[0].in_transaction;
    // A migration without ops has nothing to come before: its applied row is its one write.
    !units.is_empty() && !atomic && !job.has_row && job.direction == Direction::Up
}

/// Where a job stands while it runs.
struct Progress<'j> {
    started: Instant,
    /// Ops applied, as recorded in the history (or about to be, in the open transaction).
    ops_done: usize,
    /// A history row exists (or is written in the open transaction).
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
    m: &mut Migrator,
    job: &Job,
    next: Option<&Job>,
    position: usize,
    total: usize,
) -> Result<bool, RunError> {
    let dialect = m.conn.dialect();
    m.emit(Event::MigrationStarted {
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
        history::insert(
            &mut m.conn,
            &m.history,
            &new_row(job, true, job.ops_done, 0),
        )
        .await
        .map_err(|e| super::db_error("recording the migration's start", e))?;
        progress.has_row = true;
    }
    if units.is_empty() {
        finish(m, job, &mut progress, false)
            .await
            .map_err(|e| super::db_error("recording the migration", e))?;
    }
    let mut skip_statements = match job.direction {
        Direction::Up => job.statements_done,
        Direction::Down => 0,
    };
    for (u, unit) in units.iter().enumerate() {
        let last = u + 1 == units.len();
        let mut attempt = 0;
        loop {
            let result = if unit.in_transaction {
                run_in_transaction(m, job, unit, last, &mut progress).await
            } else {
                run_alone(
                    m,
                    job,
                    unit.steps.start,
                    last,
                    &mut progress,
                    skip_statements,
                )
                .await
            };
            let Err(failure) = result else { break };
            if failure.retryable && attempt < m.retries {
                let wait = Duration::from_millis(500) * 2u32.pow(attempt);
                attempt += 1;
                m.emit(Event::Retrying {
                    id: job.id.clone(),
                    attempt,
                    wait,
                    error: failure.error.to_string(),
                });
                if !unit.in_transaction {
                    skip_statements += failure.committed.len();
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            let step = &job.steps[failure.step];
            return Err(RunError::Failed {
                id: job.id.clone(),
                location: job.location.clone(),
                direction: job.direction,
                index: step.op_index,
                ops: job.ops_total,
                op: step.description.clone(),
                ops_applied: progress.ops_done,
                statements_committed: failure.committed,
                source: failure.error,
            });
        }
        skip_statements = 0;
    }
    m.emit(Event::MigrationFinished {
        id: job.id.clone(),
        direction: job.direction,
        elapsed: progress.started.elapsed(),
    });
    Ok(progress.then_start.is_some())
}

/// Records a job as done without running it (`stamp`).
pub(super) async fn stamp(m: &mut Migrator, job: &Job) -> Result<(), RunError> {
    let mut progress = Progress {
        started: Instant::now(),
        ops_done: job.ops_done,
        has_row: job.has_row,
        then_start: None,
    };
    finish(m, job, &mut progress, false)
        .await
        .map_err(|e| super::db_error("stamping the history", e))
}

fn new_row(job: &Job, partial: bool, ops_done: usize, execution_ms: i64) -> NewRow<'_> {
    NewRow {
        id: &job.id,
        checksum: &job.checksum,
        partial,
        ops_done,
        ops_total: job.ops_total,
        execution_ms,
        seq: job.seq,
        parents: &job.parents,
        location: &job.location,
        down_sql: &job.down_sql,
    }
}

/// The history write that ends a job: the applied row, or its removal; with the next job's
/// start row when `progress.then_start` asks for it, in the same commit.
async fn finish(
    m: &mut Migrator,
    job: &Job,
    progress: &mut Progress<'_>,
    in_transaction: bool,
) -> Result<(), DbError> {
    let Some(next) = progress.then_start else {
        return write_finish(m, job, progress).await;
    };
    let start_row = new_row(next, true, next.ops_done, 0);
    if in_transaction {
        write_finish(m, job, progress).await?;
        return history::insert(&mut m.conn, &m.history, &start_row).await;
    }
    m.conn.execute(m.conn.begin_sql()).await?;
    let before = (progress.ops_done, progress.has_row);
    let written = async {
        write_finish(m, job, progress).await?;
        history::insert(&mut m.conn, &m.history, &start_row).await?;
        m.conn.execute("COMMIT").await
    }
    .await;
    if written.is_err() {
        let _ = m.conn.execute("ROLLBACK").await;
        (progress.ops_done, progress.has_row) = before;
    }
    written
}

async fn write_finish(
    m: &mut Migrator,
    job: &Job,
    progress: &mut Progress<'_>,
) -> Result<(), DbError> {
    let elapsed_ms = i64::try_from(progress.started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match job.direction {
        Direction::Up => {
            let row = new_row(job, false, job.ops_total, elapsed_ms);
            if progress.has_row {
                history::complete(&mut m.conn, &m.history, &row).await?;
            } else {
                history::insert(&mut m.conn, &m.history, &row).await?;
            }
            progress.ops_done = job.ops_total;
        }
        Direction::Down => {
            history::delete(&mut m.conn, &m.history, &job.id).await?;
            progress.ops_done = 0;
        }
    }
    progress.has_row = job.direction == Direction::Up;
    Ok(())
}

/// Ops applied once `step` is done.
fn ops_done_after(job: &Job, step: &Step) -> usize {
    match job.direction {
        Direction::Up => step.op_index + 1,
        Direction::Down => step.op_index,
    }
}

/// Records progress, or finishes the job after its last unit.
async fn record(
    m: &mut Migrator,
    job: &Job,
    step: &Step,
    last: bool,
    progress: &mut Progress<'_>,
    in_transaction: bool,
) -> Result<(), DbError> {
    if last {
        return finish(m, job, progress, in_transaction).await;
    }
    let ops_done = ops_done_after(job, step);
    history::progress(&mut m.conn, &m.history, &job.id, ops_done, 0).await?;
    progress.ops_done = ops_done;
    Ok(())
}

/// SQLite ignores `PRAGMA foreign_keys` inside a transaction: a unit with a table rebuild needs
/// it off around the whole transaction, and a final check that no foreign key is left dangling.
fn needs_foreign_keys_off(steps: &[Step], dialect: Dialect) -> bool {
    dialect == Dialect::Sqlite
        && steps.iter().any(|s| {
            s.parts
                .iter()
                .any(|p| matches!(p, Part::Sql(op) if op.foreign_keys_off))
        })
}

async fn run_in_transaction(
    m: &mut Migrator,
    job: &Job,
    unit: &Unit,
    last: bool,
    progress: &mut Progress<'_>,
) -> Result<(), UnitFailure> {
    let dialect = m.conn.dialect();
    let steps = &job.steps[unit.steps.clone()];
    let foreign_keys_off = needs_foreign_keys_off(steps, dialect);
    let fail = |step: usize, error: DbError| UnitFailure {
        step,
        committed: Vec::new(),
        retryable: error.is_lock_timeout(),
        error: Box::new(error),
    };
    let first = unit.steps.start;
    if foreign_keys_off {
        m.conn
            .execute("PRAGMA foreign_keys = OFF")
            .await
            .map_err(|e| fail(first, e))?;
    }
    let before = (progress.ops_done, progress.has_row);
    let result = async {
        let begin = m.conn.begin_sql();
        m.conn.execute(begin).await.map_err(|e| fail(first, e))?;
        for (offset, step) in steps.iter().enumerate() {
            let at = first + offset;
            let started = Instant::now();
            for part in &step.parts {
                match part {
                    Part::Sql(op) => {
                        for statement in &op.statements {
                            m.conn
                                .run_statement(statement)
                                .await
                                .map_err(|e| fail(at, e))?;
                        }
                    }
                    Part::Rust(_, f) => {
                        call_step(f.as_ref(), &mut m.conn)
                            .await
                            .map_err(|error| UnitFailure {
                                step: at,
                                committed: Vec::new(),
                                retryable: error
                                    .downcast_ref::<DbError>()
                                    .is_some_and(DbError::is_lock_timeout),
                                error,
                            })?
                    }
                }
            }
            m.emit(op_finished(job, step, started));
        }
        let last_step = &job.steps[unit.steps.end - 1];
        if foreign_keys_off {
            let dangling = m
                .conn
                .fetch_text("PRAGMA foreign_key_check")
                .await
                .map_err(|e| fail(unit.steps.end - 1, e))?;
            if !dangling.is_empty() {
                return Err(fail(
                    unit.steps.end - 1,
                    DbError::Verification {
                        sql: "PRAGMA foreign_key_check".into(),
                    },
                ));
            }
        }
        record(m, job, last_step, last, progress, true)
            .await
            .map_err(|e| fail(unit.steps.end - 1, e))?;
        m.conn
            .execute("COMMIT")
            .await
            .map_err(|e| fail(unit.steps.end - 1, e))
    }
    .await;
    if result.is_err() {
        let _ = m.conn.execute("ROLLBACK").await;
        (progress.ops_done, progress.has_row) = before;
    }
    if foreign_keys_off {
        let restored = m.conn.execute("PRAGMA foreign_keys = ON").await;
        if let (Ok(()), Err(e)) = (&result, restored) {
            return Err(fail(unit.steps.end - 1, e));
        }
    }
    result
}

/// One step outside a transaction: statement by statement, each committing on its own.
async fn run_alone(
    m: &mut Migrator,
    job: &Job,
    at: usize,
    last: bool,
    progress: &mut Progress<'_>,
    skip_statements: usize,
) -> Result<(), UnitFailure> {
    let step = &job.steps[at];
    let started = Instant::now();
    let multi_statement = job.direction == Direction::Up
        && m.conn.dialect() == Dialect::Mysql
        && step
            .parts
            .iter()
            .map(|p| match p {
                Part::Sql(op) => op.statements.len(),
                Part::Rust(..) => 1,
            })
            .sum::<usize>()
            > 1;
    let mut committed: Vec<String> = Vec::new();
    let fail = |committed: &mut Vec<String>, error: DbError| UnitFailure {
        step: at,
        committed: std::mem::take(committed),
        retryable: error.is_lock_timeout(),
        error: Box::new(error),
    };
    let mut skip = skip_statements;
    for part in &step.parts {
        match part {
            Part::Sql(op) => {
                if let Some(leftover) = &op.leftover {
                    let found = m
                        .conn
                        .fetch_text(&leftover.probe)
                        .await
                        .map_err(|e| fail(&mut committed, e))?;
                    if !found.is_empty() {
                        m.conn
                            .execute(&leftover.remove)
                            .await
                            .map_err(|e| fail(&mut committed, e))?;
                        m.emit(Event::LeftoverRemoved {
                            id: job.id.clone(),
                            sql: leftover.remove.clone(),
                        });
                    }
                }
                for statement in &op.statements {
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    m.conn
                        .run_statement(statement)
                        .await
                        .map_err(|e| fail(&mut committed, e))?;
                    committed.push(statement.sql.clone());
                    if multi_statement {
                        history::progress(
                            &mut m.conn,
                            &m.history,
                            &job.id,
                            step.op_index,
                            skip_statements + committed.len(),
                        )
                        .await
                        .map_err(|e| fail(&mut committed, e))?;
                    }
                }
            }
            Part::Rust(_, f) => {
                // Not inside a transaction only on PostgreSQL/SQLite `transactional = false`
                // migrations mixed with outside ops; the step's own writes commit as it goes.
                call_step(f.as_ref(), &mut m.conn)
                    .await
                    .map_err(|error| UnitFailure {
                        step: at,
                        committed: std::mem::take(&mut committed),
                        retryable: false,
                        error,
                    })?;
            }
        }
    }
    m.emit(op_finished(job, step, started));
    record(m, job, step, last, progress, false)
        .await
        .map_err(|e| fail(&mut committed, e))
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
            let begin = if dialect == Dialect::Sqlite {
                "BEGIN IMMEDIATE"
            } else {
                "BEGIN"
            };
            let _ = writeln!(out, "{begin};");
        } else if dialect != Dialect::Mysql {
            let _ = writeln!(out, "-- outside a transaction:");
        }
        for step in steps {
            let _ = writeln!(out, "-- {}", step.description);
            for part in &step.parts {
                match part {
                    Part::Sql(op) => {
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

fn op_finished(job: &Job, step: &Step, started: Instant) -> Event {
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
