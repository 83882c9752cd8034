//! Tests of the whole service: `callforce serve` started in-process on loopback ports, driven
//! over real sockets.

mod agents;
mod alerts;
mod bad_input;
mod checkpoint;
pub mod connect;
mod deadletters;
mod hostile;
mod idempotency;
mod intent_retry;
mod intents;
mod mcp;
mod metrics;
mod multi_instance;
mod pipeline;
pub mod queue;
mod serve;
mod unreachable_org;
