//! PostgreSQL: transactional DDL, native enum types, `CONCURRENTLY` index builds.

use super::common::{self, Constraint, DialectSql, Rendered, alter_table, single};
use super::sync::{each, each_pair, sides};
use super::{Ctx, Leftover, RenderError, RenderedOp};
use crate::dialect::Server;
use crate::op::{Column, ColumnChange, ColumnType, Index, Maintenance, Op, SyncTrigger, Table};

pub(super) struct Postgres;

impl DialectSql for Postgres {
    fn partition_clause(
        &self,
        ctx: &Ctx,
        table: &Table,
    ) -> Result<(String, Vec<String>), RenderError> {
        super::partition::postgres::clause(ctx, table)
    }

    fn partition_op(&self, ctx: &Ctx) -> Rendered {
        super::partition::postgres::op(self, ctx)
    }

    /// One `BEFORE INSERT OR UPDATE` row trigger and its PL/pgSQL function, both named after
    /// the trigger; the function sets `NEW`'s columns.
    fn create_sync_trigger(
        &self,
        ctx: &Ctx,
        table: &Table,
        trigger: &SyncTrigger,
    ) -> Result<Vec<String>, RenderError> {
        let sql = ctx.sql;
        let (forward, backward) = sides(ctx, table, trigger, Some("NEW."))?;
        let assign = |side| each_pair(side, " ", |c, e| format!("NEW.{c} := {e};"));
        let all_null = |side| each(side, " AND ", |c| format!("NEW.{c} IS NULL"));
        let changed = |side| {
            each(side, " OR ", |c| {
                format!("NEW.{c} IS DISTINCT FROM OLD.{c}")
            })
        };
        let differs = |side| {
            each_pair(side, " OR ", |c, e| {
                format!("NEW.{c} IS DISTINCT FROM ({e})")
            })
        };
        let (not_forward, not_backward) = (differs(&forward), differs(&backward));
        let body = format!(
            "BEGIN\n  IF TG_OP = 'INSERT' THEN\n    IF {} THEN {}\n    ELSIF {} THEN {}\n    \
             END IF;\n  ELSIF ({}) AND NOT ({}) AND ({not_backward}) THEN {}\n  ELSIF ({}) AND NOT ({}) \
             AND ({not_forward}) THEN {}\n  END IF;\n  RETURN NEW;\nEND",
            all_null(&forward),
            assign(&forward),
            all_null(&backward),
            assign(&backward),
            changed(&backward),
            changed(&forward),
            assign(&forward),
            changed(&forward),
            changed(&backward),
            assign(&backward),
        );
        const QUOTE: &str = "$godwit_sync$";
        if body.contains(QUOTE) {
            return Err(ctx.refuse(
                format!("an expression contains `{QUOTE}`, which quotes the function body"),
                "write the expression without it",
            ));
        }
        let name = sql.ident(&trigger.name);
        Ok(vec![
            format!(
                "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS {QUOTE}\n{body}\n{QUOTE}"
            ),
            format!(
                "CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION \
                 {name}()",
                sql.ident(&table.name)
            ),
        ])
    }

    fn drop_sync_trigger(&self, ctx: &Ctx, table: &str, trigger: &SyncTrigger) -> Vec<String> {
        let name = ctx.sql.ident(&trigger.name);
        vec![
            format!("DROP TRIGGER {name} ON {}", ctx.sql.ident(table)),
            format!("DROP FUNCTION {name}()"),
        ]
    }

    /// Each sequence runs outside a transaction, statement by statement, so that no statement
    /// holds its lock while the next scans or builds; what a stopped run left is removed first.
    fn safe(&self, ctx: &Ctx, server: Server) -> Option<Rendered> {
        // `CONCURRENTLY` and `NOT VALID` are not for partitioned tables.
        let table = match ctx.op {
            Op::Maintenance(m) => ctx.before.table_or_index_owner(m.subject()),
            op => op.changes_only_table().and_then(|t| ctx.before.table(t)),
        };
        if table.is_some_and(|t| t.partitioning.is_some()) {
            return None;
        }
        match ctx.op {
            Op::CreateIndex {
                table,
                index,
                concurrently: false,
            } => Some(self.create_index(ctx, table, index, true)),
            Op::DropIndex {
                table,
                name,
                concurrently: false,
            } => Some(self.drop_index(ctx, table, name, true)),
            Op::Maintenance(Maintenance::Reindex {
                name,
                concurrently: false,
            }) => Some(self.maintenance(
                ctx,
                &Maintenance::Reindex {
                    name: name.clone(),
                    concurrently: true,
                },
            )),
            Op::AddForeignKey { table, foreign_key } => Some(validated_later(
                ctx,
                table,
                &foreign_key.name,
                Constraint::ForeignKey(foreign_key),
            )),
            Op::AddCheck { table, check } => Some(validated_later(
                ctx,
                table,
                &check.name,
                Constraint::Check(check),
            )),
            // PostgreSQL 12+ skips SET NOT NULL's scan when a valid CHECK proves it.
            Op::AlterColumn {
                table,
                column,
                change: ColumnChange::SetNullable(false),
            } if server.at_least(12, 0, 0) => Some(not_null_through_check(ctx, table, column)),
            Op::AddUnique { table, unique } => Some(Ok(through_unique_index(
                ctx,
                table,
                &unique.name,
                &unique.columns,
                "UNIQUE",
            ))),
            // A key over nullable columns would set them NOT NULL with a scan under the lock.
            Op::AddPrimaryKey { table, primary_key } => {
                let before = ctx.before.table(table)?;
                let not_null = primary_key
                    .columns
                    .iter()
                    .all(|c| before.column(c).is_some_and(|c| !c.nullable));
                not_null.then(|| {
                    Ok(through_unique_index(
                        ctx,
                        table,
                        &primary_key.name,
                        &primary_key.columns,
                        "PRIMARY KEY",
                    ))
                })
            }
            _ => None,
        }
    }

    fn maintenance(&self, ctx: &Ctx, maintenance: &Maintenance) -> Rendered {
        let sql = ctx.sql;
        Ok(match maintenance {
            Maintenance::Analyze { table } => {
                RenderedOp::statements([format!("ANALYZE {}", sql.ident(table))])
            }
            // VACUUM cannot run inside a transaction block.
            Maintenance::Vacuum { table } => RenderedOp {
                outside_transaction: true,
                ..RenderedOp::statements([format!("VACUUM (ANALYZE) {}", sql.ident(table))])
            },
            Maintenance::Reindex { name, concurrently } => {
                let kind = match ctx.before.table(name) {
                    Some(_) => "TABLE",
                    None => "INDEX",
                };
                let how = if *concurrently { "CONCURRENTLY " } else { "" };
                RenderedOp {
                    outside_transaction: *concurrently,
                    ..RenderedOp::statements([format!("REINDEX {kind} {how}{}", sql.ident(name))])
                }
            }
        })
    }

    fn column_definition(&self, ctx: &Ctx, c: &Column, _: bool) -> Result<String, RenderError> {
        let mut out = format!("{} {}", ctx.sql.ident(&c.name), column_type(ctx, &c.ty));
        if c.auto_increment {
            out.push_str(" GENERATED BY DEFAULT AS IDENTITY");
        }
        if !c.nullable {
            out.push_str(" NOT NULL");
        }
        out.push_str(&common::default_clause(self, ctx, c));
        Ok(out)
    }

    fn alter_column(&self, ctx: &Ctx, table: &str, name: &str, change: &ColumnChange) -> Rendered {
        single(alter_column(ctx, table, name, change))
    }

    fn create_index(&self, ctx: &Ctx, table: &str, index: &Index, concurrently: bool) -> Rendered {
        let sql = ctx.sql;
        if concurrently {
            refuse_concurrently_on_partitioned(ctx, table)?;
        }
        // A failed CONCURRENTLY build leaves an INVALID index under this name; it must be
        // dropped before the op can run again.
        let leftover = concurrently.then(|| Leftover {
            probe: format!(
                "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 WHERE c.relname = {} AND c.relnamespace = current_schema()::regnamespace \
                 AND NOT i.indisvalid",
                sql.string(&index.name)
            ),
            remove: vec![format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}",
                sql.ident(&index.name)
            )],
        });
        Ok(RenderedOp {
            outside_transaction: concurrently,
            leftover,
            ..RenderedOp::statements([common::create_index(ctx, table, index, concurrently)])
        })
    }

    fn drop_index(&self, ctx: &Ctx, table: &str, name: &str, concurrently: bool) -> Rendered {
        if concurrently {
            refuse_concurrently_on_partitioned(ctx, table)?;
        }
        Ok(RenderedOp {
            outside_transaction: concurrently,
            ..RenderedOp::statements([common::drop_index(ctx, name, concurrently)])
        })
    }

    fn create_enum(&self, ctx: &Ctx, name: &str, values: &[String]) -> Rendered {
        single(create_type(ctx, name, values))
    }

    fn enum_values_changed(&self, ctx: &Ctx, name: &str, added: Option<&str>) -> Rendered {
        match added {
            Some(value) => single(format!(
                "ALTER TYPE {} ADD VALUE {}",
                ctx.sql.ident(name),
                ctx.sql.string(value)
            )),
            None => Ok(RenderedOp::statements(replace_enum_type(ctx, name))),
        }
    }

    fn drop_enum(&self, ctx: &Ctx, name: &str) -> Rendered {
        single(format!("DROP TYPE {}", ctx.sql.ident(name)))
    }
}

/// `ALTER TABLE … ALTER COLUMN …`, for the op and for moving columns to a rebuilt enum type.
fn alter_column(ctx: &Ctx, table: &str, column: &str, change: &ColumnChange) -> String {
    let c = ctx.sql.ident(column);
    let action = match change {
        ColumnChange::SetType { ty, using } => {
            let ty = column_type(ctx, ty);
            let using = using.clone().unwrap_or_else(|| format!("{c}::{ty}"));
            format!("ALTER COLUMN {c} TYPE {ty} USING ({using})")
        }
        ColumnChange::SetNullable(true) => format!("ALTER COLUMN {c} DROP NOT NULL"),
        ColumnChange::SetNullable(false) => format!("ALTER COLUMN {c} SET NOT NULL"),
        ColumnChange::SetDefault(default) => format!(
            "ALTER COLUMN {c} SET DEFAULT {}",
            common::default_value(&Postgres, ctx, default)
        ),
        ColumnChange::DropDefault => format!("ALTER COLUMN {c} DROP DEFAULT"),
    };
    alter_table(ctx, table, &action)
}

/// Finds constraint `name` of `table`, whatever its state.
fn constraint_probe(ctx: &Ctx, table: &str, name: &str) -> String {
    format!(
        "SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass({}) AND conname = {}",
        ctx.sql.string(&ctx.sql.ident(table)),
        ctx.sql.string(name)
    )
}

/// Added `NOT VALID` (a short lock, no scan), then validated in a transaction of its own,
/// which scans without blocking writes.
fn validated_later(ctx: &Ctx, table: &str, name: &str, constraint: Constraint) -> Rendered {
    let sql = ctx.sql;
    let add = format!(
        "{} NOT VALID",
        common::add_constraint(ctx, table, constraint)
    );
    let validate = alter_table(
        ctx,
        table,
        &format!("VALIDATE CONSTRAINT {}", sql.ident(name)),
    );
    Ok(RenderedOp {
        outside_transaction: true,
        leftover: Some(Leftover {
            probe: constraint_probe(ctx, table, name),
            remove: vec![common::drop_constraint(ctx, table, name)],
        }),
        ..RenderedOp::statements([add, validate])
    })
}

/// SET NOT NULL proven by a validated CHECK, which the scan-free SET NOT NULL then makes moot.
fn not_null_through_check(ctx: &Ctx, table: &str, column: &str) -> Rendered {
    let sql = ctx.sql;
    let check_name = format!("{}_godwit_not_null", super::truncated(column, 40));
    let check = crate::op::Check {
        name: check_name.clone(),
        expr: format!("{} IS NOT NULL", sql.ident(column)),
    };
    let mut rendered = validated_later(ctx, table, &check_name, Constraint::Check(&check))?;
    rendered.statements.extend(
        [
            alter_column(ctx, table, column, &ColumnChange::SetNullable(false)),
            common::drop_constraint(ctx, table, &check_name),
        ]
        .map(super::Statement::exec),
    );
    Ok(rendered)
}

/// A unique index built `CONCURRENTLY`, then made the constraint (`USING INDEX`), which takes
/// it over under its name without another build.
fn through_unique_index(
    ctx: &Ctx,
    table: &str,
    name: &str,
    columns: &[String],
    kind: &str,
) -> RenderedOp {
    let sql = ctx.sql;
    let index = Index {
        name: name.to_owned(),
        columns: columns.to_vec(),
        unique: true,
        predicate: None,
    };
    let n = sql.ident(name);
    RenderedOp {
        outside_transaction: true,
        leftover: Some(Leftover {
            probe: format!(
                "SELECT 1 FROM pg_class WHERE relname = {} AND relkind = 'i' AND relnamespace =                  current_schema()::regnamespace",
                sql.string(name)
            ),
            remove: vec![
                alter_table(ctx, table, &format!("DROP CONSTRAINT IF EXISTS {n}")),
                format!("DROP INDEX CONCURRENTLY IF EXISTS {n}"),
            ],
        }),
        ..RenderedOp::statements([
            common::create_index(ctx, table, &index, true),
            alter_table(
                ctx,
                table,
                &format!("ADD CONSTRAINT {n} {kind} USING INDEX {n}"),
            ),
        ])
    }
}

fn create_type(ctx: &Ctx, name: &str, values: &[String]) -> String {
    format!(
        "CREATE TYPE {} AS ENUM ({})",
        ctx.sql.ident(name),
        ctx.sql.strings(values)
    )
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

/// PostgreSQL cannot remove a value from an enum type: build the type anew and move every column
/// over to it, within the migration's transaction.
fn replace_enum_type(ctx: &Ctx, name: &str) -> Vec<String> {
    let sql = ctx.sql;
    let old = sql.ident(&format!("{}_godwit_old", super::truncated(name, 50)));
    let values = ctx.after.enum_values(name).unwrap_or_default();
    let mut out = vec![
        format!("ALTER TYPE {} RENAME TO {old}", sql.ident(name)),
        create_type(ctx, name, values),
    ];
    for (t, c) in common::enum_columns(ctx, name) {
        // A default cannot be cast to the new type: it goes before the change and comes back.
        let alter = |change| alter_column(ctx, &t.name, &c.name, &change);
        if c.default.is_some() {
            out.push(alter(ColumnChange::DropDefault));
        }
        out.push(alter(ColumnChange::SetType {
            ty: c.ty.clone(),
            using: Some(format!("{}::text::{}", sql.ident(&c.name), sql.ident(name))),
        }));
        if let Some(default) = &c.default {
            out.push(alter(ColumnChange::SetDefault(default.clone())));
        }
    }
    out.push(format!("DROP TYPE {old}"));
    out
}

/// PostgreSQL builds and drops a partitioned table's indexes partition by partition, never
/// `CONCURRENTLY` on the parent.
fn refuse_concurrently_on_partitioned(ctx: &Ctx, table: &str) -> Result<(), RenderError> {
    if ctx
        .before
        .table(table)
        .is_some_and(|t| t.partitioning.is_some())
    {
        return Err(ctx.refuse(
            format!("table `{table}` is partitioned: PostgreSQL has no CONCURRENTLY for the index of a partitioned table"),
            "drop `.concurrently()`: the build locks one partition at a time",
        ));
    }
    Ok(())
}
