//! Every key, and what the registry records for it.
#![deny(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
use godwit::Dialect;
use godwit::prelude::*;
use godwit::registry::Registry;

/// Doc comments and other attributes stay on the function.
#[migration]
#[allow(unused_mut)]
pub fn create_users(m: &mut Migration) {
    m.sql("CREATE TABLE users (id INTEGER)");
}

#[migration(id = "teams_v1", transactional = false)]
fn create_teams(m: &mut Migration) {
    m.sql("CREATE TABLE teams (id INTEGER)");
}

fn drop_posts(m: &mut Migration) {
    m.sql("DROP TABLE posts");
}

#[migration(after = [create_users, create_teams], down = drop_posts, transactional = true,)]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

/// The destructive half of a change: after every other one here.
#[migration(after = [create_posts], contract)]
fn drop_teams(m: &mut Migration) {
    m.sql("DROP TABLE teams");
}

/// Backed up before it runs: the whole database, or the tables it changes.
#[migration(after = [create_users], backup)]
fn archive_users(m: &mut Migration) {
    m.sql("DELETE FROM users");
}

#[migration(after = [archive_users], backup(tables))]
fn empty_teams(m: &mut Migration) {
    m.sql("DELETE FROM teams");
}

/// Run as safe sequences, with two rules silenced.
#[migration(after = [create_users], safe, allow(GW001 = "users has 40 rows", GW015 = "reviewed",))]
fn index_users(m: &mut Migration) {
    m.sql("CREATE INDEX ix_users_id ON users (id)");
    m.allow(Lint::GW013, "nothing dropped yet");
}

#[migration(after = [])]
const fn create_nothing(m: &mut Migration) -> () {
    let _ = m;
}

fn main() {
    let registry = Registry::collect().expect("ids are unique");
    let ids: Vec<&str> = registry.entries().iter().map(|e| e.id()).collect();
    assert_eq!(
        ids,
        [
            "archive_users",
            "create_nothing",
            "create_posts",
            "create_users",
            "drop_teams",
            "empty_teams",
            "index_users",
            "teams_v1"
        ]
    );

    let posts = registry.get("create_posts").unwrap();
    // The dependency's `id` override is what gets recorded.
    assert_eq!(posts.after(), ["create_users", "teams_v1"]);
    assert!(posts.is_transactional());
    assert!(posts.down().is_some());
    assert_eq!(posts.location().file(), file!());
    assert_eq!(posts.location().line(), 23);
    assert_eq!(posts.location().module_path(), module_path!());
    let up = posts.record_up(Dialect::Postgres);
    assert_eq!(up.ops().len(), 1);
    assert_eq!(posts.record_down(Dialect::Postgres).unwrap().ops().len(), 1);

    let teams = registry.get("teams_v1").unwrap();
    assert!(!teams.is_transactional());
    assert!(teams.down().is_none());
    assert!(teams.record_down(Dialect::Sqlite).is_none());
    assert!(registry.get("create_teams").is_none());
    assert!(registry.get("drop_teams").unwrap().is_contract());
    assert!(!posts.is_contract());

    let index = registry.get("index_users").unwrap();
    assert!(index.is_safe() && !posts.is_safe());
    assert_eq!(
        index.allows(),
        [(Lint::GW001, "users has 40 rows"), (Lint::RawSql, "reviewed")]
    );
    assert_eq!(index.record_up(Dialect::Postgres).allows()[0].lint, Lint::GW013);

    use godwit::registry::BackupScope;
    assert_eq!(
        registry.get("archive_users").unwrap().backup(),
        Some(BackupScope::Database)
    );
    assert_eq!(
        registry.get("empty_teams").unwrap().backup(),
        Some(BackupScope::Tables)
    );
    assert_eq!(posts.backup(), None);

    let graph = registry.graph().unwrap();
    assert_eq!(
        graph.heads(),
        ["create_nothing", "drop_teams", "empty_teams", "index_users"]
    );
    let phases = registry.phases(&graph);
    assert_eq!(phases["drop_teams"], godwit::registry::Phase::Contract);
    assert_eq!(phases["create_posts"], godwit::registry::Phase::Expand);
    let plan = graph
        .upgrade_plan(std::iter::empty::<&str>(), &["create_posts".parse().unwrap()])
        .unwrap();
    assert_eq!(plan.ids(), ["create_users", "teams_v1", "create_posts"]);

    // The functions are ordinary functions.
    let mut m = Migration::new(Dialect::Mysql);
    create_users(&mut m);
    drop_posts(&mut m);
    assert_eq!(m.ops().len(), 2);
}
