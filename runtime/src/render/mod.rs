//! Rendering ops to SQL, one module per dialect.
//!
//! Rendering is a pure function of the op, the schema before it, the schema after it and the
//! dialect. Identifiers are always quoted and escaped here (sea-query writes some names
//! unescaped, so names never reach it raw); literals are written by sea-query's escaper.

mod mysql;
mod postgres;
mod sqlite;

pub(crate) use mysql::native_type as mysql_native_type;
pub(crate) use postgres::native_type as postgres_native_type;
pub(crate) use sqlite::native_type as sqlite_native_type;

use std::fmt::Write as _;

use sea_query::{
    Alias, IntoIden, MysqlQueryBuilder, PostgresQueryBuilder, QueryBuilder, QuotedBuilder,
    SqliteQueryBuilder, Value,
};
use thiserror::Error;

use crate::op::{Check, Dialect, ForeignKey, Literal, Op, PrimaryKey, Unique};
use crate::schema::{Inverse, Schema, SchemaError};

/// One SQL statement of a rendered op.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statement {
    pub sql: String,
    /// A verification query (e.g. `PRAGMA foreign_key_check`): the op failed if it returns rows.
    pub expect_no_rows: bool,
    /// Skip the statement when this query returns rows: for objects the model cannot see
    /// (the indexes MySQL keeps for foreign keys), whose existence only the database knows.
    pub unless_exists: Option<String>,
}

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
}

/// An object a failed attempt leaves behind (PostgreSQL keeps the INVALID index of a failed
/// `CREATE INDEX CONCURRENTLY`): when `probe` returns rows, `remove` runs before the op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub probe: String,
    pub remove: String,
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
        for statement in &self.statements {
            if statement.expect_no_rows {
                let _ = writeln!(out, "-- must return no rows:");
            }
            if let Some(probe) = &statement.unless_exists {
                let _ = writeln!(out, "-- unless this returns rows: {probe}");
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

/// Why an op could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Render(#[from] RenderError),
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
    match dialect {
        Dialect::Postgres => postgres::render(&ctx),
        Dialect::Mysql => mysql::render(&ctx),
        Dialect::Sqlite => sqlite::render(&ctx),
    }
}

/// Validates and applies `op` to `schema`, and returns its SQL and its inverse. On error the
/// schema is unchanged.
pub fn plan_op(
    op: &Op,
    schema: &mut Schema,
    dialect: Dialect,
) -> Result<(RenderedOp, Inverse), PlanError> {
    let mut after = schema.clone();
    let inverse = after.apply_without_rollback(op)?;
    let rendered = render(op, schema, &after, dialect)?;
    *schema = after;
    Ok((rendered, inverse))
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
    pub fn after_table(&self, name: &str) -> Result<&crate::op::Table, RenderError> {
        self.after.table(name).ok_or_else(|| {
            self.refuse(
                format!("table `{name}` is not in the schema"),
                "apply the op to the schema it was validated on",
            )
        })
    }

    pub fn before_table(&self, name: &str) -> Result<&crate::op::Table, RenderError> {
        self.before.table(name).ok_or_else(|| {
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
            Dialect::Postgres => PostgresQueryBuilder.prepare_iden(&iden, &mut out),
            Dialect::Mysql => MysqlQueryBuilder.prepare_iden(&iden, &mut out),
            Dialect::Sqlite => SqliteQueryBuilder.prepare_iden(&iden, &mut out),
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
        let value_of = || Value::String(Some(value.to_owned()));
        match self.0 {
            Dialect::Postgres => PostgresQueryBuilder.value_to_string(&value_of()),
            Dialect::Mysql => mysql_string(value),
            Dialect::Sqlite => SqliteQueryBuilder.value_to_string(&value_of()),
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

    /// `CONSTRAINT "pk" PRIMARY KEY ("a", "b")` (MySQL ignores the name: its key is `PRIMARY`).
    pub fn primary_key(self, pk: &PrimaryKey) -> String {
        format!(
            "CONSTRAINT {} PRIMARY KEY ({})",
            self.ident(&pk.name),
            self.idents(&pk.columns)
        )
    }

    /// `CONSTRAINT "uq" UNIQUE ("a", "b")`
    pub fn unique(self, unique: &Unique) -> String {
        format!(
            "CONSTRAINT {} UNIQUE ({})",
            self.ident(&unique.name),
            self.idents(&unique.columns)
        )
    }

    /// `CONSTRAINT "ck" CHECK (expr)`
    pub fn check(self, check: &Check) -> String {
        format!(
            "CONSTRAINT {} CHECK ({})",
            self.ident(&check.name),
            check.expr
        )
    }

    /// `CONSTRAINT "fk" FOREIGN KEY ("a") REFERENCES "t" ("id") ON DELETE … ON UPDATE …`
    pub fn foreign_key(self, fk: &ForeignKey) -> String {
        format!(
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
            self.ident(&fk.name),
            self.idents(&fk.columns),
            self.ident(&fk.ref_table),
            self.idents(&fk.ref_columns),
            fk.on_delete.sql(),
            fk.on_update.sql(),
        )
    }

    /// Builds a sea-query schema statement for this dialect.
    pub fn build(self, statement: impl SeaStatement) -> String {
        match self.0 {
            Dialect::Postgres => statement.build_for(PostgresQueryBuilder),
            Dialect::Mysql => statement.build_for(MysqlQueryBuilder),
            Dialect::Sqlite => statement.build_for(SqliteQueryBuilder),
        }
    }
}

/// The sea-query statements godwit hands whole to sea-query (those it renders correctly on every
/// dialect once names are owned).
pub(crate) trait SeaStatement {
    fn build_for<B: sea_query::SchemaBuilder>(&self, builder: B) -> String;
}

macro_rules! sea_statement {
    ($($ty:ty),*) => {$(
        impl SeaStatement for $ty {
            fn build_for<B: sea_query::SchemaBuilder>(&self, builder: B) -> String {
                self.to_string(builder)
            }
        }
    )*};
}
sea_statement!(
    sea_query::TableDropStatement,
    sea_query::TableRenameStatement,
    sea_query::TableAlterStatement
);

/// Shared statements whose SQL is the same on every dialect but for quoting.
pub(crate) mod common {
    use super::Ctx;
    use sea_query::{Alias, Table};

    pub fn drop_table(ctx: &Ctx, name: &str) -> String {
        ctx.sql
            .build(Table::drop().table(Alias::new(name)).to_owned())
    }

    pub fn rename_table(ctx: &Ctx, from: &str, to: &str) -> String {
        ctx.sql.build(
            Table::rename()
                .table(Alias::new(from), Alias::new(to))
                .to_owned(),
        )
    }

    pub fn rename_column(ctx: &Ctx, table: &str, from: &str, to: &str) -> String {
        ctx.sql.build(
            Table::alter()
                .table(Alias::new(table))
                .rename_column(Alias::new(from), Alias::new(to))
                .to_owned(),
        )
    }

    pub fn drop_column(ctx: &Ctx, table: &str, column: &str) -> String {
        ctx.sql.build(
            Table::alter()
                .table(Alias::new(table))
                .drop_column(Alias::new(column))
                .to_owned(),
        )
    }

    /// `CREATE [UNIQUE] INDEX "n" ON "t" ("a", "b") [WHERE …]`, with `CONCURRENTLY` where given.
    pub fn create_index(
        ctx: &Ctx,
        table: &str,
        index: &crate::op::Index,
        concurrently: bool,
    ) -> String {
        let sql = ctx.sql;
        let mut out = format!(
            "CREATE {}INDEX {}{} ON {} ({})",
            if index.unique { "UNIQUE " } else { "" },
            if concurrently { "CONCURRENTLY " } else { "" },
            sql.ident(&index.name),
            sql.ident(table),
            sql.idents(&index.columns),
        );
        if let Some(predicate) = &index.predicate {
            out.push_str(" WHERE ");
            out.push_str(predicate);
        }
        out
    }
}
