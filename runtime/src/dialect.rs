//! The database systems godwit speaks, and what the runner needs to know of each: one table of
//! facts, consulted by name, instead of comparisons with a dialect scattered through the code.
//! A leaf: it depends on nothing else in the crate.

use std::fmt;
use std::time::Duration;

/// A database system godwit renders SQL for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dialect {
    Postgres,
    /// MySQL 8 and MariaDB 10.5+.
    Mysql,
    Sqlite,
}

impl Dialect {
    pub const ALL: [Dialect; 3] = [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite];

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a dialect does that decides how the runner works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Facts {
    /// DDL runs inside a transaction and rolls back with it. MySQL and MariaDB commit every
    /// DDL statement on their own (an implicit commit), so a migration there is a series of
    /// commits, recorded op by op.
    pub transactional_ddl: bool,
    /// Statements sent together outside a transaction still commit one by one. PostgreSQL
    /// would make one implicit transaction of them; SQLite runs them as one script.
    pub commits_each_statement: bool,
    /// Migrations that lock only tables the run creates or drops may share a commit
    /// ([`crate::runner`]'s shared commits).
    pub shares_commits: bool,
    /// Consecutive one-statement migrations record their history at the start and end of
    /// their group, and the live schema tells where an interrupted group stopped.
    pub defers_progress: bool,
    /// One write lock for the whole database (SQLite): nothing else is locked table by table.
    pub one_write_lock: bool,
    /// `PRAGMA foreign_keys` is ignored inside a transaction and must be switched around it
    /// (SQLite).
    pub foreign_keys_switch_outside_transaction: bool,
    /// Opens a transaction: SQLite takes its write lock up front, so that a concurrent writer
    /// fails fast instead of deadlocking at its first write.
    pub begin: &'static str,
}

/// The facts of `dialect`.
pub(crate) const fn facts(dialect: Dialect) -> Facts {
    match dialect {
        Dialect::Postgres => Facts {
            transactional_ddl: true,
            commits_each_statement: false,
            shares_commits: true,
            defers_progress: false,
            one_write_lock: false,
            foreign_keys_switch_outside_transaction: false,
            begin: "BEGIN",
        },
        Dialect::Mysql => Facts {
            transactional_ddl: false,
            commits_each_statement: true,
            shares_commits: false,
            defers_progress: true,
            one_write_lock: false,
            foreign_keys_switch_outside_transaction: false,
            begin: "BEGIN",
        },
        Dialect::Sqlite => Facts {
            transactional_ddl: true,
            commits_each_statement: false,
            shares_commits: true,
            defers_progress: false,
            one_write_lock: true,
            foreign_keys_switch_outside_transaction: true,
            begin: "BEGIN IMMEDIATE",
        },
    }
}

/// The statements that set a runner's session up: how long a DDL statement waits for a lock
/// (`ddl_lock_timeout`, at least 1 ms), and on MySQL the time zone and the literal syntax the
/// runner writes (backslash escapes on). The first must succeed; the rest are best effort.
pub(crate) fn session_setup(dialect: Dialect, ddl_lock_timeout: Duration) -> (String, Vec<String>) {
    let ms = ddl_lock_timeout.as_millis().max(1);
    match dialect {
        Dialect::Postgres => (
            format!("SET lock_timeout = '{ms}ms'"),
            // PostgreSQL 14+: a killed runner's backend notices the closed socket within a
            // second and releases its locks, even in the middle of a long statement.
            vec!["SET client_connection_check_interval = '1s'".to_owned()],
        ),
        Dialect::Mysql => {
            let seconds = ms.div_ceil(1000);
            (
                format!(
                    "SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = \
                     {seconds}, time_zone = '+00:00', sql_mode = \
                     REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')"
                ),
                Vec::new(),
            )
        }
        Dialect::Sqlite => (format!("PRAGMA busy_timeout = {ms}"), Vec::new()),
    }
}
