//! The `#[migration]` attribute of godwit.
//!
//! This crate only forwards to plain `proc_macro2` functions so that the logic can be unit
//! tested: [`parse`] reads the attribute arguments and the function, [`validate`] checks them and
//! collects every error, [`expand`] writes the output. Use the attribute through
//! `godwit::prelude::*`; the generated code names only `::godwit::__private::…`.

use proc_macro::TokenStream;

mod expand;
mod parse;
mod validate;

/// Registers a migration function and checks its dependencies at compile time.
///
/// ```ignore
/// use godwit::prelude::*;
///
/// #[migration]
/// fn create_users(m: &mut Migration) { /* record ops */ }
///
/// #[migration(after = [create_users], id = "posts_v1", transactional = false, down = drop_posts)]
/// fn create_posts(m: &mut Migration) { /* ... */ }
/// ```
///
/// Keys: `after = [path, ...]` (dependencies: other `#[migration]` functions, in this crate or
/// another; several make a merge point), `id = "..."` (stable id stored in the history table,
/// default: the function's name), `transactional = false` (run outside a transaction), `down =
/// path` (explicit downgrade function with the same signature), `contract` (the destructive
/// half of an expand → contract change: `up --expand` leaves it, and what depends on it, for a
/// later `up`), `safe` (run its ops as their safe sequences: `CONCURRENTLY`, `NOT VALID` then
/// `VALIDATE`, …), `allow(GW003 = "reason", ...)` (lint rules this migration silences, each
/// with the reason it does not apply), `backup` / `backup(tables)` (a backup of the database,
/// or of the tables the migration changes, before it runs).
///
/// A missing dependency, a dependency cycle, an `after` entry that is not a `#[migration]`
/// function, an unknown or repeated key, an unknown lint code, an allow without a reason and a
/// wrong signature are compile errors at your tokens.
///
/// The function is registered in `godwit::registry`. A binary sees the migrations of a crate
/// only if it names that crate (`use my_migrations as _;`): an unnamed crate is not linked, and
/// its migrations silently vanish.
#[proc_macro_attribute]
pub fn migration(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::migration(args.into(), input.into()).into()
}
