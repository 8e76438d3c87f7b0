//! `--safe` on the real servers: each safe sequence runs, and the database ends exactly where
//! the plain ops leave it (introspected side by side), with the model's shape (no drift); a
//! sequence that stopped halfway is cleaned up and run again.

use std::sync::{Arc, Mutex};

use godwit::graph::Direction;
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::runner::{Event, PlanFor, RunError, offline_migration, offline_plan};
use godwit::testing::introspect;
use godwit::{Migrator, Target};
use godwit_tests::entry;
use godwit_tests::sets::registry;
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, count, on_every_dialect};

on_every_dialect!(
    safe_sequences_end_where_the_plain_ops_do,
    the_lint_reads_the_server_and_what_it_has_applied
);

fn tables(m: &mut Migration) {
    m.create_table("sf_teams", |t| {
        t.id("id");
    });
    m.create_table("sf_users", |t| {
        t.id("id");
        t.string("email", 50);
        t.integer("age");
        t.column("team", ColumnType::BigInt);
        t.index("ix_sf_users_age", ["age"]);
    });
    m.create_table("sf_codes", |t| {
        t.string("code", 20).not_null();
    });
    m.sql("INSERT INTO sf_teams (id) VALUES (1), (2)");
    m.sql(
        "INSERT INTO sf_users (id, email, age, team) VALUES (1, 'a@x', 30, 1), (2, 'b@x', 40, 2), \
         (3, 'c@x', 50, 1)",
    );
    m.sql("INSERT INTO sf_codes (code) VALUES ('x'), ('y')");
}

/// Every op `--safe` rewrites somewhere, on tables that exist before the run.
fn change(m: &mut Migration) {
    m.create_index("sf_users", "ix_sf_users_email", ["email"]);
    m.drop_index("sf_users", "ix_sf_users_age");
    m.add_foreign_key("sf_users", "fk_sf_users_team", ["team"], "sf_teams", ["id"]);
    m.add_check("sf_users", "ck_sf_users_age", "age >= 0");
    m.set_not_null("sf_users", "age");
    m.add_unique("sf_users", "uq_sf_users_email", ["email"]);
    m.add_primary_key("sf_codes", ["code"]);
    m.add_column("sf_users", "bio", ColumnType::Text);
}

fn set() -> Vec<MigrationEntry> {
    vec![
        entry!("sf_tables", [], tables),
        entry!("sf_change", ["sf_tables"], change),
    ]
}

/// `sf_tables` applied in a run of its own, then `up`, plain or safe.
async fn migrated(db: &TestDb, safe: bool) -> Migrator {
    let mut m = Migrator::with_registry(db.connect().await, registry(set()))
        .unwrap()
        .safe(safe);
    m.upgrade(&[Target::id("sf_tables")]).await.unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["sf_change"]);
    m
}

async fn safe_sequences_end_where_the_plain_ops_do(dialect: Dialect) {
    let (Some(plain_db), Some(safe_db)) =
        (TestDb::create(dialect).await, TestDb::create(dialect).await)
    else {
        return;
    };
    let mut plain = migrated(&plain_db, false).await;
    let mut safe = migrated(&safe_db, true).await;
    let server = safe.server().await.unwrap();
    let sql = |safe| {
        let plan_for = PlanFor { server, safe };
        offline_migration(&registry(set()), plan_for, "sf_change")
            .unwrap()
            .unwrap()
            .sql
    };
    let (plain_sql, safe_sql) = (sql(false), sql(true));
    let expected: &[&str] = match dialect {
        Dialect::Postgres => &[
            "CREATE INDEX CONCURRENTLY \"ix_sf_users_email\"",
            "DROP INDEX CONCURRENTLY \"ix_sf_users_age\"",
            "FOREIGN KEY (\"team\") REFERENCES \"sf_teams\" (\"id\") ON DELETE NO ACTION ON UPDATE NO ACTION NOT VALID",
            "VALIDATE CONSTRAINT \"fk_sf_users_team\"",
            "CHECK (age >= 0) NOT VALID",
            "CHECK (\"age\" IS NOT NULL) NOT VALID",
            "DROP CONSTRAINT \"age_godwit_not_null\"",
            "CREATE UNIQUE INDEX CONCURRENTLY \"uq_sf_users_email\"",
            "ADD CONSTRAINT \"uq_sf_users_email\" UNIQUE USING INDEX \"uq_sf_users_email\"",
            "ADD CONSTRAINT \"sf_codes_pkey\" PRIMARY KEY USING INDEX \"sf_codes_pkey\"",
        ],
        Dialect::Mysql => &[
            "CREATE INDEX `ix_sf_users_email` ON `sf_users` (`email`) ALGORITHM=INPLACE LOCK=NONE",
            "ALTER TABLE `sf_users` DROP INDEX `ix_sf_users_age`, ALGORITHM=INPLACE, LOCK=NONE",
            "UNIQUE (`email`), ALGORITHM=INPLACE, LOCK=NONE",
            "ADD COLUMN `bio` longtext NULL, ALGORITHM=INSTANT",
        ],
        Dialect::Sqlite => &[],
    };
    for fragment in expected {
        assert!(
            safe_sql.contains(fragment),
            "{fragment}\nnot in\n{safe_sql}"
        );
        assert!(!plain_sql.contains(fragment), "{fragment} in the plain SQL");
    }
    if dialect == Dialect::Sqlite {
        assert_eq!(safe_sql, plain_sql, "SQLite has no safe sequences");
    }
    let plain_catalog = introspect(plain.connection(), &[HISTORY]).await.unwrap();
    let safe_catalog = introspect(safe.connection(), &[HISTORY]).await.unwrap();
    assert_eq!(safe_catalog, plain_catalog);
    let drift = safe.drift().await.unwrap();
    assert!(drift.is_empty(), "{drift:#?}");
    assert_eq!(
        count(safe.connection(), "SELECT COUNT(*) FROM sf_users").await,
        3
    );
    // And back, safe too: the index dropped CONCURRENTLY, the one dropped before built again so.
    let down = offline_plan(
        &registry(set()),
        PlanFor { server, safe: true },
        Direction::Down,
        &[Target::id("sf_tables")],
    )
    .unwrap();
    let down_sql: String = down.iter().map(|m| m.sql.as_str()).collect();
    let expected_down: &[&str] = match dialect {
        Dialect::Postgres => &[
            "DROP INDEX CONCURRENTLY \"ix_sf_users_email\"",
            "CREATE INDEX CONCURRENTLY \"ix_sf_users_age\"",
        ],
        Dialect::Mysql => &[
            "ALTER TABLE `sf_users` DROP INDEX `ix_sf_users_email`, ALGORITHM=INPLACE, LOCK=NONE",
            "CREATE INDEX `ix_sf_users_age` ON `sf_users` (`age`) ALGORITHM=INPLACE LOCK=NONE",
        ],
        Dialect::Sqlite => &[],
    };
    for fragment in expected_down {
        assert!(
            down_sql.contains(fragment),
            "{fragment}\nnot in\n{down_sql}"
        );
    }
    safe.downgrade(&[Target::id("sf_tables")]).await.unwrap();
    assert!(safe.drift().await.unwrap().is_empty());
    for (m, db) in [(plain, plain_db), (safe, safe_db)] {
        m.close().await.unwrap();
        db.drop().await;
    }
}

fn orphan_team(m: &mut Migration) {
    m.sql("INSERT INTO sf_users (id, email, age, team) VALUES (4, 'd@x', 20, 9)");
}

fn foreign_key(m: &mut Migration) {
    m.add_foreign_key("sf_users", "fk_sf_users_team", ["team"], "sf_teams", ["id"]);
}

/// The key is added NOT VALID and commits; its validation fails on a row without a team. The
/// rerun finds the unvalidated key, drops it, and runs the sequence again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_validation_leaves_a_key_the_rerun_removes_first() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let entries = vec![
        entry!("sf_tables", [], tables),
        entry!("sf_orphan", ["sf_tables"], orphan_team),
        entry!("sf_fk", ["sf_orphan"], foreign_key).with_safe(),
    ];
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = Migrator::with_registry(db.connect().await, registry(entries))
        .unwrap()
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("sf_orphan")]).await.unwrap();
    let err = m.up().await.unwrap_err();
    assert!(
        matches!(&err, RunError::Failed { id, ops_applied: 0, .. } if id == "sf_fk"),
        "{err}"
    );
    assert!(err.to_string().contains("VALIDATE CONSTRAINT"), "{err}");
    let unvalidated = "SELECT COUNT(*) FROM pg_constraint WHERE conname = 'fk_sf_users_team' \
                       AND NOT convalidated";
    assert_eq!(count(m.connection(), unvalidated).await, 1);
    m.connection()
        .execute("INSERT INTO sf_teams (id) VALUES (9)")
        .await
        .unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["sf_fk"]);
    assert!(events.lock().unwrap().iter().any(|e| matches!(
        e,
        Event::LeftoverRemoved { sql, .. } if sql.contains("DROP CONSTRAINT \"fk_sf_users_team\"")
    )));
    assert_eq!(count(m.connection(), unvalidated).await, 0);
    assert!(m.drift().await.unwrap().is_empty());
    m.close().await.unwrap();
    db.drop().await;
}

fn add_index_to_users(m: &mut Migration) {
    m.create_index("sf_users", "ix_sf_users_team", ["team"]);
}

fn more_tables(m: &mut Migration) {
    m.create_table("sf_more", |t| {
        t.id("id");
        t.integer("n");
    });
    m.create_index("sf_more", "ix_sf_more_n", ["n"]);
}

fn index_more(m: &mut Migration) {
    m.create_index("sf_more", "ix_sf_more_id_n", ["id", "n"]);
}

/// With a database, the lint is for its server, over what it has still to apply: a table a
/// pending migration creates is new for the rest of the run, one already applied is not.
async fn the_lint_reads_the_server_and_what_it_has_applied(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("sf_tables", [], tables),
        entry!("sf_index", ["sf_tables"], add_index_to_users),
        entry!("sf_more", ["sf_index"], more_tables),
        entry!("sf_index_more", ["sf_more"], index_more),
    ];
    let mut m = Migrator::with_registry(db.connect().await, registry(entries)).unwrap();
    m.upgrade(&[Target::id("sf_tables")]).await.unwrap();
    let report = m.lint().await.unwrap();
    let server = m.server().await.unwrap();
    assert_eq!(report.servers, [server]);
    let expected_kind = match dialect {
        Dialect::Postgres => "postgres",
        Dialect::Mysql => "mariadb",
        Dialect::Sqlite => "sqlite",
    };
    assert_eq!(server.kind.name(), expected_kind, "{server}");
    assert!(server.version.major >= 3, "{server}");
    let found: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.migration.as_str(), f.lint.code()))
        .collect();
    match dialect {
        // sf_users exists: its index blocks writes; sf_more is created in this run: its
        // indexes, in the same migration or the next, lock no one out.
        Dialect::Postgres => assert_eq!(found, [("sf_index", "GW001")]),
        _ => assert!(found.is_empty(), "{found:?}"),
    }
    m.close().await.unwrap();
    db.drop().await;
}
