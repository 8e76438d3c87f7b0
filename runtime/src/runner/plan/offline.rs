//! Plans without a database: what a run from an empty history (or with every migration
//! applied) executes, as SQL text.

use super::Planner;
use crate::dialect::Server;
use crate::graph::{Direction, Target};
use crate::op::Dialect;
use crate::registry::Registry;
use crate::render::RenderedOp;
use crate::runner::error::RunError;
use crate::runner::execute;
use crate::runner::job::{Job, Part};
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
    /// makes them when it commits each migration alone (with [`Migrator::commit_each`](crate::Migrator::commit_each), and
    /// after a failure among migrations that shared a commit).
    pub sql: String,
    /// The SQL of the migration's own ops, in the order it runs (Rust steps have none), without
    /// what `sql` adds: for running elsewhere, or comparing.
    pub rendered: Vec<RenderedOp>,
}

/// What an offline plan is for: the server (a [`Dialect`] alone means its oldest supported
/// server), and whether every migration runs its safe sequences
/// ([`Migrator::safe`](crate::Migrator::safe)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanFor {
    pub server: Server,
    pub safe: bool,
}

impl From<Dialect> for PlanFor {
    fn from(dialect: Dialect) -> Self {
        Server::lowest_of(dialect).into()
    }
}

impl From<Server> for PlanFor {
    fn from(server: Server) -> Self {
        PlanFor {
            server,
            safe: false,
        }
    }
}

/// Without a database: what an upgrade from an empty history (`Direction::Up`) or a downgrade
/// from every migration applied (`Direction::Down`) to `targets` runs.
pub fn offline_plan(
    registry: &Registry,
    plan_for: impl Into<PlanFor>,
    direction: Direction,
    targets: &[Target],
) -> Result<Vec<ScriptedMigration>, RunError> {
    let plan_for = plan_for.into();
    let dialect = plan_for.server.dialect();
    let graph = registry.graph()?;
    let planner = Planner::offline_for(registry, &graph, plan_for);
    let mut jobs = match direction {
        Direction::Up => planner.upgrade_jobs(&[], targets),
        Direction::Down => planner.downgrade_jobs(&planner.applied_rows(graph.order()), targets),
    }?;
    let mut scripted = Vec::with_capacity(jobs.len());
    for position in 0..jobs.len() {
        let (job, rest) = jobs[position..].split_at_mut(1);
        let job = &job[0];
        // As in a run: a job's last history write also records the next one's start.
        let next = rest
            .first_mut()
            .filter(|next| execute::records_start(next, dialect) && next.backup.is_none());
        scripted.push(scripted_migration(job, next.as_deref(), dialect));
        if let Some(next) = next {
            next.has_row = true;
        }
    }
    Ok(scripted)
}

/// Without a database: what `up` runs for migration `id` alone, in a run of its own once
/// everything it depends on is applied (its start recorded in a commit of its own). `None`
/// when `id` is not in the graph.
pub fn offline_migration(
    registry: &Registry,
    plan_for: impl Into<PlanFor>,
    id: &str,
) -> Result<Option<ScriptedMigration>, RunError> {
    let plan_for = plan_for.into();
    let graph = registry.graph()?;
    if !graph.contains(id) {
        return Ok(None);
    }
    let planner = Planner::offline_for(registry, &graph, plan_for);
    let plan = graph.upgrade_plan(std::iter::empty::<&str>(), &[Target::id(id)])?;
    let dependencies = plan.ids().iter().copied().filter(|d| *d != id);
    let rows = planner.applied_rows(dependencies);
    let jobs = planner.upgrade_jobs(&rows, &[Target::id(id)])?;
    Ok(jobs
        .iter()
        .find(|job| job.id == id)
        .map(|job| scripted_migration(job, None, plan_for.server.dialect())))
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

/// Without a database: whether every migration of `graph` applies and reverts on `dialect`
/// ([`Planner::verify`]).
#[cfg(feature = "cli")]
pub(crate) fn offline_verify(
    registry: &Registry,
    graph: &crate::graph::Graph,
    dialect: Dialect,
) -> Vec<super::Finding> {
    Planner::offline(registry, graph, dialect).verify()
}
