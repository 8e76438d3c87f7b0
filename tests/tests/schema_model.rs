//! The schema model's validation, table-driven: each bad op is refused with a typed error that
//! names the op, and a refused op leaves the schema unchanged.

use godwit::op::{ColumnType, ReferentialAction};
use godwit::runner::SchemaErrorKind as K;
use godwit::testing::{Inverse, Schema};
use godwit::{Dialect, Migration};
use godwit_tests::cases::blog;

fn blog_schema() -> Schema {
    Schema::from_ops(&Migration::record(Dialect::Postgres, blog)).expect("blog is valid")
}

/// Applies `ops` after the blog setup; the last op must fail with an error matching `expected`.
fn refused(name: &str, ops: fn(&mut Migration), expected: fn(&K) -> bool) {
    let mut schema = blog_schema();
    let ops = Migration::record(Dialect::Postgres, ops);
    let (last, init) = ops.split_last().expect("at least one op");
    for op in init {
        schema
            .apply(op)
            .unwrap_or_else(|e| panic!("{name}: setup op failed: {e}"));
    }
    let before = schema.clone();
    let err = schema
        .apply(last)
        .expect_err(&format!("{name}: {last} should be refused"));
    assert!(expected(&err.kind), "{name}: unexpected error: {err}");
    assert_eq!(err.op, last.describe(), "{name}: the error names the op");
    assert!(
        err.to_string().starts_with(&last.describe()),
        "{name}: {err}"
    );
    assert_eq!(schema, before, "{name}: a refused op changed the schema");
}

/// A case name, the ops to apply after the blog setup, and the expected error of the last op.
type RefusalCase = (&'static str, fn(&mut Migration), fn(&K) -> bool);

#[test]
fn invalid_ops_are_refused_with_typed_errors() {
    let table: &[RefusalCase] = &[
        (
            "unknown table",
            |m| m.drop_table("nope"),
            |k| matches!(k, K::UnknownTable(t) if t == "nope"),
        ),
        (
            "unknown column",
            |m| m.drop_column("users", "nope"),
            |k| matches!(k, K::UnknownColumn { column, .. } if column == "nope"),
        ),
        (
            "unknown index",
            |m| {
                m.drop_index("users", "nope");
            },
            |k| matches!(k, K::UnknownObject { what: "index", .. }),
        ),
        (
            "unknown foreign key",
            |m| m.drop_foreign_key("posts", "nope"),
            |k| {
                matches!(
                    k,
                    K::UnknownObject {
                        what: "foreign key",
                        ..
                    }
                )
            },
        ),
        (
            "unknown check",
            |m| m.drop_check("users", "nope"),
            |k| {
                matches!(
                    k,
                    K::UnknownObject {
                        what: "check constraint",
                        ..
                    }
                )
            },
        ),
        (
            "unknown enum",
            |m| {
                m.add_column("users", "s", ColumnType::Enum("nope".into()));
            },
            |k| matches!(k, K::UnknownEnum(_)),
        ),
        (
            "unknown enum value default",
            |m| {
                m.add_column("users", "s", ColumnType::Enum("post_status".into()))
                    .default("nope");
            },
            |k| matches!(k, K::UnknownEnumValue { .. }),
        ),
        (
            "duplicate table",
            |m| {
                m.create_table("users", |t| {
                    t.integer("x");
                })
            },
            |k| matches!(k, K::DuplicateTable(_)),
        ),
        (
            "duplicate column",
            |m| {
                m.add_column("users", "email", ColumnType::Text);
            },
            |k| matches!(k, K::DuplicateColumn { .. }),
        ),
        (
            "duplicate column in create",
            |m| {
                m.create_table("t", |t| {
                    t.integer("x");
                    t.text("x");
                })
            },
            |k| matches!(k, K::DuplicateColumn { .. }),
        ),
        (
            "index name used by an index",
            |m| {
                m.create_index("posts", "ix_users_name", ["title"]);
            },
            |k| matches!(k, K::DuplicateName { .. }),
        ),
        (
            "index name used by a table",
            |m| {
                m.create_index("posts", "users", ["title"]);
            },
            |k| matches!(k, K::DuplicateName { .. }),
        ),
        (
            "constraint name used by a foreign key",
            |m| m.add_check("posts", "fk_posts_author_id", "1 = 1"),
            |k| matches!(k, K::DuplicateName { .. }),
        ),
        (
            "index on a missing column",
            |m| {
                m.create_index("users", "ix", ["nope"]);
            },
            |k| matches!(k, K::UnknownColumn { .. }),
        ),
        (
            "index repeats a column",
            |m| {
                m.create_index("users", "ix", ["name", "name"]);
            },
            |k| matches!(k, K::RepeatedColumn { .. }),
        ),
        (
            "index without columns",
            |m| {
                m.create_index("users", "ix", Vec::<String>::new());
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "drop a column an index spans",
            |m| {
                m.create_index("posts", "ix", ["title", "body"]);
                m.drop_column("posts", "body");
            },
            |k| matches!(k, K::ColumnInUse { .. }),
        ),
        (
            "drop a column a foreign key references",
            |m| m.drop_column("users", "id"),
            |k| matches!(k, K::ColumnInUse { .. }),
        ),
        (
            "drop a primary key column",
            |m| {
                m.create_table("t", |t| {
                    t.integer("a").primary_key();
                    t.integer("b");
                });
                m.drop_column("t", "a");
            },
            |k| matches!(k, K::ColumnInUse { .. }),
        ),
        (
            "drop the only column",
            |m| {
                m.create_table("t", |t| {
                    t.integer("a");
                });
                m.drop_column("t", "a");
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "drop a referenced table",
            |m| m.drop_table("users"),
            |k| matches!(k, K::TableInUse { .. }),
        ),
        (
            "drop a referenced primary key",
            |m| m.drop_primary_key("users"),
            |k| matches!(k, K::ColumnInUse { .. } | K::KeyInUse { .. }),
        ),
        (
            "foreign key to a missing table",
            |m| {
                m.add_foreign_key("posts", "fk", ["author_id"], "nope", ["id"]);
            },
            |k| matches!(k, K::UnknownTable(t) if t == "nope"),
        ),
        (
            "foreign key to a missing column",
            |m| {
                m.add_foreign_key("posts", "fk", ["author_id"], "users", ["nope"]);
            },
            |k| matches!(k, K::UnknownColumn { .. }),
        ),
        (
            "foreign key to a non-unique column",
            |m| {
                m.add_foreign_key("posts", "fk", ["title"], "users", ["name"]);
            },
            |k| matches!(k, K::Invalid(msg) if msg.contains("unique constraint")),
        ),
        (
            "foreign key column count mismatch",
            |m| {
                m.add_foreign_key("posts", "fk", ["author_id", "title"], "users", ["id"]);
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "foreign key type mismatch",
            |m| {
                m.add_foreign_key("posts", "fk", ["title"], "users", ["id"])
                    .on_delete(ReferentialAction::Cascade);
            },
            |k| matches!(k, K::Invalid(msg) if msg.contains("string(200)") && msg.contains("bigint")),
        ),
        (
            "empty table name",
            |m| {
                m.create_table("", |t| {
                    t.integer("x");
                })
            },
            |k| matches!(k, K::InvalidIdentifier { .. }),
        ),
        (
            "table name over 63 bytes",
            |m| {
                m.create_table(&"t".repeat(64), |t| {
                    t.integer("x");
                })
            },
            |k| matches!(k, K::InvalidIdentifier { reason, .. } if reason.contains("63")),
        ),
        (
            "column name over 63 bytes",
            |m| {
                m.add_column("users", &"c".repeat(64), ColumnType::Text);
            },
            |k| matches!(k, K::InvalidIdentifier { .. }),
        ),
        (
            "index name over 63 bytes",
            |m| {
                m.create_index("users", &"i".repeat(64), ["name"]);
            },
            |k| matches!(k, K::InvalidIdentifier { .. }),
        ),
        (
            "multi-byte name over 63 bytes",
            |m| m.rename_table("users", &"é".repeat(32)),
            |k| matches!(k, K::InvalidIdentifier { .. }),
        ),
        (
            "name with NUL",
            |m| m.rename_column("users", "name", "a\0b"),
            |k| matches!(k, K::InvalidIdentifier { .. }),
        ),
        (
            "reserved sqlite_ prefix",
            |m| m.rename_table("users", "sqlite_users"),
            |k| matches!(k, K::InvalidIdentifier { .. }),
        ),
        (
            "table without columns",
            |m| m.create_table("t", |_| {}),
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "default_now on a non-timestamp",
            |m| {
                m.add_column("users", "x", ColumnType::Integer)
                    .default_now();
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "auto_increment on text",
            |m| {
                m.create_table("t", |t| {
                    t.text("x").auto_increment().primary_key();
                })
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "auto_increment not the key",
            |m| {
                m.create_table("t", |t| {
                    t.integer("x").auto_increment();
                    t.integer("y").primary_key();
                })
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "add an auto_increment column",
            |m| {
                m.add_column("posts", "n", ColumnType::BigInt)
                    .auto_increment();
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "decimal scale over precision",
            |m| {
                m.add_column("users", "x", ColumnType::Decimal(4, 5));
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "string of length zero",
            |m| {
                m.add_column("users", "x", ColumnType::String(0));
            },
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "second primary key",
            |m| m.add_primary_key("users", ["email"]),
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "nullable primary key column",
            |m| m.drop_not_null("users", "id"),
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "change the type of a referenced column",
            |m| {
                m.create_table("t", |t| {
                    t.integer("a").not_null().unique();
                });
                m.create_table("u", |t| {
                    t.integer("a").references("t", "a");
                });
                m.set_column_type("t", "a", ColumnType::BigInt);
            },
            |k| matches!(k, K::ColumnInUse { .. }),
        ),
        (
            "change a foreign key column to a type its referenced column is not",
            |m| {
                m.create_table("t", |t| {
                    t.integer("a").not_null().unique();
                });
                m.create_table("u", |t| {
                    t.integer("a").references("t", "a");
                });
                m.set_column_type("u", "a", ColumnType::Text);
            },
            |k| matches!(k, K::ColumnInUse { .. }),
        ),
        (
            "drop a default that is not there",
            |m| m.drop_default("users", "name"),
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "duplicate enum",
            |m| m.create_enum("post_status", ["a"]),
            |k| matches!(k, K::DuplicateEnum(_)),
        ),
        (
            "enum without values",
            |m| m.create_enum("e", Vec::<String>::new()),
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "enum with a repeated value",
            |m| m.create_enum("e", ["a", "a"]),
            |k| matches!(k, K::DuplicateEnumValue { .. }),
        ),
        (
            "enum value added twice",
            |m| m.add_enum_value("post_status", "draft"),
            |k| matches!(k, K::DuplicateEnumValue { .. }),
        ),
        (
            "drop an enum in use",
            |m| m.drop_enum("post_status"),
            |k| matches!(k, K::EnumInUse { .. }),
        ),
        (
            "remove an enum value used as a default",
            |m| {
                m.add_enum_value("post_status", "x");
                m.set_default("posts", "status", "x");
                m.remove_enum_value("post_status", "x");
            },
            |k| matches!(k, K::EnumInUse { .. }),
        ),
        (
            "remove a value that is not last",
            |m| m.remove_enum_value("post_status", "draft"),
            |k| matches!(k, K::Invalid(_)),
        ),
        (
            "drop a column a sync trigger reads",
            |m| {
                m.add_column("users", "display", ColumnType::Text);
                m.create_sync_trigger("users", "sync_users_display")
                    .forward("display", "upper(name)")
                    .backward("name", "lower(display)");
                m.drop_column("users", "display");
            },
            |k| matches!(k, K::ColumnInUse { column, user, fix, .. } if column == "display" && user == "sync trigger `sync_users_display`" && fix.contains("drop_sync_trigger")),
        ),
        (
            "rename a column a sync trigger writes",
            |m| {
                m.add_column("users", "display", ColumnType::Text);
                m.create_sync_trigger("users", "sync_users_display")
                    .forward("display", "upper(name)")
                    .backward("name", "lower(display)");
                m.rename_column("users", "name", "full_name");
            },
            |k| matches!(k, K::ColumnInUse { column, .. } if column == "name"),
        ),
        (
            "sync trigger with one side only",
            |m| {
                m.create_sync_trigger("users", "sync_users_name")
                    .forward("name", "upper(email)");
            },
            |k| matches!(k, K::Invalid(m) if m.contains("has no backward column")),
        ),
        (
            "sync trigger writing one column both ways",
            |m| {
                m.create_sync_trigger("users", "sync_users_name")
                    .forward("name", "upper(email)")
                    .backward("name", "lower(email)");
            },
            |k| matches!(k, K::RepeatedColumn { column, .. } if column == "name"),
        ),
        (
            "sync trigger named like an index",
            |m| {
                m.create_sync_trigger("users", "ix_users_name")
                    .forward("name", "upper(email)")
                    .backward("email", "lower(name)");
            },
            |k| matches!(k, K::DuplicateName { name, .. } if name == "ix_users_name"),
        ),
        (
            "drop a sync trigger that does not exist",
            |m| m.drop_sync_trigger("users", "nope"),
            |k| {
                matches!(
                    k,
                    K::UnknownObject {
                        what: "sync trigger",
                        ..
                    }
                )
            },
        ),
        (
            "backfill of an unknown table",
            |m| {
                m.backfill("nope").set("name", "'x'");
            },
            |k| matches!(k, K::UnknownTable(t) if t == "nope"),
        ),
        (
            "backfill of an unknown column",
            |m| {
                m.backfill("users").set("nickname", "name");
            },
            |k| matches!(k, K::UnknownColumn { table, column } if table == "users" && column == "nickname"),
        ),
        (
            "backfill that sets nothing",
            |m| {
                m.backfill("users").only("name IS NULL");
            },
            |k| matches!(k, K::Invalid(m) if m.contains("sets no column") && m.contains("`.set(column, expr)`")),
        ),
        (
            "backfill whose reverse sets an unknown column",
            |m| {
                m.backfill("users")
                    .set("name", "email")
                    .reverse_set("nick", "NULL");
            },
            |k| matches!(k, K::UnknownColumn { column, .. } if column == "nick"),
        ),
        (
            "backfill in batches of 0",
            |m| {
                m.backfill("users").set("name", "email").batch_size(0);
            },
            |k| matches!(k, K::Invalid(m) if m.contains("batch size of 0") && m.contains("`users`")),
        ),
        (
            "backfill of a key column",
            |m| {
                m.backfill("users").set("id", "id + 1");
            },
            |k| matches!(k, K::Invalid(m) if m.contains("`id`, a column of the key")),
        ),
        (
            "backfill of a table without a key",
            |m| {
                m.create_table("loose", |t| {
                    t.text("note");
                });
                m.backfill("loose").set("note", "'x'");
            },
            |k| matches!(k, K::Invalid(m) if m.contains("table `loose` has neither a primary key nor a unique key") && m.contains("add_primary_key")),
        ),
        (
            "backfill paged by a float key",
            |m| {
                m.create_table("measures", |t| {
                    t.column("value", ColumnType::Double).primary_key();
                    t.text("note");
                });
                m.backfill("measures").set("note", "'x'");
            },
            |k| matches!(k, K::Invalid(m) if m.contains("column `value` of type double")),
        ),
    ];
    for (name, ops, expected) in table {
        refused(name, *ops, *expected);
    }
}

#[test]
fn identifiers_of_63_bytes_are_accepted() {
    let mut schema = blog_schema();
    let ops = Migration::record(Dialect::Postgres, |m| {
        m.create_table(&"t".repeat(63), |t| {
            t.integer(&"c".repeat(63));
        });
    });
    schema.apply(&ops[0]).expect("63 bytes fit every dialect");
}

#[test]
fn inverses_restore_what_the_op_removed() {
    let mut schema = blog_schema();
    let before = schema.clone();
    let ops = Migration::record(Dialect::Postgres, |m| {
        m.drop_column("users", "age");
        m.drop_column("posts", "editor_id");
        m.drop_table("posts");
        m.rename_table("users", "people");
        m.set_column_type("people", "name", ColumnType::Text);
        m.drop_default("people", "email");
    });
    let mut undo = Vec::new();
    for op in &ops[..5] {
        match schema.apply(op).expect("valid") {
            Inverse::Ops(ops) => undo.push(ops),
            Inverse::Irreversible { reason } => panic!("{op} is irreversible: {reason}"),
        }
    }
    // The inverse of `drop_column("users", "age")` brings back its check too.
    assert!(undo[0].iter().any(|op| op.describe().contains("add_check")));
    for ops in undo.into_iter().rev() {
        for op in ops {
            schema.apply(&op).expect("the inverse applies");
        }
    }
    let sorted = |s: &Schema| {
        let mut tables: Vec<_> = s.tables().cloned().collect();
        for t in &mut tables {
            t.columns.sort_by(|a, b| a.name.cmp(&b.name));
        }
        tables
    };
    assert_eq!(sorted(&schema), sorted(&before));
}

#[test]
fn raw_sql_without_reverse_is_irreversible() {
    let mut schema = Schema::new();
    let ops = Migration::record(Dialect::Sqlite, |m| {
        m.sql("SELECT 1");
        m.sql("SELECT 2").reverse("SELECT 3");
    });
    assert!(
        matches!(schema.apply(&ops[0]), Ok(Inverse::Irreversible { reason }) if reason.contains("reverse"))
    );
    assert!(matches!(schema.apply(&ops[1]), Ok(Inverse::Ops(ops)) if ops.len() == 1));
}

#[test]
fn a_backfill_pages_by_a_unique_not_null_key_without_a_primary_key() {
    let mut schema = Schema::new();
    let ops = Migration::record(Dialect::Postgres, |m| {
        m.create_table("codes", |t| {
            t.string("code", 20).not_null().unique();
            t.text("label");
        });
        m.backfill("codes")
            .set("label", "code")
            .reverse_set("label", "NULL");
    });
    schema.apply(&ops[0]).unwrap();
    let Ok(Inverse::Ops(inverse)) = schema.apply(&ops[1]) else {
        panic!("a backfill with a reverse is reversible");
    };
    let godwit::Op::Backfill(reverse) = &inverse[0] else {
        panic!("its inverse is a backfill: {inverse:?}");
    };
    assert_eq!(reverse.change.set[0].expr.sql.as_deref(), Some("NULL"));
    assert_eq!(
        reverse.reverse.as_ref().unwrap().set[0].expr.sql.as_deref(),
        Some("code")
    );
}

#[test]
fn a_backfill_without_reverse_is_irreversible() {
    let mut schema = Schema::from_ops(&Migration::record(Dialect::Postgres, blog)).unwrap();
    let ops = Migration::record(Dialect::Postgres, |m| {
        m.backfill("users").set("name", "email");
    });
    assert!(matches!(
        schema.apply(&ops[0]),
        Ok(Inverse::Irreversible { reason }) if reason.contains("`.reverse_set(column, expr)`")
    ));
}

/// A case name, the ops, and a text the error of the op that fails must contain.
type TextCase = (&'static str, fn(&mut Migration), &'static str);

/// `logs`, made partitioned by `partition_table`, which keeps the unpartitioned copy in step.
fn converted_logs(m: &mut Migration) {
    m.create_table("logs", |t| {
        t.id("id");
        t.text("line");
    });
    m.partition_table("logs", |p| {
        p.by_hash(["id"]);
        p.partition("logs_0", godwit::op::PartitionBound::hash(2, 0));
        p.partition("logs_1", godwit::op::PartitionBound::hash(2, 1));
    });
}

/// What a table that keeps its unpartitioned copy cannot have done to it, and the end of it.
const KEPT_COPY_CASES: &[TextCase] = &[
    (
        "a column of a table keeping its copy dropped",
        |m| {
            converted_logs(m);
            m.drop_column("logs", "line");
        },
        "cannot have its columns changed until `drop_unpartitioned_copy(\"logs\")` has run",
    ),
    (
        "a table keeping its copy renamed",
        |m| {
            converted_logs(m);
            m.rename_table("logs", "lines");
        },
        "cannot be renamed",
    ),
    (
        "a copy dropped twice",
        |m| {
            converted_logs(m);
            m.drop_unpartitioned_copy("logs");
            m.drop_unpartitioned_copy("logs");
        },
        "keeps no unpartitioned copy",
    ),
    (
        "a table referenced by a foreign key converted",
        |m| {
            m.partition_table("users", |p| {
                p.by_hash(["id"]);
                p.partition("users_0", godwit::op::PartitionBound::hash(1, 0));
            });
        },
        "its foreign key would stay with the unpartitioned table",
    ),
];

/// `events` by month of `created_on`, January and February.
fn events(m: &mut Migration) {
    use godwit::op::PartitionBound;
    m.create_table("events", |t| {
        t.bigint("id").not_null();
        t.date("created_on").not_null();
        t.primary_key(["id", "created_on"]);
        t.partition_by_range(["created_on"]);
        t.partition(
            "events_2026_01",
            PartitionBound::range("2026-01-01", "2026-02-01"),
        );
        t.partition(
            "events_2026_02",
            PartitionBound::range("2026-02-01", "2026-03-01"),
        );
    });
}

#[test]
fn bad_partitions_are_refused_before_any_sql() {
    use godwit::op::{BoundValue, PartitionBound};
    let table: &[TextCase] = &[
        (
            "an overlapping range",
            |m| {
                events(m);
                m.create_partition(
                    "events",
                    "events_late_jan",
                    PartitionBound::range("2026-01-15", "2026-02-15"),
                );
            },
            "overlaps partition `events_2026_01`",
        ),
        (
            "a range that ends before it starts",
            |m| {
                events(m);
                m.create_partition(
                    "events_back",
                    "events_back",
                    PartitionBound::range("2026-05-01", "2026-04-01"),
                );
            },
            "table `events_back` does not exist",
        ),
        (
            "an empty range",
            |m| {
                events(m);
                m.create_partition(
                    "events",
                    "events_back",
                    PartitionBound::range("2026-05-01", "2026-04-01"),
                );
            },
            "is empty",
        ),
        (
            "a list bound on a range",
            |m| {
                events(m);
                m.create_partition("events", "events_x", PartitionBound::values(["x"]));
            },
            "PartitionBound::range(from, to)",
        ),
        (
            "a second default",
            |m| {
                events(m);
                m.create_partition("events", "events_rest", PartitionBound::Default);
                m.create_partition("events", "events_more", PartitionBound::Default);
            },
            "one DEFAULT partition",
        ),
        (
            "a value listed by two partitions",
            |m| {
                m.create_table("accounts", |t| {
                    t.string("region", 8).not_null();
                    t.partition_by_list("region");
                    t.partition("accounts_eu", PartitionBound::values(["de", "fr"]));
                });
                m.create_partition("accounts", "accounts_fr", PartitionBound::values(["fr"]));
            },
            "both list 'fr'",
        ),
        (
            "hash moduli that do not divide",
            |m| {
                m.create_table("sessions", |t| {
                    t.bigint("user_id").not_null();
                    t.partition_by_hash(["user_id"]);
                    t.partition("sessions_0", PartitionBound::hash(2, 0));
                });
                m.create_partition("sessions", "sessions_x", PartitionBound::hash(3, 1));
            },
            "must divide one another",
        ),
        (
            "a hash remainder taken by a smaller modulus",
            |m| {
                m.create_table("sessions", |t| {
                    t.bigint("user_id").not_null();
                    t.partition_by_hash(["user_id"]);
                    t.partition("sessions_0", PartitionBound::hash(2, 0));
                });
                m.create_partition("sessions", "sessions_x", PartitionBound::hash(4, 2));
            },
            "remainder 0 of modulus 2 includes remainder 2 of modulus 4",
        ),
        (
            "a primary key without the partition column",
            |m| {
                m.create_table("logs", |t| {
                    t.id("id");
                    t.date("created_on").not_null();
                    t.partition_by_range(["created_on"]);
                });
            },
            "does not include the partition column `created_on`",
        ),
        (
            "a unique index added without the partition column",
            |m| {
                events(m);
                m.create_index("events", "ux_events_id", ["id"]).unique();
            },
            "unique index `ux_events_id`",
        ),
        (
            "a partition named like a table",
            |m| {
                events(m);
                m.create_partition(
                    "events",
                    "users",
                    PartitionBound::range("2026-03-01", "2026-04-01"),
                );
            },
            "the name `users` is already used by table `users`",
        ),
        (
            "a table named like a partition",
            |m| {
                events(m);
                m.create_table("events_2026_01", |t| {
                    t.integer("x");
                });
            },
            "a partition of table `events`",
        ),
        (
            "a partition of a table that is not partitioned",
            |m| {
                m.create_partition(
                    "users",
                    "users_a",
                    PartitionBound::range(BoundValue::MinValue, 10),
                );
            },
            "is not partitioned",
        ),
        (
            "a partition column dropped",
            |m| {
                events(m);
                m.drop_column("events", "created_on");
            },
            "still used by the table's partitioning",
        ),
        (
            "bounds of another kind than the column",
            |m| {
                events(m);
                m.create_partition("events", "events_n", PartitionBound::range(1, 2));
            },
            "does not fit column `created_on` of type date",
        ),
        (
            "a value after MINVALUE",
            |m| {
                m.create_table("readings", |t| {
                    t.integer("sensor").not_null();
                    t.integer("at").not_null();
                    t.partition_by_range(["sensor", "at"]);
                });
                m.create_partition(
                    "readings",
                    "readings_low",
                    PartitionBound::Range {
                        from: vec![BoundValue::MinValue, BoundValue::from(5)],
                        to: vec![BoundValue::from(10), BoundValue::from(0)],
                    },
                );
            },
            "every value after MINVALUE must be MINVALUE too",
        ),
        (
            "an unknown partition dropped",
            |m| {
                events(m);
                m.drop_partition("events", "events_2030_01");
            },
            "has no partition named `events_2030_01`",
        ),
        (
            "a table with keys of its own attached",
            |m| {
                events(m);
                m.create_table("events_2026_03", |t| {
                    t.bigint("id").not_null();
                    t.date("created_on").not_null();
                    t.primary_key(["id", "created_on"]);
                });
                m.attach_partition(
                    "events",
                    "events_2026_03",
                    PartitionBound::range("2026-03-01", "2026-04-01"),
                );
            },
            "has a primary key of its own",
        ),
        (
            "a table of other columns attached",
            |m| {
                events(m);
                m.create_table("events_2026_03", |t| {
                    t.bigint("id").not_null();
                });
                m.attach_partition(
                    "events",
                    "events_2026_03",
                    PartitionBound::range("2026-03-01", "2026-04-01"),
                );
            },
            "does not have the columns of `events`",
        ),
    ];
    for (name, ops, expected) in table.iter().chain(KEPT_COPY_CASES) {
        let mut schema = blog_schema();
        let ops = Migration::record(Dialect::Postgres, *ops);
        let (last, init) = ops.split_last().expect("at least one op");
        for op in init {
            schema
                .apply(op)
                .unwrap_or_else(|e| panic!("{name}: setup op failed: {e}"));
        }
        let before = schema.clone();
        let err = schema
            .apply(last)
            .expect_err(&format!("{name}: {last} should be refused"));
        assert!(
            err.to_string().contains(expected),
            "{name}: unexpected error: {err}"
        );
        assert_eq!(schema, before, "{name}: a refused op changed the schema");
    }
}

#[test]
fn partitions_detach_to_a_bare_table_and_attach_back() {
    use godwit::op::PartitionBound;
    let mut schema = blog_schema();
    for op in Migration::record(Dialect::Postgres, events) {
        schema.apply(&op).expect("events is valid");
    }
    let start = schema.clone();
    let ops = Migration::record(Dialect::Postgres, |m| {
        m.detach_partition("events", "events_2026_01");
    });
    let Inverse::Ops(undo) = schema.apply(&ops[0]).expect("detach") else {
        panic!("detach is reversible")
    };
    let detached = schema.table("events_2026_01").expect("a table now");
    assert!(detached.primary_key.is_none() && detached.indexes.is_empty());
    assert_eq!(detached.columns.len(), 2);
    let partitions = &schema
        .table("events")
        .unwrap()
        .partitioning
        .as_ref()
        .unwrap()
        .partitions;
    assert_eq!(partitions.len(), 1);
    for op in &undo {
        schema.apply(op).expect("attach back");
    }
    assert_eq!(schema, start);
    // What was detached can be attached elsewhere in the range, and not over another.
    schema.apply(&ops[0]).unwrap();
    let over = Migration::record(Dialect::Postgres, |m| {
        m.attach_partition(
            "events",
            "events_2026_01",
            PartitionBound::range("2026-02-15", "2026-03-15"),
        );
    });
    let err = schema.apply(&over[0]).unwrap_err().to_string();
    assert!(err.contains("overlaps partition `events_2026_02`"), "{err}");
}

#[test]
fn mysql_refuses_what_its_partitions_cannot_do_before_any_sql() {
    use godwit::op::PartitionBound;
    use godwit::runner::ModelError;
    use godwit::testing::plan_op;
    let cases: &[TextCase] = &[
        (
            "a foreign key on a partitioned table",
            |m| {
                m.create_table("events", |t| {
                    t.bigint("id").not_null();
                    t.bigint("user_id").references("users", "id");
                    t.partition_by_hash(["id"]);
                    t.partition("events_0", PartitionBound::hash(1, 0));
                });
            },
            "MySQL's partitioned tables have no foreign keys",
        ),
        (
            "a foreign key into a partitioned table",
            |m| {
                events(m);
                m.create_table("event_notes", |t| {
                    t.bigint("event_id").not_null();
                    t.date("event_on").not_null();
                    t.foreign_key(
                        "fk_notes_event",
                        ["event_id", "event_on"],
                        "events",
                        ["id", "created_on"],
                    );
                });
            },
            "from or into `events`, which is partitioned",
        ),
        (
            "a gap between ranges",
            |m| {
                m.create_table("events", |t| {
                    t.date("created_on").not_null();
                    t.partition_by_range(["created_on"]);
                    t.partition(
                        "events_01",
                        PartitionBound::range("2026-01-01", "2026-02-01"),
                    );
                    t.partition(
                        "events_03",
                        PartitionBound::range("2026-03-01", "2026-04-01"),
                    );
                });
            },
            "without gaps",
        ),
        (
            "a range partition dropped from the middle",
            |m| {
                events(m);
                m.create_partition(
                    "events",
                    "events_2026_03",
                    PartitionBound::range("2026-03-01", "2026-04-01"),
                );
                m.drop_partition("events", "events_2026_02");
            },
            "the next one would take its range",
        ),
        (
            "a timestamp with time zone as the partition column",
            |m| {
                m.create_table("events", |t| {
                    t.timestamp_tz("at").not_null();
                    t.partition_by_range(["at"]);
                    t.partition(
                        "events_01",
                        PartitionBound::range("2026-01-01", "2026-02-01"),
                    );
                });
            },
            "cannot partition a table on MySQL",
        ),
        (
            "a partitioned table without partitions",
            |m| {
                m.create_table("events", |t| {
                    t.date("created_on").not_null();
                    t.partition_by_range(["created_on"]);
                });
            },
            "MySQL creates a partitioned table with its partitions",
        ),
    ];
    for (name, ops, expected) in cases {
        let mut schema = blog_schema();
        let ops = Migration::record(Dialect::Mysql, *ops);
        let refusal = ops
            .iter()
            .find_map(|op| match plan_op(op, &mut schema, Dialect::Mysql) {
                Ok(_) => None,
                Err(ModelError::Render(e)) => Some(e.to_string()),
                Err(e) => panic!("{name}: not a MySQL refusal: {e}"),
            });
        let refusal = refusal.unwrap_or_else(|| panic!("{name}: MySQL should refuse it"));
        assert!(refusal.contains(expected), "{name}: {refusal}");
    }
    // SQLite refuses partitions by name.
    let mut schema = blog_schema();
    let refusal = Migration::record(Dialect::Sqlite, events)
        .iter()
        .find_map(|op| plan_op(op, &mut schema, Dialect::Sqlite).err())
        .expect("SQLite refuses partitioning")
        .to_string();
    assert!(
        refusal.contains("SQLite has no table partitioning"),
        "{refusal}"
    );
}
