//! Shared commits: on PostgreSQL and SQLite, consecutive migrations that lock only tables the run
//! itself creates or drops commit together, up to [`MAX_JOBS`] of them, and no new one joins
//! once the transaction has been open [`MAX_OPEN`], but one that drops a table the migration
//! before it locked (PostgreSQL: the two commit together).
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
//!   it would have. A `BEGIN` or `COMMIT` that the database refuses (SQLite busy) does the same.
//!   The database and its history end as if they had never shared a commit.
//! - Their locks are held longer, so only migrations whose locks keep nothing else waiting may
//!   share: every table they lock (their own, those their foreign keys reference, those with
//!   foreign keys into them) is created by this run under a name not in use before it (no
//!   deployed code uses it yet), or dropped by the migration itself or, on PostgreSQL, the next
//!   one, which then commits with it (whatever uses the table fails once it is gone; it is
//!   never left locked and alive past a commit). A migration that locks any other table, runs SQL written
//!   by hand or a Rust step (whose effects outside the database would happen twice after a
//!   rollback), touches an enum type, or cannot run as one transaction, commits alone. SQLite
//!   locks the whole database for writing: there [`MAX_OPEN`] bounds how much longer a writer
//!   waits.
//! - Progress events of a shared commit are held until it commits, so that an observer never
//!   sees a migration start twice.
//!
//! MySQL and MariaDB commit every DDL statement on their own: nothing is shared there.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::execute;
use super::footprint::Touch;
use super::job::Job;
use crate::dialect::{Dialect, facts};

/// At most this many migrations share a commit: PostgreSQL keeps every lock of a transaction
/// in a shared table of limited size.
pub(super) const MAX_JOBS: usize = 50;

/// No migration joins a shared transaction open this long.
pub(super) const MAX_OPEN: Duration = Duration::from_millis(100);

/// Whether a job may share a commit, and with which jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sharing {
    pub may_share: bool,
    /// The last job of the run (by index) that must commit with it: the one that drops a table
    /// it locks. Its own index when there is none.
    pub keep_until: usize,
}

/// `len` jobs that commit each alone.
pub(super) fn each_alone(len: usize) -> Vec<Sharing> {
    let alone = |index| Sharing {
        may_share: false,
        keep_until: index,
    };
    (0..len).map(alone).collect()
}

/// Whether migrations may share commits on `dialect` at all: MySQL and MariaDB commit every DDL
/// statement on their own.
pub(super) fn may_share_on(dialect: Dialect) -> bool {
    facts(dialect).shares_commits
}

/// Which of the run's `jobs` may share a commit with their neighbours (see the module docs).
pub(super) fn shareable(jobs: &[Job], dialect: Dialect) -> Vec<Sharing> {
    if !may_share_on(dialect) {
        return each_alone(jobs.len());
    }
    // Every job's touches in run order, with the job's index; `None` stands for a job whose
    // touches are not known.
    let touches: Vec<(usize, Option<&Touch>)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(index, job)| match &job.footprint.touches {
            Some(touches) => touches.iter().map(|t| (index, Some(t))).collect(),
            None => vec![(index, None)],
        })
        .collect();
    // Names follow tables through renames, drops and re-creations, and are forgotten at a job
    // that may do any of them unseen. Walking back from the end: per touch, the job that drops
    // the table it locks, if that is this job or the next: the two must then commit together,
    // and a drop further ahead would keep the table locked, and alive, for longer. (Only
    // SQLite's single write lock, which no table-by-table rule shortens, lets any cut.)
    let soon = |index: usize| {
        move |dropper: &usize| match facts(dialect).one_write_lock {
            true => *dropper == index,
            false => *dropper <= index + 1,
        }
    };
    let mut dropped_by: HashMap<&str, usize> = HashMap::new();
    let mut doomed: Vec<Option<usize>> = vec![None; touches.len()];
    for (k, &(index, touch)) in touches.iter().enumerate().rev() {
        match touch {
            None => dropped_by.clear(),
            Some(Touch::Drops(name)) => {
                dropped_by.insert(name, index);
            }
            Some(Touch::Creates(name)) => {
                dropped_by.remove(name.as_str());
            }
            Some(Touch::Locks(name)) => {
                doomed[k] = dropped_by.get(name.as_str()).copied().filter(soon(index))
            }
            Some(Touch::Renames { from, to }) => {
                doomed[k] = dropped_by.remove(to.as_str()).filter(soon(index));
                match doomed[k] {
                    Some(dropper) => dropped_by.insert(from, dropper),
                    None => dropped_by.remove(from.as_str()),
                };
            }
        }
    }
    // Then forward: whether the run created it. A name in use before the run never counts as
    // created, even once its table was dropped and another created under it: deployed code
    // goes on using the name.
    let mut created: HashSet<&str> = HashSet::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut in_use: HashSet<&str> = HashSet::new();
    let mut sharing: Vec<Sharing> = jobs
        .iter()
        .enumerate()
        .map(|(index, job)| Sharing {
            may_share: job.transactional
                && execute::atomic(job, dialect)
                && !execute::needs_foreign_keys_off(&job.steps, dialect),
            keep_until: index,
        })
        .collect();
    for (k, &(index, touch)) in touches.iter().enumerate() {
        let share = &mut sharing[index];
        // Private: created by the run, or dropped by it; then by which job.
        let (private, dropper) = match touch {
            None => {
                created.clear();
                (false, None)
            }
            Some(Touch::Creates(name)) => {
                seen.insert(name);
                if !in_use.contains(name.as_str()) {
                    created.insert(name);
                }
                (true, None)
            }
            Some(Touch::Drops(name)) => {
                first_seen(&mut seen, &mut in_use, name);
                created.remove(name.as_str());
                (true, None)
            }
            Some(Touch::Locks(name)) => {
                first_seen(&mut seen, &mut in_use, name);
                match created.contains(name.as_str()) {
                    true => (true, None),
                    false => (doomed[k].is_some(), doomed[k]),
                }
            }
            Some(Touch::Renames { from, to }) => {
                first_seen(&mut seen, &mut in_use, from);
                seen.insert(to);
                if created.remove(from.as_str()) {
                    if !in_use.contains(to.as_str()) {
                        created.insert(to);
                    }
                    (true, None)
                } else {
                    (doomed[k].is_some(), doomed[k])
                }
            }
        };
        share.may_share &= private;
        if let Some(dropper) = dropper {
            share.keep_until = share.keep_until.max(dropper);
        }
    }
    sharing
}

/// Notes a name touched, as in use before the run when its first touch needs it to exist.
fn first_seen<'a>(seen: &mut HashSet<&'a str>, in_use: &mut HashSet<&'a str>, name: &'a str) {
    if seen.insert(name) {
        in_use.insert(name);
    }
}

/// How many jobs from the start of `sharing` (the rest of the run, from job `position`) go into
/// one shared transaction: as many as may share, up to [`MAX_JOBS`], ending where every job's
/// `keep_until` is in; 0 when fewer than two.
pub(super) fn group_len(sharing: &[Sharing], position: usize) -> usize {
    let mut need = 0;
    let mut len = 0;
    for (i, share) in sharing.iter().take(MAX_JOBS).enumerate() {
        if !share.may_share {
            break;
        }
        need = need.max(share.keep_until);
        if need <= position + i {
            len = i + 1;
        }
    }
    if len > 1 { len } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::{group_len, shareable};
    use crate::graph::Target;
    use crate::op::{ColumnType, Dialect};
    use crate::registry::MigrationEntry;
    use crate::runner::fixtures::{Fixture, entry};

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
                m.create_index("b", "ix_b_a", ["a_id"]);
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
                m.create_index("a2", "ix_a2_id", ["id"]);
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

    /// Whether each job may share, and the length of the group starting at each.
    fn decided(jobs: &[crate::runner::job::Job], dialect: Dialect) -> (Vec<bool>, Vec<usize>) {
        let sharing = shareable(jobs, dialect);
        let may = sharing.iter().map(|s| s.may_share).collect();
        let groups = (0..jobs.len())
            .map(|position| group_len(&sharing[position..], position))
            .collect();
        (may, groups)
    }

    #[test]
    fn only_migrations_locking_what_the_run_creates_or_drops_share() {
        let fixture = Fixture::new(entries());
        for dialect in Dialect::ALL {
            let planner = fixture.planner(dialect);
            let expect = |flags: &[bool]| match dialect {
                Dialect::Mysql => vec![false; flags.len()],
                _ => flags.to_vec(),
            };
            let up = planner
                .upgrade_jobs(&planner.applied_rows(["h1"]), &[Target::Heads])
                .unwrap();
            let ids: Vec<&str> = up.iter().map(|job| job.id.as_str()).collect();
            assert_eq!(ids[0], "n01");
            let (may, groups) = decided(&up, dialect);
            assert_eq!(
                may,
                expect(&[
                    true, true, false, false, true, false, false, false, true, false
                ]),
                "{dialect} up, {ids:?}"
            );
            let together = match dialect {
                Dialect::Mysql => vec![0; 10],
                _ => vec![2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            };
            assert_eq!(groups, together, "{dialect} up");
            let down = planner
                .downgrade_jobs(
                    &planner.applied_rows(planner.graph.order()),
                    &[Target::id("h1")],
                )
                .unwrap();
            let ids: Vec<&str> = down.iter().map(|job| job.id.as_str()).collect();
            assert_eq!(ids[0], "n10");
            // n09 creates `old` again; n05 renames `a2` back to `a`, which n01 drops, too far
            // on to hold it locked until then; n03 drops a table with a foreign key into `hot`,
            // which stays; n02 locks `a` for its foreign key, and n01 right after it drops `a`
            // (on PostgreSQL, where the lock is `a`'s own, the two then commit together).
            let (may, groups) = decided(&down, dialect);
            let n02 = dialect == Dialect::Postgres;
            assert_eq!(
                may,
                expect(&[
                    false, true, false, false, false, false, false, false, n02, true
                ]),
                "{dialect} down, {ids:?}"
            );
            let together = match dialect {
                Dialect::Postgres => vec![0, 0, 0, 0, 0, 0, 0, 0, 2, 0],
                _ => vec![0; 10],
            };
            assert_eq!(groups, together, "{dialect} down");
        }
    }

    /// A group ends where every job's `keep_until` is in, within `MAX_JOBS`.
    #[test]
    fn a_group_holds_the_drops_its_jobs_wait_for() {
        use super::{MAX_JOBS, Sharing};
        let share = |keep_until| Sharing {
            may_share: true,
            keep_until,
        };
        let alone = Sharing {
            may_share: false,
            keep_until: 0,
        };
        // From job 10: 11 waits for 12's drop, which cannot share: 10 alone, so no group.
        assert_eq!(group_len(&[share(10), share(12), alone], 10), 0);
        // 11 waits for 12, which shares: all three.
        assert_eq!(group_len(&[share(10), share(12), share(12), alone], 10), 3);
        // 10 waits for 12, and 11 for 13, past the end: every cut leaves one waiting.
        assert_eq!(group_len(&[share(12), share(13), share(12)], 10), 0);
        let many: Vec<Sharing> = (0..MAX_JOBS + 5).map(share).collect();
        assert_eq!(group_len(&many, 0), MAX_JOBS);
    }

    /// A name in use before the run stays in use, whatever the run does to its table.
    #[test]
    fn names_in_use_before_the_run_stay_in_use() {
        let entries = vec![
            entry("u0", &[], |m| {
                m.create_table("cache", |t| {
                    t.id("id");
                });
                m.create_table("users", |t| {
                    t.id("id");
                });
            }),
            // Dropping a table in use is private (whatever uses it fails once it is gone), and
            // so is the new table, while nothing sees it.
            entry("u1", &["u0"], |m| {
                m.drop_table("cache");
                m.create_table("cache", |t| {
                    t.id("id");
                });
            }),
            // Once committed, deployed code uses the new `cache`.
            entry("u2", &["u1"], |m| {
                m.create_index("cache", "ix_cache_id", ["id"]);
            }),
            entry("u3", &["u2"], |m| {
                m.create_table("users_new", |t| {
                    t.id("id");
                });
            }),
            // The swap renames a table in use.
            entry("u4", &["u3"], |m| {
                m.rename_table("users", "users_old");
                m.rename_table("users_new", "users");
            }),
            // `users` is in use, whichever table it names.
            entry("u5", &["u4"], |m| {
                m.add_column("users", "note", ColumnType::Text).nullable();
            }),
            entry("u6", &["u5"], |m| {
                m.create_table("fresh", |t| {
                    t.id("id");
                });
            }),
            // A table in use gains a foreign key into a new one: it is locked.
            entry("u7", &["u6"], |m| {
                m.add_column("users_old", "fresh_id", ColumnType::BigInt)
                    .nullable();
                m.add_foreign_key(
                    "users_old",
                    "fk_users_old_fresh",
                    ["fresh_id"],
                    "fresh",
                    ["id"],
                );
            }),
            // Its writes wait for any lock on the new table now.
            entry("u8", &["u7"], |m| {
                m.add_column("fresh", "note", ColumnType::Text).nullable();
            }),
            // No ops (a merge, say): nothing locked.
            entry("u9", &["u8"], |_| {}),
            entry("u10", &["u9"], |m| {
                m.create_table("later", |t| {
                    t.id("id");
                });
            }),
        ];
        let fixture = Fixture::new(entries);
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let planner = fixture.planner(dialect);
            let up = planner
                .upgrade_jobs(&planner.applied_rows(["u0"]), &[Target::Heads])
                .unwrap();
            let (may, groups) = decided(&up, dialect);
            assert_eq!(
                may,
                [
                    true, false, true, false, false, true, false, false, true, true
                ],
                "{dialect}"
            );
            assert_eq!(groups, [0, 0, 0, 0, 0, 0, 0, 0, 2, 0], "{dialect}");
        }
    }
}
