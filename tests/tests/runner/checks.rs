//! Preconditions (`m.require`), verifications (`m.verify`) and savepoints on the real servers:
//! a condition that does not hold stops the migration before any op, and is told from a query
//! that fails; a failed verification rolls back what the dialect can, and says so; a savepoint
//! rolls back only itself, then fails or goes on.

use std::sync::{Arc, Mutex};

use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::runner::{Event, RunError, State};
use godwit::{Migrator, Target};
use godwit_tests::entry;
use godwit_tests::testdb::TestDb;

use crate::common::{count, migrator, on_every_dialect, states, tables};

on_every_dialect!(
    a_precondition_that_does_not_hold_stops_the_migration_before_any_op,
    a_precondition_whose_query_fails_is_not_a_condition_that_does_not_hold,
    the_email_example_lowercases_and_verifies,
    a_failed_verification_in_a_savepoint_rolls_back_only_the_savepoint,
    a_savepoint_may_go_on_without_what_it_did,
    a_failed_verification_rolls_back_what_the_dialect_can
);

fn users(m: &mut Migration) {
    m.create_table("vf_users", |t| {
        t.id("id");
        t.string("email", 100).not_null();
        t.integer("credits").not_null().default(0);
    });
    m.sql(
        "INSERT INTO vf_users (id, email, credits) VALUES (1, 'Ann@X.org', 5), \
         (2, 'bob@x.org', 0), (3, 'CY@X.ORG', 2)",
    );
}

/// `users` applied in a run of its own, then a migrator on `entries` after it, with events.
async fn after_users(db: &TestDb, next: MigrationEntry) -> (Migrator, Arc<Mutex<Vec<Event>>>) {
    let entries = vec![entry!("vf_users", [], users), next];
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(db, entries)
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("vf_users")]).await.unwrap();
    (m, events)
}

/// Emails with upper case: compared as bytes on MySQL, whose collations ignore case.
fn not_lowercase(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Mysql => "CAST(email AS BINARY) <> CAST(LOWER(email) AS BINARY)",
        _ => "email <> LOWER(email)",
    }
}

fn upper(dialect: Dialect) -> String {
    format!(
        "SELECT COUNT(*) FROM vf_users WHERE {}",
        not_lowercase(dialect)
    )
}

fn guarded_drop(m: &mut Migration) {
    m.create_table("vf_archive", |t| {
        t.id("id");
    });
    // Recorded second, run first.
    m.require("SELECT id FROM vf_users WHERE credits > 0", Expect::NoRows);
    m.require("SELECT COUNT(*) FROM vf_users", Expect::value(3));
    // A 4-byte integer on PostgreSQL, read as text too.
    m.require("SELECT 7", Expect::value(7));
    m.drop_column("vf_users", "credits");
}

async fn a_precondition_that_does_not_hold_stops_the_migration_before_any_op(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let (mut m, _) = after_users(&db, entry!("vf_drop", ["vf_users"], guarded_drop)).await;
    let err = m.up().await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            &err,
            RunError::Failed {
                index: 0,
                ops_applied: 0,
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains("precondition does not hold")
            && message.contains("must return no rows, and returned 2 rows, the first (1)"),
        "{message}"
    );
    assert_eq!(tables(m.connection()).await, ["vf_users"], "no op ran");
    m.connection()
        .execute("UPDATE vf_users SET credits = 0")
        .await
        .unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["vf_drop"]);
    assert_eq!(tables(m.connection()).await, ["vf_archive", "vf_users"]);
    assert!(m.drift().await.unwrap().is_empty());
    m.close().await.unwrap();
    db.drop().await;
}

fn broken_precondition(m: &mut Migration) {
    m.require("SELECT nothing FROM vf_missing", Expect::NoRows);
    m.drop_column("vf_users", "credits");
}

async fn a_precondition_whose_query_fails_is_not_a_condition_that_does_not_hold(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let (mut m, _) = after_users(&db, entry!("vf_broken", ["vf_users"], broken_precondition)).await;
    let message = m.up().await.unwrap_err().to_string();
    assert!(
        message.contains("precondition could not be checked, its query failed")
            && message.contains("vf_missing")
            && !message.contains("does not hold"),
        "{message}"
    );
    m.close().await.unwrap();
    db.drop().await;
}

/// The seed's example: lower-case every email, verify none has upper case, else roll back.
fn lowercase_emails(m: &mut Migration) {
    m.savepoint(|m| {
        m.sql("UPDATE vf_users SET email = LOWER(email)");
        let upper = format!(
            "SELECT id FROM vf_users WHERE {}",
            not_lowercase(m.dialect())
        );
        m.verify(&upper, Expect::NoRows);
    });
}

async fn the_email_example_lowercases_and_verifies(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let (mut m, _) = after_users(&db, entry!("vf_lower", ["vf_users"], lowercase_emails)).await;
    assert_eq!(count(m.connection(), &upper(dialect)).await, 2);
    assert_eq!(m.up().await.unwrap().applied, ["vf_lower"]);
    assert_eq!(count(m.connection(), &upper(dialect)).await, 0);
    m.close().await.unwrap();
    db.drop().await;
}

/// An UPDATE that misses a row, so that its verification does not hold.
fn buggy_lowercase(m: &mut Migration) {
    m.sql("UPDATE vf_users SET email = LOWER(email) WHERE id <> 3");
    let upper = format!(
        "SELECT id FROM vf_users WHERE {}",
        not_lowercase(m.dialect())
    );
    m.verify(&upper, Expect::NoRows);
}

fn add_then_buggy_savepoint(m: &mut Migration) {
    m.add_column("vf_users", "note", ColumnType::Text);
    m.savepoint(buggy_lowercase);
}

fn verification_failure(events: &Mutex<Vec<Event>>) -> Option<bool> {
    events.lock().unwrap().iter().find_map(|e| match e {
        Event::VerificationFailed { continued, .. } => Some(*continued),
        _ => None,
    })
}

async fn a_failed_verification_in_a_savepoint_rolls_back_only_the_savepoint(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let (mut m, events) = after_users(
        &db,
        entry!("vf_fix", ["vf_users"], add_then_buggy_savepoint),
    )
    .await;
    let err = m.up().await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("verification does not hold") && message.contains("returned 1 row (3)"),
        "{message}"
    );
    assert_eq!(verification_failure(&events), Some(false));
    // What the savepoint did is undone on every dialect, MySQL's too.
    assert_eq!(count(m.connection(), &upper(dialect)).await, 2);
    let state = states(&m.status().await.unwrap())["vf_fix"].clone();
    match dialect {
        // The column's DDL committed before the savepoint: applied and recorded as such.
        Dialect::Mysql => assert_eq!(
            state,
            State::Partial {
                ops_done: 1,
                ops_total: 2
            }
        ),
        // One transaction: nothing of the migration is left.
        _ => assert_eq!(state, State::Pending),
    }
    m.close().await.unwrap();
    db.drop().await;
}

fn savepoint_or_continue(m: &mut Migration) {
    m.savepoint(buggy_lowercase).or_continue();
    m.create_table("vf_after", |t| {
        t.id("id");
    });
}

async fn a_savepoint_may_go_on_without_what_it_did(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let (mut m, events) =
        after_users(&db, entry!("vf_try", ["vf_users"], savepoint_or_continue)).await;
    assert_eq!(m.up().await.unwrap().applied, ["vf_try"]);
    assert_eq!(verification_failure(&events), Some(true));
    assert_eq!(
        count(m.connection(), &upper(dialect)).await,
        2,
        "the savepoint is undone"
    );
    assert_eq!(tables(m.connection()).await, ["vf_after", "vf_users"]);
    m.close().await.unwrap();
    db.drop().await;
}

fn table_then_buggy_update(m: &mut Migration) {
    m.create_table("vf_log", |t| {
        t.id("id");
    });
    buggy_lowercase(m);
}

async fn a_failed_verification_rolls_back_what_the_dialect_can(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let (mut m, _) = after_users(
        &db,
        entry!("vf_plain", ["vf_users"], table_then_buggy_update),
    )
    .await;
    let err = m.up().await.unwrap_err();
    assert!(
        err.to_string().contains("verification does not hold"),
        "{err}"
    );
    let state = states(&m.status().await.unwrap())["vf_plain"].clone();
    match dialect {
        // Each op committed on its own: the table and the UPDATE stay, recorded truthfully.
        Dialect::Mysql => {
            assert!(
                matches!(
                    &err,
                    RunError::Failed {
                        index: 2,
                        ops_applied: 2,
                        ..
                    }
                ),
                "{err}"
            );
            assert_eq!(
                state,
                State::Partial {
                    ops_done: 2,
                    ops_total: 3
                }
            );
            assert_eq!(count(m.connection(), &upper(dialect)).await, 1);
            assert_eq!(tables(m.connection()).await, ["vf_log", "vf_users"]);
        }
        _ => {
            assert_eq!(state, State::Pending);
            assert_eq!(count(m.connection(), &upper(dialect)).await, 2);
            assert_eq!(tables(m.connection()).await, ["vf_users"]);
        }
    }
    m.close().await.unwrap();
    db.drop().await;
}

fn continue_with_reverse(m: &mut Migration) {
    m.savepoint(|m| {
        m.sql("UPDATE vf_users SET credits = credits * 100")
            .reverse("UPDATE vf_users SET credits = credits / 100");
        m.verify(
            "SELECT id FROM vf_users WHERE credits > 1000",
            Expect::NoRows,
        );
    })
    .or_continue();
}

/// A savepoint that may go on without its steps cannot say how to undo them: its down would
/// undo what may never have run.
#[test]
fn a_savepoint_that_goes_on_has_no_reverses() {
    let ops = Migration::record(Dialect::Postgres, continue_with_reverse);
    let mut schema = godwit::testing::Schema::new();
    let error = schema.apply(&ops[0]).unwrap_err().to_string();
    assert!(
        error.contains("or_continue") && error.contains("reverse"),
        "{error}"
    );
}
