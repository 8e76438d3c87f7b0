//! Why a run stopped: [`RunError`], whose every variant says what happened, where, and what to
//! do.

use std::time::Duration;

use thiserror::Error;

use crate::db::DbError;
use crate::graph::{Direction, GraphError, PlanError as GraphPlanError};
use crate::op::Dialect;
use crate::registry::RegistryError;
use crate::render::RenderError;
use crate::schema::SchemaError;
/// Why a run stopped. Every variant says what happened, where, and what to do.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Plan(#[from] GraphPlanError),
    #[error("{context}: {source}")]
    Database {
        context: String,
        #[source]
        source: DbError,
    },
    #[error(
        "another migration run holds the lock on this database (waited {}s){}; wait for it to \
         finish, or raise the lock timeout",
        waited.as_secs_f64(),
        holder.as_deref().map(|h| format!(": held by {h}")).unwrap_or_default()
    )]
    LockTimeout {
        waited: Duration,
        holder: Option<String>,
    },
    #[error(
        "cannot use the lock file {path}: {source}; the directory of the database must be writable"
    )]
    LockFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the history table is unreadable: {0}; it was not written by this version of godwit, or was edited by hand"
    )]
    History(String),
    #[error("migration `{id}` ({location}) cannot run on {dialect}: {source}", dialect = dialect.name())]
    Model {
        id: String,
        location: String,
        dialect: Dialect,
        #[source]
        source: Box<ModelError>,
    },
    #[error(
        "applied migrations changed since they were applied: {}; restore them as applied, or if \
         the database already matches the new version, accept the change (`accept_changed`, \
         then `record_checksums`)",
        .0.join("; ")
    )]
    Changed(Vec<String>),
    #[error(
        "the database has migrations this binary does not know: {}; they were applied by another \
         release or branch. Run the binary that has them, or revert them (`down` uses the reverse \
         SQL stored when they were applied), or allow unknown migrations explicitly",
        .0.join(", ")
    )]
    Unknown(Vec<String>),
    #[error(
        "cannot revert migration `{id}` ({location}): op {index} `{op}` is irreversible: {reason}"
    )]
    Irreversible {
        id: String,
        location: String,
        /// 1-based.
        index: usize,
        op: String,
        reason: String,
    },
    #[error(
        "cannot run as one transaction: {reason}; run without `single_transaction` (CLI: \
         without `--single-transaction`)"
    )]
    NotOneTransaction { reason: String },
    #[error("{source}\nthe run was one transaction and is rolled back{}", undone(*direction, done))]
    RolledBack {
        direction: Direction,
        /// The migrations of the run that had completed before the failure, now undone.
        done: Vec<String>,
        #[source]
        source: Box<RunError>,
    },
    #[error("cannot tell where an interrupted run stopped: {0}")]
    Unsettled(String),
    #[error(
        "the live schema differs from the model at the applied migrations, so the SQL planned \
         from the model may not fit it ({} difference(s)): {}; undo the change by hand, or make \
         it a migration, or go on anyway with `--allow-drift` (`Migrator::allow_drift`)",
        .0.len(),
        .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Drift(Vec<crate::introspect::Difference>),
    #[error(
        "verify runs every migration up, down and up again, and needs a scratch database; this \
         one has tables: {0}; point --database-url at an empty database, or pass --force \
         (`verify(true)`) to verify the migrations not applied yet on this one"
    )]
    NotScratch(String),
    /// The tenants cannot be found as given.
    #[error("{0}")]
    Tenants(String),
    #[error("migration `{id}` ({location}) did not run: the backup before it failed: {reason}")]
    BackupFailed {
        id: String,
        location: String,
        reason: String,
    },
    #[error(
        "contract migration `{contract}` ({location}) cannot run before the backfill of \
         `{table}` it depends on is done: op {} of `{migration}`, which is recorded as applied, \
         but {progress}; revert `{migration}` and apply it again (`redo` when it is the last \
         one), then run `up`",
        op + 1
    )]
    BackfillUnfinished {
        contract: String,
        location: String,
        migration: String,
        /// 0-based index of the backfill in `migration`.
        op: usize,
        table: String,
        progress: String,
    },
    #[error("cannot revert migration `{id}` ({location}): {reason}")]
    CannotRevert {
        id: String,
        location: String,
        reason: String,
    },
    #[error(
        "migration `{id}` ({location}) failed at op {index} of {ops} `{op}`: {source}\n{applied}",
        index = index + 1,
        applied = match op_progress {
            Some(progress) => describe_kept(*direction, *ops_applied, *ops, *index, progress),
            None => describe_applied(*direction, *ops_applied, *ops, statements_committed, id),
        }
    )]
    Failed {
        id: String,
        location: String,
        direction: Direction,
        /// 0-based index of the failing op.
        index: usize,
        ops: usize,
        op: String,
        /// Ops of this migration applied once the run stopped, as recorded in the history.
        ops_applied: usize,
        /// Statements of the failing op that committed before it failed (MySQL), with their SQL.
        statements_committed: Vec<String>,
        /// What of the failing op is done and kept, when it records its own progress (the
        /// batches a backfill committed).
        op_progress: Option<String>,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What a rolled-back run undid: `: `a`, `b` and 2 more before it in this run are not applied
/// either`; nothing when the first migration failed.
fn undone(direction: Direction, done: &[String]) -> String {
    const SHOWN: usize = 5;
    if done.is_empty() {
        return String::new();
    }
    let named: Vec<String> = done
        .iter()
        .take(SHOWN)
        .map(|id| format!("`{id}`"))
        .collect();
    let mut ids = named.join(", ");
    if done.len() > SHOWN {
        ids += &format!(" and {} more", done.len() - SHOWN);
    }
    let verb = if done.len() == 1 { "is" } else { "are" };
    let state = match direction {
        Direction::Up => "not applied either",
        Direction::Down => "still applied",
    };
    format!(": {ids} before it in this run {verb} {state}")
}

/// The state a run leaves when the op that failed keeps its own progress.
fn describe_kept(
    direction: Direction,
    applied: usize,
    ops: usize,
    index: usize,
    progress: &str,
) -> String {
    let before = match (direction, applied) {
        (Direction::Up, 0) => String::new(),
        (Direction::Up, n) => format!("ops 1–{n} of {ops} are applied and recorded; "),
        (Direction::Down, n) if n == index + 1 => String::new(),
        (Direction::Down, n) => format!("ops 1–{n} of {ops} are still applied; "),
    };
    let verb = match direction {
        Direction::Up => "up",
        Direction::Down => "down",
    };
    format!(
        "{before}op {} is partly done, and what it did is kept: {progress}; run `{verb}` again \
         to resume it",
        index + 1
    )
}

fn describe_applied(
    direction: Direction,
    applied: usize,
    ops: usize,
    committed: &[String],
    id: &str,
) -> String {
    let mut text = match (direction, applied) {
        (Direction::Up, 0) => format!("nothing of `{id}` is applied; fix the cause and run again"),
        (Direction::Up, n) => format!(
            "ops 1–{n} of {ops} are applied and recorded; run `up` again to resume at op {}, or \
             `down` to revert the applied ops",
            n + 1
        ),
        (Direction::Down, n) if n == ops => {
            format!("nothing of `{id}` was reverted; fix the cause and run again")
        }
        (Direction::Down, 0) => format!("every op of `{id}` is reverted"),
        (Direction::Down, n) => format!(
            "ops 1–{n} of {ops} are still applied (the others are reverted) and recorded; run \
             `down` again to go on, or `up` to reapply"
        ),
    };
    if !committed.is_empty() {
        text.push_str(&format!(
            "; the failing op is half done: these statements of it committed (MySQL cannot roll \
             DDL back), and a rerun continues after them: {}",
            committed.join("; ")
        ));
    }
    text
}

pub(crate) fn db_error(context: &str, source: DbError) -> RunError {
    RunError::Database {
        context: context.into(),
        source,
    }
}

/// Why an op could not be planned: the schema model refuses it (it does not fit the state
/// before it), or the dialect cannot render it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Render(#[from] RenderError),
}
