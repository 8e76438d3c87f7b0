//! Where an interrupted group stopped: rebuilt from the plan and told from the live schema
//! ([`locate`]), then recorded before planning ([`settle`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::graph::Direction;
use crate::introspect::{Catalog, CatalogTable};
use crate::runner::error::{RunError, db_error};
use crate::runner::execute;
use crate::runner::footprint::{TracedOp, changes, unordered};
use crate::runner::history::{self, Row};
use crate::runner::plan::Planner;
use crate::runner::report::Event;
use crate::runner::session::Session;

/// Per `unconfirmed` row of `rows`: its id, its ops applied as the `live` schema shows, and its
/// ops in all. An error says why the live schema does not tell.
pub(crate) fn locate(
    planner: &Planner<'_>,
    rows: &[Row],
    live: &Catalog,
) -> Result<Vec<(String, usize, usize)>, String> {
    let unconfirmed: Vec<&Row> = rows.iter().filter(|r| r.unconfirmed.is_some()).collect();
    let Some(direction) = unconfirmed.first().and_then(|r| r.unconfirmed) else {
        return Ok(Vec::new());
    };
    if unconfirmed.iter().any(|r| r.unconfirmed != Some(direction)) {
        return Err(format!(
            "the history table has rows of migrations being applied and of migrations being \
             reverted both `unconfirmed`, which no run writes; {}",
            RECORD_BY_HAND
        ));
    }
    for row in &unconfirmed {
        let Some(entry) = planner.registry.get(&row.id) else {
            return Err(format!(
                "`{}` is not known to this binary; run the release that started the run",
                row.id
            ));
        };
        // A downgrade reverts a changed migration as the code says now only when accepted; an
        // upgrade's row holds the checksum of the code it ran.
        let accepted = direction == Direction::Down && planner.accept_changed.contains(&row.id);
        if crate::runner::checksum(entry) != row.checksum && !accepted {
            return Err(format!(
                "`{}` ({}) changed since the run started; run the release that started it{}",
                row.id,
                entry.location(),
                if direction == Direction::Down {
                    ", or accept the change as that run did"
                } else {
                    ""
                }
            ));
        }
    }
    let (order, walk) = match direction {
        Direction::Up => walk_up(planner, rows, unconfirmed)?,
        Direction::Down => walk_down(planner, rows, unconfirmed)?,
    };
    let mut state: BTreeMap<&str, &Option<CatalogTable>> = BTreeMap::new();
    for change in walk.iter().flat_map(|(_, op)| &op.changes) {
        state.entry(&change.name).or_insert(&change.before);
    }
    // Per point of the group (0: before its first op), the tables that differ from the live
    // ones, and by how much.
    let differing = |state: &BTreeMap<&str, &Option<CatalogTable>>| -> (Vec<String>, usize) {
        let mut tables = Vec::new();
        let mut distance = 0;
        for (name, expected) in state {
            let found = live.tables.get(*name).cloned().map(unordered);
            if found.as_ref() != expected.as_ref() {
                tables.push((*name).to_owned());
                distance += CatalogTable::distance(found.as_ref(), expected.as_ref());
            }
        }
        (tables, distance)
    };
    let mut points = vec![differing(&state)];
    for (_, op) in &walk {
        for change in &op.changes {
            state.insert(&change.name, &change.after);
        }
        points.push(differing(&state));
    }
    let matching: Vec<usize> = (0..points.len())
        .filter(|&p| points[p].0.is_empty())
        .collect();
    let ids = || {
        order
            .iter()
            .map(|r| format!("`{}`", r.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let names = |tables: &[String]| {
        tables
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tables: Vec<String> = state.keys().map(|t| (*t).to_owned()).collect();
    let point = match matching.as_slice() {
        [point] => *point,
        [] => {
            let nearest = (0..points.len()).min_by_key(|&p| points[p].1).unwrap_or(0);
            let at = match nearest.checked_sub(1) {
                None => "before the run".to_owned(),
                Some(op) => {
                    let (row, traced) = &walk[op];
                    let row = order[*row];
                    format!(
                        "`{}` with {} of its {} ops applied",
                        row.id, traced.ops_done, row.ops_total
                    )
                }
            };
            return Err(format!(
                "a run of {} stopped without recording where, and the live tables {} match \
                 none of the {} states it passes through: they were changed since (nearest: \
                 {at}, which differs in {}). Bring them to the state before or after one of \
                 those migrations' ops by hand, and the next run reads where it stopped; or {}",
                ids(),
                names(&tables),
                points.len(),
                names(&points[nearest].0),
                RECORD_BY_HAND
            ));
        }
        _ => {
            return Err(format!(
                "a run of {} stopped without recording where, and the live tables {} match \
                 more than one of the states it passes through; {}",
                ids(),
                names(&tables),
                RECORD_BY_HAND
            ));
        }
    };
    let mut done: Vec<usize> = order
        .iter()
        .map(|row| match direction {
            Direction::Up => 0,
            Direction::Down => row.ops_done,
        })
        .collect();
    for (row, op) in &walk[..point] {
        done[*row] = op.ops_done;
    }
    Ok(order
        .iter()
        .zip(done)
        .map(|(row, done)| (row.id.clone(), done, row.ops_total))
        .collect())
}

/// The way out when the live schema cannot tell where a run stopped.
const RECORD_BY_HAND: &str = "record where it stopped by hand: in the history table, per \
     migration, `state` `applied`, or `partial` with `ops_done` its ops applied, or no row when \
     none is";

/// The rows of a group and its ops, each with the index of its row.
type Walk<'r> = (Vec<&'r Row>, Vec<(usize, TracedOp)>);

/// An upgrade group: the migrations before it applied, then its ops in the order it applied
/// them (that of their rows).
fn walk_up<'r>(
    planner: &Planner<'_>,
    rows: &[Row],
    mut group: Vec<&'r Row>,
) -> Result<Walk<'r>, String> {
    let dialect = planner.dialect;
    group.sort_by_key(|r| r.seq);
    let confirmed: Vec<&Row> = rows
        .iter()
        .filter(|r| r.unconfirmed.is_none() && planner.graph.contains(&r.id))
        .collect();
    let mut schema = planner
        .replay(&confirmed, &BTreeSet::new())
        .map_err(|e| e.to_string())?
        .schema;
    let mut walk = Vec::new();
    for (index, row) in group.iter().enumerate() {
        let ops = planner.entry(&row.id).record_up(dialect).into_ops();
        for (position, op) in ops.iter().enumerate() {
            let before = schema.clone();
            schema
                .apply_without_rollback(op)
                .map_err(|e| format!("`{}`: {e}", row.id))?;
            let changes = changes(op, &before, &schema, dialect).ok_or_else(|| unseen(row))?;
            let ops_done = position + 1;
            walk.push((index, TracedOp { ops_done, changes }));
        }
    }
    Ok((group, walk))
}

/// A downgrade group: every migration applied, then the group's reverts as the downgrade
/// planned them, in its order (the graph's, backwards).
fn walk_down<'r>(
    planner: &Planner<'_>,
    rows: &[Row],
    group: Vec<&'r Row>,
) -> Result<Walk<'r>, String> {
    let applied: Vec<Row> = rows
        .iter()
        .filter(|r| planner.graph.contains(&r.id))
        .map(|r| Row {
            partial: r.ops_done < r.ops_total,
            unconfirmed: None,
            ..r.clone()
        })
        .collect();
    let by_id: HashMap<&str, &Row> = applied.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut replay = planner
        .replay(&applied.iter().collect::<Vec<_>>(), &BTreeSet::new())
        .map_err(|e| e.to_string())?;
    let in_group: BTreeSet<&str> = group.iter().map(|r| r.id.as_str()).collect();
    let mut order: Vec<&Row> = planner
        .graph
        .order()
        .filter(|id| in_group.contains(id))
        .filter_map(|id| group.iter().find(|r| r.id == id).copied())
        .collect();
    order.reverse();
    let mut walk = Vec::new();
    for (index, row) in order.iter().enumerate() {
        let job = planner
            .revert_job(by_id[row.id.as_str()], &mut replay)
            .map_err(|e| e.to_string())?;
        let trace = job.footprint.trace.ok_or_else(|| unseen(row))?;
        walk.extend(trace.into_iter().map(|op| (index, op)));
    }
    Ok((order, walk))
}

fn unseen(row: &Row) -> String {
    format!(
        "`{}` has ops whose effect the live schema does not show; {}",
        row.id, RECORD_BY_HAND
    )
}

/// Records where a run that left `unconfirmed` rows stopped, as the live schema shows; returns
/// the history as it then stands.
pub(crate) async fn settle(
    s: &mut Session<'_>,
    planner: &Planner<'_>,
    rows: Vec<Row>,
) -> Result<Vec<Row>, RunError> {
    if !rows.iter().any(|r| r.unconfirmed.is_some()) {
        return Ok(rows);
    }
    let live = crate::introspect::introspect(s.conn, &[s.history.name.as_str()])
        .await
        .map_err(|e| {
            db_error(
                "reading the schema to find where an interrupted run stopped",
                e,
            )
        })?;
    let located = locate(planner, &rows, &live).map_err(RunError::Unsettled)?;
    let dialect = s.dialect();
    let writes: Vec<String> = located
        .iter()
        .map(|(id, done, total)| history::settle(dialect, s.history, id, *done, *total))
        .collect();
    execute::commit_together(s.conn, &writes, false)
        .await
        .map_err(|e| db_error("recording where an interrupted run stopped", e))?;
    for (id, ops_done, ops_total) in located {
        s.events.emit(Event::Located {
            id,
            ops_done,
            ops_total,
        });
    }
    history::read(s.conn, s.history)
        .await
        .map_err(RunError::History)
}
