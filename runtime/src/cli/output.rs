//! What the CLI prints: text (colored on a terminal) or JSON, and the progress line.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::check::CheckReport;
use super::graph_view::Line;
use crate::copy::{CopyEvent, CopyReport};
use crate::graph::Direction;
use crate::lint::{Finding, LintReport, Severity};
use crate::op::Dialect;
use crate::registry::{MigrationEntry, Phase};
use crate::runner::{Event, PlanFor, ScriptedMigration, State, Status, VerifyReport};
use crate::tenants::{FanOutReport, TenantOutcome, TenantResult, TenantStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Text,
    Json,
    /// GitHub Actions workflow commands (`::error file=…`), which annotate the diff (`check`).
    Github,
}

pub(super) struct Printer {
    format: Format,
    color: bool,
    progress: Arc<Mutex<Progress>>,
}

/// The progress line on stderr, drawn only when stderr is a terminal.
struct Progress {
    enabled: bool,
    drawn: bool,
    run_started: Option<Instant>,
    migration: String,
    position: usize,
    total: usize,
    op: String,
    op_index: usize,
    ops: usize,
    finished: usize,
    direction: Direction,
    /// The backfill running now, which the line shows instead.
    backfill: Option<BackfillLine>,
    /// When a backfill's progress was last logged, without a terminal.
    logged: Option<Instant>,
    /// When a backfill's line was last drawn: it redraws ten times a second at most.
    redrawn: Option<Instant>,
}

/// Where a running backfill (or a table's copy) stands.
#[derive(Debug, Clone, PartialEq)]
struct BackfillLine {
    /// `backfill` or `copy`.
    verb: &'static str,
    table: String,
    rows_done: u64,
    estimated_total: u64,
    rate: f64,
    eta: Option<Duration>,
}

impl BackfillLine {
    /// `[#####-----] backfill users 120,000/1,000,000 rows (12 %), 45,000 rows/s, ETA 19s`
    /// (`copy users …` for a copy).
    fn render(&self) -> String {
        let width = 30;
        let total = self.estimated_total.max(self.rows_done).max(1);
        let filled = ((self.rows_done as u128 * width as u128 / total as u128) as usize).min(width);
        let mut line = format!(
            "[{}{}] {} {} {}/{} rows ({} %)",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.verb,
            self.table,
            thousands(self.rows_done),
            thousands(total),
            self.rows_done * 100 / total,
        );
        if self.rate > 0.0 {
            let _ = write!(line, ", {} rows/s", thousands(self.rate as u64));
        }
        if let Some(eta) = self.eta {
            let _ = write!(line, ", ETA {}", duration(eta));
        }
        line
    }
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A running backfill's line is redrawn at most this often.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Without a terminal, a running backfill's progress is logged this often.
const LOG_EVERY: Duration = Duration::from_secs(5);

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

impl Printer {
    pub fn new(format: Format) -> Printer {
        let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer {
            format,
            color,
            progress: Arc::new(Mutex::new(Progress {
                enabled: std::io::stderr().is_terminal(),
                drawn: false,
                run_started: None,
                migration: String::new(),
                position: 0,
                total: 0,
                op: String::new(),
                op_index: 0,
                ops: 0,
                finished: 0,
                direction: Direction::Up,
                backfill: None,
                logged: None,
                redrawn: None,
            })),
        }
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    pub fn error(&self, message: &str) {
        self.finish_progress();
        let label = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            format!("{RED}{BOLD}error{RESET}")
        } else {
            "error".to_owned()
        };
        eprintln!("{label}: {message}");
    }

    pub fn note(&self, message: &str) {
        if self.format == Format::Text {
            println!("{message}");
        }
    }

    /// Clears the progress line.
    pub fn finish_progress(&self) {
        if let Ok(mut progress) = self.progress.lock()
            && progress.drawn
        {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            progress.drawn = false;
        }
    }

    /// An observer for [`crate::Migrator::on_event`]: a line per migration on stdout, and the
    /// progress line (current migration and op, elapsed time, ETA) on a terminal.
    pub fn progress_observer(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let progress = self.progress.clone();
        let color = self.color;
        let text = self.format == Format::Text;
        move |event| {
            let Ok(mut p) = progress.lock() else {
                return;
            };
            match event {
                Event::MigrationStarted {
                    id,
                    direction,
                    position,
                    total,
                    ops,
                    resume_from,
                } => {
                    if p.run_started.is_none() || *position == 1 {
                        p.run_started = Some(Instant::now());
                        p.finished = 0;
                    }
                    p.migration = id.clone();
                    p.position = *position;
                    p.total = *total;
                    p.ops = *ops;
                    p.op_index = *resume_from;
                    p.op.clear();
                    p.direction = *direction;
                    if *resume_from > 0 && text {
                        p.clear();
                        println!("resuming {id} at op {} of {ops}", resume_from + 1);
                    }
                }
                Event::OpFinished {
                    index, description, ..
                } => {
                    p.op_index = index + 1;
                    p.op = description.clone();
                }
                Event::MigrationFinished {
                    id,
                    direction,
                    elapsed,
                } => {
                    p.finished += 1;
                    p.clear();
                    if text {
                        let (mark, verb) = match direction {
                            Direction::Up => ("+", "applied "),
                            Direction::Down => ("-", "reverted"),
                        };
                        let mark = if color {
                            format!("{GREEN}{mark}{RESET}")
                        } else {
                            mark.to_owned()
                        };
                        println!("{mark} {verb} {id} ({})", duration(*elapsed));
                    }
                }
                Event::LeftoverRemoved { id, sql } => {
                    p.clear();
                    if text {
                        println!("  {id}: removed what a failed attempt left: {sql}");
                    }
                }
                Event::QueryPlan { id, query, plan } => {
                    p.clear();
                    if text {
                        println!("  {id}: {query}");
                        for line in plan {
                            println!("    {line}");
                        }
                    }
                }
                Event::BackupTaken(taken) => {
                    p.clear();
                    if text {
                        let what = match &taken.tables {
                            Some(tables) => format!("tables {}", tables.join(", ")),
                            None => "the database".to_owned(),
                        };
                        println!(
                            "  {}: backed up {what} to {} ({} bytes, {})",
                            taken.id,
                            taken.path.display(),
                            thousands(taken.bytes),
                            duration(taken.elapsed)
                        );
                    }
                }
                Event::VerificationFailed {
                    id,
                    op,
                    message,
                    continued,
                } => {
                    p.clear();
                    let then = match continued {
                        true => "rolled back to the savepoint; going on without it",
                        false => "rolled back to the savepoint",
                    };
                    eprintln!("  {id}: {op}: {message}; {then}");
                }
                Event::Retrying {
                    id,
                    attempt,
                    wait,
                    error,
                } => {
                    p.clear();
                    eprintln!(
                        "  {id}: lock timeout, retry {attempt} in {}: {error}",
                        duration(*wait)
                    );
                }
                Event::BackfillProgress {
                    id,
                    table,
                    rows_done,
                    estimated_total,
                    rows_changed,
                    batches,
                    rate,
                    eta,
                    done,
                    ..
                } => {
                    let line = BackfillLine {
                        verb: "backfill",
                        table: table.clone(),
                        rows_done: *rows_done,
                        estimated_total: *estimated_total,
                        rate: *rate,
                        eta: *eta,
                    };
                    if *done {
                        p.backfill = None;
                        p.logged = None;
                        p.clear();
                        if text {
                            println!(
                                "  {id}: backfilled {table}: {} rows in {} batches, {} changed",
                                thousands(*rows_done),
                                thousands(*batches),
                                thousands(*rows_changed)
                            );
                        }
                    } else {
                        if !p.enabled && text && p.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY)
                        {
                            eprintln!("  {id}: {}", line.render());
                            p.logged = Some(Instant::now());
                        }
                        p.backfill = Some(line);
                    }
                }
                Event::BatchRetrying {
                    id,
                    range,
                    attempt,
                    batch_size,
                    error,
                    ..
                } => {
                    p.clear();
                    eprintln!(
                        "  {id}: batch with {range} timed out, retry {attempt} with {} rows: \
                         {error}",
                        thousands(u64::from(*batch_size))
                    );
                }
                Event::Located {
                    id,
                    ops_done,
                    ops_total,
                } => {
                    p.clear();
                    if text {
                        println!(
                            "  {id}: an interrupted run left it unrecorded; the schema shows \
                             {ops_done} of {ops_total} ops applied"
                        );
                    }
                }
            }
            if matches!(event, Event::BackfillProgress { done: false, .. }) {
                if p.redrawn.is_some_and(|at| at.elapsed() < REDRAW_EVERY) {
                    return;
                }
                p.redrawn = Some(Instant::now());
            }
            p.draw();
        }
    }

    /// A copy's progress: a line per table as it ends on stdout; the bar (rows, rows/s, ETA)
    /// on a terminal, or a line on stderr every few seconds without one.
    pub fn copy_event(&self, event: &CopyEvent) {
        let Ok(mut p) = self.progress.lock() else {
            return;
        };
        let text = self.format == Format::Text;
        match event {
            CopyEvent::TargetMigrated { applied } => {
                p.clear();
                if text {
                    println!(
                        "migrated the target to the source's point: {} migration(s)",
                        applied.len()
                    );
                }
            }
            CopyEvent::TableStarted {
                table, resumed_at, ..
            } => {
                p.logged = None;
                if *resumed_at > 0 && text {
                    p.clear();
                    println!("resuming {table} after {} rows", thousands(*resumed_at));
                }
            }
            CopyEvent::Progress {
                table,
                rows_done,
                rows_estimated,
                rate,
                eta,
            } => {
                let line = BackfillLine {
                    verb: "copy",
                    table: table.clone(),
                    rows_done: *rows_done,
                    estimated_total: *rows_estimated,
                    rate: *rate,
                    eta: *eta,
                }
                .render();
                if p.enabled {
                    if p.redrawn.is_some_and(|at| at.elapsed() < REDRAW_EVERY) {
                        return;
                    }
                    p.redrawn = Some(Instant::now());
                    eprint!("\r\x1b[2K{}", line.chars().take(160).collect::<String>());
                    let _ = std::io::stderr().flush();
                    p.drawn = true;
                } else if text && p.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                    eprintln!("  {line}");
                    p.logged = Some(Instant::now());
                }
            }
            CopyEvent::TableFinished(t) => {
                p.clear();
                if !text {
                    return;
                }
                if t.already_done {
                    println!(
                        "  {}: copied by an earlier run ({} rows)",
                        t.table,
                        thousands(t.rows_copied)
                    );
                    return;
                }
                let rejected = match t.rows_rejected {
                    0 => String::new(),
                    n => format!(", {} rejected", thousands(n)),
                };
                let mark = self.paint(GREEN, "+");
                println!(
                    "{mark} copied {}: {} rows{rejected} in {}, verified (checksum {})",
                    t.table,
                    thousands(t.rows_copied),
                    duration(t.elapsed),
                    t.checksum
                );
            }
        }
    }

    /// What a copy did: a line of totals, or the report as JSON.
    pub fn copy_report(&self, report: &CopyReport) {
        if self.format == Format::Json {
            let tables: Vec<String> = report
                .tables
                .iter()
                .map(|t| {
                    format!(
                        "{{\"table\":{},\"rows_copied\":{},\"rows_rejected\":{},\"checksum\":{},\"already_done\":{},\"ms\":{}}}",
                        json(&t.table),
                        t.rows_copied,
                        t.rows_rejected,
                        json(&t.checksum),
                        t.already_done,
                        t.elapsed.as_millis()
                    )
                })
                .collect();
            println!(
                "{{\"target_migrated\":{},\"rows_copied\":{},\"rows_rejected\":{},\"reject_file\":{},\"tables\":[{}]}}",
                json_list(&report.target_migrated),
                report.rows_copied(),
                report.rows_rejected(),
                report
                    .reject_file
                    .as_ref()
                    .map_or("null".into(), |p| json(&p.display().to_string())),
                tables.join(",")
            );
            return;
        }
        if report.nothing_to_do() {
            println!("nothing to do: every table was copied and verified by an earlier run");
            return;
        }
        print!(
            "copied {} rows of {} table(s)",
            thousands(report.rows_copied()),
            report.tables.len()
        );
        match &report.reject_file {
            Some(path) => println!(
                "; {} rejected, written to {}",
                thousands(report.rows_rejected()),
                path.display()
            ),
            None => println!("; none rejected"),
        }
    }

    pub fn status(&self, status: &Status, dialect: Dialect) {
        if self.format == Format::Json {
            let mut out = String::from("{");
            let _ = write!(
                out,
                "\"history_table\":{},\"dialect\":{},\"heads\":{},\"migrations\":[",
                json(&status.history_table),
                json(dialect.name()),
                json_list(&status.heads)
            );
            for (i, m) in status.migrations.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(
                    out,
                    "{{\"id\":{},\"state\":{},\"phase\":{},\"applied_at\":{},\"execution_ms\":{},\"location\":{},\"parents\":{}",
                    json(&m.id),
                    json(m.state.label()),
                    m.phase.map_or("null".into(), |p| json(p.label())),
                    m.applied_at.as_deref().map_or("null".into(), json),
                    m.execution_ms.map_or("null".into(), |ms| ms.to_string()),
                    json(&m.location),
                    json_list(&m.parents)
                );
                match &m.state {
                    State::Partial {
                        ops_done,
                        ops_total,
                    } => {
                        let _ = write!(out, ",\"ops_done\":{ops_done},\"ops_total\":{ops_total}");
                    }
                    State::Changed { recorded, current } => {
                        let _ = write!(
                            out,
                            ",\"recorded_checksum\":{},\"current_checksum\":{}",
                            json(recorded),
                            json(current)
                        );
                    }
                    State::Interrupted { reason } => {
                        let _ = write!(out, ",\"reason\":{}", json(reason));
                    }
                    _ => {}
                }
                if let Some(b) = &m.backup {
                    let _ = write!(
                        out,
                        ",\"backup\":{{\"file\":{},\"bytes\":{},\"duration_ms\":{},\"taken_at\":{}}}",
                        json(&b.file),
                        b.bytes,
                        b.duration_ms,
                        json(&b.taken_at)
                    );
                }
                if !m.backfills.is_empty() {
                    out.push_str(",\"backfills\":[");
                    for (i, b) in m.backfills.iter().enumerate() {
                        let _ = write!(
                            out,
                            "{}{{\"op\":{},\"table\":{},\"rows_done\":{},\"estimated_total\":{},\"done\":{}}}",
                            if i > 0 { "," } else { "" },
                            b.op + 1,
                            json(&b.table),
                            b.rows_done,
                            b.estimated_total,
                            b.done
                        );
                    }
                    out.push(']');
                }
                out.push('}');
            }
            out.push_str("]}");
            println!("{out}");
            return;
        }
        let id_width = status
            .migrations
            .iter()
            .map(|m| m.id.len())
            .max()
            .unwrap_or(2)
            .max(2);
        // The phase column only where the graph has an expand → contract change.
        let phased = status
            .migrations
            .iter()
            .any(|m| m.phase.is_some_and(|p| p != Phase::Expand));
        let phase_of = |m: &crate::runner::MigrationStatus| match phased {
            true => format!("{:<14}  ", m.phase.map_or("-", Phase::label)),
            false => String::new(),
        };
        println!(
            "{}",
            self.paint(
                BOLD,
                &format!(
                    "{:<id_width$}  {:<8}  {}{:<19}  {:>8}  LOCATION",
                    "ID",
                    "STATE",
                    if phased { "PHASE           " } else { "" },
                    "APPLIED AT (UTC)",
                    "TIME"
                )
            )
        );
        for m in &status.migrations {
            let state = match &m.state {
                State::Partial {
                    ops_done,
                    ops_total,
                } => format!("partial {ops_done}/{ops_total}"),
                other => other.label().to_owned(),
            };
            let color = match m.state {
                State::Applied => GREEN,
                State::Pending => DIM,
                State::Changed { .. } | State::Unknown | State::Interrupted { .. } => RED,
                State::Partial { .. } => YELLOW,
            };
            println!(
                "{:<id_width$}  {}  {}{:<19}  {:>8}  {}",
                m.id,
                self.paint(color, &format!("{state:<8}")),
                phase_of(m),
                m.applied_at.as_deref().unwrap_or("-"),
                m.execution_ms.map_or("-".into(), |ms| format!("{ms} ms")),
                self.paint(DIM, short_location(&m.location))
            );
            if let Some(b) = &m.backup {
                println!(
                    "{:<id_width$}  {}",
                    "",
                    self.paint(
                        DIM,
                        &format!(
                            "backed up before it ran: {} ({} bytes, {} ms)",
                            b.file,
                            thousands(b.bytes),
                            b.duration_ms
                        )
                    )
                );
            }
            for b in m.backfills.iter().filter(|b| !b.done) {
                let total = b.estimated_total.max(1);
                println!(
                    "{:<id_width$}  {}",
                    "",
                    self.paint(
                        YELLOW,
                        &format!(
                            "backfill of {} (op {}) in progress: {}/{} rows ({} %)",
                            b.table,
                            b.op + 1,
                            thousands(b.rows_done),
                            thousands(b.estimated_total),
                            b.rows_done * 100 / total
                        )
                    )
                );
            }
        }
        let count = |label: &str| {
            status
                .migrations
                .iter()
                .filter(|m| m.state.label() == label)
                .count()
        };
        println!(
            "\n{} applied, {} pending{}{}{} · history: {} on {}",
            count("applied"),
            count("pending"),
            plural_note(count("changed"), "changed"),
            plural_note(count("partial"), "partial"),
            plural_note(count("unknown"), "unknown"),
            status.history_table,
            dialect.name()
        );
        let interrupted = status.migrations.iter().find_map(|m| match &m.state {
            State::Interrupted { reason } => Some(reason),
            _ => None,
        });
        if let Some(reason) = interrupted {
            println!("{}", self.paint(RED, &format!("interrupted: {reason}")));
        }
    }

    pub fn history(&self, lines: &[Line]) {
        if self.format == Format::Json {
            let items: Vec<String> = lines
                .iter()
                .filter_map(|l| l.node.as_ref())
                .map(|n| {
                    format!(
                        "{{\"id\":{},\"parents\":{},\"children\":{},\"location\":{},\"phase\":{}}}",
                        json(&n.id),
                        json_list(&n.parents),
                        json_list(&n.children),
                        json(&n.location),
                        json(n.phase.label())
                    )
                })
                .collect();
            println!("[{}]", items.join(","));
            return;
        }
        for line in lines {
            match &line.node {
                Some(node) => {
                    let mut tags = Vec::new();
                    if node.children.is_empty() {
                        tags.push("head".to_owned());
                    }
                    if node.parents.len() > 1 {
                        tags.push(format!("merge of {}", node.parents.join(", ")));
                    }
                    if node.parents.is_empty() {
                        tags.push("base".to_owned());
                    }
                    if node.children.len() > 1 {
                        tags.push(format!("branch point of {}", node.children.join(", ")));
                    }
                    if node.phase != Phase::Expand {
                        tags.push(node.phase.label().to_owned());
                    }
                    let tags = if tags.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", self.paint(YELLOW, &format!("({})", tags.join("; "))))
                    };
                    println!(
                        "{} {}{}  {}",
                        self.paint(CYAN, &line.graph),
                        self.paint(BOLD, &node.id),
                        tags,
                        self.paint(DIM, short_location(&node.location))
                    );
                }
                None => println!("{}", self.paint(CYAN, &line.graph)),
            }
        }
    }

    /// `status --drift`: the status, then the drift (JSON: one object with both).
    pub fn status_and_drift(
        &self,
        status: &Status,
        dialect: Dialect,
        differences: &[crate::runner::Difference],
    ) {
        if self.format == Format::Json {
            print!("{{\"status\":");
            self.status(status, dialect);
            println!(",\"drift\":{}}}", drift_json(differences));
            return;
        }
        self.status(status, dialect);
        println!();
        self.drift(differences);
    }

    pub fn drift(&self, differences: &[crate::runner::Difference]) {
        if self.format == Format::Json {
            println!("{{\"drift\":{}}}", drift_json(differences));
            return;
        }
        if differences.is_empty() {
            println!("no drift: the database is what its applied migrations make it");
            return;
        }
        for d in differences {
            match &d.table {
                Some(table) => println!("{} {}", self.paint(BOLD, &format!("{table}:")), d.what),
                None => println!("{}", d.what),
            }
        }
        println!(
            "\n{} difference(s) from the model at the applied migrations",
            differences.len()
        );
    }

    pub fn verify(&self, report: &VerifyReport) {
        if self.format == Format::Json {
            let items: Vec<String> = report
                .migrations
                .iter()
                .map(|t| {
                    let list = |d: &[crate::runner::Difference]| {
                        let items: Vec<String> = d.iter().map(|d| json(&d.to_string())).collect();
                        format!("[{}]", items.join(","))
                    };
                    format!(
                        "{{\"id\":{},\"ok\":{},\"after_up\":{},\"after_down\":{},\"failed\":{},\"ms\":{}}}",
                        json(&t.id),
                        t.ok(),
                        list(&t.after_up),
                        list(&t.after_down),
                        t.failed.as_ref().map_or("null".into(), |(step, e)| {
                            format!("{{\"step\":{},\"error\":{}}}", json(step), json(e))
                        }),
                        t.elapsed.as_millis()
                    )
                })
                .collect();
            println!(
                "{{\"ok\":{},\"migrations\":[{}]}}",
                report.ok(),
                items.join(",")
            );
            return;
        }
        for trip in &report.migrations {
            let mark = match trip.ok() {
                true => self.paint(GREEN, "ok"),
                false => self.paint(RED, "differs"),
            };
            println!(
                "{mark} {}  up, down, up again ({})",
                trip.id,
                duration(trip.elapsed)
            );
            for d in &trip.after_up {
                println!("    after up, against the model: {d}");
            }
            for d in &trip.after_down {
                println!("    after down, against the schema before up (\"the model\"): {d}");
            }
            if let Some((step, error)) = &trip.failed {
                println!("    {step} failed: {error}");
            }
        }
        let failed = report.migrations.iter().filter(|t| !t.ok()).count();
        match (report.migrations.len(), failed) {
            (0, _) => println!("nothing to verify: every migration is applied"),
            (n, 0) => println!("\n{n} migrations verified: each down undoes its up exactly"),
            (n, f) => println!("\n{f} of {n} migrations do not round-trip"),
        }
    }

    /// A tenant's run ended: one line, as they end.
    pub fn tenant_finished(&self, outcome: &TenantOutcome, done: usize, total: usize) {
        if self.format == Format::Json {
            return;
        }
        let (mark, what) = tenant_result(&outcome.result);
        let color = match &outcome.result {
            TenantResult::Applied(_) => GREEN,
            TenantResult::Failed { .. } => RED,
            _ => YELLOW,
        };
        eprintln!(
            "[{done}/{total}] {} {} {what} ({})",
            self.paint(color, mark),
            outcome.tenant,
            duration(outcome.elapsed)
        );
    }

    /// Every tenant's outcome: a table, or JSON.
    pub fn tenants(&self, report: &FanOutReport) {
        if self.format == Format::Json {
            let items: Vec<String> = report
                .tenants
                .iter()
                .map(|t| {
                    let (result, migrations, migration, op, message) = match &t.result {
                        TenantResult::Applied(ids) => ("applied", ids.clone(), None, None, None),
                        TenantResult::Failed {
                            migration,
                            op,
                            message,
                        } => (
                            "failed",
                            Vec::new(),
                            migration.as_deref(),
                            op.as_deref(),
                            Some(message.as_str()),
                        ),
                        TenantResult::Skipped(why) => {
                            ("skipped", Vec::new(), None, None, Some(why.as_str()))
                        }
                        TenantResult::NotRun(why) => {
                            ("not run", Vec::new(), None, None, Some(why.as_str()))
                        }
                    };
                    let opt = |v: Option<&str>| v.map_or("null".into(), json);
                    format!(
                        "{{\"tenant\":{},\"result\":{},\"applied\":{},\"migration\":{},\"op\":{},\"message\":{},\"ms\":{}}}",
                        json(&t.tenant),
                        json(result),
                        json_list(&migrations),
                        opt(migration),
                        opt(op),
                        opt(message),
                        t.elapsed.as_millis()
                    )
                })
                .collect();
            println!(
                "{{\"ok\":{},\"tenants\":[{}]}}",
                report.failed().next().is_none(),
                items.join(",")
            );
            return;
        }
        let width = report
            .tenants
            .iter()
            .map(|t| t.tenant.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!(
            "{}",
            self.paint(
                BOLD,
                &format!(
                    "{:<width$}  {:<8}  {:>8}  DETAIL",
                    "TENANT", "RESULT", "TIME"
                )
            )
        );
        for t in &report.tenants {
            let (mark, what) = tenant_result(&t.result);
            println!(
                "{:<width$}  {mark:<8}  {:>8}  {what}",
                t.tenant,
                duration(t.elapsed)
            );
        }
        let count =
            |f: fn(&TenantResult) -> bool| report.tenants.iter().filter(|t| f(&t.result)).count();
        println!(
            "\n{} tenants: {} applied, {} failed, {} skipped, {} not run",
            report.tenants.len(),
            count(|r| matches!(r, TenantResult::Applied(_))),
            count(|r| matches!(r, TenantResult::Failed { .. })),
            count(|r| matches!(r, TenantResult::Skipped(_))),
            count(|r| matches!(r, TenantResult::NotRun(_))),
        );
    }

    /// `status --tenants`: a line per tenant.
    pub fn tenant_statuses(&self, statuses: &[TenantStatus]) {
        if self.format == Format::Json {
            let items: Vec<String> = statuses
                .iter()
                .map(|s| {
                    format!(
                        "{{\"tenant\":{},\"applied\":{},\"pending\":{},\"other\":{},\"error\":{}}}",
                        json(&s.tenant),
                        s.applied,
                        s.pending,
                        s.other,
                        s.error.as_deref().map_or("null".into(), json)
                    )
                })
                .collect();
            println!("[{}]", items.join(","));
            return;
        }
        let width = statuses
            .iter()
            .map(|s| s.tenant.len())
            .max()
            .unwrap_or(6)
            .max(6);
        println!(
            "{}",
            self.paint(
                BOLD,
                &format!(
                    "{:<width$}  {:>7}  {:>7}  {:>7}  NOTE",
                    "TENANT", "APPLIED", "PENDING", "OTHER"
                )
            )
        );
        for s in statuses {
            println!(
                "{:<width$}  {:>7}  {:>7}  {:>7}  {}",
                s.tenant,
                s.applied,
                s.pending,
                s.other,
                s.error.as_deref().unwrap_or("")
            );
        }
    }

    pub fn heads(&self, heads: &[(String, String)]) {
        if self.format == Format::Json {
            let items: Vec<String> = heads
                .iter()
                .map(|(id, location)| {
                    format!("{{\"id\":{},\"location\":{}}}", json(id), json(location))
                })
                .collect();
            println!("[{}]", items.join(","));
            return;
        }
        for (id, location) in heads {
            println!("{id}  {}", self.paint(DIM, location));
        }
    }

    pub fn show(&self, migration: &ScriptedMigration, entry: &MigrationEntry, plan_for: PlanFor) {
        let dialect = plan_for.server.dialect();
        println!("{}", self.paint(BOLD, &migration.id));
        println!("  defined at   {}", entry.location());
        println!(
            "  after        {}",
            if entry.after().is_empty() {
                "(a base)".to_owned()
            } else {
                entry.after().join(", ")
            }
        );
        println!(
            "  transactional {}",
            if entry.is_transactional() {
                "yes, where the dialect allows"
            } else {
                "no"
            }
        );
        println!(
            "  down         {}",
            if entry.down().is_some() {
                "explicit"
            } else {
                "derived from the schema model"
            }
        );
        println!("  checksum     {}", crate::runner::checksum(entry));
        // Numbered as errors and progress number them; the SQL below runs them in steps.
        println!("\nops:");
        for (i, op) in entry.record_up(dialect).ops().iter().enumerate() {
            println!("  {}. {op}", i + 1);
        }
        println!(
            "\nSQL on {}{} (from the state its dependencies leave):",
            plan_for.server,
            safe_note(plan_for, entry.is_safe())
        );
        print!("{}", migration.sql);
    }

    pub fn script(&self, plan: &[ScriptedMigration], plan_for: PlanFor) {
        if plan.is_empty() {
            println!("-- nothing to run");
            return;
        }
        let direction = match plan[0].direction {
            Direction::Up => "upgrade",
            Direction::Down => "downgrade",
        };
        println!(
            "-- godwit {direction} on {}{}: {} migration(s)",
            plan_for.server,
            safe_note(plan_for, false),
            plan.len()
        );
        for migration in plan {
            println!("\n-- migration {} ({})", migration.id, migration.location);
            print!("{}", migration.sql);
        }
    }

    pub fn check(&self, report: &CheckReport) {
        match self.format {
            Format::Json => return self.check_json(report),
            Format::Github => return self.check_github(report),
            Format::Text => {}
        }
        for line in &report.passed {
            println!("{} {line}", self.paint(GREEN, "ok"));
        }
        if report.lock_updated {
            println!("{} wrote {}", self.paint(GREEN, "ok"), report.lock_file);
        }
        for p in &report.problems {
            let place = match (&p.migration, p.dialect) {
                (Some(m), Some(d)) => format!("{m} on {}: ", d.name()),
                (Some(m), None) => format!("{m}: "),
                (None, Some(d)) => format!("{}: ", d.name()),
                (None, None) => String::new(),
            };
            println!(
                "{} [{}] {place}{}",
                self.paint(RED, "problem"),
                p.kind,
                p.message
            );
        }
        let lint = &report.lint;
        if !lint.servers.is_empty() {
            let servers: Vec<String> = lint.servers.iter().map(ToString::to_string).collect();
            let failing = lint.findings.iter().filter(|f| f.fails()).count();
            if lint.findings.is_empty() {
                println!(
                    "{} lint for {}: nothing found",
                    self.paint(GREEN, "ok"),
                    servers.join(", ")
                );
            } else {
                println!("\nlint for {}:", servers.join(", "));
            }
            for finding in &lint.findings {
                let (color, label) = match (&finding.allowed, finding.severity) {
                    (Some(_), _) => (DIM, "allowed"),
                    (None, _) if finding.rewritten => (DIM, "rewritten"),
                    (None, Severity::Error) => (RED, "error"),
                    (None, Severity::Warning) => (YELLOW, "warning"),
                };
                println!(
                    "{} {} {}",
                    self.paint(color, label),
                    self.paint(BOLD, finding.lint.code()),
                    finding_line(finding)
                );
                match &finding.allowed {
                    Some(reason) => println!("    allowed: {reason}"),
                    None if finding.rewritten => {
                        println!("    runs as its safe sequence (`safe` migration or --safe)")
                    }
                    None => println!(
                        "    fix: {}{}",
                        finding.fix,
                        if finding.rewritable {
                            " (rewritable: --safe does it)"
                        } else {
                            ""
                        }
                    ),
                }
            }
            for problem in &lint.allow_problems {
                let (color, label) = match problem.fails {
                    true => (RED, "problem"),
                    false => (YELLOW, "warning"),
                };
                println!(
                    "{} [allow] {} ({}): {}",
                    self.paint(color, label),
                    problem.migration,
                    problem.location,
                    problem.message
                );
            }
            if failing > 0 {
                println!(
                    "{failing} lint error(s): fix them, run with --safe where they are \
                     rewritable, or allow them with a reason: #[migration(allow(CODE = \"why\"))]"
                );
            }
        }
        let failures = report.problems.len() + lint.failures();
        if failures == 0 {
            println!("\n{} migrations checked, no problems", report.migrations);
        } else {
            println!(
                "\n{failures} problem(s) in {} migrations",
                report.migrations
            );
        }
    }

    fn check_json(&self, report: &CheckReport) {
        let problems: Vec<String> = report
            .problems
            .iter()
            .map(|p| {
                format!(
                    "{{\"kind\":{},\"migration\":{},\"dialect\":{},\"message\":{}}}",
                    json(p.kind),
                    p.migration.as_deref().map_or("null".into(), json),
                    p.dialect.map_or("null".into(), |d| json(d.name())),
                    json(&p.message)
                )
            })
            .collect();
        println!(
            "{{\"ok\":{},\"migrations\":{},\"heads\":{},\"lock_file\":{},\"lock_updated\":{},\"problems\":[{}],\"lint\":{}}}",
            report.ok(),
            report.migrations,
            json_list(&report.heads),
            json(&report.lock_file),
            report.lock_updated,
            problems.join(","),
            lint_json(&report.lint)
        );
    }

    /// Workflow commands: GitHub shows each on the diff, at the migration's line.
    fn check_github(&self, report: &CheckReport) {
        for p in &report.problems {
            let migration = p.migration.as_deref().unwrap_or("");
            println!(
                "::error title={}::{}",
                github_property(&format!("godwit check: {}", p.kind)),
                github_message(format!("{migration} {}", p.message).trim_start())
            );
        }
        for finding in &report.lint.findings {
            let level = match (&finding.allowed, finding.severity) {
                (Some(_), _) => "notice",
                (None, _) if finding.rewritten => "notice",
                (None, Severity::Error) => "error",
                (None, Severity::Warning) => "warning",
            };
            let mut message = format!(
                "{}: {} Fix: {}",
                finding.migration, finding.message, finding.fix
            );
            if finding.rewritable {
                message.push_str(" (--safe rewrites it)");
            }
            if let Some(reason) = &finding.allowed {
                message = format!("allowed ({reason}): {message}");
            }
            message.push_str(&format!(" [{}]", finding.servers_text()));
            println!(
                "::{level} file={},line={},title={}::{}",
                github_property(finding.location.file()),
                finding.location.line(),
                github_property(&format!("{} {}", finding.lint.code(), finding.lint.title())),
                github_message(&message)
            );
        }
        for problem in &report.lint.allow_problems {
            println!(
                "::{} file={},line={},title={}::{}",
                if problem.fails { "error" } else { "warning" },
                github_property(problem.location.file()),
                problem.location.line(),
                github_property(&format!("allow({})", problem.lint.code())),
                github_message(&format!("{}: {}", problem.migration, problem.message))
            );
        }
        let failures = report.problems.len() + report.lint.failures();
        println!(
            "godwit check: {} migrations, {failures} problem(s)",
            report.migrations
        );
    }
}

/// `migration (file:line) op N `op` on [servers]: message`.
fn finding_line(finding: &Finding) -> String {
    let op = match (finding.op_index, &finding.op) {
        (Some(index), Some(op)) => format!(" op {index} `{op}`"),
        _ => String::new(),
    };
    format!(
        "{} ({}:{}){op} on {}: {}",
        finding.migration,
        finding.location.file(),
        finding.location.line(),
        finding.servers_text(),
        finding.message
    )
}

fn lint_json(lint: &LintReport) -> String {
    let servers: Vec<String> = lint.servers.iter().map(ToString::to_string).collect();
    let findings: Vec<String> = lint
        .findings
        .iter()
        .map(|f| {
            let servers: Vec<String> = f.servers.iter().map(ToString::to_string).collect();
            format!(
                "{{\"code\":{},\"title\":{},\"severity\":{},\"migration\":{},\"file\":{},\"line\":{},\"op_index\":{},\"op\":{},\"table\":{},\"servers\":{},\"message\":{},\"fix\":{},\"rewritable\":{},\"rewritten\":{},\"allowed\":{}}}",
                json(f.lint.code()),
                json(f.lint.title()),
                json(f.severity.label()),
                json(&f.migration),
                json(f.location.file()),
                f.location.line(),
                f.op_index.map_or("null".into(), |i| i.to_string()),
                f.op.as_deref().map_or("null".into(), json),
                f.table.as_deref().map_or("null".into(), json),
                json_list(&servers),
                json(&f.message),
                json(&f.fix),
                f.rewritable,
                f.rewritten,
                f.allowed.as_deref().map_or("null".into(), json),
            )
        })
        .collect();
    let allow_problems: Vec<String> = lint
        .allow_problems
        .iter()
        .map(|p| {
            format!(
                "{{\"code\":{},\"migration\":{},\"file\":{},\"line\":{},\"message\":{},\"fails\":{}}}",
                json(p.lint.code()),
                json(&p.migration),
                json(p.location.file()),
                p.location.line(),
                json(&p.message),
                p.fails
            )
        })
        .collect();
    format!(
        "{{\"servers\":{},\"findings\":[{}],\"allow_problems\":[{}]}}",
        json_list(&servers),
        findings.join(","),
        allow_problems.join(",")
    )
}

/// A workflow command's message: `%`, CR and LF escaped.
fn github_message(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn github_property(text: &str) -> String {
    github_message(text).replace(':', "%3A").replace(',', "%2C")
}

impl Progress {
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            self.drawn = false;
        }
    }

    fn draw(&mut self) {
        if !self.enabled || self.total == 0 {
            return;
        }
        if let Some(backfill) = &self.backfill {
            let line: String = format!("{} {}", self.migration, backfill.render())
                .chars()
                .take(160)
                .collect();
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
            self.drawn = true;
            return;
        }
        let elapsed = self.run_started.map(|s| s.elapsed()).unwrap_or_default();
        let eta = if self.finished > 0 && self.finished < self.total {
            let per = elapsed / self.finished as u32;
            format!(
                ", ETA {}",
                duration(per * (self.total - self.finished) as u32)
            )
        } else {
            String::new()
        };
        let verb = match self.direction {
            Direction::Up => "applying",
            Direction::Down => "reverting",
        };
        let width = 30;
        let filled = (self.finished * width / self.total).min(width);
        let mut line = format!(
            "[{}{}] {}/{} {verb} {} op {}/{}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.position,
            self.total,
            self.migration,
            self.op_index,
            self.ops
        );
        if !self.op.is_empty() {
            let _ = write!(line, " {}", self.op);
        }
        let _ = write!(line, " ({}{eta})", duration(elapsed));
        let line: String = line.chars().take(160).collect();
        eprint!("\r\x1b[2K{line}");
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }
}

/// `[{"table":..,"difference":..},..]`.
/// A tenant's result: a word, and what it did or why.
fn tenant_result(result: &TenantResult) -> (&'static str, String) {
    match result {
        TenantResult::Applied(ids) if ids.is_empty() => ("ok", "up to date".to_owned()),
        TenantResult::Applied(ids) => (
            "applied",
            format!("{} migration(s): {}", ids.len(), ids.join(", ")),
        ),
        TenantResult::Failed {
            migration,
            op,
            message,
        } => {
            let at = match (migration, op) {
                (Some(m), Some(op)) => format!("{m}, {op}: "),
                _ => String::new(),
            };
            ("failed", format!("{at}{message}"))
        }
        TenantResult::Skipped(why) => ("skipped", why.clone()),
        TenantResult::NotRun(why) => ("not run", why.clone()),
    }
}

/// `, safe sequences` when they are rendered.
fn safe_note(plan_for: PlanFor, migration_is_safe: bool) -> &'static str {
    match (plan_for.safe, migration_is_safe) {
        (true, _) => ", safe sequences (--safe)",
        (false, true) => ", safe sequences (the migration is marked `safe`)",
        (false, false) => "",
    }
}

fn drift_json(differences: &[crate::runner::Difference]) -> String {
    let items: Vec<String> = differences
        .iter()
        .map(|d| {
            format!(
                "{{\"table\":{},\"difference\":{}}}",
                d.table.as_deref().map_or("null".into(), json),
                json(&d.what)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// `file:line`, without the module path.
fn short_location(location: &str) -> &str {
    location.split(" (").next().unwrap_or(location)
}

fn plural_note(count: usize, label: &str) -> String {
    if count == 0 {
        String::new()
    } else {
        format!(", {count} {label}")
    }
}

fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d < Duration::from_secs(120) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// A JSON string literal.
pub(super) fn json(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_list(items: &[String]) -> String {
    format!(
        "[{}]",
        items.iter().map(|s| json(s)).collect::<Vec<_>>().join(",")
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{BackfillLine, json, thousands};
    use crate::db::redact_url as redact;

    #[test]
    fn a_backfill_bar_moves_with_its_rows() {
        let at = |rows_done| {
            BackfillLine {
                verb: "backfill",
                table: "users".into(),
                rows_done,
                estimated_total: 1_000_000,
                rate: 45_000.4,
                eta: Some(Duration::from_secs(19)),
            }
            .render()
        };
        assert_eq!(
            at(120_000),
            "[###---------------------------] backfill users 120,000/1,000,000 rows (12 %), \
             45,000 rows/s, ETA 19.0 s"
        );
        assert_eq!(at(500_000).matches('#').count(), 15);
        assert_eq!(at(1_000_000).matches('#').count(), 30);
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
