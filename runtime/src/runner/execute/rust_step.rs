//! Calling a Rust data step, with a panic in it turned into an error.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::db::Connection;
use crate::op::{BoxError, StepFn, StepFuture};

/// Calls a Rust data step; a panic in it becomes an error, so the transaction rolls back and
/// the lock is released like after any other failure.
pub(super) async fn call_step(f: &StepFn, conn: &mut Connection) -> Result<(), BoxError> {
    let future = std::panic::catch_unwind(AssertUnwindSafe(move || {
        let conn = conn;
        f(conn)
    }))
    .map_err(panic_error)?;
    CatchUnwind(future).await
}

struct CatchUnwind<'c>(StepFuture<'c>);

impl Future for CatchUnwind<'_> {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(panic_error(payload))),
        }
    }
}

fn panic_error(payload: Box<dyn std::any::Any + Send>) -> BoxError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-text payload".into());
    format!("the Rust step panicked: {message}").into()
}
