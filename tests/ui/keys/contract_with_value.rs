use godwit::prelude::*;

#[migration(contract = true)]
fn drop_old_name(m: &mut Migration) {
    m.drop_column("users", "name");
}

#[migration(contract, contract)]
fn drop_old_email(m: &mut Migration) {
    m.drop_column("users", "email");
}

fn main() {}
