//! Database URLs: which dialect, the password left out of messages, a SQLite file's path,
//! another database on the same server.

use std::path::{Path, PathBuf};

use super::DbError;
use crate::dialect::Dialect;

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

pub fn dialect_of_url(url: &str) -> Result<Dialect, DbError> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "postgres" | "postgresql" => Ok(Dialect::Postgres),
        "mysql" | "mariadb" => Ok(Dialect::Mysql),
        "sqlite" => Ok(Dialect::Sqlite),
        _ => Err(DbError::UnsupportedUrl(url.to_owned())),
    }
}

/// The file of a SQLite URL (`sqlite:dev.db`, `sqlite://dev.db`, `sqlite:///tmp/dev.db`);
/// `None` for an in-memory database.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    match path {
        "" | ":memory:" => None,
        path => Some(PathBuf::from(path)),
    }
}

/// The `mode=` a SQLite URL asks for, if any.
fn sqlite_mode(url: &str) -> Option<&str> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| pair.strip_prefix("mode="))
}

/// A SQLite URL for a command that writes: the file is created when missing, unless the URL
/// says otherwise (`mode=ro`, `mode=rw`); a missing or read-only directory is an error that
/// names it. Other URLs are returned as they are.
pub fn for_writing(url: &str) -> Result<String, DbError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(url.to_owned());
    };
    if sqlite_mode(url).is_some() || path.exists() {
        return Ok(url.to_owned());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Err(_) => {
            return Err(DbError::Invalid(format!(
                "cannot create the SQLite database {}: its directory {} does not exist; create \
                 it (`mkdir -p {}`) or point the URL elsewhere",
                path.display(),
                dir.display(),
                dir.display()
            )));
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(DbError::Invalid(format!(
                "cannot create the SQLite database {}: {} is not a directory",
                path.display(),
                dir.display()
            )));
        }
        Ok(meta) if meta.permissions().readonly() || !writable(&dir) => {
            return Err(DbError::Invalid(format!(
                "cannot create the SQLite database {}: the directory {} is read-only; make it \
                 writable or point the URL elsewhere",
                path.display(),
                dir.display()
            )));
        }
        Ok(_) => {}
    }
    let joiner = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{joiner}mode=rwc"))
}

/// Whether a file can be made in `dir`, tried.
fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".godwit-probe-{}", std::process::id()));
    let made = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    made
}

/// The database a server URL names (`postgres://h/app` → `app`).
pub fn database_name(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (_, name) = rest.split_once('/')?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// The same server URL for database `name` (an empty `name`: none, for MySQL).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|at| at + 3)
        .and_then(|start| base[start..].find('/').map(|i| start + i))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `host:port` of a server URL, for messages.
pub(crate) fn host_port(url: &str, dialect: Dialect) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = match dialect {
        Dialect::Postgres => "5432",
        _ => "3306",
    };
    match host_port.rsplit_once(':') {
        Some(_) if !host_port.ends_with(']') => host_port.to_owned(),
        _ => format!(
            "{}:{default}",
            if host_port.is_empty() {
                "localhost"
            } else {
                host_port
            }
        ),
    }
}

/// The user of a server URL.
pub(crate) fn user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (user_info, _) = authority.rsplit_once('@')?;
    Some(user_info.split(':').next().unwrap_or(user_info).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_in_every_spelling() {
        assert_eq!(sqlite_path("sqlite:dev.db"), Some("dev.db".into()));
        assert_eq!(
            sqlite_path("sqlite://dev.db?mode=rw"),
            Some("dev.db".into())
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/dev.db"),
            Some("/tmp/dev.db".into())
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(
            sqlite_mode("sqlite:dev.db?cache=shared&mode=ro"),
            Some("ro")
        );
    }

    #[test]
    fn server_urls_are_taken_apart() {
        let url = "postgres://app:pw@db.example:5433/shop?sslmode=off";
        assert_eq!(database_name(url).as_deref(), Some("shop"));
        assert_eq!(
            with_database(url, "postgres"),
            "postgres://app:pw@db.example:5433/postgres?sslmode=off"
        );
        assert_eq!(host_port(url, Dialect::Postgres), "db.example:5433");
        assert_eq!(
            host_port("mysql://root@127.0.0.1/x", Dialect::Mysql),
            "127.0.0.1:3306"
        );
        assert_eq!(user(url).as_deref(), Some("app"));
        assert_eq!(database_name("mysql://root@h"), None);
    }
}
