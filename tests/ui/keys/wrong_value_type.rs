use godwit::prelude::*;

fn drop_posts(m: &mut Migration) {
    m.sql("DROP TABLE posts");
}

#[migration(id = 42, transactional = "false", down = "drop_posts")]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration(transactional = no, id = posts)]
fn create_tags(m: &mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

fn main() {
    let _ = drop_posts;
}
