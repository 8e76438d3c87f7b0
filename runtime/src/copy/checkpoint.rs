//! The copy's checkpoint table in the target, beside its history (`<history>_copies`): a row
//! per table, updated in the transaction of each batch it records, so that a copy killed at any
//! point resumes after the last batch that committed, with neither a gap nor a duplicate.
//!
//! | column | meaning |
//! |---|---|
//! | `table_name` | the table copied (the primary key) |
//! | `state` | `running`, or `done` once its rows are verified |
//! | `last_key` | the key of the last row of the last batch committed (`NULL`: none yet), as the backfills' checkpoints store keys |
//! | `rows_copied`, `rows_rejected` | rows written, and rows the target refused (in the reject file) |
//! | `checksum` | the sum of the hashes of the source rows written (16 hex digits) |
//! | `source` | the database the rows come from (its URL without the password): a copy from another one does not resume this one |

use crate::db::{Connection, DbError};
use crate::op::Dialect;
use crate::runner::HistoryTable;
use crate::runner::backfill::checkpoint::{decode_key, encode_key};
use crate::runner::history::literal;

/// The checkpoint table of a history table.
pub(crate) fn table(history: &HistoryTable) -> HistoryTable {
    history.beside(crate::runner::history::COPIES)
}

/// Where the copy of one table stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    pub done: bool,
    pub last_key: Option<Vec<String>>,
    pub rows_copied: u64,
    pub rows_rejected: u64,
    pub checksum: u64,
    pub source: String,
}

pub(crate) async fn create(conn: &mut Connection, table: &HistoryTable) -> Result<(), DbError> {
    let dialect = conn.dialect();
    let (text, tail) = match dialect {
        Dialect::Mysql => (
            "LONGTEXT",
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        ),
        _ => ("TEXT", ""),
    };
    conn.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {} (\
         table_name VARCHAR(255) NOT NULL PRIMARY KEY, \
         state VARCHAR(8) NOT NULL, \
         last_key {text}, \
         rows_copied BIGINT NOT NULL, \
         rows_rejected BIGINT NOT NULL, \
         checksum VARCHAR(16) NOT NULL, \
         source {text} NOT NULL){tail}",
        table.sql(dialect)
    ))
    .await
}

/// Every table's row, by name.
pub(crate) async fn read(
    conn: &mut Connection,
    table: &HistoryTable,
) -> Result<std::collections::BTreeMap<String, Progress>, String> {
    let dialect = conn.dialect();
    let number = |c: &str| match dialect {
        Dialect::Mysql => format!("CAST({c} AS CHAR)"),
        _ => format!("CAST({c} AS TEXT)"),
    };
    let rows = conn
        .fetch_text(&format!(
            "SELECT table_name, state, last_key, {}, {}, checksum, source FROM {}",
            number("rows_copied"),
            number("rows_rejected"),
            table.sql(dialect)
        ))
        .await
        .map_err(|e| e.to_string())?;
    let mut found = std::collections::BTreeMap::new();
    for row in rows {
        let text = |i: usize| row.get(i).cloned().flatten();
        let name = text(0).unwrap_or_default();
        let damaged = |what: &str| {
            format!(
                "the copy checkpoint of `{name}` has a damaged {what}; delete its row from {} \
                 and empty the table to copy it afresh",
                table.display()
            )
        };
        let count = |i: usize, what: &str| -> Result<u64, String> {
            text(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| damaged(what))
        };
        let last_key = match text(2) {
            Some(key) => Some(decode_key(&key).ok_or_else(|| damaged("key"))?),
            None => None,
        };
        let progress = Progress {
            done: text(1).as_deref() == Some("done"),
            last_key,
            rows_copied: count(3, "row count")?,
            rows_rejected: count(4, "reject count")?,
            checksum: text(5)
                .and_then(|v| u64::from_str_radix(&v, 16).ok())
                .ok_or_else(|| damaged("checksum"))?,
            source: text(6).unwrap_or_default(),
        };
        found.insert(name, progress);
    }
    Ok(found)
}

fn key_literal(dialect: Dialect, key: &Option<Vec<String>>) -> String {
    key.as_ref()
        .map_or("NULL".to_owned(), |k| literal(dialect, &encode_key(k)))
}

fn state(progress: &Progress) -> &'static str {
    if progress.done { "done" } else { "running" }
}

/// The row of a table whose copy from `source` starts.
pub(crate) fn insert(dialect: Dialect, table: &HistoryTable, name: &str, source: &str) -> String {
    format!(
        "INSERT INTO {} (table_name, state, last_key, rows_copied, rows_rejected, checksum, source) \
         VALUES ({}, 'running', NULL, 0, 0, '{:016x}', {})",
        table.sql(dialect),
        literal(dialect, name),
        0,
        literal(dialect, source)
    )
}

/// Moves a table's row from `before` to `after`; it changes no row unless the row still says
/// `before` (another copy into the same table moved it meanwhile).
pub(crate) fn advance(
    dialect: Dialect,
    table: &HistoryTable,
    name: &str,
    before: &Progress,
    after: &Progress,
) -> String {
    format!(
        "UPDATE {} SET state = '{}', last_key = {}, rows_copied = {}, rows_rejected = {}, \
         checksum = '{:016x}' WHERE table_name = {} AND rows_copied = {} AND rows_rejected = {}",
        table.sql(dialect),
        state(after),
        key_literal(dialect, &after.last_key),
        after.rows_copied,
        after.rows_rejected,
        after.checksum,
        literal(dialect, name),
        before.rows_copied,
        before.rows_rejected,
    )
}
