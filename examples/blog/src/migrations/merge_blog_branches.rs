use godwit::prelude::*;

use super::create_tags::create_tags;
use super::split_names_contract::split_names_contract;
use super::tighten_title_check::tighten_title_check;

/// The merge point of the three branches: articles get tags.
#[migration(after = [tighten_title_check, split_names_contract, create_tags])]
pub fn merge_blog_branches(m: &mut Migration) {
    m.create_table("article_tags", |t| {
        t.bigint("article_id")
            .not_null()
            .references("articles", "id")
            .on_delete(Cascade);
        t.bigint("tag_id")
            .not_null()
            .references("tags", "id")
            .on_delete(Cascade);
        t.primary_key(["article_id", "tag_id"]);
    });
}
