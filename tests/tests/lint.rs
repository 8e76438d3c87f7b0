//! The lint, rule by rule: each fires on its unsafe form, stays silent on the safe form and on
//! a table created in the same run, and is gated by the server's version where the rule is.

use std::collections::BTreeSet;

use godwit::Server;
use godwit::lint::{self, Finding, Lint, LintReport, Scope, Severity};
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit_tests::entry;
use godwit_tests::sets::registry;

/// `base` creates the tables; `change` is linted, with `base` applied (an existing table) or
/// in the same run (a new one).
fn run(
    server: &str,
    base: fn(&mut Migration),
    change: MigrationEntry,
    base_applied: bool,
    safe: bool,
) -> LintReport {
    let server = Server::parse(server).unwrap();
    let registry = registry([entry!("tables", [], base), change]);
    let graph = registry.graph().unwrap();
    let applied: BTreeSet<String> = match base_applied {
        true => ["tables".to_owned()].into(),
        false => BTreeSet::new(),
    };
    lint::lint(
        &registry,
        &graph,
        &[server],
        Scope::Run { applied: &applied },
        safe,
    )
}

/// The codes that fire on `change` when `base` is applied.
fn codes(server: &str, base: fn(&mut Migration), change: fn(&mut Migration)) -> Vec<Lint> {
    findings(server, base, change)
        .iter()
        .map(|f| f.lint)
        .collect()
}

fn findings(server: &str, base: fn(&mut Migration), change: fn(&mut Migration)) -> Vec<Finding> {
    let report = run(
        server,
        base,
        entry!("change", ["tables"], change),
        true,
        false,
    );
    assert!(report.findings.iter().all(|f| f.migration == "change"));
    report.findings
}

/// The codes that fire when `base` runs in the same run as `change`: the tables are new.
fn codes_on_new_tables(
    server: &str,
    base: fn(&mut Migration),
    change: fn(&mut Migration),
) -> Vec<Lint> {
    run(
        server,
        base,
        entry!("change", ["tables"], change),
        false,
        false,
    )
    .findings
    .iter()
    .map(|f| f.lint)
    .collect()
}

fn users(m: &mut Migration) {
    m.create_table("users", |t| {
        t.id("id");
        t.string("email", 50);
        t.integer("age");
        t.integer("team");
        t.index("ix_users_age", ["age"]);
    });
    m.create_table("teams", |t| {
        t.id("id");
    });
}

fn create_index(m: &mut Migration) {
    m.create_index("users", "ix_users_email", ["email"]);
}
fn create_index_concurrently(m: &mut Migration) {
    m.create_index("users", "ix_users_email", ["email"])
        .concurrently();
}
fn drop_index(m: &mut Migration) {
    m.drop_index("users", "ix_users_age");
}
fn drop_index_concurrently(m: &mut Migration) {
    m.drop_index("users", "ix_users_age").concurrently();
}
fn add_foreign_key(m: &mut Migration) {
    m.add_foreign_key("users", "fk_users_team", ["team"], "teams", ["id"]);
}
fn add_check(m: &mut Migration) {
    m.add_check("users", "ck_users_age", "age >= 0");
}
fn set_not_null(m: &mut Migration) {
    m.set_not_null("users", "age");
}
fn add_unique(m: &mut Migration) {
    m.add_unique("users", "uq_users_email", ["email"]);
}
fn widen_to_bigint(m: &mut Migration) {
    m.set_column_type("users", "age", ColumnType::BigInt);
}
fn lengthen_email(m: &mut Migration) {
    m.set_column_type("users", "email", ColumnType::String(60));
}
fn lengthen_email_past_255_bytes(m: &mut Migration) {
    m.set_column_type("users", "email", ColumnType::String(100));
}
fn email_to_text(m: &mut Migration) {
    m.set_column_type("users", "email", ColumnType::Text);
}
fn add_volatile_default(m: &mut Migration) {
    m.add_column("users", "token", ColumnType::Uuid)
        .default_expr("gen_random_uuid()");
}
fn add_constant_default(m: &mut Migration) {
    m.add_column("users", "score", ColumnType::Integer)
        .not_null()
        .default(0);
}
fn add_nullable(m: &mut Migration) {
    m.add_column("users", "bio", ColumnType::Text);
}
fn add_not_null_without_default(m: &mut Migration) {
    m.add_column("users", "score", ColumnType::Integer)
        .not_null();
}
fn rename_column(m: &mut Migration) {
    m.rename_column("users", "email", "mail");
}
fn drop_column(m: &mut Migration) {
    m.drop_column("users", "email");
}
fn drop_table(m: &mut Migration) {
    m.drop_table("teams");
}
fn raw_sql(m: &mut Migration) {
    m.sql("CREATE VIEW adults AS SELECT * FROM users WHERE age >= 18");
    m.sql("CREATE VIEW minors AS SELECT * FROM users WHERE age < 18");
}
fn raw_update(m: &mut Migration) {
    m.sql("UPDATE users SET age = 0 WHERE age IS NULL");
}
fn raw_update_of_new_table(m: &mut Migration) {
    m.create_table("scores", |t| {
        t.id("id");
        t.integer("points");
    });
    m.sql("UPDATE scores SET points = 0");
}
fn raw_update_only(m: &mut Migration) {
    m.sql("-- reset\nUPDATE ONLY users SET age = 0");
}
fn reindex_users(m: &mut Migration) {
    m.reindex("ix_users_age");
}
fn reindex_users_concurrently(m: &mut Migration) {
    m.reindex("users").concurrently();
}
fn vacuum_users(m: &mut Migration) {
    m.vacuum("users");
}
fn rust_step(m: &mut Migration) {
    m.rust("reset_ages", |db| {
        Box::pin(async move {
            db.execute("UPDATE users SET age = 0").await?;
            Ok(())
        })
    });
}
fn moods(m: &mut Migration) {
    m.create_enum("mood", ["happy", "sad", "meh"]);
    m.create_table("people", |t| {
        t.id("id");
        t.enumeration("mood", "mood");
    });
}
fn remove_mood(m: &mut Migration) {
    m.remove_enum_value("mood", "meh");
}

#[test]
fn each_rule_fires_on_its_unsafe_form_on_an_existing_table() {
    let pg = "postgres@15";
    assert_eq!(codes(pg, users, create_index), [Lint::GW001]);
    assert_eq!(codes(pg, users, drop_index), [Lint::GW002]);
    assert_eq!(codes(pg, users, add_foreign_key), [Lint::GW003]);
    assert_eq!(codes("mysql@8.0.35", users, add_foreign_key), [Lint::GW003]);
    assert_eq!(codes(pg, users, add_check), [Lint::GW004]);
    assert_eq!(codes("mariadb@10.11", users, add_check), [Lint::GW004]);
    assert_eq!(codes(pg, users, set_not_null), [Lint::GW005]);
    assert_eq!(codes(pg, users, add_unique), [Lint::GW006]);
    assert_eq!(codes(pg, users, widen_to_bigint), [Lint::GW007]);
    assert_eq!(codes("mysql@8.0.35", users, widen_to_bigint), [Lint::GW007]);
    assert_eq!(codes(pg, users, add_volatile_default), [Lint::GW008]);
    assert_eq!(codes("mysql@8.0.11", users, add_nullable), [Lint::GW009]);
    assert_eq!(codes("sqlite@3.45", users, set_not_null), [Lint::GW010]);
    assert_eq!(codes(pg, moods, remove_mood), [Lint::GW011]);
    assert_eq!(codes(pg, users, rename_column), [Lint::GW012]);
    assert_eq!(codes(pg, users, drop_table), [Lint::GW012, Lint::GW013]);
    assert_eq!(
        codes("mysql@8.0.28", users, drop_column),
        [Lint::GW012, Lint::GW013, Lint::GW017]
    );
    assert_eq!(
        codes(pg, users, add_not_null_without_default),
        [Lint::GW014]
    );
    assert_eq!(codes(pg, users, raw_update), [Lint::GW015, Lint::GW016]);
    assert_eq!(codes(pg, users, rust_step), [Lint::GW016]);
    assert_eq!(
        codes(pg, users, raw_update_only),
        [Lint::GW015, Lint::GW016]
    );
    assert_eq!(codes(pg, users, reindex_users), [Lint::GW001]);
    assert!(findings(pg, users, reindex_users)[0].rewritable);
    assert!(codes(pg, users, reindex_users_concurrently).is_empty());
    assert_eq!(codes("sqlite@3.45", users, vacuum_users), [Lint::GW010]);
    assert!(codes(pg, users, vacuum_users).is_empty());
}

#[test]
fn the_safe_forms_are_silent() {
    let pg = "postgres@15";
    assert!(codes(pg, users, create_index_concurrently).is_empty());
    assert!(codes(pg, users, drop_index_concurrently).is_empty());
    assert!(codes(pg, users, lengthen_email).is_empty());
    assert!(codes(pg, users, email_to_text).is_empty());
    assert!(codes(pg, users, add_constant_default).is_empty());
    assert!(codes(pg, users, add_nullable).is_empty());
    // MySQL: a secondary index and a unique key are built online; a VARCHAR grows in place
    // within its length bytes; a nullable column is added INSTANT.
    let mysql = "mysql@8.0.35";
    assert!(codes(mysql, users, create_index).is_empty());
    assert!(codes(mysql, users, add_unique).is_empty());
    assert!(codes(mysql, users, lengthen_email).is_empty());
    assert_eq!(
        codes(mysql, users, lengthen_email_past_255_bytes),
        [Lint::GW007]
    );
    assert!(codes(mysql, users, add_nullable).is_empty());
    assert!(codes("mysql@8.0.29", users, drop_column).len() == 2);
    assert!(codes("sqlite@3.45", users, add_nullable).is_empty());
}

#[test]
fn tables_created_in_the_same_run_are_exempt_from_the_locking_rules() {
    for (server, change) in [
        ("postgres@15", create_index as fn(&mut Migration)),
        ("postgres@15", drop_index),
        ("postgres@15", add_foreign_key),
        ("postgres@15", add_check),
        ("postgres@15", set_not_null),
        ("postgres@15", add_unique),
        ("postgres@15", widen_to_bigint),
        ("postgres@15", add_volatile_default),
        ("postgres@15", add_not_null_without_default),
        ("postgres@15", rename_column),
        ("postgres@15", drop_column),
        ("postgres@15", rust_step),
        ("mysql@8.0.11", add_nullable),
        ("mysql@8.0.35", add_check),
        ("sqlite@3.45", set_not_null),
    ] {
        let found = codes_on_new_tables(server, users, change);
        assert!(found.is_empty(), "{server}: {found:?}");
    }
    // A new table's raw UPDATE is not unbatched work on existing rows; the SQL is still raw.
    assert_eq!(
        codes("postgres@15", users, raw_update_of_new_table),
        [Lint::GW015]
    );
    assert!(codes_on_new_tables("postgres@15", moods, remove_mood).is_empty());
}

#[test]
fn rules_follow_the_server_version() {
    // PostgreSQL 11+ adds a column with a constant default without a rewrite.
    assert_eq!(
        codes("postgres@10", users, add_constant_default),
        [Lint::GW008]
    );
    assert!(codes("postgres@11", users, add_constant_default).is_empty());
    // PostgreSQL 12+: SET NOT NULL through a validated CHECK, so --safe can rewrite it.
    let on = |server| findings(server, users, set_not_null)[0].rewritable;
    assert!(!on("postgres@11"));
    assert!(on("postgres@12"));
    // INSTANT add column: MySQL 8.0.12+, MariaDB 10.3.2+.
    assert!(codes("mysql@8.0.12", users, add_nullable).is_empty());
    assert_eq!(codes("mariadb@10.3.1", users, add_nullable), [Lint::GW009]);
    assert!(codes("mariadb@10.3.2", users, add_nullable).is_empty());
    // INSTANT drop column: MySQL 8.0.29+.
    assert!(!codes("mysql@8.0.29", users, drop_column).contains(&Lint::GW017));
}

#[test]
fn a_finding_names_the_migration_the_op_the_table_and_the_fix() {
    let found = findings("postgres@15", users, create_index);
    let f = &found[0];
    assert_eq!(f.migration, "change");
    assert_eq!(f.location.file(), file!());
    assert_eq!(f.op_index, Some(1));
    assert_eq!(
        f.op.as_deref(),
        Some("create_index(\"ix_users_email\" on \"users\")")
    );
    assert_eq!(f.table.as_deref(), Some("users"));
    assert!(f.message.contains("SHARE lock"), "{}", f.message);
    assert!(f.fix.contains("CONCURRENTLY"), "{}", f.fix);
    assert!(f.rewritable && !f.rewritten && f.fails());
    assert_eq!(f.severity, Severity::Error);
    // MySQL cannot validate a foreign key online: nothing to rewrite to.
    let mysql = findings("mysql@8.0.35", users, add_foreign_key);
    assert!(!mysql[0].rewritable);
}

#[test]
fn raw_sql_is_reported_once_per_migration() {
    assert_eq!(codes("postgres@15", users, raw_sql), [Lint::GW015]);
}

#[test]
fn a_contract_migration_may_rename_and_drop() {
    let report = run(
        "postgres@15",
        users,
        entry!("change", ["tables"], drop_column).with_contract(),
        true,
        false,
    );
    let found: Vec<Lint> = report.findings.iter().map(|f| f.lint).collect();
    assert_eq!(found, [Lint::GW013], "still destructive");
}

#[test]
fn allowed_findings_fail_nothing_and_an_unused_allow_is_a_problem() {
    let allowed = entry!("change", ["tables"], create_index)
        .with_allows(&[(Lint::GW001, "users has 40 rows"), (Lint::GW003, "none")]);
    let report = run("postgres@15", users, allowed, true, false);
    assert_eq!(
        report.findings[0].allowed.as_deref(),
        Some("users has 40 rows")
    );
    assert!(!report.findings[0].fails());
    assert_eq!(report.allow_problems.len(), 1);
    assert_eq!(report.allow_problems[0].lint, Lint::GW003);
    assert!(
        report.allow_problems[0]
            .message
            .contains("silences nothing")
    );
    assert!(
        !report.allow_problems[0].fails,
        "it may be for another server"
    );
    assert_eq!(report.failures(), 0);

    fn allowed_in_body(m: &mut Migration) {
        m.allow(Lint::IndexWithoutConcurrently, "a maintenance window");
        m.allow(Lint::GW002, " ");
        create_index(m);
    }
    let report = run(
        "postgres@15",
        users,
        entry!("change", ["tables"], allowed_in_body),
        true,
        false,
    );
    assert_eq!(
        report.findings[0].allowed.as_deref(),
        Some("a maintenance window")
    );
    assert!(report.allow_problems[0].message.contains("gives no reason"));
    assert_eq!(report.failures(), 1);
}

#[test]
fn safe_rewrites_what_it_can_and_the_rest_still_fails() {
    let safe = run(
        "postgres@15",
        users,
        entry!("change", ["tables"], add_check).with_safe(),
        true,
        false,
    );
    assert!(safe.findings[0].rewritten && !safe.findings[0].fails());
    let every = run(
        "mysql@8.0.35",
        users,
        entry!("change", ["tables"], add_check),
        true,
        true,
    );
    assert!(!every.findings[0].rewritten && every.findings[0].fails());
}

#[test]
fn every_rule_has_a_code_a_title_and_a_row_in_the_readme() {
    let readme = include_str!("../../README.md");
    let safety = &readme[readme.find("## Safety").expect("a Safety section")..];
    for lint in Lint::ALL {
        assert_eq!(Lint::from_code(lint.code()), Some(lint));
        assert!(
            safety.contains(&format!("| {} |", lint.code())),
            "{} is not in the README's rule table",
            lint.code()
        );
    }
}

/// `events` by month, January to March, and a DEFAULT partition on PostgreSQL.
fn monthly_events(m: &mut Migration) {
    use godwit::op::PartitionBound;
    let postgres = m.dialect() == Dialect::Postgres;
    m.create_table("events", |t| {
        t.bigint("id").not_null();
        t.date("created_on").not_null();
        t.primary_key(["id", "created_on"]);
        t.partition_by_range(["created_on"]);
        for (name, from, to) in [
            ("events_01", "2026-01-01", "2026-02-01"),
            ("events_02", "2026-02-01", "2026-03-01"),
            ("events_03", "2026-03-01", "2026-04-01"),
        ] {
            t.partition(name, PartitionBound::range(from, to));
        }
        if postgres {
            t.partition("events_other", PartitionBound::Default);
        }
    });
    m.create_table("plain_events", |t| {
        t.id("id");
        t.date("created_on").not_null();
    });
}

#[test]
fn partition_changes_say_what_they_lock_and_what_they_need() {
    use godwit::op::PartitionBound;
    // PostgreSQL 14 detaches CONCURRENTLY; 12 and 13 refuse it.
    let detach: fn(&mut Migration) = |m| {
        m.detach_partition("events", "events_01").concurrently();
    };
    assert_eq!(codes("postgres@13", monthly_events, detach), [Lint::GW018]);
    assert!(!codes("postgres@14", monthly_events, detach).contains(&Lint::GW018));
    // A DEFAULT partition is scanned for the rows of a new one.
    let add: fn(&mut Migration) = |m| {
        m.create_partition(
            "events",
            "events_04",
            PartitionBound::range("2026-04-01", "2026-05-01"),
        );
    };
    assert_eq!(codes("postgres@15", monthly_events, add), [Lint::GW019]);
    // MySQL copies every row to partition a table; PostgreSQL copies in batches.
    let convert: fn(&mut Migration) = |m| {
        m.partition_table("plain_events", |p| {
            p.by_range(["created_on"]);
            p.primary_key(["id", "created_on"]);
            p.partition(
                "plain_events_2026",
                PartitionBound::range("2026-01-01", "2027-01-01"),
            );
        });
    };
    assert_eq!(
        codes("mariadb@10.11", monthly_events, convert),
        [Lint::GW019]
    );
    assert!(codes("postgres@15", monthly_events, convert).is_empty());
    // A partition before MySQL's first splits it; one at the end does not.
    let before_first: fn(&mut Migration) = |m| {
        m.create_partition(
            "events",
            "events_00",
            PartitionBound::range("2025-12-01", "2026-01-01"),
        );
    };
    assert_eq!(
        codes("mysql@8.0", monthly_events, before_first),
        [Lint::GW019]
    );
    assert!(codes("mysql@8.0", monthly_events, add).is_empty());
    // Dropping a partition deletes its rows.
    let drop: fn(&mut Migration) = |m| m.drop_partition("events", "events_01");
    assert_eq!(codes("mysql@8.0", monthly_events, drop), [Lint::GW013]);
    // MySQL has no DEFAULT list partition; MariaDB has.
    let listed: fn(&mut Migration) = |m| {
        m.create_table("accounts", |t| {
            t.string("region", 8).not_null();
            t.partition_by_list("region");
            t.partition("accounts_eu", PartitionBound::values(["de"]));
            t.partition("accounts_other", PartitionBound::Default);
        });
    };
    assert_eq!(codes("mysql@8.0", monthly_events, listed), [Lint::GW018]);
    assert!(codes("mariadb@10.11", monthly_events, listed).is_empty());
}
