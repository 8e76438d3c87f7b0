//! The schema model: the one place that knows what exists.
//!
//! Ops are replayed on an in-memory [`Schema`]. Applying an op validates it against the current
//! state and returns its [`Inverse`], derived from the state before the op. Renderers read the
//! state before an op to write SQL that needs more than the op says (a SQLite table rebuild, a
//! MySQL `MODIFY COLUMN` with the full definition).

mod apply;
mod error;
mod expr;

use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) use apply::REBUILD_PREFIX;
pub use error::{SchemaError, SchemaErrorKind};
pub(crate) use expr::mentions_identifier;

use crate::op::{Op, Table};

/// The longest identifier every target accepts (PostgreSQL: 63 bytes; MySQL: 64 characters).
pub const MAX_IDENTIFIER_BYTES: usize = 63;

/// Tables and enum types, as replayed from ops or introspected from a database.
#[derive(Debug, Clone, PartialEq, std::default::Default)]
pub struct Schema {
    /// Shared until written (`Arc::make_mut`): copying a schema, once per op, costs one pointer
    /// per table instead of every table's columns and constraints.
    tables: BTreeMap<String, Arc<Table>>,
    enums: BTreeMap<String, Vec<String>>,
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
        self.tables.insert(table.name.clone(), Arc::new(table));
    }

    pub fn insert_enum(&mut self, name: String, values: Vec<String>) {
        self.enums.insert(name, values);
    }

    /// Every table whose foreign keys reference `table`, other than `table` itself.
    pub fn tables_referencing<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Table> {
        self.tables().filter(move |t| {
            t.name != table && t.foreign_keys.iter().any(|fk| fk.ref_table == table)
        })
    }
}
