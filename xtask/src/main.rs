//! This repository's task runner: `cargo xtask <task> [args]` (alias in `.cargo/config.toml`).
//! One module per task; this file only dispatches.

use std::process::ExitCode;

use godwit_example_blog as _; // links the example migrations for `migrate`

mod bench_apply;
mod bench_backfill;
mod bench_copy;
mod bench_graph;
mod bench_partition;
mod bench_tenants;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  migrate <command> [options]
      the godwit CLI over the example migrations (examples/blog); `migrate help` lists the
      commands. Default database: the SQLite file ./godwit.sqlite3
  bench apply [--runs N] [--migrations N] [--dialects postgres,mysql,sqlite]
              [--sides godwit,raw,sqlx,alembic] [--commit-each | --single-transaction]
      time upgrade and downgrade of generated migrations against the same SQL run raw, run
      by sqlx's migrator and (when named in --sides) by Alembic
      (build in release: cargo run --release -p xtask -- bench apply)
  bench backfill [--runs N] [--rows N] [--pause MS] [--dialects postgres,mysql,sqlite]
      time a batched backfill of --rows rows (default 1,000,000) against one UPDATE of them,
      each with a concurrent writer whose latency it reports
      (build in release: cargo run --release -p xtask -- bench backfill)
  bench tenants [--runs N] [--tenants N] [--migrations N] [--jobs 1,8]
      time one upgrade of --tenants PostgreSQL schemas (default 100) x --migrations (default
      20), --jobs tenants at a time for each side, and the speedup
      (build in release: cargo run --release -p xtask -- bench tenants)
  bench partition [--runs N] [--rows N]
      time PostgreSQL's online conversion of a --rows table (default 1,000,000) to a
      partitioned one against the offline recipe, each with a concurrent writer whose latency
      it reports
      (build in release: cargo run --release -p xtask -- bench partition)
  bench copy [--rows N]
      godwit's copy of a mixed-type table from MariaDB to PostgreSQL against pgloader's:
      rows/s and peak memory of each (build in release: cargo run --release -p xtask -- bench copy)
  bench graph [--runs N] [--sizes 1000,10000]
      time registry + graph + full upgrade plan on generated migrations
      (build in release: cargo run --release -p xtask -- bench graph)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["migrate", rest @ ..] => {
            let args: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            return ExitCode::from(
                godwit::cli::Cli::default()
                    .migrations_dir("examples/blog/src/migrations")
                    .lock_file("examples/blog/godwit.sum")
                    .run(&args),
            );
        }
        ["bench", "apply", rest @ ..] => bench_apply::run(rest),
        ["bench", "graph", rest @ ..] => bench_graph::run(rest),
        ["bench", "backfill", rest @ ..] => bench_backfill::run(rest),
        ["bench", "tenants", rest @ ..] => bench_tenants::run(rest),
        ["bench", "partition", rest @ ..] => bench_partition::run(rest),
        ["bench", "copy", rest @ ..] => bench_copy::run(rest),
        // The godwit side of `bench copy`, in a process of its own.
        ["bench", "copy-child", rest @ ..] => bench_copy::child(rest),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
