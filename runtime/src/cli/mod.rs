//! The command line: `<program> <command> [options]`, for a user's xtask.
//!
//! ```ignore
//! // xtask/src/main.rs (`my_migrations`: your crate of migrations)
//! use my_migrations as _; // links the migrations
//! fn main() -> std::process::ExitCode {
//!     godwit::cli::main()
//! }
//! ```
//!
//! Run `<program> help` for the commands. Exit codes: 0 success, 1 a run failed (database,
//! migration, lock), 2 the command line is wrong, 3 `check` found problems or `drift` found
//! differences.

mod check;
mod command;
mod graph_view;
mod output;
mod scaffold;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::dialect::Server;
use crate::graph::{Graph, Target};
use crate::lint::{self, LintReport};
use crate::op::Dialect;
use crate::registry::Registry;
use crate::runner::{Migrator, RunError, offline_migration, offline_plan};
use command::Command;
use output::{Format, Printer};

/// Exit code: a run failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: `check` found problems, or `drift` differences.
pub const EXIT_PROBLEMS: u8 = 3;

/// The database used when neither `--database-url` nor `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://godwit.sqlite3";

const HELP: &str = "\
usage: <program> <command> [arguments] [options]

commands:
  up [TARGET...]         apply migrations up to TARGET (default: every head), then show status
  up --tenants SPEC      the same upgrade on every tenant (schemas, databases, files), a table
                         at the end; exit 1 if one failed
  up --expand            apply every pending migration but the `contract` ones and those after
                         them: the half of a change that old and new code both run with
  down TARGET            revert to TARGET: -N, an id, base (TARGET is required)
  redo                   revert the last migration and apply it again
  status                 applied / pending / changed / partial / unknown, with time and duration
                         (with --tenants: applied / pending per tenant)
  drift                  how the live schema differs from the model at the applied point, object
                         by object; exit 3 when it does (also `status --drift`)
  history                the migration graph, newest first, branches and merges drawn
  heads                  the heads of the graph
  show ID                the ops of a migration and its SQL (for --dialect or the database's)
  sql [up|down] [TARGET] the SQL an upgrade from nothing (down: from everything) to TARGET runs,
                         offline, with transaction boundaries; needs --dialect or --target
  verify [--force]       on a scratch database: each migration up (the schema must be the
                         model's), down (it must be what it was before), up again; exit 3 when
                         one differs
  check                  offline: graph, every migration replayed on every dialect,
                         reversibility, checksums against the lock file, and the lint for
                         the --target servers (with --database-url: that server, over what it
                         has still to apply); exit 3 on problems or lint errors
  new NAME               scaffold a migration after the current heads, registered in --dir
  merge [NAME]           scaffold a migration that merges every head
  stamp TARGET           record the database as being at TARGET without running anything
  copy --from URL --to URL
                         copy every table's rows from one database to another (any two
                         dialects), both at the same migration point: an empty target is
                         migrated to the source's first; resumes where a killed copy stopped,
                         verifies each table by its row count and checksum
  database create        create the database --database-url names (a SQLite file: the file)
  database drop [-y]     drop it, after asking (-y: without); a database with tables named
                         like production's (prod, production, live) needs --force too
  help                   this text

targets: heads, head, base, an id or unique id prefix, +N, -N, ID+N, ID-N

options:
  --database-url URL     postgres://, mysql://, mariadb:// or sqlite: URL; default: DATABASE_URL
                         (also read from a .env file), else the SQLite file ./godwit.sqlite3
  --format text|json     output of status, history, heads, check, drift (default: text);
                         check also takes `github` (annotations on the diff in GitHub Actions)
  --dialect D            postgres, mysql or sqlite, for sql and show
  --target SERVER@VER    postgres@15, mysql@8.0.29, mariadb@10.11, sqlite@3.45: the server check
                         lints for (repeatable; default: the oldest supported of each), or sql
                         and show render for (default: the oldest supported of --dialect)
  --safe                 up, redo, sql, show: run each op that locks an existing table as its
                         safe sequence (CONCURRENTLY, NOT VALID + VALIDATE, ALGORITHM/LOCK);
                         check: lint for such runs (rewritable findings do not fail)
  --lock-file PATH       the checksum lock file of check (default: ./godwit.sum)
  --update-lock          check: rewrite the lock file from the current migrations
  --dir PATH             the migrations module directory for new and merge
  --accept-changed ID    accept that applied migration ID changed, and re-record its checksum
  --allow-unknown        upgrade although the database has migrations this binary lacks
  --force                verify: run on a database that has tables of its own
  --tenants SPEC         up, status: on every tenant of --database-url: PostgreSQL schemas,
                         MySQL databases (a pattern `tenant_%`, or a list `a,b,c`; URLs too),
                         or SQLite files (`data/*.db`, or a list); each has its own history
  --tenants-query SQL    the tenants are what this query on --database-url returns
  --jobs N               tenants at a time (default 4)
  --canary K             run the first K tenants first; if one fails, no other starts
  --fail-fast            start no tenant once one has failed (default: go on, report)
  --max-failures N       start no tenant once N have failed
  --backup-dir DIR       up, redo: back up the database into DIR before each migration
                         (pg_dump / mysqldump / VACUUM INTO; `#[migration(backup)]` ones always,
                         into ./godwit-backups by default)
  --allow-drift          upgrade although the live schema differs from the model at the
                         applied migrations (`up` compares them first and stops otherwise)
  --single-transaction   up/down as one transaction: all of it or nothing (PostgreSQL, SQLite)
  --commit-each          up/down/redo: commit every migration alone, even those that lock only
                         tables the run creates or drops (which share commits by default); on
                         MySQL, record progress op by op instead of per group
  --from URL, --to URL   copy: the source and the target
  --tables A,B           copy: only these tables (default: every table of the model)
  --batch-size N         copy: rows per batch, each one transaction (default 10000)
  --reject-file PATH     copy: where rows the target refuses go, one JSON object a line
                         (default: ./godwit-rejects.jsonl)
  --strict               copy: fail at the first row the target refuses instead
  --lock-timeout SECS    wait this long for another runner's lock (default: 60)
  --history-table NAME   [schema.]table of the history (default: godwit_migrations)

exit codes: 0 success, 1 a run failed, 2 wrong command line, 3 check found problems or drift
found differences";

/// The CLI with repository-specific defaults; [`main`] uses the plain defaults.
#[derive(Debug, Clone, Default)]
pub struct Cli {
    migrations_dir: Option<PathBuf>,
    lock_file: Option<PathBuf>,
}

impl Cli {
    /// The directory `new` and `merge` write to when `--dir` is not given.
    pub fn migrations_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.migrations_dir = Some(dir.into());
        self
    }

    /// The lock file `check` reads when `--lock-file` is not given (default: `./godwit.sum`).
    pub fn lock_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.lock_file = Some(path.into());
        self
    }

    /// Parses the process arguments and runs the command.
    pub fn main(self) -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        ExitCode::from(self.run(&args))
    }

    /// Runs one command line (without the program name); returns the exit code.
    pub fn run(self, args: &[String]) -> u8 {
        let options = match Options::parse(args, self) {
            Ok(options) => options,
            Err(message) => {
                eprintln!("error: {message}\n\nrun `help` for usage");
                return EXIT_USAGE;
            }
        };
        let printer = Printer::new(options.format);
        if options.command == "help" {
            println!("{HELP}");
            return 0;
        }
        // A copy reads its batches back on a second thread while the next is written.
        let runtime = match options.command == "copy" {
            true => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
            false => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        };
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(e) => {
                printer.error(&format!("cannot start the async runtime: {e}"));
                return EXIT_FAILURE;
            }
        };
        match runtime.block_on(dispatch(&options, &printer)) {
            Ok(code) => code,
            Err(Failure::Usage(message)) => {
                printer.error(&format!("{message}\n\nrun `help` for usage"));
                EXIT_USAGE
            }
            Err(Failure::Run(message)) => {
                printer.error(&message);
                EXIT_FAILURE
            }
        }
    }
}

/// Runs the command line of this process with the default settings.
pub fn main() -> ExitCode {
    Cli::default().main()
}

enum Failure {
    Usage(String),
    Run(String),
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        Failure::Run(e.to_string())
    }
}

struct Options {
    command: String,
    args: Vec<String>,
    database_url: Option<String>,
    format: Format,
    dialect: Option<Dialect>,
    lock_file: PathBuf,
    update_lock: bool,
    dir: Option<PathBuf>,
    accept_changed: Vec<String>,
    allow_unknown: bool,
    allow_drift: bool,
    force: bool,
    yes: bool,
    backup_dir: Option<PathBuf>,
    tenants: Option<crate::tenants::TenantSpec>,
    jobs: Option<usize>,
    canary: usize,
    fail_fast: bool,
    max_failures: Option<usize>,
    single_transaction: bool,
    commit_each: bool,
    expand: bool,
    drift: bool,
    safe: bool,
    /// `--target`: the servers `check` lints for, or the one `sql` and `show` render for.
    targets: Vec<Server>,
    lock_timeout: Option<Duration>,
    history_table: Option<(Option<String>, String)>,
    copy: CopyFlags,
}

/// The options of `copy`.
#[derive(Default)]
struct CopyFlags {
    from: Option<String>,
    to: Option<String>,
    tables: Option<Vec<String>>,
    batch_size: Option<u32>,
    reject_file: Option<PathBuf>,
    strict: bool,
}

impl CopyFlags {
    fn any(&self) -> bool {
        self.from.is_some()
            || self.to.is_some()
            || self.tables.is_some()
            || self.batch_size.is_some()
            || self.reject_file.is_some()
            || self.strict
    }
}

impl Options {
    fn parse(args: &[String], cli: Cli) -> Result<Options, String> {
        let mut options = Options {
            command: String::new(),
            args: Vec::new(),
            database_url: None,
            format: Format::Text,
            dialect: None,
            lock_file: cli.lock_file.unwrap_or_else(|| PathBuf::from("godwit.sum")),
            update_lock: false,
            dir: cli.migrations_dir,
            accept_changed: Vec::new(),
            allow_unknown: false,
            allow_drift: false,
            force: false,
            yes: false,
            backup_dir: None,
            tenants: None,
            jobs: None,
            canary: 0,
            fail_fast: false,
            max_failures: None,
            single_transaction: false,
            commit_each: false,
            expand: false,
            drift: false,
            safe: false,
            targets: Vec::new(),
            lock_timeout: None,
            history_table: None,
            copy: CopyFlags::default(),
        };
        let mut positional = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "--database-url" => options.database_url = Some(value(arg)?),
                "--format" => {
                    options.format = match value(arg)?.as_str() {
                        "text" => Format::Text,
                        "json" => Format::Json,
                        "github" => Format::Github,
                        other => {
                            return Err(format!(
                                "unknown format `{other}`: text, json, or github (check only)"
                            ));
                        }
                    }
                }
                "--dialect" => {
                    let name = value(arg)?;
                    options.dialect = Some(parse_dialect(&name)?);
                }
                "--lock-file" => options.lock_file = PathBuf::from(value(arg)?),
                "--update-lock" => options.update_lock = true,
                "--dir" => options.dir = Some(PathBuf::from(value(arg)?)),
                "--accept-changed" => options.accept_changed.push(value(arg)?),
                "--allow-unknown" => options.allow_unknown = true,
                "--allow-drift" => options.allow_drift = true,
                "--force" => options.force = true,
                "-y" | "--yes" => options.yes = true,
                "--backup-dir" => options.backup_dir = Some(PathBuf::from(value(arg)?)),
                "--tenants" => {
                    options.tenants = Some(crate::tenants::TenantSpec::parse(&value(arg)?))
                }
                "--tenants-query" => {
                    options.tenants = Some(crate::tenants::TenantSpec::Query(value(arg)?))
                }
                "--jobs" => options.jobs = Some(count(arg, &value(arg)?, 1)?),
                "--canary" => options.canary = count(arg, &value(arg)?, 1)?,
                "--fail-fast" => options.fail_fast = true,
                "--max-failures" => options.max_failures = Some(count(arg, &value(arg)?, 1)?),
                "--single-transaction" => options.single_transaction = true,
                "--commit-each" => options.commit_each = true,
                "--expand" => options.expand = true,
                "--drift" => options.drift = true,
                "--safe" => options.safe = true,
                "--target" => options.targets.push(Server::parse(&value(arg)?)?),
                "--lock-timeout" => {
                    let seconds = value(arg)?;
                    let seconds: f64 = seconds
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                        .ok_or(format!("--lock-timeout takes seconds, not `{seconds}`"))?;
                    options.lock_timeout = Some(Duration::from_secs_f64(seconds));
                }
                "--history-table" => {
                    let name = value(arg)?;
                    options.history_table = Some(match name.split_once('.') {
                        Some((schema, table)) => (Some(schema.to_owned()), table.to_owned()),
                        None => (None, name),
                    });
                }
                "--from" => options.copy.from = Some(value(arg)?),
                "--to" => options.copy.to = Some(value(arg)?),
                "--tables" => {
                    let tables: Vec<String> = value(arg)?
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect();
                    if tables.is_empty() {
                        return Err("--tables takes table names, `a,b`".into());
                    }
                    options.copy.tables = Some(tables);
                }
                "--batch-size" => {
                    let text = value(arg)?;
                    let size = count(arg, &text, 1)?;
                    options.copy.batch_size = Some(u32::try_from(size).map_err(|_| {
                        format!("--batch-size takes at most {} rows, not `{text}`", u32::MAX)
                    })?);
                }
                "--reject-file" => options.copy.reject_file = Some(PathBuf::from(value(arg)?)),
                "--strict" => options.copy.strict = true,
                "-h" | "--help" => positional.insert(0, "help".to_owned()),
                flag if flag.starts_with("--") => {
                    return Err(format!("unknown option `{flag}`"));
                }
                _ => positional.push(arg.clone()),
            }
        }
        let mut positional = positional.into_iter();
        options.command = positional.next().unwrap_or_else(|| "help".into());
        options.args = positional.collect();
        Ok(options)
    }

    /// Options that only some commands take, given to another.
    fn check_flags(&self) -> Result<(), Failure> {
        let command = self.command.as_str();
        if self.single_transaction && !matches!(command, "up" | "down" | "help") {
            return Err(Failure::Usage(format!(
                "--single-transaction applies to `up` and `down`, not `{command}`; drop it, or \
                 run `up` or `down` with it"
            )));
        }
        if self.commit_each && !matches!(command, "up" | "down" | "redo" | "help") {
            return Err(Failure::Usage(format!(
                "--commit-each applies to `up`, `down` and `redo`, not `{command}`; drop it"
            )));
        }
        if self.expand && !matches!(command, "up" | "help") {
            return Err(Failure::Usage(format!(
                "--expand applies to `up`, not `{command}`; drop it"
            )));
        }
        if self.drift && !matches!(command, "status" | "help") {
            return Err(Failure::Usage(format!(
                "--drift applies to `status`, not `{command}`; drop it (or run `drift`)"
            )));
        }
        if self.safe && !matches!(command, "up" | "redo" | "sql" | "show" | "check" | "help") {
            return Err(Failure::Usage(format!(
                "--safe applies to `up`, `redo`, `sql`, `show` and `check`, not `{command}`; \
                 drop it"
            )));
        }
        if !self.targets.is_empty() && !matches!(command, "check" | "sql" | "show" | "help") {
            return Err(Failure::Usage(format!(
                "--target applies to `check`, `sql` and `show`, not `{command}` (which use the \
                 connected server); drop it"
            )));
        }
        if self.format == Format::Github && !matches!(command, "check" | "help") {
            return Err(Failure::Usage(format!(
                "--format github applies to `check`, not `{command}`; use text or json"
            )));
        }
        let fan_out_flags =
            self.jobs.is_some() || self.canary > 0 || self.fail_fast || self.max_failures.is_some();
        if self.tenants.is_some() && !matches!(command, "up" | "status" | "help") {
            return Err(Failure::Usage(format!(
                "--tenants applies to `up` and `status`, not `{command}`; drop it"
            )));
        }
        if fan_out_flags && self.tenants.is_none() {
            return Err(Failure::Usage(
                "--jobs, --canary, --fail-fast and --max-failures apply to a run over tenants: \
                 give --tenants (or --tenants-query)"
                    .into(),
            ));
        }
        if self.fail_fast && self.max_failures.is_some() {
            return Err(Failure::Usage(
                "--fail-fast and --max-failures exclude each other: stop at the first failure, \
                 or at N; choose one"
                    .into(),
            ));
        }
        if self.tenants.is_some() && self.history_table.is_some() {
            return Err(Failure::Usage(
                "--tenants keeps each tenant's history in its own schema, database or file, as \
                 godwit_migrations: drop --history-table"
                    .into(),
            ));
        }
        if self.tenants.is_some() && (self.expand || self.single_transaction || self.drift) {
            return Err(Failure::Usage(
                "--tenants runs `up` (or `status`) on each tenant as it is: drop --expand, \
                 --single-transaction and --drift"
                    .into(),
            ));
        }
        if self.backup_dir.is_some() && !matches!(command, "up" | "redo" | "help") {
            return Err(Failure::Usage(format!(
                "--backup-dir applies to `up` and `redo`, not `{command}`; drop it"
            )));
        }
        if self.force && !matches!(command, "verify" | "database" | "help") {
            return Err(Failure::Usage(format!(
                "--force applies to `verify` and `database drop`, not `{command}`; drop it"
            )));
        }
        if self.yes && command != "database" {
            return Err(Failure::Usage(format!(
                "-y applies to `database drop`, not `{command}`; drop it"
            )));
        }
        if self.allow_drift && !matches!(command, "up" | "redo" | "help") {
            return Err(Failure::Usage(format!(
                "--allow-drift applies to `up` and `redo`, not `{command}`; drop it"
            )));
        }
        if self.expand && !self.args.is_empty() {
            return Err(Failure::Usage(
                "`up --expand` applies every pending migration of the expand phase and takes no \
                 target; drop the target, or `--expand`"
                    .into(),
            ));
        }
        if self.copy.any() && !matches!(command, "copy" | "help") {
            return Err(Failure::Usage(format!(
                "--from, --to, --tables, --batch-size, --reject-file and --strict apply to \
                 `copy`, not `{command}`; drop them"
            )));
        }
        if command == "copy" && self.database_url.is_some() {
            return Err(Failure::Usage(
                "copy names its databases with --from and --to: drop --database-url".into(),
            ));
        }
        if self.commit_each && self.single_transaction {
            return Err(Failure::Usage(
                "--commit-each and --single-transaction exclude each other: one commit per \
                 migration, or one for the whole run; choose one"
                    .into(),
            ));
        }
        Ok(())
    }

    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
            .or_else(|| dotenv_value("DATABASE_URL"))
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
    }
}

/// A whole number of at least `min`, for `flag`.
fn count(flag: &str, text: &str, min: usize) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| format!("{flag} takes a whole number of at least {min}, not `{text}`"))
}

fn parse_dialect(name: &str) -> Result<Dialect, String> {
    match name {
        "postgres" | "postgresql" => Ok(Dialect::Postgres),
        "mysql" | "mariadb" => Ok(Dialect::Mysql),
        "sqlite" => Ok(Dialect::Sqlite),
        other => Err(format!(
            "unknown dialect `{other}`: postgres, mysql or sqlite"
        )),
    }
}

async fn dispatch(options: &Options, printer: &Printer) -> Result<u8, Failure> {
    options.check_flags()?;
    let registry = Registry::collect().map_err(|e| Failure::Run(e.to_string()))?;
    match Command::parse(options, &registry)? {
        Command::Up { targets } if options.tenants.is_some() => {
            tenants_up(options, registry, printer, &targets).await
        }
        Command::Status if options.tenants.is_some() => {
            tenants_status(options, registry, printer).await
        }
        Command::Up { targets } => up(options, registry, printer, &targets).await,
        Command::Down { targets } => down(options, registry, printer, &targets).await,
        Command::Redo => redo(options, registry, printer).await,
        Command::Status => {
            let mut migrator = connect(options, registry, printer).await?;
            let status = migrator.status().await?;
            if !options.drift {
                printer.status(&status, migrator.dialect());
                return Ok(0);
            }
            let differences = migrator.drift().await?;
            printer.status_and_drift(&status, migrator.dialect(), &differences);
            Ok(if differences.is_empty() {
                0
            } else {
                EXIT_PROBLEMS
            })
        }
        Command::Drift => {
            let mut migrator = connect(options, registry, printer).await?;
            let differences = migrator.drift().await?;
            printer.drift(&differences);
            Ok(if differences.is_empty() {
                0
            } else {
                EXIT_PROBLEMS
            })
        }
        Command::History => {
            printer.history(&graph_view::draw(&graph(&registry)?, &registry));
            Ok(0)
        }
        Command::Heads => {
            printer.heads(&heads(&registry)?);
            Ok(0)
        }
        Command::Show { id, plan_for } => {
            let migration = offline_migration(&registry, plan_for, &id)?
                .ok_or_else(|| Failure::Run(format!("`{id}` is not in its own plan")))?;
            let entry = registry.get(&id).expect("resolved when parsed");
            printer.show(&migration, entry, plan_for);
            Ok(0)
        }
        Command::Sql {
            plan_for,
            direction,
            targets,
        } => {
            let plan = offline_plan(&registry, plan_for, direction, &targets)?;
            printer.script(&plan, plan_for);
            Ok(0)
        }
        Command::Check => {
            let lint = check_lint(options, &registry, printer).await?;
            let report = check::run(&registry, &options.lock_file, options.update_lock, lint);
            printer.check(&report);
            Ok(if report.ok() { 0 } else { EXIT_PROBLEMS })
        }
        Command::CreateDatabase => {
            let url = options.database_url();
            let shown = crate::db::redact_url(&url);
            match crate::db::create_database(&url)
                .await
                .map_err(|e| Failure::Run(e.to_string()))?
            {
                crate::db::DatabaseCreated::Created => printer.note(&format!("created {shown}")),
                crate::db::DatabaseCreated::Existed => {
                    printer.note(&format!("{shown} exists already: nothing to do"))
                }
            }
            Ok(0)
        }
        Command::DropDatabase => drop_database(options, printer).await,
        Command::Verify => {
            let mut migrator = connect(options, registry, printer).await?;
            let report = migrator.verify(options.force).await;
            printer.finish_progress();
            let report = report?;
            printer.verify(&report);
            Ok(if report.ok() { 0 } else { EXIT_PROBLEMS })
        }
        Command::Scaffold { dir, name, after } => {
            let written = scaffold::write(&dir, &name, &after, &registry).map_err(Failure::Run)?;
            for path in written {
                printer.note(&format!("wrote {}", path.display()));
            }
            Ok(0)
        }
        Command::Stamp { targets } => stamp(options, registry, printer, &targets).await,
        Command::Copy { from, to } => copy(options, &registry, printer, &from, &to).await,
    }
}

/// `copy --from URL --to URL`: the progress as it goes, the totals at the end.
async fn copy(
    options: &Options,
    registry: &Registry,
    printer: &Printer,
    from: &str,
    to: &str,
) -> Result<u8, Failure> {
    let flags = &options.copy;
    let mut copy_options = crate::copy::CopyOptions {
        tables: flags.tables.clone(),
        strict: flags.strict,
        ..Default::default()
    };
    if let Some(size) = flags.batch_size {
        copy_options.batch_size = size;
    }
    if let Some(path) = &flags.reject_file {
        copy_options.reject_file = path.clone();
    }
    if let Some((schema, name)) = &options.history_table {
        copy_options.history_table = crate::runner::HistoryTable {
            schema: schema.clone(),
            name: name.clone(),
        };
    }
    let report = crate::copy::copy(registry, from, to, &copy_options, |event| {
        printer.copy_event(event)
    })
    .await;
    printer.finish_progress();
    let report = report.map_err(|e| Failure::Run(e.to_string()))?;
    printer.copy_report(&report);
    Ok(0)
}

async fn up(
    options: &Options,
    registry: Registry,
    printer: &Printer,
    targets: &[Target],
) -> Result<u8, Failure> {
    let mut migrator = connect(options, registry, printer).await?;
    let report = match options.expand {
        true => migrator.up_expand().await,
        false => migrator.upgrade(targets).await,
    };
    printer.finish_progress();
    if report?.applied.is_empty() {
        printer.note("nothing to do: every targeted migration is applied");
    }
    let status = migrator.status().await?;
    printer.status(&status, migrator.dialect());
    Ok(0)
}

/// `up --tenants`: the same upgrade on every tenant, a line as each ends, then the table.
async fn tenants_up(
    options: &Options,
    registry: Registry,
    printer: &Printer,
    targets: &[Target],
) -> Result<u8, Failure> {
    let found = find_tenants(options).await?;
    let fan_out = crate::tenants::FanOut {
        jobs: options
            .jobs
            .unwrap_or(crate::tenants::FanOut::default().jobs),
        canary: options.canary,
        policy: match (options.fail_fast, options.max_failures) {
            (true, _) => crate::tenants::FailurePolicy::FailFast,
            (false, Some(n)) => crate::tenants::FailurePolicy::MaxFailures(n),
            (false, None) => crate::tenants::FailurePolicy::Continue,
        },
    };
    let total = found.len();
    let mut done = 0;
    let report = crate::tenants::upgrade(
        &registry,
        &found,
        targets,
        &fan_out,
        |m| configured(m, options),
        |outcome| {
            done += 1;
            printer.tenant_finished(outcome, done, total);
        },
    )
    .await;
    printer.tenants(&report);
    Ok(match report.failed().next() {
        Some(_) => EXIT_FAILURE,
        None => 0,
    })
}

/// `status --tenants`: a line per tenant.
async fn tenants_status(
    options: &Options,
    registry: Registry,
    printer: &Printer,
) -> Result<u8, Failure> {
    let found = find_tenants(options).await?;
    let jobs = options
        .jobs
        .unwrap_or(crate::tenants::FanOut::default().jobs);
    let statuses = crate::tenants::status(&registry, &found, jobs).await;
    printer.tenant_statuses(&statuses);
    Ok(0)
}

async fn find_tenants(options: &Options) -> Result<Vec<crate::tenants::Tenant>, Failure> {
    let spec = options.tenants.as_ref().expect("checked by the caller");
    Ok(crate::tenants::resolve(&options.database_url(), spec).await?)
}

/// `database drop`: asks first (unless `-y`), and refuses a database that holds tables and is
/// named like a production one unless `--force`.
async fn drop_database(options: &Options, printer: &Printer) -> Result<u8, Failure> {
    let url = options.database_url();
    let shown = crate::db::redact_url(&url);
    let name = crate::db::database_name(&url)
        .or_else(|| crate::db::sqlite_path(&url).map(|p| p.display().to_string()))
        .unwrap_or_default();
    let exists = match crate::db::sqlite_path(&url) {
        Some(path) => path.exists(),
        None => true,
    };
    // Fails closed: tables that cannot be listed are not taken for none.
    let tables = match exists {
        true => crate::db::user_tables(&url).await.map_err(|e| {
            Failure::Run(format!(
                "cannot list the tables of {shown} before dropping it: {e}"
            ))
        })?,
        false => Vec::new(),
    };
    if !tables.is_empty() && looks_like_production(&name) && !options.force {
        return Err(Failure::Run(format!(
            "{shown} holds {} table(s) and its name looks like production's; refusing to drop \
             it: pass --force if it really is to go",
            tables.len()
        )));
    }
    if !options.yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            return Err(Failure::Usage(format!(
                "dropping {shown} needs a yes: pass -y (no terminal to ask on)"
            )));
        }
        eprint!(
            "drop {shown}{}? type its name ({name}) to confirm: ",
            match tables.len() {
                0 => String::new(),
                n => format!(", with its {n} table(s)"),
            }
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != name {
            printer.note("not dropped");
            return Ok(EXIT_FAILURE);
        }
    }
    match crate::db::drop_database(&url)
        .await
        .map_err(|e| Failure::Run(e.to_string()))?
    {
        true => printer.note(&format!("dropped {shown}")),
        false => printer.note(&format!("{shown} does not exist: nothing to do")),
    }
    Ok(0)
}

/// `prod`, `production`, `live` as a word of the name (`shop_prod`, `live-db`).
fn looks_like_production(name: &str) -> bool {
    let file = std::path::Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    file.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| matches!(word, "prod" | "production" | "live" | "prd"))
}

async fn down(
    options: &Options,
    registry: Registry,
    printer: &Printer,
    targets: &[Target],
) -> Result<u8, Failure> {
    let mut migrator = connect(options, registry, printer).await?;
    let report = migrator.downgrade(targets).await;
    printer.finish_progress();
    if report?.reverted.is_empty() {
        printer.note("nothing to do: nothing applied is above the target");
    }
    Ok(0)
}

async fn redo(options: &Options, registry: Registry, printer: &Printer) -> Result<u8, Failure> {
    let mut migrator = connect(options, registry, printer).await?;
    let report = migrator.redo().await;
    printer.finish_progress();
    if report?.reverted.is_empty() {
        printer.note("nothing to redo: no migration is applied");
    }
    Ok(0)
}

async fn stamp(
    options: &Options,
    registry: Registry,
    printer: &Printer,
    targets: &[Target],
) -> Result<u8, Failure> {
    let mut migrator = connect(options, registry, printer).await?;
    let report = migrator.stamp(targets).await?;
    for id in &report.stamped {
        printer.note(&format!("recorded {id} as applied"));
    }
    for id in &report.unstamped {
        printer.note(&format!("removed {id} from the history"));
    }
    if report.nothing_to_do() {
        printer.note("nothing to do: the history is already at the target");
    }
    Ok(0)
}

/// The lint `check` runs: for the `--target` servers, each migration on its own; with an
/// explicit `--database-url`, for that server (or the targets), over what it has still to
/// apply. Nothing when the graph does not build: `check` reports that.
async fn check_lint(
    options: &Options,
    registry: &Registry,
    printer: &Printer,
) -> Result<LintReport, Failure> {
    let Ok(graph) = registry.graph() else {
        return Ok(LintReport::default());
    };
    if options.database_url.is_none() {
        let servers = match options.targets.is_empty() {
            true => lint::default_servers(),
            false => options.targets.clone(),
        };
        return Ok(lint::lint(
            registry,
            &graph,
            &servers,
            lint::Scope::EachMigration,
            options.safe,
        ));
    }
    let mut migrator = connect(options, registry.clone(), printer).await?;
    let servers = match options.targets.is_empty() {
        true => vec![migrator.server().await?],
        false => options.targets.clone(),
    };
    Ok(migrator.lint_for(&servers).await?)
}

fn graph(registry: &Registry) -> Result<Graph, Failure> {
    registry.graph().map_err(|e| Failure::Run(e.to_string()))
}

/// Each head with its location.
fn heads(registry: &Registry) -> Result<Vec<(String, String)>, Failure> {
    let graph = graph(registry)?;
    Ok(graph
        .heads()
        .iter()
        .map(|h| {
            let location = registry
                .get(h)
                .map(|e| e.location().to_string())
                .unwrap_or_default();
            (h.to_string(), location)
        })
        .collect())
}

async fn connect(
    options: &Options,
    registry: Registry,
    printer: &Printer,
) -> Result<Migrator, Failure> {
    let mut url = options.database_url();
    // A command that writes makes a missing SQLite file; one that reads says it is missing.
    if matches!(
        options.command.as_str(),
        "up" | "down" | "redo" | "stamp" | "verify"
    ) {
        url = crate::db::for_writing(&url).map_err(|e| Failure::Run(e.to_string()))?;
    }
    let conn = crate::db::Connection::connect(&url).await.map_err(|e| {
        Failure::Run(format!(
            "cannot connect to {}: {e}",
            crate::db::redact_url(&url)
        ))
    })?;
    let migrator = Migrator::with_registry(conn, registry)?
        .backup_url(&url)
        .single_transaction(options.single_transaction)
        .on_event(printer.progress_observer());
    let mut migrator = configured(migrator, options);
    if let Some((schema, name)) = &options.history_table {
        migrator = migrator.history_table(schema.as_deref(), name);
    }
    if !options.accept_changed.is_empty() {
        for id in migrator.record_checksums().await? {
            printer.note(&format!("re-recorded the checksum of {id}"));
        }
    }
    Ok(migrator)
}

/// The options that apply to every run, a tenant's too.
fn configured(mut migrator: Migrator, options: &Options) -> Migrator {
    migrator = migrator
        .accept_changed(options.accept_changed.iter().cloned())
        .allow_unknown(options.allow_unknown)
        .allow_drift(options.allow_drift)
        .commit_each(options.commit_each)
        .safe(options.safe);
    if let Some(timeout) = options.lock_timeout {
        migrator = migrator.lock_timeout(timeout);
    }
    if let Some(dir) = &options.backup_dir {
        migrator = migrator.backup_dir(dir).backup_every_migration(true);
    }
    migrator
}

/// The value of `key` in `./.env`, if the file sets it.
fn dotenv_value(key: &str) -> Option<String> {
    let text = std::fs::read_to_string(".env").ok()?;
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, value) = line.split_once('=')?;
        (k.trim() == key && !line.starts_with('#'))
            .then(|| {
                value
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_owned()
            })
            .filter(|v| !v.is_empty())
    })
}
