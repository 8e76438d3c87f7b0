use godwit::prelude::*;

#[migration(id = "posts_v1", transactional = false, id = "posts_v2")]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

fn main() {}
