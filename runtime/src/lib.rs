//! godwit: database migrations as typed Rust operations.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of this crate.

#[cfg(feature = "cli")]
pub mod cli;
pub mod db;
pub mod dialect;
pub mod introspect;
pub mod migration;
pub mod op;
pub mod render;
pub mod schema;
pub mod step;

pub use dialect::Dialect;
pub use migration::Migration;
pub use op::Op;
pub use schema::{Inverse, Schema, SchemaError};

pub mod graph;
pub mod registry;
pub mod runner;

pub use runner::Migrator;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use godwit_macros::migration;

pub mod prelude;

/// What the tests of this repository reach inside the crate for. Not part of the API: it
/// changes without notice.
#[doc(hidden)]
pub mod testing {
    pub use crate::runner::run_rendered;
}
