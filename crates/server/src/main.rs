//! The `callforce` binary: the dev org today; the connector service, MCP and the console as
//! they land. The only crate that reads flags, files and environment variables.

mod admin;
mod agents;
mod alerts;
mod api;
#[cfg(test)]
mod bad_input_tests;
mod changes;
mod checkpoint;
mod cli;
mod connect;
#[cfg(test)]
mod connect_tests;
mod deadletters;
mod env;
#[cfg(test)]
mod idempotency_tests;
#[cfg(test)]
mod intent_retry_tests;
mod intents;
mod mcp;
mod mcp_stdio;
mod metrics;
#[cfg(test)]
mod multi_instance_tests;
mod panics;
mod permissions;
mod pipeline;
#[cfg(test)]
mod queue_tests;
mod refresh;
mod registry;
mod serve;
mod service;
#[cfg(test)]
mod unreachable_org_tests;
mod vault;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env(env::LOG)
        .unwrap_or_else(|_| "info,rmcp=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var(env::LOG_FORMAT).is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().with_current_span(true).init();
    } else {
        logs.init();
    }
    cli::Cli::parse().run().await
}
