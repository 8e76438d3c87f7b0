//! Expand → contract with a sync trigger, on the real servers: after the expand, writes from
//! old code (the old column) and from new code (the new columns) each arrive in the other;
//! the contract drops the trigger and the old column; down through all of it restores both,
//! and the introspected schema equals the model after every step.

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit_tests::entry;
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, migrator, model, on_every_dialect};

on_every_dialect!(
    writes_from_old_and_new_code_arrive_in_the_other,
    writes_during_the_expand_phase_then_the_backfill,
);

const CHECKPOINTS: &str = "godwit_migrations_backfills";

fn people(m: &mut Migration) {
    m.create_table("rc_users", |t| {
        t.id("id");
        // Nullable: a SQLite trigger runs after the insert, which must not fail first.
        t.string("name", 200);
        t.string("email", 200);
    });
}

fn split_names(m: &mut Migration) {
    m.replace_column("rc_users", "name")
        .with(
            "first_name",
            ColumnType::String(100),
            "split_part(name, ' ', 1)",
        )
        .with_on(
            Dialect::Mysql,
            "first_name",
            "SUBSTRING_INDEX(name, ' ', 1)",
        )
        .with_on(
            Dialect::Sqlite,
            "first_name",
            "substr(name, 1, instr(name, ' ') - 1)",
        )
        .with(
            "last_name",
            ColumnType::String(100),
            "split_part(name, ' ', 2)",
        )
        .with_on(
            Dialect::Mysql,
            "last_name",
            "SUBSTRING_INDEX(name, ' ', -1)",
        )
        .with_on(
            Dialect::Sqlite,
            "last_name",
            "substr(name, instr(name, ' ') + 1)",
        )
        .back("first_name || ' ' || last_name")
        .back_on(Dialect::Mysql, "CONCAT(first_name, ' ', last_name)")
        .batch_size(2);
}

fn drop_name(m: &mut Migration) {
    m.finish_replace_column("rc_users", "name");
}

fn set() -> Vec<MigrationEntry> {
    vec![
        entry!("rc_users", [], people),
        entry!("rc_split", ["rc_users"], split_names),
        entry!("rc_drop_name", ["rc_split"], drop_name).with_contract(),
    ]
}

async fn rows(conn: &mut godwit::db::Connection, columns: &str) -> Vec<Vec<Option<String>>> {
    conn.fetch_text(&format!("SELECT {columns} FROM rc_users ORDER BY id"))
        .await
        .expect("read the rows")
}

fn texts(rows: &[&[&str]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|row| row.iter().map(|v| Some(v.to_string())).collect())
        .collect()
}

async fn writes_from_old_and_new_code_arrive_in_the_other(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = set();
    let own = [HISTORY, CHECKPOINTS];
    let mut m = migrator(&db, entries.clone()).await;
    m.upgrade(&[Target::id("rc_users")]).await.unwrap();
    let conn = m.connection();
    conn.execute("INSERT INTO rc_users (id, name) VALUES (1, 'Ada Lovelace'), (2, 'Alan Turing'), (3, 'Barbara Liskov')")
        .await
        .unwrap();

    // Expand: the new columns, the trigger, and the backfill of the rows there are.
    assert_eq!(m.up_expand().await.unwrap().applied, ["rc_split"]);
    let expanded = model(&entries, &["rc_users", "rc_split"], dialect);
    assert_live_matches(m.connection(), &expanded, &own, "after the expand").await;
    assert_eq!(
        rows(m.connection(), "first_name, last_name").await,
        texts(&[
            &["Ada", "Lovelace"],
            &["Alan", "Turing"],
            &["Barbara", "Liskov"]
        ])
    );

    // Old code writes the old column only; new code the new columns only.
    let conn = m.connection();
    conn.execute("INSERT INTO rc_users (id, name) VALUES (4, 'Grace Hopper')")
        .await
        .unwrap();
    conn.execute("UPDATE rc_users SET name = 'Ada Byron' WHERE id = 1")
        .await
        .unwrap();
    conn.execute(
        "INSERT INTO rc_users (id, first_name, last_name) VALUES (5, 'Edsger', 'Dijkstra')",
    )
    .await
    .unwrap();
    conn.execute("UPDATE rc_users SET last_name = 'King' WHERE id = 2")
        .await
        .unwrap();
    conn.execute("UPDATE rc_users SET email = 'b@example.com' WHERE id = 3")
        .await
        .unwrap();
    let both = texts(&[
        &["Ada Byron", "Ada", "Byron"],
        &["Alan King", "Alan", "King"],
        &["Barbara Liskov", "Barbara", "Liskov"],
        &["Grace Hopper", "Grace", "Hopper"],
        &["Edsger Dijkstra", "Edsger", "Dijkstra"],
    ]);
    assert_eq!(
        rows(m.connection(), "name, first_name, last_name").await,
        both
    );

    // Contract: the trigger and the old column go.
    assert_eq!(m.up().await.unwrap().applied, ["rc_drop_name"]);
    let contracted = model(&entries, &["rc_users", "rc_split", "rc_drop_name"], dialect);
    assert_live_matches(m.connection(), &contracted, &own, "after the contract").await;

    // Down through the contract: the old column comes back, filled from the new ones.
    m.downgrade(&[Target::id("rc_split")]).await.unwrap();
    assert_live_matches(
        m.connection(),
        &expanded,
        &own,
        "after reverting the contract",
    )
    .await;
    assert_eq!(
        rows(m.connection(), "name, first_name, last_name").await,
        both
    );
    m.connection()
        .execute("UPDATE rc_users SET name = 'Grace Murray' WHERE id = 4")
        .await
        .unwrap();
    assert_eq!(
        rows(m.connection(), "first_name, last_name").await[3],
        texts(&[&["Grace", "Murray"]])[0],
        "the trigger is back too"
    );

    // Down through the expand: the new columns and the trigger go; the old column stays.
    m.downgrade(&[Target::id("rc_users")]).await.unwrap();
    let start = model(&entries, &["rc_users"], dialect);
    assert_live_matches(m.connection(), &start, &own, "after reverting the expand").await;
    assert_eq!(
        rows(m.connection(), "name").await,
        texts(&[
            &["Ada Byron"],
            &["Alan King"],
            &["Barbara Liskov"],
            &["Grace Murray"],
            &["Edsger Dijkstra"]
        ])
    );
    if dialect == Dialect::Postgres {
        let functions = m
            .connection()
            .fetch_text("SELECT proname::text FROM pg_proc WHERE proname = 'sync_rc_users_name'")
            .await
            .unwrap();
        assert!(
            functions.is_empty(),
            "the trigger's function is dropped too"
        );
    }
    m.close().await.unwrap();
    db.drop().await;
}

/// The names' parts, per dialect, as SQL over `name`.
fn parts(dialect: Dialect) -> (&'static str, &'static str) {
    match dialect {
        Dialect::Postgres => ("split_part(name, ' ', 1)", "split_part(name, ' ', 2)"),
        Dialect::Mysql => (
            "SUBSTRING_INDEX(name, ' ', 1)",
            "SUBSTRING_INDEX(name, ' ', -1)",
        ),
        Dialect::Sqlite => (
            "substr(name, 1, instr(name, ' ') - 1)",
            "substr(name, instr(name, ' ') + 1)",
        ),
    }
}

fn expand_only(m: &mut Migration) {
    let (first, last) = parts(m.dialect());
    m.add_column("rc_users", "first_name", ColumnType::String(100));
    m.add_column("rc_users", "last_name", ColumnType::String(100));
    m.create_sync_trigger("rc_users", "sync_rc_users_name")
        .forward("first_name", first)
        .forward("last_name", last)
        .backward("name", "first_name || ' ' || last_name")
        .backward_on(Dialect::Mysql, "name", "CONCAT(first_name, ' ', last_name)");
}

fn backfill_parts(m: &mut Migration) {
    let (first, last) = parts(m.dialect());
    m.backfill("rc_users")
        .set("first_name", first)
        .set("last_name", last)
        .only("first_name IS NULL")
        .batch_size(2)
        .reverse_nothing();
}

fn contract_parts(m: &mut Migration) {
    m.drop_sync_trigger("rc_users", "sync_rc_users_name");
    m.drop_column("rc_users", "name");
}

/// Expand (columns and trigger), writes of old and new code, then the backfill of the rows from
/// before, then the contract; and down through all of it.
async fn writes_during_the_expand_phase_then_the_backfill(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("rc_users", [], people),
        entry!("rc_expand", ["rc_users"], expand_only),
        entry!("rc_backfill", ["rc_expand"], backfill_parts),
        entry!("rc_contract", ["rc_backfill"], contract_parts).with_contract(),
    ];
    let own = [HISTORY, CHECKPOINTS];
    let mut m = migrator(&db, entries.clone()).await;
    m.upgrade(&[Target::id("rc_users")]).await.unwrap();
    m.connection()
        .execute("INSERT INTO rc_users (id, name) VALUES (1, 'Ada Lovelace'), (2, 'Alan Turing'), (3, 'Barbara Liskov')")
        .await
        .unwrap();
    m.upgrade(&[Target::id("rc_expand")]).await.unwrap();
    let at = |ids: &[&str]| model(&entries, ids, dialect);
    assert_live_matches(
        m.connection(),
        &at(&["rc_users", "rc_expand"]),
        &own,
        "after the expand",
    )
    .await;
    let conn = m.connection();
    conn.execute("INSERT INTO rc_users (id, name) VALUES (4, 'Grace Hopper')")
        .await
        .unwrap();
    conn.execute(
        "INSERT INTO rc_users (id, first_name, last_name) VALUES (5, 'Edsger', 'Dijkstra')",
    )
    .await
    .unwrap();
    conn.execute("UPDATE rc_users SET name = 'Ada Byron' WHERE id = 1")
        .await
        .unwrap();
    // Parts whose name does not split back into them.
    conn.execute(
        "INSERT INTO rc_users (id, first_name, last_name) VALUES (6, 'Ludwig', 'van Beethoven')",
    )
    .await
    .unwrap();
    // Rows from before the expand wait for the backfill, unless written since.
    assert_eq!(
        rows(m.connection(), "first_name").await,
        vec![
            vec![Some("Ada".to_owned())],
            vec![None],
            vec![None],
            vec![Some("Grace".to_owned())],
            vec![Some("Edsger".to_owned())],
            vec![Some("Ludwig".to_owned())],
        ]
    );
    m.upgrade(&[Target::id("rc_backfill")]).await.unwrap();
    let both = texts(&[
        &["Ada Byron", "Ada", "Byron"],
        &["Alan Turing", "Alan", "Turing"],
        &["Barbara Liskov", "Barbara", "Liskov"],
        &["Grace Hopper", "Grace", "Hopper"],
        &["Edsger Dijkstra", "Edsger", "Dijkstra"],
        &["Ludwig van Beethoven", "Ludwig", "van Beethoven"],
    ]);
    assert_eq!(
        rows(m.connection(), "name, first_name, last_name").await,
        both
    );
    let expanded = at(&["rc_users", "rc_expand", "rc_backfill"]);
    assert_live_matches(m.connection(), &expanded, &own, "after the backfill").await;
    m.up().await.unwrap();
    let contracted = at(&["rc_users", "rc_expand", "rc_backfill", "rc_contract"]);
    assert_live_matches(m.connection(), &contracted, &own, "after the contract").await;

    // The revert refills `name` with the trigger in place, which leaves the parts as they are.
    m.downgrade(&[Target::id("rc_backfill")]).await.unwrap();
    assert_live_matches(
        m.connection(),
        &expanded,
        &own,
        "after reverting the contract",
    )
    .await;
    assert_eq!(
        rows(m.connection(), "name, first_name, last_name").await,
        both
    );
    m.downgrade(&[Target::id("rc_users")]).await.unwrap();
    assert_live_matches(
        m.connection(),
        &at(&["rc_users"]),
        &own,
        "after reverting the expand",
    )
    .await;
    m.close().await.unwrap();
    db.drop().await;
}
