//! Every op case on real PostgreSQL, MariaDB/MySQL and SQLite: the SQL runs, the introspected
//! schema equals the schema model after the op and after its inverse, and rows survive.

use godwit::Dialect;
use godwit_tests::{cases, matrix};

macro_rules! matrix {
    ($($case:ident),* $(,)?) => {
        mod postgres { $(#[tokio::test] async fn $case() { super::run(godwit::Dialect::Postgres, stringify!($case)).await })* }
        mod mysql { $(#[tokio::test] async fn $case() { super::run(godwit::Dialect::Mysql, stringify!($case)).await })* }
        mod sqlite { $(#[tokio::test] async fn $case() { super::run(godwit::Dialect::Sqlite, stringify!($case)).await })* }

        #[test]
        fn every_case_is_in_the_matrix() {
            let listed = [$(stringify!($case)),*];
            for case in cases::all() {
                assert!(listed.contains(&case.name), "add `{}` to the matrix! list", case.name);
            }
        }
    };
}

async fn run(dialect: Dialect, name: &str) {
    let case = cases::all()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case named {name}"));
    matrix::run_case(dialect, &case).await;
}

matrix!(
    create_table_partitioned_by_month,
    create_table_partitioned_by_list,
    create_table_partitioned_by_hash,
    create_table_partitioned_with_open_ends,
    create_and_drop_partitions,
    partition_an_existing_table,
    attach_a_loaded_table_as_partition,
    detach_a_partition,
    detach_a_partition_concurrently,
    analyze_and_vacuum,
    reindex_a_table_and_an_index,
    reindex_concurrently,
    explain_a_query,
    create_table_every_type,
    create_table_composite_keys,
    drop_table,
    rename_table_referenced_by_foreign_key,
    add_column_nullable,
    add_column_not_null_with_default,
    add_column_default_now,
    add_column_enum,
    add_column_with_foreign_key,
    add_column_with_foreign_key_of_another_type,
    create_table_with_foreign_key_of_another_type,
    set_type_of_a_foreign_key_column,
    add_column_unique,
    drop_column_plain,
    drop_column_indexed_and_checked,
    drop_column_with_foreign_key,
    drop_column_enum,
    rename_column_indexed_and_checked,
    rename_column_referenced_by_foreign_key,
    set_column_type_widen,
    set_column_type_string_length,
    set_column_type_using,
    set_not_null,
    drop_not_null,
    set_default_literal,
    change_default,
    drop_default,
    create_index,
    create_unique_multi_column_index,
    create_partial_index,
    create_index_concurrently,
    create_index_on_text,
    drop_index,
    drop_index_concurrently,
    add_primary_key,
    drop_primary_key,
    add_unique,
    drop_unique,
    add_check,
    drop_check,
    add_foreign_key,
    drop_foreign_key,
    create_enum,
    add_enum_value_used_by_a_column,
    drop_enum,
    raw_sql_with_variants_and_reverse,
    backfill_in_batches_with_reverse,
    sync_trigger,
    sync_trigger_dropped,
    hostile_names,
);
