//! One case per op form: a setup migration, rows to insert, the op under test, and the dialects
//! that must refuse it. Shared by the SQL snapshots and the live-database matrix.

use godwit::Dialect::{self, Mysql, Sqlite};
use godwit::Migration;
use godwit::op::{BoundValue, ColumnType, PartitionBound, ReferentialAction::*};

pub struct Case {
    pub name: &'static str,
    pub setup: fn(&mut Migration),
    /// Inserted after the setup, so every rebuild and inverse is checked to keep rows.
    pub rows: &'static [&'static str],
    pub op: fn(&mut Migration),
    pub refused_on: &'static [Dialect],
    pub data: Data,
}

/// What the op does to the rows already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Rows are unchanged by the op (columns it drops aside) and by its inverse.
    Kept,
    /// The op changes values; its inverse restores them.
    Restored,
    /// The op changes values for good; only row counts are compared.
    Converted,
}

/// A blog schema with every kind of object: an enum, keys, a unique, a check, a foreign key,
/// indexes, defaults.
pub fn blog(m: &mut Migration) {
    m.create_enum("post_status", ["draft", "published"]);
    m.create_table("users", |t| {
        t.id("id");
        t.string("email", 200).not_null().unique();
        t.string("name", 100);
        t.integer("age").not_null().default(0);
        t.check("ck_users_age", "age >= 0");
        t.index("ix_users_name", ["name"]);
    });
    m.create_table("posts", |t| {
        t.id("id");
        t.bigint("author_id")
            .not_null()
            .references("users", "id")
            .on_delete(Cascade);
        t.string("title", 200).not_null();
        t.text("body");
        t.enumeration("status", "post_status")
            .not_null()
            .default("draft");
        t.timestamp_tz("created_at").not_null().default_now();
        t.bigint("editor_id")
            .references("users", "id")
            .on_delete(SetNull);
        t.index("ix_posts_title", ["title"]);
    });
}

const BLOG_ROWS: &[&str] = &[
    "INSERT INTO users (email, name, age) VALUES ('ann@example.com', 'Ann', 31), ('bob@example.com', 'Bob', 42)",
    "INSERT INTO posts (author_id, title, body, status, editor_id) VALUES (1, 'Hello', 'First post', 'draft', 2), (2, 'World', NULL, 'published', NULL), (1, 'Again', 'Third', 'published', 1)",
];

fn nothing(_: &mut Migration) {}

/// The first of month `month` (1 to 13) of 2026, ISO.
fn month_start(month: u32) -> String {
    match month {
        13 => "2027-01-01".to_owned(),
        m => format!("2026-{m:02}-01"),
    }
}

/// `events`, partitioned by month of `created_on`, with a partition for each of `months`.
fn monthly_events(m: &mut Migration, months: std::ops::RangeInclusive<u32>) {
    m.create_table("events", |t| {
        t.bigint("id").not_null().auto_increment();
        t.date("created_on").not_null();
        t.string("kind", 40).not_null().default("click");
        t.text("payload");
        t.primary_key(["id", "created_on"]);
        t.index("ix_events_kind", ["kind"]);
        t.partition_by_range(["created_on"]);
        for month in months {
            t.partition(
                &format!("events_2026_{month:02}"),
                PartitionBound::range(month_start(month), month_start(month + 1)),
            );
        }
    });
}

/// The blog, and `events` with January to March.
fn blog_and_events(m: &mut Migration) {
    blog(m);
    monthly_events(m, 1..=3);
}

const EVENT_ROWS: &[&str] = &[
    "INSERT INTO users (email, name, age) VALUES ('ann@example.com', 'Ann', 31)",
    "INSERT INTO events (created_on, kind, payload) VALUES ('2026-02-03', 'view', 'a'), ('2026-02-28', 'click', NULL), ('2026-03-31', 'view', 'c')",
];

/// The blog, and `events` unpartitioned.
fn blog_and_plain_events(m: &mut Migration) {
    blog(m);
    m.create_table("events", |t| {
        t.id("id");
        t.date("created_on").not_null();
        t.string("kind", 40).not_null().default("click");
        t.text("payload");
        t.index("ix_events_kind", ["kind"]);
    });
}

/// The blog, events with January and February, and a table with their columns to attach.
fn blog_events_and_a_loaded_month(m: &mut Migration) {
    blog(m);
    monthly_events(m, 1..=2);
    m.create_table("events_2026_03", |t| {
        t.bigint("id").not_null();
        t.date("created_on").not_null();
        t.string("kind", 40).not_null().default("click");
        t.text("payload");
    });
}

macro_rules! case {
    ($name:ident, setup = $setup:expr, rows = $rows:expr, refused = [$($refused:expr),*], |$m:ident| $op:block) => {
        Case {
            name: stringify!($name),
            setup: $setup,
            rows: $rows,
            op: |$m: &mut Migration| $op,
            refused_on: &[$($refused),*],
            data: Data::Kept,
        }
    };
    ($name:ident, data = $data:expr, refused = [$($refused:expr),*], |$m:ident| $op:block) => {
        Case {
            data: $data,
            ..case!($name, setup = blog, rows = BLOG_ROWS, refused = [$($refused),*], |$m| $op)
        }
    };
    ($name:ident, |$m:ident| $op:block) => {
        case!($name, setup = blog, rows = BLOG_ROWS, refused = [], |$m| $op)
    };
    ($name:ident, refused = [$($refused:expr),*], |$m:ident| $op:block) => {
        case!($name, setup = blog, rows = BLOG_ROWS, refused = [$($refused),*], |$m| $op)
    };
}

pub fn all() -> Vec<Case> {
    vec![
        case!(
            create_table_every_type,
            setup = nothing,
            rows = &[],
            refused = [],
            |m| {
                m.create_enum("mood", ["happy", "sad"]);
                m.create_table("every_type", |t| {
                    t.id("id");
                    t.smallint("small").default(7);
                    t.integer("int").not_null().default(-1);
                    t.bigint("big");
                    t.string("string", 40).default("it's");
                    t.text("text");
                    t.boolean("flag").not_null().default(true);
                    t.real("real").default(1.5);
                    t.double("double");
                    t.decimal("price", 10, 2).default(9.99);
                    t.date("day");
                    t.time("at");
                    t.timestamp("stamp").default_now();
                    t.timestamp_tz("stamp_tz").not_null().default_now();
                    t.json("doc");
                    t.uuid("uid");
                    t.binary("bytes");
                    t.enumeration("mood", "mood").default("happy");
                    t.integer("expr_default").default_expr("1 + 2");
                });
            }
        ),
        case!(create_table_composite_keys, |m| {
            m.create_table("memberships", |t| {
                t.bigint("user_id").not_null();
                t.string("team", 50).not_null();
                t.string("role", 20).not_null().default("member");
                t.primary_key(["user_id", "team"]);
                t.unique("uq_memberships_role", ["team", "role", "user_id"]);
                t.check("ck_memberships_role", "role <> ''");
                t.foreign_key("fk_memberships_user", ["user_id"], "users", ["id"])
                    .on_delete(Cascade)
                    .on_update(Restrict);
                t.index("ix_memberships_team_role", ["team", "role"])
                    .unique();
            });
        }),
        case!(drop_table, |m| {
            m.drop_table("posts");
        }),
        case!(rename_table_referenced_by_foreign_key, |m| {
            m.rename_table("users", "accounts");
        }),
        case!(add_column_nullable, |m| {
            m.add_column("users", "bio", ColumnType::Text);
        }),
        case!(add_column_not_null_with_default, |m| {
            m.add_column("users", "score", ColumnType::Integer)
                .not_null()
                .default(10);
        }),
        case!(add_column_default_now, |m| {
            m.add_column("users", "joined_at", ColumnType::Timestamp)
                .not_null()
                .default_now();
        }),
        case!(add_column_enum, |m| {
            m.add_column("users", "status", ColumnType::Enum("post_status".into()))
                .not_null()
                .default("published");
        }),
        case!(add_column_with_foreign_key, |m| {
            m.add_column("posts", "reviewer_id", ColumnType::BigInt)
                .references("users", "id")
                .on_delete(SetNull);
        }),
        case!(
            add_column_with_foreign_key_of_another_type,
            refused = [Mysql],
            |m| {
                m.add_column("posts", "reviewer_id", ColumnType::Integer)
                    .references("users", "id");
            }
        ),
        case!(
            create_table_with_foreign_key_of_another_type,
            refused = [Mysql],
            |m| {
                m.create_table("reviews", |t| {
                    t.id("id");
                    t.integer("user_id").references("users", "id");
                });
            }
        ),
        case!(set_type_of_a_foreign_key_column, refused = [Mysql], |m| {
            // Still an integer: PostgreSQL and SQLite keep the key; MySQL cannot change it.
            m.set_column_type("posts", "editor_id", ColumnType::Integer);
        }),
        case!(add_column_unique, |m| {
            m.add_column("users", "handle", ColumnType::String(30))
                .unique();
        }),
        case!(drop_column_plain, |m| {
            m.drop_column("posts", "body");
        }),
        case!(drop_column_indexed_and_checked, |m| {
            m.drop_column("users", "age");
        }),
        case!(drop_column_with_foreign_key, |m| {
            m.drop_column("posts", "editor_id");
        }),
        case!(drop_column_enum, |m| {
            m.drop_column("posts", "status");
        }),
        case!(rename_column_indexed_and_checked, |m| {
            m.rename_column("users", "age", "years");
        }),
        case!(rename_column_referenced_by_foreign_key, |m| {
            m.rename_column("users", "id", "user_id");
        }),
        case!(set_column_type_widen, |m| {
            m.set_column_type("users", "age", ColumnType::BigInt);
        }),
        case!(set_column_type_string_length, |m| {
            m.set_column_type("posts", "title", ColumnType::String(300));
        }),
        case!(
            set_column_type_using,
            data = Data::Converted,
            refused = [Mysql],
            |m| {
                m.set_column_type("users", "name", ColumnType::Text)
                    .using("upper(name)");
            }
        ),
        case!(set_not_null, |m| {
            m.set_not_null("users", "name");
        }),
        case!(drop_not_null, |m| {
            m.drop_not_null("posts", "title");
        }),
        case!(set_default_literal, |m| {
            m.set_default("users", "name", "anonymous");
        }),
        case!(change_default, |m| {
            m.set_default("users", "age", 18);
        }),
        case!(drop_default, |m| {
            m.drop_default("posts", "created_at");
        }),
        case!(create_index, |m| {
            m.create_index("users", "ix_users_age", ["age"]);
        }),
        case!(create_unique_multi_column_index, |m| {
            m.create_index("posts", "ux_posts_author_title", ["author_id", "title"])
                .unique();
        }),
        case!(create_partial_index, refused = [Mysql], |m| {
            m.create_index("posts", "ix_posts_published", ["title"])
                .predicate("status = 'published'");
        }),
        case!(create_index_concurrently, refused = [Mysql, Sqlite], |m| {
            m.create_index("users", "ix_users_age", ["age"])
                .concurrently();
        }),
        case!(create_index_on_text, refused = [Mysql], |m| {
            m.create_index("posts", "ix_posts_body", ["body"]);
        }),
        case!(drop_index, |m| {
            m.drop_index("posts", "ix_posts_title");
        }),
        case!(drop_index_concurrently, refused = [Mysql, Sqlite], |m| {
            m.drop_index("users", "ix_users_name").concurrently();
        }),
        case!(analyze_and_vacuum, |m| {
            m.analyze("posts");
            m.vacuum("posts");
        }),
        case!(reindex_a_table_and_an_index, refused = [Mysql], |m| {
            m.reindex("posts");
            m.reindex("ix_posts_title");
        }),
        case!(reindex_concurrently, refused = [Mysql, Sqlite], |m| {
            m.reindex("ix_users_name").concurrently();
        }),
        case!(explain_a_query, |m| {
            m.explain("SELECT id FROM posts WHERE title = 'Hello'");
        }),
        case!(add_primary_key, |m| {
            m.create_table("tags", |t| {
                t.string("slug", 40);
                t.string("label", 40);
            });
            m.add_primary_key("tags", ["slug"]);
        }),
        case!(drop_primary_key, |m| {
            m.create_table("tags", |t| {
                t.string("slug", 40).not_null().primary_key();
            });
            m.drop_primary_key("tags");
        }),
        case!(add_unique, |m| {
            m.add_unique("posts", "uq_posts_author_title", ["author_id", "title"]);
        }),
        case!(drop_unique, |m| {
            m.drop_unique("users", "uq_users_email");
        }),
        case!(add_check, |m| {
            m.add_check("posts", "ck_posts_title", "title <> ''");
        }),
        case!(drop_check, |m| {
            m.drop_check("users", "ck_users_age");
        }),
        case!(add_foreign_key, |m| {
            m.add_column("users", "referrer_id", ColumnType::BigInt);
            m.add_foreign_key(
                "users",
                "fk_users_referrer",
                ["referrer_id"],
                "users",
                ["id"],
            )
            .on_delete(SetNull)
            .on_update(Cascade);
        }),
        case!(drop_foreign_key, |m| {
            m.drop_foreign_key("posts", "fk_posts_author_id");
        }),
        case!(create_enum, |m| {
            m.create_enum("visibility", ["public", "private"]);
        }),
        case!(add_enum_value_used_by_a_column, |m| {
            m.add_enum_value("post_status", "archived");
        }),
        case!(drop_enum, |m| {
            m.create_enum("visibility", ["public", "private"]);
            m.drop_enum("visibility");
        }),
        case!(
            raw_sql_with_variants_and_reverse,
            data = Data::Restored,
            refused = [],
            |m| {
                m.sql("UPDATE users SET age = age + 1")
                    .on(
                        Dialect::Mysql,
                        "UPDATE users SET age = age + 1 WHERE id > 0",
                    )
                    .reverse("UPDATE users SET age = age - 1");
            }
        ),
        case!(
            backfill_in_batches_with_reverse,
            data = Data::Restored,
            refused = [],
            |m| {
                m.backfill("users")
                    .set("age", "age + 1")
                    .set("name", "name || '!'")
                    .set_on(Dialect::Mysql, "name", "CONCAT(name, '!')")
                    .only("age < 100")
                    .batch_size(1)
                    .reverse_set("age", "age - 1")
                    .reverse_set("name", "substr(name, 1, length(name) - 1)");
            }
        ),
        case!(sync_trigger, |m| {
            m.add_column("users", "display", ColumnType::String(200));
            m.create_sync_trigger("users", "sync_users_display")
                .forward("display", "upper(name)")
                .backward("name", "lower(display)");
        }),
        case!(sync_trigger_dropped, |m| {
            m.add_column("users", "display", ColumnType::String(200));
            m.create_sync_trigger("users", "sync_users_display")
                .forward("display", "upper(name)")
                .backward("name", "lower(display)");
            m.drop_sync_trigger("users", "sync_users_display");
        }),
        case!(
            create_table_partitioned_by_month,
            setup = blog,
            rows = BLOG_ROWS,
            refused = [Sqlite],
            |m| {
                monthly_events(m, 1..=12);
            }
        ),
        case!(
            create_table_partitioned_by_list,
            setup = blog,
            rows = BLOG_ROWS,
            refused = [Sqlite],
            |m| {
                m.create_table("accounts", |t| {
                    t.bigint("id").not_null();
                    t.string("region", 8).not_null();
                    t.primary_key(["id", "region"]);
                    t.partition_by_list("region");
                    t.partition("accounts_eu", PartitionBound::values(["de", "fr", "it's"]));
                    t.partition("accounts_us", PartitionBound::values(["us"]));
                    t.partition("accounts_other", PartitionBound::Default);
                });
            }
        ),
        case!(
            create_table_partitioned_by_hash,
            setup = blog,
            rows = BLOG_ROWS,
            refused = [Sqlite],
            |m| {
                m.create_table("sessions", |t| {
                    t.bigint("user_id").not_null();
                    t.text("token");
                    t.partition_by_hash(["user_id"]);
                    for remainder in 0..4 {
                        t.partition(
                            &format!("sessions_{remainder}"),
                            PartitionBound::hash(4, remainder),
                        );
                    }
                });
            }
        ),
        case!(
            create_table_partitioned_with_open_ends,
            setup = blog,
            rows = BLOG_ROWS,
            refused = [Sqlite],
            |m| {
                m.create_table("readings", |t| {
                    t.bigint("sensor").not_null();
                    t.integer("reading").not_null();
                    t.partition_by_range(["sensor"]);
                    t.partition(
                        "readings_low",
                        PartitionBound::range(BoundValue::MinValue, 100),
                    );
                    t.partition(
                        "readings_high",
                        PartitionBound::range(100, BoundValue::MaxValue),
                    );
                });
            }
        ),
        case!(
            create_and_drop_partitions,
            setup = blog_and_events,
            rows = EVENT_ROWS,
            refused = [Sqlite],
            |m| {
                m.create_partition(
                    "events",
                    "events_2026_04",
                    PartitionBound::range("2026-04-01", "2026-05-01"),
                );
                m.drop_partition("events", "events_2026_01");
            }
        ),
        case!(
            partition_an_existing_table,
            setup = blog_and_plain_events,
            rows = EVENT_ROWS,
            refused = [Sqlite],
            |m| {
                m.partition_table("events", |p| {
                    p.by_range(["created_on"]);
                    p.primary_key(["id", "created_on"]);
                    for month in 1..=3 {
                        p.partition(
                            &format!("events_2026_{month:02}"),
                            PartitionBound::range(month_start(month), month_start(month + 1)),
                        );
                    }
                    p.batch_size(2);
                });
            }
        ),
        case!(
            attach_a_loaded_table_as_partition,
            setup = blog_events_and_a_loaded_month,
            rows = BLOG_ROWS,
            refused = [Sqlite],
            |m| {
                m.attach_partition(
                    "events",
                    "events_2026_03",
                    PartitionBound::range("2026-03-01", "2026-04-01"),
                );
            }
        ),
        case!(
            detach_a_partition,
            setup = blog_and_events,
            rows = BLOG_ROWS,
            refused = [Sqlite],
            |m| {
                m.detach_partition("events", "events_2026_01");
            }
        ),
        case!(
            detach_a_partition_concurrently,
            setup = blog_and_events,
            rows = BLOG_ROWS,
            refused = [Mysql, Sqlite],
            |m| {
                m.detach_partition("events", "events_2026_01")
                    .concurrently();
            }
        ),
        case!(
            hostile_names,
            setup = nothing,
            rows = &[],
            refused = [],
            |m| {
                m.create_table("x\"; DROP TABLE y; --", |t| {
                    t.id("id");
                    t.string("a`b\"c'd", 20).not_null().default("q'uote\"");
                    t.index("ix\"`'", ["a`b\"c'd"]);
                });
                m.create_table("y", |t| {
                    t.bigint("x_id")
                        .references("x\"; DROP TABLE y; --", "id")
                        .name("fk\"`'");
                });
                m.rename_column("x\"; DROP TABLE y; --", "a`b\"c'd", "c\"`'");
            }
        ),
    ]
}
