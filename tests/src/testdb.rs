//! Throwaway databases on the real servers, one per test, so tests run in parallel.
//!
//! Server URLs come from `GODWIT_TEST_POSTGRES_URL` and `GODWIT_TEST_MYSQL_URL` (defaults: the
//! local servers on 127.0.0.1). When a server cannot be reached, the test is skipped with a loud
//! message, unless `CI=true`, where it fails.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use godwit::Dialect;
use godwit::db::Connection;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const DEFAULT_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// A database created for one test; call [`TestDb::drop`] at the end.
#[derive(Debug)]
pub struct TestDb {
    pub dialect: Dialect,
    pub url: String,
    name: String,
    admin_url: Option<String>,
}

fn server_url(dialect: Dialect) -> Option<String> {
    match dialect {
        Dialect::Postgres => Some(
            std::env::var("GODWIT_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into()),
        ),
        Dialect::Mysql => Some(
            std::env::var("GODWIT_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL_URL.into()),
        ),
        Dialect::Sqlite => None,
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "godwit_t_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replaces the database name at the end of a server URL.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_at = base[authority_end..]
        .find('/')
        .map(|i| authority_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..path_at]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    /// A fresh empty database, or `None` (after a loud message) when the server is unreachable
    /// outside CI.
    pub async fn create(dialect: Dialect) -> Option<TestDb> {
        let name = unique_name();
        let Some(admin_url) = server_url(dialect) else {
            let path = std::env::temp_dir().join(format!("{name}.sqlite3"));
            return Some(TestDb {
                dialect,
                url: format!("sqlite://{}?mode=rwc", path.display()),
                name: path.display().to_string(),
                admin_url: None,
            });
        };
        let mut admin = match Connection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true and the {dialect} server at {admin_url} is unreachable: {e}");
                }
                eprintln!(
                    "\n!!!!!!!! SKIPPED: no {dialect} server at {admin_url} ({e}).\n\
                     !!!!!!!! Start it or set GODWIT_TEST_{}_URL; CI=true makes this a failure.\n",
                    dialect.name().to_uppercase()
                );
                return None;
            }
        };
        let create = match dialect {
            Dialect::Postgres => format!("CREATE DATABASE \"{name}\""),
            _ => format!("CREATE DATABASE `{name}`"),
        };
        admin
            .execute(&create)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        Some(TestDb {
            dialect,
            url: with_database(&admin_url, &name),
            name,
            admin_url: Some(admin_url),
        })
    }

    /// The database's name (a file path on SQLite): unique, a prefix for more of its kind.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url))
    }

    /// Drops the database (or deletes the SQLite file).
    pub async fn drop(self) {
        match &self.admin_url {
            None => {
                for suffix in ["", "-wal", "-shm", "-journal", "-godwit.lock"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
                }
            }
            Some(admin_url) => {
                let mut admin = Connection::connect(admin_url)
                    .await
                    .expect("reconnect to drop");
                let drop = match self.dialect {
                    Dialect::Postgres => format!("DROP DATABASE \"{}\" WITH (FORCE)", self.name),
                    _ => format!("DROP DATABASE `{}`", self.name),
                };
                admin.execute(&drop).await.expect("drop the test database");
                admin.close().await.ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("mysql://root@h:3306", "x"),
            "mysql://root@h:3306/x"
        );
    }
}
