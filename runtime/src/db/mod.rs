//! A connection to any supported database, and the execution of rendered ops on it.
//!
//! A Rust data step ([`crate::op::RustStep`]) receives this connection: use
//! [`Connection::execute`] and [`Connection::fetch_text`], or reach the driver's own connection
//! with [`Connection::as_postgres`], [`Connection::as_mysql`] or [`Connection::as_sqlite`] for
//! typed queries and binds.

use futures_util::StreamExt as _;
use sqlx::{AssertSqlSafe, Connection as _, Row};

use crate::dialect::{Dialect, facts};

mod admin;
mod explain;
mod url;

pub use admin::{DatabaseCreated, create_database, drop_database, user_tables};
pub use url::{database_name, dialect_of_url, for_writing, redact_url, sqlite_path, with_database};

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!(
    "godwit speaks no database: enable one of its features `postgres`, `mysql`, `sqlite`"
);

/// A live connection to one of the supported databases (those of the crate's features).
#[derive(Debug)]
pub enum Connection {
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgConnection),
    #[cfg(feature = "mysql")]
    Mysql(sqlx::MySqlConnection),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqliteConnection),
}

/// `$body` with `$c` bound to whichever sqlx connection `$conn` holds: one arm per dialect
/// the crate is built with.
macro_rules! on_connection {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            Connection::Postgres($c) => $body,
            #[cfg(feature = "mysql")]
            Connection::Mysql($c) => $body,
            #[cfg(feature = "sqlite")]
            Connection::Sqlite($c) => $body,
        }
    };
}

/// The statement of a batch that a PostgreSQL error points into, by its position (characters
/// into the text sent): a syntax error comes back before any statement ran.
#[cfg(feature = "postgres")]
fn postgres_error_statement(
    error: &sqlx::Error,
    statements: &[&str],
    separator: &str,
) -> Option<usize> {
    let postgres = error
        .as_database_error()?
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    let sqlx::postgres::PgErrorPosition::Original(position) = postgres.position()? else {
        return None;
    };
    let mut end = 0;
    for (i, statement) in statements.iter().enumerate() {
        end += statement.chars().count() + separator.chars().count();
        if position <= end {
            return Some(i);
        }
    }
    None
}

/// What the server adds to its message (PostgreSQL's `DETAIL`: the row a constraint or a
/// partition refused), as `: …`; nothing elsewhere.
fn server_detail(error: &sqlx::Error) -> String {
    #[cfg(feature = "postgres")]
    if let Some(detail) = error
        .as_database_error()
        .and_then(|e| e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>())
        .and_then(|e| e.detail())
    {
        return format!(" ({detail})");
    }
    let _ = error;
    String::new()
}

/// A database error, with the statement that caused it.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "unsupported database URL `{0}`: expected postgres://, mysql://, mariadb:// or sqlite:"
    )]
    UnsupportedUrl(String),
    #[error("{source}{}\n  while running: {sql}", server_detail(source))]
    Statement {
        sql: String,
        #[source]
        source: sqlx::Error,
    },
    /// A check query returned what it must not.
    #[error("{what} does not hold: `{sql}` must return {expected}, and returned {found}")]
    Verification {
        /// The check, named: `precondition`, `verification`, the rebuild's foreign key check.
        what: String,
        sql: String,
        expected: String,
        found: String,
    },
    /// A check query failed to run: nothing is known of what it checks.
    #[error("{what} could not be checked, its query failed: {source}")]
    CheckErrored {
        what: String,
        #[source]
        source: Box<DbError>,
    },
    #[error(transparent)]
    Connect(#[from] sqlx::Error),
    /// A connection that could not be made: why, in one sentence with its fix.
    #[error("{reason}")]
    CannotConnect {
        reason: String,
        #[source]
        source: sqlx::Error,
    },
    /// The server answered something godwit cannot read.
    #[error("{0}")]
    Invalid(String),
}

impl Connection {
    /// Connects by URL scheme: `postgres://`, `mysql://` (or `mariadb://`), `sqlite:`.
    /// A connection that fails says why in one sentence with its fix
    /// ([`DbError::CannotConnect`]). A SQLite file must exist; [`for_writing`] makes a URL
    /// that creates it.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let dialect = dialect_of_url(url)?;
        let explained = |source: sqlx::Error| DbError::CannotConnect {
            reason: explain::connect_error(url, dialect, &source),
            source,
        };
        Ok(match dialect {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                Connection::Postgres(sqlx::PgConnection::connect(url).await.map_err(explained)?)
            }
            #[cfg(feature = "mysql")]
            Dialect::Mysql => {
                let url = url.replacen("mariadb://", "mysql://", 1);
                Connection::Mysql(
                    sqlx::MySqlConnection::connect(&url)
                        .await
                        .map_err(explained)?,
                )
            }
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => Connection::Sqlite(
                sqlx::SqliteConnection::connect(url)
                    .await
                    .map_err(explained)?,
            ),
            #[allow(unreachable_patterns)]
            other => {
                return Err(DbError::Invalid(format!(
                    "this build of godwit speaks no {}: enable its `{}` feature (godwit = {{ \
                     features = [\"{}\"] }})",
                    other.name(),
                    other.name(),
                    other.name()
                )));
            }
        })
    }

    /// The sqlx PostgreSQL connection, for typed queries in a data step.
    #[cfg(feature = "postgres")]
    pub fn as_postgres(&mut self) -> Option<&mut sqlx::PgConnection> {
        match self {
            Connection::Postgres(c) => Some(c),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The sqlx MySQL/MariaDB connection, for typed queries in a data step.
    #[cfg(feature = "mysql")]
    pub fn as_mysql(&mut self) -> Option<&mut sqlx::MySqlConnection> {
        match self {
            Connection::Mysql(c) => Some(c),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The sqlx SQLite connection, for typed queries in a data step.
    #[cfg(feature = "sqlite")]
    pub fn as_sqlite(&mut self) -> Option<&mut sqlx::SqliteConnection> {
        match self {
            Connection::Sqlite(c) => Some(c),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "postgres")]
            Connection::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Connection::Mysql(_) => Dialect::Mysql,
            #[cfg(feature = "sqlite")]
            Connection::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Runs `sql` (one or several statements) and discards any result.
    pub async fn execute(&mut self, sql: &str) -> Result<(), DbError> {
        let query = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        let result = on_connection!(self, c => query().execute(c).await.map(drop));
        result.map_err(|source| DbError::Statement {
            sql: sql.to_owned(),
            source,
        })
    }

    /// Runs `sql` (one or several statements) and returns the rows they changed, summed.
    pub(crate) async fn execute_counting(&mut self, sql: &str) -> Result<u64, DbError> {
        let query = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        let result = on_connection!(self, c => query().execute(c).await.map(|r| r.rows_affected()));
        result.map_err(|source| DbError::Statement {
            sql: sql.to_owned(),
            source,
        })
    }

    /// Sends `statements` in one round trip and runs them in order, stopping at the first that
    /// fails; `done(i)` is called as statement `i` completes. Each must be exactly one statement:
    /// the failing one is found by counting the results before it (or, on PostgreSQL, which
    /// parses the whole text before running any of it, from the error's position), and the
    /// error names it alone, with its index.
    pub(crate) async fn execute_batch(
        &mut self,
        statements: &[&str],
        mut done: impl FnMut(usize),
    ) -> Result<(), (usize, DbError)> {
        const SEPARATOR: &str = "\n;\n";
        if statements.is_empty() {
            return Ok(());
        }
        // On a line of its own, so that a statement's trailing `--` comment cannot hide it.
        let script = statements.join(SEPARATOR);
        let mut completed = 0;
        let mut each = |result: Result<(), sqlx::Error>| match result {
            Ok(()) => {
                if completed < statements.len() {
                    done(completed);
                }
                completed += 1;
                Ok(())
            }
            Err(source) => Err(source),
        };
        macro_rules! drive {
            ($conn:expr) => {{
                let mut results = sqlx::raw_sql(AssertSqlSafe(script)).execute_many($conn);
                let mut outcome = Ok(());
                while let Some(result) = results.next().await {
                    outcome = each(result.map(drop));
                    if outcome.is_err() {
                        break;
                    }
                }
                outcome
            }};
        }
        let outcome = on_connection!(self, c => drive!(c));
        debug_assert!(
            outcome.is_err() || completed == statements.len(),
            "{completed} results for {} statements: one is not exactly one statement",
            statements.len()
        );
        outcome.map_err(|source| {
            #[cfg(feature = "postgres")]
            let pointed = postgres_error_statement(&source, statements, SEPARATOR);
            #[cfg(not(feature = "postgres"))]
            let pointed = None;
            let index = pointed.unwrap_or(completed).min(statements.len() - 1);
            let sql = statements[index].to_owned();
            (index, DbError::Statement { sql, source })
        })
    }

    /// Runs one query and returns every row with every column as text (`NULL` as `None`).
    /// Callers cast non-text columns in SQL, so that decoding is uniform across dialects.
    pub async fn fetch_text(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let sql_owned = || AssertSqlSafe(sql.to_owned());
        let rows = on_connection!(self, c => sqlx::query(sql_owned())
                .fetch_all(c)
                .await
                .map(|r| texts(&r)));
        rows.map_err(|source| DbError::Statement {
            sql: sql.to_owned(),
            source,
        })
    }

    /// [`Connection::fetch_text`] for a query whose text differs on every call (literal
    /// values): unprepared, where preparing it would cost a round trip and a slot of the
    /// statement cache each time.
    pub(crate) async fn fetch_text_unprepared(
        &mut self,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>, DbError> {
        let query = || sqlx::raw_sql(AssertSqlSafe(sql.to_owned()));
        let rows = on_connection!(self, c => query().fetch_all(c).await.map(|r| texts(&r)));
        rows.map_err(|source| DbError::Statement {
            sql: sql.to_owned(),
            source,
        })
    }

    /// The server this connection talks to: its kind (MariaDB told from MySQL) and version.
    pub async fn server(&mut self) -> Result<crate::dialect::Server, DbError> {
        let dialect = self.dialect();
        let query = match dialect {
            Dialect::Postgres => "SHOW server_version",
            Dialect::Mysql => "SELECT VERSION()",
            Dialect::Sqlite => "SELECT sqlite_version()",
        };
        let rows = self.fetch_text(query).await?;
        let reported = rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .unwrap_or_default();
        crate::dialect::Server::from_reported(dialect, &reported).ok_or_else(|| {
            DbError::Invalid(format!(
                "`{query}` answered `{reported}`, which is not a version"
            ))
        })
    }

    /// How this dialect opens a transaction that will write.
    pub(crate) fn begin_sql(&self) -> &'static str {
        facts(self.dialect()).begin
    }

    pub async fn close(self) -> Result<(), DbError> {
        on_connection!(self, c => c.close().await?);
        Ok(())
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgConnection> for Connection {
    fn from(c: sqlx::PgConnection) -> Self {
        Connection::Postgres(c)
    }
}

#[cfg(feature = "mysql")]
impl From<sqlx::MySqlConnection> for Connection {
    fn from(c: sqlx::MySqlConnection) -> Self {
        Connection::Mysql(c)
    }
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqliteConnection> for Connection {
    fn from(c: sqlx::SqliteConnection) -> Self {
        Connection::Sqlite(c)
    }
}

impl DbError {
    /// Whether the database answered with an error, as opposed to the connection failing.
    pub fn is_database_error(&self) -> bool {
        match self {
            DbError::Statement { source, .. } | DbError::Connect(source) => {
                source.as_database_error().is_some()
            }
            DbError::CheckErrored { source, .. } => source.is_database_error(),
            DbError::CannotConnect { source, .. } => source.as_database_error().is_some(),
            DbError::UnsupportedUrl(_) | DbError::Verification { .. } | DbError::Invalid(_) => {
                false
            }
        }
    }

    /// Whether the statement ran past the server's statement timeout (PostgreSQL's
    /// `statement_timeout`, MariaDB's `max_statement_time`, MySQL's `max_execution_time`).
    pub fn is_statement_timeout(&self) -> bool {
        let Some(db) = self.statement_database_error() else {
            return false;
        };
        if let Some(number) = mysql_error_number(db) {
            // ER_QUERY_TIMEOUT (MySQL), ER_STATEMENT_TIMEOUT (MariaDB)
            return matches!(number, 3024 | 1969);
        }
        // PostgreSQL: query_canceled.
        !is_sqlite_error(db) && db.code().as_deref() == Some("57014")
    }

    /// What the database answered to a statement (or a connection), if it answered.
    fn statement_database_error(&self) -> Option<&dyn sqlx::error::DatabaseError> {
        let (DbError::Statement { source, .. } | DbError::Connect(source)) = self else {
            return None;
        };
        source.as_database_error()
    }

    /// `rows` as a check query's failure reports them: how many, and the first.
    pub(crate) fn describe_rows(rows: &[Vec<Option<String>>]) -> String {
        let first = |row: &[Option<String>]| {
            let values: Vec<String> = row
                .iter()
                .map(|v| v.clone().unwrap_or_else(|| "NULL".to_owned()))
                .collect();
            values.join(", ")
        };
        match rows {
            [] => "no rows".to_owned(),
            [row] => format!("1 row ({})", first(row)),
            [row, ..] => format!("{} rows, the first ({})", rows.len(), first(row)),
        }
    }

    /// Whether the database gave up waiting for a lock (PostgreSQL `lock_timeout`, MySQL
    /// `lock_wait_timeout`, a busy or locked SQLite database): the statement can be retried.
    pub fn is_lock_timeout(&self) -> bool {
        let Some(db) = self.statement_database_error() else {
            return false;
        };
        if let Some(number) = mysql_error_number(db) {
            // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
            return matches!(number, 1205 | 1213);
        }
        if is_sqlite_error(db) {
            // SQLITE_BUSY, SQLITE_LOCKED and their extended codes.
            return db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6));
        }
        // PostgreSQL: lock_not_available, deadlock_detected.
        matches!(db.code().as_deref(), Some("55P03" | "40P01"))
    }
}

/// MySQL's error number, when `db` is a MySQL error.
pub(crate) fn mysql_error_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    #[cfg(feature = "mysql")]
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Some(mysql.number());
    }
    let _ = db;
    None
}

/// Whether `db` is a SQLite error.
fn is_sqlite_error(db: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "sqlite")]
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return true;
    }
    let _ = db;
    false
}

/// The dialect a database URL points at.
fn texts<R: Row>(rows: &[R]) -> Vec<Vec<Option<String>>>
where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i32>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i16>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    rows.iter()
        .map(|r| (0..r.len()).map(|i| text(r, i)).collect())
        .collect()
}

/// One column as text, whatever its SQL type.
fn text<R: Row>(row: &R, i: usize) -> Option<String>
where
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i32>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i16>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<bool>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    usize: sqlx::ColumnIndex<R>,
{
    if let Ok(v) = row.try_get::<Option<String>, _>(i) {
        return v;
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<i16>, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<bool>, _>(i) {
        return v.map(|v| v.to_string());
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
        return v.map(|v| v.to_string());
    }
    row.try_get::<Option<Vec<u8>>, _>(i)
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}
