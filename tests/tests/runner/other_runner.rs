//! A history written by another build of the migrations: one edited since it was applied, one
//! this build does not know.
//!
//! The file name matters: the tests check that the error and the status name the file that
//! defines the migration (`runner.rs:`), and the entries are defined here.

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::{RunError, State};
use godwit_tests::entry;
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, migrator, model, on_every_dialect, states, tables};

on_every_dialect!(
    edited_migration_stops_the_upgrade,
    unknown_migration_is_reported_and_reverted_from_stored_sql,
);

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
    // The edit adds a column the database lacks: accepting it leaves the schema apart from the
    // model, which `up` reports as drift, and goes past only when told to.
    let mut m = m.accept_changed(["notes"]);
    let err = m.up().await.unwrap_err();
    assert!(
        matches!(&err, RunError::Drift(d) if d[0].what.contains("\"body\" is in the model")),
        "{err}"
    );
    let mut m = m.allow_drift(true);
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

/// Also the base of `downgrade`'s sets.
pub(crate) fn unknown_base(m: &mut Migration) {
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
