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
//! migration, lock), 2 the command line is wrong, 3 `check` found problems.

mod check;
mod graph_view;
mod output;
mod scaffold;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::graph::{Direction, Target};
use crate::op::Dialect;
use crate::registry::Registry;
use crate::runner::{Migrator, RunError, offline_migration, offline_plan};
use output::{Format, Printer};

/// Exit code: a run failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: `check` found problems.
pub const EXIT_PROBLEMS: u8 = 3;

/// The database used when neither `--database-url` nor `DATABASE_URL` is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://godwit.sqlite3?mode=rwc";

const HELP: &str = "\
usage: <program> <command> [arguments] [options]

commands:
  up [TARGET...]         apply migrations up to TARGET (default: every head), then show status
  down TARGET            revert to TARGET: -N, an id, base (TARGET is required)
  redo                   revert the last migration and apply it again
  status                 applied / pending / changed / partial / unknown, with time and duration
  history                the migration graph, newest first, branches and merges drawn
  heads                  the heads of the graph
  show ID                the ops of a migration and its SQL (for --dialect or the database's)
  sql [up|down] [TARGET] the SQL an upgrade from nothing (down: from everything) to TARGET runs,
                         offline, with transaction boundaries; needs --dialect
  check                  offline: graph, every migration replayed on every dialect,
                         reversibility, checksums against the lock file; exit 3 on problems
  new NAME               scaffold a migration after the current heads, registered in --dir
  merge [NAME]           scaffold a migration that merges every head
  stamp TARGET           record the database as being at TARGET without running anything
  help                   this text

targets: heads, head, base, an id or unique id prefix, +N, -N, ID+N, ID-N

options:
  --database-url URL     postgres://, mysql://, mariadb:// or sqlite: URL; default: DATABASE_URL
                         (also read from a .env file), else the SQLite file ./godwit.sqlite3
  --format text|json     output of status, history, heads, check (default: text)
  --dialect D            postgres, mysql or sqlite, for sql and show
  --lock-file PATH       the checksum lock file of check (default: ./godwit.sum)
  --update-lock          check: rewrite the lock file from the current migrations
  --dir PATH             the migrations module directory for new and merge
  --accept-changed ID    accept that applied migration ID changed, and re-record its checksum
  --allow-unknown        upgrade although the database has migrations this binary lacks
  --single-transaction   up/down as one transaction: all of it or nothing (PostgreSQL, SQLite)
  --commit-each          up/down/redo: commit every migration alone, even those that lock only
                         tables the run creates or drops (which share commits by default); on
                         MySQL, record progress op by op instead of per group
  --lock-timeout SECS    wait this long for another runner's lock (default: 60)
  --history-table NAME   [schema.]table of the history (default: godwit_migrations)

exit codes: 0 success, 1 a run failed, 2 wrong command line, 3 check found problems";

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
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
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
    single_transaction: bool,
    commit_each: bool,
    lock_timeout: Option<Duration>,
    history_table: Option<(Option<String>, String)>,
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
            single_transaction: false,
            commit_each: false,
            lock_timeout: None,
            history_table: None,
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
                        other => return Err(format!("unknown format `{other}`: text or json")),
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
                "--single-transaction" => options.single_transaction = true,
                "--commit-each" => options.commit_each = true,
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

    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
            .or_else(|| dotenv_value("DATABASE_URL"))
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
    }
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

/// Parses targets and resolves the ones naming migrations, so that a typo is a usage error
/// reported before any connection.
fn targets(args: &[String], registry: &Registry) -> Result<Vec<Target>, Failure> {
    let graph = registry.graph().map_err(|e| Failure::Run(e.to_string()))?;
    args.iter()
        .map(|a| {
            let target = a
                .parse::<Target>()
                .map_err(|e| Failure::Usage(e.to_string()))?;
            if matches!(target, Target::Point { .. }) {
                graph
                    .resolve(&target)
                    .map_err(|e| Failure::Usage(e.to_string()))?;
            }
            Ok(target)
        })
        .collect()
}

async fn dispatch(options: &Options, printer: &Printer) -> Result<u8, Failure> {
    if options.single_transaction && !matches!(options.command.as_str(), "up" | "down" | "help") {
        return Err(Failure::Usage(format!(
            "--single-transaction applies to `up` and `down`, not `{}`; drop it, or run `up` or \
             `down` with it",
            options.command
        )));
    }
    if options.commit_each && !matches!(options.command.as_str(), "up" | "down" | "redo" | "help") {
        return Err(Failure::Usage(format!(
            "--commit-each applies to `up`, `down` and `redo`, not `{}`; drop it",
            options.command
        )));
    }
    if options.commit_each && options.single_transaction {
        return Err(Failure::Usage(
            "--commit-each and --single-transaction exclude each other: one commit per \
             migration, or one for the whole run; choose one"
                .into(),
        ));
    }
    let registry = Registry::collect().map_err(|e| Failure::Run(e.to_string()))?;
    let args = &options.args;
    match options.command.as_str() {
        "up" => {
            let targets = if args.is_empty() {
                vec![Target::Heads]
            } else {
                targets(args, &registry)?
            };
            let mut migrator = connect(options, registry, printer).await?;
            let report = migrator.upgrade(&targets).await;
            printer.finish_progress();
            let report = report?;
            if report.applied.is_empty() {
                printer.note("nothing to do: every targeted migration is applied");
            }
            let status = migrator.status().await?;
            printer.status(&status, migrator.dialect());
            Ok(0)
        }
        "down" => {
            let [target] = args.as_slice() else {
                return Err(Failure::Usage(
                    "down takes one target: -N, an id, or base".into(),
                ));
            };
            let targets = targets(std::slice::from_ref(target), &registry)?;
            let mut migrator = connect(options, registry, printer).await?;
            let report = migrator.downgrade(&targets).await;
            printer.finish_progress();
            if report?.reverted.is_empty() {
                printer.note("nothing to do: nothing applied is above the target");
            }
            Ok(0)
        }
        "redo" => {
            no_arguments(options)?;
            let mut migrator = connect(options, registry, printer).await?;
            let reverted = migrator.downgrade(&[Target::Back(1)]).await;
            printer.finish_progress();
            let reverted = reverted?.reverted;
            let Some(id) = reverted.first() else {
                printer.note("nothing to redo: no migration is applied");
                return Ok(0);
            };
            let applied = migrator.upgrade(&[Target::id(id.clone())]).await;
            printer.finish_progress();
            applied?;
            Ok(0)
        }
        "status" => {
            no_arguments(options)?;
            let mut migrator = connect(options, registry, printer).await?;
            let status = migrator.status().await?;
            printer.status(&status, migrator.dialect());
            Ok(0)
        }
        "history" => {
            no_arguments(options)?;
            let graph = registry.graph().map_err(|e| Failure::Run(e.to_string()))?;
            printer.history(&graph_view::draw(&graph, &registry));
            Ok(0)
        }
        "heads" => {
            no_arguments(options)?;
            let graph = registry.graph().map_err(|e| Failure::Run(e.to_string()))?;
            let heads: Vec<(String, String)> = graph
                .heads()
                .iter()
                .map(|h| {
                    let location = registry
                        .get(h)
                        .map(|e| e.location().to_string())
                        .unwrap_or_default();
                    (h.to_string(), location)
                })
                .collect();
            printer.heads(&heads);
            Ok(0)
        }
        "show" => {
            let [id] = args.as_slice() else {
                return Err(Failure::Usage("show takes one migration id".into()));
            };
            let dialect = match options.dialect {
                Some(d) => d,
                None => crate::db::dialect_of_url(&options.database_url())
                    .map_err(|e| Failure::Usage(e.to_string()))?,
            };
            let graph = registry.graph().map_err(|e| Failure::Run(e.to_string()))?;
            let resolved = graph
                .resolve(&Target::id(id.clone()))
                .map_err(|e| Failure::Usage(e.to_string()))?;
            let id = resolved.first().copied().unwrap_or(id.as_str()).to_owned();
            let migration = offline_migration(&registry, dialect, &id)?
                .ok_or_else(|| Failure::Run(format!("`{id}` is not in its own plan")))?;
            let entry = registry.get(&id).expect("resolved above");
            printer.show(&migration, entry, dialect);
            Ok(0)
        }
        "sql" => {
            let dialect = options.dialect.ok_or_else(|| {
                Failure::Usage(
                    "sql works without a database: give --dialect postgres|mysql|sqlite".into(),
                )
            })?;
            let (direction, rest) = match args.first().map(String::as_str) {
                Some("up") => (Direction::Up, &args[1..]),
                Some("down") => (Direction::Down, &args[1..]),
                _ => (Direction::Up, &args[..]),
            };
            let targets = match (direction, rest.is_empty()) {
                (Direction::Up, true) => vec![Target::Heads],
                (Direction::Down, true) => vec![Target::base()],
                _ => targets(rest, &registry)?,
            };
            let plan = offline_plan(&registry, dialect, direction, &targets)?;
            printer.script(&plan, dialect);
            Ok(0)
        }
        "check" => {
            no_arguments(options)?;
            let report = check::run(&registry, &options.lock_file, options.update_lock);
            printer.check(&report);
            Ok(if report.problems.is_empty() {
                0
            } else {
                EXIT_PROBLEMS
            })
        }
        "new" | "merge" => {
            let dir = options.dir.clone().ok_or_else(|| {
                Failure::Usage(format!(
                    "{} needs the migrations directory: --dir PATH",
                    options.command
                ))
            })?;
            let graph = registry.graph().map_err(|e| Failure::Run(e.to_string()))?;
            let heads: Vec<&str> = graph.heads();
            let name = match (options.command.as_str(), args.as_slice()) {
                ("new", [name]) => name.clone(),
                ("new", _) => return Err(Failure::Usage("new takes one NAME".into())),
                ("merge", []) => {
                    if heads.len() < 2 {
                        return Err(Failure::Run(format!(
                            "nothing to merge: the graph has {} head{}",
                            heads.len(),
                            if heads.len() == 1 { "" } else { "s" }
                        )));
                    }
                    format!("merge_{}", heads.join("_and_"))
                        .chars()
                        .take(100)
                        .collect()
                }
                ("merge", [name]) => name.clone(),
                _ => return Err(Failure::Usage("merge takes at most one NAME".into())),
            };
            let written = scaffold::write(&dir, &name, &heads, &registry).map_err(Failure::Run)?;
            for path in written {
                printer.note(&format!("wrote {}", path.display()));
            }
            Ok(0)
        }
        "stamp" => {
            if args.is_empty() {
                return Err(Failure::Usage("stamp takes a TARGET".into()));
            }
            let targets = targets(args, &registry)?;
            let mut migrator = connect(options, registry, printer).await?;
            let report = migrator.stamp(&targets).await?;
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
        other => Err(Failure::Usage(format!("unknown command `{other}`"))),
    }
}

fn no_arguments(options: &Options) -> Result<(), Failure> {
    if options.args.is_empty() {
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "{} takes no arguments, got `{}`",
            options.command,
            options.args.join(" ")
        )))
    }
}

async fn connect(
    options: &Options,
    registry: Registry,
    printer: &Printer,
) -> Result<Migrator, Failure> {
    let url = options.database_url();
    let conn = crate::db::Connection::connect(&url).await.map_err(|e| {
        Failure::Run(format!(
            "cannot connect to {}: {e}; check --database-url or DATABASE_URL",
            output::redact(&url)
        ))
    })?;
    let mut migrator = Migrator::with_registry(conn, registry)?
        .accept_changed(options.accept_changed.iter().cloned())
        .allow_unknown(options.allow_unknown)
        .single_transaction(options.single_transaction)
        .commit_each(options.commit_each)
        .on_event(printer.progress_observer());
    if let Some(timeout) = options.lock_timeout {
        migrator = migrator.lock_timeout(timeout);
    }
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
