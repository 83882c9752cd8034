//! The application core of callforce: what the service does, as plain async methods taking the
//! caller, with no knowledge of HTTP, MCP or HTML. The front doors (the REST API, MCP, and the
//! pages a person sees) ask it and map its [`Error`] to their own answers; the binary wires it.
//!
//! - [`calls`]: [`App`], the tools a caller may offer, call sessions, running an action in a
//!   call, and who a key belongs to;
//! - [`registry`]: one live client per stored connection ([`vault`] seals their secrets,
//!   [`refresh`] serialises refreshes across instances), and [`pipeline`]'s sinks and workers;
//!   [`repeats`]: the duplicate window of calls' writes, in the store;
//! - [`connections`]: the workspaces' connections, the connect flow and the API keys;
//! - [`workspaces`]: each workspace's catalog and agents; [`intents`]: its intent map;
//! - [`changes`]: the audit entries of configuration changes and connection events;
//!   [`admin`]: dead letters, queued jobs, the audit log and alerts, as an admin sees them;
//!   [`deadletters`]: what an edited dead letter must keep;
//!   [`alerts`]: the alert webhook sender; [`checkpoint`]: signed audit checkpoints;
//! - [`operations`]: the operations log (every action run in a call, recorded off the hot
//!   path, redacted, kept for the retention) and what the console reads of it;
//! - [`tryit`]: a custom action tried with sample arguments outside a live call (the console's
//!   Try it);
//! - [`metrics`]: the service's metrics; [`panics`]: the panic guard every front door uses.

pub mod admin;
pub mod alerts;
pub mod caller;
pub mod calls;
pub mod changes;
pub mod checkpoint;
pub mod connections;
pub mod console;
pub mod deadletters;
pub mod error;
pub mod intents;
pub mod metrics;
pub mod operations;
pub mod panics;
pub mod pipeline;
pub mod refresh;
pub mod registry;
pub mod repeats;
pub mod token;
pub mod tryit;
pub mod vault;
pub mod workspaces;

pub use caller::Caller;
pub use calls::{App, CallError, CallSettings, SharedCall};
pub use error::{Error, Kind};
