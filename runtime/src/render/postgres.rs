//! PostgreSQL: transactional DDL, native enum types, `CONCURRENTLY` index builds.

use super::{Ctx, Leftover, RenderError, RenderedOp, common};
use crate::op::{Column, ColumnChange, ColumnType, DefaultValue, Op, Table};

pub(super) fn render(ctx: &Ctx) -> Result<RenderedOp, RenderError> {
    let sql = ctx.sql;
    let alter = |table: &str, action: String| format!("ALTER TABLE {} {action}", sql.ident(table));
    let statements = match ctx.op {
        Op::CreateTable(t) => create_table(ctx, ctx.after_table(&t.name)?),
        Op::DropTable { name } => vec![common::drop_table(ctx, name)],
        Op::RenameTable { from, to } => vec![common::rename_table(ctx, from, to)],
        Op::AddColumn { table, column } => {
            vec![alter(
                table,
                format!("ADD COLUMN {}", column_definition(ctx, column)),
            )]
        }
        // Dependent single-column indexes and constraints go with the column, as in the model.
        Op::DropColumn { table, column } => vec![common::drop_column(ctx, table, column)],
        Op::RenameColumn { table, from, to } => vec![common::rename_column(ctx, table, from, to)],
        Op::AlterColumn {
            table,
            column,
            change,
        } => {
            let c = sql.ident(column);
            let action = match change {
                ColumnChange::SetType { ty, using } => {
                    let ty = column_type(ctx, ty);
                    let using = using.clone().unwrap_or_else(|| format!("{c}::{ty}"));
                    format!("ALTER COLUMN {c} TYPE {ty} USING ({using})")
                }
                ColumnChange::SetNullable(true) => format!("ALTER COLUMN {c} DROP NOT NULL"),
                ColumnChange::SetNullable(false) => format!("ALTER COLUMN {c} SET NOT NULL"),
                ColumnChange::SetDefault(default) => {
                    format!("ALTER COLUMN {c} SET DEFAULT {}", default_sql(ctx, default))
                }
                ColumnChange::DropDefault => format!("ALTER COLUMN {c} DROP DEFAULT"),
            };
            vec![alter(table, action)]
        }
        Op::CreateIndex {
            table,
            index,
            concurrently,
        } => {
            // A failed CONCURRENTLY build leaves an INVALID index under this name; it must be
            // dropped before the op can run again.
            let leftover = concurrently.then(|| Leftover {
                probe: format!(
                    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE c.relname = {} AND c.relnamespace = current_schema()::regnamespace \
                     AND NOT i.indisvalid",
                    sql.string(&index.name)
                ),
                remove: format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    sql.ident(&index.name)
                ),
            });
            return Ok(RenderedOp {
                outside_transaction: *concurrently,
                leftover,
                ..RenderedOp::statements([common::create_index(ctx, table, index, *concurrently)])
            });
        }
        Op::DropIndex {
            name, concurrently, ..
        } => {
            let concurrently_kw = if *concurrently { "CONCURRENTLY " } else { "" };
            return Ok(RenderedOp {
                outside_transaction: *concurrently,
                ..RenderedOp::statements([format!(
                    "DROP INDEX {concurrently_kw}{}",
                    sql.ident(name)
                )])
            });
        }
        Op::AddPrimaryKey { table, primary_key } => vec![alter(
            table,
            format!("ADD {}", sql.primary_key(primary_key)),
        )],
        Op::DropPrimaryKey { table } => {
            let pk = ctx
                .before_table(table)?
                .primary_key
                .as_ref()
                .ok_or_else(|| ctx.refuse("the table has no primary key", "remove this op"))?;
            vec![alter(
                table,
                format!("DROP CONSTRAINT {}", sql.ident(&pk.name)),
            )]
        }
        Op::AddUnique { table, unique } => {
            vec![alter(table, format!("ADD {}", sql.unique(unique)))]
        }
        Op::AddCheck { table, check } => vec![alter(table, format!("ADD {}", sql.check(check)))],
        Op::AddForeignKey { table, foreign_key } => {
            vec![alter(
                table,
                format!("ADD {}", sql.foreign_key(foreign_key)),
            )]
        }
        Op::DropUnique { table, name }
        | Op::DropCheck { table, name }
        | Op::DropForeignKey { table, name } => {
            vec![alter(table, format!("DROP CONSTRAINT {}", sql.ident(name)))]
        }
        Op::CreateEnum { name, values } => vec![format!(
            "CREATE TYPE {} AS ENUM ({})",
            sql.ident(name),
            sql.strings(values)
        )],
        Op::AddEnumValue { name, value } => vec![format!(
            "ALTER TYPE {} ADD VALUE {}",
            sql.ident(name),
            sql.string(value)
        )],
        Op::RemoveEnumValue { name, .. } => replace_enum_type(ctx, name),
        Op::DropEnum { name } => vec![format!("DROP TYPE {}", sql.ident(name))],
        Op::RawSql(raw) => raw
            .for_dialect(crate::Dialect::Postgres)
            .map(str::to_owned)
            .into_iter()
            .collect(),
        // No SQL: the runner calls the step's function.
        Op::Rust(_) => Vec::new(),
    };
    Ok(RenderedOp::statements(statements))
}

fn create_table(ctx: &Ctx, t: &Table) -> Vec<String> {
    let sql = ctx.sql;
    let mut parts: Vec<String> = t
        .columns
        .iter()
        .map(|c| column_definition(ctx, c))
        .collect();
    if let Some(pk) = &t.primary_key {
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
        sql.ident(&t.name),
        parts.join(",\n  ")
    )];
    statements.extend(
        t.indexes
            .iter()
            .map(|i| common::create_index(ctx, &t.name, i, false)),
    );
    statements
}

/// The native type, spelled as `format_type` reports it.
pub(crate) fn native_type(ty: &ColumnType) -> String {
    match ty {
        ColumnType::SmallInt => "smallint".into(),
        ColumnType::Integer => "integer".into(),
        ColumnType::BigInt => "bigint".into(),
        ColumnType::String(n) => format!("character varying({n})"),
        ColumnType::Text => "text".into(),
        ColumnType::Boolean => "boolean".into(),
        ColumnType::Real => "real".into(),
        ColumnType::Double => "double precision".into(),
        ColumnType::Decimal(p, s) => format!("numeric({p},{s})"),
        ColumnType::Date => "date".into(),
        ColumnType::Time => "time without time zone".into(),
        ColumnType::Timestamp => "timestamp without time zone".into(),
        ColumnType::TimestampTz => "timestamp with time zone".into(),
        ColumnType::Json => "jsonb".into(),
        ColumnType::Uuid => "uuid".into(),
        ColumnType::Binary => "bytea".into(),
        ColumnType::Enum(name) => name.clone(),
    }
}

fn column_type(ctx: &Ctx, ty: &ColumnType) -> String {
    match ty {
        ColumnType::Enum(name) => ctx.sql.ident(name),
        other => native_type(other),
    }
}

fn column_definition(ctx: &Ctx, c: &Column) -> String {
    let mut out = format!("{} {}", ctx.sql.ident(&c.name), column_type(ctx, &c.ty));
    if c.auto_increment {
        out.push_str(" GENERATED BY DEFAULT AS IDENTITY");
    }
    if !c.nullable {
        out.push_str(" NOT NULL");
    }
    if let Some(default) = &c.default {
        out.push_str(" DEFAULT ");
        out.push_str(&default_sql(ctx, default));
    }
    out
}

fn default_sql(ctx: &Ctx, default: &DefaultValue) -> String {
    match default {
        DefaultValue::Literal(v) => ctx.sql.literal(v),
        DefaultValue::Now => "CURRENT_TIMESTAMP".into(),
        DefaultValue::Expr(e) => format!("({e})"),
    }
}

/// PostgreSQL cannot remove a value from an enum type: build the type anew and move every column
/// over to it, within the migration's transaction.
fn replace_enum_type(ctx: &Ctx, name: &str) -> Vec<String> {
    let sql = ctx.sql;
    let old = sql.ident(&format!("{}_godwit_old", super::truncated(name, 50)));
    let values = ctx.after.enum_values(name).unwrap_or_default();
    let mut out = vec![
        format!("ALTER TYPE {} RENAME TO {old}", sql.ident(name)),
        format!(
            "CREATE TYPE {} AS ENUM ({})",
            sql.ident(name),
            sql.strings(values)
        ),
    ];
    for t in ctx.after.tables() {
        for c in t
            .columns
            .iter()
            .filter(|c| c.ty == ColumnType::Enum(name.into()))
        {
            let table = sql.ident(&t.name);
            let column = sql.ident(&c.name);
            if c.default.is_some() {
                out.push(format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT"
                ));
            }
            out.push(format!(
                "ALTER TABLE {table} ALTER COLUMN {column} TYPE {} USING ({column}::text::{})",
                sql.ident(name),
                sql.ident(name)
            ));
            if let Some(default) = &c.default {
                out.push(format!(
                    "ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {}",
                    default_sql(ctx, default)
                ));
            }
        }
    }
    out.push(format!("DROP TYPE {old}"));
    out
}
