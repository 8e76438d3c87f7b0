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
    let mut canonical = String::new();
    for dialect in Dialect::ALL {
        canonical.clear();
        let _ = writeln!(canonical, "{dialect:?}");
        for op in entry.record_up(dialect).ops() {
            let _ = writeln!(canonical, "{op:?}");
        }
        hasher.update(canonical.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}
