//! godwit: database migrations as typed Rust operations.
//!
//! The API: [`prelude`] (what a migration file uses), [`Migrator`] (runs migrations, embedded
//! in an application or behind [`cli`]), its reports, events and errors in [`runner`],
//! [`Target`]s, and the [`db::Connection`] a Rust data step receives. The op model ([`op`]),
//! the builders ([`migration`]), the graph ([`graph`]) and the registry ([`registry`]) are
//! public because those signatures name them. Rendering, the schema model and introspection
//! stay inside the crate.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of this crate.

// A build without some of the dialects leaves helpers only they use idle.
#![cfg_attr(
    not(all(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(dead_code, unused_imports)
)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod copy;
pub mod db;
pub mod graph;
pub mod lint;
pub mod migration;
pub mod op;
pub mod prelude;
pub mod registry;
pub mod runner;
pub mod tenants;

mod canonical;
mod dialect;
mod introspect;
mod render;
mod schema;
mod step;

pub use dialect::{Dialect, Server, ServerKind, Version};
pub use graph::Target;
pub use migration::Migration;
pub use op::Op;
pub use render::{quote_identifier, quote_literal};
pub use runner::Migrator;

pub use godwit_macros::migration;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// What the tests of this repository reach inside the crate for. Not part of the API: it
/// changes without notice.
#[doc(hidden)]
pub mod testing {
    pub use crate::introspect::{Catalog, CatalogTable, introspect};
    pub use crate::render::render;
    pub use crate::runner::execute::run_rendered;
    pub use crate::runner::plan::plan_op;
    pub use crate::schema::{Inverse, Schema};
}
