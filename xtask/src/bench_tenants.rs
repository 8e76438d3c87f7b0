//! `cargo xtask bench tenants`: one upgrade of many PostgreSQL tenants (a schema each), run
//! one tenant at a time against several at a time, in the same run.
//!
//! Each run makes a scratch database per side, with `--tenants` schemas (default 100), and
//! times `godwit::tenants::upgrade` of `--migrations` generated migrations (default 20, each a
//! table and an index) on all of them, with `--jobs` tenants at a time for each side (default
//! `1,8`). The sides take turns going first. The table shows the median time of `--runs` runs
//! (default 3), the time per tenant, and the speedup of each side over the first, per run.
//! Measure a release build: `cargo run --release -p xtask -- bench tenants`. Server:
//! `GODWIT_BENCH_POSTGRES_URL` (default: the local test server).

use std::time::{Duration, Instant};

use godwit::registry::Registry;
use godwit::tenants::{self, FanOut, TenantSpec};
use godwit::{Dialect, Target};

use crate::bench_apply::{Scratch, generate, median};

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut runs = 3usize;
    let mut count = 100usize;
    let mut migrations = 20usize;
    let mut jobs = vec![1usize, 8];
    let mut args = args.iter();
    let number = |flag: &str, value: Option<&&str>| {
        value
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .ok_or(format!("{flag} takes a positive number"))
    };
    while let Some(arg) = args.next() {
        match *arg {
            "--runs" => runs = number(arg, args.next())?,
            "--tenants" => count = number(arg, args.next())?,
            "--migrations" => migrations = number(arg, args.next())?,
            "--jobs" => {
                jobs = args
                    .next()
                    .ok_or("--jobs takes a list, e.g. 1,8")?
                    .split(',')
                    .map(|n| n.trim().parse::<usize>().ok().filter(|&n| n > 0))
                    .collect::<Option<Vec<_>>>()
                    .filter(|j| !j.is_empty())
                    .ok_or("--jobs takes positive numbers, e.g. 1,8")?;
            }
            other => return Err(format!("bench tenants: unknown argument `{other}`")),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(bench(runs, count, migrations, &jobs))
}

async fn bench(runs: usize, count: usize, migrations: usize, jobs: &[usize]) -> Result<(), String> {
    let registry = Registry::from_entries(generate(migrations)).map_err(|e| e.to_string())?;
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); jobs.len()];
    for run in 0..runs {
        // Turns: each side goes first in some runs.
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        order.rotate_left(run % jobs.len());
        for side in order {
            times[side].push(time_side(&registry, count, jobs[side]).await?);
        }
        eprintln!("run {}/{runs} done", run + 1);
    }
    println!(
        "{count} PostgreSQL tenants (a schema each) x {migrations} migrations, {runs} run(s), \
         median:"
    );
    println!(
        "{:>6}  {:>10}  {:>12}  {:>22}",
        "jobs",
        "total",
        "per tenant",
        "speedup over jobs ".to_owned() + &jobs[0].to_string()
    );
    for (side, &j) in jobs.iter().enumerate() {
        let total = median(times[side].iter().map(Duration::as_secs_f64)).unwrap_or(0.0);
        let speedups: Vec<f64> = times[0]
            .iter()
            .zip(&times[side])
            .map(|(first, this)| first.as_secs_f64() / this.as_secs_f64())
            .collect();
        let low = speedups.iter().copied().fold(f64::INFINITY, f64::min);
        let high = speedups.iter().copied().fold(0.0, f64::max);
        println!(
            "{j:>6}  {total:>8.3} s  {:>9.1} ms  {:>8.2}x ({low:.2}-{high:.2})",
            total * 1000.0 / count as f64,
            median(speedups).unwrap_or(0.0),
        );
    }
    Ok(())
}

/// One side of a run: a scratch database with `count` tenant schemas, all upgraded.
async fn time_side(registry: &Registry, count: usize, jobs: usize) -> Result<Duration, String> {
    let scratch = Scratch::create(Dialect::Postgres).await?;
    let mut conn = scratch.connect().await?;
    for i in 0..count {
        conn.execute(&format!("CREATE SCHEMA tenant_{i:04}"))
            .await
            .map_err(|e| e.to_string())?;
    }
    conn.close().await.map_err(|e| e.to_string())?;
    let found = tenants::resolve(&scratch.url, &TenantSpec::parse("tenant_%"))
        .await
        .map_err(|e| e.to_string())?;
    let fan_out = FanOut {
        jobs,
        ..FanOut::default()
    };
    let started = Instant::now();
    let report =
        tenants::upgrade(registry, &found, &[Target::Heads], &fan_out, |m| m, |_| {}).await;
    let elapsed = started.elapsed();
    if let Some(failed) = report.failed().next() {
        return Err(format!(
            "tenant {} failed: {:?}",
            failed.tenant, failed.result
        ));
    }
    scratch.drop().await?;
    Ok(elapsed)
}
