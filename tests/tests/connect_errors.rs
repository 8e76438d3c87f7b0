//! What a failed connection says, against the real servers: one sentence naming what is wrong
//! and the fix, without the driver's framing. Snapshots of the messages: a port nothing listens
//! on, a user the server refuses, a database that does not exist, a SQLite file that is not
//! there; and `database create` / `drop` on each server.

use godwit::Dialect;
use godwit::db::{self, Connection, DatabaseCreated};
use godwit_tests::testdb::TestDb;

async fn message(url: &str) -> String {
    match Connection::connect(url).await {
        Ok(_) => panic!("{url} connected"),
        Err(e) => e.to_string(),
    }
}

/// The server's URL without its database, when the server is up.
async fn server(dialect: Dialect) -> Option<String> {
    let db = TestDb::create(dialect).await?;
    let base = db.url.rsplit_once('/').map(|(base, _)| base.to_owned());
    db.drop().await;
    base
}

#[tokio::test]
async fn postgres_connection_errors() {
    let Some(base) = server(Dialect::Postgres).await else {
        return;
    };
    let host = base.split('@').nth(1).unwrap_or("127.0.0.1:5432");
    let unreachable = message("postgres://postgres@127.0.0.1:1/test").await;
    insta::assert_snapshot!("postgres_unreachable", unreachable);
    let refused = message(&format!("postgres://godwit_nobody@{host}/test")).await;
    insta::assert_snapshot!("postgres_wrong_user", refused.replace(host, "HOST"));
    let missing = message(&format!("{base}/godwit_no_such_database")).await;
    insta::assert_snapshot!("postgres_missing_database", missing.replace(host, "HOST"));
}

#[tokio::test]
async fn mysql_connection_errors() {
    let Some(base) = server(Dialect::Mysql).await else {
        return;
    };
    let host = base.split('@').nth(1).unwrap_or("127.0.0.1:3306");
    let unreachable = message("mysql://root@127.0.0.1:1/test").await;
    insta::assert_snapshot!("mysql_unreachable", unreachable);
    let refused = message(&format!("mysql://godwit_nobody@{host}/test")).await;
    // The server names the client's address: the one part that varies.
    let refused = refused.replace(host, "HOST");
    let refused = match refused.find("'godwit_nobody'@'") {
        Some(at) => {
            let end = refused[at + 17..]
                .find('\'')
                .map_or(refused.len(), |i| at + 17 + i);
            format!("{}CLIENT{}", &refused[..at + 17], &refused[end..])
        }
        None => refused,
    };
    insta::assert_snapshot!("mysql_wrong_user", refused);
    let missing = message(&format!("{base}/godwit_no_such_database")).await;
    insta::assert_snapshot!("mysql_missing_database", missing.replace(host, "HOST"));
}

#[tokio::test]
async fn sqlite_missing_file() {
    let path = std::env::temp_dir().join("godwit-no-such-dir/none.db");
    let text = message(&format!("sqlite://{}", path.display())).await;
    insta::assert_snapshot!(
        "sqlite_missing_file",
        text.replace(&path.display().to_string(), "PATH")
    );
    let refused = db::for_writing(&format!("sqlite://{}", path.display()))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("godwit-no-such-dir does not exist") && refused.contains("mkdir -p"),
        "{refused}"
    );
    assert_eq!(
        db::for_writing("sqlite://x.db?mode=ro").unwrap(),
        "sqlite://x.db?mode=ro",
        "a mode the URL gives is kept"
    );
}

#[tokio::test]
async fn databases_are_created_and_dropped_on_every_server() {
    for dialect in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
        let url = match dialect {
            Dialect::Sqlite => format!(
                "sqlite://{}",
                std::env::temp_dir()
                    .join(format!("godwit-create-{}.db", std::process::id()))
                    .display()
            ),
            _ => match server(dialect).await {
                Some(base) => format!("{base}/godwit_created_{}", std::process::id()),
                None => continue,
            },
        };
        assert_eq!(
            db::create_database(&url).await.unwrap(),
            DatabaseCreated::Created
        );
        assert_eq!(
            db::create_database(&url).await.unwrap(),
            DatabaseCreated::Existed
        );
        let mut conn = Connection::connect(&url).await.unwrap();
        conn.execute("CREATE TABLE kept (id INTEGER)")
            .await
            .unwrap();
        conn.close().await.unwrap();
        let tables = db::user_tables(&url).await.unwrap();
        assert!(tables.iter().any(|t| t.ends_with("kept")), "{tables:?}");
        assert!(db::drop_database(&url).await.unwrap(), "{dialect}");
        assert!(!db::drop_database(&url).await.unwrap(), "{dialect}: gone");
        assert!(Connection::connect(&url).await.is_err(), "{dialect}");
    }
}
