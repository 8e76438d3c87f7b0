//! Maintenance ops in a run on the real servers: each lands in the kind of unit it needs
//! (VACUUM and REINDEX CONCURRENTLY outside the migration's transaction), and `m.explain`
//! reports the plan as an event.

use std::sync::{Arc, Mutex};

use godwit::Target;
use godwit::prelude::*;
use godwit::runner::Event;
use godwit_tests::entry;
use godwit_tests::testdb::TestDb;

use crate::common::{count, migrator, on_every_dialect};

on_every_dialect!(upkeep_runs_where_it_must_and_the_plan_is_reported);

fn items(m: &mut Migration) {
    m.create_table("mt_items", |t| {
        t.id("id");
        t.string("name", 40).not_null();
    });
    m.sql("INSERT INTO mt_items (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
}

/// The seed's check after a new index: build it, refresh the statistics, look at the plan.
fn index_and_check(m: &mut Migration) {
    m.create_index("mt_items", "ix_mt_items_name", ["name"]);
    m.sql("DELETE FROM mt_items WHERE id = 3")
        .reverse("INSERT INTO mt_items (id, name) VALUES (3, 'c')");
    m.analyze("mt_items");
    m.vacuum("mt_items");
    if m.dialect() != Dialect::Mysql {
        m.reindex("ix_mt_items_name");
    }
    if m.dialect() == Dialect::Postgres {
        m.reindex("mt_items").concurrently();
    }
    m.explain("SELECT id FROM mt_items WHERE name = 'b'");
}

async fn upkeep_runs_where_it_must_and_the_plan_is_reported(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("mt_items", [], items),
        entry!("mt_check", ["mt_items"], index_and_check),
    ];
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries)
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("mt_items")]).await.unwrap();
    assert_eq!(m.up().await.unwrap().applied, ["mt_check"]);
    let plans: Vec<(String, Vec<String>)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::QueryPlan { query, plan, .. } => Some((query.clone(), plan.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(plans.len(), 1, "{plans:?}");
    let (query, plan) = &plans[0];
    assert!(query.contains("WHERE name = 'b'"), "{query}");
    assert!(!plan.is_empty(), "a plan has lines");
    if dialect == Dialect::Sqlite {
        // SQLite's plan names the index it uses.
        assert!(
            plan.iter().any(|line| line.contains("ix_mt_items_name")),
            "{plan:?}"
        );
    }
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM mt_items").await,
        2
    );
    assert!(m.drift().await.unwrap().is_empty());
    // Upkeep reverts to nothing; the index goes.
    m.downgrade(&[Target::id("mt_items")]).await.unwrap();
    assert!(m.drift().await.unwrap().is_empty());
    m.close().await.unwrap();
    db.drop().await;
}
