//! Every op up, down and up again, checked against the model at each step; a migrator built
//! from a pool.

use godwit::Migrator;
use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::State;
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::sets::{self, EVERY_OP_ORDER, registry};
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, count, migrator, model, on_every_dialect, tables};

on_every_dialect!(
    every_op_up_down_up,
    runs_on_a_connection_from_a_pool,
    redo_reverts_and_reapplies_the_last_migration,
);

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

async fn redo_reverts_and_reapplies_the_last_migration(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = sets::every_op();
    let mut m = migrator(&db, entries.clone()).await;
    let nothing = m.redo().await.unwrap_err();
    assert!(
        nothing.to_string().contains("only 0 are applied"),
        "{nothing}"
    );
    m.upgrade(&[Target::Forward(2)]).await.unwrap();
    let report = m.redo().await.unwrap();
    assert_eq!(report.reverted, [EVERY_OP_ORDER[1]]);
    assert_eq!(report.applied, [EVERY_OP_ORDER[1]]);
    let schema = model(&entries, &EVERY_OP_ORDER[..2], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after redo").await;
    let status = m.status().await.unwrap();
    let applied = status
        .migrations
        .iter()
        .filter(|s| s.state == State::Applied);
    assert_eq!(applied.count(), 2);
    m.close().await.unwrap();
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
