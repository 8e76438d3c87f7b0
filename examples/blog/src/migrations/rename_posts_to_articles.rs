use godwit::prelude::*;

/// A table rename: indexes, constraints and foreign keys follow the table. Code that still
/// says `posts` breaks once it commits (GW012); split_names shows the expand/contract way.
#[migration(
    after = [super::create_posts::create_posts],
    allow(GW012 = "the blog ships this rename with the code that reads `articles`")
)]
pub fn rename_posts_to_articles(m: &mut Migration) {
    m.rename_table("posts", "articles");
}
