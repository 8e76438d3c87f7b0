//! `cargo xtask bench copy`: godwit's `copy` of a mixed-type table from MariaDB to PostgreSQL,
//! against pgloader on the same rows, in the same run.
//!
//! The source is a fresh MariaDB database holding `--rows` rows (default 1,000,000) of one
//! table with a column of most model types (integers, text, a boolean, a decimal, a double, a
//! timestamp with time zone, JSON, a UUID, binary), migrated by godwit and seeded with one
//! `INSERT … SELECT`. Each side copies it into an empty PostgreSQL database of its own, in a
//! process of its own, so that its peak memory is its own (`wait4`'s `ru_maxrss`):
//! - godwit: this binary's hidden `bench copy-child FROM TO`, which runs `godwit::copy::copy`
//!   on a two-thread runtime as the CLI does
//!   (the target migrated to the source's point, batches of 10,000 rows through `COPY`, each
//!   table verified by its count and checksum read back);
//! - pgloader: `LOAD DATABASE FROM mysql://… INTO postgresql://… INCLUDING ONLY TABLE NAMES
//!   MATCHING 'bench_rows'` (its defaults otherwise: it makes the table, copies, builds the
//!   index), when `pgloader` is on PATH; otherwise it is reported missing, with the Debian
//!   package that has it.
//!
//! The table shows each side's wall time, rows per second and peak resident memory. Measure a
//! release build: `cargo run --release -p xtask -- bench copy`. Servers:
//! `GODWIT_BENCH_MYSQL_URL`, `GODWIT_BENCH_POSTGRES_URL` (default: the local test servers).

use std::process::Command;
use std::time::{Duration, Instant};

use godwit::db::Connection;
use godwit::registry::{Location, MigrationEntry, Registry};
use godwit::{Dialect, Migration, Migrator};

use crate::bench_apply::{Scratch, positive, settle};

const TABLE: &str = "bench_rows";

fn registry() -> Result<Registry, String> {
    Registry::from_entries([MigrationEntry::new(
        "bench_copy_table",
        &[],
        bench_table,
        Location::new(module_path!(), file!(), line!()),
    )])
    .map_err(|e| e.to_string())
}

fn bench_table(m: &mut Migration) {
    m.create_table(TABLE, |t| {
        t.id("id");
        t.string("name", 100).not_null();
        t.text("body");
        t.boolean("flag").not_null();
        t.decimal("amount", 12, 2);
        t.double("ratio");
        t.timestamp_tz("created_at").not_null();
        t.json("doc");
        t.uuid("token");
        t.binary("payload");
    });
}

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut rows = 1_000_000u64;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--rows" => rows = positive(arg, args.next())?,
            other => return Err(format!("bench copy: unknown argument `{other}`")),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(bench(rows))
}

/// `bench copy-child FROM TO`: one godwit copy, in the process the benchmark measures.
pub fn child(args: &[&str]) -> Result<(), String> {
    let [from, to] = args else {
        return Err("usage: bench copy-child FROM TO".into());
    };
    // As the CLI runs a copy.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let report = godwit::copy::copy(
            &registry()?,
            from,
            to,
            &godwit::copy::CopyOptions::default(),
            |_| {},
        )
        .await
        .map_err(|e| e.to_string())?;
        println!(
            "copied {} rows, {} rejected",
            report.rows_copied(),
            report.rows_rejected()
        );
        Ok(())
    })
}

/// What one side took.
struct Measured {
    elapsed: Duration,
    /// User and system time of the process itself (the servers' work is not in it).
    cpu: Duration,
    peak_rss_kib: i64,
}

async fn bench(rows: u64) -> Result<(), String> {
    let source = Scratch::create(Dialect::Mysql).await?;
    let result = async {
        eprintln!("seeding {rows} rows in MariaDB…");
        let mut migrator = Migrator::with_registry(source.connect().await?, registry()?)
            .map_err(|e| e.to_string())?;
        migrator.up().await.map_err(|e| e.to_string())?;
        seed(migrator.connection(), rows).await?;
        settle(migrator.connection()).await?;
        migrator.close().await.map_err(|e| e.to_string())?;

        let ours = side("godwit", rows, |target| {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut command = Command::new(exe);
            command.args(["bench", "copy-child", &source.url, target]);
            Ok(command)
        })
        .await?;
        let theirs = match on_path("pgloader") {
            true => Some(
                side("pgloader", rows, |target| {
                    // Only the table: pgloader cannot read MariaDB's `current_timestamp(6)`
                    // default of the history table.
                    let script = std::env::temp_dir()
                        .join(format!("godwit-bench-copy-{}.load", std::process::id()));
                    std::fs::write(
                        &script,
                        format!(
                            "LOAD DATABASE FROM {} INTO {} INCLUDING ONLY TABLE NAMES MATCHING \
                             '{TABLE}';\n",
                            source.url.replacen("mariadb://", "mysql://", 1),
                            target.replacen("postgres://", "postgresql://", 1)
                        ),
                    )
                    .map_err(|e| format!("writing pgloader's command file: {e}"))?;
                    let mut command = Command::new("pgloader");
                    command
                        .arg("--quiet")
                        .arg(&script)
                        .stdout(std::process::Stdio::null());
                    Ok(command)
                })
                .await?,
            ),
            false => None,
        };
        println!(
            "{rows} rows of a mixed-type table (integers, text, boolean, decimal, double, \
             timestamptz, JSON, UUID, binary), MariaDB -> PostgreSQL:"
        );
        println!(
            "{:>9}  {:>9}  {:>11}  {:>14}  {:>9}",
            "side", "time", "rows/s", "peak memory", "CPU time"
        );
        let line = |name: &str, m: &Measured| {
            println!(
                "{name:>9}  {:>7.2} s  {:>11.0}  {:>10.1} MiB  {:>7.2} s",
                m.elapsed.as_secs_f64(),
                rows as f64 / m.elapsed.as_secs_f64(),
                m.peak_rss_kib as f64 / 1024.0,
                m.cpu.as_secs_f64()
            )
        };
        line("godwit", &ours);
        match &theirs {
            Some(theirs) => {
                line("pgloader", theirs);
                println!(
                    "godwit: {:.2}x pgloader's rows/s at {:.0} % of its peak memory",
                    theirs.elapsed.as_secs_f64() / ours.elapsed.as_secs_f64(),
                    100.0 * ours.peak_rss_kib as f64 / theirs.peak_rss_kib.max(1) as f64
                );
            }
            None => println!(
                "pgloader: not on PATH, not measured; install the Debian package `pgloader` \
                 (apt-get install pgloader) to compare"
            ),
        }
        Ok(())
    }
    .await;
    let dropped = source.drop().await;
    result.and(dropped)
}

/// Runs `command` (given the target's URL) into a fresh PostgreSQL database, and checks that
/// the target then holds every row.
async fn side(
    name: &str,
    rows: u64,
    command: impl FnOnce(&str) -> Result<Command, String>,
) -> Result<Measured, String> {
    let target = Scratch::create(Dialect::Postgres).await?;
    let result = async {
        eprintln!("{name}: copying…");
        let measured = measure(command(&target.url)?, name)?;
        let mut conn = target.connect().await?;
        let copied = count_rows(&mut conn).await?;
        conn.close().await.map_err(|e| e.to_string())?;
        if copied != rows {
            return Err(format!("{name} left {copied} rows of {rows} in the target"));
        }
        Ok(measured)
    }
    .await;
    let dropped = target.drop().await;
    let measured = result?;
    dropped?;
    Ok(measured)
}

/// The rows of the copied table, wherever the side put it (pgloader makes a schema named like
/// the source database).
async fn count_rows(conn: &mut Connection) -> Result<u64, String> {
    let tables = conn
        .fetch_text(&format!(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM \
             information_schema.tables WHERE table_name = '{TABLE}'"
        ))
        .await
        .map_err(|e| e.to_string())?;
    let Some(Some(table)) = tables.into_iter().next().and_then(|r| r.into_iter().next()) else {
        return Ok(0);
    };
    let counted = conn
        .fetch_text(&format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(counted
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Runs `command` to its end: its wall time, and its peak resident memory as the kernel
/// counted it for that process alone.
fn measure(mut command: Command, name: &str) -> Result<Measured, String> {
    let started = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    if waited != pid {
        return Err(format!(
            "waiting for {name}: {}",
            std::io::Error::last_os_error()
        ));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{name} failed (wait status {status})"));
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok(Measured {
        elapsed,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        // Linux reports kibibytes.
        peak_rss_kib: usage.ru_maxrss,
    })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// `rows` rows, ids 1..=rows, every column filled but one value in ten left NULL.
async fn seed(conn: &mut Connection, rows: u64) -> Result<(), String> {
    conn.execute("SET time_zone = '+00:00'")
        .await
        .map_err(|e| e.to_string())?;
    // MariaDB's sequence engine counts without a recursive query.
    conn.execute(&format!(
        "INSERT INTO {TABLE} (id, name, body, flag, amount, ratio, created_at, doc, token, \
         payload) SELECT seq, CONCAT('name ', seq), IF(seq % 10 = 0, NULL, REPEAT('ü', seq % \
         50)), seq % 2, seq * 0.01, seq / 7, FROM_UNIXTIME(1600000000 + seq), \
         CONCAT('{{\"n\": ', seq, ', \"tags\": [\"a\", \"b\"]}}'), UUID(), UNHEX(MD5(seq)) \
         FROM seq_1_to_{rows}"
    ))
    .await
    .map_err(|e| format!("seeding needs MariaDB's sequence engine (seq_1_to_N): {e}"))
}
