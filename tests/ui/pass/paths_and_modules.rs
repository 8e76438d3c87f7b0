//! Dependencies written as every kind of path, and migrations in modules.
use godwit::prelude::*;
use godwit::registry::Registry;

#[migration]
pub(crate) fn r#type(m: &mut Migration) {
    m.sql("CREATE TYPE mood AS ENUM ('ok')");
}

mod accounts {
    use godwit::prelude::*;

    #[migration(after = [crate::r#type])]
    pub fn create_users(m: &mut Migration) {
        m.sql("CREATE TABLE users (id INTEGER)");
    }

    pub mod profiles {
        use godwit::prelude::*;

        #[migration(after = [super::create_users])]
        pub(in crate::accounts) fn create_profiles(m: &mut Migration) {
            m.sql("CREATE TABLE profiles (id INTEGER)");
        }
    }

    #[migration(after = [self::profiles::create_profiles, ::godwit_fixture_shop::create_customers])]
    pub fn link_profiles(m: &mut Migration) {
        m.sql("ALTER TABLE profiles ADD COLUMN customer_id INTEGER");
    }
}

use accounts::create_users as users;

// A merge point over a renamed import and a nested path.
#[migration(after = [users, accounts::link_profiles])]
fn merge_accounts(m: &mut Migration) {
    m.sql("SELECT 1");
}

fn main() {
    let registry = Registry::collect().unwrap();
    let graph = registry.graph().unwrap();
    let get = |id: &str| registry.get(id).unwrap();
    assert_eq!(get("create_users").after(), ["type"]);
    assert_eq!(get("create_profiles").after(), ["create_users"]);
    assert_eq!(get("link_profiles").after(), ["create_profiles", "create_customers"]);
    assert_eq!(get("merge_accounts").after(), ["create_users", "link_profiles"]);
    assert!(get("create_profiles").location().module_path().ends_with("::accounts::profiles"));
    // `create_customers` is in the fixture crate: naming it linked that crate.
    assert!(registry.get("create_customers").is_some());
    assert_eq!(
        graph
            .upgrade_plan(std::iter::empty::<&str>(), &["merge_accounts".parse().unwrap()])
            .unwrap()
            .ids(),
        ["create_customers", "type", "create_users", "create_profiles", "link_profiles", "merge_accounts"]
    );
}
