use godwit::prelude::*;

fn drop_posts(m: &mut Migration, cascade: bool) {
    let _ = (m, cascade);
}

#[migration(down = drop_posts)]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration(down = drop_tagz)]
fn create_tags(m: &mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

#[migration(down = create_likes)]
fn create_likes(m: &mut Migration) {
    m.sql("CREATE TABLE likes (id INTEGER)");
}

fn main() {}
