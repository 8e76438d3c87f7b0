use godwit::prelude::*;

/// A constraint change: titles must now also fit a 200-character limit.
#[migration(after = [super::widen_article_views::widen_article_views])]
pub fn tighten_title_check(m: &mut Migration) {
    m.drop_check("articles", "ck_posts_title");
    m.add_check(
        "articles",
        "ck_articles_title",
        "LENGTH(title) BETWEEN 1 AND 200",
    );
}
