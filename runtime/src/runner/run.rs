//! Running a plan's jobs: each alone, several sharing a commit ([`shared`]), a MySQL group
//! ([`deferred`]), or all in one transaction.

use std::time::Duration;

use super::error::{RunError, db_error};
use super::job::Job;
use super::report::Event;
use super::session::Session;
use super::{deferred, execute, shared};
use crate::op::Dialect;

/// Runs `jobs` in order, each in a commit of its own or, where [`shared`] allows, several
/// to a commit. Returns their ids.
pub(crate) async fn run_jobs(
    s: &mut Session<'_>,
    jobs: &mut [Job],
    commit_each: bool,
) -> Result<Vec<String>, RunError> {
    let sharing = match commit_each {
        true => shared::each_alone(jobs.len()),
        false => shared::shareable(jobs, s.dialect()),
    };
    let total = jobs.len();
    let mut done = Vec::with_capacity(total);
    let mut position = 0;
    // After a shared transaction rolled back, its jobs up to the failing one run alone.
    let mut alone_until = 0;
    let deferring = s.dialect() == Dialect::Mysql && !commit_each;
    let deferred_len = |jobs: &[Job]| match deferring {
        true => deferred::group_len(jobs),
        false => 0,
    };
    while position < total {
        let len = deferred_len(&jobs[position..]);
        if len > 1 {
            deferred::run(s, &jobs[position..][..len], position, total).await?;
            done.extend(jobs[position..][..len].iter().map(|job| job.id.clone()));
            position += len;
            continue;
        }
        let len = shared::group_len(&sharing[position..], position);
        if position >= alone_until && len > 1 {
            let (group, shares) = (&jobs[position..][..len], &sharing[position..][..len]);
            match shared::run(s, group, shares, position, total).await? {
                shared::Outcome::Committed(n) => {
                    done.extend(group[..n].iter().map(|job| job.id.clone()));
                    position += n;
                    continue;
                }
                shared::Outcome::RolledBack { alone } => alone_until = position + alone,
            }
        }
        let (job, rest) = jobs[position..].split_at_mut(1);
        // A group records its own start: a start row written now would keep its first job
        // out of it.
        let next = rest.first().filter(|_| deferred_len(rest) < 2);
        if execute::run(s, &job[0], next, position + 1, total).await? {
            rest[0].has_row = true;
        }
        done.push(job[0].id.clone());
        position += 1;
    }
    Ok(done)
}

/// Runs `jobs` in one transaction; returns their ids once it commits. Their
/// `MigrationFinished` events wait for the commit.
pub(crate) async fn run_in_one_transaction(
    s: &mut Session<'_>,
    jobs: &[Job],
) -> Result<Vec<String>, RunError> {
    let dialect = s.dialect();
    if dialect == Dialect::Mysql {
        return Err(RunError::NotOneTransaction {
            reason: "MySQL and MariaDB commit every DDL statement on their own".into(),
        });
    }
    // A migration marked non-transactional is kept out even when it would fit: it was
    // marked so for a reason (a batched backfill that commits as it goes).
    let cannot_join = |job: &&Job| !job.transactional || !execute::atomic(job, dialect);
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
    let Some(direction) = jobs.first().map(|job| job.direction) else {
        return Ok(Vec::new());
    };
    // SQLite ignores `PRAGMA foreign_keys` inside a transaction: a table rebuild needs it
    // off around the whole run, and a check before the commit.
    let foreign_keys_off = jobs
        .iter()
        .any(|job| execute::needs_foreign_keys_off(&job.steps, dialect));
    if foreign_keys_off {
        s.conn
            .execute("PRAGMA foreign_keys = OFF")
            .await
            .map_err(|e| db_error("turning SQLite's foreign keys off for the run", e))?;
    }
    let begin = s.conn.begin_sql();
    let mut done: Vec<(String, Duration)> = Vec::with_capacity(jobs.len());
    let result = async {
        s.conn
            .execute(begin)
            .await
            .map_err(|e| db_error("starting the run's transaction", e))?;
        for (position, job) in jobs.iter().enumerate() {
            let elapsed = execute::run_enclosed(s, job, position + 1, jobs.len()).await?;
            done.push((job.id.clone(), elapsed));
        }
        if foreign_keys_off {
            execute::check_foreign_keys(s.conn).await.map_err(|e| {
                db_error(
                    "checking foreign keys before the commit (they were off for the whole \
                     run, for a table rebuild)",
                    e,
                )
            })?;
        }
        s.conn
            .execute("COMMIT")
            .await
            .map_err(|e| db_error("committing the run's transaction", e))
    }
    .await;
    let result = match result {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = s.conn.execute("ROLLBACK").await;
            Err(RunError::RolledBack {
                direction,
                done: done.iter().map(|(id, _)| id.clone()).collect(),
                source: Box::new(error),
            })
        }
    };
    if foreign_keys_off {
        let restored = s.conn.execute("PRAGMA foreign_keys = ON").await;
        if let (Ok(()), Err(e)) = (&result, restored) {
            return Err(db_error("turning SQLite's foreign keys back on", e));
        }
    }
    result?;
    for (id, elapsed) in &done {
        s.events.emit(Event::MigrationFinished {
            id: id.clone(),
            direction,
            elapsed: *elapsed,
        });
    }
    Ok(done.into_iter().map(|(id, _)| id).collect())
}
