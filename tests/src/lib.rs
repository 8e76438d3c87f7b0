//! Shared helpers of godwit's cross-crate test suite: throwaway databases on the real servers,
//! the op cases, and the runner that checks each case against a live database.

pub mod cases;
pub mod matrix;
pub mod sets;
pub mod testdb;
