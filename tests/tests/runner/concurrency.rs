//! Several runners, and runs that die or are dropped: the run lock, busy tables, killed and
//! dropped runs.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::{Event, RunError, State};
use godwit_tests::entry;
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::sets;
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, count, migrator, model, on_every_dialect, states, tables};
use crate::sharing::sc_a;

on_every_dialect!(
    eight_processes_apply_each_migration_once,
    killed_runner_is_reported_and_completed,
    waiting_for_the_lock_times_out_with_a_message,
    busy_table_fails_fast_and_is_retried,
    lock_is_released_when_the_caller_panics,
    a_dropped_run_leaves_nothing_behind,
);

async fn eight_processes_apply_each_migration_once(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_godwit-test-runner"))
                .args(["crowded", &db.url, "up"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a runner")
        })
        .collect();
    let mut applied: Vec<String> = Vec::new();
    let mut idle = 0;
    for child in children {
        let output = child.wait_with_output().expect("wait for a runner");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_default().to_owned();
        assert!(output.status.success(), "a runner failed: {stdout}");
        match last.strip_prefix("applied ") {
            Some(ids) => applied.extend(ids.split(',').map(str::to_owned)),
            None if last == "nothing to do" => idle += 1,
            None => panic!("unexpected runner output: {stdout}"),
        }
    }
    applied.sort();
    assert_eq!(applied, ["c1", "c2", "c3", "c4", "c5"]);
    assert!(idle >= 1);
    let mut m = migrator(&db, sets::crowded()).await;
    let status = m.status().await.unwrap();
    assert!(status.migrations.iter().all(|s| s.state == State::Applied));
    assert_eq!(
        count(m.connection(), &format!("SELECT COUNT(*) FROM {HISTORY}")).await,
        5
    );
    m.close().await.unwrap();
    db.drop().await;
}

async fn killed_runner_is_reported_and_completed(dialect: Dialect) {
    use std::io::BufRead;
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_godwit-test-runner"))
        .args(["killable", &db.url, "up"])
        .env("GODWIT_TEST_PAUSE", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn a runner");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the runner ended before pausing: {seen:?}"))
            .expect("read the runner's output");
        if line == "PAUSED" {
            break;
        }
        seen.push(line);
    }
    child.kill().expect("SIGKILL the runner");
    child.wait().expect("reap the runner");

    let entries = sets::killable();
    let mut m = migrator(&db, entries.clone()).await;
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["k1"], State::Applied);
    if dialect == Dialect::Mysql {
        assert_eq!(
            status["k2"],
            State::Partial {
                ops_done: 1,
                ops_total: 3
            }
        );
        assert_eq!(tables(m.connection()).await, ["k_one", "k_two"]);
    } else {
        assert_eq!(status["k2"], State::Pending);
        assert_eq!(tables(m.connection()).await, ["k_one"]);
    }
    // The data step's insert died with its transaction.
    assert_eq!(count(m.connection(), "SELECT COUNT(*) FROM k_one").await, 0);
    assert_eq!(m.up().await.unwrap().applied, ["k2"]);
    let schema = model(&entries, &["k1", "k2"], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after the rerun").await;
    assert_eq!(count(m.connection(), "SELECT COUNT(*) FROM k_one").await, 1);
    m.close().await.unwrap();
    db.drop().await;
}

fn slow(m: &mut Migration) {
    m.rust("hold the lock", |_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(())
        })
    });
}

async fn waiting_for_the_lock_times_out_with_a_message(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut holder = migrator(&db, vec![entry!("slow", [], slow)]).await;
    let running = tokio::spawn(async move {
        let report = holder.up().await;
        (holder, report)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut waiter = migrator(&db, vec![entry!("slow", [], slow)])
        .await
        .lock_timeout(Duration::from_millis(200));
    let err = waiter.up().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RunError::LockTimeout { .. }), "{message}");
    assert!(
        message.contains("another migration run holds the lock"),
        "{message}"
    );
    let (holder, report) = running.await.unwrap();
    assert_eq!(report.unwrap().applied, ["slow"]);
    let mut waiter = waiter.lock_timeout(Duration::from_secs(5));
    assert!(waiter.up().await.unwrap().nothing_to_do());
    holder.close().await.unwrap();
    waiter.close().await.unwrap();
    db.drop().await;
}

fn busy_base(m: &mut Migration) {
    m.create_table("busy", |t| {
        t.id("id");
    });
}

fn busy_alter(m: &mut Migration) {
    m.add_column("busy", "note", ColumnType::Integer);
}

async fn busy_table_fails_fast_and_is_retried(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("b1", [], busy_base),
        entry!("b2", ["b1"], busy_alter),
    ];
    let mut m = migrator(&db, entries.clone()).await;
    m.upgrade(&[Target::id("b1")]).await.unwrap();
    // Another session holds a lock on the table the migration alters.
    let mut blocker = db.connect().await;
    let (lock, unlock) = match dialect {
        Dialect::Postgres => ("BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE", "COMMIT"),
        Dialect::Mysql => ("LOCK TABLES busy WRITE", "UNLOCK TABLES"),
        Dialect::Sqlite => ("BEGIN IMMEDIATE", "COMMIT"),
    };
    blocker.execute(lock).await.unwrap();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        blocker.execute(unlock).await.unwrap();
        blocker
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = m
        .ddl_lock_timeout(Duration::from_millis(200))
        .retries(6)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    assert_eq!(m.up().await.unwrap().applied, ["b2"]);
    let retries = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Event::Retrying { .. }))
        .count();
    assert!(retries >= 1, "no retry: {:?}", events.lock().unwrap());
    let schema = model(&entries, &["b1", "b2"], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after the retries").await;
    release.await.unwrap().close().await.ok();
    m.close().await.unwrap();
    db.drop().await;
}

async fn lock_is_released_when_the_caller_panics(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let m = migrator(&db, sets::crowded()).await.on_event(|e| {
        if matches!(e, Event::MigrationStarted { position: 2, .. }) {
            panic!("the observer fails");
        }
    });
    let task = tokio::spawn(async move {
        let mut m = m;
        m.up().await
    });
    assert!(task.await.unwrap_err().is_panic());
    let mut other = migrator(&db, sets::crowded())
        .await
        .lock_timeout(Duration::from_secs(10));
    let report = other.up().await.unwrap();
    assert_eq!(report.applied, ["c2", "c3", "c4", "c5"]);
    other.close().await.unwrap();
    db.drop().await;
}

/// Whether `dr_nap` sleeps, per dialect (the three tests may run at once in one process):
/// only while the test drops the run around it.
static NAPPING: [std::sync::atomic::AtomicBool; 3] = [
    std::sync::atomic::AtomicBool::new(false),
    std::sync::atomic::AtomicBool::new(false),
    std::sync::atomic::AtomicBool::new(false),
];

fn napping(dialect: Dialect) -> &'static std::sync::atomic::AtomicBool {
    &NAPPING[Dialect::ALL
        .iter()
        .position(|d| *d == dialect)
        .expect("a dialect")]
}

async fn nap(db: &mut godwit::db::Connection) -> Result<(), BoxError> {
    if napping(db.dialect()).load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    Ok(())
}

fn dr_nap(m: &mut Migration) {
    m.create_table("y", |t| {
        t.id("id");
    });
    m.rust("nap", |db| Box::pin(nap(db)));
}

/// A run dropped halfway (a timeout around `up`) leaves its transaction open and its lock held
/// on the connection: the next run on it rolls that back and releases the lock first, so it
/// applies the migration afresh and other runners get the lock afterwards.
async fn a_dropped_run_leaves_nothing_behind(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![entry!("dr1", [], sc_a), entry!("dr2", ["dr1"], dr_nap)];
    let mut m = migrator(&db, entries.clone()).await;
    napping(dialect).store(true, std::sync::atomic::Ordering::SeqCst);
    let dropped = tokio::time::timeout(Duration::from_millis(500), m.up()).await;
    napping(dialect).store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(dropped.is_err(), "the run naps for 30 s");
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, ["dr2"]);
    let status = states(&m.status().await.unwrap());
    assert!(status.values().all(|s| *s == State::Applied), "{status:?}");
    assert_live_matches(
        m.connection(),
        &model(&entries, &["dr1", "dr2"], dialect),
        &[HISTORY],
        "after the rerun",
    )
    .await;
    // The lock is free: another runner takes it at once.
    let mut other = migrator(&db, entries.clone())
        .await
        .lock_timeout(Duration::from_secs(1));
    assert!(other.up().await.unwrap().nothing_to_do());
    other.close().await.unwrap();
    m.close().await.unwrap();
    db.drop().await;
}
