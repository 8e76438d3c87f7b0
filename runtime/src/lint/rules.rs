//! The rules, op by op: which fire on `ctx.op`, on `ctx.server`, and what they say.

use std::collections::BTreeSet;

use super::{Lint, Severity};
use crate::dialect::{Server, ServerKind};
use crate::op::{ColumnChange, ColumnType, DefaultValue, Dialect, Maintenance, Op, RawSql};
use crate::schema::Schema;

/// What a rule sees of one op.
pub(super) struct OpContext<'a> {
    pub server: Server,
    pub op: &'a Op,
    pub before: &'a Schema,
    pub after: &'a Schema,
    /// Tables created in the scope being linted: they hold no rows yet.
    pub fresh: &'a BTreeSet<String>,
    /// The migration is marked `contract`.
    pub contract: bool,
}

impl OpContext<'_> {
    /// A table that existed before the scope: one whose rows an op can lock or lose.
    fn existing(&self, table: &str) -> bool {
        !self.fresh.contains(table) && self.before.table(table).is_some()
    }

    fn dialect(&self) -> Dialect {
        self.server.dialect()
    }
}

/// A rule firing.
pub(super) struct Hit {
    pub lint: Lint,
    /// When it differs from the rule's own.
    pub severity: Option<Severity>,
    pub table: Option<String>,
    pub message: String,
    pub fix: String,
}

fn hit(lint: Lint, table: &str, message: String, fix: impl Into<String>) -> Hit {
    Hit {
        lint,
        severity: None,
        table: Some(table.to_owned()),
        message,
        fix: fix.into(),
    }
}

const SAFE: &str = "run it with `--safe` (or mark the migration `safe`) to get";

pub(super) fn check_op(ctx: &OpContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    let server = ctx.server;
    match ctx.op {
        Op::CreateIndex {
            table,
            index,
            concurrently: false,
        } if ctx.dialect() == Dialect::Postgres && ctx.existing(table) => hits.push(hit(
            Lint::IndexWithoutConcurrently,
            table,
            format!(
                "building index `{}` takes a SHARE lock on `{table}`: every write to it waits \
                 until the whole index is built",
                index.name
            ),
            format!("`.concurrently()`; {SAFE} CREATE INDEX CONCURRENTLY in its own step"),
        )),
        Op::DropIndex {
            table,
            name,
            concurrently: false,
        } if ctx.dialect() == Dialect::Postgres && ctx.existing(table) => hits.push(hit(
            Lint::DropIndexWithoutConcurrently,
            table,
            format!(
                "dropping index `{name}` takes an ACCESS EXCLUSIVE lock on `{table}`: reads and \
                 writes queue behind it while it waits for running queries"
            ),
            format!("`.concurrently()`; {SAFE} DROP INDEX CONCURRENTLY"),
        )),
        Op::AddForeignKey { table, foreign_key } if ctx.existing(table) => match ctx.dialect() {
            Dialect::Postgres => hits.push(hit(
                Lint::ValidatingForeignKey,
                table,
                format!(
                    "adding foreign key `{}` checks every row of `{table}` while holding SHARE \
                     ROW EXCLUSIVE locks on `{table}` and `{}`: writes to both wait for the scan",
                    foreign_key.name, foreign_key.ref_table
                ),
                format!(
                    "{SAFE} ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a later \
                     transaction, which does not block writes"
                ),
            )),
            Dialect::Mysql => hits.push(hit(
                Lint::ValidatingForeignKey,
                table,
                format!(
                    "adding foreign key `{}` with foreign_key_checks on copies `{table}` \
                     (ALGORITHM=COPY): writes wait for the whole copy",
                    foreign_key.name
                ),
                "declare the key when the table is created, or add it while the table is small; \
                 on a large table, plan a maintenance window",
            )),
            Dialect::Sqlite => {}
        },
        Op::AddCheck { table, check } if ctx.existing(table) => match ctx.dialect() {
            Dialect::Postgres => hits.push(hit(
                Lint::ValidatingCheck,
                table,
                format!(
                    "adding check `{}` scans every row of `{table}` under an ACCESS EXCLUSIVE \
                     lock: reads and writes wait for the scan",
                    check.name
                ),
                format!("{SAFE} ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT"),
            )),
            Dialect::Mysql => hits.push(hit(
                Lint::ValidatingCheck,
                table,
                format!(
                    "adding check `{}` copies `{table}` to validate it (ALGORITHM=COPY): writes \
                     wait for the whole copy",
                    check.name
                ),
                "declare the check when the table is created; on a large table, plan a \
                 maintenance window",
            )),
            Dialect::Sqlite => {}
        },
        Op::AlterColumn {
            table,
            column,
            change,
        } if ctx.existing(table) => alter_column(ctx, table, column, change, &mut hits),
        Op::AddPrimaryKey { table, .. } | Op::AddUnique { table, .. } if ctx.existing(table) => {
            let (what, name) = match ctx.op {
                Op::AddPrimaryKey { primary_key, .. } => ("primary key", &primary_key.name),
                Op::AddUnique { unique, .. } => ("unique constraint", &unique.name),
                _ => unreachable!("matched above"),
            };
            match ctx.dialect() {
                Dialect::Postgres => hits.push(hit(
                    Lint::UniqueBuiltUnderLock,
                    table,
                    format!(
                        "adding {what} `{name}` builds its index under an ACCESS EXCLUSIVE lock \
                         on `{table}`: reads and writes wait for the build"
                    ),
                    format!(
                        "{SAFE} CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … USING \
                         INDEX (a primary key needs its columns NOT NULL first)"
                    ),
                )),
                Dialect::Mysql if matches!(ctx.op, Op::AddPrimaryKey { .. }) => {
                    hits.push(Hit {
                        severity: Some(Severity::Warning),
                        ..hit(
                            Lint::UniqueBuiltUnderLock,
                            table,
                            format!(
                                "adding primary key `{name}` rebuilds `{table}` (InnoDB \
                                 clusters rows by it): writes continue, but it takes as long \
                                 as copying the table"
                            ),
                            "declare the key when the table is created",
                        )
                    });
                }
                _ => {}
            }
        }
        Op::AddColumn { table, column } if ctx.existing(table) => {
            if !column.nullable && column.default.is_none() && !column.auto_increment {
                hits.push(hit(
                    Lint::NotNullWithoutDefault,
                    table,
                    format!(
                        "NOT NULL column `{}` without a default: {}",
                        column.name,
                        match ctx.dialect() {
                            Dialect::Mysql =>
                                "MySQL fills the existing rows with the type's zero value \
                                 (0, '', 0000-00-00) without a word",
                            _ => "the migration fails as soon as the table has a row",
                        }
                    ),
                    "give it a default, or add it nullable, backfill it (`m.backfill`), then \
                     `set_not_null`",
                ));
            }
            match ctx.dialect() {
                Dialect::Postgres => {
                    if let Some(why) = rewriting_default(server, column.default.as_ref()) {
                        hits.push(hit(
                            Lint::VolatileDefault,
                            table,
                            format!(
                                "column `{}` is added with {why}: PostgreSQL rewrites every row \
                                 of `{table}` under an ACCESS EXCLUSIVE lock",
                                column.name
                            ),
                            "add the column without a default (or with a constant one), set \
                             the default, then fill existing rows with `m.backfill`",
                        ));
                    }
                }
                Dialect::Mysql if !crate::render::instant_add_column(server, column) => {
                    let why = if column.auto_increment {
                        "an AUTO_INCREMENT column is added with a rebuild that blocks writes"
                            .to_owned()
                    } else if matches!(
                        column.default,
                        Some(DefaultValue::Expr(_) | DefaultValue::Now)
                    ) {
                        "a column with an expression default cannot be added INSTANT: the table \
                         is rebuilt"
                            .to_owned()
                    } else {
                        format!(
                            "{server} cannot add a column INSTANT ({}): the table is rebuilt",
                            match server.kind {
                                ServerKind::Mariadb => "MariaDB 10.3.2+ can",
                                _ => "MySQL 8.0.12+ can",
                            }
                        )
                    };
                    hits.push(hit(
                        Lint::AddColumnRebuilds,
                        table,
                        format!(
                            "adding `{}` to `{table}`: {why}, which takes as long as copying it",
                            column.name
                        ),
                        "a nullable column or a constant default is added INSTANT on MySQL \
                         8.0.12+ and MariaDB 10.3.2+; otherwise plan for the rebuild",
                    ));
                }
                _ => {}
            }
        }
        Op::RemoveEnumValue { name, value } => {
            let users: Vec<String> = ctx
                .before
                .tables()
                .filter(|t| !ctx.fresh.contains(&t.name))
                .filter(|t| {
                    t.columns
                        .iter()
                        .any(|c| matches!(&c.ty, ColumnType::Enum(n) if n == name))
                })
                .map(|t| format!("`{}`", t.name))
                .collect();
            if !users.is_empty() {
                let how = match ctx.dialect() {
                    Dialect::Postgres => {
                        "PostgreSQL cannot drop an enum value: the type is recreated and every \
                         column using it rewritten under an ACCESS EXCLUSIVE lock"
                    }
                    Dialect::Mysql => "each column using it is redefined, copying its table",
                    Dialect::Sqlite => "each table using it is rebuilt",
                };
                hits.push(Hit {
                    lint: Lint::EnumValueRemoved,
                    severity: None,
                    table: None,
                    message: format!(
                        "removing `{value}` from enum `{name}` (used by {}): {how}; a row still \
                         holding it fails the migration",
                        users.join(", ")
                    ),
                    fix: "stop writing the value, rewrite the rows holding it with `m.backfill`, \
                          and remove it in a maintenance window"
                        .into(),
                });
            }
        }
        Op::Maintenance(Maintenance::Reindex {
            name,
            concurrently: false,
        }) if ctx.dialect() == Dialect::Postgres => {
            if let Some(table) = ctx
                .before
                .table_or_index_owner(name)
                .map(|t| t.name.clone())
                .filter(|t| ctx.existing(t))
            {
                hits.push(hit(
                    Lint::IndexWithoutConcurrently,
                    &table,
                    format!(
                        "REINDEX of `{name}` locks `{table}` against writes (and the index \
                         against reads) until the rebuild ends"
                    ),
                    format!("`.concurrently()`; {SAFE} REINDEX CONCURRENTLY"),
                ));
            }
        }
        Op::Maintenance(Maintenance::Vacuum { table })
            if ctx.dialect() == Dialect::Sqlite && ctx.existing(table) =>
        {
            hits.push(hit(
                Lint::SqliteRebuild,
                table,
                "VACUUM copies the whole database file, holding its write lock throughout".into(),
                "fine for a small database; for a large one, expect it locked for as long as \
                 the copy takes",
            ));
        }
        Op::DetachPartition {
            table,
            name,
            concurrently: true,
        } if ctx.dialect() == Dialect::Postgres && !server.at_least(14, 0, 0) => {
            hits.push(hit(
                Lint::NeedsNewerServer,
                table,
                format!(
                    "DETACH PARTITION … CONCURRENTLY of `{name}` needs PostgreSQL 14; {server} \
                     refuses it"
                ),
                "target PostgreSQL 14+ (`--server postgres@14`), or detach without \
                 `.concurrently()`",
            ));
        }
        Op::CreateTable(_)
        | Op::CreatePartition { .. }
        | Op::AttachPartition { .. }
        | Op::DropPartition { .. }
        | Op::DetachPartition { .. }
        | Op::PartitionTable(_)
        | Op::UnpartitionTable { .. } => partitions(ctx, &mut hits),
        Op::RawSql(raw) => raw_sql(ctx, raw, &mut hits),
        Op::Savepoint(savepoint) => {
            for op in &savepoint.ops {
                if let Op::RawSql(raw) = op {
                    raw_sql(ctx, raw, &mut hits);
                }
            }
        }
        Op::Rust(step) => {
            let existing: Vec<&str> = ctx
                .before
                .tables()
                .map(|t| t.name.as_str())
                .filter(|t| !ctx.fresh.contains(*t))
                .collect();
            if !existing.is_empty() {
                hits.push(Hit {
                    lint: Lint::UnbatchedDataChange,
                    severity: None,
                    table: None,
                    message: format!(
                        "Rust step `{}` runs in one go: on a large table its writes hold their \
                         row locks (and on MySQL the whole step) until it ends",
                        step.name
                    ),
                    fix: "for an UPDATE of existing rows, use `m.backfill(table, …)`: keyset \
                          batches, each its own short transaction, resumable"
                        .into(),
                });
            }
        }
        _ => {}
    }
    renames_and_drops(ctx, &mut hits);
    if ctx.dialect() == Dialect::Sqlite {
        sqlite_rebuild(ctx, &mut hits);
    }
    hits
}

fn alter_column(
    ctx: &OpContext,
    table: &str,
    column: &str,
    change: &ColumnChange,
    hits: &mut Vec<Hit>,
) {
    match change {
        ColumnChange::SetNullable(false) => match ctx.dialect() {
            Dialect::Postgres => hits.push(hit(
                Lint::SetNotNullScan,
                table,
                format!(
                    "SET NOT NULL on `{table}`.`{column}` scans every row under an ACCESS \
                     EXCLUSIVE lock: reads and writes wait for the scan"
                ),
                if ctx.server.at_least(12, 0, 0) {
                    format!(
                        "{SAFE} a CHECK (… IS NOT NULL) NOT VALID, VALIDATE, SET NOT NULL \
                         (which then skips the scan), and the check dropped"
                    )
                } else {
                    "PostgreSQL 12+ can skip the scan with a validated CHECK; before it, plan a \
                     maintenance window"
                        .to_owned()
                },
            )),
            Dialect::Mysql => hits.push(Hit {
                severity: Some(Severity::Warning),
                ..hit(
                    Lint::SetNotNullScan,
                    table,
                    format!(
                        "making `{table}`.`{column}` NOT NULL rebuilds the table: writes \
                         continue, but it takes as long as copying it, and a NULL left fails it"
                    ),
                    "backfill the NULLs first (`m.backfill`); on a large table, plan for the \
                     rebuild",
                )
            }),
            Dialect::Sqlite => {}
        },
        ColumnChange::SetType { ty, using } => {
            let Some(old) = ctx
                .before
                .table(table)
                .and_then(|t| t.column(column))
                .map(|c| &c.ty)
            else {
                return;
            };
            let rewrite = match ctx.dialect() {
                Dialect::Postgres => (using.is_some() || !postgres_binary_compatible(old, ty))
                    .then(|| {
                        format!(
                            "changing `{table}`.`{column}` from {old} to {ty} rewrites every \
                             row and its indexes under an ACCESS EXCLUSIVE lock"
                        )
                    }),
                Dialect::Mysql => (!mysql_in_place(old, ty)).then(|| {
                    format!(
                        "changing `{table}`.`{column}` from {old} to {ty} copies the table \
                         (ALGORITHM=COPY): writes wait for the whole copy"
                    )
                }),
                Dialect::Sqlite => None,
            };
            if let Some(message) = rewrite {
                hits.push(hit(
                    Lint::TypeChangeRewrites,
                    table,
                    message,
                    "expand/contract instead: add a column of the new type, keep it in step \
                     with `m.create_sync_trigger`, fill it with `m.backfill`, switch the code, \
                     and drop the old column in a `contract` migration",
                ));
            }
        }
        _ => {}
    }
}

/// Changes PostgreSQL makes without touching the rows: a longer `varchar`, `varchar` to
/// `text`, a `numeric` of more precision at the same scale.
fn postgres_binary_compatible(old: &ColumnType, new: &ColumnType) -> bool {
    match (old, new) {
        (a, b) if a == b => true,
        (ColumnType::String(n), ColumnType::String(m)) => m >= n,
        (ColumnType::String(_), ColumnType::Text) => true,
        (ColumnType::Decimal(p, s), ColumnType::Decimal(q, t)) => q >= p && s == t,
        _ => false,
    }
}

/// MySQL changes a `VARCHAR`'s length in place while the number of its length bytes stays the
/// same (1 up to 255 bytes: 63 characters of utf8mb4).
fn mysql_in_place(old: &ColumnType, new: &ColumnType) -> bool {
    const ONE_BYTE_LENGTH: u32 = 255 / 4;
    match (old, new) {
        (a, b) if a == b => true,
        (ColumnType::String(n), ColumnType::String(m)) => {
            m >= n && ((*n <= ONE_BYTE_LENGTH) == (*m <= ONE_BYTE_LENGTH))
        }
        _ => false,
    }
}

/// Why a PostgreSQL add column with this default rewrites the table, if it does: a volatile
/// default (PostgreSQL 11+ stores any other once), or any default before 11.
fn rewriting_default(server: Server, default: Option<&DefaultValue>) -> Option<String> {
    let default = default?;
    if !server.at_least(11, 0, 0) {
        return Some(format!(
            "a default ({server}: only PostgreSQL 11+ adds one without a rewrite)"
        ));
    }
    let DefaultValue::Expr(expr) = default else {
        return None;
    };
    const VOLATILE: [&str; 8] = [
        "random(",
        "gen_random_uuid(",
        "uuid_generate_v1",
        "uuid_generate_v4",
        "clock_timestamp(",
        "timeofday(",
        "nextval(",
        "txid_current(",
    ];
    let lower = expr.to_ascii_lowercase().replace(' ', "");
    VOLATILE.iter().find(|f| lower.contains(*f)).map(|f| {
        format!(
            "the volatile default `{expr}` ({}…)",
            f.trim_end_matches('(')
        )
    })
}

/// Renames and drops of tables and columns: they break code that still uses the old names
/// (outside a `contract` migration), and drops lose what they held.
fn renames_and_drops(ctx: &OpContext, hits: &mut Vec<Hit>) {
    let (table, subject, dropped) = match ctx.op {
        Op::RenameTable { from, to } => (from, format!("renaming table `{from}` to `{to}`"), false),
        Op::RenameColumn { table, from, to } => (
            table,
            format!("renaming `{table}`.`{from}` to `{to}`"),
            false,
        ),
        Op::DropTable { name } => (name, format!("dropping table `{name}`"), true),
        Op::DropColumn { table, column } => (table, format!("dropping `{table}`.`{column}`"), true),
        Op::DropPrimaryKey { table } => {
            destructive_constraint(ctx, table, "the primary key", hits);
            return;
        }
        Op::DropUnique { table, name } => {
            destructive_constraint(ctx, table, &format!("unique constraint `{name}`"), hits);
            return;
        }
        Op::DropCheck { table, name } => {
            destructive_constraint(ctx, table, &format!("check `{name}`"), hits);
            return;
        }
        Op::DropForeignKey { table, name } => {
            destructive_constraint(ctx, table, &format!("foreign key `{name}`"), hits);
            return;
        }
        _ => return,
    };
    if !ctx.existing(table) {
        return;
    }
    if !ctx.contract {
        hits.push(hit(
            Lint::BreaksRunningCode,
            table,
            format!(
                "{subject} breaks the code running now, which still uses the old name, from \
                 the moment it commits until the new code is everywhere"
            ),
            "expand/contract: add the new shape beside the old (`replace_column`, a sync \
             trigger, a backfill), switch the code, and rename or drop in a migration marked \
             `contract`",
        ));
    }
    if dropped {
        hits.push(hit(
            Lint::Destructive,
            table,
            format!(
                "{subject} deletes its data: the down recreates the shape, not the rows or \
                 values"
            ),
            "back it up first (`#[migration(backup)]`), or keep it renamed until it is surely \
             unused",
        ));
    }
    if let (Op::DropColumn { column, .. }, Dialect::Mysql) = (ctx.op, ctx.dialect()) {
        let instant = match ctx.server.kind {
            ServerKind::Mariadb => ctx.server.at_least(10, 4, 0),
            _ => ctx.server.at_least(8, 0, 29),
        };
        if !instant {
            hits.push(hit(
                Lint::DropColumnRebuilds,
                table,
                format!(
                    "dropping `{table}`.`{column}` on {} rebuilds the table (INSTANT drop needs \
                     MySQL 8.0.29+ or MariaDB 10.4+): writes continue, but it takes as long as \
                     copying it",
                    ctx.server
                ),
                "plan for the rebuild, or leave the column unused until an upgrade",
            ));
        }
    }
}

fn destructive_constraint(ctx: &OpContext, table: &str, what: &str, hits: &mut Vec<Hit>) {
    if ctx.existing(table) {
        hits.push(hit(
            Lint::Destructive,
            table,
            format!(
                "dropping {what} of `{table}` stops enforcing it: rows written meanwhile may \
                 break it, and then the down cannot add it back"
            ),
            "make sure no code relies on it, or keep it until the contract phase",
        ));
    }
}

/// Raw SQL: unknown to the linter, said once per migration; and its UPDATEs and DELETEs of
/// existing tables, which run as one statement.
fn raw_sql(ctx: &OpContext, raw: &RawSql, hits: &mut Vec<Hit>) {
    let Some(sql) = raw.for_dialect(ctx.dialect()) else {
        return;
    };
    hits.push(Hit {
        lint: Lint::RawSql,
        severity: None,
        table: None,
        message: "raw SQL: the linter cannot tell which locks it takes or what it changes, and \
                  the schema model does not see it"
            .into(),
        fix: "prefer typed ops; review the SQL by hand, and `allow(GW015 = \"…\")` once it is"
            .into(),
    });
    for statement in sql.split(';') {
        // Words after comments, without the modifiers that may stand before the table.
        let code: String = statement
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join(" ");
        const MODIFIERS: [&str; 4] = ["only", "ignore", "low_priority", "quick"];
        let words: Vec<&str> = code
            .split_whitespace()
            .filter(|w| !MODIFIERS.iter().any(|m| w.eq_ignore_ascii_case(m)))
            .take(3)
            .collect();
        let target = match words.as_slice() {
            [first, table, ..] if first.eq_ignore_ascii_case("update") => *table,
            [first, from, table]
                if first.eq_ignore_ascii_case("delete") && from.eq_ignore_ascii_case("from") =>
            {
                *table
            }
            _ => continue,
        };
        let name = target
            .rsplit('.')
            .next()
            .unwrap_or(target)
            .trim_matches(|c| c == '"' || c == '`' || c == '[' || c == ']');
        if ctx.existing(name) {
            let verb = words[0].to_ascii_uppercase();
            hits.push(hit(
                Lint::UnbatchedDataChange,
                name,
                format!(
                    "{verb} of `{name}` in one statement: on a large table it holds its row \
                     locks, and grows the transaction, until the last row is done"
                ),
                "use `m.backfill(table, …)`: keyset batches, each its own short transaction, \
                 resumable after a crash",
            ));
        }
    }
}

/// A SQLite op on an existing table that godwit carries out as a rebuild.
fn sqlite_rebuild(ctx: &OpContext, hits: &mut Vec<Hit>) {
    let Some(table) = ctx.op.changes_only_table() else {
        return;
    };
    if !ctx.existing(table) {
        return;
    }
    let rebuilds = crate::render::render(ctx.op, ctx.before, ctx.after, Dialect::Sqlite)
        .is_ok_and(|rendered| rendered.foreign_keys_off);
    if !rebuilds {
        return;
    }
    let why = match ctx.op {
        Op::AlterColumn { .. } => "SQLite's ALTER TABLE cannot change a column",
        Op::AddColumn { .. } => {
            "SQLite's ALTER TABLE cannot add a NOT NULL column without a default, or one with an \
             expression default"
        }
        Op::DropColumn { .. } => {
            "SQLite's ALTER TABLE cannot drop a column an index or constraint uses"
        }
        _ => "SQLite's ALTER TABLE cannot add or drop a constraint",
    };
    hits.push(hit(
        Lint::SqliteRebuild,
        table,
        format!(
            "{why}: godwit rebuilds `{table}`, copying every row into a new table and \
             recreating its indexes, holding the database's write lock throughout"
        ),
        "fine for small tables; for a large one, expect the database to be locked for as long \
         as the copy takes",
    ));
}

/// Partition ops: what MySQL cannot do, and the rows a change copies or scans under a lock.
fn partitions(ctx: &OpContext, hits: &mut Vec<Hit>) {
    use crate::op::{PartitionBound, PartitionMethod};
    let server = ctx.server;
    let (table, partition) = match ctx.op {
        Op::CreateTable(t) => (t.name.as_str(), None),
        Op::CreatePartition { table, partition } | Op::AttachPartition { table, partition } => {
            (table.as_str(), Some(partition))
        }
        Op::DropPartition { table, .. } | Op::DetachPartition { table, .. } => {
            (table.as_str(), None)
        }
        Op::PartitionTable(c) => (c.table.as_str(), None),
        Op::UnpartitionTable { table, .. } => (table.as_str(), None),
        _ => return,
    };
    let Some(after) = ctx.after.table(table) else {
        return;
    };
    let has_default = |t: &crate::op::Table| {
        t.partitioning.as_ref().is_some_and(|p| {
            p.partitions
                .iter()
                .any(|p| p.bound == PartitionBound::Default)
        })
    };
    if server.kind == ServerKind::Mysql && has_default(after) {
        hits.push(hit(
            Lint::NeedsNewerServer,
            table,
            format!("`{table}` has a DEFAULT list partition: MariaDB has them, {server} does not"),
            "list every value in a partition on MySQL, or target MariaDB",
        ));
    }
    let existing = ctx.existing(table);
    let warning = |message: String, fix: &str| Hit {
        severity: Some(Severity::Warning),
        ..hit(Lint::PartitionRowsUnderLock, table, message, fix)
    };
    if let Op::DropPartition { name, .. } = ctx.op
        && existing
    {
        hits.push(hit(
            Lint::Destructive,
            table,
            format!(
                "dropping partition `{name}` of `{table}` deletes its rows: the down recreates \
                 the partition, empty"
            ),
            "back it up first (`#[migration(backup)]`), or detach it and keep it as a table",
        ));
    }
    match (ctx.dialect(), ctx.op) {
        (Dialect::Mysql, Op::PartitionTable(_) | Op::UnpartitionTable { .. }) if existing => {
            hits.push(hit(
                Lint::PartitionRowsUnderLock,
                table,
                format!(
                    "MySQL changes the partitioning of `{table}` by copying every row into a \
                     new table, with writes blocked until the copy ends"
                ),
                "run it in a maintenance window, or on PostgreSQL, which copies in batches \
                 while the table takes writes",
            ));
        }
        (Dialect::Mysql, Op::AttachPartition { .. }) if existing => {
            hits.push(warning(
                format!(
                    "EXCHANGE PARTITION reads every row of the table attached to `{table}` \
                     to check it fits, under a lock on both"
                ),
                "fine for a table loaded for it; expect the lock for as long as the check takes",
            ));
        }
        (Dialect::Mysql, Op::CreatePartition { .. }) if existing => {
            let before_first = ctx
                .before
                .table(table)
                .and_then(|t| t.partitioning.as_ref())
                .is_some_and(|p| {
                    p.method == PartitionMethod::Range
                        && partition.is_some_and(|new| {
                            p.partitions
                                .iter()
                                .all(|other| match (&new.bound, &other.bound) {
                                    (
                                        PartitionBound::Range { to, .. },
                                        PartitionBound::Range { from, .. },
                                    ) => {
                                        crate::schema::compare_bound_rows(to, from)
                                            != std::cmp::Ordering::Greater
                                    }
                                    _ => false,
                                })
                        })
                });
            if before_first {
                hits.push(warning(
                    format!(
                        "a range partition before the first of `{table}` splits the first with \
                         REORGANIZE PARTITION, which copies its rows under a lock"
                    ),
                    "add range partitions ahead of time, at the end",
                ));
            }
        }
        (Dialect::Postgres, Op::CreatePartition { .. } | Op::AttachPartition { .. })
            if existing
                && ctx.before.table(table).is_some_and(has_default)
                && partition.is_some_and(|p| p.bound != PartitionBound::Default) =>
        {
            hits.push(warning(
                format!(
                    "`{table}` has a DEFAULT partition: PostgreSQL scans it, under a lock, for \
                     rows the new partition would hold"
                ),
                "keep the DEFAULT partition small (or empty), or create partitions before \
                 their rows arrive",
            ));
        }
        _ => {}
    }
}
