//! `Migrator::verify` on the real servers: every migration of a set that round-trips passes;
//! a `down` that leaves something behind is named with what differs; one that fails is
//! reported and the walk goes on; a database with tables of its own is refused.

use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::runner::RunError;
use godwit_tests::entry;
use godwit_tests::sets;
use godwit_tests::testdb::TestDb;

use crate::common::{migrator, on_every_dialect};

on_every_dialect!(
    every_op_round_trips,
    a_down_that_leaves_something_is_named,
    a_database_with_tables_is_refused_unless_forced
);

async fn every_op_round_trips(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, sets::every_op()).await;
    let report = m.verify(false).await.unwrap();
    assert_eq!(report.migrations.len(), 6);
    assert!(report.ok(), "{report:#?}");
    // PostgreSQL and SQLite: each round trip in one transaction, but the last on PostgreSQL,
    // which builds an index CONCURRENTLY; MySQL commits its DDL as it goes.
    let one_transaction: Vec<bool> = report
        .migrations
        .iter()
        .map(|t| t.in_one_transaction)
        .collect();
    let expected = match dialect {
        Dialect::Postgres => [true, true, true, true, true, false],
        Dialect::Mysql => [false; 6],
        Dialect::Sqlite => [true; 6],
    };
    assert_eq!(one_transaction, expected);
    assert!(m.drift().await.unwrap().is_empty(), "left applied");
    m.close().await.unwrap();
    db.drop().await;
}

fn items(m: &mut Migration) {
    m.create_table("rt_items", |t| {
        t.id("id");
        t.string("name", 40);
    });
}

fn index_items(m: &mut Migration) {
    m.create_index("rt_items", "ix_rt_items_name", ["name"]);
    m.add_column("rt_items", "note", ColumnType::Text);
}

/// Forgets the column.
fn half_down(m: &mut Migration) {
    m.drop_index("rt_items", "ix_rt_items_name");
}

fn note_raw(m: &mut Migration) {
    m.sql("UPDATE rt_items SET name = 'x'");
}

fn set() -> Vec<MigrationEntry> {
    vec![
        entry!("rt_items", [], items),
        entry!("rt_raw", ["rt_items"], note_raw),
        entry!("rt_index", ["rt_raw"], index_items).with_down(half_down),
    ]
}

async fn a_down_that_leaves_something_is_named(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, set()).await;
    let report = m.verify(false).await.unwrap();
    assert!(!report.ok());
    let ids: Vec<&str> = report.migrations.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["rt_items", "rt_raw", "rt_index"]);
    assert!(report.migrations[0].ok());
    // Its down fails: it stays applied, and the walk goes on.
    let raw = &report.migrations[1];
    let (step, error) = raw.failed.as_ref().expect("raw SQL cannot be reverted");
    assert_eq!(step, "down");
    assert!(error.contains("raw SQL has no reverse"), "{error}");
    // Its down forgets the column: named, and the up again, which adds it, fails and ends it.
    let index = &report.migrations[2];
    assert!(index.after_up.is_empty());
    let left: Vec<String> = index.after_down.iter().map(ToString::to_string).collect();
    assert_eq!(
        left,
        ["rt_items: column \"note\" is in the database, not in the model"],
        "{index:#?}"
    );
    assert_eq!(
        index.failed.as_ref().map(|(step, _)| step.as_str()),
        Some("up again")
    );
    m.close().await.unwrap();
    db.drop().await;
}

async fn a_database_with_tables_is_refused_unless_forced(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, vec![entry!("rt_items", [], items)]).await;
    m.connection()
        .execute("CREATE TABLE rt_precious (id INTEGER)")
        .await
        .unwrap();
    let err = m.verify(false).await.unwrap_err();
    assert!(
        matches!(&err, RunError::NotScratch(tables) if tables == "rt_precious"),
        "{err}"
    );
    assert!(err.to_string().contains("--force"), "{err}");
    assert!(m.verify(true).await.unwrap().ok());
    m.close().await.unwrap();
    db.drop().await;
}
