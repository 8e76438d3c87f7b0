//! Partitioned tables and their partitions: PostgreSQL's declarative partitions (each a table)
//! and MySQL's (parts of one table, `RANGE COLUMNS`/`LIST COLUMNS`/`HASH`). SQLite has none.

use super::common::Rendered;
use super::{Ctx, Leftover, RenderError, RenderedOp, Statement};
use crate::op::{
    BoundValue, ColumnType, Literal, Op, Partition, PartitionBound, PartitionMethod, Table,
};

/// The refusal of a dialect without partitioning.
pub(super) fn no_partitioning(ctx: &Ctx) -> RenderError {
    let dialect = match ctx.sql.0 {
        crate::op::Dialect::Postgres => "PostgreSQL",
        crate::op::Dialect::Mysql => "MySQL",
        crate::op::Dialect::Sqlite => "SQLite",
    };
    ctx.refuse(
        format!("{dialect} has no table partitioning"),
        "partition on PostgreSQL and MySQL only: record the op under `if m.dialect() != Dialect::Sqlite`",
    )
}

/// The partition an op is about, and the parent table as the op finds it.
fn subject<'a>(ctx: &'a Ctx) -> Result<(&'a Table, Partition, &'a Op), RenderError> {
    let (table, partition) = match ctx.op {
        Op::CreatePartition { table, partition } | Op::AttachPartition { table, partition } => {
            (ctx.after_table(table)?, partition.clone())
        }
        Op::DropPartition { table, name } | Op::DetachPartition { table, name, .. } => {
            let parent = ctx.before_table(table)?;
            let partition = parent
                .partitioning
                .as_ref()
                .and_then(|p| p.partition(name))
                .cloned()
                .ok_or_else(|| {
                    ctx.refuse(
                        format!("table `{table}` has no partition `{name}`"),
                        "apply the op to the schema it was validated on",
                    )
                })?;
            (parent, partition)
        }
        _ => unreachable!("only partition ops are rendered here"),
    };
    Ok((table, partition, ctx.op))
}

fn values(ctx: &Ctx, values: &[BoundValue]) -> String {
    values
        .iter()
        .map(|v| match v {
            BoundValue::MinValue => "MINVALUE".to_owned(),
            BoundValue::MaxValue => "MAXVALUE".to_owned(),
            BoundValue::Value(v) => ctx.sql.literal(v),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn literals(ctx: &Ctx, values: &[Literal]) -> String {
    values
        .iter()
        .map(|v| ctx.sql.literal(v))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) mod postgres {
    use super::*;

    /// ` PARTITION BY RANGE ("c")`, and the partitions created after the table.
    pub(in crate::render) fn clause(
        ctx: &Ctx,
        table: &Table,
    ) -> Result<(String, Vec<String>), RenderError> {
        let p = table.partitioning.as_ref().expect("a partitioned table");
        let clause = format!(
            " PARTITION BY {} ({})",
            p.method.sql(),
            ctx.sql.idents(&p.columns)
        );
        let partitions = p
            .partitions
            .iter()
            .map(|partition| create(ctx, &table.name, partition))
            .collect();
        Ok((clause, partitions))
    }

    fn bound(ctx: &Ctx, bound: &PartitionBound) -> String {
        match bound {
            PartitionBound::Range { from, to } => format!(
                "FOR VALUES FROM ({}) TO ({})",
                values(ctx, from),
                values(ctx, to)
            ),
            PartitionBound::List(list) => format!("FOR VALUES IN ({})", literals(ctx, list)),
            PartitionBound::Hash { modulus, remainder } => {
                format!("FOR VALUES WITH (MODULUS {modulus}, REMAINDER {remainder})")
            }
            PartitionBound::Default => "DEFAULT".into(),
        }
    }

    fn create(ctx: &Ctx, parent: &str, partition: &Partition) -> String {
        format!(
            "CREATE TABLE {} PARTITION OF {} {}",
            ctx.sql.ident(&partition.name),
            ctx.sql.ident(parent),
            bound(ctx, &partition.bound)
        )
    }

    /// The CHECK that proves a one-column range or a list, so that `ATTACH` skips its scan.
    fn proving_check(ctx: &Ctx, table: &Table, bound: &PartitionBound) -> Option<String> {
        let p = table.partitioning.as_ref()?;
        let [column] = p.columns.as_slice() else {
            return None;
        };
        let column = ctx.sql.ident(column);
        match bound {
            PartitionBound::Range { from, to } => {
                let mut terms = vec![format!("{column} IS NOT NULL")];
                if let [BoundValue::Value(v)] = from.as_slice() {
                    terms.push(format!("{column} >= {}", ctx.sql.literal(v)));
                }
                if let [BoundValue::Value(v)] = to.as_slice() {
                    terms.push(format!("{column} < {}", ctx.sql.literal(v)));
                }
                Some(terms.join(" AND "))
            }
            PartitionBound::List(list) => Some(format!(
                "{column} IS NOT NULL AND {column} IN ({})",
                literals(ctx, list)
            )),
            PartitionBound::Hash { .. } | PartitionBound::Default => None,
        }
    }

    /// A regclass literal of table `name`.
    fn regclass(ctx: &Ctx, name: &str) -> String {
        format!(
            "{}::regclass",
            ctx.sql.literal(&Literal::String(ctx.sql.ident(name)))
        )
    }

    pub(in crate::render) fn op(ctx: &Ctx) -> Rendered {
        let (table, partition, op) = subject(ctx)?;
        let sql = ctx.sql;
        let (name, parent) = (sql.ident(&partition.name), sql.ident(&table.name));
        match op {
            Op::CreatePartition { .. } => {
                super::super::common::single(create(ctx, &table.name, &partition))
            }
            Op::DropPartition { .. } => super::super::common::single(format!("DROP TABLE {name}")),
            Op::AttachPartition { .. } => {
                let attach = format!(
                    "ALTER TABLE {parent} ATTACH PARTITION {name} {}",
                    bound(ctx, &partition.bound)
                );
                Ok(match proving_check(ctx, table, &partition.bound) {
                    Some(check) => {
                        let constraint = sql.ident(&crate::schema::fit_identifier(format!(
                            "{}_partition_bound",
                            partition.name
                        )));
                        RenderedOp::statements([
                            format!(
                                "ALTER TABLE {name} ADD CONSTRAINT {constraint} CHECK ({check})"
                            ),
                            attach,
                            format!("ALTER TABLE {name} DROP CONSTRAINT {constraint}"),
                        ])
                    }
                    None => RenderedOp::statements([attach]),
                })
            }
            Op::DetachPartition { concurrently, .. } => {
                let has_default = table.partitioning.as_ref().is_some_and(|p| {
                    p.partitions
                        .iter()
                        .any(|p| p.bound == PartitionBound::Default)
                });
                if *concurrently && has_default {
                    return Err(ctx.refuse(
                        format!("table `{}` has a DEFAULT partition: PostgreSQL detaches CONCURRENTLY only without one", table.name),
                        "drop `.concurrently()`, or detach the DEFAULT partition first",
                    ));
                }
                let of = regclass(ctx, &partition.name);
                // The detached table keeps copies of the parent's keys, indexes and checks,
                // under names of the database's choosing; the model's table has none of them.
                let bare = format!(
                    "DO $godwit$ DECLARE r record; BEGIN\n  \
                     FOR r IN SELECT conname FROM pg_constraint WHERE conrelid = {of} AND contype IN ('f', 'p', 'u', 'c', 'x') ORDER BY contype = 'f' DESC LOOP\n    \
                     EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', {of}, r.conname);\n  END LOOP;\n  \
                     FOR r IN SELECT indexrelid::regclass AS ix FROM pg_index WHERE indrelid = {of} LOOP\n    \
                     EXECUTE format('DROP INDEX %s', r.ix);\n  END LOOP;\nEND $godwit$"
                );
                let detach = format!(
                    "ALTER TABLE {parent} DETACH PARTITION {name}{}",
                    if *concurrently { " CONCURRENTLY" } else { "" }
                );
                if !*concurrently {
                    return Ok(RenderedOp::statements([detach, bare]));
                }
                // A stopped `DETACH … CONCURRENTLY` leaves the partition pending: finish it,
                // and then there is nothing left to detach.
                let pending =
                    format!("SELECT 1 FROM pg_inherits WHERE inhrelid = {of} AND inhdetachpending");
                let detached =
                    format!("SELECT 1 FROM pg_class WHERE oid = {of} AND NOT relispartition");
                Ok(RenderedOp {
                    statements: vec![
                        Statement {
                            unless_exists: Some(detached),
                            ..Statement::exec(detach)
                        },
                        Statement::exec(bare),
                    ],
                    outside_transaction: true,
                    leftover: Some(Leftover {
                        probe: pending,
                        remove: vec![format!(
                            "ALTER TABLE {parent} DETACH PARTITION {name} FINALIZE"
                        )],
                    }),
                    ..RenderedOp::default()
                })
            }
            _ => unreachable!("only partition ops are rendered here"),
        }
    }
}

pub(super) mod mysql {
    use super::*;
    use crate::render::common::{DialectSql, single};

    fn refuse(ctx: &Ctx, reason: String, fix: &str) -> RenderError {
        ctx.refuse(reason, fix)
    }

    /// MySQL keeps no foreign keys on partitioned InnoDB tables, nor into them.
    pub(in crate::render) fn check_foreign_keys(
        ctx: &Ctx,
        table: &Table,
    ) -> Result<(), RenderError> {
        if table.partitioning.is_none() {
            return Ok(());
        }
        if let Some(fk) = table.foreign_keys.first() {
            return Err(refuse(
                ctx,
                format!(
                    "table `{}` is partitioned and has foreign key `{}`: MySQL's partitioned tables have no foreign keys",
                    table.name, fk.name
                ),
                "enforce the reference in the application, or keep the table unpartitioned on MySQL",
            ));
        }
        if let Some(other) = ctx.after.tables_referencing(&table.name).next() {
            return Err(refuse(
                ctx,
                format!(
                    "table `{}` is partitioned and table `{}` has a foreign key into it: MySQL's partitioned tables cannot be referenced",
                    table.name, other.name
                ),
                "drop that foreign key, or keep the table unpartitioned on MySQL",
            ));
        }
        Ok(())
    }

    /// The partitions of `table` in MySQL's order: ranges by their end, hashes by remainder.
    /// Ranges must follow one another (MySQL keeps only each one's end: a partition holds what
    /// is below its end and not in the one before, the first one everything below its end).
    fn ordered<'t>(ctx: &Ctx, table: &'t Table) -> Result<Vec<&'t Partition>, RenderError> {
        let p = table.partitioning.as_ref().expect("a partitioned table");
        let mut partitions: Vec<&Partition> = p.partitions.iter().collect();
        match p.method {
            PartitionMethod::Range => {
                partitions.sort_by(|a, b| range_end(a).partial_cmp_rows(range_end(b)));
                for pair in partitions.windows(2) {
                    let (PartitionBound::Range { to, .. }, PartitionBound::Range { from, .. }) =
                        (&pair[0].bound, &pair[1].bound)
                    else {
                        continue;
                    };
                    if from != to {
                        return Err(refuse(
                            ctx,
                            format!(
                                "partition `{}` does not start where `{}` ends: MySQL's range partitions follow one another without gaps",
                                pair[1].name, pair[0].name
                            ),
                            "start each range partition at the end of the one before",
                        ));
                    }
                }
                if let Some(default) = partitions
                    .iter()
                    .find(|p| p.bound == PartitionBound::Default)
                {
                    return Err(refuse(
                        ctx,
                        format!(
                            "partition `{}` is a DEFAULT partition of a range: MySQL has none",
                            default.name
                        ),
                        "end the last range partition at MAXVALUE instead (`BoundValue::MaxValue`)",
                    ));
                }
            }
            PartitionMethod::List => {}
            PartitionMethod::Hash => {
                let column_is_integer = p.columns.len() == 1
                    && table
                        .column(&p.columns[0])
                        .is_some_and(|c| c.ty.is_integer());
                if !column_is_integer {
                    return Err(refuse(
                        ctx,
                        format!(
                            "table `{}` is partitioned by HASH of other than one integer column: MySQL hashes an integer",
                            table.name
                        ),
                        "partition by the hash of one integer column on MySQL",
                    ));
                }
                let modulus = partitions.len() as u32;
                partitions.sort_by_key(|p| match p.bound {
                    PartitionBound::Hash { remainder, .. } => remainder,
                    _ => u32::MAX,
                });
                let complete = partitions.iter().enumerate().all(|(i, p)| {
                    p.bound
                        == PartitionBound::Hash {
                            modulus,
                            remainder: i as u32,
                        }
                });
                if !complete {
                    return Err(refuse(
                        ctx,
                        format!(
                            "the hash partitions of table `{}` are not the remainders 0 to {} of modulus {modulus}: MySQL spreads rows over all its hash partitions",
                            table.name,
                            modulus.saturating_sub(1)
                        ),
                        "give the table every remainder of one modulus, created with the table",
                    ));
                }
            }
        }
        Ok(partitions)
    }

    fn range_end(p: &Partition) -> &[BoundValue] {
        match &p.bound {
            PartitionBound::Range { to, .. } => to,
            _ => &[],
        }
    }

    trait RowOrder {
        fn partial_cmp_rows(&self, other: &Self) -> std::cmp::Ordering;
    }

    impl RowOrder for [BoundValue] {
        fn partial_cmp_rows(&self, other: &Self) -> std::cmp::Ordering {
            use std::cmp::Ordering::*;
            for (a, b) in self.iter().zip(other) {
                let order = match (a, b) {
                    (BoundValue::MinValue, BoundValue::MinValue)
                    | (BoundValue::MaxValue, BoundValue::MaxValue) => Equal,
                    (BoundValue::MinValue, _) | (_, BoundValue::MaxValue) => Less,
                    (_, BoundValue::MinValue) | (BoundValue::MaxValue, _) => Greater,
                    (BoundValue::Value(a), BoundValue::Value(b)) => match (a, b) {
                        (Literal::Int(x), Literal::Int(y)) => x.cmp(y),
                        (Literal::String(x), Literal::String(y)) => x.cmp(y),
                        (Literal::Float(x), Literal::Float(y)) => x.partial_cmp(y).unwrap_or(Equal),
                        (Literal::Bool(x), Literal::Bool(y)) => x.cmp(y),
                        _ => Equal,
                    },
                };
                if order != Equal {
                    return order;
                }
            }
            Equal
        }
    }

    fn definition(ctx: &Ctx, partition: &Partition) -> String {
        let name = ctx.sql.ident(&partition.name);
        match &partition.bound {
            PartitionBound::Range { to, .. } => {
                format!("PARTITION {name} VALUES LESS THAN ({})", values(ctx, to))
            }
            PartitionBound::List(list) => {
                format!("PARTITION {name} VALUES IN ({})", literals(ctx, list))
            }
            PartitionBound::Hash { .. } => format!("PARTITION {name}"),
            PartitionBound::Default => format!("PARTITION {name} DEFAULT"),
        }
    }

    /// ` PARTITION BY RANGE COLUMNS(…) (PARTITION … VALUES LESS THAN (…), …)`: MySQL creates a
    /// partitioned table with its partitions.
    pub(in crate::render) fn clause(
        ctx: &Ctx,
        table: &Table,
    ) -> Result<(String, Vec<String>), RenderError> {
        check_foreign_keys(ctx, table)?;
        let p = table.partitioning.as_ref().expect("a partitioned table");
        if p.partitions.is_empty() {
            return Err(refuse(
                ctx,
                format!(
                    "partitioned table `{}` has no partition: MySQL creates a partitioned table with its partitions",
                    table.name
                ),
                "declare its first partitions in `create_table` with `t.partition(..)`",
            ));
        }
        if p.method != PartitionMethod::Hash
            && let Some(column) = p
                .columns
                .iter()
                .filter_map(|c| table.column(c))
                .find(|c| !partitionable(&c.ty))
        {
            return Err(refuse(
                ctx,
                format!(
                    "column `{}` of type {} cannot partition a table on MySQL (`RANGE COLUMNS`/`LIST COLUMNS` take integers, strings, DATE and DATETIME)",
                    column.name, column.ty
                ),
                "partition by a `timestamp` (DATETIME), `date`, integer or string column",
            ));
        }
        let method = match p.method {
            PartitionMethod::Range => "RANGE COLUMNS",
            PartitionMethod::List => "LIST COLUMNS",
            PartitionMethod::Hash => "HASH ",
        };
        let partitions = ordered(ctx, table)?
            .into_iter()
            .map(|partition| definition(ctx, partition))
            .collect::<Vec<_>>();
        Ok((
            format!(
                "\nPARTITION BY {method}({}) (\n  {}\n)",
                ctx.sql.idents(&p.columns),
                partitions.join(",\n  ")
            ),
            Vec::new(),
        ))
    }

    /// Where in MySQL's order partition `name` of `table` (as it is with it) stands: a range
    /// one can be added or dropped only at either end, for the others to keep their rows. When
    /// one is added before the first, the partition that follows it (which held its range).
    fn check_at_an_end<'t>(
        ctx: &Ctx,
        table: &'t Table,
        name: &str,
        adding: bool,
    ) -> Result<Option<&'t Partition>, RenderError> {
        let ordered = ordered(ctx, table)?;
        let Some(p) = table.partitioning.as_ref() else {
            return Ok(None);
        };
        if p.method == PartitionMethod::Hash {
            return Err(refuse(
                ctx,
                format!(
                    "table `{}` is partitioned by HASH: MySQL spreads every row again to change its hash partitions",
                    table.name
                ),
                "create every hash partition with the table on MySQL, or partition by RANGE or LIST",
            ));
        }
        if p.method != PartitionMethod::Range {
            return Ok(None);
        }
        let at = ordered.iter().position(|p| p.name == name).unwrap_or(0);
        let last = ordered.len().saturating_sub(1);
        if adding && at == 0 && last > 0 {
            return Ok(Some(ordered[1]));
        }
        if adding && at != last {
            return Err(refuse(
                ctx,
                format!(
                    "range partition `{name}` is not after the last one: MySQL adds range partitions at the end only"
                ),
                "add range partitions in order, each starting where the last one ends",
            ));
        }
        if !adding && at != 0 && at != last {
            return Err(refuse(
                ctx,
                format!(
                    "range partition `{name}` is between two others: on MySQL the next one would take its range"
                ),
                "drop range partitions from either end (the oldest first)",
            ));
        }
        Ok(None)
    }

    fn only_partition(ctx: &Ctx, table: &Table, name: &str) -> Result<(), RenderError> {
        let partitions = table
            .partitioning
            .as_ref()
            .map_or(0, |p| p.partitions.len());
        if partitions <= 1 {
            return Err(refuse(
                ctx,
                format!(
                    "partition `{name}` is the last of table `{}`: MySQL keeps at least one",
                    table.name
                ),
                "drop the table instead",
            ));
        }
        Ok(())
    }

    /// The statement that gives table `name` (the parent's columns only) the parent's keys and
    /// indexes, or takes them away: `EXCHANGE PARTITION` wants the two alike.
    fn keys(
        dialect: &dyn DialectSql,
        ctx: &Ctx,
        parent: &Table,
        name: &str,
        add: bool,
    ) -> Result<Option<String>, RenderError> {
        let sql = ctx.sql;
        let mut actions = Vec::new();
        for column in parent.columns.iter().filter(|c| c.auto_increment) {
            let mut plain = column.clone();
            plain.auto_increment = false;
            if !add {
                actions.push(format!(
                    "MODIFY COLUMN {}",
                    dialect.column_definition(ctx, &plain, false)?
                ));
            }
        }
        if let Some(pk) = &parent.primary_key {
            actions.push(if add {
                format!("ADD PRIMARY KEY ({})", sql.idents(&pk.columns))
            } else {
                "DROP PRIMARY KEY".into()
            });
        }
        for (index, columns, unique) in parent
            .uniques
            .iter()
            .map(|u| (&u.name, &u.columns, true))
            .chain(
                parent
                    .indexes
                    .iter()
                    .map(|i| (&i.name, &i.columns, i.unique)),
            )
        {
            actions.push(if add {
                format!(
                    "ADD {}INDEX {} ({})",
                    if unique { "UNIQUE " } else { "" },
                    sql.ident(index),
                    sql.idents(columns)
                )
            } else {
                format!("DROP INDEX {}", sql.ident(index))
            });
        }
        if add {
            for column in parent.columns.iter().filter(|c| c.auto_increment) {
                actions.push(format!(
                    "MODIFY COLUMN {}",
                    dialect.column_definition(ctx, column, false)?
                ));
            }
        }
        Ok((!actions.is_empty())
            .then(|| format!("ALTER TABLE {} {}", sql.ident(name), actions.join(", "))))
    }

    pub(in crate::render) fn op(dialect: &dyn DialectSql, ctx: &Ctx) -> Rendered {
        let (table, partition, op) = subject(ctx)?;
        let sql = ctx.sql;
        let (name, parent) = (sql.ident(&partition.name), sql.ident(&table.name));
        // Before the first range partition, which holds everything below its end on MySQL:
        // that one is split in two.
        let add = |next: Option<&Partition>| match next {
            Some(next) => format!(
                "ALTER TABLE {parent} REORGANIZE PARTITION {} INTO ({}, {})",
                sql.ident(&next.name),
                definition(ctx, &partition),
                definition(ctx, next)
            ),
            None => format!(
                "ALTER TABLE {parent} ADD PARTITION ({})",
                definition(ctx, &partition)
            ),
        };
        let drop = format!("ALTER TABLE {parent} DROP PARTITION {name}");
        let exchange = format!("ALTER TABLE {parent} EXCHANGE PARTITION {name} WITH TABLE {name}");
        let refuse_checks = || {
            if table.checks.is_empty() {
                Ok(())
            } else {
                Err(refuse(
                    ctx,
                    format!(
                        "table `{}` has checks, which MySQL would copy under other names",
                        table.name
                    ),
                    "drop its checks before moving partitions in or out on MySQL",
                ))
            }
        };
        match op {
            Op::CreatePartition { .. } => {
                let next = check_at_an_end(ctx, table, &partition.name, true)?;
                single(add(next))
            }
            Op::DropPartition { .. } => {
                only_partition(ctx, table, &partition.name)?;
                check_at_an_end(ctx, table, &partition.name, false)?;
                single(drop)
            }
            // An empty partition, exchanged with the table's rows (checked against its
            // bound); the table then holds the empty partition's none, and goes.
            Op::AttachPartition { .. } => {
                let next = check_at_an_end(ctx, table, &partition.name, true)?;
                refuse_checks()?;
                let mut statements = vec![add(next)];
                statements.extend(keys(dialect, ctx, table, &partition.name, true)?);
                statements.push(exchange);
                statements.push(format!("DROP TABLE {name}"));
                Ok(RenderedOp::statements(statements))
            }
            // An empty table like the parent takes the partition's rows; the partition goes.
            Op::DetachPartition { concurrently, .. } => {
                if *concurrently {
                    return Err(refuse(
                        ctx,
                        "MySQL has no concurrent detach: `EXCHANGE PARTITION` locks the table briefly".into(),
                        "drop `.concurrently()` on MySQL",
                    ));
                }
                only_partition(ctx, table, &partition.name)?;
                check_at_an_end(ctx, table, &partition.name, false)?;
                refuse_checks()?;
                let mut statements = vec![
                    format!("CREATE TABLE {name} LIKE {parent}"),
                    format!("ALTER TABLE {name} REMOVE PARTITIONING"),
                    exchange,
                    drop,
                ];
                statements.extend(keys(dialect, ctx, table, &partition.name, false)?);
                Ok(RenderedOp::statements(statements))
            }
            _ => unreachable!("only partition ops are rendered here"),
        }
    }

    /// Whether `ty` can be a `RANGE COLUMNS`/`LIST COLUMNS` column.
    pub(in crate::render) fn partitionable(ty: &ColumnType) -> bool {
        !matches!(
            ty,
            ColumnType::TimestampTz
                | ColumnType::Json
                | ColumnType::Binary
                | ColumnType::Text
                | ColumnType::Real
                | ColumnType::Double
                | ColumnType::Boolean
        )
    }
}
