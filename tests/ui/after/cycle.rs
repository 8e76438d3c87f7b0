use godwit::prelude::*;

#[migration(after = [c])]
fn a(m: &mut Migration) {
    m.sql("SELECT 1");
}

#[migration(after = [a])]
fn b(m: &mut Migration) {
    m.sql("SELECT 2");
}

#[migration(after = [b])]
fn c(m: &mut Migration) {
    m.sql("SELECT 3");
}

fn main() {}
