//! Backups before a migration runs (`#[migration(backup)]`,
//! [`Migrator::backup_every_migration`], into [`Migrator::backup_dir`]): with
//! the server's own tool, `pg_dump --format=custom` on PostgreSQL and `mysqldump
//! --single-transaction` on MySQL and MariaDB, and `VACUUM INTO` on SQLite, of the whole
//! database or of the tables the migration changes. Each is recorded in `<history>_backups`
//! (file, size, duration) and announced with [`Event::BackupTaken`]. A backup that fails stops
//! the run before the migration's first statement, with the tool's own words.
//!
//! Restoring is the tool's: `pg_restore --clean --if-exists --no-owner -d URL FILE`, `mysql
//! DATABASE < FILE`, or the SQLite file copied over the database.
//!
//! [`Migrator::backup_dir`]: super::Migrator::backup_dir
//! [`Migrator::backup_every_migration`]: super::Migrator::backup_every_migration

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::error::RunError;
use super::history::HistoryTable;
use super::job::{BackupPlan, Job};
use super::report::Event;
use super::session::Session;
use crate::db::Connection;
use crate::dialect::Dialect;
use crate::render::{quote_identifier, quote_literal};

/// Where backups go and what they connect with.
#[derive(Clone)]
pub(crate) struct Backups {
    pub dir: PathBuf,
    /// The database URL the tools connect with (PostgreSQL, MySQL).
    pub url: Option<String>,
    /// The caller's own way to back up, instead of the tools ([`Migrator::backup_with`]).
    ///
    /// [`Migrator::backup_with`]: super::Migrator::backup_with
    pub hook: Option<std::sync::Arc<BackupHook>>,
}

/// What a backup hook is asked for: a backup before migration `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRequest {
    pub id: String,
    pub dialect: Dialect,
    /// The database URL, when the Migrator knows it.
    pub url: Option<String>,
    /// The tables to hold; `None`: the whole database.
    pub tables: Option<Vec<String>>,
    /// The file godwit would have written: the hook may write there, or anywhere else.
    pub suggested_path: PathBuf,
}

/// The future a backup hook returns: the file (or snapshot id, as a path) it made.
pub type BackupFuture = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<PathBuf, crate::op::BoxError>> + Send>,
>;

/// A caller's backup: called before each migration a backup is asked for.
pub type BackupHook = dyn Fn(BackupRequest) -> BackupFuture + Send + Sync;

/// A backup taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupTaken {
    pub id: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub elapsed: Duration,
    /// The tables it holds; `None`: the whole database.
    pub tables: Option<Vec<String>>,
}

/// Takes `job`'s backup, records it, and says so.
pub(crate) async fn take(
    s: &mut Session<'_>,
    backups: &Backups,
    job: &Job,
    plan: &BackupPlan,
) -> Result<(), RunError> {
    let failed = |reason: String| RunError::BackupFailed {
        id: job.id.clone(),
        location: job.location.clone(),
        reason,
    };
    if plan.tables.as_ref().is_some_and(Vec::is_empty) {
        // It only creates: there is nothing of the database it could lose.
        return Ok(());
    }
    std::fs::create_dir_all(&backups.dir).map_err(|e| {
        failed(format!(
            "cannot create the backup directory {}: {e}",
            backups.dir.display()
        ))
    })?;
    let dialect = s.conn.dialect();
    // Tenants share a directory: the database (or schema) is in the name.
    let scope = s
        .history
        .schema
        .clone()
        .or_else(|| backups.url.as_deref().and_then(crate::db::database_name))
        .or_else(|| {
            backups
                .url
                .as_deref()
                .and_then(crate::db::sqlite_path)
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        });
    let mut path = unused_path(&backups.dir, &file_name(&job.id, scope.as_deref(), dialect));
    let started = Instant::now();
    match (&backups.hook, dialect) {
        (Some(hook), _) => {
            let request = BackupRequest {
                id: job.id.clone(),
                dialect,
                url: backups.url.clone(),
                tables: plan.tables.clone(),
                suggested_path: path.clone(),
            };
            path = hook(request)
                .await
                .map_err(|e| failed(format!("the backup hook failed: {e}")))?;
        }
        (None, Dialect::Sqlite) => {
            // One file: the tables cannot be told apart, so the whole database.
            let sql = format!(
                "VACUUM INTO {}",
                quote_literal(dialect, &path.to_string_lossy())
            );
            s.conn
                .execute(&sql)
                .await
                .map_err(|e| failed(format!("`{sql}` failed: {e}")))?;
        }
        (None, Dialect::Postgres | Dialect::Mysql) => {
            let url = backups.url.as_deref().ok_or_else(|| {
                failed(
                    "the backup tool connects by URL, and this Migrator was given a \
                     connection: create it with `Migrator::connect(url)`, or give the URL to \
                     `Migrator::backup_url`"
                        .into(),
                )
            })?;
            let tables = plan.tables.as_deref();
            run_tool(dialect, url, &path, tables)
                .await
                .map_err(failed)?;
        }
    }
    let elapsed = started.elapsed();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let tables = match dialect {
        Dialect::Sqlite if backups.hook.is_none() => None,
        _ => plan.tables.clone(),
    };
    record(s.conn, s.history, &job.id, &path, bytes, elapsed)
        .await
        .map_err(|e| failed(format!("the backup was taken but not recorded: {e}")))?;
    s.events.emit(Event::BackupTaken(BackupTaken {
        id: job.id.clone(),
        path,
        bytes,
        elapsed,
        tables,
    }));
    Ok(())
}

/// `name` in `dir`, or `name` with `-2`, `-3`… before its extension when taken.
fn unused_path(dir: &Path, name: &str) -> PathBuf {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let mut path = dir.join(name);
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{n}.{ext}"));
        n += 1;
    }
    path
}

/// `20261204T182000.123Z-[<database>-]<id>.<ext>`: sorted by time, named by database and
/// migration.
fn file_name(id: &str, scope: Option<&str>, dialect: Dialect) -> String {
    let ext = match dialect {
        Dialect::Postgres => "dump",
        Dialect::Mysql => "sql",
        Dialect::Sqlite => "sqlite3",
    };
    let safe = |text: &str| -> String {
        text.chars()
            .map(
                |c| match c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    true => c,
                    false => '_',
                },
            )
            .collect()
    };
    let safe_id = match scope {
        Some(scope) => format!("{}-{}", safe(scope), safe(id)),
        None => safe(id),
    };
    let now = SystemTime::now();
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_millis());
    let stamp = utc_stamp(now);
    let (seconds, zone) = stamp.split_at(stamp.len() - 1);
    format!("{seconds}.{millis:03}{zone}-{safe_id}.{ext}")
}

/// `YYYYMMDDTHHMMSSZ`.
fn utc_stamp(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The first of `names` found on `path` (a `PATH`-style list).
fn find_tool(names: &[&str], path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The tool for `dialect`, or an error naming the package that has it.
fn tool(dialect: Dialect, path: Option<&std::ffi::OsStr>) -> Result<PathBuf, String> {
    let (names, package): (&[&str], &str) = match dialect {
        Dialect::Postgres => (&["pg_dump"], "postgresql-client"),
        _ => (
            &["mysqldump", "mariadb-dump"],
            "mariadb-client (or default-mysql-client)",
        ),
    };
    find_tool(names, path).ok_or_else(|| {
        format!(
            "{} is not installed (not on PATH): install the Debian package {package}, e.g. \
             `apt-get install {package}`",
            names[0]
        )
    })
}

async fn run_tool(
    dialect: Dialect,
    url: &str,
    path: &Path,
    tables: Option<&[String]>,
) -> Result<(), String> {
    let program = tool(dialect, std::env::var_os("PATH").as_deref())?;
    let mut command = tokio::process::Command::new(&program);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match dialect {
        Dialect::Postgres => {
            command.arg("--format=custom").arg("--file").arg(path);
            for table in tables.into_iter().flatten() {
                // A pattern: the quoted name matches this table alone.
                command.arg(format!("--table={}", quote_identifier(dialect, table)));
            }
            // The password in the environment, not on the command line others can read.
            let (url, password) = without_password(url);
            if let Some(password) = password {
                command.env("PGPASSWORD", password);
            }
            command.arg("--dbname").arg(url);
        }
        _ => {
            let parts = MysqlUrl::parse(url)?;
            command
                .arg("--single-transaction")
                .arg("--routines")
                .arg("--triggers")
                // `localhost` would otherwise mean the Unix socket, whatever the port.
                .arg("--protocol=TCP")
                .arg(format!("--host={}", parts.host))
                .arg(format!("--port={}", parts.port))
                .arg(format!("--user={}", parts.user))
                .arg("--result-file")
                .arg(path)
                .arg(&parts.database);
            // Given in the environment, not on the command line others can read.
            if let Some(password) = &parts.password {
                command.env("MYSQL_PWD", password);
            }
            for table in tables.into_iter().flatten() {
                command.arg(table);
            }
        }
    }
    let output = command
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let _ = std::fs::remove_file(path);
    Err(format!(
        "{} failed ({}): {}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// `url` without the password of its user info, and the password, decoded.
fn without_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    match user_info.split_once(':') {
        Some((user, password)) => (
            format!("{scheme}://{user}@{host}{tail}"),
            Some(decode(password)),
        ),
        None => (url.to_owned(), None),
    }
}

/// What mysqldump needs of a `mysql://user:password@host:port/database` URL.
struct MysqlUrl {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
}

impl MysqlUrl {
    fn parse(url: &str) -> Result<MysqlUrl, String> {
        let bad = |why: &str| format!("cannot read the MySQL URL for mysqldump: {why}");
        let rest = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .ok_or_else(|| bad("no scheme"))?;
        let rest = rest.split(['?', '#']).next().unwrap_or(rest);
        let (authority, database) = rest.split_once('/').ok_or_else(|| bad("no database"))?;
        if database.is_empty() {
            return Err(bad("no database"));
        }
        let (credentials, host_port) = match authority.rsplit_once('@') {
            Some((credentials, host)) => (Some(credentials), host),
            None => (None, authority),
        };
        let (user, password) = match credentials.map(|c| c.split_once(':').unwrap_or((c, ""))) {
            Some((user, password)) => (
                decode(user),
                (!password.is_empty()).then(|| decode(password)),
            ),
            None => ("root".to_owned(), None),
        };
        let port = |port: &str| port.parse().map_err(|_| bad("the port is not a number"));
        // An IPv6 address is bracketed (`[::1]:3306`); mysqldump takes it bare.
        let (host, port) = match host_port.strip_prefix('[') {
            Some(bracketed) => {
                let (address, after) = bracketed
                    .split_once(']')
                    .ok_or_else(|| bad("an IPv6 address without its `]`"))?;
                match after.strip_prefix(':') {
                    Some(p) => (address.to_owned(), port(p)?),
                    None if after.is_empty() => (address.to_owned(), 3306),
                    None => return Err(bad("text after the IPv6 address")),
                }
            }
            None => match host_port.rsplit_once(':') {
                Some((host, p)) => (host.to_owned(), port(p)?),
                None => (host_port.to_owned(), 3306),
            },
        };
        Ok(MysqlUrl {
            host: if host.is_empty() {
                "localhost".into()
            } else {
                host
            },
            port,
            user,
            password,
            database: decode(database),
        })
    }
}

/// `%XX` escapes decoded.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(a), Some(b)) if hex(a).is_some() && hex(b).is_some() => {
                out.push((hex(a).unwrap_or(0) * 16 + hex(b).unwrap_or(0)) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `<history>_backups`: one row per backup taken.
pub(crate) fn table(history: &HistoryTable) -> HistoryTable {
    history.beside(crate::runner::history::BACKUPS)
}

/// A backup as `<history>_backups` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBackup {
    pub file: String,
    pub bytes: u64,
    pub duration_ms: u64,
    /// `YYYYMMDDTHHMMSSZ`.
    pub taken_at: String,
}

/// The last backup of each migration that has one.
pub(crate) async fn latest(
    conn: &mut Connection,
    history: &HistoryTable,
) -> Result<std::collections::HashMap<String, RecordedBackup>, crate::db::DbError> {
    let table = table(history);
    let mut found = std::collections::HashMap::new();
    if !super::history::exists(conn, &table).await? {
        return Ok(found);
    }
    let dialect = conn.dialect();
    let cast = |column: &str| match dialect {
        Dialect::Mysql => format!("CAST({column} AS CHAR)"),
        _ => format!("CAST({column} AS TEXT)"),
    };
    let rows = conn
        .fetch_text(&format!(
            "SELECT migration, file, {}, {}, taken_at FROM {} ORDER BY taken_at",
            cast("bytes"),
            cast("duration_ms"),
            table.sql(dialect)
        ))
        .await?;
    for row in rows {
        let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        found.insert(
            text(0),
            RecordedBackup {
                file: text(1),
                bytes: text(2).parse().unwrap_or(0),
                duration_ms: text(3).parse().unwrap_or(0),
                taken_at: text(4),
            },
        );
    }
    Ok(found)
}

async fn record(
    conn: &mut Connection,
    history: &HistoryTable,
    id: &str,
    path: &Path,
    bytes: u64,
    elapsed: Duration,
) -> Result<(), crate::db::DbError> {
    let dialect = conn.dialect();
    let table = table(history).sql(dialect);
    let text = match dialect {
        Dialect::Mysql => "LONGTEXT",
        _ => "TEXT",
    };
    conn.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {table} (migration VARCHAR(128) NOT NULL, file {text} NOT \
         NULL, bytes BIGINT NOT NULL, duration_ms BIGINT NOT NULL, taken_at VARCHAR(32) NOT \
         NULL)"
    ))
    .await?;
    conn.execute(&format!(
        "INSERT INTO {table} (migration, file, bytes, duration_ms, taken_at) VALUES ({}, {}, \
         {bytes}, {}, {})",
        quote_literal(dialect, id),
        quote_literal(dialect, &path.to_string_lossy()),
        elapsed.as_millis(),
        quote_literal(dialect, &utc_stamp(SystemTime::now())),
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package() {
        let empty = tempdir();
        let error = tool(Dialect::Postgres, Some(empty.as_os_str())).unwrap_err();
        assert!(
            error.contains("pg_dump is not installed") && error.contains("postgresql-client"),
            "{error}"
        );
        let error = tool(Dialect::Mysql, None).unwrap_err();
        assert!(error.contains("mariadb-client"), "{error}");
        std::fs::write(empty.join("mariadb-dump"), "").unwrap();
        assert_eq!(
            tool(Dialect::Mysql, Some(empty.as_os_str())).unwrap(),
            empty.join("mariadb-dump")
        );
        std::fs::remove_file(empty.join("mariadb-dump")).ok();
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("godwit-tools-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn mysql_urls_are_read_for_mysqldump() {
        let url = MysqlUrl::parse("mysql://app:p%40ss@db.example:3307/shop?ssl-mode=off").unwrap();
        assert_eq!(
            (
                url.host.as_str(),
                url.port,
                url.user.as_str(),
                url.password.as_deref()
            ),
            ("db.example", 3307, "app", Some("p@ss"))
        );
        assert_eq!(url.database, "shop");
        let url = MysqlUrl::parse("mariadb://root@127.0.0.1/test").unwrap();
        assert_eq!((url.port, url.password), (3306, None));
        assert!(MysqlUrl::parse("mysql://root@host").is_err());
        let url = MysqlUrl::parse("mysql://root@[::1]:3307/shop").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 3307));
        let url = MysqlUrl::parse("mysql://root@[fe80::1]/shop").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("fe80::1", 3306));
        assert!(MysqlUrl::parse("mysql://root@[::1/shop").is_err());
    }

    #[test]
    fn the_postgres_password_leaves_the_url() {
        assert_eq!(
            without_password("postgres://app:s%3Acret@db:5433/shop?sslmode=off"),
            (
                "postgres://app@db:5433/shop?sslmode=off".to_owned(),
                Some("s:cret".to_owned())
            )
        );
        assert_eq!(
            without_password("postgres://app@db/shop"),
            ("postgres://app@db/shop".to_owned(), None)
        );
    }

    #[test]
    fn backup_files_are_named_by_database_and_never_reused() {
        let dir = tempdir().join("names");
        std::fs::create_dir_all(&dir).unwrap();
        let name = file_name("add_users", Some("tenant_07"), Dialect::Postgres);
        assert!(name.ends_with("Z-tenant_07-add_users.dump"), "{name}");
        std::fs::write(dir.join("x.dump"), b"").unwrap();
        assert_eq!(unused_path(&dir, "x.dump"), dir.join("x-2.dump"));
        assert_eq!(unused_path(&dir, "y.dump"), dir.join("y.dump"));
        std::fs::remove_file(dir.join("x.dump")).ok();
    }

    #[test]
    fn stamps_are_utc_calendar_times() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_403_600);
        assert_eq!(utc_stamp(at), "20261204T170000Z");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
    }
}
