use godwit::prelude::*;

#[migration]
fn create_posts<T: Default>(m: &mut Migration) {
    let _ = T::default();
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration]
fn create_tags<'a>(m: &'a mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

fn main() {}
