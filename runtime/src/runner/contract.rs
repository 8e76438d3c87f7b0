//! Expand → contract: which migrations `up --expand` applies, and the check that keeps a
//! contract migration from running before the backfills it depends on have finished.

use std::collections::{BTreeMap, BTreeSet};

use super::backfill::checkpoint::{self, Checkpoint};
use super::error::RunError;
use super::job::Job;
use super::plan::Planner;
use super::session::Session;
use crate::graph::Target;
use crate::registry::Phase;

/// The targets of `up --expand`: the expand-phase migrations that no other expand-phase
/// migration depends on. Everything they need is of the expand phase too.
pub(crate) fn expand_targets(planner: &Planner<'_>) -> Vec<Target> {
    let phases = planner.registry.phases(planner.graph);
    planner
        .graph
        .order()
        .filter(|id| phases[id] == Phase::Expand)
        .filter(|id| {
            planner
                .graph
                .children(id)
                .unwrap_or_default()
                .iter()
                .all(|child| phases[child] != Phase::Expand)
        })
        .map(|id| Target::id(id.to_owned()))
        .collect()
}

/// Refuses the run when one of its contract migrations depends, directly or through the
/// graph, on a backfill that is not done: one applied before this run whose checkpoint is not
/// `done`, or that never ran (its migration was stamped). A backfill this run applies first
/// finishes before the contract starts, or the run stops there.
pub(crate) async fn check_backfills_done(
    s: &mut Session<'_>,
    planner: &Planner<'_>,
    jobs: &[Job],
) -> Result<(), RunError> {
    let planned: BTreeSet<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let contracts: Vec<&str> = jobs
        .iter()
        .map(|j| j.id.as_str())
        .filter(|id| planner.registry.get(id).is_some_and(|e| e.is_contract()))
        .collect();
    if contracts.is_empty() {
        return Ok(());
    }
    let mut checkpoints: Option<BTreeMap<(String, usize), Checkpoint>> = None;
    for contract in contracts {
        for ancestor in ancestors(planner, contract) {
            if planned.contains(ancestor) {
                continue;
            }
            let ops = planner
                .entry(ancestor)
                .record_up(planner.dialect)
                .into_ops();
            for (index, op) in ops.iter().enumerate() {
                let Some(table) = op.batched_table() else {
                    continue;
                };
                if checkpoints.is_none() {
                    checkpoints = Some(checkpoint::read_up(s.conn, s.history).await?);
                }
                let found = checkpoints
                    .as_ref()
                    .and_then(|all| all.get(&(ancestor.to_owned(), index)));
                let progress = match found {
                    Some(state) if state.done => continue,
                    Some(state) => format!(
                        "it stopped after {} of about {} rows",
                        state.rows_done,
                        state.estimated_total.max(state.rows_done)
                    ),
                    None => "it never ran (was its migration stamped?)".to_owned(),
                };
                let entry = planner.entry(contract);
                return Err(RunError::BackfillUnfinished {
                    contract: contract.to_owned(),
                    location: entry.location().to_string(),
                    migration: ancestor.to_owned(),
                    op: index,
                    table: table.to_owned(),
                    progress,
                });
            }
        }
    }
    Ok(())
}

/// Every migration `id` depends on, directly or not, nearest first.
fn ancestors<'g>(planner: &Planner<'g>, id: &str) -> Vec<&'g str> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut found = Vec::new();
    let mut next: Vec<&str> = planner.graph.parents(id).unwrap_or_default();
    while let Some(parent) = next.pop() {
        if seen.insert(parent) {
            found.push(parent);
            next.extend(planner.graph.parents(parent).unwrap_or_default());
        }
    }
    found
}
