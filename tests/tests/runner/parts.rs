//! A table created whole, with the parts (columns, indexes, constraints) the ops right after its
//! creation add, and dropped with them.

use std::sync::{Arc, Mutex};

use godwit::graph::Target;
use godwit::prelude::*;
use godwit::runner::{Event, RunError, State};
use godwit_tests::matrix::assert_live_matches;
use godwit_tests::testdb::TestDb;
use godwit_tests::{entry, sets::registry};

use crate::common::{HISTORY, count, migrator, model, on_every_dialect, states, tables};

on_every_dialect!(
    a_new_tables_parts_go_with_its_create_and_drop,
    partial_row_inside_a_whole_table_resumes_op_by_op,
);

fn parts_base(m: &mut Migration) {
    m.create_table("parents", |t| {
        t.id("id");
        t.string("label", 40);
    });
    m.create_index("parents", "ix_parents_label", ["label"]);
}

fn parts_of_new_tables(m: &mut Migration) {
    m.create_table("kids", |t| {
        t.id("id");
        t.bigint("parent_id");
        t.string("name", 40);
    });
    m.create_index("kids", "ix_kids_name", ["name"]);
    // SQLite: a table rebuild, were these not created with the table.
    m.add_unique("kids", "uq_kids_parent_name", ["parent_id", "name"]);
    m.add_foreign_key("kids", "fk_kids_parent", ["parent_id"], "parents", ["id"]);
    m.add_column("kids", "nickname", ColumnType::Text)
        .nullable();
    // Not a part: after the table is created, but its revert is left to the table's drop.
    m.rename_column("kids", "nickname", "alias");
    m.create_table("notes", |t| {
        t.id("id");
        t.string("body", 200);
    });
    m.add_column("parents", "note_count", ColumnType::Integer)
        .nullable();
    // Reverted before the column above: not left to `notes`' drop.
    m.create_index("notes", "ix_notes_body", ["body"]);
    m.create_table("nodes", |t| {
        t.id("id");
        t.string("code", 20);
        t.string("parent_code", 20);
    });
    m.create_index("nodes", "ix_nodes_code", ["code"]).unique();
    // Needs the index above first: not in `nodes`' `CREATE TABLE`.
    m.add_foreign_key(
        "nodes",
        "fk_nodes_parent",
        ["parent_code"],
        "nodes",
        ["code"],
    );
}

/// The SQL of an offline plan's migration, without its comments.
fn statements_of(migration: &godwit::runner::ScriptedMigration) -> String {
    migration
        .sql
        .lines()
        .filter(|line| !line.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A table created in a migration is created whole, with the parts (columns, indexes,
/// constraints) the ops right after it add; a downgrade leaves the parts of a table it then
/// drops to that drop. The schema ends where the model says, either way.
async fn a_new_tables_parts_go_with_its_create_and_drop(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![
        entry!("parts1", [], parts_base),
        entry!("parts2", ["parts1"], parts_of_new_tables),
    ];
    let plan = |direction, target| {
        godwit::runner::offline_plan(&registry(entries.clone()), dialect, direction, &[target])
            .unwrap()
    };
    let up = plan(godwit::graph::Direction::Up, Target::Heads);
    assert_eq!(
        up[1].ops,
        [
            r#"create_table("kids") and create_index("ix_kids_name" on "kids") and add_unique("uq_kids_parent_name" on "kids") and add_foreign_key("fk_kids_parent" on "kids") and add_column("kids"."nickname")"#,
            r#"rename_column("kids"."nickname" -> "alias")"#,
            r#"create_table("notes")"#,
            r#"add_column("parents"."note_count")"#,
            r#"create_index("ix_notes_body" on "notes")"#,
            r#"create_table("nodes") and create_index("ix_nodes_code" on "nodes")"#,
            r#"add_foreign_key("fk_nodes_parent" on "nodes")"#,
        ]
    );
    let sql = statements_of(&up[1]);
    // Carried by `CREATE TABLE`: no `ALTER TABLE` on `kids` but the rename, so no rebuild on
    // SQLite.
    let alters =
        sql.matches("ALTER TABLE `kids`").count() + sql.matches("ALTER TABLE \"kids\"").count();
    assert_eq!(alters, 1, "{sql}");
    assert!(sql.contains("RENAME COLUMN"), "{sql}");
    assert!(!sql.contains("_godwit_new_kids"), "{sql}");
    if dialect == Dialect::Mysql {
        // Indexes too: one statement per table.
        assert_eq!(sql.matches("CREATE INDEX").count(), 1, "{sql}");
        assert_eq!(sql.matches("CREATE UNIQUE INDEX").count(), 0, "{sql}");
    }
    // Op by op, each committed with its progress, a table is still created whole: in a
    // transaction of its own on PostgreSQL and SQLite, as one statement on MySQL.
    let alone = godwit::runner::offline_plan(
        &registry(vec![
            entry!("parts1", [], parts_base).with_transactional(false),
        ]),
        dialect,
        godwit::graph::Direction::Up,
        &[Target::Heads],
    )
    .unwrap();
    assert_eq!(
        alone[0].ops,
        [r#"create_table("parents") and create_index("ix_parents_label" on "parents")"#]
    );
    if dialect != Dialect::Mysql {
        let sql = &alone[0].sql;
        let begin = sql.find("BEGIN").expect("a transaction");
        let create = sql.find("CREATE TABLE").expect("the table");
        let index = sql.find("CREATE INDEX").expect("the index");
        let commit = sql.find("COMMIT").expect("its commit");
        assert!(begin < create && index < commit, "{sql}");
    }
    let down = plan(godwit::graph::Direction::Down, Target::id("parts1"));
    assert_eq!(
        down[0].ops,
        [
            r#"revert add_foreign_key("fk_nodes_parent" on "nodes") and create_index("ix_nodes_code" on "nodes") and create_table("nodes")"#,
            r#"revert create_index("ix_notes_body" on "notes")"#,
            r#"revert add_column("parents"."note_count")"#,
            r#"revert create_table("notes")"#,
            r#"revert rename_column("kids"."nickname" -> "alias") and add_column("kids"."nickname") and add_foreign_key("fk_kids_parent" on "kids") and add_unique("uq_kids_parent_name" on "kids") and create_index("ix_kids_name" on "kids") and create_table("kids")"#,
        ]
    );
    let sql = statements_of(&down[0]);
    for left in [
        "ix_kids_name",
        "uq_kids_parent_name",
        "fk_kids_parent",
        "nickname",
        "alias",
    ] {
        assert!(
            !sql.contains(left),
            "`{left}` is dropped with `kids`:\n{sql}"
        );
    }
    assert!(sql.contains("ix_notes_body"), "{sql}");

    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let finished = move || -> Vec<usize> {
        let mut events = seen.lock().unwrap();
        let indexes = events
            .iter()
            .filter_map(|e| match e {
                Event::OpFinished { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        events.clear();
        indexes
    };
    let record = events.clone();
    let mut m = migrator(&db, entries.clone())
        .await
        .on_event(move |e| record.lock().unwrap().push(e.clone()));
    m.upgrade(&[Target::id("parts1")]).await.unwrap();
    // A failure in a table created whole names its first op.
    m.connection()
        .execute("CREATE TABLE kids (id INTEGER)")
        .await
        .unwrap();
    let err = m.up().await.unwrap_err();
    let RunError::Failed {
        index,
        op,
        ops_applied,
        ..
    } = &err
    else {
        panic!("expected a failed op, got {err}");
    };
    assert_eq!((*index, *ops_applied), (0, 0), "{err}");
    assert!(
        op.starts_with(r#"create_table("kids") and create_index"#),
        "{err}"
    );
    assert!(err.to_string().contains("failed at op 1 of 12"), "{err}");
    m.connection().execute("DROP TABLE kids").await.unwrap();
    finished();
    m.up().await.unwrap();
    assert_eq!(finished(), [4, 5, 6, 7, 8, 10, 11]);
    let both = model(&entries, &["parts1", "parts2"], dialect);
    assert_live_matches(m.connection(), &both, &[HISTORY], "up").await;
    m.connection()
        .execute("INSERT INTO parents (id) VALUES (1)")
        .await
        .unwrap();
    m.connection()
        .execute("INSERT INTO kids (id, parent_id, name) VALUES (1, 1, 'a')")
        .await
        .unwrap();
    let report = m.downgrade(&[Target::id("parts1")]).await.unwrap();
    assert_eq!(report.reverted, ["parts2"]);
    assert_eq!(finished(), [9, 8, 7, 6, 0]);
    let base = model(&entries, &["parts1"], dialect);
    assert_live_matches(m.connection(), &base, &[HISTORY], "down").await;
    assert_eq!(
        count(m.connection(), "SELECT COUNT(*) FROM parents").await,
        1
    );
    m.up().await.unwrap();
    assert_live_matches(m.connection(), &both, &[HISTORY], "up again").await;
    m.close().await.unwrap();
    db.drop().await;
}

/// A history row that stopped inside what is now a table created whole (written by a runner
/// that went op by op, or by a failure on MySQL before it) resumes from the op it records, and
/// reverts only what it records.
async fn partial_row_inside_a_whole_table_resumes_op_by_op(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let entries = vec![entry!("parts1", [], parts_base)];
    let mut m = migrator(&db, entries.clone()).await;
    m.up().await.unwrap();
    // The state after op 1 of 2: the table, not its index.
    let drop_index = match dialect {
        Dialect::Mysql => "DROP INDEX ix_parents_label ON parents",
        _ => "DROP INDEX ix_parents_label",
    };
    m.connection().execute(drop_index).await.unwrap();
    m.connection()
        .execute(&format!(
            "UPDATE {HISTORY} SET state = 'partial', ops_done = 1 WHERE id = 'parts1'"
        ))
        .await
        .unwrap();
    let status = states(&m.status().await.unwrap());
    assert_eq!(
        status["parts1"],
        State::Partial {
            ops_done: 1,
            ops_total: 2
        }
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let mut m = m.on_event(move |e| {
        if let Event::OpFinished { index, .. } = e {
            seen.lock().unwrap().push(*index);
        }
    });
    assert_eq!(m.up().await.unwrap().applied, ["parts1"]);
    assert_eq!(
        *events.lock().unwrap(),
        [1],
        "only the index was left to do"
    );
    let schema = model(&entries, &["parts1"], dialect);
    assert_live_matches(m.connection(), &schema, &[HISTORY], "resumed").await;

    // Reverting a row stopped after op 1 drops the table alone.
    m.connection().execute(drop_index).await.unwrap();
    m.connection()
        .execute(&format!(
            "UPDATE {HISTORY} SET state = 'partial', ops_done = 1 WHERE id = 'parts1'"
        ))
        .await
        .unwrap();
    events.lock().unwrap().clear();
    assert_eq!(
        m.downgrade(&[Target::base()]).await.unwrap().reverted,
        ["parts1"]
    );
    assert_eq!(*events.lock().unwrap(), [0]);
    assert_eq!(tables(m.connection()).await, Vec::<String>::new());
    m.close().await.unwrap();
    db.drop().await;
}
