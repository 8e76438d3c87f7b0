//! Multi-tenant fan-out on the real servers: 20 PostgreSQL schemas, 10 MariaDB databases, 10
//! SQLite files; one tenant made to fail while the others go on; the rerun does only what is
//! left; a failing canary keeps the rest from starting; each tenant's tables and history stay
//! in its own schema, database or file.

use godwit::Target;
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::tenants::{self, FailurePolicy, FanOut, Tenant, TenantResult, TenantSpec};
use godwit_tests::entry;
use godwit_tests::sets::registry;
use godwit_tests::testdb::TestDb;

use crate::common::on_every_dialect;

on_every_dialect!(one_failing_tenant_leaves_the_others_applied_and_a_rerun_finishes_it);

fn items(m: &mut Migration) {
    m.create_table("tn_items", |t| {
        t.id("id");
        t.string("name", 40).not_null();
    });
    m.sql("INSERT INTO tn_items (id, name) VALUES (1, 'first')");
}

fn more(m: &mut Migration) {
    m.add_column("tn_items", "qty", ColumnType::Integer);
}

fn set() -> Vec<MigrationEntry> {
    vec![
        entry!("tn_items", [], items),
        entry!("tn_more", ["tn_items"], more),
    ]
}

/// The tenants of `db` (schemas, databases or files, all created here), and the spec that
/// finds them by pattern.
async fn provision(db: &TestDb, count: usize) -> (Vec<String>, TenantSpec, String) {
    let mut conn = db.connect().await;
    let mut names = Vec::new();
    let (spec, url) = match db.dialect {
        Dialect::Postgres => {
            for i in 0..count {
                let name = format!("tenant_{i:02}");
                conn.execute(&format!("CREATE SCHEMA {name}"))
                    .await
                    .unwrap();
                names.push(name);
            }
            (TenantSpec::parse("tenant_%"), db.url.clone())
        }
        Dialect::Mysql => {
            for i in 0..count {
                let name = format!("{}_t{i:02}", db.name());
                conn.execute(&format!("CREATE DATABASE `{name}`"))
                    .await
                    .unwrap();
                names.push(name);
            }
            (
                TenantSpec::parse(&format!("{}\\_t%", db.name())),
                db.url.clone(),
            )
        }
        Dialect::Sqlite => {
            let dir = std::path::PathBuf::from(format!("{}-tenants", db.name()));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let path = dir.join(format!("tenant_{i:02}.db"));
                std::fs::write(&path, b"").unwrap();
                names.push(path.display().to_string());
            }
            (
                TenantSpec::parse(&format!("{}/tenant_*.db", dir.display())),
                db.url.clone(),
            )
        }
    };
    conn.close().await.ok();
    (names, spec, url)
}

async fn cleanup(db: TestDb, names: &[String]) {
    match db.dialect {
        Dialect::Mysql => {
            let mut conn = db.connect().await;
            for name in names {
                conn.execute(&format!("DROP DATABASE `{name}`"))
                    .await
                    .unwrap();
            }
            conn.close().await.ok();
        }
        Dialect::Sqlite => {
            std::fs::remove_dir_all(format!("{}-tenants", db.name())).ok();
        }
        Dialect::Postgres => {}
    }
    db.drop().await;
}

/// Makes `tenant` fail: a table where the migration creates one.
async fn block(tenant: &Tenant, on: bool) {
    let mut conn = godwit::db::Connection::connect(&tenant.url).await.unwrap();
    let sql = match on {
        true => "CREATE TABLE tn_items (blocked INTEGER)",
        false => "DROP TABLE tn_items",
    };
    conn.execute(sql).await.unwrap();
    conn.close().await.ok();
}

fn applied(result: &TenantResult) -> Option<usize> {
    match result {
        TenantResult::Applied(ids) => Some(ids.len()),
        _ => None,
    }
}

async fn one_failing_tenant_leaves_the_others_applied_and_a_rerun_finishes_it(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let count = match dialect {
        Dialect::Postgres => 20,
        _ => 10,
    };
    let (names, spec, url) = provision(&db, count).await;
    let found = tenants::resolve(&url, &spec).await.unwrap();
    let found_names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(found_names, names);
    let failing = &found[3];
    block(failing, true).await;
    let registry = registry(set());
    let fan_out = FanOut {
        jobs: 4,
        ..FanOut::default()
    };
    let mut heard = 0;
    let report = tenants::upgrade(
        &registry,
        &found,
        &[Target::Heads],
        &fan_out,
        |m| m,
        |_| heard += 1,
    )
    .await;
    assert_eq!(heard, count);
    let failed: Vec<&str> = report.failed().map(|t| t.tenant.as_str()).collect();
    assert_eq!(failed, [failing.name.as_str()]);
    let TenantResult::Failed { migration, op, .. } = &report.tenants[3].result else {
        panic!("{:?}", report.tenants[3]);
    };
    assert_eq!(migration.as_deref(), Some("tn_items"));
    assert!(
        op.as_deref().is_some_and(|op| op.contains("create_table")),
        "{op:?}"
    );
    for (i, outcome) in report.tenants.iter().enumerate() {
        if i != 3 {
            assert_eq!(applied(&outcome.result), Some(2), "{outcome:?}");
        }
    }
    // Each tenant's tables and history are its own.
    let statuses = tenants::status(&registry, &found, 4).await;
    assert_eq!(statuses[0].applied, 2);
    // Not applied: pending, or on MySQL (no transactional DDL) partial at its first op.
    let failing_status = &statuses[3];
    assert_eq!(
        (
            failing_status.applied,
            failing_status.pending + failing_status.other
        ),
        (0, 2),
        "{failing_status:?}"
    );

    // The rerun: the others are up to date, the fixed one is finished.
    block(failing, false).await;
    let report =
        tenants::upgrade(&registry, &found, &[Target::Heads], &fan_out, |m| m, |_| {}).await;
    assert!(report.failed().next().is_none(), "{report:#?}");
    let counts: Vec<Option<usize>> = report.tenants.iter().map(|t| applied(&t.result)).collect();
    let mut expected = vec![Some(0); count];
    expected[3] = Some(2);
    assert_eq!(counts, expected);
    cleanup(db, &names).await;
}

/// A canary that fails keeps every other tenant from starting; a listed tenant that does not
/// exist is skipped, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_canary_stops_the_fan_out_and_missing_tenants_are_skipped() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let (_, _, url) = provision(&db, 5).await;
    let spec = TenantSpec::parse("tenant_00,tenant_01,tenant_02,tenant_03,tenant_99");
    let found = tenants::resolve(&url, &spec).await.unwrap();
    assert!(!found[4].provisioned);
    block(&found[1], true).await;
    let registry = registry(set());
    let fan_out = FanOut {
        jobs: 2,
        canary: 2,
        policy: FailurePolicy::Continue,
    };
    let report =
        tenants::upgrade(&registry, &found, &[Target::Heads], &fan_out, |m| m, |_| {}).await;
    let results: Vec<&str> = report
        .tenants
        .iter()
        .map(|t| match &t.result {
            TenantResult::Applied(_) => "applied",
            TenantResult::Failed { .. } => "failed",
            TenantResult::Skipped(_) => "skipped",
            TenantResult::NotRun(_) => "not run",
        })
        .collect();
    assert_eq!(
        results,
        ["applied", "failed", "not run", "not run", "not run"]
    );
    // Without the canary, fail-fast stops after the first failure; the missing one is skipped.
    let fail_fast = FanOut {
        jobs: 1,
        canary: 0,
        policy: FailurePolicy::FailFast,
    };
    let report = tenants::upgrade(
        &registry,
        &found,
        &[Target::Heads],
        &fail_fast,
        |m| m,
        |_| {},
    )
    .await;
    assert!(matches!(
        report.tenants[1].result,
        TenantResult::Failed { .. }
    ));
    assert!(matches!(report.tenants[2].result, TenantResult::NotRun(_)));
    block(&found[1], false).await;
    let report = tenants::upgrade(
        &registry,
        &found,
        &[Target::Heads],
        &fail_fast,
        |m| m,
        |_| {},
    )
    .await;
    assert!(
        matches!(report.tenants[4].result, TenantResult::Skipped(_)),
        "{report:#?}"
    );
    assert!(report.failed().next().is_none());
    let missing = tenants::resolve(&url, &TenantSpec::parse("nobody_%"))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("matches no schema"), "{missing}");
    db.drop().await;
}

/// The seed row written otherwise: the same table, a changed migration.
fn items_edited(m: &mut Migration) {
    m.create_table("tn_items", |t| {
        t.id("id");
        t.string("name", 40).not_null();
    });
    m.sql("INSERT INTO tn_items (id, name) VALUES (1, 'the first')");
}

/// PostgreSQL: a changed migration accepted for a fan-out has its checksum re-recorded in
/// every tenant's own history, and the run goes on past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_change_is_recorded_in_every_tenant() {
    let Some(db) = TestDb::create(Dialect::Postgres).await else {
        return;
    };
    let (names, spec, url) = provision(&db, 3).await;
    let found = tenants::resolve(&url, &spec).await.unwrap();
    let fan_out = FanOut {
        jobs: 2,
        canary: 0,
        policy: FailurePolicy::Continue,
    };
    let first = registry(vec![entry!("tn_items", [], items)]);
    let report = tenants::upgrade(&first, &found, &[Target::Heads], &fan_out, |m| m, |_| {}).await;
    assert!(report.failed().next().is_none(), "{report:#?}");

    let edited = registry(vec![
        entry!("tn_items", [], items_edited),
        entry!("tn_more", ["tn_items"], more),
    ]);
    let refused =
        tenants::upgrade(&edited, &found, &[Target::Heads], &fan_out, |m| m, |_| {}).await;
    assert_eq!(
        refused.failed().count(),
        3,
        "a changed migration stops each tenant"
    );
    let accepted = tenants::upgrade(
        &edited,
        &found,
        &[Target::Heads],
        &fan_out,
        |m| m.accept_changed(["tn_items"]),
        |_| {},
    )
    .await;
    assert!(accepted.failed().next().is_none(), "{accepted:#?}");
    for tenant in &found {
        assert!(
            matches!(&tenant_result(&accepted, &tenant.name), TenantResult::Applied(ids) if ids == &["tn_more"]),
            "{accepted:#?}"
        );
    }
    // Recorded: a plain run now finds nothing changed and nothing to do.
    let again = tenants::upgrade(&edited, &found, &[Target::Heads], &fan_out, |m| m, |_| {}).await;
    assert!(again.failed().next().is_none(), "{again:#?}");
    cleanup(db, &names).await;
}

fn tenant_result(report: &tenants::FanOutReport, name: &str) -> TenantResult {
    report
        .tenants
        .iter()
        .find(|t| t.tenant == name)
        .map(|t| t.result.clone())
        .expect("a tenant of the report")
}
