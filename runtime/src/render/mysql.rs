//! MySQL 8 and MariaDB 10.5+: every DDL statement commits implicitly; enum values live on the
//! columns (`ENUM(...)`); `MODIFY COLUMN` takes the column's whole definition.

use super::common::{
    self, Constraint, DialectSql, DroppedConstraint, Rendered, alter_table, single,
};
use super::sync::{each, each_pair, event_trigger, sides};
use super::{Ctx, RenderError, RenderedOp, Statement};
use crate::dialect::Server;
use crate::op::{
    Column, ColumnChange, ColumnType, ForeignKey, Index, Maintenance, Op, SyncTrigger, Table,
};
use crate::schema::mentions_identifier;

pub(super) struct Mysql;

impl DialectSql for Mysql {
    fn partition_clause(
        &self,
        ctx: &Ctx,
        table: &Table,
    ) -> Result<(String, Vec<String>), RenderError> {
        super::partition::mysql::clause(ctx, table)
    }

    fn partition_op(&self, ctx: &Ctx) -> Rendered {
        super::partition::mysql::op(self, ctx)
    }

    /// A `BEFORE INSERT` and a `BEFORE UPDATE` row trigger that set `NEW`'s columns.
    fn create_sync_trigger(
        &self,
        ctx: &Ctx,
        table: &Table,
        trigger: &SyncTrigger,
    ) -> Result<Vec<String>, RenderError> {
        let sql = ctx.sql;
        let (forward, backward) = sides(ctx, table, trigger, Some("NEW."))?;
        let assign = |side| {
            format!(
                "SET {};",
                each_pair(side, ", ", |c, e| format!("NEW.{c} = {e}"))
            )
        };
        let all_null = |side| each(side, " AND ", |c| format!("NEW.{c} IS NULL"));
        // Compared as bytes: a case- or accent-insensitive collation would see no change.
        let binary = |e: &str| format!("CAST({e} AS BINARY)");
        let changed = |side| {
            each(side, " OR ", |c| {
                format!(
                    "NOT ({} <=> {})",
                    binary(&format!("NEW.{c}")),
                    binary(&format!("OLD.{c}"))
                )
            })
        };
        let differs = |side| {
            each_pair(side, " OR ", |c, e| {
                format!("NOT ({} <=> {})", binary(&format!("NEW.{c}")), binary(e))
            })
        };
        let (not_forward, not_backward) = (differs(&forward), differs(&backward));
        let on = format!("ON {} FOR EACH ROW", sql.ident(&table.name));
        let insert = sql.ident(&event_trigger(&trigger.name, "insert"));
        let update = sql.ident(&event_trigger(&trigger.name, "update"));
        Ok(vec![
            format!(
                "CREATE TRIGGER {insert} BEFORE INSERT {on} BEGIN\n  IF {} THEN {}\n  ELSEIF {} \
                 THEN {}\n  END IF;\nEND",
                all_null(&forward),
                assign(&forward),
                all_null(&backward),
                assign(&backward),
            ),
            format!(
                "CREATE TRIGGER {update} BEFORE UPDATE {on} BEGIN\n  IF ({}) AND NOT ({}) AND \
                 ({not_backward}) THEN {}\n  ELSEIF ({}) AND NOT ({}) AND ({not_forward}) THEN {}\n  \
                 END IF;\nEND",
                changed(&backward),
                changed(&forward),
                assign(&forward),
                changed(&forward),
                changed(&backward),
                assign(&backward),
            ),
        ])
    }

    /// The online form, spelled out: with `ALGORITHM` and `LOCK` given, the server refuses the
    /// statement instead of falling back to a copy that blocks writes.
    fn safe(&self, ctx: &Ctx, server: Server) -> Option<Rendered> {
        const INDEX_ONLINE: &str = " ALGORITHM=INPLACE LOCK=NONE";
        const ALTER_ONLINE: &str = ", ALGORITHM=INPLACE, LOCK=NONE";
        let (rendered, clause) = match ctx.op {
            Op::CreateIndex {
                table,
                index,
                concurrently: false,
            } => (self.create_index(ctx, table, index, false), INDEX_ONLINE),
            // MariaDB's DROP INDEX takes no ALGORITHM; ALTER TABLE … DROP INDEX does.
            Op::DropIndex {
                table,
                name,
                concurrently: false,
            } => {
                let drop = format!("DROP INDEX {}", ctx.sql.ident(name));
                let drop = alter_table(ctx, table, &drop);
                (after_foreign_key_indexes(ctx, table, drop), ALTER_ONLINE)
            }
            Op::AddUnique { table, unique } => (
                self.add_constraint(ctx, table, Constraint::Unique(unique)),
                ALTER_ONLINE,
            ),
            // Adding an AUTO_INCREMENT column blocks writes whatever the clause says.
            Op::AddColumn { table, column } if !column.auto_increment => {
                let clause = match super::instant_add_column(server, column) {
                    true => ", ALGORITHM=INSTANT",
                    false => ALTER_ONLINE,
                };
                (self.add_column(ctx, table, column), clause)
            }
            _ => return None,
        };
        Some(rendered.map(|mut rendered| {
            if let Some(last) = rendered.statements.last_mut() {
                last.sql.push_str(clause);
            }
            rendered
        }))
    }

    fn maintenance(&self, ctx: &Ctx, maintenance: &Maintenance) -> Rendered {
        let sql = ctx.sql;
        match maintenance {
            Maintenance::Analyze { table } => single(format!("ANALYZE TABLE {}", sql.ident(table))),
            // InnoDB rebuilds the table online, its indexes with it.
            Maintenance::Vacuum { table } => single(format!("OPTIMIZE TABLE {}", sql.ident(table))),
            Maintenance::Reindex { .. } => Err(ctx.refuse(
                "MySQL has no REINDEX",
                "`m.vacuum(table)` (OPTIMIZE TABLE) rebuilds a table with its indexes; branch \
                 on `m.dialect()`",
            )),
        }
    }

    fn column_definition(&self, ctx: &Ctx, c: &Column, _: bool) -> Result<String, RenderError> {
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
        out.push_str(&common::default_clause(self, ctx, c));
        if c.auto_increment {
            out.push_str(" AUTO_INCREMENT");
        }
        Ok(out)
    }

    /// The precision of the column types (`datetime(6)`); MySQL refuses a default of another.
    fn current_timestamp(&self) -> &'static str {
        "CURRENT_TIMESTAMP(6)"
    }

    fn rename_table(&self, ctx: &Ctx, from: &str, to: &str) -> String {
        let (from, to) = (ctx.sql.ident(from), ctx.sql.ident(to));
        format!("RENAME TABLE {from} TO {to}")
    }

    fn check_new_table(&self, ctx: &Ctx, t: &Table) -> Result<(), RenderError> {
        if let Some(pk) = &t.primary_key {
            check_indexable(ctx, t, "the primary key", &pk.columns)?;
        }
        for u in &t.uniques {
            let what = format!("unique constraint `{}`", u.name);
            check_indexable(ctx, t, &what, &u.columns)?;
        }
        for index in &t.indexes {
            check_index(ctx, t, index)?;
        }
        for fk in &t.foreign_keys {
            let what = format!("foreign key `{}`", fk.name);
            super::partition::mysql::check_reference(ctx, t, fk)?;
            check_indexable(ctx, t, &what, &fk.columns)?;
            check_foreign_key_types(ctx, t, fk)?;
        }
        Ok(())
    }

    /// Indexes inline, so that foreign keys find them and MySQL adds no index of its own.
    fn inline_index(&self, ctx: &Ctx, index: &Index) -> Option<String> {
        Some(format!(
            "{}INDEX {} ({})",
            if index.unique { "UNIQUE " } else { "" },
            ctx.sql.ident(&index.name),
            ctx.sql.idents(&index.columns)
        ))
    }

    /// MySQL refuses to drop a column that a foreign key or check uses; drop those first (the
    /// model drops them with the column). Indexes on it go away with it.
    fn drop_column(&self, ctx: &Ctx, table: &str, column: &str) -> Rendered {
        let t = ctx.before_table(table)?;
        let foreign_keys = t.foreign_keys.iter().filter(|fk| fk.columns == [column]);
        let checks = t
            .checks
            .iter()
            .filter(|c| mentions_identifier(&c.expr, column));
        Ok(RenderedOp::statements(
            foreign_keys
                .map(|fk| drop_foreign_key(ctx, table, &fk.name))
                .chain(checks.map(|c| common::drop_constraint(ctx, table, &c.name)))
                .chain([common::drop_column(ctx, table, column)]),
        ))
    }

    fn alter_column(&self, ctx: &Ctx, table: &str, name: &str, change: &ColumnChange) -> Rendered {
        if let ColumnChange::SetType { using: Some(_), .. } = change {
            return Err(ctx.refuse(
                "MySQL has no `USING` clause to convert values while changing a type",
                "add a new column, copy the values with `m.sql(\"UPDATE …\")`, drop the old \
                 column and rename the new one",
            ));
        }
        let t = ctx.after_table(table)?;
        if let ColumnChange::SetType { .. } = change
            && let Some(fk) = t
                .foreign_keys
                .iter()
                .find(|fk| fk.columns.iter().any(|c| c == name))
        {
            return Err(ctx.refuse(
                format!(
                    "MySQL cannot change the type of `{table}.{name}`, which foreign key \
                     `{}` uses",
                    fk.name
                ),
                "drop the foreign key, change the column, and add the key back",
            ));
        }
        let c = t
            .column(name)
            .ok_or_else(|| ctx.refuse("the column is not in the schema", "check the op"))?;
        single(modify_column(ctx, table, c)?)
    }

    fn create_index(&self, ctx: &Ctx, table: &str, index: &Index, concurrently: bool) -> Rendered {
        if concurrently {
            return Err(ctx.refuse(
                "MySQL has no `CONCURRENTLY`; InnoDB builds secondary indexes online by default",
                "drop `.concurrently()` for MySQL (branch on `m.dialect()`)",
            ));
        }
        check_index(ctx, ctx.after_table(table)?, index)?;
        single(common::create_index(ctx, table, index, false))
    }

    fn drop_index(&self, ctx: &Ctx, table: &str, name: &str, concurrently: bool) -> Rendered {
        if concurrently {
            return Err(ctx.refuse(
                "MySQL has no `DROP INDEX CONCURRENTLY`",
                "drop `.concurrently()` for MySQL (branch on `m.dialect()`)",
            ));
        }
        after_foreign_key_indexes(ctx, table, drop_index(ctx, table, name))
    }

    fn add_constraint(&self, ctx: &Ctx, table: &str, constraint: Constraint) -> Rendered {
        match constraint {
            Constraint::PrimaryKey(pk) => {
                check_indexable(ctx, ctx.after_table(table)?, "the primary key", &pk.columns)?;
                // The model made the key's columns NOT NULL; MySQL does too, implicitly.
                let action = format!("ADD PRIMARY KEY ({})", ctx.sql.idents(&pk.columns));
                return single(alter_table(ctx, table, &action));
            }
            Constraint::Unique(u) => {
                let t = ctx.after_table(table)?;
                check_indexable(ctx, t, "the unique constraint", &u.columns)?;
            }
            Constraint::Check(_) => {}
            Constraint::ForeignKey(fk) => {
                let t = ctx.after_table(table)?;
                super::partition::mysql::check_reference(ctx, t, fk)?;
                check_indexable(ctx, t, "the foreign key", &fk.columns)?;
                check_foreign_key_types(ctx, t, fk)?;
            }
        }
        single(common::add_constraint(ctx, table, constraint))
    }

    fn drop_constraint(&self, ctx: &Ctx, table: &str, dropped: DroppedConstraint) -> Rendered {
        match dropped {
            // Foreign keys the key was backing need an index of their own first. Dropping the
            // key leaves its columns NOT NULL, as the model says.
            DroppedConstraint::PrimaryKey => {
                after_foreign_key_indexes(ctx, table, alter_table(ctx, table, "DROP PRIMARY KEY"))
            }
            DroppedConstraint::Unique(name) => {
                after_foreign_key_indexes(ctx, table, drop_index(ctx, table, name))
            }
            DroppedConstraint::Check(name) => single(common::drop_constraint(ctx, table, name)),
            DroppedConstraint::ForeignKey(name) => {
                let t = ctx.before_table(table)?;
                let mut out = vec![drop_foreign_key(ctx, table, name)];
                // MySQL created an index named after the key if no other index covered its
                // columns, and keeps it after the key is dropped.
                if let Some(fk) = t.foreign_keys.iter().find(|f| f.name == name)
                    && !has_covering_index(t, fk)
                {
                    out.push(drop_index(ctx, table, name));
                }
                Ok(RenderedOp::statements(out))
            }
        }
    }

    /// The values live on the columns (`ENUM(...)`): redefine every column of the type.
    fn enum_values_changed(&self, ctx: &Ctx, name: &str, _: Option<&str>) -> Rendered {
        let columns = common::enum_columns(ctx, name);
        let statements: Result<Vec<_>, _> = columns
            .map(|(t, c)| modify_column(ctx, &t.name, c))
            .collect();
        Ok(RenderedOp::statements(statements?))
    }
}

/// `MODIFY COLUMN` takes the column's whole definition.
fn modify_column(ctx: &Ctx, table: &str, c: &Column) -> Result<String, RenderError> {
    let definition = Mysql.column_definition(ctx, c, false)?;
    let action = format!("MODIFY COLUMN {definition}");
    Ok(alter_table(ctx, table, &action))
}

fn drop_foreign_key(ctx: &Ctx, table: &str, name: &str) -> String {
    let name = ctx.sql.ident(name);
    alter_table(ctx, table, &format!("DROP FOREIGN KEY {name}"))
}

/// Index names are per table on MySQL.
fn drop_index(ctx: &Ctx, table: &str, name: &str) -> String {
    let (name, table) = (ctx.sql.ident(name), ctx.sql.ident(table));
    format!("DROP INDEX {name} ON {table}")
}

/// MySQL drops the index it made for a foreign key once another index covers the key's columns,
/// and then refuses to drop that other index. Before `drop` takes an index (or the primary key),
/// give each foreign key it was backing an index of its own, named after the key, as MySQL would.
/// An earlier op may have made that index already (the model does not track it), so it is
/// created only when missing.
fn after_foreign_key_indexes(ctx: &Ctx, table: &str, drop: String) -> Rendered {
    let before = ctx.before_table(table)?;
    let after = ctx.after_table(table)?;
    let mut statements: Vec<Statement> = after
        .foreign_keys
        .iter()
        .filter(|fk| has_covering_index(before, fk) && !has_covering_index(after, fk))
        .map(|fk| {
            let index = Index {
                name: fk.name.clone(),
                columns: fk.columns.clone(),
                unique: false,
                predicate: None,
            };
            Statement {
                sql: common::create_index(ctx, table, &index, false),
                unless_exists: Some(format!(
                    "SELECT 1 FROM information_schema.statistics WHERE table_schema = DATABASE() \
                     AND table_name = {} AND index_name = {}",
                    ctx.sql.string(table),
                    ctx.sql.string(&fk.name)
                )),
                ..Statement::default()
            }
        })
        .collect();
    statements.push(Statement::exec(drop));
    Ok(RenderedOp {
        statements,
        ..RenderedOp::default()
    })
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
