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
//! 2. creates the history table if missing and reads it ([`history`]), then settles where an
//!    interrupted MySQL run stopped ([`deferred::settle`]);
//! 3. replays every applied migration on the schema model, in graph order ([`plan`]);
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
//!
//! This module is the [`Migrator`] facade and its options; the work is in the submodules,
//! which receive a [`Session`](session::Session), never the Migrator.

// A run returns at most one error, after the database work: its size costs nothing, and a flat
// enum is what callers match on.
#![allow(clippy::result_large_err)]

pub(crate) mod backfill;
mod backup;
mod checksum;
mod contract;
mod deferred;
mod drift;
mod error;
pub(crate) mod execute;
#[cfg(test)]
mod fixtures;
mod footprint;
pub(crate) mod history;
mod job;
mod lock;
pub(crate) mod plan;
mod report;
mod round_trip;
mod run;
mod schedule;
mod session;
mod shared;
mod status;
mod stored;

use std::collections::BTreeSet;
use std::time::Duration;

use crate::db::{Connection, DbError};
use crate::dialect::{self, Server};
use crate::graph::{Graph, Target};
use crate::op::Dialect;
use crate::registry::Registry;

pub use backup::{BackupFuture, BackupHook, BackupRequest, BackupTaken, RecordedBackup};
pub use checksum::checksum;
pub use error::ModelError;
pub use error::RunError;
pub use history::{DEFAULT_HISTORY_TABLE, HistoryTable};
#[cfg(feature = "cli")]
pub(crate) use plan::offline_verify;
pub use plan::{PlanFor, ScriptedMigration, offline_migration, offline_plan};
pub use report::{BackfillStatus, Event, MigrationStatus, Report, State, Status};
pub use round_trip::{RoundTrip, VerifyReport};
// Named by `ScriptedMigration` and `ModelError`.
pub use crate::introspect::Difference;
pub use crate::render::{Leftover, RenderError, RenderedOp, Statement};
pub use crate::schema::{SchemaError, SchemaErrorKind};

use error::db_error;
use history::Row;
use plan::Planner;
use session::{Events, Session};
use stored::StoredDown;

/// Where the backups of migrations marked `backup` go unless [`Migrator::backup_dir`] says.
pub const DEFAULT_BACKUP_DIR: &str = "godwit-backups";

/// Where a database's history stands: what [`Migrator::applied_point`] reads.
pub(crate) struct AppliedPoint {
    /// Every migration with a history row, in the history's order.
    pub applied: Vec<String>,
    /// Those that stopped midway (or an interrupted MySQL group left unconfirmed).
    pub unfinished: Vec<String>,
    /// Those this binary does not know.
    pub unknown: Vec<String>,
    /// The model after the known ones.
    pub schema: crate::schema::Schema,
}

/// Applies and reverts migrations on one database connection. See the [module docs](self).
pub struct Migrator {
    conn: Connection,
    /// Opens more connections to the same database, when this Migrator knows how.
    connector: Option<session::Connector>,
    registry: Registry,
    graph: Graph,
    history: HistoryTable,
    lock_timeout: Duration,
    ddl_lock_timeout: Duration,
    retries: u32,
    accept_changed: BTreeSet<String>,
    allow_unknown: bool,
    events: Events,
    /// Set while a run holds the lock, with the SQL that releases a session lock: still set
    /// at the next run, it tells that a run was dropped halfway (a timeout around `up`).
    unfinished_run: Option<Option<String>>,
    session_ready: bool,
    single_transaction: bool,
    commit_each: bool,
    safe: bool,
    allow_drift: bool,
    backups: backup::Backups,
    /// Every migration is backed up before it runs ([`Migrator::backup_every_migration`]).
    backup_all: bool,
    /// The server, read when the session is set up.
    server: Option<Server>,
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
        Migrator::connect_with_registry(url, Registry::collect()?).await
    }

    /// Connects by URL, with an explicit set of migrations.
    pub async fn connect_with_registry(
        url: &str,
        registry: Registry,
    ) -> Result<Migrator, RunError> {
        let graph = registry.graph()?;
        // A migration tool makes the SQLite file it migrates.
        let url = crate::db::for_writing(url).map_err(|source| RunError::Database {
            context: "opening the SQLite database".into(),
            source,
        })?;
        let conn = Connection::connect(&url)
            .await
            .map_err(|source| RunError::Database {
                context: "connecting to the database".into(),
                source,
            })?;
        let mut migrator = Migrator::assemble(conn, registry, graph);
        migrator.backups.url = Some(url.clone());
        migrator.connector = Some(std::sync::Arc::new(move || {
            let url = url.clone();
            Box::pin(async move { Connection::connect(&url).await })
        }));
        Ok(migrator)
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
        let more = pool.clone();
        let conn = pool
            .acquire()
            .await
            .map_err(|e| RunError::Database {
                context: "taking a connection from the pool".into(),
                source: DbError::Connect(e),
            })?
            .detach();
        let mut migrator = Migrator::new(conn)?;
        migrator.connector = Some(std::sync::Arc::new(move || {
            let pool = more.clone();
            Box::pin(async move {
                let conn = pool.acquire().await.map_err(DbError::Connect)?;
                Ok(conn.detach().into())
            })
        }));
        Ok(migrator)
    }

    fn assemble(conn: Connection, registry: Registry, graph: Graph) -> Migrator {
        Migrator {
            conn,
            connector: None,
            registry,
            graph,
            history: HistoryTable::default(),
            lock_timeout: Duration::from_secs(60),
            ddl_lock_timeout: Duration::from_secs(5),
            retries: 3,
            accept_changed: BTreeSet::new(),
            allow_unknown: false,
            events: Events::default(),
            unfinished_run: None,
            session_ready: false,
            single_transaction: false,
            commit_each: false,
            safe: false,
            allow_drift: false,
            backups: backup::Backups {
                dir: std::path::PathBuf::from(DEFAULT_BACKUP_DIR),
                url: None,
                hook: None,
            },
            backup_all: false,
            server: None,
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

    /// Runs every migration's ops as their safe sequences where the server has one, as
    /// `#[migration(safe)]` does for one migration: an index is built or dropped
    /// `CONCURRENTLY` in a step of its own outside the transaction; a foreign key or check is
    /// added `NOT VALID` and validated in a later transaction; SET NOT NULL goes through a
    /// validated CHECK (PostgreSQL 12+); a unique constraint or primary key takes over an
    /// index built concurrently (`USING INDEX`); on MySQL and MariaDB, index changes and added
    /// columns say `ALGORITHM=INSTANT` or `ALGORITHM=INPLACE, LOCK=NONE`, so the server refuses
    /// rather than block writes. Tables the run creates are left alone: they have no rows to
    /// lock. The end state is the same as without; a sequence stopped halfway is cleaned up
    /// and run again by the next run. Downgrades too, when they revert from the model (a
    /// migration reverted with the SQL its history row stores, because this binary does not
    /// know it or its ops changed, runs that SQL as it was stored). A run that is one
    /// transaction ([`Migrator::single_transaction`]) uses none: a safe sequence leaves the
    /// transaction. Default: off.
    pub fn safe(mut self, on: bool) -> Self {
        self.safe = on;
        self
    }

    /// Lets an upgrade run although the live schema differs from the model at the applied
    /// migrations ([`Migrator::drift`]). By default an upgrade compares the tables the model
    /// has (under the lock) and stops before anything runs when one differs: SQL planned from
    /// the model may not fit a table changed by hand. Tables the model does not know are
    /// left to `drift`. A migration that stopped midway is resumed without the comparison, its
    /// schema being between two points. Default: off.
    pub fn allow_drift(mut self, allow: bool) -> Self {
        self.allow_drift = allow;
        self
    }

    /// Where backups go (default: `./godwit-backups`): those of migrations marked `backup`,
    /// and with [`Migrator::backup_every_migration`] every one's. See [`BackupTaken`].
    pub fn backup_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.backups.dir = dir.into();
        self
    }

    /// Backs up every migration before it runs, not only those marked `backup` (`up
    /// --backup-dir`). A migration resumed after a stop is not backed up again. A backup sees
    /// what has committed, so a migration it precedes commits on its own. Default: off.
    pub fn backup_every_migration(mut self, on: bool) -> Self {
        self.backup_all = on;
        self
    }

    /// Backs up with `hook` instead of the server's tools: a storage snapshot, an upload, a
    /// tool of your own. It gets a [`BackupRequest`] (the migration, the tables, where
    /// godwit's own file would go) and returns the path of what it made, which is recorded as
    /// a backup is (size from the file when it is one). Its error stops the migration before
    /// it runs, as a failed backup does.
    pub fn backup_with(
        mut self,
        hook: impl Fn(BackupRequest) -> backup::BackupFuture + Send + Sync + 'static,
    ) -> Self {
        self.backups.hook = Some(std::sync::Arc::new(hook));
        self
    }

    /// The URL the backup tools (`pg_dump`, `mysqldump`) connect with, for a Migrator made
    /// from a connection or a pool; [`Migrator::connect`] knows it already.
    pub fn backup_url(mut self, url: &str) -> Self {
        self.backups.url = Some(url.to_owned());
        self
    }

    /// The server this Migrator talks to, read from the connection.
    pub async fn server(&mut self) -> Result<Server, RunError> {
        if let Some(server) = self.server {
            return Ok(server);
        }
        let server = self
            .conn
            .server()
            .await
            .map_err(|e| db_error("reading the server's version", e))?;
        self.server = Some(server);
        Ok(server)
    }

    /// Lints the migrations this database has still to apply, for its server (see
    /// [`crate::lint`]): tables that any of them creates count as new. With
    /// [`Migrator::safe`], the rewritable findings are rewritten.
    pub async fn lint(&mut self) -> Result<crate::lint::LintReport, RunError> {
        let server = self.server().await?;
        self.lint_for(&[server]).await
    }

    /// [`Migrator::lint`] for other servers than this one (the versions production runs).
    pub async fn lint_for(
        &mut self,
        servers: &[Server],
    ) -> Result<crate::lint::LintReport, RunError> {
        let applied: BTreeSet<String> = self
            .status()
            .await?
            .migrations
            .into_iter()
            .filter(|m| matches!(m.state, State::Applied | State::Changed { .. }))
            .map(|m| m.id)
            .collect();
        Ok(crate::lint::lint(
            &self.registry,
            &self.graph,
            servers,
            crate::lint::Scope::Run { applied: &applied },
            self.safe,
        ))
    }

    /// Calls `observer` with every [`Event`] of a run.
    pub fn on_event(mut self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.events = Events::new(Some(Box::new(observer)));
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

    /// Applies every pending migration of the expand phase: neither `contract` nor after one
    /// ([`Phase`](crate::registry::Phase)). Run it before the new code rolls out, and `up` once
    /// no old code runs.
    pub async fn up_expand(&mut self) -> Result<Report, RunError> {
        let targets = contract::expand_targets(&self.planner());
        if targets.is_empty() {
            return Ok(Report::default());
        }
        self.upgrade(&targets).await
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

    /// Reverts the last applied migration and applies it again, under one lock: for a
    /// migration being written. The report lists it as reverted and applied. With nothing
    /// applied, it is the error of a downgrade by one.
    pub async fn redo(&mut self) -> Result<Report, RunError> {
        let lock = self.begin().await?;
        let result = async {
            let mut report = self.downgrade_locked(&[Target::Back(1)], false).await?;
            if let Some(id) = report.reverted.first().cloned() {
                report.applied = self.upgrade_locked(&[Target::id(id)], false).await?.applied;
            }
            Ok(report)
        }
        .await;
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

    /// Whether [`Migrator::accept_changed`] named any migration.
    pub(crate) fn accepts_changes(&self) -> bool {
        !self.accept_changed.is_empty()
    }

    /// Re-records the checksum (and the reverse SQL) of applied migrations whose ops changed,
    /// for those accepted with [`Migrator::accept_changed`]. Returns the ids re-recorded.
    pub async fn record_checksums(&mut self) -> Result<Vec<String>, RunError> {
        let lock = self.begin().await?;
        let result = self.record_checksums_locked().await;
        self.end(lock, result).await
    }

    /// How the live schema differs from the model at the point the history records (none: no
    /// drift), object by object, godwit's own tables left out. Reads only: creates nothing and
    /// takes no lock.
    pub async fn drift(&mut self) -> Result<Vec<Difference>, RunError> {
        let (mut session, planner) = self.split();
        drift::read(&mut session, &planner, drift::Tables::All).await
    }

    /// The migrations the history records and the model they leave, for a copy between
    /// databases. Reads only: creates nothing and takes no lock.
    pub(crate) async fn applied_point(&mut self) -> Result<AppliedPoint, RunError> {
        let (mut session, planner) = self.split();
        let rows = status::rows(&mut session).await?;
        let unfinished = rows
            .iter()
            .filter(|r| r.partial || r.unconfirmed.is_some())
            .map(|r| r.id.clone())
            .collect();
        let unknown = rows
            .iter()
            .filter(|r| !planner.graph.contains(&r.id))
            .map(|r| r.id.clone())
            .collect();
        let known: Vec<&Row> = rows
            .iter()
            .filter(|r| planner.graph.contains(&r.id))
            .collect();
        let schema = planner.replay(&known, &BTreeSet::new())?.schema;
        Ok(AppliedPoint {
            applied: rows.iter().map(|r| r.id.clone()).collect(),
            unfinished,
            unknown,
            schema,
        })
    }

    /// Every migration's state. Reads only: creates nothing and takes no lock.
    pub async fn status(&mut self) -> Result<Status, RunError> {
        let (mut session, planner) = self.split();
        status::read(&mut session, &planner).await
    }

    /// Releases the connection.
    pub async fn close(self) -> Result<(), RunError> {
        self.conn
            .close()
            .await
            .map_err(|e| db_error("closing the connection", e))
    }

    /// Session settings, the lock, the history table.
    async fn begin(&mut self) -> Result<lock::Lock, RunError> {
        // Events a dropped run held back never happened.
        self.events.discard();
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
        let (required, best_effort) =
            dialect::session_setup(self.conn.dialect(), self.ddl_lock_timeout);
        self.conn
            .execute(&required)
            .await
            .map_err(|e| db_error("configuring the session", e))?;
        for sql in best_effort {
            let _ = self.conn.execute(&sql).await;
        }
        self.server().await?;
        Ok(())
    }

    /// The history as it stands.
    async fn read_history(&mut self) -> Result<Vec<Row>, RunError> {
        history::read(&mut self.conn, &self.history)
            .await
            .map_err(RunError::History)
    }

    /// The phase between reading the history and planning: where an interrupted MySQL group
    /// stopped, located from the live schema and recorded ([`deferred::settle`]), so that
    /// planning starts from the truth.
    async fn settle(&mut self, rows: Vec<Row>) -> Result<Vec<Row>, RunError> {
        let (mut session, planner) = self.split();
        deferred::settle(&mut session, &planner, rows).await
    }

    /// The run's session and its planner, borrowed from the Migrator side by side.
    fn split(&mut self) -> (Session<'_>, Planner<'_>) {
        let planner = Planner {
            registry: &self.registry,
            graph: &self.graph,
            dialect: self.conn.dialect(),
            server: self
                .server
                .unwrap_or_else(|| Server::lowest_of(self.conn.dialect())),
            safe: self.safe,
            backup_all: self.backup_all,
            one_transaction: self.single_transaction,
            accept_changed: &self.accept_changed,
            allow_unknown: self.allow_unknown,
        };
        let opener = self.connector.clone().map(|connect| session::Opener {
            connect,
            setup: dialect::session_setup(self.conn.dialect(), self.ddl_lock_timeout),
        });
        let session = Session {
            conn: &mut self.conn,
            history: &self.history,
            retries: self.retries,
            events: &mut self.events,
            opener,
            backups: &self.backups,
        };
        (session, planner)
    }

    fn planner(&mut self) -> Planner<'_> {
        self.split().1
    }

    fn session(&mut self) -> Session<'_> {
        self.split().0
    }

    fn options(&self) -> schedule::Options {
        schedule::Options {
            commit_each: self.commit_each,
            single_transaction: self.single_transaction,
        }
    }

    async fn upgrade_locked(
        &mut self,
        targets: &[Target],
        stamp_only: bool,
    ) -> Result<Report, RunError> {
        let rows = self.read_history().await?;
        let rows = self.settle(rows).await?;
        let mut jobs = self.planner().upgrade_jobs(&rows, targets)?;
        if !stamp_only && !jobs.is_empty() && !self.allow_drift && !rows.iter().any(|r| r.partial) {
            let (mut session, planner) = self.split();
            let differences =
                drift::differences(&mut session, &planner, &rows, drift::Tables::InTheModel)
                    .await?;
            if !differences.is_empty() {
                return Err(RunError::Drift(differences));
            }
        }
        let mut report = Report::default();
        if stamp_only {
            for job in &jobs {
                execute::stamp(&mut self.session(), job).await?;
                report.stamped.push(job.id.clone());
            }
        } else {
            let (mut session, planner) = self.split();
            contract::check_backfills_done(&mut session, &planner, &jobs).await?;
            let options = self.options();
            report.applied = run::run(&mut self.session(), &mut jobs, options).await?;
        }
        Ok(report)
    }

    async fn downgrade_locked(
        &mut self,
        targets: &[Target],
        stamp_only: bool,
    ) -> Result<Report, RunError> {
        let rows = self.read_history().await?;
        let rows = self.settle(rows).await?;
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
        let (mut session, planner) = self.split();
        backfill::refuse_half_done_reverts(&mut session, &planner, &rows, &jobs).await?;
        let options = self.options();
        report.reverted = run::run(&mut self.session(), &mut jobs, options).await?;
        Ok(report)
    }

    async fn record_checksums_locked(&mut self) -> Result<Vec<String>, RunError> {
        let rows = self.read_history().await?;
        let rows = self.settle(rows).await?;
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
            let sql = history::rechecksum(dialect, &self.history, &row.id, &current, &down);
            self.conn
                .execute(&sql)
                .await
                .map_err(|e| db_error("recording a checksum", e))?;
            recorded.push(row.id.clone());
        }
        Ok(recorded)
    }
}
