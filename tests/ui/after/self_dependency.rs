use godwit::prelude::*;

#[migration(after = [create_users])]
fn create_users(m: &mut Migration) {
    m.sql("CREATE TABLE users (id INTEGER)");
}

fn main() {}
