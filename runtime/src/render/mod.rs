//! Rendering ops to SQL: `common` spells what the dialects share, once; each dialect module
//! implements `common::DialectSql` with what it spells differently or refuses.
//!
//! Rendering is a pure function of the op, the schema before it, the schema after it and the
//! dialect. Identifiers are always quoted and escaped here, with sea-query's quoting given
//! owned names; literals are written by sea-query's escaper. The statements themselves are
//! spelled here, not by sea-query's builders.

mod backfill;
mod common;
#[cfg(feature = "mysql")]
mod mysql;
mod partition;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;
mod sync;

pub use backfill::{BatchedUpdate, CopyRows, Key, KeyColumn};
#[cfg(feature = "mysql")]
pub(crate) use mysql::native_type as mysql_native_type;
#[cfg(feature = "postgres")]
pub(crate) use postgres::native_type as postgres_native_type;
#[cfg(feature = "sqlite")]
pub(crate) use sqlite::native_type as sqlite_native_type;
pub(crate) use sync::event_trigger;

use std::fmt::Write as _;

#[cfg(feature = "mysql")]
use sea_query::MysqlQueryBuilder;
#[cfg(feature = "postgres")]
use sea_query::PostgresQueryBuilder;
#[cfg(feature = "sqlite")]
use sea_query::SqliteQueryBuilder;
#[allow(unused)]
use sea_query::{Alias, IntoIden, QueryBuilder, QuotedBuilder, Value};
use thiserror::Error;

use crate::dialect::{Server, ServerKind};
use crate::op::{AssertionKind, Dialect, Expect, Literal, OnFailure, Op, Table};
use crate::op::{Column, DefaultValue};
use crate::schema::Schema;

/// One SQL statement of a rendered op.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statement {
    pub sql: String,
    /// A verification query (e.g. `PRAGMA foreign_key_check`): the op failed if it returns rows.
    pub expect_no_rows: bool,
    /// Skip the statement when this query returns rows: for objects the model cannot see
    /// (the indexes MySQL keeps for foreign keys), whose existence only the database knows.
    pub unless_exists: Option<String>,
    /// A precondition or verification query: its result must be as expected.
    pub check: Option<StatementCheck>,
    /// An `EXPLAIN`: the runner reports the rows it returns as the query's plan.
    pub reports_plan: bool,
}

/// What a check statement ([`Statement::check`]) expects, and what its failure does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementCheck {
    pub kind: AssertionKind,
    pub expect: Expect,
    /// Inside a savepoint: after rolling back to it, fail or go on.
    pub in_savepoint: Option<OnFailure>,
}

/// The savepoint a [`Savepoint`](crate::op::Savepoint) op sets, releases, and rolls back to.
pub const SAVEPOINT: &str = "godwit_savepoint";

impl Statement {
    fn exec(sql: String) -> Self {
        Statement {
            sql,
            ..Statement::default()
        }
    }
}

/// The SQL of one op for one dialect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RenderedOp {
    pub statements: Vec<Statement>,
    /// Must run outside a transaction (PostgreSQL `CONCURRENTLY`).
    pub outside_transaction: bool,
    /// SQLite table rebuild: `PRAGMA foreign_keys` must be OFF around the transaction, or dropping
    /// the old table would fire `ON DELETE` actions in other tables.
    pub foreign_keys_off: bool,
    /// What an earlier, failed attempt at this op may have left behind, to remove first.
    pub leftover: Option<Leftover>,
    /// A backfill, which the runner runs batch by batch (its `statements` are empty).
    pub batched: Option<BatchedUpdate>,
    /// Runs in a transaction on every dialect, MySQL's too (data steps in a savepoint).
    pub in_transaction: bool,
}

/// An object a failed attempt leaves behind (PostgreSQL keeps the INVALID index of a failed
/// `CREATE INDEX CONCURRENTLY`): when `probe` returns rows, the `remove` statements run, in
/// order, before the op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub probe: String,
    pub remove: Vec<String>,
}

impl RenderedOp {
    fn statements(sql: impl IntoIterator<Item = String>) -> Self {
        RenderedOp {
            statements: sql.into_iter().map(Statement::exec).collect(),
            ..RenderedOp::default()
        }
    }

    /// The statements as a script, `;`-terminated, verification queries as comments.
    pub fn to_sql(&self) -> String {
        let mut out = String::new();
        if let Some(batched) = &self.batched {
            out.push_str(&batched.script());
        }
        for statement in &self.statements {
            if statement.expect_no_rows {
                let _ = writeln!(out, "-- must return no rows:");
            }
            if let Some(probe) = &statement.unless_exists {
                let _ = writeln!(out, "-- unless this returns rows: {probe}");
            }
            if statement.reports_plan {
                let _ = writeln!(out, "-- the plan it returns is reported:");
            }
            if let Some(check) = &statement.check {
                let _ = writeln!(
                    out,
                    "-- {}: must return {}{}",
                    check.kind.label(),
                    check.expect,
                    match check.in_savepoint {
                        Some(OnFailure::Fail) => ", else roll back to the savepoint and fail",
                        Some(OnFailure::Continue) => ", else roll back to the savepoint and go on",
                        None => "",
                    }
                );
            }
            let _ = writeln!(out, "{};", statement.sql);
        }
        out
    }
}

/// An op this dialect cannot do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{op} cannot run on {dialect}: {reason}; {fix}")]
pub struct RenderError {
    pub op: String,
    pub dialect: Dialect,
    pub reason: String,
    /// What to do instead.
    pub fix: String,
}

/// Renders `op` for `dialect`, given the schema before and after it.
pub fn render(
    op: &Op,
    before: &Schema,
    after: &Schema,
    dialect: Dialect,
) -> Result<RenderedOp, RenderError> {
    let ctx = Ctx {
        op,
        before,
        after,
        sql: Sql(dialect),
    };
    common::render(dialect_sql(&ctx)?, &ctx)
}

/// `op` rewritten into its safe sequence for `server` (`--safe`), when it has one there: the
/// same end state, reached without holding the lock its plain form holds for as long as a
/// scan or a build takes (PostgreSQL `CONCURRENTLY`, `NOT VALID` then `VALIDATE`; MySQL
/// `ALGORITHM`/`LOCK` clauses that make the server refuse rather than block writes).
pub fn render_safe(
    op: &Op,
    before: &Schema,
    after: &Schema,
    server: Server,
) -> Result<Option<RenderedOp>, RenderError> {
    let ctx = Ctx {
        op,
        before,
        after,
        sql: Sql(server.dialect()),
    };
    dialect_sql(&ctx)?.safe(&ctx, server).transpose()
}

/// The renderer of `ctx`'s dialect, if this build speaks it.
fn dialect_sql(ctx: &Ctx) -> Result<&'static dyn common::DialectSql, RenderError> {
    Ok(match ctx.sql.0 {
        #[cfg(feature = "postgres")]
        Dialect::Postgres => &postgres::Postgres,
        #[cfg(feature = "mysql")]
        Dialect::Mysql => &mysql::Mysql,
        #[cfg(feature = "sqlite")]
        Dialect::Sqlite => &sqlite::Sqlite,
        #[allow(unreachable_patterns)]
        other => {
            return Err(ctx.refuse(
                format!("this build of godwit speaks no {}", other.name()),
                format!("enable the crate's `{}` feature", other.name()),
            ));
        }
    })
}

/// Whether `server` adds `column` as a change of metadata only (`ALGORITHM=INSTANT`: MySQL
/// 8.0.12+, MariaDB 10.3.2+), with no rebuild of the table: a column added last, without an
/// expression default.
pub(crate) fn instant_add_column(server: Server, column: &Column) -> bool {
    let version_has_it = match server.kind {
        ServerKind::Mariadb => server.at_least(10, 3, 2),
        _ => server.at_least(8, 0, 12),
    };
    version_has_it
        && !column.auto_increment
        && !matches!(
            column.default,
            Some(DefaultValue::Expr(_) | DefaultValue::Now)
        )
}

/// `name` quoted and escaped as an identifier for `dialect`.
pub fn quote_identifier(dialect: Dialect, name: &str) -> String {
    Sql(dialect).ident(name)
}

/// `value` as a string literal for `dialect`.
pub fn quote_literal(dialect: Dialect, value: &str) -> String {
    Sql(dialect).string(value)
}

/// A MySQL string literal, for a session with backslash escapes on (the runner's). Not
/// sea-query's: it writes Ctrl-Z as `\z`, which MySQL reads as `z`.
fn mysql_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The longest prefix of `name` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncated(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// What a dialect renderer sees.
pub(crate) struct Ctx<'a> {
    pub op: &'a Op,
    pub before: &'a Schema,
    pub after: &'a Schema,
    pub sql: Sql,
}

impl Ctx<'_> {
    pub fn refuse(&self, reason: impl Into<String>, fix: impl Into<String>) -> RenderError {
        RenderError {
            op: self.op.describe(),
            dialect: self.sql.0,
            reason: reason.into(),
            fix: fix.into(),
        }
    }

    /// A table of the schema after the op; the schema model validated that it exists.
    pub fn after_table(&self, name: &str) -> Result<&Table, RenderError> {
        self.table_in(self.after, name)
    }

    pub fn before_table(&self, name: &str) -> Result<&Table, RenderError> {
        self.table_in(self.before, name)
    }

    fn table_in<'s>(&self, schema: &'s Schema, name: &str) -> Result<&'s Table, RenderError> {
        schema.table(name).ok_or_else(|| {
            self.refuse(
                format!("table `{name}` is not in the schema"),
                "apply the op to the schema it was validated on",
            )
        })
    }
}

/// Quoting and literals for one dialect, delegating escaping to sea-query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql(pub Dialect);

impl Sql {
    /// A quoted identifier. sea-query escapes the quote character only for owned names, so the
    /// name always goes through an owned `Alias`.
    pub fn ident(self, name: &str) -> String {
        let iden = Alias::new(name).into_iden();
        let mut out = String::with_capacity(name.len() + 2);
        match self.0 {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => PostgresQueryBuilder.prepare_iden(&iden, &mut out),
            #[cfg(feature = "mysql")]
            Dialect::Mysql => MysqlQueryBuilder.prepare_iden(&iden, &mut out),
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => SqliteQueryBuilder.prepare_iden(&iden, &mut out),
            // Not rendered for in this build: the standard quoting, as those backends write it.
            #[allow(unreachable_patterns)]
            other => {
                let quote = match other {
                    Dialect::Mysql => '`',
                    _ => '"',
                };
                out.push(quote);
                for c in name.chars() {
                    if c == quote {
                        out.push(quote);
                    }
                    out.push(c);
                }
                out.push(quote);
            }
        }
        out
    }

    /// Quoted identifiers, comma-separated.
    pub fn idents(self, names: &[String]) -> String {
        names
            .iter()
            .map(|n| self.ident(n))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn string(self, value: &str) -> String {
        #[allow(unused)]
        let value_of = || Value::String(Some(value.to_owned()));
        match self.0 {
            #[cfg(feature = "postgres")]
            Dialect::Postgres => PostgresQueryBuilder.value_to_string(&value_of()),
            Dialect::Mysql => mysql_string(value),
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => SqliteQueryBuilder.value_to_string(&value_of()),
            // Not rendered for in this build: quotes doubled, as those backends write it.
            #[allow(unreachable_patterns)]
            _ => format!("'{}'", value.replace('\'', "''")),
        }
    }

    pub fn literal(self, literal: &Literal) -> String {
        match literal {
            Literal::Bool(b) => match self.0 {
                Dialect::Postgres => if *b { "TRUE" } else { "FALSE" }.to_owned(),
                // MySQL's and SQLite's booleans are integers; introspection shows 1/0.
                Dialect::Mysql | Dialect::Sqlite => if *b { "1" } else { "0" }.to_owned(),
            },
            Literal::Int(i) => i.to_string(),
            Literal::Float(f) if f.is_finite() => format!("{f:?}"),
            Literal::Float(f) => self.string(&f.to_string()),
            Literal::String(s) => self.string(s),
        }
    }

    /// `'a', 'b'` for an enum's values.
    pub fn strings(self, values: &[String]) -> String {
        values
            .iter()
            .map(|v| self.string(v))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
