//! The blog example driven as a user drives it: the `blog-migrate` CLI in its own process, on
//! PostgreSQL, MariaDB and SQLite.

use std::process::{Command, Output};

use godwit::Dialect;
use godwit::db::Connection;
use godwit_tests::testdb::TestDb;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blog-migrate"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("run blog-migrate")
}

/// Runs the CLI and checks its exit code; returns its stdout.
fn expect(code: i32, args: &[&str]) -> String {
    let output = cli(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "blog-migrate {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        args.join(" ")
    );
    stdout
}

async fn scalar(conn: &mut Connection, sql: &str) -> String {
    conn.fetch_text(sql).await.expect(sql)[0][0]
        .clone()
        .unwrap_or_default()
}

async fn round_trip(dialect: Dialect) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let url = db.url.as_str();
    // The expand phase first: all but the contract migration and the two after it.
    let out = expect(0, &["up", "--expand", "--database-url", url]);
    assert!(out.contains("+ applied  create_users"), "{out}");
    assert!(out.contains("+ applied  split_names_backfill"), "{out}");
    assert!(
        out.contains("backfilled users: 3 rows in 1 batches"),
        "{out}"
    );
    assert!(!out.contains("applied  split_names_contract"), "{out}");
    assert!(out.contains("8 applied, 3 pending"), "{out}");
    let phases = |line: &str| {
        out.lines().any(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .starts_with(&line.split(' ').collect::<Vec<_>>())
        })
    };
    assert!(phases("split_names_contract pending contract"), "{out}");
    assert!(
        phases("merge_blog_branches pending after contract"),
        "{out}"
    );
    let history = expect(0, &["history"]);
    assert!(
        history.contains("split_names_contract (contract)"),
        "{history}"
    );
    let json = expect(0, &["status", "--format", "json", "--database-url", url]);
    assert!(json.contains("\"phase\":\"contract\""), "{json}");
    let out = expect(0, &["up", "--expand", "--database-url", url]);
    assert!(out.contains("nothing to do"), "{out}");

    let out = expect(0, &["up", "--database-url", url]);
    assert!(out.contains("+ applied  split_names_contract"), "{out}");
    assert!(out.contains("11 applied, 0 pending"), "{out}");
    let out = expect(0, &["drift", "--database-url", url]);
    assert!(out.contains("no drift"), "{out}");
    let json = expect(0, &["drift", "--format", "json", "--database-url", url]);
    assert_eq!(json.trim(), "{\"drift\":[]}");
    let out = expect(0, &["status", "--drift", "--database-url", url]);
    assert!(
        out.contains("11 applied") && out.contains("no drift"),
        "{out}"
    );
    let mut by_hand = db.connect().await;
    by_hand
        .execute("CREATE TABLE notes_by_hand (id INTEGER)")
        .await
        .unwrap();
    let out = expect(3, &["status", "--drift", "--database-url", url]);
    assert!(
        out.contains("notes_by_hand: the table is in the database, not in the model"),
        "{out}"
    );
    let json = expect(
        3,
        &[
            "status",
            "--drift",
            "--format",
            "json",
            "--database-url",
            url,
        ],
    );
    assert!(
        json.contains("\"drift\":[{\"table\":\"notes_by_hand\""),
        "{json}"
    );
    by_hand.execute("DROP TABLE notes_by_hand").await.unwrap();
    by_hand.close().await.unwrap();
    let refused = cli(&["up", "--drift"]);
    assert_eq!(refused.status.code(), Some(2));

    let json = expect(0, &["status", "--format", "json", "--database-url", url]);
    assert_eq!(json.matches("\"state\":\"applied\"").count(), 11, "{json}");

    let mut conn = db.connect().await;
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) FROM users").await, "3");
    assert_eq!(
        scalar(&mut conn, "SELECT COUNT(*) FROM articles").await,
        "3"
    );
    // The backfill split the names at the last space.
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT first_name FROM users WHERE email = 'grace@example.com'"
        )
        .await,
        "Grace Brewster"
    );

    // Down to base reverts everything, the contract through its derived revert.
    let out = expect(0, &["down", "base", "--database-url", url]);
    assert!(out.contains("- reverted create_users"), "{out}");
    let own = ["godwit_migrations", "godwit_migrations_backfills"];
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT COUNT(*) FROM godwit_migrations_backfills"
        )
        .await,
        "0",
        "a reverted migration keeps no checkpoint"
    );
    let tables = godwit::testing::introspect(&mut conn, &own)
        .await
        .unwrap()
        .tables;
    assert!(tables.is_empty(), "{:?}", tables.keys());

    // One commit per migration, when asked: the same end.
    expect(0, &["up", "--commit-each", "--database-url", url]);
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) FROM users").await, "3");
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT last_name FROM users WHERE email = 'ada@example.com'"
        )
        .await,
        "Lovelace"
    );

    // Down through the contract: `name` comes back, rebuilt from the parts.
    expect(0, &["down", "split_names_backfill", "--database-url", url]);
    assert_eq!(
        scalar(
            &mut conn,
            "SELECT name FROM users WHERE email = 'alan@example.com'"
        )
        .await,
        "Alan Turing"
    );
    let status = expect(0, &["status", "--database-url", url]);
    assert!(
        status.contains("split_names_contract      pending"),
        "{status}"
    );
    expect(0, &["up", "--database-url", url]);

    let out = expect(0, &["redo", "--database-url", url]);
    assert!(
        out.contains("- reverted index_articles_by_status")
            && out.contains("+ applied  index_articles_by_status"),
        "{out}"
    );
    expect(0, &["down", "-1", "--database-url", url]);
    let json = expect(0, &["status", "--format", "json", "--database-url", url]);
    assert!(
        json.contains("{\"id\":\"index_articles_by_status\",\"state\":\"pending\""),
        "{json}"
    );
    let out = expect(
        0,
        &["stamp", "index_articles_by_status", "--database-url", url],
    );
    assert!(
        out.contains("recorded index_articles_by_status as applied"),
        "{out}"
    );
    expect(0, &["stamp", "merge_blog_branches", "--database-url", url]);
    expect(0, &["up", "--database-url", url]);

    // All or nothing: refused before anything runs when a migration of the run cannot be in
    // the transaction (`index_articles_by_status` is `transactional = false`); the rest goes
    // down and up again in one transaction each way.
    let output = cli(&[
        "down",
        "base",
        "--single-transaction",
        "--database-url",
        url,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot run as one transaction")
            && stderr.contains(if dialect == Dialect::Mysql {
                "MySQL"
            } else {
                "`index_articles_by_status`"
            }),
        "{stderr}"
    );
    if dialect != Dialect::Mysql {
        expect(0, &["down", "-1", "--database-url", url]);
        let out = expect(
            0,
            &[
                "down",
                "base",
                "--single-transaction",
                "--database-url",
                url,
            ],
        );
        assert!(out.contains("- reverted create_users"), "{out}");
        let out = expect(
            0,
            &[
                "up",
                "merge_blog_branches",
                "--single-transaction",
                "--database-url",
                url,
            ],
        );
        assert!(out.contains("+ applied  create_users"), "{out}");
        expect(0, &["up", "--database-url", url]);
    }
    assert_eq!(scalar(&mut conn, "SELECT COUNT(*) FROM users").await, "3");

    // Errors say what to do and exit 1 (a run failed) or 2 (a wrong command line).
    let output = cli(&["down", "nonexistent", "--database-url", url]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no migration has the id or id prefix `nonexistent`"),
        "{stderr}"
    );
    let output = cli(&["down", "--database-url", url]);
    assert_eq!(output.status.code(), Some(2));
    // With a database, check lints for its server, over what it has still to apply: nothing.
    let check = expect(0, &["check", "--database-url", url]);
    let kind = match dialect {
        Dialect::Postgres => "ok lint for postgres@",
        Dialect::Mysql => "ok lint for mariadb@",
        Dialect::Sqlite => "ok lint for sqlite@",
    };
    assert!(
        check.contains(kind) && check.contains("nothing found"),
        "{check}"
    );
    // verify wants a scratch database.
    let output = cli(&["verify", "--database-url", url]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs a scratch database"), "{stderr}");

    conn.close().await.ok();
    db.drop().await;

    // Every blog migration's down undoes its up, compared after each step.
    let Some(scratch) = TestDb::create(dialect).await else {
        return;
    };
    let out = expect(0, &["verify", "--database-url", &scratch.url]);
    assert!(
        out.contains("ok split_names_contract  up, down, up again")
            && out.contains("11 migrations verified: each down undoes its up exactly"),
        "{out}"
    );
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_postgres() {
    round_trip(Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_mysql() {
    round_trip(Dialect::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_sqlite() {
    round_trip(Dialect::Sqlite).await;
}

#[test]
fn offline_commands_need_no_database() {
    let unreachable = "postgres://nobody@127.0.0.1:1/none";
    for dialect in ["postgres", "mysql", "sqlite"] {
        let sql = expect(
            0,
            &["sql", "--dialect", dialect, "--database-url", unreachable],
        );
        assert!(sql.contains("-- migration create_users"), "{sql}");
        assert!(
            sql.contains("-- history: record `create_users` as applied"),
            "{sql}"
        );
        let down = expect(0, &["sql", "down", "--dialect", dialect]);
        assert!(down.contains("-- history: remove `create_users`"), "{down}");
        let show = expect(0, &["show", "split_names_contract", "--dialect", dialect]);
        assert!(show.contains("down         derived"), "{show}");
    }
    let sql = expect(
        0,
        &[
            "sql",
            "up",
            "index_articles_by_status",
            "--dialect",
            "postgres",
        ],
    );
    assert!(sql.contains("CREATE INDEX CONCURRENTLY"), "{sql}");
    assert!(sql.contains("-- outside a transaction:"), "{sql}");
    let sql = expect(0, &["sql", "up", "create_posts", "--dialect", "sqlite"]);
    assert!(
        sql.contains("BEGIN IMMEDIATE;") && sql.contains("COMMIT;"),
        "{sql}"
    );
    assert!(!sql.contains("rename_posts_to_articles"), "{sql}");

    let history = expect(0, &["history"]);
    assert!(
        history.contains("* merge_blog_branches (merge of"),
        "{history}"
    );
    assert!(history.contains("| / /"), "{history}");
    let json = expect(0, &["history", "--format", "json"]);
    assert!(
        json.starts_with("[{\"id\":\"index_articles_by_status\""),
        "{json}"
    );
    let heads = expect(0, &["heads", "--format", "json"]);
    assert!(
        heads.starts_with("[{\"id\":\"index_articles_by_status\""),
        "{heads}"
    );

    let check = expect(0, &["check"]);
    assert!(check.contains("no problems"), "{check}");
    let json = expect(0, &["check", "--format", "json"]);
    assert!(json.starts_with("{\"ok\":true"), "{json}");

    assert_eq!(cli(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(cli(&["sql"]).status.code(), Some(2));
    for command in ["redo", "stamp", "status"] {
        let refused = cli(&[command, "--single-transaction"]);
        assert_eq!(refused.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("--single-transaction applies to `up` and `down`"),
            "{stderr}"
        );
    }
    for command in ["stamp", "status"] {
        let refused = cli(&[command, "--commit-each"]);
        assert_eq!(refused.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("--commit-each applies to `up`, `down` and `redo`"),
            "{stderr}"
        );
    }
    let refused = cli(&["up", "--commit-each", "--single-transaction"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("exclude each other"), "{stderr}");
    let refused = cli(&["down", "base", "--expand"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--expand applies to `up`"), "{stderr}");
    let refused = cli(&["up", "head", "--expand"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("takes no target"), "{stderr}");
}

#[test]
fn check_catches_an_edited_released_migration() {
    let dir = std::env::temp_dir().join(format!("godwit-blog-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lock = dir.join("godwit.sum");
    let original =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/godwit.sum")).unwrap();
    let tampered: String = original
        .lines()
        .map(|l| match l.strip_prefix("create_posts ") {
            Some(_) => format!("create_posts {}\n", "0".repeat(64)),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&lock, tampered).unwrap();
    let lock = lock.to_str().unwrap();
    let out = expect(3, &["check", "--lock-file", lock]);
    assert!(
        out.contains("[checksum] create_posts: changed since it was locked"),
        "{out}"
    );
    expect(0, &["check", "--lock-file", lock, "--update-lock"]);
    expect(0, &["check", "--lock-file", lock]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn new_and_merge_scaffold_after_the_heads() {
    let dir = std::env::temp_dir().join(format!("godwit-blog-new-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mod.rs"), "pub mod existing;").unwrap();
    let dir_arg = dir.to_str().unwrap();
    let out = expect(0, &["new", "add_avatars", "--dir", dir_arg]);
    assert!(out.contains("add_avatars.rs"), "{out}");
    let file = std::fs::read_to_string(dir.join("add_avatars.rs")).unwrap();
    assert!(
        file.contains(
            "#[migration(after = [godwit_example_blog::migrations::index_articles_by_status::index_articles_by_status])]"
        ),
        "{file}"
    );
    assert!(
        file.contains("pub fn add_avatars(m: &mut Migration)"),
        "{file}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("mod.rs")).unwrap(),
        "pub mod existing;\npub mod add_avatars;\n"
    );
    // One head: nothing to merge. A bad name or an existing id is refused.
    let output = cli(&["merge", "--dir", dir_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to merge"));
    assert_eq!(
        cli(&["new", "Bad-Name", "--dir", dir_arg]).status.code(),
        Some(1)
    );
    assert_eq!(
        cli(&["new", "create_users", "--dir", dir_arg])
            .status
            .code(),
        Some(1)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_lints_for_the_target_servers_and_annotates_for_github() {
    // PostgreSQL 10 cannot skip SET NOT NULL's scan: split_names_contract's `safe` has no
    // sequence there, and the finding fails the check.
    let github = expect(
        3,
        &["check", "--target", "postgres@10", "--format", "github"],
    );
    assert!(
        github.contains(
            "::error file=examples/blog/src/migrations/split_names_contract.rs,line=8,\
             title=GW005 SET NOT NULL scans under lock::split_names_contract: SET NOT NULL on \
             `users`.`first_name`"
        ),
        "{github}"
    );
    assert!(
        github.contains("::notice file=examples/blog/src/migrations/widen_article_views.rs"),
        "an allowed finding is a notice: {github}"
    );
    // 12+: rewritten, so nothing fails; the text says which findings were allowed or rewritten.
    let text = expect(0, &["check", "--target", "postgres@15"]);
    assert!(
        text.contains("rewritten GW005 split_names_contract"),
        "{text}"
    );
    assert!(
        text.contains("allowed GW007 widen_article_views") && text.contains("a few thousand rows"),
        "{text}"
    );
    let json = expect(
        0,
        &["check", "--target", "mysql@8.0.35", "--format", "json"],
    );
    assert!(
        json.contains("\"lint\":{\"servers\":[\"mysql@8.0.35\"]"),
        "{json}"
    );
    assert!(json.contains("\"code\":\"GW004\""), "{json}");

    let refused = cli(&["check", "--target", "oracle@19"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("unknown server `oracle`"), "{stderr}");
    let refused = cli(&["status", "--safe"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn show_and_sql_print_the_safe_sequences() {
    // Marked `safe`: its SET NOT NULL goes through a validated CHECK on PostgreSQL 12+.
    let show = expect(
        0,
        &["show", "split_names_contract", "--dialect", "postgres"],
    );
    assert!(
        show.contains("CHECK (\"first_name\" IS NOT NULL) NOT VALID;")
            && show.contains("VALIDATE CONSTRAINT \"first_name_godwit_not_null\";"),
        "{show}"
    );
    assert!(
        show.contains("safe sequences (the migration is marked `safe`)"),
        "{show}"
    );
    // Not marked: --safe asks for it; MySQL is told to build the index online or refuse.
    let args = [
        "show",
        "index_articles_by_status",
        "--target",
        "mysql@8.0.35",
    ];
    let plain = expect(0, &args);
    let safe = expect(0, &[&args[..], &["--safe"]].concat());
    assert!(!plain.contains("ALGORITHM"), "{plain}");
    assert!(safe.contains("ALGORITHM=INPLACE LOCK=NONE"), "{safe}");
    assert!(
        safe.contains("on mysql@8.0.35, safe sequences (--safe)"),
        "{safe}"
    );
    let refused = cli(&["sql", "--dialect", "mysql", "--target", "postgres@15"]);
    assert_eq!(refused.status.code(), Some(2));
}

#[test]
fn up_backs_up_each_migration_into_the_backup_dir() {
    let dir = std::env::temp_dir().join(format!("godwit-blog-backups-{}", std::process::id()));
    let db = dir.join("blog.sqlite3");
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let backups = dir.join("backups");
    let backups = backups.to_str().unwrap();
    let out = expect(
        0,
        &[
            "up",
            "create_tags",
            "--backup-dir",
            backups,
            "--database-url",
            &url,
        ],
    );
    // create_users, then create_tags, each backed up before it runs.
    assert!(
        out.contains("create_tags: backed up the database to"),
        "{out}"
    );
    assert!(out.contains("backed up before it ran:"), "{out}");
    let files = std::fs::read_dir(backups).unwrap().count();
    assert_eq!(files, 2, "one file per migration applied");
    let refused = cli(&["status", "--backup-dir", backups, "--database-url", &url]);
    assert_eq!(refused.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn up_and_status_over_sqlite_tenants() {
    let dir = std::env::temp_dir().join(format!("godwit-blog-tenants-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["a.db", "b.db", "c.db"] {
        std::fs::write(dir.join(name), b"").unwrap();
    }
    // Not a database: this tenant fails, the others go on.
    std::fs::write(dir.join("b.db"), b"this is not a SQLite file, it is text").unwrap();
    let pattern = format!("{}/*.db", dir.display());
    let args = ["up", "--tenants", pattern.as_str(), "--jobs", "2"];
    let out = cli(&args);
    assert_eq!(out.status.code(), Some(1), "a tenant failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3 tenants: 2 applied, 1 failed, 0 skipped, 0 not run"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[3/3]"), "{stderr}");
    std::fs::write(dir.join("b.db"), b"").unwrap();
    let json = expect(0, &[&args[..], &["--format", "json"]].concat());
    assert!(json.starts_with("{\"ok\":true"), "{json}");
    assert!(
        json.contains("\"result\":\"applied\",\"applied\":[\"create_users\""),
        "{json}"
    );
    let status = expect(0, &["status", "--tenants", pattern.as_str()]);
    assert!(
        status
            .lines()
            .filter(|l| l.contains(".db") && l.contains(" 11 "))
            .count()
            == 3,
        "{status}"
    );
    let refused = cli(&["up", "--jobs", "2"]);
    assert_eq!(refused.status.code(), Some(2));
    let nothing = cli(&["up", "--tenants", &format!("{}/*.nope", dir.display())]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&nothing.stderr).contains("matches no file"),
        "{}",
        String::from_utf8_lossy(&nothing.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// `up` makes the SQLite file a URL names, in every spelling; a command that only reads says
/// the file is missing; `database create` and `drop` work on files too.
#[test]
fn sqlite_urls_make_their_file_and_databases_are_created_and_dropped() {
    let dir = std::env::temp_dir().join(format!("godwit-blog-first-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let run_in = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_blog-migrate"))
            .args(args)
            .current_dir(&dir)
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .output()
            .expect("run blog-migrate")
    };
    let absolute = format!("sqlite://{}", dir.join("abs.db").display());
    for url in ["sqlite:dev.db", "sqlite://sub/dev.db", absolute.as_str()] {
        let out = run_in(&["up", "--database-url", url]);
        assert_eq!(out.status.code(), Some(0), "{url}: {out:?}");
    }
    assert!(dir.join("dev.db").is_file() && dir.join("sub/dev.db").is_file());
    assert!(dir.join("abs.db").is_file());
    let missing = run_in(&["status", "--database-url", "sqlite:none.db"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("the file does not exist: `up` creates it"),
        "{stderr}"
    );
    assert!(!dir.join("none.db").exists(), "a read does not make it");
    let no_dir = run_in(&["up", "--database-url", "sqlite:nowhere/dev.db"]);
    let stderr = String::from_utf8_lossy(&no_dir.stderr);
    assert!(
        stderr.contains("its directory nowhere does not exist"),
        "{stderr}"
    );
    let read_only = run_in(&["up", "--database-url", "sqlite:new.db?mode=rw"]);
    assert_eq!(read_only.status.code(), Some(1), "mode=rw does not create");

    let out = run_in(&["database", "create", "--database-url", "sqlite:made.db"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.join("made.db").is_file());
    // Tables, and a production name: refused without --force.
    assert_eq!(
        run_in(&["up", "--database-url", "sqlite:shop_prod.db"])
            .status
            .code(),
        Some(0)
    );
    let refused = run_in(&[
        "database",
        "drop",
        "-y",
        "--database-url",
        "sqlite:shop_prod.db",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("looks like production"),
        "{refused:?}"
    );
    let no_yes = run_in(&["database", "drop", "--database-url", "sqlite:made.db"]);
    assert_eq!(
        no_yes.status.code(),
        Some(2),
        "no terminal to ask on: -y is needed"
    );
    for url in ["sqlite:made.db", "sqlite:shop_prod.db"] {
        let out = run_in(&["database", "drop", "-y", "--force", "--database-url", url]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    assert!(!dir.join("made.db").exists() && !dir.join("shop_prod.db").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// `copy` from a SQLite blog to an empty PostgreSQL database: the target is migrated to the
/// source's point, the rows its migrations seeded are replaced by the source's, every table is
/// verified; a second run has nothing to do; bad input is refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_the_blog_to_another_dialect() {
    let Some(source) = TestDb::create(Dialect::Sqlite).await else {
        return;
    };
    let Some(target) = TestDb::create(Dialect::Postgres).await else {
        source.drop().await;
        return;
    };
    let (from, to) = (source.url.as_str(), target.url.as_str());
    expect(0, &["up", "--database-url", from]);
    let mut conn = source.connect().await;
    conn.execute("INSERT INTO tags (label) VALUES ('copied from SQLite ✓')")
        .await
        .unwrap();
    let tags = scalar(&mut conn, "SELECT CAST(COUNT(*) AS TEXT) FROM tags").await;
    conn.close().await.unwrap();

    let out = expect(
        1,
        &["copy", "--from", from, "--to", to, "--tables", "tags,tagz"],
    );
    assert!(out.is_empty(), "{out}");
    let err = String::from_utf8_lossy(
        &cli(&["copy", "--from", from, "--to", to, "--tables", "tagz"]).stderr,
    )
    .into_owned();
    assert!(
        err.contains("this table is not in the model at the source's point: tagz")
            && err.contains("nothing was copied"),
        "{err}"
    );
    let usage = cli(&["copy", "--from", from]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--from URL --to URL"));
    let misplaced = cli(&["status", "--strict", "--database-url", from]);
    assert_eq!(misplaced.status.code(), Some(2));

    let out = expect(
        0,
        &["copy", "--from", from, "--to", to, "--batch-size", "2"],
    );
    assert!(
        out.contains("migrated the target to the source's point: 11 migration(s)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("+ copied tags: {tags} rows")),
        "{out}"
    );
    assert!(out.contains("verified (checksum"), "{out}");
    assert!(out.contains("none rejected"), "{out}");
    let mut conn = target.connect().await;
    assert_eq!(
        scalar(&mut conn, "SELECT CAST(COUNT(*) AS TEXT) FROM tags").await,
        tags
    );
    assert_eq!(
        scalar(&mut conn, "SELECT label FROM tags ORDER BY id DESC LIMIT 1").await,
        "copied from SQLite ✓"
    );
    conn.close().await.unwrap();
    let json = expect(0, &["copy", "--from", from, "--to", to, "--format", "json"]);
    assert!(
        json.contains("\"already_done\":true") && !json.contains("\"already_done\":false"),
        "{json}"
    );
    let out = expect(0, &["copy", "--from", from, "--to", to]);
    assert!(out.contains("nothing to do"), "{out}");
    source.drop().await;
    target.drop().await;
}
