//! Partitioned tables: the partition columns and keys a method needs, and bounds that do not
//! overlap. A row's partition is the database's business; which rows a bound holds is checked
//! here only against the other bounds.

use std::cmp::Ordering;
use std::sync::Arc;

use super::apply::{check_identifier, ops, table_ref};
use super::{Inverse, Schema, SchemaErrorKind as K};
use crate::op::{
    Batching, BoundValue, Literal, Op, Partition, PartitionBound, PartitionMethod, Partitioning,
    PrimaryKey, Table, TableConversion,
};

type Result<T> = std::result::Result<T, K>;

/// The partitioning of a table about to be created (or of one whose keys change): partition
/// columns that exist, and every key that includes them (PostgreSQL and MySQL alike enforce
/// uniqueness per partition only).
pub(super) fn check_partitioning(t: &Table, partitioning: &Partitioning) -> Result<()> {
    let what = format!("the partitioning of table `{}`", t.name);
    if partitioning.columns.is_empty() {
        return Err(K::Invalid(format!("{what} needs at least one column")));
    }
    for (i, column) in partitioning.columns.iter().enumerate() {
        if t.column(column).is_none() {
            return Err(K::UnknownColumn {
                table: t.name.clone(),
                column: column.clone(),
            });
        }
        if partitioning.columns[..i].contains(column) {
            return Err(K::RepeatedColumn {
                what,
                column: column.clone(),
            });
        }
    }
    if partitioning.method == PartitionMethod::List && partitioning.columns.len() != 1 {
        return Err(K::Invalid(format!(
            "{what}: LIST partitions by one column; partition by RANGE for several"
        )));
    }
    check_keys(t, &partitioning.columns)
}

/// Every primary key, unique constraint and unique index of `t` includes `columns`.
pub(super) fn check_keys(t: &Table, columns: &[String]) -> Result<()> {
    let keys = t
        .primary_key
        .iter()
        .map(|pk| (format!("primary key `{}`", pk.name), &pk.columns))
        .chain(
            t.uniques
                .iter()
                .map(|u| (format!("unique constraint `{}`", u.name), &u.columns)),
        )
        .chain(
            t.indexes
                .iter()
                .filter(|i| i.unique)
                .map(|i| (format!("unique index `{}`", i.name), &i.columns)),
        );
    for (key, key_columns) in keys {
        if let Some(missing) = columns.iter().find(|c| !key_columns.contains(c)) {
            return Err(K::Invalid(format!(
                "{key} of partitioned table `{}` does not include the partition column `{missing}`: \
                 a key is unique within each partition only, so it must include every partition column; \
                 add `{missing}` to it",
                t.name
            )));
        }
    }
    Ok(())
}

/// Adds `partition` to the partitioned table `table`, checking its bound against the others.
fn add(s: &mut Schema, table: &str, partition: &Partition) -> Result<()> {
    check_identifier(&partition.name)?;
    check_name_is_free(s, &partition.name)?;
    let t = table_ref(s, table)?;
    let Some(partitioning) = &t.partitioning else {
        return Err(K::Invalid(format!(
            "table `{table}` is not partitioned; create it with `partition_by` to give it partitions"
        )));
    };
    check_bound(partitioning, partition)?;
    check_bound_values(t, partitioning, partition)?;
    for other in &partitioning.partitions {
        if let Some(why) = overlap(&partition.bound, &other.bound)? {
            return Err(K::Invalid(format!(
                "partition `{}` of table `{table}` overlaps partition `{}`: {why}",
                partition.name, other.name
            )));
        }
    }
    let mut t = super::apply::table_mut(s, table)?;
    let partitions = &mut t.partitioning.as_mut().expect("checked above").partitions;
    let at = partitions.partition_point(|p| p.name < partition.name);
    partitions.insert(at, partition.clone());
    Ok(())
}

/// Removes partition `name` of `table`, returning it.
fn remove(s: &mut Schema, table: &str, name: &str) -> Result<Partition> {
    let unknown = || K::UnknownObject {
        table: table.into(),
        what: "partition",
        name: name.into(),
    };
    let mut t = super::apply::table_mut(s, table)?;
    let partitions = &mut t.partitioning.as_mut().ok_or_else(unknown)?.partitions;
    let at = partitions
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(unknown)?;
    Ok(partitions.remove(at))
}

/// The partitions of a table being created, one by one, as `create_partition` would add them.
pub(super) fn create_partitions(
    s: &mut Schema,
    table: &str,
    partitions: &[Partition],
) -> Result<()> {
    for partition in partitions {
        add(s, table, partition)?;
    }
    Ok(())
}

pub(super) fn create_partition(
    s: &mut Schema,
    table: &str,
    partition: &Partition,
) -> Result<Inverse> {
    add(s, table, partition)?;
    ops(Op::DropPartition {
        table: table.into(),
        name: partition.name.clone(),
    })
}

pub(super) fn drop_partition(s: &mut Schema, table: &str, name: &str) -> Result<Inverse> {
    let partition = remove(s, table, name)?;
    ops(Op::CreatePartition {
        table: table.into(),
        partition,
    })
}

/// The columns a partition has as a table of its own: the parent's, none generated (the
/// parent's sequence stays with the parent).
fn detached_columns(parent: &Table) -> Vec<crate::op::Column> {
    let mut columns = parent.columns.clone();
    for column in &mut columns {
        column.auto_increment = false;
    }
    columns
}

pub(super) fn attach_partition(
    s: &mut Schema,
    table: &str,
    partition: &Partition,
) -> Result<Inverse> {
    let name = &partition.name;
    let parent = table_ref(s, table)?;
    let attached = table_ref(s, name)?;
    let columns = detached_columns(parent);
    if attached.columns != columns {
        return Err(K::Invalid(format!(
            "table `{name}` does not have the columns of `{table}` (names, types, nullability, defaults, in order): \
             create it with exactly the parent's columns to attach it"
        )));
    }
    let own = [
        (attached.primary_key.is_some(), "a primary key"),
        (!attached.uniques.is_empty(), "unique constraints"),
        (!attached.indexes.is_empty(), "indexes"),
        (!attached.checks.is_empty(), "checks"),
        (!attached.foreign_keys.is_empty(), "foreign keys"),
        (!attached.sync_triggers.is_empty(), "sync triggers"),
        (attached.partitioning.is_some(), "partitions"),
    ];
    if let Some((_, what)) = own.iter().find(|(has, _)| *has) {
        return Err(K::Invalid(format!(
            "table `{name}` has {what} of its own: a partition has the parent's keys and indexes, \
             so attach a table with only the parent's columns (drop its {what} first)"
        )));
    }
    if let Some(other) = s.tables_referencing(name).next() {
        return Err(K::TableInUse {
            table: name.clone(),
            user: format!("table `{}`", other.name),
        });
    }
    refuse_sync_triggers(table_ref(s, table)?)?;
    s.take_table(name);
    add(s, table, partition)?;
    ops(Op::DetachPartition {
        table: table.into(),
        name: name.clone(),
        concurrently: false,
    })
}

pub(super) fn detach_partition(s: &mut Schema, table: &str, name: &str) -> Result<Inverse> {
    refuse_sync_triggers(table_ref(s, table)?)?;
    let partition = remove(s, table, name)?;
    let mut detached = Table::new(name);
    detached.columns = detached_columns(table_ref(s, table)?);
    s.put_table(Arc::new(detached));
    ops(Op::AttachPartition {
        table: table.into(),
        partition,
    })
}

/// A sync trigger's copies on a partition would stay behind on a table of its own.
fn refuse_sync_triggers(parent: &Table) -> Result<()> {
    match parent.sync_triggers.first() {
        Some(trigger) => Err(K::Invalid(format!(
            "table `{}` has sync trigger `{}`: move partitions in or out once it is dropped",
            parent.name, trigger.name
        ))),
        None => Ok(()),
    }
}

/// A partition name is a table name on PostgreSQL: no table, index or constraint may have it.
pub(super) fn check_name_is_free(s: &Schema, name: &str) -> Result<()> {
    if s.table(name).is_some() {
        return Err(K::DuplicateName {
            name: name.into(),
            existing: format!("table `{name}`"),
        });
    }
    super::apply::check_name_free(s, name)
}

/// The table whose partition `name` is, if it is one.
pub(crate) fn partition_owner<'s>(s: &'s Schema, name: &str) -> Option<&'s Table> {
    s.object_owner(name).filter(|t| {
        t.partitioning
            .as_ref()
            .is_some_and(|p| p.partition(name).is_some())
    })
}

/// The bound fits the method and has a value per partition column.
fn check_bound(partitioning: &Partitioning, partition: &Partition) -> Result<()> {
    let name = &partition.name;
    let columns = partitioning.columns.len();
    let wrong = |expected: &str| {
        Err(K::Invalid(format!(
            "partition `{name}` has a bound of another method: the table is partitioned by {}, \
             so give it {expected}",
            partitioning.method.sql()
        )))
    };
    match (&partition.bound, partitioning.method) {
        (PartitionBound::Default, PartitionMethod::Hash) => Err(K::Invalid(format!(
            "partition `{name}`: a table partitioned by HASH has no DEFAULT partition; \
             every row has a remainder"
        ))),
        (PartitionBound::Default, _) => Ok(()),
        (PartitionBound::Range { from, to }, PartitionMethod::Range) => {
            if from.len() != columns || to.len() != columns {
                return Err(K::Invalid(format!(
                    "partition `{name}` needs a `from` and a `to` value for each of the {columns} partition column(s)"
                )));
            }
            // PostgreSQL's rule: nothing follows an open end but another.
            for values in [from, to] {
                let open = values
                    .iter()
                    .position(|v| matches!(v, BoundValue::MinValue | BoundValue::MaxValue));
                if let Some(at) = open
                    && values[at..].iter().any(|v| *v != values[at])
                {
                    return Err(K::Invalid(format!(
                        "partition `{name}`: in {}, every value after {} must be {} too",
                        show_row(values),
                        show_row(&values[at..=at]),
                        show_row(&values[at..=at])
                    )));
                }
            }
            match compare_rows(from, to)? {
                Ordering::Less => Ok(()),
                _ => Err(K::Invalid(format!(
                    "partition `{name}` is empty: its `from` {} is not below its `to` {}",
                    show_row(from),
                    show_row(to)
                ))),
            }
        }
        (PartitionBound::Range { .. }, _) => wrong(method_bound(partitioning.method)),
        (PartitionBound::List(values), PartitionMethod::List) => {
            if values.is_empty() {
                return Err(K::Invalid(format!("partition `{name}` lists no value")));
            }
            for (i, v) in values.iter().enumerate() {
                if values[..i]
                    .iter()
                    .any(|w| compare(v, w).ok() == Some(Ordering::Equal))
                {
                    return Err(K::Invalid(format!(
                        "partition `{name}` lists the value {} twice",
                        show(v)
                    )));
                }
            }
            Ok(())
        }
        (PartitionBound::List(_), _) => wrong(method_bound(partitioning.method)),
        (PartitionBound::Hash { modulus, remainder }, PartitionMethod::Hash) => {
            if *modulus == 0 || remainder >= modulus {
                return Err(K::Invalid(format!(
                    "partition `{name}`: the remainder ({remainder}) must be below the modulus ({modulus}), which must be positive"
                )));
            }
            Ok(())
        }
        (PartitionBound::Hash { .. }, _) => wrong(method_bound(partitioning.method)),
    }
}

/// Each bound value is of the kind its column holds: a number for a number column, a string
/// (ISO for dates and times) for the others.
fn check_bound_values(t: &Table, partitioning: &Partitioning, partition: &Partition) -> Result<()> {
    use crate::op::ColumnType as T;
    let values: Vec<(&String, &Literal)> = match &partition.bound {
        PartitionBound::Range { from, to } => partitioning
            .columns
            .iter()
            .zip(from)
            .chain(partitioning.columns.iter().zip(to))
            .filter_map(|(c, v)| match v {
                BoundValue::Value(v) => Some((c, v)),
                _ => None,
            })
            .collect(),
        PartitionBound::List(values) => values
            .iter()
            .map(|v| (&partitioning.columns[0], v))
            .collect(),
        PartitionBound::Hash { .. } | PartitionBound::Default => Vec::new(),
    };
    for (column, value) in values {
        let Some(ty) = t.column(column).map(|c| &c.ty) else {
            continue;
        };
        let fits = matches!(
            (ty, value),
            (T::SmallInt | T::Integer | T::BigInt, Literal::Int(_))
                | (
                    T::Decimal(..) | T::Real | T::Double,
                    Literal::Int(_) | Literal::Float(_)
                )
                | (T::Boolean, Literal::Bool(_))
                | (
                    T::String(_)
                        | T::Text
                        | T::Date
                        | T::Time
                        | T::Timestamp
                        | T::TimestampTz
                        | T::Uuid
                        | T::Enum(_),
                    Literal::String(_),
                )
        );
        if !fits {
            return Err(K::Invalid(format!(
                "partition `{}`: the bound value {} does not fit column `{column}` of type {ty}: give it a {}",
                partition.name,
                show(value),
                match ty {
                    T::SmallInt | T::Integer | T::BigInt => "whole number",
                    T::Decimal(..) | T::Real | T::Double => "number",
                    T::Boolean => "boolean",
                    _ => "string (ISO for a date or a time: '2026-01-01')",
                }
            )));
        }
    }
    Ok(())
}

fn method_bound(method: PartitionMethod) -> &'static str {
    match method {
        PartitionMethod::Range => "`PartitionBound::range(from, to)`",
        PartitionMethod::List => "`PartitionBound::values([...])`",
        PartitionMethod::Hash => "`PartitionBound::hash(modulus, remainder)`",
    }
}

/// Why two bounds of the same method hold a row in common, if they do.
fn overlap(a: &PartitionBound, b: &PartitionBound) -> Result<Option<String>> {
    Ok(match (a, b) {
        (PartitionBound::Default, PartitionBound::Default) => {
            Some("a table has one DEFAULT partition".into())
        }
        (
            PartitionBound::Range { from: af, to: at },
            PartitionBound::Range { from: bf, to: bt },
        ) => {
            // [af, at) and [bf, bt) meet when each starts below the other's end.
            let below =
                |x: &[BoundValue], y: &[BoundValue]| Ok(compare_rows(x, y)? == Ordering::Less);
            (below(af, bt)? && below(bf, at)?).then(|| {
                format!(
                    "{} to {} meets {} to {}",
                    show_row(af),
                    show_row(at),
                    show_row(bf),
                    show_row(bt)
                )
            })
        }
        (PartitionBound::List(a), PartitionBound::List(b)) => {
            let mut shared = None;
            for v in a {
                for w in b {
                    if compare(v, w)? == Ordering::Equal {
                        shared = shared.or(Some(format!("both list {}", show(v))));
                    }
                }
            }
            shared
        }
        (
            PartitionBound::Hash {
                modulus: am,
                remainder: ar,
            },
            PartitionBound::Hash {
                modulus: bm,
                remainder: br,
            },
        ) => {
            let (small, large) = if am <= bm {
                ((am, ar), (bm, br))
            } else {
                ((bm, br), (am, ar))
            };
            if large.0 % small.0 != 0 {
                Some(format!(
                    "the moduli {} and {} must divide one another, or rows of both would share remainders",
                    small.0, large.0
                ))
            } else {
                (large.1 % small.0 == *small.1).then(|| {
                    format!(
                        "remainder {} of modulus {} includes remainder {} of modulus {}",
                        small.1, small.0, large.1, large.0
                    )
                })
            }
        }
        _ => None,
    })
}

/// Compares two bound rows column by column; MINVALUE and MAXVALUE end a comparison.
fn compare_rows(a: &[BoundValue], b: &[BoundValue]) -> Result<Ordering> {
    for (x, y) in a.iter().zip(b) {
        let order = match (x, y) {
            (BoundValue::MinValue, BoundValue::MinValue)
            | (BoundValue::MaxValue, BoundValue::MaxValue) => return Ok(Ordering::Equal),
            (BoundValue::MinValue, _) | (_, BoundValue::MaxValue) => Ordering::Less,
            (_, BoundValue::MinValue) | (BoundValue::MaxValue, _) => Ordering::Greater,
            (BoundValue::Value(x), BoundValue::Value(y)) => compare(x, y)?,
        };
        if order != Ordering::Equal {
            return Ok(order);
        }
    }
    Ok(Ordering::Equal)
}

/// Two bound values of one column. Strings compare as written: write dates and timestamps in
/// ISO form (`2026-01-01`, `2026-01-01 12:00:00`), which sorts as time does.
fn compare(a: &Literal, b: &Literal) -> Result<Ordering> {
    let order = match (a, b) {
        (Literal::Int(x), Literal::Int(y)) => Some(x.cmp(y)),
        (Literal::Float(x), Literal::Float(y)) => x.partial_cmp(y),
        (Literal::Int(x), Literal::Float(y)) => (*x as f64).partial_cmp(y),
        (Literal::Float(x), Literal::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Literal::String(x), Literal::String(y)) => Some(x.cmp(y)),
        (Literal::Bool(x), Literal::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    };
    order.ok_or_else(|| {
        K::Invalid(format!(
            "the bound values {} and {} cannot be compared: give one partition column values of one kind",
            show(a),
            show(b)
        ))
    })
}

fn show(v: &Literal) -> String {
    match v {
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => f.to_string(),
        Literal::String(s) => format!("'{s}'"),
    }
}

fn show_row(values: &[BoundValue]) -> String {
    let one = |v: &BoundValue| match v {
        BoundValue::MinValue => "MINVALUE".to_owned(),
        BoundValue::MaxValue => "MAXVALUE".to_owned(),
        BoundValue::Value(v) => show(v),
    };
    match values {
        [v] => one(v),
        _ => format!(
            "({})",
            values.iter().map(one).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The table a conversion fills before it takes `table`'s name (PostgreSQL).
pub(crate) fn shadow_table(table: &str) -> String {
    super::fit_identifier(format!("{}partitioned_{table}", super::RESERVED_PREFIX))
}

/// What the unpartitioned `table` is named once converted, kept for the way back.
pub(crate) fn unpartitioned_copy(table: &str) -> String {
    super::fit_identifier(format!("{}unpartitioned_{table}", super::RESERVED_PREFIX))
}

/// An index or key of the shadow table, until it takes the name `name`.
pub(crate) fn shadow_object(name: &str) -> String {
    super::fit_identifier(format!("{}p_{name}", super::RESERVED_PREFIX))
}

/// What index or key `name` of the unpartitioned table is named once it is kept.
pub(crate) fn kept_object(name: &str) -> String {
    super::fit_identifier(format!("{}u_{name}", super::RESERVED_PREFIX))
}

/// Sets `pk` as the primary key of `t` (`None`: none), checking its columns and name.
fn set_primary_key(s: &Schema, t: &mut Table, pk: Option<&PrimaryKey>) -> Result<()> {
    if let Some(pk) = pk {
        let what = "primary key";
        if pk.columns.is_empty() {
            return Err(K::Invalid(format!("{what} needs at least one column")));
        }
        for column in &pk.columns {
            match t.column(column) {
                None => {
                    return Err(K::UnknownColumn {
                        table: t.name.clone(),
                        column: column.clone(),
                    });
                }
                Some(c) if c.nullable => {
                    return Err(K::Invalid(format!(
                        "primary key column `{column}` of `{}` is nullable: set it NOT NULL first",
                        t.name
                    )));
                }
                Some(_) => {}
            }
        }
        check_identifier(&pk.name)?;
        let own = t
            .primary_key
            .as_ref()
            .is_some_and(|old| old.name == pk.name);
        if !own {
            super::apply::check_name_free(s, &pk.name)?;
        }
    }
    t.primary_key = pk.cloned();
    Ok(())
}

pub(super) fn partition_table(s: &mut Schema, c: &TableConversion) -> Result<Inverse> {
    let t = table_ref(s, &c.table)?;
    if t.partitioning.is_some() {
        return Err(K::Invalid(format!(
            "table `{}` is partitioned already; add partitions with `create_partition`",
            c.table
        )));
    }
    refuse_sync_triggers(t)?;
    if let Some(other) = s.tables_referencing(&c.table).next() {
        return Err(K::TableInUse {
            table: c.table.clone(),
            user: format!(
                "table `{}` (its foreign key would stay with the unpartitioned table)",
                other.name
            ),
        });
    }
    super::batch_key(t).map_err(|reason| {
        K::Invalid(format!(
            "table `{}` cannot be copied in batches: {reason}; give it a primary key first",
            c.table
        ))
    })?;
    let old_key = t.primary_key.clone();
    let mut converted = t.clone();
    converted.keeps_unpartitioned_copy = true;
    set_primary_key(
        s,
        &mut converted,
        c.primary_key.as_ref().or(old_key.as_ref()),
    )?;
    converted.partitioning = Some(Partitioning {
        partitions: Vec::new(),
        ..c.partitioning.clone()
    });
    check_partitioning(&converted, &c.partitioning)?;
    s.put_table(Arc::new(converted));
    create_partitions(s, &c.table, &c.partitioning.partitions)?;
    super::apply::check_auto_increment(table_ref(s, &c.table)?)?;
    ops(Op::UnpartitionTable {
        table: c.table.clone(),
        primary_key: old_key,
    })
}

pub(super) fn unpartition_table(
    s: &mut Schema,
    table: &str,
    primary_key: Option<&PrimaryKey>,
) -> Result<Inverse> {
    let t = table_ref(s, table)?;
    let Some(partitioning) = t.partitioning.clone() else {
        return Err(K::Invalid(format!("table `{table}` is not partitioned")));
    };
    if !t.keeps_unpartitioned_copy {
        return Err(K::Invalid(format!(
            "table `{table}` keeps no unpartitioned copy to swap back: `drop_unpartitioned_copy` dropped it, or it was created partitioned"
        )));
    }
    let partitioned_key = t.primary_key.clone();
    let mut plain = t.clone();
    plain.partitioning = None;
    plain.keeps_unpartitioned_copy = false;
    set_primary_key(s, &mut plain, primary_key)?;
    s.put_table(Arc::new(plain));
    super::apply::check_auto_increment(table_ref(s, table)?)?;
    ops(Op::PartitionTable(TableConversion {
        table: table.into(),
        partitioning,
        primary_key: partitioned_key,
        batching: Batching::default(),
    }))
}

pub(super) fn drop_unpartitioned_copy(s: &mut Schema, table: &str) -> Result<Inverse> {
    if !table_ref(s, table)?.keeps_unpartitioned_copy {
        return Err(K::Invalid(format!(
            "table `{table}` keeps no unpartitioned copy: only `partition_table` makes one, and it is dropped once"
        )));
    }
    super::apply::table_mut(s, table)?.keeps_unpartitioned_copy = false;
    Ok(Inverse::Irreversible {
        reason: format!(
            "the unpartitioned copy of `{table}` is dropped, so the conversion cannot be swapped back; restore it from a backup"
        ),
    })
}

/// What a table that keeps its unpartitioned copy in step cannot have done to it: the copy
/// and the trigger feeding it would no longer fit (a column gone, renamed or retyped), or rows
/// would leave or enter it without the trigger (partitions dropped, detached, attached).
pub(super) fn refuse_while_kept(s: &Schema, op: &Op) -> Result<()> {
    let (table, what) = match op {
        Op::DropColumn { table, .. }
        | Op::RenameColumn { table, .. }
        | Op::AlterColumn { table, .. } => (table, "have its columns changed"),
        Op::RenameTable { from, .. } => (from, "be renamed"),
        Op::DropTable { name } => (name, "be dropped"),
        Op::DropPartition { table, .. }
        | Op::DetachPartition { table, .. }
        | Op::AttachPartition { table, .. } => (table, "have partitions moved in or out"),
        _ => return Ok(()),
    };
    match s.table(table) {
        Some(t) if t.keeps_unpartitioned_copy => Err(K::Invalid(format!(
            "table `{table}` keeps its unpartitioned copy in step for the way back, so it cannot {what} until `drop_unpartitioned_copy(\"{table}\")` has run (in a contract migration)"
        ))),
        _ => Ok(()),
    }
}

/// Two range bounds in order, column by column; values of kinds that do not compare (which the
/// model refuses) as equal.
pub(crate) fn compare_bound_rows(a: &[BoundValue], b: &[BoundValue]) -> Ordering {
    compare_rows(a, b).unwrap_or(Ordering::Equal)
}
