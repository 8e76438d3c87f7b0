//! The runner: applies and reverts migrations on a live database.
//!
//! ```no_run
//! # async fn run() -> Result<(), godwit::runner::RunError> {
//! use godwit::Migrator;
//! let mut migrator = Migrator::connect("postgres://app@localhost/app").await?;
//! let report = migrator.up().await?;
//! println!("applied {} migrations", report.applied.len());
//! # Ok(()) }
//! ```
//!
//! A run, whatever the command:
//! 1. takes the lock ([`lock`]) and sets the session's DDL lock timeout;
//! 2. creates the history table if missing and reads it ([`history`]), settling where an
//!    interrupted MySQL run stopped;
//! 3. replays every applied migration on the schema model, in graph order;
//! 4. plans, then renders every migration of the plan before running any, so a migration that
//!    cannot run (an op this dialect refuses, an irreversible op on the way down) stops the run
//!    before anything changes;
//! 5. runs each migration ([`execute`]): in one transaction with its history row where the
//!    dialect and the ops allow, otherwise op by op with the progress in the history row. Such
//!    transactions of consecutive migrations that lock only tables the run creates or drops
//!    are one ([`shared`]), unless [`Migrator::commit_each`]; with
//!    [`Migrator::single_transaction`], all of them are one. On MySQL, consecutive migrations of
//!    one-statement steps record their progress at the start and end of their group, and the
//!    live schema tells where an interrupted group stopped ([`deferred`]);
//! 6. releases the lock, also on error.

// A run returns at most one error, after the database work: its size costs nothing, and a flat
// enum is what callers match on.
#![allow(clippy::result_large_err)]

mod checksum;
mod deferred;
mod execute;
mod history;
mod lock;
mod shared;
mod stored;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use thiserror::Error;

use crate::db::{Connection, DbError};
use crate::graph::{Direction, Graph, GraphError, PlanError as GraphPlanError, Target};
use crate::op::{Dialect, Op, StepFn, left_to_table_drop, parts_created_with_table};
use crate::registry::{MigrationEntry, Registry, RegistryError};
use crate::render::{PlanError as RenderPlanError, RenderedOp, plan_op};
use crate::schema::{Inverse, Schema};

pub use checksum::checksum;
pub use history::HistoryTable;
use history::Row;
use shared::Touch;
use stored::{StoredDown, StoredUnit};

/// What a caller can observe while a run goes on (the CLI draws its progress from these).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A migration starts. `resume_from` > 0: it stopped midway before and resumes at that op.
    MigrationStarted {
        id: String,
        direction: Direction,
        /// 1-based position in the plan, and the plan's length.
        position: usize,
        total: usize,
        ops: usize,
        resume_from: usize,
    },
    /// One op of the migration is done (for a downgrade: reverted), or several that ran as one
    /// step (a table created or dropped whole).
    OpFinished {
        id: String,
        /// 0-based index of the op in the migration: for a step of several, the last one up,
        /// the table's own op down.
        index: usize,
        ops: usize,
        description: String,
        elapsed: Duration,
    },
    MigrationFinished {
        id: String,
        direction: Direction,
        elapsed: Duration,
    },
    /// A failed earlier attempt left this behind (an INVALID index); it was dropped.
    LeftoverRemoved { id: String, sql: String },
    /// A statement gave up waiting for a table lock; the step runs again after `wait`.
    Retrying {
        id: String,
        attempt: u32,
        wait: Duration,
        error: String,
    },
    /// An interrupted MySQL run left this migration's progress unrecorded: the live schema
    /// shows `ops_done` of its `ops_total` ops applied, which the history now records.
    Located {
        id: String,
        ops_done: usize,
        ops_total: usize,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Ids applied, in order.
    pub applied: Vec<String>,
    /// Ids reverted, in order.
    pub reverted: Vec<String>,
    /// Ids recorded as applied or removed from the history without running (`stamp`).
    pub stamped: Vec<String>,
    pub unstamped: Vec<String>,
}

impl Report {
    /// Whether the run changed nothing.
    pub fn nothing_to_do(&self) -> bool {
        self.applied.is_empty()
            && self.reverted.is_empty()
            && self.stamped.is_empty()
            && self.unstamped.is_empty()
    }
}

/// The state of one migration, as [`Migrator::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Pending,
    Applied,
    /// Applied, but the migration's ops changed since: the recorded checksum differs.
    Changed {
        recorded: String,
        current: String,
    },
    /// Stopped midway: `ops_done` of `ops_total` ops are applied. `up` resumes it.
    Partial {
        ops_done: usize,
        ops_total: usize,
    },
    /// Recorded in the database, unknown to this binary (applied by another release or branch).
    Unknown,
    /// An interrupted MySQL run left its progress unrecorded, and the live schema does not tell
    /// how far it got: `reason` says why.
    Interrupted {
        reason: String,
    },
}

impl State {
    pub fn label(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Applied => "applied",
            State::Changed { .. } => "changed",
            State::Partial { .. } => "partial",
            State::Unknown => "unknown",
            State::Interrupted { .. } => "interrupted",
        }
    }
}

/// One line of [`Migrator::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub id: String,
    pub state: State,
    /// `YYYY-MM-DD HH:MM:SS` UTC, when recorded.
    pub applied_at: Option<String>,
    pub execution_ms: Option<i64>,
    /// `file:line (module)` from this binary, or as recorded for an unknown migration.
    pub location: String,
    pub parents: Vec<String>,
}

/// Every known migration in plan order, then the unknown ones in the order they were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub migrations: Vec<MigrationStatus>,
    /// The heads of the graph.
    pub heads: Vec<String>,
    pub history_table: String,
}

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
        source: Box<RenderPlanError>,
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
    #[error("cannot revert migration `{id}` ({location}): {reason}")]
    CannotRevert {
        id: String,
        location: String,
        reason: String,
    },
    #[error(
        "migration `{id}` ({location}) failed at op {index} of {ops} `{op}`: {source}\n{applied}",
        index = index + 1,
        applied = describe_applied(*direction, *ops_applied, *ops, statements_committed, id)
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

/// One piece of a step: SQL, or a Rust data step.
#[derive(Clone)]
pub(crate) enum Part {
    Sql {
        op: RenderedOp,
        /// Each statement is exactly one SQL statement, as godwit renders them; `false` for SQL
        /// written by hand or read back from the history, which may hold any number. Only known
        /// single statements are sent several to a round trip, where a failure is traced to its
        /// statement by counting the results before it.
        one_statement_each: bool,
    },
    /// A Rust data step: its name and its function.
    Rust(String, std::sync::Arc<StepFn>),
}

/// What applying or reverting one op of a migration takes, or several that run as one.
#[derive(Clone)]
pub(crate) struct Step {
    /// Up: the last op applied. Down: the op reverted last (after it, `op_index` ops remain
    /// applied).
    pub op_index: usize,
    /// The op the step's SQL starts with: up, the first it applies (a table created whole
    /// stands for the ops up to `op_index`); down, `op_index`.
    pub first_op: usize,
    pub description: String,
    pub parts: Vec<Part>,
}

impl Step {
    fn one(op_index: usize, description: String, parts: Vec<Part>) -> Step {
        Step {
            op_index,
            first_op: op_index,
            description,
            parts,
        }
    }

    fn outside_transaction(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Sql { op, .. } if op.outside_transaction))
    }

    fn only_rust(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Rust(..)))
    }
}

/// One migration to apply or revert, fully rendered.
pub(crate) struct Job {
    pub id: String,
    pub location: String,
    pub direction: Direction,
    pub transactional: bool,
    pub steps: Vec<Step>,
    pub ops_total: usize,
    /// Up: ops already applied by an earlier, interrupted run. Down: ops applied now.
    pub ops_done: usize,
    /// Statements of op `ops_done` already committed (resuming a MySQL op).
    pub statements_done: usize,
    /// A history row exists for it.
    pub has_row: bool,
    pub checksum: String,
    /// Comma-separated.
    pub parents: String,
    pub down_sql: String,
    /// The tables its ops lock, in order; `None` when not known ([`shared::touches`]).
    pub touches: Option<Vec<Touch>>,
    /// MySQL: the tables its ops change, in order; `None` when not known ([`deferred`]).
    pub trace: Option<deferred::Trace>,
    pub seq: i64,
}

/// A caller's callback for [`Event`]s.
type Observer = Box<dyn Fn(&Event) + Send + Sync>;

/// Calls the observer, if there is one: for code that holds the connection while it reports.
fn notify(observer: &Option<Observer>, event: Event) {
    if let Some(observer) = observer {
        observer(&event);
    }
}

/// Applies and reverts migrations on one database connection. See the [module docs](self).
pub struct Migrator {
    conn: Connection,
    registry: Registry,
    graph: Graph,
    history: HistoryTable,
    lock_timeout: Duration,
    ddl_lock_timeout: Duration,
    retries: u32,
    accept_changed: BTreeSet<String>,
    allow_unknown: bool,
    observer: Option<Observer>,
    /// The caller's observer while a shared commit holds events back.
    parked_observer: Option<Observer>,
    /// Set while a run holds the lock, with the SQL that releases a session lock: still set
    /// at the next run, it tells that a run was dropped halfway (a timeout around `up`).
    unfinished_run: Option<Option<String>>,
    session_ready: bool,
    single_transaction: bool,
    commit_each: bool,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("dialect", &self.conn.dialect())
            .field("migrations", &self.registry.len())
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

impl Migrator {
    /// Collects the migrations linked into this binary, checks them, then connects to `url`
    /// (`postgres://`, `mysql://`, `mariadb://`, `sqlite:`). Duplicate ids and graph errors are
    /// reported before any connection is made.
    pub async fn connect(url: &str) -> Result<Migrator, RunError> {
        let registry = Registry::collect()?;
        let graph = registry.graph()?;
        let conn = Connection::connect(url)
            .await
            .map_err(|source| RunError::Database {
                context: "connecting to the database".into(),
                source,
            })?;
        Ok(Migrator::assemble(conn, registry, graph))
    }

    /// Uses an existing connection (`PgConnection`, `MySqlConnection`, `SqliteConnection`, or
    /// one detached from a pool with `pool.acquire().await?.detach()`) and the migrations
    /// linked into this binary.
    pub fn new(conn: impl Into<Connection>) -> Result<Migrator, RunError> {
        Migrator::with_registry(conn, Registry::collect()?)
    }

    /// Uses an existing connection and an explicit set of migrations.
    pub fn with_registry(
        conn: impl Into<Connection>,
        registry: Registry,
    ) -> Result<Migrator, RunError> {
        let graph = registry.graph()?;
        Ok(Migrator::assemble(conn.into(), registry, graph))
    }

    /// Takes one connection out of a sqlx pool for the run (`PgPool`, `MySqlPool`, `SqlitePool`).
    pub async fn from_pool<DB>(pool: &sqlx::Pool<DB>) -> Result<Migrator, RunError>
    where
        DB: sqlx::Database,
        DB::Connection: Into<Connection>,
    {
        let conn = pool
            .acquire()
            .await
            .map_err(|e| RunError::Database {
                context: "taking a connection from the pool".into(),
                source: DbError::Connect(e),
            })?
            .detach();
        Migrator::new(conn)
    }

    fn assemble(conn: Connection, registry: Registry, graph: Graph) -> Migrator {
        Migrator {
            conn,
            registry,
            graph,
            history: HistoryTable::default(),
            lock_timeout: Duration::from_secs(60),
            ddl_lock_timeout: Duration::from_secs(5),
            retries: 3,
            accept_changed: BTreeSet::new(),
            allow_unknown: false,
            observer: None,
            parked_observer: None,
            unfinished_run: None,
            session_ready: false,
            single_transaction: false,
            commit_each: false,
        }
    }

    /// The history table's schema (PostgreSQL schema, MySQL database, SQLite attached database;
    /// `None`: the connection's current one) and name. Default: `godwit_migrations`.
    pub fn history_table(mut self, schema: Option<&str>, name: &str) -> Self {
        self.history = HistoryTable {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
        };
        self
    }

    /// How long to wait for another runner's lock. Default: 60 s.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long one DDL statement may wait for a table lock before it fails (PostgreSQL
    /// `lock_timeout`, MySQL `lock_wait_timeout`, SQLite busy timeout), so a migration behind a
    /// long transaction does not block all traffic queued behind it. The step is then retried.
    /// Default: 5 s.
    pub fn ddl_lock_timeout(mut self, timeout: Duration) -> Self {
        self.ddl_lock_timeout = timeout;
        self.session_ready = false;
        self
    }

    /// How many times a step that timed out waiting for a lock is retried (with backoff from
    /// 0.5 s). Default: 3.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Accepts that these applied migrations changed since they were applied: upgrades go on,
    /// and [`Migrator::record_checksums`] re-records them.
    pub fn accept_changed<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.accept_changed.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Lets an upgrade run although the database has migrations this binary does not know.
    /// The schema model cannot see what they did, so the SQL it renders may not fit.
    pub fn allow_unknown(mut self, allow: bool) -> Self {
        self.allow_unknown = allow;
        self
    }

    /// Runs each upgrade and downgrade as one transaction, history included: every migration
    /// of the run is applied (or reverted), or none is. PostgreSQL and SQLite only (MySQL and
    /// MariaDB commit DDL implicitly), and every migration of the run must be transactional,
    /// with no op that runs outside a transaction (`CONCURRENTLY`); otherwise the run stops
    /// before anything runs. Nothing commits until the end: the locks its DDL takes are held
    /// until then, and a statement that times out waiting for a table lock fails the run
    /// instead of being retried. On SQLite, a run with a table rebuild has foreign keys off
    /// throughout (checked once before the commit). `stamp` is not affected. Default: off, one
    /// transaction per migration.
    pub fn single_transaction(mut self, on: bool) -> Self {
        self.single_transaction = on;
        self
    }

    /// Commits every migration on its own, also those that could share a commit: by default,
    /// on PostgreSQL and SQLite, consecutive migrations that lock only tables the run itself
    /// creates or drops commit together (up to 50, none joining after 0.1 s), each still with
    /// its history row; a failure among them runs the ones before it again alone, so the
    /// database ends as if they never shared. Their progress events come once they commit.
    /// What may share is explained in the [`shared`] module. On MySQL, it also records every
    /// migration's progress as it goes, instead of at the start and end of a group
    /// ([`deferred`]). With [`Migrator::single_transaction`] a run is one commit anyway, and
    /// this changes nothing. Default: off.
    pub fn commit_each(mut self, on: bool) -> Self {
        self.commit_each = on;
        self
    }

    /// Calls `observer` with every [`Event`] of a run.
    pub fn on_event(mut self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.observer = Some(Box::new(observer));
        self
    }

    pub fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The connection, for queries between runs.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    pub fn into_connection(self) -> Connection {
        self.conn
    }

    /// Upgrades to every head.
    pub async fn up(&mut self) -> Result<Report, RunError> {
        self.upgrade(&[Target::Heads]).await
    }

    /// Applies every migration needed to reach `targets`, in plan order.
    pub async fn upgrade(&mut self, targets: &[Target]) -> Result<Report, RunError> {
        let lock = self.begin().await?;
        let result = self.upgrade_locked(targets, false).await;
        self.end(lock, result).await
    }

    /// Reverts every applied migration that `targets` do not need, in reverse plan order.
    pub async fn downgrade(&mut self, targets: &[Target]) -> Result<Report, RunError> {
        let lock = self.begin().await?;
        let result = self.downgrade_locked(targets, false).await;
        self.end(lock, result).await
    }

    /// Records the database as being at `targets` without running anything: migrations the
    /// targets need are recorded as applied, applied ones they do not need are removed.
    pub async fn stamp(&mut self, targets: &[Target]) -> Result<Report, RunError> {
        let lock = self.begin().await?;
        let result = async {
            let mut report = Report::default();
            if !targets.iter().any(|t| matches!(t, Target::Back(_))) {
                report.stamped = self.upgrade_locked(targets, true).await?.stamped;
            }
            if !targets.iter().any(|t| matches!(t, Target::Forward(_))) {
                report.unstamped = self.downgrade_locked(targets, true).await?.unstamped;
            }
            Ok(report)
        }
        .await;
        self.end(lock, result).await
    }

    /// Re-records the checksum (and the reverse SQL) of applied migrations whose ops changed,
    /// for those accepted with [`Migrator::accept_changed`]. Returns the ids re-recorded.
    pub async fn record_checksums(&mut self) -> Result<Vec<String>, RunError> {
        let lock = self.begin().await?;
        let result = self.record_checksums_locked().await;
        self.end(lock, result).await
    }

    /// Every migration's state. Reads only: creates nothing and takes no lock.
    pub async fn status(&mut self) -> Result<Status, RunError> {
        let rows = if history::exists(&mut self.conn, &self.history)
            .await
            .map_err(|e| db_error("looking for the history table", e))?
        {
            history::read(&mut self.conn, &self.history)
                .await
                .map_err(RunError::History)?
        } else {
            Vec::new()
        };
        // Where an interrupted MySQL run stopped, as the live schema shows ([`deferred`]).
        let located: Result<HashMap<String, usize>, String> =
            if rows.iter().any(|r| r.unconfirmed.is_some()) {
                let live = crate::introspect::introspect(&mut self.conn, &[&self.history.name])
                    .await
                    .map_err(|e| {
                        db_error(
                            "reading the schema to find where an interrupted run stopped",
                            e,
                        )
                    })?;
                deferred::locate(&self.planner(), &rows, &live)
                    .map(|found| found.into_iter().map(|(id, done, _)| (id, done)).collect())
            } else {
                Ok(HashMap::new())
            };
        let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut migrations = Vec::with_capacity(self.graph.len());
        for id in self.graph.order() {
            let entry = self.entry(id);
            let row = by_id.get(id).copied();
            let ops_done = |row: &Row| match (&located, row.unconfirmed) {
                (_, None) => Ok(row.ops_done),
                (Ok(found), Some(_)) => Ok(found[row.id.as_str()]),
                (Err(reason), Some(_)) => Err(reason.clone()),
            };
            let state = match row {
                None => State::Pending,
                Some(row) => match ops_done(row) {
                    Err(reason) => State::Interrupted { reason },
                    Ok(0) if row.unconfirmed.is_some() => State::Pending,
                    Ok(done)
                        if row.partial && (row.unconfirmed.is_none() || done < row.ops_total) =>
                    {
                        State::Partial {
                            ops_done: done,
                            ops_total: row.ops_total,
                        }
                    }
                    Ok(_) => {
                        let current = checksum(entry);
                        if current == row.checksum {
                            State::Applied
                        } else {
                            State::Changed {
                                recorded: row.checksum.clone(),
                                current,
                            }
                        }
                    }
                },
            };
            migrations.push(MigrationStatus {
                id: id.to_owned(),
                state,
                applied_at: row.map(|r| r.applied_at.clone()),
                execution_ms: row.filter(|r| !r.partial).map(|r| r.execution_ms),
                location: entry.location().to_string(),
                parents: entry.after().iter().map(|p| p.to_string()).collect(),
            });
        }
        for row in rows.iter().filter(|r| !self.graph.contains(&r.id)) {
            migrations.push(MigrationStatus {
                id: row.id.clone(),
                state: State::Unknown,
                applied_at: Some(row.applied_at.clone()),
                execution_ms: Some(row.execution_ms),
                location: row.location.clone(),
                parents: row.parents.clone(),
            });
        }
        Ok(Status {
            migrations,
            heads: self.graph.heads().iter().map(|h| h.to_string()).collect(),
            history_table: self.history.display(),
        })
    }

    /// Releases the connection.
    pub async fn close(self) -> Result<(), RunError> {
        self.conn
            .close()
            .await
            .map_err(|e| db_error("closing the connection", e))
    }

    fn entry(&self, id: &str) -> &MigrationEntry {
        self.registry
            .get(id)
            .expect("the graph and the registry hold the same ids")
    }

    fn emit(&self, event: Event) {
        notify(&self.observer, event);
    }

    /// Session settings, the lock, the history table.
    async fn begin(&mut self) -> Result<lock::Lock, RunError> {
        if let Some(observer) = self.parked_observer.take() {
            self.observer = Some(observer);
        }
        if let Some(release) = self.unfinished_run.take() {
            // A dropped run left its transaction open, and its session lock (PostgreSQL counts
            // them) held: nothing of it may ride on this run's commits.
            let _ = self.conn.execute("ROLLBACK").await;
            if let Some(release) = release {
                let _ = self.conn.fetch_text(&release).await;
            }
        }
        if !self.session_ready {
            self.configure_session().await?;
            self.session_ready = true;
        }
        let lock = lock::acquire(&mut self.conn, &self.history, self.lock_timeout).await?;
        self.unfinished_run = Some(lock.release_sql());
        if let Err(e) = history::create(&mut self.conn, &self.history).await {
            self.unfinished_run = None;
            let _ = lock.release(&mut self.conn).await;
            return Err(db_error("creating the history table", e));
        }
        Ok(lock)
    }

    async fn end<T>(
        &mut self,
        lock: lock::Lock,
        result: Result<T, RunError>,
    ) -> Result<T, RunError> {
        self.unfinished_run = None;
        let released = lock.release(&mut self.conn).await;
        let value = result?;
        released.map_err(|e| db_error("releasing the migration lock", e))?;
        Ok(value)
    }

    async fn configure_session(&mut self) -> Result<(), RunError> {
        let ms = self.ddl_lock_timeout.as_millis().max(1);
        let statements: Vec<String> = match self.conn.dialect() {
            Dialect::Postgres => vec![format!("SET lock_timeout = '{ms}ms'")],
            Dialect::Mysql => {
                let seconds = ms.div_ceil(1000);
                vec![format!(
                    "SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = \
                     {seconds}, time_zone = '+00:00', sql_mode = \
                     REPLACE(@@SESSION.sql_mode, 'NO_BACKSLASH_ESCAPES', '')"
                )]
            }
            Dialect::Sqlite => vec![format!("PRAGMA busy_timeout = {ms}")],
        };
        for sql in statements {
            self.conn
                .execute(&sql)
                .await
                .map_err(|e| db_error("configuring the session", e))?;
        }
        if self.conn.dialect() == Dialect::Postgres {
            // PostgreSQL 14+: a killed runner's backend notices the closed socket within a
            // second and releases its locks, even in the middle of a long statement.
            let _ = self
                .conn
                .execute("SET client_connection_check_interval = '1s'")
                .await;
        }
        Ok(())
    }

    /// The history, with where an interrupted MySQL run stopped recorded first ([`deferred`]).
    async fn read_history(&mut self) -> Result<Vec<Row>, RunError> {
        let rows = history::read(&mut self.conn, &self.history)
            .await
            .map_err(RunError::History)?;
        deferred::settle(self, rows).await
    }

    fn planner(&self) -> Planner<'_> {
        Planner {
            registry: &self.registry,
            graph: &self.graph,
            dialect: self.conn.dialect(),
            accept_changed: &self.accept_changed,
            allow_unknown: self.allow_unknown,
        }
    }

    async fn upgrade_locked(
        &mut self,
        targets: &[Target],
        stamp_only: bool,
    ) -> Result<Report, RunError> {
        let rows = self.read_history().await?;
        let mut jobs = self.planner().upgrade_jobs(&rows, targets)?;
        if self.single_transaction && !stamp_only {
            let applied = self.run_in_one_transaction(&jobs).await?;
            return Ok(Report {
                applied,
                ..Report::default()
            });
        }
        let mut report = Report::default();
        if stamp_only {
            for job in &jobs {
                execute::stamp(self, job).await?;
                report.stamped.push(job.id.clone());
            }
        } else {
            report.applied = self.run_jobs(&mut jobs).await?;
        }
        Ok(report)
    }

    async fn downgrade_locked(
        &mut self,
        targets: &[Target],
        stamp_only: bool,
    ) -> Result<Report, RunError> {
        let rows = self.read_history().await?;
        let mut report = Report::default();
        if stamp_only {
            let (unknown, plan) = self.planner().downgrade_plan(&rows, targets)?;
            // Nothing runs, so nothing needs to be reversible.
            for id in unknown
                .iter()
                .map(|r| r.id.as_str())
                .chain(plan.iter().map(String::as_str))
            {
                let dialect = self.conn.dialect();
                self.conn
                    .execute(&history::delete(dialect, &self.history, id))
                    .await
                    .map_err(|e| db_error("stamping the history", e))?;
                report.unstamped.push(id.to_owned());
            }
            return Ok(report);
        }
        let mut jobs = self.planner().downgrade_jobs(&rows, targets)?;
        if self.single_transaction {
            report.reverted = self.run_in_one_transaction(&jobs).await?;
        } else {
            report.reverted = self.run_jobs(&mut jobs).await?;
        }
        Ok(report)
    }

    /// Runs `jobs` in order, each in a commit of its own or, where [`shared`] allows, several
    /// to a commit. Returns their ids.
    async fn run_jobs(&mut self, jobs: &mut [Job]) -> Result<Vec<String>, RunError> {
        let sharing = match self.commit_each {
            true => shared::each_alone(jobs.len()),
            false => shared::shareable(jobs, self.conn.dialect()),
        };
        let total = jobs.len();
        let mut done = Vec::with_capacity(total);
        let mut position = 0;
        // After a shared transaction rolled back, its jobs up to the failing one run alone.
        let mut alone_until = 0;
        let deferring = self.conn.dialect() == Dialect::Mysql && !self.commit_each;
        let deferred_len = |jobs: &[Job]| match deferring {
            true => deferred::group_len(jobs),
            false => 0,
        };
        while position < total {
            let len = deferred_len(&jobs[position..]);
            if len > 1 {
                deferred::run(self, &jobs[position..][..len], position, total).await?;
                done.extend(jobs[position..][..len].iter().map(|job| job.id.clone()));
                position += len;
                continue;
            }
            let len = shared::group_len(&sharing[position..], position);
            if position >= alone_until && len > 1 {
                let (group, shares) = (&jobs[position..][..len], &sharing[position..][..len]);
                match shared::run(self, group, shares, position, total).await? {
                    shared::Outcome::Committed(n) => {
                        done.extend(group[..n].iter().map(|job| job.id.clone()));
                        position += n;
                        continue;
                    }
                    shared::Outcome::RolledBack { alone } => alone_until = position + alone,
                }
            }
            let (job, rest) = jobs[position..].split_at_mut(1);
            // A group records its own start: a start row written now would keep its first job
            // out of it.
            let next = rest.first().filter(|_| deferred_len(rest) < 2);
            if execute::run(self, &job[0], next, position + 1, total).await? {
                rest[0].has_row = true;
            }
            done.push(job[0].id.clone());
            position += 1;
        }
        Ok(done)
    }

    /// Runs `jobs` in one transaction; returns their ids once it commits. Their
    /// `MigrationFinished` events wait for the commit.
    async fn run_in_one_transaction(&mut self, jobs: &[Job]) -> Result<Vec<String>, RunError> {
        let dialect = self.conn.dialect();
        if dialect == Dialect::Mysql {
            return Err(RunError::NotOneTransaction {
                reason: "MySQL and MariaDB commit every DDL statement on their own".into(),
            });
        }
        // A migration marked non-transactional is kept out even when it would fit: it was
        // marked so for a reason (a batched backfill that commits as it goes).
        let cannot_join = |job: &&Job| !job.transactional || !execute::atomic(job, dialect);
        if let Some(job) = jobs.iter().find(cannot_join) {
            let why = if job.transactional {
                "has an op that runs outside a transaction (`CONCURRENTLY`)"
            } else {
                "is marked `transactional = false`"
            };
            return Err(RunError::NotOneTransaction {
                reason: format!(
                    "migration `{}` ({}) {why}; run up to the migration before it in one \
                     transaction, then the rest one by one",
                    job.id, job.location
                ),
            });
        }
        let Some(direction) = jobs.first().map(|job| job.direction) else {
            return Ok(Vec::new());
        };
        // SQLite ignores `PRAGMA foreign_keys` inside a transaction: a table rebuild needs it
        // off around the whole run, and a check before the commit.
        let foreign_keys_off = jobs
            .iter()
            .any(|job| execute::needs_foreign_keys_off(&job.steps, dialect));
        if foreign_keys_off {
            self.conn
                .execute("PRAGMA foreign_keys = OFF")
                .await
                .map_err(|e| db_error("turning SQLite's foreign keys off for the run", e))?;
        }
        let begin = self.conn.begin_sql();
        let mut done: Vec<(String, Duration)> = Vec::with_capacity(jobs.len());
        let result = async {
            self.conn
                .execute(begin)
                .await
                .map_err(|e| db_error("starting the run's transaction", e))?;
            for (position, job) in jobs.iter().enumerate() {
                let elapsed = execute::run_enclosed(self, job, position + 1, jobs.len()).await?;
                done.push((job.id.clone(), elapsed));
            }
            if foreign_keys_off {
                execute::check_foreign_keys(&mut self.conn)
                    .await
                    .map_err(|e| {
                        db_error(
                            "checking foreign keys before the commit (they were off for the whole \
                         run, for a table rebuild)",
                            e,
                        )
                    })?;
            }
            self.conn
                .execute("COMMIT")
                .await
                .map_err(|e| db_error("committing the run's transaction", e))
        }
        .await;
        let result = match result {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = self.conn.execute("ROLLBACK").await;
                Err(RunError::RolledBack {
                    direction,
                    done: done.iter().map(|(id, _)| id.clone()).collect(),
                    source: Box::new(error),
                })
            }
        };
        if foreign_keys_off {
            let restored = self.conn.execute("PRAGMA foreign_keys = ON").await;
            if let (Ok(()), Err(e)) = (&result, restored) {
                return Err(db_error("turning SQLite's foreign keys back on", e));
            }
        }
        result?;
        for (id, elapsed) in &done {
            self.emit(Event::MigrationFinished {
                id: id.clone(),
                direction,
                elapsed: *elapsed,
            });
        }
        Ok(done.into_iter().map(|(id, _)| id).collect())
    }

    async fn record_checksums_locked(&mut self) -> Result<Vec<String>, RunError> {
        let rows = self.read_history().await?;
        let targets: Vec<&Row> = rows
            .iter()
            .filter(|r| !r.partial && self.accept_changed.contains(&r.id))
            .filter(|r| {
                self.registry
                    .get(&r.id)
                    .is_some_and(|e| checksum(e) != r.checksum)
            })
            .collect();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let known: Vec<&Row> = rows.iter().filter(|r| self.graph.contains(&r.id)).collect();
        let wanted: BTreeSet<&str> = targets.iter().map(|r| r.id.as_str()).collect();
        let mut replay = self.planner().replay(&known, &wanted)?;
        let mut recorded = Vec::new();
        for row in targets {
            let current = checksum(self.planner().entry(&row.id));
            let down = StoredDown {
                explicit: false,
                units: replay
                    .prefix_units
                    .remove(row.id.as_str())
                    .unwrap_or_default(),
            };
            let dialect = self.conn.dialect();
            let sql =
                history::rechecksum(dialect, &self.history, &row.id, &current, &down.encode());
            self.conn
                .execute(&sql)
                .await
                .map_err(|e| db_error("recording a checksum", e))?;
            recorded.push(row.id.clone());
        }
        Ok(recorded)
    }
}

/// One migration of an offline plan: what it does and the SQL it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedMigration {
    pub id: String,
    pub direction: Direction,
    /// `file:line (module)`.
    pub location: String,
    /// Its steps, described: an op each (up), or the revert of one (down), except that a table
    /// created or dropped whole is one step for several ops.
    pub ops: Vec<String>,
    /// The statements, with the transaction boundaries and the history writes as the runner
    /// makes them when it commits each migration alone (with [`Migrator::commit_each`], and
    /// after a failure among migrations that shared a commit).
    pub sql: String,
    /// The SQL of the migration's own ops, in the order it runs (Rust steps have none), without
    /// what `sql` adds: for running elsewhere, or comparing.
    pub rendered: Vec<RenderedOp>,
}

/// Without a database: what an upgrade from an empty history (`Direction::Up`) or a downgrade
/// from every migration applied (`Direction::Down`) to `targets` runs on `dialect`.
pub fn offline_plan(
    registry: &Registry,
    dialect: Dialect,
    direction: Direction,
    targets: &[Target],
) -> Result<Vec<ScriptedMigration>, RunError> {
    let mut jobs = offline_jobs(registry, dialect, direction, targets)?;
    let mut scripted = Vec::with_capacity(jobs.len());
    for position in 0..jobs.len() {
        let (job, rest) = jobs[position..].split_at_mut(1);
        let job = &job[0];
        // As in a run: a job's last history write also records the next one's start.
        let next = rest
            .first_mut()
            .filter(|next| execute::records_start(next, dialect));
        scripted.push(scripted_migration(job, next.as_deref(), dialect));
        if let Some(next) = next {
            next.has_row = true;
        }
    }
    Ok(scripted)
}

/// Without a database: what `up` runs for migration `id` alone, once everything it depends on
/// is applied (its start recorded in a commit of its own). `None` when `id` is not in the plan.
pub fn offline_migration(
    registry: &Registry,
    dialect: Dialect,
    id: &str,
) -> Result<Option<ScriptedMigration>, RunError> {
    let jobs = offline_jobs(registry, dialect, Direction::Up, &[Target::id(id)])?;
    Ok(jobs
        .iter()
        .find(|job| job.id == id)
        .map(|job| scripted_migration(job, None, dialect)))
}

fn scripted_migration(job: &Job, next: Option<&Job>, dialect: Dialect) -> ScriptedMigration {
    ScriptedMigration {
        id: job.id.clone(),
        direction: job.direction,
        location: job.location.clone(),
        ops: job.steps.iter().map(|s| s.description.clone()).collect(),
        sql: execute::script(job, next, dialect),
        rendered: job
            .steps
            .iter()
            .flat_map(|step| &step.parts)
            .filter_map(|part| match part {
                Part::Sql { op, .. } => Some(op.clone()),
                Part::Rust(..) => None,
            })
            .collect(),
    }
}

fn offline_jobs(
    registry: &Registry,
    dialect: Dialect,
    direction: Direction,
    targets: &[Target],
) -> Result<Vec<Job>, RunError> {
    let graph = registry.graph()?;
    let accepted = BTreeSet::new();
    let planner = Planner {
        registry,
        graph: &graph,
        dialect,
        accept_changed: &accepted,
        allow_unknown: false,
    };
    match direction {
        Direction::Up => planner.upgrade_jobs(&[], targets),
        Direction::Down => planner.downgrade_jobs(&planner.applied_rows(graph.order()), targets),
    }
}

/// The schema model after replaying what the history records.
/// Everything planning needs, and no connection: the runner and the offline SQL share it.
pub(crate) struct Planner<'a> {
    registry: &'a Registry,
    graph: &'a Graph,
    dialect: Dialect,
    accept_changed: &'a BTreeSet<String>,
    allow_unknown: bool,
}

impl Planner<'_> {
    fn entry(&self, id: &str) -> &MigrationEntry {
        self.registry
            .get(id)
            .expect("the graph and the registry hold the same ids")
    }

    /// History rows recording `ids` as applied, in that order, without reverse SQL.
    fn applied_rows<'i>(&self, ids: impl IntoIterator<Item = &'i str>) -> Vec<Row> {
        ids.into_iter()
            .enumerate()
            .map(|(seq, id)| {
                let entry = self.entry(id);
                let ops = entry.record_up(self.dialect).ops().len();
                Row {
                    id: id.to_owned(),
                    checksum: checksum(entry),
                    partial: false,
                    unconfirmed: None,
                    ops_done: ops,
                    ops_total: ops,
                    statements_done: 0,
                    applied_at: String::new(),
                    execution_ms: 0,
                    seq: seq as i64,
                    parents: Vec::new(),
                    location: String::new(),
                    down_sql: String::new(),
                }
            })
            .collect()
    }

    /// Stops on applied migrations whose checksum changed, unless accepted.
    fn check_changed(&self, rows: &[Row]) -> Result<(), RunError> {
        let changed: Vec<String> = rows
            .iter()
            .filter(|r| !self.accept_changed.contains(&r.id))
            .filter_map(|r| {
                let entry = self.registry.get(&r.id)?;
                let current = checksum(entry);
                (current != r.checksum).then(|| {
                    format!(
                        "`{}` ({}{}) recorded {} now {}",
                        r.id,
                        entry.location(),
                        if r.partial {
                            format!(", stopped after op {} of {}", r.ops_done, r.ops_total)
                        } else {
                            String::new()
                        },
                        short(&r.checksum),
                        short(&current)
                    )
                })
            })
            .collect();
        if changed.is_empty() {
            Ok(())
        } else {
            Err(RunError::Changed(changed))
        }
    }

    /// Every migration an upgrade to `targets` runs, rendered.
    fn upgrade_jobs(&self, rows: &[Row], targets: &[Target]) -> Result<Vec<Job>, RunError> {
        let unknown: Vec<String> = rows
            .iter()
            .filter(|r| !self.graph.contains(&r.id))
            .map(|r| r.id.clone())
            .collect();
        if !unknown.is_empty() && !self.allow_unknown {
            return Err(RunError::Unknown(unknown));
        }
        self.check_changed(rows)?;
        let known: Vec<&Row> = rows.iter().filter(|r| self.graph.contains(&r.id)).collect();
        let applied: Vec<&str> = known
            .iter()
            .filter(|r| !r.partial)
            .map(|r| r.id.as_str())
            .collect();
        let plan: Vec<String> = self
            .graph
            .upgrade_plan(&applied, targets)?
            .ids()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if plan.is_empty() {
            return Ok(Vec::new());
        }
        let rows_by_id: HashMap<&str, &Row> = known.iter().map(|r| (r.id.as_str(), *r)).collect();
        let dialect = self.dialect;
        let planned: BTreeSet<&str> = plan.iter().map(String::as_str).collect();
        let mut replay = self.replay(&known, &planned)?;
        let mut seq = rows.iter().map(|r| r.seq).max().unwrap_or(0);
        let mut jobs = Vec::with_capacity(plan.len());
        for id in &plan {
            let entry = self.entry(id);
            let row = rows_by_id.get(id.as_str());
            let ops = entry.record_up(dialect).into_ops();
            let done = row.map_or(0, |r| r.ops_done.min(ops.len()));
            let mut stored_units = replay.prefix_units.remove(id.as_str()).unwrap_or_default();
            let mut steps = Vec::with_capacity(ops.len() - done);
            let mut touches = shared::may_share_on(dialect).then(Vec::new);
            let mut trace = (dialect == Dialect::Mysql).then(Vec::new);
            let mut index = done;
            while index < ops.len() {
                let group = &ops[index..=index + parts_created_with_table(&ops[index..])];
                let mut advanced = Vec::with_capacity(group.len());
                for op in group {
                    let mut applied = advance(&mut replay.schema, op, dialect, true)
                        .map_err(|source| self.model_error(entry, source))?;
                    stored_units.extend(applied.unit.take());
                    advanced.push(applied);
                }
                steps.extend(
                    group_steps(index, group, &advanced, &replay.schema, dialect)
                        .map_err(|source| self.model_error(entry, source))?,
                );
                for (offset, op) in group.iter().enumerate() {
                    let after = advanced
                        .get(offset + 1)
                        .map_or(&replay.schema, |next| &next.before);
                    note_op(
                        (&mut touches, &mut trace),
                        op,
                        (&advanced[offset].before, after),
                        dialect,
                        index + offset + 1,
                    );
                }
                index += group.len();
            }
            let down = match entry.record_down(dialect) {
                Some(down) => StoredDown {
                    explicit: true,
                    units: vec![render_units(&replay.schema, down.ops(), dialect)],
                },
                None => StoredDown {
                    explicit: false,
                    units: stored_units,
                },
            };
            seq += 1;
            jobs.push(Job {
                id: id.clone(),
                location: entry.location().to_string(),
                direction: Direction::Up,
                transactional: entry.is_transactional(),
                steps,
                ops_total: ops.len(),
                ops_done: done,
                statements_done: row.map_or(0, |r| r.statements_done),
                has_row: row.is_some(),
                checksum: checksum(entry),
                parents: entry.after().join(","),
                down_sql: down.encode(),
                touches,
                trace,
                seq: row.map_or(seq, |r| r.seq),
            });
        }
        Ok(jobs)
    }

    /// What a downgrade to `targets` reverts: unknown migrations (newest first), then known
    /// ones in reverse plan order.
    fn downgrade_plan<'r>(
        &self,
        rows: &'r [Row],
        targets: &[Target],
    ) -> Result<(Vec<&'r Row>, Vec<String>), RunError> {
        // Unknown migrations are newer than anything this binary knows: a downgrade reverts
        // them first, newest first, unless every head is kept.
        let mut unknown: Vec<&Row> = rows
            .iter()
            .filter(|r| !self.graph.contains(&r.id))
            .collect();
        unknown.sort_by_key(|r| std::cmp::Reverse(r.seq));
        let known: Vec<&Row> = rows.iter().filter(|r| self.graph.contains(&r.id)).collect();
        let applied: Vec<&str> = known.iter().map(|r| r.id.as_str()).collect();
        let (unknown, plan): (Vec<&Row>, Vec<String>) = match targets {
            [Target::Back(n)] if *n <= unknown.len() => (unknown[..*n].to_vec(), Vec::new()),
            [Target::Back(n)] => {
                let rest = Target::Back(n - unknown.len());
                let plan = self.graph.downgrade_plan(&applied, &[rest])?;
                (unknown, plan.ids().iter().map(|s| s.to_string()).collect())
            }
            _ if targets.contains(&Target::Heads) => (Vec::new(), Vec::new()),
            _ => {
                let plan = self.graph.downgrade_plan(&applied, targets)?;
                (unknown, plan.ids().iter().map(|s| s.to_string()).collect())
            }
        };
        Ok((unknown, plan))
    }

    /// Every migration a downgrade to `targets` reverts, rendered.
    fn downgrade_jobs(&self, rows: &[Row], targets: &[Target]) -> Result<Vec<Job>, RunError> {
        let (unknown, plan) = self.downgrade_plan(rows, targets)?;
        let known: Vec<&Row> = rows.iter().filter(|r| self.graph.contains(&r.id)).collect();
        if unknown.is_empty() && plan.is_empty() {
            return Ok(Vec::new());
        }
        let rows_by_id: HashMap<&str, &Row> = known.iter().map(|r| (r.id.as_str(), *r)).collect();
        let mut replay = self.replay(&known, &BTreeSet::new())?;
        let mut jobs = Vec::with_capacity(unknown.len() + plan.len());
        for row in unknown {
            // Unknown here: whether it was transactional. Its stored SQL keeps which ops must
            // run outside a transaction.
            jobs.push(self.stored_job(row, row.location.clone(), true)?);
        }
        for id in &plan {
            jobs.push(self.revert_job(rows_by_id[id.as_str()], &mut replay)?);
        }
        Ok(jobs)
    }

    /// Reverting the known migration `row` records, from `replay`'s schema, which it advances.
    fn revert_job(&self, row: &Row, replay: &mut Replay) -> Result<Job, RunError> {
        let dialect = self.dialect;
        let id = &row.id;
        let entry = self.entry(id);
        let inverses = replay.inverses.remove(id.as_str()).unwrap_or_default();
        let changed =
            !row.partial && checksum(entry) != row.checksum && !self.accept_changed.contains(id);
        if changed {
            // Revert what was applied, as recorded, not what the code says now; the model
            // follows the code's inverse as far as it can.
            for inverse in inverses.iter().rev() {
                if let Inverse::Ops(ops) = inverse {
                    for op in ops {
                        let _ = replay.schema.apply(op);
                    }
                }
            }
            let location = entry.location().to_string();
            return self.stored_job(row, location, entry.is_transactional());
        }
        let location = entry.location().to_string();
        let mut touches = shared::may_share_on(dialect).then(Vec::new);
        let mut trace = (dialect == Dialect::Mysql).then(Vec::new);
        let steps = match entry.record_down(dialect) {
            Some(down) => {
                if row.partial {
                    return Err(RunError::CannotRevert {
                        id: id.clone(),
                        location,
                        reason: format!(
                            "it stopped after op {} of {}, and its explicit `down` reverts \
                             the whole migration; run `up` to finish it first",
                            row.ops_done, row.ops_total
                        ),
                    });
                }
                let mut parts = Vec::new();
                let last = down.ops().len().saturating_sub(1);
                for (position, op) in down.ops().iter().enumerate() {
                    let advanced = advance(&mut replay.schema, op, dialect, false)
                        .map_err(|source| self.model_error(entry, source))?;
                    let rendered = advanced
                        .render(op, &replay.schema, dialect)
                        .map_err(|source| self.model_error(entry, source))?;
                    // An explicit `down` reverts the whole migration at its end.
                    let ops_done = if position == last { 0 } else { row.ops_done };
                    note_op(
                        (&mut touches, &mut trace),
                        op,
                        (&advanced.before, &replay.schema),
                        dialect,
                        ops_done,
                    );
                    parts.push(part(op, rendered));
                }
                vec![Step::one(0, "down".into(), parts)]
            }
            None => {
                if row.statements_done > 0 {
                    return Err(half_done(row, location));
                }
                let ops = entry.record_up(dialect).into_ops();
                let revert_ops = |index: usize| match &inverses[index] {
                    Inverse::Ops(ops) => ops.as_slice(),
                    Inverse::Irreversible { .. } => &[],
                };
                let mut steps = Vec::new();
                // Reverts left to the drop of their table, which runs them as its own step.
                let mut left: Vec<String> = Vec::new();
                for index in (0..row.ops_done.min(inverses.len())).rev() {
                    let inverse_ops = match &inverses[index] {
                        Inverse::Ops(ops) => ops,
                        Inverse::Irreversible { reason } => {
                            return Err(RunError::Irreversible {
                                id: id.clone(),
                                location,
                                index: index + 1,
                                op: ops[index].describe(),
                                reason: reason.clone(),
                            });
                        }
                    };
                    let left_to_drop =
                        left_to_table_drop(inverse_ops, (0..index).rev().map(revert_ops));
                    let mut parts = Vec::new();
                    for op in inverse_ops {
                        let advanced = advance(&mut replay.schema, op, dialect, false)
                            .map_err(|source| self.model_error(entry, source))?;
                        note_op(
                            (&mut touches, &mut trace),
                            op,
                            (&advanced.before, &replay.schema),
                            dialect,
                            index,
                        );
                        if !left_to_drop {
                            let rendered = advanced
                                .render(op, &replay.schema, dialect)
                                .map_err(|source| self.model_error(entry, source))?;
                            parts.push(part(op, rendered));
                        }
                    }
                    left.push(ops[index].describe());
                    if left_to_drop {
                        continue;
                    }
                    let description = format!("revert {}", left.join(" and "));
                    steps.push(Step::one(index, description, parts));
                    left.clear();
                }
                steps
            }
        };
        let mut job = down_job(row, location, entry.is_transactional(), steps);
        job.touches = touches;
        job.trace = trace;
        Ok(job)
    }

    /// A downgrade that runs the reverse SQL stored in the history row.
    fn stored_job(
        &self,
        row: &Row,
        location: String,
        transactional: bool,
    ) -> Result<Job, RunError> {
        let down = StoredDown::decode(&row.down_sql)
            .map_err(|e| RunError::History(format!("row `{}`: reverse SQL: {e}", row.id)))?;
        let cannot = |reason: String| RunError::CannotRevert {
            id: row.id.clone(),
            location: location.clone(),
            reason,
        };
        if row.statements_done > 0 {
            return Err(half_done(row, location.clone()));
        }
        let units: Vec<(usize, &StoredUnit)> = if down.explicit {
            if row.partial {
                return Err(cannot(format!(
                    "it stopped after op {} of {}, and its explicit `down` reverts the whole \
                     migration; finish it with the binary that knows it first",
                    row.ops_done, row.ops_total
                )));
            }
            down.units.iter().map(|u| (0, u)).collect()
        } else {
            (0..row.ops_done.min(down.units.len()))
                .rev()
                .map(|i| (i, &down.units[i]))
                .collect()
        };
        let mut steps = Vec::with_capacity(units.len());
        for (index, unit) in units {
            match unit {
                StoredUnit::Sql(ops) => steps.push(Step::one(
                    index,
                    format!("stored reverse of op {}", index + 1),
                    ops.iter()
                        .map(|op| Part::Sql {
                            op: op.clone(),
                            one_statement_each: false,
                        })
                        .collect(),
                )),
                StoredUnit::Irreversible(reason) => {
                    return Err(RunError::Irreversible {
                        id: row.id.clone(),
                        location,
                        index: index + 1,
                        op: format!("op {}", index + 1),
                        reason: reason.clone(),
                    });
                }
                StoredUnit::Rust(name) => {
                    return Err(cannot(format!(
                        "op {} is the Rust step `{name}`, which only a binary that has this \
                         migration can revert",
                        index + 1
                    )));
                }
            }
        }
        Ok(down_job(row, location, transactional, steps))
    }

    /// Replays the recorded (applied, or partly applied) migrations on an empty schema, in graph
    /// order, keeping each op's inverse. For the migrations in `render`, also renders the
    /// reverse SQL of each replayed op.
    fn replay(&self, rows: &[&Row], render: &BTreeSet<&str>) -> Result<Replay, RunError> {
        let dialect = self.dialect;
        let done: HashMap<&str, usize> = rows.iter().map(|r| (r.id.as_str(), r.ops_done)).collect();
        let mut replay = Replay {
            schema: Schema::new(),
            inverses: HashMap::new(),
            prefix_units: HashMap::new(),
        };
        for id in self.graph.order() {
            let Some(&ops_done) = done.get(id) else {
                continue;
            };
            let entry = self.entry(id);
            let ops = entry.record_up(dialect).into_ops();
            let rendering = render.contains(id);
            let mut inverses = Vec::with_capacity(ops_done);
            let mut units = Vec::new();
            for op in ops.iter().take(ops_done) {
                if rendering {
                    let advanced = advance(&mut replay.schema, op, dialect, true)
                        .map_err(|source| self.model_error(entry, source))?;
                    units.extend(advanced.unit);
                    inverses.push(advanced.inverse);
                } else {
                    inverses.push(
                        replay
                            .schema
                            .apply_without_rollback(op)
                            .map_err(|e| self.model_error(entry, e.into()))?,
                    );
                }
            }
            replay.inverses.insert(id.to_owned(), inverses);
            if rendering {
                replay.prefix_units.insert(id.to_owned(), units);
            }
        }
        Ok(replay)
    }

    fn model_error(&self, entry: &MigrationEntry, source: RenderPlanError) -> RunError {
        RunError::Model {
            id: entry.id().to_owned(),
            location: entry.location().to_string(),
            dialect: self.dialect,
            source: Box::new(source),
        }
    }
}

struct Replay {
    schema: Schema,
    /// Per migration, the inverse of each replayed op.
    inverses: HashMap<String, Vec<Inverse>>,
    /// Per migration asked for, the reverse SQL of each replayed op.
    prefix_units: HashMap<String, Vec<StoredUnit>>,
}

/// Applies `op` to the model; with `store`, also renders its reverse against the state right
/// after it, for the history row.
fn advance(
    schema: &mut Schema,
    op: &Op,
    dialect: Dialect,
    store: bool,
) -> Result<Advanced, RenderPlanError> {
    let before = schema.clone();
    // The run stops on error and drops the model, so no rollback copy is needed.
    let inverse = schema.apply_without_rollback(op)?;
    let unit = store.then(|| match &inverse {
        // A one-op inverse leads from this state straight back to `before`: render it
        // between the two without another copy.
        Inverse::Ops(ops) if ops.len() == 1 => stored_unit(
            &ops[0],
            crate::render::render(&ops[0], schema, &before, dialect),
        ),
        Inverse::Ops(ops) => render_units(schema, ops, dialect),
        Inverse::Irreversible { reason } => StoredUnit::Irreversible(reason.clone()),
    });
    Ok(Advanced {
        before,
        inverse,
        unit,
    })
}

/// The steps of `group` (ops from `first_op` on, applied to the model as `advanced`, leaving
/// it at `after`): its table created whole with as many of the parts after it as can be, when
/// the model takes that as one op (a foreign key into the table's own unique index needs that
/// index first) and the step cannot stop halfway; the rest op by op. A dialect's refusal then
/// names the op at fault.
fn group_steps(
    first_op: usize,
    group: &[Op],
    advanced: &[Advanced],
    after: &Schema,
    dialect: Dialect,
) -> Result<Vec<Step>, RenderPlanError> {
    // PostgreSQL and SQLite run every step in a transaction of its own at least; on MySQL only
    // a single statement is all or nothing.
    let in_transaction = dialect != Dialect::Mysql;
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
        let rendered = advanced[offset].render(op, state_after(offset + 1), dialect)?;
        steps.push(Step::one(
            first_op + offset,
            op.describe(),
            vec![part(op, rendered)],
        ));
    }
    Ok(steps)
}

/// An op applied to the model.
struct Advanced {
    /// The model before the op.
    before: Schema,
    inverse: Inverse,
    /// Its reverse SQL, when asked for.
    unit: Option<StoredUnit>,
}

impl Advanced {
    /// The SQL of `op` (or of ops that end with it, when `op` stands for them), from the state
    /// before it to `after`.
    fn render(
        &self,
        op: &Op,
        after: &Schema,
        dialect: Dialect,
    ) -> Result<RenderedOp, RenderPlanError> {
        Ok(crate::render::render(op, &self.before, after, dialect)?)
    }
}

fn stored_unit(op: &Op, rendered: Result<RenderedOp, crate::render::RenderError>) -> StoredUnit {
    match (op, rendered) {
        (Op::Rust(step), _) => StoredUnit::Rust(step.name.clone()),
        (_, Ok(mut sql)) => {
            sql.leftover = None;
            StoredUnit::Sql(vec![sql])
        }
        (_, Err(e)) => StoredUnit::Irreversible(e.to_string()),
    }
}

/// Renders `ops` on a copy of `schema`, as one stored unit.
fn render_units(schema: &Schema, ops: &[Op], dialect: Dialect) -> StoredUnit {
    let mut scratch = schema.clone();
    let mut rendered = Vec::with_capacity(ops.len());
    for op in ops {
        if let Op::Rust(step) = op {
            return StoredUnit::Rust(step.name.clone());
        }
        match plan_op(op, &mut scratch, dialect) {
            Ok((mut sql, _)) => {
                sql.leftover = None;
                rendered.push(sql);
            }
            Err(e) => return StoredUnit::Irreversible(e.to_string()),
        }
    }
    StoredUnit::Sql(rendered)
}

/// Adds the tables `op` locks to a job's, which become unknown once one op's are (or were
/// never looked for).
fn add_touches(touches: &mut Option<Vec<Touch>>, op: &Op, before: &Schema, after: &Schema) {
    let Some(all) = touches else { return };
    match shared::touches(op, before, after) {
        Some(more) => all.extend(more),
        None => *touches = None,
    }
}

/// Adds what `op` does to a job's tables: the locks it takes ([`shared`]) and, on MySQL, the
/// states it leaves them in ([`deferred`]), with `ops_done`, the job's ops applied after it.
fn note_op(
    (touches, trace): (&mut Option<Vec<Touch>>, &mut Option<deferred::Trace>),
    op: &Op,
    (before, after): (&Schema, &Schema),
    dialect: Dialect,
    ops_done: usize,
) {
    add_touches(touches, op, before, after);
    deferred::add_trace(trace, op, (before, after), dialect, ops_done);
}

fn part(op: &Op, rendered: RenderedOp) -> Part {
    match op {
        Op::Rust(step) => Part::Rust(step.name.clone(), step.run.clone()),
        _ => Part::Sql {
            op: rendered,
            one_statement_each: !matches!(op, Op::RawSql(_)),
        },
    }
}

/// Reverting the migration `row` records, with these steps.
fn down_job(row: &Row, location: String, transactional: bool, steps: Vec<Step>) -> Job {
    Job {
        id: row.id.clone(),
        location,
        direction: Direction::Down,
        transactional,
        steps,
        ops_total: row.ops_total,
        ops_done: row.ops_done,
        statements_done: 0,
        has_row: true,
        checksum: row.checksum.clone(),
        parents: String::new(),
        down_sql: String::new(),
        touches: None,
        trace: None,
        seq: row.seq,
    }
}

fn half_done(row: &Row, location: String) -> RunError {
    RunError::CannotRevert {
        id: row.id.clone(),
        location,
        reason: format!(
            "op {} stopped halfway ({} of its statements committed); run `up` to finish it first",
            row.ops_done + 1,
            row.statements_done
        ),
    }
}

fn short(checksum: &str) -> &str {
    checksum.get(..12).unwrap_or(checksum)
}

fn db_error(context: &str, source: DbError) -> RunError {
    RunError::Database {
        context: context.into(),
        source,
    }
}
