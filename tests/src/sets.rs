//! Migration sets for the runner tests, built as registry entries by hand so that each test
//! picks its own set (every `#[migration]` of a test binary shares one registry).
//!
//! The `godwit-test-runner` binary runs these sets in a separate process, for the tests that
//! kill a runner or start several at once.

use std::time::Duration;

use godwit::prelude::*;
use godwit::registry::{MigrationEntry, Registry};

/// A registry entry at the caller's line.
#[macro_export]
macro_rules! entry {
    ($id:literal, [$($after:literal),*], $up:expr) => {
        ::godwit::registry::MigrationEntry::new(
            $id,
            &[$($after),*],
            $up,
            ::godwit::registry::Location::new(module_path!(), file!(), line!()),
        )
    };
}

pub fn registry(entries: impl IntoIterator<Item = MigrationEntry>) -> Registry {
    Registry::from_entries(entries).expect("a valid test set")
}

/// Every op, over six migrations with a branch (`m_tags` beside `m_posts..m_articles`) and a
/// merge (`m_merge`), with rows inserted along the way.
pub fn every_op() -> Vec<MigrationEntry> {
    vec![
        entry!("m_users", [], m_users),
        entry!("m_posts", ["m_users"], m_posts),
        entry!("m_articles", ["m_posts"], m_articles),
        entry!("m_tags", ["m_users"], m_tags),
        entry!("m_merge", ["m_articles", "m_tags"], m_merge),
        entry!("m_finish", ["m_merge"], m_finish),
    ]
}

fn m_users(m: &mut Migration) {
    m.create_enum("role", ["reader", "writer"]);
    m.create_table("users", |t| {
        t.id("id");
        t.string("email", 200).not_null();
        t.string("name", 100);
        t.enumeration("role", "role").not_null().default("reader");
        t.timestamp_tz("created_at").not_null().default_now();
    });
    m.create_index("users", "ix_users_email", ["email"])
        .unique();
    m.sql("INSERT INTO users (email, name) VALUES ('ada@example.com', 'Ada'), ('bob@example.com', 'Bob')")
        .reverse("DELETE FROM users");
}

fn m_posts(m: &mut Migration) {
    m.create_table("posts", |t| {
        t.id("id");
        t.bigint("author_id")
            .not_null()
            .references("users", "id")
            .on_delete(Cascade);
        t.string("title", 200).not_null();
        t.text("body");
        t.integer("score").not_null().default(0);
    });
    m.create_index("posts", "ix_posts_author", ["author_id"]);
    m.add_check("posts", "ck_posts_score", "score >= 0");
    m.sql("INSERT INTO posts (author_id, title, body, score) SELECT id, 'Hello', 'text', 1 FROM users")
        .reverse("DELETE FROM posts");
}

fn m_articles(m: &mut Migration) {
    m.rename_table("posts", "articles");
    m.rename_column("articles", "body", "content");
    m.set_column_type("articles", "score", ColumnType::BigInt);
    m.set_not_null("users", "name");
    m.set_default("articles", "title", "untitled");
    m.drop_check("articles", "ck_posts_score");
    m.add_check("articles", "ck_articles_score", "score >= 0");
}

fn m_tags(m: &mut Migration) {
    m.create_table("tags", |t| {
        t.id("id");
        t.string("label", 50).not_null();
    });
    m.add_unique("tags", "uq_tags_label", ["label"]);
    m.add_column("users", "bio", ColumnType::Text);
    m.add_enum_value("role", "admin");
    m.sql("INSERT INTO tags (label) VALUES ('rust'), ('sql')")
        .reverse("DELETE FROM tags");
}

fn m_merge(m: &mut Migration) {
    m.create_table("article_tags", |t| {
        t.bigint("article_id").not_null();
        t.bigint("tag_id").not_null();
        t.primary_key(["article_id", "tag_id"]);
    });
    m.add_foreign_key(
        "article_tags",
        "fk_at_article",
        ["article_id"],
        "articles",
        ["id"],
    )
    .on_delete(Cascade);
    m.add_foreign_key("article_tags", "fk_at_tag", ["tag_id"], "tags", ["id"]);
    m.rust("tag every article", |db| {
        Box::pin(async move {
            db.execute(
                "INSERT INTO article_tags (article_id, tag_id) SELECT a.id, t.id FROM articles a, tags t",
            )
            .await?;
            Ok(())
        })
    })
    .reverse(|db| {
        Box::pin(async move {
            db.execute("DELETE FROM article_tags").await?;
            Ok(())
        })
    });
    m.drop_column("users", "bio");
    m.drop_index("articles", "ix_posts_author");
    m.create_index(
        "articles",
        "ix_articles_author_title",
        ["author_id", "title"],
    );
    m.sql_on(Dialect::Postgres, "COMMENT ON TABLE tags IS 'labels'")
        .reverse_on(Dialect::Postgres, "COMMENT ON TABLE tags IS NULL");
}

fn m_finish(m: &mut Migration) {
    m.drop_foreign_key("article_tags", "fk_at_tag");
    m.drop_unique("tags", "uq_tags_label");
    m.drop_primary_key("article_tags");
    m.add_primary_key("article_tags", ["tag_id", "article_id"]);
    m.drop_default("articles", "title");
    m.drop_not_null("users", "name");
    m.remove_enum_value("role", "admin");
    m.create_enum("mood", ["calm", "busy"]);
    m.add_column("users", "mood", ColumnType::Enum("mood".into()));
    m.drop_column("users", "mood");
    m.drop_enum("mood");
    m.alter_column(
        "articles",
        "content",
        godwit::op::ColumnChange::SetNullable(false),
    );
    m.drop_table("article_tags");
    let postgres = m.dialect() == Dialect::Postgres;
    let index = m.create_index("users", "ix_users_name", ["name"]);
    if postgres {
        index.concurrently();
    }
}

/// Ids of [`every_op`] in plan order.
pub const EVERY_OP_ORDER: [&str; 6] = [
    "m_users",
    "m_posts",
    "m_articles",
    "m_tags",
    "m_merge",
    "m_finish",
];

/// Three migrations; the middle one's second op fails until the table `gate` exists.
pub fn gated(transactional: bool) -> Vec<MigrationEntry> {
    vec![
        entry!("g1", [], g1),
        entry!("g2", ["g1"], g2).with_transactional(transactional),
        entry!("g3", ["g2"], g3),
    ]
}

fn g1(m: &mut Migration) {
    m.create_table("one", |t| {
        t.id("id");
    });
}

fn g2(m: &mut Migration) {
    m.create_table("two_a", |t| {
        t.id("id");
    });
    m.sql("INSERT INTO gate (id) VALUES (1)")
        .reverse("DELETE FROM gate");
    m.create_table("two_b", |t| {
        t.id("id");
    });
}

fn g3(m: &mut Migration) {
    m.create_table("three", |t| {
        t.id("id");
    });
}

/// `k1`, then `k2`: a table, a Rust step that waits (see [`pause`]), a table.
pub fn killable() -> Vec<MigrationEntry> {
    vec![entry!("k1", [], k1), entry!("k2", ["k1"], k2)]
}

fn k1(m: &mut Migration) {
    m.create_table("k_one", |t| {
        t.id("id");
    });
}

fn k2(m: &mut Migration) {
    m.create_table("k_two", |t| {
        t.id("id");
    });
    m.rust("pause", |db| Box::pin(pause(db)));
    m.create_table("k_three", |t| {
        t.id("id");
    });
}

/// With `GODWIT_TEST_PAUSE=1`, says `PAUSED` on stdout and waits a minute for the test to
/// kill the process; otherwise does nothing.
async fn pause(db: &mut Connection) -> Result<(), BoxError> {
    db.execute("INSERT INTO k_one (id) VALUES (1)").await?;
    if std::env::var("GODWIT_TEST_PAUSE").is_ok_and(|v| v == "1") {
        println!("PAUSED");
        use std::io::Write;
        std::io::stdout().flush()?;
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    Ok(())
}

/// Five migrations, each a table and a short Rust step, so concurrent runners overlap.
pub fn crowded() -> Vec<MigrationEntry> {
    vec![
        entry!("c1", [], c1),
        entry!("c2", ["c1"], c2),
        entry!("c3", ["c2"], c3),
        entry!("c4", ["c1"], c4),
        entry!("c5", ["c3", "c4"], c5),
    ]
}

fn crowded_table(m: &mut Migration, name: &str) {
    m.create_table(name, |t| {
        t.id("id");
    });
    m.rust("linger", |_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(())
        })
    });
}

fn c1(m: &mut Migration) {
    crowded_table(m, "c_one");
}
fn c2(m: &mut Migration) {
    crowded_table(m, "c_two");
}
fn c3(m: &mut Migration) {
    crowded_table(m, "c_three");
}
fn c4(m: &mut Migration) {
    crowded_table(m, "c_four");
}
fn c5(m: &mut Migration) {
    crowded_table(m, "c_five");
}

/// MySQL runs `d1` alone (hand-written SQL) and `d2`..`d4` as one deferred group; `d3` changes
/// `d_held`, which a test can keep it waiting on.
pub fn deferrable() -> Vec<MigrationEntry> {
    vec![
        entry!("d1", [], d1),
        entry!("d2", ["d1"], d2),
        entry!("d3", ["d2"], d3),
        entry!("d4", ["d3"], d4),
    ]
}

fn d1(m: &mut Migration) {
    m.create_table("d_held", |t| {
        t.id("id");
    });
    m.sql("INSERT INTO d_held (id) VALUES (1)")
        .reverse("DELETE FROM d_held WHERE id = 1");
}

fn d2(m: &mut Migration) {
    m.create_table("d_two", |t| {
        t.id("id");
        t.string("name", 50).not_null();
    });
    m.create_index("d_two", "ix_d_two_name", ["name"]);
}

fn d3(m: &mut Migration) {
    m.add_column("d_held", "note", ColumnType::Text);
}

fn d4(m: &mut Migration) {
    m.create_table("d_four", |t| {
        t.id("id");
    });
}

/// A set by name, for the test runner binary.
pub fn by_name(name: &str) -> Option<Vec<MigrationEntry>> {
    match name {
        "every_op" => Some(every_op()),
        "killable" => Some(killable()),
        "crowded" => Some(crowded()),
        "gated" => Some(gated(true)),
        "deferrable" => Some(deferrable()),
        "backfill" => Some(backfill()),
        "partition_events" => Some(partition_events()),
        "copy_types" => Some(copy_types()),
        "backfill_parallel" => Some(vec![
            entry!("bf_table", [], bf_table),
            entry!("bf_fill", ["bf_table"], bf_fill_parallel),
        ]),
        _ => None,
    }
}

/// A table of people (`bf_table`) whose `full_name` a backfill fills (`bf_fill`). A check
/// refuses names of 60 characters or more, so that one bad row makes a batch fail. With
/// `GODWIT_TEST_BATCH_PAUSE_MS` set, the backfill waits that long between batches (pacing is no
/// part of the checksum).
pub fn backfill() -> Vec<MigrationEntry> {
    vec![
        entry!("bf_table", [], bf_table),
        entry!("bf_fill", ["bf_table"], bf_fill),
    ]
}

pub fn bf_table(m: &mut Migration) {
    m.create_table("bf_users", |t| {
        t.id("id");
        t.string("first_name", 100).not_null();
        t.string("last_name", 100).not_null();
        t.string("full_name", 250);
        t.integer("score").not_null().default(0);
        t.check(
            "ck_bf_users_full_name",
            "full_name IS NULL OR length(full_name) < 60",
        );
    });
}

pub fn bf_fill(m: &mut Migration) {
    fill_full_names(m, 1);
}

/// `bf_fill` in four parallel slices.
pub fn bf_fill_parallel(m: &mut Migration) {
    fill_full_names(m, 4);
}

fn fill_full_names(m: &mut Migration, slices: u32) {
    let pause = std::env::var("GODWIT_TEST_BATCH_PAUSE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    full_names(m).parallel(slices).pause(pause);
}

/// The backfill of `bf_users.full_name` the runner tests pace each their own way: set from the
/// parts where it is NULL, reverted to NULL.
pub fn full_names(m: &mut Migration) -> godwit::migration::BackfillBuilder<'_> {
    m.backfill("bf_users")
        .set("full_name", "first_name || ' ' || last_name")
        .set_on(
            Dialect::Mysql,
            "full_name",
            "CONCAT(first_name, ' ', last_name)",
        )
        .only("full_name IS NULL")
        .reverse_set("full_name", "NULL")
}

/// `events` (`pe_table`, unpartitioned), made partitioned by month of `created_on` with its rows
/// (`pe_partition`). With `GODWIT_TEST_BATCH_PAUSE_MS` set, the copy waits that long between
/// batches of 1,000 rows.
pub fn partition_events() -> Vec<MigrationEntry> {
    vec![
        entry!("pe_table", [], pe_table),
        entry!("pe_partition", ["pe_table"], pe_partition),
    ]
}

pub fn pe_table(m: &mut Migration) {
    m.create_table("events", |t| {
        t.id("id");
        t.date("created_on").not_null();
        t.string("kind", 20).not_null();
        t.text("payload");
        t.index("ix_events_kind", ["kind"]);
    });
}

/// The first of month `month` (1 to 13) of 2026.
pub fn first_of_2026_month(month: u32) -> String {
    match month {
        13 => "2027-01-01".to_owned(),
        m => format!("2026-{m:02}-01"),
    }
}

pub fn pe_partition(m: &mut Migration) {
    let pause = std::env::var("GODWIT_TEST_BATCH_PAUSE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    m.partition_table("events", |p| {
        p.by_range(["created_on"]);
        p.primary_key(["id", "created_on"]);
        for month in 1..=12 {
            p.partition(
                &format!("events_2026_{month:02}"),
                godwit::op::PartitionBound::range(
                    first_of_2026_month(month),
                    first_of_2026_month(month + 1),
                ),
            );
        }
        p.batch_size(1_000);
        p.pause(pause);
    });
}

/// A column of every model type (`cp_values`), a table that references itself (`cp_nodes`)
/// and one that references the first (`cp_notes`): what the copy tests move between dialects.
pub fn copy_types() -> Vec<MigrationEntry> {
    vec![
        entry!("cp_types", [], cp_types),
        entry!("cp_related", ["cp_types"], cp_related),
    ]
}

fn cp_types(m: &mut Migration) {
    m.create_enum("cp_mood", ["happy", "sad", "ünïcode"]);
    m.create_table("cp_values", |t| {
        t.id("id");
        t.smallint("small");
        t.integer("medium");
        t.bigint("big");
        t.string("name", 100);
        t.text("body");
        t.boolean("flag");
        t.real("ratio");
        t.double("measure");
        // SQLite keeps 15 significant digits of a decimal; `wide` holds more.
        t.decimal("money", 15, 5);
        t.decimal("wide", 38, 10);
        t.date("day");
        t.time("clock");
        t.timestamp("stamp");
        t.timestamp_tz("stamp_tz");
        t.json("doc");
        t.uuid("token");
        t.binary("bytes");
        t.enumeration("mood", "cp_mood");
    });
}

fn cp_related(m: &mut Migration) {
    m.create_table("cp_nodes", |t| {
        t.id("id");
        t.bigint("parent_id").references("cp_nodes", "id");
        t.string("label", 50).not_null();
    });
    m.create_table("cp_notes", |t| {
        t.id("id");
        t.bigint("value_id")
            .not_null()
            .references("cp_values", "id");
        t.text("note");
    });
}
