use godwit::prelude::*;

#[migration]
fn create_posts(m: Migration) {
    let _ = m;
}

#[migration]
fn create_tags(m: &mut String) {
    m.push_str("CREATE TABLE tags (id INTEGER)");
}

fn main() {}
