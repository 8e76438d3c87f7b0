use godwit::prelude::*;

/// A table rename: indexes, constraints and foreign keys follow the table.
#[migration(after = [super::create_posts::create_posts])]
pub fn rename_posts_to_articles(m: &mut Migration) {
    m.rename_table("posts", "articles");
}
