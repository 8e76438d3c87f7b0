//! SQLite: `sqlite_schema` and the table pragmas.

use super::postgres::take;
use super::{Catalog, CatalogColumn, CatalogForeignKey, CatalogIndex, normalize_default};
use crate::db::{Connection, DbError};
use crate::op::ColumnType;

pub(super) async fn introspect(conn: &mut Connection) -> Result<Catalog, DbError> {
    let mut catalog = Catalog::default();
    let tables = conn
        .fetch_text(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )
        .await?;
    for row in tables {
        let [name, create_sql] = take(row);
        let t = catalog.tables.entry(name.clone()).or_default();
        let quoted = quote(&name);
        let mut pk: Vec<(i64, String)> = Vec::new();
        for row in conn
            .fetch_text(&format!(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info({quoted})"
            ))
            .await?
        {
            let [column, ty, not_null, default, pk_position] = take(row);
            let position: i64 = pk_position.parse().unwrap_or(0);
            if position > 0 {
                pk.push((position, column.clone()));
            }
            let column_type = match ty.as_str() {
                "BOOLEAN" => ColumnType::Boolean,
                "TIMESTAMP" | "TIMESTAMPTZ" => ColumnType::Timestamp,
                _ => ColumnType::Text,
            };
            t.columns.push(CatalogColumn {
                name: column,
                default: (!default.is_empty()).then(|| normalize_default(&default, &column_type)),
                ty,
                nullable: not_null == "0",
                auto_increment: false,
            });
        }
        pk.sort();
        if !pk.is_empty() {
            let columns: Vec<String> = pk.into_iter().map(|(_, c)| c).collect();
            // Only an INTEGER PRIMARY KEY column can be AUTOINCREMENT.
            if columns.len() == 1 && create_sql.to_ascii_uppercase().contains("AUTOINCREMENT") {
                for c in t.columns.iter_mut().filter(|c| c.name == columns[0]) {
                    c.auto_increment = true;
                }
            }
            t.primary_key = Some((None, columns));
        }
        t.checks = check_names(&create_sql);
        for row in conn
            .fetch_text(&format!(
                "SELECT name, \"unique\", origin, partial FROM pragma_index_list({quoted})"
            ))
            .await?
        {
            let [index, unique, origin, partial] = take(row);
            let columns: Vec<String> = conn
                .fetch_text(&format!(
                    "SELECT name FROM pragma_index_info({}) ORDER BY seqno",
                    quote(&index)
                ))
                .await?
                .into_iter()
                .map(|r| take::<1>(r)[0].clone())
                .collect();
            match origin.as_str() {
                "u" => {
                    t.uniques.insert((None, columns));
                }
                "c" => {
                    t.indexes.insert(CatalogIndex {
                        name: index,
                        columns,
                        unique: unique == "1",
                        partial: partial == "1",
                    });
                }
                _ => {}
            }
        }
        let mut foreign_keys: std::collections::BTreeMap<i64, CatalogForeignKey> =
            Default::default();
        for row in conn
            .fetch_text(&format!(
                "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list({quoted}) ORDER BY id, seq"
            ))
            .await?
        {
            let [id, ref_table, from, to, on_update, on_delete] = take(row);
            let fk = foreign_keys
                .entry(id.parse().unwrap_or(0))
                .or_insert_with(|| CatalogForeignKey {
                    name: None,
                    columns: Vec::new(),
                    ref_table,
                    ref_columns: Vec::new(),
                    on_delete,
                    on_update,
                });
            fk.columns.push(from);
            fk.ref_columns.push(to);
        }
        t.foreign_keys = foreign_keys.into_values().collect();
    }
    for row in conn
        .fetch_text("SELECT tbl_name, name FROM sqlite_schema WHERE type = 'trigger'")
        .await?
    {
        let [table, name] = take(row);
        if let Some(t) = catalog.tables.get_mut(&table) {
            t.triggers.insert(name);
        }
    }
    Ok(catalog)
}

/// A SQL string literal, for pragma table-valued function arguments.
fn quote(name: &str) -> String {
    format!("'{}'", name.replace('\'', "''"))
}

/// The names of `CONSTRAINT "name" CHECK` clauses in a `CREATE TABLE` statement (godwit always
/// quotes constraint names with `"`).
fn check_names(create_sql: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = create_sql;
    while let Some(at) = rest.find("CONSTRAINT \"") {
        let after = &rest[at + "CONSTRAINT \"".len()..];
        let mut name = String::new();
        let mut chars = after.char_indices().peekable();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if matches!(chars.peek(), Some((_, '"'))) {
                    name.push('"');
                    chars.next();
                    continue;
                }
                end = i + 1;
                break;
            }
            name.push(c);
        }
        rest = &after[end..];
        if rest.trim_start().starts_with("CHECK") {
            names.insert(name);
        }
    }
    names
}
