use godwit::prelude::*;

/// Contract, once no deployed code reads or writes `name`: the trigger and `name` go, and the
/// parts become required. `up --expand` leaves it for a later `up`, which refuses to run it
/// while the backfill before it is unfinished. Its revert is derived: `name` comes back,
/// filled from the parts, and so does the trigger. `safe`: on PostgreSQL, SET NOT NULL goes
/// through a validated CHECK, so that it does not scan `users` under its lock.
#[migration(
    after = [super::split_names_backfill::split_names_backfill],
    contract,
    safe
)]
pub fn split_names_contract(m: &mut Migration) {
    m.drop_sync_trigger("users", "sync_users_name");
    m.set_not_null("users", "first_name");
    m.set_not_null("users", "last_name");
    m.drop_column("users", "name");
}
