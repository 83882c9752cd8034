//! The `callforce` binary: the CLI, its configuration (the only crate that reads flags, files
//! and environment variables) and the wiring of `callforce serve`: the core
//! ([`callforce_app`]) behind its front doors, REST ([`callforce_rest`]) and MCP ([`callforce_mcp`]).

mod admin;
mod cli;
mod env;
mod intents_check;
mod permissions;
mod serve;
#[cfg(test)]
mod tests;

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
