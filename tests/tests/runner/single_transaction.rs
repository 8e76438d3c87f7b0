//! `single_transaction`: the whole run in one transaction, or refused before anything runs.

use std::sync::{Arc, Mutex};

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::{Event, RunError, State};
use godwit_tests::entry;
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::sets::{self, EVERY_OP_ORDER};
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, count, migrator, model, on_every_dialect, states, tables};

on_every_dialect!(
    single_transaction_is_all_or_nothing,
    single_transaction_applies_every_op,
);

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
