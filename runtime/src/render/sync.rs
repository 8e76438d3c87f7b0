//! What the three dialects' sync triggers ([`SyncTrigger`]) share: each side's assignments
//! with the dialect's expressions, the conditions spelled over `NEW` and `OLD`, and the names
//! of the triggers a dialect needs one of per event.

use super::{Ctx, RenderError};
use crate::op::{Assignment, SyncTrigger, Table};
use crate::schema::qualify_columns;

/// One side of a sync trigger: `(quoted column, expression)` pairs.
pub(super) struct Side {
    pub pairs: Vec<(String, String)>,
}

impl Side {
    /// The columns, quoted.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(c, _)| c.as_str())
    }
}

/// A sync trigger's two sides for `ctx`'s dialect. With `row` (`"NEW."`), each expression's
/// mentions of the table's columns read that row's values; without, they stay bare (a SQLite
/// trigger updates the row itself).
pub(super) fn sides(
    ctx: &Ctx,
    table: &Table,
    trigger: &SyncTrigger,
    row: Option<&str>,
) -> Result<(Side, Side), RenderError> {
    let dialect = ctx.sql.0;
    let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let side = |assignments: &[Assignment], name: &str| -> Result<Side, RenderError> {
        let mut pairs = Vec::with_capacity(assignments.len());
        for a in assignments {
            let expr = a.expr.for_dialect(dialect).ok_or_else(|| {
                ctx.refuse(
                    format!(
                        "its {name} expression for column `{}` has no spelling for {dialect}",
                        a.column
                    ),
                    format!("give one for every dialect, or one for Dialect::{dialect:?}"),
                )
            })?;
            let expr = match row {
                Some(prefix) => {
                    qualify_columns(expr, &columns, |c| format!("{prefix}{}", ctx.sql.ident(c)))
                }
                None => expr.to_owned(),
            };
            pairs.push((ctx.sql.ident(&a.column), expr));
        }
        Ok(Side { pairs })
    };
    Ok((
        side(&trigger.forward, "forward")?,
        side(&trigger.backward, "backward")?,
    ))
}

/// `each(column)` for every column of `side`, joined by `joiner`.
pub(super) fn each(side: &Side, joiner: &str, each: impl Fn(&str) -> String) -> String {
    side.columns().map(each).collect::<Vec<_>>().join(joiner)
}

/// `each(column, expression)` for every assignment of `side`, joined by `joiner`.
pub(super) fn each_pair(side: &Side, joiner: &str, each: impl Fn(&str, &str) -> String) -> String {
    side.pairs
        .iter()
        .map(|(c, e)| each(c, e))
        .collect::<Vec<_>>()
        .join(joiner)
}

/// The triggers of a dialect that needs one per event, dropped.
pub(super) fn drop_event_triggers(ctx: &Ctx, trigger: &SyncTrigger) -> Vec<String> {
    ["insert", "update"]
        .iter()
        .map(|event| {
            format!(
                "DROP TRIGGER {}",
                ctx.sql.ident(&event_trigger(&trigger.name, event))
            )
        })
        .collect()
}

/// The trigger of one event, for the dialects that need one per event: `<name>_insert`,
/// `<name>_update`, shortened to fit an identifier.
pub(crate) fn event_trigger(name: &str, event: &str) -> String {
    let suffix = format!("_{event}");
    format!(
        "{}{suffix}",
        super::truncated(name, crate::schema::MAX_IDENTIFIER_BYTES - suffix.len())
    )
}
