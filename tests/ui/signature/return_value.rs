use godwit::prelude::*;

#[migration]
fn create_posts(m: &mut Migration) -> Result<(), String> {
    m.sql("CREATE TABLE posts (id INTEGER)");
    Ok(())
}

fn main() {}
