//! The SQL the dialects spell alike, written once, and [`DialectSql`], through which each
//! dialect says only what it spells differently or cannot do (as sea-query's backends override
//! only what differs).

use super::{Ctx, RenderError, RenderedOp, Statement};
use crate::dialect::Server;
use crate::op::{
    Check, Column, ColumnChange, ColumnType, DefaultValue, ForeignKey, Index, Maintenance, Op,
    PrimaryKey, SyncTrigger, Table, Unique,
};

pub(super) type Rendered = Result<RenderedOp, RenderError>;

/// A constraint an op adds to an existing table.
#[derive(Clone, Copy)]
pub(super) enum Constraint<'a> {
    PrimaryKey(&'a PrimaryKey),
    Unique(&'a Unique),
    Check(&'a Check),
    ForeignKey(&'a ForeignKey),
}

impl Constraint<'_> {
    /// The table constraint, `CONSTRAINT "name" …` (MySQL ignores a primary key's name: its key
    /// is `PRIMARY`).
    pub fn sql(self, ctx: &Ctx) -> String {
        let sql = ctx.sql;
        let (name, body) = match self {
            Constraint::PrimaryKey(pk) => (
                &pk.name,
                format!("PRIMARY KEY ({})", sql.idents(&pk.columns)),
            ),
            Constraint::Unique(u) => (&u.name, format!("UNIQUE ({})", sql.idents(&u.columns))),
            Constraint::Check(c) => (&c.name, format!("CHECK ({})", c.expr)),
            Constraint::ForeignKey(fk) => (
                &fk.name,
                format!(
                    "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                    sql.idents(&fk.columns),
                    sql.ident(&fk.ref_table),
                    sql.idents(&fk.ref_columns),
                    fk.on_delete.sql(),
                    fk.on_update.sql(),
                ),
            ),
        };
        format!("CONSTRAINT {} {body}", sql.ident(name))
    }
}

/// A constraint an op drops: by name, but for the table's only primary key.
pub(super) enum DroppedConstraint<'a> {
    PrimaryKey,
    Unique(&'a str),
    Check(&'a str),
    ForeignKey(&'a str),
}

/// One dialect's SQL. The provided methods are the spelling the dialects share; a dialect
/// overrides what it spells differently, and refuses what it cannot do with a `RenderError`.
/// The required ones are the ops no two dialects spell alike.
pub(super) trait DialectSql {
    /// A column as `CREATE TABLE` (`in_create_table`) or `ALTER TABLE` declares it.
    fn column_definition(
        &self,
        ctx: &Ctx,
        column: &Column,
        in_create_table: bool,
    ) -> Result<String, RenderError>;

    /// Changes column `name` of `table`.
    fn alter_column(&self, ctx: &Ctx, table: &str, name: &str, change: &ColumnChange) -> Rendered;

    fn create_index(&self, ctx: &Ctx, table: &str, index: &Index, concurrently: bool) -> Rendered;

    fn drop_index(&self, ctx: &Ctx, table: &str, name: &str, concurrently: bool) -> Rendered;

    /// The values of enum type `name` changed: `added` by `AddEnumValue`, or one removed.
    fn enum_values_changed(&self, ctx: &Ctx, name: &str, added: Option<&str>) -> Rendered;

    /// The statements that create sync trigger `trigger` on `table` (as the table is).
    fn create_sync_trigger(
        &self,
        ctx: &Ctx,
        table: &Table,
        trigger: &SyncTrigger,
    ) -> Result<Vec<String>, RenderError>;

    /// Drops the two triggers of dialects that need one per event (PostgreSQL overrides it).
    fn drop_sync_trigger(&self, ctx: &Ctx, _table: &str, trigger: &SyncTrigger) -> Vec<String> {
        super::sync::drop_event_triggers(ctx, trigger)
    }

    /// Statistics, space, index rebuilds ([`Maintenance`]).
    fn maintenance(&self, ctx: &Ctx, maintenance: &Maintenance) -> Rendered;

    /// What asks for a query's plan.
    fn explain(&self) -> &'static str {
        "EXPLAIN"
    }

    /// `ctx.op` in its safe sequence on `server`, if it has one ([`super::render_safe`]).
    fn safe(&self, _ctx: &Ctx, _server: Server) -> Option<Rendered> {
        None
    }

    /// The current time, as a column default.
    fn current_timestamp(&self) -> &'static str {
        "CURRENT_TIMESTAMP"
    }

    /// What `CREATE TABLE` of a partitioned table ends with, and the statements right after it
    /// (PostgreSQL's partitions). Refused where there is no partitioning.
    fn partition_clause(
        &self,
        ctx: &Ctx,
        _table: &Table,
    ) -> Result<(String, Vec<String>), RenderError> {
        Err(super::partition::no_partitioning(ctx))
    }

    /// `ctx.op`, a partition op: create, drop, attach or detach one.
    fn partition_op(&self, ctx: &Ctx) -> Rendered {
        Err(super::partition::no_partitioning(ctx))
    }

    /// Refusals for a table about to be created, checked once its columns are spelled.
    fn check_new_table(&self, _ctx: &Ctx, _table: &Table) -> Result<(), RenderError> {
        Ok(())
    }

    /// The primary key `CREATE TABLE` declares as a table constraint.
    fn primary_key_constraint<'t>(&self, table: &'t Table) -> Option<&'t PrimaryKey> {
        table.primary_key.as_ref()
    }

    /// An index declared inside `CREATE TABLE`; `None` creates it after the table.
    fn inline_index(&self, _ctx: &Ctx, _index: &Index) -> Option<String> {
        None
    }

    /// A statement rather than an op: a SQLite rebuild ends with one.
    fn rename_table(&self, ctx: &Ctx, from: &str, to: &str) -> String {
        alter_table(ctx, from, &format!("RENAME TO {}", ctx.sql.ident(to)))
    }

    fn add_column(&self, ctx: &Ctx, table: &str, column: &Column) -> Rendered {
        let definition = self.column_definition(ctx, column, false)?;
        single(add_column(ctx, table, &definition))
    }

    /// The single-column indexes and constraints on the column go with it, as in the model.
    fn drop_column(&self, ctx: &Ctx, table: &str, column: &str) -> Rendered {
        single(drop_column(ctx, table, column))
    }

    fn add_constraint(&self, ctx: &Ctx, table: &str, constraint: Constraint) -> Rendered {
        single(add_constraint(ctx, table, constraint))
    }

    fn drop_constraint(&self, ctx: &Ctx, table: &str, dropped: DroppedConstraint) -> Rendered {
        let name = match dropped {
            DroppedConstraint::PrimaryKey => match &ctx.before_table(table)?.primary_key {
                Some(pk) => pk.name.as_str(),
                None => return Err(ctx.refuse("the table has no primary key", "remove this op")),
            },
            DroppedConstraint::Unique(name)
            | DroppedConstraint::Check(name)
            | DroppedConstraint::ForeignKey(name) => name,
        };
        single(drop_constraint(ctx, table, name))
    }

    /// No SQL: the type lives in the schema model only, and its columns carry the values.
    fn create_enum(&self, _ctx: &Ctx, _name: &str, _values: &[String]) -> Rendered {
        Ok(RenderedOp::default())
    }

    fn drop_enum(&self, _ctx: &Ctx, _name: &str) -> Rendered {
        Ok(RenderedOp::default())
    }
}

/// Renders `ctx.op` in `dialect`'s SQL.
pub(super) fn render(dialect: &dyn DialectSql, ctx: &Ctx) -> Rendered {
    match ctx.op {
        Op::CreateTable(t) => {
            let table = ctx.after_table(&t.name)?;
            create_table(dialect, ctx, table, &t.name).map(RenderedOp::statements)
        }
        Op::DropTable { name } => single(drop_table(ctx, name)),
        Op::RenameTable { from, to } => single(dialect.rename_table(ctx, from, to)),
        Op::AddColumn { table, column } => dialect.add_column(ctx, table, column),
        Op::DropColumn { table, column } => dialect.drop_column(ctx, table, column),
        Op::RenameColumn { table, from, to } => single(rename_column(ctx, table, from, to)),
        Op::AlterColumn {
            table,
            column,
            change,
        } => dialect.alter_column(ctx, table, column, change),
        Op::CreateIndex {
            table,
            index,
            concurrently,
        } => dialect.create_index(ctx, table, index, *concurrently),
        Op::DropIndex {
            table,
            name,
            concurrently,
        } => dialect.drop_index(ctx, table, name, *concurrently),
        Op::AddPrimaryKey { table, primary_key } => {
            dialect.add_constraint(ctx, table, Constraint::PrimaryKey(primary_key))
        }
        Op::AddUnique { table, unique } => {
            dialect.add_constraint(ctx, table, Constraint::Unique(unique))
        }
        Op::AddCheck { table, check } => {
            dialect.add_constraint(ctx, table, Constraint::Check(check))
        }
        Op::AddForeignKey { table, foreign_key } => {
            dialect.add_constraint(ctx, table, Constraint::ForeignKey(foreign_key))
        }
        Op::DropPrimaryKey { table } => {
            dialect.drop_constraint(ctx, table, DroppedConstraint::PrimaryKey)
        }
        Op::DropUnique { table, name } => {
            dialect.drop_constraint(ctx, table, DroppedConstraint::Unique(name))
        }
        Op::DropCheck { table, name } => {
            dialect.drop_constraint(ctx, table, DroppedConstraint::Check(name))
        }
        Op::DropForeignKey { table, name } => {
            dialect.drop_constraint(ctx, table, DroppedConstraint::ForeignKey(name))
        }
        Op::CreateEnum { name, values } => dialect.create_enum(ctx, name, values),
        Op::AddEnumValue { name, value } => dialect.enum_values_changed(ctx, name, Some(value)),
        Op::RemoveEnumValue { name, .. } => dialect.enum_values_changed(ctx, name, None),
        Op::DropEnum { name } => dialect.drop_enum(ctx, name),
        Op::CreatePartition { .. }
        | Op::DropPartition { .. }
        | Op::AttachPartition { .. }
        | Op::DetachPartition { .. }
        | Op::PartitionTable(_)
        | Op::UnpartitionTable { .. }
        | Op::DropUnpartitionedCopy { .. } => dialect.partition_op(ctx),
        Op::RawSql(raw) => Ok(RenderedOp::statements(
            raw.for_dialect(ctx.sql.0).map(str::to_owned),
        )),
        // No SQL: the runner calls the step's function.
        Op::Rust(_) => Ok(RenderedOp::default()),
        Op::Assert(assertion) => Ok(RenderedOp {
            statements: check_statement(ctx, assertion, None).into_iter().collect(),
            ..RenderedOp::default()
        }),
        Op::Maintenance(maintenance) => dialect.maintenance(ctx, maintenance),
        Op::Explain { query } => Ok(RenderedOp {
            statements: query
                .for_dialect(ctx.sql.0)
                .map(|q| Statement {
                    sql: format!("{} {q}", dialect.explain()),
                    reports_plan: true,
                    ..Statement::default()
                })
                .into_iter()
                .collect(),
            ..RenderedOp::default()
        }),
        Op::Savepoint(savepoint) => {
            let sql = ctx.sql;
            let mut statements = vec![Statement::exec(format!("SAVEPOINT {}", super::SAVEPOINT))];
            for op in &savepoint.ops {
                match op {
                    Op::RawSql(raw) => statements.extend(
                        raw.for_dialect(sql.0)
                            .map(|s| Statement::exec(s.to_owned())),
                    ),
                    Op::Assert(assertion) => statements.extend(check_statement(
                        ctx,
                        assertion,
                        Some(savepoint.on_failure),
                    )),
                    other => {
                        return Err(ctx.refuse(
                            format!("`{}` cannot be in a savepoint", other.describe()),
                            "record it before or after the savepoint",
                        ));
                    }
                }
            }
            statements.push(Statement::exec(format!(
                "RELEASE SAVEPOINT {}",
                super::SAVEPOINT
            )));
            Ok(RenderedOp {
                statements,
                in_transaction: true,
                ..RenderedOp::default()
            })
        }
        Op::Backfill(backfill) => super::backfill::render(ctx, backfill),
        Op::CreateSyncTrigger { table, trigger } => {
            let t = ctx.before_table(table)?;
            dialect
                .create_sync_trigger(ctx, t, trigger)
                .map(RenderedOp::statements)
        }
        Op::DropSyncTrigger { table, name } => {
            let t = ctx.before_table(table)?;
            let trigger = t
                .sync_triggers
                .iter()
                .find(|st| st.name == *name)
                .ok_or_else(|| {
                    ctx.refuse(
                        format!("table `{table}` has no sync trigger `{name}`"),
                        "apply the op to the schema it was validated on",
                    )
                })?;
            Ok(RenderedOp::statements(
                dialect.drop_sync_trigger(ctx, table, trigger),
            ))
        }
    }
}

/// The check query of `assertion` on this dialect, if it has one here.
fn check_statement(
    ctx: &Ctx,
    assertion: &crate::op::Assertion,
    in_savepoint: Option<crate::op::OnFailure>,
) -> Option<Statement> {
    let sql = assertion.query.for_dialect(ctx.sql.0)?;
    Some(Statement {
        sql: sql.to_owned(),
        check: Some(super::StatementCheck {
            kind: assertion.kind,
            expect: assertion.expect.clone(),
            in_savepoint,
        }),
        ..Statement::default()
    })
}

/// An op of one plain statement.
pub(super) fn single(sql: String) -> Rendered {
    Ok(RenderedOp::statements([sql]))
}

/// `CREATE TABLE "name" (columns, constraints)` for `table`, then its indexes not declared
/// inline. `name` differs from the table's own in a rebuild, which creates it under a temporary
/// name; the indexes are created once it has its own.
pub(super) fn create_table(
    dialect: &dyn DialectSql,
    ctx: &Ctx,
    table: &Table,
    name: &str,
) -> Result<Vec<String>, RenderError> {
    let sql = ctx.sql;
    let mut parts = Vec::new();
    for column in &table.columns {
        parts.push(dialect.column_definition(ctx, column, true)?);
    }
    dialect.check_new_table(ctx, table)?;
    let primary_key = dialect.primary_key_constraint(table);
    parts.extend(primary_key.map(|pk| Constraint::PrimaryKey(pk).sql(ctx)));
    parts.extend(table.uniques.iter().map(|u| Constraint::Unique(u).sql(ctx)));
    let mut indexes_after = Vec::new();
    for index in &table.indexes {
        match dialect.inline_index(ctx, index) {
            Some(inline) => parts.push(inline),
            None => indexes_after.push(create_index(ctx, &table.name, index, false)),
        }
    }
    parts.extend(table.checks.iter().map(|c| Constraint::Check(c).sql(ctx)));
    for fk in &table.foreign_keys {
        parts.push(Constraint::ForeignKey(fk).sql(ctx));
    }
    let (partitioning, partitions) = match &table.partitioning {
        Some(_) => dialect.partition_clause(ctx, table)?,
        None => (String::new(), Vec::new()),
    };
    let create = format!(
        "CREATE TABLE {} (\n  {}\n){partitioning}",
        sql.ident(name),
        parts.join(",\n  ")
    );
    Ok([create]
        .into_iter()
        .chain(partitions)
        .chain(indexes_after)
        .collect())
}

pub(super) fn drop_table(ctx: &Ctx, name: &str) -> String {
    format!("DROP TABLE {}", ctx.sql.ident(name))
}

pub(super) fn alter_table(ctx: &Ctx, table: &str, action: &str) -> String {
    format!("ALTER TABLE {} {action}", ctx.sql.ident(table))
}

pub(super) fn add_column(ctx: &Ctx, table: &str, definition: &str) -> String {
    alter_table(ctx, table, &format!("ADD COLUMN {definition}"))
}

pub(super) fn drop_column(ctx: &Ctx, table: &str, column: &str) -> String {
    let column = ctx.sql.ident(column);
    alter_table(ctx, table, &format!("DROP COLUMN {column}"))
}

pub(super) fn rename_column(ctx: &Ctx, table: &str, from: &str, to: &str) -> String {
    let (from, to) = (ctx.sql.ident(from), ctx.sql.ident(to));
    alter_table(ctx, table, &format!("RENAME COLUMN {from} TO {to}"))
}

pub(super) fn add_constraint(ctx: &Ctx, table: &str, constraint: Constraint) -> String {
    alter_table(ctx, table, &format!("ADD {}", constraint.sql(ctx)))
}

pub(super) fn drop_constraint(ctx: &Ctx, table: &str, name: &str) -> String {
    let name = ctx.sql.ident(name);
    alter_table(ctx, table, &format!("DROP CONSTRAINT {name}"))
}

/// `CREATE [UNIQUE] INDEX "n" ON "t" ("a", "b") [WHERE …]`, with `CONCURRENTLY` where given.
pub(super) fn create_index(ctx: &Ctx, table: &str, index: &Index, concurrently: bool) -> String {
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

/// `DROP INDEX "n"`, for the dialects whose index names are per schema (not MySQL's, per table).
pub(super) fn drop_index(ctx: &Ctx, name: &str, concurrently: bool) -> String {
    let concurrently = if concurrently { "CONCURRENTLY " } else { "" };
    format!("DROP INDEX {concurrently}{}", ctx.sql.ident(name))
}

/// Every column of enum type `name` after the op, with its table.
pub(super) fn enum_columns<'a>(
    ctx: &'a Ctx,
    name: &'a str,
) -> impl Iterator<Item = (&'a Table, &'a Column)> {
    let of_type = move |c: &&Column| matches!(&c.ty, ColumnType::Enum(n) if n == name);
    let columns = move |t: &'a Table| t.columns.iter().filter(of_type).map(move |c| (t, c));
    ctx.after.tables().flat_map(columns)
}

/// ` DEFAULT …` of a column declaration, or nothing.
pub(super) fn default_clause(dialect: &dyn DialectSql, ctx: &Ctx, column: &Column) -> String {
    match &column.default {
        Some(default) => format!(" DEFAULT {}", default_value(dialect, ctx, default)),
        None => String::new(),
    }
}

pub(super) fn default_value(dialect: &dyn DialectSql, ctx: &Ctx, default: &DefaultValue) -> String {
    match default {
        DefaultValue::Literal(v) => ctx.sql.literal(v),
        DefaultValue::Now => dialect.current_timestamp().into(),
        DefaultValue::Expr(e) => format!("({e})"),
    }
}
