//! `use godwit::prelude::*;` brings what a migration file needs: the `#[migration]` attribute,
//! the [`Migration`] builder and the builder types.
//!
//! ```
//! use godwit::prelude::*;
//!
//! fn create_posts(m: &mut Migration) {
//!     m.create_enum("post_status", ["draft", "published"]);
//!     m.create_table("posts", |t| {
//!         t.id("id");
//!         t.string("title", 200).not_null();
//!         t.bigint("author_id").not_null().references("users", "id").on_delete(Cascade);
//!         t.enumeration("status", "post_status").not_null().default("draft");
//!         t.timestamp_tz("created_at").not_null().default_now();
//!     });
//!     if m.dialect() == Dialect::Postgres {
//!         m.create_index("posts", "ix_posts_title", ["title"]).concurrently();
//!     }
//! }
//! # assert_eq!(Migration::record(Dialect::Postgres, create_posts).len(), 3);
//! ```

pub use crate::db::Connection;
pub use crate::lint::Lint;
pub use crate::migration::{
    ColumnBuilder, DetachPartitionBuilder, ForeignKeyBuilder, IndexBuilder, Migration,
    PartitionTableBuilder, RawSqlBuilder, RustStepBuilder, TableBuilder,
};
pub use crate::op::ReferentialAction::{self, Cascade, NoAction, Restrict, SetDefault, SetNull};
pub use crate::op::{
    BoundValue, BoxError, ColumnType, DefaultValue, Dialect, Expect, PartitionBound,
};
pub use godwit_macros::migration;
