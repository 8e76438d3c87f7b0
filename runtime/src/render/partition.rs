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
    use crate::op::Batching;
    use crate::render::common::DialectSql;
    use crate::schema::{kept_object, shadow_object, shadow_table, unpartitioned_copy};

    /// The names of `t`'s indexes and keys (schema-wide on PostgreSQL, unlike its checks and
    /// foreign keys): `(name, is a constraint)`.
    fn index_names(t: &Table) -> Vec<(String, bool)> {
        t.primary_key
            .iter()
            .map(|pk| (pk.name.clone(), true))
            .chain(t.uniques.iter().map(|u| (u.name.clone(), true)))
            .chain(t.indexes.iter().map(|i| (i.name.clone(), false)))
            .collect()
    }

    /// Renames index or key `from` of table `table` to `to`.
    fn rename_object(ctx: &Ctx, table: &str, (from, constraint): (&str, bool), to: &str) -> String {
        let sql = ctx.sql;
        match constraint {
            true => format!(
                "ALTER TABLE {} RENAME CONSTRAINT {} TO {};",
                sql.ident(table),
                sql.ident(from),
                sql.ident(to)
            ),
            false => format!(
                "ALTER INDEX {} RENAME TO {};",
                sql.ident(from),
                sql.ident(to)
            ),
        }
    }

    /// A trigger (and its function) that carries every write to one table over to another.
    struct Mirror<'a> {
        name: String,
        from: &'a str,
        to: &'a str,
        columns: &'a [String],
        /// What finds a row of `from` in `to`: its key in `from`.
        key: &'a [String],
        /// `to`'s key, on which an insert overwrites a row already there (the copy's own, or an
        /// earlier write's); `None`: a row already there fails the write.
        upsert_on: Option<&'a [String]>,
        /// Where a delete records the key it found nothing under, when its transaction reads an
        /// older snapshot than read committed's (a row copied since is invisible to it).
        missed: Option<&'a str>,
    }

    impl Mirror<'_> {
        /// The function (its `search_path` the one it is created under, so that a write from
        /// another schema lands in this one) and the trigger.
        fn sql(&self, ctx: &Ctx) -> (String, String) {
            let sql = ctx.sql;
            let matches = self
                .key
                .iter()
                .map(|k| format!("{0} = OLD.{0}", sql.ident(k)))
                .collect::<Vec<_>>()
                .join(" AND ");
            let values = self
                .columns
                .iter()
                .map(|c| format!("NEW.{}", sql.ident(c)))
                .collect::<Vec<_>>()
                .join(", ");
            let to = sql.ident(self.to);
            let missed = match self.missed {
                Some(missed) => format!(
                    "\n    IF NOT FOUND AND current_setting('transaction_isolation') <> 'read committed' THEN\n      \
                     INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING;\n    END IF;",
                    sql.ident(missed),
                    sql.idents(self.key),
                    self.key
                        .iter()
                        .map(|k| format!("OLD.{}", sql.ident(k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => String::new(),
            };
            let conflict = match self.upsert_on {
                Some(key) => format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    sql.idents(key),
                    self.columns
                        .iter()
                        .map(|c| format!("{0} = EXCLUDED.{0}", sql.ident(c)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => String::new(),
            };
            let name = sql.ident(&self.name);
            let function = format!(
                "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $godwit_mirror$\n\
                 BEGIN\n  IF TG_OP <> 'INSERT' THEN\n    DELETE FROM {to} WHERE {matches};{missed}\n  END IF;\n  \
                 IF TG_OP <> 'DELETE' THEN\n    INSERT INTO {to} ({}) VALUES ({values}){conflict};\n  END IF;\n  \
                 RETURN NULL;\nEND\n$godwit_mirror$",
                sql.idents(self.columns),
            );
            let trigger = format!(
                "CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW EXECUTE FUNCTION {name}()",
                sql.ident(self.from),
            );
            (function, trigger)
        }
    }

    fn missed_deletes(table: &str) -> String {
        crate::schema::fit_identifier(format!("{}deleted_{table}", crate::schema::RESERVED_PREFIX))
    }

    /// A PL/pgSQL condition: the conversion of `table` has swapped already (its kept copy is
    /// there and the table is partitioned). A kept copy beside an unpartitioned table is no
    /// conversion's: that raises.
    fn swapped(ctx: &Ctx, table: &str) -> String {
        let sql = ctx.sql;
        let kept = text(ctx, &sql.ident(&unpartitioned_copy(table)));
        let t = text(ctx, &sql.ident(table));
        format!(
            "to_regclass({kept}) IS NOT NULL AND (SELECT relkind FROM pg_class WHERE oid = to_regclass({t})) = 'p'"
        )
    }

    /// Raises when a kept copy of `table` is there but `table` is not partitioned.
    fn stray_copy(ctx: &Ctx, table: &str) -> String {
        let sql = ctx.sql;
        let kept = unpartitioned_copy(table);
        format!(
            "IF to_regclass({}) IS NOT NULL AND NOT ({}) THEN RAISE EXCEPTION 'godwit: % is there, but % is not partitioned: it is no copy this conversion kept; drop it by hand after a look', {}, {}; END IF;",
            text(ctx, &sql.ident(&kept)),
            swapped(ctx, table),
            text(ctx, &kept),
            text(ctx, table),
        )
    }

    fn copy_trigger(table: &str) -> String {
        crate::schema::fit_identifier(format!("{}copy_{table}", crate::schema::RESERVED_PREFIX))
    }

    fn keep_trigger(table: &str) -> String {
        crate::schema::fit_identifier(format!("{}keep_{table}", crate::schema::RESERVED_PREFIX))
    }

    /// A text literal of SQL text `text`, for a message or a regclass.
    fn text(ctx: &Ctx, text: &str) -> String {
        ctx.sql.literal(&Literal::String(text.to_owned()))
    }

    /// The rows of `table` a partition's bound holds, where a query can say it simply.
    fn bound_predicate(ctx: &Ctx, columns: &[String], bound: &PartitionBound) -> Option<String> {
        let sql = ctx.sql;
        match bound {
            PartitionBound::Range { from, to } => {
                let plain = |values: &[BoundValue]| {
                    values
                        .iter()
                        .map(|v| match v {
                            BoundValue::Value(v) => Some(sql.literal(v)),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                };
                let row = |values: Vec<String>| match values.as_slice() {
                    [one] => one.clone(),
                    _ => format!("({})", values.join(", ")),
                };
                let key = row(columns.iter().map(|c| sql.ident(c)).collect());
                let mut terms = Vec::new();
                match (from.iter().all(|v| *v == BoundValue::MinValue), plain(from)) {
                    (true, _) => {}
                    (false, Some(from)) => terms.push(format!("{key} >= {}", row(from))),
                    (false, None) => return None,
                }
                match (to.iter().all(|v| *v == BoundValue::MaxValue), plain(to)) {
                    (true, _) => {}
                    (false, Some(to)) => terms.push(format!("{key} < {}", row(to))),
                    (false, None) => return None,
                }
                Some(if terms.is_empty() {
                    "TRUE".into()
                } else {
                    terms.join(" AND ")
                })
            }
            PartitionBound::List(values) => Some(format!(
                "{} IN ({})",
                sql.ident(&columns[0]),
                literals(ctx, values)
            )),
            PartitionBound::Hash { .. } | PartitionBound::Default => None,
        }
    }

    /// The last value the sequence of identity column `column` of table `of` gave (NULL if
    /// none yet).
    fn last_given(ctx: &Ctx, of: &str, column: &str) -> String {
        format!(
            "pg_sequence_last_value(pg_get_serial_sequence({}, {})::regclass)",
            text(ctx, &ctx.sql.ident(of)),
            text(ctx, column)
        )
    }

    /// Moves each identity column's sequence of `table` (named `name` now) past its rows' values
    /// and past `given(column)`, what the other table's sequence gave: rows came in with their
    /// values, which the sequence did not give, and a value given once is never given again.
    fn advance_sequences(
        ctx: &Ctx,
        table: &Table,
        name: &str,
        given: impl Fn(&str) -> String,
    ) -> Vec<String> {
        let sql = ctx.sql;
        table
            .columns
            .iter()
            .filter(|c| c.auto_increment)
            .map(|c| {
                format!(
                    "PERFORM setval(pg_get_serial_sequence({}, {}), top) FROM (SELECT GREATEST((SELECT max({}) FROM {}), {}) AS top) AS m WHERE top IS NOT NULL;",
                    text(ctx, &sql.ident(name)),
                    text(ctx, &c.name),
                    sql.ident(&c.name),
                    sql.ident(name),
                    given(&c.name),
                )
            })
            .collect()
    }

    /// [`Op::PartitionTable`]: the partitioned copy and the trigger feeding it (set up once,
    /// again on resume), its batches, then the deletes the trigger may have missed, the counts,
    /// and the swap.
    fn convert(dialect: &dyn DialectSql, ctx: &Ctx, table: &str, batching: Batching) -> Rendered {
        let sql = ctx.sql;
        let before = ctx.before_table(table)?;
        let after = ctx.after_table(table)?;
        let (shadow, kept, missed) = (
            shadow_table(table),
            unpartitioned_copy(table),
            missed_deletes(table),
        );
        let columns: Vec<String> = before.columns.iter().map(|c| c.name.clone()).collect();
        let key = |t: &Table| {
            crate::schema::batch_key(t)
                .map_err(|reason| ctx.refuse(reason, "give the table a primary key first"))
        };
        let (old_key, new_key) = (key(before)?, key(after)?);
        let (t, s, m) = (sql.ident(table), sql.ident(&shadow), sql.ident(&missed));
        let is_swapped = swapped(ctx, table);

        // The copy under the shadow's name, its indexes and keys under names of their own
        // until the swap; its partitions under theirs. Beside it, the keys of deletes the
        // trigger could not see the copied row of.
        let mut copy = after.clone();
        copy.name = shadow.clone();
        if let Some(pk) = &mut copy.primary_key {
            pk.name = shadow_object(&pk.name);
        }
        for u in &mut copy.uniques {
            u.name = shadow_object(&u.name);
        }
        for i in &mut copy.indexes {
            i.name = shadow_object(&i.name);
        }
        let mut created = crate::render::common::create_table(dialect, ctx, &copy, &shadow)?;
        let mut keys = Vec::new();
        for name in &old_key {
            let mut column = before.column(name).expect("a key column").clone();
            (column.nullable, column.auto_increment, column.default) = (false, false, None);
            keys.push(dialect.column_definition(ctx, &column, true)?);
        }
        created.push(format!(
            "CREATE TABLE {m} ({}, PRIMARY KEY ({}))",
            keys.join(", "),
            sql.idents(&old_key)
        ));
        let (function, trigger) = Mirror {
            name: copy_trigger(table),
            from: table,
            to: &shadow,
            columns: &columns,
            key: &old_key,
            upsert_on: Some(&new_key),
            missed: Some(&missed),
        }
        .sql(ctx);
        let mut setup = format!(
            "DO $godwit$ BEGIN\n  {}\n  IF NOT ({is_swapped}) THEN\n",
            stray_copy(ctx, table)
        );
        for statement in created {
            let statement = statement
                .replacen("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
                .replacen("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
                .replacen(
                    "CREATE UNIQUE INDEX ",
                    "CREATE UNIQUE INDEX IF NOT EXISTS ",
                    1,
                );
            setup.push_str(&format!("    {statement};\n"));
        }
        setup.push_str(&format!(
            "    {function};\n    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = {}::regclass AND tgname = {}) THEN\n      {trigger};\n    END IF;\n  END IF;\nEND $godwit$",
            text(ctx, &t),
            text(ctx, &copy_trigger(table)),
        ));

        // A delete in a transaction whose snapshot is older than a batch's commit does not see
        // the row the batch copied: such keys are recorded, and their rows go from the copy
        // here, and again under the locks for any recorded since.
        let matches = |a: &str, b: &str| {
            old_key
                .iter()
                .map(|k| format!("{a}.{0} = {b}.{0}", sql.ident(k)))
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let missed_rows = format!(
            "DELETE FROM {s} AS c USING {m} AS d WHERE {} AND NOT EXISTS (SELECT 1 FROM {t} AS o WHERE {});",
            matches("c", "d"),
            matches("o", "d"),
        );

        // The counts, in one statement and so one snapshot, without a lock: the trigger
        // writes to the copy in the transaction of each write, so that every snapshot after
        // the last batch sees the two alike. Then the swap, under both tables' locks, only
        // renames; the unpartitioned table is kept, and kept in step, for the way back.
        let p = after.partitioning.as_ref().expect("a partitioned table");
        let ranged: Vec<(&Partition, String)> = p
            .partitions
            .iter()
            .filter_map(|partition| {
                bound_predicate(ctx, &p.columns, &partition.bound).map(|pred| (partition, pred))
            })
            .collect();
        let mut counted = vec!["o.total".to_owned(), format!("(SELECT count(*) FROM {s})")];
        let mut filters = vec!["count(*) AS total".to_owned()];
        for (i, (partition, predicate)) in ranged.iter().enumerate() {
            filters.push(format!("count(*) FILTER (WHERE {predicate}) AS p{i}"));
            counted.push(format!("o.p{i}"));
            counted.push(format!(
                "(SELECT count(*) FROM ONLY {})",
                sql.ident(&partition.name)
            ));
        }
        let mut verify = format!(
            "DO $godwit$ DECLARE counts bigint[]; BEGIN\n  \
             IF {is_swapped} THEN RETURN; END IF;\n  {missed_rows}\n  \
             SELECT ARRAY[{}] INTO counts FROM (SELECT {} FROM {t}) AS o;\n  \
             IF counts[1] <> counts[2] THEN RAISE EXCEPTION 'godwit: % rows in %, % in its partitioned copy; run up again, and if it persists, compare the two', counts[1], {}, counts[2]; END IF;\n",
            counted.join(", "),
            filters.join(", "),
            text(ctx, table),
        );
        for (i, (partition, _)) in ranged.iter().enumerate() {
            let (of, copied) = (2 * i + 3, 2 * i + 4);
            verify.push_str(&format!(
                "  IF counts[{of}] <> counts[{copied}] THEN RAISE EXCEPTION 'godwit: % rows of % in the range of partition %, % in it', counts[{of}], {}, {}, counts[{copied}]; END IF;\n",
                text(ctx, table),
                text(ctx, &partition.name),
            ));
        }
        verify.push_str("END $godwit$");
        let k = sql.ident(&kept);
        let mut swap = format!(
            "DO $godwit$ BEGIN\n  \
             IF {is_swapped} THEN RETURN; END IF;\n  \
             LOCK TABLE {t}, {s}, {m} IN ACCESS EXCLUSIVE MODE;\n  {missed_rows}\n  \
             DROP TRIGGER {name} ON {t};\n  DROP FUNCTION {name}();\n  DROP TABLE {m};\n  \
             ALTER TABLE {t} RENAME TO {k};\n",
            name = sql.ident(&copy_trigger(table)),
        );
        for (name, constraint) in index_names(before) {
            swap.push_str(&format!(
                "  {}\n",
                rename_object(ctx, &kept, (&name, constraint), &kept_object(&name))
            ));
        }
        swap.push_str(&format!("  ALTER TABLE {s} RENAME TO {t};\n"));
        for (name, constraint) in index_names(after) {
            swap.push_str(&format!(
                "  {}\n",
                rename_object(ctx, table, (&shadow_object(&name), constraint), &name)
            ));
        }
        for line in advance_sequences(ctx, after, table, |c| last_given(ctx, &kept, c)) {
            swap.push_str(&format!("  {line}\n"));
        }
        // The way back: every write to the partitioned table carried to the kept one, whose
        // key stays the old one (a write that repeats it fails rather than be lost there).
        let (function, trigger) = Mirror {
            name: keep_trigger(table),
            from: table,
            to: &kept,
            columns: &columns,
            key: &old_key,
            upsert_on: None,
            missed: None,
        }
        .sql(ctx);
        swap.push_str(&format!("  {function};\n  {trigger};\nEND $godwit$"));
        let mut rendered = crate::render::backfill::copy(
            ctx,
            before,
            crate::render::CopyRows {
                into: shadow,
                columns,
                setup: vec![setup],
            },
            batching,
        )?;
        rendered.statements = vec![Statement::exec(verify), Statement::exec(swap)];
        Ok(rendered)
    }

    /// [`Op::UnpartitionTable`]: the kept table back under its name, after a count.
    fn swap_back(ctx: &Ctx, table: &str) -> Rendered {
        let sql = ctx.sql;
        let after = ctx.after_table(table)?;
        let kept = unpartitioned_copy(table);
        let (t, k) = (sql.ident(table), sql.ident(&kept));
        let gone = format!(
            "IF to_regclass({kept_text}) IS NULL THEN RAISE EXCEPTION 'godwit: the unpartitioned copy % of % is gone (dropped by drop_unpartitioned_copy): there is nothing to swap back; restore it from a backup', {kept_name}, {t_text}; END IF;",
            kept_text = text(ctx, &k),
            kept_name = text(ctx, &kept),
            t_text = text(ctx, table),
        );
        // Counted in one snapshot, without a lock (the trigger keeps the two alike), then
        // swapped back under the locks.
        let verify = format!(
            "DO $godwit$ DECLARE counts bigint[]; BEGIN\n  {gone}\n  \
             SELECT ARRAY[(SELECT count(*) FROM {t}), (SELECT count(*) FROM {k})] INTO counts;\n  \
             IF counts[1] <> counts[2] THEN RAISE EXCEPTION 'godwit: % rows in %, % in its unpartitioned copy', counts[1], {t_text}, counts[2]; END IF;\n\
             END $godwit$",
            t_text = text(ctx, table),
        );
        // What the partitioned table's sequences gave, before it goes.
        let identities: Vec<&str> = after
            .columns
            .iter()
            .filter(|c| c.auto_increment)
            .map(|c| c.name.as_str())
            .collect();
        let declared: String = (0..identities.len())
            .map(|i| format!(" given_{i} bigint;"))
            .collect();
        let mut swap = format!(
            "DO $godwit$ DECLARE{declared} BEGIN\n  {gone}\n  \
             LOCK TABLE {t}, {k} IN ACCESS EXCLUSIVE MODE;\n"
        );
        for (i, column) in identities.iter().enumerate() {
            swap.push_str(&format!(
                "  given_{i} := {};\n",
                last_given(ctx, table, column)
            ));
        }
        swap.push_str(&format!(
            "  DROP TRIGGER IF EXISTS {name} ON {t};\n  DROP FUNCTION IF EXISTS {name}();\n  \
             DROP TABLE {t};\n  ALTER TABLE {k} RENAME TO {t};\n",
            name = sql.ident(&keep_trigger(table)),
        ));
        for (name, constraint) in index_names(after) {
            swap.push_str(&format!(
                "  {}\n",
                rename_object(ctx, table, (&kept_object(&name), constraint), &name)
            ));
        }
        for line in advance_sequences(ctx, after, table, |c| {
            let i = identities.iter().position(|n| *n == c).unwrap_or(0);
            format!("given_{i}")
        }) {
            swap.push_str(&format!("  {line}\n"));
        }
        swap.push_str("END $godwit$");
        Ok(RenderedOp::statements([verify, swap]))
    }

    /// [`Op::DropUnpartitionedCopy`].
    fn drop_copy(ctx: &Ctx, table: &str) -> Rendered {
        let sql = ctx.sql;
        let name = sql.ident(&keep_trigger(table));
        Ok(RenderedOp::statements([
            format!("DROP TRIGGER IF EXISTS {name} ON {}", sql.ident(table)),
            format!("DROP FUNCTION IF EXISTS {name}()"),
            format!(
                "DROP TABLE IF EXISTS {}",
                sql.ident(&unpartitioned_copy(table))
            ),
        ]))
    }

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

    pub(in crate::render) fn op(dialect: &dyn DialectSql, ctx: &Ctx) -> Rendered {
        match ctx.op {
            Op::PartitionTable(c) => return convert(dialect, ctx, &c.table, c.batching),
            Op::UnpartitionTable { table, .. } => return swap_back(ctx, table),
            Op::DropUnpartitionedCopy { table } => return drop_copy(ctx, table),
            _ => {}
        }
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

    /// MySQL keeps no foreign keys on partitioned InnoDB tables, nor into them.
    pub(in crate::render) fn check_foreign_keys(
        ctx: &Ctx,
        table: &Table,
    ) -> Result<(), RenderError> {
        if table.partitioning.is_none() {
            return Ok(());
        }
        if let Some(fk) = table.foreign_keys.first() {
            return Err(ctx.refuse(format!(
                    "table `{}` is partitioned and has foreign key `{}`: MySQL's partitioned tables have no foreign keys",
                    table.name, fk.name
                ),
                "enforce the reference in the application, or keep the table unpartitioned on MySQL",
            ));
        }
        if let Some(other) = ctx.after.tables_referencing(&table.name).next() {
            return Err(ctx.refuse(format!(
                    "table `{}` is partitioned and table `{}` has a foreign key into it: MySQL's partitioned tables cannot be referenced",
                    table.name, other.name
                ),
                "drop that foreign key, or keep the table unpartitioned on MySQL",
            ));
        }
        Ok(())
    }

    /// A foreign key of `table` that MySQL cannot keep: from or into a partitioned table.
    pub(in crate::render) fn check_reference(
        ctx: &Ctx,
        table: &Table,
        fk: &crate::op::ForeignKey,
    ) -> Result<(), RenderError> {
        let into = ctx.after.table(&fk.ref_table);
        let partitioned = match (&table.partitioning, into) {
            (Some(_), _) => &table.name,
            (None, Some(t)) if t.partitioning.is_some() => &t.name,
            _ => return Ok(()),
        };
        Err(ctx.refuse(format!(
                "foreign key `{}` is from or into `{partitioned}`, which is partitioned: MySQL's partitioned tables have no foreign keys",
                fk.name
            ),
            "enforce the reference in the application, or keep the table unpartitioned on MySQL",
        ))
    }

    /// The partitions of `table` in MySQL's order: ranges by their end, hashes by remainder.
    /// Ranges must follow one another (MySQL keeps only each one's end: a partition holds what
    /// is below its end and not in the one before, the first one everything below its end).
    fn ordered<'t>(ctx: &Ctx, table: &'t Table) -> Result<Vec<&'t Partition>, RenderError> {
        let p = table.partitioning.as_ref().expect("a partitioned table");
        let mut partitions: Vec<&Partition> = p.partitions.iter().collect();
        match p.method {
            PartitionMethod::Range => {
                partitions
                    .sort_by(|a, b| crate::schema::compare_bound_rows(range_end(a), range_end(b)));
                for pair in partitions.windows(2) {
                    let (PartitionBound::Range { to, .. }, PartitionBound::Range { from, .. }) =
                        (&pair[0].bound, &pair[1].bound)
                    else {
                        continue;
                    };
                    if from != to {
                        return Err(ctx.refuse(format!(
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
                    return Err(ctx.refuse(
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
                    return Err(ctx.refuse(format!(
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
                    return Err(ctx.refuse(format!(
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
            return Err(ctx.refuse(format!(
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
            return Err(ctx.refuse(format!(
                    "column `{}` of type {} cannot partition a table on MySQL (`RANGE COLUMNS`/`LIST COLUMNS` take integers, strings, DATE and DATETIME)",
                    column.name, column.ty
                ),
                "partition by a `timestamp` (DATETIME), `date`, `time`, integer, `string(n)` or `uuid` column",
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
            return Err(ctx.refuse(format!(
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
            return Err(ctx.refuse(format!(
                    "range partition `{name}` is not after the last one: MySQL adds range partitions at the end only"
                ),
                "add range partitions in order, each starting where the last one ends",
            ));
        }
        if !adding && at != 0 && at != last {
            return Err(ctx.refuse(format!(
                    "range partition `{name}` is between two others: on MySQL the next one would take its range"
                ),
                "drop range partitions from either end (the oldest first)",
            ));
        }
        Ok(None)
    }

    /// A list-partitioned table's DEFAULT partition, other than `name`.
    fn list_default<'t>(table: &'t Table, name: &str) -> Option<&'t Partition> {
        let p = table.partitioning.as_ref()?;
        (p.method == PartitionMethod::List)
            .then(|| {
                p.partitions
                    .iter()
                    .find(|p| p.bound == PartitionBound::Default && p.name != name)
            })
            .flatten()
    }

    fn only_partition(ctx: &Ctx, table: &Table, name: &str) -> Result<(), RenderError> {
        let partitions = table
            .partitioning
            .as_ref()
            .map_or(0, |p| p.partitions.len());
        if partitions <= 1 {
            return Err(ctx.refuse(
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
        match ctx.op {
            Op::PartitionTable(c) => return convert(ctx, &c.table),
            Op::UnpartitionTable { table, .. } => return remove_partitioning(ctx, table),
            // MySQL keeps no copy.
            Op::DropUnpartitionedCopy { .. } => return Ok(RenderedOp::default()),
            _ => {}
        }
        let (table, partition, op) = subject(ctx)?;
        let sql = ctx.sql;
        let (name, parent) = (sql.ident(&partition.name), sql.ident(&table.name));
        // Before the first range partition, which holds everything below its end on MySQL,
        // and beside a DEFAULT list partition, which holds every value the others do not:
        // that one is split in two, so that its rows of the new one move there.
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
                Err(ctx.refuse(
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
                let next = check_at_an_end(ctx, table, &partition.name, true)?
                    .or_else(|| list_default(table, &partition.name));
                single(add(next))
            }
            Op::DropPartition { .. } => {
                only_partition(ctx, table, &partition.name)?;
                check_at_an_end(ctx, table, &partition.name, false)?;
                single(drop)
            }
            // A new partition, exchanged with the table's rows (checked against its bound);
            // the table then holds what the new partition held, which is nothing unless the
            // split took rows there (a DEFAULT partition's, or those MySQL's first range held
            // below its start): then it stays, and the op fails, rather than lose them.
            Op::AttachPartition { .. } => {
                let next = check_at_an_end(ctx, table, &partition.name, true)?
                    .or_else(|| list_default(table, &partition.name));
                refuse_checks()?;
                let mut statements: Vec<Statement> = vec![Statement::exec(add(next))];
                statements
                    .extend(keys(dialect, ctx, table, &partition.name, true)?.map(Statement::exec));
                statements.push(Statement::exec(exchange));
                statements.push(Statement {
                    sql: format!("SELECT 1 AS rows_the_partition_held_before FROM {name} LIMIT 1"),
                    check: Some(crate::render::StatementCheck {
                        kind: crate::op::AssertionKind::Verification,
                        expect: crate::op::Expect::NoRows,
                        in_savepoint: None,
                    }),
                    ..Statement::default()
                });
                statements.push(Statement::exec(format!("DROP TABLE {name}")));
                Ok(RenderedOp {
                    statements,
                    ..RenderedOp::default()
                })
            }
            // An empty table like the parent takes the partition's rows; the partition goes.
            Op::DetachPartition { concurrently, .. } => {
                if *concurrently {
                    return Err(ctx.refuse("MySQL has no concurrent detach: `EXCHANGE PARTITION` locks the table briefly",
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

    /// The key clauses of an `ALTER TABLE` that changes the primary key from `before`'s to
    /// `after`'s, if it changes.
    fn key_change(ctx: &Ctx, before: &Table, after: &Table) -> Vec<String> {
        let columns = |t: &Table| t.primary_key.as_ref().map(|pk| pk.columns.clone());
        if columns(before) == columns(after) {
            return Vec::new();
        }
        let mut clauses = Vec::new();
        if before.primary_key.is_some() {
            clauses.push("DROP PRIMARY KEY".to_owned());
        }
        if let Some(pk) = &after.primary_key {
            clauses.push(format!("ADD PRIMARY KEY ({})", ctx.sql.idents(&pk.columns)));
        }
        clauses
    }

    /// [`Op::PartitionTable`]: `ALTER TABLE … PARTITION BY`, with the new key, in one rebuild.
    fn convert(ctx: &Ctx, table: &str) -> Rendered {
        let (before, after) = (ctx.before_table(table)?, ctx.after_table(table)?);
        let (partitioning, _) = clause(ctx, after)?;
        let keys = key_change(ctx, before, after);
        let alter = if keys.is_empty() {
            format!("ALTER TABLE {}{partitioning}", ctx.sql.ident(table))
        } else {
            format!(
                "ALTER TABLE {} {}{partitioning}",
                ctx.sql.ident(table),
                keys.join(", ")
            )
        };
        single(alter)
    }

    /// [`Op::UnpartitionTable`]: `REMOVE PARTITIONING`, then the key it had.
    fn remove_partitioning(ctx: &Ctx, table: &str) -> Rendered {
        let (before, after) = (ctx.before_table(table)?, ctx.after_table(table)?);
        let mut statements = vec![format!(
            "ALTER TABLE {} REMOVE PARTITIONING",
            ctx.sql.ident(table)
        )];
        let keys = key_change(ctx, before, after);
        if !keys.is_empty() {
            statements.push(format!(
                "ALTER TABLE {} {}",
                ctx.sql.ident(table),
                keys.join(", ")
            ));
        }
        Ok(RenderedOp::statements(statements))
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
                | ColumnType::Decimal(..)
                | ColumnType::Enum(_)
                | ColumnType::Boolean
        )
    }
}
