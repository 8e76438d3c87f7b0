//! MySQL's deferred groups: the history rows of a group written at its start and its end, and a
//! killed group located from the live schema.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use godwit::Migrator;
use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::{RunError, State};
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::sets;
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, count, event_trail, migrator, model, states, tables};

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

/// A statement of a group fails: the group records where it stopped before the error returns
/// (the migrations before it applied, the failing one as a migration run alone leaves it), and
/// the next run goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_failure_in_a_group_is_recorded_where_it_stopped() {
    let Some(db) = TestDb::create(Dialect::Mysql).await else {
        return;
    };
    let entries = sets::deferrable();
    let mut m = migrator(&db, entries.clone()).await;
    // In the way of `d4`, the group's last migration, unknown to the model.
    m.connection()
        .execute("CREATE TABLE d_four (id BIGINT PRIMARY KEY)")
        .await
        .unwrap();
    let error = m.up().await.unwrap_err();
    let RunError::Failed {
        id, ops_applied, ..
    } = &error
    else {
        panic!("expected the failure of `d4`, got {error}");
    };
    assert_eq!((id.as_str(), *ops_applied), ("d4", 0), "{error}");
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["d1"], State::Applied);
    assert_eq!(status["d2"], State::Applied);
    assert_eq!(status["d3"], State::Applied);
    assert_eq!(
        status["d4"],
        State::Partial {
            ops_done: 0,
            ops_total: 1
        }
    );
    m.connection().execute("DROP TABLE d_four").await.unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["d4"]);
    let all = model(&entries, &["d1", "d2", "d3", "d4"], Dialect::Mysql);
    assert_live_matches(m.connection(), &all, &[HISTORY], "after the rerun").await;
    m.close().await.unwrap();
    db.drop().await;
}
