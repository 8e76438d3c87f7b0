//! The history table: stamping, moving it, the start row written on the previous commit, and
//! text kept byte for byte.

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::runner::State;
use godwit_tests::sets;
use godwit_tests::testdb::TestDb;
use godwit_tests::{entry, sets::registry};

use crate::common::{HISTORY, count, migrator, on_every_dialect, states, tables};

on_every_dialect!(
    stamp_records_without_running,
    start_row_rides_on_the_previous_commit,
    history_table_can_be_moved,
    history_keeps_any_text,
);

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
    let table = godwit::quote_identifier(dialect, "schema_history");
    let qualified = format!("{}.{table}", godwit::quote_identifier(dialect, &schema));
    assert_eq!(
        count(m.connection(), &format!("SELECT COUNT(*) FROM {qualified}")).await,
        5
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
