//! What an executor works with during a run: the connection, where the history lives, how
//! often to retry, where events go, and how to open more connections (a backfill's parallel
//! slices). Never the [`Migrator`](super::Migrator): its
//! configuration stays with it, and nothing here outlives the run.

use super::history::HistoryTable;
use super::report::Event;
use crate::db::Connection;
use crate::op::Dialect;

/// A caller's callback for [`Event`]s.
pub(crate) type Observer = Box<dyn Fn(&Event) + Send + Sync>;

/// Opens another connection to the database a run is on (a URL's, or a pool's).
pub(crate) type Connector = std::sync::Arc<
    dyn Fn() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Connection, crate::db::DbError>> + Send>,
        > + Send
        + Sync,
>;

/// Opens connections set up as the run's own: for a backfill's parallel slices.
pub(crate) struct Opener {
    pub connect: Connector,
    /// The session settings, required and best effort ([`crate::dialect::session_setup`]).
    pub setup: (String, Vec<String>),
}

impl Opener {
    pub async fn open(&self) -> Result<Connection, crate::db::DbError> {
        let mut conn = (self.connect)().await?;
        conn.execute(&self.setup.0).await?;
        for sql in &self.setup.1 {
            let _ = conn.execute(sql).await;
        }
        Ok(conn)
    }
}

/// The narrow view of a run that executors receive.
pub(crate) struct Session<'r> {
    pub conn: &'r mut Connection,
    pub history: &'r HistoryTable,
    /// How many times a statement that timed out waiting for a lock runs again.
    pub retries: u32,
    pub events: &'r mut Events,
    /// More connections, when the run can open them.
    pub opener: Option<Opener>,
    /// Where backups go, and the URL their tools connect with.
    pub backups: &'r super::backup::Backups,
}

impl Session<'_> {
    pub fn dialect(&self) -> Dialect {
        self.conn.dialect()
    }
}

/// Where a run's events go: straight to the caller's observer or, while held, into a buffer
/// that reaches the observer when the transaction commits and is dropped when it rolls back,
/// so that an observer never sees a migration start twice.
#[derive(Default)]
pub(crate) struct Events {
    observer: Option<Observer>,
    held: Option<Vec<Event>>,
}

impl Events {
    pub fn new(observer: Option<Observer>) -> Events {
        Events {
            observer,
            held: None,
        }
    }

    pub fn emit(&mut self, event: Event) {
        let Some(observer) = &self.observer else {
            return;
        };
        match &mut self.held {
            Some(held) => held.push(event),
            None => observer(&event),
        }
    }

    /// Buffers every event from now on, until [`Events::release`] or [`Events::discard`].
    pub fn hold(&mut self) {
        self.held = Some(Vec::new());
    }

    /// Sends the held events (the transaction committed) and stops holding.
    pub fn release(&mut self) {
        for event in self.held.take().unwrap_or_default() {
            self.emit(event);
        }
    }

    /// Drops the held events (the transaction rolled back, or the run that held them was
    /// dropped halfway) and stops holding.
    pub fn discard(&mut self) {
        self.held = None;
    }
}
