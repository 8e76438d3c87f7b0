//! Partitioned tables on the real servers: monthly partitions hold their rows, and a table of
//! 100,000 rows made partitioned keeps every row, a concurrent writer's too (PostgreSQL), resumes
//! after SIGKILL, and comes back unpartitioned with every row on the way down.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use godwit::graph::Target;
use godwit::op::PartitionBound;
use godwit::prelude::*;
use godwit_tests::entry;
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::sets::{self, first_of_2026_month};
use godwit_tests::testdb::TestDb;

use crate::common::{HISTORY, count, killed_midway, migrator, model, numbers, on_every_dialect};

on_every_dialect!(
    monthly_partitions_hold_their_rows,
    converting_a_table_keeps_every_row,
    a_conversion_proves_its_round_trip
);

const KEPT: &str = "_godwit_unpartitioned_events";

/// The history and the checkpoints of its batches.
const OWN: &[&str] = &[HISTORY, "godwit_migrations_backfills"];

/// `events` with a partition for each month of 2026.
fn monthly(m: &mut Migration) {
    m.create_table("events", |t| {
        t.bigint("id").not_null().auto_increment();
        t.date("created_on").not_null();
        t.string("kind", 20).not_null();
        t.primary_key(["id", "created_on"]);
        t.index("ix_events_kind", ["kind"]);
        t.partition_by_range(["created_on"]);
        for month in 1..=12 {
            t.partition(
                &format!("events_2026_{month:02}"),
                PartitionBound::range(first_of_2026_month(month), first_of_2026_month(month + 1)),
            );
        }
    });
}

/// A month on, January goes.
fn roll(m: &mut Migration) {
    m.create_partition(
        "events",
        "events_2027_01",
        PartitionBound::range("2027-01-01", "2027-02-01"),
    );
    m.drop_partition("events", "events_2026_01");
}

async fn in_partition(conn: &mut godwit::db::Connection, partition: &str) -> i64 {
    let sql = match conn.dialect() {
        Dialect::Mysql => format!("SELECT COUNT(*) FROM events PARTITION ({partition})"),
        _ => format!("SELECT COUNT(*) FROM ONLY {partition}"),
    };
    count(conn, &sql).await
}

async fn monthly_partitions_hold_their_rows(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("ev_monthly", [], monthly),
        entry!("ev_roll", ["ev_monthly"], roll),
    ];
    let mut m = migrator(&db, entries.clone()).await;
    if dialect == Dialect::Sqlite {
        let error = m.up().await.unwrap_err().to_string();
        assert!(
            error.contains("SQLite has no table partitioning"),
            "refused by name: {error}"
        );
        assert!(crate::common::tables(m.connection()).await.is_empty());
        m.close().await.unwrap();
        db.drop().await;
        return;
    }
    m.upgrade(&[Target::id("ev_monthly")]).await.unwrap();
    // Two rows a month, on its first and its last day: bounds hold their `from`, not their `to`.
    for month in 1..=12 {
        let first = first_of_2026_month(month);
        let last = match dialect {
            Dialect::Mysql => format!(
                "DATE_SUB('{}', INTERVAL 1 DAY)",
                first_of_2026_month(month + 1)
            ),
            _ => format!("DATE '{}' - 1", first_of_2026_month(month + 1)),
        };
        m.connection()
            .execute(&format!(
                "INSERT INTO events (created_on, kind) VALUES ('{first}', 'first'), ({last}, 'last')"
            ))
            .await
            .unwrap();
    }
    for month in 1..=12 {
        let name = format!("events_2026_{month:02}");
        assert_eq!(in_partition(m.connection(), &name).await, 2, "{name}");
    }
    if dialect == Dialect::Postgres {
        let outside = m
            .connection()
            .execute("INSERT INTO events (created_on, kind) VALUES ('2027-03-01', 'late')")
            .await;
        assert!(outside.is_err(), "a row no partition holds is refused");
    }
    assert_eq!(m.up().await.unwrap().applied, ["ev_roll"]);
    m.connection()
        .execute("INSERT INTO events (created_on, kind) VALUES ('2027-01-05', 'new')")
        .await
        .unwrap();
    assert_eq!(in_partition(m.connection(), "events_2027_01").await, 1);
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM events").await,
        23,
        "January's rows went with it"
    );
    let schema = model(&entries, &["ev_monthly", "ev_roll"], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after the roll").await;

    m.downgrade(&[Target::id("ev_monthly")]).await.unwrap();
    let schema = model(&entries, &["ev_monthly"], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "after the revert").await;
    assert_eq!(in_partition(m.connection(), "events_2026_01").await, 0);
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM events").await,
        22
    );
    m.close().await.unwrap();
    db.drop().await;
}

type Row = (String, String, Option<String>);

/// Every row of `table` by id: its day, kind and payload.
async fn rows_of(conn: &mut godwit::db::Connection, table: &str) -> BTreeMap<i64, Row> {
    let day = match conn.dialect() {
        Dialect::Mysql => "CAST(created_on AS CHAR)",
        _ => "CAST(created_on AS TEXT)",
    };
    conn.fetch_text(&format!(
        "SELECT id, {day}, kind, payload FROM {table} ORDER BY id"
    ))
    .await
    .expect("read the rows")
    .into_iter()
    .map(|row| {
        let mut values = row.into_iter();
        let id = values.next().flatten().unwrap().parse().unwrap();
        let day = values.next().flatten().unwrap();
        let kind = values.next().flatten().unwrap();
        (id, (day, kind, values.next().flatten()))
    })
    .collect()
}

/// `rows` rows spread over the days of 2026, ids 1 to `rows`.
async fn seed_events(conn: &mut godwit::db::Connection, rows: u64) {
    let dialect = conn.dialect();
    let (day, text) = match dialect {
        Dialect::Postgres => ("DATE '2026-01-01' + (n % 365)::int", "'payload ' || n"),
        _ => (
            "DATE_ADD('2026-01-01', INTERVAL n % 365 DAY)",
            "CONCAT('payload ', n)",
        ),
    };
    let numbers = numbers(conn, rows).await;
    conn.execute(&format!(
        "INSERT INTO events (id, created_on, kind, payload) \
         SELECT n, {day}, CASE WHEN n % 3 = 0 THEN 'view' ELSE 'click' END, \
         CASE WHEN n % 10 = 0 THEN NULL ELSE {text} END FROM ({numbers}) AS s"
    ))
    .await
    .expect("seed the events");
    if dialect == Dialect::Postgres {
        // Ids were given: the identity goes on after them.
        conn.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), max(id)) FROM events")
            .await
            .unwrap();
    }
}

/// A migrator of `partition_events` on `db`, with `events` created (unpartitioned) and
/// holding `rows` rows.
async fn events_ready(db: &TestDb, rows: u64) -> godwit::Migrator {
    let mut m = migrator(db, sets::partition_events()).await;
    m.upgrade(&[Target::id("pe_table")]).await.unwrap();
    seed_events(m.connection(), rows).await;
    m
}

/// A write of the concurrent writer, as it expects the table to have it.
enum Write {
    Inserted(i64, Row),
    Updated(i64, String),
    Deleted(i64),
}

fn applied(mut rows: BTreeMap<i64, Row>, writes: &[Write]) -> BTreeMap<i64, Row> {
    for write in writes {
        match write {
            Write::Inserted(id, row) => {
                rows.insert(*id, row.clone());
            }
            Write::Updated(id, payload) => {
                if let Some(row) = rows.get_mut(id) {
                    row.2 = Some(payload.clone());
                }
            }
            Write::Deleted(id) => {
                rows.remove(id);
            }
        }
    }
    rows
}

/// Inserts, updates and deletes rows of `events` on a connection of its own until `stop`.
async fn write_until(
    mut conn: godwit::db::Connection,
    stop: Arc<AtomicBool>,
    start: i64,
) -> Vec<Write> {
    let mut writes = Vec::new();
    let mut i = start;
    while !stop.load(Ordering::Relaxed) || i < start + 20 {
        i += 1;
        let day = format!("2026-{:02}-15", i % 12 + 1);
        let payload = format!("written {i}");
        let rows = conn
            .fetch_text(&format!(
                "INSERT INTO events (created_on, kind, payload) VALUES ('{day}', 'write', '{payload}') RETURNING id"
            ))
            .await
            .expect("insert while converting");
        let id = rows[0][0].as_deref().unwrap().parse().unwrap();
        writes.push(Write::Inserted(id, (day, "write".into(), Some(payload))));
        let updated = format!("updated {i}");
        conn.execute(&format!(
            "UPDATE events SET payload = '{updated}' WHERE id = {}",
            1_000 + i
        ))
        .await
        .expect("update while converting");
        writes.push(Write::Updated(1_000 + i, updated));
        conn.execute(&format!("DELETE FROM events WHERE id = {}", 60_000 + i))
            .await
            .expect("delete while converting");
        writes.push(Write::Deleted(60_000 + i));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    conn.close().await.ok();
    writes
}

async fn converting_a_table_keeps_every_row(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = sets::partition_events();
    let mut m = migrator(&db, entries.clone()).await;
    m.upgrade(&[Target::id("pe_table")]).await.unwrap();
    if dialect == Dialect::Sqlite {
        let error = m.up().await.unwrap_err().to_string();
        assert!(
            error.contains("SQLite has no table partitioning"),
            "{error}"
        );
        m.close().await.unwrap();
        db.drop().await;
        return;
    }
    seed_events(m.connection(), 100_000).await;
    let before = rows_of(m.connection(), "events").await;
    assert_eq!(before.len(), 100_000);

    // PostgreSQL copies while the table takes writes; MySQL rebuilds it under a lock.
    let concurrent = dialect == Dialect::Postgres;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = match concurrent {
        true => {
            let (conn, stop) = (db.connect().await, stop.clone());
            Some(tokio::spawn(write_until(conn, stop, 0)))
        }
        false => None,
    };
    assert_eq!(m.up().await.unwrap().applied, ["pe_partition"]);
    stop.store(true, Ordering::Relaxed);
    let writes = match writer {
        Some(writer) => writer.await.unwrap(),
        None => Vec::new(),
    };
    let expected = applied(before.clone(), &writes);
    assert_eq!(
        rows_of(m.connection(), "events").await,
        expected,
        "every row, and every concurrent write ({} of them), is in the partitioned table",
        writes.len()
    );
    for month in 1..=12 {
        let prefix = format!("2026-{month:02}-");
        let in_month = expected
            .values()
            .filter(|r| r.0.starts_with(&prefix))
            .count();
        let name = format!("events_2026_{month:02}");
        assert_eq!(
            in_partition(m.connection(), &name).await,
            in_month as i64,
            "{name} holds its month"
        );
    }
    let schema = model(&entries, &["pe_table", "pe_partition"], dialect);
    assert_live_matches(m.connection(), &schema, OWN, "after the conversion").await;

    let mut expected = expected;
    if concurrent {
        // The unpartitioned table is kept in step for the way back.
        let stop = Arc::new(AtomicBool::new(true));
        let after = write_until(db.connect().await, stop, 10_000).await;
        expected = applied(expected, &after);
        assert_eq!(rows_of(m.connection(), KEPT).await, expected);
    }

    m.downgrade(&[Target::id("pe_table")]).await.unwrap();
    assert_eq!(
        rows_of(m.connection(), "events").await,
        expected,
        "down restores the unpartitioned table with every row"
    );
    let schema = model(&entries, &["pe_table"], dialect);
    assert_live_matches(m.connection(), &schema, OWN, "after the revert").await;
    if concurrent {
        // Its identity goes on after the rows the copy kept.
        let id = m
            .connection()
            .fetch_text(
                "INSERT INTO events (created_on, kind) VALUES ('2026-05-05', 'x') RETURNING id",
            )
            .await
            .unwrap()[0][0]
            .clone()
            .unwrap();
        assert!(id.parse::<i64>().unwrap() > *expected.keys().last().unwrap());
    }

    // Converted again, then the kept copy dropped by a contract step: no way back after it.
    let mut with_contract = entries.clone();
    with_contract.push(
        entry!("pe_contract", ["pe_partition"], |m: &mut Migration| {
            m.drop_unpartitioned_copy("events")
        })
        .with_contract(),
    );
    m.close().await.unwrap();
    let mut m = migrator(&db, with_contract).await;
    assert_eq!(
        m.up().await.unwrap().applied,
        ["pe_partition", "pe_contract"]
    );
    let kept = count(
        m.connection(),
        &format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '{KEPT}'"),
    )
    .await;
    assert_eq!(kept, 0, "the contract step dropped the kept copy");
    let error = m
        .downgrade(&[Target::id("pe_partition")])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("cannot be swapped back"), "{error}");
    m.close().await.unwrap();
    db.drop().await;
}

/// PostgreSQL: a row that no partition holds stops the copy with the server's words, before
/// the swap: the table is as it was, taking writes, and the shadow is not in its way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_no_partition_holds_fails_the_copy_before_the_swap() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let entries = sets::partition_events();
    let mut m = events_ready(&db, 5_000).await;
    m.connection()
        .execute("UPDATE events SET created_on = '2025-12-31' WHERE id = 4321")
        .await
        .unwrap();
    let before = rows_of(m.connection(), "events").await;
    let error = m.up().await.unwrap_err().to_string();
    assert!(
        error.contains("no partition of relation") && error.contains("2025-12-31"),
        "the server names the row: {error}"
    );
    assert_eq!(rows_of(m.connection(), "events").await, before);
    let schema = model(&entries, &["pe_table"], Dialect::Postgres);
    assert_live_matches(m.connection(), &schema, OWN, "after the failed copy").await;
    m.connection()
        .execute("INSERT INTO events (created_on, kind) VALUES ('2026-03-03', 'after')")
        .await
        .expect("the table takes writes");
    m.close().await.unwrap();
    db.drop().await;
}

/// PostgreSQL: SIGKILL midway through the copy; the rerun goes on from its checkpoint, and
/// no row is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_conversion_resumes_from_its_checkpoint() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let entries = sets::partition_events();
    let mut m = events_ready(&db, 100_000).await;
    let before = rows_of(m.connection(), "events").await;
    m.close().await.unwrap();
    let killed_at = killed_midway("partition_events", &db.url, 20_000);

    let mut m = migrator(&db, entries.clone()).await;
    let copied = count(
        m.connection(),
        "SELECT COUNT(*) FROM _godwit_partitioned_events",
    )
    .await;
    assert!(
        copied as u64 >= killed_at && copied < 100_000,
        "the killed run copied {copied} rows, {killed_at} of them reported"
    );
    let status = m.status().await.unwrap();
    let partial = status
        .migrations
        .iter()
        .find(|s| s.id == "pe_partition")
        .unwrap();
    assert!(
        matches!(
            partial.state,
            godwit::runner::State::Partial { ops_done: 0, .. }
        ),
        "{:?}",
        partial.state
    );
    assert!(partial.backfills[0].rows_done >= killed_at);
    let refused = m
        .downgrade(&[Target::base()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("converts `events` to a partitioned table and stopped"),
        "{refused}"
    );
    assert_eq!(m.up().await.unwrap().applied, ["pe_partition"]);
    assert_eq!(rows_of(m.connection(), "events").await, before);
    let schema = model(&entries, &["pe_table", "pe_partition"], Dialect::Postgres);
    assert_live_matches(m.connection(), &schema, OWN, "after the resumed run").await;
    m.close().await.unwrap();
    db.drop().await;
}

/// `verify` runs the conversion up, down and up again on a scratch database: in one
/// transaction on PostgreSQL, shadow, copy, swap and swap back included.
async fn a_conversion_proves_its_round_trip(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, sets::partition_events()).await;
    if dialect == Dialect::Sqlite {
        let refused = format!("{:?}", m.verify(false).await);
        assert!(
            refused.contains("SQLite has no table partitioning"),
            "{refused}"
        );
        m.close().await.unwrap();
        db.drop().await;
        return;
    }
    let report = m.verify(false).await.unwrap();
    for trip in &report.migrations {
        assert!(trip.ok(), "{trip:?}");
    }
    assert_eq!(report.migrations.len(), 2);
    assert_eq!(
        report.migrations[1].in_one_transaction,
        dialect == Dialect::Postgres
    );
    m.close().await.unwrap();
    db.drop().await;
}

/// PostgreSQL: a delete in a REPEATABLE READ transaction whose snapshot is older than the batch
/// that copied its row cannot see that copy; the conversion removes it before it counts, so
/// the deleted row does not come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_from_an_older_snapshot_stays_deleted() {
    use std::io::BufRead;
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let mut m = events_ready(&db, 100_000).await;
    let mut older = db.connect().await;
    older
        .execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    assert_eq!(
        count(&mut older, "SELECT COUNT(*) FROM events").await,
        100_000
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_godwit-test-runner"))
        .args(["partition_events", &db.url, "up"])
        .env("GODWIT_TEST_BATCH_PAUSE_MS", "3")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn a runner");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Row 10 is in the first batch: copied once a batch after it is.
    loop {
        let line = lines.next().expect("the runner ended early").unwrap();
        if line.starts_with("event BackfillProgress") && !line.contains("rows_done: 0,") {
            break;
        }
    }
    older
        .execute("DELETE FROM events WHERE id = 10")
        .await
        .unwrap();
    older.execute("COMMIT").await.unwrap();
    older.close().await.ok();
    let last = lines.last().expect("the runner's last line").unwrap();
    assert!(child.wait().unwrap().success(), "{last}");
    assert_eq!(last, "applied pe_partition");
    let mut before = rows_of(m.connection(), KEPT).await;
    assert!(!before.contains_key(&10));
    assert_eq!(rows_of(m.connection(), "events").await, before);
    before.clear();
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM events").await,
        99_999
    );
    m.close().await.unwrap();
    db.drop().await;
}

/// A partitioned table copies between systems: a converted PostgreSQL table (and not the copy
/// it keeps) to MariaDB, whose copy of the model partitions it the MySQL way, each row in its
/// month.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_table_copies_between_dialects() {
    use godwit::copy::{self, CopyOptions};
    let Some(from) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let Some(to) = TestDb::create(Dialect::Mysql).await else {
        from.drop().await;
        return;
    };
    let entries = sets::partition_events();
    let mut m = events_ready(&from, 5_000).await;
    assert_eq!(m.up().await.unwrap().applied, ["pe_partition"]);
    let rows = rows_of(m.connection(), "events").await;
    m.close().await.unwrap();

    let reject_file = std::env::temp_dir().join(format!(
        "godwit-rejects-partitions-{}.jsonl",
        std::process::id()
    ));
    let options = CopyOptions {
        batch_size: 700,
        reject_file: reject_file.clone(),
        ..Default::default()
    };
    let report = copy::copy(
        &sets::registry(entries.clone()),
        &from.url,
        &to.url,
        &options,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.rows_copied(), 5_000);
    assert_eq!(report.rows_rejected(), 0);
    let mut target = migrator(&to, entries.clone()).await;
    assert_eq!(rows_of(target.connection(), "events").await, rows);
    for month in 1..=12 {
        let prefix = format!("2026-{month:02}-");
        let in_month = rows.values().filter(|r| r.0.starts_with(&prefix)).count();
        let name = format!("events_2026_{month:02}");
        assert_eq!(
            in_partition(target.connection(), &name).await,
            in_month as i64
        );
    }
    let schema = model(&entries, &["pe_table", "pe_partition"], Dialect::Mysql);
    let own = [
        HISTORY,
        "godwit_migrations_backfills",
        "godwit_migrations_copies",
    ];
    assert_live_matches(target.connection(), &schema, &own, "after the copy").await;
    target.close().await.unwrap();
    let _ = std::fs::remove_file(reject_file);
    from.drop().await;
    to.drop().await;
}
