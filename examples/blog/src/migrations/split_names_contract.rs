use godwit::prelude::*;

/// Contract: the new columns become required and `name` goes. Its `down` rebuilds `name` from
/// the parts, which the schema model alone could not do (the values live in the rows).
#[migration(
    after = [super::split_names_backfill::split_names_backfill],
    down = split_names_contract_down
)]
pub fn split_names_contract(m: &mut Migration) {
    m.set_not_null("users", "first_name");
    m.set_not_null("users", "last_name");
    m.drop_column("users", "name");
}

pub fn split_names_contract_down(m: &mut Migration) {
    m.add_column("users", "name", ColumnType::String(200));
    m.sql("UPDATE users SET name = TRIM(first_name || ' ' || last_name)")
        .on(
            Dialect::Mysql,
            "UPDATE users SET name = TRIM(CONCAT(first_name, ' ', last_name))",
        );
    m.set_not_null("users", "name");
    m.drop_not_null("users", "first_name");
    m.drop_not_null("users", "last_name");
}
