use godwit::prelude::*;

/// A column type change: `views` outgrows 32 bits. Values are kept.
#[migration(after = [super::rename_posts_to_articles::rename_posts_to_articles])]
pub fn widen_article_views(m: &mut Migration) {
    m.set_column_type("articles", "views", ColumnType::BigInt);
}
