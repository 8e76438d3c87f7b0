//! Backfills on the real servers: the result of one `UPDATE`, resumed after SIGKILL, stopped at
//! a failing batch with nothing after it changed, and a concurrent writer never held up for
//! long.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use godwit::Migrator;
use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::{Event, RunError, State};
use godwit_tests::sets;
use godwit_tests::testdb::TestDb;

use godwit_tests::matrix::assert_live_matches;

use crate::common::{HISTORY, count, killed_midway, migrator, model, numbers, on_every_dialect};

on_every_dialect!(
    backfill_ends_as_one_update_would,
    killed_backfill_resumes_from_its_checkpoint,
    killed_parallel_backfill_resumes_each_slice,
    failing_batch_stops_naming_its_keys,
    concurrent_writer_waits_at_most_a_batch,
    locked_batch_runs_again_smaller,
    rejected_expression_fails_before_any_row,
    expand_applies_exactly_the_expand_side,
    contract_refuses_while_its_backfill_is_unfinished,
    backfill_of_a_later_life_starts_afresh,
    one_transaction_holds_the_backfill_too,
    batch_size_adapts_to_a_target_batch_time,
    parallel_slices_end_as_one_update_would,
);

const CHECKPOINTS: &str = "godwit_migrations_backfills";

/// Inserts `rows` people with ids 1..=rows; every hundredth has its full name already.
async fn seed(conn: &mut godwit::db::Connection, rows: u64) {
    let dialect = conn.dialect();
    let concat = |parts: &str| match dialect {
        Dialect::Mysql => format!("CONCAT({})", parts.replace(" || ", ", ")),
        _ => parts.to_owned(),
    };
    let text = |n: &str| match dialect {
        Dialect::Mysql => format!("CAST({n} AS CHAR)"),
        _ => format!("CAST({n} AS TEXT)"),
    };
    let numbers = numbers(conn, rows).await;
    let sql = format!(
        "INSERT INTO bf_users (id, first_name, last_name, full_name) \
         SELECT n, {}, {}, CASE WHEN n % 100 = 0 THEN 'preset' ELSE NULL END FROM ({numbers}) AS s",
        concat(&format!("'first ' || {}", text("n"))),
        concat(&format!("'last ' || {}", text("n"))),
    );
    conn.execute(&sql).await.expect("seed the table");
}

/// The single UPDATE the backfill stands for, on a copy of the table made now.
async fn expected_copy(conn: &mut godwit::db::Connection) {
    let full_name = match conn.dialect() {
        Dialect::Mysql => "CONCAT(first_name, ' ', last_name)",
        _ => "first_name || ' ' || last_name",
    };
    conn.execute("CREATE TABLE bf_expected AS SELECT * FROM bf_users")
        .await
        .expect("copy the table");
    conn.execute("CREATE UNIQUE INDEX ix_bf_expected_id ON bf_expected (id)")
        .await
        .expect("index the copy");
    conn.execute(&format!(
        "UPDATE bf_expected SET full_name = {full_name} WHERE full_name IS NULL"
    ))
    .await
    .expect("one UPDATE");
}

/// Rows whose full name differs from the copy's.
async fn differing(conn: &mut godwit::db::Connection) -> i64 {
    let distinct = match conn.dialect() {
        Dialect::Postgres => "u.full_name IS DISTINCT FROM e.full_name",
        Dialect::Mysql => "NOT (u.full_name <=> e.full_name)",
        Dialect::Sqlite => "u.full_name IS NOT e.full_name",
    };
    count(
        conn,
        &format!(
            "SELECT COUNT(*) FROM bf_users u LEFT JOIN bf_expected e ON e.id = u.id \
             WHERE e.id IS NULL OR {distinct}"
        ),
    )
    .await
}

async fn table_ready(db: &TestDb, rows: u64) -> Migrator {
    let mut m = migrator(db, sets::backfill()).await;
    m.upgrade(&[Target::id("bf_table")]).await.unwrap();
    seed(m.connection(), rows).await;
    m
}

fn recorded(m: Migrator) -> (Migrator, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let m = m.on_event(move |e| sink.lock().unwrap().push(e.clone()));
    (m, events)
}

/// `(rows_done, rows_changed, done)` of each progress event.
fn progress(events: &Mutex<Vec<Event>>) -> Vec<(u64, u64, bool)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::BackfillProgress {
                rows_done,
                rows_changed,
                done,
                ..
            } => Some((*rows_done, *rows_changed, *done)),
            _ => None,
        })
        .collect()
}

async fn backfill_ends_as_one_update_would(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = sets::backfill();
    let m = table_ready(&db, 200_000).await;
    let (mut m, events) = recorded(m);
    expected_copy(m.connection()).await;
    assert_eq!(m.up().await.unwrap().applied, ["bf_fill"]);
    assert_eq!(differing(m.connection()).await, 0);
    let trail = progress(&events);
    assert!(
        trail.len() >= 200,
        "a batch of 1,000 at a time: {}",
        trail.len()
    );
    assert_eq!(trail.last(), Some(&(200_000, 198_000, true)));
    assert!(
        trail.windows(2).all(|w| w[0].0 <= w[1].0),
        "rows done only grow"
    );
    let status = m.status().await.unwrap();
    let fill = status
        .migrations
        .iter()
        .find(|s| s.id == "bf_fill")
        .unwrap();
    assert_eq!(fill.state, State::Applied);
    assert_eq!(fill.backfills.len(), 1);
    assert!(fill.backfills[0].done);
    assert_eq!(fill.backfills[0].rows_done, 200_000);
    let own = [HISTORY, CHECKPOINTS, "bf_expected"];
    let schema = model(&entries, &["bf_table", "bf_fill"], dialect);
    assert_live_matches(m.connection(), &schema, &own, "after the backfill").await;

    // Down runs the reverse in batches too, and up again starts afresh.
    m.downgrade(&[Target::id("bf_table")]).await.unwrap();
    assert_eq!(
        count(
            m.connection(),
            "SELECT COUNT(*) FROM bf_users WHERE full_name IS NOT NULL"
        )
        .await,
        0
    );
    let schema = model(&entries, &["bf_table"], dialect);
    assert_live_matches(m.connection(), &schema, &own, "after its revert").await;
    events.lock().unwrap().clear();
    m.up().await.unwrap();
    assert_eq!(
        progress(&events).last(),
        Some(&(200_000, 200_000, true)),
        "the second up redoes every row: the revert cleared the presets too"
    );
    m.close().await.unwrap();
    db.drop().await;
}

async fn killed_backfill_resumes_from_its_checkpoint(dialect: Dialect) {
    killed_and_resumed(dialect, "backfill").await;
}

async fn killed_parallel_backfill_resumes_each_slice(dialect: Dialect) {
    killed_and_resumed(dialect, "backfill_parallel").await;
}

/// Runs set `set` in a process of its own, SIGKILLs it midway through its backfill, and
/// reruns it here.
async fn killed_and_resumed(dialect: Dialect, set: &str) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = table_ready(&db, 200_000).await;
    expected_copy(m.connection()).await;
    m.close().await.unwrap();
    let killed_at = killed_midway(set, &db.url, 30_000);

    let entries = sets::by_name(set).expect("a known set");
    let (mut m, events) = recorded(migrator(&db, entries).await);
    let slices = count(
        m.connection(),
        &format!("SELECT COUNT(*) FROM {CHECKPOINTS}"),
    )
    .await;
    let side_by_side = set == "backfill_parallel" && dialect != Dialect::Sqlite;
    assert_eq!(
        slices,
        if side_by_side { 4 } else { 1 },
        "a checkpoint per slice"
    );
    let status = m.status().await.unwrap();
    let fill = status
        .migrations
        .iter()
        .find(|s| s.id == "bf_fill")
        .unwrap();
    assert!(
        matches!(fill.state, State::Partial { ops_done: 0, .. }),
        "{:?}",
        fill.state
    );
    let at = &fill.backfills[0];
    assert!(!at.done);
    assert!(
        at.rows_done >= killed_at && at.rows_done < 200_000,
        "{at:?}"
    );
    assert!(at.estimated_total >= 190_000, "{at:?}");
    let left = count(
        m.connection(),
        "SELECT COUNT(*) FROM bf_users WHERE full_name IS NULL",
    )
    .await;
    assert_eq!(m.up().await.unwrap().applied, ["bf_fill"]);
    let trail = progress(&events);
    let first = trail.first().expect("progress").0;
    // One batch after the checkpoint; smaller when it waited on a lock the killed run's
    // sessions still held while the server rolled them back.
    assert!(
        first > at.rows_done && first <= at.rows_done + 1_000,
        "it goes on after the last batch committed: {first} after {}",
        at.rows_done
    );
    assert!(left > 0 && left < 198_000, "the rerun changed {left} rows");
    assert_eq!(trail.last().unwrap().1, 198_000, "every row changed once");
    assert_eq!(differing(m.connection()).await, 0);
    m.close().await.unwrap();
    db.drop().await;
}

async fn failing_batch_stops_naming_its_keys(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let m = table_ready(&db, 20_000).await;
    let (mut m, events) = recorded(m);
    m.connection()
        .execute(&format!(
            "UPDATE bf_users SET first_name = '{}' WHERE id = 10501",
            "x".repeat(70)
        ))
        .await
        .unwrap();
    let error = m.up().await.unwrap_err().to_string();
    assert!(error.contains("id in (10000, 11000]"), "{error}");
    assert!(error.contains("bf_users"), "{error}");
    let filled = |range: &str| {
        format!(
            "SELECT COUNT(*) FROM bf_users WHERE full_name IS NOT NULL AND full_name <> 'preset' AND {range}"
        )
    };
    assert_eq!(count(m.connection(), &filled("id <= 10000")).await, 9_900);
    assert_eq!(count(m.connection(), &filled("id > 10000")).await, 0);
    // Reverting now would leave the committed batches changed: refused, until it is finished.
    let refused = m
        .downgrade(&[Target::base()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("op 1 is a backfill of `bf_users` that stopped after 10000 rows"),
        "{refused}"
    );

    m.connection()
        .execute("UPDATE bf_users SET first_name = 'x' WHERE id = 10501")
        .await
        .unwrap();
    events.lock().unwrap().clear();
    assert_eq!(m.up().await.unwrap().applied, ["bf_fill"]);
    assert_eq!(progress(&events).first().unwrap().0, 11_000);
    assert_eq!(count(m.connection(), &filled("id > 0")).await, 19_800);
    m.close().await.unwrap();
    db.drop().await;
}

async fn concurrent_writer_waits_at_most_a_batch(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = table_ready(&db, 50_000).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = db.connect().await;
    if dialect == Dialect::Sqlite {
        writer.execute("PRAGMA busy_timeout = 10000").await.unwrap();
    }
    let writer_stop = stop.clone();
    let writes = tokio::spawn(async move {
        let mut slowest = Duration::ZERO;
        let mut count = 0u64;
        let mut next_id = 1_000_000u64;
        let mut seed = 7u64;
        while !writer_stop.load(Ordering::Relaxed) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = 1 + (seed >> 33) % 50_000;
            let started = Instant::now();
            writer
                .execute(&format!(
                    "UPDATE bf_users SET score = score + 1 WHERE id = {id}"
                ))
                .await
                .expect("a concurrent update");
            writer
                .execute(&format!(
                    "INSERT INTO bf_users (id, first_name, last_name, full_name) \
                     VALUES ({next_id}, 'new', 'row', 'new row')"
                ))
                .await
                .expect("a concurrent insert");
            slowest = slowest.max(started.elapsed());
            next_id += 1;
            count += 2;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        (slowest, count)
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(m.up().await.unwrap().applied, ["bf_fill"]);
    stop.store(true, Ordering::Relaxed);
    let (slowest, writes) = writes.await.unwrap();
    assert!(writes > 10, "the writer wrote {writes} times");
    assert!(
        slowest < Duration::from_secs(2),
        "a write waited {slowest:?} on the backfill"
    );
    assert_eq!(
        count(
            m.connection(),
            "SELECT COUNT(*) FROM bf_users WHERE full_name IS NULL"
        )
        .await,
        0
    );
    m.close().await.unwrap();
    db.drop().await;
}

/// `bf_fill` at 30 ms between batches, for a test to act between them.
fn paced_fill(m: &mut Migration) {
    sets::full_names(m).pause(Duration::from_millis(30));
}

async fn locked_batch_runs_again_smaller(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        godwit_tests::entry!("bf_table", [], sets::bf_table),
        godwit_tests::entry!("bf_fill", ["bf_table"], paced_fill),
    ];
    let mut m = migrator(&db, entries).await;
    m.upgrade(&[Target::id("bf_table")]).await.unwrap();
    seed(m.connection(), 5_000).await;
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let mut m = m
        .lock_timeout(Duration::from_millis(200))
        .ddl_lock_timeout(Duration::from_millis(200))
        .retries(10)
        .on_event(move |e| {
            if matches!(e, Event::BackfillProgress { .. }) {
                let _ = started_tx.send(());
            }
            sink.lock().unwrap().push(e.clone());
        });
    // Once the first batch is in, another session holds row 2501 (SQLite: the write lock) for
    // longer than a batch may wait.
    let mut holder = db.connect().await;
    let hold = match dialect {
        Dialect::Mysql => Duration::from_millis(2_500),
        _ => Duration::from_millis(900),
    };
    let holding = tokio::spawn(async move {
        started.recv().await.expect("the backfill starts");
        let begin = match dialect {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        };
        holder.execute(begin).await.unwrap();
        holder
            .execute("UPDATE bf_users SET score = 1 WHERE id = 2501")
            .await
            .unwrap();
        tokio::time::sleep(hold).await;
        holder.execute("COMMIT").await.unwrap();
    });
    assert_eq!(m.up().await.unwrap().applied, ["bf_fill"]);
    holding.await.unwrap();
    let retried: Vec<u32> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::BatchRetrying { batch_size, .. } => Some(*batch_size),
            _ => None,
        })
        .collect();
    assert!(
        retried.contains(&500),
        "a timed-out batch runs again halved: {retried:?}"
    );
    assert_eq!(progress(&events).last(), Some(&(5_000, 4_950, true)));
    assert_eq!(
        count(
            m.connection(),
            "SELECT COUNT(*) FROM bf_users WHERE full_name IS NULL"
        )
        .await,
        0
    );
    m.close().await.unwrap();
    db.drop().await;
}

fn bad_fill(m: &mut Migration) {
    m.backfill("bf_users")
        .set("full_name", "no_such_function(first_name)")
        .only("full_name IS NULL");
}

async fn rejected_expression_fails_before_any_row(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        godwit_tests::entry!("bf_table", [], sets::bf_table),
        godwit_tests::entry!("bf_fill", ["bf_table"], bad_fill),
    ];
    let mut m = migrator(&db, entries).await;
    m.upgrade(&[Target::id("bf_table")]).await.unwrap();
    seed(m.connection(), 3_000).await;
    let error = m.up().await.unwrap_err().to_string();
    assert!(
        error.contains(&format!(
            "the update of `bf_users` does not prepare on {dialect}"
        )),
        "{error}"
    );
    assert!(error.contains("no_such_function"), "{error}");
    assert!(error.contains("set_on"), "{error}");
    assert_eq!(
        count(
            m.connection(),
            &format!("SELECT COUNT(*) FROM {CHECKPOINTS}")
        )
        .await,
        0,
        "no checkpoint: nothing started"
    );
    assert_eq!(
        count(
            m.connection(),
            "SELECT COUNT(*) FROM bf_users WHERE full_name IS NOT NULL AND full_name <> 'preset'"
        )
        .await,
        0
    );
    m.close().await.unwrap();
    db.drop().await;
}

/// `bf_table` → `bf_fill` → `bf_contract` (contract) → `bf_after`; `bf_index` beside them.
fn phased() -> Vec<godwit::registry::MigrationEntry> {
    fn contract(m: &mut Migration) {
        m.drop_column("bf_users", "first_name");
    }
    fn after(m: &mut Migration) {
        m.create_index("bf_users", "ix_bf_users_full_name", ["full_name"]);
    }
    fn beside(m: &mut Migration) {
        m.create_index("bf_users", "ix_bf_users_score", ["score"]);
    }
    vec![
        godwit_tests::entry!("bf_table", [], sets::bf_table),
        godwit_tests::entry!("bf_fill", ["bf_table"], sets::bf_fill),
        godwit_tests::entry!("bf_contract", ["bf_fill"], contract).with_contract(),
        godwit_tests::entry!("bf_after", ["bf_contract"], after),
        godwit_tests::entry!("bf_index", ["bf_table"], beside),
    ]
}

async fn expand_applies_exactly_the_expand_side(dialect: Dialect) {
    use godwit::registry::Phase;
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = phased();
    let mut m = migrator(&db, entries.clone()).await;
    m.upgrade(&[Target::id("bf_table")]).await.unwrap();
    seed(m.connection(), 5_000).await;
    let mut applied = m.up_expand().await.unwrap().applied;
    applied.sort();
    assert_eq!(applied, ["bf_fill", "bf_index"]);
    let status = m.status().await.unwrap();
    let phase = |id: &str| {
        status
            .migrations
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.phase)
    };
    assert_eq!(phase("bf_fill"), Some(Phase::Expand));
    assert_eq!(phase("bf_contract"), Some(Phase::Contract));
    assert_eq!(phase("bf_after"), Some(Phase::AfterContract));
    let states = crate::common::states(&status);
    assert_eq!(states["bf_contract"], State::Pending);
    assert_eq!(states["bf_after"], State::Pending);
    let schema = model(&entries, &["bf_table", "bf_fill", "bf_index"], dialect);
    assert_live_matches(
        m.connection(),
        &schema,
        &[HISTORY, CHECKPOINTS],
        "after --expand",
    )
    .await;
    assert!(m.up_expand().await.unwrap().nothing_to_do());

    assert_eq!(m.up().await.unwrap().applied, ["bf_contract", "bf_after"]);
    let all = ["bf_table", "bf_fill", "bf_index", "bf_contract", "bf_after"];
    let schema = model(&entries, &all, dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY, CHECKPOINTS], "after up").await;
    m.close().await.unwrap();
    db.drop().await;
}

async fn contract_refuses_while_its_backfill_is_unfinished(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut m = migrator(&db, phased()).await;
    m.upgrade(&[Target::id("bf_table")]).await.unwrap();
    seed(m.connection(), 5_000).await;

    // Recorded as applied without running: its backfill never ran.
    m.stamp(&[Target::id("bf_fill")]).await.unwrap();
    let error = m.up().await.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(&error, RunError::BackfillUnfinished { contract, migration, .. } if contract == "bf_contract" && migration == "bf_fill"),
        "{text}"
    );
    assert!(text.contains("it never ran"), "{text}");
    let states = crate::common::states(&m.status().await.unwrap());
    assert_eq!(
        states["bf_contract"],
        State::Pending,
        "refused before anything ran"
    );
    assert_eq!(states["bf_index"], State::Pending);

    // Stopped at a failing batch, then recorded as applied: the contract names its progress.
    m.stamp(&[Target::id("bf_table")]).await.unwrap();
    m.connection()
        .execute(&format!(
            "UPDATE bf_users SET first_name = '{}' WHERE id = 2501",
            "x".repeat(70)
        ))
        .await
        .unwrap();
    m.upgrade(&[Target::id("bf_fill")]).await.unwrap_err();
    m.stamp(&[Target::id("bf_fill")]).await.unwrap();
    let text = m.up().await.unwrap_err().to_string();
    assert!(text.contains("stopped after 2000 of about"), "{text}");
    assert!(text.contains("backfill of `bf_users`"), "{text}");

    // Done, it lets the contract run.
    m.connection()
        .execute("UPDATE bf_users SET first_name = 'x' WHERE id = 2501")
        .await
        .unwrap();
    m.downgrade(&[Target::id("bf_table")]).await.unwrap();
    m.up().await.unwrap();
    let states = crate::common::states(&m.status().await.unwrap());
    assert_eq!(states["bf_after"], State::Applied);
    m.close().await.unwrap();
    db.drop().await;
}

fn seeded_table(m: &mut Migration) {
    sets::bf_table(m);
    m.sql("INSERT INTO bf_users (id, first_name, last_name) VALUES (1, 'Ada', 'Lovelace'), (2, 'Alan', 'Turing')")
        .reverse("DELETE FROM bf_users");
}

/// Applied, reverted, applied again in one run: the second life's backfill runs, whatever
/// the first one's checkpoint says (here, the job before it records its start).
async fn backfill_of_a_later_life_starts_afresh(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        godwit_tests::entry!("bf_table", [], seeded_table),
        godwit_tests::entry!("bf_fill", ["bf_table"], sets::bf_fill),
    ];
    let mut m = migrator(&db, entries).await;
    let filled = "SELECT COUNT(*) FROM bf_users WHERE full_name IS NOT NULL";
    for life in 1..=2 {
        assert_eq!(m.up().await.unwrap().applied, ["bf_table", "bf_fill"]);
        assert_eq!(count(m.connection(), filled).await, 2, "life {life}");
        m.downgrade(&[Target::base()]).await.unwrap();
    }
    m.close().await.unwrap();
    db.drop().await;
}

fn seeded_with_a_bad_row(m: &mut Migration) {
    seeded_table(m);
    m.sql(&format!(
        "INSERT INTO bf_users (id, first_name, last_name) VALUES (3, '{}', 'x')",
        "y".repeat(70)
    ))
    .reverse("DELETE FROM bf_users WHERE id = 3");
}

/// In a run that is one transaction, a backfill's batches are part of it: a failing one
/// leaves nothing of the run, and a good run commits once.
async fn one_transaction_holds_the_backfill_too(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    if dialect == Dialect::Mysql {
        db.drop().await;
        return;
    }
    let bad = vec![
        godwit_tests::entry!("bf_table", [], seeded_with_a_bad_row),
        godwit_tests::entry!("bf_fill", ["bf_table"], sets::bf_fill),
    ];
    let mut m = migrator(&db, bad).await.single_transaction(true);
    let error = m.up().await.unwrap_err().to_string();
    assert!(error.contains("rolled back"), "{error}");
    assert!(crate::common::tables(m.connection()).await.is_empty());
    m.close().await.unwrap();

    let good = vec![
        godwit_tests::entry!("bf_table", [], seeded_table),
        godwit_tests::entry!("bf_fill", ["bf_table"], sets::bf_fill),
    ];
    let mut m = migrator(&db, good).await.single_transaction(true);
    assert_eq!(m.up().await.unwrap().applied, ["bf_table", "bf_fill"]);
    let filled = "SELECT COUNT(*) FROM bf_users WHERE full_name IS NOT NULL";
    assert_eq!(count(m.connection(), filled).await, 2);
    // Its checkpoint committed with the run: a contract after it may run.
    let done = format!("SELECT COUNT(*) FROM {CHECKPOINTS} WHERE state = 'done'");
    assert_eq!(count(m.connection(), &done).await, 1);
    m.downgrade(&[Target::base()]).await.unwrap();
    m.close().await.unwrap();
    db.drop().await;
}

/// Batches aimed at 1 µs: each takes longer, so the size shrinks (in proportion, to no less
/// than a hundredth of 500); aimed at 10 s, it grows by a fifth a batch.
fn adapting_fill(m: &mut Migration) {
    sets::full_names(m)
        .batch_size(500)
        .target_batch_time(Duration::from_micros(1));
}

fn growing_fill(m: &mut Migration) {
    sets::full_names(m)
        .batch_size(100)
        .target_batch_time(Duration::from_secs(10));
}

async fn batch_size_adapts_to_a_target_batch_time(dialect: Dialect) {
    for (fill, expected) in [
        (adapting_fill as fn(&mut Migration), "shrinks"),
        (growing_fill, "grows"),
    ] {
        let Some(db) = TestDb::create(dialect).await else {
            return;
        };
        let entries = vec![
            godwit_tests::entry!("bf_table", [], sets::bf_table),
            godwit_tests::entry!("bf_fill", ["bf_table"], fill),
        ];
        let mut m = migrator(&db, entries).await;
        m.upgrade(&[Target::id("bf_table")]).await.unwrap();
        seed(m.connection(), 3_000).await;
        let (mut m, events) = recorded(m);
        m.up().await.unwrap();
        let sizes: Vec<u32> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::BackfillProgress {
                    batch_size,
                    done: false,
                    ..
                } => Some(*batch_size),
                _ => None,
            })
            .collect();
        match expected {
            "shrinks" => {
                assert!(sizes.iter().all(|&s| s < 500), "{sizes:?}");
                assert_eq!(sizes.last(), Some(&5), "down to its bound: {sizes:?}");
            }
            _ => assert_eq!(
                &sizes[..4],
                [120, 144, 173, 208],
                "+20 % a batch: {sizes:?}"
            ),
        }
        assert_eq!(
            count(
                m.connection(),
                "SELECT COUNT(*) FROM bf_users WHERE full_name IS NULL"
            )
            .await,
            0
        );
        m.close().await.unwrap();
        db.drop().await;
    }
}

fn parallel_fill(m: &mut Migration) {
    sets::full_names(m).parallel(4);
}

/// Four slices on four connections (SQLite, one writer at a time: one slice), each with its
/// checkpoint, told as one backfill.
async fn parallel_slices_end_as_one_update_would(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = || {
        vec![
            godwit_tests::entry!("bf_table", [], sets::bf_table),
            godwit_tests::entry!("bf_fill", ["bf_table"], parallel_fill),
        ]
    };
    let registry = || godwit_tests::sets::registry(entries());
    let mut m = Migrator::connect_with_registry(&db.url, registry())
        .await
        .unwrap();
    m.upgrade(&[Target::id("bf_table")]).await.unwrap();
    seed(m.connection(), 20_003).await;
    expected_copy(m.connection()).await;
    let (mut m, events) = recorded(m);
    assert_eq!(m.up().await.unwrap().applied, ["bf_fill"]);
    assert_eq!(differing(m.connection()).await, 0);
    let slices = count(
        m.connection(),
        &format!("SELECT COUNT(*) FROM {CHECKPOINTS}"),
    )
    .await;
    let expected_slices = if dialect == Dialect::Sqlite { 1 } else { 4 };
    assert_eq!(slices, expected_slices);
    let trail = progress(&events);
    assert_eq!(
        trail.last(),
        Some(&(20_003, 19_803, true)),
        "one end, summed over slices"
    );
    assert_eq!(trail.iter().filter(|p| p.2).count(), 1, "done once");
    let status = m.status().await.unwrap();
    let fill = status
        .migrations
        .iter()
        .find(|s| s.id == "bf_fill")
        .unwrap();
    assert_eq!(fill.backfills.len(), 1, "the slices show as one backfill");
    assert_eq!(fill.backfills[0].rows_done, 20_003);
    m.downgrade(&[Target::id("bf_table")]).await.unwrap();
    assert_eq!(
        count(
            m.connection(),
            "SELECT COUNT(*) FROM bf_users WHERE full_name IS NOT NULL"
        )
        .await,
        0
    );
    m.close().await.unwrap();
    db.drop().await;
}
