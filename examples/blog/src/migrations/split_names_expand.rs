use godwit::prelude::*;

/// Expand: new nullable columns beside `name`; code deployed now writes both.
#[migration(after = [super::create_users::create_users])]
pub fn split_names_expand(m: &mut Migration) {
    m.add_column("users", "first_name", ColumnType::String(100));
    m.add_column("users", "last_name", ColumnType::String(100));
}
