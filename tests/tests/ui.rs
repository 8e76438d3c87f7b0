//! The compile-time contract of `#[migration]`: every mistake a user can make gives one spanned
//! error at their token, and correct code compiles and registers. Cases live in `tests/ui/`;
//! regenerate the expected output with `TRYBUILD=overwrite cargo test -p godwit-tests --test ui`
//! and read every `.stderr` before committing it.
//!
//! One `TestCases` for everything, so the dependencies are compiled once.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/after/*.rs");
    t.compile_fail("ui/keys/*.rs");
    t.compile_fail("ui/signature/*.rs");
    t.compile_fail("ui/isolation/*.rs");
    t.pass("ui/pass/*.rs");
}
