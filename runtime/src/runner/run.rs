//! The executor: runs a plan's jobs transaction by transaction, as the [scheduler](super::schedule)
//! groups them. The one place where a transaction of several jobs falls back: when it rolls
//! back, its jobs up to the failing one run again alone, so the end state and the history are
//! those of one commit each.

use std::time::{Duration, Instant};

use super::deferred;
use super::error::{RunError, db_error};
use super::execute::{self, Enclosure};
use super::job::Job;
use super::report::Event;
use super::schedule::{Options, Schedule, Transaction};
use super::session::Session;
use super::shared::{self, Sharing};

/// Runs `jobs` in order; returns their ids.
pub(crate) async fn run(
    s: &mut Session<'_>,
    jobs: &mut [Job],
    options: Options,
) -> Result<Vec<String>, RunError> {
    let schedule = Schedule::new(jobs, s.dialect(), options)?;
    let total = jobs.len();
    let mut done = Vec::with_capacity(total);
    let mut position = 0;
    // After a transaction of several rolled back: its jobs before this one run alone.
    let mut alone_until = 0;
    // Once per job, also when its transaction runs again after a rollback.
    let mut backed_up = vec![false; total];
    while position < total {
        let transaction = match schedule.at(jobs, position) {
            Transaction::Shared(_) if position < alone_until => Transaction::Alone(position),
            transaction => transaction,
        };
        let range = transaction.jobs();
        // Before the transaction: a backup sees what has committed.
        if let Some(plan) = &jobs[position].backup
            && !backed_up[position]
        {
            super::backup::take(s, s.backups, &jobs[position], plan).await?;
            backed_up[position] = true;
        }
        let ran = match transaction {
            Transaction::Alone(at) => {
                // A deferred group records its own start: a start row written now would keep
                // its first job out of it.
                let next_is_group =
                    at + 1 < total && matches!(schedule.at(jobs, at + 1), Transaction::Deferred(_));
                let (job, rest) = jobs[at..].split_at_mut(1);
                let next = rest.first().filter(|_| !next_is_group);
                if execute::run(s, &job[0], next, at + 1, total).await? {
                    rest[0].has_row = true;
                }
                1
            }
            Transaction::Deferred(_) => {
                deferred::run(s, &jobs[range.clone()], position, total).await?;
                range.len()
            }
            Transaction::Shared(_) | Transaction::Single(_) => {
                let together = Together {
                    jobs: &jobs[range.clone()],
                    position,
                    total,
                    sharing: match transaction {
                        Transaction::Shared(_) => Some(schedule.sharing(range.clone())),
                        _ => None,
                    },
                };
                match together.run(s).await? {
                    Outcome::Committed(n) => n,
                    Outcome::RolledBack { alone } => {
                        alone_until = position + alone;
                        0
                    }
                }
            }
        };
        done.extend(
            jobs[position..position + ran]
                .iter()
                .map(|job| job.id.clone()),
        );
        position += ran;
    }
    Ok(done)
}

/// How a transaction of several jobs ended.
enum Outcome {
    /// The first `n` jobs committed (fewer than given once a shared one stayed open too long).
    Committed(usize),
    /// Nothing committed: the first `alone` jobs (up to the one that failed, or every one that
    /// ran when the commit was refused) must run alone before any share again.
    RolledBack { alone: usize },
}

/// Several jobs in one transaction that the executor opens and commits: shared by migrations
/// that may share (`sharing`: theirs), or the run's single one (`None`).
struct Together<'j> {
    jobs: &'j [Job],
    /// 0-based place of the first job in the run of `total`.
    position: usize,
    total: usize,
    sharing: Option<&'j [Sharing]>,
}

impl Together<'_> {
    /// Runs the jobs. A shared transaction takes as many as [`shared::MAX_OPEN`] lets in (and
    /// then those that drop a table one before them locked), holds every event until it commits,
    /// and on failure rolls back and says which jobs to run alone. The single one takes every
    /// job, reports each migration finished once it commits, and on failure rolls back and
    /// returns the error.
    async fn run(&self, s: &mut Session<'_>) -> Result<Outcome, RunError> {
        let dialect = s.dialect();
        // SQLite ignores `PRAGMA foreign_keys` inside a transaction: a table rebuild needs it
        // off around the whole transaction, and a check before the commit. (Jobs that need it
        // never share.)
        let foreign_keys_off = self
            .jobs
            .iter()
            .any(|job| execute::needs_foreign_keys_off(&job.steps, dialect));
        if foreign_keys_off {
            s.conn
                .execute("PRAGMA foreign_keys = OFF")
                .await
                .map_err(|e| db_error("turning SQLite's foreign keys off for the run", e))?;
        }
        if self.sharing.is_some() {
            s.events.hold();
        }
        let mut finished: Vec<Event> = Vec::with_capacity(self.jobs.len());
        let result = self.run_open(s, foreign_keys_off, &mut finished).await;
        match (&result, self.sharing) {
            (Ok(()), Some(_)) => s.events.release(),
            (Err(_), Some(_)) => s.events.discard(),
            (_, None) => {}
        }
        let rollback = match &result {
            Ok(()) => None,
            Err(_) => Some(s.conn.execute("ROLLBACK").await),
        };
        if foreign_keys_off {
            let restored = s.conn.execute("PRAGMA foreign_keys = ON").await;
            if let (Ok(()), Err(e)) = (&result, restored) {
                return Err(db_error("turning SQLite's foreign keys back on", e));
            }
        }
        let (error, alone) = match result {
            Ok(()) => {
                let committed = finished.len();
                // Shared: emitted (held) as each job ended. Single: now that they committed.
                if self.sharing.is_none() {
                    for event in finished {
                        s.events.emit(event);
                    }
                }
                return Ok(Outcome::Committed(committed));
            }
            Err(failure) => failure,
        };
        if self.sharing.is_none() {
            return Err(RunError::RolledBack {
                direction: self.jobs[0].direction,
                done: self.jobs[..finished.len()]
                    .iter()
                    .map(|job| job.id.clone())
                    .collect(),
                source: Box::new(error),
            });
        }
        match rollback {
            Some(Ok(())) => Ok(Outcome::RolledBack { alone }),
            // The database answered: no transaction is open any more (SQLite ends one itself
            // after some errors), so nothing committed.
            Some(Err(e)) if e.is_database_error() => Ok(Outcome::RolledBack { alone }),
            // The connection failed: whatever happened, running anything again could apply a
            // migration twice.
            _ => Err(error),
        }
    }

    /// From `BEGIN` to `COMMIT`; on failure, the error and how many jobs must run alone.
    async fn run_open(
        &self,
        s: &mut Session<'_>,
        foreign_keys_off: bool,
        finished: &mut Vec<Event>,
    ) -> Result<(), (RunError, usize)> {
        let opened = Instant::now();
        let begin = s.conn.begin_sql();
        s.conn.execute(begin).await.map_err(|e| {
            let context = match self.sharing {
                Some(_) => "starting a transaction shared by migrations",
                None => "starting the run's transaction",
            };
            (db_error(context, e), 1)
        })?;
        // A table dropped by a job still to come stays locked until then: no cut before.
        let mut need = 0;
        for (i, job) in self.jobs.iter().enumerate() {
            let at = self.position + i;
            if let Some(sharing) = self.sharing {
                if i > 0 && opened.elapsed() >= shared::MAX_OPEN && need < at {
                    break;
                }
                need = need.max(sharing[i].keep_until);
            }
            let elapsed = execute::run_within(s, job, at + 1, self.total, Enclosure::Transaction)
                .await
                .map_err(|error| (error, i + 1))?;
            let event = finished_event(job, elapsed);
            if self.sharing.is_some() {
                s.events.emit(event.clone());
            }
            finished.push(event);
        }
        let ran = finished.len();
        if foreign_keys_off {
            execute::check_foreign_keys(s.conn).await.map_err(|e| {
                let error = db_error(
                    "checking foreign keys before the commit (they were off for the whole run, \
                     for a table rebuild)",
                    e,
                );
                (error, ran)
            })?;
        }
        s.conn.execute("COMMIT").await.map_err(|e| {
            let error = match self.sharing {
                Some(_) => {
                    let ids: Vec<&str> =
                        self.jobs[..ran].iter().map(|job| job.id.as_str()).collect();
                    db_error(
                        &format!(
                            "committing the migrations that share a commit ({}); `status` shows \
                             whether they are applied",
                            ids.join(", ")
                        ),
                        e,
                    )
                }
                None => db_error("committing the run's transaction", e),
            };
            (error, ran)
        })
    }
}

fn finished_event(job: &Job, elapsed: Duration) -> Event {
    Event::MigrationFinished {
        id: job.id.clone(),
        direction: job.direction,
        elapsed,
    }
}
