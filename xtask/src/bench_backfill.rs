//! `cargo xtask bench backfill`: godwit's batched backfill against one `UPDATE` of the same
//! rows, in the same run, with a concurrent writer.
//!
//! Each side gets a fresh database holding the same table of `--rows` rows (default
//! 1,000,000), seeded and settled (see [`settle`]) before it is timed:
//! - godwit: a migration with `m.backfill(..)` (batches of 1,000, no pause) run by
//!   `Migrator::up()`, every batch its own transaction with its checkpoint;
//! - one UPDATE: the same SET and predicate as one statement in one transaction.
//!
//! While each side runs, a writer on its own connection updates one random row at a time,
//! 1 ms apart, and records how long each write takes. The table shows each side's rows per
//! second, godwit's over the single UPDATE's, and the writer's p50 / p99 / max latency during
//! each. `--pause MS` has the backfill wait between batches, which on SQLite (one writer at a
//! time, whose waiters poll) is what lets the writer in. The sides take turns going first across `--runs` (default 1); with several runs the
//! medians are shown. Measure a release build:
//! `cargo run --release -p xtask -- bench backfill`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use godwit::db::Connection;
use godwit::graph::Target;
use godwit::registry::{Location, MigrationEntry, Registry};
use godwit::{Dialect, Migration, Migrator};

use crate::bench_apply::{Scratch, median, positive, settle};

const BATCH_SIZE: u32 = 1_000;

/// `--pause`: the backfill's wait between batches (a migration function cannot capture it).
static PAUSE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut runs = 1usize;
    let mut rows = 1_000_000u64;
    let mut dialects = Dialect::ALL.to_vec();
    let mut pause = Duration::ZERO;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--runs" => runs = positive(arg, args.next())?,
            "--rows" => rows = positive(arg, args.next())?,
            "--pause" => {
                pause = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .map(Duration::from_millis)
                    .ok_or("--pause takes milliseconds")?;
            }
            "--dialects" => {
                dialects = args
                    .next()
                    .ok_or("--dialects takes a list, e.g. postgres,sqlite")?
                    .split(',')
                    .map(|name| {
                        Dialect::ALL
                            .into_iter()
                            .find(|d| d.name() == name)
                            .ok_or(format!("unknown dialect `{name}`: postgres, mysql, sqlite"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => {
                return Err(format!(
                    "unknown option `{other}`; bench backfill [--runs N] [--rows N] \
                     [--pause MS] [--dialects postgres,mysql,sqlite]"
                ));
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    PAUSE_MS.store(pause.as_millis() as u64, Ordering::Relaxed);
    runtime.block_on(bench(runs, rows, &dialects))
}

/// One side's run: how long it took and how long the writer's writes took meanwhile.
pub(crate) struct Timed {
    pub(crate) elapsed: Duration,
    pub(crate) writes: Vec<Duration>,
}

async fn bench(runs: usize, rows: u64, dialects: &[Dialect]) -> Result<(), String> {
    println!(
        "backfill of {rows} rows, batches of {BATCH_SIZE}, {} ms between batches, against one \
         UPDATE, with a writer updating one random row every 1 ms; {runs} run(s)\n",
        PAUSE_MS.load(Ordering::Relaxed)
    );
    println!(
        "| dialect | godwit rows/s | one UPDATE rows/s | godwit / UPDATE | writer p50 / p99 / max during the backfill | during the UPDATE |"
    );
    println!("|---|---:|---:|---:|---|---|");
    for &dialect in dialects {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for run in 0..runs {
            let godwit_first = run % 2 == 0;
            for side in [godwit_first, !godwit_first] {
                let timed = time_side(dialect, rows, side).await?;
                if side {
                    ours.push(timed);
                } else {
                    theirs.push(timed);
                }
            }
        }
        println!("| {} {}", dialect.name(), compared(rows, &ours, &theirs));
    }
    Ok(())
}

/// `| ours rows/s | theirs rows/s | ours / theirs | writer during ours | during theirs |`:
/// medians over the runs, each run's ratio of the two.
pub(crate) fn compared(rows: u64, ours: &[Timed], theirs: &[Timed]) -> String {
    let rate = |timed: &[Timed]| {
        median(timed.iter().map(|t| rows as f64 / t.elapsed.as_secs_f64())).unwrap_or(0.0)
    };
    let ratio = median(
        ours.iter()
            .zip(theirs)
            .map(|(o, t)| t.elapsed.as_secs_f64() / o.elapsed.as_secs_f64() * 100.0),
    )
    .unwrap_or(0.0);
    format!(
        "| {:.0} | {:.0} | {ratio:.0} % | {} | {} |",
        rate(ours),
        rate(theirs),
        latencies(ours),
        latencies(theirs)
    )
}

/// `p50 / p99 / max` of the writer's writes, medians over the runs.
pub(crate) fn latencies(timed: &[Timed]) -> String {
    let at = |quantile: f64| {
        median(timed.iter().map(|t| {
            let mut sorted = t.writes.clone();
            sorted.sort();
            let index = ((sorted.len() as f64 - 1.0) * quantile).round() as usize;
            sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        }))
        .unwrap_or(0.0)
    };
    format!("{:.1} / {:.1} / {:.0} ms", at(0.5), at(0.99), at(1.0))
}

fn table(m: &mut Migration) {
    m.create_table("bench_people", |t| {
        t.bigint("id").not_null().primary_key();
        t.string("first_name", 100).not_null();
        t.string("last_name", 100).not_null();
        t.string("full_name", 250);
        t.integer("score").not_null().default(0);
    });
}

const FULL_NAME: &str = "first_name || ' ' || last_name";
const FULL_NAME_MYSQL: &str = "CONCAT(first_name, ' ', last_name)";

fn fill(m: &mut Migration) {
    m.backfill("bench_people")
        .set("full_name", FULL_NAME)
        .set_on(Dialect::Mysql, "full_name", FULL_NAME_MYSQL)
        .only("full_name IS NULL")
        .batch_size(BATCH_SIZE)
        .pause(Duration::from_millis(PAUSE_MS.load(Ordering::Relaxed)));
}

fn registry() -> Result<Registry, String> {
    let location = Location::new(module_path!(), file!(), line!());
    Registry::from_entries([
        MigrationEntry::new("bench_table", &[], table, location),
        MigrationEntry::new("bench_fill", &["bench_table"], fill, location),
    ])
    .map_err(|e| e.to_string())
}

/// A fresh database with the seeded table; then the backfill (`godwit`) or one UPDATE, timed,
/// with the writer running.
async fn time_side(dialect: Dialect, rows: u64, godwit: bool) -> Result<Timed, String> {
    let db = Scratch::create(dialect).await?;
    let mut migrator =
        Migrator::with_registry(db.connect().await?, registry()?).map_err(|e| e.to_string())?;
    migrator
        .upgrade(&[Target::id("bench_table")])
        .await
        .map_err(|e| e.to_string())?;
    seed(migrator.connection(), rows).await?;
    settle(migrator.connection()).await?;
    let mut writer = db.connect().await?;
    let setup = match dialect {
        // Waits as long as the single UPDATE holds its rows.
        Dialect::Postgres => "SET lock_timeout = 0",
        Dialect::Mysql => "SET SESSION innodb_lock_wait_timeout = 3600",
        Dialect::Sqlite => "PRAGMA busy_timeout = 3600000",
    };
    writer.execute(setup).await.map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(write_until(writer, "bench_people", rows, stop.clone()));
    // Let the writer get going.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    if godwit {
        migrator.up().await.map_err(|e| e.to_string())?;
    } else {
        let conn = migrator.connection();
        let expr = match dialect {
            Dialect::Mysql => FULL_NAME_MYSQL,
            _ => FULL_NAME,
        };
        conn.execute(&format!(
            "UPDATE bench_people SET full_name = {expr} WHERE full_name IS NULL"
        ))
        .await
        .map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let writes = writing.await.map_err(|e| e.to_string())??;
    let left = migrator
        .connection()
        .fetch_text("SELECT COUNT(*) FROM bench_people WHERE full_name IS NULL")
        .await
        .map_err(|e| e.to_string())?;
    if left
        .first()
        .and_then(|r| r.first())
        .cloned()
        .flatten()
        .as_deref()
        != Some("0")
    {
        return Err(format!(
            "{dialect}: rows were left without a full name: {left:?}"
        ));
    }
    migrator.close().await.map_err(|e| e.to_string())?;
    db.drop().await?;
    Ok(Timed { elapsed, writes })
}

/// Inserts `rows` people with ids 1..=rows.
async fn seed(conn: &mut Connection, rows: u64) -> Result<(), String> {
    let dialect = conn.dialect();
    let numbers = match dialect {
        Dialect::Postgres => format!("SELECT n FROM generate_series(1, {rows}) AS g(n)"),
        _ => {
            if dialect == Dialect::Mysql {
                // Both cap recursive CTEs unless told otherwise, each with its own setting.
                for setting in ["cte_max_recursion_depth", "max_recursive_iterations"] {
                    let _ = conn
                        .execute(&format!("SET SESSION {setting} = {}", rows + 1))
                        .await;
                }
            }
            format!(
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) \
                 SELECT n FROM g"
            )
        }
    };
    let (first, last) = match dialect {
        Dialect::Mysql => (
            "CONCAT('first ', CAST(n AS CHAR))",
            "CONCAT('last ', CAST(n AS CHAR))",
        ),
        _ => ("'first ' || CAST(n AS TEXT)", "'last ' || CAST(n AS TEXT)"),
    };
    conn.execute(&format!(
        "INSERT INTO bench_people (id, first_name, last_name) SELECT n, {first}, {last} \
         FROM ({numbers}) AS s"
    ))
    .await
    .map_err(|e| format!("seeding {rows} rows: {e}"))?;
    if dialect == Dialect::Postgres {
        // Statistics for the backfill's estimate, as a table of that size would have.
        conn.execute("ANALYZE bench_people")
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Adds 1 to the `score` of one random row of `table` (ids 1..=rows) every 1 ms until `stop`;
/// returns how long each update took.
pub(crate) async fn write_until(
    mut conn: Connection,
    table: &'static str,
    rows: u64,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Duration>, String> {
    let mut writes = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    while !stop.load(Ordering::Relaxed) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let id = 1 + seed % rows;
        let started = Instant::now();
        conn.execute(&format!(
            "UPDATE {table} SET score = score + 1 WHERE id = {id}"
        ))
        .await
        .map_err(|e| format!("the writer's update: {e}"))?;
        writes.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    conn.close().await.map_err(|e| e.to_string())?;
    Ok(writes)
}
