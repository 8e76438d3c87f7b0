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

    /// Whether this build speaks it (the crate's `postgres`, `mysql`, `sqlite` features).
    pub fn is_built(self) -> bool {
        match self {
            Dialect::Postgres => cfg!(feature = "postgres"),
            Dialect::Mysql => cfg!(feature = "mysql"),
            Dialect::Sqlite => cfg!(feature = "sqlite"),
        }
    }

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

/// A server's version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The leading `major[.minor[.patch]]` of a version string (`15.20 (Debian …)`,
    /// `10.11.19-MariaDB-0+deb12u1`, `3.45.1`).
    pub fn parse_leading(text: &str) -> Option<Version> {
        let head: String = text
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = head.split('.').filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(Version::new(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch > 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

/// The kind of database server: the dialect, with MySQL and MariaDB told apart (they share
/// the SQL godwit writes, not the versions their online DDL arrived in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerKind {
    Postgres,
    Mysql,
    Mariadb,
    Sqlite,
}

impl ServerKind {
    pub const ALL: [ServerKind; 4] = [
        ServerKind::Postgres,
        ServerKind::Mysql,
        ServerKind::Mariadb,
        ServerKind::Sqlite,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Postgres => "postgres",
            ServerKind::Mysql => "mysql",
            ServerKind::Mariadb => "mariadb",
            ServerKind::Sqlite => "sqlite",
        }
    }

    pub fn dialect(self) -> Dialect {
        match self {
            ServerKind::Postgres => Dialect::Postgres,
            ServerKind::Mysql | ServerKind::Mariadb => Dialect::Mysql,
            ServerKind::Sqlite => Dialect::Sqlite,
        }
    }

    /// The oldest version godwit supports.
    pub fn lowest_supported(self) -> Version {
        match self {
            ServerKind::Postgres => Version::new(12, 0, 0),
            ServerKind::Mysql => Version::new(8, 0, 0),
            ServerKind::Mariadb => Version::new(10, 5, 0),
            ServerKind::Sqlite => Version::new(3, 35, 0),
        }
    }
}

/// The server a plan or a lint is for: its kind and version. Rendering (`--safe`) and the lint
/// rules depend on what that version can do online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Server {
    pub kind: ServerKind,
    pub version: Version,
}

impl Server {
    /// The oldest supported server of `kind`: what a plan without a connection assumes.
    pub fn lowest(kind: ServerKind) -> Server {
        Server {
            kind,
            version: kind.lowest_supported(),
        }
    }

    /// The oldest supported server speaking `dialect` (MySQL for [`Dialect::Mysql`]).
    pub fn lowest_of(dialect: Dialect) -> Server {
        Server::lowest(match dialect {
            Dialect::Postgres => ServerKind::Postgres,
            Dialect::Mysql => ServerKind::Mysql,
            Dialect::Sqlite => ServerKind::Sqlite,
        })
    }

    pub fn dialect(self) -> Dialect {
        self.kind.dialect()
    }

    /// At least version `major.minor.patch`.
    pub fn at_least(self, major: u32, minor: u32, patch: u32) -> bool {
        self.version >= Version::new(major, minor, patch)
    }

    /// `kind@version`, as `--target` takes it: `postgres@15`, `mysql@8.0.29`, `mariadb@10.11`,
    /// `sqlite@3.45`.
    pub fn parse(text: &str) -> Result<Server, String> {
        let (kind, version) = text.split_once('@').unwrap_or((text, ""));
        let kind = match kind {
            "postgres" | "postgresql" => ServerKind::Postgres,
            "mysql" => ServerKind::Mysql,
            "mariadb" => ServerKind::Mariadb,
            "sqlite" => ServerKind::Sqlite,
            other => {
                return Err(format!(
                    "unknown server `{other}` in target `{text}`: postgres, mysql, mariadb or \
                     sqlite, e.g. `postgres@15`"
                ));
            }
        };
        if version.is_empty() {
            return Ok(Server::lowest(kind));
        }
        let parsed = Version::parse_leading(version)
            .filter(|_| version.chars().all(|c| c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!(
                    "`{version}` in target `{text}` is not a version: write \
                     major[.minor[.patch]], e.g. `{}@{}`",
                    kind.name(),
                    kind.lowest_supported()
                )
            })?;
        Ok(Server {
            kind,
            version: parsed,
        })
    }

    /// From what the server reports as its version (`SELECT version()` and the like).
    pub fn from_reported(dialect: Dialect, reported: &str) -> Option<Server> {
        let kind = match dialect {
            Dialect::Postgres => ServerKind::Postgres,
            Dialect::Mysql if reported.to_ascii_lowercase().contains("mariadb") => {
                ServerKind::Mariadb
            }
            Dialect::Mysql => ServerKind::Mysql,
            Dialect::Sqlite => ServerKind::Sqlite,
        };
        Some(Server {
            kind,
            version: Version::parse_leading(reported)?,
        })
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.kind.name(), self.version)
    }
}
