//! The linking pitfall, pinned down: `godwit-fixture-shop` is a dependency of this package (see
//! `tests/Cargo.toml`), but this binary never names it, so it is not linked and its migrations
//! are not in the registry. `registry_linked.rs` is the same setup with `use
//! godwit_fixture_shop as _;`, and sees them.

use godwit::prelude::*;
use godwit::registry::Registry;

#[migration]
fn local_only(m: &mut Migration) {
    m.sql("SELECT 1");
}

#[test]
fn a_dependency_that_is_never_named_contributes_no_migrations() {
    let registry = Registry::collect().unwrap();
    let ids: Vec<&str> = registry.entries().iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["local_only"]);
    assert!(registry.get("create_customers").is_none());
}
