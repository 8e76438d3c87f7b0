use godwit::prelude::*;

/// An index built without blocking writes on PostgreSQL (`CONCURRENTLY`, outside any
/// transaction); a plain index elsewhere.
#[migration(after = [super::merge_blog_branches::merge_blog_branches], transactional = false)]
pub fn index_articles_by_status(m: &mut Migration) {
    let postgres = m.dialect() == Dialect::Postgres;
    let index = m.create_index(
        "articles",
        "ix_articles_status_created",
        ["status", "created_at"],
    );
    if postgres {
        index.concurrently();
    }
}
