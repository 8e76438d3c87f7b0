use godwit::prelude::*;

#[migration(backup(rows))]
fn purge(m: &mut Migration) {
    m.sql("DELETE FROM users");
}

#[migration(backup = true)]
fn purge_more(m: &mut Migration) {
    m.sql("DELETE FROM teams");
}

fn main() {}
