//! Drift: how the live schema differs from the model at the point the history records, object
//! by object. Reads only: creates nothing and takes no lock.

use std::collections::BTreeSet;

use super::error::{RunError, db_error};
use super::history;
use super::plan::Planner;
use super::session::Session;
use crate::introspect::{Catalog, Difference, introspect};

/// The live schema against the model after the applied migrations (and the applied ops of those
/// that stopped midway). godwit's own tables are left out.
pub(crate) async fn read(
    session: &mut Session<'_>,
    planner: &Planner<'_>,
    tables: Tables,
) -> Result<Vec<Difference>, RunError> {
    let rows = super::status::rows(session).await?;
    differences(session, planner, &rows, tables).await
}

/// Which live tables [`differences`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tables {
    All,
    /// Those the model has: what an upgrade's SQL is planned against. A table it does not
    /// know (another tool's, one made by hand) is no reason to stop one.
    InTheModel,
}

/// [`read`] for the history `rows` already read.
pub(crate) async fn differences(
    session: &mut Session<'_>,
    planner: &Planner<'_>,
    rows: &[history::Row],
    tables: Tables,
) -> Result<Vec<Difference>, RunError> {
    if let Some(row) = rows.iter().find(|r| r.unconfirmed.is_some()) {
        return Err(RunError::Unsettled(format!(
            "an interrupted MySQL run left `{}` unrecorded; run `up` or `down` (which record \
             where it stopped) before comparing",
            row.id
        )));
    }
    let unknown: Vec<String> = rows
        .iter()
        .filter(|r| !planner.graph.contains(&r.id))
        .map(|r| r.id.clone())
        .collect();
    if !unknown.is_empty() {
        return Err(RunError::Unknown(unknown));
    }
    let known: Vec<&history::Row> = rows.iter().collect();
    let replay = planner.replay(&known, &BTreeSet::new())?;
    let expected = Catalog::expected(&replay.schema, planner.dialect);
    let own = session.history.own_tables();
    let own: Vec<&str> = own.iter().map(String::as_str).collect();
    let mut live = introspect(session.conn, &own)
        .await
        .map_err(|e| db_error("reading the live schema", e))?;
    if tables == Tables::InTheModel {
        live.tables
            .retain(|name, _| expected.tables.contains_key(name));
    }
    Ok(expected.differences(&live))
}
