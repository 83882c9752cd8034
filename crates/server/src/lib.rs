//! The `callforce` binary's library: the CLI ([`cli`]), its configuration (the only crate that
//! reads flags, files and environment variables; their names in [`mod@env`]) and the wiring of
//! `callforce serve` ([`serve`]): the core ([`callforce_app`]) behind its front doors, REST
//! ([`callforce_rest`]) and MCP ([`callforce_mcp`]); logs and traces ([`telemetry`]). The whole-service tests in `tests/it` start
//! it through [`serve::start`].

pub mod admin;
pub mod cli;
pub mod env;
pub mod intents_check;
pub mod permissions;
pub mod serve;
pub mod telemetry;
