//! The job model: one migration to apply or revert, fully rendered, cut into steps of parts.
//!
//! See ARCHITECTURE.md's glossary for the nouns (job, step, part, unit, footprint, …).

use crate::graph::Direction;
use crate::op::StepFn;
use crate::render::RenderedOp;

use super::footprint::Footprint;
use super::stored::StoredDown;

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
    pub(crate) fn one(op_index: usize, description: String, parts: Vec<Part>) -> Step {
        Step {
            op_index,
            first_op: op_index,
            description,
            parts,
        }
    }

    pub(crate) fn outside_transaction(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Sql { op, .. } if op.outside_transaction))
    }

    /// Its only parts that run outside a transaction are backfills, which can run in one.
    pub(crate) fn outside_transaction_only_for_backfills(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Sql { op, .. } => !op.outside_transaction || op.batched.is_some(),
            Part::Rust(..) => true,
        })
    }

    /// Only data steps that run in a transaction on every dialect: Rust steps, savepoints.
    pub(crate) fn only_data(&self) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Rust(..) => true,
            Part::Sql { op, .. } => op.in_transaction,
        })
    }
}

/// One migration to apply or revert, fully rendered.
pub(crate) struct Job {
    pub id: String,
    /// `file:line (module)`, or as recorded for a migration this binary does not know.
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
    /// Up: it had a history row when it was planned, left by an earlier run that stopped
    /// midway; this run resumes it. (`has_row` also turns true once this run records its start.)
    pub resumed: bool,
    /// What its history row records.
    pub record: Record,
    /// What its ops do to which tables, for the scheduler.
    pub footprint: Footprint,
    /// It may have rows in the checkpoint table, one way or the other: its end removes those
    /// that no longer hold ([`super::backfill::checkpoint`]).
    pub checkpointed: bool,
    /// A backup to take before it runs.
    pub backup: Option<BackupPlan>,
}

/// What to back up before a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackupPlan {
    /// The tables; `None`: the whole database.
    pub tables: Option<Vec<String>>,
}

impl Job {
    /// Marked [`checkpointed`](Job::checkpointed) when one of its steps is a backfill.
    pub(crate) fn with_checkpoints_of_its_steps(mut self) -> Job {
        self.checkpointed |= self.runs_backfill();
        self
    }

    /// Whether one of its steps is a backfill.
    pub(crate) fn runs_backfill(&self) -> bool {
        self.steps.iter().any(|step| {
            step.parts
                .iter()
                .any(|p| matches!(p, Part::Sql { op, .. } if op.batched.is_some()))
        })
    }
}

impl Record {
    /// The reverse SQL as the history stores it.
    pub fn down_sql(&self) -> &str {
        self.down_text.get_or_init(|| self.down.encode())
    }
}

/// The payload of a job's history row (beside its progress, which the executor tracks).
#[derive(Default)]
pub(crate) struct Record {
    pub checksum: String,
    /// The ids it depends on.
    pub parents: Vec<String>,
    /// Its reverse SQL, rendered when it is applied (empty going down).
    pub down: StoredDown,
    /// `down` as the history stores it, encoded once however often the row is written.
    pub down_text: std::sync::OnceLock<String>,
    /// Its place in the history: the order it was applied in.
    pub seq: i64,
}
