//! `verify`: the proof on a live database that each migration's down undoes its up. For each
//! migration not applied yet, in graph order: up, and the live schema must be the model's;
//! down, and it must be what it was before the up; up again, for the next one to build on.
//! Each comparison is made after every step, so a difference is named with its migration.
//!
//! On PostgreSQL and SQLite a migration's round trip runs in one transaction under one lock
//! (each job inside it, as in a run that is one transaction), so that it commits once instead
//! of three times; a migration that cannot run inside one, or a round trip that fails, goes
//! through three runs instead, which report the failure as `up`, `down` and `up` report it.

use std::time::{Duration, Instant};

use super::drift;
use super::error::{RunError, db_error};
use super::execute::{self, Enclosure};
use super::{Migrator, State};
use crate::graph::Target;
use crate::introspect::{Catalog, Difference, introspect};

/// What `verify` found for one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    pub id: String,
    /// After its up: how the live schema differs from the model.
    pub after_up: Vec<Difference>,
    /// After its down: how the live schema differs from the one before its up (called "the
    /// model" in each difference).
    pub after_down: Vec<Difference>,
    /// A step that failed (`up`, `down`, `up again`) and why; the walk stops at a failed up.
    pub failed: Option<(String, String)>,
    pub elapsed: Duration,
    /// The three steps ran in one transaction (PostgreSQL, SQLite), not in three runs.
    pub in_one_transaction: bool,
}

impl RoundTrip {
    pub fn ok(&self) -> bool {
        self.after_up.is_empty() && self.after_down.is_empty() && self.failed.is_none()
    }
}

/// What [`Migrator::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub migrations: Vec<RoundTrip>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.migrations.iter().all(RoundTrip::ok)
    }
}

impl Migrator {
    /// Proves on this database, which should be a scratch one, that every migration not
    /// applied yet reverts to exactly the schema it started from: for each, in graph order, up
    /// (the schema must then be the model's), down (it must be what it was before), and up
    /// again. Refuses a database with tables other than godwit's own unless `force`. Leaves
    /// every migration applied, but for one whose up failed (which ends the walk) or whose down
    /// failed (left applied; the walk goes on).
    pub async fn verify(&mut self, force: bool) -> Result<VerifyReport, RunError> {
        let live = self.live_catalog().await?;
        if !force && !live.tables.is_empty() {
            let names: Vec<&str> = live.tables.keys().map(String::as_str).collect();
            return Err(RunError::NotScratch(names.join(", ")));
        }
        let applied: Vec<String> = self
            .status()
            .await?
            .migrations
            .into_iter()
            .filter(|m| m.state != State::Pending)
            .map(|m| m.id)
            .collect();
        let pending: Vec<String> = self
            .graph
            .order()
            .filter(|id| !applied.iter().any(|a| a == id))
            .map(str::to_owned)
            .collect();
        // A down that leaves a difference must not keep the next up from running.
        let allow_drift = std::mem::replace(&mut self.allow_drift, true);
        let result = self.round_trips(&pending).await;
        self.allow_drift = allow_drift;
        result
    }

    async fn round_trips(&mut self, pending: &[String]) -> Result<VerifyReport, RunError> {
        let mut report = VerifyReport::default();
        let transactional = crate::dialect::facts(self.conn.dialect()).transactional_ddl;
        for id in pending {
            if transactional {
                let lock = self.begin().await?;
                let trip = self.round_trip_in_one_transaction(id).await;
                if let Some(trip) = self.end(lock, trip).await? {
                    report.migrations.push(trip);
                    continue;
                }
            }
            let started = Instant::now();
            let mut trip = RoundTrip {
                id: id.clone(),
                after_up: Vec::new(),
                after_down: Vec::new(),
                failed: None,
                elapsed: Duration::ZERO,
                in_one_transaction: false,
            };
            let before = unordered(self.live_catalog().await?);
            let target = [Target::id(id.clone())];
            if let Err(e) = self.upgrade(&target).await {
                trip.failed = Some(("up".into(), e.to_string()));
                trip.elapsed = started.elapsed();
                report.migrations.push(trip);
                break;
            }
            trip.after_up = {
                let (mut session, planner) = self.split();
                drift::read(&mut session, &planner, drift::Tables::InTheModel).await?
            };
            match self.downgrade(&[Target::Back(1)]).await {
                Err(e) => trip.failed = Some(("down".into(), e.to_string())),
                Ok(_) => {
                    let after = unordered(self.live_catalog().await?);
                    trip.after_down = before.differences(&after);
                    if let Err(e) = self.upgrade(&target).await {
                        trip.failed = Some(("up again".into(), e.to_string()));
                        trip.elapsed = started.elapsed();
                        report.migrations.push(trip);
                        break;
                    }
                }
            }
            trip.elapsed = started.elapsed();
            report.migrations.push(trip);
        }
        Ok(report)
    }

    /// `id`'s round trip in one transaction, under the lock the caller holds: committed when
    /// every step ran (differences or not); `None`, with nothing changed, when a job cannot
    /// run inside a transaction the caller opened or a step failed.
    async fn round_trip_in_one_transaction(
        &mut self,
        id: &str,
    ) -> Result<Option<RoundTrip>, RunError> {
        let started = Instant::now();
        let dialect = self.conn.dialect();
        let before = unordered(self.live_catalog().await?);
        let sqlite = crate::dialect::facts(dialect).foreign_keys_switch_outside_transaction;
        // A rebuild needs SQLite's foreign keys off around the transaction; checked at its end.
        if sqlite {
            self.conn
                .execute("PRAGMA foreign_keys = OFF")
                .await
                .map_err(|e| db_error("turning SQLite's foreign keys off", e))?;
        }
        let begin = self.conn.begin_sql();
        self.conn
            .execute(begin)
            .await
            .map_err(|e| db_error("starting a round trip's transaction", e))?;
        let trip = self.round_trip_steps(id, &before).await;
        let end = match &trip {
            Ok(Some(_)) => "COMMIT",
            _ => "ROLLBACK",
        };
        let ended = self.conn.execute(end).await;
        if sqlite {
            let _ = self.conn.execute("PRAGMA foreign_keys = ON").await;
        }
        ended.map_err(|e| db_error("ending a round trip's transaction", e))?;
        Ok(match trip {
            Ok(Some(mut trip)) => {
                trip.elapsed = started.elapsed();
                trip.in_one_transaction = true;
                Some(trip)
            }
            // Run again in three runs, which say what failed as they always do.
            Ok(None) | Err(_) => None,
        })
    }

    /// The three jobs of a round trip, inside the transaction the caller opened.
    async fn round_trip_steps(
        &mut self,
        id: &str,
        before: &Catalog,
    ) -> Result<Option<RoundTrip>, RunError> {
        let dialect = self.conn.dialect();
        let target = [Target::id(id)];
        let mut trip = RoundTrip {
            id: id.to_owned(),
            after_up: Vec::new(),
            after_down: Vec::new(),
            failed: None,
            elapsed: Duration::ZERO,
            in_one_transaction: false,
        };
        for step in ["up", "down", "up again"] {
            let rows = self.read_history().await?;
            let jobs = match step {
                "down" => self.planner().downgrade_jobs(&rows, &[Target::Back(1)])?,
                _ => self.planner().upgrade_jobs(&rows, &target)?,
            };
            let [job] = jobs.as_slice() else {
                return Ok(None);
            };
            if !execute::fits_callers_transaction(job, dialect) {
                return Ok(None);
            }
            execute::run_within(&mut self.session(), job, 1, 1, Enclosure::Transaction).await?;
            match step {
                "up" => {
                    let rows = self.read_history().await?;
                    let (mut session, planner) = self.split();
                    trip.after_up = drift::differences(
                        &mut session,
                        &planner,
                        &rows,
                        drift::Tables::InTheModel,
                    )
                    .await?;
                }
                "down" => {
                    let after = unordered(self.live_catalog().await?);
                    trip.after_down = before.differences(&after);
                }
                _ => {}
            }
        }
        if crate::dialect::facts(dialect).foreign_keys_switch_outside_transaction {
            execute::check_foreign_keys(&mut self.conn)
                .await
                .map_err(|e| db_error("checking foreign keys after a round trip", e))?;
        }
        Ok(Some(trip))
    }

    /// The live schema without godwit's own tables.
    async fn live_catalog(&mut self) -> Result<Catalog, RunError> {
        let own = self.history.own_tables();
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        introspect(&mut self.conn, &own)
            .await
            .map_err(|e| db_error("reading the live schema", e))
    }
}

/// Columns in name order: a revert re-adds a dropped column last.
fn unordered(mut catalog: Catalog) -> Catalog {
    for table in catalog.tables.values_mut() {
        *table = super::footprint::unordered(std::mem::take(table));
    }
    catalog
}
