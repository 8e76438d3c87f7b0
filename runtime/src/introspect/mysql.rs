//! MySQL and MariaDB: `information_schema`, restricted to the current database.

use super::postgres::{split, take};
use super::{
    Catalog, CatalogColumn, CatalogForeignKey, CatalogIndex, CatalogPartitioning,
    canonical_bound_values, canonical_hash, canonical_list, canonical_range, normalize_default,
    normalize_mysql_type,
};
use crate::db::{Connection, DbError};
use crate::op::ColumnType;

const COLUMNS: &str = "
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION";

const INDEXES: &str = "
SELECT TABLE_NAME, INDEX_NAME, CAST(NON_UNIQUE AS CHAR),
       GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR 0x1f)
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE()
GROUP BY TABLE_NAME, INDEX_NAME, NON_UNIQUE";

const FOREIGN_KEYS: &str = "
SELECT r.TABLE_NAME, r.CONSTRAINT_NAME, r.REFERENCED_TABLE_NAME, r.DELETE_RULE, r.UPDATE_RULE,
       GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION SEPARATOR 0x1f),
       GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION SEPARATOR 0x1f)
FROM information_schema.REFERENTIAL_CONSTRAINTS r
JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME
 AND k.TABLE_NAME = r.TABLE_NAME
WHERE r.CONSTRAINT_SCHEMA = DATABASE()
GROUP BY r.TABLE_NAME, r.CONSTRAINT_NAME, r.REFERENCED_TABLE_NAME, r.DELETE_RULE, r.UPDATE_RULE";

/// Table-level checks. MariaDB also lists the `json_valid` check it adds to JSON columns, named
/// after the column; those are left out by the caller.
const TRIGGERS: &str = "
SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS
WHERE TRIGGER_SCHEMA = DATABASE()";

const CHECKS: &str = "
SELECT tc.TABLE_NAME, tc.CONSTRAINT_NAME, cc.CHECK_CLAUSE
FROM information_schema.TABLE_CONSTRAINTS tc
JOIN information_schema.CHECK_CONSTRAINTS cc
  ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
WHERE tc.CONSTRAINT_TYPE = 'CHECK' AND tc.TABLE_SCHEMA = DATABASE()";

/// Partitions in order, with the method (`RANGE COLUMNS`, `LIST COLUMNS`, `HASH`), the
/// partition columns (`` `a`,`b` ``) and the bound (`'2026-02-01'`, `MAXVALUE`, `'eu','us'`).
const PARTITIONS: &str = "
SELECT TABLE_NAME, PARTITION_NAME, PARTITION_METHOD, PARTITION_EXPRESSION, PARTITION_DESCRIPTION
FROM information_schema.PARTITIONS
WHERE TABLE_SCHEMA = DATABASE() AND PARTITION_NAME IS NOT NULL
ORDER BY TABLE_NAME, PARTITION_ORDINAL_POSITION";

pub(super) async fn introspect(conn: &mut Connection) -> Result<Catalog, DbError> {
    let mut catalog = Catalog::default();
    for row in conn.fetch_text(COLUMNS).await? {
        let nullable_default = row.get(4).cloned().flatten();
        let [table, name, ty, nullable, _, extra] = take(row);
        let ty = normalize_mysql_type(&ty);
        let default = read_default(nullable_default, &ty);
        catalog
            .tables
            .entry(table)
            .or_default()
            .columns
            .push(CatalogColumn {
                name,
                ty,
                nullable: nullable == "YES",
                default,
                auto_increment: extra.to_ascii_lowercase().contains("auto_increment"),
            });
    }
    let mut foreign_key_names = Vec::new();
    for row in conn.fetch_text(FOREIGN_KEYS).await? {
        let [
            table,
            name,
            ref_table,
            on_delete,
            on_update,
            columns,
            ref_columns,
        ] = take(row);
        foreign_key_names.push((table.clone(), name.clone()));
        if let Some(t) = catalog.tables.get_mut(&table) {
            t.foreign_keys.insert(CatalogForeignKey {
                name: Some(name),
                columns: split(&columns),
                ref_table,
                ref_columns: split(&ref_columns),
                on_delete,
                on_update,
            });
        }
    }
    for row in conn.fetch_text(INDEXES).await? {
        let [table, name, non_unique, columns] = take(row);
        let Some(t) = catalog.tables.get_mut(&table) else {
            continue;
        };
        let columns = split(&columns);
        if name == "PRIMARY" {
            t.primary_key = Some((None, columns));
        } else if non_unique == "1" && foreign_key_names.contains(&(table.clone(), name.clone())) {
            // The index MySQL creates for a foreign key that no other index covers.
        } else {
            t.indexes.insert(CatalogIndex {
                name,
                columns,
                unique: non_unique == "0",
                partial: false,
            });
        }
    }
    for row in conn.fetch_text(TRIGGERS).await? {
        let [table, name] = take(row);
        if let Some(t) = catalog.tables.get_mut(&table) {
            t.triggers.insert(name);
        }
    }
    for row in conn.fetch_text(CHECKS).await? {
        let [table, name, clause] = take(row);
        let Some(t) = catalog.tables.get_mut(&table) else {
            continue;
        };
        let is_json_check =
            clause.starts_with("json_valid(") && t.columns.iter().any(|c| c.name == name);
        if !is_json_check {
            t.checks.insert(name);
        }
    }
    // A range partition holds what is below its end and not in the one before.
    let mut range_start: Option<(String, Vec<String>)> = None;
    for row in conn.fetch_text(PARTITIONS).await? {
        let [table, name, method, expression, description] = take(row);
        let Some(t) = catalog.tables.get_mut(&table) else {
            continue;
        };
        let method = method.trim_end_matches(" COLUMNS").to_owned();
        let columns: Vec<String> = expression
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect();
        let p = t.partitioning.get_or_insert_with(|| CatalogPartitioning {
            method: method.clone(),
            columns: columns.clone(),
            partitions: Default::default(),
        });
        let bound = match method.as_str() {
            "RANGE" => {
                let to = canonical_bound_values(&description, true);
                let from = match range_start.take() {
                    Some((of, end)) if of == table => end,
                    _ => vec!["MINVALUE".to_owned(); to.len()],
                };
                let bound = canonical_range(&from, &to);
                range_start = Some((table.clone(), to));
                bound
            }
            // MariaDB reports a DEFAULT partition's description as MAXVALUE.
            "LIST" if description == "DEFAULT" || description == "MAXVALUE" => "DEFAULT".to_owned(),
            "LIST" => canonical_list(canonical_bound_values(&description, true)),
            _ => {
                let remainder = p.partitions.len();
                canonical_hash("?", remainder)
            }
        };
        p.partitions.insert(name, bound);
    }
    // A hash partition's modulus is their number.
    for p in catalog
        .tables
        .values_mut()
        .filter_map(|t| t.partitioning.as_mut())
        .filter(|p| p.method == "HASH")
    {
        let modulus = p.partitions.len();
        for bound in p.partitions.values_mut() {
            *bound = bound.replace("MODULUS ?", &format!("MODULUS {modulus}"));
        }
    }
    Ok(catalog)
}

/// The default of a column of native type `ty` as `information_schema` reports it, normalized.
fn read_default(reported: Option<String>, ty: &str) -> Option<String> {
    let column_type = column_type(ty);
    // MariaDB reports "no default" of a nullable column as the text NULL.
    reported
        .filter(|d| !d.eq_ignore_ascii_case("null"))
        .map(|d| normalize_default(&quote_bare_mariadb_literal(&d, &column_type), &column_type))
}

/// The type whose defaults a native type's are normalized as.
fn column_type(ty: &str) -> ColumnType {
    if ty == "tinyint(1)" {
        ColumnType::Boolean
    } else if ty.starts_with("datetime") || ty.starts_with("timestamp") {
        ColumnType::Timestamp
    } else if ty.starts_with("decimal") || ty == "float" || ty == "double" {
        ColumnType::Double
    } else {
        ColumnType::Text
    }
}

/// Whether introspection reads `column`'s default back as it is on every server: MySQL (unlike
/// MariaDB) reports a string default without quotes, so the text `NULL`, a number or a text
/// with a `(` would read back as something else.
pub(super) fn default_reads_back(column: &CatalogColumn) -> bool {
    match column.default.as_deref() {
        None | Some("(expression)") => true,
        Some(value) => read_default(Some(value.to_owned()), &column.ty).as_deref() == Some(value),
    }
}

/// MySQL (unlike MariaDB) reports string defaults without quotes; quote them so that
/// normalization treats them as literals.
fn quote_bare_mariadb_literal(raw: &str, ty: &ColumnType) -> String {
    let looks_quoted = raw.starts_with('\'');
    let is_number = raw.parse::<f64>().is_ok();
    let is_function = raw.contains('(');
    if looks_quoted || is_number || is_function || *ty == ColumnType::Boolean {
        raw.to_owned()
    } else {
        format!("'{}'", raw.replace('\'', "''"))
    }
}
