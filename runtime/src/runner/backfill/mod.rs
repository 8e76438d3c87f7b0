//! Running a backfill: keyset batches, each one short transaction that commits its checkpoint
//! with it ([`checkpoint`]), so that a killed run resumes after the last batch committed and
//! ends with every row as one `UPDATE` would have left it.
//!
//! - The work is fixed when it starts: the rows up to the table's last key then. Rows inserted
//!   later are the application's to write (it writes both shapes during an expand phase).
//! - Before the first batch the update is prepared (`EXPLAIN`), so that an expression the
//!   dialect rejects fails before any row is touched.
//! - A batch that gives up waiting for a lock, or runs past the statement timeout, runs again
//!   half as large, as often as the run retries lock timeouts; then the run stops, naming its
//!   keys. The batch after it has the size it would have had. Any other failure stops the run at once, naming the batch's keys: nothing after them
//!   was changed.
//! - With a target batch time, the size adapts after each batch: it grows by at most 20 % and
//!   shrinks in proportion, between a hundredth and a hundred times the size it started with.

pub(crate) mod checkpoint;

use std::time::{Duration, Instant};

use checkpoint::{Checkpoint, Place};

use crate::db::{Connection, DbError};
use crate::op::{BoxError, Dialect};
use crate::render::{BatchedUpdate, Key};
use crate::runner::report::Event;
use crate::runner::session::{Events, Session};

/// Why a backfill stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackfillError {
    #[error(
        "the update of `{table}` does not prepare on {dialect}: {source}; check its SET \
         expressions and `only` predicate (`set_on`/`only_on` give a dialect its own spelling)"
    )]
    Prepare {
        table: String,
        dialect: crate::op::Dialect,
        source: DbError,
    },
    #[error(
        "the batch of `{table}` with {range} failed, and no row from it on was changed: \
         {source}\nfix what it reports; a rerun resumes at this batch"
    )]
    Batch {
        table: String,
        range: String,
        kept: String,
        source: DbError,
    },
    #[error(
        "the batch of `{table}` with {range} gave up after {attempts} lock or statement \
         timeouts, down to {batch_size} rows: {source}\nrerun when the table is less busy; it \
         resumes at this batch"
    )]
    Busy {
        table: String,
        range: String,
        kept: String,
        attempts: u32,
        batch_size: u32,
        source: DbError,
    },
    #[error("the checkpoint of the backfill of `{table}`: {reason}")]
    Checkpoint { table: String, reason: String },
}

impl BackfillError {
    /// What the backfill did before it stopped, and keeps.
    pub(crate) fn kept(&self) -> Option<String> {
        match self {
            BackfillError::Batch { kept, .. } | BackfillError::Busy { kept, .. } => {
                Some(kept.clone())
            }
            _ => None,
        }
    }
}

/// What a backfill has committed: `2,000 rows in 2 batches, through id 2000`.
fn kept(b: &BatchedUpdate, state: &Checkpoint) -> String {
    match &state.last_key {
        None => "no batch committed yet".to_owned(),
        Some(last) => format!(
            "{} rows in {} batches committed, through {}",
            state.rows_done,
            state.batches,
            b.describe_key(last)
        ),
    }
}

/// Whether a backfill keeps a checkpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Checkpointing<'a> {
    /// In the checkpoint table, as op `place.op` of migration `place.id`; from the row found
    /// there when `resumes` (the run resumes the migration at this op, or reverts it), afresh
    /// otherwise.
    Recorded { place: Place<'a>, resumes: bool },
    /// Nowhere: the rendered op run on its own, outside any migration.
    Unrecorded,
    /// In the checkpoint table, afresh, with its batches inside a transaction the caller
    /// opened (a run that is one transaction): no transaction of their own, one slice, and no
    /// retry, since a failed statement aborts the caller's.
    InCallersTransaction { place: Place<'a> },
}

/// Runs backfill `b`, of migration `id` (for its events).
pub(crate) async fn run(
    s: &mut Session<'_>,
    id: &str,
    checkpointing: Checkpointing<'_>,
    b: &BatchedUpdate,
) -> Result<(), BoxError> {
    let table = checkpoint::table(s.history);
    // What a copy writes to, and the trigger that carries over writes meanwhile: before its
    // work is fixed, so that no row written after that goes uncopied.
    if let Some(copy) = &b.copy {
        for statement in &copy.setup {
            s.conn.execute(statement).await?;
        }
    }
    let checkpoint_error = |reason: String| BackfillError::Checkpoint {
        table: b.table.clone(),
        reason,
    };
    // The checkpoint table is there: a job with a backfill creates it before it starts.
    let (place, found) = match checkpointing {
        Checkpointing::InCallersTransaction { place } => (Some(place), Vec::new()),
        Checkpointing::Recorded { place, resumes } => {
            let found = match resumes {
                true => checkpoint::read(s.conn, &table, place)
                    .await
                    .map_err(checkpoint_error)?,
                false => Vec::new(),
            };
            (Some(place), found)
        }
        Checkpointing::Unrecorded => (None, Vec::new()),
    };
    let own_transactions = !matches!(checkpointing, Checkpointing::InCallersTransaction { .. });
    let slices = match found.is_empty() {
        true => start(s, &table, place, own_transactions, b).await?,
        false => found,
    };
    let run = SliceRun {
        id,
        b,
        table: &table,
        place,
        own_transactions,
        retries: s.retries,
    };
    if let Some(first) = slices.iter().find(|state| !state.done) {
        let end = first
            .end_key
            .as_deref()
            .map(|k| run.literals(k))
            .transpose()?;
        let after = first
            .last_key
            .as_deref()
            .map(|k| run.literals(k))
            .transpose()?;
        if let Some(end) = end {
            prepare(s, b, after, &end).await?;
        }
    }
    let mut totals = Totals::new(id, &b.table, &slices);
    // Several connections only where several writers run side by side.
    let side_by_side = slices.iter().filter(|state| !state.done).count() > 1
        && own_transactions
        && s.dialect() != Dialect::Sqlite
        && s.opener.is_some();
    if !side_by_side {
        for (slice, state) in slices.into_iter().enumerate() {
            let events = &mut *s.events;
            let mut tell = |told: Told| totals.tell(told, events);
            run.slice(s.conn, slice, state, &mut tell, None).await?;
        }
        totals.finish(s.events);
        return Ok(());
    }
    let opener = s.opener.as_ref().expect("checked above");
    let mut conns = Vec::with_capacity(slices.len());
    for _ in &slices {
        conns.push(opener.open().await?);
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (sender, mut told) = tokio::sync::mpsc::unbounded_channel();
    let workers =
        futures_util::future::join_all(slices.into_iter().zip(conns.iter_mut()).enumerate().map(
            |(slice, (state, conn))| {
                let sender = sender.clone();
                let run = &run;
                let stop = &stop;
                async move {
                    let mut tell = |t: Told| {
                        let _ = sender.send(t);
                    };
                    let result = run.slice(conn, slice, state, &mut tell, Some(stop)).await;
                    if result.is_err() {
                        // The others stop after their batch in flight.
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    result
                }
            },
        ));
    drop(sender);
    let events = &mut *s.events;
    let listen = async {
        while let Some(t) = told.recv().await {
            totals.tell(t, events);
        }
    };
    let (results, ()) = futures_util::future::join(workers, listen).await;
    for conn in conns {
        let _ = conn.close().await;
    }
    results.into_iter().collect::<Result<Vec<()>, BoxError>>()?;
    totals.finish(s.events);
    Ok(())
}

/// Refuses to revert a migration whose upgrade stopped partway through a backfill: its history
/// counts that op as not applied, so a revert would leave the batches it committed changed, and
/// applying it again would run them twice. Finishing it first is the way out.
pub(crate) async fn refuse_half_done_reverts(
    s: &mut Session<'_>,
    planner: &crate::runner::plan::Planner<'_>,
    rows: &[crate::runner::history::Row],
    jobs: &[crate::runner::job::Job],
) -> Result<(), crate::runner::RunError> {
    let mut checkpoints = None;
    for job in jobs {
        let Some(row) = rows.iter().find(|r| r.id == job.id && r.partial) else {
            continue;
        };
        let Some(entry) = planner.registry.get(&row.id) else {
            continue;
        };
        let ops = entry.record_up(planner.dialect).into_ops();
        let Some(op) = ops.get(row.ops_done) else {
            continue;
        };
        let Some(table) = op.batched_table() else {
            continue;
        };
        let converting = matches!(op, crate::op::Op::PartitionTable(_));
        if checkpoints.is_none() {
            checkpoints = Some(checkpoint::read_up(s.conn, s.history).await?);
        }
        let found = checkpoints
            .as_ref()
            .and_then(|all| all.get(&(row.id.clone(), row.ops_done)));
        // A conversion that started has its partitioned copy and the trigger feeding it in
        // place, whatever its batches did: it is finished, not undone.
        if let Some(state) = found.filter(|state| converting || state.rows_done > 0 && !state.done)
        {
            if converting {
                return Err(crate::runner::RunError::CannotRevert {
                    id: row.id.clone(),
                    location: entry.location().to_string(),
                    reason: format!(
                        "op {} converts `{table}` to a partitioned table and stopped after \
                         copying {} rows (its partitioned copy and the trigger feeding it are \
                         in place); run `up` to finish it, then revert it",
                        row.ops_done + 1,
                        state.rows_done
                    ),
                });
            }
            let rows_done = state.rows_done;
            return Err(crate::runner::RunError::CannotRevert {
                id: row.id.clone(),
                location: entry.location().to_string(),
                reason: format!(
                    "op {} is a backfill of `{}` that stopped after {rows_done} rows, and \
                     reverting the ops before it would leave those rows changed; run `up` to \
                     finish it first",
                    row.ops_done + 1,
                    table
                ),
            });
        }
    }
    Ok(())
}

/// What a slice tells as it goes.
enum Told {
    /// Its state after a batch (or at its end).
    Batch {
        slice: usize,
        state: Checkpoint,
    },
    Event(Event),
}

/// What one run of a backfill's slices shares.
struct SliceRun<'a> {
    id: &'a str,
    b: &'a BatchedUpdate,
    table: &'a crate::runner::HistoryTable,
    place: Option<Place<'a>>,
    own_transactions: bool,
    retries: u32,
}

impl SliceRun<'_> {
    fn literals(&self, key: &Key) -> Result<Vec<String>, BackfillError> {
        self.b
            .literals(key)
            .ok_or_else(|| BackfillError::Checkpoint {
                table: self.b.table.clone(),
                reason: format!("a key value of {key:?} is not a number"),
            })
    }

    /// Runs one slice from `state` to its end, on `conn`; returns early, unfinished, once
    /// `stop` is set.
    async fn slice(
        &self,
        conn: &mut Connection,
        slice: usize,
        mut state: Checkpoint,
        tell: &mut (dyn FnMut(Told) + Send),
        stop: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<(), BoxError> {
        let b = self.b;
        let dialect = conn.dialect();
        let Some(end) = state.end_key.clone() else {
            tell(Told::Batch { slice, state });
            return Ok(());
        };
        if state.done {
            tell(Told::Batch { slice, state });
            return Ok(());
        }
        let end = self.literals(&end)?;
        let bounds = Bounds::of(b.batching.batch_size);
        let mut size = state.batch_size;
        let mut attempts = 0;
        loop {
            if stop.is_some_and(|stop| stop.load(std::sync::atomic::Ordering::Relaxed)) {
                return Ok(());
            }
            // A batch that timed out runs again, half as large each time.
            let this_size = halved(size, attempts);
            let after = state
                .last_key
                .as_deref()
                .map(|k| self.literals(k))
                .transpose()?;
            let next = conn
                .fetch_text_unprepared(&b.next_batch_sql(after.as_deref(), &end, this_size))
                .await?;
            let batch = match next.into_iter().next() {
                None => None,
                Some(row) => Some(split_batch(row, b.key.len()).ok_or_else(|| {
                    BackfillError::Checkpoint {
                        table: b.table.clone(),
                        reason: "a batch query returned no key".into(),
                    }
                })?),
            }
            .filter(|(_, count)| *count > 0);
            let Some((through, count)) = batch else {
                state.done = true;
                if let Some(place) = self.place {
                    let write = checkpoint::update(dialect, self.table, place, slice, &state);
                    conn.execute(&write).await?;
                }
                tell(Told::Batch { slice, state });
                return Ok(());
            };
            let through_sql = self.literals(&through)?;
            let batch_started = Instant::now();
            let update = b.update_sql(after.as_deref(), &through_sql);
            let attempt = match (self.own_transactions, dialect) {
                (false, _) => conn.execute_counting(&update).await,
                // BEGIN on its own: SQLite would count the rows of the statement before it as
                // its own.
                (true, Dialect::Sqlite) => match conn.execute(conn.begin_sql()).await {
                    Ok(()) => conn.execute_counting(&update).await,
                    Err(e) => Err(e),
                },
                // One round trip. A batch and its checkpoint commit together, so a batch commit
                // need not wait for the disk: a crash loses the last few batches with their
                // checkpoints, and the rerun does them again. The backfill's last write, and
                // the migration's, wait for it as usual.
                (true, Dialect::Postgres) => {
                    let sql = format!("BEGIN; SET LOCAL synchronous_commit = off; {update}");
                    conn.execute_counting(&sql).await
                }
                (true, Dialect::Mysql) => {
                    let sql = format!("{}; {update}", conn.begin_sql());
                    conn.execute_counting(&sql).await
                }
            };
            let changed = match attempt {
                Ok(changed) => changed,
                Err(error) => {
                    if self.own_transactions {
                        let _ = conn.execute("ROLLBACK").await;
                    }
                    let range = b.describe_range(state.last_key.as_deref(), &through);
                    let timed_out = error.is_lock_timeout() || error.is_statement_timeout();
                    if !timed_out || !self.own_transactions {
                        return Err(BackfillError::Batch {
                            table: b.table.clone(),
                            range,
                            kept: kept(b, &state),
                            source: error,
                        }
                        .into());
                    }
                    if attempts >= self.retries || this_size == 1 {
                        return Err(BackfillError::Busy {
                            table: b.table.clone(),
                            range,
                            kept: kept(b, &state),
                            attempts: attempts + 1,
                            batch_size: this_size,
                            source: error,
                        }
                        .into());
                    }
                    attempts += 1;
                    tell(Told::Event(Event::BatchRetrying {
                        id: self.id.to_owned(),
                        table: b.table.clone(),
                        range,
                        attempt: attempts,
                        batch_size: halved(size, attempts),
                        error: error.to_string(),
                    }));
                    continue;
                }
            };
            attempts = 0;
            let took = batch_started.elapsed();
            if let Some(target) = b.batching.target_batch_time {
                size = bounds.adapt(this_size, took, target);
            }
            state.last_key = Some(through);
            state.rows_done += count;
            state.rows_changed += changed;
            state.batches += 1;
            state.elapsed_ms += u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
            state.batch_size = size;
            let checkpoint = self
                .place
                .map(|place| checkpoint::update(dialect, self.table, place, slice, &state));
            let write = match (checkpoint, self.own_transactions) {
                (Some(checkpoint), true) => Some(format!("{checkpoint}; COMMIT")),
                (Some(checkpoint), false) => Some(checkpoint),
                (None, true) => Some("COMMIT".to_owned()),
                (None, false) => None,
            };
            if let Some(write) = write
                && let Err(error) = conn.execute(&write).await
            {
                let _ = conn.execute("ROLLBACK").await;
                return Err(error.into());
            }
            tell(Told::Batch {
                slice,
                state: state.clone(),
            });
            if !b.batching.pause.is_zero() {
                tokio::time::sleep(b.batching.pause).await;
            }
        }
    }
}

/// Where every slice of a backfill stands, told as one.
struct Totals {
    id: String,
    table: String,
    slices: Vec<Checkpoint>,
    rows_before: u64,
    started: Instant,
}

impl Totals {
    fn new(id: &str, table: &str, slices: &[Checkpoint]) -> Totals {
        Totals {
            id: id.to_owned(),
            table: table.to_owned(),
            rows_before: slices.iter().map(|s| s.rows_done).sum(),
            slices: slices.to_vec(),
            started: Instant::now(),
        }
    }

    fn tell(&mut self, told: Told, events: &mut Events) {
        match told {
            Told::Event(event) => events.emit(event),
            Told::Batch { slice, state } => {
                self.slices[slice] = state;
                if self.slices.iter().all(|s| s.done) {
                    // `finish` tells the end, once.
                    return;
                }
                events.emit(self.event());
            }
        }
    }

    fn finish(&self, events: &mut Events) {
        events.emit(self.event());
    }

    fn event(&self) -> Event {
        let rows_done: u64 = self.slices.iter().map(|s| s.rows_done).sum();
        let done = self.slices.iter().all(|s| s.done);
        let estimated: u64 = self.slices.iter().map(|s| s.estimated_total).sum();
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = match elapsed {
            secs if secs > 0.0 => (rows_done - self.rows_before) as f64 / secs,
            _ => 0.0,
        };
        let estimated_total = if done {
            rows_done
        } else {
            estimated.max(rows_done)
        };
        let eta = (rate > 0.0 && !done)
            .then(|| Duration::from_secs_f64((estimated_total - rows_done) as f64 / rate));
        Event::BackfillProgress {
            id: self.id.clone(),
            table: self.table.clone(),
            rows_done,
            estimated_total,
            rows_changed: self.slices.iter().map(|s| s.rows_changed).sum(),
            batches: self.slices.iter().map(|s| s.batches).sum(),
            batch_size: self.slices.first().map_or(0, |s| s.batch_size),
            rate,
            eta,
            done,
        }
    }
}

/// Fixes the work of a backfill that has not started, and records it: the last key now, the
/// rows there are, and the slices they fall into (one, unless it runs in parallel slices).
async fn start(
    s: &mut Session<'_>,
    table: &crate::runner::HistoryTable,
    place: Option<Place<'_>>,
    own_transactions: bool,
    b: &BatchedUpdate,
) -> Result<Vec<Checkpoint>, BoxError> {
    let dialect = s.dialect();
    let first_row = |rows: Vec<Vec<Option<String>>>| {
        rows.into_iter().next().map(|row| {
            row.into_iter()
                .map(Option::unwrap_or_default)
                .collect::<Vec<_>>()
        })
    };
    let end_key = first_row(s.conn.fetch_text(&b.last_key_sql()).await?);
    let mut estimated_total = 0;
    if let Some(end) = &end_key {
        let end = b
            .literals(end)
            .ok_or("the table's last key is not a number")?;
        prepare(s, b, None, &end).await?;
        estimated_total = estimate(s, b, &end).await?;
    }
    let whole = Checkpoint {
        done: end_key.is_none(),
        end_key,
        last_key: None,
        rows_done: 0,
        rows_changed: 0,
        batches: 0,
        elapsed_ms: 0,
        estimated_total,
        batch_size: b.batching.batch_size,
    };
    let mut slices = vec![whole.clone()];
    let parallel = u64::from(b.batching.parallel);
    let runs_side_by_side =
        parallel > 1 && own_transactions && dialect != Dialect::Sqlite && s.opener.is_some();
    if let (true, Some([last])) = (runs_side_by_side, whole.end_key.as_deref()) {
        let first = first_row(s.conn.fetch_text(&b.first_key_sql()).await?);
        if let (Some([first]), Ok(last)) = (first.as_deref(), last.parse::<i128>())
            && let Ok(first) = first.parse::<i128>()
        {
            // Slice k holds the keys in (bound k, bound k + 1]; the first has no lower bound.
            let below = first - 1;
            let span = (last - below).max(1);
            let count = i128::from(parallel).min(span);
            let bound = |k: i128| below + span * k / count;
            slices = (0..count)
                .map(|k| Checkpoint {
                    last_key: (k > 0).then(|| vec![bound(k).to_string()]),
                    end_key: Some(vec![bound(k + 1).to_string()]),
                    estimated_total: (i128::from(estimated_total as i64) / count) as u64,
                    ..whole.clone()
                })
                .collect();
        }
    }
    if let Some(place) = place {
        // Those of its own direction: a revert that stops leaves the row of the op applied.
        let mut writes = vec![checkpoint::delete_place(dialect, table, place)];
        for (slice, state) in slices.iter().enumerate() {
            writes.push(checkpoint::insert(dialect, table, place, slice, state));
        }
        super::execute::commit_together(s.conn, &writes, !own_transactions).await?;
    }
    Ok(slices)
}

/// Fails before any row is touched when the dialect rejects the update.
async fn prepare(
    s: &mut Session<'_>,
    b: &BatchedUpdate,
    after: Option<Vec<String>>,
    end: &[String],
) -> Result<(), BoxError> {
    let explain = format!("EXPLAIN {}", b.update_sql(after.as_deref(), end));
    s.conn.execute(&explain).await.map_err(|source| {
        BackfillError::Prepare {
            table: b.table.clone(),
            dialect: b.dialect,
            source,
        }
        .into()
    })
}

/// The rows up to `end`: from the statistics where the server keeps them, counted otherwise.
async fn estimate(s: &mut Session<'_>, b: &BatchedUpdate, end: &[String]) -> Result<u64, DbError> {
    if let Some(sql) = b.estimate_sql()
        && let Some(rows) = first_number(s.conn.fetch_text(&sql).await?)
    {
        return Ok(rows);
    }
    Ok(first_number(s.conn.fetch_text(&b.count_sql(end)).await?).unwrap_or(0))
}

fn first_number(rows: Vec<Vec<Option<String>>>) -> Option<u64> {
    rows.into_iter().next()?.into_iter().next()??.parse().ok()
}

/// A batch query's row: the batch's last key, then how many rows it holds.
fn split_batch(row: Vec<Option<String>>, key_len: usize) -> Option<(Vec<String>, u64)> {
    if row.len() != key_len + 1 {
        return None;
    }
    let mut values: Vec<String> = row.into_iter().map(Option::unwrap_or_default).collect();
    let count = values.pop()?.parse().ok()?;
    Some((values, count))
}

/// `size` halved `times` times, at least 1.
fn halved(size: u32, times: u32) -> u32 {
    size.checked_shr(times).unwrap_or(0).max(1)
}

/// The sizes an adapting batch stays within.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min: u32,
    max: u32,
}

impl Bounds {
    fn of(batch_size: u32) -> Bounds {
        Bounds {
            min: (batch_size / 100).max(1),
            max: batch_size.saturating_mul(100),
        }
    }

    /// The next size after a batch of `size` rows took `took`, aiming at `target`: at most 20 %
    /// larger, smaller in proportion.
    fn adapt(self, size: u32, took: Duration, target: Duration) -> u32 {
        let ratio = target.as_secs_f64() / took.as_secs_f64().max(1e-6);
        let next = (f64::from(size) * ratio.min(1.2)).round();
        (next.clamp(f64::from(self.min), f64::from(self.max))) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapting_grows_by_a_fifth_at_most_and_shrinks_in_proportion() {
        let bounds = Bounds::of(1_000);
        let ms = Duration::from_millis;
        assert_eq!(bounds.adapt(1_000, ms(10), ms(100)), 1_200);
        assert_eq!(bounds.adapt(1_000, ms(90), ms(100)), 1_111);
        assert_eq!(bounds.adapt(1_000, ms(400), ms(100)), 250);
        assert_eq!(bounds.adapt(1_000, ms(100), ms(100)), 1_000);
        assert_eq!(bounds.adapt(20, Duration::from_secs(60), ms(100)), 10);
        assert_eq!(bounds.adapt(99_000, ms(1), ms(100)), 100_000);
    }

    #[test]
    fn a_batch_row_is_its_last_key_then_its_size() {
        let row = |values: &[&str]| values.iter().map(|v| Some(v.to_string())).collect();
        assert_eq!(
            split_batch(row(&["7", "b", "1000"]), 2),
            Some((vec!["7".to_owned(), "b".to_owned()], 1000))
        );
        assert_eq!(split_batch(row(&["7", "1000"]), 2), None);
        assert_eq!(split_batch(row(&["7", "many"]), 1), None);
    }
}
