//! Duplicate ids are a runtime error of `Registry::collect`, naming every source location,
//! before anything touches a database. Within one module rustc already rejects two functions
//! with the same name; across modules and crates only the registry can see the clash.

use godwit_fixture_shop as _;

use godwit::prelude::*;
use godwit::registry::{Registry, RegistryError};

mod billing {
    use godwit::prelude::*;

    #[migration]
    pub fn init(m: &mut Migration) {
        m.sql("CREATE TABLE invoices (id INTEGER)");
    }
}

mod shipping {
    use godwit::prelude::*;

    #[migration]
    pub fn init(m: &mut Migration) {
        m.sql("CREATE TABLE parcels (id INTEGER)");
    }
}

/// Clashes with `create_customers` in the fixture crate.
#[migration(id = "create_customers")]
fn customers_again(m: &mut Migration) {
    m.sql("CREATE TABLE customers (id INTEGER)");
}

#[test]
fn duplicate_ids_name_both_locations() {
    let Err(RegistryError::DuplicateIds(duplicates)) = Registry::collect() else {
        panic!("duplicates must be rejected");
    };
    let ids: Vec<&str> = duplicates.iter().map(|d| d.id).collect();
    assert_eq!(ids, ["create_customers", "init"]);

    let customers = &duplicates[0];
    let mut modules: Vec<&str> = customers
        .locations
        .iter()
        .map(|l| l.module_path())
        .collect();
    modules.sort();
    assert_eq!(modules, ["godwit_fixture_shop", "registry_duplicates"]);

    let init = &duplicates[1];
    let lines: Vec<(&str, u32)> = init
        .locations
        .iter()
        .map(|l| (l.file(), l.line()))
        .collect();
    assert_eq!(lines, [(file!(), 13), (file!(), 22)]);
    assert_eq!(
        init.to_string(),
        format!(
            "migration id `init` is registered 2 times: at {file}:13 (registry_duplicates::billing) \
             and at {file}:22 (registry_duplicates::shipping); ids default to the function name: \
             give all but one an explicit `#[migration(id = \"...\")]`",
            file = file!()
        )
    );
    let message = RegistryError::DuplicateIds(duplicates.clone()).to_string();
    assert_eq!(message.lines().count(), 2, "{message}");
    assert!(
        message.contains("fixtures/shop/src/lib.rs:9 (godwit_fixture_shop)"),
        "{message}"
    );
}
