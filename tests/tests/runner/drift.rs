//! Drift on the real servers: none after the migrations (every op form), and exactly what was
//! changed by hand: a column added, an index dropped, a default changed.

use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit_tests::entry;
use godwit_tests::sets;
use godwit_tests::testdb::TestDb;

use crate::common::{migrator, on_every_dialect};

on_every_dialect!(
    no_drift_after_every_op,
    changes_by_hand_are_named_one_by_one,
    up_stops_on_drift_unless_allowed
);

async fn no_drift_after_every_op(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, sets::every_op()).await;
    assert!(m.drift().await.unwrap().is_empty(), "an empty database");
    m.up().await.unwrap();
    let drift = m.drift().await.unwrap();
    assert!(drift.is_empty(), "{drift:#?}");
    m.close().await.unwrap();
    db.drop().await;
}

fn items(m: &mut Migration) {
    m.create_table("dt_items", |t| {
        t.id("id");
        t.string("name", 100).not_null();
        t.integer("qty").not_null().default(0);
        t.index("ix_dt_items_name", ["name"]);
    });
}

fn set() -> Vec<MigrationEntry> {
    vec![entry!("dt_items", [], items)]
}

async fn changes_by_hand_are_named_one_by_one(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, set()).await;
    m.up().await.unwrap();
    assert!(m.drift().await.unwrap().is_empty());
    let conn = m.connection();
    conn.execute("ALTER TABLE dt_items ADD COLUMN note TEXT")
        .await
        .unwrap();
    match dialect {
        Dialect::Mysql => {
            conn.execute("DROP INDEX ix_dt_items_name ON dt_items")
                .await
        }
        _ => conn.execute("DROP INDEX ix_dt_items_name").await,
    }
    .unwrap();
    match dialect {
        // SQLite cannot alter a default: the table is made again by hand, as it was but for it.
        Dialect::Sqlite => {
            let sql = conn
                .fetch_text("SELECT sql FROM sqlite_schema WHERE name = 'dt_items'")
                .await
                .unwrap()[0][0]
                .clone()
                .unwrap();
            let again =
                sql.replace("DEFAULT 0", "DEFAULT 5")
                    .replacen("\"dt_items\"", "\"dt_again\"", 1);
            assert_ne!(again, sql);
            conn.execute(&again).await.unwrap();
            conn.execute("INSERT INTO dt_again SELECT id, name, qty, note FROM dt_items")
                .await
                .unwrap();
            conn.execute("DROP TABLE dt_items").await.unwrap();
            conn.execute("ALTER TABLE dt_again RENAME TO dt_items")
                .await
                .unwrap();
        }
        _ => conn
            .execute("ALTER TABLE dt_items ALTER COLUMN qty SET DEFAULT 5")
            .await
            .unwrap(),
    }
    let drift = m.drift().await.unwrap();
    let said: Vec<String> = drift
        .iter()
        .map(|d| format!("{}: {}", d.table.as_deref().unwrap_or("-"), d.what))
        .collect();
    assert_eq!(said.len(), 3, "{said:#?}");
    assert!(
        said.contains(&"dt_items: column \"note\" is in the database, not in the model".to_owned()),
        "{said:#?}"
    );
    assert!(
        said.iter().any(|s| s.starts_with(
            "dt_items: index \"ix_dt_items_name\" (name) is in the model, not in the database"
        )),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|s| s.starts_with("dt_items: column \"qty\": the default is 5")),
        "{said:#?}"
    );
    m.close().await.unwrap();
    db.drop().await;
}

fn more_items(m: &mut Migration) {
    m.add_column("dt_items", "price", ColumnType::Integer);
}

/// `up` compares first: a table of the model changed by hand stops it before anything runs;
/// a table the model does not know does not; `allow_drift` goes on.
async fn up_stops_on_drift_unless_allowed(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut entries = set();
    let mut m = migrator(&db, entries.clone()).await;
    m.up().await.unwrap();
    let conn = m.connection();
    conn.execute("CREATE TABLE dt_other (id INTEGER)")
        .await
        .unwrap();
    conn.execute("ALTER TABLE dt_items ADD COLUMN note TEXT")
        .await
        .unwrap();
    m.close().await.unwrap();
    entries.push(entry!("dt_more", ["dt_items"], more_items));
    let mut m = migrator(&db, entries.clone()).await;
    let err = m.up().await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("dt_items: column \"note\" is in the database, not in the model")
            && message.contains("--allow-drift")
            && !message.contains("dt_other"),
        "{message}"
    );
    assert_eq!(
        crate::common::states(&m.status().await.unwrap())["dt_more"],
        godwit::runner::State::Pending
    );
    let mut m = m.allow_drift(true);
    assert_eq!(m.up().await.unwrap().applied, ["dt_more"]);
    m.close().await.unwrap();
    db.drop().await;
}
