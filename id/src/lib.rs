//! The migration id rule, in one place.
//!
//! Two crates apply it: `godwit-macros` at compile time (`#[migration]` rejects a bad `id` or
//! function name at the user's tokens) and `godwit` at run time (the graph, target parsing and
//! `godwit new`). A proc-macro crate cannot export ordinary items, and `godwit` depends on
//! `godwit-macros`, not the other way round, so the rule lives in this small crate with no
//! dependencies that both depend on. (Including one source file from the other crate with
//! `#[path = "../../..."]` would also compile, but that file lies outside the including package,
//! so `cargo package` would leave it out and the published crate would not build.)
//!
//! Users reach it as `godwit::graph::{check_id, MAX_ID_LEN, RESERVED_IDS}`. The error messages
//! are part of the interface: the macro's compile errors quote them, and UI tests pin them.

/// Ids that are target keywords and cannot name a migration.
pub const RESERVED_IDS: &[&str] = &["head", "heads", "base"];

/// Longest migration id, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Checks a migration id: non-empty, at most [`MAX_ID_LEN`] bytes, only letters, digits, `_` and
/// `.` (so that `id+N`, `id-N` and `+N` stay unambiguous), and not one of [`RESERVED_IDS`].
/// `#[migration]` applies it at compile time, the runtime graph again when it is built.
// Inlinable across the crate boundary, as it was when the graph's copy lived next to its caller.
#[inline]
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("an id cannot be empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "`{id}` is {} bytes long; the limit is {MAX_ID_LEN}",
            id.len()
        ));
    }
    // A table, not a chain of comparisons: random ids make those branches unpredictable.
    const PLAIN: [bool; 256] = {
        let mut table = [false; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            table[b] = c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
            b += 1;
        }
        table
    };
    let plain = id.bytes().fold(true, |ok, b| ok & PLAIN[b as usize]);
    // Only an id with a byte outside the table (a symbol, or any non-ASCII character) is looked
    // at char by char: a non-ASCII letter or digit is allowed.
    if let Some(bad) = (!plain)
        .then(|| {
            id.chars()
                .find(|c| !(c.is_alphanumeric() || *c == '_' || *c == '.'))
        })
        .flatten()
    {
        return Err(format!(
            "`{id}` contains `{bad}`; use letters, digits, `_` and `.`"
        ));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(format!("`{id}` is reserved for the target `{id}`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_underscore_and_dot() {
        assert_eq!(check_id("create_users"), Ok(()));
        assert_eq!(check_id("v1.2_add"), Ok(()));
        assert_eq!(check_id("café"), Ok(()));
        assert_eq!(check_id(&"a".repeat(MAX_ID_LEN)), Ok(()));
    }

    #[test]
    fn messages() {
        assert_eq!(check_id(""), Err("an id cannot be empty".into()));
        let long = "a".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            check_id(&long),
            Err(format!("`{long}` is 129 bytes long; the limit is 128"))
        );
        assert_eq!(
            check_id("a-b"),
            Err("`a-b` contains `-`; use letters, digits, `_` and `.`".into())
        );
        assert_eq!(
            check_id("né-e"),
            Err("`né-e` contains `-`; use letters, digits, `_` and `.`".into())
        );
        for id in RESERVED_IDS {
            assert_eq!(
                check_id(id),
                Err(format!("`{id}` is reserved for the target `{id}`"))
            );
        }
        assert_eq!(check_id("Head"), Ok(()));
    }
}
