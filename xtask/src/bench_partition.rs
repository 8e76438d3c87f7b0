//! `cargo xtask bench partition`: godwit's online conversion of a PostgreSQL table to a
//! partitioned one (`m.partition_table`) against the offline recipe, in the same run, each with
//! a concurrent writer.
//!
//! Each side gets a fresh database holding the same table of `--rows` rows (default 1,000,000)
//! spread over the days of 2026, seeded and settled before it is timed:
//! - godwit: `partition_table` by month (twelve partitions), copied in batches of 1,000 while a
//!   trigger carries writes over, counted and swapped, run by `Migrator::up()`;
//! - offline: one transaction that locks the table against writes (else they would be lost),
//!   creates the partitioned table and its partitions, copies every row with one
//!   `INSERT … SELECT`, and swaps the names.
//!
//! While each side runs, a writer adds 1 to the score of one random row every 1 ms; afterwards
//! the scores must add up to its writes, so that no write was lost. The table shows each side's
//! rows per second, godwit's over the offline recipe's, and the writer's p50 / p99 / max
//! latency during each. The sides take turns going first across `--runs` (default 1).
//! Measure a release build: `cargo run --release -p xtask -- bench partition`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use godwit::db::Connection;
use godwit::graph::Target;
use godwit::op::PartitionBound;
use godwit::registry::{Location, MigrationEntry, Registry};
use godwit::{Dialect, Migration, Migrator};

use crate::bench_apply::{Scratch, settle};
use crate::bench_backfill::{Timed, compared, write_until};

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut runs = 1usize;
    let mut rows = 1_000_000u64;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut number = |what: &str| {
            args.next()
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|&n| n > 0)
                .ok_or(format!("{what} takes a positive number"))
        };
        match *arg {
            "--runs" => runs = number("--runs")? as usize,
            "--rows" => rows = number("--rows")?,
            other => {
                return Err(format!(
                    "unknown option `{other}`; bench partition [--runs N] [--rows N]"
                ));
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(bench(runs, rows))
}

async fn bench(runs: usize, rows: u64) -> Result<(), String> {
    println!(
        "PostgreSQL: {rows} rows made partitioned by month, godwit's online conversion against \
         the offline recipe, with a writer updating one random row every 1 ms; {runs} run(s)\n"
    );
    println!(
        "| godwit rows/s | offline rows/s | godwit / offline | writer p50 / p99 / max during godwit's | during the offline one |"
    );
    println!("|---:|---:|---:|---|---|");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let godwit_first = run % 2 == 0;
        for godwit in [godwit_first, !godwit_first] {
            let timed = time_side(rows, godwit).await?;
            match godwit {
                true => ours.push(timed),
                false => theirs.push(timed),
            }
        }
    }
    println!("{}", compared(rows, &ours, &theirs));
    Ok(())
}

fn month(m: u32) -> String {
    match m {
        13 => "2027-01-01".to_owned(),
        m => format!("2026-{m:02}-01"),
    }
}

fn table(m: &mut Migration) {
    m.create_table("bench_events", |t| {
        t.bigint("id").not_null().primary_key();
        t.date("created_on").not_null();
        t.integer("score").not_null().default(0);
        t.text("payload");
    });
}

fn convert(m: &mut Migration) {
    m.partition_table("bench_events", |p| {
        p.by_range(["created_on"]);
        p.primary_key(["id", "created_on"]);
        for i in 1..=12 {
            p.partition(
                &format!("bench_events_{i:02}"),
                PartitionBound::range(month(i), month(i + 1)),
            );
        }
    });
}

fn registry() -> Result<Registry, String> {
    let location = Location::new(module_path!(), file!(), line!());
    Registry::from_entries([
        MigrationEntry::new("bench_table", &[], table, location),
        MigrationEntry::new("bench_convert", &["bench_table"], convert, location),
    ])
    .map_err(|e| e.to_string())
}

/// The offline recipe, in one transaction.
fn offline_sql() -> String {
    let mut sql = String::from(
        "BEGIN;\nLOCK TABLE bench_events IN EXCLUSIVE MODE;\n\
         CREATE TABLE bench_events_new (id bigint NOT NULL, created_on date NOT NULL, \
         score integer NOT NULL DEFAULT 0, payload text, PRIMARY KEY (id, created_on)) \
         PARTITION BY RANGE (created_on);\n",
    );
    for i in 1..=12 {
        sql.push_str(&format!(
            "CREATE TABLE bench_events_{i:02} PARTITION OF bench_events_new FOR VALUES FROM ('{}') TO ('{}');\n",
            month(i),
            month(i + 1)
        ));
    }
    sql.push_str(
        "INSERT INTO bench_events_new SELECT id, created_on, score, payload FROM bench_events;\n\
         ALTER TABLE bench_events RENAME TO bench_events_old;\n\
         ALTER TABLE bench_events_new RENAME TO bench_events;\nCOMMIT",
    );
    sql
}

async fn time_side(rows: u64, godwit: bool) -> Result<Timed, String> {
    let db = Scratch::create(Dialect::Postgres).await?;
    let mut migrator =
        Migrator::with_registry(db.connect().await?, registry()?).map_err(|e| e.to_string())?;
    migrator
        .upgrade(&[Target::id("bench_table")])
        .await
        .map_err(|e| e.to_string())?;
    seed(migrator.connection(), rows).await?;
    settle(migrator.connection()).await?;
    let mut writer = db.connect().await?;
    // Waits as long as the offline recipe holds the table.
    writer
        .execute("SET lock_timeout = 0")
        .await
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(write_until(writer, "bench_events", rows, stop.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    if godwit {
        migrator.up().await.map_err(|e| e.to_string())?;
    } else {
        migrator
            .connection()
            .execute(&offline_sql())
            .await
            .map_err(|e| format!("the offline recipe: {e}"))?;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let writes = writing.await.map_err(|e| e.to_string())??;
    let totals = migrator
        .connection()
        .fetch_text("SELECT CAST(COUNT(*) AS TEXT), CAST(COALESCE(SUM(score), 0) AS TEXT) FROM bench_events")
        .await
        .map_err(|e| e.to_string())?;
    let got: Vec<u64> = totals[0]
        .iter()
        .map(|v| v.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0))
        .collect();
    if got != [rows, writes.len() as u64] {
        return Err(format!(
            "{}: the partitioned table has {} rows and a score total of {}, for {rows} rows and {} writes",
            if godwit { "godwit" } else { "offline" },
            got[0],
            got[1],
            writes.len()
        ));
    }
    migrator.close().await.map_err(|e| e.to_string())?;
    db.drop().await?;
    Ok(Timed { elapsed, writes })
}

/// `rows` events with ids 1..=rows over the days of 2026, with statistics.
async fn seed(conn: &mut Connection, rows: u64) -> Result<(), String> {
    conn.execute(&format!(
        "INSERT INTO bench_events (id, created_on, payload) \
         SELECT n, DATE '2026-01-01' + (n % 365)::int, 'payload ' || n \
         FROM generate_series(1, {rows}) AS g(n)"
    ))
    .await
    .map_err(|e| format!("seeding {rows} rows: {e}"))?;
    conn.execute("ANALYZE bench_events")
        .await
        .map_err(|e| e.to_string())
}
