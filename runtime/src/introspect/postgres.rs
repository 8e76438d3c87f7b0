//! PostgreSQL: `pg_catalog`, restricted to the current schema.

use super::{
    Catalog, CatalogColumn, CatalogForeignKey, CatalogIndex, CatalogPartitioning,
    canonical_bound_values, canonical_hash, canonical_list, canonical_range, normalize_action,
    normalize_default,
};
use crate::db::{Connection, DbError};
use crate::op::ColumnType;

const COLUMNS: &str = "
SELECT c.relname::text, a.attname::text,
       CASE WHEN t.typtype = 'e' THEN t.typname::text ELSE format_type(a.atttypid, a.atttypmod) END,
       a.attnotnull::text, pg_get_expr(d.adbin, d.adrelid), (a.attidentity <> '')::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum";

/// Partitioned tables: the method (`r`, `l`, `h`) and the partition columns in order.
const PARTITIONED: &str = "
SELECT c.relname::text, pt.partstrat::text,
       (SELECT string_agg(a.attname, chr(31) ORDER BY k.i)
          FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY k(n, i)
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n)
FROM pg_partitioned_table pt
JOIN pg_class c ON c.oid = pt.partrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()";

/// Partitions (each a table) with their parent and bound (`FOR VALUES FROM (…) TO (…)`).
const PARTITIONS: &str = "
SELECT p.relname::text, c.relname::text, pg_get_expr(c.relpartbound, c.oid)
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
WHERE c.relispartition";

/// Constraints with their columns in key order (as a text array) and referenced columns.
const CONSTRAINTS: &str = "
SELECT c.relname::text, k.conname::text, k.contype::text,
       (SELECT string_agg(a.attname, chr(31) ORDER BY x.i)
          FROM unnest(k.conkey) WITH ORDINALITY x(n, i)
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.n),
       r.relname::text,
       (SELECT string_agg(a.attname, chr(31) ORDER BY x.i)
          FROM unnest(k.confkey) WITH ORDINALITY x(n, i)
          JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.n),
       k.confdeltype::text, k.confupdtype::text
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
LEFT JOIN pg_class r ON r.oid = k.confrelid
WHERE k.contype IN ('p', 'u', 'c', 'f')
ORDER BY c.relname, k.conname";

/// Indexes that no constraint owns.
const TRIGGERS: &str = "
SELECT c.relname::text, t.tgname::text
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND NOT t.tgisinternal";

const INDEXES: &str = "
SELECT t.relname::text, i.relname::text, x.indisunique::text, (x.indpred IS NOT NULL)::text,
       (SELECT string_agg(a.attname, chr(31) ORDER BY k.i)
          FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(n, i)
          JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid
                  AND k.contype IN ('p', 'u', 'x'))
ORDER BY t.relname, i.relname";

const ENUMS: &str = "
SELECT t.typname::text, string_agg(e.enumlabel, chr(31) ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = current_schema()
JOIN pg_enum e ON e.enumtypid = t.oid
GROUP BY t.typname";

pub(super) async fn introspect(conn: &mut Connection) -> Result<Catalog, DbError> {
    let mut catalog = Catalog::default();
    for row in conn.fetch_text(COLUMNS).await? {
        let [table, name, ty, not_null, default, identity] = take(row);
        let column_type = if ty.starts_with("timestamp") || ty.starts_with("time ") {
            ColumnType::Timestamp
        } else if ty == "boolean" {
            ColumnType::Boolean
        } else if ["smallint", "integer", "bigint"].contains(&ty.as_str()) {
            ColumnType::Integer
        } else {
            ColumnType::Text
        };
        catalog
            .tables
            .entry(table)
            .or_default()
            .columns
            .push(CatalogColumn {
                name,
                default: (!default.is_empty()).then(|| normalize_default(&default, &column_type)),
                ty,
                nullable: not_null != "true",
                auto_increment: identity == "true",
            });
    }
    for row in conn.fetch_text(CONSTRAINTS).await? {
        let [
            table,
            name,
            kind,
            columns,
            ref_table,
            ref_columns,
            on_delete,
            on_update,
        ] = take(row);
        let Some(t) = catalog.tables.get_mut(&table) else {
            continue;
        };
        let columns = split(&columns);
        match kind.as_str() {
            "p" => t.primary_key = Some((Some(name), columns)),
            "u" => {
                t.uniques.insert((Some(name), columns));
            }
            "c" => {
                t.checks.insert(name);
            }
            _ => {
                t.foreign_keys.insert(CatalogForeignKey {
                    name: Some(name),
                    columns,
                    ref_table,
                    ref_columns: split(&ref_columns),
                    on_delete: normalize_action(&on_delete),
                    on_update: normalize_action(&on_update),
                });
            }
        }
    }
    for row in conn.fetch_text(INDEXES).await? {
        let [table, name, unique, partial, columns] = take(row);
        if let Some(t) = catalog.tables.get_mut(&table) {
            t.indexes.insert(CatalogIndex {
                name,
                columns: split(&columns),
                unique: unique == "true",
                partial: partial == "true",
            });
        }
    }
    for row in conn.fetch_text(TRIGGERS).await? {
        let [table, name] = take(row);
        if let Some(t) = catalog.tables.get_mut(&table) {
            t.triggers.insert(name);
        }
    }
    for row in conn.fetch_text(PARTITIONED).await? {
        let [table, method, columns] = take(row);
        if let Some(t) = catalog.tables.get_mut(&table) {
            t.partitioning = Some(CatalogPartitioning {
                method: match method.as_str() {
                    "r" => "RANGE",
                    "l" => "LIST",
                    _ => "HASH",
                }
                .into(),
                columns: split(&columns),
                partitions: Default::default(),
            });
        }
    }
    for row in conn.fetch_text(PARTITIONS).await? {
        let [parent, name, bound] = take(row);
        if let Some(p) = catalog
            .tables
            .get_mut(&parent)
            .and_then(|t| t.partitioning.as_mut())
        {
            p.partitions.insert(name, canonical_postgres_bound(&bound));
        }
    }
    for row in conn.fetch_text(ENUMS).await? {
        let [name, values] = take(row);
        catalog.enums.insert(name, split(&values));
    }
    Ok(catalog)
}

/// `FOR VALUES FROM (…) TO (…)`, `FOR VALUES IN (…)`, `FOR VALUES WITH (modulus m, remainder
/// r)` or `DEFAULT`, in the canonical text of the expected catalog.
fn canonical_postgres_bound(bound: &str) -> String {
    let inner = |s: &str| {
        let s = s.trim();
        s.strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(s)
            .to_owned()
    };
    let Some(rest) = bound.trim().strip_prefix("FOR VALUES ") else {
        return bound.trim().to_owned();
    };
    if let Some(range) = rest.strip_prefix("FROM ")
        && let Some(at) = range.find(") TO (")
    {
        let (from, to) = (&range[..=at], &range[at + 5..]);
        return canonical_range(
            &canonical_bound_values(&inner(from), false),
            &canonical_bound_values(&inner(to), false),
        );
    }
    if let Some(list) = rest.strip_prefix("IN ") {
        return canonical_list(canonical_bound_values(&inner(list), false));
    }
    if let Some(hash) = rest.strip_prefix("WITH ") {
        let numbers: Vec<String> = inner(hash)
            .split(',')
            .filter_map(|part| part.split_whitespace().nth(1).map(str::to_owned))
            .collect();
        if let [modulus, remainder] = numbers.as_slice() {
            return canonical_hash(modulus, remainder);
        }
    }
    bound.trim().to_owned()
}

/// A row's columns as strings, `NULL` as empty.
pub(super) fn take<const N: usize>(row: Vec<Option<String>>) -> [String; N] {
    let mut values = row.into_iter().map(Option::unwrap_or_default);
    std::array::from_fn(|_| values.next().unwrap_or_default())
}

/// Splits a `chr(31)`-separated aggregate.
pub(super) fn split(joined: &str) -> Vec<String> {
    if joined.is_empty() {
        Vec::new()
    } else {
        joined.split('\u{1f}').map(str::to_owned).collect()
    }
}
