//! What a run tells its caller: events while it goes on, the report when it ends, and the
//! status of every migration.

use std::time::Duration;

use crate::graph::Direction;

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
    /// A query's plan, as `m.explain` asked for it: the `EXPLAIN` rows, one line each.
    QueryPlan {
        id: String,
        query: String,
        plan: Vec<String>,
    },
    /// A backup was taken before the migration runs.
    BackupTaken(super::backup::BackupTaken),
    /// A verification in a savepoint did not hold: what the savepoint did is rolled back, and
    /// the migration goes on without it (`continued`) or fails.
    VerificationFailed {
        id: String,
        /// The savepoint op, described.
        op: String,
        message: String,
        continued: bool,
    },
    /// A statement gave up waiting for a table lock; the step runs again after `wait`.
    Retrying {
        id: String,
        attempt: u32,
        wait: Duration,
        error: String,
    },
    /// A backfill committed a batch (or, once, found its work done or nothing to do).
    BackfillProgress {
        id: String,
        table: String,
        /// Rows of the batches committed, by this run and earlier ones.
        rows_done: u64,
        /// The rows the table held when the backfill started, from statistics or a count; at
        /// least `rows_done`.
        estimated_total: u64,
        /// Of `rows_done`, the rows the updates changed (the others did not match `only`).
        rows_changed: u64,
        batches: u64,
        /// The size of the next batch.
        batch_size: u32,
        /// Rows a second in this run so far.
        rate: f64,
        /// The time left at that rate.
        eta: Option<Duration>,
        done: bool,
    },
    /// A batch gave up waiting for a lock, or ran past the statement timeout: it runs again,
    /// smaller.
    BatchRetrying {
        id: String,
        table: String,
        /// The keys of the batch that failed.
        range: String,
        attempt: u32,
        batch_size: u32,
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

/// The state of one migration, as [`Migrator::status`](super::Migrator::status) reports it.
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

/// One line of [`Migrator::status`](super::Migrator::status).
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
    /// Its backfills that have started, where each stands.
    pub backfills: Vec<BackfillStatus>,
    /// Its last backup, as recorded.
    pub backup: Option<super::backup::RecordedBackup>,
    /// Its phase in an expand → contract change; `None` for a migration this binary does not
    /// know.
    pub phase: Option<crate::registry::Phase>,
}

/// Where one backfill of a migration stands, as its checkpoint records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillStatus {
    /// 0-based index of the op in the migration.
    pub op: usize,
    pub table: String,
    /// Rows of the batches committed, and the rows the table held when it started.
    pub rows_done: u64,
    pub estimated_total: u64,
    pub done: bool,
}

/// Every known migration in plan order, then the unknown ones in the order they were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub migrations: Vec<MigrationStatus>,
    /// The heads of the graph.
    pub heads: Vec<String>,
    pub history_table: String,
}
