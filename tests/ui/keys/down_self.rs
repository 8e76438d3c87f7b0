use godwit::prelude::*;

#[migration(down = create_likes)]
fn create_likes(m: &mut Migration) {
    m.sql("CREATE TABLE likes (id INTEGER)");
}

fn main() {}
