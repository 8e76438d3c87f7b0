//! Checksums over what a migration does, not over how its source is written.
//!
//! The canonical form of a migration is the `Debug` rendering of the ops it records for each
//! dialect, in [`Dialect::ALL`] order, plus its `transactional` option. `Debug` of the op model
//! is deterministic: fields print in declaration order, maps are `BTreeMap`s, floats print in
//! their shortest round-trip form, and a Rust step prints only its name. Reformatting the
//! source, renaming the function or moving it changes nothing; changing an op, its order, a
//! dialect variant or a step's name changes the checksum. The `v1` prefix versions the form:
//! a change to the op model's `Debug` output must bump it (a snapshot test pins it).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::op::Dialect;
use crate::registry::MigrationEntry;

/// SHA-256 of the canonical form, as 64 lowercase hex digits.
pub fn checksum(entry: &MigrationEntry) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"godwit-checksum-v1\n");
    hasher.update(if entry.is_transactional() {
        "transactional\n"
    } else {
        "non-transactional\n"
    });
    let mut hashing = Hashing(&mut hasher);
    for dialect in Dialect::ALL {
        let _ = writeln!(hashing, "{dialect:?}");
        for op in entry.record_up(dialect).ops() {
            let _ = writeln!(hashing, "{op:?}");
        }
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Hashes the canonical form as it is written, without building it first.
struct Hashing<'h>(&'h mut Sha256);

impl std::fmt::Write for Hashing<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::checksum;
    use crate::migration::Migration;
    use crate::op::{ColumnType, Dialect};
    use crate::registry::{Location, MigrationEntry};

    fn entry(up: fn(&mut Migration)) -> MigrationEntry {
        MigrationEntry::new("m", &[], up, Location::new("m", "m.rs", 1))
    }

    fn compact(m: &mut Migration) {
        m.create_table("users", |t| {
            t.id("id");
            t.string("email", 200).not_null();
        });
        m.add_column("users", "age", ColumnType::Integer).default(0);
    }

    /// The same ops as `compact`, written differently.
    fn spread(m: &mut Migration) {
        let table = "users";
        m.create_table(table, |t| {
            t.id("id");
            t.string("email", 200)
                // a comment
                .not_null();
        });
        m.add_column(table, "age", ColumnType::Integer).default(0);
    }

    fn different_default(m: &mut Migration) {
        m.create_table("users", |t| {
            t.id("id");
            t.string("email", 200).not_null();
        });
        m.add_column("users", "age", ColumnType::Integer).default(1);
    }

    fn dialect_branch(m: &mut Migration) {
        compact(m);
        if m.dialect() == Dialect::Mysql {
            m.sql("OPTIMIZE TABLE users");
        }
    }

    #[test]
    fn formatting_does_not_change_the_checksum() {
        assert_eq!(checksum(&entry(compact)), checksum(&entry(spread)));
    }

    #[test]
    fn changing_an_op_changes_the_checksum() {
        let base = checksum(&entry(compact));
        assert_ne!(base, checksum(&entry(different_default)));
        assert_ne!(base, checksum(&entry(dialect_branch)));
        assert_ne!(base, checksum(&entry(compact).with_transactional(false)));
    }

    /// Pins the canonical form: if this fails, the op model's `Debug` output changed and every
    /// recorded checksum would change with it; bump the `v1` in the hashed prefix and say so
    /// in the release notes.
    #[test]
    fn the_canonical_form_is_pinned() {
        assert_eq!(
            checksum(&entry(compact)),
            "cfa9f695173c1b782e84f61943d55abf9c5435a30c76e19c9ec8bb5d7e2a6751"
        );
    }
}
