//! The command line's command, parsed once into a typed [`Command`], with its arguments
//! checked and its targets resolved before any connection.

use std::path::PathBuf;

use super::{Failure, Options};
use crate::dialect::Server;
use crate::graph::{Direction, Target};
use crate::op::Dialect;
use crate::registry::Registry;
use crate::runner::PlanFor;

/// One command with what it needs.
pub(super) enum Command {
    Up {
        targets: Vec<Target>,
    },
    Down {
        targets: Vec<Target>,
    },
    Redo,
    Status,
    Drift,
    History,
    Heads,
    Show {
        id: String,
        plan_for: PlanFor,
    },
    Sql {
        plan_for: PlanFor,
        direction: Direction,
        targets: Vec<Target>,
    },
    Check,
    Verify,
    CreateDatabase,
    DropDatabase,
    /// `new` and `merge`: a migration file in `dir`, after `after`.
    Scaffold {
        dir: PathBuf,
        name: String,
        after: Vec<String>,
    },
    Stamp {
        targets: Vec<Target>,
    },
    /// `copy --from URL --to URL`.
    Copy {
        from: String,
        to: String,
    },
}

impl Command {
    pub fn parse(options: &Options, registry: &Registry) -> Result<Command, Failure> {
        let args = options.args.as_slice();
        let command = match options.command.as_str() {
            "up" if args.is_empty() => Command::Up {
                targets: vec![Target::Heads],
            },
            "up" => Command::Up {
                targets: targets(args, registry)?,
            },
            "down" => match args {
                [_] => Command::Down {
                    targets: targets(args, registry)?,
                },
                _ => return Err(usage("down takes one target: -N, an id, or base")),
            },
            "redo" => no_arguments(options, Command::Redo)?,
            "status" => no_arguments(options, Command::Status)?,
            "drift" => no_arguments(options, Command::Drift)?,
            "history" => no_arguments(options, Command::History)?,
            "heads" => no_arguments(options, Command::Heads)?,
            "check" => no_arguments(options, Command::Check)?,
            "verify" => no_arguments(options, Command::Verify)?,
            "copy" => match (&options.copy.from, &options.copy.to) {
                (Some(from), Some(to)) => no_arguments(
                    options,
                    Command::Copy {
                        from: from.clone(),
                        to: to.clone(),
                    },
                )?,
                _ => return Err(usage("copy needs both databases: --from URL --to URL")),
            },
            "database" => match args {
                [action] if action == "create" => Command::CreateDatabase,
                [action] if action == "drop" => Command::DropDatabase,
                _ => return Err(usage("database takes `create` or `drop`")),
            },
            "show" => {
                let [id] = args else {
                    return Err(usage("show takes one migration id"));
                };
                let dialect = match options.dialect {
                    Some(dialect) => Some(dialect),
                    None if !options.targets.is_empty() => None,
                    None => Some(
                        crate::db::dialect_of_url(&options.database_url())
                            .map_err(|e| Failure::Usage(e.to_string()))?,
                    ),
                };
                let plan_for = plan_for(options, dialect)?;
                let graph = registry.graph().map_err(|e| Failure::Run(e.to_string()))?;
                let resolved = graph
                    .resolve(&Target::id(id.clone()))
                    .map_err(|e| Failure::Usage(e.to_string()))?;
                let id = resolved.first().copied().unwrap_or(id.as_str()).to_owned();
                Command::Show { id, plan_for }
            }
            "sql" => {
                if options.dialect.is_none() && options.targets.is_empty() {
                    return Err(usage(
                        "sql works without a database: give --dialect postgres|mysql|sqlite, or \
                         --target SERVER@VERSION",
                    ));
                }
                let plan_for = plan_for(options, options.dialect)?;
                let (direction, rest) = match args.first().map(String::as_str) {
                    Some("up") => (Direction::Up, &args[1..]),
                    Some("down") => (Direction::Down, &args[1..]),
                    _ => (Direction::Up, args),
                };
                let targets = match (direction, rest.is_empty()) {
                    (Direction::Up, true) => vec![Target::Heads],
                    (Direction::Down, true) => vec![Target::base()],
                    _ => targets(rest, registry)?,
                };
                Command::Sql {
                    plan_for,
                    direction,
                    targets,
                }
            }
            "new" | "merge" => scaffold(options, registry)?,
            "stamp" if args.is_empty() => return Err(usage("stamp takes a TARGET")),
            "stamp" => Command::Stamp {
                targets: targets(args, registry)?,
            },
            other => return Err(Failure::Usage(format!("unknown command `{other}`"))),
        };
        Ok(command)
    }
}

/// The server `sql` and `show` render for: `--target`, else the oldest supported server of
/// `dialect`; with `--safe`.
fn plan_for(options: &Options, dialect: Option<Dialect>) -> Result<PlanFor, Failure> {
    let server = match (options.targets.as_slice(), dialect) {
        ([], Some(dialect)) => Server::lowest_of(dialect),
        ([server], Some(dialect)) if server.dialect() != dialect => {
            return Err(Failure::Usage(format!(
                "--target {server} is not a {} server: drop --dialect, or give a {} target",
                dialect.name(),
                dialect.name()
            )));
        }
        ([server], _) => *server,
        (_, _) => {
            return Err(usage(
                "sql and show render for one server: give --target once",
            ));
        }
    };
    Ok(PlanFor {
        server,
        safe: options.safe,
    })
}

/// `new NAME`, `merge [NAME]`: after the current heads.
fn scaffold(options: &Options, registry: &Registry) -> Result<Command, Failure> {
    let dir = options.dir.clone().ok_or_else(|| {
        Failure::Usage(format!(
            "{} needs the migrations directory: --dir PATH",
            options.command
        ))
    })?;
    let graph = registry.graph().map_err(|e| Failure::Run(e.to_string()))?;
    let heads: Vec<&str> = graph.heads();
    let name = match (options.command.as_str(), options.args.as_slice()) {
        ("new", [name]) => name.clone(),
        ("new", _) => return Err(usage("new takes one NAME")),
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
        _ => return Err(usage("merge takes at most one NAME")),
    };
    Ok(Command::Scaffold {
        dir,
        name,
        after: heads.iter().map(|h| h.to_string()).collect(),
    })
}

fn usage(message: &str) -> Failure {
    Failure::Usage(message.to_owned())
}

fn no_arguments(options: &Options, command: Command) -> Result<Command, Failure> {
    if options.args.is_empty() {
        Ok(command)
    } else {
        Err(Failure::Usage(format!(
            "{} takes no arguments, got `{}`",
            options.command,
            options.args.join(" ")
        )))
    }
}

/// Parses targets and resolves the ones naming migrations, so that a typo is a usage error
/// reported before any connection.
pub(super) fn targets(args: &[String], registry: &Registry) -> Result<Vec<Target>, Failure> {
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
