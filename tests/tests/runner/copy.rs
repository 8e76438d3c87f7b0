//! Copying between databases: every model type with values at their edges across the four
//! dialect pairs (there and back again, compared with what the source holds), rejects,
//! `strict`, refusals before anything runs, and a copy SIGKILLed midway that resumes.

use godwit::Dialect;
use godwit::copy::{self, CopyError, CopyEvent, CopyOptions, CopyReport};
use godwit::db::Connection;
use godwit::graph::Target;
use godwit::quote_literal;
use godwit_tests::sets::{self, registry};
use godwit_tests::testdb::TestDb;

use crate::common::{count, migrator, numbers, run_and_kill};

/// A value of a test row, spelled for each dialect.
#[derive(Clone, Copy)]
enum V {
    Null,
    Text(&'static str),
    Number(&'static str),
    Bool(bool),
    Bytes(&'static [u8]),
    /// A timestamp with its offset, and the same in UTC without one (for MariaDB, which
    /// takes no offset; its session is in UTC).
    Tz(&'static str, &'static str),
}

fn literal(dialect: Dialect, value: V) -> String {
    match value {
        V::Null => "NULL".to_owned(),
        V::Text(text) => quote_literal(dialect, text),
        V::Number(n) => n.to_owned(),
        V::Bool(b) => match (dialect, b) {
            (Dialect::Postgres, b) => b.to_string(),
            (_, true) => "1".to_owned(),
            (_, false) => "0".to_owned(),
        },
        V::Tz(with_offset, utc) => match dialect {
            Dialect::Mysql => quote_literal(dialect, utc),
            _ => quote_literal(dialect, with_offset),
        },
        V::Bytes(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            match dialect {
                Dialect::Postgres => format!("'\\x{hex}'::bytea"),
                _ => format!("X'{hex}'"),
            }
        }
    }
}

const COLUMNS: [&str; 19] = [
    "id", "small", "medium", "big", "name", "body", "flag", "ratio", "measure", "money", "wide",
    "day", "clock", "stamp", "stamp_tz", "doc", "token", "bytes", "mood",
];

/// Rows at the edges of every type: NULLs, empty strings, unicode and COPY's own syntax
/// characters, the extreme integers, decimals with every digit, time zones, binary with NUL
/// bytes. `wide` (38 digits) only where both sides keep them (not SQLite).
fn edge_rows(wide_digits: bool) -> Vec<[V; 19]> {
    use V::*;
    let wide = |v: &'static str| if wide_digits { Number(v) } else { Null };
    vec![
        [
            Number("1"),
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
            Null,
        ],
        [
            Number("2"),
            Number("-32768"),
            Number("-2147483648"),
            Number("-9223372036854775808"),
            Text(""),
            Text(""),
            Bool(false),
            Number("-0.1"),
            Number("-2.2250738585072014e-308"),
            Number("-9999999999.99999"),
            wide("-9999999999999999999999999999.9999999999"),
            Text("1000-01-01"),
            Text("00:00:00"),
            Text("1000-01-01 00:00:00"),
            Tz("1970-01-01 00:00:01+00", "1970-01-01 00:00:01"),
            Text("{}"),
            Text("00000000-0000-0000-0000-000000000000"),
            Bytes(b""),
            Text("happy"),
        ],
        [
            Number("3"),
            Number("32767"),
            Number("2147483647"),
            Number("9223372036854775807"),
            Text("ünïcødé 🦤 \"quoted\" O'Brien"),
            Text("tab\there\nnew line\r\\backslash\\N"),
            Bool(true),
            Number("3.4e38"),
            Number("1.7976931348623157e308"),
            Number("9999999999.99999"),
            wide("9999999999999999999999999999.9999999999"),
            Text("9999-12-31"),
            Text("23:59:59.999999"),
            Text("9999-12-31 23:59:59.999999"),
            Tz(
                "2038-01-19 05:14:07.999999+02",
                "2038-01-19 03:14:07.999999",
            ),
            Text(r#"{"b": [1, 2.5, null, true], "a": {"é": "🦤", "nested": {"z": 0}}}"#),
            Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Bytes(b"\x00\xff\x00\x01\\x\tN\n"),
            Text("ünïcode"),
        ],
        [
            Number("40"),
            Number("0"),
            Number("0"),
            Number("0"),
            Text(" "),
            Text("NULL"),
            Bool(true),
            Number("0"),
            Number("0.1"),
            Number("0.00001"),
            wide("0.0000000001"),
            Text("2024-02-29"),
            Text("12:30:00.5"),
            Text("2024-02-29 12:30:00.5"),
            Tz(
                "2024-03-01 00:30:00.123456+01:00",
                "2024-02-29 23:30:00.123456",
            ),
            Text("[1, \"two\", [3]]"),
            Text("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            Bytes(b"\x00"),
            Text("sad"),
        ],
    ]
}

async fn session_in_utc(conn: &mut Connection) {
    let sql = match conn.dialect() {
        Dialect::Postgres => "SET TIME ZONE 'UTC'",
        Dialect::Mysql => "SET time_zone = '+00:00'",
        Dialect::Sqlite => return,
    };
    conn.execute(sql).await.expect("set the time zone");
}

async fn insert_rows(conn: &mut Connection, rows: &[[V; 19]]) {
    let dialect = conn.dialect();
    session_in_utc(conn).await;
    for row in rows {
        let values: Vec<String> = row.iter().map(|v| literal(dialect, *v)).collect();
        conn.execute(&format!(
            "INSERT INTO cp_values ({}) VALUES ({})",
            COLUMNS.join(", "),
            values.join(", ")
        ))
        .await
        .expect("insert a test row");
    }
    // Children before their parents in key order, across batches of two.
    conn.execute(
        "INSERT INTO cp_nodes (id, parent_id, label) VALUES (5, NULL, 'root'), (1, 5, 'child'), \
         (2, 1, 'grandchild'), (3, 3, 'its own parent')",
    )
    .await
    .expect("insert nodes");
    conn.execute(
        "INSERT INTO cp_notes (id, value_id, note) VALUES (1, 3, 'about row 3'), (2, 1, NULL)",
    )
    .await
    .expect("insert notes");
}

/// A migrated source of the copy set, with the edge rows.
async fn source(dialect: Dialect, wide_digits: bool) -> Option<TestDb> {
    let db = TestDb::create(dialect).await?;
    let mut m = migrator(&db, sets::copy_types()).await;
    m.up().await.expect("migrate the source");
    insert_rows(m.connection(), &edge_rows(wide_digits)).await;
    m.close().await.unwrap();
    Some(db)
}

/// A migrated source of `from` with the edge rows, and an empty target of `to`; `None` when a
/// server is unreachable (skipped).
async fn source_and_target(
    from: Dialect,
    wide_digits: bool,
    to: Dialect,
) -> Option<(TestDb, TestDb)> {
    let source = source(from, wide_digits).await?;
    let Some(target) = TestDb::create(to).await else {
        source.drop().await;
        return None;
    };
    Some((source, target))
}

/// Checks that the target's `cp_values` holds no row, and drops both databases.
async fn nothing_written_then_drop(source: TestDb, target: TestDb) {
    let mut conn = target.connect().await;
    assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM cp_values").await, 0);
    conn.close().await.unwrap();
    source.drop().await;
    target.drop().await;
}

fn options(reject_file: &std::path::Path) -> CopyOptions {
    CopyOptions {
        // Small batches: several per table, and a self-reference across them.
        batch_size: 2,
        reject_file: reject_file.to_path_buf(),
        ..Default::default()
    }
}

fn reject_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "godwit-rejects-{name}-{}-{:?}.jsonl",
        std::process::id(),
        std::thread::current().id()
    ))
}

async fn run_copy(
    from: &TestDb,
    to: &TestDb,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    let registry = registry(sets::copy_types());
    copy::copy(&registry, &from.url, &to.url, options, |_| {}).await
}

/// Every column of `cp_values` as the database prints it, binary in hex, row by row.
async fn table_text(conn: &mut Connection) -> Vec<Vec<Option<String>>> {
    let dialect = conn.dialect();
    session_in_utc(conn).await;
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|c| match (dialect, *c) {
            (Dialect::Postgres, "bytes") => "encode(bytes, 'hex')".to_owned(),
            (_, "bytes") => "hex(bytes)".to_owned(),
            (Dialect::Postgres, c) => format!("{c}::text"),
            (Dialect::Mysql, c) => format!("CAST({c} AS CHAR)"),
            (Dialect::Sqlite, c) => format!("CAST({c} AS TEXT)"),
        })
        .collect();
    let mut rows = conn
        .fetch_text(&format!(
            "SELECT {} FROM cp_values ORDER BY id",
            columns.join(", ")
        ))
        .await
        .expect("read the table");
    let nodes = conn
        .fetch_text(
            "SELECT CAST(id AS CHAR(20)), CAST(parent_id AS CHAR(20)), label FROM cp_nodes ORDER BY id",
        )
        .await
        .expect("read the nodes");
    rows.extend(nodes);
    rows
}

/// `from` → `to` → a new database of `from`'s dialect: what comes back is what left, as the
/// source's own database prints it; on the way, `to` holds the values as its dialect spells
/// them, its key counters follow the keys, and a second run has nothing to do.
async fn there_and_back(from: Dialect, to: Dialect) {
    let wide_digits = from != Dialect::Sqlite && to != Dialect::Sqlite;
    let Some(source) = source(from, wide_digits).await else {
        return;
    };
    let Some(target) = TestDb::create(to).await else {
        source.drop().await;
        return;
    };
    let Some(back) = TestDb::create(from).await else {
        source.drop().await;
        target.drop().await;
        return;
    };
    let rejects = reject_path("round-trip");
    let _ = std::fs::remove_file(&rejects);
    let report = run_copy(&source, &target, &options(&rejects))
        .await
        .expect("copy there");
    assert_eq!(report.target_migrated, ["cp_types", "cp_related"]);
    let copied: Vec<(&str, u64, u64)> = report
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.rows_copied, t.rows_rejected))
        .collect();
    // Parents first.
    assert_eq!(
        copied,
        [("cp_nodes", 4, 0), ("cp_values", 4, 0), ("cp_notes", 2, 0)]
    );
    assert_eq!(report.reject_file, None);
    assert!(!rejects.exists());

    let mut conn = target.connect().await;
    session_in_utc(&mut conn).await;
    let cell = |rows: &[Vec<Option<String>>], row: usize, col: usize| rows[row][col].clone();
    let select = match to {
        Dialect::Postgres => {
            "SELECT body, encode(bytes, 'hex'), to_char(stamp_tz AT TIME ZONE 'UTC', \
             'YYYY-MM-DD HH24:MI:SS.US'), name, CAST(flag AS TEXT), CAST(wide AS TEXT) FROM cp_values ORDER BY id"
        }
        Dialect::Mysql => {
            "SELECT body, hex(bytes), CAST(stamp_tz AS CHAR), name, CAST(flag AS CHAR), CAST(wide AS CHAR) FROM \
             cp_values ORDER BY id"
        }
        Dialect::Sqlite => {
            "SELECT body, hex(bytes), stamp_tz, name, CAST(flag AS TEXT), CAST(wide AS TEXT) FROM cp_values ORDER BY id"
        }
    };
    let there = conn.fetch_text(select).await.expect("read the target");
    assert_eq!(cell(&there, 0, 0), None, "NULL stays NULL");
    assert_eq!(cell(&there, 1, 0).as_deref(), Some(""), "empty stays empty");
    assert_eq!(
        cell(&there, 2, 0).as_deref(),
        Some("tab\there\nnew line\r\\backslash\\N")
    );
    assert_eq!(
        cell(&there, 2, 3).as_deref(),
        Some("ünïcødé 🦤 \"quoted\" O'Brien")
    );
    assert_eq!(
        cell(&there, 2, 1).map(|h| h.to_lowercase()).as_deref(),
        Some("00ff00015c78094e0a"),
        "binary with NUL bytes"
    );
    assert_eq!(cell(&there, 1, 1).as_deref(), Some(""), "empty binary");
    let stamp = cell(&there, 2, 2).expect("a timestamp");
    assert!(
        stamp.starts_with("2038-01-19 03:14:07.999999"),
        "in UTC on the target: {stamp}"
    );
    let truth = match to {
        Dialect::Postgres => "true",
        _ => "1",
    };
    assert_eq!(cell(&there, 2, 4).as_deref(), Some(truth));
    if wide_digits {
        assert_eq!(
            cell(&there, 2, 5).as_deref(),
            Some("9999999999999999999999999999.9999999999")
        );
    }
    // The key counter is past the copied keys: a new row takes the next.
    conn.execute("INSERT INTO cp_values (name) VALUES ('after the copy')")
        .await
        .expect("a new row takes a fresh key");
    assert_eq!(count(&mut conn, "SELECT MAX(id) FROM cp_values").await, 41);
    conn.execute("DELETE FROM cp_values WHERE id = 41")
        .await
        .unwrap();
    conn.close().await.unwrap();

    let again = run_copy(&source, &target, &options(&rejects))
        .await
        .expect("a second run");
    assert!(again.nothing_to_do(), "{again:?}");
    assert_eq!(again.rows_copied(), 10, "the first run's rows, reported");

    run_copy(&target, &back, &options(&rejects))
        .await
        .expect("copy back");
    let mut left = source.connect().await;
    let mut returned = back.connect().await;
    let mut expected = table_text(&mut left).await;
    if from == Dialect::Sqlite {
        // SQLite keeps these as the text it was given; the copy gives it them in UTC.
        let in_utc = [
            None,
            Some("1970-01-01 00:00:01+00:00"),
            Some("2038-01-19 03:14:07.999999+00:00"),
            Some("2024-02-29 23:30:00.123456+00:00"),
        ];
        for (row, stamp) in expected.iter_mut().zip(in_utc) {
            row[14] = stamp.map(str::to_owned);
        }
    }
    let mut returned_rows = table_text(&mut returned).await;
    // JSON compares as JSON: SQLite and MariaDB keep its text as it was given, and the copy
    // gives them their keys sorted.
    for row in expected.iter_mut().chain(returned_rows.iter_mut()) {
        if let Some(Some(doc)) = row.get_mut(15) {
            let value: serde_json::Value = serde_json::from_str(doc).expect("JSON");
            *doc = value.to_string();
        }
    }
    assert_eq!(returned_rows, expected);
    left.close().await.unwrap();
    returned.close().await.unwrap();
    source.drop().await;
    target.drop().await;
    back.drop().await;
}

/// `name` runs `test(from, to)`, for each pair of dialects given.
macro_rules! on_pairs {
    ($test:ident: $($name:ident => ($from:ident, $to:ident)),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $test(Dialect::$from, Dialect::$to).await;
        }
    )*};
}

on_pairs!(there_and_back:
    mysql_to_postgres_and_back => (Mysql, Postgres),
    postgres_to_mysql_and_back => (Postgres, Mysql),
    sqlite_to_postgres_and_back => (Sqlite, Postgres),
    postgres_to_sqlite_and_back => (Postgres, Sqlite),
);

/// A row the target cannot hold: a timestamp past MySQL's 2038, which the server refuses, and
/// a decimal of more digits than SQLite keeps, which the copy refuses before sending it.
async fn refusing_source(target: Dialect) -> Option<(TestDb, TestDb)> {
    let (source, target_db) =
        source_and_target(Dialect::Postgres, target != Dialect::Sqlite, target).await?;
    let mut conn = source.connect().await;
    let value = match target {
        Dialect::Mysql => "stamp_tz = '2100-01-01 00:00:00+00'",
        _ => "wide = 12345678901234567890.5",
    };
    conn.execute(&format!("UPDATE cp_values SET {value} WHERE id = 3"))
        .await
        .unwrap();
    conn.close().await.unwrap();
    Some((source, target_db))
}

async fn refused_rows_go_to_the_reject_file(to: Dialect) {
    let Some((source, target)) = refusing_source(to).await else {
        return;
    };
    let rejects = reject_path(&format!("rejects-{}", to.name()));
    let _ = std::fs::remove_file(&rejects);
    let report = run_copy(&source, &target, &options(&rejects))
        .await
        .expect("a copy with a reject goes on");
    // The row, and the note that references it: the target's foreign key refuses the note.
    assert_eq!(report.rows_rejected(), 2);
    assert_eq!(report.reject_file.as_deref(), Some(rejects.as_path()));
    let values = report
        .tables
        .iter()
        .find(|t| t.table == "cp_values")
        .unwrap();
    assert_eq!((values.rows_copied, values.rows_rejected), (3, 1));
    let mut conn = target.connect().await;
    assert_eq!(count(&mut conn, "SELECT COUNT(*) FROM cp_values").await, 3);
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM cp_values WHERE id = 3").await,
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM cp_notes WHERE value_id = 3"
        )
        .await,
        0,
        "no note points at a row the target does not have"
    );
    conn.close().await.unwrap();
    let text = std::fs::read_to_string(&rejects).expect("the reject file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].contains(r#""table":"cp_notes""#), "{text}");
    assert!(lines[0].contains(r#""table":"cp_values""#), "{text}");
    assert!(lines[0].contains(r#""key":"id = \"3\"""#), "{text}");
    let reason = match to {
        Dialect::Mysql => "stamp_tz",
        _ => "SQLite stores DECIMAL as a float",
    };
    assert!(lines[0].contains(reason), "{text}");
    let _ = std::fs::remove_file(&rejects);
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_mysql_refuses_goes_to_the_reject_file() {
    refused_rows_go_to_the_reject_file(Dialect::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decimal_sqlite_would_round_goes_to_the_reject_file() {
    refused_rows_go_to_the_reject_file(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_fails_at_the_refused_row_and_keeps_nothing_of_its_batch() {
    let Some((source, target)) = refusing_source(Dialect::Mysql).await else {
        return;
    };
    let rejects = reject_path("strict");
    let _ = std::fs::remove_file(&rejects);
    let strict = CopyOptions {
        strict: true,
        batch_size: 100,
        ..options(&rejects)
    };
    let error = run_copy(&source, &target, &strict)
        .await
        .expect_err("strict stops at the refused row");
    let message = error.to_string();
    assert!(matches!(error, CopyError::Strict { .. }), "{message}");
    assert!(
        message.contains("cp_values") && message.contains("id = \"3\""),
        "{message}"
    );
    assert!(!rejects.exists());
    nothing_written_then_drop(source, target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_table_is_refused_before_anything_runs() {
    let Some((source, target)) = source_and_target(Dialect::Sqlite, false, Dialect::Postgres).await
    else {
        return;
    };
    let asked = CopyOptions {
        tables: Some(vec!["cp_values".into(), "cp_valuez".into()]),
        ..Default::default()
    };
    let error = run_copy(&source, &target, &asked)
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        matches!(error, CopyError::UnknownTables { .. }),
        "{message}"
    );
    assert!(
        message.contains("cp_valuez") && message.contains("cp_nodes, cp_notes, cp_values"),
        "{message}"
    );
    // The target was not even migrated.
    assert!(
        godwit::db::user_tables(&target.url)
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );
    source.drop().await;
    target.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_at_different_points_are_refused() {
    let Some((source, target)) = source_and_target(Dialect::Postgres, true, Dialect::Mysql).await
    else {
        return;
    };
    let mut m = migrator(&target, sets::copy_types()).await;
    m.upgrade(&[Target::id("cp_types")]).await.unwrap();
    m.close().await.unwrap();
    let error = run_copy(&source, &target, &CopyOptions::default())
        .await
        .expect_err("refused");
    let message = error.to_string();
    match &error {
        CopyError::DifferentPoints {
            only_source,
            only_target,
        } => {
            assert_eq!(only_source, &["cp_related"]);
            assert!(only_target.is_empty());
        }
        other => panic!("{other}"),
    }
    assert!(message.contains("run `up`"), "{message}");
    nothing_written_then_drop(source, target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_with_rows_of_its_own_is_refused() {
    let Some((source, target)) = source_and_target(Dialect::Sqlite, false, Dialect::Sqlite).await
    else {
        return;
    };
    let mut m = migrator(&target, sets::copy_types()).await;
    m.up().await.unwrap();
    m.connection()
        .execute("INSERT INTO cp_nodes (id, label) VALUES (100, 'mine')")
        .await
        .unwrap();
    m.close().await.unwrap();
    let error = run_copy(&source, &target, &CopyOptions::default())
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("`cp_nodes` on the target has rows")
            && message.contains("nothing was copied"),
        "{message}"
    );
    nothing_written_then_drop(source, target).await;
}

/// `rows` rows in `cp_values`, ids 1..=rows.
async fn seed_many(conn: &mut Connection, rows: u64) {
    let dialect = conn.dialect();
    let numbers = numbers(conn, rows).await;
    let name = match dialect {
        Dialect::Mysql => "CONCAT('row ', n)",
        _ => "'row ' || n",
    };
    conn.execute(&format!(
        "INSERT INTO cp_values (id, name, money, flag) SELECT n, {name}, n * 0.5, n % 2 = 0 FROM ({numbers}) AS s"
    ))
    .await
    .expect("seed the table");
}

/// A copy in a process of its own, SIGKILLed after some batches, then run again here: it
/// resumes at its checkpoint, and the table ends whole and verified, no row twice.
async fn killed_copy_resumes(from: Dialect, to: Dialect) {
    const ROWS: u64 = 30_000;
    let Some(source) = TestDb::create(from).await else {
        return;
    };
    let Some(target) = TestDb::create(to).await else {
        source.drop().await;
        return;
    };
    let mut m = migrator(&source, sets::copy_types()).await;
    m.up().await.unwrap();
    seed_many(m.connection(), ROWS).await;
    m.close().await.unwrap();

    let killed_at = run_and_kill(
        &["copy_types", &source.url, "copy", &target.url, "200"],
        &[],
        |line| {
            line.strip_prefix("event Progress { table: \"cp_values\", rows_done: ")
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
        },
        4_000,
    );

    let registry = registry(sets::copy_types());
    let mut resumed_at = None;
    let report = copy::copy(
        &registry,
        &source.url,
        &target.url,
        &CopyOptions {
            batch_size: 200,
            ..Default::default()
        },
        |event| {
            if let CopyEvent::TableStarted {
                table,
                resumed_at: at,
                ..
            } = event
                && table == "cp_values"
            {
                resumed_at = Some(*at);
            }
        },
    )
    .await
    .expect("the copy resumes");
    let resumed_at = resumed_at.expect("cp_values resumed");
    assert!(
        resumed_at >= killed_at && resumed_at < ROWS,
        "resumed at {resumed_at}, killed after {killed_at}"
    );
    let values = report
        .tables
        .iter()
        .find(|t| t.table == "cp_values")
        .unwrap();
    assert_eq!(values.rows_copied, ROWS, "{report:?}");
    assert!(
        report.target_migrated.is_empty(),
        "migrated by the killed run"
    );
    let mut conn = target.connect().await;
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) FROM cp_values").await,
        ROWS as i64
    );
    assert_eq!(
        count(&mut conn, "SELECT COUNT(DISTINCT id) FROM cp_values").await,
        ROWS as i64
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT COUNT(*) FROM cp_values WHERE money * 2 = id"
        )
        .await,
        ROWS as i64
    );
    conn.close().await.unwrap();
    source.drop().await;
    target.drop().await;
}

on_pairs!(killed_copy_resumes:
    killed_mysql_to_postgres_copy_resumes => (Mysql, Postgres),
    killed_postgres_to_sqlite_copy_resumes => (Postgres, Sqlite),
);

/// A table keyed by a UUID, and one with a float column, for what SQLite keeps as written.
fn loose_values(m: &mut godwit::Migration) {
    m.create_table("cp_tokens", |t| {
        t.uuid("token").not_null().primary_key();
        t.double("weight");
        t.text("label");
    });
}

/// SQLite keeps what it is given: a UUID key in capitals pages as it is stored (no row is
/// skipped), text in a float column is refused rather than read as 0, bytes that are no UTF-8
/// in a text column are refused, not the batch, and a checkpoint left by
/// a copy from another source, or a finished table changed since, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_sqlite_keeps_as_written_is_copied_or_refused_not_changed() {
    let entries = vec![godwit_tests::entry!("cp_tokens", [], loose_values)];
    let Some(source) = TestDb::create(Dialect::Sqlite).await else {
        return;
    };
    let Some(target) = TestDb::create(Dialect::Postgres).await else {
        source.drop().await;
        return;
    };
    let mut m = migrator(&source, entries.clone()).await;
    m.up().await.unwrap();
    m.connection()
        .execute(
            "INSERT INTO cp_tokens (token, weight) VALUES \
             ('a0000000-0000-0000-0000-000000000001', 1.5), \
             ('B0000000-0000-0000-0000-000000000002', 2.5), \
             ('c0000000-0000-0000-0000-000000000003', 'heavy'), \
             ('D0000000-0000-0000-0000-000000000004', NULL)",
        )
        .await
        .unwrap();
    m.connection()
        .execute(
            "INSERT INTO cp_tokens (token, label) VALUES \
             ('e0000000-0000-0000-0000-000000000005', CAST(X'41FF42' AS TEXT))",
        )
        .await
        .unwrap();
    m.close().await.unwrap();
    let rejects = reject_path("sqlite-as-written");
    let _ = std::fs::remove_file(&rejects);
    let options = CopyOptions {
        batch_size: 1,
        reject_file: rejects.clone(),
        ..Default::default()
    };
    let registry = registry(entries.clone());
    let report = copy::copy(&registry, &source.url, &target.url, &options, |_| {})
        .await
        .unwrap();
    assert_eq!((report.rows_copied(), report.rows_rejected()), (3, 2));
    let text = std::fs::read_to_string(&rejects).unwrap();
    assert!(text.contains("`heavy` is not a number"), "{text}");
    assert!(text.contains("text that is not UTF-8"), "{text}");
    let mut conn = target.connect().await;
    let weights = conn
        .fetch_text("SELECT token::text, weight::text FROM cp_tokens ORDER BY token")
        .await
        .unwrap();
    assert_eq!(
        weights,
        [
            vec![
                Some("a0000000-0000-0000-0000-000000000001".into()),
                Some("1.5".into())
            ],
            vec![
                Some("b0000000-0000-0000-0000-000000000002".into()),
                Some("2.5".into())
            ],
            vec![Some("d0000000-0000-0000-0000-000000000004".into()), None],
        ]
    );
    // The table is done; emptied by hand, it is not taken for copied.
    conn.execute("DELETE FROM cp_tokens").await.unwrap();
    let changed = copy::copy(&registry, &source.url, &target.url, &options, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        changed.contains("holds 0 rows, where its finished copy wrote 3"),
        "{changed}"
    );
    // A checkpoint from this source does not resume a copy from another.
    let Some(other) = TestDb::create(Dialect::Sqlite).await else {
        return;
    };
    let mut m = migrator(&other, entries).await;
    m.up().await.unwrap();
    m.close().await.unwrap();
    let elsewhere = copy::copy(&registry, &other.url, &target.url, &options, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(elsewhere.contains("comes from"), "{elsewhere}");
    conn.close().await.ok();
    let _ = std::fs::remove_file(&rejects);
    other.drop().await;
    source.drop().await;
    target.drop().await;
}
