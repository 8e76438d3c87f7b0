use godwit::prelude::*;

#[migration]
fn create_users(m: &mut Migration) {
    m.sql("CREATE TABLE users (id INTEGER)");
}

#[migration(after = [create_userz])]
fn create_posts(m: &mut Migration) {
    m.sql("CREATE TABLE posts (id INTEGER)");
}

#[migration(after = [create_users, billing::create_invoices])]
fn create_comments(m: &mut Migration) {
    m.sql("CREATE TABLE comments (id INTEGER)");
}

mod billing {}

fn main() {}
