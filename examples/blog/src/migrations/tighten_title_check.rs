use godwit::prelude::*;

/// A constraint change: titles must now also fit a 200-character limit. `safe`: on
/// PostgreSQL the check is added NOT VALID and validated in a later transaction, without
/// blocking writes; MySQL has no such form and copies the table (GW004), which is short here.
#[migration(
    after = [super::widen_article_views::widen_article_views],
    safe,
    allow(GW004 = "MySQL copies articles to validate it, a few thousand rows")
)]
pub fn tighten_title_check(m: &mut Migration) {
    m.drop_check("articles", "ck_posts_title");
    m.add_check(
        "articles",
        "ck_articles_title",
        "LENGTH(title) BETWEEN 1 AND 200",
    );
}
