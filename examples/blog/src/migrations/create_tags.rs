use godwit::prelude::*;

/// Parallel work on another branch: tags.
#[migration(after = [super::create_users::create_users])]
pub fn create_tags(m: &mut Migration) {
    m.create_table("tags", |t| {
        t.id("id");
        t.string("label", 50).not_null().unique();
    });
    m.sql("INSERT INTO tags (label) VALUES ('rust'), ('databases')")
        .reverse("DELETE FROM tags");
}
