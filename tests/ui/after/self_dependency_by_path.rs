use godwit::prelude::*;

mod accounts {
    use godwit::prelude::*;

    // Written as a path, the self-dependency is not visible to the macro: rustc's cycle check
    // catches it.
    #[migration(after = [crate::accounts::create_users])]
    pub fn create_users(m: &mut Migration) {
        m.sql("CREATE TABLE users (id INTEGER)");
    }
}

#[migration(after = [accounts::create_users])]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

fn main() {}
