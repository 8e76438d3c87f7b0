use godwit::prelude::*;

/// Users, with a status enum and a few rows to carry through every later change.
#[migration]
pub fn create_users(m: &mut Migration) {
    m.create_enum("user_status", ["active", "suspended"]);
    m.create_table("users", |t| {
        t.id("id");
        t.string("name", 200).not_null();
        t.string("email", 200).not_null().unique();
        t.enumeration("status", "user_status")
            .not_null()
            .default("active");
        t.timestamp_tz("created_at").not_null().default_now();
    });
    m.sql(
        "INSERT INTO users (name, email) VALUES \
         ('Ada Lovelace', 'ada@example.com'), \
         ('Alan Turing', 'alan@example.com'), \
         ('Grace Brewster Hopper', 'grace@example.com')",
    )
    .reverse("DELETE FROM users");
}
