//! The lock that keeps two runners off the same database, held for a whole run.
//!
//! - PostgreSQL: a session advisory lock keyed by the database and the history table.
//! - MySQL/MariaDB: `GET_LOCK` on a name derived from the database and the history table.
//! - SQLite has no session locks: an OS file lock (`flock`/`LockFileEx`) on
//!   `<database file>-godwit.lock`, beside the database. In-memory databases need none.
//!
//! All three die with the session or the process: a crashed or killed runner never leaves the
//! lock behind (PostgreSQL and MySQL release session locks when the connection closes; the OS
//! releases file locks when the process exits). Waiting polls with a short backoff until the
//! timeout, then fails naming who holds the lock where the database can tell.

use std::time::{Duration, Instant};

use super::{HistoryTable, RunError};
use crate::db::{Connection, DbError};
use crate::op::Dialect;
use crate::render::quote_literal;

/// A held lock. Release it with [`Lock::release`]; dropping it (a panic) releases the file lock
/// at once and the session locks when the connection closes.
#[derive(Debug)]
pub(crate) enum Lock {
    Session { release_sql: String },
    File(std::fs::File),
    None,
}

/// First key of PostgreSQL's two-key advisory lock: godwit's namespace.
const PG_LOCK_CLASS: i32 = 0x6764_7774; // "gdwt"

pub(crate) async fn acquire(
    conn: &mut Connection,
    history: &HistoryTable,
    timeout: Duration,
) -> Result<Lock, RunError> {
    let started = Instant::now();
    let mut wait = Duration::from_millis(5);
    let dialect = conn.dialect();
    let key = quote_literal(dialect, &history.display());
    let (try_sql, release_sql, holder_sql) = match dialect {
        Dialect::Postgres => {
            let key = format!("{PG_LOCK_CLASS}, hashtext(current_database() || '.' || {key})");
            (
                format!("SELECT CASE WHEN pg_try_advisory_lock({key}) THEN '1' ELSE '0' END"),
                format!("SELECT pg_advisory_unlock({key})"),
                format!(
                    "SELECT string_agg(l.pid::text || COALESCE(' (' || a.application_name || \
                     ' from ' || host(a.client_addr) || ')', ''), ', ') FROM pg_locks l \
                     LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = \
                     'advisory' AND l.granted AND l.classid = {PG_LOCK_CLASS}::oid AND \
                     l.objid = (hashtext(current_database() || '.' || {key})::bigint & 4294967295)::oid"
                ),
            )
        }
        Dialect::Mysql => {
            let name = format!(
                "CONCAT('godwit:', LEFT(SHA2(CONCAT(COALESCE(DATABASE(), ''), '.', {key}), 256), 40))"
            );
            (
                format!("SELECT GET_LOCK({name}, 0)"),
                format!("SELECT RELEASE_LOCK({name})"),
                format!("SELECT CONCAT('connection ', IS_USED_LOCK({name}))"),
            )
        }
        Dialect::Sqlite => return acquire_file(conn, history, timeout).await,
    };
    loop {
        let got = conn
            .fetch_text(&try_sql)
            .await
            .map_err(|e| RunError::Database {
                context: "taking the migration lock".into(),
                source: e,
            })?;
        if first(&got).as_deref() == Some("1") {
            return Ok(Lock::Session { release_sql });
        }
        if started.elapsed() >= timeout {
            let holder = conn
                .fetch_text(&holder_sql)
                .await
                .ok()
                .and_then(|rows| first(&rows));
            return Err(RunError::LockTimeout {
                waited: timeout,
                holder: holder.map(|h| match dialect {
                    Dialect::Postgres => format!(
                        "PostgreSQL backend {h}; if no godwit run is active there, end it with \
                         `SELECT pg_terminate_backend(pid)`"
                    ),
                    _ => format!("MySQL {h}; if no godwit run is active there, `KILL` it"),
                }),
            });
        }
        tokio::time::sleep(wait.min(timeout.saturating_sub(started.elapsed()))).await;
        wait = (wait * 2).min(Duration::from_millis(100));
    }
}

async fn acquire_file(
    conn: &mut Connection,
    history: &HistoryTable,
    timeout: Duration,
) -> Result<Lock, RunError> {
    let schema = history.schema.as_deref().unwrap_or("main");
    let files = conn
        .fetch_text("PRAGMA database_list")
        .await
        .map_err(|e| RunError::Database {
            context: "finding the SQLite database file".into(),
            source: e,
        })?;
    let file = files
        .iter()
        .find(|row| row.get(1).cloned().flatten().as_deref() == Some(schema))
        .and_then(|row| row.get(2).cloned().flatten())
        .unwrap_or_default();
    if file.is_empty() {
        // An in-memory or temporary database: no other connection can reach it.
        return Ok(Lock::None);
    }
    let path = format!("{file}-godwit.lock");
    let lock_error = |e: std::io::Error| RunError::LockFile {
        path: path.clone(),
        source: e,
    };
    let mut handle = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(lock_error)?;
    let started = Instant::now();
    let mut wait = Duration::from_millis(5);
    loop {
        match handle.try_lock() {
            Ok(()) => {
                use std::io::{Seek, Write};
                // Who holds it, for the message of a runner that times out waiting.
                let _ = handle.set_len(0);
                let _ = handle.seek(std::io::SeekFrom::Start(0));
                let _ = write!(handle, "process {}", std::process::id());
                let _ = handle.flush();
                return Ok(Lock::File(handle));
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(e)),
        }
        if started.elapsed() >= timeout {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .filter(|h| !h.is_empty());
            return Err(RunError::LockTimeout {
                waited: timeout,
                holder: Some(format!(
                    "{} through the lock file {path}",
                    holder.as_deref().unwrap_or("another process")
                )),
            });
        }
        tokio::time::sleep(wait.min(timeout.saturating_sub(started.elapsed()))).await;
        wait = (wait * 2).min(Duration::from_millis(100));
    }
}

impl Lock {
    /// The SQL that releases a session lock; a file lock goes with its file.
    pub(crate) fn release_sql(&self) -> Option<String> {
        match self {
            Lock::Session { release_sql } => Some(release_sql.clone()),
            Lock::File(_) | Lock::None => None,
        }
    }

    pub(crate) async fn release(self, conn: &mut Connection) -> Result<(), DbError> {
        match self {
            Lock::Session { release_sql } => conn.fetch_text(&release_sql).await.map(drop),
            Lock::File(file) => {
                let _ = file.unlock();
                Ok(())
            }
            Lock::None => Ok(()),
        }
    }
}

fn first(rows: &[Vec<Option<String>>]) -> Option<String> {
    rows.first()?.first()?.clone()
}
