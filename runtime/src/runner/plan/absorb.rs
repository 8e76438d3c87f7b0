//! What a table's create or drop absorbs. Going up, a table created in a migration is created
//! whole with the parts the ops right after it add; going down, reverts that only take parts
//! off a table the migration then drops are left to that drop.

use super::part;
use super::replay::Advanced;
use crate::dialect::{Dialect, facts};
use crate::op::Op;
use crate::runner::error::ModelError;
use crate::runner::job::Step;
use crate::schema::Schema;

/// The steps of `group` (ops from `first_op` on, applied to the model as `advanced`, leaving
/// it at `after`): its table created whole with as many of the parts after it as can be, when
/// the model takes that as one op (a foreign key into the table's own unique index needs that
/// index first) and the step cannot stop halfway; the rest op by op. A dialect's refusal then
/// names the op at fault.
pub(crate) fn group_steps(
    first_op: usize,
    group: &[Op],
    advanced: &[Advanced],
    after: &Schema,
    dialect: Dialect,
    safe: Option<Safe>,
) -> Result<Vec<Step>, ModelError> {
    // PostgreSQL and SQLite run every step in a transaction of its own at least; on MySQL only
    // a single statement is all or nothing.
    let in_transaction = facts(dialect).transactional_ddl;
    let state_after = |len: usize| advanced.get(len).map_or(after, |next| &next.before);
    let mut whole = None;
    if let [Op::CreateTable(table), ..] = group {
        for len in (2..=group.len()).rev() {
            let Some(created) = state_after(len).table(&table.name) else {
                continue;
            };
            let op = Op::CreateTable(created.clone());
            let fits = advanced[0]
                .before
                .clone()
                .apply_without_rollback(&op)
                .is_ok();
            let rendered = fits
                .then(|| advanced[0].render(&op, state_after(len), dialect).ok())
                .flatten()
                .filter(|rendered| in_transaction || rendered.statements.len() == 1);
            if let Some(rendered) = rendered {
                whole = Some((len, op, rendered));
                break;
            }
        }
    }
    let mut steps = Vec::with_capacity(group.len());
    let mut done = 0;
    if let Some((len, op, rendered)) = whole {
        let described: Vec<String> = group[..len].iter().map(Op::describe).collect();
        steps.push(Step {
            op_index: first_op + len - 1,
            first_op,
            description: described.join(" and "),
            parts: vec![part(&op, rendered)],
        });
        done = len;
    }
    for (offset, op) in group.iter().enumerate().skip(done) {
        let (before, after) = (&advanced[offset].before, state_after(offset + 1));
        let rendered = render_op(op, (before, after), dialect, safe.as_ref())?;
        steps.push(Step::one(
            first_op + offset,
            op.describe(),
            vec![part(op, rendered)],
        ));
    }
    Ok(steps)
}

/// Safe sequences asked for: for `server`, on the tables in `existing`.
pub(crate) struct Safe<'a> {
    pub server: crate::dialect::Server,
    pub existing: &'a std::collections::BTreeSet<String>,
}

/// `op`'s SQL between `before` and `after`: its safe sequence when `safe` asks for one and its
/// table has rows to lock (one in `existing`), else its plain form.
pub(crate) fn render_op(
    op: &Op,
    (before, after): (&Schema, &Schema),
    dialect: Dialect,
    safe: Option<&Safe>,
) -> Result<crate::render::RenderedOp, ModelError> {
    let table = match op {
        Op::Maintenance(maintenance) => before
            .table_or_index_owner(maintenance.subject())
            .map(|t| t.name.as_str()),
        _ => op.changes_only_table(),
    };
    if let Some(safe) = safe
        && table.is_some_and(|t| safe.existing.contains(t))
        && let Some(rendered) = crate::render::render_safe(op, before, after, safe.server)?
    {
        return Ok(rendered);
    }
    Ok(crate::render::render(op, before, after, dialect)?)
}

/// When `ops` starts by creating a table: how many of the ops right after only add parts to it.
/// A runner can create the table whole, with them: one `CREATE TABLE` carries the parts it can
/// (on MySQL all of them, so one statement and one implicit commit; on SQLite its constraints,
/// so no table rebuild).
pub(crate) fn parts_created_with_table(ops: &[Op]) -> usize {
    let Some((Op::CreateTable(table), rest)) = ops.split_first() else {
        return 0;
    };
    rest.iter()
        .take_while(|op| adds_part_to(op) == Some(table.name.as_str()))
        .count()
}

/// Whether `ops` can be left to a drop of their table that follows them: `ops` only change one
/// table's own columns, indexes and constraints, and the op lists in `next` (in the order they
/// run) only change more of it until one drops the table, which makes every change moot. A
/// downgrade that reverts "create a table, then index it" then sends one `DROP TABLE`: one
/// statement, one lock, no SQLite rebuild and, on MySQL, one implicit commit fewer per change.
pub(crate) fn left_to_table_drop<'a>(ops: &[Op], next: impl IntoIterator<Item = &'a [Op]>) -> bool {
    let Some(table) = ops.first().and_then(Op::changes_only_table) else {
        return false;
    };
    let only_this_table =
        |ops: &[Op]| !ops.is_empty() && ops.iter().all(|op| op.changes_only_table() == Some(table));
    if !only_this_table(ops) {
        return false;
    }
    for later in next {
        match later {
            [Op::DropTable { name }] => return name == table,
            _ if only_this_table(later) => {}
            _ => return false,
        }
    }
    false
}

/// The table this op only adds a part to (a column, a plain index, a constraint), if that
/// is all it does: a part that `CREATE TABLE` can carry.
fn adds_part_to(op: &Op) -> Option<&str> {
    match op {
        Op::AddColumn { table, .. }
        | Op::CreateIndex {
            table,
            concurrently: false,
            ..
        }
        | Op::AddPrimaryKey { table, .. }
        | Op::AddUnique { table, .. }
        | Op::AddCheck { table, .. }
        | Op::AddForeignKey { table, .. } => Some(table),
        _ => None,
    }
}
