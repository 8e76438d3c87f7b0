//! What went wrong when a connection fails, in one sentence with its fix: the server is not
//! there, it refused the user, the database does not exist, the file cannot be opened. Without
//! the driver's own framing (`error returned from database:`, the server's source position).

use super::url::{host_port, sqlite_path, user};
use crate::dialect::Dialect;

/// The reason `error` gives for not connecting to `url`.
pub(crate) fn connect_error(url: &str, dialect: Dialect, error: &sqlx::Error) -> String {
    let server = match dialect {
        Dialect::Postgres => "PostgreSQL",
        Dialect::Mysql => "MySQL/MariaDB",
        Dialect::Sqlite => "SQLite",
    };
    if dialect == Dialect::Sqlite {
        let path = sqlite_path(url).map_or(":memory:".into(), |p| p.display().to_string());
        let detail = match error.as_database_error() {
            Some(db) => db.message().to_owned(),
            None => error.to_string(),
        };
        let fix = match std::path::Path::new(&path).exists() {
            true => "check the file's permissions, and that it is a SQLite database",
            false => "the file does not exist: `up` creates it, or `database create`",
        };
        return format!("cannot open the SQLite database {path}: {detail}; {fix}");
    }
    let at = host_port(url, dialect);
    let database = super::url::database_name(url).unwrap_or_default();
    let who = user(url).unwrap_or_else(|| "(none given)".into());
    if let sqlx::Error::Io(io) = error {
        return match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!(
                "nothing answers at {at} (connection refused): is the {server} server running, \
                 and listening on that host and port?"
            ),
            _ => format!("cannot reach the {server} server at {at}: {io}"),
        };
    }
    if let Some(db) = error.as_database_error() {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let mysql_number = super::mysql_error_number(db);
        let refused_user = matches!(code.as_str(), "28P01" | "28000") || mysql_number == Some(1045);
        let missing_database = code == "3D000" || mysql_number == Some(1049);
        if refused_user {
            return format!(
                "the {server} server at {at} refused user `{who}`: {}; give the right user and \
                 its password in the URL ({}://USER:PASSWORD@{at}/{database}){}",
                db.message(),
                url.split("://").next().unwrap_or("postgres"),
                match dialect {
                    Dialect::Postgres => ", or the password in PGPASSWORD",
                    _ => "",
                }
            );
        }
        if missing_database {
            return format!(
                "database `{database}` does not exist on the {server} server at {at}: create \
                 it (the CLI's `database create`, or CREATE DATABASE), or point the URL at \
                 another"
            );
        }
        return format!(
            "the {server} server at {at} refused the connection: {}",
            db.message()
        );
    }
    match error {
        sqlx::Error::Tls(e) => format!("TLS with the {server} server at {at} failed: {e}"),
        sqlx::Error::Configuration(e) => format!("the database URL is not one sqlx reads: {e}"),
        other => format!("cannot connect to the {server} server at {at}: {other}"),
    }
}
