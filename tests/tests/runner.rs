//! The runner against the real servers: every test runs on PostgreSQL, MariaDB and SQLite,
//! each in its own database.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use godwit::graph::Target;
use godwit::introspect::introspect;
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::runner::{Event, RunError, State};
use godwit::{Migrator, Schema};
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::sets::{self, EVERY_OP_ORDER};
use godwit_tests::testdb::TestDb;
use godwit_tests::{entry, sets::registry};

const HISTORY: &str = "godwit_migrations";

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

on_every_dialect!(
    every_op_up_down_up,
    failing_op_in_a_transactional_migration,
    failing_op_in_a_non_transactional_migration,
    downgrade_after_a_failure_reverts_what_was_applied,
    eight_processes_apply_each_migration_once,
    killed_runner_is_reported_and_completed,
    edited_migration_stops_the_upgrade,
    unknown_migration_is_reported_and_reverted_from_stored_sql,
    irreversible_migration_refuses_to_go_down,
    explicit_down_is_used,
    panic_in_a_data_step_rolls_back_and_releases_the_lock,
    waiting_for_the_lock_times_out_with_a_message,
    busy_table_fails_fast_and_is_retried,
    stamp_records_without_running,
    history_table_can_be_moved,
    start_row_rides_on_the_previous_commit,
    failing_statement_sent_with_others_is_named,
    syntax_error_sent_with_others_is_named,
    single_transaction_is_all_or_nothing,
    single_transaction_applies_every_op,
    history_keeps_any_text,
    a_new_tables_parts_go_with_its_create_and_drop,
    partial_row_inside_a_whole_table_resumes_op_by_op,
    migrations_locking_only_new_tables_share_a_commit,
    a_failure_in_a_shared_commit_runs_the_ones_before_it_alone,
    a_dropped_run_leaves_nothing_behind,
);

async fn migrator(db: &TestDb, entries: Vec<MigrationEntry>) -> Migrator {
    Migrator::with_registry(db.connect().await, registry(entries)).expect("a valid set")
}

/// The schema model after `ids`, replayed in order.
fn model(entries: &[MigrationEntry], ids: &[&str], dialect: Dialect) -> Schema {
    let mut schema = Schema::new();
    for id in ids {
        let entry = entries.iter().find(|e| e.id() == *id).expect("a known id");
        for op in entry.record_up(dialect).ops() {
            schema.apply(op).unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }
    schema
}

fn states(status: &godwit::runner::Status) -> BTreeMap<String, State> {
    status
        .migrations
        .iter()
        .map(|m| (m.id.clone(), m.state.clone()))
        .collect()
}

async fn count(conn: &mut godwit::db::Connection, sql: &str) -> i64 {
    conn.fetch_text(sql).await.expect("count")[0][0]
        .as_deref()
        .expect("a count")
        .parse()
        .expect("a number")
}

async fn tables(conn: &mut godwit::db::Connection) -> Vec<String> {
    introspect(conn, &[HISTORY])
        .await
        .expect("introspect")
        .tables
        .into_keys()
        .collect()
}

async fn every_op_up_down_up(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = sets::every_op();
    let mut m = migrator(&db, entries.clone()).await;
    for (i, id) in EVERY_OP_ORDER.iter().enumerate() {
        let report = m.upgrade(&[Target::Forward(1)]).await.unwrap();
        assert_eq!(report.applied, [*id]);
        let schema = model(&entries, &EVERY_OP_ORDER[..=i], dialect);
        assert_live_matches(m.connection(), &schema, &[HISTORY], &format!("up to {id}")).await;
    }
    assert_eq!(count(m.connection(), "SELECT COUNT(*) FROM users").await, 2);
    for i in (0..EVERY_OP_ORDER.len()).rev() {
        let report = m.downgrade(&[Target::Back(1)]).await.unwrap();
        assert_eq!(report.reverted, [EVERY_OP_ORDER[i]]);
        let schema = model(&entries, &EVERY_OP_ORDER[..i], dialect);
        let step = format!("down from {}", EVERY_OP_ORDER[i]);
        assert_live_matches(m.connection(), &schema, &[HISTORY], &step).await;
    }
    let full = model(&entries, &EVERY_OP_ORDER, dialect);
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, EVERY_OP_ORDER);
    assert_live_matches(m.connection(), &full, &[HISTORY], "up to the heads").await;
    let status = m.status().await.unwrap();
    assert!(
        status
            .migrations
            .iter()
            .all(|s| s.state == State::Applied && s.applied_at.is_some())
    );
    assert!(m.up().await.unwrap().nothing_to_do());
    let report = m.downgrade(&[Target::base()]).await.unwrap();
    assert_eq!(report.reverted.len(), 6);
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    m.up().await.unwrap();
    assert_live_matches(m.connection(), &full, &[HISTORY], "up again").await;
    assert_eq!(count(m.connection(), "SELECT COUNT(*) FROM users").await, 2);
    m.close().await.unwrap();
    db.drop().await;
}

async fn failing_op_in_a_transactional_migration(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = sets::gated(true);
    let mut m = migrator(&db, entries.clone()).await;
    let err = m.up().await.unwrap_err();
    let RunError::Failed {
        id,
        index,
        ops_applied,
        ..
    } = &err
    else {
        panic!("expected a failed op, got {err}");
    };
    assert_eq!((id.as_str(), *index), ("g2", 1));
    let message = err.to_string();
    assert!(message.contains("failed at op 2 of 3"), "{message}");
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["g1"], State::Applied);
    if dialect == Dialect::Mysql {
        // DDL commits implicitly: the first op stays, recorded.
        assert_eq!(*ops_applied, 1);
        assert!(message.contains("ops 1–1 of 3 are applied"), "{message}");
        assert_eq!(
            status["g2"],
            State::Partial {
                ops_done: 1,
                ops_total: 3
            }
        );
        assert_eq!(tables(m.connection()).await, ["one", "two_a"]);
    } else {
        // One transaction with the history row: nothing of g2 is left.
        assert_eq!(*ops_applied, 0);
        assert!(message.contains("nothing of `g2` is applied"), "{message}");
        assert_eq!(status["g2"], State::Pending);
        assert_eq!(tables(m.connection()).await, ["one"]);
    }
    m.connection()
        .execute("CREATE TABLE gate (id INTEGER)")
        .await
        .unwrap();
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, ["g2", "g3"]);
    let mut schema = model(&entries, &["g1", "g2", "g3"], dialect);
    schema
        .apply(&godwit::Op::CreateTable(godwit::op::Table {
            columns: vec![godwit::op::Column::new("id", ColumnType::Integer)],
            ..godwit::op::Table::new("gate")
        }))
        .unwrap();
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after the rerun").await;
    assert_eq!(count(m.connection(), "SELECT COUNT(*) FROM gate").await, 1);
    m.close().await.unwrap();
    db.drop().await;
}

async fn failing_op_in_a_non_transactional_migration(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = sets::gated(false);
    let mut m = migrator(&db, entries.clone()).await;
    let err = m.up().await.unwrap_err();
    assert!(
        matches!(&err, RunError::Failed { id, ops_applied: 1, .. } if id == "g2"),
        "{err}"
    );
    assert!(err.to_string().contains("run `up` again to resume at op 2"));
    let status = states(&m.status().await.unwrap());
    assert_eq!(
        status["g2"],
        State::Partial {
            ops_done: 1,
            ops_total: 3
        }
    );
    assert_eq!(tables(m.connection()).await, ["one", "two_a"]);
    m.connection()
        .execute("CREATE TABLE gate (id INTEGER)")
        .await
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = m.on_event(move |e| seen.lock().unwrap().push(e.clone()));
    assert_eq!(m.up().await.unwrap().applied, ["g2", "g3"]);
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        Event::MigrationStarted { id, resume_from: 1, .. } if id == "g2"
    )));
    assert_eq!(count(m.connection(), "SELECT COUNT(*) FROM gate").await, 1);
    assert_eq!(
        tables(m.connection()).await,
        ["gate", "one", "three", "two_a", "two_b"]
    );
    m.close().await.unwrap();
    db.drop().await;
}

async fn downgrade_after_a_failure_reverts_what_was_applied(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, sets::gated(false)).await;
    m.up().await.unwrap_err();
    let report = m.downgrade(&[Target::base()]).await.unwrap();
    assert_eq!(report.reverted, ["g2", "g1"]);
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    assert_eq!(
        count(m.connection(), &format!("SELECT COUNT(*) FROM {HISTORY}")).await,
        0
    );
    m.close().await.unwrap();
    db.drop().await;
}

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

fn edited_v1(m: &mut Migration) {
    m.create_table("notes", |t| {
        t.id("id");
    });
}

fn edited_v2(m: &mut Migration) {
    m.create_table("notes", |t| {
        t.id("id");
        t.text("body");
    });
}

async fn edited_migration_stops_the_upgrade(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, vec![entry!("notes", [], edited_v1)]).await;
    m.up().await.unwrap();
    m.close().await.unwrap();

    let edited = vec![
        entry!("notes", [], edited_v2),
        entry!("later", ["notes"], edited_v1_later),
    ];
    let mut m = migrator(&db, edited.clone()).await;
    let err = m.up().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RunError::Changed(_)), "{message}");
    assert!(
        message.contains("`notes`") && message.contains("runner.rs:"),
        "{message}"
    );
    assert_eq!(tables(m.connection()).await, ["notes"]);
    assert!(matches!(
        states(&m.status().await.unwrap())["notes"],
        State::Changed { .. }
    ));
    let mut m = m.accept_changed(["notes"]);
    assert_eq!(m.up().await.unwrap().applied, ["later"]);
    assert_eq!(m.record_checksums().await.unwrap(), ["notes"]);
    m.close().await.unwrap();

    let mut m = migrator(&db, edited).await;
    assert!(m.up().await.unwrap().nothing_to_do());
    assert_eq!(states(&m.status().await.unwrap())["notes"], State::Applied);
    m.close().await.unwrap();
    db.drop().await;
}

fn edited_v1_later(m: &mut Migration) {
    m.create_table("later", |t| {
        t.id("id");
    });
}

fn unknown_base(m: &mut Migration) {
    m.create_table("base_table", |t| {
        t.id("id");
        t.string("name", 40);
    });
}

fn unknown_newer(m: &mut Migration) {
    m.add_column("base_table", "extra", ColumnType::Integer);
    m.create_index("base_table", "ix_base_extra", ["extra"]);
    m.create_table("newer", |t| {
        t.id("id");
    });
}

async fn unknown_migration_is_reported_and_reverted_from_stored_sql(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let newer = vec![
        entry!("u1", [], unknown_base),
        entry!("u2", ["u1"], unknown_newer),
    ];
    let mut m = migrator(&db, newer).await;
    m.up().await.unwrap();
    m.close().await.unwrap();

    let older = vec![entry!("u1", [], unknown_base)];
    let mut m = migrator(&db, older.clone()).await;
    let status = m.status().await.unwrap();
    let unknown = status.migrations.iter().find(|s| s.id == "u2").unwrap();
    assert_eq!(unknown.state, State::Unknown);
    assert!(unknown.location.contains("runner.rs:"), "{unknown:?}");
    assert_eq!(unknown.parents, ["u1"]);
    let err = m.up().await.unwrap_err();
    assert!(
        matches!(&err, RunError::Unknown(ids) if ids == &["u2"]),
        "{err}"
    );
    // The older binary reverts the newer migration with the SQL stored when it was applied.
    let report = m.downgrade(&[Target::Back(1)]).await.unwrap();
    assert_eq!(report.reverted, ["u2"]);
    let schema = model(&older, &["u1"], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after reverting u2").await;
    assert_eq!(
        m.downgrade(&[Target::base()]).await.unwrap().reverted,
        ["u1"]
    );
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    m.close().await.unwrap();
    db.drop().await;
}

fn irreversible_data(m: &mut Migration) {
    m.sql("INSERT INTO base_table (name) VALUES ('x')");
}

fn irreversible_after(m: &mut Migration) {
    m.create_table("after_table", |t| {
        t.id("id");
    });
}

async fn irreversible_migration_refuses_to_go_down(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(
        &db,
        vec![
            entry!("r1", [], unknown_base),
            entry!("r2", ["r1"], irreversible_data),
            entry!("r3", ["r2"], irreversible_after),
        ],
    )
    .await;
    m.up().await.unwrap();
    let err = m.downgrade(&[Target::base()]).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, RunError::Irreversible { id, index: 1, .. } if id == "r2"),
        "{message}"
    );
    assert!(
        message.contains("sql(\"INSERT INTO base_table") && message.contains("no reverse"),
        "{message}"
    );
    // Refused before anything ran: r3 is still applied.
    assert_eq!(tables(m.connection()).await, ["after_table", "base_table"]);
    let status = m.status().await.unwrap();
    assert!(status.migrations.iter().all(|s| s.state == State::Applied));
    m.close().await.unwrap();
    db.drop().await;
}

fn explicit_down(m: &mut Migration) {
    m.sql("DELETE FROM base_table WHERE name = 'x'");
}

async fn explicit_down_is_used(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(
        &db,
        vec![
            entry!("r1", [], unknown_base),
            entry!("r2", ["r1"], irreversible_data).with_down(explicit_down),
        ],
    )
    .await;
    m.up().await.unwrap();
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM base_table").await,
        1
    );
    assert_eq!(
        m.downgrade(&[Target::Back(1)]).await.unwrap().reverted,
        ["r2"]
    );
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM base_table").await,
        0
    );
    m.close().await.unwrap();
    db.drop().await;
}

fn panicking(m: &mut Migration) {
    m.create_table("before_panic", |t| {
        t.id("id");
    });
    m.rust("explode", |_| {
        Box::pin(async {
            panic!("boom");
        })
    });
}

async fn panic_in_a_data_step_rolls_back_and_releases_the_lock(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, vec![entry!("p1", [], panicking)]).await;
    let err = m.up().await.unwrap_err();
    assert!(err.to_string().contains("panicked: boom"), "{err}");
    // On MySQL the table creation committed before the step: `p1` stays, partly applied.
    let mut other = migrator(&db, sets::crowded())
        .await
        .allow_unknown(true)
        .lock_timeout(Duration::from_secs(5));
    assert_eq!(other.up().await.unwrap().applied.len(), 5);
    if dialect != Dialect::Mysql {
        assert!(
            !tables(other.connection())
                .await
                .contains(&"before_panic".into())
        );
    }
    other.close().await.unwrap();
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

async fn stamp_records_without_running(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, sets::crowded()).await;
    let report = m.stamp(&[Target::id("c3")]).await.unwrap();
    assert_eq!(report.stamped, ["c1", "c2", "c3"]);
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["c3"], State::Applied);
    assert_eq!(status["c4"], State::Pending);
    let report = m.stamp(&[Target::id("c1")]).await.unwrap();
    assert_eq!(report.unstamped, ["c3", "c2"]);
    let report = m.stamp(&[Target::base()]).await.unwrap();
    assert_eq!(report.unstamped, ["c1"]);
    assert!(
        m.status()
            .await
            .unwrap()
            .migrations
            .iter()
            .all(|s| s.state == State::Pending)
    );
    m.close().await.unwrap();
    db.drop().await;
}

fn started_first(m: &mut Migration) {
    m.create_table("first", |t| {
        t.id("id");
    });
}

/// Fails unless, when its first op runs, the history has `s1` applied and `s2` started.
fn started_second(m: &mut Migration) {
    m.rust("read the history", |conn| {
        Box::pin(async move {
            let rows = conn
                .fetch_text(&format!(
                    "SELECT id, state, ops_done FROM {HISTORY} ORDER BY id"
                ))
                .await?;
            let expected = [["s1", "applied", "1"], ["s2", "partial", "0"]];
            let as_expected = rows.len() == expected.len()
                && rows
                    .iter()
                    .zip(expected)
                    .all(|(row, want)| row.iter().map(|v| v.as_deref()).eq(want.map(Some)));
            if as_expected {
                Ok(())
            } else {
                Err(format!("the history at the start of `s2`: {rows:?}").into())
            }
        })
    })
    .reverse(|_| Box::pin(async { Ok(()) }));
    m.create_table("second", |t| {
        t.id("id");
    });
}

fn started_pair() -> Vec<MigrationEntry> {
    vec![
        entry!("s1", [], started_first),
        // Op by op on every dialect, so it records its start before its first op.
        entry!("s2", ["s1"], started_second).with_transactional(false),
    ]
}

/// The start row of a migration that runs op by op is written in the commit that ends the
/// migration before it: the history is right at every point, with one commit fewer.
async fn start_row_rides_on_the_previous_commit(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, started_pair()).await;
    assert_eq!(m.up().await.unwrap().applied, ["s1", "s2"]);
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["s1"], State::Applied);
    assert_eq!(status["s2"], State::Applied);
    assert_eq!(tables(m.connection()).await, ["first", "second"]);
    // Alone in its run, `s2` records its own start.
    m.downgrade(&[Target::id("s1")]).await.unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["s2"]);
    m.close().await.unwrap();
    db.drop().await;
}

fn fk_parent_and_child(m: &mut Migration) {
    m.create_table("parents", |t| {
        t.id("id");
    });
    m.create_table("children", |t| {
        t.id("id");
        t.integer("parent_id").references("parents", "id");
        t.integer("size");
    });
}

fn rebuild_children(m: &mut Migration) {
    // SQLite: a table rebuild, run with foreign keys off.
    m.set_not_null("children", "size");
}

/// SQLite rebuilds a table with foreign keys off, then checks them: a row that references a
/// missing one stops the migration (or, with `single_transaction`, the run) and leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rebuild_checks_foreign_keys() {
    let Some(db) = TestDb::create(Dialect::Sqlite).await else {
        return;
    };
    let entries = || {
        vec![
            entry!("fk1", [], fk_parent_and_child),
            entry!("fk2", ["fk1"], rebuild_children),
        ]
    };
    let mut m = migrator(&db, entries()).await;
    m.upgrade(&[Target::id("fk1")]).await.unwrap();
    let conn = m.connection();
    conn.execute("PRAGMA foreign_keys = OFF").await.unwrap();
    conn.execute("INSERT INTO children (id, parent_id, size) VALUES (1, 99, 1)")
        .await
        .unwrap();
    conn.execute("PRAGMA foreign_keys = ON").await.unwrap();
    for single_transaction in [false, true] {
        let mut m = migrator(&db, entries())
            .await
            .single_transaction(single_transaction);
        let err = m.up().await.unwrap_err();
        assert!(
            err.to_string().contains("PRAGMA foreign_key_check"),
            "{err}"
        );
        assert_eq!(states(&m.status().await.unwrap())["fk2"], State::Pending);
        let nullable = m
            .connection()
            .fetch_text("SELECT \"notnull\" FROM pragma_table_info('children') WHERE name = 'size'")
            .await
            .unwrap();
        assert_eq!(
            nullable[0][0].as_deref(),
            Some("0"),
            "the rebuild is rolled back"
        );
        m.close().await.unwrap();
    }
    m.close().await.unwrap();
    db.drop().await;
}

#[test]
fn offline_plan_shows_the_start_row_on_the_previous_commit() {
    let plan = godwit::runner::offline_plan(
        &registry(started_pair()),
        Dialect::Mysql,
        godwit::graph::Direction::Up,
        &[Target::Heads],
    )
    .unwrap();
    assert!(
        plan[0]
            .sql
            .contains("-- history: record `s1` as applied, and `s2` as started, in one commit"),
        "{}",
        plan[0].sql
    );
    assert!(!plan[1].sql.contains("as started"), "{}", plan[1].sql);
    assert!(
        plan[1].sql.contains("-- history: record `s2` as applied"),
        "{}",
        plan[1].sql
    );
    // `show`: the migration alone, its dependencies applied, records its own start.
    let alone = godwit::runner::offline_migration(&registry(started_pair()), Dialect::Mysql, "s2")
        .unwrap()
        .expect("s2 is in its plan");
    assert!(
        alone.sql.contains("-- history: record `s2` as started"),
        "{}",
        alone.sql
    );
}

async fn history_table_can_be_moved(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let schema = match dialect {
        Dialect::Postgres => "audit".to_owned(),
        // MySQL's schema is a database: use the test's own, named explicitly.
        Dialect::Mysql => db.url.rsplit('/').next().unwrap().to_owned(),
        Dialect::Sqlite => "main".to_owned(),
    };
    let mut m = migrator(&db, sets::crowded())
        .await
        .history_table(Some(&schema), "schema_history");
    m.up().await.unwrap();
    assert_eq!(
        m.status().await.unwrap().history_table,
        format!("{schema}.schema_history")
    );
    let table = godwit::render::quote_identifier(dialect, "schema_history");
    let qualified = format!(
        "{}.{table}",
        godwit::render::quote_identifier(dialect, &schema)
    );
    assert_eq!(
        count(m.connection(), &format!("SELECT COUNT(*) FROM {qualified}")).await,
        5
    );
    m.close().await.unwrap();
    db.drop().await;
}

fn codes_table(m: &mut Migration) {
    m.create_table("codes", |t| {
        t.id("id");
        t.string("code", 20).not_null();
    });
    m.sql("INSERT INTO codes (code) VALUES ('a'), ('a'), ('b')")
        .reverse("DELETE FROM codes");
}

fn codes_unique_concurrently(m: &mut Migration) {
    m.create_index("codes", "ux_codes_code", ["code"])
        .unique()
        .concurrently();
}

/// PostgreSQL leaves an INVALID index behind a failed `CREATE INDEX CONCURRENTLY`; the rerun
/// drops it before building the index again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_concurrent_index_is_dropped_before_the_retry() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let entries = vec![
        entry!("codes", [], codes_table),
        entry!("codes_unique", ["codes"], codes_unique_concurrently),
    ];
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    let err = m.up().await.unwrap_err();
    assert!(
        matches!(&err, RunError::Failed { id, ops_applied: 0, .. } if id == "codes_unique"),
        "{err}"
    );
    let invalid = "SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                   WHERE c.relname = 'ux_codes_code' AND NOT i.indisvalid";
    assert_eq!(count(m.connection(), invalid).await, 1);
    assert_eq!(
        states(&m.status().await.unwrap())["codes_unique"],
        State::Partial {
            ops_done: 0,
            ops_total: 1
        }
    );
    m.connection()
        .execute("DELETE FROM codes WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["codes_unique"]);
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        Event::LeftoverRemoved { sql, .. } if sql.contains("ux_codes_code")
    )));
    assert_eq!(count(m.connection(), invalid).await, 0);
    let schema = model(&entries, &["codes", "codes_unique"], Dialect::Postgres);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after the retry").await;
    m.close().await.unwrap();
    db.drop().await;
}

on_every_dialect!(
    lock_is_released_when_the_caller_panics,
    runs_on_a_connection_from_a_pool
);

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

async fn runs_on_a_connection_from_a_pool(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let report = match dialect {
        Dialect::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            with_crowded(Migrator::from_pool(&pool).await.unwrap()).await
        }
        Dialect::Mysql => {
            let pool = sqlx::MySqlPool::connect(&db.url).await.unwrap();
            with_crowded(Migrator::from_pool(&pool).await.unwrap()).await
        }
        Dialect::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            with_crowded(Migrator::from_pool(&pool).await.unwrap()).await
        }
    };
    assert_eq!(report.applied.len(), 5);
    db.drop().await;
}

/// A pool-built migrator carries this binary's (empty) registry; run the crowded set on its
/// connection.
async fn with_crowded(m: Migrator) -> godwit::runner::Report {
    let conn = m.into_connection();
    let mut m = Migrator::with_registry(conn, registry(sets::crowded())).unwrap();
    let report = m.up().await.unwrap();
    m.close().await.unwrap();
    report
}

fn three_tables(m: &mut Migration) {
    for name in ["alpha", "beta", "gamma"] {
        m.create_table(name, |t| {
            t.id("id");
        });
    }
}

/// A unit's statements travel to the server together: when one fails, the error still names
/// that op and that statement alone, and the history and events say what happened.
async fn failing_statement_sent_with_others_is_named(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, vec![entry!("t1", [], three_tables)])
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.connection()
        .execute("CREATE TABLE beta (id INTEGER)")
        .await
        .unwrap();
    let err = m.up().await.unwrap_err();
    let RunError::Failed {
        id,
        index,
        ops_applied,
        source,
        ..
    } = &err
    else {
        panic!("expected a failed op, got {err}");
    };
    assert_eq!((id.as_str(), *index), ("t1", 1), "{err}");
    let statement = source.to_string();
    let running = statement.split("while running:").nth(1).unwrap_or("");
    assert!(running.contains("beta"), "{statement}");
    assert!(
        !running.contains("alpha") && !running.contains("gamma"),
        "{statement}"
    );
    let finished: Vec<usize> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::OpFinished { index, .. } => Some(*index),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished,
        [0],
        "only the first op finished before the failure"
    );
    let status = states(&m.status().await.unwrap());
    if dialect == Dialect::Mysql {
        assert_eq!(*ops_applied, 1);
        assert_eq!(
            status["t1"],
            State::Partial {
                ops_done: 1,
                ops_total: 3
            }
        );
        assert_eq!(tables(m.connection()).await, ["alpha", "beta"]);
    } else {
        assert_eq!(*ops_applied, 0);
        assert_eq!(status["t1"], State::Pending);
        assert_eq!(tables(m.connection()).await, ["beta"]);
    }
    m.connection().execute("DROP TABLE beta").await.unwrap();
    events.lock().unwrap().clear();
    assert_eq!(m.up().await.unwrap().applied, ["t1"]);
    assert_eq!(tables(m.connection()).await, ["alpha", "beta", "gamma"]);
    let order: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            Event::MigrationStarted { .. } => "started".to_owned(),
            Event::OpFinished { index, .. } => format!("op {index}"),
            Event::MigrationFinished { .. } => "finished".to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    let resumed = if dialect == Dialect::Mysql {
        vec!["started", "op 1", "op 2", "finished"]
    } else {
        vec!["started", "op 0", "op 1", "op 2", "finished"]
    };
    assert_eq!(order, resumed);
    m.close().await.unwrap();
    db.drop().await;
}

fn broken_check(m: &mut Migration) {
    m.create_table("alpha", |t| {
        t.id("id");
    });
    m.create_table("beta", |t| {
        t.id("id");
    });
    // Not right after `alpha`'s creation, so not in its `CREATE TABLE`.
    m.add_check("alpha", "broken", "id >>> (");
    m.create_table("gamma", |t| {
        t.id("id");
    });
}

/// PostgreSQL parses everything sent together before running any of it: a syntax error comes
/// back before the first statement ran, and is traced to its statement by its position.
async fn syntax_error_sent_with_others_is_named(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, vec![entry!("t2", [], broken_check)]).await;
    let err = m.up().await.unwrap_err();
    let RunError::Failed { index, source, .. } = &err else {
        panic!("expected a failed op, got {err}");
    };
    assert_eq!(*index, 2, "{err}");
    let statement = source.to_string();
    let running = statement.split("while running:").nth(1).unwrap_or("");
    assert!(running.contains(">>>"), "{statement}");
    assert!(
        !running.contains("beta") && !running.contains("gamma"),
        "{statement}"
    );
    m.close().await.unwrap();
    db.drop().await;
}

const ODD_TEXT: &str =
    "SELECT 'it''s', '\\', 'back\\slash', '\u{1a}', 'ünïcødé €', '\"q\"',\n\t'$$ $x$'";

fn odd_reverse(m: &mut Migration) {
    // The history row is written after this: backslashes must survive the mode it sets.
    m.sql_on(
        Dialect::Mysql,
        "SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')",
    )
    .reverse("SELECT 1");
    m.sql("SELECT 1").reverse(ODD_TEXT);
    // PostgreSQL text cannot hold NUL at all.
    for dialect in [Dialect::Mysql, Dialect::Sqlite] {
        m.sql_on(dialect, "SELECT 1")
            .reverse_on(dialect, "SELECT 'nul:\0'");
    }
}

/// History rows are written with literal values: any text survives, byte for byte, whatever
/// the session's settings.
async fn history_keeps_any_text(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, vec![entry!("o1", [], odd_reverse)]).await;
    m.up().await.unwrap();
    let rows = m
        .connection()
        .fetch_text(&format!("SELECT down_sql FROM {HISTORY}"))
        .await
        .unwrap();
    let stored = rows[0][0].clone().unwrap();
    assert!(stored.contains(ODD_TEXT), "{stored:?}");
    if dialect != Dialect::Postgres {
        assert!(stored.contains("SELECT 'nul:\0'"), "{stored:?}");
    }
    m.close().await.unwrap();
    db.drop().await;
}

/// `single_transaction`: a failure leaves nothing of the whole run, on the dialects with
/// transactional DDL; MySQL, and a migration that cannot run in a transaction, are refused
/// before anything runs.
async fn single_transaction_is_all_or_nothing(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, sets::gated(false))
        .await
        .single_transaction(true);
    let err = m.up().await.unwrap_err();
    let RunError::NotOneTransaction { reason } = &err else {
        panic!("expected a refusal, got {err}");
    };
    if dialect == Dialect::Mysql {
        assert!(reason.contains("MySQL"), "{err}");
    } else {
        assert!(
            reason.contains("`g2`") && reason.contains("transactional = false"),
            "{err}"
        );
    }
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    if dialect == Dialect::Mysql {
        m.close().await.unwrap();
        db.drop().await;
        return;
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, sets::gated(true))
        .await
        .single_transaction(true)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    let err = m.up().await.unwrap_err();
    let RunError::RolledBack { done, source, .. } = &err else {
        panic!("expected a rolled back run, got {err}");
    };
    assert_eq!(done, &["g1"]);
    assert!(
        matches!(&**source, RunError::Failed { id, index: 1, .. } if id == "g2"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("rolled back: `g1` before it in this run is not applied either"),
        "{err}"
    );
    assert!(
        !events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::MigrationFinished { .. })),
        "nothing is reported finished before the commit"
    );
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["g1"], State::Pending);
    assert_eq!(status["g2"], State::Pending);
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    // The first migration failing: nothing else to undo, nothing else said.
    let mut alone = migrator(&db, vec![entry!("f1", [], gate_insert)])
        .await
        .single_transaction(true);
    let err = alone.up().await.unwrap_err();
    assert!(
        matches!(&err, RunError::RolledBack { done, .. } if done.is_empty()),
        "{err}"
    );
    assert!(!err.to_string().contains("before it"), "{err}");
    alone.close().await.unwrap();
    m.connection()
        .execute("CREATE TABLE gate (id INTEGER)")
        .await
        .unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["g1", "g2", "g3"]);
    // Committed, and the lock released: another connection sees it all and has nothing to do.
    let mut other = migrator(&db, sets::gated(true)).await;
    assert!(other.up().await.unwrap().nothing_to_do());
    let status = states(&other.status().await.unwrap());
    assert!(status.values().all(|s| *s == State::Applied), "{status:?}");
    other.close().await.unwrap();
    assert_eq!(
        tables(m.connection()).await,
        ["gate", "one", "three", "two_a", "two_b"]
    );
    let reverted = m.downgrade(&[Target::base()]).await.unwrap().reverted;
    assert_eq!(reverted, ["g3", "g2", "g1"]);
    assert_eq!(tables(m.connection()).await, ["gate"]);
    assert_eq!(count(m.connection(), "SELECT COUNT(*) FROM gate").await, 0);
    m.close().await.unwrap();
    db.drop().await;
}

fn gate_insert(m: &mut Migration) {
    m.sql("INSERT INTO gate (id) VALUES (1)");
}

/// Every op, SQLite's table rebuilds included, up and down in one transaction each way
/// (on PostgreSQL, up to the migration with a `CONCURRENTLY` index, which is refused).
async fn single_transaction_applies_every_op(dialect: Dialect) {
    if dialect == Dialect::Mysql {
        return;
    }
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = sets::every_op();
    let mut m = migrator(&db, entries.clone())
        .await
        .single_transaction(true);
    let ids = if dialect == Dialect::Postgres {
        let err = m.up().await.unwrap_err();
        assert!(
            matches!(&err, RunError::NotOneTransaction { reason } if reason.contains("`m_finish`")),
            "{err}"
        );
        &EVERY_OP_ORDER[..EVERY_OP_ORDER.len() - 1]
    } else {
        &EVERY_OP_ORDER[..]
    };
    let last = ids.last().expect("a migration");
    assert_eq!(m.upgrade(&[Target::id(*last)]).await.unwrap().applied, ids);
    let schema = model(&entries, ids, dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "up in one transaction").await;
    let reverted = m.downgrade(&[Target::base()]).await.unwrap().reverted;
    assert_eq!(reverted.len(), ids.len());
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    m.close().await.unwrap();
    db.drop().await;
}

fn parts_base(m: &mut Migration) {
    m.create_table("parents", |t| {
        t.id("id");
        t.string("label", 40);
    });
    m.create_index("parents", "ix_parents_label", ["label"]);
}

fn parts_of_new_tables(m: &mut Migration) {
    m.create_table("kids", |t| {
        t.id("id");
        t.bigint("parent_id");
        t.string("name", 40);
    });
    m.create_index("kids", "ix_kids_name", ["name"]);
    // SQLite: a table rebuild, were these not created with the table.
    m.add_unique("kids", "uq_kids_parent_name", ["parent_id", "name"]);
    m.add_foreign_key("kids", "fk_kids_parent", ["parent_id"], "parents", ["id"]);
    m.add_column("kids", "nickname", ColumnType::Text)
        .nullable();
    // Not a part: after the table is created, but its revert is left to the table's drop.
    m.rename_column("kids", "nickname", "alias");
    m.create_table("notes", |t| {
        t.id("id");
        t.string("body", 200);
    });
    m.add_column("parents", "note_count", ColumnType::Integer)
        .nullable();
    // Reverted before the column above: not left to `notes`' drop.
    m.create_index("notes", "ix_notes_body", ["body"]);
    m.create_table("nodes", |t| {
        t.id("id");
        t.string("code", 20);
        t.string("parent_code", 20);
    });
    m.create_index("nodes", "ix_nodes_code", ["code"]).unique();
    // Needs the index above first: not in `nodes`' `CREATE TABLE`.
    m.add_foreign_key(
        "nodes",
        "fk_nodes_parent",
        ["parent_code"],
        "nodes",
        ["code"],
    );
}

/// The SQL of an offline plan's migration, without its comments.
fn statements_of(migration: &godwit::runner::ScriptedMigration) -> String {
    migration
        .sql
        .lines()
        .filter(|line| !line.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table created in a migration is created whole, with the parts (columns, indexes,
/// constraints) the ops right after it add; a downgrade leaves the parts of a table it then
/// drops to that drop. The schema ends where the model says, either way.
async fn a_new_tables_parts_go_with_its_create_and_drop(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("parts1", [], parts_base),
        entry!("parts2", ["parts1"], parts_of_new_tables),
    ];
    let plan = |direction, target| {
        godwit::runner::offline_plan(&registry(entries.clone()), dialect, direction, &[target])
            .unwrap()
    };
    let up = plan(godwit::graph::Direction::Up, Target::Heads);
    assert_eq!(
        up[1].ops,
        [
            r#"create_table("kids") and create_index("ix_kids_name" on "kids") and add_unique("uq_kids_parent_name" on "kids") and add_foreign_key("fk_kids_parent" on "kids") and add_column("kids"."nickname")"#,
            r#"rename_column("kids"."nickname" -> "alias")"#,
            r#"create_table("notes")"#,
            r#"add_column("parents"."note_count")"#,
            r#"create_index("ix_notes_body" on "notes")"#,
            r#"create_table("nodes") and create_index("ix_nodes_code" on "nodes")"#,
            r#"add_foreign_key("fk_nodes_parent" on "nodes")"#,
        ]
    );
    let sql = statements_of(&up[1]);
    // Carried by `CREATE TABLE`: no `ALTER TABLE` on `kids` but the rename, so no rebuild on
    // SQLite.
    let alters =
        sql.matches("ALTER TABLE `kids`").count() + sql.matches("ALTER TABLE \"kids\"").count();
    assert_eq!(alters, 1, "{sql}");
    assert!(sql.contains("RENAME COLUMN"), "{sql}");
    assert!(!sql.contains("_godwit_new_kids"), "{sql}");
    if dialect == Dialect::Mysql {
        // Indexes too: one statement per table.
        assert_eq!(sql.matches("CREATE INDEX").count(), 1, "{sql}");
        assert_eq!(sql.matches("CREATE UNIQUE INDEX").count(), 0, "{sql}");
    }
    // Op by op, each committed with its progress, a table is still created whole: in a
    // transaction of its own on PostgreSQL and SQLite, as one statement on MySQL.
    let alone = godwit::runner::offline_plan(
        &registry(vec![
            entry!("parts1", [], parts_base).with_transactional(false),
        ]),
        dialect,
        godwit::graph::Direction::Up,
        &[Target::Heads],
    )
    .unwrap();
    assert_eq!(
        alone[0].ops,
        [r#"create_table("parents") and create_index("ix_parents_label" on "parents")"#]
    );
    if dialect != Dialect::Mysql {
        let sql = &alone[0].sql;
        let begin = sql.find("BEGIN").expect("a transaction");
        let create = sql.find("CREATE TABLE").expect("the table");
        let index = sql.find("CREATE INDEX").expect("the index");
        let commit = sql.find("COMMIT").expect("its commit");
        assert!(begin < create && index < commit, "{sql}");
    }
    let down = plan(godwit::graph::Direction::Down, Target::id("parts1"));
    assert_eq!(
        down[0].ops,
        [
            r#"revert add_foreign_key("fk_nodes_parent" on "nodes") and create_index("ix_nodes_code" on "nodes") and create_table("nodes")"#,
            r#"revert create_index("ix_notes_body" on "notes")"#,
            r#"revert add_column("parents"."note_count")"#,
            r#"revert create_table("notes")"#,
            r#"revert rename_column("kids"."nickname" -> "alias") and add_column("kids"."nickname") and add_foreign_key("fk_kids_parent" on "kids") and add_unique("uq_kids_parent_name" on "kids") and create_index("ix_kids_name" on "kids") and create_table("kids")"#,
        ]
    );
    let sql = statements_of(&down[0]);
    for left in [
        "ix_kids_name",
        "uq_kids_parent_name",
        "fk_kids_parent",
        "nickname",
        "alias",
    ] {
        assert!(
            !sql.contains(left),
            "`{left}` is dropped with `kids`:\n{sql}"
        );
    }
    assert!(sql.contains("ix_notes_body"), "{sql}");

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let finished = move || -> Vec<usize> {
        let mut events = seen.lock().unwrap();
        let indexes = events
            .iter()
            .filter_map(|e| match e {
                Event::OpFinished { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        events.clear();
        indexes
    };
    let record = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| record.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("parts1")]).await.unwrap();
    // A failure in a table created whole names its first op.
    m.connection()
        .execute("CREATE TABLE kids (id INTEGER)")
        .await
        .unwrap();
    let err = m.up().await.unwrap_err();
    let RunError::Failed {
        index,
        op,
        ops_applied,
        ..
    } = &err
    else {
        panic!("expected a failed op, got {err}");
    };
    assert_eq!((*index, *ops_applied), (0, 0), "{err}");
    assert!(
        op.starts_with(r#"create_table("kids") and create_index"#),
        "{err}"
    );
    assert!(err.to_string().contains("failed at op 1 of 12"), "{err}");
    m.connection().execute("DROP TABLE kids").await.unwrap();
    finished();
    m.up().await.unwrap();
    assert_eq!(finished(), [4, 5, 6, 7, 8, 10, 11]);
    let both = model(&entries, &["parts1", "parts2"], dialect);
    assert_live_matches(m.connection(), &both, &[HISTORY], "up").await;
    m.connection()
        .execute("INSERT INTO parents (id) VALUES (1)")
        .await
        .unwrap();
    m.connection()
        .execute("INSERT INTO kids (id, parent_id, name) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    let report = m.downgrade(&[Target::id("parts1")]).await.unwrap();
    assert_eq!(report.reverted, ["parts2"]);
    assert_eq!(finished(), [9, 8, 7, 6, 0]);
    let base = model(&entries, &["parts1"], dialect);
    assert_live_matches(m.connection(), &base, &[HISTORY], "down").await;
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM parents").await,
        1
    );
    m.up().await.unwrap();
    assert_live_matches(m.connection(), &both, &[HISTORY], "up again").await;
    m.close().await.unwrap();
    db.drop().await;
}

/// A history row that stopped inside what is now a table created whole (written by a runner
/// that went op by op, or by a failure on MySQL before it) resumes from the op it records, and
/// reverts only what it records.
async fn partial_row_inside_a_whole_table_resumes_op_by_op(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![entry!("parts1", [], parts_base)];
    let mut m = migrator(&db, entries.clone()).await;
    m.up().await.unwrap();
    // The state after op 1 of 2: the table, not its index.
    let drop_index = match dialect {
        Dialect::Mysql => "DROP INDEX ix_parents_label ON parents",
        _ => "DROP INDEX ix_parents_label",
    };
    m.connection().execute(drop_index).await.unwrap();
    m.connection()
        .execute(&format!(
            "UPDATE {HISTORY} SET state = 'partial', ops_done = 1 WHERE id = 'parts1'"
        ))
        .await
        .unwrap();
    let status = states(&m.status().await.unwrap());
    assert_eq!(
        status["parts1"],
        State::Partial {
            ops_done: 1,
            ops_total: 2
        }
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = m.on_event(move |e| {
        if let Event::OpFinished { index, .. } = e {
            seen.lock().unwrap().push(*index);
        }
    });
    assert_eq!(m.up().await.unwrap().applied, ["parts1"]);
    assert_eq!(
        *events.lock().unwrap(),
        [1],
        "only the index was left to do"
    );
    let schema = model(&entries, &["parts1"], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "resumed").await;

    // Reverting a row stopped after op 1 drops the table alone.
    m.connection().execute(drop_index).await.unwrap();
    m.connection()
        .execute(&format!(
            "UPDATE {HISTORY} SET state = 'partial', ops_done = 1 WHERE id = 'parts1'"
        ))
        .await
        .unwrap();
    events.lock().unwrap().clear();
    assert_eq!(
        m.downgrade(&[Target::base()]).await.unwrap().reverted,
        ["parts1"]
    );
    assert_eq!(*events.lock().unwrap(), [0]);
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    m.close().await.unwrap();
    db.drop().await;
}

fn sc_hot(m: &mut Migration) {
    m.create_table("hot", |t| {
        t.id("id");
    });
}

fn sc_a(m: &mut Migration) {
    m.create_table("a", |t| {
        t.id("id");
    });
}

fn sc_b(m: &mut Migration) {
    m.create_table("b", |t| {
        t.id("id");
        t.bigint("a_id");
        t.foreign_key("fk_b_a", ["a_id"], "a", ["id"]);
    });
    m.create_index("b", "ix_b_a", ["a_id"]);
}

fn sc_hot_note(m: &mut Migration) {
    m.add_column("hot", "note", ColumnType::Text).nullable();
}

fn sc_c(m: &mut Migration) {
    m.create_table("c", |t| {
        t.id("id");
    });
}

/// `sc1` makes a table in use before the run; the rest, in a run of their own.
fn shared_commit_set() -> Vec<MigrationEntry> {
    vec![
        entry!("sc1", [], sc_hot),
        entry!("sc2", ["sc1"], sc_a),
        entry!("sc3", ["sc2"], sc_b),
        entry!("sc4", ["sc3"], sc_hot_note),
        entry!("sc5", ["sc4"], sc_c),
    ]
}

/// PostgreSQL: logs the transaction of every write to the history, to see which migrations
/// committed together, and counts the writes, rolled back or not.
async fn log_history_transactions(conn: &mut godwit::db::Connection) {
    for sql in [
        "CREATE TABLE commit_log (seq SERIAL PRIMARY KEY, id TEXT, tx BIGINT)",
        // A sequence does not roll back: it counts the writes, committed or not.
        "CREATE SEQUENCE history_writes",
        "CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         PERFORM nextval('history_writes'); \
         INSERT INTO commit_log (id, tx) VALUES \
         (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, txid_current()); \
         RETURN NULL; END $$",
        "CREATE TRIGGER log_commit AFTER INSERT OR UPDATE OR DELETE ON godwit_migrations \
         FOR EACH ROW EXECUTE FUNCTION log_commit()",
    ] {
        conn.execute(sql).await.expect("the log");
    }
}

/// The ids that committed together, in order, and forgets them.
async fn commits(conn: &mut godwit::db::Connection) -> Vec<Vec<String>> {
    let rows = conn
        .fetch_text("SELECT id, tx FROM commit_log ORDER BY seq")
        .await
        .expect("the log");
    conn.execute("DELETE FROM commit_log")
        .await
        .expect("the log");
    let mut commits: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let (id, tx) = (row[0].clone().unwrap(), row[1].clone().unwrap());
        match commits.last_mut() {
            Some((last, ids)) if *last == tx => {
                if !ids.contains(&id) {
                    ids.push(id)
                }
            }
            _ => commits.push((tx, vec![id])),
        }
    }
    commits.into_iter().map(|(_, ids)| ids).collect()
}

/// (kind, id) of each event, `position` for starts.
fn event_trail(events: &Mutex<Vec<Event>>) -> Vec<String> {
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

/// Migrations that lock only tables the run creates (up) or drops (down) commit together on
/// PostgreSQL and SQLite; one that changes a table in use commits alone. What they do, what
/// the history says and what an observer sees is what one commit each gives.
async fn migrations_locking_only_new_tables_share_a_commit(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = shared_commit_set();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("sc1")]).await.unwrap();
    let postgres = dialect == Dialect::Postgres;
    if postgres {
        log_history_transactions(m.connection()).await;
    }
    event_trail(&events);
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, ["sc2", "sc3", "sc4", "sc5"]);
    let ids = ["sc1", "sc2", "sc3", "sc4", "sc5"];
    let ignore = [HISTORY, "commit_log"];
    assert_live_matches(
        m.connection(),
        &model(&entries, &ids, dialect),
        &ignore,
        "up",
    )
    .await;
    assert!(
        states(&m.status().await.unwrap())
            .values()
            .all(|s| *s == State::Applied)
    );
    let mut expected = Vec::new();
    for (position, id) in ["sc2", "sc3", "sc4", "sc5"].iter().enumerate() {
        expected.push(format!("start {id} {}/4", position + 1));
        expected.push(format!("op {id}"));
        expected.push(format!("finish {id}"));
    }
    assert_eq!(event_trail(&events), expected);
    if postgres {
        assert_eq!(
            commits(m.connection()).await,
            [vec!["sc2", "sc3"], vec!["sc4"], vec!["sc5"]]
        );
    }
    let report = m.downgrade(&[Target::id("sc1")]).await.unwrap();
    assert_eq!(report.reverted, ["sc5", "sc4", "sc3", "sc2"]);
    assert_live_matches(
        m.connection(),
        &model(&entries, &ids[..1], dialect),
        &ignore,
        "down",
    )
    .await;
    let mut expected = Vec::new();
    for (position, id) in ["sc5", "sc4", "sc3", "sc2"].iter().enumerate() {
        expected.push(format!("start {id} {}/4", position + 1));
        expected.push(format!("op {id}"));
        expected.push(format!("finish {id}"));
    }
    assert_eq!(event_trail(&events), expected);
    if postgres {
        // Dropping `b` locks `a` for its foreign key: `a` goes too.
        assert_eq!(
            commits(m.connection()).await,
            [vec!["sc5"], vec!["sc4"], vec!["sc3", "sc2"]]
        );
        // One commit each, when asked.
        let mut m = migrator(&db, entries.clone()).await.commit_each(true);
        m.up().await.unwrap();
        assert_eq!(
            commits(m.connection()).await,
            [vec!["sc2"], vec!["sc3"], vec!["sc4"], vec!["sc5"]]
        );
        m.close().await.unwrap();
    }
    m.close().await.unwrap();
    db.drop().await;
}

fn sc_d(m: &mut Migration) {
    m.create_table("d", |t| {
        t.id("id");
    });
}

/// A migration that fails inside a shared commit rolls it back; the ones before it are applied
/// again, each alone, and it fails alone: the run ends as with one commit each, and an
/// observer sees each migration start once.
async fn a_failure_in_a_shared_commit_runs_the_ones_before_it_alone(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("sf1", [], sc_hot),
        entry!("sf2", ["sf1"], sc_a),
        entry!("sf3", ["sf2"], sc_c),
        entry!("sf4", ["sf3"], sc_d),
    ];
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("sf1")]).await.unwrap();
    let postgres = dialect == Dialect::Postgres;
    if postgres {
        log_history_transactions(m.connection()).await;
    }
    event_trail(&events);
    // Made behind the model's back: `sf3` cannot create it.
    m.connection()
        .execute("CREATE TABLE c (x INTEGER)")
        .await
        .unwrap();
    let err = m.up().await.unwrap_err();
    let RunError::Failed { id, index: 0, .. } = &err else {
        panic!("expected sf3 to fail, got {err}");
    };
    assert_eq!(id, "sf3");
    assert!(
        err.to_string().contains("nothing of `sf3` is applied"),
        "{err}"
    );
    assert_eq!(
        event_trail(&events),
        ["start sf2 1/3", "op sf2", "finish sf2", "start sf3 2/3"]
    );
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["sf2"], State::Applied);
    // MySQL records a start before the first op, which commits on its own there.
    let failed = match dialect {
        Dialect::Mysql => State::Partial {
            ops_done: 0,
            ops_total: 1,
        },
        _ => State::Pending,
    };
    assert_eq!(status["sf3"], failed);
    assert_eq!(status["sf4"], State::Pending);
    let mut live = tables(m.connection()).await;
    live.retain(|t| t != "commit_log");
    assert_eq!(live, ["a", "c", "hot"]);
    if postgres {
        assert_eq!(commits(m.connection()).await, [vec!["sf2"]]);
        // The shared attempt wrote `sf2`'s row once, rolled back, then alone once more.
        let writes = count(m.connection(), "SELECT last_value FROM history_writes").await;
        assert_eq!(writes, 2);
    }
    m.connection().execute("DROP TABLE c").await.unwrap();
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, ["sf3", "sf4"]);
    if postgres {
        assert_eq!(commits(m.connection()).await, [vec!["sf3", "sf4"]]);
    }
    assert_live_matches(
        m.connection(),
        &model(&entries, &["sf1", "sf2", "sf3", "sf4"], dialect),
        &[HISTORY, "commit_log"],
        "up again",
    )
    .await;
    m.close().await.unwrap();
    db.drop().await;
}

/// Whether `dr_nap` sleeps: only while the test drops the run around it.
static NAPPING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn nap(_: &mut godwit::db::Connection) -> Result<(), BoxError> {
    if NAPPING.load(std::sync::atomic::Ordering::SeqCst) {
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
    NAPPING.store(true, std::sync::atomic::Ordering::SeqCst);
    let dropped = tokio::time::timeout(Duration::from_millis(500), m.up()).await;
    NAPPING.store(false, std::sync::atomic::Ordering::SeqCst);
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

/// A history log, written by triggers on every history write, with how much of the
/// `deferrable` set's `d2`..`d4` the live schema held at that moment.
async fn log_history_writes(conn: &mut godwit::db::Connection) {
    conn.execute(
        "CREATE TABLE history_log (n INT AUTO_INCREMENT PRIMARY KEY, id VARCHAR(128), \
         state VARCHAR(16), present INT)",
    )
    .await
    .unwrap();
    let present = "(SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = \
                   DATABASE() AND table_name IN ('d_two', 'd_four')) + (SELECT COUNT(*) FROM \
                   information_schema.columns WHERE table_schema = DATABASE() AND table_name = \
                   'd_held' AND column_name = 'note')";
    for (event, row, state) in [
        ("INSERT", "NEW", "NEW.state"),
        ("UPDATE", "NEW", "NEW.state"),
        ("DELETE", "OLD", "'deleted'"),
    ] {
        conn.execute(&format!(
            "CREATE TRIGGER log_{event} AFTER {event} ON {HISTORY} FOR EACH ROW INSERT INTO \
             history_log (id, state, present) VALUES ({row}.id, {state}, {present})"
        ))
        .await
        .unwrap();
    }
}

async fn history_log(conn: &mut godwit::db::Connection) -> Vec<String> {
    let rows = conn
        .fetch_text("SELECT id, state, present FROM history_log ORDER BY n")
        .await
        .unwrap();
    conn.execute("DELETE FROM history_log").await.unwrap();
    rows.into_iter()
        .map(|row| {
            let text: Vec<String> = row.into_iter().map(Option::unwrap_or_default).collect();
            text.join(" ")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_records_a_group_at_its_start_and_its_end() {
    let Some(db) = TestDb::create(Dialect::Mysql).await else {
        return;
    };
    let entries = sets::deferrable();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    // Creates the history table, to log its writes.
    m.record_checksums().await.unwrap();
    log_history_writes(m.connection()).await;

    assert_eq!(m.up().await.unwrap().applied, ["d1", "d2", "d3", "d4"]);
    // `d1` alone, progress as it goes; then every row of the group written before its first
    // DDL statement, and after its last.
    assert_eq!(
        history_log(m.connection()).await,
        [
            "d1 partial 0",
            "d1 partial 0",
            "d1 applied 0",
            "d2 unconfirmed 0",
            "d3 unconfirmed 0",
            "d4 unconfirmed 0",
            "d2 applied 3",
            "d3 applied 3",
            "d4 applied 3"
        ]
    );
    let mut trail = vec![
        "start d1 1/4".to_owned(),
        "op d1".to_owned(),
        "op d1".to_owned(),
        "finish d1".to_owned(),
    ];
    for (position, id) in ["d2", "d3", "d4"].iter().enumerate() {
        trail.push(format!("start {id} {}/4", position + 2));
        if *id != "d2" {
            trail.push(format!("op {id}"));
        }
        trail.push(format!("finish {id}"));
    }
    let got = event_trail(&events);
    // `d2`'s table and index may be one statement: compare without its op lines.
    let without_d2_ops =
        |t: &[String]| -> Vec<String> { t.iter().filter(|l| *l != "op d2").cloned().collect() };
    assert_eq!(without_d2_ops(&got), without_d2_ops(&trail));
    assert!(got.contains(&"op d2".to_owned()), "{got:?}");
    let all = model(&entries, &["d1", "d2", "d3", "d4"], Dialect::Mysql);
    assert_live_matches(m.connection(), &all, &[HISTORY, "history_log"], "after up").await;

    let report = m.downgrade(&[Target::Back(3)]).await.unwrap();
    assert_eq!(report.reverted, ["d4", "d3", "d2"]);
    assert_eq!(
        history_log(m.connection()).await,
        [
            "d4 unconfirmed 3",
            "d3 unconfirmed 3",
            "d2 unconfirmed 3",
            "d4 deleted 0",
            "d3 deleted 0",
            "d2 deleted 0"
        ]
    );
    let first = model(&entries, &["d1"], Dialect::Mysql);
    assert_live_matches(
        m.connection(),
        &first,
        &[HISTORY, "history_log"],
        "after down",
    )
    .await;

    // One commit per migration, as asked: the rows follow the statements.
    let mut m = m.commit_each(true);
    m.up().await.unwrap();
    let log = history_log(m.connection()).await;
    assert!(!log.iter().any(|l| l.contains("unconfirmed")), "{log:?}");
    m.close().await.unwrap();
    db.drop().await;
}

/// Runs `godwit-test-runner deferrable <command>` while an open transaction keeps `d3`'s (or its
/// revert's) ALTER of `d_held` waiting, then SIGKILLs it and ends its server session.
async fn kill_runner_waiting_on_d_held(db: &TestDb, m: &mut Migrator, command: &str) {
    let mut holder = db.connect().await;
    holder.execute("BEGIN").await.unwrap();
    holder.fetch_text("SELECT * FROM d_held").await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_godwit-test-runner"))
        .args(["deferrable", &db.url, command])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn a runner");
    let waiting = "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND \
                   info LIKE 'ALTER TABLE%' AND state LIKE 'Waiting for table metadata lock%'";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let runner = loop {
        let rows = m.connection().fetch_text(waiting).await.unwrap();
        if let Some(id) = rows.first().and_then(|r| r[0].clone()) {
            break id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the runner never waited for `d_held`"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().expect("SIGKILL the runner");
    child.wait().expect("reap the runner");
    // The server would finish the ALTER once the lock is free: end its session first.
    m.connection()
        .execute(&format!("KILL {runner}"))
        .await
        .unwrap();
    let gone = format!("SELECT COUNT(*) FROM information_schema.processlist WHERE id = {runner}");
    while count(m.connection(), &gone).await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    holder.execute("COMMIT").await.unwrap();
    holder.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_killed_group_is_located_from_the_live_schema() {
    let Some(db) = TestDb::create(Dialect::Mysql).await else {
        return;
    };
    let entries = sets::deferrable();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::Forward(1)]).await.unwrap();
    kill_runner_waiting_on_d_held(&db, &mut m, "up").await;
    assert_eq!(
        count(
            m.connection(),
            &format!("SELECT COUNT(*) FROM {HISTORY} WHERE state = 'unconfirmed'")
        )
        .await,
        3
    );
    assert_eq!(tables(m.connection()).await, ["d_held", "d_two"]);

    // Changed by hand since: the live tables match no point of the group.
    m.connection()
        .execute("ALTER TABLE d_two ADD COLUMN extra INT")
        .await
        .unwrap();
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["d1"], State::Applied);
    for id in ["d2", "d3", "d4"] {
        let State::Interrupted { reason } = &status[id] else {
            panic!("{id}: {:?}", status[id]);
        };
        assert!(reason.contains("`d_two`"), "{reason}");
    }
    let err = m.up().await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RunError::Unsettled(_)), "{message}");
    assert!(
        message.contains("`d2`, `d3`, `d4`")
            && message
                .contains("nearest: `d2` with 2 of its 2 ops applied, which differs in `d_two`")
            && message.contains("by hand"),
        "{message}"
    );

    m.connection()
        .execute("ALTER TABLE d_two DROP COLUMN extra")
        .await
        .unwrap();
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["d2"], State::Applied);
    assert_eq!(status["d3"], State::Pending);
    assert_eq!(status["d4"], State::Pending);
    event_trail(&events);
    assert_eq!(m.up().await.unwrap().applied, ["d3", "d4"]);
    let trail = event_trail(&events);
    assert_eq!(
        trail[..3],
        [
            "Located { id: \"d2\", ops_done: 2, ops_total: 2 }",
            "Located { id: \"d3\", ops_done: 0, ops_total: 1 }",
            "Located { id: \"d4\", ops_done: 0, ops_total: 1 }",
        ]
    );
    let all = model(&entries, &["d1", "d2", "d3", "d4"], Dialect::Mysql);
    assert_live_matches(m.connection(), &all, &[HISTORY], "after the rerun").await;
    assert_eq!(
        count(
            m.connection(),
            &format!("SELECT COUNT(*) FROM {HISTORY} WHERE state = 'applied'")
        )
        .await,
        4
    );
    m.close().await.unwrap();
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_killed_downgrade_group_is_located_from_the_live_schema() {
    let Some(db) = TestDb::create(Dialect::Mysql).await else {
        return;
    };
    let entries = sets::deferrable();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.up().await.unwrap();
    // The downgrade reverts `d4`, then waits to revert `d3`.
    kill_runner_waiting_on_d_held(&db, &mut m, "down").await;
    let unconfirmed = format!(
        "SELECT COUNT(*) FROM {HISTORY} WHERE state = 'unconfirmed' AND ops_done = ops_total"
    );
    assert_eq!(count(m.connection(), &unconfirmed).await, 3);
    assert_eq!(tables(m.connection()).await, ["d_held", "d_two"]);

    m.connection()
        .execute("ALTER TABLE d_two ADD COLUMN extra INT")
        .await
        .unwrap();
    let err = m.downgrade(&[Target::base()]).await.unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RunError::Unsettled(_)), "{message}");
    assert!(
        message.contains("`d4`, `d3`, `d2`")
            && message
                .contains("nearest: `d4` with 0 of its 1 ops applied, which differs in `d_two`"),
        "{message}"
    );

    m.connection()
        .execute("ALTER TABLE d_two DROP COLUMN extra")
        .await
        .unwrap();
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["d4"], State::Pending);
    for id in ["d1", "d2", "d3"] {
        assert_eq!(status[id], State::Applied, "{id}");
    }
    event_trail(&events);
    assert_eq!(
        m.downgrade(&[Target::base()]).await.unwrap().reverted,
        ["d3", "d2", "d1"]
    );
    let trail = event_trail(&events);
    assert_eq!(
        trail[..3],
        [
            "Located { id: \"d4\", ops_done: 0, ops_total: 1 }",
            "Located { id: \"d3\", ops_done: 1, ops_total: 1 }",
            "Located { id: \"d2\", ops_done: 2, ops_total: 2 }",
        ]
    );
    assert!(tables(m.connection()).await.is_empty());
    assert_eq!(
        count(m.connection(), &format!("SELECT COUNT(*) FROM {HISTORY}")).await,
        0
    );
    m.close().await.unwrap();
    db.drop().await;
}
