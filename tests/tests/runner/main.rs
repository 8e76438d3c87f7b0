//! The runner against the real servers: every test runs on PostgreSQL, MariaDB and SQLite,
//! each in its own database. One test binary; a module per concern, each with the migration
//! functions its tests use.

mod common;

mod backfill;
mod backup;
mod basics;
mod checks;
mod concurrency;
mod copy;
mod deferred;
mod downgrade;
mod drift;
mod failures;
mod history;
mod maintenance;
mod other_runner;
mod partitions;
mod parts;
mod round_trip;
mod safe;
mod sharing;
mod single_transaction;
mod sync;
mod tenants;
