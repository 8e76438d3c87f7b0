//! `verify`: the proof on a live database that each migration's down undoes its up. For each
//! migration not applied yet, in graph order: up, and the live schema must be the model's;
//! down, and it must be what it was before the up; up again, for the next one to build on.
//! Each comparison is made after every step, so a difference is named with its migration.

use std::time::{Duration, Instant};

use super::drift;
use super::error::{RunError, db_error};
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
        for id in pending {
            let started = Instant::now();
            let mut trip = RoundTrip {
                id: id.clone(),
                after_up: Vec::new(),
                after_down: Vec::new(),
                failed: None,
                elapsed: Duration::ZERO,
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
