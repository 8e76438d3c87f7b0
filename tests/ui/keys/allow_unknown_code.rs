use godwit::prelude::*;

#[migration(allow(GW999 = "no such rule"))]
fn add_index(m: &mut Migration) {
    m.create_index("users", "ix_users_email", ["email"]);
}

fn main() {}
