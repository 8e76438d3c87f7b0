//! Shared-schema tenancy: every tenant's rows in the same tables, told apart by a `tenant_id`
//! column, with a composite index that leads with it and unique keys per tenant. Ordinary ops;
//! the fan-out of `up --tenants` is for a schema or a database per tenant instead.
//!
//! `cargo run -p godwit-example-blog --example shared_tenancy` applies them to an in-memory
//! SQLite database, shows that the same order number may repeat across tenants but not within
//! one, and prints the PostgreSQL SQL.

use godwit::prelude::*;
use godwit::registry::{Location, MigrationEntry, Registry};

fn create_tenants(m: &mut Migration) {
    m.create_table("tenants", |t| {
        t.id("id");
        t.string("slug", 60).not_null().unique();
    });
}

fn create_orders(m: &mut Migration) {
    m.create_table("orders", |t| {
        t.id("id");
        t.bigint("tenant_id")
            .not_null()
            .references("tenants", "id")
            .on_delete(Cascade);
        t.integer("number").not_null();
        t.timestamp_tz("created_at").not_null().default_now();
        // Every query filters by tenant first: the index leads with it.
        t.index("ix_orders_tenant_created", ["tenant_id", "created_at"]);
        // Order numbers are unique within a tenant, not across tenants.
        t.unique("uq_orders_tenant_number", ["tenant_id", "number"]);
    });
}

fn registry() -> Registry {
    let here = |line| Location::new(module_path!(), file!(), line);
    Registry::from_entries([
        MigrationEntry::new("create_tenants", &[], create_tenants, here(line!())),
        MigrationEntry::new(
            "create_orders",
            &["create_tenants"],
            create_orders,
            here(line!()),
        ),
    ])
    .expect("distinct ids")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut migrator =
        godwit::Migrator::connect_with_registry("sqlite::memory:", registry()).await?;
    migrator.up().await?;
    let db = migrator.connection();
    db.execute("INSERT INTO tenants (id, slug) VALUES (1, 'acme'), (2, 'globex')")
        .await?;
    db.execute("INSERT INTO orders (tenant_id, number) VALUES (1, 1), (1, 2), (2, 1)")
        .await?;
    let twice = db
        .execute("INSERT INTO orders (tenant_id, number) VALUES (1, 1)")
        .await;
    assert!(twice.is_err(), "a tenant's order number is unique");
    println!("order 1 exists for both tenants; a second order 1 of acme is refused");
    let plan = godwit::runner::offline_plan(
        &registry(),
        Dialect::Postgres,
        godwit::graph::Direction::Up,
        &[godwit::Target::Heads],
    )?;
    for migration in plan {
        println!("\n-- {}\n{}", migration.id, migration.sql);
    }
    Ok(())
}
