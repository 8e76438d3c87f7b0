//! Multi-tenant fan-out: the same migrations on many tenants, each a PostgreSQL schema, a
//! MySQL/MariaDB database, or a SQLite file, with its own history table and lock (in its
//! schema, database or file), its own connection (a schema's `search_path` is set when the
//! connection opens, on a connection of its own that closes with the tenant: nothing is left
//! on a shared one), and the same plan. Tenants run `jobs` at a time; `canary` first ones run
//! before the rest, which do not start if one of those fails; after a failure the others go on
//! (the default), or none starts any more (`FailFast`), or none once `MaxFailures` have failed.
//! A rerun does what is not done: every tenant's `up` resumes from its own history.
//!
//! ```no_run
//! # async fn run() -> Result<(), godwit::runner::RunError> {
//! use godwit::tenants::{self, FanOut, TenantSpec};
//! let registry = godwit::registry::Registry::collect()?;
//! let url = "postgres://app@localhost/app";
//! let found = tenants::resolve(url, &TenantSpec::parse("tenant_%")).await?;
//! let report = tenants::upgrade(&registry, &found, &[godwit::Target::Heads], &FanOut::default(),
//!     |m| m, |_| {}).await;
//! assert!(report.failed().next().is_none());
//! # Ok(()) }
//! ```

// Errors are returned once, after the database work, as in the runner.
#![allow(clippy::result_large_err)]

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::db::{Connection, DbError, dialect_of_url};
use crate::dialect::Dialect;
use crate::graph::Target;
use crate::registry::Registry;
use crate::render::quote_literal;
use crate::runner::{Migrator, RunError, State};

/// Which tenants: a pattern (`tenant_%` for schemas or databases, `data/*.db` for SQLite
/// files), a list, or a query on the database that lists them (one per row, first column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantSpec {
    Pattern(String),
    List(Vec<String>),
    Query(String),
}

impl TenantSpec {
    /// `tenant_%` / `data/*.db` (a pattern), or `a,b,c` (a list).
    pub fn parse(text: &str) -> TenantSpec {
        // URLs are listed, whatever their query strings hold.
        match !text.contains("://") && text.contains(['%', '*', '?']) {
            true => TenantSpec::Pattern(text.to_owned()),
            false => TenantSpec::List(
                text.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        }
    }
}

/// One tenant, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The schema, database, file, or URL that names it.
    pub name: String,
    /// What it connects with.
    pub url: String,
    /// The PostgreSQL schema that holds its tables and its history.
    pub schema: Option<String>,
    /// Its schema, database or file exists; one named in a list that does not is skipped.
    pub provisioned: bool,
}

/// Finds the tenants of `spec` on the server (or, for SQLite, the files) `url` names: a
/// PostgreSQL URL's schemas, a MySQL URL's server's databases, SQLite files; an entry that is a
/// URL is a tenant of its own. A pattern that matches nothing is an error.
pub async fn resolve(url: &str, spec: &TenantSpec) -> Result<Vec<Tenant>, RunError> {
    let dialect = dialect_of_url(url).map_err(|source| RunError::Database {
        context: "reading the tenants' database URL".into(),
        source,
    })?;
    if dialect == Dialect::Sqlite {
        return sqlite_files(spec);
    }
    let mut conn = Connection::connect(url)
        .await
        .map_err(|e| tenant_error(url, "connecting to list the tenants", e))?;
    let existing = |filter: String| match dialect {
        Dialect::Postgres => format!(
            "SELECT nspname FROM pg_namespace WHERE {filter} AND nspname NOT LIKE 'pg\\_%' \
             AND nspname <> 'information_schema' ORDER BY 1"
        ),
        _ => format!(
            "SELECT schema_name FROM information_schema.schemata WHERE {filter} AND schema_name \
             NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema') ORDER BY 1"
        ),
    };
    let column = match dialect {
        Dialect::Postgres => "nspname",
        _ => "schema_name",
    };
    let names: Vec<(String, bool)> = match spec {
        TenantSpec::Pattern(pattern) => {
            let filter = format!("{column} LIKE {}", quote_literal(dialect, pattern));
            let found = conn
                .fetch_text(&existing(filter))
                .await
                .map_err(|e| tenant_error(url, "listing the tenants", e))?;
            let names: Vec<(String, bool)> = first_column(found).map(|n| (n, true)).collect();
            if names.is_empty() {
                return Err(RunError::Tenants(format!(
                    "the tenant pattern `{pattern}` matches no {} on {}: check the pattern \
                     (`%` matches any run of characters)",
                    match dialect {
                        Dialect::Postgres => "schema",
                        _ => "database",
                    },
                    crate::db::redact_url(url)
                )));
            }
            names
        }
        TenantSpec::List(list) => {
            let mut names = Vec::with_capacity(list.len());
            for name in list {
                if name.contains("://") {
                    names.push((name.clone(), true));
                    continue;
                }
                let filter = format!("{column} = {}", quote_literal(dialect, name));
                let found = conn
                    .fetch_text(&existing(filter))
                    .await
                    .map_err(|e| tenant_error(url, "looking for a tenant", e))?;
                names.push((name.clone(), !found.is_empty()));
            }
            names
        }
        TenantSpec::Query(sql) => {
            let found = conn
                .fetch_text(sql)
                .await
                .map_err(|e| tenant_error(url, "running the query that lists the tenants", e))?;
            first_column(found).map(|n| (n, true)).collect()
        }
    };
    let _ = conn.close().await;
    names
        .into_iter()
        .map(|(name, provisioned)| tenant(dialect, url, name, provisioned))
        .collect()
}

fn first_column(rows: Vec<Vec<Option<String>>>) -> impl Iterator<Item = String> {
    rows.into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
}

fn tenant_error(url: &str, context: &str, source: DbError) -> RunError {
    RunError::Database {
        context: format!("{context} ({})", crate::db::redact_url(url)),
        source,
    }
}

/// The tenant `name` of the server `url` names.
fn tenant(
    dialect: Dialect,
    url: &str,
    name: String,
    provisioned: bool,
) -> Result<Tenant, RunError> {
    if name.contains("://") {
        return Ok(Tenant {
            url: name.clone(),
            name,
            schema: None,
            provisioned,
        });
    }
    let simple = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-');
    if !simple {
        return Err(RunError::Tenants(format!(
            "tenant `{name}`: a schema or database name of letters, digits, `_`, `-` and `$` \
             only; name it by URL instead"
        )));
    }
    if dialect == Dialect::Postgres && name.chars().any(|c| c.is_ascii_uppercase()) {
        // The search path would fold it to lower case, the history table would not.
        return Err(RunError::Tenants(format!(
            "tenant schema `{name}` has capital letters: rename the schema in lower case, or \
             name the tenant by URL"
        )));
    }
    Ok(match dialect {
        Dialect::Postgres => {
            // The schema first on the search path, set when the connection opens; added to the
            // URL's own `options` when it has them (libpq and pg_dump keep one: the last).
            let setting = format!("-c%20search_path%3D{name}");
            let url = match options_end(url) {
                Some(end) => format!("{}%20{setting}{}", &url[..end], &url[end..]),
                None => {
                    let joiner = if url.contains('?') { '&' } else { '?' };
                    format!("{url}{joiner}options={setting}")
                }
            };
            Tenant {
                url,
                schema: Some(name.clone()),
                name,
                provisioned,
            }
        }
        _ => Tenant {
            url: crate::db::with_database(url, &name),
            schema: None,
            name,
            provisioned,
        },
    })
}

/// Where the value of the `options` parameter of `url`'s query ends, if it has one.
fn options_end(url: &str) -> Option<usize> {
    let query = url.find('?')? + 1;
    let mut at = query;
    for param in url[query..].split('&') {
        if param.starts_with("options=") {
            return Some(at + param.len());
        }
        at += param.len() + 1;
    }
    None
}

/// SQLite tenants: files matching a pattern (`*` and `?` in the file name), or listed.
fn sqlite_files(spec: &TenantSpec) -> Result<Vec<Tenant>, RunError> {
    let file = |path: &Path, provisioned: bool| Tenant {
        name: path.display().to_string(),
        url: format!("sqlite://{}?mode=rw", path.display()),
        schema: None,
        provisioned,
    };
    match spec {
        TenantSpec::Pattern(pattern) => {
            let path = Path::new(pattern);
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if dir.to_string_lossy().contains(['*', '?']) {
                return Err(RunError::Tenants(format!(
                    "the tenant pattern `{pattern}`: only the file name may hold `*` or `?`"
                )));
            }
            let entries = std::fs::read_dir(&dir).map_err(|e| {
                RunError::Tenants(format!(
                    "the tenant pattern `{pattern}`: cannot read {}: {e}",
                    dir.display()
                ))
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .filter(|e| glob_match(&name, &e.file_name().to_string_lossy()))
                .map(|e| e.path())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(RunError::Tenants(format!(
                    "the tenant pattern `{pattern}` matches no file in {}",
                    dir.display()
                )));
            }
            Ok(found.iter().map(|p| file(p, true)).collect())
        }
        TenantSpec::List(list) => Ok(list
            .iter()
            .map(|name| match name.contains("://") {
                true => Tenant {
                    name: name.clone(),
                    url: name.clone(),
                    schema: None,
                    provisioned: true,
                },
                false => file(Path::new(name), Path::new(name).is_file()),
            })
            .collect()),
        TenantSpec::Query(_) => Err(RunError::Tenants(
            "SQLite tenants are files: give a pattern (`data/*.db`) or a list, not a query".into(),
        )),
    }
}

/// `*` any run of characters, `?` one character.
fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(at) = star {
            pi = at + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What happens after a tenant fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// The other tenants go on; the report says which failed.
    #[default]
    Continue,
    /// No tenant starts once one has failed (those running finish).
    FailFast,
    /// No tenant starts once this many have failed.
    MaxFailures(usize),
}

/// How a fan-out runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// Tenants at a time.
    pub jobs: usize,
    /// The first tenants, run before the others, which do not start if one of these fails.
    pub canary: usize,
    pub policy: FailurePolicy,
}

impl Default for FanOut {
    fn default() -> Self {
        FanOut {
            jobs: 4,
            canary: 0,
            policy: FailurePolicy::Continue,
        }
    }
}

/// What one tenant's run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantResult {
    /// These migrations were applied (none: it was up to date).
    Applied(Vec<String>),
    Failed {
        /// The migration and op that failed, when the failure is one's.
        migration: Option<String>,
        op: Option<String>,
        message: String,
    },
    /// Not provisioned: its schema, database or file does not exist.
    Skipped(String),
    /// It did not start: the canary, or the failure policy, stopped the fan-out first.
    NotRun(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantOutcome {
    pub tenant: String,
    pub result: TenantResult,
    pub elapsed: Duration,
}

/// Every tenant's outcome, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanOutReport {
    pub tenants: Vec<TenantOutcome>,
}

impl FanOutReport {
    pub fn failed(&self) -> impl Iterator<Item = &TenantOutcome> {
        self.tenants
            .iter()
            .filter(|t| matches!(t.result, TenantResult::Failed { .. }))
    }
}

/// Upgrades every tenant to `targets`, as `fan_out` says; `configure` sets each tenant's
/// Migrator up (options, events) and `finished` hears of each tenant as it ends.
pub async fn upgrade(
    registry: &Registry,
    tenants: &[Tenant],
    targets: &[Target],
    fan_out: &FanOut,
    configure: impl Fn(Migrator) -> Migrator,
    mut finished: impl FnMut(&TenantOutcome),
) -> FanOutReport {
    let jobs = fan_out.jobs.max(1);
    let canary = fan_out.canary.min(tenants.len());
    let failures = Cell::new(0usize);
    let stopped: Cell<Option<&'static str>> = Cell::new(None);
    let mut outcomes: Vec<Option<TenantOutcome>> = vec![None; tenants.len()];
    for (range, is_canary) in [(0..canary, true), (canary..tenants.len(), false)] {
        let runs = futures_util::stream::iter(range.clone().map(|at| {
            let tenant = &tenants[at];
            let configure = &configure;
            let (failures, stopped) = (&failures, &stopped);
            async move {
                let started = Instant::now();
                let result = match stopped.get() {
                    Some(reason) => TenantResult::NotRun(reason.into()),
                    None => upgrade_one(registry, tenant, targets, configure).await,
                };
                if matches!(result, TenantResult::Failed { .. }) {
                    failures.set(failures.get() + 1);
                    let stop = match fan_out.policy {
                        _ if is_canary => Some("a canary tenant failed"),
                        FailurePolicy::FailFast => Some("a tenant failed, and the run fails fast"),
                        FailurePolicy::MaxFailures(n) if failures.get() >= n => {
                            Some("the failures reached the threshold")
                        }
                        _ => None,
                    };
                    if stop.is_some() && stopped.get().is_none() {
                        stopped.set(stop);
                    }
                }
                let outcome = TenantOutcome {
                    tenant: tenant.name.clone(),
                    result,
                    elapsed: started.elapsed(),
                };
                (at, outcome)
            }
        }))
        .buffer_unordered(jobs);
        futures_util::pin_mut!(runs);
        while let Some((at, outcome)) = runs.next().await {
            finished(&outcome);
            outcomes[at] = Some(outcome);
        }
    }
    FanOutReport {
        tenants: outcomes.into_iter().flatten().collect(),
    }
}

async fn upgrade_one(
    registry: &Registry,
    tenant: &Tenant,
    targets: &[Target],
    configure: &impl Fn(Migrator) -> Migrator,
) -> TenantResult {
    if !tenant.provisioned {
        return TenantResult::Skipped(match &tenant.schema {
            Some(_) => "not provisioned: no such schema".into(),
            None if tenant.url.starts_with("sqlite") => "not provisioned: no such file".into(),
            None => "not provisioned: no such database".into(),
        });
    }
    let failed = |error: RunError| match &error {
        RunError::Failed { id, op, .. } => TenantResult::Failed {
            migration: Some(id.clone()),
            op: Some(op.clone()),
            message: error.to_string(),
        },
        _ => TenantResult::Failed {
            migration: None,
            op: None,
            message: error.to_string(),
        },
    };
    let mut migrator = match connect(registry, tenant).await {
        Ok(m) => configure(m),
        Err(e) => return failed(e),
    };
    // Changed migrations accepted: their checksums re-recorded in this tenant's history too.
    let result = match migrator.accepts_changes() {
        true => match migrator.record_checksums().await {
            Ok(_) => migrator.upgrade(targets).await,
            Err(e) => Err(e),
        },
        false => migrator.upgrade(targets).await,
    };
    let _ = migrator.close().await;
    match result {
        Ok(report) => TenantResult::Applied(report.applied),
        Err(e) => failed(e),
    }
}

/// A Migrator on `tenant`, its history in the tenant's schema.
async fn connect(registry: &Registry, tenant: &Tenant) -> Result<Migrator, RunError> {
    let migrator = Migrator::connect_with_registry(&tenant.url, registry.clone()).await?;
    Ok(match &tenant.schema {
        Some(schema) => migrator.history_table(Some(schema), crate::runner::DEFAULT_HISTORY_TABLE),
        None => migrator,
    })
}

/// Where one tenant stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantStatus {
    pub tenant: String,
    pub applied: usize,
    pub pending: usize,
    /// Partial, changed, unknown or interrupted migrations.
    pub other: usize,
    /// Why its status could not be read, or why it was skipped.
    pub error: Option<String>,
}

/// Every tenant's status, `jobs` at a time.
pub async fn status(registry: &Registry, tenants: &[Tenant], jobs: usize) -> Vec<TenantStatus> {
    let reads = futures_util::stream::iter(tenants.iter().map(|tenant| async move {
        let mut status = TenantStatus {
            tenant: tenant.name.clone(),
            applied: 0,
            pending: 0,
            other: 0,
            error: None,
        };
        if !tenant.provisioned {
            status.error = Some("not provisioned".into());
            return status;
        }
        let read = async {
            let mut migrator = connect(registry, tenant).await?;
            let read = migrator.status().await;
            let _ = migrator.close().await;
            read
        };
        match read.await {
            Ok(found) => {
                for m in found.migrations {
                    match m.state {
                        State::Applied => status.applied += 1,
                        State::Pending => status.pending += 1,
                        _ => status.other += 1,
                    }
                }
            }
            Err(e) => status.error = Some(e.to_string()),
        }
        status
    }))
    .buffered(jobs.max(1));
    reads.collect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_file_names() {
        assert!(glob_match("*.db", "a.db"));
        assert!(glob_match("tenant_??.db", "tenant_07.db"));
        assert!(!glob_match("tenant_??.db", "tenant_7.db"));
        assert!(glob_match("t*_*.sqlite3", "tenant_1.sqlite3"));
        assert!(!glob_match("*.db", "a.db-wal"));
    }

    #[test]
    fn tenant_urls_name_the_schema_or_the_database() {
        let pg = tenant(
            Dialect::Postgres,
            "postgres://app@host/shop?sslmode=disable",
            "tenant_1".into(),
            true,
        )
        .unwrap();
        assert_eq!(
            pg.url,
            "postgres://app@host/shop?sslmode=disable&options=-c%20search_path%3Dtenant_1"
        );
        assert_eq!(pg.schema.as_deref(), Some("tenant_1"));
        // The URL's own options stay, with the search path after them.
        let with_options = tenant(
            Dialect::Postgres,
            "postgres://app@host/shop?options=-c%20statement_timeout%3D5000&sslmode=disable",
            "tenant_2".into(),
            true,
        )
        .unwrap();
        assert_eq!(
            with_options.url,
            "postgres://app@host/shop?options=-c%20statement_timeout%3D5000%20-c%20search_path%3Dtenant_2&sslmode=disable"
        );
        let my = tenant(
            Dialect::Mysql,
            "mysql://root@127.0.0.1:3306/test",
            "t2".into(),
            true,
        )
        .unwrap();
        assert_eq!(my.url, "mysql://root@127.0.0.1:3306/t2");
        assert!(tenant(Dialect::Mysql, "mysql://root@h/x", "a b".into(), true).is_err());
        // The search path would fold it; the history table would not.
        assert!(tenant(Dialect::Postgres, "postgres://h/x", "Tenant_A".into(), true).is_err());
        // A list of URLs stays a list, whatever their query strings hold.
        assert_eq!(
            TenantSpec::parse("postgres://h/a?sslmode=require,postgres://h/b"),
            TenantSpec::List(vec![
                "postgres://h/a?sslmode=require".into(),
                "postgres://h/b".into()
            ])
        );
        assert_eq!(
            TenantSpec::parse("a, b,c"),
            TenantSpec::List(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            TenantSpec::parse("tenant_%"),
            TenantSpec::Pattern("tenant_%".into())
        );
    }
}
