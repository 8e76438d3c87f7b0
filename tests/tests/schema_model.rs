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
