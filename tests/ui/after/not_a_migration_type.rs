use godwit::prelude::*;

#[allow(non_camel_case_types)]
struct create_users;

#[migration(after = [create_users, String])]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

fn main() {
    let _ = create_users;
}
