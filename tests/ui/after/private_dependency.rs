use godwit::prelude::*;

#[migration(after = [godwit_fixture_shop::catalog::index_products])]
fn create_reviews(m: &mut Migration) {
    m.sql("CREATE TABLE reviews (id INTEGER)");
}

fn main() {}
