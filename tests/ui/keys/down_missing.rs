use godwit::prelude::*;

fn drop_tags(m: &mut Migration) {
    m.sql("DROP TABLE tags");
}

#[migration(down = drop_tagz)]
fn create_tags(m: &mut Migration) {
    m.sql("CREATE TABLE tags (id INTEGER)");
}

fn main() {
    let _ = drop_tags;
}
