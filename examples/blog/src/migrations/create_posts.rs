use godwit::prelude::*;

use super::create_users::create_users;

#[migration(after = [create_users])]
pub fn create_posts(m: &mut Migration) {
    m.create_enum("post_status", ["draft", "published"]);
    m.create_table("posts", |t| {
        t.id("id");
        t.bigint("author_id")
            .not_null()
            .references("users", "id")
            .on_delete(Cascade);
        t.string("title", 200).not_null();
        t.text("body").not_null();
        t.enumeration("status", "post_status")
            .not_null()
            .default("draft");
        t.integer("views").not_null().default(0);
        t.timestamp_tz("created_at").not_null().default_now();
        t.check("ck_posts_title", "LENGTH(title) > 0");
    });
    m.create_index("posts", "ix_posts_author", ["author_id"]);
    m.sql(
        "INSERT INTO posts (author_id, title, body, status, views) \
         SELECT id, 'Hello', 'My first post.', 'published', 10 FROM users",
    )
    .reverse("DELETE FROM posts");
}
