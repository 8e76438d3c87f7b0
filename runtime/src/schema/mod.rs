//! The schema model: the one place that knows what exists.
//!
//! Ops are replayed on an in-memory [`Schema`]. Applying an op validates it against the current
//! state and returns its [`Inverse`], derived from the state before the op. Renderers read the
//! state before an op to write SQL that needs more than the op says (a SQLite table rebuild, a
//! MySQL `MODIFY COLUMN` with the full definition).

mod apply;
mod error;
mod expr;
mod partition;

use std::collections::BTreeMap;
use std::sync::Arc;

use imbl::{OrdMap, OrdSet};

pub(crate) use apply::{REBUILD_PREFIX, RESERVED_PREFIX, batch_key};
pub use error::{SchemaError, SchemaErrorKind};
pub(crate) use expr::{mentions_identifier, qualify_columns};
pub(crate) use partition::{
    compare_bound_rows, kept_object, shadow_object, shadow_table, unpartitioned_copy,
};

use crate::op::{Op, Table};

/// The longest identifier every target accepts (PostgreSQL: 63 bytes; MySQL: 64 characters).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Shortens a generated name to PostgreSQL's 63 bytes, keeping it unique with a hash suffix.
pub(crate) fn fit_identifier(name: String) -> String {
    const MAX: usize = MAX_IDENTIFIER_BYTES;
    if name.len() <= MAX {
        return name;
    }
    // FNV-1a: stable across platforms and releases, unlike std's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = MAX - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}", &name[..cut], hash as u32)
}

/// Tables and enum types, as replayed from ops or introspected from a database.
#[derive(Clone, PartialEq, std::default::Default)]
pub struct Schema {
    /// A persistent map of shared tables: the planner keeps the state before every op, and
    /// copying a schema costs O(1) (a write then copies O(log n) map nodes and, via
    /// `Arc::make_mut`, the one table it changes), not a pointer per table.
    tables: OrdMap<Arc<str>, Arc<Table>>,
    /// `(name, table)` of every index and constraint, so that a name is looked up rather than
    /// searched for in every table. Derived from `tables` and kept in step by the only ways to
    /// change them: [`Schema::put_table`], [`Schema::take_table`] and [`Schema::table_mut`].
    /// Names are `Arc<str>`: a write copies the map nodes on its path while an earlier state is
    /// kept, and copying a shared name is a count, not an allocation.
    object_names: OrdSet<(Arc<str>, Arc<str>)>,
    enums: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("tables", &self.tables)
            .field("enums", &self.enums)
            .finish()
    }
}

/// The names of a table's primary key, indexes, constraints, sync triggers and partitions.
fn object_names(t: &Table) -> impl Iterator<Item = &str> {
    t.primary_key
        .iter()
        .map(|pk| pk.name.as_str())
        .chain(t.indexes.iter().map(|i| i.name.as_str()))
        .chain(t.uniques.iter().map(|u| u.name.as_str()))
        .chain(t.checks.iter().map(|c| c.name.as_str()))
        .chain(t.foreign_keys.iter().map(|fk| fk.name.as_str()))
        .chain(t.sync_triggers.iter().map(|st| st.name.as_str()))
        .chain(
            t.partitioning
                .iter()
                .flat_map(|p| p.partitions.iter().map(|p| p.name.as_str())),
        )
}

/// A table borrowed for writing; re-records its object names when dropped.
pub(crate) struct TableMut<'s> {
    table: &'s mut Table,
    object_names: &'s mut OrdSet<(Arc<str>, Arc<str>)>,
    name: Arc<str>,
    before: Vec<String>,
}

impl std::ops::Deref for TableMut<'_> {
    type Target = Table;

    fn deref(&self) -> &Table {
        self.table
    }
}

impl std::ops::DerefMut for TableMut<'_> {
    fn deref_mut(&mut self) -> &mut Table {
        self.table
    }
}

impl Drop for TableMut<'_> {
    fn drop(&mut self) {
        let now: Vec<&str> = object_names(self.table).collect();
        if self.table.name == *self.name
            && now.len() == self.before.len()
            && now.iter().zip(&self.before).all(|(a, b)| a == b)
        {
            return;
        }
        for name in self.before.drain(..) {
            self.object_names.remove(&(name.into(), self.name.clone()));
        }
        let table: Arc<str> = self.table.name.as_str().into();
        for name in now {
            self.object_names.insert((name.into(), table.clone()));
        }
    }
}

/// How to undo an op, derived from the schema before it.
#[derive(Debug, Clone, PartialEq)]
pub enum Inverse {
    /// Apply these ops, in order, to undo it.
    Ops(Vec<Op>),
    /// The op cannot be undone from the schema alone; the reason says why and what to do.
    Irreversible { reason: String },
}

impl Schema {
    pub fn new() -> Self {
        Schema::default()
    }

    /// Replays `ops` on an empty schema.
    pub fn from_ops<'a>(ops: impl IntoIterator<Item = &'a Op>) -> Result<Self, SchemaError> {
        let mut schema = Schema::new();
        for op in ops {
            schema.apply(op)?;
        }
        Ok(schema)
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name).map(|t| &**t)
    }

    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values().map(|t| &**t)
    }

    /// The values of enum type `name`, in order.
    pub fn enum_values(&self, name: &str) -> Option<&[String]> {
        self.enums.get(name).map(Vec::as_slice)
    }

    pub fn enums(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.enums.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Validates `op` against this schema, applies it, and returns its inverse. On error the
    /// schema is unchanged.
    pub fn apply(&mut self, op: &Op) -> Result<Inverse, SchemaError> {
        apply::apply(self, op)
    }

    /// [`Schema::apply`] without the copy that makes it atomic: on error the schema may be left
    /// half-changed. For callers that discard the schema on error (a scratch copy, a replay).
    pub(crate) fn apply_without_rollback(&mut self, op: &Op) -> Result<Inverse, SchemaError> {
        apply::apply_to(self, op).map_err(|kind| SchemaError {
            op: op.describe(),
            kind,
        })
    }

    /// Inserts a table as-is, without validation; for building expected states from a catalog.
    pub fn insert_table(&mut self, table: Table) {
        self.put_table(Arc::new(table));
    }

    /// Adds (or replaces) a table under its name.
    pub(crate) fn put_table(&mut self, table: Arc<Table>) {
        self.take_table(&table.name);
        let name: Arc<str> = table.name.as_str().into();
        for object in object_names(&table) {
            self.object_names.insert((object.into(), name.clone()));
        }
        self.tables.insert(name, table);
    }

    /// Removes a table.
    pub(crate) fn take_table(&mut self, name: &str) -> Option<Arc<Table>> {
        let (key, table) = self.tables.remove_with_key(name)?;
        for object in object_names(&table) {
            self.object_names.remove(&(object.into(), key.clone()));
        }
        Some(table)
    }

    /// A table to change in place.
    pub(crate) fn table_mut(&mut self, name: &str) -> Option<TableMut<'_>> {
        let key = self.tables.get_key_value(name)?.0.clone();
        let table = Arc::make_mut(self.tables.get_mut(name)?);
        Some(TableMut {
            before: object_names(table).map(str::to_owned).collect(),
            name: key,
            table,
            object_names: &mut self.object_names,
        })
    }

    /// The table `name` is, or whose index (or key) it is: what a reindex of `name` works on.
    pub(crate) fn table_or_index_owner(&self, name: &str) -> Option<&Table> {
        self.table(name).or_else(|| self.object_owner(name))
    }

    /// The table holding the index or constraint `name`, if any.
    pub(crate) fn object_owner(&self, name: &str) -> Option<&Table> {
        // The smallest key for `name`: an empty table name, shared rather than allocated.
        static NO_TABLE: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "".into());
        let key: (Arc<str>, Arc<str>) = (name.into(), NO_TABLE.clone());
        let (object, table) = self.object_names.range(key..).next()?;
        (**object == *name).then(|| self.table(table)).flatten()
    }

    pub fn insert_enum(&mut self, name: String, values: Vec<String>) {
        self.enums.insert(name, values);
    }

    /// Every table whose foreign keys reference `table`, other than `table` itself.
    pub fn tables_referencing<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Table> {
        // Foreign keys first: most tables have none, and every table is visited.
        self.tables().filter(move |t| {
            t.foreign_keys.iter().any(|fk| fk.ref_table == table) && t.name != table
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::Migration;
    use crate::op::Dialect;

    /// `object_names` as it should be: recomputed from the tables.
    fn recomputed(schema: &Schema) -> OrdSet<(Arc<str>, Arc<str>)> {
        schema
            .tables()
            .flat_map(|t| object_names(t).map(|n| (n.into(), t.name.as_str().into())))
            .collect()
    }

    #[test]
    fn object_names_follow_every_change_and_its_inverse() {
        let ops = Migration::record(Dialect::Postgres, |m| {
            m.create_table("users", |t| {
                t.id("id");
                t.string("email", 200).not_null();
                t.unique("users_email_key", ["email"]);
                t.index("users_email_ix", ["email"]);
            });
            m.create_table("posts", |t| {
                t.id("id");
                t.integer("author");
                t.integer("parent");
                t.check("posts_author_check", "author > 0");
                t.foreign_key("posts_author_fk", ["author"], "users", ["id"]);
                t.foreign_key("posts_parent_fk", ["parent"], "posts", ["id"]);
            });
            m.create_index("posts", "posts_author_ix", ["author"]);
            m.rename_column("posts", "author", "writer");
            m.rename_table("posts", "articles");
            m.drop_index("articles", "posts_author_ix");
            m.drop_column("users", "email");
            m.drop_foreign_key("articles", "posts_author_fk");
            m.drop_table("articles");
        });
        let mut schema = Schema::new();
        let mut inverses = Vec::new();
        for op in &ops {
            inverses.push(schema.apply(op).expect("valid op"));
            assert_eq!(schema.object_names, recomputed(&schema), "after {op:?}");
        }
        for inverse in inverses.into_iter().rev() {
            let Inverse::Ops(undo) = inverse else {
                panic!("every op here is reversible")
            };
            for op in &undo {
                schema.apply(op).expect("valid inverse");
                assert_eq!(schema.object_names, recomputed(&schema), "after {op:?}");
            }
        }
        assert_eq!(schema, Schema::new());
    }

    #[test]
    fn a_taken_name_is_found_in_the_table_that_holds_it_now() {
        let ops = Migration::record(Dialect::Postgres, |m| {
            m.create_table("posts", |t| {
                t.id("id");
                t.integer("author");
                t.index("by_author", ["author"]);
            });
            m.rename_table("posts", "articles");
        });
        let mut schema = Schema::from_ops(&ops).unwrap();
        let clash = Migration::record(Dialect::Postgres, |m| {
            m.create_table("other", |t| {
                t.id("id");
                t.index("by_author", ["id"]);
            });
        });
        let error = schema.apply(&clash[0]).unwrap_err().to_string();
        assert!(
            error.contains("index on table `articles`"),
            "unexpected error: {error}"
        );
        assert_eq!(schema.object_owner("by_author").unwrap().name, "articles");
        assert!(schema.object_owner("by_autho").is_none());
    }
}
