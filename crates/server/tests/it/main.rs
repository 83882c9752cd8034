//! The `callforce` binary and its service driven from outside, over real sockets: `callforce
//! serve` started in-process on loopback ports (calls, agents, connections, intents, the write
//! queue, dead letters, alerts, checkpoints, metrics, MCP, hostile input, several instances on
//! one database); MCP clients (the official Python SDK) over streamable HTTP against `callforce
//! serve` and over stdio against `callforce mcp`; the admin console in headless Chromium
//! (Playwright for Python) against `callforce serve`; the admin commands (`deadletter`, `audit`)
//! run as a user runs them. `clients.rs` holds what the client-driven tests share.

mod agents;
mod alerts;
mod audit;
mod bad_input;
mod caller_context;
mod checkpoint;
mod cli;
mod clients;
mod connect;
mod console;
mod console_agents;
mod console_audit;
mod console_browser;
mod console_intents;
mod console_link;
mod console_pages;
mod console_settings;
mod conversation;
mod deadletters;
mod hostile;
mod idempotency;
mod install;
mod intent_retry;
mod intents;
mod mcp;
mod mcp_clients;
mod metrics;
mod multi_instance;
mod openapi;
mod otel;
mod pipeline;
mod queue;
mod readme;
mod serve;
mod time_zones;
mod unreachable_org;
