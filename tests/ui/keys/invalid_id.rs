use godwit::prelude::*;

#[migration(id = "2024-01-15 create posts")]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration(id = "")]
fn create_tags(m: &mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

#[migration]
fn head(m: &mut Migration) {
    m.sql("SELECT 1");
}

fn main() {}
