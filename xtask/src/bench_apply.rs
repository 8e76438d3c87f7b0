//! `cargo xtask bench apply`: the runner against the same SQL run raw through the driver and
//! through sqlx's own migrator.
//!
//! Generates a linear chain of migrations, each `CREATE TABLE` + `CREATE INDEX`, and times
//! upgrade-all and downgrade-all on each dialect, in the same run and each on a fresh database:
//! - godwit: `Migrator::up()` (lock, history, replay, rendering, each migration in a
//!   transaction with its history row, several to a commit; MySQL: step by step with committed
//!   progress) and
//!   `Migrator::downgrade(base)` (derived downgrades);
//! - raw: the very SQL godwit runs (its offline plan's), sent through the same driver
//!   connection, one transaction per migration (MySQL: statement by statement, as DDL commits
//!   there anyway), without history or lock: the floor;
//! - sqlx migrate: the same SQL as sqlx reversible migrations, run by `sqlx::migrate::Migrator`
//!   (`run`, then `undo` to 0), the code `sqlx migrate run` / `revert` drive, minus the CLI's
//!   process start;
//! - alembic (only when asked for, with `--sides`): the same SQL as Alembic revisions
//!   (`op.execute`), in a project made by `alembic init` (its generic `env.py`), timed as the
//!   commands `alembic upgrade head` and `alembic downgrade base`, process start included. It
//!   needs `python3` with `alembic`, `psycopg2` and `pymysql`
//!   (`pip install alembic psycopg2-binary pymysql`).
//!
//! The sides take turns going first, and each timed phase starts on a settled server (see
//! [`settle`]). The table shows the median of `--runs` runs (default 3) of each time, and the
//! median and range of the per-run ratios (godwit's time over the other side's time in the same
//! run). `--sides` and `--dialects` narrow the run down. godwit runs as it does by default:
//! on PostgreSQL and SQLite, migrations that lock only tables the run creates or drops share
//! commits, as all of these do. `--commit-each` runs it with [`Migrator::commit_each`], one
//! commit per migration as the raw and sqlx sides make (its own cost, side by side with
//! theirs); `--single-transaction` with [`Migrator::single_transaction`] (PostgreSQL and
//! SQLite). Measure a release build:
//! `cargo run --release -p xtask -- bench apply`. Servers: `GODWIT_BENCH_POSTGRES_URL`,
//! `GODWIT_BENCH_MYSQL_URL` (defaults: the local test servers); SQLite uses a temporary file.

use std::time::{Duration, Instant};

use godwit::db::Connection;
use godwit::graph::{Direction, Target};
use godwit::registry::{Location, MigrationEntry, Registry};
use godwit::runner::RenderedOp;
use godwit::runner::offline_plan;
use godwit::{Dialect, Migration, Migrator};

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut runs = 3usize;
    let mut count = 1_000usize;
    let mut dialects = None;
    let mut sides = Side::DEFAULT.to_vec();
    let mut mode = Mode::Default;
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
            "--sides" => {
                sides = args
                    .next()
                    .ok_or("--sides takes a list, e.g. godwit,raw")?
                    .split(',')
                    .map(|name| {
                        Side::ALL
                            .into_iter()
                            .find(|side| side.name() == name)
                            .ok_or(format!(
                                "unknown side `{name}`; the sides: godwit,raw,sqlx,alembic"
                            ))
                    })
                    .collect::<Result<Vec<Side>, _>>()?;
                let twice = (1..sides.len()).any(|i| sides[..i].contains(&sides[i]));
                if twice {
                    return Err("--sides names a side twice".into());
                }
            }
            flag @ ("--single-transaction" | "--commit-each") => {
                if mode != Mode::Default {
                    return Err("--commit-each and --single-transaction exclude each other".into());
                }
                mode = match flag {
                    "--commit-each" => Mode::CommitEach,
                    _ => Mode::SingleTransaction,
                };
            }
            "--dialects" => {
                dialects = Some(
                    args.next()
                        .ok_or("--dialects takes a list, e.g. postgres,sqlite")?
                        .split(',')
                        .map(|d| {
                            Dialect::ALL
                                .into_iter()
                                .find(|x| x.name() == d)
                                .ok_or(format!("unknown dialect `{d}`"))
                        })
                        .collect::<Result<_, _>>()?,
                );
            }
            other => return Err(format!("unknown argument `{other}`\n\n{}", super::USAGE)),
        }
    }
    // One transaction per run: the dialects with transactional DDL, unless named.
    let dialects: Vec<Dialect> = dialects.unwrap_or_else(|| match mode {
        Mode::SingleTransaction => vec![Dialect::Postgres, Dialect::Sqlite],
        _ => Dialect::ALL.to_vec(),
    });
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; measure with `cargo run --release -p xtask -- bench apply`"
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if mode == Mode::SingleTransaction && dialects.contains(&Dialect::Mysql) {
        return Err(
            "--single-transaction: MySQL and MariaDB commit each DDL statement on their \
                    own; add --dialects postgres,sqlite"
                .into(),
        );
    }
    runtime.block_on(bench(runs, count, &dialects, &sides, mode))
}

async fn bench(
    runs: usize,
    count: usize,
    dialects: &[Dialect],
    sides: &[Side],
    mode: Mode,
) -> Result<(), String> {
    let entries = generate(count);
    let others: Vec<Side> = Side::ALL
        .into_iter()
        .filter(|&side| side != Side::Godwit && sides.contains(&side))
        .collect();
    println!(
        "apply benchmark: {count} migrations (CREATE TABLE + CREATE INDEX each), median of {runs} runs\n"
    );
    let godwit = match mode {
        Mode::Default => "godwit",
        Mode::CommitEach => "godwit each",
        Mode::SingleTransaction => "godwit 1tx",
    };
    let mut header = format!("{:<9} {:<4} | {:>10}", "dialect", "", godwit);
    for side in &others {
        header += &format!(
            " | {:>12} {:>8} {:>15}",
            side.title(),
            format!("vs {}", side.name()),
            "(range)"
        );
    }
    println!("{header}");
    for &dialect in dialects {
        let sql = rendered(&entries, dialect)?;
        let alembic = if sides.contains(&Side::Alembic) {
            Some(AlembicProject::create(dialect, &sql)?)
        } else {
            None
        };
        let mut times: [Times; Side::ALL.len()] = Default::default();
        for run in 0..runs {
            // Rotate the order, and reverse it every other round, so that no side always
            // follows the same one and inherits its background work (purge, file removal).
            let mut order = sides.to_vec();
            order.rotate_left(run % sides.len());
            if (run / sides.len()) % 2 == 1 {
                order.reverse();
            }
            for side in order {
                let (up, down) = match side {
                    Side::Godwit => time_godwit(dialect, &entries, mode).await?,
                    Side::Raw => time_raw(dialect, &sql).await?,
                    Side::Sqlx => time_sqlx(dialect, &sql).await?,
                    Side::Alembic => match &alembic {
                        Some(project) => time_alembic(dialect, project).await?,
                        None => unreachable!("the project exists when the side is asked for"),
                    },
                };
                times[side as usize].up.push(up);
                times[side as usize].down.push(down);
            }
        }
        let godwit = &times[Side::Godwit as usize];
        for (direction, ours, of) in [
            (
                "up",
                &godwit.up,
                (|t: &Times| &t.up) as fn(&Times) -> &Vec<Duration>,
            ),
            ("down", &godwit.down, |t: &Times| &t.down),
        ] {
            let mut line = format!(
                "{:<9} {:<4} | {:>10}",
                dialect.name(),
                direction,
                seconds(ours)
            );
            for &side in &others {
                let theirs = of(&times[side as usize]);
                let over = ratios(ours, theirs);
                line += &format!(
                    " | {:>12} {:>8} {:>15}",
                    seconds(theirs),
                    percent(&over),
                    spread(&over)
                );
            }
            println!("{line}");
        }
    }
    println!(
        "\nvs: godwit's time over that side's time in the same run, median and range over the \
         runs;\nnegative: godwit is faster."
    );
    match mode {
        Mode::Default => println!(
            "godwit: migrations that lock only tables the run creates or drops share commits \
             (PostgreSQL, SQLite); groups of one-statement migrations record their history at \
             their start and end (MySQL)."
        ),
        Mode::CommitEach => {
            println!(
                "godwit each: godwit with `commit_each`, one commit per migration (MySQL: \
                 progress recorded op by op)."
            )
        }
        Mode::SingleTransaction => {
            println!("godwit 1tx: godwit with `single_transaction`, each run in one transaction.")
        }
    }
    if sides.contains(&Side::Alembic) {
        println!(
            "alembic: the commands `alembic upgrade head` and `alembic downgrade base`, Python's \
             start included."
        );
    }
    Ok(())
}

/// How the godwit side commits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As `Migrator` does by default.
    Default,
    /// [`Migrator::commit_each`].
    CommitEach,
    /// [`Migrator::single_transaction`].
    SingleTransaction,
}

/// The ways of applying the same migrations that the benchmark compares.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Godwit,
    Raw,
    Sqlx,
    Alembic,
}

impl Side {
    const ALL: [Side; 4] = [Side::Godwit, Side::Raw, Side::Sqlx, Side::Alembic];
    /// Alembic needs Python and its packages: it runs when asked for.
    const DEFAULT: [Side; 3] = [Side::Godwit, Side::Raw, Side::Sqlx];

    fn name(self) -> &'static str {
        match self {
            Side::Godwit => "godwit",
            Side::Raw => "raw",
            Side::Sqlx => "sqlx",
            Side::Alembic => "alembic",
        }
    }

    /// The column heading.
    fn title(self) -> &'static str {
        match self {
            Side::Sqlx => "sqlx migrate",
            other => other.name(),
        }
    }
}

/// One side's upgrade-all and downgrade-all times, one entry per run.
#[derive(Default)]
struct Times {
    up: Vec<Duration>,
    down: Vec<Duration>,
}

/// `Migrator::up()` then `downgrade(base)`, on a fresh database.
async fn time_godwit(
    dialect: Dialect,
    entries: &[MigrationEntry],
    mode: Mode,
) -> Result<(Duration, Duration), String> {
    let count = entries.len();
    let db = Scratch::create(dialect).await?;
    let registry = Registry::from_entries(entries.to_vec()).map_err(|e| e.to_string())?;
    let mut migrator = Migrator::with_registry(db.connect().await?, registry)
        .map_err(|e| e.to_string())?
        .commit_each(mode == Mode::CommitEach)
        .single_transaction(mode == Mode::SingleTransaction);
    settle(migrator.connection()).await?;
    let start = Instant::now();
    let report = migrator.up().await.map_err(|e| e.to_string())?;
    let up = start.elapsed();
    settle(migrator.connection()).await?;
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

/// The rendered SQL up then down through the driver, one transaction per migration (MySQL:
/// statement by statement), on a fresh database.
async fn time_raw(dialect: Dialect, sql: &Rendered) -> Result<(Duration, Duration), String> {
    let db = Scratch::create(dialect).await?;
    let mut conn = db.connect().await?;
    settle(&mut conn).await?;
    let start = Instant::now();
    run_raw(&mut conn, &sql.up).await?;
    let up = start.elapsed();
    settle(&mut conn).await?;
    let start = Instant::now();
    run_raw(&mut conn, &sql.down).await?;
    let down = start.elapsed();
    conn.close().await.map_err(|e| e.to_string())?;
    db.drop().await?;
    Ok((up, down))
}

async fn run_raw(conn: &mut Connection, migrations: &[Vec<String>]) -> Result<(), String> {
    let transactional = conn.dialect() != Dialect::Mysql;
    for statements in migrations {
        if transactional {
            conn.execute("BEGIN").await.map_err(|e| e.to_string())?;
        }
        for statement in statements {
            conn.execute(statement).await.map_err(|e| e.to_string())?;
        }
        if transactional {
            conn.execute("COMMIT").await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// sqlx's own migrator (what `sqlx migrate run` and `sqlx migrate revert` drive) over the same
/// SQL as reversible migrations: its lock, `_sqlx_migrations` history and SHA-384 checksums,
/// one transaction per migration, on a fresh database.
async fn time_sqlx(dialect: Dialect, sql: &Rendered) -> Result<(Duration, Duration), String> {
    use sqlx::migrate::{Migration as SqlxMigration, MigrationType, Migrator as SqlxMigrator};
    use sqlx::{AssertSqlSafe, SqlSafeStr};

    let script = |statements: &[String]| AssertSqlSafe(statements.join(";\n")).into_sql_str();
    let mut migrations = Vec::with_capacity(sql.up.len() * 2);
    for (i, (up, down)) in sql.up.iter().zip(sql.down.iter().rev()).enumerate() {
        let version = i as i64 + 1;
        let description = format!("m{i:05}");
        migrations.push(SqlxMigration::new(
            version,
            description.clone().into(),
            MigrationType::ReversibleUp,
            script(up),
            false,
        ));
        migrations.push(SqlxMigration::new(
            version,
            description.into(),
            MigrationType::ReversibleDown,
            script(down),
            false,
        ));
    }
    let migrator = SqlxMigrator::with_migrations(migrations);
    let db = Scratch::create(dialect).await?;
    let mut conn = db.connect().await?;
    settle(&mut conn).await?;
    let start = Instant::now();
    let applied = match &mut conn {
        Connection::Postgres(c) => migrator.run(c).await,
        Connection::Mysql(c) => migrator.run(c).await,
        Connection::Sqlite(c) => migrator.run(c).await,
    };
    applied.map_err(|e| format!("{dialect}: sqlx migrate run: {e}"))?;
    let up = start.elapsed();
    settle(&mut conn).await?;
    let start = Instant::now();
    let reverted = match &mut conn {
        Connection::Postgres(c) => migrator.undo(c, 0).await,
        Connection::Mysql(c) => migrator.undo(c, 0).await,
        Connection::Sqlite(c) => migrator.undo(c, 0).await,
    };
    reverted.map_err(|e| format!("{dialect}: sqlx migrate revert: {e}"))?;
    let down = start.elapsed();
    conn.close().await.map_err(|e| e.to_string())?;
    db.drop().await?;
    Ok((up, down))
}

/// An Alembic project holding the bench migrations as revisions, made once per dialect.
struct AlembicProject {
    dir: std::path::PathBuf,
    /// The last revision.
    head: String,
}

impl AlembicProject {
    fn create(dialect: Dialect, sql: &Rendered) -> Result<AlembicProject, String> {
        let count = sql.up.len();
        if count == 0 {
            return Err("the alembic side needs at least one migration".into());
        }
        let dir = std::env::temp_dir().join(format!(
            "godwit_bench_alembic_{}_{}",
            std::process::id(),
            dialect.name()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        // The project `alembic init` makes, with its generic `env.py`: what a user runs.
        let init = std::process::Command::new("python3")
            .args([
                "-m",
                "alembic",
                "init",
                "--template",
                "generic",
                "migrations",
            ])
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("running python3: {e}"))?;
        if !init.status.success() {
            return Err(format!(
                "`alembic init` failed; the alembic side needs `pip install alembic \
                 psycopg2-binary pymysql`:\n{}",
                String::from_utf8_lossy(&init.stderr).trim()
            ));
        }
        let versions = dir.join("migrations").join("versions");
        let write = |path: std::path::PathBuf, text: String| {
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        };
        let calls = |statements: &[String]| -> String {
            if statements.is_empty() {
                return "    pass\n".into();
            }
            statements
                .iter()
                .map(|s| format!("    op.execute({})\n", python_string(s)))
                .collect()
        };
        for (i, (up, down)) in sql.up.iter().zip(sql.down.iter().rev()).enumerate() {
            let down_revision = match i {
                0 => "None".to_owned(),
                _ => format!("'r{:05}'", i - 1),
            };
            write(
                versions.join(format!("r{i:05}_bench.py")),
                format!(
                    "from alembic import op\n\nrevision = 'r{i:05}'\ndown_revision = \
                     {down_revision}\nbranch_labels = None\ndepends_on = None\n\n\n\
                     def upgrade():\n{}\n\ndef downgrade():\n{}",
                    calls(up),
                    calls(down)
                ),
            )?;
        }
        Ok(AlembicProject {
            dir,
            head: format!("r{:05}", count - 1),
        })
    }

    /// Points `alembic.ini` at `url` (a SQLAlchemy URL).
    fn point_at(&self, url: &str) -> Result<std::path::PathBuf, String> {
        let ini = self.dir.join("alembic.ini");
        let text = std::fs::read_to_string(&ini).map_err(|e| format!("{}: {e}", ini.display()))?;
        // `alembic.ini` interpolates `%`.
        let setting = format!("sqlalchemy.url = {}", url.replace('%', "%%"));
        let pointed: String = text
            .lines()
            .map(|line| {
                let line = if line.starts_with("sqlalchemy.url") {
                    &setting
                } else {
                    line
                };
                format!("{line}\n")
            })
            .collect();
        if !pointed.contains(&setting) {
            return Err(format!("{} has no `sqlalchemy.url` line", ini.display()));
        }
        std::fs::write(&ini, pointed).map_err(|e| format!("{}: {e}", ini.display()))?;
        Ok(ini)
    }

    fn run(&self, ini: &std::path::Path, args: &[&str]) -> Result<Duration, String> {
        let start = Instant::now();
        let output = std::process::Command::new("python3")
            .args(["-m", "alembic", "-c"])
            .arg(ini)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .map_err(|e| format!("running python3: {e}"))?;
        let elapsed = start.elapsed();
        if !output.status.success() {
            return Err(format!(
                "`alembic {}` failed:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(elapsed)
    }
}

impl Drop for AlembicProject {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Python string literal.
fn python_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// SQLAlchemy's URL for a scratch database.
fn sqlalchemy_url(dialect: Dialect, url: &str) -> Result<String, String> {
    let converted = match dialect {
        Dialect::Postgres => url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .map(|rest| format!("postgresql+psycopg2://{rest}")),
        Dialect::Mysql => url
            .strip_prefix("mysql://")
            .or_else(|| url.strip_prefix("mariadb://"))
            .map(|rest| format!("mysql+pymysql://{rest}")),
        Dialect::Sqlite => url
            .strip_prefix("sqlite://")
            .map(|rest| format!("sqlite:///{}", rest.split('?').next().unwrap_or(rest))),
    };
    converted.ok_or(format!("cannot turn `{url}` into a SQLAlchemy URL"))
}

/// `alembic upgrade head`, then `alembic downgrade base`, on a fresh database.
async fn time_alembic(
    dialect: Dialect,
    project: &AlembicProject,
) -> Result<(Duration, Duration), String> {
    let db = Scratch::create(dialect).await?;
    let ini = project.point_at(&sqlalchemy_url(dialect, &db.url)?)?;
    let mut conn = db.connect().await?;
    settle(&mut conn).await?;
    let up = project.run(&ini, &["upgrade", "head"])?;
    let applied = alembic_versions(&mut conn).await?;
    if applied != [project.head.clone()] {
        return Err(format!(
            "{dialect}: alembic upgrade head left {applied:?}, expected {}",
            project.head
        ));
    }
    settle(&mut conn).await?;
    let down = project.run(&ini, &["downgrade", "base"])?;
    let left = alembic_versions(&mut conn).await?;
    if !left.is_empty() {
        return Err(format!("{dialect}: alembic downgrade base left {left:?}"));
    }
    conn.close().await.map_err(|e| e.to_string())?;
    db.drop().await?;
    Ok((up, down))
}

async fn alembic_versions(conn: &mut Connection) -> Result<Vec<String>, String> {
    let rows = conn
        .fetch_text("SELECT version_num FROM alembic_version")
        .await
        .map_err(|e| format!("reading alembic_version: {e}"))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .collect())
}

/// Before each timed phase, has the server and the OS write back what earlier phases left dirty,
/// so that no side pays for another's writes: PostgreSQL `CHECKPOINT`; MariaDB/MySQL flush the
/// buffer pool (MariaDB does no idle flushing by default, so a small pool stays mostly dirty and
/// every later page costs a synchronous eviction); then `sync`.
pub(crate) async fn settle(conn: &mut Connection) -> Result<(), String> {
    match conn.dialect() {
        Dialect::Postgres => conn
            .execute("CHECKPOINT")
            .await
            .map_err(|e| format!("settling PostgreSQL needs a superuser: {e}"))?,
        Dialect::Mysql => flush_buffer_pool(conn).await?,
        Dialect::Sqlite => {}
    }
    let synced = std::process::Command::new("sync")
        .status()
        .map_err(|e| format!("running `sync`: {e}"))?;
    if !synced.success() {
        return Err(format!("`sync` failed: {synced}"));
    }
    Ok(())
}

/// Lowers `innodb_max_dirty_pages_pct` (and with it the low-water mark, which must not exceed
/// it) to 0 until at most 1 % of the buffer pool is dirty, 30 s at most, then puts both back.
async fn flush_buffer_pool(conn: &mut Connection) -> Result<(), String> {
    let fail = |e: godwit::db::DbError| {
        format!(
            "settling MariaDB/MySQL needs SUPER (MySQL 8: SYSTEM_VARIABLES_ADMIN) to set \
             innodb_max_dirty_pages_pct: {e}"
        )
    };
    let original = conn
        .fetch_text(
            "SELECT CAST(@@GLOBAL.innodb_max_dirty_pages_pct AS CHAR), \
             CAST(@@GLOBAL.innodb_max_dirty_pages_pct_lwm AS CHAR)",
        )
        .await
        .map_err(fail)?;
    let (Some(pct), Some(lwm)) = (
        original.first().and_then(|r| r.first().cloned().flatten()),
        original.first().and_then(|r| r.get(1).cloned().flatten()),
    ) else {
        return Err("innodb_max_dirty_pages_pct(_lwm) has no value".into());
    };
    conn.execute("SET GLOBAL innodb_max_dirty_pages_pct_lwm = 0, innodb_max_dirty_pages_pct = 0")
        .await
        .map_err(fail)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let drained = async {
        loop {
            let rows = conn
                .fetch_text(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN \
                     ('Innodb_buffer_pool_pages_dirty', 'Innodb_buffer_pool_pages_total')",
                )
                .await
                .map_err(fail)?;
            let pages = |name: &str| {
                rows.iter()
                    .find(|r| r.first().cloned().flatten().as_deref() == Some(name))
                    .and_then(|r| r.get(1).cloned().flatten())
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(format!("SHOW GLOBAL STATUS has no number for {name}"))
            };
            let dirty = pages("Innodb_buffer_pool_pages_dirty")?;
            let total = pages("Innodb_buffer_pool_pages_total")?;
            if dirty * 100 <= total {
                return Ok::<(), String>(());
            }
            if Instant::now() > deadline {
                eprintln!(
                    "warning: {dirty} of {total} buffer pool pages still dirty after 30 s; this \
                     phase starts unsettled"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    .await;
    // The high mark first: the low-water mark may not exceed it.
    let restore = format!(
        "SET GLOBAL innodb_max_dirty_pages_pct = {pct}, innodb_max_dirty_pages_pct_lwm = {lwm}"
    );
    conn.execute(&restore).await.map_err(|e| {
        format!("could not put the flushing settings back; run `{restore}` on the server: {e}")
    })?;
    drained
}

/// One bench migration: a table and an index named after the migration.
fn table_and_index(m: &mut Migration) {
    let table = format!("t_{}", m.id());
    m.create_table(&table, |t| {
        t.id("id");
        t.string("name", 100).not_null();
        t.integer("value");
    });
    m.create_index(&table, &format!("ix_{}_name", m.id()), ["name"]);
}

/// A chain `m00000 <- m00001 <- ...`.
pub(crate) fn generate(count: usize) -> Vec<MigrationEntry> {
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

/// The statements godwit sends for each migration, from its own offline plan: `up` in apply
/// order, `down` in revert order (last migration first).
struct Rendered {
    up: Vec<Vec<String>>,
    down: Vec<Vec<String>>,
}

fn rendered(entries: &[MigrationEntry], dialect: Dialect) -> Result<Rendered, String> {
    let registry = Registry::from_entries(entries.to_vec()).map_err(|e| e.to_string())?;
    let statements = |direction, target| -> Result<Vec<Vec<String>>, String> {
        let plan =
            offline_plan(&registry, dialect, direction, &[target]).map_err(|e| e.to_string())?;
        plan.into_iter()
            .map(|migration| {
                let mut statements = Vec::new();
                for op in migration.rendered {
                    statements.extend(plain(op)?);
                }
                Ok(statements)
            })
            .collect()
    };
    Ok(Rendered {
        up: statements(Direction::Up, Target::Heads)?,
        down: statements(Direction::Down, Target::base())?,
    })
}

/// The statements of an op that the raw and sqlx sides can send as they are: no probes, no
/// verification queries, no work outside a transaction.
fn plain(op: RenderedOp) -> Result<impl Iterator<Item = String>, String> {
    let special = op.outside_transaction
        || op.foreign_keys_off
        || op.leftover.is_some()
        || op
            .statements
            .iter()
            .any(|s| s.expect_no_rows || s.unless_exists.is_some());
    if special {
        return Err(format!(
            "the bench migrations must render to plain statements; got {op:?}"
        ));
    }
    Ok(op.statements.into_iter().map(|s| s.sql))
}

/// A database made for one run and dropped after it.
pub(crate) struct Scratch {
    dialect: Dialect,
    pub(crate) url: String,
    admin_url: String,
    name: String,
}

impl Scratch {
    pub(crate) async fn create(dialect: Dialect) -> Result<Scratch, String> {
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

    pub(crate) async fn connect(&self) -> Result<Connection, String> {
        Connection::connect(&self.url)
            .await
            .map_err(|e| e.to_string())
    }

    pub(crate) async fn drop(self) -> Result<(), String> {
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

/// The median time; `-` for a side not run.
fn seconds(times: &[Duration]) -> String {
    median(times.iter().map(Duration::as_secs_f64)).map_or("-".into(), |s| format!("{s:.3} s"))
}

/// godwit's time over the other side's in each run, in percent: pairing the sides of one run
/// cancels the drift of a machine whose disk speed wanders over minutes.
fn ratios(ours: &[Duration], other: &[Duration]) -> Vec<f64> {
    ours.iter()
        .zip(other)
        .map(|(o, r)| (o.as_secs_f64() / r.as_secs_f64() - 1.0) * 100.0)
        .collect()
}

pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = values.into_iter().collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

/// The median ratio.
fn percent(ratios: &[f64]) -> String {
    median(ratios.iter().copied()).map_or("-".into(), |r| format!("{r:+.1} %"))
}

/// The smallest and largest ratio.
fn spread(ratios: &[f64]) -> String {
    if ratios.is_empty() {
        return String::new();
    }
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("({min:+.0}..{max:+.0} %)")
}

/// The positive number a flag takes.
pub(crate) fn positive<T: std::str::FromStr + PartialOrd + Default>(
    flag: &str,
    value: Option<&&str>,
) -> Result<T, String> {
    value
        .and_then(|n| n.parse::<T>().ok())
        .filter(|n| *n > T::default())
        .ok_or(format!("{flag} takes a positive number"))
}
