//! One module per migration; each file holds one `#[migration]` function named like the file.

pub mod create_posts;
pub mod create_tags;
pub mod create_users;
pub mod index_articles_by_status;
pub mod merge_blog_branches;
pub mod rename_posts_to_articles;
pub mod split_names_backfill;
pub mod split_names_contract;
pub mod split_names_expand;
pub mod tighten_title_check;
pub mod widen_article_views;
