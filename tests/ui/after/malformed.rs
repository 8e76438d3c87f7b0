use godwit::prelude::*;

#[migration]
fn create_users(m: &mut Migration) {
    m.sql("CREATE TABLE users (id INTEGER)");
}

#[migration(after = create_users)]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration(after = ["create_users"])]
fn create_tags(m: &mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

#[migration(after = [create_users, create_users])]
fn create_likes(m: &mut Migration) {
    m.sql("CREATE TABLE likes (id INTEGER)");
}

#[migration(after = [create_users create_posts])]
fn create_follows(m: &mut Migration) {
    m.sql("CREATE TABLE follows (id INTEGER)");
}

fn main() {}
