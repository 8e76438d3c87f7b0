//! `use godwit::prelude::*;` brings what a migration file needs: the `#[migration]` attribute,
//! the [`Migration`] builder and the builder types.

pub use crate::migration::Migration;
pub use godwit_macros::migration;
