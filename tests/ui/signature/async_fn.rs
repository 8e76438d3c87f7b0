use godwit::prelude::*;

#[migration]
async fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

fn main() {}
