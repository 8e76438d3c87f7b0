// Each broken migration reports its own error; the migrations that depend on it, and the others,
// report nothing.
use godwit::prelude::*;

#[migration(transactional = "no")]
fn create_users(m: &mut Migration) {
    m.sql("CREATE TABLE users (id INTEGER)");
}

#[migration]
async fn create_teams(m: &mut Migration) {
    m.sql("CREATE TABLE teams (id INTEGER)");
}

#[migration(after = [create_users, create_teams])]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration(after = [create_posts])]
fn create_comments(m: &mut Migration) {
    m.sql("CREATE TABLE comments (id INTEGER)");
}

fn main() {
    // The functions stay callable.
    let mut m = Migration::new(godwit::Dialect::Sqlite);
    create_users(&mut m);
    create_posts(&mut m);
}
