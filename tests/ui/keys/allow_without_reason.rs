use godwit::prelude::*;

#[migration(allow(GW001))]
fn add_index(m: &mut Migration) {
    m.create_index("users", "ix_users_email", ["email"]);
}

#[migration(allow(GW001 = "  "))]
fn add_other_index(m: &mut Migration) {
    m.create_index("users", "ix_users_name", ["name"]);
}

#[migration(allow = GW001)]
fn add_third_index(m: &mut Migration) {
    m.create_index("users", "ix_users_age", ["age"]);
}

#[migration(safe = true)]
fn add_fourth_index(m: &mut Migration) {
    m.create_index("users", "ix_users_city", ["city"]);
}

fn main() {}
