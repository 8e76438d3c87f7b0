//! `cargo xtask bench graph`: how long the runtime takes from the registry to a full upgrade
//! plan, for 1,000 and 10,000 generated migrations with branches and merges (other sizes with
//! `--sizes`, e.g. `--sizes 1000,10000,100000`).
//!
//! Each run times, on the same generated entries:
//! 1. `Registry::from_entries`: what `Registry::collect` does after walking `inventory`'s list
//!    (sort by id, reject duplicate ids);
//! 2. `Registry::graph`: id checks, dependency resolution, topological order;
//! 3. `Graph::upgrade_plan(nothing applied, heads)`: the full plan.
//!
//! Measure a release build: `cargo run --release -p xtask -- bench graph`. The table shows the
//! median over `--runs` runs (default 31) of each phase and of the total, and the growth from
//! each size to the next (linear growth: about the size ratio).
//!
//! Every step is linear in the number of migrations: the instructions executed per migration
//! stay flat from 1,000 to 100,000 (count them with valgrind, outside the timed loop's noise:
//! `valgrind --tool=cachegrind --cache-sim=no target/release/xtask bench graph --sizes 10000
//! --runs 1`, then `cg_annotate` and sum the `godwit::graph` and `godwit::registry` functions).
//! The time per migration still grows with the size, because ids are random with respect to
//! the dependencies: hash probes, the permutation into id order and Kahn's walk touch memory
//! in no particular order, and the working set outgrows one cache level after another (about
//! 100 KB for 1,000 migrations, 1 MB for 10,000, 10 MB for 100,000). Run the sizes a few times on a
//! quiet machine: another process on the same core easily moves the 1,000 column by half.

use std::hint::black_box;
use std::time::{Duration, Instant};

use godwit::Migration;
use godwit::graph::Target;
use godwit::registry::{Location, MigrationEntry, Registry};

pub fn run(args: &[&str]) -> Result<(), String> {
    let mut runs = 31usize;
    let mut sizes = vec![1_000usize, 10_000];
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
            "--sizes" => {
                sizes = args
                    .next()
                    .ok_or("--sizes takes a comma-separated list, e.g. 1000,10000")?
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|_| format!("invalid size `{s}`")))
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument `{other}`\n\n{}", super::USAGE)),
        }
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; measure with `cargo run --release -p xtask -- bench graph`"
        );
    }

    println!("graph benchmark: median of {runs} runs per size\n");
    println!(
        "{:>8} {:>6} {:>6} {:>7} | {:>10} {:>10} {:>10} | {:>10} {:>10}",
        "size", "bases", "heads", "merges", "registry", "graph", "plan", "total", "max total"
    );
    let mut totals = Vec::new();
    for &n in &sizes {
        let entries = generate(n);
        let shape = shape(&entries);
        let mut registry_t = Vec::with_capacity(runs);
        let mut graph_t = Vec::with_capacity(runs);
        let mut plan_t = Vec::with_capacity(runs);
        let mut total_t = Vec::with_capacity(runs);
        for _ in 0..runs {
            let input = entries.clone();
            let start = Instant::now();
            let registry = Registry::from_entries(black_box(input)).map_err(|e| e.to_string())?;
            let after_registry = Instant::now();
            let graph = registry.graph().map_err(|e| e.to_string())?;
            let after_graph = Instant::now();
            let plan = graph
                .upgrade_plan(std::iter::empty::<&str>(), &[Target::Heads])
                .map_err(|e| e.to_string())?;
            let end = Instant::now();
            if plan.len() != n {
                return Err(format!("the plan has {} steps, expected {n}", plan.len()));
            }
            black_box(&plan);
            registry_t.push(after_registry - start);
            graph_t.push(after_graph - after_registry);
            plan_t.push(end - after_graph);
            total_t.push(end - start);
        }
        let total = median(&mut total_t);
        println!(
            "{:>8} {:>6} {:>6} {:>7} | {:>10} {:>10} {:>10} | {:>10} {:>10}",
            n,
            shape.bases,
            shape.heads,
            shape.merges,
            ms(median(&mut registry_t)),
            ms(median(&mut graph_t)),
            ms(median(&mut plan_t)),
            ms(total),
            ms(*total_t.iter().max().expect("runs > 0")),
        );
        totals.push((n, total));
    }
    println!();
    for pair in totals.windows(2) {
        let ((small_n, small), (large_n, large)) = (pair[0], pair[1]);
        println!(
            "growth {small_n} -> {large_n}: x{:.1} time for x{:.1} migrations",
            large.as_secs_f64() / small.as_secs_f64(),
            large_n as f64 / small_n as f64
        );
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn noop(_: &mut Migration) {}

/// A deterministic 64-bit LCG: the same migrations on every machine.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `n` migrations shaped like a long-lived project: three independent lines (bases), feature
/// branches that fork from a line and merge back into it (two- and three-way merges),
/// occasional dependencies across lines, and a few feature branches left open (extra heads).
/// Ids are random hex, unrelated to creation order, so sorting and tie-breaking do real work.
///
/// Like the string literals `#[migration]` leaves in a binary's read-only data, the ids and the
/// dependency lists are laid out contiguously, in declaration order.
fn generate(n: usize) -> Vec<MigrationEntry> {
    let mut rng = Lcg(0x60d_817);
    let mut seen = std::collections::HashSet::with_capacity(n);
    // (id, indices of dependencies)
    let mut spec: Vec<(String, Vec<usize>)> = Vec::with_capacity(n);
    let mut add = |after: Vec<usize>, rng: &mut Lcg, spec: &mut Vec<(String, Vec<usize>)>| {
        let id = loop {
            let candidate = format!("m{:012x}", rng.next() ^ (rng.next() << 20));
            if seen.insert(candidate.clone()) {
                break candidate;
            }
        };
        spec.push((id, after));
        spec.len() - 1
    };
    const LINES: usize = 3;
    let mut tips: Vec<usize> = (0..LINES.min(n))
        .map(|_| add(Vec::new(), &mut rng, &mut spec))
        .collect();
    while spec.len() < n {
        let line = rng.below(tips.len());
        match rng.below(10) {
            // A feature branch: 2-3 parallel sub-branches of 1-4 migrations, merged back.
            0..=2 if n - spec.len() >= 16 => {
                let fork = tips[line];
                let mut ends = Vec::new();
                for _ in 0..2 + rng.below(2) {
                    let mut tip = fork;
                    for _ in 0..1 + rng.below(4) {
                        tip = add(vec![tip], &mut rng, &mut spec);
                    }
                    ends.push(tip);
                }
                if rng.below(20) == 0 {
                    // Left open: one more head.
                    tips[line] = ends[0];
                } else {
                    tips[line] = add(ends, &mut rng, &mut spec);
                }
            }
            // A dependency across lines.
            3 if tips.len() > 1 => {
                let other = (line + 1 + rng.below(tips.len() - 1)) % tips.len();
                tips[line] = add(vec![tips[line], tips[other]], &mut rng, &mut spec);
            }
            _ => tips[line] = add(vec![tips[line]], &mut rng, &mut spec),
        }
    }

    let arena: &'static str = Box::leak(
        spec.iter()
            .map(|(id, _)| id.as_str())
            .collect::<String>()
            .into_boxed_str(),
    );
    let mut ids: Vec<&'static str> = Vec::with_capacity(n);
    let mut at = 0;
    for (id, _) in &spec {
        ids.push(&arena[at..at + id.len()]);
        at += id.len();
    }
    let all_deps: &'static [&'static str] = Box::leak(
        spec.iter()
            .flat_map(|(_, deps)| deps.iter().map(|&d| ids[d]))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let mut at = 0;
    spec.iter()
        .enumerate()
        .map(|(i, (_, deps))| {
            let after = &all_deps[at..at + deps.len()];
            at += deps.len();
            MigrationEntry::new(
                ids[i],
                after,
                noop,
                Location::new("bench", "generated", i as u32 + 1),
            )
        })
        .collect()
}

struct Shape {
    bases: usize,
    heads: usize,
    merges: usize,
}

fn shape(entries: &[MigrationEntry]) -> Shape {
    let graph = Registry::from_entries(entries.iter().copied())
        .expect("unique ids")
        .graph()
        .expect("a DAG");
    Shape {
        bases: graph.bases().len(),
        heads: graph.heads().len(),
        merges: entries.iter().filter(|e| e.after().len() > 1).count(),
    }
}
