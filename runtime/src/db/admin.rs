//! `database create` and `database drop`: the database a URL names, made or removed on its
//! server (PostgreSQL through its `postgres` database, MySQL without one), or the SQLite file.

use super::url::{database_name, for_writing, sqlite_path, with_database};
use super::{Connection, DbError, dialect_of_url};
use crate::dialect::Dialect;
use crate::render::{quote_identifier, quote_literal};

/// What `create_database` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseCreated {
    Created,
    /// It was there already: nothing changed.
    Existed,
}

/// Creates the database `url` names, if it does not exist.
pub async fn create_database(url: &str) -> Result<DatabaseCreated, DbError> {
    let dialect = dialect_of_url(url)?;
    if dialect == Dialect::Sqlite {
        let path = sqlite_path(url).ok_or_else(|| {
            DbError::Invalid("an in-memory SQLite database is not created: name a file".into())
        })?;
        if path.exists() {
            return Ok(DatabaseCreated::Existed);
        }
        Connection::connect(&for_writing(url)?)
            .await?
            .close()
            .await?;
        return Ok(DatabaseCreated::Created);
    }
    let (name, mut server) = server_of(url, dialect).await?;
    let exists = exists(&mut server, dialect, &name).await?;
    if !exists {
        server
            .execute(&format!(
                "CREATE DATABASE {}",
                quote_identifier(dialect, &name)
            ))
            .await?;
    }
    server.close().await?;
    Ok(match exists {
        true => DatabaseCreated::Existed,
        false => DatabaseCreated::Created,
    })
}

/// Drops the database `url` names (a SQLite file with its journal files). `false`: there was
/// none.
pub async fn drop_database(url: &str) -> Result<bool, DbError> {
    let dialect = dialect_of_url(url)?;
    if dialect == Dialect::Sqlite {
        let path = sqlite_path(url).ok_or_else(|| {
            DbError::Invalid("an in-memory SQLite database is not dropped: name a file".into())
        })?;
        if !path.exists() {
            return Ok(false);
        }
        for suffix in ["", "-wal", "-shm", "-journal", "-godwit.lock"] {
            let file = format!("{}{suffix}", path.display());
            if let Err(e) = std::fs::remove_file(&file)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(DbError::Invalid(format!("cannot remove {file}: {e}")));
            }
        }
        return Ok(true);
    }
    let (name, mut server) = server_of(url, dialect).await?;
    let exists = exists(&mut server, dialect, &name).await?;
    if exists {
        server
            .execute(&format!(
                "DROP DATABASE {}",
                quote_identifier(dialect, &name)
            ))
            .await?;
    }
    server.close().await?;
    Ok(exists)
}

/// The tables of the database `url` names, but godwit's own (`godwit_migrations*`).
pub async fn user_tables(url: &str) -> Result<Vec<String>, DbError> {
    let mut conn = Connection::connect(url).await?;
    let sql = match conn.dialect() {
        Dialect::Postgres => {
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE \
             table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
        }
        Dialect::Mysql => {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() \
             ORDER BY 1"
        }
        Dialect::Sqlite => {
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
             ESCAPE '\\' ORDER BY 1"
        }
    };
    let rows = conn.fetch_text(sql).await?;
    conn.close().await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .filter(|name| {
            let table = name.rsplit('.').next().unwrap_or(name);
            !table.starts_with("godwit_migrations")
        })
        .collect())
}

/// The database's name, and a connection to its server without it.
async fn server_of(url: &str, dialect: Dialect) -> Result<(String, Connection), DbError> {
    let name = database_name(url).ok_or_else(|| {
        DbError::Invalid(format!(
            "the URL {} names no database: add it, e.g. `…/app`",
            super::redact_url(url)
        ))
    })?;
    let server_url = match dialect {
        // Every PostgreSQL server has it; the database to create cannot be connected to.
        Dialect::Postgres => with_database(url, "postgres"),
        _ => with_database(url, ""),
    };
    Ok((name, Connection::connect(&server_url).await?))
}

async fn exists(server: &mut Connection, dialect: Dialect, name: &str) -> Result<bool, DbError> {
    let sql = match dialect {
        Dialect::Postgres => format!(
            "SELECT 1 FROM pg_database WHERE datname = {}",
            quote_literal(dialect, name)
        ),
        _ => format!(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = {}",
            quote_literal(dialect, name)
        ),
    };
    Ok(!server.fetch_text(&sql).await?.is_empty())
}
