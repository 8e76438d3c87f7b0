//! The history table: one row per migration that is applied or stopped midway.
//!
//! | column | meaning |
//! |---|---|
//! | `id` | the migration id (primary key) |
//! | `checksum` | [`super::checksum`] of the migration when it was applied |
//! | `state` | `applied`; `partial`: stopped midway, `ops_done` ops of `ops_total` applied; or `unconfirmed`: in a MySQL group whose history is written at its end ([`super::deferred`]), being applied (`ops_done` 0) or reverted (`ops_done` = `ops_total`, as at the group's start) |
//! | `ops_done`, `ops_total` | progress, in ops; a rerun resumes at op `ops_done` |
//! | `statements_done` | statements of op `ops_done` already committed (MySQL multi-statement ops) |
//! | `applied_at`, `execution_ms` | when it was applied (UTC) and how long it took |
//! | `seq` | the order in which migrations were applied |
//! | `parents`, `location` | its dependencies (comma-separated) and `file:line`, for reports |
//! | `down_sql` | the reverse SQL rendered when it was applied ([`super::stored`]) |

use crate::db::{Connection, DbError};
use crate::graph::Direction;
use crate::op::Dialect;
use crate::render::quote_identifier;

use super::stored::StoredDown;

/// Where the history lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryTable {
    /// PostgreSQL schema, MySQL database or SQLite attached database; `None`: the connection's
    /// current one.
    pub schema: Option<String>,
    pub name: String,
}

/// The history table's name unless told otherwise.
pub const DEFAULT_HISTORY_TABLE: &str = "godwit_migrations";

impl Default for HistoryTable {
    fn default() -> Self {
        HistoryTable {
            schema: None,
            name: DEFAULT_HISTORY_TABLE.into(),
        }
    }
}

/// The suffixes of the tables beside the history: backfill checkpoints, backups, copy
/// checkpoints.
pub(crate) const BACKFILLS: &str = "_backfills";
pub(crate) const BACKUPS: &str = "_backups";
pub(crate) const COPIES: &str = "_copies";

impl HistoryTable {
    /// The qualified, quoted name.
    pub(crate) fn sql(&self, dialect: Dialect) -> String {
        let name = quote_identifier(dialect, &self.name);
        match &self.schema {
            Some(schema) => format!("{}.{name}", quote_identifier(dialect, schema)),
            None => name,
        }
    }

    /// The tables godwit keeps in the database, this one and those beside it (backfill
    /// checkpoints, backups, copy checkpoints): left out of what drift and verify compare.
    pub(crate) fn own_tables(&self) -> [String; 4] {
        [
            self.name.clone(),
            self.beside(BACKFILLS).name,
            self.beside(BACKUPS).name,
            self.beside(COPIES).name,
        ]
    }

    /// The table of godwit's beside this one: `<history><suffix>`, in its schema.
    pub(crate) fn beside(&self, suffix: &str) -> HistoryTable {
        HistoryTable {
            schema: self.schema.clone(),
            name: format!("{}{suffix}", self.name),
        }
    }

    /// A display name: `schema.name` or `name`.
    pub fn display(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub id: String,
    pub checksum: String,
    /// Stopped midway, or `unconfirmed`.
    pub partial: bool,
    /// In a deferred MySQL run, going this way: any number of its ops may be applied, as the
    /// live schema tells.
    pub unconfirmed: Option<Direction>,
    pub ops_done: usize,
    pub ops_total: usize,
    pub statements_done: usize,
    /// `YYYY-MM-DD HH:MM:SS`, UTC.
    pub applied_at: String,
    pub execution_ms: i64,
    pub seq: i64,
    pub parents: Vec<String>,
    pub location: String,
    pub down_sql: String,
}

/// What a new row records.
pub(crate) struct NewRow<'a> {
    pub id: &'a str,
    pub checksum: &'a str,
    pub partial: bool,
    pub ops_done: usize,
    pub ops_total: usize,
    pub execution_ms: i64,
    pub seq: i64,
    pub parents: &'a [String],
    pub location: &'a str,
    /// The reverse SQL, encoded ([`StoredDown::encode`]).
    pub down_sql: &'a str,
}

fn now(dialect: Dialect) -> &'static str {
    match dialect {
        // The time of the write: `now()` is the transaction's start, which migrations that
        // share a commit share.
        Dialect::Postgres => "clock_timestamp()",
        Dialect::Mysql => "CURRENT_TIMESTAMP(6)",
        Dialect::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
    }
}

pub(crate) async fn exists(conn: &mut Connection, table: &HistoryTable) -> Result<bool, DbError> {
    let name = crate::render::quote_literal(conn.dialect(), &table.name);
    let sql = match (conn.dialect(), &table.schema) {
        (Dialect::Sqlite, schema) => format!(
            "SELECT 1 FROM {}.sqlite_schema WHERE type = 'table' AND name = {name}",
            quote_identifier(Dialect::Sqlite, schema.as_deref().unwrap_or("main"))
        ),
        (dialect, schema) => {
            let current = if dialect == Dialect::Postgres {
                "current_schema()"
            } else {
                "DATABASE()"
            };
            let schema = schema
                .as_deref()
                .map(|s| crate::render::quote_literal(dialect, s))
                .unwrap_or_else(|| current.to_owned());
            format!(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = {schema} \
                 AND table_name = {name}"
            )
        }
    };
    Ok(!conn.fetch_text(&sql).await?.is_empty())
}

/// Creates the table (and its PostgreSQL schema or MySQL database) if missing.
pub(crate) async fn create(conn: &mut Connection, table: &HistoryTable) -> Result<(), DbError> {
    let dialect = conn.dialect();
    if let Some(schema) = &table.schema {
        match dialect {
            Dialect::Postgres => {
                conn.execute(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {}",
                    quote_identifier(dialect, schema)
                ))
                .await?
            }
            Dialect::Mysql => {
                conn.execute(&format!(
                    "CREATE DATABASE IF NOT EXISTS {}",
                    quote_identifier(dialect, schema)
                ))
                .await?
            }
            // An attached database must exist already.
            Dialect::Sqlite => {}
        }
    }
    let (text, id, timestamp, tail) = match dialect {
        Dialect::Postgres => (
            "TEXT",
            "VARCHAR(128)",
            "TIMESTAMPTZ NOT NULL DEFAULT now()",
            "",
        ),
        Dialect::Mysql => (
            "LONGTEXT",
            "VARCHAR(128)",
            "DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)",
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ),
        Dialect::Sqlite => (
            "TEXT",
            "TEXT",
            "TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))",
            // One b-tree keyed by id: a history write touches one page, not a table page and
            // an index page.
            " WITHOUT ROWID",
        ),
    };
    conn.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (\
         id {id} NOT NULL PRIMARY KEY, \
         checksum VARCHAR(64) NOT NULL, \
         state VARCHAR(16) NOT NULL, \
         ops_done BIGINT NOT NULL, \
         ops_total BIGINT NOT NULL, \
         statements_done BIGINT NOT NULL DEFAULT 0, \
         applied_at {timestamp}, \
         execution_ms BIGINT NOT NULL, \
         seq BIGINT NOT NULL, \
         parents {text} NOT NULL, \
         location {text} NOT NULL, \
         down_sql {text} NOT NULL){tail}",
        table = table.sql(dialect)
    ))
    .await
}

/// Every row, in the order applied.
pub(crate) async fn read(conn: &mut Connection, table: &HistoryTable) -> Result<Vec<Row>, String> {
    let dialect = conn.dialect();
    let applied_at = match dialect {
        Dialect::Postgres => "to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
        Dialect::Mysql => "DATE_FORMAT(applied_at, '%Y-%m-%d %H:%i:%s')",
        Dialect::Sqlite => "substr(applied_at, 1, 19)",
    };
    let rows = conn
        .fetch_text(&format!(
            "SELECT id, checksum, state, ops_done, ops_total, statements_done, {applied_at}, \
             execution_ms, seq, parents, location, down_sql FROM {} ORDER BY seq, id",
            table.sql(dialect)
        ))
        .await
        .map_err(|e| e.to_string())?;
    rows.into_iter()
        .map(|row| {
            let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
            let int = |i: usize| {
                text(i).parse::<i64>().map_err(|_| {
                    format!(
                        "history row `{}` has a non-numeric value `{}` in column {}",
                        text(0),
                        text(i),
                        i + 1
                    )
                })
            };
            let count = |i: usize| int(i).map(|v| usize::try_from(v).unwrap_or(0));
            let state = text(2);
            if !["applied", "partial", "unconfirmed"].contains(&state.as_str()) {
                return Err(format!(
                    "history row `{}` has state `{state}`; expected `applied`, `partial` or \
                     `unconfirmed`",
                    text(0)
                ));
            }
            let ops_done = count(3)?;
            Ok(Row {
                id: text(0),
                checksum: text(1),
                partial: state != "applied",
                unconfirmed: (state == "unconfirmed").then_some(if ops_done == 0 {
                    Direction::Up
                } else {
                    Direction::Down
                }),
                ops_done,
                ops_total: count(4)?,
                statements_done: count(5)?,
                applied_at: text(6),
                execution_ms: int(7)?,
                seq: int(8)?,
                parents: text(9)
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect(),
                location: text(10),
                down_sql: text(11),
            })
        })
        .collect()
}

// The writes below are SQL text with literal values rather than bound statements, so that the
// runner can send them together with a unit's other statements, in one round trip.

/// A text value as a literal that reads back byte for byte whatever the session's settings:
/// MySQL reads backslashes by its `sql_mode`, which a migration may change, and SQLite stops
/// reading SQL at a NUL. Such text goes in hex.
pub(crate) fn literal(dialect: Dialect, value: &str) -> String {
    use std::fmt::Write as _;
    let hex = || {
        value
            .bytes()
            .fold(String::with_capacity(value.len() * 2), |mut hex, byte| {
                let _ = write!(hex, "{byte:02X}");
                hex
            })
    };
    match dialect {
        Dialect::Mysql if value.contains(['\\', '\0']) => format!("_utf8mb4 X'{}'", hex()),
        // Quotes doubled, no backslash: the same text in every `sql_mode`.
        Dialect::Mysql => format!("'{}'", value.replace('\'', "''")),
        Dialect::Sqlite if value.contains('\0') => format!("CAST(X'{}' AS TEXT)", hex()),
        _ => crate::render::quote_literal(dialect, value),
    }
}

/// Records a migration: started (`partial`) or applied.
pub(crate) fn insert(dialect: Dialect, table: &HistoryTable, row: &NewRow<'_>) -> String {
    insert_as(dialect, table, row, state(row.partial))
}

/// Records a migration that a deferred run is about to apply ([`super::deferred`]).
pub(crate) fn insert_unconfirmed(
    dialect: Dialect,
    table: &HistoryTable,
    row: &NewRow<'_>,
) -> String {
    insert_as(dialect, table, row, "unconfirmed")
}

fn insert_as(dialect: Dialect, table: &HistoryTable, row: &NewRow<'_>, state: &str) -> String {
    format!(
        "INSERT INTO {} (id, checksum, state, ops_done, ops_total, statements_done, applied_at, \
         execution_ms, seq, parents, location, down_sql) \
         VALUES ({}, {}, '{state}', {}, {}, 0, {}, {}, {}, {}, {}, {})",
        table.sql(dialect),
        literal(dialect, row.id),
        literal(dialect, row.checksum),
        row.ops_done,
        row.ops_total,
        now(dialect),
        row.execution_ms,
        row.seq,
        literal(dialect, &row.parents.join(",")),
        literal(dialect, row.location),
        literal(dialect, row.down_sql),
    )
}

/// Records progress: `ops_done` ops complete, plus `statements_done` statements of the next.
pub(crate) fn progress(
    dialect: Dialect,
    table: &HistoryTable,
    id: &str,
    ops_done: usize,
    statements_done: usize,
) -> String {
    format!(
        "UPDATE {} SET state = 'partial', ops_done = {ops_done}, statements_done = \
         {statements_done} WHERE id = {}",
        table.sql(dialect),
        literal(dialect, id)
    )
}

/// Marks a started migration applied in full.
pub(crate) fn complete(dialect: Dialect, table: &HistoryTable, row: &NewRow<'_>) -> String {
    format!(
        "UPDATE {} SET checksum = {}, state = 'applied', ops_done = {ops}, ops_total = {ops}, \
         statements_done = 0, applied_at = {}, execution_ms = {}, parents = {}, location = {}, \
         down_sql = {} WHERE id = {}",
        table.sql(dialect),
        literal(dialect, row.checksum),
        now(dialect),
        row.execution_ms,
        literal(dialect, &row.parents.join(",")),
        literal(dialect, row.location),
        literal(dialect, row.down_sql),
        literal(dialect, row.id),
        ops = row.ops_total,
    )
}

/// Marks an applied migration that a deferred run is about to revert ([`super::deferred`]);
/// its `ops_done`, all of them, tells the next run which way the run went.
pub(crate) fn unconfirm(dialect: Dialect, table: &HistoryTable, id: &str) -> String {
    format!(
        "UPDATE {} SET state = 'unconfirmed', statements_done = 0 WHERE id = {}",
        table.sql(dialect),
        literal(dialect, id)
    )
}

/// Records where the live schema shows a migration stands: `ops_done` of `ops_total` applied.
pub(crate) fn settle(
    dialect: Dialect,
    table: &HistoryTable,
    id: &str,
    ops_done: usize,
    ops_total: usize,
) -> String {
    if ops_done == 0 {
        return delete(dialect, table, id);
    }
    format!(
        "UPDATE {} SET state = '{}', ops_done = {ops_done}, statements_done = 0 WHERE id = {}",
        table.sql(dialect),
        state(ops_done < ops_total),
        literal(dialect, id)
    )
}

/// Re-records the checksum (and the reverse SQL) of an applied migration.
pub(crate) fn rechecksum(
    dialect: Dialect,
    table: &HistoryTable,
    id: &str,
    checksum: &str,
    down: &StoredDown,
) -> String {
    format!(
        "UPDATE {} SET checksum = {}, down_sql = {} WHERE id = {}",
        table.sql(dialect),
        literal(dialect, checksum),
        literal(dialect, &down.encode()),
        literal(dialect, id)
    )
}

pub(crate) fn delete(dialect: Dialect, table: &HistoryTable, id: &str) -> String {
    format!(
        "DELETE FROM {} WHERE id = {}",
        table.sql(dialect),
        literal(dialect, id)
    )
}

fn state(partial: bool) -> &'static str {
    if partial { "partial" } else { "applied" }
}
