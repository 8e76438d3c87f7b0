//! A job's footprint: what its ops do to which tables, read off the schema model before and
//! after each op while planning. The scheduler decides from it which jobs may commit together
//! ([`super::shared`]: the tables an op locks) and which MySQL jobs may run as a group
//! ([`super::deferred`]: the states an op leaves its tables in, as introspection finds them).

use crate::dialect::{Dialect, facts};
use crate::introspect::CatalogTable;
use crate::op::Op;
use crate::schema::Schema;

/// What a job's ops do to which tables, as the planner saw it from the model before and after
/// each op. `None` where it is not known (hand-written SQL, a Rust step) or not asked for on
/// this dialect: such a job commits alone.
#[derive(Default)]
pub(crate) struct Footprint {
    /// The tables its ops lock, in order ([`touches`]).
    pub touches: Option<Vec<Touch>>,
    /// MySQL: the states its ops leave tables in, in order ([`super::deferred`]).
    pub trace: Option<Trace>,
}

impl Footprint {
    /// An empty footprint of the kind `dialect`'s scheduler asks for.
    pub fn new(dialect: Dialect) -> Footprint {
        Footprint {
            touches: facts(dialect).shares_commits.then(Vec::new),
            trace: facts(dialect).defers_progress.then(Vec::new),
        }
    }
}

/// Adds what `op` does to a job's tables: the locks it takes ([`shared`]) and, on MySQL, the
/// states it leaves them in ([`deferred`]), with `ops_done`, the job's ops applied after it.
/// A footprint becomes unknown once one op's is.
pub(crate) fn note_op(
    footprint: &mut Footprint,
    op: &Op,
    (before, after): (&Schema, &Schema),
    dialect: Dialect,
    ops_done: usize,
) {
    if let Some(all) = &mut footprint.touches {
        match touches(op, before, after) {
            Some(more) => all.extend(more),
            None => footprint.touches = None,
        }
    }
    add_trace(&mut footprint.trace, op, (before, after), dialect, ops_done);
}

/// A table an op locks, and what it does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Touch {
    Creates(String),
    Drops(String),
    /// Locks it to change it, or to add or remove a foreign key into it.
    Locks(String),
    /// Locks `from`; `to` is the same table.
    Renames {
        from: String,
        to: String,
    },
}

/// The tables `op` locks, in order, given the model before and after it. `None` when they are
/// not known: SQL written by hand, a Rust step, an enum type (which columns of any table use).
pub(crate) fn touches(op: &Op, before: &Schema, after: &Schema) -> Option<Vec<Touch>> {
    let name = match op {
        Op::CreateTable(table) => table.name.as_str(),
        Op::DropTable { name } => name,
        Op::RenameTable { from, .. } => from,
        _ => op.changes_only_table()?,
    };
    let (was, is) = (before.table(name), after.table(name));
    let mut touches = vec![match (op, was, is) {
        (Op::RenameTable { from, to }, ..) => Touch::Renames {
            from: from.clone(),
            to: to.clone(),
        },
        (_, None, Some(_)) => Touch::Creates(name.to_owned()),
        (_, Some(_), None) => Touch::Drops(name.to_owned()),
        _ => Touch::Locks(name.to_owned()),
    }];
    // Adding or removing a foreign key locks the table it references; so may any change of the
    // table, as far as this knows.
    touches.extend(
        was.into_iter()
            .chain(is)
            .flat_map(|table| &table.foreign_keys)
            .filter(|fk| fk.ref_table != name)
            .map(|fk| Touch::Locks(fk.ref_table.clone())),
    );
    // Writes to the tables with a foreign key into this one wait for its lock too.
    if was.is_some() {
        touches.extend(
            before
                .tables_referencing(name)
                .map(|table| Touch::Locks(table.name.clone())),
        );
    }
    Some(touches)
}

/// A table an op touches, as introspection finds it before and after the op (`None`: absent).
#[derive(Debug, Clone)]
pub(crate) struct TableChange {
    pub name: String,
    pub before: Option<CatalogTable>,
    pub after: Option<CatalogTable>,
}

/// An op a job applies to the model: the tables it touches, and the job's ops applied after it.
#[derive(Debug, Clone)]
pub(crate) struct TracedOp {
    pub ops_done: usize,
    pub changes: Vec<TableChange>,
}

/// The ops a job applies to the model, in the order it runs them.
pub(crate) type Trace = Vec<TracedOp>;

/// The tables `op` touches; `None` when not known (SQL written by hand, a Rust step) or when
/// introspection may not read one of them back as it is ([`CatalogTable::reads_back`]).
pub(crate) fn changes(
    op: &Op,
    before: &Schema,
    after: &Schema,
    dialect: Dialect,
) -> Option<Vec<TableChange>> {
    let touches = touches(op, before, after)?;
    let mut names: Vec<&str> = Vec::new();
    for touch in &touches {
        let (first, second) = match touch {
            Touch::Creates(name) | Touch::Drops(name) | Touch::Locks(name) => (name, None),
            Touch::Renames { from, to } => (from, Some(to)),
        };
        for name in std::iter::once(first).chain(second) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    let catalog = |schema: &Schema, name: &str| {
        schema
            .table(name)
            .map(|t| unordered(CatalogTable::expected(schema, t, dialect)))
    };
    names
        .into_iter()
        .map(|name| {
            let change = TableChange {
                name: name.to_owned(),
                before: catalog(before, name),
                after: catalog(after, name),
            };
            let reads_back = |state: &Option<CatalogTable>| {
                state.as_ref().is_none_or(|t| t.reads_back(name, dialect))
            };
            (reads_back(&change.before) && reads_back(&change.after)).then_some(change)
        })
        .collect()
}

/// A table's state with its columns in name order. A revert re-adds a dropped column last, so
/// one state of a table may have its columns in more than one order; no op changes only that.
///
/// Triggers are left out too: the application may have its own on any table, which the model
/// does not know, and that must not keep a run from finding where it stopped.
pub(crate) fn unordered(mut table: CatalogTable) -> CatalogTable {
    table.columns.sort_by(|a, b| a.name.cmp(&b.name));
    table.triggers.clear();
    table
}

/// Adds `op`'s changes to a job's trace, which becomes unknown once one op's are; `ops_done`:
/// the job's ops applied after `op`.
fn add_trace(
    trace: &mut Option<Trace>,
    op: &Op,
    (before, after): (&Schema, &Schema),
    dialect: Dialect,
    ops_done: usize,
) {
    let Some(all) = trace else { return };
    match changes(op, before, after, dialect) {
        Some(changes) => all.push(TracedOp { ops_done, changes }),
        None => *trace = None,
    }
}
