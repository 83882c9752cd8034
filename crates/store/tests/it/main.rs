//! The store's integration suite. Every test runs on SQLite (a temporary file) and on PostgreSQL
//! (a fresh schema on `DATABASE_URL`); without `DATABASE_URL` the PostgreSQL variants print
//! `SKIPPED` and pass.

mod alerts;
mod audit;
mod audit_keys;
mod audited;
mod call_writes;
mod connections;
mod definitions;
mod describes;
mod intents;
mod keys;
mod operations;
mod queue;
mod sessions;
mod support;
