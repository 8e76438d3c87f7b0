//! A binary that names its migrations crate sees that crate's migrations, with their source
//! locations, their `id` overrides, and their dependencies across crates.

// This line is what links the crate: without it its migrations vanish (see
// `registry_unlinked.rs`).
use godwit_fixture_shop as _;

use godwit::Dialect;
use godwit::graph::Target;
use godwit::prelude::*;
use godwit::registry::Registry;

/// A migration in this crate that depends on one in the fixture crate.
#[migration(after = [godwit_fixture_shop::create_orders, godwit_fixture_shop::catalog::create_products])]
fn ship_orders(m: &mut Migration) {
    m.sql("ALTER TABLE orders ADD COLUMN shipped_at TIMESTAMP");
}

#[test]
fn the_registry_holds_every_linked_migration_sorted_by_id() {
    let registry = Registry::collect().expect("ids are unique");
    let ids: Vec<&str> = registry.entries().iter().map(|e| e.id()).collect();
    assert_eq!(
        ids,
        [
            "create_customers",
            "create_products",
            "index_products",
            "ship_orders",
            "shop_orders"
        ]
    );
}

#[test]
fn entries_record_ids_dependencies_and_locations() {
    let registry = Registry::collect().unwrap();
    let orders = registry
        .get("shop_orders")
        .expect("the `id` override is the id");
    assert!(registry.get("create_orders").is_none());
    assert_eq!(orders.after(), ["create_customers"]);
    assert_eq!(orders.location().module_path(), "godwit_fixture_shop");
    assert!(
        orders
            .location()
            .file()
            .ends_with("fixtures/shop/src/lib.rs")
    );
    let index = registry.get("index_products").unwrap();
    assert_eq!(
        index.location().module_path(),
        "godwit_fixture_shop::catalog"
    );

    // The dependency's `id` override crosses the crate boundary.
    let ship = registry.get("ship_orders").unwrap();
    assert_eq!(ship.after(), ["shop_orders", "create_products"]);
    assert_eq!(ship.location().file(), file!());
    assert_eq!(ship.location().module_path(), module_path!());
    assert_eq!(ship.record_up(Dialect::Postgres).ops().len(), 1);
}

#[test]
fn the_graph_and_plans_come_from_the_registry() {
    let registry = Registry::collect().unwrap();
    let graph = registry.graph().unwrap();
    assert_eq!(graph.bases(), ["create_customers"]);
    assert_eq!(graph.heads(), ["index_products", "ship_orders"]);
    let plan = graph
        .upgrade_plan(std::iter::empty::<&str>(), &[Target::Heads])
        .unwrap();
    assert_eq!(
        plan.ids(),
        [
            "create_customers",
            "create_products",
            "index_products",
            "shop_orders",
            "ship_orders"
        ]
    );
    // Every planned id has its entry.
    for id in &plan {
        assert_eq!(registry.get(id).unwrap().id(), id);
    }
    let plan = graph
        .downgrade_plan(
            plan.ids().iter().copied(),
            &["index_products".parse().unwrap()],
        )
        .unwrap();
    assert_eq!(plan.ids(), ["ship_orders", "shop_orders"]);
}
