use godwit::prelude::*;

#[migration]
fn create_posts(m: &mut Migration, table: &str) {
    m.sql(table);
}

#[migration]
fn create_tags() {}

fn main() {}
