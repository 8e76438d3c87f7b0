//! Migrations that lock only tables the run creates or drops share a commit.

use std::sync::{Arc, Mutex};

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::registry::MigrationEntry;
use godwit::runner::{RunError, State};
use godwit_tests::entry;
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::testdb::TestDb;

use crate::common::{
    HISTORY, count, event_trail, migrator, model, on_every_dialect, states, tables,
};

on_every_dialect!(
    migrations_locking_only_new_tables_share_a_commit,
    a_failure_in_a_shared_commit_runs_the_ones_before_it_alone,
);

fn sc_hot(m: &mut Migration) {
    m.create_table("hot", |t| {
        t.id("id");
    });
}

/// Also a base of `concurrency`'s dropped run.
pub(crate) fn sc_a(m: &mut Migration) {
    m.create_table("a", |t| {
        t.id("id");
    });
}

fn sc_b(m: &mut Migration) {
    m.create_table("b", |t| {
        t.id("id");
        t.bigint("a_id");
        t.foreign_key("fk_b_a", ["a_id"], "a", ["id"]);
    });
    m.create_index("b", "ix_b_a", ["a_id"]);
}

fn sc_hot_note(m: &mut Migration) {
    m.add_column("hot", "note", ColumnType::Text).nullable();
}

fn sc_c(m: &mut Migration) {
    m.create_table("c", |t| {
        t.id("id");
    });
}

/// `sc1` makes a table in use before the run; the rest, in a run of their own.
fn shared_commit_set() -> Vec<MigrationEntry> {
    vec![
        entry!("sc1", [], sc_hot),
        entry!("sc2", ["sc1"], sc_a),
        entry!("sc3", ["sc2"], sc_b),
        entry!("sc4", ["sc3"], sc_hot_note),
        entry!("sc5", ["sc4"], sc_c),
    ]
}

/// PostgreSQL: logs the transaction of every write to the history, to see which migrations
/// committed together, and counts the writes, rolled back or not.
async fn log_history_transactions(conn: &mut godwit::db::Connection) {
    for sql in [
        "CREATE TABLE commit_log (seq SERIAL PRIMARY KEY, id TEXT, tx BIGINT)",
        // A sequence does not roll back: it counts the writes, committed or not.
        "CREATE SEQUENCE history_writes",
        "CREATE FUNCTION log_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         PERFORM nextval('history_writes'); \
         INSERT INTO commit_log (id, tx) VALUES \
         (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, txid_current()); \
         RETURN NULL; END $$",
        "CREATE TRIGGER log_commit AFTER INSERT OR UPDATE OR DELETE ON godwit_migrations \
         FOR EACH ROW EXECUTE FUNCTION log_commit()",
    ] {
        conn.execute(sql).await.expect("the log");
    }
}

/// The ids that committed together, in order, and forgets them.
async fn commits(conn: &mut godwit::db::Connection) -> Vec<Vec<String>> {
    let rows = conn
        .fetch_text("SELECT id, tx FROM commit_log ORDER BY seq")
        .await
        .expect("the log");
    conn.execute("DELETE FROM commit_log")
        .await
        .expect("the log");
    let mut commits: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let (id, tx) = (row[0].clone().unwrap(), row[1].clone().unwrap());
        match commits.last_mut() {
            Some((last, ids)) if *last == tx => {
                if !ids.contains(&id) {
                    ids.push(id)
                }
            }
            _ => commits.push((tx, vec![id])),
        }
    }
    commits.into_iter().map(|(_, ids)| ids).collect()
}

/// Migrations that lock only tables the run creates (up) or drops (down) commit together on
/// PostgreSQL and SQLite; one that changes a table in use commits alone. What they do, what
/// the history says and what an observer sees is what one commit each gives.
async fn migrations_locking_only_new_tables_share_a_commit(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = shared_commit_set();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("sc1")]).await.unwrap();
    let postgres = dialect == Dialect::Postgres;
    if postgres {
        log_history_transactions(m.connection()).await;
    }
    event_trail(&events);
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, ["sc2", "sc3", "sc4", "sc5"]);
    let ids = ["sc1", "sc2", "sc3", "sc4", "sc5"];
    let ignore = [HISTORY, "commit_log"];
    assert_live_matches(
        m.connection(),
        &model(&entries, &ids, dialect),
        &ignore,
        "up",
    )
    .await;
    assert!(
        states(&m.status().await.unwrap())
            .values()
            .all(|s| *s == State::Applied)
    );
    let mut expected = Vec::new();
    for (position, id) in ["sc2", "sc3", "sc4", "sc5"].iter().enumerate() {
        expected.push(format!("start {id} {}/4", position + 1));
        expected.push(format!("op {id}"));
        expected.push(format!("finish {id}"));
    }
    assert_eq!(event_trail(&events), expected);
    if postgres {
        assert_eq!(
            commits(m.connection()).await,
            [vec!["sc2", "sc3"], vec!["sc4"], vec!["sc5"]]
        );
    }
    let report = m.downgrade(&[Target::id("sc1")]).await.unwrap();
    assert_eq!(report.reverted, ["sc5", "sc4", "sc3", "sc2"]);
    assert_live_matches(
        m.connection(),
        &model(&entries, &ids[..1], dialect),
        &ignore,
        "down",
    )
    .await;
    let mut expected = Vec::new();
    for (position, id) in ["sc5", "sc4", "sc3", "sc2"].iter().enumerate() {
        expected.push(format!("start {id} {}/4", position + 1));
        expected.push(format!("op {id}"));
        expected.push(format!("finish {id}"));
    }
    assert_eq!(event_trail(&events), expected);
    if postgres {
        // Dropping `b` locks `a` for its foreign key: `a` goes too.
        assert_eq!(
            commits(m.connection()).await,
            [vec!["sc5"], vec!["sc4"], vec!["sc3", "sc2"]]
        );
        // One commit each, when asked.
        let mut m = migrator(&db, entries.clone()).await.commit_each(true);
        m.up().await.unwrap();
        assert_eq!(
            commits(m.connection()).await,
            [vec!["sc2"], vec!["sc3"], vec!["sc4"], vec!["sc5"]]
        );
        m.close().await.unwrap();
    }
    m.close().await.unwrap();
    db.drop().await;
}

fn sc_d(m: &mut Migration) {
    m.create_table("d", |t| {
        t.id("id");
    });
}

/// A migration that fails inside a shared commit rolls it back; the ones before it are applied
/// again, each alone, and it fails alone: the run ends as with one commit each, and an
/// observer sees each migration start once.
async fn a_failure_in_a_shared_commit_runs_the_ones_before_it_alone(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("sf1", [], sc_hot),
        entry!("sf2", ["sf1"], sc_a),
        entry!("sf3", ["sf2"], sc_c),
        entry!("sf4", ["sf3"], sc_d),
    ];
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| seen.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("sf1")]).await.unwrap();
    let postgres = dialect == Dialect::Postgres;
    if postgres {
        log_history_transactions(m.connection()).await;
    }
    event_trail(&events);
    // Made behind the model's back: `sf3` cannot create it.
    m.connection()
        .execute("CREATE TABLE c (x INTEGER)")
        .await
        .unwrap();
    let err = m.up().await.unwrap_err();
    let RunError::Failed { id, index: 0, .. } = &err else {
        panic!("expected sf3 to fail, got {err}");
    };
    assert_eq!(id, "sf3");
    assert!(
        err.to_string().contains("nothing of `sf3` is applied"),
        "{err}"
    );
    assert_eq!(
        event_trail(&events),
        ["start sf2 1/3", "op sf2", "finish sf2", "start sf3 2/3"]
    );
    let status = states(&m.status().await.unwrap());
    assert_eq!(status["sf2"], State::Applied);
    // MySQL records a start before the first op, which commits on its own there.
    let failed = match dialect {
        Dialect::Mysql => State::Partial {
            ops_done: 0,
            ops_total: 1,
        },
        _ => State::Pending,
    };
    assert_eq!(status["sf3"], failed);
    assert_eq!(status["sf4"], State::Pending);
    let mut live = tables(m.connection()).await;
    live.retain(|t| t != "commit_log");
    assert_eq!(live, ["a", "c", "hot"]);
    if postgres {
        assert_eq!(commits(m.connection()).await, [vec!["sf2"]]);
        // The shared attempt wrote `sf2`'s row once, rolled back, then alone once more.
        let writes = count(m.connection(), "SELECT last_value FROM history_writes").await;
        assert_eq!(writes, 2);
    }
    m.connection().execute("DROP TABLE c").await.unwrap();
    let report = m.up().await.unwrap();
    assert_eq!(report.applied, ["sf3", "sf4"]);
    if postgres {
        assert_eq!(commits(m.connection()).await, [vec!["sf3", "sf4"]]);
    }
    assert_live_matches(
        m.connection(),
        &model(&entries, &["sf1", "sf2", "sf3", "sf4"], dialect),
        &[HISTORY, "commit_log"],
        "up again",
    )
    .await;
    m.close().await.unwrap();
    db.drop().await;
}
