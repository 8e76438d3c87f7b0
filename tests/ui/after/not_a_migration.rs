use godwit::prelude::*;

fn seed_users(m: &mut Migration) {
    m.sql("INSERT INTO users VALUES (1)");
}

#[migration(after = [seed_users])]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

fn main() {
    let _ = seed_users;
}
