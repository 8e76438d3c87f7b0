use godwit::prelude::*;

use super::split_names_expand::split_at_last_space;

/// Backfill: split every `name` there is, in batches of 500 rows, each its own transaction
/// with its checkpoint; a killed run resumes after the last batch done. Rows written from now
/// on are the sync trigger's. Reverting it leaves the rows: the expand's revert drops the
/// columns it fills.
#[migration(after = [super::split_names_expand::split_names_expand])]
pub fn split_names_backfill(m: &mut Migration) {
    let (first, last) = split_at_last_space(m.dialect());
    m.backfill("users")
        .set("first_name", first)
        .set("last_name", last)
        .only("first_name IS NULL")
        .batch_size(500)
        .reverse_nothing();
}
