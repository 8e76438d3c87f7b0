//! Backups on the real servers: taken before the migration (pg_dump, mysqldump, VACUUM INTO),
//! recorded, announced; restored into a fresh database, they give back the rows and the schema
//! the migration then dropped. A backup that fails stops the migration before it runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use godwit::prelude::*;
use godwit::registry::{BackupScope, MigrationEntry};
use godwit::runner::{BackupTaken, Event, RunError, State};
use godwit::testing::introspect;
use godwit::{Migrator, Target};
use godwit_tests::entry;
use godwit_tests::sets::registry;
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, count, on_every_dialect, states, tables};

on_every_dialect!(
    a_backup_restores_what_the_migration_dropped,
    a_failed_backup_stops_the_migration_before_it_runs,
    a_backup_hook_takes_the_place_of_the_tools
);

fn shop(m: &mut Migration) {
    m.create_table("bk_orders", |t| {
        t.id("id");
        t.string("item", 40).not_null();
        t.integer("qty").not_null().default(1);
        t.index("ix_bk_orders_item", ["item"]);
    });
    m.create_table("bk_notes", |t| {
        t.id("id");
        t.text("body");
    });
    m.sql(
        "INSERT INTO bk_orders (id, item, qty) VALUES (1, 'pen', 2), (2, 'ink', 1), (3, 'pad', 5)",
    );
    m.sql("INSERT INTO bk_notes (id, body) VALUES (1, 'keep')");
}

fn drop_orders(m: &mut Migration) {
    m.drop_table("bk_orders");
}

fn set(scope: BackupScope) -> Vec<MigrationEntry> {
    vec![
        entry!("bk_shop", [], shop),
        entry!("bk_drop", ["bk_shop"], drop_orders).with_backup(scope),
    ]
}

fn backup_dir(db: &TestDb) -> PathBuf {
    let name: String = db
        .url
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .rev()
        .take(24)
        .collect();
    std::env::temp_dir().join(format!("godwit-backups-{name}"))
}

/// Restores `file` into the fresh database `into`, with the server's own tool.
async fn restore(dialect: Dialect, file: &Path, into: &TestDb) {
    let status = match dialect {
        Dialect::Postgres => std::process::Command::new("pg_restore")
            .args(["--no-owner", "--dbname", &into.url])
            .arg(file)
            .status()
            .unwrap(),
        Dialect::Mysql => {
            let database = into.url.rsplit('/').next().unwrap();
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "mysql -h 127.0.0.1 -u root {database} < '{}'",
                    file.display()
                ))
                .status()
                .unwrap()
        }
        Dialect::Sqlite => {
            let path = into
                .url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap()
                .to_owned();
            std::fs::copy(file, &path).unwrap();
            return;
        }
    };
    assert!(status.success(), "restoring {}", file.display());
}

async fn a_backup_restores_what_the_migration_dropped(dialect: Dialect) {
    let (Some(db), Some(restored)) = (TestDb::create(dialect).await, TestDb::create(dialect).await)
    else {
        return;
    };
    let dir = backup_dir(&db);
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = Migrator::connect_with_registry(&db.url, registry(set(BackupScope::Tables)))
        .await
        .unwrap()
        .backup_dir(&dir)
        .backup_every_migration(true)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("bk_shop")]).await.unwrap();
    let before = introspect(m.connection(), &[HISTORY]).await.unwrap();
    // bk_shop is not backed up again (applied); bk_drop is, before it runs.
    assert_eq!(m.up().await.unwrap().applied, ["bk_drop"]);
    let taken: Vec<BackupTaken> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::BackupTaken(taken) => Some(taken.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(taken.len(), 2, "{taken:#?}");
    let taken = &taken[1];
    assert_eq!(taken.id, "bk_drop");
    assert!(taken.bytes > 0 && taken.path.starts_with(&dir), "{taken:?}");
    match dialect {
        Dialect::Sqlite => assert_eq!(taken.tables, None, "one file: the whole database"),
        _ => assert_eq!(taken.tables.as_deref(), Some(&["bk_orders".to_owned()][..])),
    }
    let recorded = count(
        m.connection(),
        "SELECT COUNT(*) FROM godwit_migrations_backups WHERE migration = 'bk_drop' AND bytes > 0",
    )
    .await;
    assert_eq!(recorded, 1);
    let status = m.status().await.unwrap();
    let drop = status
        .migrations
        .iter()
        .find(|s| s.id == "bk_drop")
        .unwrap();
    let backup = drop.backup.as_ref().expect("status shows the backup");
    assert_eq!(backup.file, taken.path.to_string_lossy());
    assert_eq!(backup.bytes, taken.bytes);
    assert_eq!(
        tables(m.connection()).await,
        ["bk_notes", "godwit_migrations_backups"]
    );
    assert!(
        m.drift().await.unwrap().is_empty(),
        "its own table is not drift"
    );

    restore(dialect, &taken.path, &restored).await;
    let mut back = restored.connect().await;
    assert_eq!(count(&mut back, "SELECT COUNT(*) FROM bk_orders").await, 3);
    assert_eq!(
        count(
            &mut back,
            "SELECT COUNT(*) FROM bk_orders WHERE item = 'pad' AND qty = 5"
        )
        .await,
        1
    );
    let live = introspect(
        &mut back,
        &[
            HISTORY,
            "godwit_migrations_backfills",
            "godwit_migrations_backups",
        ],
    )
    .await
    .unwrap();
    assert_eq!(live.tables["bk_orders"], before.tables["bk_orders"]);
    back.close().await.ok();
    m.close().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
    db.drop().await;
    restored.drop().await;
}

async fn a_failed_backup_stops_the_migration_before_it_runs(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    // A file where the directory should be.
    let blocker = backup_dir(&db).with_extension("file");
    std::fs::write(&blocker, "").unwrap();
    let mut m = Migrator::connect_with_registry(&db.url, registry(set(BackupScope::Database)))
        .await
        .unwrap()
        .backup_dir(blocker.join("backups"));
    // One run: bk_shop applies, then bk_drop's backup fails before bk_drop starts; no row of
    // its start was written with bk_shop's last commit, so a rerun backs up again.
    for _ in 0..2 {
        let err = m.up().await.unwrap_err();
        assert!(
            matches!(&err, RunError::BackupFailed { id, .. } if id == "bk_drop"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("cannot create the backup directory"),
            "{err}"
        );
        let states = states(&m.status().await.unwrap());
        assert_eq!(states["bk_shop"], State::Applied);
        assert_eq!(states["bk_drop"], State::Pending);
    }
    assert_eq!(tables(m.connection()).await, ["bk_notes", "bk_orders"]);
    m.close().await.unwrap();
    std::fs::remove_file(&blocker).ok();
    db.drop().await;
}

/// pg_dump's own words reach the message: here, a table the model knows but the database
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_error_is_in_the_message() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let dir = backup_dir(&db);
    let mut m = Migrator::connect_with_registry(&db.url, registry(set(BackupScope::Tables)))
        .await
        .unwrap()
        .allow_drift(true);
    m.upgrade(&[Target::id("bk_shop")]).await.unwrap();
    m.connection()
        .execute("ALTER TABLE bk_orders RENAME TO bk_gone")
        .await
        .unwrap();
    let mut m = m.backup_dir(&dir).backup_every_migration(true);
    let message = m.up().await.unwrap_err().to_string();
    assert!(
        message.contains("pg_dump") && message.contains("no matching tables were found"),
        "{message}"
    );
    m.close().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
    db.drop().await;
}

/// A hook of the caller's own takes the backup instead of the tools: it gets the migration
/// and the tables, its file is recorded, and its failure stops the migration before it runs.
async fn a_backup_hook_takes_the_place_of_the_tools(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let dir = backup_dir(&db);
    std::fs::create_dir_all(&dir).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let out = dir.clone();
    let mut m = Migrator::connect_with_registry(&db.url, registry(set(BackupScope::Tables)))
        .await
        .unwrap()
        .backup_with(move |request| {
            seen.lock().unwrap().push(request.clone());
            let file = out.join(format!("{}.snapshot", request.id));
            Box::pin(async move {
                std::fs::write(&file, b"a snapshot of the tables")?;
                Ok(file)
            })
        });
    m.upgrade(&[Target::id("bk_shop")]).await.unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["bk_drop"]);
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "bk_drop asks for one; bk_shop none");
    assert_eq!(asked[0].id, "bk_drop");
    assert_eq!(asked[0].dialect, dialect);
    assert_eq!(
        asked[0].tables.as_deref(),
        Some(&["bk_orders".to_owned()][..])
    );
    let status = m.status().await.unwrap();
    let drop = status
        .migrations
        .iter()
        .find(|s| s.id == "bk_drop")
        .unwrap();
    let backup = drop.backup.as_ref().expect("recorded");
    assert!(backup.file.ends_with("bk_drop.snapshot"), "{backup:?}");
    assert_eq!(backup.bytes, 24);
    m.close().await.unwrap();

    // A hook that fails stops the migration before it runs.
    let db2 = TestDb::create(dialect).await.unwrap();
    let mut m = Migrator::connect_with_registry(&db2.url, registry(set(BackupScope::Database)))
        .await
        .unwrap()
        .backup_with(|_| Box::pin(async { Err("the snapshot API said no".into()) }));
    let err = m.up().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the backup hook failed: the snapshot API said no"),
        "{err}"
    );
    assert_eq!(
        states(&m.status().await.unwrap())["bk_drop"],
        State::Pending
    );
    m.close().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
    db.drop().await;
    db2.drop().await;
}
