//! Runs a [`Case`] on a live database: setup, rows, op, inverse; after each step the introspected
//! schema must equal the schema model's expectation, and the rows must survive.

use godwit::db::Connection;
use godwit::quote_identifier;
use godwit::runner::ModelError;
use godwit::testing::plan_op;
use godwit::testing::{Catalog, introspect};
use godwit::testing::{Inverse, Schema};
use godwit::{Dialect, Migration, Op};

use crate::cases::{Case, Data};
use crate::testdb::TestDb;

/// The rows of every table, keyed by table, as text.
type Rows = std::collections::BTreeMap<String, (Vec<String>, Vec<Vec<Option<String>>>)>;

pub async fn run_case(dialect: Dialect, case: &Case) {
    let Some(db) = TestDb::create(dialect).await else {
        return;
    };
    let mut conn = db.connect().await;
    let mut schema = Schema::new();
    let setup = Migration::record(dialect, case.setup);
    // A setup the dialect refuses (a partitioned table on SQLite) refuses the case too.
    let mut probe = Schema::new();
    for op in &setup {
        if let Err(ModelError::Render(e)) = plan_op(op, &mut probe, dialect) {
            assert!(
                case.refused_on.contains(&dialect),
                "case {}: the setup was refused on {dialect}: {e}",
                case.name
            );
            conn.close().await.ok();
            db.drop().await;
            return;
        }
    }
    for op in setup {
        apply(&mut conn, &mut schema, &op, "setup").await;
    }
    for row in case.rows {
        conn.execute(row).await.expect("insert the case's rows");
    }
    assert_matches_model(&mut conn, &schema, "after the setup").await;
    let start = schema.clone();
    let start_catalog = Catalog::expected(&start, dialect);
    let start_rows = rows(&mut conn, &schema).await;

    let ops = Migration::record(dialect, case.op);
    let mut probe = schema.clone();
    let refusal = ops
        .iter()
        .find_map(|op| match plan_op(op, &mut probe, dialect) {
            Ok(_) => None,
            Err(ModelError::Render(e)) => Some(e),
            Err(ModelError::Schema(e)) => panic!("case {}: the op is invalid: {e}", case.name),
        });
    let expect_refusal = case.refused_on.contains(&dialect);
    match refusal {
        Some(e) if expect_refusal => {
            // Refused before anything ran: the database is untouched.
            assert_matches_model(&mut conn, &start, "after the refusal").await;
            assert!(!e.fix.is_empty(), "a refusal says what to do instead: {e}");
        }
        Some(e) => panic!("case {} was refused on {dialect}: {e}", case.name),
        None if expect_refusal => panic!("case {} should be refused on {dialect}", case.name),
        None => {
            let mut inverses = Vec::new();
            for op in &ops {
                inverses.push(apply(&mut conn, &mut schema, op, "the op").await);
            }
            assert_matches_model(&mut conn, &schema, "after the op").await;
            let after_rows = rows(&mut conn, &schema).await;
            compare_rows(
                &start_rows,
                &after_rows,
                None,
                case.data == Data::Kept,
                "after the op",
            );

            for inverse in inverses.into_iter().rev() {
                match inverse {
                    Inverse::Ops(undo) => {
                        for op in &undo {
                            apply(&mut conn, &mut schema, op, "the inverse").await;
                        }
                    }
                    Inverse::Irreversible { reason } => {
                        panic!("case {} is irreversible: {reason}", case.name)
                    }
                }
            }
            assert_matches_model(&mut conn, &schema, "after the inverse").await;
            let live = introspect(&mut conn, &[]).await.expect("introspect");
            assert_eq!(
                without_column_order(&live),
                without_column_order(&start_catalog),
                "case {}: the inverse did not bring {dialect} back to the start",
                case.name
            );
            let end_rows = rows(&mut conn, &schema).await;
            compare_rows(
                &start_rows,
                &end_rows,
                Some(&after_rows),
                case.data != Data::Converted,
                "after the inverse",
            );
        }
    }
    conn.close().await.ok();
    db.drop().await;
}

async fn apply(conn: &mut Connection, schema: &mut Schema, op: &Op, step: &str) -> Inverse {
    let dialect = conn.dialect();
    let (rendered, inverse) = plan_op(op, schema, dialect)
        .unwrap_or_else(|e| panic!("{step}: {op} cannot be planned on {dialect}: {e}"));
    godwit::testing::run_rendered(conn, &rendered)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{step}: {op} failed on {dialect}: {e}\n{}",
                rendered.to_sql()
            )
        });
    inverse
}

async fn assert_matches_model(conn: &mut Connection, schema: &Schema, step: &str) {
    let live = introspect(conn, &[]).await.expect("introspect");
    let expected = Catalog::expected(schema, conn.dialect());
    let diff = expected.diff(&live);
    assert!(
        diff.is_empty(),
        "{step}: the {} database differs from the schema model (left: model, right: database):\n{}",
        conn.dialect(),
        diff.join("\n")
    );
}

/// Asserts that the live database (less `exclude`, e.g. the history table) has the schema the
/// model expects, column order aside: a reverted column drop adds the column back at the end.
pub async fn assert_live_matches(
    conn: &mut Connection,
    schema: &Schema,
    exclude: &[&str],
    step: &str,
) {
    let live = introspect(conn, exclude).await.expect("introspect");
    let expected = Catalog::expected(schema, conn.dialect());
    let diff = without_column_order(&expected).diff(&without_column_order(&live));
    assert!(
        diff.is_empty(),
        "{step}: the {} database differs from the schema model (left: model, right: database):\n{}",
        conn.dialect(),
        diff.join("\n")
    );
}

fn without_column_order(catalog: &Catalog) -> Catalog {
    let mut catalog = catalog.clone();
    for table in catalog.tables.values_mut() {
        table.columns.sort_by(|a, b| a.name.cmp(&b.name));
    }
    catalog
}

async fn rows(conn: &mut Connection, schema: &Schema) -> Rows {
    let dialect = conn.dialect();
    let text = match dialect {
        Dialect::Mysql => "CHAR",
        _ => "TEXT",
    };
    let mut out = Rows::new();
    for table in schema.tables() {
        let mut columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        columns.sort();
        let select: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({} AS {text})", quote_identifier(dialect, c)))
            .collect();
        let order: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            select.join(", "),
            quote_identifier(dialect, &table.name),
            order.join(", ")
        );
        let rows = conn.fetch_text(&sql).await.expect("read rows");
        out.insert(table.name.clone(), (columns, rows));
    }
    out
}

/// Every table in both states (and in `through`, the state between them, if given: what an op
/// dropped is gone for good) keeps its row count; with `values`, the values of the columns all
/// those states have are unchanged too.
fn compare_rows(before: &Rows, after: &Rows, through: Option<&Rows>, values: bool, step: &str) {
    for (table, (columns, rows)) in before {
        let Some((after_columns, after_rows)) = after.get(table) else {
            continue;
        };
        let through_columns = match through.map(|t| t.get(table)) {
            None => None,
            Some(None) => continue,
            Some(Some((columns, _))) => Some(columns),
        };
        assert_eq!(
            rows.len(),
            after_rows.len(),
            "{step}: table `{table}` lost or gained rows"
        );
        if !values {
            continue;
        }
        let project = |cols: &[String], rows: &[Vec<Option<String>>]| {
            let keep: Vec<usize> = cols
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    columns.contains(c)
                        && after_columns.contains(c)
                        && through_columns.is_none_or(|t| t.contains(c))
                })
                .map(|(i, _)| i)
                .collect();
            let mut projected: Vec<Vec<Option<String>>> = rows
                .iter()
                .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
                .collect();
            projected.sort();
            projected
        };
        assert_eq!(
            project(columns, rows),
            project(after_columns, after_rows),
            "{step}: the values in table `{table}` changed"
        );
    }
}
