//! The README's Rust examples, verbatim, in code that compiles: `cargo build --examples` builds
//! them, and `tests/readme.rs` fails when a README example is not found here word for word.
//! Running it does nothing: the migrations below are registered but never run. Kept as the
//! README spells them, so rustfmt leaves them alone.

#![allow(unused)]

// Stands for the crate of migrations the README's examples link.
extern crate godwit_example_blog as my_migrations;

#[rustfmt::skip]
mod creating {
    use godwit::prelude::*;

    #[migration(after = [create_users])]
    fn create_posts(m: &mut Migration) {
        m.create_enum("post_status", ["draft", "published", "archived"]);
        m.create_table("posts", |t| {
            t.id("id");
            t.string("title", 200).not_null();
            t.text("content").not_null();
            t.bigint("author_id").not_null().references("users", "id").on_delete(Cascade);
            t.enumeration("status", "post_status").not_null().default("draft");
            t.timestamp_tz("created_at").not_null().default_now();
            t.index("ix_posts_title", ["title"]);
        });
    }

    #[migration]
    fn create_users(m: &mut Migration) {
        m.create_table("users", |t| {
            t.id("id");
        });
    }
}

#[rustfmt::skip]
mod migrations {
    pub mod create_users {
        use godwit::prelude::*;

        #[migration(id = "readme_create_users")]
        pub fn create_users(m: &mut Migration) {
            m.create_table("users", |t| {
                t.id("id");
                t.string("name", 200);
            });
        }
    }
}

#[rustfmt::skip]
mod writing {
    use godwit::prelude::*;

    #[migration(after = [crate::migrations::create_users::create_users])]
    pub fn split_names_expand(m: &mut Migration) {
        m.add_column("users", "first_name", ColumnType::String(100));
        m.add_column("users", "last_name", ColumnType::String(100));
    }

    #[migration(after = [split_names_expand])]
    fn data_steps(m: &mut Migration) {
        m.sql("UPDATE users SET nickname = name WHERE nickname IS NULL")
            .reverse("UPDATE users SET nickname = NULL"); // `.on(Dialect::Mysql, ..)` for a variant
        m.rust("split names", |db| Box::pin(async move {
            let rows = db.fetch_text("SELECT id, name FROM users").await?;
            // ... db.execute(..), or db.as_postgres() / as_mysql() / as_sqlite() for typed sqlx queries
            Ok(())
        }));
    }
}

#[rustfmt::skip]
mod backfills {
    use std::time::Duration;

    use godwit::prelude::*;

    #[migration(id = "readme_fill_full_name")]
    fn fill_full_name(m: &mut Migration) {
        m.backfill("users")
            .set("full_name", "first_name || ' ' || last_name")
            .set_on(Dialect::Mysql, "full_name", "CONCAT(first_name, ' ', last_name)")
            .only("full_name IS NULL")            // the rows still to do
            .batch_size(1_000)                    // the default
            .target_batch_time(Duration::from_millis(200)) // grow (at most +20 %) or shrink towards it
            .pause(Duration::from_millis(10))     // between batches
            .reverse_set("full_name", "NULL");    // without a reverse, the migration cannot go down
    }

    #[migration(id = "readme_create_people")]
    fn create_users(m: &mut Migration) {
        m.create_table("users", |t| {
            t.id("id");
            t.string("name", 200);
        });
    }

    #[migration(after = [create_users])]
    pub fn split_names(m: &mut Migration) {
        m.replace_column("users", "name")
            .with("first_name", ColumnType::String(100), "split_part(name, ' ', 1)")
            .with_on(Dialect::Mysql, "first_name", "SUBSTRING_INDEX(name, ' ', 1)")
            .with("last_name", ColumnType::String(100), "split_part(name, ' ', 2)")
            .with_on(Dialect::Mysql, "last_name", "SUBSTRING_INDEX(name, ' ', -1)")
            .back("first_name || ' ' || last_name")
            .back_on(Dialect::Mysql, "CONCAT(first_name, ' ', last_name)");
    }

    #[migration(after = [split_names], contract)]
    pub fn drop_name(m: &mut Migration) {
        m.finish_replace_column("users", "name"); // the trigger and the old column
    }
}

#[rustfmt::skip]
mod xtask {
    // xtask/src/main.rs
    use my_migrations as _; // links the migrations (see below)

    fn main() -> std::process::ExitCode {
        godwit::cli::Cli::default()
            .migrations_dir("migrations/src/migrations") // where `new` and `merge` write
            .lock_file("migrations/godwit.sum")          // what `check` compares against
            .main()
    }
}

#[rustfmt::skip]
mod embedded {
    async fn start(pool: sqlx::PgPool) -> Result<(), godwit::runner::RunError> {
        let mut migrator = godwit::Migrator::from_pool(&pool).await?; // or Migrator::connect(url)
        migrator.up().await?;
        Ok(())
    }
}

#[rustfmt::skip]
mod allowing {
    use godwit::prelude::*;

    #[migration(id = "readme_allowing_users")]
    fn create_users(m: &mut Migration) {
        m.create_table("users", |t| {
            t.id("id");
            t.integer("karma");
        });
    }

    #[migration(
        after = [create_users],
        allow(GW007 = "users holds a few thousand rows: the rewrite takes milliseconds")
    )]
    fn widen_user_karma(m: &mut Migration) {
        m.set_column_type("users", "karma", ColumnType::BigInt);
    }
}

#[rustfmt::skip]
mod checking {
    use godwit::prelude::*;

    fn lowercase_emails(m: &mut Migration) {
        m.require("SELECT 1 FROM users WHERE email IS NULL", Expect::NoRows);
        m.savepoint(|m| {
            m.sql("UPDATE users SET email = LOWER(email)");
            m.verify("SELECT id FROM users WHERE email <> LOWER(email)", Expect::NoRows);
        });
    }
}

#[rustfmt::skip]
mod linking {
    use my_migrations as _; // links my_migrations' #[migration] functions
}

#[rustfmt::skip]
mod partitions {
    use godwit::prelude::*;

#[migration(id = "readme_create_events")]
pub fn create_events(m: &mut Migration) {
    m.create_table("events", |t| {
        t.bigint("id").not_null().auto_increment();
        t.timestamp("created_at").not_null();
        t.string("kind", 40).not_null();
        t.primary_key(["id", "created_at"]); // keys include the partition columns
        t.index("ix_events_kind", ["kind"]); // on every partition
        t.partition_by_range(["created_at"]);
        for month in 1..=12 {
            let to = match month {
                12 => "2027-01-01".to_owned(),
                _ => format!("2026-{:02}-01", month + 1),
            };
            let from = format!("2026-{month:02}-01");
            t.partition(&format!("events_2026_{month:02}"), PartitionBound::range(from, to));
        }
    });
}

#[migration(after = [create_events])]
pub fn roll_events(m: &mut Migration) {
    m.create_partition("events", "events_2027_01", PartitionBound::range("2027-01-01", "2027-02-01"));
    m.drop_partition("events", "events_2026_01"); // its rows go with it (GW013)
}

    #[migration(id = "readme_create_audit_log")]
    fn create_audit_log(m: &mut Migration) {
        m.create_table("audit_log", |t| {
            t.id("id");
            t.date("logged_on").not_null();
            t.text("entry");
        });
    }

#[migration(after = [create_audit_log])]
pub fn partition_audit_log(m: &mut Migration) {
    m.partition_table("audit_log", |p| {
        p.by_range(["logged_on"]);
        p.primary_key(["id", "logged_on"]);
        for year in 2020..2027 {
            let (from, to) = (format!("{year}-01-01"), format!("{}-01-01", year + 1));
            p.partition(&format!("audit_log_{year}"), PartitionBound::range(from, to));
        }
        p.batch_size(5_000);
    });
}

#[migration(after = [partition_audit_log], contract)]
pub fn drop_unpartitioned_audit_log(m: &mut Migration) {
    m.drop_unpartitioned_copy("audit_log"); // no way back after this
}
}

fn main() {}
