use godwit::prelude::*;

/// A column type change: `views` outgrows 32 bits. Values are kept. It rewrites the table
/// (lint GW007), which the blog's few thousand articles make a matter of milliseconds.
#[migration(
    after = [super::rename_posts_to_articles::rename_posts_to_articles],
    allow(GW007 = "articles holds a few thousand rows: the rewrite takes milliseconds")
)]
pub fn widen_article_views(m: &mut Migration) {
    m.set_column_type("articles", "views", ColumnType::BigInt);
}
