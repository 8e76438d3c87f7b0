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

/// A row read: its canonical values, their hash, and why a value had no canonical form (such
/// a row goes to the reject file).
pub(crate) struct ReadRow {
    pub values: Vec<Option<Canon>>,
    /// The key as the database reads it, not in its canonical form: what the next batch
    /// pages after (a key stored `B0…` or `2024-01-02T03:00` compares as stored).
    pub key: Vec<String>,
    pub hash: u64,
    pub unreadable: Option<String>,
}

impl TablePlan {
    /// The key of a raw row, as text.
    fn key_of(&self, row: &[Option<Raw>]) -> Vec<String> {
        self.key
            .iter()
            .map(|&i| match &row[i] {
                Some(Raw::Text(text)) => text.clone(),
                Some(Raw::Int(n)) => n.to_string(),
                // The plan allows only keys read as text or integers; NOT NULL.
                _ => String::new(),
            })
            .collect()
    }

    /// `SELECT` of the batch after key `after` (from the start: `None`) up to key `through`
    /// (to the end: `None`), at most `limit` rows, with every column read as `dialect` reads
    /// it for its type on side `side`; with the key values to bind to it (PostgreSQL has them
    /// as literals in the text).
    pub(crate) fn select_sql(
        &self,
        dialect: Dialect,
        side: Side,
        after: Option<&[String]>,
        through: Option<&[String]>,
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
        let mut conditions = Vec::new();
        for (bound, operator) in [(after, ">"), (through, "<=")] {
            let Some(bound) = bound else {
                continue;
            };
            let values: Vec<String> = self
                .key
                .iter()
                .zip(bound)
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
            conditions.push(match key.len() {
                1 => format!("{} {operator} {}", key[0], values[0]),
                _ => format!("({}) {operator} ({})", key.join(", "), values.join(", ")),
            });
        }
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", key.join(", ")));
        (sql, binds)
    }

    fn decodes(&self, dialect: Dialect, side: Side) -> Vec<Decode> {
        self.columns
            .iter()
            .map(|c| super::value::decode_of(dialect, side.type_of(c)))
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

/// Reads the batch after key `after`, up to key `through`, from `conn`, side `side`.
pub(crate) async fn read_batch(
    conn: &mut Connection,
    plan: &TablePlan,
    side: Side,
    after: Option<&[String]>,
    through: Option<&[String]>,
    limit: u32,
) -> Result<Vec<ReadRow>, DbError> {
    let (sql, binds) = plan.select_sql(conn.dialect(), side, after, through, limit);
    let decodes = plan.decodes(conn.dialect(), side);
    let raw = fetch_raw(conn, &sql, &binds, &decodes).await?;
    Ok(canonical_rows(raw, plan, side))
}

/// Raw rows in their canonical form, each with its hash.
fn canonical_rows(raw: Vec<Vec<Option<Raw>>>, plan: &TablePlan, side: Side) -> Vec<ReadRow> {
    raw.into_iter()
        .map(|row| {
            let key = plan.key_of(&row);
            let mut unreadable = None;
            let values: Vec<Option<Canon>> = row
                .into_iter()
                .zip(&plan.columns)
                .map(
                    |(value, column)| match canonical(side.type_of(column), value?) {
                        Ok(canon) => Some(canon),
                        Err(reason) => {
                            unreadable.get_or_insert(format!("column `{}`: {reason}", column.name));
                            None
                        }
                    },
                )
                .collect();
            let hash = super::value::row_hash(&values);
            ReadRow {
                values,
                key,
                hash,
                unreadable,
            }
        })
        .collect()
}

/// PostgreSQL streams the batch with `COPY (…) TO STDOUT`, parsed here, which costs far less
/// than a row object per row; its text prints floats exactly. MySQL's text protocol does not
/// (MariaDB cuts them to 6 and 15 digits), so MySQL reads through a prepared statement, whose
/// binary protocol sends them as they are. SQLite has one protocol; its statement is prepared
/// once and cached.
async fn fetch_raw(
    conn: &mut Connection,
    sql: &str,
    binds: &[KeyValue],
    decodes: &[Decode],
) -> Result<Vec<Vec<Option<Raw>>>, DbError> {
    // Only MySQL and SQLite bind the keys.
    #[cfg(not(any(feature = "mysql", feature = "sqlite")))]
    let _ = binds;
    let statement = |source| DbError::Statement {
        sql: sql.to_owned(),
        source,
    };
    #[allow(unused_macros)]
    macro_rules! decoded {
        ($rows:expr) => {{
            let rows = $rows.map_err(statement)?;
            rows.iter()
                .map(|row| decode_row(row, decodes))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(statement)
        }};
    }
    #[allow(unused_macros)]
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
        Connection::Postgres(c) => copy_out(c, sql, decodes).await.map_err(statement),
        #[cfg(feature = "mysql")]
        Connection::Mysql(c) => prepared!(c),
        #[cfg(feature = "sqlite")]
        Connection::Sqlite(c) => {
            let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
            for value in binds {
                query = match value {
                    KeyValue::Int(n) => query.bind(*n),
                    KeyValue::Text(text) => query.bind(text.as_str()),
                };
            }
            let rows = query.fetch_all(c).await.map_err(statement)?;
            rows.iter()
                .map(|row| decode_sqlite_row(row, decodes))
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(statement)
        }
    }
}

/// A SQLite row: as [`decode_row`], but a float column's value is read as the class SQLite
/// stored it in, so that text there is read as text (and refused unless it is a number)
/// rather than as 0.
#[cfg(feature = "sqlite")]
fn decode_sqlite_row(
    row: &sqlx::sqlite::SqliteRow,
    decodes: &[Decode],
) -> Result<Vec<Option<Raw>>, sqlx::Error> {
    use sqlx::{Row, TypeInfo, ValueRef};
    let mut plain = decodes.to_vec();
    let mut blobs = Vec::new();
    let mut invalid = Vec::new();
    for (i, decode) in decodes.iter().enumerate() {
        // SQLite keeps any bytes as text: what is not UTF-8 is refused, the row rejected.
        if *decode == Decode::Text
            && let Some(bytes) = row.try_get_unchecked::<Option<Vec<u8>>, _>(i)?
            && let Err(e) = std::str::from_utf8(&bytes)
        {
            plain[i] = Decode::Bytes;
            invalid.push((i, format!("text that is not UTF-8 ({e})")));
            continue;
        }
        if matches!(decode, Decode::F32 | Decode::F64) {
            match row.try_get_raw(i)?.type_info().name() {
                "TEXT" => plain[i] = Decode::Text,
                "BLOB" => {
                    plain[i] = Decode::Bytes;
                    blobs.push(i);
                }
                _ => {}
            }
        }
    }
    let mut values = decode_row(row, &plain)?;
    for (i, reason) in invalid {
        values[i] = Some(Raw::Invalid(reason));
    }
    // A blob where a float belongs: its bytes as text, for the refusal to show.
    for i in blobs {
        if let Some(Raw::Bytes(bytes)) = values[i].take() {
            values[i] = Some(Raw::Text(String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(values)
}

/// The rows of `select` through `COPY (select) TO STDOUT`, in the text format.
#[cfg(feature = "postgres")]
async fn copy_out(
    c: &mut sqlx::PgConnection,
    select: &str,
    decodes: &[Decode],
) -> Result<Vec<Vec<Option<Raw>>>, sqlx::Error> {
    use futures_util::StreamExt as _;
    let mut stream = c
        .copy_out_raw(&format!("COPY ({select}) TO STDOUT"))
        .await?;
    let mut data = Vec::new();
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk?);
    }
    drop(stream);
    parse_copy_text(&data, decodes).map_err(|reason| sqlx::Error::Decode(reason.into()))
}

/// Rows in `COPY`'s text format: a line each, fields between tabs, `\N` for NULL, backslash
/// escapes.
fn parse_copy_text(data: &[u8], decodes: &[Decode]) -> Result<Vec<Vec<Option<Raw>>>, String> {
    let Some(data) = data.strip_suffix(b"\n") else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let mut row = Vec::with_capacity(decodes.len());
        for (field, decode) in line.split(|&b| b == b'\t').zip(decodes) {
            if field == b"\\N" {
                row.push(None);
                continue;
            }
            let text = unescape_copy(field)?;
            let bad = |what: &str| format!("COPY sent `{text}` where {what} belongs");
            row.push(Some(match decode {
                Decode::Text => Raw::Text(text),
                Decode::Int => Raw::Int(text.parse().map_err(|_| bad("an integer"))?),
                Decode::F32 => Raw::F32(text.parse().map_err(|_| bad("a float"))?),
                Decode::F64 => Raw::F64(text.parse().map_err(|_| bad("a float"))?),
                Decode::Bytes => Raw::Bytes(
                    text.strip_prefix("\\x")
                        .and_then(hex_bytes)
                        .ok_or_else(|| bad("bytea's hex"))?,
                ),
            }));
        }
        if row.len() != decodes.len() {
            return Err(format!(
                "COPY sent a row of {} fields for {} columns",
                row.len(),
                decodes.len()
            ));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A `COPY` text field without its backslash escapes.
fn unescape_copy(field: &[u8]) -> Result<String, String> {
    let invalid = |_| "COPY sent text that is not UTF-8".to_owned();
    if !field.contains(&b'\\') {
        return String::from_utf8(field.to_vec()).map_err(invalid);
    }
    let mut out = Vec::with_capacity(field.len());
    let mut bytes = field.iter().copied();
    while let Some(byte) = bytes.next() {
        if byte != b'\\' {
            out.push(byte);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'b') => 8,
            Some(b'f') => 12,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'v') => 11,
            Some(other) => other,
            None => b'\\',
        });
    }
    String::from_utf8(out).map_err(invalid)
}

fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [high, low] => Some(digit(*high)? << 4 | digit(*low)?),
            _ => None,
        })
        .collect()
}

fn decode_row<R: sqlx::Row>(row: &R, decodes: &[Decode]) -> Result<Vec<Option<Raw>>, sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
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
                Decode::Int => row.try_get::<Option<i64>, _>(i)?.map(Raw::Int),
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

/// The most bytes of values one statement carries: MariaDB's smallest `max_allowed_packet`
/// default is 16 MiB, and a packet larger than it closes the connection.
fn max_statement_bytes(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Mysql => 4 << 20,
        _ => usize::MAX,
    }
}

/// `rows` cut into runs of at most `per_statement` rows and about `bytes` bytes of values
/// (a row larger than that alone).
fn chunks(rows: &[BoundRow], per_statement: usize, bytes: usize) -> Vec<&[BoundRow]> {
    let size = |row: &BoundRow| -> usize {
        row.iter()
            .map(|v| match v {
                None | Some(Bound::Int(_)) => 8,
                Some(Bound::Text(text)) => text.len(),
                Some(Bound::Bytes(b)) => b.len(),
            })
            .sum()
    };
    let mut out = Vec::new();
    let (mut start, mut held) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let row_size = size(row);
        if i > start && (i - start == per_statement || held + row_size > bytes) {
            out.push(&rows[start..i]);
            (start, held) = (i, 0);
        }
        held += row_size;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
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
    // Every chunk but the last has the same text, so its prepared statement is reused.
    #[allow(unused_macros)]
    macro_rules! insert_chunks {
        ($c:expr) => {{
            let per_statement = (max_parameters(dialect) / plan.columns.len().max(1)).max(1);
            let placeholders = format!("({})", vec!["?"; plan.columns.len()].join(", "));
            let insert_sql = |rows: usize| {
                format!(
                    "INSERT INTO {table} ({columns}) VALUES {}",
                    vec![placeholders.as_str(); rows].join(", ")
                )
            };
            for chunk in chunks(rows, per_statement, max_statement_bytes(dialect)) {
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
    let mut data = Vec::with_capacity(rows.len() * 256);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_cut_by_rows_and_by_bytes() {
        let row = |n: usize| vec![Some(Bound::Text("x".repeat(n)))];
        let rows = vec![row(3), row(3), row(3), row(10), row(1)];
        let sizes = |c: Vec<&[BoundRow]>| c.iter().map(|c| c.len()).collect::<Vec<_>>();
        assert_eq!(sizes(chunks(&rows, 2, usize::MAX)), [2, 2, 1]);
        assert_eq!(sizes(chunks(&rows, 10, 7)), [2, 1, 1, 1]);
        assert!(chunks(&[], 10, 7).is_empty());
    }

    #[test]
    fn copy_text_rows_read_back_as_they_were_written() {
        let decodes = [Decode::Int, Decode::Text, Decode::Bytes, Decode::F32];
        let data = b"7\ttab\\there\\\\ \\\\N\\n\t\\\\x00ff\t3.4e+38\n8\t\\N\t\\N\t\\N\n";
        let rows = parse_copy_text(data, &decodes).unwrap();
        assert_eq!(
            rows,
            vec![
                vec![
                    Some(Raw::Int(7)),
                    Some(Raw::Text("tab\there\\ \\N\n".into())),
                    Some(Raw::Bytes(vec![0, 255])),
                    Some(Raw::F32(3.4e38)),
                ],
                vec![Some(Raw::Int(8)), None, None, None],
            ]
        );
        assert!(parse_copy_text(b"", &decodes).unwrap().is_empty());
        assert!(parse_copy_text(b"7\tonly two\n", &decodes).is_err());
    }
}
