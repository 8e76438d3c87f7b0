//! The scheduler: which of a run's jobs commit together, decided from the jobs alone, before
//! anything runs. Pure: no connection, no clock; unit-tested without a database.
//!
//! Every job goes into exactly one [`Transaction`]:
//! - [`Transaction::Alone`]: the job commits as it goes, in one transaction with its history row
//!   where it can ([`super::execute`]);
//! - [`Transaction::Shared`]: consecutive jobs that lock only tables the run creates or drops
//!   (PostgreSQL, SQLite; [`super::shared`]);
//! - [`Transaction::Deferred`]: consecutive MySQL jobs of one-statement steps, whose history is
//!   written at the group's start and end ([`super::deferred`]);
//! - [`Transaction::Single`]: every job of the run (`single_transaction`).
//!
//! The executor ([`super::run`]) asks for the transaction that starts at a position, so that a
//! shared transaction cut short (it stayed open too long) or rolled back (its jobs then run
//! alone) continues with the schedule from where it stopped.

use std::ops::Range;

use super::deferred;
use super::error::RunError;
use super::execute;
use super::job::Job;
use super::shared::{self, Sharing};
use crate::dialect::{self, Dialect};

/// How the caller asked the run to commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// Every job commits alone: no shared commits, no deferred groups.
    pub commit_each: bool,
    /// Every job in one transaction.
    pub single_transaction: bool,
}

/// Jobs (by index in the run) that commit together, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transaction {
    Alone(usize),
    Shared(Range<usize>),
    Deferred(Range<usize>),
    Single(Range<usize>),
}

impl Transaction {
    /// The jobs it holds.
    pub fn jobs(&self) -> Range<usize> {
        match self {
            Transaction::Alone(job) => *job..*job + 1,
            Transaction::Shared(jobs) | Transaction::Deferred(jobs) | Transaction::Single(jobs) => {
                jobs.clone()
            }
        }
    }
}

/// What the scheduler knows of a run's jobs: enough to say which transaction starts at any
/// position.
pub(crate) struct Schedule {
    options: Options,
    defers: bool,
    sharing: Vec<Sharing>,
}

impl Schedule {
    /// Refuses `single_transaction` when a job cannot run inside one (before the first
    /// statement runs).
    pub fn new(jobs: &[Job], dialect: Dialect, options: Options) -> Result<Self, RunError> {
        let facts = dialect::facts(dialect);
        if options.single_transaction {
            check_one_transaction(jobs, dialect)?;
        }
        let sharing = match options.commit_each || options.single_transaction {
            true => shared::each_alone(jobs.len()),
            false => shared::shareable(jobs, dialect),
        };
        Ok(Schedule {
            options,
            defers: facts.defers_progress && !options.commit_each,
            sharing,
        })
    }

    /// The transaction that starts with job `position` of `jobs` (the run's, as given to
    /// [`Schedule::new`], with the start rows recorded since).
    pub fn at(&self, jobs: &[Job], position: usize) -> Transaction {
        if self.options.single_transaction {
            return Transaction::Single(position..jobs.len());
        }
        // A backup sees what has committed: a job backed up first starts a transaction.
        let until_backup = jobs[position + 1..]
            .iter()
            .position(|job| job.backup.is_some())
            .map_or(jobs.len() - position, |i| i + 1);
        let deferred = self.deferred_len(jobs, position).min(until_backup);
        if deferred > 1 {
            return Transaction::Deferred(position..position + deferred);
        }
        let shared = shared::group_len(&self.sharing[position..], position).min(until_backup);
        if shared > 1 {
            return Transaction::Shared(position..position + shared);
        }
        Transaction::Alone(position)
    }

    /// Each job's sharing, for the executor's cut of a shared transaction.
    pub fn sharing(&self, jobs: Range<usize>) -> &[Sharing] {
        &self.sharing[jobs]
    }

    fn deferred_len(&self, jobs: &[Job], position: usize) -> usize {
        match self.defers {
            true => deferred::group_len(&jobs[position..]),
            false => 0,
        }
    }
}

/// The run's transactions, when each commits as planned.
#[cfg(test)]
pub(crate) fn schedule(
    jobs: &[Job],
    dialect: Dialect,
    options: Options,
) -> Result<Vec<Transaction>, RunError> {
    let schedule = Schedule::new(jobs, dialect, options)?;
    let mut transactions = Vec::new();
    let mut position = 0;
    while position < jobs.len() {
        let transaction = schedule.at(jobs, position);
        position = transaction.jobs().end;
        transactions.push(transaction);
    }
    Ok(transactions)
}

fn check_one_transaction(jobs: &[Job], dialect: Dialect) -> Result<(), RunError> {
    if !dialect::facts(dialect).transactional_ddl {
        return Err(RunError::NotOneTransaction {
            reason: "MySQL and MariaDB commit every DDL statement on their own".into(),
        });
    }
    if let Some(job) = jobs.iter().skip(1).find(|job| job.backup.is_some()) {
        return Err(RunError::NotOneTransaction {
            reason: format!(
                "migration `{}` ({}) is backed up before it runs, and a backup sees only what \
                 has committed; run up to the migration before it, then the rest",
                job.id, job.location
            ),
        });
    }
    // A migration marked non-transactional is kept out even when it would fit: it was
    // marked so for a reason (a batched backfill that commits as it goes).
    let cannot_join =
        |job: &&Job| !job.transactional || !execute::fits_callers_transaction(job, dialect);
    if let Some(job) = jobs.iter().find(cannot_join) {
        let why = if job.transactional {
            "has an op that runs outside a transaction (`CONCURRENTLY`)"
        } else {
            "is marked `transactional = false`"
        };
        return Err(RunError::NotOneTransaction {
            reason: format!(
                "migration `{}` ({}) {why}; run up to the migration before it in one \
                 transaction, then the rest one by one",
                job.id, job.location
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Options, Transaction, schedule};
    use crate::graph::Target;
    use crate::op::{ColumnType, Dialect};
    use crate::registry::MigrationEntry;
    use crate::runner::error::RunError;
    use crate::runner::fixtures::{Fixture, entry};
    use crate::runner::job::Job;

    /// Three new tables, a hand-written statement, two more new tables.
    fn entries() -> Vec<MigrationEntry> {
        vec![
            entry("s01", &[], |m| {
                m.create_table("a", |t| {
                    t.id("id");
                })
            }),
            entry("s02", &["s01"], |m| {
                m.create_table("b", |t| {
                    t.id("id");
                })
            }),
            entry("s03", &["s02"], |m| {
                m.add_column("b", "note", ColumnType::Text).nullable();
            }),
            entry("s04", &["s03"], |m| {
                m.sql("UPDATE a SET id = id");
            }),
            entry("s05", &["s04"], |m| {
                m.create_table("c", |t| {
                    t.id("id");
                })
            }),
            entry("s06", &["s05"], |m| {
                m.create_table("d", |t| {
                    t.id("id");
                })
            }),
        ]
    }

    fn up_jobs(entries: Vec<MigrationEntry>, dialect: Dialect) -> Vec<Job> {
        let fixture = Fixture::new(entries);
        let planner = fixture.planner(dialect);
        planner.upgrade_jobs(&[], &[Target::Heads]).unwrap()
    }

    fn planned(dialect: Dialect, options: Options) -> Vec<Transaction> {
        schedule(&up_jobs(entries(), dialect), dialect, options).unwrap()
    }

    #[test]
    fn new_tables_share_around_what_commits_alone() {
        use Transaction::*;
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            assert_eq!(
                planned(dialect, Options::default()),
                [Shared(0..3), Alone(3), Shared(4..6)],
                "{dialect}"
            );
        }
        // MySQL groups one-statement migrations whose every point is told apart by the live
        // schema; hand-written SQL runs alone.
        assert_eq!(
            planned(Dialect::Mysql, Options::default()),
            [Deferred(0..3), Alone(3), Deferred(4..6)]
        );
    }

    #[test]
    fn commit_each_runs_every_job_alone() {
        let options = Options {
            commit_each: true,
            ..Options::default()
        };
        for dialect in Dialect::ALL {
            let alone: Vec<Transaction> = (0..6).map(Transaction::Alone).collect();
            assert_eq!(planned(dialect, options), alone, "{dialect}");
        }
    }

    #[test]
    fn single_transaction_holds_the_run_or_is_refused_before_it_starts() {
        let options = Options {
            single_transaction: true,
            ..Options::default()
        };
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            assert_eq!(
                planned(dialect, options),
                [Transaction::Single(0..6)],
                "{dialect}"
            );
            // Nothing to run: no transaction at all.
            assert_eq!(schedule(&[], dialect, options).unwrap(), []);
        }
        let refused = |jobs: &[Job], dialect| match schedule(jobs, dialect, options) {
            Err(RunError::NotOneTransaction { reason }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let mysql = refused(&up_jobs(entries(), Dialect::Mysql), Dialect::Mysql);
        assert!(mysql.contains("commit every DDL statement"), "{mysql}");
        let mut batched = entries();
        batched.push(
            entry("s07", &["s06"], |m| {
                m.create_table("e", |t| {
                    t.id("id");
                })
            })
            .with_transactional(false),
        );
        let reason = refused(&up_jobs(batched, Dialect::Postgres), Dialect::Postgres);
        assert!(
            reason.contains("`s07`") && reason.contains("transactional = false"),
            "{reason}"
        );
    }
}
