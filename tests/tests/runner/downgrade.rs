//! Going down: a migration with no reverse refuses before anything runs; an explicit `down`
//! is used instead of the derived one.

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::{RunError, State};
use godwit_tests::entry;
use godwit_tests::testdb::TestDb;

use crate::common::{count, migrator, on_every_dialect, tables};
use crate::other_runner::unknown_base;

on_every_dialect!(
    irreversible_migration_refuses_to_go_down,
    explicit_down_is_used,
);

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
