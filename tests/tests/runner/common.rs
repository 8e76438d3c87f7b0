//! What every runner test uses: the per-dialect test macro, a migrator on a test set, the
//! model after some migrations, and helpers that read the history, the tables and the events.

use std::collections::BTreeMap;
use std::sync::Mutex;

use godwit::Migrator;
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::runner::{Event, State};
use godwit::testing::Schema;
use godwit::testing::introspect;
use godwit_tests::sets::registry;
use godwit_tests::testdb::TestDb;

pub(crate) const HISTORY: &str = "godwit_migrations";

/// `fn name(dialect: Dialect)` of the calling module, as three tests: `name::postgres`,
/// `name::mysql` and `name::sqlite`.
macro_rules! on_every_dialect {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(godwit::Dialect::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                super::$name(godwit::Dialect::Mysql).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(godwit::Dialect::Sqlite).await
            }
        }
    )*};
}
pub(crate) use on_every_dialect;

pub(crate) async fn migrator(db: &TestDb, entries: Vec<MigrationEntry>) -> Migrator {
    Migrator::with_registry(db.connect().await, registry(entries)).expect("a valid set")
}

/// The schema model after `ids`, replayed in order.
pub(crate) fn model(entries: &[MigrationEntry], ids: &[&str], dialect: Dialect) -> Schema {
    let mut schema = Schema::new();
    for id in ids {
        let entry = entries.iter().find(|e| e.id() == *id).expect("a known id");
        for op in entry.record_up(dialect).ops() {
            schema.apply(op).unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }
    schema
}

pub(crate) fn states(status: &godwit::runner::Status) -> BTreeMap<String, State> {
    status
        .migrations
        .iter()
        .map(|m| (m.id.clone(), m.state.clone()))
        .collect()
}

pub(crate) async fn count(conn: &mut godwit::db::Connection, sql: &str) -> i64 {
    conn.fetch_text(sql).await.expect("count")[0][0]
        .as_deref()
        .expect("a count")
        .parse()
        .expect("a number")
}

pub(crate) async fn tables(conn: &mut godwit::db::Connection) -> Vec<String> {
    introspect(conn, &[HISTORY])
        .await
        .expect("introspect")
        .tables
        .into_keys()
        .collect()
}

/// (kind, id) of each event, `position` for starts.
pub(crate) fn event_trail(events: &Mutex<Vec<Event>>) -> Vec<String> {
    std::mem::take(&mut *events.lock().unwrap())
        .iter()
        .map(|event| match event {
            Event::MigrationStarted {
                id,
                position,
                total,
                ..
            } => format!("start {id} {position}/{total}"),
            Event::OpFinished { id, .. } => format!("op {id}"),
            Event::MigrationFinished { id, .. } => format!("finish {id}"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Spawns the test runner with `args`, reads the events it prints until `progress` (the rows
/// one line says are done) reaches `at_least`, then SIGKILLs it. Returns the rows it had
/// reported done.
pub(crate) fn run_and_kill(
    args: &[&str],
    envs: &[(&str, &str)],
    progress: impl Fn(&str) -> Option<u64>,
    at_least: u64,
) -> u64 {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_godwit-test-runner"))
        .args(args)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn a runner");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let killed_at = loop {
        let line = lines
            .next()
            .expect("the runner ended before it got far")
            .expect("read the runner's output");
        if let Some(rows) = progress(&line).filter(|rows| *rows >= at_least) {
            break rows;
        }
    };
    child.kill().expect("SIGKILL the runner");
    child.wait().expect("reap the runner");
    killed_at
}

/// A query of the numbers 1..=`rows` (column `n`) for `conn`'s dialect, to seed tables with;
/// on MySQL and MariaDB the session is first let past their 1,000-row cap on recursive CTEs.
pub(crate) async fn numbers(conn: &mut godwit::db::Connection, rows: u64) -> String {
    let dialect = conn.dialect();
    if dialect == Dialect::Mysql {
        // Each has its own setting.
        for setting in ["cte_max_recursion_depth", "max_recursive_iterations"] {
            let _ = conn
                .execute(&format!("SET SESSION {setting} = 10000000"))
                .await;
        }
    }
    match dialect {
        Dialect::Postgres => format!("SELECT n FROM generate_series(1, {rows}) AS g(n)"),
        _ => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) \
             SELECT n FROM g"
        ),
    }
}

/// Runs set `set` up on `url` in a process of its own, its batches paced (3 ms apart), and
/// SIGKILLs it once a batched op reports `rows` rows done; returns the rows it reported.
pub(crate) fn killed_midway(set: &str, url: &str, rows: u64) -> u64 {
    run_and_kill(
        &[set, url, "up"],
        &[("GODWIT_TEST_BATCH_PAUSE_MS", "3")],
        |line| {
            line.strip_prefix("event BackfillProgress")
                .and_then(|rest| rest.split("rows_done: ").nth(1))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
        },
        rows,
    )
}
