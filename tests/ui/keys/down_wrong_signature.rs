use godwit::prelude::*;

fn drop_posts(m: &mut Migration, cascade: bool) {
    let _ = (m, cascade);
}

#[migration(down = drop_posts)]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

fn main() {}
