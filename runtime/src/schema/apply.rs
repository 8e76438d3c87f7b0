//! Validation and application of each op, and derivation of its inverse.

use std::sync::Arc;

use super::expr::{mentions_identifier, rename_identifier};
use super::partition;
use super::{Inverse, MAX_IDENTIFIER_BYTES, Schema, SchemaError, SchemaErrorKind as K, TableMut};
use crate::op::{
    Backfill, Batching, Check, Column, ColumnChange, ColumnType, DefaultValue, Dialect,
    DialectExpr, ForeignKey, Index, Op, PrimaryKey, RowChange, SyncTrigger, Table,
};

/// Prefix of the tables and objects godwit keeps for itself (a rebuild's temporary table, a
/// conversion's copies); reserved, and not introspected.
pub(crate) const RESERVED_PREFIX: &str = "_godwit_";

/// Prefix of the temporary tables of a SQLite rebuild.
pub(crate) const REBUILD_PREFIX: &str = "_godwit_new_";

type Result<T> = std::result::Result<T, K>;

pub(super) fn apply(schema: &mut Schema, op: &Op) -> std::result::Result<Inverse, SchemaError> {
    // Work on a copy so that a failed op leaves the schema untouched.
    let mut next = schema.clone();
    let inverse = apply_to(&mut next, op).map_err(|kind| SchemaError {
        op: op.describe(),
        kind,
    })?;
    *schema = next;
    Ok(inverse)
}

pub(super) fn apply_to(s: &mut Schema, op: &Op) -> Result<Inverse> {
    partition::refuse_while_kept(s, op)?;
    let inverse = apply_op(s, op)?;
    // A key added to a partitioned table must include its partition columns.
    if let Op::AddPrimaryKey { table, .. }
    | Op::AddUnique { table, .. }
    | Op::CreateIndex { table, .. } = op
    {
        let t = table_ref(s, table)?;
        if let Some(partitioning) = &t.partitioning {
            partition::check_keys(t, &partitioning.columns)?;
        }
    }
    Ok(inverse)
}

fn apply_op(s: &mut Schema, op: &Op) -> Result<Inverse> {
    match op {
        Op::CreateTable(table) => create_table(s, table),
        Op::DropTable { name } => drop_table(s, name),
        Op::RenameTable { from, to } => rename_table(s, from, to),
        Op::AddColumn { table, column } => add_column(s, table, column),
        Op::DropColumn { table, column } => drop_column(s, table, column),
        Op::RenameColumn { table, from, to } => rename_column(s, table, from, to),
        Op::AlterColumn {
            table,
            column,
            change,
        } => alter_column(s, table, column, change),
        Op::CreateIndex {
            table,
            index,
            concurrently,
        } => {
            check_index(table_ref(s, table)?, index)?;
            check_name_free(s, &index.name)?;
            table_mut(s, table)?.indexes.push(index.clone());
            ops(Op::DropIndex {
                table: table.clone(),
                name: index.name.clone(),
                concurrently: *concurrently,
            })
        }
        Op::DropIndex {
            table,
            name,
            concurrently,
        } => {
            let mut t = table_mut(s, table)?;
            let at = position(&t.indexes, |i| i.name == *name, table, "index", name)?;
            let index = t.indexes.remove(at);
            ops(Op::CreateIndex {
                table: table.clone(),
                index,
                concurrently: *concurrently,
            })
        }
        Op::AddPrimaryKey { table, primary_key } => add_primary_key(s, table, primary_key),
        Op::DropPrimaryKey { table } => drop_primary_key(s, table),
        Op::AddUnique { table, unique } => {
            check_columns(table_ref(s, table)?, "unique constraint", &unique.columns)?;
            check_identifier(&unique.name)?;
            check_name_free(s, &unique.name)?;
            table_mut(s, table)?.uniques.push(unique.clone());
            ops(Op::DropUnique {
                table: table.clone(),
                name: unique.name.clone(),
            })
        }
        Op::DropUnique { table, name } => {
            let t = table_ref(s, table)?;
            let at = position(
                &t.uniques,
                |u| u.name == *name,
                table,
                "unique constraint",
                name,
            )?;
            let unique = t.uniques[at].clone();
            refuse_if_referenced(
                s,
                table,
                &unique.columns,
                &format!("unique constraint `{name}`"),
            )?;
            table_mut(s, table)?.uniques.remove(at);
            ops(Op::AddUnique {
                table: table.clone(),
                unique,
            })
        }
        Op::AddCheck { table, check } => {
            table_ref(s, table)?;
            check_check(check)?;
            check_name_free(s, &check.name)?;
            table_mut(s, table)?.checks.push(check.clone());
            ops(Op::DropCheck {
                table: table.clone(),
                name: check.name.clone(),
            })
        }
        Op::DropCheck { table, name } => {
            let mut t = table_mut(s, table)?;
            let at = position(
                &t.checks,
                |c| c.name == *name,
                table,
                "check constraint",
                name,
            )?;
            let check = t.checks.remove(at);
            ops(Op::AddCheck {
                table: table.clone(),
                check,
            })
        }
        Op::AddForeignKey { table, foreign_key } => {
            let t = table_ref(s, table)?;
            check_foreign_key(s, t, foreign_key)?;
            check_name_free(s, &foreign_key.name)?;
            table_mut(s, table)?.foreign_keys.push(foreign_key.clone());
            ops(Op::DropForeignKey {
                table: table.clone(),
                name: foreign_key.name.clone(),
            })
        }
        Op::DropForeignKey { table, name } => {
            let mut t = table_mut(s, table)?;
            let at = position(
                &t.foreign_keys,
                |f| f.name == *name,
                table,
                "foreign key",
                name,
            )?;
            let foreign_key = t.foreign_keys.remove(at);
            ops(Op::AddForeignKey {
                table: table.clone(),
                foreign_key,
            })
        }
        Op::CreateEnum { name, values } => {
            check_identifier(name)?;
            if s.enums.contains_key(name) {
                return Err(K::DuplicateEnum(name.clone()));
            }
            if values.is_empty() {
                return Err(K::Invalid(format!(
                    "enum type `{name}` needs at least one value"
                )));
            }
            for (i, value) in values.iter().enumerate() {
                check_enum_value(name, value)?;
                if values[..i].contains(value) {
                    return Err(K::DuplicateEnumValue {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
            }
            s.enums.insert(name.clone(), values.clone());
            ops(Op::DropEnum { name: name.clone() })
        }
        Op::AddEnumValue { name, value } => {
            check_enum_value(name, value)?;
            let values = s
                .enums
                .get_mut(name)
                .ok_or_else(|| K::UnknownEnum(name.clone()))?;
            if values.contains(value) {
                return Err(K::DuplicateEnumValue {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
            values.push(value.clone());
            ops(Op::RemoveEnumValue {
                name: name.clone(),
                value: value.clone(),
            })
        }
        Op::RemoveEnumValue { name, value } => remove_enum_value(s, name, value),
        Op::DropEnum { name } => {
            let values = s
                .enums
                .get(name)
                .ok_or_else(|| K::UnknownEnum(name.clone()))?;
            if let Some((table, column)) = enum_users(s, name).next() {
                return Err(K::EnumInUse {
                    name: name.clone(),
                    user: format!("column `{table}`.`{column}`"),
                });
            }
            let values = values.clone();
            s.enums.remove(name);
            ops(Op::CreateEnum {
                name: name.clone(),
                values,
            })
        }
        Op::RawSql(raw) => Ok(match &raw.reverse {
            Some(reverse) => Inverse::Ops(vec![Op::RawSql(crate::op::RawSql {
                reverse: Some(Box::new(crate::op::RawSql {
                    reverse: None,
                    ..raw.clone()
                })),
                ..(**reverse).clone()
            })]),
            None => Inverse::Irreversible {
                reason: "raw SQL has no reverse; add `.reverse(..)` or write a `down` migration"
                    .into(),
            },
        }),
        // A query: it changes nothing, and reverting leaves it out.
        Op::Assert(_) | Op::Explain { .. } => ops_none(),
        Op::Maintenance(maintenance) => check_maintenance(s, maintenance),
        Op::CreatePartition { table, partition } => {
            partition::create_partition(s, table, partition)
        }
        Op::DropPartition { table, name } => partition::drop_partition(s, table, name),
        Op::AttachPartition { table, partition } => {
            partition::attach_partition(s, table, partition)
        }
        Op::DetachPartition { table, name, .. } => partition::detach_partition(s, table, name),
        Op::PartitionTable(conversion) => partition::partition_table(s, conversion),
        Op::UnpartitionTable { table, primary_key } => {
            partition::unpartition_table(s, table, primary_key.as_ref())
        }
        Op::DropUnpartitionedCopy { table } => partition::drop_unpartitioned_copy(s, table),
        Op::Savepoint(savepoint) => check_savepoint(s, savepoint),
        Op::Backfill(backfill) => check_backfill(s, backfill),
        Op::CreateSyncTrigger { table, trigger } => create_sync_trigger(s, table, trigger),
        Op::DropSyncTrigger { table, name } => drop_sync_trigger(s, table, name),
        Op::Rust(step) => Ok(match &step.reverse {
            Some(reverse) => Inverse::Ops(vec![Op::Rust(crate::op::RustStep {
                name: format!("{} (reverse)", step.name),
                run: reverse.clone(),
                reverse: Some(step.run.clone()),
            })]),
            None => Inverse::Irreversible {
                reason: format!(
                    "Rust step `{}` has no reverse; add `.reverse(..)` or write a `down` migration",
                    step.name
                ),
            },
        }),
    }
}

fn check_backfill(s: &Schema, b: &Backfill) -> Result<Inverse> {
    let t = table_ref(s, &b.table)?;
    if b.batching.batch_size == 0 {
        return Err(K::Invalid(format!(
            "the backfill of `{}` has a batch size of 0; give `.batch_size(..)` at least 1 \
             (the default is {})",
            b.table,
            Batching::DEFAULT_BATCH_SIZE
        )));
    }
    let key = batch_key(t).map_err(K::Invalid)?;
    if b.batching.parallel == 0 {
        return Err(K::Invalid(format!(
            "the backfill of `{}` runs in 0 parallel slices; give `.parallel(..)` at least 1",
            b.table
        )));
    }
    let integer_key =
        matches!(key.as_slice(), [column] if t.column(column).is_some_and(|c| c.ty.is_integer()));
    if b.batching.parallel > 1 && !integer_key {
        return Err(K::Invalid(format!(
            "the backfill of `{}` runs in parallel slices, which split a range of one integer \
             key, and its key is ({}); drop `.parallel(..)`",
            b.table,
            key.join(", ")
        )));
    }
    // An empty reverse is `reverse_nothing`: reverting leaves the rows as they are.
    let reverse = b
        .reverse
        .as_ref()
        .filter(|r| !r.set.is_empty() || r.only.is_some());
    let changes = std::iter::once(("", &b.change)).chain(reverse.map(|r| ("reverse ", r)));
    for (which, change) in changes {
        if change.set.is_empty() {
            return Err(K::Invalid(format!(
                "the {which}backfill of `{}` sets no column; add `.{which_}set(column, expr)`",
                b.table,
                which_ = which.replace(' ', "_"),
            )));
        }
        for assignment in &change.set {
            column_position(t, &assignment.column)?;
            if key.contains(&assignment.column) {
                return Err(K::Invalid(format!(
                    "the {which}backfill of `{}` sets `{}`, a column of the key it pages by \
                     ({}); change key values with a single `m.sql(..)` UPDATE instead",
                    b.table,
                    assignment.column,
                    key.join(", ")
                )));
            }
        }
    }
    Ok(match &b.reverse {
        Some(reverse) if reverse.set.is_empty() => Inverse::Ops(Vec::new()),
        Some(reverse) => Inverse::Ops(vec![Op::Backfill(Backfill {
            table: b.table.clone(),
            change: reverse.clone(),
            reverse: Some(b.change.clone()),
            batching: b.batching,
        })]),
        None => Inverse::Irreversible {
            reason: format!(
                "the backfill of `{}` has no reverse; add `.reverse_set(column, expr)` or write \
                 a `down` migration",
                b.table
            ),
        },
    })
}

fn create_sync_trigger(s: &mut Schema, table: &str, trigger: &SyncTrigger) -> Result<Inverse> {
    check_identifier(&trigger.name)?;
    check_name_free(s, &trigger.name)?;
    let t = table_ref(s, table)?;
    batch_key(t).map_err(K::Invalid)?;
    for (side, assignments) in [
        ("forward", &trigger.forward),
        ("backward", &trigger.backward),
    ] {
        if assignments.is_empty() {
            return Err(K::Invalid(format!(
                "sync trigger `{}` has no {side} column; give each side at least one",
                trigger.name
            )));
        }
        for a in assignments {
            column_position(t, &a.column)?;
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for column in trigger.new_columns().chain(trigger.old_columns()) {
        if seen.contains(&column) {
            return Err(K::RepeatedColumn {
                what: format!("sync trigger `{}`", trigger.name),
                column: column.into(),
            });
        }
        seen.push(column);
    }
    table_mut(s, table)?.sync_triggers.push(trigger.clone());
    ops(Op::DropSyncTrigger {
        table: table.into(),
        name: trigger.name.clone(),
    })
}

/// Dropping a sync trigger; its inverse creates it again and fills the old columns from the
/// new ones where they are NULL (a contract migration that dropped them brings them back
/// empty).
fn drop_sync_trigger(s: &mut Schema, table: &str, name: &str) -> Result<Inverse> {
    let mut t = table_mut(s, table)?;
    let at = position(
        &t.sync_triggers,
        |st| st.name == name,
        table,
        "sync trigger",
        name,
    )?;
    let trigger = t.sync_triggers.remove(at);
    let empty = |dialect: Dialect| {
        trigger
            .old_columns()
            .map(|c| format!("{} IS NULL", crate::render::quote_identifier(dialect, c)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let refill = Backfill {
        table: table.into(),
        change: RowChange {
            set: trigger.backward.clone(),
            only: Some(DialectExpr {
                sql: None,
                per_dialect: Dialect::ALL.into_iter().map(|d| (d, empty(d))).collect(),
            }),
        },
        reverse: Some(RowChange::default()),
        batching: Batching::default(),
    };
    Ok(Inverse::Ops(vec![
        Op::CreateSyncTrigger {
            table: table.into(),
            trigger,
        },
        Op::Backfill(refill),
    ]))
}

/// The sync trigger of `t` that reads or writes `column`, if any.
fn sync_trigger_using<'t>(t: &'t Table, column: &str) -> Option<&'t SyncTrigger> {
    t.sync_triggers.iter().find(|st| {
        st.forward.iter().chain(&st.backward).any(|a| {
            a.column == column
                || a.expr
                    .sql
                    .iter()
                    .chain(a.expr.per_dialect.values())
                    .any(|e| mentions_identifier(e, column))
        })
    })
}

/// The columns a backfill of `t` pages by: its primary key, or else its first unique key whose
/// columns are all NOT NULL. Their values must read back as text that compares as they do.
pub(crate) fn batch_key(t: &Table) -> std::result::Result<Vec<String>, String> {
    let not_null = |columns: &[String]| {
        columns
            .iter()
            .all(|c| t.column(c).is_some_and(|c| !c.nullable))
    };
    let key = t
        .primary_key
        .as_ref()
        .map(|pk| &pk.columns)
        .or_else(|| {
            t.uniques
                .iter()
                .map(|u| &u.columns)
                .chain(
                    t.indexes
                        .iter()
                        .filter(|i| i.unique && i.predicate.is_none())
                        .map(|i| &i.columns),
                )
                .find(|columns| not_null(columns))
        })
        .ok_or_else(|| {
            format!(
                "table `{}` has neither a primary key nor a unique key on NOT NULL columns to \
                 page a backfill by; add one first (`m.add_primary_key(..)`), or change its rows \
                 with a single `m.sql(..)` UPDATE",
                t.name
            )
        })?;
    for name in key {
        let column = t.column(name).expect("key columns exist");
        let pages = column.ty.is_integer()
            || matches!(
                column.ty,
                ColumnType::String(_)
                    | ColumnType::Text
                    | ColumnType::Uuid
                    | ColumnType::Date
                    | ColumnType::Timestamp
                    | ColumnType::TimestampTz
                    | ColumnType::Decimal(..)
            );
        if !pages {
            return Err(format!(
                "the key of table `{}` has column `{name}` of type {}, which a backfill cannot \
                 page by (its values do not compare as their text); page by an integer, text, \
                 uuid, decimal, date or timestamp key",
                t.name, column.ty
            ));
        }
    }
    Ok(key.clone())
}

pub(super) fn ops(op: Op) -> Result<Inverse> {
    Ok(Inverse::Ops(vec![op]))
}

fn create_table(s: &mut Schema, table: &Table) -> Result<Inverse> {
    check_identifier(&table.name)?;
    if s.tables.contains_key(table.name.as_str()) {
        return Err(K::DuplicateTable(table.name.clone()));
    }
    refuse_partition_name(s, &table.name)?;
    if table.columns.is_empty() {
        return Err(K::Invalid(format!(
            "table `{}` needs at least one column",
            table.name
        )));
    }
    let mut created = Table::new(table.name.clone());
    for column in &table.columns {
        check_column(s, &created, column)?;
        created.columns.push(column.clone());
    }
    // Constraints are checked against the table as it will be, so that a self-referencing
    // foreign key sees its own columns.
    s.put_table(Arc::new(created));
    let name = &table.name;
    if let Some(pk) = &table.primary_key {
        add_primary_key(s, name, pk)?;
    }
    for unique in &table.uniques {
        apply_to(
            s,
            &Op::AddUnique {
                table: name.clone(),
                unique: unique.clone(),
            },
        )?;
    }
    for check in &table.checks {
        apply_to(
            s,
            &Op::AddCheck {
                table: name.clone(),
                check: check.clone(),
            },
        )?;
    }
    for foreign_key in &table.foreign_keys {
        apply_to(
            s,
            &Op::AddForeignKey {
                table: name.clone(),
                foreign_key: foreign_key.clone(),
            },
        )?;
    }
    for index in &table.indexes {
        apply_to(
            s,
            &Op::CreateIndex {
                table: name.clone(),
                index: index.clone(),
                concurrently: false,
            },
        )?;
    }
    if let Some(partitioning) = &table.partitioning {
        partition::check_partitioning(table_ref(s, name)?, partitioning)?;
        table_mut(s, name)?.partitioning = Some(crate::op::Partitioning {
            partitions: Vec::new(),
            ..partitioning.clone()
        });
        partition::create_partitions(s, name, &partitioning.partitions)?;
    }
    check_auto_increment(table_ref(s, name)?)?;
    ops(Op::DropTable { name: name.clone() })
}

fn drop_table(s: &mut Schema, name: &str) -> Result<Inverse> {
    table_ref(s, name)?;
    if let Some(other) = s.tables_referencing(name).next() {
        let fk = other
            .foreign_keys
            .iter()
            .find(|fk| fk.ref_table == name)
            .expect("tables_referencing found one");
        return Err(K::TableInUse {
            table: name.into(),
            user: format!("foreign key `{}` of table `{}`", fk.name, other.name),
        });
    }
    let table = s.take_table(name).expect("checked above");
    ops(Op::CreateTable(Arc::unwrap_or_clone(table)))
}

fn rename_table(s: &mut Schema, from: &str, to: &str) -> Result<Inverse> {
    table_ref(s, from)?;
    check_identifier(to)?;
    if s.tables.contains_key(to) {
        return Err(K::DuplicateTable(to.into()));
    }
    refuse_partition_name(s, to)?;
    let mut table = Arc::unwrap_or_clone(s.take_table(from).expect("checked above"));
    table.name = to.into();
    s.put_table(Arc::new(table));
    for referencing in names_referencing(s, from) {
        for fk in &mut table_mut(s, &referencing)?.foreign_keys {
            if fk.ref_table == from {
                fk.ref_table = to.into();
            }
        }
    }
    ops(Op::RenameTable {
        from: to.into(),
        to: from.into(),
    })
}

/// A partition is a table on PostgreSQL: its name is not free for another.
fn refuse_partition_name(s: &Schema, name: &str) -> Result<()> {
    match partition::partition_owner(s, name) {
        Some(owner) => Err(K::DuplicateName {
            name: name.into(),
            existing: format!("a partition of table `{}`", owner.name),
        }),
        None => Ok(()),
    }
}

/// What a partition column cannot have done to it: the database routes rows by it.
fn refuse_partition_column(t: &Table, column: &str, what: &str) -> Result<()> {
    match &t.partitioning {
        Some(p) if p.columns.iter().any(|c| c == column) => Err(K::ColumnInUse {
            table: t.name.clone(),
            column: column.into(),
            user: "the table's partitioning".into(),
            fix: format!(
                "a partition column cannot be {what}; create a table partitioned otherwise and copy the rows"
            ),
        }),
        _ => Ok(()),
    }
}

fn add_column(s: &mut Schema, table: &str, column: &Column) -> Result<Inverse> {
    let t = table_ref(s, table)?;
    check_column(s, t, column)?;
    if column.auto_increment {
        return Err(K::Invalid(format!(
            "auto_increment column `{}` can only be created together with its table",
            column.name
        )));
    }
    table_mut(s, table)?.columns.push(column.clone());
    ops(Op::DropColumn {
        table: table.into(),
        column: column.name.clone(),
    })
}

/// Dropping a column also drops the single-column indexes, unique constraints and foreign keys on
/// it, and the checks that mention it (as PostgreSQL does); the inverse restores all of them.
/// Objects that span other columns too, and foreign keys from other tables, are refused.
fn drop_column(s: &mut Schema, table: &str, column: &str) -> Result<Inverse> {
    let t = table_ref(s, table)?;
    let at = column_position(t, column)?;
    refuse_partition_column(t, column, "dropped")?;
    let in_use = |user: String, fix: &str| K::ColumnInUse {
        table: table.into(),
        column: column.into(),
        user,
        fix: fix.into(),
    };
    if t.columns.len() == 1 {
        return Err(K::Invalid(format!(
            "`{column}` is the only column of table `{table}`; drop the table instead"
        )));
    }
    if let Some(pk) = &t.primary_key
        && pk.columns.iter().any(|c| c == column)
    {
        return Err(in_use(
            format!("primary key `{}`", pk.name),
            "drop the primary key first",
        ));
    }
    let spans = |columns: &[String]| columns.len() > 1 && columns.iter().any(|c| c == column);
    if let Some(index) = t.indexes.iter().find(|i| spans(&i.columns)) {
        return Err(in_use(
            format!("multi-column index `{}`", index.name),
            "drop that index first",
        ));
    }
    if let Some(index) = t.indexes.iter().find(|i| {
        i.predicate
            .as_deref()
            .is_some_and(|p| mentions_identifier(p, column))
    }) {
        return Err(in_use(
            format!("the predicate of index `{}`", index.name),
            "drop that index first",
        ));
    }
    if let Some(unique) = t.uniques.iter().find(|u| spans(&u.columns)) {
        return Err(in_use(
            format!("multi-column unique constraint `{}`", unique.name),
            "drop that constraint first",
        ));
    }
    if let Some(fk) = t.foreign_keys.iter().find(|f| spans(&f.columns)) {
        return Err(in_use(
            format!("multi-column foreign key `{}`", fk.name),
            "drop that foreign key first",
        ));
    }
    if let Some((other, fk)) = incoming_foreign_keys(s, table, column).next() {
        return Err(in_use(
            format!("foreign key `{}` of table `{other}`", fk.name),
            "drop that foreign key first",
        ));
    }
    if let Some(trigger) = sync_trigger_using(t, column) {
        return Err(in_use(
            format!("sync trigger `{}`", trigger.name),
            "drop that sync trigger first (`m.drop_sync_trigger(..)`)",
        ));
    }

    let mut t = table_mut(s, table)?;
    let only = |columns: &[String]| columns.len() == 1 && columns[0] == column;
    let removed = t.columns.remove(at);
    let mut inverse = vec![Op::AddColumn {
        table: table.into(),
        column: removed,
    }];
    // Restore the dependent objects in their original order after the column is back.
    let (dropped, kept): (Vec<_>, Vec<_>) = t.indexes.drain(..).partition(|i| only(&i.columns));
    t.indexes = kept;
    inverse.extend(dropped.into_iter().map(|index| Op::CreateIndex {
        table: table.into(),
        index,
        concurrently: false,
    }));
    let (dropped, kept): (Vec<_>, Vec<_>) = t.uniques.drain(..).partition(|u| only(&u.columns));
    t.uniques = kept;
    inverse.extend(dropped.into_iter().map(|unique| Op::AddUnique {
        table: table.into(),
        unique,
    }));
    let (dropped, kept): (Vec<_>, Vec<_>) = t
        .checks
        .drain(..)
        .partition(|c| mentions_identifier(&c.expr, column));
    t.checks = kept;
    inverse.extend(dropped.into_iter().map(|check| Op::AddCheck {
        table: table.into(),
        check,
    }));
    let (dropped, kept): (Vec<_>, Vec<_>) =
        t.foreign_keys.drain(..).partition(|f| only(&f.columns));
    t.foreign_keys = kept;
    inverse.extend(dropped.into_iter().map(|foreign_key| Op::AddForeignKey {
        table: table.into(),
        foreign_key,
    }));
    Ok(Inverse::Ops(inverse))
}

fn rename_column(s: &mut Schema, table: &str, from: &str, to: &str) -> Result<Inverse> {
    let t = table_ref(s, table)?;
    column_position(t, from)?;
    if let Some(trigger) = sync_trigger_using(t, from) {
        return Err(K::ColumnInUse {
            table: table.into(),
            column: from.into(),
            user: format!("sync trigger `{}`", trigger.name),
            fix: "drop that sync trigger first (`m.drop_sync_trigger(..)`)".into(),
        });
    }
    check_identifier(to)?;
    if t.column(to).is_some() {
        return Err(K::DuplicateColumn {
            table: table.into(),
            column: to.into(),
        });
    }
    let rename = |columns: &mut Vec<String>| {
        for c in columns.iter_mut().filter(|c| *c == from) {
            *c = to.into();
        }
    };
    let mut t = table_mut(s, table)?;
    for c in t.columns.iter_mut().filter(|c| c.name == from) {
        c.name = to.into();
    }
    if let Some(pk) = &mut t.primary_key {
        rename(&mut pk.columns);
    }
    for index in &mut t.indexes {
        rename(&mut index.columns);
        if let Some(p) = &mut index.predicate {
            *p = rename_identifier(p, from, to);
        }
    }
    for unique in &mut t.uniques {
        rename(&mut unique.columns);
    }
    for check in &mut t.checks {
        check.expr = rename_identifier(&check.expr, from, to);
    }
    for fk in &mut t.foreign_keys {
        rename(&mut fk.columns);
    }
    if let Some(partitioning) = &mut t.partitioning {
        rename(&mut partitioning.columns);
    }
    drop(t);
    for referencing in names_referencing(s, table) {
        for fk in table_mut(s, &referencing)?
            .foreign_keys
            .iter_mut()
            .filter(|f| f.ref_table == table)
        {
            rename(&mut fk.ref_columns);
        }
    }
    ops(Op::RenameColumn {
        table: table.into(),
        from: to.into(),
        to: from.into(),
    })
}

fn alter_column(
    s: &mut Schema,
    table: &str,
    column: &str,
    change: &ColumnChange,
) -> Result<Inverse> {
    let t = table_ref(s, table)?;
    let at = column_position(t, column)?;
    let before = t.columns[at].clone();
    let in_primary_key = t
        .primary_key
        .as_ref()
        .is_some_and(|pk| pk.columns.iter().any(|c| c == column));
    let mut after = before.clone();
    let undo = match change {
        ColumnChange::SetType { ty, .. } => {
            refuse_partition_column(t, column, "given another type")?;
            if before.auto_increment {
                return Err(K::Invalid(format!(
                    "`{column}` is an auto_increment column; its type cannot be changed"
                )));
            }
            if let Some((other, fk)) = incoming_foreign_keys(s, table, column).next() {
                return Err(K::ColumnInUse {
                    table: table.into(),
                    column: column.into(),
                    user: format!("foreign key `{}` of table `{other}`", fk.name),
                    fix: "drop that foreign key, change both columns, and add it back".into(),
                });
            }
            // The column's own foreign keys must still join columns of one type.
            for fk in t.foreign_keys.iter() {
                let Some(at) = fk.columns.iter().position(|c| c == column) else {
                    continue;
                };
                let target = if fk.ref_table == table {
                    t
                } else {
                    table_ref(s, &fk.ref_table)?
                };
                let ref_column = &fk.ref_columns[at];
                let Some(referenced) = target.column(ref_column) else {
                    continue;
                };
                let b = &referenced.ty;
                if !joinable(ty, b) {
                    return Err(K::ColumnInUse {
                        table: table.into(),
                        column: column.into(),
                        user: format!(
                            "its foreign key `{}`, which references `{}`.`{ref_column}` ({b})",
                            fk.name, target.name
                        ),
                        fix: "drop that foreign key, change the column, and add the key back \
                              with a matching column"
                            .into(),
                    });
                }
            }
            after.ty = ty.clone();
            ColumnChange::SetType {
                ty: before.ty.clone(),
                using: None,
            }
        }
        ColumnChange::SetNullable(nullable) => {
            if *nullable && in_primary_key {
                return Err(K::Invalid(format!(
                    "`{column}` is part of the primary key, which cannot be nullable"
                )));
            }
            after.nullable = *nullable;
            ColumnChange::SetNullable(before.nullable)
        }
        ColumnChange::SetDefault(default) => {
            after.default = Some(default.clone());
            match &before.default {
                Some(old) => ColumnChange::SetDefault(old.clone()),
                None => ColumnChange::DropDefault,
            }
        }
        ColumnChange::DropDefault => match &before.default {
            Some(old) => {
                after.default = None;
                ColumnChange::SetDefault(old.clone())
            }
            None => {
                return Err(K::Invalid(format!(
                    "column `{table}`.`{column}` has no default to drop"
                )));
            }
        },
    };
    let mut without = t.clone();
    without.columns.remove(at);
    check_column(s, &without, &after)?;
    table_mut(s, table)?.columns[at] = after;
    ops(Op::AlterColumn {
        table: table.into(),
        column: column.into(),
        change: undo,
    })
}

fn add_primary_key(s: &mut Schema, table: &str, pk: &PrimaryKey) -> Result<Inverse> {
    let t = table_ref(s, table)?;
    if let Some(existing) = &t.primary_key {
        return Err(K::Invalid(format!(
            "table `{table}` already has primary key `{}`; drop it first",
            existing.name
        )));
    }
    check_columns(t, "primary key", &pk.columns)?;
    check_identifier(&pk.name)?;
    check_name_free(s, &pk.name)?;
    // Primary key columns are NOT NULL on every dialect; the inverse restores nullability.
    let mut inverse = vec![Op::DropPrimaryKey {
        table: table.into(),
    }];
    let mut t = table_mut(s, table)?;
    for column in t
        .columns
        .iter_mut()
        .filter(|c| pk.columns.contains(&c.name) && c.nullable)
    {
        column.nullable = false;
        inverse.push(Op::AlterColumn {
            table: table.into(),
            column: column.name.clone(),
            change: ColumnChange::SetNullable(true),
        });
    }
    t.primary_key = Some(pk.clone());
    Ok(Inverse::Ops(inverse))
}

fn drop_primary_key(s: &mut Schema, table: &str) -> Result<Inverse> {
    let t = table_ref(s, table)?;
    let pk = t.primary_key.clone().ok_or_else(|| K::UnknownObject {
        table: table.into(),
        what: "primary key",
        name: "(any)".into(),
    })?;
    if let Some(column) = t.columns.iter().find(|c| c.auto_increment) {
        return Err(K::ColumnInUse {
            table: table.into(),
            column: column.name.clone(),
            user: format!("primary key `{}`", pk.name),
            fix: "an auto_increment column must stay the primary key".into(),
        });
    }
    refuse_if_referenced(s, table, &pk.columns, &format!("primary key `{}`", pk.name))?;
    table_mut(s, table)?.primary_key = None;
    ops(Op::AddPrimaryKey {
        table: table.into(),
        primary_key: pk,
    })
}

fn remove_enum_value(s: &mut Schema, name: &str, value: &str) -> Result<Inverse> {
    let values = s
        .enums
        .get(name)
        .ok_or_else(|| K::UnknownEnum(name.into()))?;
    let at = values
        .iter()
        .position(|v| v == value)
        .ok_or_else(|| K::UnknownEnumValue {
            name: name.into(),
            value: value.into(),
        })?;
    if values.len() == 1 {
        return Err(K::Invalid(format!(
            "`{value}` is the last value of enum type `{name}`; drop the type instead"
        )));
    }
    if at + 1 != values.len() {
        return Err(K::Invalid(format!(
            "only the last value of enum type `{name}` can be removed (its values are ordered)"
        )));
    }
    for t in s.tables.values() {
        for c in &t.columns {
            if c.ty == ColumnType::Enum(name.into())
                && c.default == Some(DefaultValue::Literal(value.into()))
            {
                return Err(K::EnumInUse {
                    name: name.into(),
                    user: format!("the default of column `{}`.`{}`", t.name, c.name),
                });
            }
        }
    }
    s.enums.get_mut(name).expect("checked above").remove(at);
    ops(Op::AddEnumValue {
        name: name.into(),
        value: value.into(),
    })
}

pub(super) fn table_ref<'a>(s: &'a Schema, name: &str) -> Result<&'a Table> {
    s.table(name).ok_or_else(|| K::UnknownTable(name.into()))
}

/// The tables with a foreign key to `table` (itself included), to change them one by one.
fn names_referencing(s: &Schema, table: &str) -> Vec<String> {
    s.tables()
        .filter(|t| t.foreign_keys.iter().any(|fk| fk.ref_table == table))
        .map(|t| t.name.clone())
        .collect()
}

pub(super) fn table_mut<'a>(s: &'a mut Schema, name: &str) -> Result<TableMut<'a>> {
    s.table_mut(name)
        .ok_or_else(|| K::UnknownTable(name.into()))
}

fn column_position(t: &Table, column: &str) -> Result<usize> {
    t.columns
        .iter()
        .position(|c| c.name == column)
        .ok_or_else(|| K::UnknownColumn {
            table: t.name.clone(),
            column: column.into(),
        })
}

fn position<T>(
    items: &[T],
    matches: impl Fn(&T) -> bool,
    table: &str,
    what: &'static str,
    name: &str,
) -> Result<usize> {
    items
        .iter()
        .position(matches)
        .ok_or_else(|| K::UnknownObject {
            table: table.into(),
            what,
            name: name.into(),
        })
}

pub(crate) fn check_identifier(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "it is empty".to_owned()
    } else if name.len() > MAX_IDENTIFIER_BYTES {
        format!(
            "it is {} bytes long; PostgreSQL allows {MAX_IDENTIFIER_BYTES} and MySQL 64",
            name.len()
        )
    } else if name.contains('\0') {
        "it contains a NUL character".to_owned()
    } else if name.ends_with(' ') {
        "it ends with a space, which MySQL rejects".to_owned()
    } else if name.to_ascii_lowercase().starts_with("sqlite_") {
        "names starting with `sqlite_` are reserved by SQLite".to_owned()
    } else if name.starts_with(RESERVED_PREFIX) {
        format!("names starting with `{RESERVED_PREFIX}` are reserved by godwit")
    } else {
        return Ok(());
    };
    Err(K::InvalidIdentifier {
        name: name.into(),
        reason,
    })
}

fn check_column(s: &Schema, t: &Table, column: &Column) -> Result<()> {
    check_identifier(&column.name)?;
    if t.column(&column.name).is_some() {
        return Err(K::DuplicateColumn {
            table: t.name.clone(),
            column: column.name.clone(),
        });
    }
    let name = &column.name;
    match &column.ty {
        ColumnType::String(0) => {
            return Err(K::Invalid(format!(
                "column `{name}`: string length must be at least 1"
            )));
        }
        ColumnType::Decimal(p, sc) if *p == 0 || *p > 65 || sc > p => {
            return Err(K::Invalid(format!(
                "column `{name}`: decimal({p}, {sc}) needs 1 <= precision <= 65 and scale <= precision"
            )));
        }
        ColumnType::Enum(e) if !s.enums.contains_key(e) => return Err(K::UnknownEnum(e.clone())),
        _ => {}
    }
    if column.auto_increment && !column.ty.is_integer() {
        return Err(K::Invalid(format!(
            "column `{name}`: auto_increment needs an integer type, not {}",
            column.ty
        )));
    }
    match &column.default {
        Some(DefaultValue::Now) if !column.ty.is_timestamp() => {
            return Err(K::Invalid(format!(
                "column `{name}`: default_now() needs a timestamp column, not {}",
                column.ty
            )));
        }
        Some(DefaultValue::Literal(value)) => {
            if let (ColumnType::Enum(e), crate::op::Literal::String(v)) = (&column.ty, value)
                && !s.enums[e].contains(v)
            {
                return Err(K::UnknownEnumValue {
                    name: e.clone(),
                    value: v.clone(),
                });
            }
        }
        Some(DefaultValue::Expr(expr)) if expr.trim().is_empty() => {
            return Err(K::Invalid(format!(
                "column `{name}`: the default expression is empty"
            )));
        }
        _ => {}
    }
    if column.auto_increment && column.default.is_some() {
        return Err(K::Invalid(format!(
            "column `{name}`: an auto_increment column cannot have a default"
        )));
    }
    Ok(())
}

/// An auto_increment column must be the table's whole primary key (MySQL needs it to be a key;
/// SQLite only generates values for an `INTEGER PRIMARY KEY`).
pub(super) fn check_auto_increment(t: &Table) -> Result<()> {
    let auto: Vec<_> = t.columns.iter().filter(|c| c.auto_increment).collect();
    match auto.as_slice() {
        [] => Ok(()),
        [column]
            if t.primary_key
                .as_ref()
                .is_some_and(|pk| pk.columns == [column.name.clone()]) =>
        {
            Ok(())
        }
        // A partitioned table's key includes its partition columns too.
        [column]
            if t.partitioning.is_some()
                && t.primary_key
                    .as_ref()
                    .is_some_and(|pk| pk.columns.first() == Some(&column.name)) =>
        {
            Ok(())
        }
        [column] if t.partitioning.is_some() => Err(K::Invalid(format!(
            "auto_increment column `{}` must be the first column of the partitioned table's primary key",
            column.name
        ))),
        [column] => Err(K::Invalid(format!(
            "auto_increment column `{}` must be the table's whole primary key",
            column.name
        ))),
        _ => Err(K::Invalid(format!(
            "table `{}` has more than one auto_increment column",
            t.name
        ))),
    }
}

fn check_columns(t: &Table, what: &str, columns: &[String]) -> Result<()> {
    if columns.is_empty() {
        return Err(K::Invalid(format!("{what} needs at least one column")));
    }
    for (i, column) in columns.iter().enumerate() {
        column_position(t, column)?;
        if columns[..i].contains(column) {
            return Err(K::RepeatedColumn {
                what: what.into(),
                column: column.clone(),
            });
        }
    }
    Ok(())
}

fn check_index(t: &Table, index: &Index) -> Result<()> {
    check_identifier(&index.name)?;
    check_columns(t, &format!("index `{}`", index.name), &index.columns)?;
    if index
        .predicate
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        return Err(K::Invalid(format!(
            "index `{}` has an empty predicate",
            index.name
        )));
    }
    Ok(())
}

fn check_check(check: &Check) -> Result<()> {
    check_identifier(&check.name)?;
    if check.expr.trim().is_empty() {
        return Err(K::Invalid(format!(
            "check `{}` has an empty expression",
            check.name
        )));
    }
    Ok(())
}

fn check_foreign_key(s: &Schema, t: &Table, fk: &ForeignKey) -> Result<()> {
    check_identifier(&fk.name)?;
    check_columns(t, &format!("foreign key `{}`", fk.name), &fk.columns)?;
    let target = table_ref(s, &fk.ref_table)?;
    check_columns(
        target,
        &format!("the referenced columns of foreign key `{}`", fk.name),
        &fk.ref_columns,
    )?;
    if fk.columns.len() != fk.ref_columns.len() {
        return Err(K::Invalid(format!(
            "foreign key `{}` has {} columns but references {}",
            fk.name,
            fk.columns.len(),
            fk.ref_columns.len()
        )));
    }
    if !is_unique_key(target, &fk.ref_columns) {
        return Err(K::Invalid(format!(
            "foreign key `{}` references ({}) of table `{}`, which is not its primary key or a \
             unique constraint; add a unique constraint on those columns first",
            fk.name,
            fk.ref_columns.join(", "),
            target.name
        )));
    }
    for (column, ref_column) in fk.columns.iter().zip(&fk.ref_columns) {
        let a = &t.column(column).expect("checked").ty;
        let b = &target.column(ref_column).expect("checked").ty;
        if !joinable(a, b) {
            return Err(K::Invalid(format!(
                "foreign key `{}`: column `{column}` is {a} but `{}`.`{ref_column}` is {b}",
                fk.name, target.name
            )));
        }
    }
    Ok(())
}

/// Whether a foreign key may join a column of type `a` to one of type `b`: the same type, or
/// integers of any width.
fn joinable(a: &ColumnType, b: &ColumnType) -> bool {
    a == b || (a.is_integer() && b.is_integer())
}

/// Whether `columns` are, as a set, the primary key or a unique constraint/index of `t`.
pub(crate) fn is_unique_key(t: &Table, columns: &[String]) -> bool {
    let same = |other: &[String]| {
        other.len() == columns.len() && other.iter().all(|c| columns.contains(c))
    };
    t.primary_key.as_ref().is_some_and(|pk| same(&pk.columns))
        || t.uniques.iter().any(|u| same(&u.columns))
        || t.indexes
            .iter()
            .any(|i| i.unique && i.predicate.is_none() && same(&i.columns))
}

fn check_enum_value(name: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_IDENTIFIER_BYTES {
        return Err(K::Invalid(format!(
            "enum type `{name}`: value {value:?} must be 1 to {MAX_IDENTIFIER_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Index and constraint names must be unique across the schema and distinct from table names:
/// PostgreSQL and SQLite keep indexes beside tables, MySQL keeps foreign keys per database.
pub(super) fn check_name_free(s: &Schema, name: &str) -> Result<()> {
    let existing = if s.tables.contains_key(name) {
        Some(format!("table `{name}`"))
    } else {
        s.object_owner(name).and_then(|t| {
            let on = |what: &str| Some(format!("{what} on table `{}`", t.name));
            if t.primary_key.as_ref().is_some_and(|pk| pk.name == name) {
                on("the primary key")
            } else if t.indexes.iter().any(|i| i.name == name) {
                on("an index")
            } else if t.uniques.iter().any(|u| u.name == name) {
                on("a unique constraint")
            } else if t.checks.iter().any(|c| c.name == name) {
                on("a check constraint")
            } else if t.foreign_keys.iter().any(|f| f.name == name) {
                on("a foreign key")
            } else if t
                .partitioning
                .as_ref()
                .is_some_and(|p| p.partition(name).is_some())
            {
                on("a partition")
            } else {
                None
            }
        })
    };
    match existing {
        Some(existing) => Err(K::DuplicateName {
            name: name.into(),
            existing,
        }),
        None => Ok(()),
    }
}

fn incoming_foreign_keys<'a>(
    s: &'a Schema,
    table: &'a str,
    column: &'a str,
) -> impl Iterator<Item = (&'a str, &'a ForeignKey)> {
    s.tables.values().flat_map(move |t| {
        t.foreign_keys
            .iter()
            .filter(move |fk| {
                fk.ref_table == table
                    && fk.ref_columns.iter().any(|c| c == column)
                    // A self-reference from the column itself goes away with it.
                    && !(t.name == table && fk.columns.len() == 1 && fk.columns[0] == column)
            })
            .map(move |fk| (t.name.as_str(), fk))
    })
}

/// Refuses to remove the key `columns` of `table` while a foreign key still references it and no
/// other unique key would back that foreign key.
fn refuse_if_referenced(s: &Schema, table: &str, columns: &[String], what: &str) -> Result<()> {
    for t in s.tables.values() {
        for fk in t.foreign_keys.iter().filter(|fk| fk.ref_table == table) {
            let same = fk.ref_columns.len() == columns.len()
                && fk.ref_columns.iter().all(|c| columns.contains(c));
            if same {
                return Err(K::KeyInUse {
                    table: table.into(),
                    key: what.into(),
                    user: format!("foreign key `{}` of table `{}`", fk.name, t.name),
                });
            }
        }
    }
    Ok(())
}

fn enum_users<'a>(s: &'a Schema, name: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
    s.tables.values().flat_map(move |t| {
        t.columns
            .iter()
            .filter(move |c| matches!(&c.ty, ColumnType::Enum(e) if e == name))
            .map(move |c| (t.name.as_str(), c.name.as_str()))
    })
}

fn ops_none() -> Result<Inverse> {
    Ok(Inverse::Ops(Vec::new()))
}

/// A savepoint holds SQL data steps and verifications only: its rollback undoes their rows,
/// not a change the model would have to forget. Its inverse runs the steps' reverses, last
/// first.
fn check_savepoint(s: &mut Schema, savepoint: &crate::op::Savepoint) -> Result<Inverse> {
    let mut reverses = Vec::new();
    let mut irreversible = None;
    for op in &savepoint.ops {
        match op {
            Op::RawSql(_) => match apply_to(s, op)? {
                Inverse::Ops(mut undo) => reverses.append(&mut undo),
                Inverse::Irreversible { .. } => irreversible = Some(op.describe()),
            },
            Op::Assert(assertion) if assertion.kind == crate::op::AssertionKind::Verification => {}
            other => {
                return Err(K::Invalid(format!(
                    "a savepoint holds SQL data steps (`m.sql`) and verifications (`m.verify`), \
                     which its rollback undoes; `{}` cannot be in one: record it before or after \
                     the savepoint",
                    other.describe()
                )));
            }
        }
    }
    if savepoint.on_failure == crate::op::OnFailure::Continue && !reverses.is_empty() {
        return Err(K::Invalid(
            "a savepoint that goes on when its verification fails (`or_continue`) may leave \
             its steps undone, and a reverse would then undo what never ran: drop the steps' \
             `.reverse(..)`, or fail the migration instead (no `or_continue`)"
                .into(),
        ));
    }
    Ok(match irreversible {
        Some(step) => Inverse::Irreversible {
            reason: format!(
                "{step} in the savepoint has no reverse; add `.reverse(..)` to it or write a \
                 `down` migration"
            ),
        },
        None => {
            reverses.reverse();
            Inverse::Ops(reverses)
        }
    })
}

/// Upkeep changes nothing the model sees, but its subject must exist.
fn check_maintenance(s: &Schema, maintenance: &crate::op::Maintenance) -> Result<Inverse> {
    use crate::op::Maintenance;
    match maintenance {
        Maintenance::Analyze { table } | Maintenance::Vacuum { table } => {
            table_ref(s, table)?;
        }
        Maintenance::Reindex { name, .. } => {
            let is_index = |t: &Table| {
                t.index(name).is_some()
                    || t.uniques.iter().any(|u| u.name == *name)
                    || t.primary_key.as_ref().is_some_and(|pk| pk.name == *name)
            };
            if s.table(name).is_none() && !s.object_owner(name).is_some_and(is_index) {
                return Err(K::Invalid(format!(
                    "`{name}` is neither a table nor an index: reindex takes one of them"
                )));
            }
        }
    }
    ops_none()
}
