use godwit::prelude::*;

mod accounts {
    use godwit::prelude::*;

    #[migration]
    pub fn create_users(m: &mut Migration) {
        m.sql("CREATE TABLE users (id INTEGER)");
    }

    #[migration(id = "create_users_v2")]
    pub fn create_teams(m: &mut Migration) {
        m.sql("CREATE TABLE teams (id INTEGER)");
    }
}

mod billing {
    use godwit::prelude::*;

    #[migration(id = "create_users_v2")]
    pub fn create_invoices(m: &mut Migration) {
        m.sql("CREATE TABLE invoices (id INTEGER)");
    }
}

use accounts::create_users;

// The same function through two paths.
#[migration(after = [create_users, accounts::create_users])]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

// Two functions with the same id.
#[migration(after = [accounts::create_teams, billing::create_invoices])]
fn create_tags(m: &mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

fn main() {}
