//! Copying data between databases, of the same dialect or not: `copy --from URL --to URL`.
//!
//! 1. Both databases stand at the same point: the source's history names its applied
//!    migrations; a target without history is migrated to exactly those (the model at that point
//!    creates its tables), one with history must have the same ones, or the copy is refused
//!    before anything runs, naming the migrations that differ.
//! 2. The tables, their columns and their types come from the schema model replayed at that
//!    point on each side, never from the catalog; godwit's own tables are not copied. Tables go
//!    parents first (foreign keys): a child of a refused parent is refused too. A table that
//!    references itself or one copied after it is written with the target's foreign-key checks
//!    off (MySQL `FOREIGN_KEY_CHECKS`, SQLite `foreign_keys`, PostgreSQL
//!    `session_replication_role = replica`, which needs a superuser: without one, the copy is
//!    refused before it starts), and its references are checked once every table is copied.
//! 3. Rows stream in keyset batches by the table's key (`batch_key`) as each database stores it,
//!    never `OFFSET`: three batches in memory at most, the next read while the last is written
//!    and the one before read back.
//!    Each value is
//!    brought to a canonical form ([`value`]) and written the fastest way the target has
//!    ([`transfer`]): PostgreSQL `COPY`, MySQL and SQLite multi-row `INSERT`s.
//! 4. Each batch commits with its checkpoint ([`checkpoint`]): a copy killed at any point
//!    resumes after the last batch committed, from the same source only. A rerun after the end
//!    does nothing, once it has counted the finished tables unchanged.
//! 5. A batch the target refuses is written again row by row behind savepoints; the rows it
//!    refuses go to the reject file with the target's reason and the copy goes on
//!    ([`CopyOptions::strict`] fails instead, committing nothing of that batch).
//! 6. After a table: its generated-key counter is reset (PostgreSQL `setval`, MySQL
//!    `AUTO_INCREMENT`, SQLite `sqlite_sequence`); its rows are counted on the target, and the
//!    whole table is read back in the target's own key order (a sum of row hashes does not
//!    depend on the order, which collations may see apart) and hashed in the same canonical form
//!    as the source's rows were: a different count or checksum fails the copy, naming the
//!    table.
//!
//! ```no_run
//! # async fn run() -> Result<(), godwit::copy::CopyError> {
//! use godwit::copy::{self, CopyOptions};
//! let registry = godwit::registry::Registry::collect()?;
//! let report = copy::copy(&registry, "mysql://root@localhost/shop",
//!     "postgres://postgres@localhost/shop", &CopyOptions::default(), |_| {}).await?;
//! println!("{} rows copied, {} rejected", report.rows_copied(), report.rows_rejected());
//! # Ok(()) }
//! ```

// Errors are returned once, after the database work, as in the runner.
#![allow(clippy::result_large_err)]

pub(crate) mod checkpoint;
mod transfer;
mod value;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use checkpoint::Progress;
use transfer::{BoundRow, CopyColumn, ReadRow, Side, TablePlan};

use crate::db::{Connection, DbError};
use crate::graph::Target;
use crate::op::{ColumnType, Dialect};
use crate::registry::Registry;
use crate::render::{quote_identifier, quote_literal};
use crate::runner::{AppliedPoint, HistoryTable, Migrator, RunError};
use crate::schema::Schema;

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Only these tables (default: every table of the model).
    pub tables: Option<Vec<String>>,
    /// Rows per batch, each one transaction on the target with its checkpoint.
    pub batch_size: u32,
    /// Where the rows the target refuses go, one JSON object a line (created at the first).
    pub reject_file: PathBuf,
    /// Fail at the first row the target refuses, instead of writing it to the reject file.
    pub strict: bool,
    /// The history table of both databases; the checkpoints are `<name>_copies` beside it.
    pub history_table: HistoryTable,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            tables: None,
            batch_size: 10_000,
            reject_file: PathBuf::from("godwit-rejects.jsonl"),
            strict: false,
            history_table: HistoryTable::default(),
        }
    }
}

/// What a copy tells as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum CopyEvent {
    /// The target had no history and was migrated to the source's point.
    TargetMigrated { applied: Vec<String> },
    /// A table's copy starts (or resumes, with `resumed_at` rows already there).
    TableStarted {
        table: String,
        rows_estimated: u64,
        resumed_at: u64,
    },
    /// After each batch.
    Progress {
        table: String,
        rows_done: u64,
        rows_estimated: u64,
        /// Rows per second in this run.
        rate: f64,
        eta: Option<Duration>,
    },
    /// A table copied and verified (or found done by an earlier run).
    TableFinished(TableReport),
}

/// One table's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: String,
    pub rows_copied: u64,
    pub rows_rejected: u64,
    /// The sum of the rows' hashes, the same on both sides (16 hex digits).
    pub checksum: String,
    /// An earlier run had copied it already.
    pub already_done: bool,
    pub elapsed: Duration,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// The migrations applied to a target that had none.
    pub target_migrated: Vec<String>,
    pub tables: Vec<TableReport>,
    /// The reject file, when a row went there.
    pub reject_file: Option<PathBuf>,
}

impl CopyReport {
    pub fn rows_copied(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_copied).sum()
    }

    pub fn rows_rejected(&self) -> u64 {
        self.tables.iter().map(|t| t.rows_rejected).sum()
    }

    /// Every table was copied by an earlier run: this one did nothing.
    pub fn nothing_to_do(&self) -> bool {
        self.target_migrated.is_empty() && self.tables.iter().all(|t| t.already_done)
    }
}

/// Why a copy stopped. Those found before the first row say so: nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A database or the history failed (a database's error says what it was doing).
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(
        "the databases are at different points, so their tables differ; nothing was copied.\n\
         {}{}bring them to the same point first: run `up` on the one behind (or `down` on the \
         one ahead), or copy into an empty database, which the copy migrates itself",
        list("applied only on the source", only_source),
        list("applied only on the target", only_target)
    )]
    DifferentPoints {
        only_source: Vec<String>,
        only_target: Vec<String>,
    },
    #[error(
        "{} not in the model at the source's point: {}; nothing was copied. Name tables of \
         the model in --tables (check the spelling): {}",
        if unknown.len() == 1 { "this table is" } else { "these tables are" },
        unknown.join(", "),
        known.join(", ")
    )]
    UnknownTables {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    /// A precondition failed before the first row: the message names the thing and the fix.
    #[error("{0}; nothing was copied")]
    Refused(String),
    #[error(
        "the target refused a row of `{table}` ({key}): {reason}\n--strict: the batch was rolled \
         back; fix the row on the source (or drop --strict to send such rows to the reject file), \
         then rerun: the copy resumes at this batch"
    )]
    Strict {
        table: String,
        key: String,
        reason: String,
    },
    #[error(
        "`{table}` does not verify: {what}; the target's copy of it differs from the rows read \
         from the source. Empty the table on the target and delete its row from {checkpoints} \
         to copy it again"
    )]
    Mismatch {
        table: String,
        what: String,
        checkpoints: String,
    },
    #[error("cannot write the reject file {}: {source}", path.display())]
    RejectFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::registry::RegistryError> for CopyError {
    fn from(e: crate::registry::RegistryError) -> Self {
        CopyError::Run(RunError::Registry(e))
    }
}

fn list(what: &str, ids: &[String]) -> String {
    match ids.is_empty() {
        true => String::new(),
        false => format!("{what}: {}\n", ids.join(", ")),
    }
}

fn database(context: impl Into<String>) -> impl FnOnce(DbError) -> CopyError {
    let context = context.into();
    move |source| CopyError::Run(RunError::Database { context, source })
}

/// Copies the rows of `from` into `to` (see the [module docs](self)); `on_event` hears each
/// table start, each batch, and each table's end.
pub async fn copy(
    registry: &Registry,
    from: &str,
    to: &str,
    options: &CopyOptions,
    mut on_event: impl FnMut(&CopyEvent),
) -> Result<CopyReport, CopyError> {
    if options.batch_size == 0 {
        return Err(CopyError::Refused(
            "the batch size is 0: give at least 1 row per batch".into(),
        ));
    }
    let from_shown = crate::db::redact_url(from);
    let to_shown = crate::db::redact_url(to);
    let source_conn = Connection::connect(from)
        .await
        .map_err(database(format!("connecting to the source {from_shown}")))?;
    let to = crate::db::for_writing(to).map_err(database("opening the target"))?;
    let target_conn = Connection::connect(&to)
        .await
        .map_err(database(format!("connecting to the target {to_shown}")))?;
    let history = &options.history_table;
    let on_side = |m: Migrator| m.history_table(history.schema.as_deref(), &history.name);
    let mut source = on_side(Migrator::with_registry(source_conn, registry.clone())?);
    let mut target = on_side(Migrator::with_registry(target_conn, registry.clone())?);

    let source_point = source.applied_point().await?;
    refuse_unsettled("source", &from_shown, &source_point)?;
    if source_point.applied.is_empty() {
        return Err(CopyError::Refused(format!(
            "the source {from_shown} has no migration applied (no {} rows): there is no model \
             of its tables to copy by; migrate it first",
            history.display()
        )));
    }
    let names = chosen_tables(&source_point.schema, options)?;
    let order = dependency_order(&source_point.schema, &names);
    let tangled = tangled_tables(&source_point.schema, &names);

    let target_point = target.applied_point().await?;
    refuse_unsettled("target", &to_shown, &target_point)?;
    let mut report = CopyReport::default();
    let target_schema = if target_point.applied.is_empty() {
        let own = history.own_tables();
        let theirs: Vec<String> = crate::db::user_tables(&to)
            .await
            .map_err(database("listing the target's tables"))?
            .into_iter()
            .filter(|t| !own.contains(t))
            .collect();
        if !theirs.is_empty() {
            return Err(CopyError::Refused(format!(
                "the target {to_shown} has tables ({}) but no migration history: the copy cannot \
                 tell what they are; copy into an empty database, or bring it under godwit \
                 first (`stamp` the migrations its tables stand for)",
                theirs.join(", ")
            )));
        }
        check_foreign_keys_can_be_off(target.connection(), &tangled).await?;
        let targets: Vec<Target> = source_point
            .applied
            .iter()
            .map(|id| Target::id(id.clone()))
            .collect();
        report.target_migrated = target.upgrade(&targets).await?.applied;
        on_event(&CopyEvent::TargetMigrated {
            applied: report.target_migrated.clone(),
        });
        target.applied_point().await?.schema
    } else {
        let source_ids: BTreeSet<&String> = source_point.applied.iter().collect();
        let target_ids: BTreeSet<&String> = target_point.applied.iter().collect();
        if source_ids != target_ids {
            return Err(CopyError::DifferentPoints {
                only_source: source_ids
                    .difference(&target_ids)
                    .map(|s| s.to_string())
                    .collect(),
                only_target: target_ids
                    .difference(&source_ids)
                    .map(|s| s.to_string())
                    .collect(),
            });
        }
        check_foreign_keys_can_be_off(target.connection(), &tangled).await?;
        target_point.schema
    };
    let plans = order
        .iter()
        .map(|name| {
            let plan = table_plan(&source_point.schema, &target_schema, name)?;
            refuse_enum_key_on_mysql(
                &plan,
                [source.connection().dialect(), target.connection().dialect()],
            )?;
            Ok::<_, CopyError>(plan)
        })
        .collect::<Result<Vec<_>, _>>()?;

    let mut src = source.into_connection();
    let mut dst = target.into_connection();
    let mut check = Connection::connect(&to)
        .await
        .map_err(database(format!("connecting to the target {to_shown}")))?;
    prepare_session(&mut src).await?;
    prepare_session(&mut dst).await?;
    prepare_session(&mut check).await?;
    let checkpoints = checkpoint::table(history);
    checkpoint::create(&mut dst, &checkpoints)
        .await
        .map_err(database("creating the copy checkpoint table"))?;
    let mut progress = checkpoint::read(&mut dst, &checkpoints)
        .await
        .map_err(CopyError::Refused)?;
    start_tables(
        &mut dst,
        &checkpoints,
        &plans,
        &mut progress,
        !report.target_migrated.is_empty(),
        &from_shown,
    )
    .await?;

    let mut rejects = Rejects::new(&options.reject_file);
    let mut check_slot = Some(check);
    for plan in &plans {
        let state = progress.remove(&plan.name).unwrap_or_default();
        let started = Instant::now();
        let table_report = match state.done {
            true => TableReport {
                table: plan.name.clone(),
                rows_copied: state.rows_copied,
                rows_rejected: state.rows_rejected,
                checksum: format!("{:016x}", state.checksum),
                already_done: true,
                elapsed: Duration::ZERO,
            },
            false => {
                let unchecked = tangled.contains(&plan.name);
                if unchecked {
                    foreign_keys(&mut dst, false).await?;
                }
                let mut run = TableRun {
                    plan,
                    src: &mut src,
                    dst: &mut dst,
                    check: &mut check_slot,
                    checkpoints: &checkpoints,
                    options,
                    rejects: &mut rejects,
                    on_event: &mut on_event,
                };
                let state = run.copy(state).await?;
                if unchecked {
                    foreign_keys(&mut dst, true).await?;
                }
                TableReport {
                    table: plan.name.clone(),
                    rows_copied: state.rows_copied,
                    rows_rejected: state.rows_rejected,
                    checksum: format!("{:016x}", state.checksum),
                    already_done: false,
                    elapsed: started.elapsed(),
                }
            }
        };
        on_event(&CopyEvent::TableFinished(table_report.clone()));
        report.tables.push(table_report);
    }
    // What the checks turned off let through: a child of a parent the target refused.
    let copied: BTreeSet<String> = plans.iter().map(|p| p.name.clone()).collect();
    for name in &tangled {
        if let Some(table) = target_schema.table(name) {
            check_references(&mut dst, table, &copied).await?;
        }
    }
    report.reject_file = rejects.written.then(|| options.reject_file.clone());
    let _ = src.close().await;
    let _ = dst.close().await;
    if let Some(check) = check_slot {
        let _ = check.close().await;
    }
    Ok(report)
}

fn refuse_unsettled(side: &str, shown: &str, point: &AppliedPoint) -> Result<(), CopyError> {
    if !point.unknown.is_empty() {
        return Err(CopyError::Refused(format!(
            "the {side} {shown} has migrations this binary does not know ({}): link the crate \
             that has them, or copy with the binary that applied them",
            point.unknown.join(", ")
        )));
    }
    if !point.unfinished.is_empty() {
        return Err(CopyError::Refused(format!(
            "the {side} {shown} has migrations that stopped midway ({}): run `up` on it to \
             finish them (or `down` to revert them) first",
            point.unfinished.join(", ")
        )));
    }
    Ok(())
}

/// The tables to copy: `--tables` (each must be in the model), else every table of the model.
fn chosen_tables(schema: &Schema, options: &CopyOptions) -> Result<Vec<String>, CopyError> {
    let known: Vec<String> = schema.tables().map(|t| t.name.clone()).collect();
    let Some(asked) = &options.tables else {
        return Ok(known);
    };
    let unknown: Vec<String> = asked
        .iter()
        .filter(|t| schema.table(t).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(CopyError::UnknownTables { unknown, known });
    }
    let mut chosen: Vec<String> = Vec::new();
    for table in asked {
        if !chosen.contains(table) {
            chosen.push(table.clone());
        }
    }
    Ok(chosen)
}

/// `names` parents first: a table after every table its foreign keys reference (among
/// `names`); those in a cycle last, by name.
fn dependency_order(schema: &Schema, names: &[String]) -> Vec<String> {
    let chosen: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let parents = |name: &str| -> BTreeSet<String> {
        schema
            .table(name)
            .map(|t| {
                t.foreign_keys
                    .iter()
                    .map(|fk| fk.ref_table.clone())
                    .filter(|r| r != name && chosen.contains(r.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut waiting: BTreeMap<String, BTreeSet<String>> =
        names.iter().map(|n| (n.clone(), parents(n))).collect();
    let mut order = Vec::with_capacity(names.len());
    loop {
        let ready: Vec<String> = waiting
            .iter()
            .filter(|(_, parents)| parents.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in &ready {
            waiting.remove(name);
        }
        for parents in waiting.values_mut() {
            for name in &ready {
                parents.remove(name);
            }
        }
        order.extend(ready);
    }
    order.extend(waiting.into_keys());
    order
}

/// The tables whose foreign keys a copy in key order may break: those that reference
/// themselves, and those in a cycle.
fn tangled_tables(schema: &Schema, names: &[String]) -> Vec<String> {
    let order = dependency_order(schema, names);
    let mut placed = BTreeSet::new();
    let mut tangled = Vec::new();
    for name in &order {
        let Some(table) = schema.table(name) else {
            continue;
        };
        let self_reference = table.foreign_keys.iter().any(|fk| &fk.ref_table == name);
        let parent_after = table.foreign_keys.iter().any(|fk| {
            &fk.ref_table != name
                && names.contains(&fk.ref_table)
                && !placed.contains(&fk.ref_table)
        });
        if self_reference || parent_after {
            tangled.push(name.clone());
        }
        placed.insert(name.clone());
    }
    tangled
}

/// PostgreSQL can turn its foreign-key checks off only for a superuser (or a role allowed to
/// set `session_replication_role`): asked before anything runs.
async fn check_foreign_keys_can_be_off(
    conn: &mut Connection,
    tangled: &[String],
) -> Result<(), CopyError> {
    if tangled.is_empty() || conn.dialect() != Dialect::Postgres {
        return Ok(());
    }
    match conn.execute("SET session_replication_role = replica").await {
        Ok(()) => {
            let _ = conn.execute("RESET session_replication_role").await;
            Ok(())
        }
        Err(e) => Err(CopyError::Refused(format!(
            "{} reference themselves or each other in a cycle, so rows copied in key order may \
             point at rows not copied yet; PostgreSQL lets a copy skip those checks only with \
             `session_replication_role = replica`, which this user may not set ({e}): copy as a \
             superuser, or copy the other tables with --tables",
            tangled.join(", ")
        ))),
    }
}

/// Turns the target's foreign-key checks off (`on`: back on) for the session: only while a
/// table that references itself or a table copied after it is written.
async fn foreign_keys(conn: &mut Connection, on: bool) -> Result<(), CopyError> {
    let sql = match (conn.dialect(), on) {
        (Dialect::Postgres, false) => "SET session_replication_role = replica",
        (Dialect::Postgres, true) => "RESET session_replication_role",
        (Dialect::Mysql, false) => "SET SESSION FOREIGN_KEY_CHECKS = 0",
        (Dialect::Mysql, true) => "SET SESSION FOREIGN_KEY_CHECKS = 1",
        (Dialect::Sqlite, false) => "PRAGMA foreign_keys = OFF",
        (Dialect::Sqlite, true) => "PRAGMA foreign_keys = ON",
    };
    conn.execute(sql).await.map_err(database(
        "turning the target's foreign-key checks off or on for the copy",
    ))
}

/// Rows of `table` on the target whose foreign key finds no row, once the tables it
/// references are copied too (a parent the target refused leaves its children so): the copy
/// fails naming the key, as the checks it turned off would have.
async fn check_references(
    conn: &mut Connection,
    table: &crate::op::Table,
    copied: &BTreeSet<String>,
) -> Result<(), CopyError> {
    let dialect = conn.dialect();
    let ident = |name: &str| quote_identifier(dialect, name);
    for fk in &table.foreign_keys {
        if !copied.contains(&fk.ref_table) {
            continue;
        }
        let set = fk
            .columns
            .iter()
            .map(|c| format!("c.{} IS NOT NULL", ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let matches = fk
            .columns
            .iter()
            .zip(&fk.ref_columns)
            .map(|(c, r)| format!("p.{} = c.{}", ident(r), ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let sql = format!(
            "SELECT 1 FROM {} AS c WHERE {set} AND NOT EXISTS (SELECT 1 FROM {} AS p WHERE {matches}) LIMIT 1",
            ident(&table.name),
            ident(&fk.ref_table)
        );
        let found = conn.fetch_text(&sql).await.map_err(database(format!(
            "checking foreign key `{}` on the target",
            fk.name
        )))?;
        if !found.is_empty() {
            return Err(CopyError::Refused(format!(
                "rows of `{}` on the target point at no row of `{}` through foreign key `{}`: their parents were refused (see the reject file); fix those rows at the source, then empty the target and copy again",
                table.name, fk.ref_table, fk.name
            )));
        }
    }
    Ok(())
}

/// The session both sides of a copy run in: UTC, ISO dates; on MySQL strict about values (a
/// value that does not fit is refused, not cut) and with 0 a key like any other.
async fn prepare_session(conn: &mut Connection) -> Result<(), CopyError> {
    let (required, _) = crate::dialect::session_setup(conn.dialect(), Duration::from_secs(5));
    let copy = match conn.dialect() {
        Dialect::Postgres => "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'",
        Dialect::Mysql => {
            "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, \
             ',STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO')"
        }
        Dialect::Sqlite => "PRAGMA busy_timeout = 5000",
    };
    conn.execute(&required)
        .await
        .map_err(database("configuring the copy's session"))?;
    conn.execute(copy)
        .await
        .map_err(database("configuring the copy's session"))
}

/// MySQL orders an ENUM column by the place of its values but compares it with text as text,
/// so that keyset batches by one would skip rows.
fn refuse_enum_key_on_mysql(plan: &TablePlan, dialects: [Dialect; 2]) -> Result<(), CopyError> {
    if !dialects.contains(&Dialect::Mysql) {
        return Ok(());
    }
    match plan
        .key
        .iter()
        .map(|&i| &plan.columns[i])
        .find(|c| matches!(c.source_type, ColumnType::Enum(_)))
    {
        Some(column) => Err(CopyError::Refused(format!(
            "`{}` is keyed by `{}`, an enum column, which MySQL orders by its values' places but \
             compares as text, so batches by it would skip rows; key it by integers, text or \
             UUIDs, or leave the table out with --tables",
            plan.name, column.name
        ))),
        None => Ok(()),
    }
}

/// The copy of table `name`: its columns as both models have them, and its key.
fn table_plan(source: &Schema, target: &Schema, name: &str) -> Result<TablePlan, CopyError> {
    let table = source.table(name).expect("chosen from the source's model");
    let Some(there) = target.table(name) else {
        return Err(CopyError::Refused(format!(
            "the model of the target has no table `{name}`, though both databases are at the \
             same point: a migration creates it on one dialect only; copy the other tables with \
             --tables"
        )));
    };
    let mut columns = Vec::with_capacity(table.columns.len());
    for column in &table.columns {
        let Some(other) = there.column(&column.name) else {
            return Err(CopyError::Refused(format!(
                "`{name}` has column `{}` in the source's model but not in the target's: a \
                 migration spells the table differently per dialect; copy the other tables with \
                 --tables",
                column.name
            )));
        };
        columns.push(CopyColumn {
            name: column.name.clone(),
            source_type: column.ty.clone(),
            target_type: other.ty.clone(),
        });
    }
    // The backfills' rule, told as a copy's.
    let key_names = crate::schema::batch_key(table).map_err(|reason| {
        let told = reason
            .replace(
                "to page a backfill by; add one first (`m.add_primary_key(..)`), or change \
                     its rows with a single `m.sql(..)` UPDATE",
                "to copy it by, in batches; add one (`m.add_primary_key(..)`), or leave the \
                     table out with --tables",
            )
            .replace(
                "which a backfill cannot page by",
                "which a copy cannot page by",
            );
        CopyError::Refused(match told.contains("--tables") {
            true => told,
            false => told + ", or leave the table out with --tables",
        })
    })?;
    let mut key = Vec::with_capacity(key_names.len());
    for key_name in &key_names {
        let index = columns
            .iter()
            .position(|c| &c.name == key_name)
            .expect("a key's columns are the table's");
        use crate::op::ColumnType as T;
        let pages = matches!(
            &columns[index].source_type,
            T::SmallInt
                | T::Integer
                | T::BigInt
                | T::String(_)
                | T::Text
                | T::Uuid
                | T::Date
                | T::Timestamp
                | T::Enum(_)
        );
        if !pages {
            return Err(CopyError::Refused(format!(
                "`{name}` is keyed by `{key_name}`, a {} column, which a copy cannot page by in \
                 the same order on every database; key it by integers, text or UUIDs, or leave \
                 it out with --tables",
                columns[index].source_type
            )));
        }
        key.push(index);
    }
    let counters = table
        .columns
        .iter()
        .filter(|c| c.auto_increment)
        .map(|c| c.name.clone())
        .collect();
    Ok(TablePlan {
        name: name.to_owned(),
        columns,
        key,
        counters,
    })
}

/// Gives every table to copy its checkpoint row. A table that has none must be empty on the
/// target, but for the rows a target the copy just migrated got from its migrations' data
/// steps, which the source's rows replace (children first).
async fn start_tables(
    dst: &mut Connection,
    checkpoints: &HistoryTable,
    plans: &[TablePlan],
    progress: &mut BTreeMap<String, Progress>,
    migrated_here: bool,
    source: &str,
) -> Result<(), CopyError> {
    let dialect = dst.dialect();
    // A checkpoint resumes only the copy from its own source; a table it says is done must
    // still hold what was copied.
    for plan in plans {
        let Some(state) = progress.get(&plan.name) else {
            continue;
        };
        let forget = format!(
            "empty `{}` on the target and delete its row from {} to copy it afresh",
            plan.name,
            checkpoints.display()
        );
        if state.source != source {
            return Err(CopyError::Refused(format!(
                "the target's copy of `{}` comes from {}, not {source}: finish it from there, or {forget}",
                plan.name, state.source
            )));
        }
        if state.done {
            let table = quote_identifier(dialect, &plan.name);
            let rows = dst
                .fetch_text(&format!("SELECT CAST(COUNT(*) AS CHAR(20)) FROM {table}"))
                .await
                .map_err(database(format!("counting `{}` on the target", plan.name)))?;
            let held: Option<u64> = rows
                .first()
                .and_then(|r| r.first())
                .cloned()
                .flatten()
                .and_then(|n| n.trim().parse().ok());
            if held != Some(state.rows_copied) {
                return Err(CopyError::Refused(format!(
                    "`{}` on the target holds {} rows, where its finished copy wrote {}: it changed since; {forget}",
                    plan.name,
                    held.map_or("an unknown number of".to_owned(), |n| n.to_string()),
                    state.rows_copied
                )));
            }
        }
    }
    let fresh: Vec<&TablePlan> = plans
        .iter()
        .filter(|p| !progress.contains_key(&p.name))
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    let mut writes = Vec::new();
    for plan in fresh.iter().rev() {
        let table = quote_identifier(dialect, &plan.name);
        let rows = dst
            .fetch_text(&format!("SELECT 1 FROM {table} LIMIT 1"))
            .await
            .map_err(database(format!(
                "looking into `{}` on the target",
                plan.name
            )))?;
        if !rows.is_empty() {
            if !migrated_here {
                return Err(CopyError::Refused(format!(
                    "`{}` on the target has rows, and no copy checkpoint says they are a copy's: \
                     empty it first (`DELETE FROM {table}`), or copy the other tables with \
                     --tables",
                    plan.name
                )));
            }
            writes.push(format!("DELETE FROM {table}"));
        }
    }
    for plan in &fresh {
        writes.push(checkpoint::insert(dialect, checkpoints, &plan.name, source));
    }
    in_transaction(dst, &writes)
        .await
        .map_err(database("recording the tables to copy"))?;
    for plan in fresh {
        progress.insert(plan.name.clone(), Progress::default());
    }
    Ok(())
}

/// `statements` in one transaction of the target.
async fn in_transaction(conn: &mut Connection, statements: &[String]) -> Result<(), DbError> {
    conn.execute(conn.begin_sql()).await?;
    for statement in statements {
        if let Err(e) = conn.execute(statement).await {
            let _ = conn.execute("ROLLBACK").await;
            return Err(e);
        }
    }
    conn.execute("COMMIT").await
}

/// The reject file, opened at the first reject. A batch's rejects are written once it has
/// committed: a copy killed between the two keeps their count in the checkpoint, without
/// their lines; written before, a rerun would write them twice.
struct Rejects<'a> {
    path: &'a Path,
    file: Option<std::fs::File>,
    written: bool,
}

impl<'a> Rejects<'a> {
    fn new(path: &'a Path) -> Self {
        Rejects {
            path,
            file: None,
            written: false,
        }
    }

    fn write(&mut self, lines: &[String]) -> Result<(), CopyError> {
        if lines.is_empty() {
            return Ok(());
        }
        let failed = |source| CopyError::RejectFile {
            path: self.path.to_path_buf(),
            source,
        };
        if self.file.is_none() {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path)
                .map_err(failed)?;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("opened above");
        let mut text = lines.join("\n");
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|source| CopyError::RejectFile {
                path: self.path.to_path_buf(),
                source,
            })?;
        self.written = true;
        Ok(())
    }
}

/// A row refused, for the reject file: its key and values as [`value::describe`] spells
/// them, and why.
struct Rejected {
    key: String,
    values: Vec<String>,
    reason: String,
}

impl Rejected {
    fn new(plan: &TablePlan, values: Vec<String>, reason: String) -> Rejected {
        Rejected {
            key: describe_key(plan, &values),
            values,
            reason,
        }
    }
}

/// One table's copy under way.
struct TableRun<'a, 'e, E: FnMut(&CopyEvent)> {
    plan: &'a TablePlan,
    src: &'a mut Connection,
    dst: &'a mut Connection,
    /// A second connection to the target, which reads back each batch once it has committed,
    /// on a task of its own (another thread, on a multi-threaded runtime); it is there
    /// between batches.
    check: &'a mut Option<Connection>,
    checkpoints: &'a HistoryTable,
    options: &'a CopyOptions,
    rejects: &'a mut Rejects<'e>,
    on_event: &'a mut E,
}

impl<E: FnMut(&CopyEvent)> TableRun<'_, '_, E> {
    fn context(&self, what: &str) -> impl FnOnce(DbError) -> CopyError {
        database(format!("{what} `{}`", self.plan.name))
    }

    /// Copies the table from `state` on, batch by batch: the next batch is read from the
    /// source while this one is written. A table keyed by integers, which every database
    /// orders alike, has each batch read back from the target while the next is written (on
    /// SQLite, whose writer waits for its readers, after it); any other is read back whole at
    /// the end, in the target's own key order (a sum of row hashes does not depend on it, and
    /// collations or a key stored in capitals may order the two apart).
    async fn copy(&mut self, mut state: Progress) -> Result<Progress, CopyError> {
        let plan = self.plan;
        let estimated = count(self.src, &plan.name)
            .await
            .map_err(self.context("counting the rows of"))?;
        (self.on_event)(&CopyEvent::TableStarted {
            table: plan.name.clone(),
            rows_estimated: estimated,
            resumed_at: state.rows_copied + state.rows_rejected,
        });
        let started = Instant::now();
        let done_before = state.rows_copied + state.rows_rejected;
        let limit = self.options.batch_size;
        let ordered_alike = plan
            .key
            .iter()
            .all(|&i| plan.columns[i].source_type.is_integer());
        let overlap = ordered_alike && self.dst.dialect() != Dialect::Sqlite;
        // What earlier runs copied is read back first.
        let mut read_back = match (&state.last_key, ordered_alike) {
            (Some(resumed), true) => {
                read_back_on_task(self.check, plan, None, Some(resumed.clone()), limit)
                    .await
                    .map_err(self.context("reading back"))?
            }
            _ => 0,
        };
        let mut batch = transfer::read_batch(
            self.src,
            plan,
            Side::Source,
            state.last_key.as_deref(),
            None,
            limit,
        )
        .await
        .map_err(self.context("reading"))?;
        // The key range of the last batch written and not yet read back.
        let mut unchecked: Option<(Option<Vec<String>>, Vec<String>)> = None;
        while let Some(last) = batch.last() {
            let through = last.key.clone();
            let full = batch.len() == limit as usize;
            let checking = match overlap {
                true => unchecked.take(),
                false => None,
            };
            let (next, written, checked) = futures_util::future::join3(
                async {
                    match full {
                        true => {
                            transfer::read_batch(
                                self.src,
                                plan,
                                Side::Source,
                                Some(&through),
                                None,
                                limit,
                            )
                            .await
                        }
                        false => Ok(Vec::new()),
                    }
                },
                write_batch(
                    self.dst,
                    plan,
                    self.checkpoints,
                    self.options.strict,
                    &state,
                    batch,
                    through.clone(),
                ),
                async {
                    match checking {
                        Some((after, through)) => {
                            read_back_on_task(self.check, plan, after, Some(through), limit).await
                        }
                        None => Ok(0),
                    }
                },
            )
            .await;
            let (after, rejected) = written?;
            read_back = read_back.wrapping_add(checked.map_err(self.context("reading back"))?);
            self.rejects.write(&reject_lines(plan, &rejected))?;
            let range = (state.last_key.take(), through);
            state = after;
            match (overlap, ordered_alike) {
                (true, _) => unchecked = Some(range),
                (false, true) => {
                    let sum = read_back_on_task(self.check, plan, range.0, Some(range.1), limit)
                        .await
                        .map_err(self.context("reading back"))?;
                    read_back = read_back.wrapping_add(sum);
                }
                (false, false) => {}
            }
            let rows_done = state.rows_copied + state.rows_rejected;
            let elapsed = started.elapsed().as_secs_f64();
            let rate = match elapsed > 0.0 {
                true => (rows_done - done_before) as f64 / elapsed,
                false => 0.0,
            };
            let rows_estimated = estimated.max(rows_done);
            (self.on_event)(&CopyEvent::Progress {
                table: plan.name.clone(),
                rows_done,
                rows_estimated,
                rate,
                eta: (rate > 0.0)
                    .then(|| Duration::from_secs_f64((rows_estimated - rows_done) as f64 / rate)),
            });
            batch = next.map_err(self.context("reading"))?;
        }
        if let Some((after, through)) = unchecked {
            let sum = read_back_on_task(self.check, plan, after, Some(through), limit)
                .await
                .map_err(self.context("reading back"))?;
            read_back = read_back.wrapping_add(sum);
        }
        if !ordered_alike {
            read_back = read_back_on_task(self.check, plan, None, None, limit)
                .await
                .map_err(self.context("reading back"))?;
        }
        reset_counters(self.dst, plan)
            .await
            .map_err(self.context("resetting the key counter of"))?;
        self.verify(&state, read_back).await?;
        let mut done = state.clone();
        done.done = true;
        let update = checkpoint::advance(
            self.dst.dialect(),
            self.checkpoints,
            &plan.name,
            &state,
            &done,
        );
        self.dst
            .execute(&update)
            .await
            .map_err(self.context("recording the end of the copy of"))?;
        Ok(done)
    }

    /// The target's rows against what was written: their count, and the checksum of the rows
    /// read back (`read_back`) against the source's.
    async fn verify(&mut self, state: &Progress, read_back: u64) -> Result<(), CopyError> {
        let plan = self.plan;
        let mismatch = |what: String| CopyError::Mismatch {
            table: plan.name.clone(),
            what,
            checkpoints: self.checkpoints.display(),
        };
        let rows = count(self.dst, &plan.name)
            .await
            .map_err(self.context("counting the copied rows of"))?;
        if rows != state.rows_copied {
            return Err(mismatch(format!(
                "the target has {rows} rows, and {} were copied",
                state.rows_copied
            )));
        }
        if read_back != state.checksum {
            return Err(mismatch(format!(
                "its rows hash to {read_back:016x} on the target and to {:016x} on the source",
                state.checksum
            )));
        }
        Ok(())
    }
}

/// [`checksum_of`] on a task of its own, with the connection in `slot` moved there and back.
async fn read_back_on_task(
    slot: &mut Option<Connection>,
    plan: &TablePlan,
    after: Option<Vec<String>>,
    through: Option<Vec<String>>,
    limit: u32,
) -> Result<u64, DbError> {
    let Some(mut conn) = slot.take() else {
        return Err(DbError::Invalid(
            "the connection that reads batches back was lost by an earlier failure".into(),
        ));
    };
    let plan = plan.clone();
    let task = tokio::spawn(async move {
        let sum = checksum_of(
            &mut conn,
            &plan,
            after.as_deref(),
            through.as_deref(),
            limit,
        )
        .await;
        (conn, sum)
    });
    let (conn, sum) = task
        .await
        .map_err(|e| DbError::Invalid(format!("reading a batch back stopped: {e}")))?;
    *slot = Some(conn);
    sum
}

/// The sum of the hashes of the target's rows with keys after `after` up to `through`, read
/// in batches of `limit`.
async fn checksum_of(
    conn: &mut Connection,
    plan: &TablePlan,
    mut after: Option<&[String]>,
    through: Option<&[String]>,
    limit: u32,
) -> Result<u64, DbError> {
    let mut sum = 0u64;
    let mut last_key;
    loop {
        let batch = transfer::read_batch(conn, plan, Side::Target, after, through, limit).await?;
        for row in &batch {
            sum = sum.wrapping_add(row.hash);
        }
        let Some(last) = batch.last().filter(|_| batch.len() == limit as usize) else {
            return Ok(sum);
        };
        last_key = last.key.clone();
        after = Some(&last_key);
    }
}

async fn count(conn: &mut Connection, table: &str) -> Result<u64, DbError> {
    let dialect = conn.dialect();
    let cast = match dialect {
        Dialect::Mysql => "CAST(COUNT(*) AS CHAR)",
        _ => "CAST(COUNT(*) AS TEXT)",
    };
    let rows = conn
        .fetch_text(&format!(
            "SELECT {cast} FROM {}",
            quote_identifier(dialect, table)
        ))
        .await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Writes one batch read from the source and advances the checkpoint, in one transaction of
/// the target; a batch refused is written again row by row. Returns the checkpoint after it
/// and the rows refused.
async fn write_batch(
    dst: &mut Connection,
    plan: &TablePlan,
    checkpoints: &HistoryTable,
    strict: bool,
    before: &Progress,
    batch: Vec<ReadRow>,
    through: Vec<String>,
) -> Result<(Progress, Vec<Rejected>), CopyError> {
    let dialect = dst.dialect();
    let context = |what: &str| database(format!("{what} `{}`", plan.name));
    // Values the target cannot hold are refused before any is sent.
    let mut hashes = Vec::with_capacity(batch.len());
    let mut rows: Vec<BoundRow> = Vec::with_capacity(batch.len());
    let mut rejected = Vec::new();
    for read in batch {
        let refusal = read.unreadable.or_else(|| {
            read.values
                .iter()
                .zip(&plan.columns)
                .find_map(|(value, column)| {
                    let reason = value::refused(dialect, &column.target_type, value.as_ref()?)?;
                    Some(format!("column `{}`: {reason}", column.name))
                })
        });
        if let Some(reason) = refusal {
            let values = read.values.iter().map(value::describe).collect();
            rejected.push(Rejected::new(plan, values, reason));
            continue;
        }
        hashes.push(read.hash);
        rows.push(
            read.values
                .into_iter()
                .zip(&plan.columns)
                .map(|(v, c)| v.map(|v| value::bound(dialect, &c.target_type, v)))
                .collect(),
        );
    }
    if strict && !rejected.is_empty() {
        return Err(strict_error(plan, rejected.swap_remove(0)));
    }
    let begin = match dialect {
        // A batch and its checkpoint commit together, so a commit need not wait for the disk:
        // a crash loses the last batches with their checkpoints, and the rerun copies them again.
        Dialect::Postgres => "BEGIN; SET LOCAL synchronous_commit = off".to_owned(),
        _ => dst.begin_sql().to_owned(),
    };
    dst.execute(&begin)
        .await
        .map_err(context("starting a batch of"))?;
    if let Err(error) = transfer::write_rows(dst, plan, &rows).await {
        let _ = dst.execute("ROLLBACK").await;
        if !error.is_database_error() {
            return Err(context("writing a batch of")(error));
        }
        dst.execute(&begin)
            .await
            .map_err(context("starting a batch of"))?;
        let mut refused;
        (hashes, refused) = match row_by_row(dst, plan, hashes, rows).await {
            Ok(outcome) => outcome,
            Err(error) => {
                let _ = dst.execute("ROLLBACK").await;
                return Err(context("writing a batch of")(error));
            }
        };
        if strict && !refused.is_empty() {
            let _ = dst.execute("ROLLBACK").await;
            return Err(strict_error(plan, refused.swap_remove(0)));
        }
        rejected.extend(refused);
    }
    let mut after = before.clone();
    after.last_key = Some(through);
    after.rows_copied += hashes.len() as u64;
    after.rows_rejected += rejected.len() as u64;
    after.checksum = hashes
        .iter()
        .fold(after.checksum, |sum, hash| sum.wrapping_add(*hash));
    let advance = checkpoint::advance(dialect, checkpoints, &plan.name, before, &after);
    match dst.execute_counting(&advance).await {
        Ok(1) => {}
        Ok(_) => {
            let _ = dst.execute("ROLLBACK").await;
            return Err(CopyError::Refused(format!(
                "another copy is writing `{}` on the target (its checkpoint moved meanwhile): \
                 let one copy run at a time",
                plan.name
            )));
        }
        Err(error) => {
            let _ = dst.execute("ROLLBACK").await;
            return Err(context("recording a batch of")(error));
        }
    }
    dst.execute("COMMIT")
        .await
        .map_err(context("committing a batch of"))?;
    Ok((after, rejected))
}

fn strict_error(plan: &TablePlan, rejected: Rejected) -> CopyError {
    CopyError::Strict {
        table: plan.name.clone(),
        key: rejected.key,
        reason: rejected.reason,
    }
}

/// The rows of a refused batch one at a time, each behind a savepoint: the hashes of those
/// written, and those refused with the target's reason.
async fn row_by_row(
    dst: &mut Connection,
    plan: &TablePlan,
    hashes: Vec<u64>,
    rows: Vec<BoundRow>,
) -> Result<(Vec<u64>, Vec<Rejected>), DbError> {
    let mut written = Vec::with_capacity(rows.len());
    let mut refused = Vec::new();
    for (hash, row) in hashes.into_iter().zip(rows) {
        dst.execute("SAVEPOINT godwit_copy_row").await?;
        match transfer::write_rows(dst, plan, std::slice::from_ref(&row)).await {
            Ok(()) => {
                dst.execute("RELEASE SAVEPOINT godwit_copy_row").await?;
                written.push(hash);
            }
            Err(error) if error.is_database_error() => {
                dst.execute("ROLLBACK TO SAVEPOINT godwit_copy_row").await?;
                let reason = match &error {
                    DbError::Statement { source, .. } => source.to_string(),
                    other => other.to_string(),
                };
                let values = row.iter().map(value::describe_bound).collect();
                refused.push(Rejected::new(plan, values, reason));
            }
            Err(error) => return Err(error),
        }
    }
    Ok((written, refused))
}

/// `id = "7"`, `(a, b) = ("x", "2")`, from a row's described values.
fn describe_key(plan: &TablePlan, values: &[String]) -> String {
    let names: Vec<&str> = plan
        .key
        .iter()
        .map(|&i| plan.columns[i].name.as_str())
        .collect();
    let key: Vec<&str> = plan.key.iter().map(|&i| values[i].as_str()).collect();
    match names.len() {
        1 => format!("{} = {}", names[0], key[0]),
        _ => format!("({}) = ({})", names.join(", "), key.join(", ")),
    }
}

/// One JSON object per refused row: the table, the key, every value, and the reason.
fn reject_lines(plan: &TablePlan, rejected: &[Rejected]) -> Vec<String> {
    let json = |text: &str| serde_json::Value::String(text.to_owned()).to_string();
    rejected
        .iter()
        .map(|r| {
            let values: Vec<String> = plan
                .columns
                .iter()
                .zip(&r.values)
                .map(|(c, v)| format!("{}:{}", json(&c.name), json(v)))
                .collect();
            format!(
                "{{\"table\":{},\"key\":{},\"row\":{{{}}},\"error\":{}}}",
                json(&plan.name),
                json(&r.key),
                values.join(","),
                json(&r.reason)
            )
        })
        .collect()
}

/// Points the counters of the table's generated keys past its largest key, as if its rows had
/// been inserted there.
async fn reset_counters(conn: &mut Connection, plan: &TablePlan) -> Result<(), DbError> {
    let dialect = conn.dialect();
    let table = quote_identifier(dialect, &plan.name);
    for column in &plan.counters {
        let c = quote_identifier(dialect, column);
        match dialect {
            Dialect::Postgres => {
                let sequence = format!(
                    "pg_get_serial_sequence({}, {})",
                    quote_literal(dialect, &table),
                    quote_literal(dialect, column)
                );
                conn.fetch_text(&format!(
                    "SELECT CAST(setval({sequence}, COALESCE(MAX({c}), 0) + 1, false) AS TEXT) \
                     FROM {table} WHERE {sequence} IS NOT NULL"
                ))
                .await?;
            }
            Dialect::Mysql => {
                let next = conn
                    .fetch_text(&format!(
                        "SELECT CAST(COALESCE(MAX({c}), 0) + 1 AS CHAR) FROM {table}"
                    ))
                    .await?;
                let next = next
                    .first()
                    .and_then(|r| r.first().cloned().flatten())
                    .unwrap_or_else(|| "1".to_owned());
                conn.execute(&format!("ALTER TABLE {table} AUTO_INCREMENT = {next}"))
                    .await?;
            }
            Dialect::Sqlite => {
                let has_sequences = !conn
                    .fetch_text(
                        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = \
                         'sqlite_sequence'",
                    )
                    .await?
                    .is_empty();
                if has_sequences {
                    conn.execute(&format!(
                        "UPDATE sqlite_sequence SET seq = (SELECT MAX({c}) FROM {table}) WHERE \
                         name = {} AND seq < (SELECT MAX({c}) FROM {table})",
                        quote_literal(dialect, &plan.name)
                    ))
                    .await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Column, ColumnType, ForeignKey, ReferentialAction, Table};

    fn table(name: &str, references: &[&str]) -> Table {
        let mut t = Table::new(name);
        t.columns.push(Column::new("id", ColumnType::BigInt));
        for (i, parent) in references.iter().enumerate() {
            t.foreign_keys.push(ForeignKey {
                name: format!("fk_{name}_{i}"),
                columns: vec!["id".into()],
                ref_table: parent.to_string(),
                ref_columns: vec!["id".into()],
                on_delete: ReferentialAction::NoAction,
                on_update: ReferentialAction::NoAction,
            });
        }
        t
    }

    fn schema(tables: Vec<Table>) -> Schema {
        let mut schema = Schema::new();
        for t in tables {
            schema.insert_table(t);
        }
        schema
    }

    #[test]
    fn a_table_without_a_key_to_page_by_is_refused_naming_it_and_the_fix() {
        let mut keyless = Table::new("events");
        keyless
            .columns
            .push(Column::new("at", ColumnType::Timestamp));
        let mut by_json = Table::new("docs");
        by_json.columns.push(Column::new("doc", ColumnType::Json));
        by_json.primary_key = Some(crate::op::PrimaryKey {
            name: "docs_pkey".into(),
            columns: vec!["doc".into()],
        });
        by_json.columns[0].nullable = false;
        let mut users = table("users", &[]);
        users.primary_key = Some(crate::op::PrimaryKey {
            name: "users_pkey".into(),
            columns: vec!["id".into()],
        });
        users.columns[0].nullable = false;
        let s = schema(vec![keyless, by_json, users]);
        let refusal = |name: &str| match table_plan(&s, &s, name) {
            Err(CopyError::Refused(message)) => message,
            other => panic!("{other:?}"),
        };
        let message = refusal("events");
        assert!(
            message.contains("`events`") && message.contains("leave the table out with --tables"),
            "{message}"
        );
        assert_eq!(message.matches("--tables").count(), 1, "{message}");
        let message = refusal("docs");
        assert!(
            message.contains("`docs`") && message.contains("json, which a copy cannot page by"),
            "{message}"
        );
        let users = table_plan(&s, &s, "users").expect("keyed by id");
        assert_eq!(users.key, [0]);
    }

    #[test]
    fn parents_come_first_and_cycles_last() {
        let s = schema(vec![
            table("comments", &["posts", "users"]),
            table("posts", &["users"]),
            table("users", &[]),
            table("nodes", &["nodes"]),
            table("a", &["b"]),
            table("b", &["a"]),
        ]);
        let names: Vec<String> = s.tables().map(|t| t.name.clone()).collect();
        assert_eq!(
            dependency_order(&s, &names),
            ["nodes", "users", "posts", "comments", "a", "b"]
        );
        assert_eq!(tangled_tables(&s, &names), ["nodes", "a"]);
        let only_posts = vec!["posts".to_owned()];
        assert!(tangled_tables(&s, &only_posts).is_empty());
    }
}
