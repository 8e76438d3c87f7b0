//! The SQL of every op case on every dialect, as reviewed snapshots. A refused op records its
//! error instead, so a change to what godwit refuses shows up here too.

use godwit::runner::ModelError;
use godwit::testing::Schema;
use godwit::testing::plan_op;
use godwit::{Dialect, Migration};
use godwit_tests::cases;

fn render_case(case: &cases::Case) -> String {
    let mut out = String::new();
    for dialect in Dialect::ALL {
        out.push_str(&format!("-- {dialect}\n"));
        let mut schema = Schema::new();
        let mut setup_refused = None;
        for op in Migration::record(dialect, case.setup) {
            match plan_op(&op, &mut schema, dialect) {
                Ok(_) => {}
                Err(ModelError::Render(e)) => {
                    setup_refused = Some(e);
                    break;
                }
                Err(e) => panic!("case {}: the setup does not plan: {e}", case.name),
            }
        }
        if let Some(e) = setup_refused {
            out.push_str(&format!("-- setup refused: {e}\n\n"));
            continue;
        }
        for op in Migration::record(dialect, case.op) {
            match plan_op(&op, &mut schema, dialect) {
                Ok((rendered, _)) => {
                    if rendered.outside_transaction {
                        out.push_str("-- outside a transaction\n");
                    }
                    if rendered.foreign_keys_off {
                        out.push_str("-- with PRAGMA foreign_keys = OFF\n");
                    }
                    out.push_str(&rendered.to_sql());
                }
                Err(ModelError::Render(e)) => out.push_str(&format!("-- refused: {e}\n")),
                Err(e) => panic!("case {}: {e}", case.name),
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn sql_of_every_case() {
    for case in cases::all() {
        insta::assert_snapshot!(case.name, render_case(&case));
    }
}
