//! The linter: what each migration's ops do to a live database on a given server (the lock
//! they hold and for how long, the data they lose, the running code they break), read from
//! the typed ops and the schema model rather than guessed from SQL text. It knows which tables
//! a migration creates (an op on a table created in the same run locks no one out), the
//! dialect and the server version, and for the rules `--safe` rewrites it knows the rewrite
//! exists, because it asks the renderer for it.
//!
//! Every rule has a stable code ([`Lint`]); a migration silences one with a reason:
//! `#[migration(after = [...], allow(GW003 = "the table has 40 rows"))]` or
//! `m.allow(Lint::GW003, "…")`.

mod rules;

use std::collections::BTreeSet;
use std::fmt;

use crate::dialect::{Server, ServerKind};
use crate::graph::Graph;
use crate::op::Op;
use crate::registry::{Location, Registry};
use crate::schema::Schema;

/// A lint rule. Its code (`GW001`…) is stable: suppressions and CI annotations name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lint {
    /// GW001: an index built on an existing PostgreSQL table without `CONCURRENTLY`.
    IndexWithoutConcurrently,
    /// GW002: an index dropped from an existing PostgreSQL table without `CONCURRENTLY`.
    DropIndexWithoutConcurrently,
    /// GW003: a foreign key added to an existing table, validating every row under its lock.
    ValidatingForeignKey,
    /// GW004: a CHECK added to an existing table, validating every row under its lock.
    ValidatingCheck,
    /// GW005: SET NOT NULL on an existing table, scanning it under its lock.
    SetNotNullScan,
    /// GW006: a UNIQUE constraint or primary key added to an existing table.
    UniqueBuiltUnderLock,
    /// GW007: a type change that rewrites (or copies) the table.
    TypeChangeRewrites,
    /// GW008: a column added with a volatile default, which rewrites the table.
    VolatileDefault,
    /// GW009: a MySQL/MariaDB add column that cannot be INSTANT and rebuilds the table.
    AddColumnRebuilds,
    /// GW010: a SQLite table rebuild of an existing table.
    SqliteRebuild,
    /// GW011: an enum value removed while existing tables use the type.
    EnumValueRemoved,
    /// GW012: a rename or drop of a table or column outside a `contract` migration.
    BreaksRunningCode,
    /// GW013: a drop of a table, column or constraint: what it held is gone.
    Destructive,
    /// GW014: a NOT NULL column without a default added to an existing table.
    NotNullWithoutDefault,
    /// GW015: raw SQL, which the linter cannot see into.
    RawSql,
    /// GW016: an UPDATE or DELETE of an existing table in one statement, or a Rust data step.
    UnbatchedDataChange,
    /// GW017: a MySQL column drop that rebuilds the table (INSTANT from MySQL 8.0.29).
    DropColumnRebuilds,
    /// GW018: an op the oldest server targeted cannot run (`DETACH … CONCURRENTLY` before
    /// PostgreSQL 14, a DEFAULT list partition on MySQL).
    NeedsNewerServer,
    /// GW019: a partition change that copies or scans rows under a lock (MySQL `PARTITION BY`,
    /// `REORGANIZE`, `EXCHANGE`; a PostgreSQL DEFAULT partition scanned).
    PartitionRowsUnderLock,
}

/// How bad a finding is: an error fails `check`, a warning is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[allow(non_upper_case_globals)]
impl Lint {
    pub const GW001: Lint = Lint::IndexWithoutConcurrently;
    pub const GW002: Lint = Lint::DropIndexWithoutConcurrently;
    pub const GW003: Lint = Lint::ValidatingForeignKey;
    pub const GW004: Lint = Lint::ValidatingCheck;
    pub const GW005: Lint = Lint::SetNotNullScan;
    pub const GW006: Lint = Lint::UniqueBuiltUnderLock;
    pub const GW007: Lint = Lint::TypeChangeRewrites;
    pub const GW008: Lint = Lint::VolatileDefault;
    pub const GW009: Lint = Lint::AddColumnRebuilds;
    pub const GW010: Lint = Lint::SqliteRebuild;
    pub const GW011: Lint = Lint::EnumValueRemoved;
    pub const GW012: Lint = Lint::BreaksRunningCode;
    pub const GW013: Lint = Lint::Destructive;
    pub const GW014: Lint = Lint::NotNullWithoutDefault;
    pub const GW015: Lint = Lint::RawSql;
    pub const GW016: Lint = Lint::UnbatchedDataChange;
    pub const GW017: Lint = Lint::DropColumnRebuilds;
    pub const GW018: Lint = Lint::NeedsNewerServer;
    pub const GW019: Lint = Lint::PartitionRowsUnderLock;

    pub const ALL: [Lint; 19] = [
        Lint::IndexWithoutConcurrently,
        Lint::DropIndexWithoutConcurrently,
        Lint::ValidatingForeignKey,
        Lint::ValidatingCheck,
        Lint::SetNotNullScan,
        Lint::UniqueBuiltUnderLock,
        Lint::TypeChangeRewrites,
        Lint::VolatileDefault,
        Lint::AddColumnRebuilds,
        Lint::SqliteRebuild,
        Lint::EnumValueRemoved,
        Lint::BreaksRunningCode,
        Lint::Destructive,
        Lint::NotNullWithoutDefault,
        Lint::RawSql,
        Lint::UnbatchedDataChange,
        Lint::DropColumnRebuilds,
        Lint::NeedsNewerServer,
        Lint::PartitionRowsUnderLock,
    ];

    /// `GW001`…
    pub fn code(self) -> &'static str {
        const CODES: [&str; 19] = [
            "GW001", "GW002", "GW003", "GW004", "GW005", "GW006", "GW007", "GW008", "GW009",
            "GW010", "GW011", "GW012", "GW013", "GW014", "GW015", "GW016", "GW017", "GW018",
            "GW019",
        ];
        CODES[self as usize]
    }

    pub fn from_code(code: &str) -> Option<Lint> {
        Lint::ALL.into_iter().find(|lint| lint.code() == code)
    }

    /// A few words naming the rule.
    pub fn title(self) -> &'static str {
        match self {
            Lint::IndexWithoutConcurrently => "index built without CONCURRENTLY",
            Lint::DropIndexWithoutConcurrently => "index dropped without CONCURRENTLY",
            Lint::ValidatingForeignKey => "foreign key validated under lock",
            Lint::ValidatingCheck => "check validated under lock",
            Lint::SetNotNullScan => "SET NOT NULL scans under lock",
            Lint::UniqueBuiltUnderLock => "unique key built under lock",
            Lint::TypeChangeRewrites => "type change rewrites the table",
            Lint::VolatileDefault => "volatile default rewrites the table",
            Lint::AddColumnRebuilds => "add column rebuilds the table",
            Lint::SqliteRebuild => "SQLite table rebuild",
            Lint::EnumValueRemoved => "enum value removed",
            Lint::BreaksRunningCode => "rename or drop outside a contract migration",
            Lint::Destructive => "destructive drop",
            Lint::NotNullWithoutDefault => "NOT NULL column without default",
            Lint::RawSql => "raw SQL is not linted",
            Lint::UnbatchedDataChange => "unbatched data change",
            Lint::DropColumnRebuilds => "drop column rebuilds the table",
            Lint::NeedsNewerServer => "needs a newer server",
            Lint::PartitionRowsUnderLock => "partition change moves rows under a lock",
        }
    }

    /// The severity of its findings, unless a finding says otherwise.
    pub fn severity(self) -> Severity {
        match self {
            Lint::SqliteRebuild
            | Lint::Destructive
            | Lint::RawSql
            | Lint::UnbatchedDataChange
            | Lint::AddColumnRebuilds
            | Lint::DropColumnRebuilds => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// `--safe` turns the op it fires on into the safe sequence (where the renderer has one
    /// for the server).
    pub fn rewritten_by_safe(self) -> bool {
        matches!(
            self,
            Lint::IndexWithoutConcurrently
                | Lint::DropIndexWithoutConcurrently
                | Lint::ValidatingForeignKey
                | Lint::ValidatingCheck
                | Lint::SetNotNullScan
                | Lint::UniqueBuiltUnderLock
        )
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rule a migration silences, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    pub lint: Lint,
    pub reason: String,
}

/// One rule firing on one op of one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub lint: Lint,
    pub severity: Severity,
    pub migration: String,
    pub location: Location,
    /// The op, numbered from 1 as errors and progress number them; `None` for the migration
    /// as a whole.
    pub op_index: Option<usize>,
    /// The op, described (`create_index("ix" on "users")`).
    pub op: Option<String>,
    pub table: Option<String>,
    /// The servers it fires on (with the same message).
    pub servers: Vec<Server>,
    /// What happens and why it is unsafe there.
    pub message: String,
    /// What to do instead.
    pub fix: String,
    /// `--safe` rewrites the op into its safe sequence on these servers.
    pub rewritable: bool,
    /// It is rewritten: the migration is marked `safe`, or the lint ran for `--safe` runs.
    pub rewritten: bool,
    /// The reason the migration gives for allowing it; an allowed finding fails nothing.
    pub allowed: Option<String>,
}

impl Finding {
    /// An error neither allowed nor rewritten: it fails `check`.
    pub fn fails(&self) -> bool {
        self.severity == Severity::Error && self.allowed.is_none() && !self.rewritten
    }

    /// `postgres@12, mysql@8.0`.
    pub fn servers_text(&self) -> String {
        let names: Vec<String> = self.servers.iter().map(Server::to_string).collect();
        names.join(", ")
    }
}

/// An `allow` that silences nothing, or has no reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowProblem {
    pub migration: String,
    pub location: Location,
    pub lint: Lint,
    pub message: String,
    /// It has no reason, which fails `check`. One that silences nothing for these servers
    /// is only reported: it may be for another server.
    pub fails: bool,
}

/// What [`lint`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintReport {
    pub findings: Vec<Finding>,
    pub allow_problems: Vec<AllowProblem>,
    /// The servers linted for.
    pub servers: Vec<Server>,
}

impl LintReport {
    /// Findings that fail a check, and allows without a reason.
    pub fn failures(&self) -> usize {
        self.findings.iter().filter(|f| f.fails()).count()
            + self.allow_problems.iter().filter(|p| p.fails).count()
    }
}

/// Which migrations are linted, and which tables count as new.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Each migration on its own, as if everything before it were applied: a table counts
    /// as new in the migration that creates it. What `check` does without a database.
    EachMigration,
    /// One run that applies what is not in `applied`: those migrations are linted, and a table
    /// any of them creates counts as new for all of them.
    Run { applied: &'a BTreeSet<String> },
}

/// Lints every migration of `graph`, in graph order, for each of `servers`; with `safe`, for
/// runs with [`Migrator::safe`](crate::Migrator::safe), whose rewritable findings are
/// rewritten. A migration the schema model rejects ends the walk for that server: `check`
/// reports it.
pub fn lint(
    registry: &Registry,
    graph: &Graph,
    servers: &[Server],
    scope: Scope,
    safe: bool,
) -> LintReport {
    let mut findings: Vec<Finding> = Vec::new();
    let mut used: BTreeSet<(String, Lint)> = BTreeSet::new();
    for &server in servers {
        let mut schema = Schema::new();
        let mut fresh: BTreeSet<String> = BTreeSet::new();
        'migrations: for id in graph.order() {
            let Some(entry) = registry.get(id) else {
                continue;
            };
            let recorded = entry.record_up(server.dialect());
            let linted = match scope {
                Scope::EachMigration => {
                    fresh.clear();
                    true
                }
                Scope::Run { applied } => !applied.contains(id),
            };
            let allows: Vec<Allow> = entry
                .allows()
                .iter()
                .map(|(lint, reason)| Allow {
                    lint: *lint,
                    reason: (*reason).to_owned(),
                })
                .chain(recorded.allows().iter().cloned())
                .collect();
            let mut raw_reported = false;
            for (index, op) in recorded.ops().iter().enumerate() {
                let before = schema.clone();
                if schema.apply_without_rollback(op).is_err() {
                    break 'migrations;
                }
                if !linted {
                    continue;
                }
                let ctx = rules::OpContext {
                    server,
                    op,
                    before: &before,
                    after: &schema,
                    fresh: &fresh,
                    contract: entry.is_contract(),
                };
                for hit in rules::check_op(&ctx) {
                    if hit.lint == Lint::RawSql && std::mem::replace(&mut raw_reported, true) {
                        continue;
                    }
                    let rewritable = hit.lint.rewritten_by_safe()
                        && matches!(
                            crate::render::render_safe(op, &before, &schema, server),
                            Ok(Some(_))
                        );
                    let rewritten = rewritable && (safe || entry.is_safe());
                    if rewritten && allows.iter().any(|a| a.lint == hit.lint) {
                        // Needed on a server without the safe sequence, not here.
                        used.insert((id.to_owned(), hit.lint));
                    }
                    // A rewritten op needs no allowing.
                    let allowed = allows
                        .iter()
                        .filter(|_| !rewritten)
                        .find(|a| a.lint == hit.lint && !a.reason.trim().is_empty())
                        .map(|a| a.reason.clone());
                    if allowed.is_some() {
                        used.insert((id.to_owned(), hit.lint));
                    }
                    add(
                        &mut findings,
                        Finding {
                            lint: hit.lint,
                            severity: hit.severity.unwrap_or(hit.lint.severity()),
                            migration: id.to_owned(),
                            location: entry.location(),
                            op_index: Some(index + 1),
                            op: Some(op.describe()),
                            table: hit.table,
                            servers: vec![server],
                            message: hit.message,
                            fix: hit.fix,
                            rewritable,
                            rewritten,
                            allowed,
                        },
                    );
                }
                note_new_tables(&mut fresh, op);
            }
        }
    }
    let mut allow_problems = Vec::new();
    for id in graph.order() {
        let Some(entry) = registry.get(id) else {
            continue;
        };
        if let Scope::Run { applied } = scope
            && applied.contains(id)
        {
            continue;
        }
        let dialect = servers
            .first()
            .map_or(crate::Dialect::Postgres, |s| s.dialect());
        let recorded = entry.record_up(dialect);
        let allows = entry
            .allows()
            .iter()
            .map(|(lint, reason)| (*lint, *reason))
            .chain(
                recorded
                    .allows()
                    .iter()
                    .map(|a| (a.lint, a.reason.as_str())),
            );
        for (lint, reason) in allows {
            let (message, fails) = if reason.trim().is_empty() {
                let message = format!(
                    "allow({lint}) gives no reason: say why the rule does not apply here, e.g. \
                     `allow({lint} = \"the table has 40 rows\")`"
                );
                (message, true)
            } else if !used.contains(&(id.to_owned(), lint)) {
                let message = format!(
                    "allow({lint}) silences nothing in this migration for {}: remove it, unless \
                     it is for another server",
                    servers_list(servers)
                );
                (message, false)
            } else {
                continue;
            };
            allow_problems.push(AllowProblem {
                migration: id.to_owned(),
                location: entry.location(),
                lint,
                message,
                fails,
            });
        }
    }
    let position: std::collections::HashMap<&str, usize> =
        graph.order().enumerate().map(|(i, id)| (id, i)).collect();
    findings.sort_by_key(|f| (position[f.migration.as_str()], f.op_index, f.lint));
    LintReport {
        findings,
        allow_problems,
        servers: servers.to_vec(),
    }
}

fn servers_list(servers: &[Server]) -> String {
    let names: Vec<String> = servers.iter().map(Server::to_string).collect();
    names.join(", ")
}

/// Adds `finding`, or its server to the same finding for another server.
fn add(findings: &mut Vec<Finding>, finding: Finding) {
    let same = findings.iter_mut().find(|f| {
        f.lint == finding.lint
            && f.migration == finding.migration
            && f.op_index == finding.op_index
            && f.message == finding.message
            && f.rewritable == finding.rewritable
    });
    match same {
        Some(existing) => existing.servers.extend(finding.servers),
        None => findings.push(finding),
    }
}

/// Tables an op creates have no rows yet, for the rest of the scope.
fn note_new_tables(fresh: &mut BTreeSet<String>, op: &Op) {
    match op {
        Op::CreateTable(table) => {
            fresh.insert(table.name.clone());
        }
        Op::RenameTable { from, to } if fresh.remove(from) => {
            fresh.insert(to.clone());
        }
        Op::DropTable { name } => {
            fresh.remove(name);
        }
        _ => {}
    }
}

/// The servers `check` lints for when none is given: the oldest supported of each kind this
/// build speaks.
pub fn default_servers() -> Vec<Server> {
    ServerKind::ALL
        .into_iter()
        .filter(|kind| kind.dialect().is_built())
        .map(Server::lowest)
        .collect()
}
