//! `status`: every migration's state, read from the history and, where an interrupted MySQL
//! run left it unrecorded, from the live schema. Reads only: creates nothing, takes no lock.

use std::collections::HashMap;

use super::backfill::checkpoint;
use super::checksum::checksum;
use super::deferred;
use super::error::{RunError, db_error};
use super::history::{self, Row};
use super::plan::Planner;
use super::report::BackfillStatus;
use super::report::{MigrationStatus, State, Status};
use super::session::Session;
use crate::op::Op;

/// The backfills of the migrations the history holds, as their checkpoints record them.
async fn backfills(
    session: &mut Session<'_>,
    planner: &Planner<'_>,
    rows: &HashMap<&str, &Row>,
) -> Result<HashMap<String, Vec<BackfillStatus>>, RunError> {
    let mut found: HashMap<String, Vec<BackfillStatus>> = HashMap::new();
    if rows.is_empty() {
        return Ok(found);
    }
    for ((id, op), state) in checkpoint::read_up(session.conn, session.history).await? {
        if !rows.contains_key(id.as_str()) || !planner.graph.contains(&id) {
            continue;
        }
        let ops = planner.entry(&id).record_up(planner.dialect).into_ops();
        let Some(table) = ops.get(op).and_then(Op::batched_table) else {
            continue;
        };
        found.entry(id).or_default().push(BackfillStatus {
            op,
            table: table.to_owned(),
            rows_done: state.rows_done,
            estimated_total: state.estimated_total.max(state.rows_done),
            done: state.done,
        });
    }
    Ok(found)
}

/// The history's rows; none while there is no history table. Creates nothing.
pub(super) async fn rows(session: &mut Session<'_>) -> Result<Vec<Row>, RunError> {
    let exists = history::exists(session.conn, session.history)
        .await
        .map_err(|e| db_error("looking for the history table", e))?;
    if !exists {
        return Ok(Vec::new());
    }
    history::read(session.conn, session.history)
        .await
        .map_err(RunError::History)
}

pub(crate) async fn read(
    session: &mut Session<'_>,
    planner: &Planner<'_>,
) -> Result<Status, RunError> {
    let rows = rows(session).await?;
    // Where an interrupted MySQL run stopped, as the live schema shows ([`deferred`]).
    let located: Result<HashMap<String, usize>, String> =
        if rows.iter().any(|r| r.unconfirmed.is_some()) {
            let live = crate::introspect::introspect(session.conn, &[&session.history.name])
                .await
                .map_err(|e| {
                    db_error(
                        "reading the schema to find where an interrupted run stopped",
                        e,
                    )
                })?;
            deferred::locate(planner, &rows, &live)
                .map(|found| found.into_iter().map(|(id, done, _)| (id, done)).collect())
        } else {
            Ok(HashMap::new())
        };
    let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut backfills = backfills(session, planner, &by_id).await?;
    let mut backups = super::backup::latest(session.conn, session.history)
        .await
        .map_err(|e| db_error("reading the backups table", e))?;
    let phases = planner.registry.phases(planner.graph);
    let mut migrations = Vec::with_capacity(planner.graph.len());
    for id in planner.graph.order() {
        let entry = planner.entry(id);
        let row = by_id.get(id).copied();
        let ops_done = |row: &Row| match (&located, row.unconfirmed) {
            (_, None) => Ok(row.ops_done),
            (Ok(found), Some(_)) => Ok(found[row.id.as_str()]),
            (Err(reason), Some(_)) => Err(reason.clone()),
        };
        let state = match row {
            None => State::Pending,
            Some(row) => match ops_done(row) {
                Err(reason) => State::Interrupted { reason },
                Ok(0) if row.unconfirmed.is_some() => State::Pending,
                Ok(done) if row.partial && (row.unconfirmed.is_none() || done < row.ops_total) => {
                    State::Partial {
                        ops_done: done,
                        ops_total: row.ops_total,
                    }
                }
                Ok(_) => {
                    let current = checksum(entry);
                    if current == row.checksum {
                        State::Applied
                    } else {
                        State::Changed {
                            recorded: row.checksum.clone(),
                            current,
                        }
                    }
                }
            },
        };
        migrations.push(MigrationStatus {
            id: id.to_owned(),
            state,
            applied_at: row.map(|r| r.applied_at.clone()),
            execution_ms: row.filter(|r| !r.partial).map(|r| r.execution_ms),
            location: entry.location().to_string(),
            parents: entry.after().iter().map(|p| p.to_string()).collect(),
            backfills: backfills.remove(id).unwrap_or_default(),
            backup: backups.remove(id),
            phase: phases.get(id).copied(),
        });
    }
    for row in rows.iter().filter(|r| !planner.graph.contains(&r.id)) {
        migrations.push(MigrationStatus {
            id: row.id.clone(),
            state: State::Unknown,
            applied_at: Some(row.applied_at.clone()),
            execution_ms: Some(row.execution_ms),
            location: row.location.clone(),
            parents: row.parents.clone(),
            backfills: Vec::new(),
            backup: backups.remove(&row.id),
            phase: None,
        });
    }
    Ok(Status {
        migrations,
        heads: planner
            .graph
            .heads()
            .iter()
            .map(|h| h.to_string())
            .collect(),
        history_table: session.history.display(),
    })
}
