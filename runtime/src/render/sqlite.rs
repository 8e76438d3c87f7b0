//! SQLite: `ALTER TABLE` can only rename tables and columns, add some columns and drop some
//! columns. Everything else is the table rebuild of sqlite.org/lang_altertable.html ("making other
//! kinds of table schema changes"), written from the schema before and after the op.

use super::common::{
    self, Constraint, DialectSql, DroppedConstraint, Rendered, drop_table, single,
};
use super::sync::{each, each_pair, event_trigger, sides};
use super::{Ctx, RenderError, RenderedOp, Statement};
use crate::op::{
    Column, ColumnChange, ColumnType, DefaultValue, Index, PrimaryKey, SyncTrigger, Table,
};
use crate::schema::mentions_identifier;

pub(super) struct Sqlite;

impl DialectSql for Sqlite {
    fn maintenance(&self, ctx: &Ctx, maintenance: &crate::op::Maintenance) -> Rendered {
        use crate::op::Maintenance;
        let sql = ctx.sql;
        Ok(match maintenance {
            Maintenance::Analyze { table } => {
                RenderedOp::statements([format!("ANALYZE {}", sql.ident(table))])
            }
            // One file: VACUUM rebuilds all of it, and cannot run inside a transaction.
            Maintenance::Vacuum { .. } => RenderedOp {
                outside_transaction: true,
                ..RenderedOp::statements(["VACUUM".to_owned()])
            },
            Maintenance::Reindex { name, concurrently } => {
                if *concurrently {
                    return Err(ctx.refuse(
                        "SQLite has no `CONCURRENTLY`",
                        "drop `.concurrently()` for SQLite (branch on `m.dialect()`)",
                    ));
                }
                RenderedOp::statements([format!("REINDEX {}", sql.ident(name))])
            }
        })
    }

    fn explain(&self) -> &'static str {
        "EXPLAIN QUERY PLAN"
    }

    /// An `AFTER INSERT` and an `AFTER UPDATE` row trigger (SQLite's triggers cannot set
    /// `NEW`) that update the row they fire for, found by its key; a trigger's own update fires
    /// no trigger (`recursive_triggers` is off).
    fn create_sync_trigger(
        &self,
        ctx: &Ctx,
        table: &Table,
        trigger: &SyncTrigger,
    ) -> Result<Vec<String>, RenderError> {
        let sql = ctx.sql;
        let (forward, backward) = sides(ctx, table, trigger, None)?;
        let key = crate::schema::batch_key(table)
            .map_err(|reason| ctx.refuse(reason, "give the table a primary key first"))?;
        let this_row = key
            .iter()
            .map(|c| format!("{0} = NEW.{0}", sql.ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let name = sql.ident(&table.name);
        let update = |side, when: String| {
            let set = each_pair(side, ", ", |c, e| format!("{c} = {e}"));
            format!("UPDATE {name} SET {set} WHERE {this_row} AND {when};")
        };
        let all_null = |side| each(side, " AND ", |c| format!("NEW.{c} IS NULL"));
        let changed = |side| each(side, " OR ", |c| format!("NEW.{c} IS NOT OLD.{c}"));
        let differs = |side| each_pair(side, " OR ", |c, e| format!("{c} IS NOT ({e})"));
        let (not_forward, not_backward) = (differs(&forward), differs(&backward));
        let on = format!("ON {name} FOR EACH ROW");
        let insert = sql.ident(&event_trigger(&trigger.name, "insert"));
        let update_trigger = sql.ident(&event_trigger(&trigger.name, "update"));
        Ok(vec![
            format!(
                "CREATE TRIGGER {insert} AFTER INSERT {on} BEGIN\n  {}\n  {}\nEND",
                update(&forward, all_null(&forward)),
                update(
                    &backward,
                    format!("NOT ({}) AND {}", all_null(&forward), all_null(&backward))
                ),
            ),
            format!(
                "CREATE TRIGGER {update_trigger} AFTER UPDATE {on} BEGIN\n  {}\n  {}\nEND",
                update(
                    &forward,
                    format!(
                        "({}) AND NOT ({}) AND ({not_backward})",
                        changed(&backward),
                        changed(&forward)
                    )
                ),
                update(
                    &backward,
                    format!(
                        "({}) AND NOT ({}) AND ({not_forward})",
                        changed(&forward),
                        changed(&backward)
                    )
                ),
            ),
        ])
    }

    fn column_definition(
        &self,
        ctx: &Ctx,
        c: &Column,
        in_create_table: bool,
    ) -> Result<String, RenderError> {
        let sql = ctx.sql;
        let mut out = format!("{} {}", sql.ident(&c.name), native_type(c));
        if !c.nullable {
            out.push_str(" NOT NULL");
        }
        if c.auto_increment && in_create_table {
            out.push_str(" PRIMARY KEY AUTOINCREMENT");
        }
        out.push_str(&common::default_clause(self, ctx, c));
        // An enum's values live in its columns' CHECKs.
        if let ColumnType::Enum(name) = &c.ty {
            let values = sql.strings(ctx.after.enum_values(name).unwrap_or_default());
            out.push_str(&format!(" CHECK ({} IN ({values}))", sql.ident(&c.name)));
        }
        Ok(out)
    }

    /// An auto-increment column is declared `INTEGER PRIMARY KEY AUTOINCREMENT` inline.
    fn primary_key_constraint<'t>(&self, t: &'t Table) -> Option<&'t PrimaryKey> {
        let inline_key = t.columns.iter().any(|c| c.auto_increment);
        t.primary_key.as_ref().filter(|_| !inline_key)
    }

    fn add_column(&self, ctx: &Ctx, table: &str, column: &Column) -> Rendered {
        if can_add_column(column) {
            let definition = self.column_definition(ctx, column, false)?;
            single(common::add_column(ctx, table, &definition))
        } else {
            rebuild(ctx, table, None)
        }
    }

    fn drop_column(&self, ctx: &Ctx, table: &str, column: &str) -> Rendered {
        if can_drop_column(ctx.before_table(table)?, column) {
            single(common::drop_column(ctx, table, column))
        } else {
            rebuild(ctx, table, None)
        }
    }

    fn alter_column(&self, ctx: &Ctx, table: &str, name: &str, change: &ColumnChange) -> Rendered {
        let using = match change {
            ColumnChange::SetType { using, .. } => using.as_deref().map(|u| (name, u)),
            _ => None,
        };
        rebuild(ctx, table, using)
    }

    fn create_index(&self, ctx: &Ctx, table: &str, index: &Index, concurrently: bool) -> Rendered {
        refuse_concurrently(ctx, concurrently)?;
        single(common::create_index(ctx, table, index, false))
    }

    fn drop_index(&self, ctx: &Ctx, _: &str, name: &str, concurrently: bool) -> Rendered {
        refuse_concurrently(ctx, concurrently)?;
        single(common::drop_index(ctx, name, false))
    }

    fn add_constraint(&self, ctx: &Ctx, table: &str, _: Constraint) -> Rendered {
        rebuild(ctx, table, None)
    }

    fn drop_constraint(&self, ctx: &Ctx, table: &str, _: DroppedConstraint) -> Rendered {
        rebuild(ctx, table, None)
    }

    /// The values live in each column's CHECK: rebuild every table that uses the type.
    fn enum_values_changed(&self, ctx: &Ctx, name: &str, _: Option<&str>) -> Rendered {
        let mut tables: Vec<&str> = common::enum_columns(ctx, name)
            .map(|(t, _)| t.name.as_str())
            .collect();
        tables.dedup(); // a table's columns come one after another
        let mut rendered = RenderedOp::default();
        for table in tables {
            let rebuilt = rebuild(ctx, table, None)?;
            rendered.statements.extend(rebuilt.statements);
            rendered.foreign_keys_off = true;
        }
        Ok(rendered)
    }
}

fn refuse_concurrently(ctx: &Ctx, concurrently: bool) -> Result<(), RenderError> {
    if !concurrently {
        return Ok(());
    }
    Err(ctx.refuse(
        "SQLite has no concurrent index builds (writers wait for any index build)",
        "drop `.concurrently()` for SQLite (branch on `m.dialect()`)",
    ))
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
    let mut statements = common::create_table(&Sqlite, ctx, after, &temp)?;
    let indexes = statements.split_off(1);
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
    statements.push(drop_table(ctx, table));
    statements.push(Sqlite.rename_table(ctx, &temp, table));
    statements.extend(indexes);
    // Its triggers went with the old table.
    for trigger in &after.sync_triggers {
        statements.extend(Sqlite.create_sync_trigger(ctx, after, trigger)?);
    }
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
