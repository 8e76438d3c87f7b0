//! SQLite: `ALTER TABLE` can only rename tables and columns, add some columns and drop some
//! columns. Everything else is the table rebuild of sqlite.org/lang_altertable.html ("making other
//! kinds of table schema changes"), written from the schema before and after the op.

use super::{Ctx, RenderError, RenderedOp, Statement, common};
use crate::op::{Column, ColumnChange, ColumnType, DefaultValue, Op, Table};
use crate::schema::mentions_identifier;

pub(super) fn render(ctx: &Ctx) -> Result<RenderedOp, RenderError> {
    let sql = ctx.sql;
    let statements = match ctx.op {
        Op::CreateTable(t) => create_table(ctx, ctx.after_table(&t.name)?, &t.name),
        Op::DropTable { name } => vec![common::drop_table(ctx, name)],
        Op::RenameTable { from, to } => vec![common::rename_table(ctx, from, to)],
        Op::AddColumn { table, column } => {
            if can_add_column(column) {
                vec![format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    sql.ident(table),
                    column_definition(ctx, column, false)
                )]
            } else {
                return rebuild(ctx, table, None);
            }
        }
        Op::DropColumn { table, column } => {
            if can_drop_column(ctx.before_table(table)?, column) {
                vec![common::drop_column(ctx, table, column)]
            } else {
                return rebuild(ctx, table, None);
            }
        }
        Op::RenameColumn { table, from, to } => vec![common::rename_column(ctx, table, from, to)],
        Op::AlterColumn {
            table,
            column,
            change,
        } => {
            let using = match change {
                ColumnChange::SetType {
                    using: Some(using), ..
                } => Some((column.as_str(), using.as_str())),
                _ => None,
            };
            return rebuild(ctx, table, using);
        }
        Op::CreateIndex {
            table,
            index,
            concurrently,
        } => {
            if *concurrently {
                return Err(refuse_concurrently(ctx));
            }
            vec![common::create_index(ctx, table, index, false)]
        }
        Op::DropIndex {
            name, concurrently, ..
        } => {
            if *concurrently {
                return Err(refuse_concurrently(ctx));
            }
            vec![format!("DROP INDEX {}", sql.ident(name))]
        }
        Op::AddPrimaryKey { table, .. }
        | Op::DropPrimaryKey { table }
        | Op::AddUnique { table, .. }
        | Op::DropUnique { table, .. }
        | Op::AddCheck { table, .. }
        | Op::DropCheck { table, .. }
        | Op::AddForeignKey { table, .. }
        | Op::DropForeignKey { table, .. } => return rebuild(ctx, table, None),
        Op::CreateEnum { .. } | Op::DropEnum { .. } => Vec::new(),
        Op::AddEnumValue { name, .. } | Op::RemoveEnumValue { name, .. } => {
            // The values live in each column's CHECK: rebuild every table that uses the type.
            let mut rendered = RenderedOp::default();
            for t in ctx.after.tables() {
                if t.columns
                    .iter()
                    .any(|c| c.ty == ColumnType::Enum(name.clone()))
                {
                    let table = rebuild(ctx, &t.name, None)?;
                    rendered.statements.extend(table.statements);
                    rendered.foreign_keys_off = true;
                }
            }
            return Ok(rendered);
        }
        Op::RawSql(raw) => raw
            .for_dialect(crate::Dialect::Sqlite)
            .map(str::to_owned)
            .into_iter()
            .collect(),
        // No SQL: the runner calls the step's function.
        Op::Rust(_) => Vec::new(),
    };
    Ok(RenderedOp::statements(statements))
}

fn refuse_concurrently(ctx: &Ctx) -> RenderError {
    ctx.refuse(
        "SQLite has no concurrent index builds (writers wait for any index build)",
        "drop `.concurrently()` for SQLite (branch on `m.dialect()`)",
    )
}

/// SQLite's `ADD COLUMN` refuses NOT NULL without a default and non-constant defaults.
fn can_add_column(c: &Column) -> bool {
    let constant_default = matches!(c.default, None | Some(DefaultValue::Literal(_)));
    constant_default && (c.nullable || c.default.is_some())
}

/// SQLite's `DROP COLUMN` refuses a column that an index, constraint or check uses.
fn can_drop_column(t: &Table, column: &str) -> bool {
    let uses = |columns: &[String]| columns.iter().any(|c| c == column);
    let c = t.column(column);
    !(c.is_some_and(|c| matches!(c.ty, ColumnType::Enum(_)))
        || t.primary_key.as_ref().is_some_and(|pk| uses(&pk.columns))
        || t.indexes.iter().any(|i| uses(&i.columns))
        || t.uniques.iter().any(|u| uses(&u.columns))
        || t.foreign_keys.iter().any(|f| uses(&f.columns))
        || t.checks
            .iter()
            .any(|ck| mentions_identifier(&ck.expr, column)))
}

/// `CREATE TABLE` for `t` under the name `name`, and its indexes.
fn create_table(ctx: &Ctx, t: &Table, name: &str) -> Vec<String> {
    let sql = ctx.sql;
    // An auto-increment column is declared `INTEGER PRIMARY KEY AUTOINCREMENT` inline.
    let inline_key = t.columns.iter().any(|c| c.auto_increment);
    let mut parts: Vec<String> = t
        .columns
        .iter()
        .map(|c| column_definition(ctx, c, true))
        .collect();
    if let Some(pk) = t.primary_key.as_ref().filter(|_| !inline_key) {
        parts.push(sql.primary_key(pk));
    }
    for u in &t.uniques {
        parts.push(sql.unique(u));
    }
    for c in &t.checks {
        parts.push(sql.check(c));
    }
    for fk in &t.foreign_keys {
        parts.push(sql.foreign_key(fk));
    }
    let mut statements = vec![format!(
        "CREATE TABLE {} (\n  {}\n)",
        sql.ident(name),
        parts.join(",\n  ")
    )];
    statements.extend(
        t.indexes
            .iter()
            .map(|i| common::create_index(ctx, &t.name, i, false)),
    );
    statements
}

/// Rebuilds `table` into its shape after the op, copying every row. `using` converts one column's
/// values with an expression over the old row.
fn rebuild(ctx: &Ctx, table: &str, using: Option<(&str, &str)>) -> Result<RenderedOp, RenderError> {
    let sql = ctx.sql;
    let before = ctx.before_table(table)?;
    let after = ctx.after_table(table)?;
    let temp = format!(
        "{}{}",
        crate::schema::REBUILD_PREFIX,
        super::truncated(table, crate::schema::MAX_IDENTIFIER_BYTES - 12)
    );
    let mut statements = Vec::new();
    let mut create = create_table(ctx, after, &temp);
    let indexes = create.split_off(1);
    statements.extend(create);
    let copied: Vec<&Column> = after
        .columns
        .iter()
        .filter(|c| before.column(&c.name).is_some())
        .collect();
    let targets: Vec<String> = copied.iter().map(|c| sql.ident(&c.name)).collect();
    let sources: Vec<String> = copied
        .iter()
        .map(|c| match using {
            Some((column, expr)) if column == c.name => format!("({expr})"),
            _ => sql.ident(&c.name),
        })
        .collect();
    statements.push(format!(
        "INSERT INTO {} ({}) SELECT {} FROM {}",
        sql.ident(&temp),
        targets.join(", "),
        sources.join(", "),
        sql.ident(table)
    ));
    statements.push(format!("DROP TABLE {}", sql.ident(table)));
    statements.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        sql.ident(&temp),
        sql.ident(table)
    ));
    statements.extend(indexes);
    let mut statements: Vec<Statement> = statements.into_iter().map(Statement::exec).collect();
    statements.push(Statement {
        sql: "PRAGMA foreign_key_check".into(),
        expect_no_rows: true,
        ..Statement::default()
    });
    Ok(RenderedOp {
        statements,
        foreign_keys_off: true,
        ..RenderedOp::default()
    })
}

/// The declared type, as `PRAGMA table_info` reports it. JSON and UUID are declared with names
/// that give them TEXT affinity, so `'123'` stays a string.
pub(crate) fn native_type(c: &Column) -> String {
    match &c.ty {
        _ if c.auto_increment => "INTEGER".into(),
        ColumnType::SmallInt => "SMALLINT".into(),
        ColumnType::Integer => "INTEGER".into(),
        ColumnType::BigInt => "BIGINT".into(),
        ColumnType::String(n) => format!("VARCHAR({n})"),
        ColumnType::Text | ColumnType::Enum(_) => "TEXT".into(),
        ColumnType::Boolean => "BOOLEAN".into(),
        ColumnType::Real => "REAL".into(),
        ColumnType::Double => "DOUBLE".into(),
        ColumnType::Decimal(p, s) => format!("DECIMAL({p},{s})"),
        ColumnType::Date => "DATE".into(),
        ColumnType::Time => "TIME".into(),
        ColumnType::Timestamp => "TIMESTAMP".into(),
        ColumnType::TimestampTz => "TIMESTAMPTZ".into(),
        ColumnType::Json => "JSON_TEXT".into(),
        ColumnType::Uuid => "UUID_TEXT".into(),
        ColumnType::Binary => "BLOB".into(),
    }
}

fn column_definition(ctx: &Ctx, c: &Column, in_create: bool) -> String {
    let sql = ctx.sql;
    let mut out = format!("{} {}", sql.ident(&c.name), native_type(c));
    if !c.nullable {
        out.push_str(" NOT NULL");
    }
    if c.auto_increment && in_create {
        out.push_str(" PRIMARY KEY AUTOINCREMENT");
    }
    if let Some(default) = &c.default {
        out.push_str(" DEFAULT ");
        out.push_str(&match default {
            DefaultValue::Literal(v) => sql.literal(v),
            DefaultValue::Now => "CURRENT_TIMESTAMP".into(),
            DefaultValue::Expr(e) => format!("({e})"),
        });
    }
    if let ColumnType::Enum(name) = &c.ty {
        let values = ctx.after.enum_values(name).unwrap_or_default();
        out.push_str(&format!(
            " CHECK ({} IN ({}))",
            sql.ident(&c.name),
            sql.strings(values)
        ));
    }
    out
}
