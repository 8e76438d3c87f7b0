use godwit::prelude::*;

#[migration(depends_on = [create_users], description = "posts")]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

fn main() {}
