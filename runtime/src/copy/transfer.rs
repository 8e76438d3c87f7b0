//! Moving one batch: reading it from the source in key order, and writing it to the target
//! the fastest way each has (PostgreSQL `COPY … FROM STDIN`, multi-row `INSERT` with bound
//! parameters on MySQL and SQLite), one row at a time behind savepoints when a batch is refused.

use sqlx::AssertSqlSafe;

use super::value::{Bound, Canon, Decode, Raw, canonical, copy_text};
use crate::db::{Connection, DbError};
use crate::op::{ColumnType, Dialect};
use crate::render::{quote_identifier, quote_literal};

/// A column as both sides see it.
#[derive(Debug, Clone)]
pub(crate) struct CopyColumn {
    pub name: String,
    pub source_type: ColumnType,
    pub target_type: ColumnType,
}

/// One table's copy, planned.
#[derive(Debug, Clone)]
pub(crate) struct TablePlan {
    pub name: String,
    pub columns: Vec<CopyColumn>,
    /// Indexes into `columns` of the key the batches page by.
    pub key: Vec<usize>,
    /// Columns whose values the database generates, whose counter is reset after the copy.
    pub counters: Vec<String>,
}

/// A row read: its canonical values, and those that had none (which go to the reject file).
pub(crate) struct ReadRow {
    pub values: Vec<Option<Canon>>,
    pub unreadable: Option<String>,
}

impl TablePlan {
    /// The key of `row`, as text.
    pub(crate) fn key_of(&self, row: &[Option<Canon>]) -> Vec<String> {
        self.key
            .iter()
            .map(|&i| match &row[i] {
                Some(Canon::Text(text)) => text.clone(),
                // The plan allows only keys read as text; NOT NULL.
                Some(Canon::Bytes(_)) | None => String::new(),
            })
            .collect()
    }

    /// `SELECT` of the batch after `after` (from the start: `None`), at most `limit` rows, with
    /// every column read as `dialect` reads it for its type on side `side`; with the key values
    /// to bind to it (PostgreSQL has them as literals in the text).
    pub(crate) fn select_sql(
        &self,
        dialect: Dialect,
        side: Side,
        after: Option<&[String]>,
        limit: u32,
    ) -> (String, Vec<KeyValue>) {
        let exprs: Vec<String> = self
            .columns
            .iter()
            .map(|c| super::value::read_expr(dialect, &c.name, side.type_of(c)))
            .collect();
        let table = quote_identifier(dialect, &self.name);
        // Qualified: PostgreSQL's ORDER BY takes a bare name for the output column of that
        // name, which is the key read as text.
        let key: Vec<String> = self
            .key
            .iter()
            .map(|&i| {
                format!(
                    "{table}.{}",
                    quote_identifier(dialect, &self.columns[i].name)
                )
            })
            .collect();
        let mut sql = format!("SELECT {} FROM {table}", exprs.join(", "));
        let mut binds = Vec::new();
        if let Some(after) = after {
            let values: Vec<String> = self
                .key
                .iter()
                .zip(after)
                .map(|(&i, v)| {
                    let ty = side.type_of(&self.columns[i]);
                    match dialect {
                        Dialect::Postgres => key_literal(dialect, ty, v),
                        _ => {
                            binds.push(key_value(ty, v));
                            "?".to_owned()
                        }
                    }
                })
                .collect();
            let (left, right) = match key.len() {
                1 => (key[0].clone(), values[0].clone()),
                _ => (
                    format!("({})", key.join(", ")),
                    format!("({})", values.join(", ")),
                ),
            };
            sql.push_str(&format!(" WHERE {left} > {right}"));
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", key.join(", ")));
        (sql, binds)
    }

    fn decodes(&self, side: Side) -> Vec<Decode> {
        self.columns
            .iter()
            .map(|c| super::value::decode_of(side.type_of(c)))
            .collect()
    }
}

/// Which side's column types apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Source,
    Target,
}

impl Side {
    fn type_of(self, c: &CopyColumn) -> &ColumnType {
        match self {
            Side::Source => &c.source_type,
            Side::Target => &c.target_type,
        }
    }
}

/// A key value as a PostgreSQL literal: integers bare, the rest quoted.
fn key_literal(dialect: Dialect, ty: &ColumnType, value: &str) -> String {
    match key_value(ty, value) {
        KeyValue::Int(n) => n.to_string(),
        KeyValue::Text(text) => quote_literal(dialect, &text),
    }
}

/// A key value bound to a batch's query: integers as integers, so that MySQL compares them
/// exactly (a string it would compare as a double).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyValue {
    Int(i64),
    Text(String),
}

fn key_value(ty: &ColumnType, value: &str) -> KeyValue {
    match (ty.is_integer(), value.parse::<i64>()) {
        (true, Ok(n)) => KeyValue::Int(n),
        _ => KeyValue::Text(value.to_owned()),
    }
}

/// Reads the batch after `after` from `conn`, side `side`.
pub(crate) async fn read_batch(
    conn: &mut Connection,
    plan: &TablePlan,
    side: Side,
    after: Option<&[String]>,
    limit: u32,
) -> Result<Vec<ReadRow>, DbError> {
    let (sql, binds) = plan.select_sql(conn.dialect(), side, after, limit);
    let decodes = plan.decodes(side);
    let raw = fetch_raw(conn, &sql, &binds, &decodes).await?;
    Ok(raw
        .into_iter()
        .map(|row| {
            let mut unreadable = None;
            let values = row
                .into_iter()
                .zip(&plan.columns)
                .map(|(value, column)| {
                    let value = value?;
                    match canonical(side.type_of(column), value) {
                        Ok(canon) => Some(canon),
                        Err(reason) => {
                            unreadable.get_or_insert(format!("column `{}`: {reason}", column.name));
                            None
                        }
                    }
                })
                .collect();
            ReadRow { values, unreadable }
        })
        .collect())
}

/// PostgreSQL's text protocol prints floats exactly; MySQL's does not (MariaDB cuts them to
/// 6 and 15 digits), so MySQL reads through a prepared statement, whose binary protocol sends
/// them as they are. SQLite has one protocol; its statement is prepared once and cached.
async fn fetch_raw(
    conn: &mut Connection,
    sql: &str,
    binds: &[KeyValue],
    decodes: &[Decode],
) -> Result<Vec<Vec<Option<Raw>>>, DbError> {
    let statement = |source| DbError::Statement {
        sql: sql.to_owned(),
        source,
    };
    macro_rules! decoded {
        ($rows:expr) => {{
            let rows = $rows.map_err(statement)?;
            rows.iter()
                .map(|row| decode_row(row, decodes))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(statement)
        }};
    }
    macro_rules! prepared {
        ($c:expr) => {{
            let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
            for value in binds {
                query = match value {
                    KeyValue::Int(n) => query.bind(*n),
                    KeyValue::Text(text) => query.bind(text.as_str()),
                };
            }
            decoded!(query.fetch_all($c).await)
        }};
    }
    match conn {
        #[cfg(feature = "postgres")]
        Connection::Postgres(c) => {
            decoded!(
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .fetch_all(c)
                    .await
            )
        }
        #[cfg(feature = "mysql")]
        Connection::Mysql(c) => prepared!(c),
        #[cfg(feature = "sqlite")]
        Connection::Sqlite(c) => prepared!(c),
    }
}

fn decode_row<R: sqlx::Row>(row: &R, decodes: &[Decode]) -> Result<Vec<Option<Raw>>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f32>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    decodes
        .iter()
        .enumerate()
        .map(|(i, decode)| {
            Ok(match decode {
                Decode::Text => row.try_get::<Option<String>, _>(i)?.map(Raw::Text),
                Decode::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Raw::Bytes),
                // SQLite keeps every float as a double.
                Decode::F32 => match row.try_get::<Option<f32>, _>(i) {
                    Ok(value) => value.map(Raw::F32),
                    Err(_) => row
                        .try_get::<Option<f64>, _>(i)?
                        .map(|f| Raw::F32(f as f32)),
                },
                Decode::F64 => row.try_get::<Option<f64>, _>(i)?.map(Raw::F64),
            })
        })
        .collect()
}

/// The rows of a batch as the target takes them.
pub(crate) type BoundRow = Vec<Option<Bound>>;

/// The most parameters one statement may bind: MySQL's 65,535, SQLite's 32,766.
fn max_parameters(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Mysql => 65_535,
        _ => 32_766,
    }
}

/// Writes `rows` to table `plan` on `conn`, inside the caller's transaction.
pub(crate) async fn write_rows(
    conn: &mut Connection,
    plan: &TablePlan,
    rows: &[BoundRow],
) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let dialect = conn.dialect();
    let table = quote_identifier(dialect, &plan.name);
    let columns: Vec<String> = plan
        .columns
        .iter()
        .map(|c| quote_identifier(dialect, &c.name))
        .collect();
    let columns = columns.join(", ");
    let per_statement = (max_parameters(dialect) / plan.columns.len().max(1)).max(1);
    let placeholders = format!("({})", vec!["?"; plan.columns.len()].join(", "));
    let insert_sql = |rows: usize| {
        format!(
            "INSERT INTO {table} ({columns}) VALUES {}",
            vec![placeholders.as_str(); rows].join(", ")
        )
    };
    // Every chunk but the last has the same text, so its prepared statement is reused.
    macro_rules! insert_chunks {
        ($c:expr) => {{
            for chunk in rows.chunks(per_statement) {
                let sql = insert_sql(chunk.len());
                let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
                for value in chunk.iter().flatten() {
                    query = match value {
                        None => query.bind(None::<String>),
                        Some(Bound::Text(text)) => query.bind(text.as_str()),
                        Some(Bound::Bytes(bytes)) => query.bind(bytes.as_slice()),
                        Some(Bound::Int(n)) => query.bind(*n),
                    };
                }
                query
                    .execute(&mut *$c)
                    .await
                    .map_err(|source| DbError::Statement {
                        sql: sql.chars().take(200).collect(),
                        source,
                    })?;
            }
            Ok(())
        }};
    }
    match conn {
        #[cfg(feature = "postgres")]
        Connection::Postgres(c) => copy_in(c, &table, &columns, rows).await,
        #[cfg(feature = "mysql")]
        Connection::Mysql(c) => insert_chunks!(c),
        #[cfg(feature = "sqlite")]
        Connection::Sqlite(c) => insert_chunks!(c),
    }
}

/// `rows` through `COPY … FROM STDIN` in the text format.
#[cfg(feature = "postgres")]
async fn copy_in(
    c: &mut sqlx::PgConnection,
    table: &str,
    columns: &str,
    rows: &[BoundRow],
) -> Result<(), DbError> {
    let sql = format!("COPY {table} ({columns}) FROM STDIN");
    let mut data = Vec::with_capacity(rows.len() * 64);
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                data.push(b'\t');
            }
            copy_text(value.as_ref(), &mut data);
        }
        data.push(b'\n');
    }
    let statement = |source| DbError::Statement {
        sql: sql.clone(),
        source,
    };
    let mut copy_in = c.copy_in_raw(&sql).await.map_err(statement)?;
    if let Err(e) = copy_in.send(data).await {
        let _ = copy_in.abort("the copy's data could not be sent").await;
        return Err(statement(e));
    }
    copy_in.finish().await.map_err(statement)?;
    Ok(())
}
