//! The SQL of a backfill: the queries that fix its work, find each batch's keys and update one
//! batch. Keys travel as text (read with a cast, written back as literals), so that one
//! checkpoint format serves every key type the schema model lets a backfill page by.
//!
//! A batch is `after < key <= through`: `after` is the last key of the batch before (none for
//! the first), `through` the last key of this one, found by reading at most `size` keys in
//! order. No `OFFSET`: each lookup starts at an index position.

use std::fmt::Write as _;

use super::{Ctx, RenderError, RenderedOp, Sql};
use crate::op::{Backfill, Batching, ColumnType, Dialect, RowChange};

/// One backfill, rendered for one dialect: everything but the key values, which the runner
/// reads as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchedUpdate {
    pub dialect: Dialect,
    /// The table, as the model names it.
    pub table: String,
    /// The key it pages by, in order.
    pub key: Vec<KeyColumn>,
    /// `"a" = expr, "b" = expr`.
    pub set: String,
    /// The predicate of the rows still to do, as written.
    pub only: Option<String>,
    pub batching: Batching,
    /// Instead of updating the rows, copy them into another table (`set` is empty then).
    pub copy: Option<Box<CopyRows>>,
}

/// Where the batches of a copy write the rows they read (PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRows {
    /// The table the rows go to, as the model names it.
    pub into: String,
    /// The columns copied, alike in both tables.
    pub columns: Vec<String>,
    /// Run before the work is fixed, and again when the copy resumes (so each may run twice):
    /// what the rows go to, and what carries over the writes made meanwhile.
    pub setup: Vec<String>,
}

/// A batched copy of `table`'s rows into another, by `key` (see [`CopyRows`]).
pub(super) fn copy(
    ctx: &Ctx,
    table: &crate::op::Table,
    copy: CopyRows,
    batching: Batching,
) -> Result<RenderedOp, RenderError> {
    Ok(RenderedOp {
        outside_transaction: true,
        batched: Some(BatchedUpdate {
            dialect: ctx.sql.0,
            table: table.name.clone(),
            key: key_columns(ctx, table)?,
            set: String::new(),
            only: None,
            batching,
            copy: Some(Box::new(copy)),
        }),
        ..RenderedOp::default()
    })
}

fn key_columns(ctx: &Ctx, table: &crate::op::Table) -> Result<Vec<KeyColumn>, RenderError> {
    let key = crate::schema::batch_key(table)
        .map_err(|reason| ctx.refuse(reason, "give the table a primary key first"))?;
    Ok(key
        .iter()
        .map(|name| KeyColumn {
            name: name.clone(),
            number: table
                .column(name)
                .is_some_and(|c| c.ty.is_integer() || matches!(c.ty, ColumnType::Decimal(..))),
        })
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    pub name: String,
    /// Written back as a number rather than a string literal (an integer or a decimal, which
    /// MySQL would otherwise compare with a string as a double).
    pub number: bool,
}

/// A key as the runner holds it: one text value per key column.
pub type Key = [String];

pub(super) fn render(ctx: &Ctx, b: &Backfill) -> Result<RenderedOp, RenderError> {
    let dialect = ctx.sql.0;
    let table = ctx.before_table(&b.table)?;
    let key = key_columns(ctx, table)?;
    let (set, only) = change_sql(ctx, &b.change)?;
    Ok(RenderedOp {
        outside_transaction: true,
        batched: Some(BatchedUpdate {
            dialect,
            table: b.table.clone(),
            key,
            set,
            only,
            batching: b.batching,
            copy: None,
        }),
        ..RenderedOp::default()
    })
}

fn change_sql(ctx: &Ctx, change: &RowChange) -> Result<(String, Option<String>), RenderError> {
    let dialect = ctx.sql.0;
    let mut set = Vec::with_capacity(change.set.len());
    for assignment in &change.set {
        let expr =
            assignment.expr.for_dialect(dialect).ok_or_else(|| {
                ctx.refuse(
                format!("column `{}` has no expression for {dialect}", assignment.column),
                format!(
                    "add `.set({:?}, ..)` for every dialect or `.set_on(Dialect::{dialect:?}, ..)`",
                    assignment.column
                ),
            )
            })?;
        set.push(format!("{} = {expr}", ctx.sql.ident(&assignment.column)));
    }
    let only = match &change.only {
        None => None,
        Some(only) => Some(
            only.for_dialect(dialect)
                .ok_or_else(|| {
                    ctx.refuse(
                        format!("its `only` predicate has no spelling for {dialect}"),
                        format!("add `.only(..)` or `.only_on(Dialect::{dialect:?}, ..)`"),
                    )
                })?
                .to_owned(),
        ),
    };
    Ok((set.join(", "), only))
}

impl BatchedUpdate {
    fn sql(&self) -> Sql {
        Sql(self.dialect)
    }

    fn table_sql(&self) -> String {
        self.sql().ident(&self.table)
    }

    fn columns(&self) -> Vec<String> {
        self.key.iter().map(|k| self.sql().ident(&k.name)).collect()
    }

    fn as_text(&self, expr: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("CAST({expr} AS CHAR)"),
            Dialect::Postgres | Dialect::Sqlite => format!("CAST({expr} AS TEXT)"),
        }
    }

    fn order(&self, descending: bool) -> String {
        let direction = if descending { " DESC" } else { "" };
        self.columns()
            .iter()
            .map(|c| format!("{c}{direction}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key columns, as text. Named apart from the columns: PostgreSQL would otherwise
    /// order by the text it outputs under the column's own name.
    fn key_text(&self) -> String {
        self.columns()
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS key_{i}", self.as_text(c)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The literals of a key; `None` when it has not one value per key column, or a value of
    /// a numeric column is not a number (a checkpoint damaged or edited by hand).
    pub fn literals(&self, key: &Key) -> Option<Vec<String>> {
        if key.len() != self.key.len() {
            return None;
        }
        self.key
            .iter()
            .zip(key)
            .map(|(column, value)| match column.number {
                true => is_number(value).then(|| value.clone()),
                false => Some(self.sql().string(value)),
            })
            .collect()
    }

    /// `key > values` (`strict`) or `key <= values`, over literals. Row values compare in
    /// order on PostgreSQL and SQLite; MySQL, which does not use an index for them, gets the
    /// comparison spelled out, led by its first column's range.
    fn compare(&self, values: &[String], greater: bool) -> String {
        let columns = self.columns();
        if let ([column], [value]) = (columns.as_slice(), values) {
            let op = if greater { ">" } else { "<=" };
            return format!("{column} {op} {value}");
        }
        match self.dialect {
            Dialect::Postgres | Dialect::Sqlite => {
                let op = if greater { ">" } else { "<=" };
                format!("({}) {op} ({})", columns.join(", "), values.join(", "))
            }
            Dialect::Mysql => {
                let (lead, strict, last) = if greater {
                    (">=", ">", ">")
                } else {
                    ("<=", "<", "<=")
                };
                let mut spelled = format!(
                    "{} {last} {}",
                    columns[columns.len() - 1],
                    values[values.len() - 1]
                );
                for (column, value) in columns.iter().zip(values).rev().skip(1) {
                    spelled = format!(
                        "{column} {strict} {value} OR ({column} = {value} AND ({spelled}))"
                    );
                }
                format!("{} {lead} {} AND ({spelled})", columns[0], values[0])
            }
        }
    }

    fn range(&self, after: Option<&[String]>, through: &[String]) -> String {
        let mut range = String::new();
        if let Some(after) = after {
            let _ = write!(range, "{} AND ", self.compare(after, true));
        }
        range.push_str(&self.compare(through, false));
        range
    }

    /// The first key of the table now: where parallel slices start.
    pub fn first_key_sql(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT 1",
            self.key_text(),
            self.table_sql(),
            self.order(false)
        )
    }

    /// The last key of the table now: the end of the backfill's work.
    pub fn last_key_sql(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT 1",
            self.key_text(),
            self.table_sql(),
            self.order(true)
        )
    }

    /// The last key of the next batch of at most `size` rows after `after` (literals), up to
    /// `end` (literals), and how many rows the batch holds; no row, or a count of 0, when
    /// nothing is left.
    pub fn next_batch_sql(&self, after: Option<&[String]>, end: &[String], size: u32) -> String {
        let columns = self.columns().join(", ");
        if let ([column], [KeyColumn { number: true, .. }]) =
            (self.columns().as_slice(), self.key.as_slice())
        {
            // One aggregate over the batch: no window, no second sort (`max` is defined for
            // numbers everywhere; PostgreSQL has none for uuid). An empty batch gives one row
            // with a NULL key and a count of 0.
            return format!(
                "SELECT {} AS key_0, {} AS batch_rows FROM (SELECT {column} FROM {} WHERE {} \
                 ORDER BY {column} LIMIT {size}) AS batch",
                self.as_text(&format!("MAX({column})")),
                self.as_text("COUNT(*)"),
                self.table_sql(),
                self.range(after, end),
            );
        }
        let count = format!("{} AS batch_rows", self.as_text("COUNT(*) OVER ()"));
        format!(
            "SELECT {}, {count} FROM (SELECT {columns} FROM {} WHERE {} ORDER BY {} LIMIT {size}) \
             AS batch ORDER BY {} LIMIT 1",
            self.key_text(),
            self.table_sql(),
            self.range(after, end),
            self.order(false),
            self.order(true),
        )
    }

    /// The update of the rows after `after` through `through` (literals); for a copy, their
    /// insert into the other table. A copy locks the rows it reads, so that a write to one
    /// waits for the batch and then finds the copied row to carry its change over to.
    pub fn update_sql(&self, after: Option<&[String]>, through: &[String]) -> String {
        if let Some(copy) = &self.copy {
            let columns = self.sql().idents(&copy.columns);
            return format!(
                "INSERT INTO {} ({columns}) SELECT {columns} FROM {} WHERE {} FOR SHARE \
                 ON CONFLICT DO NOTHING",
                self.sql().ident(&copy.into),
                self.table_sql(),
                self.range(after, through)
            );
        }
        let mut sql = format!(
            "UPDATE {} SET {} WHERE {}",
            self.table_sql(),
            self.set,
            self.range(after, through)
        );
        if let Some(only) = &self.only {
            let _ = write!(sql, " AND ({only})");
        }
        sql
    }

    /// The rows the table holds, from the planner's statistics where they are kept; `None`
    /// where they are not (SQLite), or not gathered yet.
    pub fn estimate_sql(&self) -> Option<String> {
        let name = self.sql().string(&self.table);
        match self.dialect {
            Dialect::Postgres => Some(format!(
                "SELECT CAST(CAST(reltuples AS BIGINT) AS TEXT) FROM pg_class \
                 WHERE oid = to_regclass({}) AND reltuples > 0",
                self.sql().string(&self.table_sql())
            )),
            Dialect::Mysql => Some(format!(
                "SELECT CAST(table_rows AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = {name} AND table_rows > 0"
            )),
            Dialect::Sqlite => None,
        }
    }

    /// The rows up to `end` (literals), counted.
    pub fn count_sql(&self, end: &[String]) -> String {
        format!(
            "SELECT {} FROM {} WHERE {}",
            self.as_text("COUNT(*)"),
            self.table_sql(),
            self.compare(end, false)
        )
    }

    fn key_names(&self) -> String {
        match self.key.as_slice() {
            [one] => one.name.clone(),
            many => {
                let names: Vec<&str> = many.iter().map(|k| k.name.as_str()).collect();
                format!("({})", names.join(", "))
            }
        }
    }

    /// A key, for messages: `id 2000`, `(tenant, id) (7, 2000)`.
    pub fn describe_key(&self, key: &Key) -> String {
        format!("{} {}", self.key_names(), tuple(key))
    }

    /// The keys of a batch, for messages: `id in (1000, 2000]`.
    pub fn describe_range(&self, after: Option<&Key>, through: &Key) -> String {
        let names = self.key_names();
        match after {
            Some(after) => format!("{names} in ({}, {}]", tuple(after), tuple(through)),
            None => format!("{names} up to {} (the first batch)", tuple(through)),
        }
    }

    /// What `sql` and `show` print: how it runs, and the statement of every batch with the
    /// key values as placeholders.
    pub fn script(&self) -> String {
        let names: Vec<String> = self.key.iter().map(|k| k.name.clone()).collect();
        let after: Vec<String> = names.iter().map(|n| format!(":after_{n}")).collect();
        let through: Vec<String> = names.iter().map(|n| format!(":through_{n}")).collect();
        let mut out = String::new();
        if let Some(copy) = &self.copy {
            let _ = writeln!(out, "-- before the first batch, and again when it resumes:");
            for sql in &copy.setup {
                let _ = writeln!(out, "{sql};");
            }
        }
        let _ = writeln!(
            out,
            "-- {} of {} by key ({}), batch size {}, each batch one transaction with its \
             checkpoint; the first batch has no lower bound:",
            if self.copy.is_some() {
                "copy"
            } else {
                "backfill"
            },
            self.table,
            names.join(", "),
            self.batching.batch_size,
        );
        let _ = writeln!(out, "{};", self.update_sql(Some(&after), &through));
        out
    }
}

/// `-12`, `3.50`: digits, an optional sign and an optional decimal point, as a database writes
/// an integer or a decimal as text.
fn is_number(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn tuple(key: &Key) -> String {
    match key {
        [one] => one.clone(),
        many => format!("({})", many.join(", ")),
    }
}
