//! One unit of a job: its statements, several to a round trip where they can be ([`Batch`]),
//! and the history writes that close it; and how a single statement runs.

use std::borrow::Cow;
use std::time::Instant;

use super::rust_step::call_step;
use super::{
    Enclosure, Progress, Recorded, Unit, UnitFailure, check_foreign_keys, commit_together,
    finish_writes, needs_foreign_keys_off, op_finished, ops_done_after,
};
use crate::db::{Connection, DbError};
use crate::dialect::facts;
use crate::graph::Direction;
use crate::op::OnFailure;
use crate::op::{BoxError, Dialect};
use crate::render::{Leftover, RenderedOp, SAVEPOINT, Statement};
use crate::runner::backfill::{self, Checkpointing, checkpoint::Place};
use crate::runner::history;
use crate::runner::job::{Job, Part};
use crate::runner::report::Event;
use crate::runner::session::Session;

/// Whether a statement may share a round trip with others: one statement known to be exactly
/// one, with no query to run first or check after, that may run in a transaction block.
fn sendable_together(statement: &Statement, op: &RenderedOp, one_statement_each: bool) -> bool {
    one_statement_each
        && !op.outside_transaction
        && statement.unless_exists.is_none()
        && !statement.expect_no_rows
        && statement.check.is_none()
        && !statement.reports_plan
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
            op_progress: None,
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
pub(super) async fn run_unit(
    s: &mut Session<'_>,
    job: &Job,
    unit: &Unit,
    last: bool,
    progress: &mut Progress<'_>,
    skip_statements: usize,
    enclosure: Enclosure,
) -> Result<(), UnitFailure> {
    let dialect = s.dialect();
    let enclosed = enclosure.in_callers_transaction();
    let records = enclosure.writes_history();
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
            let progress_each = records
                && !in_transaction
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
            for (part_index, part) in step.parts.iter().enumerate() {
                match part {
                    Part::Sql {
                        op,
                        one_statement_each,
                    } => {
                        if let Some(batched) = &op.batched {
                            batch.send(s, job).await?;
                            let place = Place {
                                id: &job.id,
                                op: step.op_index,
                                part: part_index,
                                direction: job.direction,
                            };
                            // Up, its checkpoint holds only when this run resumes the
                            // migration at this op; one left by an earlier life of the
                            // migration (applied, reverted by an explicit `down`) does not.
                            let resumes = job.direction == Direction::Down
                                || (job.resumed && job.ops_done == step.op_index);
                            let checkpointing = match enclosed {
                                // All or nothing: its batches are part of that.
                                true => Checkpointing::InCallersTransaction { place },
                                false => Checkpointing::Recorded { place, resumes },
                            };
                            backfill::run(s, &job.id, checkpointing, batched)
                                .await
                                .map_err(|error| UnitFailure {
                                    // Inside the caller's transaction, nothing is kept.
                                    op_progress: error
                                        .downcast_ref::<backfill::BackfillError>()
                                        .and_then(backfill::BackfillError::kept)
                                        .filter(|_| !enclosed),
                                    step: at,
                                    committed: std::mem::take(&mut batch.committed),
                                    // Its batches retry on their own; what stops it is not a
                                    // lock wait the unit could run again.
                                    retryable: false,
                                    error,
                                })?;
                        }
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
                            } else if statement.reports_plan {
                                batch.send(s, job).await?;
                                let rows = s
                                    .conn
                                    .fetch_text_unprepared(&statement.sql)
                                    .await
                                    .map_err(|e| batch.fail(at, e))?;
                                s.events.emit(Event::QueryPlan {
                                    id: job.id.clone(),
                                    query: statement.sql.clone(),
                                    plan: plan_lines(&rows),
                                });
                            } else {
                                batch.send(s, job).await?;
                                match run_statement(s.conn, statement).await {
                                    Ok(()) => batch.ran_alone(&statement.sql),
                                    Err(error) => {
                                        let failure = rolled_back_to_savepoint(
                                            s, job, step, statement, error,
                                        )
                                        .await
                                        .map_err(|e| batch.fail(at, e))?;
                                        match failure {
                                            // The savepoint is released; the op is done.
                                            None => break,
                                            Some(error) => return Err(batch.fail(at, error)),
                                        }
                                    }
                                }
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
                                op_progress: None,
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
            if !records {
                // The group records it.
                Recorded::at_end(job)
            } else {
                let (writes, recorded) = finish_writes(s, job, progress);
                if in_transaction || writes.len() == 1 {
                    for write in writes {
                        batch.push(write, last_step, false);
                    }
                } else {
                    // Several writes outside a transaction commit together, after the
                    // statements (an upgrade's have gone already).
                    commit_together(s.conn, &writes, enclosed)
                        .await
                        .map_err(|e| batch.fail(last_step, e))?;
                }
                recorded
            }
        } else {
            let ops_done = ops_done_after(job, &job.steps[last_step]);
            if records {
                let sql = history::progress(dialect, s.history, &job.id, ops_done, 0);
                batch.push(sql, last_step, false);
            }
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

/// An `EXPLAIN`'s rows as lines: each row's columns joined (SQLite's plan has its detail last).
fn plan_lines(rows: &[Vec<Option<String>>]) -> Vec<String> {
    rows.iter()
        .map(|row| {
            let columns: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
            columns.join(" | ")
        })
        .collect()
}

/// After a statement failed: when it is a verification inside a savepoint that does not hold,
/// rolls back to the savepoint, and then either releases it to go on (`None`: the savepoint
/// op is done) or returns the failure. Any other failure is returned as it is.
async fn rolled_back_to_savepoint(
    s: &mut Session<'_>,
    job: &Job,
    step: &crate::runner::job::Step,
    statement: &Statement,
    error: DbError,
) -> Result<Option<DbError>, DbError> {
    let on_failure = match (&statement.check, &error) {
        (Some(check), DbError::Verification { .. }) => check.in_savepoint,
        _ => None,
    };
    let Some(on_failure) = on_failure else {
        return Ok(Some(error));
    };
    if let Err(rollback) = s
        .conn
        .execute(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}"))
        .await
    {
        // The verification's failure is the news; the failed rollback says what is left.
        return Ok(Some(DbError::Invalid(format!(
            "{error}; and rolling back to the savepoint failed ({rollback}): what the \
             savepoint did may be kept"
        ))));
    }
    let continued = on_failure == OnFailure::Continue;
    s.events.emit(Event::VerificationFailed {
        id: job.id.clone(),
        op: step.description.clone(),
        message: error.to_string(),
        continued,
    });
    if !continued {
        return Ok(Some(error));
    }
    s.conn
        .execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}"))
        .await?;
    Ok(None)
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
    for remove in &leftover.remove {
        s.conn.execute(remove).await?;
        s.events.emit(Event::LeftoverRemoved {
            id: job.id.clone(),
            sql: remove.clone(),
        });
    }
    Ok(())
}

/// Runs one rendered op: in a transaction unless it must run outside one, with SQLite's
/// foreign keys off around a table rebuild, checking verification queries. MySQL commits DDL
/// implicitly, so its statements run one by one. A backfill runs in its batches, without a
/// checkpoint, before the op's statements (a conversion's swap).
pub async fn run_rendered(conn: &mut Connection, op: &RenderedOp) -> Result<(), BoxError> {
    if let Some(batched) = &op.batched {
        let history = crate::runner::HistoryTable::default();
        let mut events = crate::runner::session::Events::new(None);
        let mut session = Session {
            conn,
            history: &history,
            retries: 0,
            events: &mut events,
            opener: None,
            backups: &crate::runner::backup::Backups {
                dir: std::path::PathBuf::new(),
                url: None,
                hook: None,
            },
        };
        backfill::run(&mut session, "", Checkpointing::Unrecorded, batched).await?;
    }
    Ok(run_statements(conn, op).await?)
}

async fn run_statements(conn: &mut Connection, op: &RenderedOp) -> Result<(), DbError> {
    let transactional = !op.outside_transaction && facts(conn.dialect()).transactional_ddl;
    if op.foreign_keys_off {
        conn.execute("PRAGMA foreign_keys = OFF").await?;
    }
    let result = async {
        if transactional {
            conn.execute(conn.begin_sql()).await?;
        }
        let mut result = Ok(());
        for statement in &op.statements {
            result = run_statement(conn, statement).await;
            if result.is_err() {
                break;
            }
        }
        if transactional {
            match &result {
                Ok(()) => conn.execute("COMMIT").await?,
                Err(_) => conn.execute("ROLLBACK").await?,
            }
        }
        result
    }
    .await;
    if op.foreign_keys_off {
        conn.execute("PRAGMA foreign_keys = ON").await?;
    }
    result
}

/// Runs one statement of a rendered op: skipped when its `unless_exists` probe returns rows;
/// a verification query fails when it returns rows; a check statement fails when its result
/// is not what it expects, and tells a query that failed from a condition that does not hold.
pub(crate) async fn run_statement(
    conn: &mut Connection,
    statement: &Statement,
) -> Result<(), DbError> {
    if let Some(probe) = &statement.unless_exists
        && !conn.fetch_text(probe).await?.is_empty()
    {
        return Ok(());
    }
    if let Some(check) = &statement.check {
        let what = check.kind.label().to_owned();
        let rows = conn
            .fetch_text_unprepared(&statement.sql)
            .await
            .map_err(|source| DbError::CheckErrored {
                what: what.clone(),
                source: Box::new(source),
            })?;
        return match check.expect.holds(&rows) {
            true => Ok(()),
            false => Err(DbError::Verification {
                what,
                sql: statement.sql.clone(),
                expected: check.expect.to_string(),
                found: DbError::describe_rows(&rows),
            }),
        };
    }
    if statement.reports_plan {
        return conn.fetch_text_unprepared(&statement.sql).await.map(|_| ());
    }
    if statement.expect_no_rows {
        let rows = conn.fetch_text(&statement.sql).await?;
        if !rows.is_empty() {
            return Err(DbError::Verification {
                what: "verification".into(),
                sql: statement.sql.clone(),
                expected: "no rows".into(),
                found: DbError::describe_rows(&rows),
            });
        }
        Ok(())
    } else {
        conn.execute(&statement.sql).await
    }
}
