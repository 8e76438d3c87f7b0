//! Rust data steps: code a migration runs on the live connection, in order with its ops.
//! Above [`crate::db`] (a step receives a connection), below the op model (an op can be one).

use std::fmt;

use crate::db::Connection;

/// The error a [`RustStep`] returns.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future a [`RustStep`] function returns.
pub type StepFuture<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BoxError>> + Send + 'c>>;

/// The signature of a Rust data step: it gets the migration's connection (inside the
/// migration's transaction when there is one) and must not commit or roll back itself.
pub type StepFn = dyn for<'c> Fn(&'c mut Connection) -> StepFuture<'c> + Send + Sync;

/// A named Rust data step and, optionally, the step that undoes it.
///
/// Its name is what the checksum and the history see: the code behind it is not data, so
/// rename the step when you change what it does.
#[derive(Clone)]
pub struct RustStep {
    pub name: String,
    pub run: std::sync::Arc<StepFn>,
    pub reverse: Option<std::sync::Arc<StepFn>>,
}

/// Only the name and whether a reverse exists: the code cannot be printed or compared.
impl fmt::Debug for RustStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustStep")
            .field("name", &self.name)
            .field("reversible", &self.reverse.is_some())
            .finish()
    }
}

/// Steps are equal when they run the same functions under the same name.
impl PartialEq for RustStep {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: &std::sync::Arc<StepFn>, b: &std::sync::Arc<StepFn>| {
            std::ptr::addr_eq(std::sync::Arc::as_ptr(a), std::sync::Arc::as_ptr(b))
        };
        self.name == other.name
            && same(&self.run, &other.run)
            && match (&self.reverse, &other.reverse) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}
