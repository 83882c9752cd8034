//! The `callforce` binary: logging and traces ([`callforce::telemetry`]), then the CLI of
//! [`callforce::cli`]; an error ends it with its causes in plain lines and exit status 1. The
//! traces not sent yet are sent before it exits.

use callforce::{cli, telemetry};
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let telemetry = telemetry::init();
    let ran = cli::Cli::parse().run().await;
    telemetry.shutdown().await;
    match ran {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // What went wrong and why, in plain lines: a failure to start is not a bug, so no
            // backtrace (a bug's panic still prints one with RUST_BACKTRACE).
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  because: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
