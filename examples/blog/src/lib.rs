//! The schema evolution of a blog: users and articles, status enums, indexes; a table rename,
//! a column type change, a constraint change, an expand → backfill → contract split of
//! `users.name`, parallel work merged later, and an index built without blocking writes.
//!
//! ```text
//! create_users ── create_posts ── rename_posts_to_articles ── widen_article_views ── tighten_title_check ─┐
//!      ├──────── split_names_expand ── split_names_backfill ── split_names_contract ──────────────────────┤
//!      └──────── create_tags ──────────────────────────────────────────────────────────────────────────────┴─ merge_blog_branches ── index_articles_by_status
//! ```

pub mod migrations;
