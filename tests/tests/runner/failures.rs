//! A failing op, statement or data step: what is left applied, what the error names, and the
//! rerun that completes the migration.

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

on_every_dialect!(
    failing_op_in_a_transactional_migration,
    failing_op_in_a_non_transactional_migration,
    downgrade_after_a_failure_reverts_what_was_applied,
    panic_in_a_data_step_rolls_back_and_releases_the_lock,
    failing_statement_sent_with_others_is_named,
    syntax_error_sent_with_others_is_named,
);

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
