//! Deferred progress on MySQL and MariaDB: consecutive migrations whose every step is one DDL
//! statement with an effect the schema model sees run as a group, up to [`MAX_JOBS`], whose
//! history is written twice: before its first statement, each of its rows as `unconfirmed`,
//! and after its last, each as applied (or removed, on the way down). One commit each.
//!
//! MySQL commits every DDL statement on its own, so a migration there cannot commit together
//! with its history row: recording progress op by op costs a commit per op on top of the DDL's
//! own, more than many DDL statements cost. Here the record of where a run stands is the live
//! schema itself:
//! - Every op of a group changes a table in a way that introspection sees, and leads to a
//!   state of the tables it touches that no earlier point of the group had: each point of the
//!   group is told apart from every other by the live schema alone ([`group_len`]).
//! - A failure is reported where it happened, and the history is brought to what is applied,
//!   in one commit, before the error returns.
//! - A run that was killed (or whose last write failed) leaves rows `unconfirmed`; their
//!   `ops_done` tells which way it went. The next run rebuilds the group's points as the run
//!   planned them (up: from the migrations applied before it, in the order of the rows; down:
//!   from every migration applied, reverted in the downgrade's order), introspects the tables
//!   the group touches, finds the one point they match ([`locate`]), records it, and goes on
//!   from there; `status` reports it the same way. When the tables match no point (changed by
//!   hand since), it stops and says which, and the point nearest to them.
//!
//! Not grouped: SQL written by hand and Rust steps (the model does not see their effects),
//! migrations marked `transactional = false` (a batched backfill), steps of several statements
//! (MySQL commits each), a migration resumed midway, unknown migrations reverted from stored
//! SQL, and tables that introspection may not read back as they are (a name with capitals, a
//! string default that MySQL reports without quotes ambiguously: [`CatalogTable::reads_back`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::error::{RunError, db_error};
use super::execute;
use super::history::{self, Row};
use super::job::{Job, Part};
use super::plan::Planner;
use super::report::Event;
use super::session::Session;
use super::shared::{self, Touch};
use crate::graph::Direction;
use crate::introspect::{Catalog, CatalogTable};
use crate::op::{Dialect, Op};
use crate::schema::Schema;

/// At most this many migrations share the two history commits, and a killed run's next run
/// looks for the point where it stopped among their ops.
pub(super) const MAX_JOBS: usize = 50;

/// A table an op touches, as introspection finds it before and after the op (`None`: absent).
#[derive(Debug, Clone)]
pub(crate) struct TableChange {
    name: String,
    before: Option<CatalogTable>,
    after: Option<CatalogTable>,
}

/// An op a job applies to the model: the tables it touches, and the job's ops applied after it.
#[derive(Debug, Clone)]
pub(crate) struct TracedOp {
    ops_done: usize,
    changes: Vec<TableChange>,
}

/// The ops a job applies to the model, in the order it runs them.
pub(crate) type Trace = Vec<TracedOp>;

/// The tables `op` touches; `None` when not known (SQL written by hand, a Rust step) or when
/// introspection may not read one of them back as it is ([`CatalogTable::reads_back`]).
fn changes(op: &Op, before: &Schema, after: &Schema, dialect: Dialect) -> Option<Vec<TableChange>> {
    let touches = shared::touches(op, before, after)?;
    let mut names: Vec<&str> = Vec::new();
    for touch in &touches {
        let (first, second) = match touch {
            Touch::Creates(name) | Touch::Drops(name) | Touch::Locks(name) => (name, None),
            Touch::Renames { from, to } => (from, Some(to)),
        };
        for name in std::iter::once(first).chain(second) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let catalog = |schema: &Schema, name: &str| {
        schema
            .table(name)
            .map(|t| unordered(CatalogTable::expected(schema, t, dialect)))
    };
    names
        .into_iter()
        .map(|name| {
            let change = TableChange {
                name: name.to_owned(),
                before: catalog(before, name),
                after: catalog(after, name),
            };
            let reads_back = |state: &Option<CatalogTable>| {
                state.as_ref().is_none_or(|t| t.reads_back(name, dialect))
            };
            (reads_back(&change.before) && reads_back(&change.after)).then_some(change)
        })
        .collect()
}

/// A table's state with its columns in name order. A revert re-adds a dropped column last, so
/// one state of a table may have its columns in more than one order; no op changes only that.
fn unordered(mut table: CatalogTable) -> CatalogTable {
    table.columns.sort_by(|a, b| a.name.cmp(&b.name));
    table
}

/// Adds `op`'s changes to a job's trace, which becomes unknown once one op's are; `ops_done`:
/// the job's ops applied after `op`.
pub(super) fn add_trace(
    trace: &mut Option<Trace>,
    op: &Op,
    (before, after): (&Schema, &Schema),
    dialect: Dialect,
    ops_done: usize,
) {
    let Some(all) = trace else { return };
    match changes(op, before, after, dialect) {
        Some(changes) => all.push(TracedOp { ops_done, changes }),
        None => *trace = None,
    }
}

/// Whether a job may run in a group: known ops, each step one DDL statement, the whole
/// migration to apply or revert.
fn eligible(job: &Job) -> bool {
    let whole = match job.direction {
        Direction::Up => !job.has_row && job.ops_done == 0,
        Direction::Down => job.has_row && job.ops_done == job.ops_total && job.statements_done == 0,
    };
    let statements = |parts: &[Part]| -> Option<usize> {
        parts.iter().try_fold(0, |count, part| match part {
            Part::Sql {
                op,
                one_statement_each: true,
            } if !op.outside_transaction
                && op.leftover.is_none()
                && op
                    .statements
                    .iter()
                    .all(|s| s.unless_exists.is_none() && !s.expect_no_rows) =>
            {
                Some(count + op.statements.len())
            }
            _ => None,
        })
    };
    whole
        && job.transactional
        && job.ops_total > 0
        // An op that changes nothing (an empty `down`) would be no point of the group.
        && job.footprint.trace.as_ref().is_some_and(|trace| !trace.is_empty())
        && job
            .steps
            .iter()
            .all(|step| statements(&step.parts).is_some_and(|n| n <= 1))
}

/// How many of `jobs`, from the first, run as one group; below 2, the first runs alone.
///
/// Each op must bring a table it touches to a state that table had at no earlier point of the
/// group: then the tables the group touches differ between any two points, and the live schema
/// tells which point a run reached.
pub(super) fn group_len(jobs: &[Job]) -> usize {
    let mut seen: HashMap<&str, Vec<&Option<CatalogTable>>> = HashMap::new();
    let mut len = 0;
    for job in jobs.iter().take(MAX_JOBS) {
        let Some(trace) = job.footprint.trace.as_ref().filter(|_| eligible(job)) else {
            break;
        };
        for op in trace {
            let new_point = op.changes.iter().any(|change| {
                seen.get(change.name.as_str())
                    .map_or(change.before != change.after, |values| {
                        !values.contains(&&change.after)
                    })
            });
            if !new_point {
                return len;
            }
            for change in &op.changes {
                seen.entry(&change.name)
                    .or_insert_with(|| vec![&change.before])
                    .push(&change.after);
            }
        }
        len += 1;
    }
    len
}

/// Runs `group`, recording its start and its end, or where it stopped.
pub(super) async fn run(
    s: &mut Session<'_>,
    group: &[Job],
    position: usize,
    total: usize,
) -> Result<(), RunError> {
    let dialect = s.dialect();
    let starts: Vec<String> = group
        .iter()
        .map(|job| match job.direction {
            Direction::Up => {
                history::insert_unconfirmed(dialect, s.history, &execute::new_row(job, true, 0, 0))
            }
            Direction::Down => history::unconfirm(dialect, s.history, &job.id),
        })
        .collect();
    execute::commit_together(s.conn, &starts, false)
        .await
        .map_err(|e| db_error("recording the start of the migrations", e))?;
    let mut took = Vec::with_capacity(group.len());
    for (index, job) in group.iter().enumerate() {
        match run_job(s, job, position + index + 1, total).await {
            Ok(elapsed) => took.push(elapsed),
            Err(stopped) => {
                // Where the run stopped is known here: record it, rather than leave the next
                // run to read it from the live schema. Should this write fail, that is what
                // the next run does.
                let writes = stopped_writes(s, group, &took, stopped.ops_done);
                let _ = execute::commit_together(s.conn, &writes, false).await;
                return Err(stopped.error);
            }
        }
    }
    let ends: Vec<String> = group
        .iter()
        .zip(&took)
        .map(|(job, elapsed)| applied_write(s, job, *elapsed))
        .collect();
    execute::commit_together(s.conn, &ends, false)
        .await
        .map_err(|e| db_error("recording the migrations", e))
}

/// A job run to its end: recorded as applied, or its row removed.
fn applied_write(s: &Session<'_>, job: &Job, elapsed: Duration) -> String {
    let dialect = s.dialect();
    match job.direction {
        Direction::Up => {
            let ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
            let row = execute::new_row(job, false, job.ops_total, ms);
            history::complete(dialect, s.history, &row)
        }
        Direction::Down => history::delete(dialect, s.history, &job.id),
    }
}

/// The history of a group that stopped in its job `took.len()`, with `ops_done` of its ops
/// applied: the jobs before it done, the ones after it not started.
fn stopped_writes(
    s: &Session<'_>,
    group: &[Job],
    took: &[Duration],
    ops_done: usize,
) -> Vec<String> {
    let dialect = s.dialect();
    let stopped = took.len();
    group
        .iter()
        .enumerate()
        .map(|(index, job)| {
            match (index.cmp(&stopped), job.direction) {
                (Ordering::Less, _) => applied_write(s, job, took[index]),
                // As a migration run alone leaves it: started, even with no op applied.
                (Ordering::Equal, Direction::Up) => {
                    history::progress(dialect, s.history, &job.id, ops_done, 0)
                }
                (Ordering::Equal, Direction::Down) => {
                    history::settle(dialect, s.history, &job.id, ops_done, job.ops_total)
                }
                // Not started: as it was before the group.
                (Ordering::Greater, _) => {
                    history::settle(dialect, s.history, &job.id, job.ops_done, job.ops_total)
                }
            }
        })
        .collect()
}

/// A job that stopped: the error, and its ops applied.
struct Stopped {
    error: RunError,
    ops_done: usize,
}

/// Runs one job's statements, retrying one that gave up waiting for a lock.
async fn run_job(
    s: &mut Session<'_>,
    job: &Job,
    position: usize,
    total: usize,
) -> Result<Duration, Stopped> {
    let started = Instant::now();
    s.events.emit(Event::MigrationStarted {
        id: job.id.clone(),
        direction: job.direction,
        position,
        total,
        ops: job.ops_total,
        resume_from: 0,
    });
    let mut ops_done = job.ops_done;
    for step in &job.steps {
        let step_started = Instant::now();
        let statement = step.parts.iter().find_map(|part| match part {
            Part::Sql { op, .. } => op.statements.first(),
            Part::Rust(..) => None,
        });
        let mut attempt = 0;
        while let Some(statement) = statement {
            let Err(error) = s.conn.execute(&statement.sql).await else {
                break;
            };
            if error.is_lock_timeout()
                && execute::wait_to_retry(s, &job.id, &mut attempt, error.to_string()).await
            {
                continue;
            }
            let error = RunError::Failed {
                id: job.id.clone(),
                location: job.location.clone(),
                direction: job.direction,
                index: step.first_op,
                ops: job.ops_total,
                op: step.description.clone(),
                ops_applied: ops_done,
                statements_committed: Vec::new(),
                source: Box::new(error),
            };
            return Err(Stopped { error, ops_done });
        }
        ops_done = execute::ops_done_after(job, step);
        s.events.emit(execute::op_finished(job, step, step_started));
    }
    let elapsed = started.elapsed();
    s.events.emit(Event::MigrationFinished {
        id: job.id.clone(),
        direction: job.direction,
        elapsed,
    });
    Ok(elapsed)
}

/// Per `unconfirmed` row of `rows`: its id, its ops applied as the `live` schema shows, and its
/// ops in all. An error says why the live schema does not tell.
pub(super) fn locate(
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
        if super::checksum(entry) != row.checksum && !accepted {
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
pub(super) async fn settle(
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
