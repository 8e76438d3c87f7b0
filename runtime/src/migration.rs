//! The builder a migration function receives: it records [`Op`]s in order and touches no database.
//!
//! Naming convention of the builder: whatever belongs to a table is addressed table first:
//! columns `(table, column)`, indexes and constraints `(table, name)` (e.g.
//! `m.create_index("posts", "ix_posts_title", ["title"])`). Enum types belong to no table and
//! are addressed by name alone; inside `create_table`, the table is implied (`t.index(name, ..)`).

use std::sync::Arc;
use std::time::Duration;

use crate::db::Connection;
use crate::lint::{Allow, Lint};
use crate::op::{Assertion, AssertionKind, Expect, Maintenance, OnFailure, Savepoint};
use crate::op::{
    Assignment, Backfill, Batching, Check, Column, ColumnChange, ColumnType, DefaultValue, Dialect,
    DialectExpr, ForeignKey, Index, Literal, Op, PrimaryKey, RawSql, ReferentialAction, RowChange,
    RustStep, StepFuture, SyncTrigger, Table, Unique,
};
use crate::op::{Partition, PartitionBound, PartitionMethod, Partitioning, TableConversion};
use crate::schema::fit_identifier;

/// The ops of one migration, recorded by its function.
#[derive(Debug, Clone)]
pub struct Migration {
    dialect: Dialect,
    id: &'static str,
    ops: Vec<Op>,
    allows: Vec<Allow>,
}

impl Migration {
    /// An empty recording for `dialect`. The dialect lets a migration branch on it; the recorded ops
    /// themselves stay dialect-free.
    pub fn new(dialect: Dialect) -> Self {
        Migration {
            dialect,
            id: "",
            ops: Vec::new(),
            allows: Vec::new(),
        }
    }

    /// An empty recording of migration `id` for `dialect`.
    pub fn for_migration(id: &'static str, dialect: Dialect) -> Self {
        Migration {
            id,
            ..Migration::new(dialect)
        }
    }

    /// The id of the migration being recorded (empty outside a registered migration): lets a
    /// function shared by several migrations name what it creates after the migration.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// Records `up` for `dialect` and returns its ops.
    pub fn record(dialect: Dialect, up: impl FnOnce(&mut Migration)) -> Vec<Op> {
        let mut m = Migration::new(dialect);
        up(&mut m);
        m.ops
    }

    /// The dialect the migration is being recorded for.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Silences lint rule `lint` for this migration, for `reason` (say why it does not apply:
    /// "the table has 40 rows"). Not part of the checksum.
    pub fn allow(&mut self, lint: Lint, reason: &str) {
        self.allows.push(Allow {
            lint,
            reason: reason.to_owned(),
        });
    }

    /// The rules [`Migration::allow`] silenced.
    pub fn allows(&self) -> &[Allow] {
        &self.allows
    }

    /// Records an op built elsewhere.
    pub fn push(&mut self, op: Op) {
        self.ops.push(op);
    }

    pub fn create_table(&mut self, name: &str, define: impl FnOnce(&mut TableBuilder)) {
        let mut builder = TableBuilder {
            table: Table::new(name),
        };
        define(&mut builder);
        self.ops.push(Op::CreateTable(builder.table));
    }

    pub fn drop_table(&mut self, name: &str) {
        self.ops.push(Op::DropTable { name: name.into() });
    }

    pub fn rename_table(&mut self, from: &str, to: &str) {
        self.ops.push(Op::RenameTable {
            from: from.into(),
            to: to.into(),
        });
    }

    /// Adds a column; chain `.not_null()`, `.default(..)`, `.references(..)` on the result.
    pub fn add_column(&mut self, table: &str, column: &str, ty: ColumnType) -> ColumnBuilder<'_> {
        let at = self.ops.len();
        self.ops.push(Op::AddColumn {
            table: table.into(),
            column: Column::new(column, ty),
        });
        ColumnBuilder {
            target: ColumnTarget::Op {
                ops: &mut self.ops,
                at,
            },
        }
    }

    pub fn drop_column(&mut self, table: &str, column: &str) {
        self.ops.push(Op::DropColumn {
            table: table.into(),
            column: column.into(),
        });
    }

    pub fn rename_column(&mut self, table: &str, from: &str, to: &str) {
        self.ops.push(Op::RenameColumn {
            table: table.into(),
            from: from.into(),
            to: to.into(),
        });
    }

    /// Changes a column's type; chain `.using(expr)` to convert existing values.
    pub fn set_column_type(&mut self, table: &str, column: &str, ty: ColumnType) -> SetType<'_> {
        self.alter_column(table, column, ColumnChange::SetType { ty, using: None });
        match self.ops.last_mut() {
            Some(Op::AlterColumn {
                change: ColumnChange::SetType { using, .. },
                ..
            }) => SetType { using },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    pub fn set_not_null(&mut self, table: &str, column: &str) {
        self.alter_column(table, column, ColumnChange::SetNullable(false));
    }

    pub fn drop_not_null(&mut self, table: &str, column: &str) {
        self.alter_column(table, column, ColumnChange::SetNullable(true));
    }

    pub fn set_default(&mut self, table: &str, column: &str, default: impl Into<DefaultValue>) {
        self.alter_column(table, column, ColumnChange::SetDefault(default.into()));
    }

    pub fn drop_default(&mut self, table: &str, column: &str) {
        self.alter_column(table, column, ColumnChange::DropDefault);
    }

    pub fn alter_column(&mut self, table: &str, column: &str, change: ColumnChange) {
        self.ops.push(Op::AlterColumn {
            table: table.into(),
            column: column.into(),
            change,
        });
    }

    /// Creates an index; chain `.unique()`, `.predicate(..)` or `.concurrently()`.
    pub fn create_index<C: AsRef<str>>(
        &mut self,
        table: &str,
        name: &str,
        columns: impl IntoIterator<Item = C>,
    ) -> IndexBuilder<'_> {
        self.ops.push(Op::CreateIndex {
            table: table.into(),
            index: Index {
                name: name.into(),
                columns: strings(columns),
                unique: false,
                predicate: None,
            },
            concurrently: false,
        });
        match self.ops.last_mut() {
            Some(Op::CreateIndex {
                index,
                concurrently,
                ..
            }) => IndexBuilder {
                index,
                concurrently: Some(concurrently),
            },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    /// Drops an index; chain `.concurrently()` to drop it without blocking writes (PostgreSQL).
    pub fn drop_index(&mut self, table: &str, name: &str) -> DropIndex<'_> {
        self.ops.push(Op::DropIndex {
            table: table.into(),
            name: name.into(),
            concurrently: false,
        });
        match self.ops.last_mut() {
            Some(Op::DropIndex { concurrently, .. }) => DropIndex { concurrently },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    pub fn add_primary_key<C: AsRef<str>>(
        &mut self,
        table: &str,
        columns: impl IntoIterator<Item = C>,
    ) {
        self.ops.push(Op::AddPrimaryKey {
            table: table.into(),
            primary_key: PrimaryKey {
                name: default_primary_key_name(table),
                columns: strings(columns),
            },
        });
    }

    pub fn drop_primary_key(&mut self, table: &str) {
        self.ops.push(Op::DropPrimaryKey {
            table: table.into(),
        });
    }

    pub fn add_unique<C: AsRef<str>>(
        &mut self,
        table: &str,
        name: &str,
        columns: impl IntoIterator<Item = C>,
    ) {
        self.ops.push(Op::AddUnique {
            table: table.into(),
            unique: Unique {
                name: name.into(),
                columns: strings(columns),
            },
        });
    }

    pub fn drop_unique(&mut self, table: &str, name: &str) {
        self.ops.push(Op::DropUnique {
            table: table.into(),
            name: name.into(),
        });
    }

    pub fn add_check(&mut self, table: &str, name: &str, expr: &str) {
        self.ops.push(Op::AddCheck {
            table: table.into(),
            check: Check {
                name: name.into(),
                expr: expr.into(),
            },
        });
    }

    pub fn drop_check(&mut self, table: &str, name: &str) {
        self.ops.push(Op::DropCheck {
            table: table.into(),
            name: name.into(),
        });
    }

    /// Adds a foreign key; chain `.on_delete(..)` / `.on_update(..)`.
    #[allow(clippy::too_many_arguments)]
    pub fn add_foreign_key<C: AsRef<str>, R: AsRef<str>>(
        &mut self,
        table: &str,
        name: &str,
        columns: impl IntoIterator<Item = C>,
        ref_table: &str,
        ref_columns: impl IntoIterator<Item = R>,
    ) -> ForeignKeyBuilder<'_> {
        self.ops.push(Op::AddForeignKey {
            table: table.into(),
            foreign_key: ForeignKey {
                name: name.into(),
                columns: strings(columns),
                ref_table: ref_table.into(),
                ref_columns: strings(ref_columns),
                on_delete: ReferentialAction::NoAction,
                on_update: ReferentialAction::NoAction,
            },
        });
        match self.ops.last_mut() {
            Some(Op::AddForeignKey { foreign_key, .. }) => ForeignKeyBuilder { foreign_key },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    pub fn drop_foreign_key(&mut self, table: &str, name: &str) {
        self.ops.push(Op::DropForeignKey {
            table: table.into(),
            name: name.into(),
        });
    }

    pub fn create_enum<V: AsRef<str>>(&mut self, name: &str, values: impl IntoIterator<Item = V>) {
        self.ops.push(Op::CreateEnum {
            name: name.into(),
            values: strings(values),
        });
    }

    pub fn add_enum_value(&mut self, name: &str, value: &str) {
        self.ops.push(Op::AddEnumValue {
            name: name.into(),
            value: value.into(),
        });
    }

    pub fn remove_enum_value(&mut self, name: &str, value: &str) {
        self.ops.push(Op::RemoveEnumValue {
            name: name.into(),
            value: value.into(),
        });
    }

    pub fn drop_enum(&mut self, name: &str) {
        self.ops.push(Op::DropEnum { name: name.into() });
    }

    /// Raw SQL for every dialect; chain `.on(dialect, sql)` for variants and `.reverse(sql)`.
    pub fn sql(&mut self, sql: &str) -> RawSqlBuilder<'_> {
        self.push_raw(RawSql {
            sql: Some(sql.into()),
            ..RawSql::default()
        })
    }

    /// A precondition: before any other op of the migration (inside its transaction where it
    /// has one), `sql` must return what `expect` says, or nothing of the migration runs and it
    /// fails naming the condition and what the query found. A query that fails is reported as
    /// such, not as a condition that does not hold. Preconditions run in the order recorded,
    /// wherever the body records them.
    ///
    /// ```
    /// # use godwit::prelude::*;
    /// fn drop_legacy(m: &mut Migration) {
    ///     m.require("SELECT 1 FROM legacy_orders WHERE migrated = false", Expect::NoRows);
    ///     m.drop_table("legacy_orders");
    /// }
    /// # assert_eq!(Migration::record(Dialect::Postgres, drop_legacy).len(), 2);
    /// ```
    pub fn require(&mut self, sql: &str, expect: Expect) {
        let at = self
            .ops
            .iter()
            .take_while(|op| matches!(op, Op::Assert(a) if a.kind == AssertionKind::Precondition))
            .count();
        self.ops
            .insert(at, assertion(AssertionKind::Precondition, sql, expect));
    }

    /// A verification of what the ops before it did: `sql` must return what `expect` says, or
    /// the migration fails. On PostgreSQL and SQLite, where the migration runs as one
    /// transaction, everything it did is rolled back (inside a
    /// [`savepoint`](Migration::savepoint), what the savepoint did); a migration cut into
    /// several commits (`transactional = false`, `CONCURRENTLY`, a backfill, a safe sequence)
    /// keeps what committed before the verification's own step, recorded. On MySQL, whose DDL
    /// commits as it goes, the migration stops with the ops before it applied and recorded.
    pub fn verify(&mut self, sql: &str, expect: Expect) {
        self.ops
            .push(assertion(AssertionKind::Verification, sql, expect));
    }

    /// Data steps (`m.sql`) and verifications (`m.verify`) that run in a transaction on every
    /// dialect (MySQL too), after a savepoint: when a verification among them does not hold,
    /// what they did is rolled back to the savepoint, and the migration fails, or goes on
    /// without them with [`SavepointBuilder::or_continue`].
    ///
    /// ```
    /// # use godwit::prelude::*;
    /// fn lowercase_emails(m: &mut Migration) {
    ///     m.savepoint(|m| {
    ///         m.sql("UPDATE users SET email = LOWER(email)");
    ///         m.verify("SELECT id FROM users WHERE email <> LOWER(email)", Expect::NoRows);
    ///     });
    /// }
    /// # assert_eq!(Migration::record(Dialect::Mysql, lowercase_emails).len(), 1);
    /// ```
    pub fn savepoint(&mut self, body: impl FnOnce(&mut Migration)) -> SavepointBuilder<'_> {
        let mut inner = Migration::for_migration(self.id, self.dialect);
        body(&mut inner);
        self.allows.append(&mut inner.allows);
        self.ops.push(Op::Savepoint(Savepoint {
            ops: inner.ops,
            on_failure: OnFailure::Fail,
        }));
        match self.ops.last_mut() {
            Some(Op::Savepoint(savepoint)) => SavepointBuilder {
                on_failure: &mut savepoint.on_failure,
            },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    /// Fresh planner statistics for `table` after a large change (`ANALYZE`; MySQL `ANALYZE
    /// TABLE`). Its revert does nothing.
    pub fn analyze(&mut self, table: &str) {
        self.ops.push(Op::Maintenance(Maintenance::Analyze {
            table: table.into(),
        }));
    }

    /// Reclaims the space of dead rows in `table`: PostgreSQL `VACUUM` (in a step of its own
    /// outside the transaction), MySQL `OPTIMIZE TABLE` (an online rebuild), SQLite `VACUUM`
    /// (the whole database file). Its revert does nothing.
    pub fn vacuum(&mut self, table: &str) {
        self.ops.push(Op::Maintenance(Maintenance::Vacuum {
            table: table.into(),
        }));
    }

    /// Rebuilds an index, or every index of a table (`name` is either); chain
    /// `.concurrently()` to rebuild without blocking writes (PostgreSQL 12+, outside the
    /// transaction). MySQL has no `REINDEX`: `vacuum` rebuilds a table with its indexes.
    pub fn reindex(&mut self, name: &str) -> ReindexBuilder<'_> {
        self.ops.push(Op::Maintenance(Maintenance::Reindex {
            name: name.into(),
            concurrently: false,
        }));
        match self.ops.last_mut() {
            Some(Op::Maintenance(Maintenance::Reindex { concurrently, .. })) => {
                ReindexBuilder { concurrently }
            }
            _ => unreachable!("the op was pushed just above"),
        }
    }

    /// A new partition of partitioned table `table`, holding the rows of `bound`:
    /// `m.create_partition("events", "events_2027_01", PartitionBound::range("2027-01-01", "2027-02-01"))`.
    pub fn create_partition(&mut self, table: &str, name: &str, bound: PartitionBound) {
        self.ops.push(Op::CreatePartition {
            table: table.into(),
            partition: Partition {
                name: name.into(),
                bound,
            },
        });
    }

    /// Drops partition `name` of `table`, with its rows (retention: the oldest month goes).
    pub fn drop_partition(&mut self, table: &str, name: &str) {
        self.ops.push(Op::DropPartition {
            table: table.into(),
            name: name.into(),
        });
    }

    /// Makes the existing table `name` (the parent's columns, no keys or indexes of its own,
    /// e.g. loaded beside the parent) the partition of `table` holding `bound`. PostgreSQL first
    /// adds a CHECK matching the bound, so that `ATTACH` finds it proven instead of scanning.
    pub fn attach_partition(&mut self, table: &str, name: &str, bound: PartitionBound) {
        self.ops.push(Op::AttachPartition {
            table: table.into(),
            partition: Partition {
                name: name.into(),
                bound,
            },
        });
    }

    /// Makes partition `name` of `table` a table of its own, with its rows and the parent's
    /// columns (no keys or indexes: its revert attaches it again); chain `.concurrently()` to
    /// detach without blocking the parent (PostgreSQL 14+, outside the transaction).
    pub fn detach_partition(&mut self, table: &str, name: &str) -> DetachPartitionBuilder<'_> {
        self.ops.push(Op::DetachPartition {
            table: table.into(),
            name: name.into(),
            concurrently: false,
        });
        match self.ops.last_mut() {
            Some(Op::DetachPartition { concurrently, .. }) => {
                DetachPartitionBuilder { concurrently }
            }
            _ => unreachable!("the op was pushed just above"),
        }
    }

    /// Makes the existing table `table` partitioned, with its rows:
    /// `m.partition_table("events", |p| { p.by_range(["created_at"]); p.primary_key(["id", "created_at"]); p.partition(..); })`.
    /// PostgreSQL fills a partitioned copy in keyset batches while a trigger carries every
    /// write over (resumable after a crash), counts the rows per partition and in total, and
    /// swaps the names in one short transaction; the unpartitioned table stays, kept in step,
    /// for the way back, until [`Migration::drop_unpartitioned_copy`] in a later `contract`
    /// migration. MySQL rebuilds it with `ALTER TABLE … PARTITION BY`.
    pub fn partition_table(
        &mut self,
        table: &str,
        define: impl FnOnce(&mut PartitionTableBuilder),
    ) {
        let mut builder = PartitionTableBuilder {
            conversion: TableConversion {
                table: table.into(),
                partitioning: Partitioning {
                    method: PartitionMethod::Range,
                    columns: Vec::new(),
                    partitions: Vec::new(),
                },
                primary_key: None,
                batching: Batching::default(),
            },
        };
        define(&mut builder);
        self.ops.push(Op::PartitionTable(builder.conversion));
    }

    /// Drops what [`Migration::partition_table`] kept of `table` for the way back: once this
    /// runs, the conversion cannot be reverted.
    pub fn drop_unpartitioned_copy(&mut self, table: &str) {
        self.ops.push(Op::DropUnpartitionedCopy {
            table: table.into(),
        });
    }

    /// Reports `query`'s plan (`EXPLAIN`; SQLite `EXPLAIN QUERY PLAN`) in the run's events
    /// and output when the migration reaches this point: to see that a new index is used.
    pub fn explain(&mut self, query: &str) {
        self.ops.push(Op::Explain {
            query: DialectExpr::new(query),
        });
    }

    /// Raw SQL that runs only on `dialect` (nothing runs on the others).
    pub fn sql_on(&mut self, dialect: Dialect, sql: &str) -> RawSqlBuilder<'_> {
        self.push_raw(RawSql {
            per_dialect: [(dialect, sql.to_owned())].into(),
            ..RawSql::default()
        })
    }

    /// A Rust data step: `run` gets the live connection, inside the migration's transaction
    /// when it has one, and runs in order with the other ops. The step is known by `name` in
    /// the checksum and the history: rename it when you change what it does. Chain
    /// `.reverse(..)` with the step that undoes it, or the migration cannot be derived down.
    ///
    /// ```
    /// # use godwit::prelude::*;
    /// fn backfill(m: &mut Migration) {
    ///     m.rust("copy names", |db| {
    ///         Box::pin(async move {
    ///             db.execute("UPDATE users SET full_name = name").await?;
    ///             Ok(())
    ///         })
    ///     });
    /// }
    /// # assert_eq!(Migration::record(Dialect::Sqlite, backfill).len(), 1);
    /// ```
    pub fn rust<F>(&mut self, name: &str, run: F) -> RustStepBuilder<'_>
    where
        F: for<'c> Fn(&'c mut Connection) -> StepFuture<'c> + Send + Sync + 'static,
    {
        self.ops.push(Op::Rust(RustStep {
            name: name.into(),
            run: Arc::new(run),
            reverse: None,
        }));
        match self.ops.last_mut() {
            Some(Op::Rust(step)) => RustStepBuilder { step },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    /// A batched, resumable UPDATE of the existing rows of `table`: keyset batches on its
    /// primary key (or a unique NOT NULL key), each its own short transaction that commits a
    /// checkpoint with it, so that no lock is held for long and a killed run resumes after the
    /// last batch done. The rows that exist when it starts are its work; rows inserted later are
    /// the application's to write.
    ///
    /// ```
    /// # use godwit::prelude::*;
    /// # use std::time::Duration;
    /// fn fill_full_name(m: &mut Migration) {
    ///     m.backfill("users")
    ///         .set("full_name", "first_name || ' ' || last_name")
    ///         .set_on(Dialect::Mysql, "full_name", "CONCAT(first_name, ' ', last_name)")
    ///         .only("full_name IS NULL")
    ///         .batch_size(1_000)
    ///         .pause(Duration::from_millis(10))
    ///         .reverse_set("full_name", "NULL");
    /// }
    /// # assert_eq!(Migration::record(Dialect::Sqlite, fill_full_name).len(), 1);
    /// ```
    pub fn backfill(&mut self, table: &str) -> BackfillBuilder<'_> {
        self.ops.push(Op::Backfill(Backfill {
            table: table.into(),
            change: RowChange::default(),
            reverse: None,
            batching: Batching::default(),
        }));
        match self.ops.last_mut() {
            Some(Op::Backfill(backfill)) => BackfillBuilder { backfill },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    /// Triggers on `table` that keep old and new columns in step while old and new code both
    /// write (see [`SyncTrigger`] for when each side runs): `.forward(new, expr)` fills a new
    /// column from the old ones, `.backward(old, expr)` an old column from the new ones. The
    /// expressions are over the row's columns, as in a CHECK. Going down drops them.
    pub fn create_sync_trigger(&mut self, table: &str, name: &str) -> SyncTriggerBuilder<'_> {
        self.ops.push(Op::CreateSyncTrigger {
            table: table.into(),
            trigger: SyncTrigger {
                name: name.into(),
                forward: Vec::new(),
                backward: Vec::new(),
            },
        });
        match self.ops.last_mut() {
            Some(Op::CreateSyncTrigger { trigger, .. }) => SyncTriggerBuilder { trigger },
            _ => unreachable!("the op was pushed just above"),
        }
    }

    /// Drops a sync trigger. Going down creates it again and fills its old columns from the new
    /// ones where they are NULL.
    pub fn drop_sync_trigger(&mut self, table: &str, name: &str) {
        self.ops.push(Op::DropSyncTrigger {
            table: table.into(),
            name: name.into(),
        });
    }

    /// The expand half of replacing column `old` of `table` by new columns, for old and new
    /// code running side by side: adds each new column (nullable), a sync trigger that keeps
    /// old and new in step on every write ([`sync_trigger_name`]), and a backfill of the rows
    /// there are. [`finish_replace_column`](Self::finish_replace_column), in a `contract`
    /// migration, is the other half.
    ///
    /// ```
    /// # use godwit::prelude::*;
    /// fn split_names(m: &mut Migration) {
    ///     m.replace_column("users", "name")
    ///         .with("first_name", ColumnType::String(100), "split_part(name, ' ', 1)")
    ///         .with_on(Dialect::Mysql, "first_name", "SUBSTRING_INDEX(name, ' ', 1)")
    ///         .with("last_name", ColumnType::String(100), "split_part(name, ' ', 2)")
    ///         .with_on(Dialect::Mysql, "last_name", "SUBSTRING_INDEX(name, ' ', -1)")
    ///         .back("first_name || ' ' || last_name")
    ///         .back_on(Dialect::Mysql, "CONCAT(first_name, ' ', last_name)");
    /// }
    /// # assert_eq!(Migration::record(Dialect::Postgres, split_names).len(), 4);
    /// ```
    pub fn replace_column(&mut self, table: &str, old: &str) -> ReplaceColumn<'_> {
        ReplaceColumn {
            table: table.into(),
            old: old.into(),
            columns: Vec::new(),
            forward: Vec::new(),
            back: DialectExpr::default(),
            batching: Batching::default(),
            m: self,
        }
    }

    /// The contract half of [`replace_column`](Self::replace_column): drops its sync trigger
    /// and the old column. Going down brings both back and fills the old column from the new
    /// ones.
    pub fn finish_replace_column(&mut self, table: &str, old: &str) {
        self.drop_sync_trigger(table, &sync_trigger_name(table, old));
        self.drop_column(table, old);
    }

    fn push_raw(&mut self, raw: RawSql) -> RawSqlBuilder<'_> {
        self.ops.push(Op::RawSql(raw));
        match self.ops.last_mut() {
            Some(Op::RawSql(raw)) => RawSqlBuilder { raw },
            _ => unreachable!("the op was pushed just above"),
        }
    }
}

/// Defines a table inside [`Migration::create_table`].
#[derive(Debug)]
pub struct TableBuilder {
    table: Table,
}

macro_rules! column_types {
    ($($(#[$doc:meta])* $method:ident => $ty:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $method(&mut self, name: &str) -> ColumnBuilder<'_> {
                self.column(name, $ty)
            }
        )*
    };
}

impl TableBuilder {
    /// A column of any type.
    pub fn column(&mut self, name: &str, ty: ColumnType) -> ColumnBuilder<'_> {
        self.table.columns.push(Column::new(name, ty));
        let at = self.table.columns.len() - 1;
        ColumnBuilder {
            target: ColumnTarget::Table {
                table: &mut self.table,
                at,
            },
        }
    }

    /// A `bigint` primary key whose values the database generates.
    pub fn id(&mut self, name: &str) -> ColumnBuilder<'_> {
        let mut column = self.column(name, ColumnType::BigInt).not_null();
        column.column_mut().auto_increment = true;
        column.primary_key()
    }

    column_types! {
        smallint => ColumnType::SmallInt;
        integer => ColumnType::Integer;
        bigint => ColumnType::BigInt;
        text => ColumnType::Text;
        boolean => ColumnType::Boolean;
        real => ColumnType::Real;
        double => ColumnType::Double;
        date => ColumnType::Date;
        time => ColumnType::Time;
        timestamp => ColumnType::Timestamp;
        /// Timestamp with time zone (`timestamptz`; `timestamp` on MySQL, which stores UTC).
        timestamp_tz => ColumnType::TimestampTz;
        json => ColumnType::Json;
        uuid => ColumnType::Uuid;
        binary => ColumnType::Binary;
    }

    pub fn string(&mut self, name: &str, max_len: u32) -> ColumnBuilder<'_> {
        self.column(name, ColumnType::String(max_len))
    }

    pub fn decimal(&mut self, name: &str, precision: u32, scale: u32) -> ColumnBuilder<'_> {
        self.column(name, ColumnType::Decimal(precision, scale))
    }

    /// A column of the enum type `enum_name` (created with [`Migration::create_enum`]).
    pub fn enumeration(&mut self, name: &str, enum_name: &str) -> ColumnBuilder<'_> {
        self.column(name, ColumnType::Enum(enum_name.into()))
    }

    /// A (possibly composite) primary key, named `<table>_pkey`.
    pub fn primary_key<C: AsRef<str>>(&mut self, columns: impl IntoIterator<Item = C>) {
        self.table.primary_key = Some(PrimaryKey {
            name: default_primary_key_name(&self.table.name),
            columns: strings(columns),
        });
    }

    pub fn unique<C: AsRef<str>>(&mut self, name: &str, columns: impl IntoIterator<Item = C>) {
        self.table.uniques.push(Unique {
            name: name.into(),
            columns: strings(columns),
        });
    }

    pub fn check(&mut self, name: &str, expr: &str) {
        self.table.checks.push(Check {
            name: name.into(),
            expr: expr.into(),
        });
    }

    pub fn foreign_key<C: AsRef<str>, R: AsRef<str>>(
        &mut self,
        name: &str,
        columns: impl IntoIterator<Item = C>,
        ref_table: &str,
        ref_columns: impl IntoIterator<Item = R>,
    ) -> ForeignKeyBuilder<'_> {
        self.table.foreign_keys.push(ForeignKey {
            name: name.into(),
            columns: strings(columns),
            ref_table: ref_table.into(),
            ref_columns: strings(ref_columns),
            on_delete: ReferentialAction::NoAction,
            on_update: ReferentialAction::NoAction,
        });
        ForeignKeyBuilder {
            foreign_key: self.table.foreign_keys.last_mut().expect("pushed above"),
        }
    }

    pub fn index<C: AsRef<str>>(
        &mut self,
        name: &str,
        columns: impl IntoIterator<Item = C>,
    ) -> IndexBuilder<'_> {
        self.table.indexes.push(Index {
            name: name.into(),
            columns: strings(columns),
            unique: false,
            predicate: None,
        });
        IndexBuilder {
            index: self.table.indexes.last_mut().expect("pushed above"),
            concurrently: None,
        }
    }

    /// Splits the rows by ranges of `columns` (dates, ids): add partitions with
    /// [`TableBuilder::partition`] and `PartitionBound::range(from, to)`.
    pub fn partition_by_range<C: AsRef<str>>(&mut self, columns: impl IntoIterator<Item = C>) {
        self.partition_by(PartitionMethod::Range, strings(columns));
    }

    /// Splits the rows by the value of `column` (a region, a tenant): partitions hold
    /// `PartitionBound::values([...])`.
    pub fn partition_by_list(&mut self, column: &str) {
        self.partition_by(PartitionMethod::List, vec![column.to_owned()]);
    }

    /// Spreads the rows by a hash of `columns`: partitions hold
    /// `PartitionBound::hash(modulus, remainder)`.
    pub fn partition_by_hash<C: AsRef<str>>(&mut self, columns: impl IntoIterator<Item = C>) {
        self.partition_by(PartitionMethod::Hash, strings(columns));
    }

    fn partition_by(&mut self, method: PartitionMethod, columns: Vec<String>) {
        let partitions = self
            .table
            .partitioning
            .take()
            .map(|p| p.partitions)
            .unwrap_or_default();
        self.table.partitioning = Some(Partitioning {
            method,
            columns,
            partitions,
        });
    }

    /// A partition created with the table; in a loop, twelve months are three lines.
    pub fn partition(&mut self, name: &str, bound: PartitionBound) {
        // Before `partition_by_*`: kept, and the model asks for the partition columns.
        let partitioning = self.table.partitioning.get_or_insert_with(|| Partitioning {
            method: PartitionMethod::Range,
            columns: Vec::new(),
            partitions: Vec::new(),
        });
        partitioning.partitions.push(Partition {
            name: name.into(),
            bound,
        });
    }
}

enum ColumnTarget<'a> {
    /// A column of a table being created.
    Table { table: &'a mut Table, at: usize },
    /// The column of an `AddColumn` op; constraints become ops of their own.
    Op { ops: &'a mut Vec<Op>, at: usize },
}

/// Sets a column's nullability, default and constraints.
pub struct ColumnBuilder<'a> {
    target: ColumnTarget<'a>,
}

impl<'a> ColumnBuilder<'a> {
    fn column_mut(&mut self) -> &mut Column {
        match &mut self.target {
            ColumnTarget::Table { table, at } => &mut table.columns[*at],
            ColumnTarget::Op { ops, at } => match &mut ops[*at] {
                Op::AddColumn { column, .. } => column,
                _ => unreachable!("ColumnTarget::Op always points at an AddColumn op"),
            },
        }
    }

    fn table_name(&self) -> &str {
        match &self.target {
            ColumnTarget::Table { table, .. } => &table.name,
            ColumnTarget::Op { ops, at } => match &ops[*at] {
                Op::AddColumn { table, .. } => table,
                _ => unreachable!("ColumnTarget::Op always points at an AddColumn op"),
            },
        }
    }

    pub fn not_null(mut self) -> Self {
        self.column_mut().nullable = false;
        self
    }

    pub fn nullable(mut self) -> Self {
        self.column_mut().nullable = true;
        self
    }

    /// A literal default: `.default(0)`, `.default("draft")`, `.default(false)`.
    pub fn default(mut self, value: impl Into<Literal>) -> Self {
        self.column_mut().default = Some(DefaultValue::Literal(value.into()));
        self
    }

    /// Defaults to the current timestamp.
    pub fn default_now(mut self) -> Self {
        self.column_mut().default = Some(DefaultValue::Now);
        self
    }

    /// A SQL expression default, written as-is on every dialect.
    pub fn default_expr(mut self, expr: &str) -> Self {
        self.column_mut().default = Some(DefaultValue::Expr(expr.into()));
        self
    }

    /// Values generated by the database (identity / AUTO_INCREMENT).
    pub fn auto_increment(mut self) -> Self {
        self.column_mut().auto_increment = true;
        self
    }

    /// Makes this column the table's primary key.
    pub fn primary_key(mut self) -> Self {
        let column = self.column_mut().name.clone();
        let table = self.table_name().to_owned();
        let primary_key = PrimaryKey {
            name: default_primary_key_name(&table),
            columns: vec![column],
        };
        match &mut self.target {
            ColumnTarget::Table { table, .. } => table.primary_key = Some(primary_key),
            ColumnTarget::Op { ops, .. } => ops.push(Op::AddPrimaryKey { table, primary_key }),
        }
        self
    }

    /// A unique constraint on this column, named `uq_<table>_<column>`.
    pub fn unique(mut self) -> Self {
        let column = self.column_mut().name.clone();
        let table = self.table_name().to_owned();
        let unique = Unique {
            name: generated_name("uq", &table, &column),
            columns: vec![column],
        };
        match &mut self.target {
            ColumnTarget::Table { table, .. } => table.uniques.push(unique),
            ColumnTarget::Op { ops, .. } => ops.push(Op::AddUnique { table, unique }),
        }
        self
    }

    /// A foreign key from this column, named `fk_<table>_<column>`; chain `.on_delete(..)`.
    pub fn references(mut self, ref_table: &str, ref_column: &str) -> ForeignKeyBuilder<'a> {
        let column = self.column_mut().name.clone();
        let table = self.table_name().to_owned();
        let foreign_key = ForeignKey {
            name: generated_name("fk", &table, &column),
            columns: vec![column],
            ref_table: ref_table.into(),
            ref_columns: vec![ref_column.into()],
            on_delete: ReferentialAction::NoAction,
            on_update: ReferentialAction::NoAction,
        };
        let foreign_key = match self.target {
            ColumnTarget::Table { table, .. } => {
                table.foreign_keys.push(foreign_key);
                table.foreign_keys.last_mut()
            }
            ColumnTarget::Op { ops, .. } => {
                ops.push(Op::AddForeignKey { table, foreign_key });
                match ops.last_mut() {
                    Some(Op::AddForeignKey { foreign_key, .. }) => Some(foreign_key),
                    _ => None,
                }
            }
        };
        ForeignKeyBuilder {
            foreign_key: foreign_key.expect("pushed above"),
        }
    }
}

/// Sets a foreign key's name and referential actions.
pub struct ForeignKeyBuilder<'a> {
    foreign_key: &'a mut ForeignKey,
}

impl ForeignKeyBuilder<'_> {
    pub fn on_delete(self, action: ReferentialAction) -> Self {
        self.foreign_key.on_delete = action;
        self
    }

    pub fn on_update(self, action: ReferentialAction) -> Self {
        self.foreign_key.on_update = action;
        self
    }

    /// Overrides the generated constraint name.
    pub fn name(self, name: &str) -> Self {
        self.foreign_key.name = name.into();
        self
    }
}

/// Sets an index's uniqueness, predicate and build mode.
pub struct IndexBuilder<'a> {
    index: &'a mut Index,
    /// `None` inside `create_table`, where a new table needs no concurrent build.
    concurrently: Option<&'a mut bool>,
}

impl IndexBuilder<'_> {
    pub fn unique(self) -> Self {
        self.index.unique = true;
        self
    }

    /// Makes it a partial index over the rows matching `predicate` (a SQL expression).
    pub fn predicate(self, predicate: &str) -> Self {
        self.index.predicate = Some(predicate.into());
        self
    }

    /// Builds the index without blocking writes (PostgreSQL `CREATE INDEX CONCURRENTLY`, which
    /// runs outside a transaction). Other dialects refuse it: branch on `m.dialect()`.
    pub fn concurrently(self) -> Self {
        if let Some(concurrently) = self.concurrently {
            *concurrently = true;
            return IndexBuilder {
                index: self.index,
                concurrently: Some(concurrently),
            };
        }
        self
    }
}

/// See [`Migration::drop_index`].
pub struct DropIndex<'a> {
    concurrently: &'a mut bool,
}

impl DropIndex<'_> {
    pub fn concurrently(self) -> Self {
        *self.concurrently = true;
        self
    }
}

/// See [`Migration::set_column_type`].
pub struct SetType<'a> {
    using: &'a mut Option<String>,
}

impl SetType<'_> {
    /// Converts existing values with this SQL expression over the old column.
    pub fn using(self, expr: &str) -> Self {
        *self.using = Some(expr.into());
        self
    }
}

/// Adds dialect variants and a reverse to a raw SQL step.
pub struct RawSqlBuilder<'a> {
    raw: &'a mut RawSql,
}

impl RawSqlBuilder<'_> {
    /// The SQL to run on `dialect` instead of the default.
    pub fn on(self, dialect: Dialect, sql: &str) -> Self {
        self.raw.per_dialect.insert(dialect, sql.into());
        self
    }

    /// The SQL that undoes this step on every dialect.
    pub fn reverse(self, sql: &str) -> Self {
        self.raw.reverse.get_or_insert_default().sql = Some(sql.into());
        self
    }

    /// The SQL that undoes this step on `dialect`.
    pub fn reverse_on(self, dialect: Dialect, sql: &str) -> Self {
        self.raw
            .reverse
            .get_or_insert_default()
            .per_dialect
            .insert(dialect, sql.into());
        self
    }
}

/// Says what a [`Migration::backfill`] sets, on which rows, how it paces itself and what undoes
/// it.
pub struct BackfillBuilder<'a> {
    backfill: &'a mut Backfill,
}

impl BackfillBuilder<'_> {
    /// Sets `column` to the SQL expression `expr` (over the row's columns) on every dialect
    /// that has no spelling of its own.
    pub fn set(self, column: &str, expr: &str) -> Self {
        assign(&mut self.backfill.change, None, column, expr);
        self
    }

    /// Sets `column` to `expr` on `dialect`, instead of what [`set`](Self::set) says.
    pub fn set_on(self, dialect: Dialect, column: &str, expr: &str) -> Self {
        assign(&mut self.backfill.change, Some(dialect), column, expr);
        self
    }

    /// Changes only the rows for which this SQL predicate holds: the rows still to do, so that
    /// running it again changes nothing.
    pub fn only(self, predicate: &str) -> Self {
        only(&mut self.backfill.change, None, predicate);
        self
    }

    /// The predicate on `dialect`, instead of what [`only`](Self::only) says.
    pub fn only_on(self, dialect: Dialect, predicate: &str) -> Self {
        only(&mut self.backfill.change, Some(dialect), predicate);
        self
    }

    /// Rows per batch (default 1,000); with [`target_batch_time`](Self::target_batch_time),
    /// the size it starts with.
    pub fn batch_size(self, rows: u32) -> Self {
        self.backfill.batching.batch_size = rows;
        self
    }

    /// Waits this long between batches, to leave the server to the application.
    pub fn pause(self, pause: Duration) -> Self {
        self.backfill.batching.pause = pause;
        self
    }

    /// Adapts the batch size after each batch towards batches that take this long: it grows
    /// by at most 20 % a batch and shrinks in proportion, between a hundredth and a hundred
    /// times [`batch_size`](Self::batch_size).
    pub fn target_batch_time(self, target: Duration) -> Self {
        self.backfill.batching.target_batch_time = Some(target);
        self
    }

    /// Splits the key range into `slices` that run side by side, each on a connection of its
    /// own with its own checkpoint. The key must be one integer column. It needs a
    /// [`Migrator`](crate::Migrator) that can open connections (made with `connect` or
    /// `from_pool`); SQLite, which has one writer at a time, runs the slices one after another.
    pub fn parallel(self, slices: u32) -> Self {
        self.backfill.batching.parallel = slices;
        self
    }

    /// Going down, sets `column` to `expr` on every dialect without a spelling of its own.
    /// Without a reverse the backfill, and its migration, cannot be reverted.
    pub fn reverse_set(self, column: &str, expr: &str) -> Self {
        let reverse = self.backfill.reverse.get_or_insert_default();
        assign(reverse, None, column, expr);
        self
    }

    /// Going down, sets `column` to `expr` on `dialect`.
    pub fn reverse_set_on(self, dialect: Dialect, column: &str, expr: &str) -> Self {
        let reverse = self.backfill.reverse.get_or_insert_default();
        assign(reverse, Some(dialect), column, expr);
        self
    }

    /// Going down, leaves the rows as they are: for a backfill of columns that its
    /// migration adds, whose revert drops them anyway.
    pub fn reverse_nothing(self) -> Self {
        self.backfill.reverse = Some(RowChange::default());
        self
    }

    /// Going down, changes only the rows for which this predicate holds.
    pub fn reverse_only(self, predicate: &str) -> Self {
        let reverse = self.backfill.reverse.get_or_insert_default();
        only(reverse, None, predicate);
        self
    }
}

fn assign(change: &mut RowChange, dialect: Option<Dialect>, column: &str, expr: &str) {
    assign_to(&mut change.set, dialect, column, expr);
}

fn only(change: &mut RowChange, dialect: Option<Dialect>, predicate: &str) {
    set_expr(change.only.get_or_insert_default(), dialect, predicate);
}

fn set_expr(target: &mut DialectExpr, dialect: Option<Dialect>, sql: &str) {
    match dialect {
        Some(dialect) => {
            target.per_dialect.insert(dialect, sql.into());
        }
        None => target.sql = Some(sql.into()),
    }
}

/// The name of the sync trigger [`Migration::replace_column`] creates for `table.old`.
pub fn sync_trigger_name(table: &str, old: &str) -> String {
    generated_name("sync", table, old)
}

/// Says what a sync trigger computes each way ([`Migration::create_sync_trigger`]).
pub struct SyncTriggerBuilder<'a> {
    trigger: &'a mut SyncTrigger,
}

impl SyncTriggerBuilder<'_> {
    /// When old code writes, sets new column `column` to `expr` over the old columns.
    pub fn forward(self, column: &str, expr: &str) -> Self {
        assign_to(&mut self.trigger.forward, None, column, expr);
        self
    }

    pub fn forward_on(self, dialect: Dialect, column: &str, expr: &str) -> Self {
        assign_to(&mut self.trigger.forward, Some(dialect), column, expr);
        self
    }

    /// When new code writes, sets old column `column` to `expr` over the new columns.
    pub fn backward(self, column: &str, expr: &str) -> Self {
        assign_to(&mut self.trigger.backward, None, column, expr);
        self
    }

    pub fn backward_on(self, dialect: Dialect, column: &str, expr: &str) -> Self {
        assign_to(&mut self.trigger.backward, Some(dialect), column, expr);
        self
    }
}

/// Builds [`Migration::replace_column`]; its ops are recorded when it is dropped, at the end
/// of the statement.
pub struct ReplaceColumn<'a> {
    m: &'a mut Migration,
    table: String,
    old: String,
    columns: Vec<Column>,
    forward: Vec<Assignment>,
    back: DialectExpr,
    batching: Batching,
}

impl ReplaceColumn<'_> {
    /// A new column of type `ty`, filled from the old column with `expr` (over the row).
    pub fn with(mut self, column: &str, ty: ColumnType, expr: &str) -> Self {
        self.columns.push(Column::new(column, ty));
        assign_to(&mut self.forward, None, column, expr);
        self
    }

    /// `expr` on `dialect` for the new column `column`, instead of what `with` says.
    pub fn with_on(mut self, dialect: Dialect, column: &str, expr: &str) -> Self {
        assign_to(&mut self.forward, Some(dialect), column, expr);
        self
    }

    /// The old column's value from the new columns, for writes from new code.
    pub fn back(mut self, expr: &str) -> Self {
        set_expr(&mut self.back, None, expr);
        self
    }

    pub fn back_on(mut self, dialect: Dialect, expr: &str) -> Self {
        set_expr(&mut self.back, Some(dialect), expr);
        self
    }

    /// Rows per batch of the backfill (default 1,000).
    pub fn batch_size(mut self, rows: u32) -> Self {
        self.batching.batch_size = rows;
        self
    }

    /// A wait between the backfill's batches.
    pub fn pause(mut self, pause: Duration) -> Self {
        self.batching.pause = pause;
        self
    }
}

impl Drop for ReplaceColumn<'_> {
    fn drop(&mut self) {
        let table = self.table.clone();
        for column in std::mem::take(&mut self.columns) {
            self.m.ops.push(Op::AddColumn {
                table: table.clone(),
                column,
            });
        }
        let forward = std::mem::take(&mut self.forward);
        self.m.ops.push(Op::CreateSyncTrigger {
            table: table.clone(),
            trigger: SyncTrigger {
                name: sync_trigger_name(&table, &self.old),
                forward: forward.clone(),
                backward: vec![Assignment {
                    column: self.old.clone(),
                    expr: std::mem::take(&mut self.back),
                }],
            },
        });
        let still_empty = |dialect: Dialect| {
            forward
                .iter()
                .map(|a| {
                    format!(
                        "{} IS NULL",
                        crate::render::quote_identifier(dialect, &a.column)
                    )
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        self.m.ops.push(Op::Backfill(Backfill {
            table,
            change: RowChange {
                only: Some(DialectExpr {
                    sql: None,
                    per_dialect: Dialect::ALL
                        .into_iter()
                        .map(|d| (d, still_empty(d)))
                        .collect(),
                }),
                set: forward,
            },
            // Going down drops the columns it fills.
            reverse: Some(RowChange::default()),
            batching: self.batching,
        }));
    }
}

fn assign_to(set: &mut Vec<Assignment>, dialect: Option<Dialect>, column: &str, expr: &str) {
    let at = match set.iter().position(|a| a.column == column) {
        Some(at) => at,
        None => {
            set.push(Assignment {
                column: column.into(),
                expr: DialectExpr::default(),
            });
            set.len() - 1
        }
    };
    set_expr(&mut set[at].expr, dialect, expr);
}

/// Adds a reverse to a Rust data step.
pub struct RustStepBuilder<'a> {
    step: &'a mut RustStep,
}

impl RustStepBuilder<'_> {
    /// The step that undoes this one when the migration is reverted.
    pub fn reverse<F>(self, reverse: F) -> Self
    where
        F: for<'c> Fn(&'c mut Connection) -> StepFuture<'c> + Send + Sync + 'static,
    {
        self.step.reverse = Some(Arc::new(reverse));
        self
    }
}

impl<T: Into<Literal>> From<T> for DefaultValue {
    fn from(v: T) -> Self {
        DefaultValue::Literal(v.into())
    }
}

fn strings<C: AsRef<str>>(items: impl IntoIterator<Item = C>) -> Vec<String> {
    items.into_iter().map(|c| c.as_ref().to_owned()).collect()
}

fn default_primary_key_name(table: &str) -> String {
    fit_identifier(format!("{table}_pkey"))
}

fn generated_name(prefix: &str, table: &str, column: &str) -> String {
    fit_identifier(format!("{prefix}_{table}_{column}"))
}

fn assertion(kind: AssertionKind, sql: &str, expect: Expect) -> Op {
    Op::Assert(Assertion {
        kind,
        query: DialectExpr::new(sql),
        expect,
    })
}

/// Returned by [`Migration::reindex`].
pub struct ReindexBuilder<'a> {
    concurrently: &'a mut bool,
}

impl ReindexBuilder<'_> {
    /// Without blocking writes: PostgreSQL 12+ `REINDEX … CONCURRENTLY`, outside the
    /// transaction.
    pub fn concurrently(self) {
        *self.concurrently = true;
    }
}

/// Defines a conversion inside [`Migration::partition_table`].
pub struct PartitionTableBuilder {
    conversion: TableConversion,
}

impl PartitionTableBuilder {
    /// Partitions by ranges of `columns`.
    pub fn by_range<C: AsRef<str>>(&mut self, columns: impl IntoIterator<Item = C>) {
        self.by(PartitionMethod::Range, strings(columns));
    }

    /// Partitions by the value of `column`.
    pub fn by_list(&mut self, column: &str) {
        self.by(PartitionMethod::List, vec![column.to_owned()]);
    }

    /// Partitions by a hash of `columns`.
    pub fn by_hash<C: AsRef<str>>(&mut self, columns: impl IntoIterator<Item = C>) {
        self.by(PartitionMethod::Hash, strings(columns));
    }

    fn by(&mut self, method: PartitionMethod, columns: Vec<String>) {
        let partitioning = &mut self.conversion.partitioning;
        partitioning.method = method;
        partitioning.columns = columns;
    }

    pub fn partition(&mut self, name: &str, bound: PartitionBound) {
        self.conversion.partitioning.partitions.push(Partition {
            name: name.into(),
            bound,
        });
    }

    /// The primary key once partitioned (it must include the partition columns), named as the
    /// table's is by default.
    pub fn primary_key<C: AsRef<str>>(&mut self, columns: impl IntoIterator<Item = C>) {
        self.conversion.primary_key = Some(PrimaryKey {
            name: default_primary_key_name(&self.conversion.table),
            columns: strings(columns),
        });
    }

    /// Rows copied per batch (PostgreSQL), each batch its own short transaction.
    pub fn batch_size(&mut self, rows: u32) {
        self.conversion.batching.batch_size = rows;
    }

    /// Wait between batches.
    pub fn pause(&mut self, pause: Duration) {
        self.conversion.batching.pause = pause;
    }
}

/// Returned by [`Migration::detach_partition`].
pub struct DetachPartitionBuilder<'a> {
    concurrently: &'a mut bool,
}

impl DetachPartitionBuilder<'_> {
    /// Without blocking reads and writes of the parent: PostgreSQL 14+ `DETACH PARTITION …
    /// CONCURRENTLY`, outside the transaction (and not while the table has a DEFAULT partition).
    pub fn concurrently(self) {
        *self.concurrently = true;
    }
}

/// Returned by [`Migration::savepoint`].
pub struct SavepointBuilder<'a> {
    on_failure: &'a mut OnFailure,
}

impl SavepointBuilder<'_> {
    /// When a verification in it does not hold: roll back to the savepoint and go on with the
    /// migration, without what the savepoint did (an event says so).
    pub fn or_continue(self) {
        *self.on_failure = OnFailure::Continue;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_generated_names_fit_and_stay_distinct() {
        let a = generated_name("fk", &"t".repeat(60), "alpha");
        let b = generated_name("fk", &"t".repeat(60), "beta");
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }

    #[test]
    fn add_column_constraints_become_ops() {
        let ops = Migration::record(Dialect::Postgres, |m| {
            m.add_column("posts", "author_id", ColumnType::BigInt)
                .not_null()
                .references("users", "id")
                .on_delete(ReferentialAction::Cascade);
        });
        assert_eq!(ops.len(), 2);
        assert!(matches!(&ops[0], Op::AddColumn { column, .. } if !column.nullable));
        assert!(matches!(
            &ops[1],
            Op::AddForeignKey { foreign_key, .. }
                if foreign_key.name == "fk_posts_author_id"
                    && foreign_key.on_delete == ReferentialAction::Cascade
        ));
    }
}
