//! `check`: everything that can be validated without a database, for CI.
//!
//! 1. the registry and the graph build (duplicate ids, cycles in hand-built sets);
//! 2. every migration plans and renders on every dialect, as `up` plans it;
//! 3. every migration can be reverted right after it applied, as `down` plans it: each op's
//!    inverse renders, or its explicit `down` applies on the state the migration leaves;
//! 4. the checksums match the lock file, one `id checksum` line per migration: an edited
//!    migration that was already released fails CI. `--update-lock` rewrites it;
//! 5. the lint ([`crate::lint`]) for the target servers: an error not allowed fails it.

use std::path::Path;

use crate::lint::LintReport;
use crate::op::Dialect;
use crate::registry::Registry;
use crate::runner::{checksum, offline_verify};

const LOCK_HEADER: &str = "# godwit checksums: one line per migration, `id checksum`. Written by `check --update-lock`; commit it.";

pub(super) struct Problem {
    pub kind: &'static str,
    pub migration: Option<String>,
    pub dialect: Option<Dialect>,
    pub message: String,
}

pub(super) struct CheckReport {
    pub problems: Vec<Problem>,
    pub passed: Vec<String>,
    pub migrations: usize,
    pub heads: Vec<String>,
    pub lock_file: String,
    pub lock_updated: bool,
    pub lint: LintReport,
}

impl CheckReport {
    /// Nothing fails: no problem, no lint error that is not allowed.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.lint.failures() == 0
    }
}

pub(super) fn run(
    registry: &Registry,
    lock_file: &Path,
    update_lock: bool,
    lint: LintReport,
) -> CheckReport {
    let mut report = CheckReport {
        lint,
        problems: Vec::new(),
        passed: Vec::new(),
        migrations: registry.len(),
        heads: Vec::new(),
        lock_file: lock_file.display().to_string(),
        lock_updated: false,
    };
    let graph = match registry.graph() {
        Ok(graph) => graph,
        Err(e) => {
            report.problems.push(Problem {
                kind: "graph",
                migration: None,
                dialect: None,
                message: e.to_string(),
            });
            return report;
        }
    };
    report.heads = graph.heads().iter().map(|h| h.to_string()).collect();
    report.passed.push(format!(
        "graph: {} migrations, {} base(s), head(s): {}",
        graph.len(),
        graph.bases().len(),
        report.heads.join(", ")
    ));
    let order: Vec<&str> = graph.order().collect();
    // The dialects this build renders; the others' proof is another build's.
    for dialect in Dialect::ALL.into_iter().filter(|d| d.is_built()) {
        let findings = offline_verify(registry, &graph, dialect);
        if findings.is_empty() {
            report.passed.push(format!(
                "{}: every migration applies and reverts",
                dialect.name()
            ));
        }
        for finding in findings {
            let entry = registry
                .get(&finding.id)
                .expect("the graph holds registry ids");
            report.problems.push(Problem {
                kind: finding.kind,
                migration: Some(format!("{} ({})", finding.id, entry.location())),
                dialect: Some(dialect),
                message: finding.message,
            });
        }
    }
    let sums: Vec<(String, String)> = order
        .iter()
        .map(|id| {
            let entry = registry.get(id).expect("the graph holds registry ids");
            (id.to_string(), checksum(entry))
        })
        .collect();
    if update_lock {
        let mut text = format!("{LOCK_HEADER}\n");
        for (id, sum) in &sums {
            text.push_str(&format!("{id} {sum}\n"));
        }
        match std::fs::write(lock_file, text) {
            Ok(()) => report.lock_updated = true,
            Err(e) => report.problems.push(Problem {
                kind: "lock",
                migration: None,
                dialect: None,
                message: format!("cannot write {}: {e}", lock_file.display()),
            }),
        }
    } else {
        compare_lock(lock_file, &sums, &mut report);
    }
    report
}

fn compare_lock(lock_file: &Path, sums: &[(String, String)], report: &mut CheckReport) {
    let text = match std::fs::read_to_string(lock_file) {
        Ok(text) => text,
        Err(e) => {
            report.problems.push(Problem {
                kind: "lock",
                migration: None,
                dialect: None,
                message: format!(
                    "cannot read the lock file {} ({e}): run `check --update-lock` and commit it",
                    lock_file.display()
                ),
            });
            return;
        }
    };
    let mut locked: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(' ') {
            Some((id, sum)) => locked.push((id.to_owned(), sum.trim().to_owned())),
            None => report.problems.push(Problem {
                kind: "lock",
                migration: None,
                dialect: None,
                message: format!(
                    "{}:{}: expected `id checksum`, found `{line}`",
                    lock_file.display(),
                    n + 1
                ),
            }),
        }
    }
    let before = report.problems.len();
    for (id, sum) in sums {
        match locked.iter().find(|(l, _)| l == id) {
            Some((_, recorded)) if recorded == sum => {}
            Some((_, recorded)) => report.problems.push(Problem {
                kind: "checksum",
                migration: Some(id.clone()),
                dialect: None,
                message: format!(
                    "changed since it was locked ({} -> {}): a released migration must not \
                     change; restore it and write a new migration, or if it was never released, \
                     run `check --update-lock`",
                    recorded.get(..12).unwrap_or(recorded),
                    &sum[..12]
                ),
            }),
            None => report.problems.push(Problem {
                kind: "lock",
                migration: Some(id.clone()),
                dialect: None,
                message: "not in the lock file: run `check --update-lock` and commit it".into(),
            }),
        }
    }
    for (id, _) in &locked {
        if !sums.iter().any(|(s, _)| s == id) {
            report.problems.push(Problem {
                kind: "lock",
                migration: Some(id.clone()),
                dialect: None,
                message: "in the lock file but not in this binary: it was deleted, renamed, or \
                          its crate is not linked"
                    .into(),
            });
        }
    }
    if report.problems.len() == before {
        report.passed.push(format!(
            "checksums: {} migrations match {}",
            sums.len(),
            lock_file.display()
        ));
    }
}
