//! MySQL 8 and MariaDB 10.5+: every DDL statement commits implicitly; enum values live on the
//! columns (`ENUM(...)`); `MODIFY COLUMN` takes the column's whole definition.

use super::{Ctx, RenderError, RenderedOp, Statement, common};
use crate::op::{Column, ColumnType, DefaultValue, ForeignKey, Index, Op, Table};
use crate::schema::mentions_identifier;

pub(super) fn render(ctx: &Ctx) -> Result<RenderedOp, RenderError> {
    let sql = ctx.sql;
    let alter = |table: &str, action: String| format!("ALTER TABLE {} {action}", sql.ident(table));
    let statements = match ctx.op {
        Op::CreateTable(t) => vec![create_table(ctx, ctx.after_table(&t.name)?)?],
        Op::DropTable { name } => vec![common::drop_table(ctx, name)],
        Op::RenameTable { from, to } => vec![common::rename_table(ctx, from, to)],
        Op::AddColumn { table, column } => vec![alter(
            table,
            format!("ADD COLUMN {}", column_definition(ctx, column)?),
        )],
        Op::DropColumn { table, column } => {
            // MySQL refuses to drop a column that a foreign key or check uses; drop those first
            // (the model drops them with the column). Indexes on it go away with it.
            let t = ctx.before_table(table)?;
            let mut out = Vec::new();
            for fk in t
                .foreign_keys
                .iter()
                .filter(|f| f.columns == [column.clone()])
            {
                out.push(alter(
                    table,
                    format!("DROP FOREIGN KEY {}", sql.ident(&fk.name)),
                ));
            }
            for check in t
                .checks
                .iter()
                .filter(|c| mentions_identifier(&c.expr, column))
            {
                out.push(alter(
                    table,
                    format!("DROP CONSTRAINT {}", sql.ident(&check.name)),
                ));
            }
            out.push(common::drop_column(ctx, table, column));
            out
        }
        Op::RenameColumn { table, from, to } => vec![common::rename_column(ctx, table, from, to)],
        Op::AlterColumn {
            table,
            column,
            change,
        } => {
            if let crate::op::ColumnChange::SetType { using: Some(_), .. } = change {
                return Err(ctx.refuse(
                    "MySQL has no `USING` clause to convert values while changing a type",
                    "add a new column, copy the values with `m.sql(\"UPDATE …\")`, drop the old \
                     column and rename the new one",
                ));
            }
            let t = ctx.after_table(table)?;
            if let crate::op::ColumnChange::SetType { .. } = change
                && let Some(fk) = t.foreign_keys.iter().find(|fk| fk.columns.contains(column))
            {
                return Err(ctx.refuse(
                    format!(
                        "MySQL cannot change the type of `{table}.{column}`, which foreign key \
                         `{}` uses",
                        fk.name
                    ),
                    "drop the foreign key, change the column, and add the key back",
                ));
            }
            let c = t
                .column(column)
                .ok_or_else(|| ctx.refuse("the column is not in the schema", "check the op"))?;
            vec![alter(
                table,
                format!("MODIFY COLUMN {}", column_definition(ctx, c)?),
            )]
        }
        Op::CreateIndex {
            table,
            index,
            concurrently,
        } => {
            if *concurrently {
                return Err(ctx.refuse(
                    "MySQL has no `CONCURRENTLY`; InnoDB builds secondary indexes online by default",
                    "drop `.concurrently()` for MySQL (branch on `m.dialect()`)",
                ));
            }
            check_index(ctx, ctx.after_table(table)?, index)?;
            vec![common::create_index(ctx, table, index, false)]
        }
        Op::DropIndex {
            table,
            name,
            concurrently,
        } => {
            if *concurrently {
                return Err(ctx.refuse(
                    "MySQL has no `DROP INDEX CONCURRENTLY`",
                    "drop `.concurrently()` for MySQL (branch on `m.dialect()`)",
                ));
            }
            let mut out = restore_foreign_key_indexes(ctx, table)?;
            out.push(Statement::exec(drop_index(ctx, table, name)));
            return Ok(RenderedOp {
                statements: out,
                ..RenderedOp::default()
            });
        }
        Op::AddPrimaryKey { table, primary_key } => {
            let t = ctx.after_table(table)?;
            check_indexable(ctx, t, "the primary key", &primary_key.columns)?;
            // The model made the key's columns NOT NULL; MySQL does too, implicitly.
            vec![alter(
                table,
                format!("ADD PRIMARY KEY ({})", sql.idents(&primary_key.columns)),
            )]
        }
        Op::DropPrimaryKey { table } => {
            // Foreign keys the key was backing need an index of their own first. Dropping the
            // key leaves its columns NOT NULL, as the model says.
            let mut out = restore_foreign_key_indexes(ctx, table)?;
            out.push(Statement::exec(alter(table, "DROP PRIMARY KEY".into())));
            return Ok(RenderedOp {
                statements: out,
                ..RenderedOp::default()
            });
        }
        Op::AddUnique { table, unique } => {
            check_indexable(
                ctx,
                ctx.after_table(table)?,
                "the unique constraint",
                &unique.columns,
            )?;
            vec![alter(table, format!("ADD {}", sql.unique(unique)))]
        }
        Op::DropUnique { table, name } => {
            let mut out = restore_foreign_key_indexes(ctx, table)?;
            out.push(Statement::exec(drop_index(ctx, table, name)));
            return Ok(RenderedOp {
                statements: out,
                ..RenderedOp::default()
            });
        }
        Op::AddCheck { table, check } => vec![alter(table, format!("ADD {}", sql.check(check)))],
        Op::DropCheck { table, name } => {
            vec![alter(table, format!("DROP CONSTRAINT {}", sql.ident(name)))]
        }
        Op::AddForeignKey { table, foreign_key } => {
            let t = ctx.after_table(table)?;
            check_indexable(ctx, t, "the foreign key", &foreign_key.columns)?;
            check_foreign_key_types(ctx, t, foreign_key)?;
            vec![alter(
                table,
                format!("ADD {}", sql.foreign_key(foreign_key)),
            )]
        }
        Op::DropForeignKey { table, name } => {
            let t = ctx.before_table(table)?;
            let mut out = vec![alter(
                table,
                format!("DROP FOREIGN KEY {}", sql.ident(name)),
            )];
            // MySQL created an index named after the key if no other index covered its columns,
            // and keeps it after the key is dropped.
            if let Some(fk) = t.foreign_keys.iter().find(|f| f.name == *name)
                && !has_covering_index(t, fk)
            {
                out.push(drop_index(ctx, table, name));
            }
            out
        }
        Op::CreateEnum { .. } | Op::DropEnum { .. } => Vec::new(),
        Op::AddEnumValue { name, .. } | Op::RemoveEnumValue { name, .. } => {
            let mut out = Vec::new();
            for t in ctx.after.tables() {
                for c in t
                    .columns
                    .iter()
                    .filter(|c| c.ty == ColumnType::Enum(name.clone()))
                {
                    out.push(alter(
                        &t.name,
                        format!("MODIFY COLUMN {}", column_definition(ctx, c)?),
                    ));
                }
            }
            out
        }
        Op::RawSql(raw) => raw
            .for_dialect(crate::Dialect::Mysql)
            .map(str::to_owned)
            .into_iter()
            .collect(),
        // No SQL: the runner calls the step's function.
        Op::Rust(_) => Vec::new(),
    };
    Ok(RenderedOp::statements(statements))
}

fn create_table(ctx: &Ctx, t: &Table) -> Result<String, RenderError> {
    let sql = ctx.sql;
    let mut parts = Vec::new();
    for c in &t.columns {
        parts.push(column_definition(ctx, c)?);
    }
    if let Some(pk) = &t.primary_key {
        check_indexable(ctx, t, "the primary key", &pk.columns)?;
        parts.push(sql.primary_key(pk));
    }
    for u in &t.uniques {
        check_indexable(
            ctx,
            t,
            &format!("unique constraint `{}`", u.name),
            &u.columns,
        )?;
        parts.push(sql.unique(u));
    }
    // Indexes inline, so that foreign keys find them and MySQL adds no index of its own.
    for i in &t.indexes {
        check_index(ctx, t, i)?;
        parts.push(format!(
            "{}INDEX {} ({})",
            if i.unique { "UNIQUE " } else { "" },
            sql.ident(&i.name),
            sql.idents(&i.columns)
        ));
    }
    for c in &t.checks {
        parts.push(sql.check(c));
    }
    for fk in &t.foreign_keys {
        check_indexable(ctx, t, &format!("foreign key `{}`", fk.name), &fk.columns)?;
        check_foreign_key_types(ctx, t, fk)?;
        parts.push(sql.foreign_key(fk));
    }
    Ok(format!(
        "CREATE TABLE {} (\n  {}\n)",
        sql.ident(&t.name),
        parts.join(",\n  ")
    ))
}

fn drop_index(ctx: &Ctx, table: &str, name: &str) -> String {
    format!(
        "DROP INDEX {} ON {}",
        ctx.sql.ident(name),
        ctx.sql.ident(table)
    )
}

/// MySQL drops the index it made for a foreign key once another index covers the key's columns,
/// and then refuses to drop that other index. Before an index (or the primary key) goes, give each
/// foreign key it was backing an index of its own, named after the key, as MySQL would. An
/// earlier op may have made that index already (the model does not track it), so it is created
/// only when missing.
fn restore_foreign_key_indexes(ctx: &Ctx, table: &str) -> Result<Vec<Statement>, RenderError> {
    let before = ctx.before_table(table)?;
    let after = ctx.after_table(table)?;
    Ok(after
        .foreign_keys
        .iter()
        .filter(|fk| has_covering_index(before, fk) && !has_covering_index(after, fk))
        .map(|fk| Statement {
            sql: format!(
                "CREATE INDEX {} ON {} ({})",
                ctx.sql.ident(&fk.name),
                ctx.sql.ident(table),
                ctx.sql.idents(&fk.columns)
            ),
            unless_exists: Some(format!(
                "SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() \
                 AND table_name = {} AND index_name = {}",
                ctx.sql.string(table),
                ctx.sql.string(&fk.name)
            )),
            ..Statement::default()
        })
        .collect())
}

/// Whether an index other than MySQL's own foreign-key index has `fk`'s columns as a prefix.
fn has_covering_index(t: &Table, fk: &ForeignKey) -> bool {
    let covers = |columns: &[String]| columns.starts_with(&fk.columns);
    t.primary_key.as_ref().is_some_and(|pk| covers(&pk.columns))
        || t.uniques.iter().any(|u| covers(&u.columns))
        || t.indexes.iter().any(|i| covers(&i.columns))
}

fn check_index(ctx: &Ctx, t: &Table, index: &Index) -> Result<(), RenderError> {
    if index.predicate.is_some() {
        return Err(ctx.refuse(
            format!(
                "MySQL has no partial indexes (index `{}` has a predicate)",
                index.name
            ),
            "index all rows on MySQL, or add a generated column for the condition and index it",
        ));
    }
    check_indexable(ctx, t, &format!("index `{}`", index.name), &index.columns)
}

/// MySQL indexes text, JSON and binary columns only by a prefix, which godwit does not model.
fn check_indexable(
    ctx: &Ctx,
    t: &Table,
    what: &str,
    columns: &[String],
) -> Result<(), RenderError> {
    for name in columns {
        if let Some(c) = t.column(name)
            && matches!(
                c.ty,
                ColumnType::Text | ColumnType::Json | ColumnType::Binary
            )
        {
            return Err(ctx.refuse(
                format!(
                    "{what} uses column `{name}` of type {}, which MySQL can only index by a prefix",
                    c.ty
                ),
                "use `string(n)` for indexed text columns",
            ));
        }
    }
    Ok(())
}

/// The model lets a foreign key join integers of different widths, as PostgreSQL and SQLite do;
/// MySQL refuses it: `int` cannot reference `bigint`.
fn check_foreign_key_types(ctx: &Ctx, t: &Table, fk: &ForeignKey) -> Result<(), RenderError> {
    let referenced = if fk.ref_table == t.name {
        t
    } else {
        ctx.after_table(&fk.ref_table)?
    };
    for (name, ref_name) in fk.columns.iter().zip(&fk.ref_columns) {
        let (Some(column), Some(ref_column)) = (t.column(name), referenced.column(ref_name)) else {
            continue;
        };
        if column.ty.is_integer() && column.ty != ref_column.ty {
            return Err(ctx.refuse(
                format!(
                    "foreign key `{}` joins `{}.{name}` ({}) to `{}.{ref_name}` ({}); MySQL \
                     needs the same type on both sides",
                    fk.name, t.name, column.ty, referenced.name, ref_column.ty
                ),
                format!(
                    "give `{}.{name}` the type of `{}.{ref_name}` ({})",
                    t.name, referenced.name, ref_column.ty
                ),
            ));
        }
    }
    Ok(())
}

/// The native type, spelled as `information_schema.COLUMNS.COLUMN_TYPE` reports it (integer
/// display widths aside).
pub(crate) fn native_type(ty: &ColumnType, enum_values: Option<&[String]>) -> String {
    let sql = super::Sql(crate::Dialect::Mysql);
    match ty {
        ColumnType::SmallInt => "smallint".into(),
        ColumnType::Integer => "int".into(),
        ColumnType::BigInt => "bigint".into(),
        ColumnType::String(n) => format!("varchar({n})"),
        ColumnType::Text => "longtext".into(),
        ColumnType::Boolean => "tinyint(1)".into(),
        ColumnType::Real => "float".into(),
        ColumnType::Double => "double".into(),
        ColumnType::Decimal(p, s) => format!("decimal({p},{s})"),
        ColumnType::Date => "date".into(),
        ColumnType::Time => "time(6)".into(),
        ColumnType::Timestamp => "datetime(6)".into(),
        // MySQL's TIMESTAMP stores UTC and converts from and to the session's time zone.
        ColumnType::TimestampTz => "timestamp(6)".into(),
        ColumnType::Json => "json".into(),
        ColumnType::Uuid => "char(36)".into(),
        ColumnType::Binary => "longblob".into(),
        // No spaces between the values: the spelling MySQL reports back.
        ColumnType::Enum(_) => format!(
            "enum({})",
            enum_values
                .unwrap_or_default()
                .iter()
                .map(|v| sql.string(v))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn column_definition(ctx: &Ctx, c: &Column) -> Result<String, RenderError> {
    let values = match &c.ty {
        ColumnType::Enum(name) => Some(ctx.after.enum_values(name).ok_or_else(|| {
            ctx.refuse(
                format!("enum type `{name}` is not in the schema"),
                "create it first",
            )
        })?),
        _ => None,
    };
    let mut out = format!("{} {}", ctx.sql.ident(&c.name), native_type(&c.ty, values));
    // Explicit NULL: MySQL would otherwise make some TIMESTAMP columns NOT NULL.
    out.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    if let Some(default) = &c.default {
        out.push_str(" DEFAULT ");
        out.push_str(&match default {
            DefaultValue::Literal(v) => ctx.sql.literal(v),
            DefaultValue::Now => "CURRENT_TIMESTAMP(6)".into(),
            DefaultValue::Expr(e) => format!("({e})"),
        });
    }
    if c.auto_increment {
        out.push_str(" AUTO_INCREMENT");
    }
    Ok(out)
}
