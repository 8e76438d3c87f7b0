//! `cargo xtask bench apply`: the runner against the same SQL run raw through the driver.
//!
//! Generates a linear chain of migrations, each `CREATE TABLE` + `CREATE INDEX`, and times on
//! each dialect, in the same run and on fresh databases:
//! - godwit: `Migrator::up()` (lock, history, replay, rendering, one transaction per migration
//!   with its history row) and `Migrator::downgrade(base)` (derived downgrades);
//! - raw: the very SQL godwit renders, sent through the same driver connection, one
//!   transaction per migration (MySQL: statement by statement, as DDL commits there anyway),
//!   without history or lock.
//!
//! The table shows the median of `--runs` runs (default 3) of each time, and the median and range
//! of the per-run overhead (each run's godwit time over the raw time of the same run). Measure
//! a release build:
//! `cargo run --release -p xtask -- bench apply`. Servers: `GODWIT_BENCH_POSTGRES_URL`,
//! `GODWIT_BENCH_MYSQL_URL` (defaults: the local test servers); SQLite uses a temporary file.

use std::time::{Duration, Instant};

use godwit::db::Connection;
use godwit::graph::Target;
use godwit::registry::{Location, MigrationEntry, Registry};
use godwit::render::{RenderedOp, plan_op};
use godwit::{Dialect, Inverse, Migration, Migrator, Schema};

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut runs = 3usize;
    let mut count = 1_000usize;
    let mut dialects = Dialect::ALL.to_vec();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--runs takes a positive number")?;
            }
            "--migrations" => {
                count = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--migrations takes a positive number")?;
            }
            "--dialects" => {
                dialects = args
                    .next()
                    .ok_or("--dialects takes a list, e.g. postgres,sqlite")?
                    .split(',')
                    .map(|d| {
                        Dialect::ALL
                            .into_iter()
                            .find(|x| x.name() == d)
                            .ok_or(format!("unknown dialect `{d}`"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument `{other}`\n\n{}", super::USAGE)),
        }
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; measure with `cargo run --release -p xtask -- bench apply`"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(bench(runs, count, &dialects))
}

async fn bench(runs: usize, count: usize, dialects: &[Dialect]) -> Result<(), String> {
    let entries = generate(count);
    println!(
        "apply benchmark: {count} migrations (CREATE TABLE + CREATE INDEX each), median of {runs} runs\n"
    );
    println!(
        "{:<9} | {:>10} {:>10} {:>9} {:>17} | {:>10} {:>10} {:>9} {:>17}",
        "dialect",
        "godwit up",
        "raw up",
        "overhead",
        "(range)",
        "godwit dn",
        "raw down",
        "overhead",
        "(range)"
    );
    for &dialect in dialects {
        let (up_sql, down_sql) = rendered(&entries, dialect)?;
        let mut times: [Vec<Duration>; 4] = Default::default();
        for run in 0..runs {
            // Alternate which side goes first, so that neither always inherits the server's
            // background work (purge, file removal) from the database dropped before it.
            let (first, second) = if run % 2 == 0 {
                (Side::Raw, Side::Godwit)
            } else {
                (Side::Godwit, Side::Raw)
            };
            for side in [first, second] {
                let (up, down) = match side {
                    Side::Raw => time_raw(dialect, &up_sql, &down_sql).await?,
                    Side::Godwit => time_godwit(dialect, &entries).await?,
                };
                let at = if side == Side::Raw { 1 } else { 0 };
                times[at].push(up);
                times[at + 2].push(down);
            }
        }
        let up_overheads = overheads(&times[0], &times[1]);
        let down_overheads = overheads(&times[2], &times[3]);
        let [up, raw_up, down, raw_down] =
            times.map(|t| median(t.iter().map(Duration::as_secs_f64)));
        println!(
            "{:<9} | {:>10} {:>10} {:>9} {:>17} | {:>10} {:>10} {:>9} {:>17}",
            dialect.name(),
            seconds(up),
            seconds(raw_up),
            percent(median(up_overheads.iter().copied())),
            spread(&up_overheads),
            seconds(down),
            seconds(raw_down),
            percent(median(down_overheads.iter().copied())),
            spread(&down_overheads),
        );
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Raw,
    Godwit,
}

/// The rendered SQL up then down, on a fresh database.
async fn time_raw(
    dialect: Dialect,
    up_sql: &[Vec<RenderedOp>],
    down_sql: &[Vec<RenderedOp>],
) -> Result<(Duration, Duration), String> {
    let db = Scratch::create(dialect).await?;
    let mut conn = db.connect().await?;
    let start = Instant::now();
    run_raw(&mut conn, up_sql).await?;
    let up = start.elapsed();
    let start = Instant::now();
    run_raw(&mut conn, down_sql).await?;
    let down = start.elapsed();
    conn.close().await.map_err(|e| e.to_string())?;
    db.drop().await?;
    Ok((up, down))
}

/// `Migrator::up()` then `downgrade(base)`, on a fresh database.
async fn time_godwit(
    dialect: Dialect,
    entries: &[MigrationEntry],
) -> Result<(Duration, Duration), String> {
    let count = entries.len();
    let db = Scratch::create(dialect).await?;
    let registry = Registry::from_entries(entries.to_vec()).map_err(|e| e.to_string())?;
    let mut migrator =
        Migrator::with_registry(db.connect().await?, registry).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let report = migrator.up().await.map_err(|e| e.to_string())?;
    let up = start.elapsed();
    let start = Instant::now();
    let reverted = migrator
        .downgrade(&[Target::base()])
        .await
        .map_err(|e| e.to_string())?;
    let down = start.elapsed();
    if report.applied.len() != count || reverted.reverted.len() != count {
        return Err(format!(
            "{dialect}: applied {} and reverted {} of {count}",
            report.applied.len(),
            reverted.reverted.len()
        ));
    }
    migrator.close().await.map_err(|e| e.to_string())?;
    db.drop().await?;
    Ok((up, down))
}

/// One bench migration: a table and an index named after the migration.
fn table_and_index(m: &mut Migration) {
    let table = format!("t_{}", m.id());
    m.create_table(&table, |t| {
        t.id("id");
        t.string("name", 100).not_null();
        t.integer("value");
    });
    m.create_index(&format!("ix_{}_name", m.id()), &table, ["name"]);
}

/// A chain `m00000 <- m00001 <- ...`.
fn generate(count: usize) -> Vec<MigrationEntry> {
    let ids: Vec<&'static str> = (0..count)
        .map(|i| &*Box::leak(format!("m{i:05}").into_boxed_str()))
        .collect();
    ids.iter()
        .enumerate()
        .map(|(i, &id)| {
            let after: &'static [&'static str] = if i == 0 {
                &[]
            } else {
                std::slice::from_ref(&*Box::leak(Box::new(ids[i - 1])))
            };
            MigrationEntry::new(
                id,
                after,
                table_and_index,
                Location::new(module_path!(), file!(), line!()),
            )
        })
        .collect()
}

/// The SQL godwit renders for each migration, up and (in revert order) down.
#[allow(clippy::type_complexity)]
fn rendered(
    entries: &[MigrationEntry],
    dialect: Dialect,
) -> Result<(Vec<Vec<RenderedOp>>, Vec<Vec<RenderedOp>>), String> {
    let mut schema = Schema::new();
    let mut up = Vec::new();
    let mut inverses = Vec::new();
    for entry in entries {
        let mut ops = Vec::new();
        let mut undo = Vec::new();
        for op in entry.record_up(dialect).ops() {
            let (sql, inverse) = plan_op(op, &mut schema, dialect).map_err(|e| e.to_string())?;
            ops.push(sql);
            match inverse {
                Inverse::Ops(inverse) => undo.push(inverse),
                Inverse::Irreversible { reason } => return Err(reason),
            }
        }
        up.push(ops);
        inverses.push(undo);
    }
    let mut down = Vec::new();
    for undo in inverses.into_iter().rev() {
        let mut ops = Vec::new();
        for op in undo.into_iter().rev().flatten() {
            let (sql, _) = plan_op(&op, &mut schema, dialect).map_err(|e| e.to_string())?;
            ops.push(sql);
        }
        down.push(ops);
    }
    Ok((up, down))
}

/// Each migration in one transaction (MySQL: statement by statement).
async fn run_raw(conn: &mut Connection, migrations: &[Vec<RenderedOp>]) -> Result<(), String> {
    let transactional = conn.dialect() != Dialect::Mysql;
    for ops in migrations {
        if transactional {
            conn.execute("BEGIN").await.map_err(|e| e.to_string())?;
        }
        for op in ops {
            for statement in &op.statements {
                conn.execute(&statement.sql)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        if transactional {
            conn.execute("COMMIT").await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// A database made for one run and dropped after it.
struct Scratch {
    dialect: Dialect,
    url: String,
    admin_url: String,
    name: String,
}

impl Scratch {
    async fn create(dialect: Dialect) -> Result<Scratch, String> {
        let name = format!(
            "godwit_bench_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let server = match dialect {
            Dialect::Postgres => {
                std::env::var("GODWIT_BENCH_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.into())
            }
            Dialect::Mysql => {
                std::env::var("GODWIT_BENCH_MYSQL_URL").unwrap_or_else(|_| MYSQL_URL.into())
            }
            Dialect::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.sqlite3"));
                return Ok(Scratch {
                    dialect,
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    admin_url: String::new(),
                    name: path.display().to_string(),
                });
            }
        };
        let mut admin = Connection::connect(&server)
            .await
            .map_err(|e| format!("{dialect} server at {server}: {e}"))?;
        admin
            .execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| e.to_string())?;
        admin.close().await.map_err(|e| e.to_string())?;
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
        Ok(Scratch {
            dialect,
            url: format!("{base}/{name}"),
            admin_url: server.clone(),
            name,
        })
    }

    async fn connect(&self) -> Result<Connection, String> {
        Connection::connect(&self.url)
            .await
            .map_err(|e| e.to_string())
    }

    async fn drop(self) -> Result<(), String> {
        if self.dialect == Dialect::Sqlite {
            for suffix in ["", "-wal", "-shm", "-journal", "-godwit.lock"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.name));
            }
            return Ok(());
        }
        let mut admin = Connection::connect(&self.admin_url)
            .await
            .map_err(|e| e.to_string())?;
        admin
            .execute(&format!("DROP DATABASE {}", self.name))
            .await
            .map_err(|e| e.to_string())?;
        admin.close().await.map_err(|e| e.to_string())
    }
}

fn seconds(s: f64) -> String {
    format!("{s:.3} s")
}

/// The overhead of each run, godwit against the raw side of the same run: pairing the two
/// cancels the drift of a machine whose disk speed wanders over minutes.
fn overheads(ours: &[Duration], raw: &[Duration]) -> Vec<f64> {
    ours.iter()
        .zip(raw)
        .map(|(o, r)| (o.as_secs_f64() / r.as_secs_f64() - 1.0) * 100.0)
        .collect()
}

fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn percent(value: f64) -> String {
    format!("{value:+.1} %")
}

/// The smallest and largest per-run overhead.
fn spread(values: &[f64]) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("({min:+.0} .. {max:+.0} %)")
}
