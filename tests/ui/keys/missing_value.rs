use godwit::prelude::*;

#[migration(transactional, id =)]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration("create_tags")]
fn create_tags(m: &mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

fn main() {}
