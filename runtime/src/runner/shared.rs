//! Shared commits: on PostgreSQL and SQLite, consecutive migrations that lock only tables the run
//! itself creates or drops commit together, up to [`MAX_JOBS`] of them, and no new one joins
//! once the transaction has been open [`MAX_OPEN`].
//!
//! A commit costs a disk flush, and creating or dropping a table costs less than that: applying
//! a few hundred migrations to a fresh database (CI, tests, a developer's machine) is mostly
//! waiting for flushes. Each migration still commits together with its history row, so the
//! history stays true at every point.
//!
//! Why it is safe:
//! - What each migration does is what it does alone: a failure in one rolls the shared
//!   transaction back, and the migrations before it are run again, each in a transaction of its
//!   own, then the failing one, which fails (or, when it was a lock timeout, is retried) as
//!   it would have. The database ends as if they had never shared a commit.
//! - Their locks are held longer, so only migrations whose locks keep nothing else waiting may
//!   share: every table they lock is created by this run (no deployed code uses it yet) or
//!   dropped by it (whatever uses it fails once it is gone). A migration that locks any other
//!   table, runs SQL written by hand or a Rust step (whose effects outside the database would
//!   happen twice after a rollback), touches an enum type, or cannot run as one transaction,
//!   commits alone. SQLite locks the whole database for writing: there [`MAX_OPEN`] bounds
//!   how much longer a writer waits.
//! - Progress events of a shared commit are held until it commits, so that an observer never
//!   sees a migration start twice.
//!
//! MySQL and MariaDB commit every DDL statement on their own: nothing is shared there.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Event, Job, Migrator, RunError, execute};
use crate::op::{Dialect, Op, Table};
use crate::schema::Schema;

/// At most this many migrations share a commit: PostgreSQL keeps every lock of a transaction
/// in a shared table of limited size.
pub(super) const MAX_JOBS: usize = 50;

/// No migration joins a shared transaction open this long.
pub(super) const MAX_OPEN: Duration = Duration::from_millis(100);

/// A table an op locks, and what it does to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Touch {
    Creates(String),
    Drops(String),
    /// Locks it to change it, or to add or remove a foreign key into it.
    Locks(String),
    /// Locks `from`; `to` is the same table.
    Renames {
        from: String,
        to: String,
    },
}

/// The tables `op` locks, in order, given the model before and after it. `None` when they are
/// not known: SQL written by hand, a Rust step, an enum type (which columns of any table use).
pub(super) fn touches(op: &Op, before: &Schema, after: &Schema) -> Option<Vec<Touch>> {
    let name = match op {
        Op::CreateTable(table) => table.name.as_str(),
        Op::DropTable { name } => name,
        Op::RenameTable { from, to } => {
            let mut touches = vec![Touch::Renames {
                from: from.clone(),
                to: to.clone(),
            }];
            touches.extend(references(before.table(from), from));
            return Some(touches);
        }
        _ => op.changes_only_table()?,
    };
    let (was, is) = (before.table(name), after.table(name));
    let mut touches = vec![match (was, is) {
        (None, Some(_)) => Touch::Creates(name.to_owned()),
        (Some(_), None) => Touch::Drops(name.to_owned()),
        _ => Touch::Locks(name.to_owned()),
    }];
    // Adding or removing a foreign key locks the table it references; so may any change of the
    // table, as far as this knows.
    touches.extend(references(was.into_iter().chain(is), name));
    // A type change rebuilds the foreign keys into the column, in the tables that have them.
    if matches!(op, Op::AlterColumn { .. }) {
        touches.extend(
            before
                .tables_referencing(name)
                .map(|table| Touch::Locks(table.name.clone())),
        );
    }
    Some(touches)
}

/// The tables that `tables`' foreign keys reference, other than `name` itself.
fn references<'a>(tables: impl IntoIterator<Item = &'a Table>, name: &str) -> Vec<Touch> {
    tables
        .into_iter()
        .flat_map(|table| &table.foreign_keys)
        .filter(|fk| fk.ref_table != name)
        .map(|fk| Touch::Locks(fk.ref_table.clone()))
        .collect()
}

/// Which of the run's `jobs` may share a commit with their neighbours (see the module docs).
pub(super) fn shareable(jobs: &[Job], dialect: Dialect) -> Vec<bool> {
    if dialect == Dialect::Mysql {
        return vec![false; jobs.len()];
    }
    // Every job's touches in run order; `None` stands for a job whose touches are not known.
    let touches: Vec<Option<&Touch>> = jobs
        .iter()
        .flat_map(|job| match &job.touches {
            Some(touches) => touches.iter().map(Some).collect(),
            None => vec![None],
        })
        .collect();
    // Names follow tables through renames, drops and re-creations, and are forgotten at a job
    // that may do any of them unseen: per touch, whether the table it locks is dropped later
    // in the run (walking back from the end).
    let mut dropped_later: HashSet<&str> = HashSet::new();
    let mut doomed = vec![false; touches.len()];
    for (k, touch) in touches.iter().enumerate().rev() {
        let Some(touch) = touch else {
            dropped_later.clear();
            continue;
        };
        match touch {
            Touch::Drops(name) => {
                dropped_later.insert(name);
            }
            Touch::Creates(name) => {
                dropped_later.remove(name.as_str());
            }
            Touch::Locks(name) => doomed[k] = dropped_later.contains(name.as_str()),
            Touch::Renames { from, to } => {
                doomed[k] = dropped_later.remove(to.as_str());
                match doomed[k] {
                    true => dropped_later.insert(from),
                    false => dropped_later.remove(from.as_str()),
                };
            }
        }
    }
    // Then forward: whether it was created by the run.
    let mut created: HashSet<&str> = HashSet::new();
    let mut k = 0;
    jobs.iter()
        .map(|job| {
            let mut private = job.transactional
                && execute::atomic(job, dialect)
                && !execute::needs_foreign_keys_off(&job.steps, dialect);
            let Some(touches) = &job.touches else {
                created.clear();
                k += 1;
                return false;
            };
            for touch in touches {
                match touch {
                    Touch::Creates(name) => {
                        created.insert(name);
                    }
                    Touch::Drops(name) => {
                        created.remove(name.as_str());
                    }
                    Touch::Locks(name) => private &= created.contains(name.as_str()) || doomed[k],
                    Touch::Renames { from, to } => {
                        let ours = created.remove(from.as_str());
                        if ours {
                            created.insert(to);
                        }
                        private &= ours || doomed[k];
                    }
                }
                k += 1;
            }
            private
        })
        .collect()
}

/// How a shared transaction ended.
pub(super) enum Outcome {
    /// The first `n` jobs committed (fewer than given once [`MAX_OPEN`] passed).
    Committed(usize),
    /// Job `failed` failed and everything was rolled back: the jobs up to it must run alone.
    RolledBack { failed: usize },
}

/// Runs `jobs` (all [`shareable`]; `position`: the 0-based place of the first in the run of
/// `total`) in one transaction, as many as [`MAX_OPEN`] lets in.
pub(super) async fn run(
    m: &mut Migrator,
    jobs: &[Job],
    position: usize,
    total: usize,
) -> Result<Outcome, RunError> {
    let opened = Instant::now();
    let held: Arc<Mutex<Vec<Event>>> = Arc::default();
    let observer = m.observer.take();
    if observer.is_some() {
        let held = Arc::clone(&held);
        m.observer = Some(Box::new(move |event| {
            held.lock().expect("only pushed to").push(event.clone())
        }));
    }
    let mut ran = 0;
    let mut failed = None;
    let result = async {
        let begin = m.conn.begin_sql();
        m.conn
            .execute(begin)
            .await
            .map_err(|e| super::db_error("starting a transaction shared by migrations", e))?;
        for (i, job) in jobs.iter().enumerate() {
            if i > 0 && opened.elapsed() >= MAX_OPEN {
                break;
            }
            let elapsed = execute::run_enclosed(m, job, position + i + 1, total)
                .await
                .inspect_err(|_| failed = Some(i))?;
            super::notify(
                &m.observer,
                Event::MigrationFinished {
                    id: job.id.clone(),
                    direction: job.direction,
                    elapsed,
                },
            );
            ran += 1;
        }
        m.conn.execute("COMMIT").await.map_err(|e| {
            let ids: Vec<&str> = jobs[..ran].iter().map(|job| job.id.as_str()).collect();
            super::db_error(
                &format!(
                    "committing the migrations that share a commit ({}); `status` shows whether \
                     they are applied",
                    ids.join(", ")
                ),
                e,
            )
        })
    }
    .await;
    m.observer = observer;
    match (result, failed) {
        (Ok(()), _) => {
            let held = std::mem::take(&mut *held.lock().expect("only pushed to"));
            for event in held {
                m.emit(event);
            }
            Ok(Outcome::Committed(ran))
        }
        (Err(_), Some(failed)) => {
            m.conn.execute("ROLLBACK").await.map_err(|e| {
                super::db_error("rolling back a transaction shared by migrations", e)
            })?;
            Ok(Outcome::RolledBack { failed })
        }
        // Starting or committing failed: the connection is in doubt, and running anything
        // again could apply a migration twice.
        (Err(error), None) => {
            let _ = m.conn.execute("ROLLBACK").await;
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::shareable;
    use crate::graph::Target;
    use crate::migration::Migration;
    use crate::op::{ColumnType, Dialect};
    use crate::registry::{Location, MigrationEntry, Registry};
    use crate::runner::Planner;

    fn entry(
        id: &'static str,
        after: &'static [&'static str],
        up: fn(&mut Migration),
    ) -> MigrationEntry {
        MigrationEntry::new(
            id,
            after,
            up,
            Location::new(module_path!(), file!(), line!()),
        )
    }

    /// `h1` was applied by an earlier run: its tables are in use. The rest, one rule each.
    fn entries() -> Vec<MigrationEntry> {
        vec![
            entry("h1", &[], |m| {
                m.create_table("hot", |t| {
                    t.id("id");
                });
                m.create_table("old", |t| {
                    t.id("id");
                });
            }),
            // Creates a table.
            entry("n01", &["h1"], |m| {
                m.create_table("a", |t| {
                    t.id("id");
                });
            }),
            // A foreign key into a table the run created, and an index on its own new table.
            entry("n02", &["n01"], |m| {
                m.create_table("b", |t| {
                    t.id("id");
                    t.bigint("a_id");
                    t.foreign_key("fk_b_a", ["a_id"], "a", ["id"]);
                });
                m.create_index("ix_b_a", "b", ["a_id"]);
            }),
            // A foreign key into a table in use locks it.
            entry("n03", &["n02"], |m| {
                m.create_table("c", |t| {
                    t.id("id");
                    t.bigint("hot_id");
                    t.foreign_key("fk_c_hot", ["hot_id"], "hot", ["id"]);
                });
            }),
            // Changes a table in use.
            entry("n04", &["n03"], |m| {
                m.add_column("hot", "note", ColumnType::Text).nullable();
            }),
            // A table the run created keeps its place through a rename.
            entry("n05", &["n04"], |m| {
                m.rename_table("a", "a2");
                m.create_index("ix_a2_id", "a2", ["id"]);
            }),
            // Renames a table in use.
            entry("n06", &["n05"], |m| m.rename_table("hot", "hot2")),
            // SQL written by hand: it may have done anything to any table.
            entry("n07", &["n06"], |m| {
                m.sql("UPDATE a2 SET id = id")
                    .reverse("UPDATE a2 SET id = id");
            }),
            // So `a2` counts as in use after it.
            entry("n08", &["n07"], |m| {
                m.add_column("a2", "note", ColumnType::Text).nullable();
            }),
            // Drops a table.
            entry("n09", &["n08"], |m| m.drop_table("old")),
            // Not transactional.
            entry("n10", &["n09"], |m| {
                m.create_table("z", |t| {
                    t.id("id");
                });
            })
            .with_transactional(false),
        ]
    }

    #[test]
    fn only_migrations_locking_what_the_run_creates_or_drops_share() {
        let registry = Registry::from_entries(entries()).unwrap();
        let graph = registry.graph().unwrap();
        for dialect in Dialect::ALL {
            let accepted = BTreeSet::new();
            let planner = Planner {
                registry: &registry,
                graph: &graph,
                dialect,
                accept_changed: &accepted,
                allow_unknown: false,
            };
            let shared = |ids: &[bool]| match dialect {
                Dialect::Mysql => vec![false; ids.len()],
                _ => ids.to_vec(),
            };
            let up = planner
                .upgrade_jobs(&planner.applied_rows(["h1"]), &[Target::Heads])
                .unwrap();
            let ids: Vec<&str> = up.iter().map(|job| job.id.as_str()).collect();
            assert_eq!(ids[0], "n01");
            assert_eq!(
                shareable(&up, dialect),
                shared(&[
                    true, true, false, false, true, false, false, false, true, false
                ]),
                "{dialect} up, {ids:?}"
            );
            let down = planner
                .downgrade_jobs(&planner.applied_rows(graph.order()), &[Target::id("h1")])
                .unwrap();
            let ids: Vec<&str> = down.iter().map(|job| job.id.as_str()).collect();
            assert_eq!(ids[0], "n10");
            // n09 creates `old` again; n05 renames `a2` back to `a`, which n01 drops; n03
            // drops a table with a foreign key into `hot`, which stays.
            assert_eq!(
                shareable(&down, dialect),
                shared(&[
                    false, true, false, false, false, true, false, false, true, true
                ]),
                "{dialect} down, {ids:?}"
            );
        }
    }
}
