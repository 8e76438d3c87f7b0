//! The checkpoint table: where each backfill stands, beside the history (`<history>_backfills`).
//!
//! | column | meaning |
//! |---|---|
//! | `id`, `op`, `part`, `direction` | the migration, the op's index, the part of its step (a revert may hold several backfills) and the way it runs (`up`: the backfill, `down`: its reverse) |
//! | `slice` | which slice of the key range (0 unless it runs in parallel slices); with the three before it, the primary key |
//! | `state` | `running` or `done` |
//! | `end_key` | the last key when it started: the end of its work (`NULL`: the table was empty) |
//! | `last_key` | the last key of the last batch committed (`NULL`: none yet) |
//! | `rows_done`, `rows_changed` | rows of the batches committed, and of those, rows the updates changed |
//! | `batches`, `elapsed_ms` | batches committed and the time they took, over every run |
//! | `estimated_total` | the rows the table held when it started, from statistics or a count |
//! | `batch_size` | the size of the next batch (it adapts with a target batch time) |
//!
//! Each batch's update of its row commits with the batch. The rows of a migration are kept once
//! it is applied (`status` shows them), and removed when it is reverted; applying it removes
//! those of an unfinished revert. Going up, a backfill trusts its rows only when its run resumes
//! the migration at that op; otherwise it starts afresh and replaces them.
//!
//! Keys are stored as text: each value as `<byte length>:<value>`, concatenated.

use std::collections::BTreeMap;

use crate::db::{Connection, DbError};
use crate::graph::Direction;
use crate::op::Dialect;
use crate::runner::error::{RunError, db_error};
use crate::runner::history::{HistoryTable, literal};

/// The checkpoint table of a history table.
pub(crate) fn table(history: &HistoryTable) -> HistoryTable {
    history.beside(crate::runner::history::BACKFILLS)
}

/// One backfill's progress, as its row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub done: bool,
    pub end_key: Option<Vec<String>>,
    pub last_key: Option<Vec<String>>,
    pub rows_done: u64,
    pub rows_changed: u64,
    pub batches: u64,
    pub elapsed_ms: u64,
    pub estimated_total: u64,
    pub batch_size: u32,
}

/// Which backfill a row is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    pub id: &'a str,
    pub op: usize,
    /// Which part of the op's step: a revert may hold several backfills (an explicit `down`,
    /// whose parts all stand for op 0).
    pub part: usize,
    pub direction: Direction,
}

fn direction_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "up",
        Direction::Down => "down",
    }
}

pub(crate) fn encode_key(key: &[String]) -> String {
    key.iter().map(|v| format!("{}:{v}", v.len())).collect()
}

pub(crate) fn decode_key(text: &str) -> Option<Vec<String>> {
    let mut rest = text;
    let mut key = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(':')?;
        let len: usize = len.parse().ok()?;
        key.push(tail.get(..len)?.to_owned());
        rest = &tail[len..];
    }
    Some(key)
}

/// Creates the table if it is missing.
pub(crate) async fn create(conn: &mut Connection, table: &HistoryTable) -> Result<(), DbError> {
    let dialect = conn.dialect();
    let (text, id, tail) = match dialect {
        Dialect::Postgres => ("TEXT", "VARCHAR(128)", ""),
        Dialect::Mysql => (
            "LONGTEXT",
            "VARCHAR(128)",
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ),
        Dialect::Sqlite => ("TEXT", "TEXT", ""),
    };
    conn.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         id {id} NOT NULL, \
         op BIGINT NOT NULL, \
         part BIGINT NOT NULL, \
         direction VARCHAR(4) NOT NULL, \
         slice BIGINT NOT NULL, \
         state VARCHAR(8) NOT NULL, \
         end_key {text}, \
         last_key {text}, \
         rows_done BIGINT NOT NULL, \
         rows_changed BIGINT NOT NULL, \
         batches BIGINT NOT NULL, \
         elapsed_ms BIGINT NOT NULL, \
         estimated_total BIGINT NOT NULL, \
         batch_size BIGINT NOT NULL, \
         PRIMARY KEY (id, op, part, direction, slice)){tail}",
        table = table.sql(dialect)
    ))
    .await
}

fn place_condition(dialect: Dialect, place: Place<'_>) -> String {
    format!(
        "id = {} AND op = {} AND part = {} AND direction = '{}'",
        literal(dialect, place.id),
        place.op,
        place.part,
        direction_name(place.direction)
    )
}

const COLUMNS: &str = "state, end_key, last_key, rows_done, rows_changed, batches, elapsed_ms, \
                       estimated_total, batch_size";

fn parse(row: &[Option<String>]) -> Result<Checkpoint, String> {
    let text = |i: usize| row.get(i).cloned().flatten();
    let count = |i: usize| -> Result<u64, String> {
        let value = text(i).unwrap_or_default();
        value
            .parse()
            .map_err(|_| format!("a checkpoint has `{value}` where a count belongs"))
    };
    let key = |i: usize| -> Result<Option<Vec<String>>, String> {
        text(i)
            .map(|k| decode_key(&k).ok_or_else(|| format!("a checkpoint has a damaged key `{k}`")))
            .transpose()
    };
    Ok(Checkpoint {
        done: text(0).as_deref() == Some("done"),
        end_key: key(1)?,
        last_key: key(2)?,
        rows_done: count(3)?,
        rows_changed: count(4)?,
        batches: count(5)?,
        elapsed_ms: count(6)?,
        estimated_total: count(7)?,
        batch_size: u32::try_from(count(8)?).unwrap_or(u32::MAX).max(1),
    })
}

fn cast_columns(dialect: Dialect) -> String {
    let text = |c: &str| match dialect {
        Dialect::Mysql => format!("CAST({c} AS CHAR)"),
        _ => format!("CAST({c} AS TEXT)"),
    };
    COLUMNS
        .split(", ")
        .map(|c| match c {
            "state" | "end_key" | "last_key" => c.to_owned(),
            numeric => text(numeric),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of one backfill, one per slice in slice order; none before it starts.
pub(crate) async fn read(
    conn: &mut Connection,
    table: &HistoryTable,
    place: Place<'_>,
) -> Result<Vec<Checkpoint>, String> {
    let dialect = conn.dialect();
    let rows = conn
        .fetch_text(&format!(
            "SELECT {} FROM {} WHERE {} ORDER BY slice",
            cast_columns(dialect),
            table.sql(dialect),
            place_condition(dialect, place)
        ))
        .await
        .map_err(|e| e.to_string())?;
    rows.iter().map(|row| parse(row)).collect()
}

/// Every backfill going up, by migration and op, its slices' rows taken together; none while
/// the table does not exist (no backfill has run).
pub(crate) async fn read_up(
    conn: &mut Connection,
    history: &HistoryTable,
) -> Result<BTreeMap<(String, usize), Checkpoint>, RunError> {
    let table = self::table(history);
    let exists = crate::runner::history::exists(conn, &table)
        .await
        .map_err(|e| db_error("looking for the checkpoint table", e))?;
    let mut found: BTreeMap<(String, usize), Checkpoint> = BTreeMap::new();
    if !exists {
        return Ok(found);
    }
    let dialect = conn.dialect();
    let op = match dialect {
        Dialect::Mysql => "CAST(op AS CHAR)",
        _ => "CAST(op AS TEXT)",
    };
    let rows = conn
        .fetch_text(&format!(
            "SELECT id, {op}, {} FROM {} WHERE direction = 'up'",
            cast_columns(dialect),
            table.sql(dialect),
        ))
        .await
        .map_err(|e| RunError::History(e.to_string()))?;
    for row in &rows {
        let id = row.first().cloned().flatten().unwrap_or_default();
        let op = row
            .get(1)
            .cloned()
            .flatten()
            .and_then(|op| op.parse().ok())
            .ok_or_else(|| RunError::History(format!("a checkpoint of `{id}` has no op index")))?;
        let state = parse(&row[2..]).map_err(RunError::History)?;
        match found.get_mut(&(id.clone(), op)) {
            Some(total) => {
                total.done &= state.done;
                total.rows_done += state.rows_done;
                total.rows_changed += state.rows_changed;
                total.batches += state.batches;
                total.estimated_total += state.estimated_total;
            }
            None => {
                found.insert((id, op), state);
            }
        }
    }
    Ok(found)
}

/// The row of a backfill about to start: `running` (or `done`, for an empty table).
pub(crate) fn insert(
    dialect: Dialect,
    table: &HistoryTable,
    place: Place<'_>,
    slice: usize,
    checkpoint: &Checkpoint,
) -> String {
    let key = |key: &Option<Vec<String>>| {
        key.as_ref()
            .map_or("NULL".to_owned(), |k| literal(dialect, &encode_key(k)))
    };
    format!(
        "INSERT INTO {} (id, op, part, direction, slice, {COLUMNS}) VALUES ({}, {}, {}, '{}', \
         {slice}, '{}', {}, {}, {}, {}, {}, {}, {}, {})",
        table.sql(dialect),
        literal(dialect, place.id),
        place.op,
        place.part,
        direction_name(place.direction),
        if checkpoint.done { "done" } else { "running" },
        key(&checkpoint.end_key),
        key(&checkpoint.last_key),
        checkpoint.rows_done,
        checkpoint.rows_changed,
        checkpoint.batches,
        checkpoint.elapsed_ms,
        checkpoint.estimated_total,
        checkpoint.batch_size,
    )
}

/// Records a batch committed, or the backfill done.
pub(crate) fn update(
    dialect: Dialect,
    table: &HistoryTable,
    place: Place<'_>,
    slice: usize,
    checkpoint: &Checkpoint,
) -> String {
    let last_key = checkpoint
        .last_key
        .as_ref()
        .map_or("NULL".to_owned(), |k| literal(dialect, &encode_key(k)));
    format!(
        "UPDATE {} SET state = '{}', last_key = {last_key}, rows_done = {}, rows_changed = {}, \
         batches = {}, elapsed_ms = {}, batch_size = {} WHERE {} AND slice = {slice}",
        table.sql(dialect),
        if checkpoint.done { "done" } else { "running" },
        checkpoint.rows_done,
        checkpoint.rows_changed,
        checkpoint.batches,
        checkpoint.elapsed_ms,
        checkpoint.batch_size,
        place_condition(dialect, place),
    )
}

/// Removes every row of migration `id`.
pub(crate) fn delete_migration(dialect: Dialect, table: &HistoryTable, id: &str) -> String {
    format!(
        "DELETE FROM {} WHERE id = {}",
        table.sql(dialect),
        literal(dialect, id)
    )
}

/// Removes the rows of migration `id` going `direction`.
pub(crate) fn delete_direction(
    dialect: Dialect,
    table: &HistoryTable,
    id: &str,
    direction: Direction,
) -> String {
    format!(
        "DELETE FROM {} WHERE id = {} AND direction = '{}'",
        table.sql(dialect),
        literal(dialect, id),
        direction_name(direction)
    )
}

/// Removes the rows of one backfill: starting afresh, it replaces them.
pub(crate) fn delete_place(dialect: Dialect, table: &HistoryTable, place: Place<'_>) -> String {
    format!(
        "DELETE FROM {} WHERE {}",
        table.sql(dialect),
        place_condition(dialect, place)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_whatever_they_hold() {
        for key in [
            vec![],
            vec!["1000".to_owned()],
            vec![
                "a:b".to_owned(),
                String::new(),
                "12:x".to_owned(),
                "ü€".to_owned(),
            ],
        ] {
            assert_eq!(decode_key(&encode_key(&key)), Some(key));
        }
        assert_eq!(decode_key("5:ab"), None);
        assert_eq!(decode_key("x:ab"), None);
    }
}
