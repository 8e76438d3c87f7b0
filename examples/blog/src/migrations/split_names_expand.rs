use godwit::prelude::*;

/// Expand: the new columns beside `name`, and a sync trigger that keeps both shapes in step
/// while old code (writing `name`) and new code (writing the parts) run side by side. `name`
/// becomes nullable, so that new code need not write it.
#[migration(after = [super::create_users::create_users])]
pub fn split_names_expand(m: &mut Migration) {
    let (first, last) = split_at_last_space(m.dialect());
    m.add_column("users", "first_name", ColumnType::String(100));
    m.add_column("users", "last_name", ColumnType::String(100));
    m.create_sync_trigger("users", "sync_users_name")
        .forward("first_name", first)
        .forward("last_name", last)
        .backward("name", "TRIM(first_name || ' ' || last_name)")
        .backward_on(
            Dialect::Mysql,
            "name",
            "TRIM(CONCAT(first_name, ' ', last_name))",
        );
    m.drop_not_null("users", "name");
}

/// SQL that splits `name` at its last space: `("Grace Brewster", "Hopper")`, or `(name, "")`
/// without a space. `rtrim(name, <its non-space characters>)` keeps `name` up to its last space.
pub fn split_at_last_space(dialect: Dialect) -> (&'static str, &'static str) {
    match dialect {
        Dialect::Mysql => (
            "IF(LOCATE(' ', name) = 0, name, SUBSTRING(name, 1, CHAR_LENGTH(name) - \
             CHAR_LENGTH(SUBSTRING_INDEX(name, ' ', -1)) - 1))",
            "IF(LOCATE(' ', name) = 0, '', SUBSTRING_INDEX(name, ' ', -1))",
        ),
        Dialect::Postgres | Dialect::Sqlite => (
            "CASE WHEN name NOT LIKE '% %' THEN name \
             ELSE rtrim(rtrim(name, replace(name, ' ', '')), ' ') END",
            "CASE WHEN name NOT LIKE '% %' THEN '' \
             ELSE substr(name, length(rtrim(name, replace(name, ' ', ''))) + 1) END",
        ),
    }
}
